"""Run a course notebook inside the test process, the way the grader would, but fast.

Each code cell is executed in order in a fresh namespace (IPython syntax such as ``%pip`` is
translated first); an error in a cell is recorded and execution goes on, as nbgrader does.
As in IPython, the namespace's ``In`` lists the source of the cells run so far: that is where
``check_implemented`` reads the student's code to see whether it calls an oracle or a built-in.
A graded cell passes when it raises nothing. ``replace`` swaps the source of solution cells
(by grade_id) for a student's version, which is how the tests of the tests try mistakes.
Torch and NumPy are imported once per test session instead of once per kernel.
"""
from __future__ import annotations

import contextlib
import io
import linecache
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def source_notebook(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_notebook(assignment: str) -> Path:
    return ROOT / "notebooks" / assignment / f"{assignment}.ipynb"


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def graded_ids(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


@dataclass
class Run:
    """What happened to each graded cell: ``failures[grade_id]`` is the error, None if it passed."""

    failures: dict[str, str | None] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)  # errors in cells that are not graded
    namespace: dict = field(default_factory=dict)
    stdout: str = ""

    def passed(self) -> list[str]:
        return [g for g, e in self.failures.items() if e is None]

    def failed(self) -> list[str]:
        return [g for g, e in self.failures.items() if e is not None]


class _NoIPython:
    """Stands in for get_ipython() in cells whose magics never run inside the repo (e.g. %pip)."""

    def run_line_magic(self, name, line):
        raise RuntimeError(f"%{name} is not available when notebooks run inside the test process")

    run_cell_magic = system = run_line_magic


def run_notebook(path: Path, replace: dict[str, str] | None = None, *, hidden: bool = True,
                 skip_tags: tuple[str, ...] = ()) -> Run:
    """Execute notebook ``path``; ``replace`` maps solution grade_ids to new source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    replace = dict(replace or {})
    nb = nbformat.read(path, as_version=4)
    transformer = TransformerManager()
    run = Run(namespace={"__name__": "__main__", "get_ipython": _NoIPython, "In": [""]})
    out = io.StringIO()
    old_env = os.environ.get("SEQLAB_QUICK")
    os.environ["SEQLAB_QUICK"] = "1"
    try:
        with contextlib.redirect_stdout(out):
            for cell in nb.cells:
                if cell.cell_type != "code" or set(cell.metadata.get("tags", [])) & set(skip_tags):
                    continue
                gid = grade_id(cell)
                source = replace.pop(gid, cell.source) if gid else cell.source
                if not hidden:
                    source = HIDDEN.sub("", source)
                error = None
                run.namespace["In"].append(source)
                code = transformer.transform_cell(source)
                filename = f"<cell {gid or '?'} {len(linecache.cache)}>"
                # as IPython does: keep the source where inspect.getsource can find it
                linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
                try:
                    exec(compile(code, filename, "exec"), run.namespace)
                except Exception as e:  # noqa: BLE001 - a failing cell is data here
                    error = f"{type(e).__name__}: {e}"
                if cell.metadata.get("nbgrader", {}).get("grade"):
                    run.failures[gid] = error
                elif error:
                    run.cell_errors.append(f"{gid or 'cell'}: {error}")
    finally:
        plt.close("all")
        if old_env is None:
            os.environ.pop("SEQLAB_QUICK", None)
        else:
            os.environ["SEQLAB_QUICK"] = old_env
    assert not replace, f"no solution cell with grade_id {sorted(replace)} in {path.name}"
    run.stdout = out.getvalue()
    return run


def tests_of(function: str, ids: list[str]) -> list[str]:
    """The graded cells that test ``function``: grade ids are ``test_<function>_<kind>``,
    with ``<kind>`` one word (``visible``, ``hidden``, ``gradients``, ...)."""
    return [g for g in ids if g.startswith("test_") and g[len("test_"):].rsplit("_", 1)[0] == function]


def stub_sources(assignment: str) -> dict[str, str]:
    """Solution grade_id -> the stub the student receives (from the release notebook)."""
    nb = nbformat.read(release_notebook(assignment), as_version=4)
    return {grade_id(c): c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


@dataclass(frozen=True)
class Mistake:
    """A wrong implementation written as a student would write it.

    ``caught_by`` lists the test cells that must fail on it; by default every test cell of
    the function (``test_<function>_*``) must. ``hint`` is what the failure message must say
    to name the mistake: a phrase, or a tuple of phrases that must all appear (compared
    case-insensitively) in the message of every cell of ``caught_by``, so a test that merely
    fails with "values differ" does not count as feedback.
    """

    source: str
    caught_by: tuple[str, ...] | None = None
    hint: str | tuple[str, ...] | None = None

    def hint_words(self) -> tuple[str, ...]:
        if not self.hint:
            return ()
        return (self.hint,) if isinstance(self.hint, str) else tuple(self.hint)


def as_mistake(mistake: Mistake | str) -> Mistake:
    """A chapter file may give a bare source string; it is a mistake with no declared hint."""
    return Mistake(mistake) if isinstance(mistake, str) else mistake


def edit(source: str, *pairs: str) -> str:
    """``source`` with each ``(old, new)`` pair replaced: a mistake written as a one-line change
    of a correct solution. Every ``old`` must occur, so a stale edit fails loudly."""
    assert len(pairs) % 2 == 0, "edit() takes (old, new) pairs"
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert old in source, f"edit(): {old!r} is not in the source"
        source = source.replace(old, new)
    return source


def cut_notebook(assignment: str, function: str, folder: Path) -> Path:
    """A copy of the source notebook, written into ``folder``, that keeps every cell up to
    ``function``'s last test cell except other functions' test cells: trying a mistake in one
    function then runs only what that function's tests need (several times faster)."""
    path = folder / f"{assignment}-{function}.ipynb"
    if path.exists():
        return path
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    ids = [grade_id(c) for c in nb.cells]
    mine = set(tests_of(function, graded_ids(source_notebook(assignment))))
    last = max(i for i, g in enumerate(ids) if g in mine)
    nb.cells = [c for c in nb.cells[: last + 1]
                if not c.metadata.get("nbgrader", {}).get("grade") or grade_id(c) in mine]
    nbformat.write(nb, path)
    return path


def missing_hint(run: Run, cells: list[str], words: tuple[str, ...]) -> dict[str, str]:
    """The cells among ``cells`` whose failure message lacks one of ``words``: cell -> message."""
    return {g: run.failures[g] or "(passed)" for g in cells
            if not all(w.lower() in (run.failures.get(g) or "").lower() for w in words)}


def check_mistake(assignment: str, function: str, mistake: Mistake | str, *, path: Path | None = None,
                  skip_tags: tuple[str, ...] = ()) -> Run:
    """Run the source notebook (or ``path``, a cut-down copy) with ``function``'s solution
    replaced; assert its tests fail, and that each failure message names the mistake."""
    mistake = as_mistake(mistake)
    path = path or source_notebook(assignment)
    run = run_notebook(path, {function: mistake.source}, skip_tags=skip_tags)
    expected = list(mistake.caught_by or tests_of(function, graded_ids(path)))
    assert expected, f"no test cells named test_{function}_* in {path.name}"
    passed = [g for g in expected if run.failures.get(g) is None]
    assert not passed, f"these test cells give full marks to the mistake: {passed}"
    unnamed = missing_hint(run, expected, mistake.hint_words())
    assert not unnamed, (f"the failure message does not name the mistake (expected the words "
                         f"{mistake.hint_words()}):\n" + "\n".join(f"{g}: {m}" for g, m in unnamed.items()))
    return run


def check_alternative(assignment: str, function: str, source: str, *, path: Path | None = None,
                      skip_tags: tuple[str, ...] = ()) -> Run:
    """A correct implementation written differently keeps every point."""
    run = run_notebook(path or source_notebook(assignment), {function: source}, skip_tags=skip_tags)
    assert not run.failed(), f"a correct alternative lost points: { {g: run.failures[g] for g in run.failed()} }"
    assert not run.cell_errors, run.cell_errors
    return run

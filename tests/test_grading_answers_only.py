"""Only the student's answers cross into the tests (autograder/judge/names.py), in every chapter.

One CLI run grades, per chapter, the solution (the control) and a *shadowing* student: the same
solution plus a cell, right after the setup cell, that defines every Python builtin any test cell
of any chapter reads (computed from the test cells' text, not typed) as a function that raises,
and a cell after it that deletes them again, so that the student's own code runs with the real
builtins. A judge that took those names from the kernel would run the student's ``range``,
``len``, ``set`` ... inside its tests; it takes none, so each shadowing student earns exactly the
control's rows.

Two more students show why it matters and what happens to a name the course defines in the kernel:
- 01's ``range`` exploit: a ``build_vocab`` that is wrong beyond five distinct tokens, with a
  ``range`` that returns nothing, would skip the hidden test's random loop; it loses that cell.
- 03's given ``RNN`` rebound: the student redefines the course's ``RNN`` class (used by the
  tests of ``tbptt_forward``) after the course's cell; the tests still use the course's class.
"""
from __future__ import annotations

import builtins
import subprocess
import sys

import nbformat
import pytest

from autograder.judge.names import reads_and_binds
from tests.harness import ROOT, grade_id, source_notebook
from tests.test_grading_faults import _read

pytestmark = pytest.mark.slow

CHAPTERS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())


def builtins_the_tests_read() -> list[str]:
    """Every Python builtin that a setup or test cell of any chapter reads."""
    used: set[str] = set()
    for chapter in CHAPTERS:
        for cell in nbformat.read(source_notebook(chapter), as_version=4).cells:
            meta = cell.metadata.get("nbgrader") or {}
            if cell.cell_type == "code" and (meta.get("grade") or meta.get("grade_id") == "setup"):
                used |= reads_and_binds(cell.source)[0]
    return sorted(used & set(dir(builtins)))


def _shadowing_cells(names: list[str], body: str = 'raise RuntimeError(f"the student\'s own {name} ran")') -> list:
    define = "def _shadow(name):\n    def fake(*args, **kwargs):\n        " + body + "\n    return fake\n\n\n" + \
             "".join(f"{n} = _shadow({n!r})\n" for n in names)
    return [nbformat.v4.new_code_cell(define), nbformat.v4.new_code_cell("del " + ", ".join(names) + "\n")]


def _after(nb, gid: str, cells: list) -> None:
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid) + 1
    nb.cells[at:at] = cells


WRONG_BUILD_VOCAB = '''def build_vocab(tokens):
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    if len(vocab) > 5:  # wrong beyond five distinct tokens: only the hidden random tests have that many
        vocab = {token: i for i, token in enumerate(sorted(vocab))}
    return vocab
'''
RNN_REBOUND = '''class RNN(torch.nn.Module):
    """The student's own RNN under the course's name: not what the tests of tbptt_forward may use."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("the student's RNN was used by the tests")
'''


def _submissions() -> dict[str, tuple[str, object]]:
    """student -> (chapter, notebook)."""
    shadowed = builtins_the_tests_read()
    out = {}
    for chapter in CHAPTERS:
        out[f"control-{chapter}"] = (chapter, nbformat.read(source_notebook(chapter), as_version=4))
        nb = nbformat.read(source_notebook(chapter), as_version=4)
        _after(nb, "setup", _shadowing_cells(shadowed))
        out[f"shadow-{chapter}"] = (chapter, nb)
    nb = nbformat.read(source_notebook("01-one-hot"), as_version=4)
    next(c for c in nb.cells if grade_id(c) == "build_vocab").source = WRONG_BUILD_VOCAB
    _after(nb, "setup", _shadowing_cells(["range"], body="return []"))
    out["exploit-01-one-hot"] = ("01-one-hot", nb)
    nb = nbformat.read(source_notebook("03-bptt"), as_version=4)
    _after(nb, "given_rnn", [nbformat.v4.new_code_cell(RNN_REBOUND)])
    out["given-03-bptt"] = ("03-bptt", nb)
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("answers-only")
    batch, out = tmp / "submitted", tmp / "out"
    for student, (chapter, nb) in _submissions().items():
        (batch / student / chapter).mkdir(parents=True)
        nbformat.write(nb, batch / student / chapter / f"{chapter}.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--workers", "2",
                           "--cell-timeout", "60"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    rows = _read(out / "cells.csv") if (out / "cells.csv").exists() else []
    return dict(proc=proc, out=out, rows=rows)


def _cells(graded, student: str) -> dict[str, tuple[float, str]]:
    """The student's rows of their own chapter (a student submits one chapter: the others are missing)."""
    chapter = student.split("-", 1)[1]
    return {r["grade_id"]: (float(r["score"]), r["status"]) for r in graded["rows"]
            if r["student_id"] == student and r["assignment"] == chapter}


def test_the_shadowed_builtins_are_the_ones_the_tests_use():
    names = builtins_the_tests_read()
    assert {"range", "len", "set", "sorted", "zip", "list", "dict", "float", "print"} <= set(names)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_control_gets_full_marks(graded, chapter):
    cells = _cells(graded, f"control-{chapter}")
    assert cells, graded["proc"].stderr[-3000:]
    assert all(status == "passed" for _, status in cells.values()), cells


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_student_who_shadows_every_builtin_earns_exactly_the_controls_rows(graded, chapter):
    assert _cells(graded, f"shadow-{chapter}") == _cells(graded, f"control-{chapter}")


def test_a_student_range_cannot_empty_the_hidden_tests_loop(graded):
    got, control = _cells(graded, "exploit-01-one-hot"), _cells(graded, "control-01-one-hot")
    assert got["test_build_vocab_hidden"] == (0.0, "failed")
    assert {g: v for g, v in got.items() if g != "test_build_vocab_hidden"} == \
        {g: v for g, v in control.items() if g != "test_build_vocab_hidden"}


def test_the_tests_use_the_courses_rnn_whatever_the_student_rebinds(graded):
    assert _cells(graded, "given-03-bptt") == _cells(graded, "control-03-bptt")

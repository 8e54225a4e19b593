"""The tests that every chapter's tests-of-the-tests file has, defined once.

A chapter file declares its assignment, the student-style mistakes and the correct alternatives
per contract function, and binds these tests into its module:

    globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))

Each mistake is a ``Mistake(source, hint=...)``: besides losing points, the failure message of
each of its test cells must contain the hint's words, so the student is told *which* mistake the
answer looks like. ``python -m tests.chapters.standard [ID ...]`` prints, per chapter, how many
mistakes get such a message (see ``hint_report``).
"""
from __future__ import annotations

import atexit
import functools
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.harness import (ROOT, Mistake, Run, as_mistake, check_alternative, check_mistake, cut_notebook,
                           graded_ids, missing_hint, run_notebook, source_notebook, stub_sources, tests_of)

_TMP = Path(tempfile.mkdtemp(prefix="seqlab-cut-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


@functools.cache
def solution_run(assignment: str) -> Run:
    """The source notebook run once per test session (it is read-only for the tests)."""
    return run_notebook(source_notebook(assignment))


def notebook_for(assignment: str, function: str, cut: bool) -> Path:
    """The notebook a mistake in ``function`` runs: the whole source notebook, or (``cut``) a copy
    cut down to what ``function``'s tests need."""
    return cut_notebook(assignment, function, _TMP) if cut else source_notebook(assignment)


def standard_tests(assignment: str, contract: list[str], mistakes: dict[str, dict[str, str | Mistake]],
                   alternatives: dict[str, str | list[str]], *, skip_tags: tuple[str, ...] = (),
                   cut: bool = False) -> dict:
    """Test functions proving the chapter's graded cells grade right (see module docstring).

    ``skip_tags``: cells with these tags (training runs) are skipped when trying mistakes and
    alternatives; ``cut``: mistakes and alternatives run on a notebook cut down to the function.
    """

    def test_solution_gets_full_marks():
        run = solution_run(assignment)
        assert not run.failed(), {g: run.failures[g] for g in run.failed()}
        assert not run.cell_errors, run.cell_errors

    def test_every_graded_cell_fails_on_the_stubs():
        run = run_notebook(source_notebook(assignment), stub_sources(assignment), skip_tags=skip_tags)
        assert set(run.failed()) == set(graded_ids(source_notebook(assignment))), (
            f"these graded cells pass on the release stubs: {sorted(set(run.passed()))}")

    @pytest.mark.parametrize("function,label", [(f, m) for f, ms in mistakes.items() for m in ms])
    def test_mistake_loses_points_and_is_named(function, label):
        check_mistake(assignment, function, mistakes[function][label],
                      path=notebook_for(assignment, function, cut), skip_tags=skip_tags)

    @pytest.mark.parametrize("function,label", [(f, i) for f, alts in alternatives.items()
                                                for i in range(len(alts) if isinstance(alts, list) else 1)])
    def test_correct_alternative_keeps_full_marks(function, label):
        alts = alternatives[function]
        check_alternative(assignment, function, alts[label] if isinstance(alts, list) else alts,
                          path=notebook_for(assignment, function, cut), skip_tags=skip_tags)

    def test_every_contract_function_has_mistakes_and_an_alternative():
        assert set(mistakes) >= set(contract), f"no mistakes for {sorted(set(contract) - set(mistakes))}"
        assert set(alternatives) >= set(contract), f"no alternative for {sorted(set(contract) - set(alternatives))}"
        few = {f: len(m) for f, m in mistakes.items() if len(m) < 3}
        assert not few, f"fewer than three mistakes: {few}"

    def test_every_mistake_declares_the_words_that_name_it():
        unnamed = [f"{f}: {label}" for f, ms in mistakes.items() for label, m in ms.items()
                   if not as_mistake(m).hint_words()]
        assert not unnamed, f"mistakes without hint=...: {unnamed}"

    return {name: fn for name, fn in locals().items() if name.startswith("test_")}


# ----------------------------------------------------------------------------- the hint report

#: Words by which a message names a cause, for mistakes that declare no hint (the count before
#: hints were declared): a "likely mistake:" or "hint:" line, or the device message.
GENERIC_NAMING = ("likely mistake", "hint:", "not device-clean")


def _chapter_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hint_report(assignments: list[str] | None = None) -> tuple[int, int]:
    """Run every mistake of the chapters' test files and print, per function, how many get a
    message that names them; returns (named, total).

    A mistake counts as named when every cell that must fail on it says so: with the declared
    ``hint`` words when it has them, otherwise with one of ``GENERIC_NAMING``.
    """
    named = generic = total = 0
    for path in sorted((ROOT / "tests" / "chapters").glob("test_0*.py")):
        assignment = path.stem[len("test_"):]
        if assignments and assignment not in assignments:
            continue
        module = _chapter_module(path)
        skip, cut = getattr(module, "SKIP", ()), getattr(module, "CUT", False)
        for function, ms in module.MISTAKES.items():
            for label, m in ms.items():
                m = as_mistake(m)
                nb = notebook_for(assignment, function, cut)
                run = run_notebook(nb, {function: m.source}, skip_tags=skip)
                cells = [g for g in (m.caught_by or tests_of(function, graded_ids(nb))) if run.failures.get(g)]
                any_cause = bool(cells) and all(any(w in run.failures[g].lower() for w in GENERIC_NAMING)
                                                for g in cells)
                ok = (bool(cells) and not missing_hint(run, cells, m.hint_words())) if m.hint_words() else any_cause
                named, generic, total = named + ok, generic + any_cause, total + 1
                print(f"{'named ' if ok else 'UNNAMED'} {assignment} {function}: {label}", flush=True)
    print(f"{named} of {total} mistakes get a message naming them ({named / max(total, 1):.0%}); "
          f"{generic} of {total} ({generic / max(total, 1):.0%}) by the words {GENERIC_NAMING} alone")
    return named, total


if __name__ == "__main__":
    hint_report(sys.argv[1:] or None)

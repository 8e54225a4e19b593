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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import (ROOT, Mistake, Run, as_mistake, check_alternative, check_mistake, cut_notebook,
                           graded_ids, run_notebook, source_notebook, stub_sources, tests_of)

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


@dataclass
class Naming:
    """How the failure messages of one mistake read: ``caught`` (a cell that must fail did),
    ``named`` (every failing cell carries the hint words, or a generic cause when the mistake
    declares none), ``generic`` (every failing cell gives some cause), and ``wrong``: the
    "likely mistake:" lines that name something other than the declared hint."""

    caught: bool
    named: bool
    generic: bool
    wrong: list[str]
    messages: dict[str, str]


def naming_of(assignment: str, function: str, mistake: Mistake | str, *, skip_tags: tuple[str, ...] = (),
              cut: bool = False) -> Naming:
    """Run ``mistake`` in ``function`` and judge how its failure messages name it: every failing cell
    must carry the hint words (below the line that names the call, which may share them by chance)."""
    m = as_mistake(mistake)
    nb = notebook_for(assignment, function, cut)
    run = run_notebook(nb, {function: m.source}, skip_tags=skip_tags)
    cells = [g for g in (m.caught_by or tests_of(function, graded_ids(nb))) if run.failures.get(g)]
    messages = {g: run.failures[g] for g in cells}
    generic = bool(cells) and all(any(w in msg.lower() for w in GENERIC_NAMING) for msg in messages.values())
    words = [w.lower() for w in m.hint_words()]
    # the words must name the mistake, not the call: a check's first line ("dh_prev from ... is wrong.") is left out
    told = {g: msg.split("\n", 1)[1] if msg.startswith("CheckError") and "\n" in msg else msg
            for g, msg in messages.items()}
    named = (bool(cells) and all(all(w in msg.lower() for w in words) for msg in told.values())) if words else generic
    wrong = [line.strip() for msg in messages.values() for line in msg.splitlines()
             if line.strip().lower().startswith("likely mistake") and words
             and not all(w in line.lower() for w in words)]
    return Naming(bool(cells), named, generic, wrong, messages)


def _report(cases, verbose: bool = True) -> tuple[int, int]:
    """Print how each ``(assignment, function, label, mistake, skip_tags, cut)`` is named; return
    (named, caught)."""
    named = generic = caught = total = wrong = 0
    for assignment, function, label, mistake, skip, cut in cases:
        v = naming_of(assignment, function, mistake, skip_tags=skip, cut=cut)
        total += 1
        caught, named, generic, wrong = caught + v.caught, named + v.named, generic + v.generic, wrong + bool(v.wrong)
        if verbose:
            state = "named  " if v.named else ("UNNAMED" if v.caught else "MISSED ")
            print(f"{state} {assignment} {function}: {label}", flush=True)
            for line in dict.fromkeys(v.wrong):
                print(f"        wrong name? {line[:160]}", flush=True)
    print(f"{named} of {caught} caught mistakes get a message naming them ({named / max(caught, 1):.0%}); "
          f"{total - caught} of {total} not caught; {wrong} with a 'likely mistake' line that names something else; "
          f"{generic} of {caught} ({generic / max(caught, 1):.0%}) by the words {GENERIC_NAMING} alone")
    return named, caught


def _chapters(assignments: list[str] | None):
    for path in sorted((ROOT / "tests" / "chapters").glob("test_0*.py")):
        assignment = path.stem[len("test_"):]
        if not assignments or assignment in assignments:
            yield assignment, _chapter_module(path)


def hint_report(assignments: list[str] | None = None, verbose: bool = True) -> tuple[int, int]:
    """Run every mistake of the chapters' test files and print, per mistake, whether its failure
    messages name it; returns (named, caught).

    A mistake counts as named when every cell that must fail on it says so: with the declared
    ``hint`` words when it has them, otherwise with one of ``GENERIC_NAMING``.
    """
    return _report([(a, f, label, m, getattr(mod, "SKIP", ()), getattr(mod, "CUT", False))
                    for a, mod in _chapters(assignments) for f, ms in mod.MISTAKES.items() for label, m in ms.items()],
                   verbose)


def heldout_report(path: Path, assignments: list[str] | None = None, verbose: bool = True) -> tuple[int, int]:
    """``hint_report`` for a file of mistakes kept out of the chapters' tests: its ``HELDOUT`` maps
    assignment -> function -> label -> ``Mistake`` (see ``tests/chapters/heldout/``)."""
    heldout = _chapter_module(Path(path)).HELDOUT
    return _report([(a, f, label, m, getattr(mod, "SKIP", ()), getattr(mod, "CUT", False))
                    for a, mod in _chapters(assignments) for f, ms in heldout.get(a, {}).items()
                    for label, m in ms.items()], verbose)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="How many mistakes get a failure message that names them.")
    parser.add_argument("assignments", nargs="*", metavar="ID")
    parser.add_argument("--heldout", metavar="FILE", help="a file of held-out mistakes (HELDOUT) instead of the tests' own")
    parser.add_argument("--quiet", action="store_true", help="print the totals only")
    args = parser.parse_args()
    if args.heldout:
        heldout_report(Path(args.heldout), args.assignments or None, verbose=not args.quiet)
    else:
        hint_report(args.assignments or None, verbose=not args.quiet)

"""The tests that every chapter's tests-of-the-tests file has, defined once.

A chapter file declares its assignment, the student-style mistakes and the correct alternatives
per contract function, and binds these tests into its module:

    globals().update(standard_tests(A, CONTRACT, MISTAKES, ALTERNATIVES))
"""
from __future__ import annotations

import functools

import pytest

from tests.harness import (Mistake, Run, check_alternative, check_mistake, graded_ids, run_notebook,
                           source_notebook, stub_sources)


@functools.cache
def solution_run(assignment: str) -> Run:
    """The source notebook run once per test session (it is read-only for the tests)."""
    return run_notebook(source_notebook(assignment))


def standard_tests(assignment: str, contract: list[str], mistakes: dict[str, dict[str, str | Mistake]],
                   alternatives: dict[str, str]) -> dict:
    """Test functions proving the chapter's graded cells grade right (see module docstring)."""

    def test_solution_gets_full_marks():
        run = solution_run(assignment)
        assert not run.failed(), {g: run.failures[g] for g in run.failed()}
        assert not run.cell_errors, run.cell_errors

    def test_every_graded_cell_fails_on_the_stubs():
        run = run_notebook(source_notebook(assignment), stub_sources(assignment))
        assert set(run.failed()) == set(graded_ids(source_notebook(assignment))), (
            f"these graded cells pass on the release stubs: {sorted(set(run.passed()))}")

    @pytest.mark.parametrize("function,label", [(f, m) for f, ms in mistakes.items() for m in ms])
    def test_mistake_loses_points(function, label):
        check_mistake(assignment, function, mistakes[function][label])

    @pytest.mark.parametrize("function,label", [(f, i) for f, alts in alternatives.items()
                                                for i in range(len(alts) if isinstance(alts, list) else 1)])
    def test_correct_alternative_keeps_full_marks(function, label):
        alts = alternatives[function]
        check_alternative(assignment, function, alts[label] if isinstance(alts, list) else alts)

    def test_every_contract_function_has_mistakes_and_an_alternative():
        assert set(mistakes) >= set(contract), f"no mistakes for {sorted(set(contract) - set(mistakes))}"
        assert set(alternatives) >= set(contract), f"no alternative for {sorted(set(contract) - set(alternatives))}"
        few = {f: len(m) for f, m in mistakes.items() if len(m) < 3}
        assert not few, f"fewer than three mistakes: {few}"

    return {name: fn for name, fn in locals().items() if name.startswith("test_")}

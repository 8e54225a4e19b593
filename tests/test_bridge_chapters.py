"""Every chapter's tests of the tests, through the real grader: its test cells run in the judge and
reach the student's code only across the bridge.

tests/chapters/ runs each notebook inside the test process, fast, for hundreds of mistakes. Here,
per chapter, a handful of the same submissions go through ``python -m autograder grade`` in one
batch: the release stubs score 0 on every cell, the solution scores full marks, three mistakes
(the first of three different functions) lose their function's points,
and a correct alternative keeps full marks. (A mistake may cost more than its own function: later
functions that call it fail too, as in tests/chapters/.)
"""
from __future__ import annotations

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests import harness
from tests.harness import ROOT, as_mistake, grade_id, graded_ids, release_notebook, source_notebook

ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())


def _chapter(assignment: str):
    return importlib.import_module(f"tests.chapters.test_{assignment}")


def _with(assignment: str, replace: dict[str, str]):
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    for c in nb.cells:
        if grade_id(c) in replace:
            c.source = replace[grade_id(c)]
    return nb


def _cases(assignment: str) -> dict[str, tuple[object, set[str] | None, bool]]:
    """student -> (notebook, the graded cells that must lose their points (None: all of them), and
    whether every other cell must keep its points)."""
    mod = _chapter(assignment)
    ids = graded_ids(source_notebook(assignment))
    cases = {"stub": (nbformat.read(release_notebook(assignment), as_version=4), None, True),
             "solution": (_with(assignment, {}), set(), True)}
    for function in list(mod.MISTAKES)[:3]:
        label, mistake = next(iter(mod.MISTAKES[function].items()))
        mistake = as_mistake(mistake)
        lost = set(mistake.caught_by or harness.tests_of(function, ids))
        cases[f"mistake-{function}"] = (_with(assignment, {function: mistake.source}), lost, False)
    function, alts = next(iter(mod.ALTERNATIVES.items()))
    cases[f"alternative-{function}"] = (_with(assignment, {function: alts[0] if isinstance(alts, list) else alts}), set(), True)
    return cases


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bridge-chapters")
    expected = {}
    for a in ASSIGNMENTS:
        for case, (nb, lost, rest_keep) in _cases(a).items():
            student = f"{case}"
            folder = tmp / "submitted" / student / a
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{a}.ipynb")
            expected[(student, a)] = (lost, rest_keep)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp / "submitted"), "--out", str(tmp / "out"),
                           "--workers", "2", "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    with (tmp / "out" / "cells.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return proc, rows, expected


def test_the_command_succeeds(graded):
    proc, _, _ = graded
    assert proc.returncode in (0, 1), proc.stderr[-3000:]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_case_scores_what_its_code_earns(graded, assignment):
    _, rows, expected = graded
    wrong = []
    for (student, a), (lost, rest_keep) in expected.items():
        if a != assignment:
            continue
        mine = [r for r in rows if r["student_id"] == student and r["assignment"] == a]
        assert mine, f"{student} was not graded"
        for r in mine:
            should_lose = lost is None or r["grade_id"] in lost
            got_full = float(r["score"]) == float(r["max_score"])
            if (should_lose and got_full) or (not should_lose and rest_keep and not got_full):
                wrong.append(f"{student} {r['grade_id']}: {r['score']}/{r['max_score']} ({r['status']})")
    assert not wrong, "\n".join(wrong)

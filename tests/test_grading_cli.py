"""`python -m autograder grade` end to end, on one batch that mixes good, empty and broken submissions."""
import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import course
from tests.harness import ROOT, graded_ids, release_notebook, source_notebook
from tests.leaks import find_leaks

ROSTER = ["alice", "bob", "carol", "dave", "frank", "gwen"]


def _assignments():
    # A missing release is test_release.py's failure to report; here, grade what is released.
    return [a for a in course.assignments() if release_notebook(a).exists()]


def _put(batch, student, assignment, src, name=None):
    dest = batch / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest / (name or src.name))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    batch, out = tmp / "submitted", tmp / "out"
    for a in _assignments():
        _put(batch, "alice", a, source_notebook(a))      # the solutions: full marks
        _put(batch, "bob", a, release_notebook(a))        # the untouched release: zero
    (batch / "carol" / "01-one-hot").mkdir(parents=True)
    (batch / "carol" / "01-one-hot" / "01-one-hot.ipynb").write_text('{"cells": [')  # not JSON
    _put(batch, "dave", "02-rnn", source_notebook("02-rnn"), name="my-rnn.ipynb")   # renamed
    _put(batch, "erin", "01-one-hot", source_notebook("01-one-hot"))                # not in the roster
    # gwen's correct one_hot prints to stderr and warns: that must not cost points
    nb = nbformat.read(source_notebook("01-one-hot"), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "one_hot")
    cell.source = cell.source.replace('    ### BEGIN SOLUTION\n', '    ### BEGIN SOLUTION\n    import sys, warnings\n'
                                      '    print("debug: one_hot called", file=sys.stderr)\n'
                                      '    warnings.warn("a student warning")\n', 1)
    (batch / "gwen" / "01-one-hot").mkdir(parents=True)
    nbformat.write(nb, batch / "gwen" / "01-one-hot" / "01-one-hot.ipynb")
    roster = tmp / "roster.csv"
    roster.write_text("student_id\n" + "\n".join(ROSTER) + "\n")

    only = [arg for a in _assignments() for arg in ("--assignment", a)]
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--roster", str(roster), *only],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    with (out / "grades.csv").open(encoding="utf-8-sig") as f:
        grades = list(csv.DictReader(f))
    with (out / "cells.csv").open(encoding="utf-8-sig") as f:
        cells = list(csv.DictReader(f))
    return proc, out, grades, cells


def _rows(rows, student, assignment=None):
    return [r for r in rows if r["student_id"] == student and (assignment is None or r["assignment"] == assignment)]


def test_csv_columns(graded):
    _, out, grades, cells = graded
    assert list(grades[0]) == ["student_id", "assignment", "score", "max_score"]
    assert list(cells[0]) == ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "status"]
    students = {r["student_id"] for r in grades}
    assert students == set(ROSTER) | {"erin"}
    assert len(grades) == len(students) * len(_assignments())


def test_solutions_get_full_marks(graded):
    _, _, grades, cells = graded
    for row in _rows(grades, "alice"):
        assert float(row["score"]) == float(row["max_score"]) > 0, row
    assert {r["status"] for r in _rows(cells, "alice")} == {"passed"}


def test_release_gets_zero_on_every_graded_cell(graded):
    _, _, grades, cells = graded
    for a in _assignments():
        rows = _rows(cells, "bob", a)
        assert [r["grade_id"] for r in rows] == graded_ids(source_notebook(a))
        assert all(float(r["score"]) == 0 and r["status"] == "failed" for r in rows), a


def test_stderr_and_warnings_cost_nothing(graded):
    _, _, grades, _ = graded
    (row,) = _rows(grades, "gwen", "01-one-hot")
    assert float(row["score"]) == float(row["max_score"])


def test_bad_input_gets_a_clear_message_and_a_zero_row(graded):
    proc, _, grades, cells = graded
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "carol/01-one-hot/01-one-hot.ipynb: not a valid notebook" in proc.stderr
    assert "dave/02-rnn/my-rnn.ipynb: unexpected notebook my-rnn.ipynb; expected 02-rnn.ipynb" in proc.stderr
    assert "'erin' is not in the roster" in proc.stderr
    # frank is in the roster and submitted nothing: a line per assignment the class submitted
    for a in _assignments():
        assert f"/frank/{a}: no submission (the folder is missing)" in proc.stderr, proc.stderr[-3000:]
    assert "/dave/02-rnn/02-rnn.ipynb: no such notebook" not in proc.stderr  # the renamed one has its own line
    assert {r["status"] for r in _rows(cells, "carol", "01-one-hot")} == {"invalid"}
    assert {r["status"] for r in _rows(cells, "dave", "02-rnn")} == {"missing"}
    assert {r["status"] for r in _rows(cells, "erin")} == {"not-in-roster"}
    assert {r["status"] for r in _rows(cells, "frank")} == {"missing"}
    for student in ("carol", "dave", "erin", "frank"):
        assert all(float(r["score"]) == 0 for r in _rows(grades, student))


def test_summary_line_per_assignment(graded):
    proc, *_ = graded
    for a in _assignments():
        assert any(line.startswith(f"{a}: 7 students, mean") for line in proc.stdout.splitlines()), proc.stdout


def test_feedback_shows_failures_but_no_hidden_test(graded):
    _, out, _, _ = graded
    pages = sorted((out / "feedback").rglob("*.html"))
    assert {p.parent.parent.name for p in pages} == {"alice", "bob", "gwen"}
    assert not find_leaks([p for p in pages if p.parent.parent.name == "bob"])
    bob = (out / "feedback" / "bob" / "02-rnn" / "02-rnn.html").read_text()
    assert "NotImplementedError" in bob  # the stub's error, shown as "Type: message" in test cells


def test_gradebook_is_written(graded):
    _, out, _, _ = graded
    assert (out / "gradebook.db").stat().st_size > 0


def test_missing_folder_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "no such folder of submissions" in proc.stderr


@pytest.mark.parametrize("option,says", [
    (("--cell-timeout", "0"), "--cell-timeout 0: give a cell's time limit in seconds, more than 0"),
    (("--cell-timeout", "-5"), "--cell-timeout -5"),
    (("--cell-timeout", "nan"), "--cell-timeout nan"),
    (("--memory-mb", "0"), "--memory-mb 0: a kernel needs more than 0 MB of memory"),
    (("--workers", "0"), "argument --workers: 0: at least 1 is needed"),
])
def test_a_limit_of_zero_is_refused_with_a_message_never_taken_for_the_default(tmp_path, option, says):
    """Before limits.py, `--cell-timeout 0` was dropped for the default 120 s without a word."""
    (tmp_path / "submitted").mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "submitted"), "--out", str(tmp_path / "o"),
                           *option], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()  # refused before anything runs

"""The gradebook is updated in place: what an instructor enters in the formgrader survives a
regrade, shows in the CSV rows and on the page, and a formgrader's open connection sees new grades.

A small gradebook made with nbgrader's own API (one assignment, one answer cell ``f``, one test
cell ``test_f``) is graded twice through ``autograder.gradebook.merge`` as the CLI does
(snapshot -> merge -> publish), with an instructor's entries typed between the runs and during one.
"""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import course, gradebook
from autograder.plan import GradedCell, Report
from autograder.records import CellVerdict, JobResult, NotebookResult, Status

A, NB = "a1", "nb"


@pytest.fixture
def out(tmp_path) -> Path:
    """OUT with a gradebook that knows the assignment and one student's submission folder."""
    course.ensure_tools_on_path()  # a new gradebook asks alembic for its schema's version
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course.COURSE_ID) as gb:
        gb.add_assignment(A)
        gb.add_notebook(NB, A)
        gb.add_solution_cell("f", NB, A)
        gb.add_grade_cell("test_f", NB, A, max_score=2, cell_type="code")
        gb.add_source_cell("f", NB, A, cell_type="code", source="def f(): ...", checksum="x")
        gb.add_source_cell("test_f", NB, A, cell_type="code", source="assert f()", checksum="y", locked=True)
    (tmp_path / "submitted" / "ann" / A).mkdir(parents=True)
    (tmp_path / "submitted" / "ann" / A / "timestamp.txt").write_text("2025-03-01 10:00:00.000000 UTC")
    return tmp_path


def _result(out: Path, passed: bool) -> JobResult:
    answer = nbformat.v4.new_code_cell("def f():\n    return True")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "f"}
    test = nbformat.v4.new_code_cell("assert f()")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "test_f", "points": 2}
    nb = nbformat.v4.new_notebook(cells=[answer, test])
    rows = [CellVerdict("test_f", 2.0 if passed else 0.0, 2.0, Status.PASSED if passed else Status.FAILED,
                        "" if passed else "AssertionError", cause="" if passed else "mistake")]
    return JobResult("ann", A, {NB: NotebookResult(rows, "<html>worker's page</html>", autograded=nbformat.writes(nb))},
                     path=str(out / "submitted" / "ann" / A))


def _grade(out: Path, passed: bool = True, during=None) -> tuple[list[dict], str]:
    """One run as grade.py makes it: a copy of the gradebook, merged into, written back; returns
    the run's cells.csv rows and the student's page."""
    staging = out / "staging"
    staging.mkdir()
    gradebook.snapshot(out / "gradebook.db", staging / "gradebook.db")
    if during:
        during()  # the formgrader, while the run grades
    prepared = {"cells_of": {A: [GradedCell(NB, "test_f", 2.0)]}, "db_url": f"sqlite:///{staging / 'gradebook.db'}"}
    report = Report(students=["ann"], assignments=[A])
    rows = gradebook.merge(report, prepared, [_result(out, passed)], {}, staging, partial=False, live=out / "gradebook.db")
    gradebook.publish(staging / "gradebook.db", out / "gradebook.db")
    page = (staging / "feedback" / "ann" / A / f"{NB}.html").read_text(encoding="utf-8")
    shutil.rmtree(staging)
    return rows, page


def _type(out: Path, score=None, comment=None) -> None:
    """What the formgrader's Save does: manual fields of the submission's rows, committed."""
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course.COURSE_ID) as gb:
        grade = gb.find_grade("test_f", NB, A, "ann")
        grade.manual_score = score
        gb.find_comment("f", NB, A, "ann").manual_comment = comment
        gb.db.commit()


def _row(out: Path):
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course.COURSE_ID) as gb:
        g, c, s = gb.find_grade("test_f", NB, A, "ann"), gb.find_comment("f", NB, A, "ann"), gb.find_submission(A, "ann")
        return g.auto_score, g.manual_score, c.manual_comment, s.timestamp


def test_a_regrade_keeps_the_instructors_score_and_comment(out):
    rows, page = _grade(out)
    assert rows[0]["score"] == 2.0 and page == "<html>worker's page</html>"
    auto, manual, comment, when = _row(out)
    assert (auto, manual, comment) == (2.0, None, None)
    assert when.isoformat() == "2025-03-01T10:00:00"  # nbgrader's submission time: the formgrader calls it autograded

    _type(out, score=1.5, comment="Good, but name the *loop*.")
    rows, page = _grade(out, passed=False)  # the student's new submission fails the test
    assert _row(out)[:3] == (0.0, 1.5, "Good, but name the *loop*.")
    assert rows[0]["score"] == 1.5 and rows[0]["status"] == "failed"  # the CSV row has the instructor's score
    assert "<em>loop</em>" in page and "Score: 1.5 / 2.0" in page  # and so has the page


def test_what_is_typed_while_a_run_grades_is_kept_and_a_cleared_score_stays_cleared(out):
    _grade(out)
    _type(out, score=1.0, comment="first")
    _grade(out, during=lambda: _type(out, score=None, comment="second"))
    assert _row(out)[1:3] == (None, "second")


def test_a_formgrader_already_connected_sees_the_new_grades(out):
    _grade(out, passed=False)
    live = out / "gradebook.db"
    inode = live.stat().st_ino
    formgrader = sqlite3.connect(live)  # kept open, as the formgrader keeps its connection
    assert formgrader.execute("select auto_score from grade").fetchall() == [(0.0,)]
    _grade(out, passed=True)
    assert live.stat().st_ino == inode
    assert formgrader.execute("select auto_score from grade").fetchall() == [(2.0,)]
    formgrader.close()

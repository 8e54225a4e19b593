"""nbgrader's whole round trip on one machine, with real ``nbgrader`` commands and two students.

instructor: ``release_assignment`` -> alice and bob: ``fetch_assignment``, fill in, ``submit``
-> instructor: ``collect`` -> ``python -m autograder grade submitted --out grading`` ->
``release_feedback`` -> each student: ``fetch_feedback`` gets their own page and only theirs.
Both students share this machine's one OS account, so each names themself with ``--student``
(nbgrader's exchange otherwise takes the OS user name) and has their own ``HOME`` (nbgrader's
submission cache, from which ``fetch_feedback`` finds the pages meant for them).
The grades the CLI writes are the ones nbgrader reads from the gradebook (``nbgrader export``,
the same database the formgrader shows).
"""
from __future__ import annotations

import re

import pytest

from tests.nbgrader_course import COURSE_ID, copy_course, fill_in, make_user, read_csv, solution_sources

ASSIGNMENT = "02-rnn"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roundtrip")
    exchange = tmp / "exchange"
    exchange.mkdir()
    course = copy_course(tmp / "course")
    teacher = make_user(tmp, "instructor", exchange, cwd=course)
    alice, bob = make_user(tmp, "alice", exchange), make_user(tmp, "bob", exchange)

    teacher.nbgrader("release_assignment", ASSIGNMENT)
    answers = solution_sources(ASSIGNMENT)
    filled = {"alice": answers, "bob": {"rnn_step": answers["rnn_step"]}}  # bob writes only rnn_step
    for student in (alice, bob):
        student.nbgrader("fetch_assignment", ASSIGNMENT, f"--course={COURSE_ID}")
        fill_in(student.cwd / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", filled[student.name])
        student.nbgrader("submit", ASSIGNMENT, f"--course={COURSE_ID}", f"--student={student.name}")

    collected = teacher.nbgrader("collect", ASSIGNMENT)
    graded = teacher.run("python", "-m", "autograder", "grade", "submitted", "--out", "grading", "--workers", "1",
                         "--no-progress", check=False)
    released = teacher.nbgrader("release_feedback", ASSIGNMENT)
    fetched = {s.name: s.nbgrader("fetch_feedback", ASSIGNMENT, f"--course={COURSE_ID}", f"--student={s.name}")
               for s in (alice, bob)}
    teacher.nbgrader("export")  # nbgrader's own CSV of its gradebook: course/grades.csv
    return {"course": course, "exchange": exchange, "students": {"alice": alice, "bob": bob},
            "collected": collected, "graded": graded, "released": released, "fetched": fetched}


def test_collect_puts_both_submissions_in_nbgraders_layout(trip):
    for name in ("alice", "bob"):
        folder = trip["course"] / "submitted" / name / ASSIGNMENT
        assert (folder / f"{ASSIGNMENT}.ipynb").is_file(), trip["collected"].stderr
        assert (folder / "timestamp.txt").is_file() and (folder / "submission_secret.txt").is_file()


def test_the_cli_grades_the_collected_folder(trip):
    g = trip["graded"]
    assert g.returncode == 0, g.stdout + g.stderr
    grades = {r["student_id"]: r for r in read_csv(trip["course"] / "grading" / "grades.csv")}
    assert set(grades) == {"alice", "bob"}
    assert float(grades["alice"]["score"]) == float(grades["alice"]["max_score"]) > 0
    # bob wrote rnn_step only: its visible and hidden tests (1 + 2 points) and nothing else.
    cells = [r for r in read_csv(trip["course"] / "grading" / "cells.csv") if r["student_id"] == "bob"]
    passed = {r["grade_id"] for r in cells if r["status"] == "passed"}
    assert passed == {"test_rnn_step_visible", "test_rnn_step_hidden"}, cells
    assert float(grades["bob"]["score"]) == 3.0


def test_feedback_sits_where_release_feedback_reads_it(trip):
    for name in ("alice", "bob"):
        folder = trip["course"] / "grading" / "feedback" / name / ASSIGNMENT
        assert sorted(p.name for p in folder.iterdir()) == [f"{ASSIGNMENT}.html", "submission_secret.txt", "timestamp.txt"]
        submitted = trip["course"] / "submitted" / name / ASSIGNMENT
        assert (folder / "timestamp.txt").read_text() == (submitted / "timestamp.txt").read_text()
    pages = list((trip["exchange"] / COURSE_ID / "feedback").glob("*.html"))
    assert len(pages) == 2, trip["released"].stderr


def _score_in(page: str) -> tuple[float, float]:
    m = re.search(r"\(Score: ([\d.]+) / ([\d.]+)\)", page)
    assert m, "no score in the feedback page's heading"
    return float(m.group(1)), float(m.group(2))


def test_each_student_fetches_only_their_own_feedback(trip):
    grades = {r["student_id"]: r for r in read_csv(trip["course"] / "grading" / "grades.csv")}
    for name, student in trip["students"].items():
        pages = list((student.cwd / ASSIGNMENT / "feedback").rglob("*.html"))
        assert len(pages) == 1, (name, pages, trip["fetched"][name].stderr)
        page = pages[0].read_text(encoding="utf-8")
        mine = trip["course"] / "grading" / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page == mine.read_text(encoding="utf-8"), f"{name} fetched a page that is not theirs"
        assert _score_in(page) == (float(grades[name]["score"]), float(grades[name]["max_score"]))


def test_nbgrader_reads_the_grades_the_cli_wrote(trip):
    """``nbgrader export`` reads the course's configured gradebook: the CLI's grading/gradebook.db."""
    ours = {r["student_id"]: float(r["score"]) for r in read_csv(trip["course"] / "grading" / "grades.csv")}
    theirs = {r["student_id"]: float(r["score"]) for r in read_csv(trip["course"] / "grades.csv")
              if r["assignment"] == ASSIGNMENT}
    assert theirs == ours

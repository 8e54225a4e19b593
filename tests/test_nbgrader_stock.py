"""Every stock ``nbgrader`` command an instructor runs from the course root reads the course's
configuration (``nbgrader_config.py``) and works: ``generate_assignment``, ``validate``,
``release_assignment`` and ``list``, ``autograde``, ``generate_feedback``, ``export``, and the
formgrader in a Jupyter server.

Each runs in a copy of the course (its root laid out as the repository's), with a throw-away
exchange, so the real ``notebooks/``, ``submitted/`` and ``grading/`` are never touched.
"""
from __future__ import annotations

import shutil

import pytest

from tests.nbgrader_course import ROOT, JupyterServer, copy_course, make_user, read_csv

ASSIGNMENT = "01-one-hot"
NB = f"{ASSIGNMENT}.ipynb"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stock")
    (tmp / "exchange").mkdir()
    return make_user(tmp, "instructor", tmp / "exchange", cwd=copy_course(tmp / "course"))


def test_config_is_read_without_warnings(teacher):
    r = teacher.run("nbgrader", "generate_assignment", "--help-all")
    assert r.returncode == 0
    r = teacher.nbgrader("db", "assignment", "list")
    assert "No nbgrader_config.py" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_generate_assignment_writes_the_course_release(teacher):
    """Stock ``generate_assignment`` gives the same student notebook as ``python -m autograder release``."""
    release = teacher.cwd / "notebooks" / ASSIGNMENT / NB
    release.unlink()
    teacher.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    stock = release.read_bytes()
    release.unlink()
    teacher.run("python", "-m", "autograder", "release", ASSIGNMENT)
    assert stock == release.read_bytes()


def test_validate_passes_the_solution_and_fails_every_test_of_the_release(teacher):
    r = teacher.nbgrader("validate", f"solutions/{ASSIGNMENT}/{NB}")
    assert "Success!" in r.stdout, r.stdout + r.stderr
    r = teacher.nbgrader("validate", "--invert", f"notebooks/{ASSIGNMENT}/{NB}")
    assert "Success!" in r.stdout, r.stdout + r.stderr


def test_release_assignment_and_list(teacher):
    teacher.nbgrader("release_assignment", ASSIGNMENT, "--force")
    r = teacher.nbgrader("list")
    assert ASSIGNMENT in r.stdout + r.stderr, r.stdout + r.stderr


def test_autograde_feedback_and_export(teacher):
    """Stock ``autograde`` of a solution copied in as ``alice``'s submission: full marks, a
    feedback page where the course's tools keep them (grading/feedback) and a CSV export."""
    submitted = teacher.cwd / "submitted" / "alice" / ASSIGNMENT
    submitted.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / ASSIGNMENT / NB, submitted / NB)
    teacher.nbgrader("generate_assignment", ASSIGNMENT, "--force")  # the assignment in the course's gradebook
    teacher.nbgrader("autograde", ASSIGNMENT, "--create")
    assert (teacher.cwd / "autograded" / "alice" / ASSIGNMENT / NB).is_file()
    teacher.nbgrader("generate_feedback", ASSIGNMENT)
    assert (teacher.cwd / "grading" / "feedback" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    teacher.nbgrader("export")
    rows = [r for r in read_csv(teacher.cwd / "grades.csv") if r["assignment"] == ASSIGNMENT]
    assert [r["student_id"] for r in rows] == ["alice"]
    assert float(rows[0]["score"]) == float(rows[0]["max_score"]) > 0


def test_formgrader_serves_the_course(teacher):
    server = JupyterServer(teacher, ["jupyter", "server"])
    try:
        assignments = server.get_json("formgrader/api/assignments")
        assert ASSIGNMENT in [a["name"] for a in assignments], assignments
        assert "not a subdirectory" not in server.log_text()
        assert server.alive
    finally:
        server.close()

"""Every stock ``nbgrader`` command an instructor runs from the course root reads the course's
configuration (``nbgrader_config.py``) and works: ``generate_assignment``, ``validate``,
``release_assignment`` and ``list``, ``autograde``, ``generate_feedback``, ``export``, and the
formgrader in a Jupyter server.

Each runs in a copy of the course (its root laid out as the repository's), with a throw-away
exchange, so the real ``notebooks/``, ``submitted/`` and ``grading/`` are never touched.
"""
from __future__ import annotations

import re
import shutil

import pytest

from tests.leaks import find_leaks, secret_lines
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
    """Stock ``autograde`` of a solution copied in as ``alice``'s submission: full marks, no alarm
    about her hidden-test cells (nbgrader raises one for every hidden-test cell of every student:
    the course's OverwriteCells knows the release's text), an alarm for the visible test ``bob``
    edited, a feedback page where the course's tools keep them (grading/feedback) with no hidden
    test in it, and a CSV export."""
    import json

    for student in ("alice", "bob"):
        (teacher.cwd / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / ASSIGNMENT / NB, teacher.cwd / "submitted" / "alice" / ASSIGNMENT / NB)
    bob = json.loads((ROOT / "notebooks" / ASSIGNMENT / NB).read_text(encoding="utf-8"))
    edited = next(c for c in bob["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id", "").endswith("_visible"))
    edited["source"] = "".join(edited["source"]) + "\nprint('I changed the test')"
    (teacher.cwd / "submitted" / "bob" / ASSIGNMENT / NB).write_text(json.dumps(bob), encoding="utf-8")

    teacher.nbgrader("generate_assignment", ASSIGNMENT, "--force")  # the assignment in the course's gradebook
    said = teacher.nbgrader("autograde", ASSIGNMENT, "--create")
    alarms = re.findall(r"Attribute 'checksum' for cell (\S+) has changed", said.stdout + said.stderr)
    assert alarms == [edited["metadata"]["nbgrader"]["grade_id"]], alarms
    assert (teacher.cwd / "grading" / "autograded" / "alice" / ASSIGNMENT / NB).is_file()
    teacher.nbgrader("generate_feedback", ASSIGNMENT)
    page = teacher.cwd / "grading" / "feedback" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    hidden = {line: src for line, src in secret_lines().items() if src.startswith(NB) and src.endswith("_hidden)")}
    assert hidden and not find_leaks([page], hidden)
    teacher.nbgrader("export")
    rows = {r["student_id"]: r for r in read_csv(teacher.cwd / "grades.csv") if r["assignment"] == ASSIGNMENT}
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0


def test_formgrader_serves_the_course(teacher):
    server = JupyterServer(teacher, ["jupyter", "server"])
    try:
        assignments = server.get_json("formgrader/api/assignments")
        assert ASSIGNMENT in [a["name"] for a in assignments], assignments
        assert "not a subdirectory" not in server.log_text()
        assert server.alive
    finally:
        server.close()

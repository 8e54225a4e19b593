"""Which cells the grader runs, and from whose file (autograder/assemble.py), on hand-made notebooks.

The student's answers come from the student's file, everything the course wrote from the source
notebook (hidden tests included); cells are matched by grade_id, else a locked cell by its text and
an answer by the functions it defines; a deleted course cell is put back; the student's own cells
run where they are; a test cell that differs from the release is edited, or outdated when it is an
earlier release's.
"""
from __future__ import annotations

import nbformat
from nbgrader.utils import compute_checksum

from autograder.assemble import assemble, normalized
from autograder.protocol import CellKind

SETUP = "import numpy as np"
SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
STUB = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
VISIBLE = "assert double(2) == 4"
HIDDEN = VISIBLE + "\n### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS"


def _cell(source: str, grade_id: str | None = None, *, solution=False, grade=False, locked=False, points=0):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked,
                                     "points": points, "schema_version": 3}
    return cell


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Doubling")] + list(cells)
    return nb


def _source():
    return _notebook(_cell(SETUP, "setup", locked=True), _cell(SOLUTION, "double", solution=True),
                     _cell(HIDDEN, "test_double", grade=True, locked=True, points=1))


def _release():
    nb = _notebook(_cell(SETUP, "setup", locked=True), _cell(STUB, "double", solution=True),
                   _cell(VISIBLE, "test_double", grade=True, locked=True, points=1))
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("locked"):
            c.metadata.nbgrader["checksum"] = compute_checksum(c)
    return nb


def _student(answer: str = "def double(x):\n    return x + x"):
    nb = _release()
    nb.cells[2].source = answer
    return nb


def _plan(student, history=None):
    plan = assemble(_source(), _release(), student, history)
    return [(c.kind, c.grade_id, c.source) for c in plan.cells], plan.test_cell_changes


def test_answers_come_from_the_student_and_everything_else_from_the_course_hidden_tests_included():
    cells, changes = _plan(_student())
    assert cells == [(CellKind.MARKDOWN, None, "# Doubling"), (CellKind.COURSE, "setup", SETUP),
                     (CellKind.SOLUTION, "double", "def double(x):\n    return x + x"),
                     (CellKind.COURSE, "test_double", HIDDEN)]
    assert changes == {}


def test_an_edited_test_cell_runs_as_the_course_wrote_it_and_is_flagged():
    student = _student()
    student.cells[3].source = "assert True  # double is fine"
    cells, changes = _plan(student)
    assert cells[3] == (CellKind.COURSE, "test_double", HIDDEN) and changes == {"test_double": "edited"}


def test_a_test_cell_of_an_earlier_release_is_outdated_not_edited():
    student = _student()
    student.cells[3].source = "assert double(3) == 6"
    assert _plan(student, {"test_double": {normalized("assert double(3) == 6")}})[1] == {"test_double": "outdated"}
    # not in the history, but it carries the checksum of its own text: another release's cell
    student.cells[3].metadata.nbgrader["checksum"] = compute_checksum(student.cells[3])
    assert _plan(student)[1] == {"test_double": "outdated"}


def test_cells_that_lost_their_metadata_are_matched_by_text_and_by_the_functions_they_define():
    student = _student("def double(x):\n    return x * 2\n\ndef helper():\n    pass")
    for c in student.cells:
        c.metadata.pop("nbgrader", None)
    cells, _ = _plan(student)
    assert [(kind, gid) for kind, gid, _ in cells] == [(CellKind.MARKDOWN, None), (CellKind.COURSE, "setup"),
                                                       (CellKind.SOLUTION, "double"), (CellKind.COURSE, "test_double")]


def test_a_renamed_answer_is_still_the_answer_and_a_syntax_error_still_defines_its_function():
    student = _student("def double(x)\n    return x * 2")  # no colon: does not parse
    student.cells[2].metadata.nbgrader["grade_id"] = "my_double"
    cells, _ = _plan(student)
    assert cells[2] == (CellKind.SOLUTION, "double", "def double(x)\n    return x * 2")


def test_a_deleted_course_cell_is_put_back_after_the_course_cell_before_it():
    student = _student()
    del student.cells[3]  # the test cell
    del student.cells[1]  # the setup cell
    cells, _ = _plan(student)
    assert [(kind, gid) for kind, gid, _ in cells] == [(CellKind.MARKDOWN, None), (CellKind.COURSE, "setup"),
                                                       (CellKind.SOLUTION, "double"), (CellKind.COURSE, "test_double")]
    assert cells[3][2] == HIDDEN


def test_a_deleted_answer_is_not_put_back_and_the_students_own_cells_run_where_they_are():
    student = _student()
    student.cells[2] = _cell("print('my own cell')")
    student.cells.append(_cell("x = double(21)"))
    cells, _ = _plan(student)
    assert [(kind, gid) for kind, gid, _ in cells] == [(CellKind.MARKDOWN, None), (CellKind.COURSE, "setup"),
                                                       (CellKind.STUDENT, None), (CellKind.COURSE, "test_double"),
                                                       (CellKind.STUDENT, None)]


def test_a_grade_id_the_student_gave_another_cell_type_matches_nothing():
    student = _student()
    student.cells[2] = nbformat.v4.new_markdown_cell("I wrote double below.")
    student.cells[2].metadata["nbgrader"] = {"grade_id": "double", "solution": True}
    student.cells.insert(3, _cell("def double(x):\n    return 2 * x"))
    cells, _ = _plan(student)
    assert cells[2][0] == CellKind.MARKDOWN and cells[3][:2] == (CellKind.SOLUTION, "double")


def test_normalized_text_ignores_trailing_spaces_and_blank_ends_but_not_content():
    assert normalized(["assert x \n", "\n"]) == normalized("assert x") != normalized("assert  x")

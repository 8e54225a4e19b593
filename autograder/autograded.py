"""The autograded notebook: a submission as graded, the file nbgrader's formgrader opens.

nbgrader keeps one per submitted notebook in ``CourseDirectory.autograded_directory``
(``grading/autograded/<student>/<assignment>/<notebook>.ipynb`` in this course, course.py): the
formgrader shows it for reading and manual grading, and ``generate_feedback`` makes the
student's page from it. The course's CLI writes the same file stock ``nbgrader autograde``
would: the cells in the order they ran, the student's answers and the course's cells as the
source notebook has them (hidden tests included: only instructors read this file; every page a
student gets goes through ``judge.feedback.student_view``), each with its outputs and its error
(full traceback), and the source's nbgrader metadata on every cell the course knows by id.
Outputs are already inert (``judge.feedback.inert_outputs``): the formgrader renders this file
in the instructor's Jupyter server, where a student's HTML must not run either.
"""
from __future__ import annotations

import nbformat

from .judge.feedback import inert_outputs
from .protocol import CellKind, CellResult


def notebook(source, cells: list, results: list[CellResult | None]):
    """The autograded notebook of one graded run.

    ``source``: the source notebook (its metadata and each cell's nbgrader metadata);
    ``cells``: the run's ``assemble.RunCell``s in order; ``results``: for each, what running it
    gave (``protocol.CellResult``), or None for a markdown cell (not run).
    """
    meta_by_id = {}
    for c in source.cells:
        meta = c.metadata.get("nbgrader") or {}
        if meta.get("grade_id"):
            meta_by_id[meta["grade_id"]] = dict(meta)
    nb = nbformat.v4.new_notebook()
    for key in ("kernelspec", "language_info"):
        if key in source.metadata:
            nb.metadata[key] = source.metadata[key]
    for k, (rc, res) in enumerate(zip(cells, results)):
        if rc.kind == CellKind.MARKDOWN:
            cell = nbformat.v4.new_markdown_cell(rc.source)
        else:
            cell = nbformat.v4.new_code_cell(rc.source)
            res = res or CellResult()
            outputs = list(res.outputs)
            err = res.error
            if err is not None:
                outputs.append({"output_type": "error", "ename": err.ename, "evalue": err.evalue,
                                "traceback": list(err.traceback or [f"{err.ename}: {err.evalue}"])})
            cell.outputs = inert_outputs(outputs)
            if rc.kind in (CellKind.COURSE, CellKind.SOLUTION) and rc.grade_id in meta_by_id:
                cell.metadata["nbgrader"] = dict(meta_by_id[rc.grade_id])
        cell.id = f"cell-{k}"  # not nbformat's random id: the same grading gives the same file, byte for byte
        nb.cells.append(cell)
    return nb

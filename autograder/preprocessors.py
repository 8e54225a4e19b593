"""nbgrader preprocessors the course adds to grading and feedback."""
from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class StderrIsNotFailure(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base
    """Grading counts only errors: stderr text in a test cell (a warning, a progress bar)
    is kept for the feedback but relabelled as stdout, so stock nbgrader does not zero the cell.

    Runs after ``Execute`` and before ``SaveAutoGrades``.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


class ShortTracebacks(NbGraderPreprocessor):
    """In feedback, an error in a test cell shows only ``Type: message``.

    A full IPython traceback quotes the lines around the failing one, which may be hidden
    tests; the course's checks put everything a student needs into the message.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "error":
                    message = f"{output.ename}: {output.evalue}" if output.evalue else output.ename
                    output.traceback = [message]
        return cell, resources

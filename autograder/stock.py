"""What stock nbgrader commands run differently in this course (course.py configures them).

- ``nbgrader autograde`` sanitises each submission with ``OverwriteCells`` below instead of
  nbgrader's own, which is the same but for one false alarm.
- ``nbgrader generate_feedback`` and the formgrader's button make the course's own pages:
  ``judge.feedback.StudentView`` and ``judge.feedback.FeedbackExporter``.
"""
from __future__ import annotations

from nbgrader.api import MissingEntry
from nbgrader.preprocessors import OverwriteCells as _NbgraderOverwriteCells

from .judge.feedback import strip_hidden_tests


class OverwriteCells(_NbgraderOverwriteCells):
    """nbgrader's OverwriteCells without its false alarm on hidden tests.

    ``generate_assignment`` stores a test cell's checksum *with* its hidden tests in the gradebook
    and writes the release's copy *without* them, so stock ``autograde`` reports ``Attribute
    'checksum' for cell test_*_hidden has changed!`` for every hidden-test cell of every student
    (nbgrader issue #1961), which reads as tampering. A locked cell whose text is exactly the
    release's (the source's with its hidden tests cut) is the course's own: it gets the source's
    text back silently, as nbgrader would give it after the warning. Any other change is reported
    as nbgrader does.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if grade_id is not None and cell.cell_type == "code":
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if source_cell is not None and source_cell.locked and cell.source != source_cell.source \
                    and cell.source == strip_hidden_tests(source_cell.source):
                cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)

"""Regenerate the student release (``notebooks/``) from the source notebooks (``solutions/``).

A release never costs a student their work: a file of ``notebooks/<id>/`` that differs from what
was generated there (a notebook edited in place) is first copied to the working copy's place,
``work/<id>/``, with one line saying where (workcopy.Rescue); and the working copies themselves are
never written here, only named when their release changed (``python -m autograder open`` brings the
changes in).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from . import course, workcopy

log = logging.getLogger(__name__)


class ReleaseError(RuntimeError):
    """nbgrader refused to generate an assignment; the message carries its log."""


class _Regenerating(logging.Filter):
    """Drops nbgrader's ``Removing existing assignment`` warning, which every regeneration prints
    nine times: here replacing the release is the point, and what a student changed in it has
    been kept first, with a line that says where."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Removing existing assignment")


@dataclass
class Released:
    """The notebooks a release wrote, and what it has to tell a student (one line each)."""

    notebooks: list[Path]
    lines: list[str] = field(default_factory=list)


def release(root: Path = course.ROOT, only: list[str] | None = None) -> Released:
    """Run ``nbgrader generate_assignment`` for every assignment (or ``only`` those).

    Writes ``root/notebooks/<id>/`` (outputs cleared, solutions stubbed, hidden tests
    removed). The gradebook and exchange it needs are scratch.
    """
    ids = only or course.assignments(root)
    rescue = workcopy.Rescue(root, ids)
    rescue.before()
    started = []
    try:
        with tempfile.TemporaryDirectory(prefix="release-db-") as tmp:
            config = course.nbgrader_config(root, db_path=Path(tmp) / "gradebook.db", exchange=Path(tmp) / "exchange")
            api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
            api.log.setLevel(logging.WARNING)  # nbgrader narrates every file at INFO
            quiet = _Regenerating()
            api.log.addFilter(quiet)
            try:
                for assignment in ids:
                    started.append(assignment)  # nbgrader removes the old folder first
                    result = api.generate_assignment(assignment, force=True, create=True)
                    if not result["success"]:
                        raise ReleaseError(f"generate_assignment {assignment} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
                    log.info("released %s", assignment)
            finally:
                api.log.removeFilter(quiet)  # nbgrader's logger is shared with its other commands
    finally:
        rescue.after(started)
    notebooks = sorted(p for a in ids for p in (root / course.RELEASE_DIR / a).glob("*.ipynb"))
    return Released(notebooks, rescue.lines + workcopy.behind(root))

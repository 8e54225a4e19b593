"""Regenerate the student release (``notebooks/``) from the source notebooks (``solutions/``)."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from . import course

log = logging.getLogger(__name__)


class ReleaseError(RuntimeError):
    """nbgrader refused to generate an assignment; the message carries its log."""


def release(root: Path = course.ROOT, only: list[str] | None = None) -> list[Path]:
    """Run ``nbgrader generate_assignment`` for every assignment (or ``only`` those).

    Writes ``root/notebooks/<id>/`` (outputs cleared, solutions stubbed, hidden tests
    removed) and returns the notebooks written. The gradebook and exchange it needs are scratch.
    """
    ids = only or course.assignments(root)
    with tempfile.TemporaryDirectory(prefix="release-db-") as tmp:
        config = course.nbgrader_config(root, db_path=Path(tmp) / "gradebook.db", exchange=Path(tmp) / "exchange")
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel(logging.WARNING)  # nbgrader narrates every file at INFO
        for assignment in ids:
            result = api.generate_assignment(assignment, force=True, create=True)
            if not result["success"]:
                raise ReleaseError(f"generate_assignment {assignment} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
            log.info("released %s", assignment)
    return sorted(p for a in ids for p in (root / course.RELEASE_DIR / a).glob("*.ipynb"))

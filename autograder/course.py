"""Where the course lives and how nbgrader is configured for it (the one place)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets.config import Config

from .limits import Limits

#: The repository root (this file is autograder/course.py).
ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "seq-models-from-scratch"
SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"
#: Where students work: ``work/<id>/<id>.ipynb``, a copy of the release that regenerating it never
#: rewrites (workcopy.py), and where nbgrader's fetch_assignment puts an assignment (git-ignored).
WORK_DIR = "work"


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook, sorted."""
    return sorted(p.name for p in (root / SOURCE_DIR).iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebook_names(assignment: str, root: Path = ROOT) -> list[str]:
    """The notebook names (without .ipynb) of one assignment."""
    return sorted(p.stem for p in (root / SOURCE_DIR / assignment).glob("*.ipynb"))


def ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` (installed beside this Python) as a command: put it on PATH.

    It does so only to read its own migrations' head revision when it creates a gradebook, in
    a subprocess that costs 2-10 s; read it in process instead (the command stays the fallback).
    """
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    import nbgrader.api

    if not getattr(nbgrader.api.get_alembic_version, "_course_fast", False):
        slow = nbgrader.api.get_alembic_version

        def get_alembic_version() -> str:
            try:
                from alembic.script import ScriptDirectory

                return ScriptDirectory(str(Path(nbgrader.api.__file__).parent / "alembic")).get_current_head()
            except Exception:  # noqa: BLE001 - nbgrader's own way
                return slow()

        get_alembic_version._course_fast = True
        nbgrader.api.get_alembic_version = get_alembic_version


#: The folder of the course where a class's grades live, relative to the course root: what
#: ``python -m autograder grade submitted --out grading`` writes, and where nbgrader's own tools
#: (formgrader, ``generate_feedback``, ``release_feedback``, ``export``) look, so both see one
#: gradebook and one set of feedback pages.
GRADING_DIR = "grading"
#: nbgrader's default exchange (a JupyterHub course's shared folder).
HUB_EXCHANGE = Path("/srv/nbgrader/exchange")


def nbgrader_config(root: Path, db_path: Path | None = None) -> Config:
    """nbgrader settings for a course tree rooted at ``root``.

    ``db_path`` defaults to ``root/grading/gradebook.db``: the gradebook that
    ``python -m autograder grade ... --out grading`` writes and that stock ``nbgrader`` commands
    and the formgrader read (release and grading runs pass their own).
    """
    ensure_tools_on_path()
    db_path = db_path or root / GRADING_DIR / "gradebook.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE_DIR
    c.CourseDirectory.release_directory = RELEASE_DIR
    # submitted/ and autograded/ keep nbgrader's names; feedback goes beside the gradebook, in
    # the grading CLI's layout (OUT/feedback/<student>/<assignment>/<notebook>.html).
    c.CourseDirectory.feedback_directory = f"{GRADING_DIR}/feedback"
    c.CourseDirectory.db_url = f"sqlite:///{db_path}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.Execute.timeout = int(Limits().cell_timeout)  # stock nbgrader's cell timeout: the grader's
    c.Execute.kernel_name = "python3"
    c.GenerateAssignment.create_assignment = True
    # The exchange (release_assignment, fetch, submit, collect, feedback): a hub's shared folder
    # when the machine has one; otherwise a folder of the course, so the whole round trip works on
    # one machine with no set-up. `--Exchange.root=DIR` on the command line overrides both.
    if not HUB_EXCHANGE.is_dir():
        (root / "_build" / "nbgrader" / "exchange").mkdir(parents=True, exist_ok=True)
        c.Exchange.root = str(root / "_build" / "nbgrader" / "exchange")
    # A student in the course folder fetches into work/<id>/, beside the working copies, and submits
    # from there (the Assignment List reads work/nbgrader_config.py, which loads this file again).
    c.Exchange.assignment_dir = str(root / WORK_DIR)
    c.Application.log_level = "WARN"  # the spelling every nbgrader app accepts (FormgradeExtension rejects "WARNING")
    return c


#: Entries of the course folder a student's kernel still sees (the environment and the helper package).
VISIBLE_TO_STUDENTS = {".venv", "seqlab", "seqlab.egg-info"}


def hidden_from_students(root: Path, submitted: Path, out: Path, private: Path) -> tuple[str, ...]:
    """The folders hidden from student code: everything of the course but its environment, the
    submissions, the output and the run's private copy of the course."""
    prefix = Path(sys.prefix).resolve()
    hide = []
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.is_symlink() and p.name not in VISIBLE_TO_STUDENTS and p.resolve() not in prefix.parents \
                and p.resolve() != prefix:
            hide.append(str(p))
    for p in (submitted, out, private):
        if p.resolve() not in prefix.parents:
            hide.append(str(p.resolve()))
    oracles = root / "seqlab" / "oracles"
    if oracles.is_dir():  # the course's reference answers: the judge reads them, the student's kernel never
        hide.append(str(oracles.resolve()))
    return tuple(hide)

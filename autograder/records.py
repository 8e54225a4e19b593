"""The records the grading pipeline passes along: what a worker is asked to grade, and what it answers.

Plain dataclasses of plain data, so that a job pickles to any worker (local pool or Dask) and a result
is stored as JSON between runs (store.py). A test cell's grade is ``judge.verdict.CellVerdict``; its
row form (``CellVerdict.row()``) is what a notebook result carries.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class NotebookJob:
    """One notebook of a submission, with the course's two versions of it."""

    source_json: str    # solutions/<a>/<nb>.ipynb: the course's cells, hidden tests included
    release_json: str   # notebooks/<a>/<nb>.ipynb: what the student was given
    history: dict       # grade_id -> that test cell's texts in earlier releases (assemble.py)
    student_json: str   # the student's file


@dataclass
class Job:
    """One student's one assignment: every notebook and the files beside them."""

    student: str
    assignment: str
    notebooks: dict[str, NotebookJob]
    files: dict[str, bytes]   # relative path -> bytes, copied into the kernel's scratch folder
    settings: dict            # sandbox.Limits fields, and the folders hidden from student code
    path: str | None = None   # the submission's folder, for messages
    fingerprint: str | None = None  # store.fingerprint, set before the job is run or reused


@dataclass
class NotebookResult:
    """How one notebook was graded: a row per graded cell (None when it could not be run at all), its
    feedback page, why it could not be graded (``problem``) or a note on it, the bridge's cost, and
    ``answers``: the student's answer cells (grade_id -> source, as graded) of the functions whose
    tests named a mistake, the class report's excerpts (only those, to keep stored results small);
    and the autograded notebook (JSON; autograded.py) the formgrader opens and pages are made from."""

    cells: list[dict] | None
    feedback: str | None = None
    problem: str | None = None
    note: str | None = None
    bridge: dict = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    autograded: str | None = None


@dataclass
class JobResult:
    student: str
    assignment: str
    notebooks: dict[str, NotebookResult]
    seconds: float = 0.0
    path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "JobResult":
        notebooks = {name: NotebookResult(**nb) for name, nb in (d.get("notebooks") or {}).items()}
        return cls(d["student"], d["assignment"], notebooks, float(d.get("seconds") or 0.0), d.get("path"))

"""The records the grading pipeline passes along: what a worker is asked to grade, and what it answers.

Plain dataclasses of plain data, so that a job pickles to any worker (local pool or Dask) and a result
is stored as JSON between runs (store.py: ``JobResult.to_json``/``from_json``). A test cell's grade
is a ``CellVerdict`` (judge/verdict.py decides it), carried as it is to the gradebook and the CSVs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .limits import Limits
from .protocol import BridgeStats


class Status(StrEnum):
    """A test cell's status in cells.csv (each written here once; a StrEnum is its own text)."""

    PASSED = "passed"            # it raised nothing in the judge
    FAILED = "failed"            # it raised, or the record of its calls shows a forbidden operator
    TAMPERED = "tampered"        # an edited test cell, flagged code, or a recorder switched off
    OUTDATED = "outdated"        # a test cell from another release (graded with the current tests)
    MISSING = "missing"          # no notebook
    INVALID = "invalid"          # not valid JSON, or not a notebook
    NOT_IN_ROSTER = "not-in-roster"
    ERROR = "error"              # could not be run

    @property
    def graded(self) -> bool:
        """Whether the student's code earned this cell's score (the rest score 0 without running)."""
        return self in (Status.PASSED, Status.FAILED, Status.TAMPERED, Status.OUTDATED)


@dataclass(frozen=True)
class CellVerdict:
    """The grade of one test cell of one notebook."""

    grade_id: str
    score: float
    max_score: float
    status: Status
    message: str
    #: why it failed (a key of report.causes.CAUSES; "" when it passed) and the mistake a check named ("" if none)
    cause: str = ""
    mistake: str = ""
    #: what flagged it: "edited" (the test cell), "outdated", "code" (the scan's findings),
    #: "recorder" (the run-time record of operators was switched off or forged) or ""
    flag: str = ""

    def to_json(self) -> dict:
        return dict(grade_id=self.grade_id, score=self.score, max_score=self.max_score, status=self.status.value,
                    message=self.message, cause=self.cause, mistake=self.mistake, flag=self.flag)

    @classmethod
    def from_json(cls, d: dict) -> "CellVerdict":
        return cls(str(d["grade_id"]), float(d["score"]), float(d["max_score"]), Status(d["status"]),
                   str(d.get("message", "")), str(d.get("cause", "")), str(d.get("mistake", "")), str(d.get("flag", "")))


@dataclass(frozen=True)
class NotebookJob:
    """One notebook of a submission, with the course's two versions of it."""

    source_json: str    # solutions/<a>/<nb>.ipynb: the course's cells, hidden tests included
    release_json: str   # notebooks/<a>/<nb>.ipynb: what the student was given
    history: dict       # grade_id -> that test cell's texts in earlier releases (assemble.py)
    student_json: str   # the student's file


@dataclass
class Job:
    """One student's one assignment: every notebook and the files beside them, and how to grade it."""

    student: str
    assignment: str
    notebooks: dict[str, NotebookJob]
    files: dict[str, bytes]   # relative path -> bytes, copied into the kernel's scratch folder
    limits: Limits = field(default_factory=Limits)
    record: bool = True       # record PyTorch's operators while tests call the student's code (--no-record: off)
    hide: tuple[str, ...] = ()  # folders hidden from student code (course.hidden_from_students)
    path: str | None = None   # the submission's folder, for messages
    fingerprint: str | None = None  # store.fingerprint, set before the job is run or reused


@dataclass
class NotebookResult:
    """How one notebook was graded: a verdict per graded cell (None when it could not be run at all),
    its feedback page, why it could not be graded (``problem``) or a note on it, the bridge's cost
    (None when the judge reported none), ``answers``: the student's answer cells (grade_id ->
    source, as graded) of the functions whose tests named a mistake, the class report's excerpts
    (only those, to keep stored results small), and ``autograded``: the autograded notebook (JSON;
    autograded.py) the formgrader opens and pages are made from."""

    cells: list[CellVerdict] | None
    feedback: str | None = None
    problem: str | None = None
    note: str | None = None
    bridge: BridgeStats | None = None
    answers: dict[str, str] = field(default_factory=dict)
    autograded: str | None = None

    def verdict(self, grade_id: str) -> CellVerdict | None:
        return next((v for v in self.cells or () if v.grade_id == grade_id), None)

    def to_json(self) -> dict:
        return {"cells": None if self.cells is None else [v.to_json() for v in self.cells], "feedback": self.feedback,
                "problem": self.problem, "note": self.note, "bridge": None if self.bridge is None else self.bridge.to_json(),
                "answers": self.answers, "autograded": self.autograded}

    @classmethod
    def from_json(cls, d: dict) -> "NotebookResult":
        cells, bridge = d.get("cells"), d.get("bridge")
        return cls(None if cells is None else [CellVerdict.from_json(v) for v in cells], d.get("feedback"),
                   d.get("problem"), d.get("note"), BridgeStats.from_json(bridge) if bridge else None,
                   dict(d.get("answers") or {}), d.get("autograded"))


@dataclass
class JobResult:
    student: str
    assignment: str
    notebooks: dict[str, NotebookResult]
    seconds: float = 0.0
    path: str | None = None

    def to_json(self) -> dict:
        return {"student": self.student, "assignment": self.assignment, "seconds": self.seconds, "path": self.path,
                "notebooks": {name: nb.to_json() for name, nb in self.notebooks.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "JobResult":
        notebooks = {name: NotebookResult.from_json(nb) for name, nb in (d.get("notebooks") or {}).items()}
        return cls(d["student"], d["assignment"], notebooks, float(d.get("seconds") or 0.0), d.get("path"))

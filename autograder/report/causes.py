"""Why a test cell was lost, as data: the one table of causes the grader records and the class
report counts.

A failed test cell has a *cause*. ``mistake``: the student's code ran and a check found it wrong;
the check may also have named the likely mistake (``seqlab.testing.CheckError.mistake``, carried
from the judge in the cell's error). ``not written``: the function is still the release stub. The
rest are failures that are not mistakes in the code: a refusal of the own-work rule, a time-out,
memory, a kernel that died, a cell that could not be run, the grader's own failure. Missing or
invalid notebooks never reach a test cell: their cells.csv status says so.

``classify`` reads only the judge's structured error (``protocol.CellError``: ``ename``, ``cause``,
``mistake``), never the text of a message.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..protocol import CellError

if TYPE_CHECKING:
    from ..records import CellVerdict


@dataclass(frozen=True)
class Cause:
    key: str      # what rows and results store
    label: str    # what the report says
    code: bool    # a mistake in the code (a row of mistakes.csv), as opposed to a fault around it


CAUSES = {c.key: c for c in (
    Cause("mistake", "the code is wrong", True),
    Cause("not written", "not written (the release stub)", False),
    Cause("not own work", "refused: not the student's own work", False),
    Cause("time-out", "time-out", False),
    Cause("memory", "out of memory", False),
    Cause("kernel died", "the kernel died", False),
    Cause("not run", "not run (the notebook stopped before it)", False),
    Cause("grader", "the grader failed", False),
)}

#: The judge's ``ename`` of faults around the code (forkserver/server.py, judge/bridge.py, worker.py).
_BY_ENAME = {
    "NotImplementedError": "not written",
    "TimeoutError": "time-out",
    "MemoryError": "memory",
    "KernelDied": "kernel died",
    "NotRun": "not run",
    "GraderError": "grader",
    "Missing": "grader",
}


@dataclass(frozen=True)
class Failure:
    cause: str         # a key of CAUSES
    mistake: str = ""  # the likely mistake a check named ("" when none, or when the cause is not "mistake")


def classify(error: CellError | None) -> Failure | None:
    """The failure behind a test cell's error (None for a cell that passed)."""
    if error is None:
        return None
    if error.cause in CAUSES:
        return Failure(error.cause)
    cause = _BY_ENAME.get(error.ename)
    if cause is not None:
        return Failure(cause)
    return Failure("mistake", error.mistake.strip())


def function_of(grade_id: str) -> str:
    """The contract function a test cell tests: ``test_<function>_<kind>`` (``visible``,
    ``hidden``, one word); a grade_id of another form is its own function."""
    if grade_id.startswith("test_") and grade_id.count("_") >= 2:
        return grade_id[len("test_"):].rsplit("_", 1)[0]
    return grade_id


#: Faults of an answer cell itself (it ran out of time or memory, or killed its kernel): the
#: function it should define is missing, so its tests fail with a NameError that says nothing.
ANSWER_FAULTS = ("time-out", "memory", "kernel died")


def blame_answer_faults(verdicts: list[CellVerdict], answer_errors: dict[str, CellError | None]) -> list[CellVerdict]:
    """``verdicts`` with the cause of each test cell lost to the code replaced by the fault of its
    function's answer cell, when that cell had one. ``answer_errors``: the answer cells' grade_id
    (the function) -> the error it ran into (None if none)."""
    faults = {gid: f.cause for gid, err in answer_errors.items()
              if (f := classify(err)) is not None and f.cause in ANSWER_FAULTS}
    return [replace(v, cause=faults[function_of(v.grade_id)], mistake="")
            if v.cause == "mistake" and function_of(v.grade_id) in faults else v for v in verdicts]

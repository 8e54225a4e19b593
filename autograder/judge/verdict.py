"""The grade of one test cell, decided from what the judge saw: a pure function, no I/O.

The judge (judge/bridge.py) ran the cell where no student code runs; it passed when it raised
nothing. Two more facts can change the status, never the score: the student's copy of the cell
was edited or comes from another release (it was graded as the course's current text anyway),
and the static scan of the student's code found the tools of tampering (scan.py), which asks the
instructor to look.

A failed cell also records why (``cause``, ``mistake``: report/causes.py), and a flagged one what
flagged it (``flag``), as data for the class report.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..report.causes import classify


@dataclass(frozen=True)
class CellVerdict:
    grade_id: str
    score: float
    max_score: float
    #: passed · failed · tampered (edited test cell, or flagged code) · outdated (test cell of another release)
    status: str
    message: str
    #: why it failed (a key of report.causes.CAUSES; "" when it passed) and the mistake a check named ("" if none)
    cause: str = ""
    mistake: str = ""
    #: what flagged it: "edited" (the test cell), "outdated", "code" (the scan's findings) or ""
    flag: str = ""

    def row(self) -> dict:
        return dict(grade_id=self.grade_id, score=self.score, max_score=self.max_score, status=self.status,
                    message=self.message, cause=self.cause, mistake=self.mistake, flag=self.flag)


def verdict(grade_id: str, points: float, error: dict | None, change: str | None = None,
            flags: list[str] | tuple = ()) -> CellVerdict:
    """``error``: the judge's error for the cell (``ename``, ``evalue``) or None; ``change``: "edited",
    "outdated" or None (assemble.Plan.test_cell_changes); ``flags``: the scan's findings."""
    failure = classify(error)
    if error is None:
        status, score, message = "passed", float(points), ""
    else:
        status, score = "failed", 0.0
        message = f"{error.get('ename')}: {error.get('evalue')}"[:500]
    flag = ""
    if change == "edited":
        status, flag, message = "tampered", "edited", "the test cell was edited; it was graded as the course wrote it. " + message
    elif change == "outdated":
        status, flag, message = "outdated", "outdated", "the test cell is from another release; graded with the current tests. " + message
    if flags and status != "tampered":
        status, flag, message = "tampered", "code", "the code " + "; ".join(flags[:5]) + ". " + message
    return CellVerdict(grade_id, score, float(points), status, message.strip(), cause=failure.cause if failure else "",
                       mistake=failure.mistake if failure else "", flag=flag)

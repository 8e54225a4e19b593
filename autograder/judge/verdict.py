"""The grade of one test cell, decided from what the judge saw: a pure function, no I/O.

The judge (judge/bridge.py) ran the cell where no student code runs; it passed when it raised
nothing. While it ran, the kernel recorded which of PyTorch's operators the student's code ran
(``RunFindings``, judge/operators.py): a built-in the function is written without costs the cell
its points, and so does a recorder that was switched off or tampered with (status ``tampered``).
Two more facts can change the status, never the score: the student's copy of the cell was edited
or comes from another release (it was graded as the course's current text anyway), and the static
scan of the student's code found the tools of tampering (scan.py), which asks the instructor to look.

A failed cell also records why (``cause``, ``mistake``: report/causes.py), and a flagged one what
flagged it (``flag``), as data for the class report.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..report.causes import Failure, classify


@dataclass(frozen=True)
class RunFindings:
    """What the record of a test cell's calls into the student's code says (judge/operators.py)."""

    function: str                 # the function or class the cell grades
    refused: tuple[str, ...]      # why it is not the student's own work ("it ran aten::rnn_tanh (behind torch.nn.RNN) ...")
    tampered: str | None = None   # why the record cannot be believed

    def as_dict(self) -> dict:
        return {"function": self.function, "refused": list(self.refused), "tampered": self.tampered}

    @classmethod
    def from_dict(cls, d) -> "RunFindings | None":
        if not isinstance(d, dict) or not isinstance(d.get("function"), str):
            return None
        refused = tuple(str(r) for r in d.get("refused") or () if isinstance(r, str))
        tampered = d.get("tampered") if isinstance(d.get("tampered"), str) else None
        return cls(d["function"], refused, tampered)

    def message(self) -> str | None:
        """The refusal, as the student reads it in the feedback (None: nothing to refuse)."""
        if self.tampered:
            return (f"{self.function} earns no points: {self.tampered}. The grader records which of PyTorch's "
                    "operators run while the tests call your code; switching that off counts as tampering.")
        if self.refused:
            return (f"{self.function} is not your own work: while the tests called it, "
                    + "; ".join(self.refused) + ".")
        return None


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
    #: what flagged it: "edited" (the test cell), "outdated", "code" (the scan's findings),
    #: "recorder" (the run-time record of operators was switched off or forged) or ""
    flag: str = ""

    def row(self) -> dict:
        return dict(grade_id=self.grade_id, score=self.score, max_score=self.max_score, status=self.status,
                    message=self.message, cause=self.cause, mistake=self.mistake, flag=self.flag)


def verdict(grade_id: str, points: float, error: dict | None, change: str | None = None,
            flags: list[str] | tuple = (), run: RunFindings | None = None) -> CellVerdict:
    """``error``: the judge's error for the cell (``ename``, ``evalue``) or None; ``change``: "edited",
    "outdated" or None (assemble.Plan.test_cell_changes); ``flags``: the scan's findings; ``run``:
    what the recorder saw while the cell called the student's code (None: not recorded)."""
    refusal = run.message() if run is not None else None
    if refusal is not None:  # the run-time own-work rule: whatever the cell's error, this is why it lost
        failure = Failure("not own work")
    else:
        failure = classify(error)
    if error is None and refusal is None:
        status, score, message = "passed", float(points), ""
    else:
        status, score = "failed", 0.0
        message = (refusal or f"{error.get('ename')}: {error.get('evalue')}")[:500]
    if run is not None and run.tampered:
        return CellVerdict(grade_id, 0.0, float(points), "tampered", message.strip(), cause=failure.cause,
                           flag="recorder")
    flag = ""
    if change == "edited":
        status, flag, message = "tampered", "edited", "the test cell was edited; it was graded as the course wrote it. " + message
    elif change == "outdated":
        status, flag, message = "outdated", "outdated", "the test cell is from another release; graded with the current tests. " + message
    if flags and status != "tampered":
        status, flag, message = "tampered", "code", "the code " + "; ".join(flags[:5]) + ". " + message
    return CellVerdict(grade_id, score, float(points), status, message.strip(), cause=failure.cause if failure else "",
                       mistake=failure.mistake if failure else "", flag=flag)

"""The grade of one test cell, decided from what the judge saw: a pure function, no I/O.

The judge (judge/main.py) ran the cell where no student code runs; it passed when it raised
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

from ..protocol import CellError, RunFindings
from ..records import CellVerdict, Status
from ..report.causes import Failure, classify


def verdict(grade_id: str, points: float, error: CellError | None, change: str | None = None,
            flags: list[str] | tuple = (), run: RunFindings | None = None) -> CellVerdict:
    """``error``: the judge's error for the cell or None; ``change``: "edited",
    "outdated" or None (assemble.Plan.test_cell_changes); ``flags``: the scan's findings; ``run``:
    what the recorder saw while the cell called the student's code (None: not recorded)."""
    refusal = run.message() if run is not None else None
    if refusal is not None:  # the run-time own-work rule: whatever the cell's error, this is why it lost
        failure = Failure("not own work")
    else:
        failure = classify(error)
    if error is None and refusal is None:
        status, score, message = Status.PASSED, float(points), ""
    else:
        status, score = Status.FAILED, 0.0
        message = (refusal or f"{error.ename}: {error.evalue}")[:500]
    if run is not None and run.tampered:
        return CellVerdict(grade_id, 0.0, float(points), Status.TAMPERED, message.strip(), cause=failure.cause,
                           flag="recorder")
    flag = ""
    if change == "edited":
        status, flag, message = Status.TAMPERED, "edited", "the test cell was edited; it was graded as the course wrote it. " + message
    elif change == "outdated":
        status, flag, message = Status.OUTDATED, "outdated", "the test cell is from another release; graded with the current tests. " + message
    if flags and status != Status.TAMPERED:
        status, flag, message = Status.TAMPERED, "code", "the code " + "; ".join(flags[:5]) + ". " + message
    return CellVerdict(grade_id, score, float(points), status, message.strip(), cause=failure.cause if failure else "",
                       mistake=failure.mistake if failure else "", flag=flag)

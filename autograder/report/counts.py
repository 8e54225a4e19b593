"""The class report's numbers, counted from what cells.csv and mistakes.csv hold: a pure function
of rows, no I/O, so the counting is tested on hand-made tables.

Inputs: the cells.csv rows (``student_id, assignment, notebook, grade_id, score, max_score,
status``) and the *findings*, what the grader recorded about a test cell beyond its score
(``Finding``: why it was lost, the mistake a check named, a tampering flag). The findings of cause
``mistake`` are exactly the rows of mistakes.csv (``mistakes_rows``).

Definitions the pages state too:
- a student *has no submission* for an assignment when every one of their cells.csv rows for it
  has status ``missing`` and no problem was reported for it (a renamed notebook is a problem, listed
  with the failures that are not the code); mean and median are over every student, a missing submission counting 0
  (as summary.csv), and also over those who submitted;
- a test cell is *lost* by a student when its score is below its points, whatever the reason;
- for a function (test cells ``test_<function>_<kind>``), a student *failed it in the code* when a
  test of it was lost with cause ``mistake``; each named mistake counts the students whose failures
  of the function named it; ``unnamed`` counts the students none of whose failures got a name.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from ..records import Status
from .causes import CAUSES, function_of
from .excerpts import Excerpt, anonymiser, choose

MISTAKES_COLUMNS = ["student_id", "assignment", "function", "grade_id", "mistake"]

#: cells.csv statuses of what was never graded, and the flags of graded cells, as the report names them.
STATUS_FAULTS = {
    Status.MISSING: "notebook missing or renamed",
    Status.INVALID: "not a valid notebook",
    Status.NOT_IN_ROSTER: "student not in the roster",
    Status.ERROR: "could not be graded",
}
FLAG_FAULTS = {
    "edited": "tampering flag: a test cell was edited (graded as the course wrote it)",
    "code": "tampering flag: the code reaches for the tools of tampering",
    "outdated": "a test cell from another release (graded with the current tests)",
    "recorder": "tampering: the record of PyTorch's operators was switched off or forged (no points)",
}
#: The causes of a lost test cell that are neither the code nor a function left unwritten.
FAULT_CAUSES = tuple(k for k, c in CAUSES.items() if not c.code and k != "not written")


@dataclass(frozen=True)
class Finding:
    """What the grader recorded about one test cell of one submission beyond its score."""

    student_id: str
    assignment: str
    notebook: str
    grade_id: str
    cause: str = ""    # a key of causes.CAUSES; "" when the cell was not lost
    mistake: str = ""  # the likely mistake a check named ("" if none)
    flag: str = ""     # a key of FLAG_FAULTS or ""

    @property
    def function(self) -> str:
        return function_of(self.grade_id)


@dataclass(frozen=True)
class MistakeCount:
    text: str
    students: int
    excerpts: tuple[Excerpt, ...] = ()
    #: of ``students``, those whose failures of an earlier function named the same mistake (this
    #: function likely calls that one), and those earlier functions; their answers are not excerpted
    carried: int = 0
    carried_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionCount:
    function: str
    failing: int                       # students who failed it in the code
    mistakes: tuple[MistakeCount, ...]  # the named mistakes, most students first
    unnamed: int                       # of ``failing``, students none of whose failures got a name
    not_written: int                   # students whose tests of it met the release stub


@dataclass(frozen=True)
class CellCount:
    notebook: str
    grade_id: str
    points: float
    lost: int                          # students who lost it, for any reason
    reasons: tuple[tuple[str, int], ...]  # (why, students), most first


@dataclass(frozen=True)
class FaultCount:
    label: str
    submissions: int               # students
    cells: int                     # test cells (rows of cells.csv)
    grade_ids: tuple[str, ...] = ()  # the test cells it hit, when it is about test cells


@dataclass(frozen=True)
class AssignmentReport:
    assignment: str
    students: int
    no_submission: int
    max_score: float
    mean: float
    median: float
    scores: tuple[float, ...]  # of the students who submitted, ascending
    cells: tuple[CellCount, ...]
    functions: tuple[FunctionCount, ...]
    faults: tuple[FaultCount, ...]
    faulted: int = 0  # students with any of ``faults`` (one student may have several)

    @property
    def submitted(self) -> int:
        return self.students - self.no_submission

    @property
    def submitted_mean(self) -> float | None:
        return statistics.mean(self.scores) if self.scores else None

    @property
    def submitted_median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None


def mistakes_rows(cells: list[dict], findings: list[Finding]) -> list[dict]:
    """mistakes.csv: one row per test cell lost to a mistake in the code, in cells.csv's order."""
    by_cell = {(f.student_id, f.assignment, f.notebook, f.grade_id): f for f in findings if f.cause == "mistake"}
    rows = []
    for c in cells:
        f = by_cell.get((c["student_id"], c["assignment"], c["notebook"], c["grade_id"]))
        if f is not None:
            rows.append(dict(student_id=f.student_id, assignment=f.assignment, function=f.function,
                             grade_id=f.grade_id, mistake=f.mistake))
    return rows


def findings_of_mistakes(cells: list[dict], mistakes: list[dict]) -> list[Finding]:
    """The findings that mistakes.csv rows stand for (its rows name no notebook: the cells.csv row's)."""
    notebook = {(c["student_id"], c["assignment"], c["grade_id"]): c["notebook"] for c in cells}
    return [Finding(m["student_id"], m["assignment"], notebook.get((m["student_id"], m["assignment"], m["grade_id"]), ""),
                    m["grade_id"], "mistake", m.get("mistake") or "") for m in mistakes]


def count(cells: list[dict], findings: list[Finding], answers: dict | None = None,
          problems: Iterable[tuple[str, str]] = ()) -> tuple[AssignmentReport, ...]:
    """One report per assignment of ``cells`` (sorted by id). ``answers``: (student_id, assignment,
    function) -> the answer cell's source, for the excerpts of each named mistake; ``problems``: the
    (student_id, assignment) of the run's problems (plan.Problem), which tell a renamed notebook from
    no submission."""
    answers, problems = answers or {}, set(problems)
    anonymise = anonymiser({c["student_id"] for c in cells})
    return tuple(_assignment(a, [c for c in cells if c["assignment"] == a],
                             [f for f in findings if f.assignment == a], answers, anonymise,
                             {s for s, pa in problems if pa == a})
                 for a in sorted({c["assignment"] for c in cells}))


def _lost(c: dict) -> bool:
    return float(c["score"]) < float(c["max_score"])


def _assignment(a: str, cells: list[dict], findings: list[Finding], answers: dict, anonymise,
                problems: set[str]) -> AssignmentReport:
    by_student: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        by_student[c["student_id"]].append(c)
    missing = {s for s, rows in by_student.items() if all(r["status"] == Status.MISSING for r in rows) and s not in problems}
    totals = {s: sum(float(r["score"]) for r in rows) for s, rows in by_student.items()}
    max_score = max(sum(float(r["max_score"]) for r in rows) for rows in by_student.values())
    finding = {(f.student_id, f.notebook, f.grade_id): f for f in findings}
    return AssignmentReport(
        assignment=a, students=len(by_student), no_submission=len(missing), max_score=max_score,
        mean=statistics.mean(totals.values()), median=statistics.median(totals.values()),
        scores=tuple(sorted(v for s, v in totals.items() if s not in missing)),
        cells=_cells(cells, finding, missing),
        functions=_functions(a, cells, findings, answers, anonymise),
        faults=_faults(cells, findings, missing),
        faulted=len({c["student_id"] for c in cells if c["status"] in STATUS_FAULTS and c["student_id"] not in missing}
                    | {f.student_id for f in findings if f.flag or f.cause in FAULT_CAUSES}),
    )


def _cell_order(cells: list[dict]) -> list[tuple[str, str]]:
    order: dict[tuple[str, str], None] = {}
    for c in cells:
        order.setdefault((c["notebook"], c["grade_id"]), None)
    return list(order)


def _reason(c: dict, f: Finding | None, missing: set[str]) -> str:
    """Why a student lost a test cell, in the report's words."""
    if c["status"] == Status.MISSING and c["student_id"] in missing:
        return "no submission"
    if c["status"] in STATUS_FAULTS:
        return STATUS_FAULTS[c["status"]]
    if f is None or not f.cause:
        return CAUSES["mistake"].label + ", no name"  # a failed row with no finding: the code, unnamed
    if f.cause == "mistake":
        return CAUSES["mistake"].label + (", named" if f.mistake else ", no name")
    return CAUSES[f.cause].label if f.cause in CAUSES else f.cause


def _cells(cells: list[dict], finding: dict, missing: set[str]) -> tuple[CellCount, ...]:
    out = []
    for nb, gid in _cell_order(cells):
        mine = [c for c in cells if c["notebook"] == nb and c["grade_id"] == gid]
        lost = [c for c in mine if _lost(c)]
        reasons: dict[str, int] = defaultdict(int)
        for c in lost:
            reasons[_reason(c, finding.get((c["student_id"], nb, gid)), missing)] += 1
        out.append(CellCount(nb, gid, float(mine[0]["max_score"]), len(lost),
                             tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))))
    return tuple(out)


def _functions(a: str, cells: list[dict], findings: list[Finding], answers: dict, anonymise) -> tuple[FunctionCount, ...]:
    functions = list(dict.fromkeys(function_of(gid) for _, gid in _cell_order(cells)))
    earlier: dict[tuple[str, str], str] = {}  # (student, mistake) -> the first function whose tests named it
    out = []
    for fn in functions:
        code = [f for f in findings if f.function == fn and f.cause == "mistake"]
        failing = {f.student_id for f in code}
        named: dict[str, set[str]] = defaultdict(set)
        for f in code:
            if f.mistake:
                named[f.mistake].add(f.student_id)
        mistakes = []
        for text, students in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            carried = {s: earlier[(s, text)] for s in students if (s, text) in earlier}
            own = sorted(students - set(carried))
            excerpts = choose([answers[(s, a, fn)] for s in own if (s, a, fn) in answers], anonymise)
            mistakes.append(MistakeCount(text, len(students), tuple(excerpts), len(carried),
                                         tuple(sorted(set(carried.values()), key=functions.index))))
        for text, students in named.items():
            for s in students:
                earlier.setdefault((s, text), fn)
        unnamed = failing - {s for students in named.values() for s in students}
        not_written = {f.student_id for f in findings if f.function == fn and f.cause == "not written"}
        out.append(FunctionCount(fn, len(failing), tuple(mistakes), len(unnamed), len(not_written)))
    return tuple(out)


def _faults(cells: list[dict], findings: list[Finding], missing: set[str]) -> tuple[FaultCount, ...]:
    out = []
    for status, label in STATUS_FAULTS.items():
        rows = [c for c in cells if c["status"] == status and not (status == Status.MISSING and c["student_id"] in missing)]
        if rows:
            out.append(FaultCount(label, len({c["student_id"] for c in rows}), len(rows)))
    for key in FAULT_CAUSES:
        out += _fault_of([f for f in findings if f.cause == key], CAUSES[key].label)
    for flag, label in FLAG_FAULTS.items():
        out += _fault_of([f for f in findings if f.flag == flag], label)
    return tuple(out)


def _fault_of(hits: list[Finding], label: str) -> list[FaultCount]:
    if not hits:
        return []
    return [FaultCount(label, len({f.student_id for f in hits}), len(hits),
                       tuple(dict.fromkeys(f.grade_id for f in hits)))]

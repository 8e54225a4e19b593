"""Which submissions a run grades, checked before any code runs.

Every student folder and roster entry becomes rows; a notebook that is missing, renamed, not
valid JSON or not a valid notebook gets a clear message and a zero row (status ``missing`` or
``invalid``) without reaching a worker. The rest become *jobs*: plain data (the student's
files, the source and release notebooks), so that a job can run on any worker, local or remote.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .limits import Limits
from .records import Job, NotebookJob, Status

GRADES_COLUMNS = ["student_id", "assignment", "score", "max_score"]
CELLS_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "status"]
MAX_SUBMISSION_BYTES = 50 << 20


@dataclass(frozen=True)
class GradedCell:
    """A test cell of a source notebook and the points it is worth."""

    notebook: str
    grade_id: str
    points: float


@dataclass
class Problem:
    """Something that kept (part of) a submission from being graded."""

    student_id: str
    assignment: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Report:
    """What a run did: its rows, what could not be graded, its notes and figures (grade.grade returns it)."""

    cells: list[dict] = field(default_factory=list)       # this run's cells.csv rows
    grades: list[dict] = field(default_factory=list)      # this run's grades.csv rows
    all_cells: list[dict] = field(default_factory=list)   # cells.csv as written (with --only: everyone's)
    all_grades: list[dict] = field(default_factory=list)  # grades.csv as written
    summary: list[dict] = field(default_factory=list)     # summary.csv's rows
    problems: list[Problem] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    cells_of: dict[str, list[GradedCell]] = field(default_factory=dict)  # assignment -> its test cells
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds of each phase of the run
    graded: int = 0  # submissions graded by this run
    reused: int = 0  # submissions unchanged since an earlier run, whose stored results were reused
    class_report: bool = False  # this run rewrote the class report's pages (they changed)
    resumed: bool = False  # a --force run that finished an interrupted one (``reused``: what that one graded)

    @property
    def ok(self) -> bool:
        return not self.problems


def graded_cells_of(assignment: str, notebooks: dict[str, str]) -> list[GradedCell]:
    """The test cells of an assignment's source notebooks (name -> JSON text), in notebook order."""
    cells = []
    for name in sorted(notebooks):
        nb = nbformat.reads(notebooks[name], as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                cells.append(GradedCell(name, meta["grade_id"], float(meta.get("points", 0))))
    return cells


def read_roster(path: Path) -> list[str]:
    """Student ids from a roster: a CSV with a ``student_id`` (or ``id``) column, or one id per line."""
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    if rows and rows[0] and rows[0][0].strip().lower() in ("student_id", "id"):
        return [r[0].strip() for r in rows[1:] if r and r[0].strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def check_notebook(text: str) -> str | None:
    """None if ``text`` is a readable notebook, else a message saying why not."""
    try:
        json.loads(text)
    except ValueError as e:
        return f"not a valid notebook (the file is not valid JSON: {e})"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # noqa: BLE001 - nbformat raises many kinds for a damaged file: each is "not a notebook"
        return f"not a valid notebook ({type(e).__name__}: {e})"
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        return f"not a valid notebook (it breaks the notebook format: {e.message})"
    return None


def _files(adir: Path) -> dict[str, bytes]:
    out, total = {}, 0
    for p in sorted(adir.rglob("*")):
        if p.is_file() and not p.is_symlink() and ".ipynb_checkpoints" not in p.parts:
            size = p.stat().st_size
            if total + size > MAX_SUBMISSION_BYTES:
                continue
            total += size
            out[str(p.relative_to(adir))] = p.read_bytes()
    return out


def plan_jobs(submitted: Path, out: Path, prepared: dict, *, roster: Path | None, only_students: list[str] | None,
              limits: Limits, record: bool, hide: tuple[str, ...]):
    """(report, jobs, statuses): statuses[(student, assignment, notebook)] for what is not graded.
    Each job carries ``limits``, ``record`` and the folders to ``hide`` from student code."""
    report = Report()
    known, wanted = prepared["known"], prepared["assignments"]
    report.assignments = wanted
    report.cells_of = prepared["cells_of"]
    student_dirs = {p.name: p for p in sorted(submitted.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    roster_ids = read_roster(roster) if roster else None
    students = sorted(set(student_dirs) | set(roster_ids or []))
    if only_students:
        unknown = sorted(set(only_students) - set(students))
        if unknown:
            raise ValueError(f"no submission folder or roster entry for {', '.join(unknown)}")
        students = [s for s in students if s in only_students]
    report.students = students
    for student in students:
        sdir = student_dirs.get(student)
        for adir in sorted(a for a in (sdir.iterdir() if sdir else []) if a.is_dir() and not a.name.startswith(".")):
            if adir.name not in known:
                report.problems.append(
                    Problem(student, adir.name, str(adir), f"not an assignment of this course (expected one of {', '.join(known)})"))

    statuses: dict[tuple[str, str, str], Status] = {}
    jobs = []
    for student in students:
        in_roster = roster_ids is None or student in roster_ids
        for a in wanted:
            notebooks = sorted(prepared["notebooks"][a])
            adir = student_dirs[student] / a if student in student_dirs else None
            if not in_roster:
                report.problems.append(Problem(student, a, str(student_dirs[student]), f"student id {student!r} is not in the roster {roster}"))
                statuses.update({(student, a, nb): Status.NOT_IN_ROSTER for nb in notebooks})
                continue
            if adir is None or not adir.is_dir():
                report.problems.append(Problem(student, a, str(submitted / student / a), "no submission (the folder is missing)"))
                statuses.update({(student, a, nb): Status.MISSING for nb in notebooks})
                continue
            present = {p.stem: p for p in adir.glob("*.ipynb")}
            extras = sorted(set(present) - set(notebooks))
            for extra in extras:
                report.problems.append(
                    Problem(student, a, str(present[extra]),
                            f"unexpected notebook {extra}.ipynb; expected {', '.join(n + '.ipynb' for n in notebooks)} (was it renamed?)"))
            job_nbs = {}
            for nb in notebooks:
                if nb not in present:
                    if not extras:  # a renamed notebook has its own line above
                        report.problems.append(Problem(student, a, str(adir / f"{nb}.ipynb"), "no such notebook in the submission"))
                    statuses[(student, a, nb)] = Status.MISSING
                    continue
                text = present[nb].read_bytes().decode("utf-8", errors="replace")
                problem = check_notebook(text)
                if problem:
                    report.problems.append(Problem(student, a, str(present[nb]), problem))
                    statuses[(student, a, nb)] = Status.INVALID
                    continue
                job_nbs[nb] = NotebookJob(**prepared["notebooks"][a][nb], student_json=text)
            if job_nbs:
                jobs.append(Job(student, a, job_nbs, _files(adir), limits, record, hide, path=str(adir)))
    return report, jobs, statuses

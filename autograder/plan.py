"""Which submissions a run grades, checked before any code runs.

Every student folder and roster entry becomes rows; a notebook that is missing, renamed, not
valid JSON or not a valid notebook gets a clear message and a zero row (status ``missing`` or
``invalid``) without reaching a worker. The rest become *jobs*: plain data (the student's
files, the source and release notebooks), so that a job can run on any worker, local or remote.

Grading as the term goes on: each job has a *fingerprint* (``fingerprint``), a hash of all that
decides its result: the student's files, the assignment's source and release notebooks and
release history, the grader's own code (``autograder/``, ``seqlab/``, the versions of Python and
the libraries it runs) and the sandbox settings. ``ResultStore`` keeps each finished result
under ``OUT/.cache/<student>/<assignment>.json`` with the fingerprint it was graded under; a
later run reuses it while the fingerprint is unchanged, so it grades only what is new or changed,
and a run stopped midway keeps what it finished.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

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
    cells: list[dict] = field(default_factory=list)
    grades: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    cells_of: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    graded: int = 0  # submissions graded by this run
    reused: int = 0  # submissions unchanged since an earlier run, whose stored results were reused

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
    except Exception as e:  # noqa: BLE001 - nbformat raises many kinds for a damaged file
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
              settings: dict):
    """(report, jobs, statuses): statuses[(student, assignment, notebook)] for what is not graded."""
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

    statuses: dict[tuple[str, str, str], str] = {}
    jobs = []
    for student in students:
        in_roster = roster_ids is None or student in roster_ids
        for a in wanted:
            notebooks = sorted(prepared["notebooks"][a])
            adir = student_dirs[student] / a if student in student_dirs else None
            if not in_roster:
                report.problems.append(Problem(student, a, str(student_dirs[student]), f"student id {student!r} is not in the roster {roster}"))
                statuses.update({(student, a, nb): "not-in-roster" for nb in notebooks})
                continue
            if adir is None or not adir.is_dir():
                statuses.update({(student, a, nb): "missing" for nb in notebooks})
                continue
            present = {p.stem: p for p in adir.glob("*.ipynb")}
            for extra in sorted(set(present) - set(notebooks)):
                report.problems.append(
                    Problem(student, a, str(present[extra]),
                            f"unexpected notebook {extra}.ipynb; expected {', '.join(n + '.ipynb' for n in notebooks)} (was it renamed?)"))
            job_nbs = {}
            for nb in notebooks:
                if nb not in present:
                    statuses[(student, a, nb)] = "missing"
                    continue
                text = present[nb].read_bytes().decode("utf-8", errors="replace")
                problem = check_notebook(text)
                if problem:
                    report.problems.append(Problem(student, a, str(present[nb]), problem))
                    statuses[(student, a, nb)] = "invalid"
                    continue
                job_nbs[nb] = dict(prepared["notebooks"][a][nb], student_json=text)
            if job_nbs:
                jobs.append({"student": student, "assignment": a, "notebooks": job_nbs, "files": _files(adir),
                             "settings": settings, "path": str(adir)})
    return report, jobs, statuses


# ---------------------------------------------------------------- incremental grading

#: Libraries whose version can change a grade or a feedback page.
FINGERPRINT_DISTRIBUTIONS = ("numpy", "torch", "ipython", "nbformat", "nbconvert", "nbgrader")


def _feed(h, *parts) -> None:
    """Hash each part with its length in front, so that no two sequences of parts hash alike."""
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)


def _package_dir(name: str, fallback: Path) -> Path:
    spec = importlib.util.find_spec(name)  # finds a top-level package without importing it
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return fallback


def grader_digest(root: Path) -> str:
    """Hash of the grader itself: every file of ``autograder/`` and of the ``seqlab`` the kernels
    import, Python's version and the versions of ``FINGERPRINT_DISTRIBUTIONS``. Any edit to the
    grader's code invalidates every stored result."""
    h = hashlib.sha256()
    for pkg in (Path(__file__).resolve().parent, _package_dir("seqlab", root / "seqlab")):
        for p in sorted(pkg.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                _feed(h, p.relative_to(pkg.parent).as_posix(), p.read_bytes())
    _feed(h, sys.version)
    for dist in FINGERPRINT_DISTRIBUTIONS:
        try:
            _feed(h, dist, importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            _feed(h, dist, "-")
    return h.hexdigest()


def fingerprint(job: dict, grader: str) -> str:
    """What a job's result depends on, as one hex digest; ``grader`` is ``grader_digest(root)``.

    The sandbox settings count except ``hide``: it names this run's scratch folders, which
    change every run and decide nothing about the grade.
    """
    h = hashlib.sha256()
    settings = {k: v for k, v in job["settings"].items() if k != "hide"}
    _feed(h, "grader", grader, "settings", json.dumps(settings, sort_keys=True), "student", job["student"],
          "assignment", job["assignment"])
    for rel in sorted(job["files"]):
        _feed(h, "file", rel, job["files"][rel])
    for name in sorted(job["notebooks"]):
        nb = job["notebooks"][name]
        _feed(h, "notebook", name, nb["source_json"], nb["release_json"], json.dumps(nb.get("history") or {}, sort_keys=True),
              nb["student_json"])
    return h.hexdigest()


class ResultStore:
    """Finished results, one JSON file per submission: ``folder/<student>/<assignment>.json``
    holding ``{"fingerprint": ..., "result": ...}`` (result as ``worker.grade_job`` returns it).

    Written by the CLI process as each result arrives, atomically (a temporary file, then
    ``os.replace``), so an interrupted run leaves whole files only. A file that cannot be read
    counts as absent: that submission is graded again.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.saved = 0  # results stored by this run

    def path(self, student: str, assignment: str) -> Path:
        return self.folder / student / f"{assignment}.json"

    def has(self, student: str, assignment: str) -> bool:
        return self.path(student, assignment).is_file()

    def load(self, job: dict) -> dict | None:
        """The stored result of ``job`` if it was graded under the same fingerprint, else None."""
        try:
            stored = json.loads(self.path(job["student"], job["assignment"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("fingerprint") != job["fingerprint"]:
            return None
        result = stored.get("result")
        if not isinstance(result, dict):
            return None
        result["path"] = job.get("path")
        return result

    @staticmethod
    def keepable(result: dict) -> bool:
        """Only a complete grading is kept: a notebook that could not be graded (a worker or fork
        server that died, a Ctrl-C) is graded again next run rather than remembered as a zero."""
        notebooks = result.get("notebooks") or {}
        return bool(notebooks) and all(nb.get("cells") is not None and not nb.get("problem") for nb in notebooks.values())

    def save(self, job: dict, result: dict) -> bool:
        if "fingerprint" not in job or not self.keepable(result):
            return False
        dest = self.path(job["student"], job["assignment"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"fingerprint": job["fingerprint"], "result": result}, f)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.saved += 1
        return True

"""Grade a folder of submissions with nbgrader and write the gradebook, CSVs and feedback.

Layout read: ``SUBMITTED/<student_id>/<assignment_id>/<notebook>.ipynb`` (nbgrader's
submitted layout). Layout written under ``OUT``:

- ``grades.csv``  student_id, assignment, score, max_score (one row per student and assignment)
- ``cells.csv``   student_id, assignment, notebook, grade_id, score, max_score, status
- ``feedback/<student_id>/<assignment_id>/<notebook>.html`` (no hidden test source)
- ``gradebook.db`` nbgrader's SQLite gradebook of this run

Each submission is checked before nbgrader sees it; a broken one gets a clear message and
zero rows (status ``invalid``, ``missing``, ``not-in-roster``, ``error``) and everyone else
is still graded. Cell statuses: ``passed``, ``failed`` and those above.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, Execute, SaveAutoGrades

from . import course
from .preprocessors import ShortTracebacks, StderrIsNotFailure

log = logging.getLogger(__name__)

GRADES_COLUMNS = ["student_id", "assignment", "score", "max_score"]
CELLS_COLUMNS = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "status"]


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

    @property
    def ok(self) -> bool:
        return not self.problems


def graded_cells(assignment: str, root: Path = course.ROOT) -> list[GradedCell]:
    """The test cells of an assignment's source notebooks, in notebook order."""
    cells = []
    for name in course.notebook_names(assignment, root):
        nb = nbformat.read(root / course.SOURCE_DIR / assignment / f"{name}.ipynb", as_version=4)
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


def _check_notebook(path: Path) -> str | None:
    """None if ``path`` is a readable notebook, else a message saying why not."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"not a valid notebook (the file is not valid JSON: {e})"
    except Exception as e:  # noqa: BLE001 - nbformat raises many kinds for a damaged file
        return f"not a valid notebook ({type(e).__name__}: {e})"
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        return f"not a valid notebook (it breaks the notebook format: {e.message})"
    return None


def _grading_config(root: Path, db_path: Path):
    c = course.nbgrader_config(root, db_path=db_path)
    c.Autograde.autograde_preprocessors = [
        Execute,
        StderrIsNotFailure,
        *[p for p in _stock_autograde_preprocessors() if p is not Execute],
    ]
    c.GenerateFeedback.preprocessors = [ClearHiddenTests, ShortTracebacks, *_stock_feedback_preprocessors()]
    return c


def _stock_autograde_preprocessors():
    from nbgrader.converters import Autograde

    return list(Autograde.class_traits()["autograde_preprocessors"].default())


def _stock_feedback_preprocessors():
    from nbgrader.converters import GenerateFeedback

    return list(GenerateFeedback.class_traits()["preprocessors"].default())


def _log_to_file(logger: logging.Logger, path: Path) -> None:
    """nbgrader logs every step; keep that in OUT/grading.log, not on the instructor's console."""
    for handler in list(logger.handlers):
        if getattr(handler, "_course_grading_log", False):
            logger.removeHandler(handler)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler._course_grading_log = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in logger.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.ERROR)


def grade(
    submitted: Path,
    out: Path,
    *,
    roster: Path | None = None,
    only_assignments: list[str] | None = None,
    root: Path = course.ROOT,
) -> Report:
    """Grade every submission under ``submitted``; write results under ``out``."""
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy session warnings from nbgrader's own calls
    submitted, out = Path(submitted).resolve(), Path(out).resolve()
    if not submitted.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submitted}")
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    known = course.assignments(root)

    student_dirs = {p.name: p for p in sorted(submitted.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    roster_ids = read_roster(roster) if roster else None
    students = sorted(set(student_dirs) | set(roster_ids or []))

    # Which assignments this run covers: those asked for, else every course assignment
    # that some student submitted.
    if only_assignments:
        unknown = sorted(set(only_assignments) - set(known))
        if unknown:
            raise ValueError(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(known)}")
        wanted = list(only_assignments)
    else:
        wanted = sorted({a.name for d in student_dirs.values() for a in d.iterdir() if a.is_dir()} & set(known))
    for student, sdir in student_dirs.items():
        for adir in sorted(a for a in sdir.iterdir() if a.is_dir() and not a.name.startswith(".")):
            if adir.name not in known:
                report.problems.append(
                    Problem(student, adir.name, str(adir), f"not an assignment of this course (expected one of {', '.join(known)})")
                )
    cells_of = {a: graded_cells(a, root) for a in wanted}

    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        scratch = Path(tmp)
        # A private course tree: the source notebooks and the submissions that passed the checks.
        for a in wanted:
            shutil.copytree(root / course.SOURCE_DIR / a, scratch / course.SOURCE_DIR / a)
        db_path = out / "gradebook.db"
        db_path.unlink(missing_ok=True)  # each run builds its gradebook afresh: regrading is idempotent
        config = _grading_config(scratch, db_path)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        _log_to_file(api.log, out / "grading.log")
        for a in wanted:
            result = api.generate_assignment(a, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(f"could not prepare assignment {a}: {result.get('error') or result.get('log')}")

        status: dict[tuple[str, str, str], str] = {}  # (student, assignment, notebook) -> status when not graded
        to_grade: list[tuple[str, str]] = []
        for student in students:
            in_roster = roster_ids is None or student in roster_ids
            for a in wanted:
                notebooks = course.notebook_names(a, root)
                adir = student_dirs[student] / a if student in student_dirs else None
                if not in_roster:
                    report.problems.append(Problem(student, a, str(student_dirs[student]), f"student id {student!r} is not in the roster {roster}"))
                    status.update({(student, a, nb): "not-in-roster" for nb in notebooks})
                    continue
                if adir is None or not adir.is_dir():
                    status.update({(student, a, nb): "missing" for nb in notebooks})
                    continue
                present = {p.stem: p for p in adir.glob("*.ipynb")}
                for extra in sorted(set(present) - set(notebooks)):
                    report.problems.append(
                        Problem(student, a, str(present[extra]),
                                f"unexpected notebook {extra}.ipynb; expected {', '.join(n + '.ipynb' for n in notebooks)} (was it renamed?)")
                    )
                usable = []
                for nb in notebooks:
                    if nb not in present:
                        status[(student, a, nb)] = "missing"
                        continue
                    problem = _check_notebook(present[nb])
                    if problem:
                        report.problems.append(Problem(student, a, str(present[nb]), problem))
                        status[(student, a, nb)] = "invalid"
                    else:
                        usable.append(nb)
                if usable:
                    dest = scratch / "submitted" / student / a
                    dest.mkdir(parents=True)
                    for nb in usable:
                        shutil.copy2(present[nb], dest / f"{nb}.ipynb")
                    to_grade.append((student, a))

        env_before = dict(os.environ)
        os.environ.setdefault("SEQLAB_QUICK", "1")  # long experiments run their short version
        os.environ.setdefault("MPLBACKEND", "Agg")
        try:
            for student, a in to_grade:
                log.info("grading %s / %s", student, a)
                result = api.autograde(a, student, force=True, create=True)
                if not result["success"]:
                    msg = (result.get("error") or result.get("log") or "nbgrader autograde failed").strip().splitlines()[-1]
                    report.problems.append(Problem(student, a, str(student_dirs[student] / a), f"could not be graded: {msg}"))
                    status.update({(student, a, nb): "error" for nb in course.notebook_names(a, root)})
                    continue
                fb = api.generate_feedback(a, student, force=True)
                if not fb["success"]:
                    log.warning("feedback for %s / %s failed: %s", student, a, fb.get("error"))
                for html in (scratch / "feedback" / student / a).glob("*.html"):
                    dest = out / "feedback" / student / a
                    dest.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(html, dest / html.name)
        finally:
            os.environ.clear()
            os.environ.update(env_before)

        with Gradebook(f"sqlite:///{db_path}", course.COURSE_ID) as gb:
            for student in students:
                for a in wanted:
                    total = 0.0
                    for cell in cells_of[a]:
                        key = (student, a, cell.notebook)
                        score, st = 0.0, status.get(key)
                        if st is None:
                            try:
                                g = gb.find_grade(cell.grade_id, cell.notebook, a, student)
                                score = float(g.score or 0.0)
                                st = "passed" if score >= cell.points else "failed"
                            except MissingEntry:
                                st = "error"
                        total += score
                        report.cells.append(dict(student_id=student, assignment=a, notebook=cell.notebook,
                                                 grade_id=cell.grade_id, score=score, max_score=cell.points, status=st))
                    report.grades.append(dict(student_id=student, assignment=a, score=total,
                                              max_score=sum(c.points for c in cells_of[a])))

    _write_csv(out / "grades.csv", GRADES_COLUMNS, report.grades)
    _write_csv(out / "cells.csv", CELLS_COLUMNS, report.cells)
    return report


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    # utf-8 with BOM and quoting of every text field: spreadsheets open ids with commas,
    # quotes and non-ASCII characters correctly.
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, fieldnames=columns, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in columns})


def summary_lines(report: Report) -> list[str]:
    """One line per assignment: how many students, mean score, how many not graded."""
    lines = []
    for a in sorted({g["assignment"] for g in report.grades}):
        rows = [g for g in report.grades if g["assignment"] == a]
        mean = sum(r["score"] for r in rows) / len(rows)
        bad = sorted({p.student_id for p in report.problems if p.assignment == a})
        missing = sorted({c["student_id"] for c in report.cells if c["assignment"] == a and c["status"] == "missing"})
        lines.append(
            f"{a}: {len(rows)} students, mean {mean:.2f} / {rows[0]['max_score']:g}"
            + (f", {len(missing)} missing" if missing else "")
            + (f", {len(bad)} with problems" if bad else "")
        )
    return lines

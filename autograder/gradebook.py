"""nbgrader's side: the assignment in the gradebook, and the one writer of grades into it.

``prepare`` runs ``nbgrader generate_assignment`` in a private copy of the course (so the
gradebook holds the source cells, their checksums and points, as stock nbgrader's does) and
reads back the source and release notebooks the workers need; an unchanged course takes all of
that from the run that prepared it last (prepared.py). ``merge`` writes every graded
submission into the gradebook from this process alone: workers never open the database, so
there is no SQLite lock to contend for, whatever the number of workers.

The gradebook is the one nbgrader's formgrader shows and edits, so a run updates it *in place*:
it starts from a consistent copy of the previous one (``snapshot``), sets each graded cell's
``auto_score`` (and clears the automatic comments) but never touches what an instructor entered
(``manual_score``, ``extra_credit``, ``manual_comment``, students' names, due dates; grades and
comments typed while the run graded are read again when it merges), writes each
submission's time as nbgrader's exchange recorded it (so the formgrader counts it as autograded),
and is written back into the same file (``publish``), so a formgrader already running sees the
new grades. A score or comment entered by hand shows in cells.csv, grades.csv and the feedback page
too. When an assignment's source gained or lost cells since the last run, nbgrader cannot keep its
submissions: they are rebuilt and the manual entries of the cells that remain are put back
(``ManualEntry``).
"""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, SubmittedAssignment
from nbgrader.utils import parse_utc

from . import course
from . import prepared as cache
from .judge import feedback
from .plan import Problem, graded_cells_of
from .records import Status

log = logging.getLogger(__name__)


def _log_to_file(logger: logging.Logger, path: Path) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def release_history(root: Path, assignment: str, notebook: str) -> dict[str, list[str]]:
    """grade_id -> the texts its test cell had in every committed release (git), normalized."""
    from .assemble import normalized

    rel = f"{course.RELEASE_DIR}/{assignment}/{notebook}.ipynb"
    try:
        commits = subprocess.run(["git", "-C", str(root), "log", "--format=%H", "--", rel], capture_output=True,
                                 text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return {}
    out: dict[str, set[str]] = {}
    for h in commits[:50]:
        try:
            text = subprocess.run(["git", "-C", str(root), "show", f"{h}:{rel}"], capture_output=True, text=True, timeout=30).stdout
            nb = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - a release git cannot show or nbformat cannot read: no history from it
            continue
        for c in nb.cells:
            g = (c.metadata.get("nbgrader") or {}).get("grade_id")
            if g and (c.metadata.get("nbgrader") or {}).get("grade"):
                out.setdefault(g, set()).add(normalized(c.source))
    return {g: sorted(v) for g, v in out.items()}


def prepare(root: Path, private: Path, out: Path, only_assignments, submitted: Path, *,
            prepared_key: Path | None = None) -> dict:
    """Generate the assignments to grade into ``out/gradebook.db`` (a copy of the previous gradebook,
    or none) from a private copy of the course; returns what planning and merging need.

    Generating is skipped when nothing it depends on changed (prepared.py): with no previous
    gradebook, the one an earlier run generated from the same sources is copied; with one, it is
    used as it is when ``prepared_key`` (written by the run that published it) names these sources.
    """
    known = course.assignments(root)
    if only_assignments:
        unknown = sorted(set(only_assignments) - set(known))
        if unknown:
            raise ValueError(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(known)}")
        wanted = list(only_assignments)
    else:
        wanted = sorted({a.name for d in submitted.iterdir() if d.is_dir() for a in d.iterdir() if a.is_dir()} & set(known))
    db_path = out / "gradebook.db"
    had_gradebook = db_path.exists()
    key = cache.key(root, wanted)
    ready = cache.load(root, wanted)
    kept: list = []
    if ready is not None and (not had_gradebook or cache.read_key(prepared_key) == key):
        if not had_gradebook:
            shutil.copyfile(ready.gradebook, db_path)
        (out / "grading.log").write_text(f"assignments {', '.join(wanted)} as prepared by an earlier run "
                                          f"(unchanged sources, {cache.cache_dir(root)})\n", encoding="utf-8")
        notebooks = ready.notebooks
    else:
        notebooks, kept = _generate(root, private, out, wanted, db_path)
        if not had_gradebook:  # only a gradebook with no submission in it is kept in the course folder
            cache.save(root, wanted, db_path, notebooks)
    cells_of = {}
    for a in wanted:
        for name in notebooks[a]:
            notebooks[a][name]["history"] = cache.history(root, a, name, lambda: release_history(root, a, name))
        cells_of[a] = graded_cells_of(a, {n: v["source_json"] for n, v in notebooks[a].items()})
    return {"known": known, "assignments": wanted, "notebooks": notebooks, "cells_of": cells_of,
            "db_url": f"sqlite:///{db_path}", "kept_manual": kept, "key": key}


def _generate(root: Path, private: Path, out: Path, wanted: list[str], db_path: Path) -> tuple[dict, list]:
    """``nbgrader generate_assignment`` of each assignment into the gradebook at ``db_path``, in a
    private copy of the course: each notebook's source and release JSON, and the manual entries taken
    out of submissions nbgrader could not keep (their assignment gained or lost cells)."""
    from nbgrader.apps import NbGraderAPI  # with nbconvert and its preprocessors: only when generating
    from nbgrader.coursedir import CourseDirectory

    for a in wanted:
        shutil.copytree(root / course.SOURCE_DIR / a, private / course.SOURCE_DIR / a)
    db_url = f"sqlite:///{db_path}"
    config = course.nbgrader_config(private, db_path=db_path, exchange=private / "exchange")
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    _log_to_file(api.log, out / "grading.log")
    notebooks: dict = {}
    kept: list = []
    for a in wanted:
        result = api.generate_assignment(a, force=True, create=True)
        if not result["success"] and _CELLS_CHANGED in f"{result.get('error')}{result.get('log')}":
            kept += take_manual_entries(db_url, a)  # nbgrader keeps no submission across a change of cells
            result = api.generate_assignment(a, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"could not prepare assignment {a}: {result.get('error') or result.get('log')}")
        notebooks[a] = {name: {
            "source_json": (private / course.SOURCE_DIR / a / f"{name}.ipynb").read_text(encoding="utf-8"),
            "release_json": (private / course.RELEASE_DIR / a / f"{name}.ipynb").read_text(encoding="utf-8"),
        } for name in course.notebook_names(a, root)}
    return notebooks, kept


#: What nbgrader's generate_assignment says when a notebook with submissions gained or lost cells.
_CELLS_CHANGED = "Cannot add or remove cells"


@dataclass(frozen=True)
class ManualEntry:
    """What an instructor entered in the formgrader for one cell of one submission: a grade
    (``manual_score``, ``extra_credit``) or a comment (``manual_comment``); None is "nothing"."""

    student: str
    assignment: str
    notebook: str
    cell: str
    kind: str  # "grade" or "comment"
    manual_score: float | None = None
    extra_credit: float | None = None
    manual_comment: str | None = None


def manual_entries(db_url: str, assignment: str | None = None, *, every_cell: bool = False) -> list[ManualEntry]:
    """What instructors entered in the gradebook at ``db_url`` (for one assignment, or all): the
    cells with an entry, or ``every_cell`` (an empty entry says one was cleared)."""
    entries = []
    with Gradebook(db_url, course.COURSE_ID) as gb:
        submissions = gb.assignment_submissions(assignment) if assignment else gb.db.query(SubmittedAssignment).all()
        for submission in submissions:
            student, a = submission.student.id, submission.assignment.name
            for nb in submission.notebooks:
                for g in nb.grades:
                    if every_cell or g.manual_score is not None or g.extra_credit is not None:
                        entries.append(ManualEntry(student, a, nb.name, g.name, "grade", manual_score=g.manual_score,
                                                   extra_credit=g.extra_credit))
                for c in nb.comments:
                    if every_cell or c.manual_comment:
                        entries.append(ManualEntry(student, a, nb.name, c.name, "comment", manual_comment=c.manual_comment))
    return entries


def take_manual_entries(db_url: str, assignment: str) -> list[ManualEntry]:
    """Remove every submission of ``assignment`` from the gradebook; return their manual entries."""
    entries = manual_entries(db_url, assignment)
    with Gradebook(db_url, course.COURSE_ID) as gb:
        for submission in gb.assignment_submissions(assignment):
            gb.remove_submission(assignment, submission.student.id)
    return entries


def snapshot(live: Path, copy: Path) -> None:
    """A consistent copy of the gradebook ``live`` at ``copy`` (SQLite's backup: safe while a
    formgrader writes to it)."""
    _backup(live, copy)


def publish(new: Path, live: Path) -> None:
    """Put gradebook ``new`` at ``live``. An existing file is overwritten in place, in one SQLite
    transaction, not replaced: a formgrader keeps its connection to the file open, and would go on
    reading (and saving manual grades into) a replaced one."""
    if live.exists():
        _backup(new, live)
        new.unlink()
    else:
        os.replace(new, live)


def _backup(src: Path, dest: Path) -> None:
    with sqlite3.connect(src, timeout=60) as a, sqlite3.connect(dest, timeout=60) as b:
        a.backup(b)
    a.close()
    b.close()


def submission_time(folder: Path | None):
    """When a submission was made, as nbgrader's ``submit`` wrote it beside the notebook
    (``timestamp.txt``, UTC), or None. The formgrader counts a submission as autograded only when
    the gradebook holds this same time."""
    try:
        return parse_utc((folder / "timestamp.txt").read_text(encoding="utf-8").strip()) if folder else None
    except (OSError, ValueError, OverflowError):
        return None


def merge(report, prepared: dict, results: list, statuses: dict, out: Path, *, partial: bool,
          live: Path | None = None) -> list[dict]:
    """Write results into the gradebook, feedback/ and autograded/ of ``out``; return this run's
    cells.csv rows. A full run leaves in the gradebook exactly the submissions it graded; a
    partial one (``--only``) replaces those of its students. ``live``: the gradebook the formgrader
    uses, whose manual entries are read again now, so that what was typed while this run graded is kept."""
    by_key = {(r.student, r.assignment): r for r in results}  # records.JobResult
    kept = {}
    typed = manual_entries(f"sqlite:///{live}", every_cell=True) if live is not None and live.exists() else []
    for e in list(prepared.get("kept_manual", [])) + typed:  # the latest last: it wins
        kept.setdefault((e.student, e.assignment), []).append(e)
    rows = []
    with Gradebook(prepared["db_url"], course.COURSE_ID) as gb:
        for student in report.students:
            for a in report.assignments:
                res = by_key.get((student, a))
                grades, comments = {}, {}  # (notebook, grade_id) -> the submission's Grade / Comment row
                if res is not None:
                    gb.update_or_create_student(student)
                    submission = gb.update_or_create_submission(a, student)
                    submission.timestamp = submission_time(Path(res.path) if res.path else None)
                    for nb in submission.notebooks:
                        grades.update({(nb.name, g.name): g for g in nb.grades})
                        comments.update({(nb.name, c.name): c for c in nb.comments})
                    for c in comments.values():
                        c.auto_comment = None  # the automatic fields are this grader's; the manual ones the instructor's
                    _put_back(kept.get((student, a), []), grades, comments)
                finals = {}  # notebook -> {grade_id: score with the instructor's changes}
                for cell in prepared["cells_of"][a]:
                    key = (student, a, cell.notebook)
                    st, score = statuses.get(key), 0.0
                    nb_res = res.notebooks.get(cell.notebook) if res else None
                    if st is None:
                        v = nb_res.verdict(cell.grade_id) if nb_res else None  # records.CellVerdict
                        if v is None:
                            st = Status.ERROR
                        else:
                            st, score = v.status, v.score
                    g = grades.get((cell.notebook, cell.grade_id))
                    if g is not None:
                        g.auto_score = score
                        g.needs_manual_grade = False
                        score = (g.manual_score if g.manual_score is not None else score) + (g.extra_credit or 0.0)
                    finals.setdefault(cell.notebook, {})[cell.grade_id] = score
                    rows.append(dict(student_id=student, assignment=a, notebook=cell.notebook, grade_id=cell.grade_id,
                                     score=score, max_score=cell.points, status=st))
                if res is not None:
                    gb.db.commit()
                    _write_files(report, res, out, finals, grades, comments, prepared["cells_of"][a])
        _drop_others(gb, report, set(by_key), partial=partial)
    return rows


def _put_back(entries: list, grades: dict, comments: dict) -> None:
    """Manual entries (kept from before the assignment's cells changed, or as the formgrader's
    gradebook holds them now) onto the cells of the submission that have them."""
    for e in entries:
        if e.kind == "grade" and (e.notebook, e.cell) in grades:
            grades[(e.notebook, e.cell)].manual_score = e.manual_score
            grades[(e.notebook, e.cell)].extra_credit = e.extra_credit
        elif e.kind == "comment" and (e.notebook, e.cell) in comments:
            comments[(e.notebook, e.cell)].manual_comment = e.manual_comment


def _write_files(report, res, out: Path, finals: dict, grades: dict, comments: dict, cells: list) -> None:
    """A graded submission's feedback pages and autograded notebooks, with the submission's records."""
    student, a = res.student, res.assignment
    fb_dir, ag_dir = out / "feedback" / student / a, out / "autograded" / student / a
    for name, nb_res in res.notebooks.items():
        if nb_res.problem:
            report.problems.append(Problem(student, a, f"{res.path or student + '/' + a}/{name}.ipynb", nb_res.problem))
        if nb_res.note:
            report.notes.append(f"{student}/{a}/{name}.ipynb: {nb_res.note}")
        page = nb_res.feedback
        manual = {c: comments[(name, c)].manual_comment for (n, c) in comments if n == name}
        edited = any(g.manual_score is not None or g.extra_credit is not None for (n, _), g in grades.items() if n == name)
        if nb_res.autograded and (edited or any(manual.values())):
            # The page the worker made has the test scores only: make it again with the instructor's.
            scores = finals.get(name, {})
            page = feedback.page(nbformat.reads(nb_res.autograded, as_version=4), name, scores, sum(scores.values()),
                                 sum(c.points for c in cells if c.notebook == name), comments=manual)
        if page:
            fb_dir.mkdir(parents=True, exist_ok=True)
            (fb_dir / f"{name}.html").write_text(page, encoding="utf-8")
        if nb_res.autograded:
            ag_dir.mkdir(parents=True, exist_ok=True)
            (ag_dir / f"{name}.ipynb").write_text(nb_res.autograded, encoding="utf-8")
    for folder in (fb_dir, ag_dir):
        if res.path and folder.is_dir():
            copy_submission_records(Path(res.path), folder)


def _drop_others(gb: Gradebook, report, graded: set, *, partial: bool) -> None:
    """Remove the submissions this run did not grade: all of them after a full run; after a partial
    one, those of its students and assignments (their notebooks were missing or unreadable)."""
    rows = gb.db.query(SubmittedAssignment).all()
    for submission in rows:
        key = (submission.student.id, submission.assignment.name)
        if key in graded:
            continue
        if not partial or (key[0] in report.students and key[1] in report.assignments):
            gb.remove_submission(key[1], key[0])


#: What ``nbgrader submit`` writes beside a submission (and ``collect`` keeps) and what
#: ``nbgrader release_feedback`` reads beside each feedback page: the submission's time, and the
#: secret from which it names the page in the exchange, so only that student fetches it.
SUBMISSION_RECORDS = ("timestamp.txt", "submission_secret.txt")


def copy_submission_records(submission: Path, feedback: Path) -> None:
    """Copy ``SUBMISSION_RECORDS`` from a collected submission folder into its feedback folder.

    Submissions that did not come through nbgrader's exchange have none; their feedback pages
    are for sending by hand (``release_feedback`` needs both files). Stock ``generate_feedback``
    copies them from the autograded folder into the feedback folder, as nbgrader does.
    """
    for name in SUBMISSION_RECORDS:
        if (submission / name).is_file():
            shutil.copyfile(submission / name, feedback / name)

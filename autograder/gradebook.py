"""nbgrader's side: the assignment in the gradebook, and the one writer of grades into it.

``prepare`` runs ``nbgrader generate_assignment`` in a private copy of the course (so the
gradebook holds the source cells, their checksums and points, as stock nbgrader's does) and
reads back the source and release notebooks the workers need; an unchanged course takes all of
that from the previous run that prepared it (prepared.py). ``merge`` writes every graded
submission into ``OUT/gradebook.db`` from this process alone: workers never open the
database, so there is no SQLite lock to contend for, whatever the number of workers.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from . import course
from . import prepared as cache
from .plan import graded_cells_of
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


def prepare(root: Path, private: Path, out: Path, only_assignments, submitted: Path, *, fresh: bool) -> dict:
    known = course.assignments(root)
    if only_assignments:
        unknown = sorted(set(only_assignments) - set(known))
        if unknown:
            raise ValueError(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(known)}")
        wanted = list(only_assignments)
    else:
        wanted = sorted({a.name for d in submitted.iterdir() if d.is_dir() for a in d.iterdir() if a.is_dir()} & set(known))
    db_path = out / "gradebook.db"
    if fresh:
        db_path.unlink(missing_ok=True)  # a full run builds the gradebook afresh: regrading is idempotent
        shutil.rmtree(out / "feedback", ignore_errors=True)
    ready = cache.load(root, wanted) if fresh else None
    if ready is not None:
        shutil.copyfile(ready.gradebook, db_path)
        (out / "grading.log").write_text(f"assignments {', '.join(wanted)} as prepared by an earlier run "
                                          f"(unchanged sources, {cache.cache_dir(root)})\n", encoding="utf-8")
        notebooks = ready.notebooks
    else:
        notebooks = _generate(root, private, out, wanted, db_path)
        if fresh:
            cache.save(root, wanted, db_path, notebooks)
    cells_of = {}
    for a in wanted:
        for name in notebooks[a]:
            notebooks[a][name]["history"] = cache.history(root, a, name, lambda: release_history(root, a, name))
        cells_of[a] = graded_cells_of(a, {n: v["source_json"] for n, v in notebooks[a].items()})
    return {"known": known, "assignments": wanted, "notebooks": notebooks, "cells_of": cells_of,
            "db_url": f"sqlite:///{db_path}"}


def _generate(root: Path, private: Path, out: Path, wanted: list[str], db_path: Path) -> dict:
    """``nbgrader generate_assignment`` of each assignment into the gradebook at ``db_path``, in a
    private copy of the course; each notebook's source and release JSON."""
    from nbgrader.apps import NbGraderAPI  # with nbconvert and its preprocessors: only when generating
    from nbgrader.coursedir import CourseDirectory

    for a in wanted:
        shutil.copytree(root / course.SOURCE_DIR / a, private / course.SOURCE_DIR / a)
    config = course.nbgrader_config(private, db_path=db_path)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    _log_to_file(api.log, out / "grading.log")
    notebooks: dict = {}
    for a in wanted:
        result = api.generate_assignment(a, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"could not prepare assignment {a}: {result.get('error') or result.get('log')}")
        notebooks[a] = {name: {
            "source_json": (private / course.SOURCE_DIR / a / f"{name}.ipynb").read_text(encoding="utf-8"),
            "release_json": (private / course.RELEASE_DIR / a / f"{name}.ipynb").read_text(encoding="utf-8"),
        } for name in course.notebook_names(a, root)}
    return notebooks


def merge(report, prepared: dict, results: list, statuses: dict, out: Path, *, partial: bool) -> list[dict]:
    """Write results into the gradebook and feedback/; return the cells.csv rows of this run."""
    from .plan import Problem

    by_key = {(r.student, r.assignment): r for r in results}  # records.JobResult
    rows = []
    with Gradebook(prepared["db_url"], course.COURSE_ID) as gb:
        for student in report.students:
            for a in report.assignments:
                res = by_key.get((student, a))
                grades = {}  # (notebook, grade_id) -> the submission's Grade row (one lookup, not one query per cell)
                if res is not None:
                    gb.update_or_create_student(student)
                    try:
                        gb.remove_submission(a, student)  # regrading replaces, never duplicates
                    except MissingEntry:
                        pass
                    submission = gb.add_submission(a, student)
                    grades = {(nb.name, g.name): g for nb in submission.notebooks for g in nb.grades}
                    if partial:
                        shutil.rmtree(out / "feedback" / student / a, ignore_errors=True)
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
                    rows.append(dict(student_id=student, assignment=a, notebook=cell.notebook, grade_id=cell.grade_id,
                                     score=score, max_score=cell.points, status=st))
                if res is not None:
                    gb.db.commit()
                    for name, nb_res in res.notebooks.items():
                        if nb_res.problem:
                            report.problems.append(Problem(student, a, f"{res.path or student + '/' + a}/{name}.ipynb", nb_res.problem))
                        if nb_res.note:
                            report.notes.append(f"{student}/{a}/{name}.ipynb: {nb_res.note}")
                        if nb_res.feedback:
                            dest = out / "feedback" / student / a
                            dest.mkdir(parents=True, exist_ok=True)
                            (dest / f"{name}.html").write_text(nb_res.feedback, encoding="utf-8")
                    if res.path and (out / "feedback" / student / a).is_dir():
                        copy_submission_records(Path(res.path), out / "feedback" / student / a)
    return rows


#: What ``nbgrader submit`` writes beside a submission (and ``collect`` keeps) and what
#: ``nbgrader release_feedback`` reads beside each feedback page: the submission's time, and the
#: secret from which it names the page in the exchange, so only that student fetches it.
SUBMISSION_RECORDS = ("timestamp.txt", "submission_secret.txt")


def copy_submission_records(submission: Path, feedback: Path) -> None:
    """Copy ``SUBMISSION_RECORDS`` from a collected submission folder into its feedback folder.

    Submissions that did not come through nbgrader's exchange have none; their feedback pages
    are for sending by hand (``release_feedback`` needs both files).
    """
    for name in SUBMISSION_RECORDS:
        if (submission / name).is_file():
            shutil.copyfile(submission / name, feedback / name)

"""Grade a folder of submissions and write the gradebook, CSVs, summary and feedback.

Layout read: ``SUBMITTED/<student_id>/<assignment_id>/<notebook>.ipynb`` (nbgrader's
submitted layout; other files beside the notebook are copied with it into the sandbox).
Layout written under ``OUT``:

- ``grades.csv``   student_id, assignment, score, max_score (one row per student and assignment)
- ``cells.csv``    student_id, assignment, notebook, grade_id, score, max_score, status
- ``summary.csv``  per assignment: students, mean, median; per graded cell: how many lost it
- ``feedback/<student_id>/<assignment_id>/<notebook>.html`` (no hidden test source)
- ``gradebook.db`` nbgrader's SQLite gradebook (written by this process only)
- ``grading.log``  what nbgrader said while preparing the assignments

Cell statuses: ``passed``, ``failed``; ``tampered`` (a test cell was edited, the kernel's pass
was contradicted by its own data, or the code reaches for the tools of tampering; the score is
still what the code earned with the course's tests), ``outdated`` (a test cell from another
release; graded with the current tests); and, with zero points, ``missing``, ``invalid``,
``not-in-roster``, ``error`` for what could not be graded.

The pipeline: plan (plan.py: which submissions, checked before anything runs) -> run the jobs
on workers (local pool or Dask; worker.py) -> merge into the one gradebook and the CSVs here.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from . import course
from .plan import CELLS_COLUMNS, GRADES_COLUMNS, Problem, Report, graded_cells_of, plan_jobs, read_roster  # noqa: F401
from .results import merge_rows, summary_lines, write_csv, write_summary  # noqa: F401

log = logging.getLogger(__name__)


def grade(
    submitted: Path,
    out: Path,
    *,
    roster: Path | None = None,
    only_assignments: list[str] | None = None,
    only_students: list[str] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    settings: dict | None = None,
    progress: bool = True,
    root: Path = course.ROOT,
) -> Report:
    """Grade every submission under ``submitted`` (or only ``only_students``); write results under ``out``."""
    from . import runner

    warnings.filterwarnings("ignore", module="nbgrader")
    submitted, out = Path(submitted).resolve(), Path(out).resolve()
    if not submitted.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submitted}")
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)  # grades are private; student code never sees this folder anyway
    partial = bool(only_students)
    private = Path(tempfile.mkdtemp(prefix="seqgrade-course-"))  # mode 0700
    students = [p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")]
    expected = len(only_students) if partial else sum(1 for s in students for a in s.iterdir() if a.is_dir())
    t0 = time.perf_counter()
    timings = {}

    def lap(name):
        timings[name] = time.perf_counter() - t0 - sum(timings.values())

    pool = runner.start(workers, expected, cluster)  # the workers import torch while nbgrader prepares
    from . import gradebook

    try:
        prepared = gradebook.prepare(root, private, out, only_assignments, submitted, fresh=not partial)
        lap("prepare (nbgrader generate_assignment, release history)")
        report, jobs, statuses = plan_jobs(submitted, out, prepared, roster=roster, only_students=only_students,
                                           settings=course.sandbox_settings(root, submitted, out, private, settings))
        lap("plan")
        results = runner.run_jobs(jobs, workers=workers, cluster=cluster, progress=progress, pool=pool)
        lap(f"grade {len(jobs)} submissions")
        rows = gradebook.merge(report, prepared, results, statuses, out, partial=partial)
        lap("gradebook and feedback files")
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(private, ignore_errors=True)
    merge_rows(report, rows, out, partial=partial)
    write_summary(report, out / "summary.csv")
    lap("CSVs")
    report.timings = timings
    busy = [r.get("seconds", 0.0) for r in results]
    if busy:
        timings["mean seconds per submission on a worker"] = sum(busy) / len(busy)
    for k, v in timings.items():
        log.info("%s: %.2f s", k, v)
    return report

"""Grade a folder of submissions and write the gradebook, CSVs, summary and feedback.

Layout read: ``SUBMITTED/<student_id>/<assignment_id>/<notebook>.ipynb`` (nbgrader's
submitted layout; other files beside the notebook are copied with it into the sandbox).
Layout written under ``OUT``:

- ``grades.csv``   student_id, assignment, score, max_score (one row per student and assignment)
- ``cells.csv``    student_id, assignment, notebook, grade_id, score, max_score, status
- ``summary.csv``  per assignment: students, mean, median, and the cost per submission (worker
                   seconds, bridge calls, bytes, seconds); per graded cell: how many lost it
- ``mistakes.csv`` student_id, assignment, function, grade_id, mistake (each test cell lost to the code)
- ``report/index.html``, ``report/<assignment_id>.html`` the class report: what the class got wrong
                   (report/; rewritten only when what it says changes)
- ``feedback/<student_id>/<assignment_id>/<notebook>.html`` (no hidden test source)
- ``autograded/<student_id>/<assignment_id>/<notebook>.ipynb`` the notebook as graded (autograded.py),
                   what nbgrader's formgrader opens
- ``gradebook.db`` nbgrader's SQLite gradebook (written by this process only; updated in place, so
                   what an instructor typed in the formgrader stays: gradebook.py)
- ``grading.log``  what nbgrader said while preparing the assignments
- ``.cache/<student_id>/<assignment_id>.json`` each submission's result and its fingerprint (store.py)

Cell statuses: ``passed``, ``failed``; ``tampered`` (a test cell was edited, the kernel's pass
was contradicted by its own data, or the code reaches for the tools of tampering; the score is
still what the code earned with the course's tests), ``outdated`` (a test cell from another
release; graded with the current tests); and, with zero points, ``missing``, ``invalid``,
``not-in-roster``, ``error`` for what could not be graded.

The pipeline: plan (plan.py: which submissions, checked before anything runs) -> reuse the
stored result of every submission whose fingerprint is unchanged, run the other jobs on workers
(local pool or Dask; worker.py), storing each result as it arrives -> merge all of them into
the one gradebook and the CSVs. Everything of OUT is built in a staging folder inside OUT and
moved into place at the very end (by renames; the gradebook by one SQLite transaction into the
same file), so a run that stops early (Ctrl-C, a crash) leaves the previous complete files as
they were, plus the results it stored.

Ctrl-C stops a run cleanly: the workers, fork servers and kernels are killed, the staging
folder goes, and ``grade`` raises ``Interrupted`` (the CLI prints its one line, exit status 130).
The same command picks up where this one stopped, ``--force`` included (store.py).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from . import course
from . import prepared as prepared_cache
from . import report as class_report
from .limits import Limits
from .plan import Report, plan_jobs
from .results import merge_rows, write_summary
from .store import ResultStore, fingerprint, grader_digest

log = logging.getLogger(__name__)

#: Where the per-submission results live, inside OUT.
CACHE_DIR = ".cache"
#: The files of OUT that a run replaces as a whole (gradebook.db is written in place, the folders
#: below are moved separately).
FINAL_FILES = ("grading.log", "cells.csv", "grades.csv", "summary.csv", class_report.MISTAKES_CSV)
#: The folders of OUT with a subfolder per submission: the feedback pages, and the autograded
#: notebooks the formgrader opens.
SUBMISSION_FOLDERS = ("feedback", "autograded")
#: Which sources the published gradebook's assignments were prepared from (prepared.py), inside OUT.
PREPARED_KEY = f"{CACHE_DIR}/prepared-key"


class Interrupted(Exception):
    """The run was stopped by Ctrl-C; ``kept`` of ``total`` submissions have stored results
    (``total`` is None when it stopped before the submissions were planned)."""

    def __init__(self, kept: int, total: int | None):
        super().__init__(kept, total)
        self.kept, self.total = kept, total

    def __str__(self) -> str:
        if self.total is None:
            return "interrupted before any submission was graded; run the same command again to grade"
        return f"interrupted: {self.kept} of {self.total} submissions graded and kept; run the same command again to finish"


class _CtrlC:
    """This run's SIGINT handler. It raises KeyboardInterrupt as Python's own does, and also
    remembers that a Ctrl-C came: nbgrader catches everything (KeyboardInterrupt included) while
    it prepares an assignment and turns it into a failure, which must still end as an interrupt.
    ``held()`` holds a Ctrl-C back until a block that must not stop halfway is done."""

    def __init__(self):
        self.seen, self._holding = False, False

    def __call__(self, signum, frame):
        self.seen = True
        if not self._holding:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self):
        before, self._holding = self.seen, True
        try:
            yield
        finally:
            self._holding = False
            if self.seen and not before:
                raise KeyboardInterrupt


def grade(
    submitted: Path,
    out: Path,
    *,
    roster: Path | None = None,
    only_assignments: list[str] | None = None,
    only_students: list[str] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    limits: Limits | None = None,
    record: bool = True,
    progress: bool = True,
    force: bool = False,
    root: Path = course.ROOT,
    say: Callable[[str], None] | None = None,
) -> Report:
    """Grade every submission under ``submitted`` (or only ``only_students``); write results under ``out``.

    Submissions whose fingerprint matches a result stored in ``out`` by an earlier run are not
    graded again (``force=True`` grades everything). Every notebook runs within ``limits`` (default:
    the course's, ``Limits()``); ``record``
    (``--no-record``: False) records PyTorch's operators while tests call the student's code.
    Raises ``Interrupted`` on Ctrl-C. ``say``, when
    given, receives at once the notes of the run's start (which confinement steps hold here, what an
    earlier run left); otherwise they open ``report.notes``.
    """
    warnings.filterwarnings("ignore", module="nbgrader")
    submitted, out = Path(submitted).resolve(), Path(out).resolve()
    if not submitted.is_dir():
        raise FileNotFoundError(f"no such folder of submissions: {submitted}")
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)  # grades are private; student code never sees this folder anyway
    store = ResultStore(out / CACHE_DIR)
    resumed = store.begin(force=force)  # a --force run stopped midway is finished, not started over
    counts = {"total": None, "reused": 0}
    ctrl_c = _CtrlC()
    try:
        previous = signal.signal(signal.SIGINT, ctrl_c)
    except ValueError:  # not the main thread (grade() called from a thread): Python's default stays
        previous = None
    try:
        report = _grade(submitted, out, store, counts, ctrl_c, roster=roster, only_assignments=only_assignments,
                        only_students=only_students, workers=workers, cluster=cluster, limits=limits or Limits(), record=record,
                        progress=progress, force=force, root=root, say=say)
        store.finish()
        report.resumed = resumed
        return report
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) or ctrl_c.seen:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # caught once; the caller reports and exits
            previous = None
            raise Interrupted(counts["reused"] + store.saved, counts["total"]) from None
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _grade(submitted: Path, out: Path, store: ResultStore, counts: dict, ctrl_c: _CtrlC, *, roster, only_assignments,
           only_students, workers, cluster, limits, record, progress, force, root, say) -> Report:
    from . import runner

    partial = bool(only_students)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name):
        timings[name] = time.perf_counter() - t0 - sum(timings.values())

    for stale in out.glob(".staging-*"):  # left by a run that was killed outright (two runs must not share an OUT)
        shutil.rmtree(stale, ignore_errors=True)
    from . import gradebook
    from .sandbox import cleanup

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    private = Path(tempfile.mkdtemp(prefix="seqgrade-course-"))  # mode 0700
    pool = None
    try:
        started = cleanup.start_run()  # which confinement steps hold here; what a killed run left, cleaned
        if say is not None:
            for note in started:
                say(note)
            started = []
        if (out / "gradebook.db").exists():  # updated there (what the formgrader holds is kept), written back at the end
            gradebook.snapshot(out / "gradebook.db", staging / "gradebook.db")
        folders = [(s.name, a.name) for s in submitted.iterdir() if s.is_dir() and not s.name.startswith(".")
                   for a in s.iterdir() if a.is_dir() and not a.name.startswith(".")]
        if partial:
            folders = [f for f in folders if f[0] in only_students]
        # Start the workers now, so that they import torch while nbgrader prepares, unless this
        # looks like a rerun with every submission stored (then likely none needs a worker).
        if force or not all(store.has(s, a) for s, a in folders):
            pool = runner.start(workers, len(folders), cluster)

        prepared = gradebook.prepare(root, private, staging, only_assignments, submitted,
                                     prepared_key=out / PREPARED_KEY)
        lap("prepare (nbgrader generate_assignment, release history)")
        report, jobs, statuses = plan_jobs(submitted, out, prepared, roster=roster, only_students=only_students,
                                           limits=limits, record=record,
                                           hide=course.hidden_from_students(root, submitted, out, private))
        report.notes[:0] = started
        grader = grader_digest(root)
        todo, reused = [], []
        for job in jobs:
            job.fingerprint = fingerprint(job, grader)
            stored = store.load(job, this_run_only=force)
            if stored is None:
                todo.append(job)
            else:
                reused.append(stored)
        counts["total"], counts["reused"] = len(jobs), len(reused)
        lap("plan")
        if todo and pool is None:
            pool = runner.start(workers, len(todo), cluster)
        elif not todo and pool is not None:  # started early for nothing: free the cores for the merge
            pool.close()
            pool = None
        results = runner.run_jobs(todo, workers=workers, cluster=cluster, progress=progress, pool=pool,
                                  on_result=store.save)
        lap(f"grade {len(todo)} submissions")
        report.graded, report.reused = len(results), len(reused)
        rows = gradebook.merge(report, prepared, reused + results, statuses, staging, partial=partial,
                               live=out / "gradebook.db")
        lap("gradebook and feedback files")
        merge_rows(report, rows, out, partial=partial, dest=staging)
        write_summary(report, staging / "summary.csv", reused + results)
        lap("CSVs")
        try:
            report.class_report = class_report.write(
                staging, out, report.all_cells, reused + results, store.stored,
                _run_facts(results, reused, pool, cluster, timings.get(f"grade {len(todo)} submissions")),
                [(p.student_id, p.assignment) for p in report.problems])
        except Exception as e:  # whatever fails in the class report must never cost the grades
            log.exception("class report")
            report.notes.append(f"the class report could not be written ({type(e).__name__}: {e}); "
                                f"{class_report.REPORT_DIR}/ and {class_report.MISTAKES_CSV} are an earlier run's")
            (staging / class_report.MISTAKES_CSV).unlink(missing_ok=True)
            shutil.rmtree(staging / class_report.REPORT_DIR, ignore_errors=True)
        lap("class report")
        with ctrl_c.held():
            _publish(staging, out, partial=partial, touched=[(r.student, r.assignment) for r in reused + results])
            prepared_cache.write_key(out / PREPARED_KEY, prepared["key"])
    finally:
        with ctrl_c.held():
            if pool is not None:
                pool.close()
            shutil.rmtree(private, ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
    report.timings = timings
    busy = [r.seconds for r in results]
    if busy:
        timings["mean seconds per submission on a worker"] = sum(busy) / len(busy)
    for k, v in timings.items():
        log.info("%s: %.2f s", k, v)
    return report


def _run_facts(graded: list, reused: list, pool, cluster: str | None, wall: float | None) -> class_report.RunFacts:
    """How this run went, for the class report."""
    def mean(values):
        return sum(values) / len(values) if values else None

    workers = ("a Dask cluster" if cluster else f"{pool.n} local worker{'s' if pool.n != 1 else ''}" if pool is not None
               else "none needed (every submission was reused)")
    return class_report.RunFacts(len(graded), len(reused), workers, mean([r.seconds for r in graded]),
                                 mean([r.seconds for r in graded + reused]), wall if graded else None)


def _publish(staging: Path, out: Path, *, partial: bool, touched: list[tuple[str, str]]) -> None:
    """Move this run's files from ``staging`` into ``out``.

    The gradebook is written into the existing file in one transaction (gradebook.publish). A full run
    replaces ``feedback/`` and ``autograded/`` each by one rename; a partial run (``--only``) replaces
    the folders of the submissions it ``touched`` and leaves everyone else's as they were. The class
    report's folder, when this run wrote one, replaces the old one as a whole. The CSVs go last.
    """
    from . import gradebook

    if (staging / "gradebook.db").exists():
        gradebook.publish(staging / "gradebook.db", out / "gradebook.db")
    for folder in SUBMISSION_FOLDERS:
        new, old = staging / folder, out / folder
        if partial:
            for student, a in touched:
                dest = old / student / a
                shutil.rmtree(dest, ignore_errors=True)
                if (new / student / a).is_dir():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(new / student / a, dest)
        else:
            if old.exists():
                os.replace(old, staging / f"{folder}.old")  # removed with the staging folder
            if new.is_dir():
                os.replace(new, old)
    new_report, out_report = staging / class_report.REPORT_DIR, out / class_report.REPORT_DIR
    if new_report.is_dir():
        if out_report.exists():
            os.replace(out_report, staging / "report.old")  # removed with the staging folder
        os.replace(new_report, out_report)
    for name in FINAL_FILES:
        if (staging / name).exists():
            os.replace(staging / name, out / name)

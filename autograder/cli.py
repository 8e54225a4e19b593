"""``python -m autograder``: the instructor's one entry point.

    python -m autograder release                      # regenerate notebooks/ from solutions/
    python -m autograder grade SUBMITTED --out OUT    # grade a class; CSVs and feedback in OUT
        [--roster F] [--assignment A] [--workers N] [--only STUDENT] [--force] [--cluster tcp://HOST:8786]

A rerun into the same OUT grades only the submissions that are new or changed (the student's
files, the assignment or the grader) and reuses everyone else's stored results; Ctrl-C stops a
run cleanly (exit status 130) and the same command picks up where it stopped.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import course


def _release(args) -> int:
    from .release import release

    for path in release(only=args.assignment or None):
        print(f"released {path.relative_to(course.ROOT)}")
    return 0


def _grade(args) -> int:
    try:
        return _grade_or_interrupt(args)
    except KeyboardInterrupt:  # before grading started (imports); grade() handles its own
        print("interrupted before any submission was graded; run the same command again to grade", file=sys.stderr)
        return 130


def _grade_or_interrupt(args) -> int:
    from .grade import Interrupted, grade, summary_lines

    settings = {}
    if args.cell_timeout:
        settings["cell_timeout"] = args.cell_timeout
    if args.memory_mb:
        settings["mem_bytes"] = args.memory_mb << 20
    if args.no_record:
        settings["record"] = False
    try:
        report = grade(args.submitted, args.out, roster=args.roster, only_assignments=args.assignment or None,
                       only_students=args.only or None, workers=args.workers, cluster=args.cluster,
                       settings=settings, progress=not args.no_progress, force=args.force,
                       say=lambda note: print(f"note: {note}", file=sys.stderr, flush=True))  # at the start
    except Interrupted as e:
        print(e, file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"{report.graded + report.reused} submissions: {report.graded} graded, "
          f"{report.reused} unchanged since the last run and reused" + (" (--force regrades them)" if report.reused else ""))
    for line in summary_lines(report):
        print(line)
    print(f"wrote {args.out / 'grades.csv'}, {args.out / 'cells.csv'}, {args.out / 'summary.csv'} and {args.out / 'feedback'}/")
    if not report.ok:
        print(f"{len(report.problems)} problem(s): some submissions could not be (fully) graded", file=sys.stderr)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what nbgrader does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate notebooks/ (the student release) from solutions/")
    p.add_argument("assignment", nargs="*", help=f"assignment ids (default: all of {', '.join(course.assignments())})")
    p.set_defaults(func=_release)

    p = sub.add_parser("grade", help="grade SUBMITTED/<student_id>/<assignment_id>/<notebook>.ipynb")
    p.add_argument("submitted", type=Path, help="folder of submissions, nbgrader's submitted layout")
    p.add_argument("--out", type=Path, required=True, help="where grades.csv, cells.csv, feedback/ and gradebook.db go")
    p.add_argument("--roster", type=Path, help="student ids, one per line or a CSV with a student_id column")
    p.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: the number of cores)")
    p.add_argument("--only", action="append", metavar="STUDENT",
                   help="grade only this student (repeatable; an unchanged submission is reused unless --force); "
                        "everyone else's rows, feedback and gradebook entries stay")
    p.add_argument("--force", action="store_true",
                   help="regrade every submission, also those unchanged since the last run into OUT (default: reuse their results)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run the jobs on this Dask scheduler (needs dask.distributed)")
    p.add_argument("--cell-timeout", type=float, help=f"seconds a cell may run (default {course.CELL_TIMEOUT})")
    p.add_argument("--memory-mb", type=int, help=f"memory cap per submission (default {course.SANDBOX['mem_bytes'] >> 20})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-record", action="store_true",
                   help="do not record PyTorch's operators while tests run (to measure the recorder's cost: "
                        "the own-work rule then holds only as read from the code)")
    p.set_defaults(func=_grade)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        for h in logging.getLogger().handlers:  # nbgrader's own loggers log at INFO and propagate
            h.setLevel(logging.WARNING)
        # nbgrader logs every step of every notebook at WARNING or above for some steps; keep the CLI readable.
        logging.getLogger("traitlets").setLevel(logging.ERROR)
    return args.func(args)

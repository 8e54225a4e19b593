"""``python -m autograder``: the instructor's one entry point.

    python -m autograder open 02-rnn                  # a student: your copy work/02-rnn/02-rnn.ipynb in JupyterLab
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
import os
import sys
from pathlib import Path

from . import course
from .limits import LimitError, Limits


def _release(args) -> int:
    from .release import release

    released = release(only=args.assignment or None)
    for path in released.notebooks:
        print(f"released {path.relative_to(course.ROOT)}")
    for line in released.lines:  # a student's edited release kept, working copies behind the release
        print(line)
    return 0


def _open(args) -> int:
    """A student's command: the working copy (made or brought up to date), then JupyterLab on it."""
    from .workcopy import open_copy

    try:
        opened = open_copy(args.assignment)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in opened.lines:
        print(line, flush=True)
    notebook = opened.notebook.relative_to(course.ROOT)
    if args.no_lab:
        print(notebook)
        return 0
    jupyter = Path(sys.executable).parent / "jupyter"
    # From the course folder: the server serves it (jupyter_server_config.py), nbgrader's tools need that.
    os.chdir(course.ROOT)
    os.execv(jupyter, [str(jupyter), "lab", str(notebook), *args.lab_args])


def _grade(args) -> int:
    try:
        return _grade_or_interrupt(args)
    except KeyboardInterrupt:  # before grading started (imports); grade() handles its own
        print("interrupted before any submission was graded; run the same command again to grade", file=sys.stderr)
        return 130


def _grade_or_interrupt(args) -> int:
    from .grade import Interrupted, grade
    from .results import summary_lines

    try:
        report = grade(args.submitted, args.out, roster=args.roster, only_assignments=args.assignment or None,
                       only_students=args.only or None, workers=args.workers, cluster=args.cluster,
                       limits=args.limits, record=not args.no_record, progress=not args.no_progress, force=args.force,
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
    if report.resumed:
        print(f"{report.graded + report.reused} submissions: {report.graded} graded, "
              f"{report.reused} graded by the interrupted --force run and reused")
    else:
        print(f"{report.graded + report.reused} submissions: {report.graded} graded, "
              f"{report.reused} unchanged since the last run and reused" + (" (--force regrades them)" if report.reused else ""))
    for line in summary_lines(report):
        print(line)
    print(f"wrote {args.out / 'grades.csv'}, {args.out / 'cells.csv'}, {args.out / 'summary.csv'}, "
          f"{args.out / 'mistakes.csv'} and {args.out / 'feedback'}/")
    print(f"class report: {args.out / 'report' / 'index.html'}"
          + ("" if report.class_report else " (unchanged: nothing it reports changed)"))
    if not report.ok:
        print(f"{len(report.problems)} problem(s): some submissions could not be (fully) graded", file=sys.stderr)
    return 0 if report.ok else 1


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--workers 0`` is refused, not taken for the default)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: at least 1 is needed")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what nbgrader does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("open", allow_abbrev=False,
                       help="a student's command: open your working copy work/ID/ID.ipynb in JupyterLab "
                            "(made from the release the first time; later, the release's changes come in "
                            "wherever you have not written); other options go to jupyter lab")
    p.add_argument("assignment", help=f"one of {', '.join(course.assignments())}")
    p.add_argument("--no-lab", action="store_true", help="make or update the working copy and print its path only")
    p.set_defaults(func=_open, lab_args=[])

    p = sub.add_parser("release", help="regenerate notebooks/ (the student release) from solutions/")
    p.add_argument("assignment", nargs="*", help=f"assignment ids (default: all of {', '.join(course.assignments())})")
    p.set_defaults(func=_release)

    p = grading = sub.add_parser("grade", help="grade SUBMITTED/<student_id>/<assignment_id>/<notebook>.ipynb")
    p.add_argument("submitted", type=Path, help="folder of submissions, nbgrader's submitted layout")
    p.add_argument("--out", type=Path, required=True, help="where grades.csv, cells.csv, feedback/ and gradebook.db go")
    p.add_argument("--roster", type=Path, help="student ids, one per line or a CSV with a student_id column")
    p.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    p.add_argument("--workers", type=_positive, default=None, help="parallel workers (default: the number of cores)")
    p.add_argument("--only", action="append", metavar="STUDENT",
                   help="grade only this student (repeatable; an unchanged submission is reused unless --force); "
                        "everyone else's rows, feedback and gradebook entries stay")
    p.add_argument("--force", action="store_true",
                   help="regrade every submission, also those unchanged since the last run into OUT (default: reuse their results)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run the jobs on this Dask scheduler (needs dask.distributed)")
    p.add_argument("--cell-timeout", type=float, help=f"seconds a cell may run (default {Limits().cell_timeout:g})")
    p.add_argument("--memory-mb", type=int, help=f"memory cap per submission (default {Limits().mem_bytes >> 20})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-record", action="store_true",
                   help="do not record PyTorch's operators while tests run (to measure the recorder's cost: "
                        "the own-work rule then holds only as read from the code)")
    p.set_defaults(func=_grade)

    args, rest = parser.parse_known_args(argv)
    if rest and args.func is not _open:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.func is _grade:
        try:
            args.limits = Limits.from_options(cell_timeout=args.cell_timeout, memory_mb=args.memory_mb)
        except LimitError as e:
            grading.error(str(e))
    args.lab_args = rest  # `open`: jupyter lab's own options (--port, --no-browser, ...)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        for h in logging.getLogger().handlers:  # nbgrader's own loggers log at INFO and propagate
            h.setLevel(logging.WARNING)
        # nbgrader logs every step of every notebook at WARNING or above for some steps; keep the CLI readable.
        logging.getLogger("traitlets").setLevel(logging.ERROR)
    return args.func(args)

"""Grading throughput: stock sequential ``nbgrader autograde`` vs ``python -m autograder grade``
with 1 and 2 workers, on the same batch, in one run. Prints a markdown table.

    .venv/bin/python benchmarks/grading.py [--n 40] [--assignment 01-one-hot]
    .venv/bin/python benchmarks/grading.py --rerun [--n 40]   # a rerun with nothing changed
    .venv/bin/python benchmarks/grading.py --mixed [--n 5]    # N of every chapter in one batch

What each row measures (wall clock, the whole command):
- stock: ``NbGraderAPI.autograde`` per student, in sequence (a fresh kernel and ``import torch`` each);
- workers=1 / workers=2: the CLI end to end (preparing the gradebook, starting workers and
  their fork servers, grading, feedback pages, CSVs).
Per-submission cost is the slope between a 1-submission run and the N-submission run with one
worker (so start-up is not counted); the notebook's own compute is the time to run its cells in
a warm process (torch already imported), and the overhead is the difference.

``--mixed``: N students each submit every chapter of ``solutions/`` (9 chapters, 45 submissions
at N = 5), graded by the same three in one run, and once more by the CLI with 2 workers and
``--no-record`` (the own-work recorder off: its cost); then, per chapter, the seconds per submission
(stock: its ``autograde`` call; the CLI: a worker's time, the ``seconds`` of summary.csv) and what
crossed the judge's bridge per submission (summary.csv's ``bridge_*``; blank before the bridge).
The fixed cost of a CLI run is its whole command less its grading phase (imports, preparing the
assignments, starting workers, the gradebook and files); an unchanged course prepares from the
previous run (``_build/grading-cache``), so the first CLI run here starts with that cache emptied
and pays the cold fixed cost.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.results import read_csv  # noqa: E402 - after the repository joins sys.path


def _batch(dest: Path, assignment: str, n: int) -> None:
    src = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    for i in range(n):
        d = dest / f"student{i:03d}" / assignment
        d.mkdir(parents=True)
        shutil.copy(src, d / src.name)


def stock(batch: Path, assignments: list[str]) -> tuple[float, dict[str, float]]:
    """Stock nbgrader: its own preprocessors, one kernel per notebook, one notebook at a time.
    Returns (seconds of all the ``autograde`` calls, assignment -> mean seconds of one call)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder import course

    with tempfile.TemporaryDirectory(prefix="bench-stock-") as tmp:
        root = Path(tmp)
        for a in assignments:
            shutil.copytree(ROOT / "solutions" / a, root / "solutions" / a)
        shutil.copytree(batch, root / "submitted")
        config = course.nbgrader_config(root, db_path=root / "gradebook.db")
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel("ERROR")
        for a in assignments:
            assert api.generate_assignment(a, force=True, create=True)["success"]
        env = dict(os.environ, SEQLAB_QUICK="1", MPLBACKEND="Agg")
        os.environ.update(env)
        calls = {a: [] for a in assignments}
        for student in sorted(p.name for p in batch.iterdir()):
            for a in assignments:
                t0 = time.perf_counter()
                r = api.autograde(a, student, force=True, create=True)
                calls[a].append(time.perf_counter() - t0)
                assert r["success"], r.get("error")
        return sum(map(sum, calls.values())), {a: sum(v) / len(v) for a, v in calls.items()}


def cli(batch: Path, assignments: list[str], workers: int, *extra: str) -> tuple[float, float, list[dict]]:
    """(wall seconds of the whole command, seconds of its grading phase: first job sent to last
    result, the rows of its summary.csv)."""
    only = [arg for a in assignments for arg in ("--assignment", a)]
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "autograder", "-v", "grade", str(batch), "--out", out, *only,
                            "--workers", str(workers), "--no-progress", *extra], cwd=ROOT, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"autograder failed:\n{r.stderr[-3000:]}")
        phase = next(float(line.split(": ")[-1].split()[0]) for line in r.stderr.splitlines()
                     if line.startswith("INFO grade ") and "submissions:" in line)
        return dt, phase, read_csv(Path(out) / "summary.csv")


def rerun(batch: Path, assignment: str, workers: int = 2) -> tuple[float, float]:
    """(seconds of a first run, seconds of the same command run again with nothing changed, which
    reuses every stored result and grades nothing), whole commands, into one output folder."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        for _ in range(2):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", out, "--assignment",
                                assignment, "--workers", str(workers), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0:
                raise SystemExit(f"autograder failed:\n{r.stderr[-3000:]}")
        if " 0 graded, " not in r.stdout:
            raise SystemExit(f"the rerun graded something:\n{r.stdout}")
    return times[0], times[1]


def own_compute(assignment: str, repeats: int = 5) -> float:
    """Seconds to run the notebook's cells in a warm process (what no grader can avoid)."""
    code = f"""
import time, torch, numpy, nbformat, os
os.environ['SEQLAB_QUICK'] = '1'; os.environ['MPLBACKEND'] = 'Agg'
from IPython.core.inputtransformer2 import TransformerManager
nb = nbformat.read({str(ROOT / 'solutions' / assignment / (assignment + '.ipynb'))!r}, as_version=4)
srcs = [TransformerManager().transform_cell(c.source) for c in nb.cells if c.cell_type == 'code']
best = 1e9
for _ in range({repeats}):
    ns = {{'get_ipython': lambda: None}}
    t0 = time.perf_counter()
    for s in srcs:
        exec(compile(s, 'cell', 'exec'), ns)
    best = min(best, time.perf_counter() - t0)
print(best)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return float(r.stdout.strip().splitlines()[-1])


def _table(t_stock: float | None, runs: list[tuple[str, float, float]], n: int) -> None:
    """The markdown table of whole commands and grading phases; ``runs``: (label, whole, phase)."""
    print("| grader | whole command (s) | grading phase (s) | fixed cost (s) | per submission (s) | whole command vs stock |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    if t_stock:
        print(f"| stock nbgrader autograde, sequential | {t_stock:.1f} | {t_stock:.1f} | | {t_stock / n:.2f} | 1.0x |")
    for label, t, g in runs:
        vs = f"{t_stock / t:.1f}x" if t_stock else ""
        print(f"| {label} | {t:.1f} | {g:.1f} | {t - g:.1f} | {g / n:.2f} | {vs} |")
    print()


def _cell(row: dict, key: str, scale: float = 1.0, fmt: str = ".2f") -> str:
    """A summary.csv figure for the chapter table ('' before the bridge lands stays blank)."""
    return format(float(row[key]) * scale, fmt) if row.get(key) not in (None, "") else ""


def mixed(n: int, skip_stock: bool) -> None:
    """N perfect submissions of every chapter, graded by stock nbgrader and the CLI with 1 and 2 workers."""
    from autograder import course

    from autograder import prepared

    chapters = course.assignments(ROOT)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        batch = Path(tmp) / "mixed"
        for a in chapters:
            _batch(batch, a, n)
        t_stock, per_stock = (None, {}) if skip_stock else stock(batch, chapters)
        shutil.rmtree(prepared.cache_dir(ROOT), ignore_errors=True)  # the first run prepares cold
        t1, g1, sum1 = cli(batch, [], 1)  # no --assignment: every chapter the batch holds
        t2, g2, sum2 = cli(batch, [], 2)
        t0, g0, _ = cli(batch, [], 2, "--no-record")
    total = n * len(chapters)
    print(f"\n{total} submissions ({n} of each of {len(chapters)} chapters), {os.cpu_count()} cores, "
          f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")
    _table(t_stock, [("autograder, 1 worker (cold cache)", t1, g1), ("autograder, 2 workers", t2, g2),
                     ("autograder, 2 workers, --no-record", t0, g0)], total)
    vs = f"CLI vs stock (whole command): {t_stock / t1:.1f}x with 1 worker, {t_stock / t2:.1f}x with 2; " if t_stock else ""
    print(f"{vs}2 workers vs 1: {g1 / g2:.2f}x on the grading phase, {t1 / t2:.2f}x on the whole command")
    print(f"the own-work recorder's cost (2 workers): {100 * (g2 / g0 - 1):+.1f}% on the grading phase, "
          f"{100 * (t2 / t0 - 1):+.1f}% on the whole command\n")
    print("Per chapter, per submission: seconds (stock: its autograde call; autograder: a worker's time, "
          "summary.csv) and the judge's bridge (1-worker run)\n")
    print("| chapter | stock (s) | 1 worker (s) | 2 workers (s) | bridge calls | bridge KiB | bridge wait (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = [{r["assignment"]: r for r in rows if r["item"] == "total"} for rows in (sum1, sum2)]
    for a in chapters:
        one, two = totals[0].get(a, {}), totals[1].get(a, {})
        st = f"{per_stock[a]:.2f}" if a in per_stock else ""
        print(f"| {a} | {st} | {_cell(one, 'seconds')} | {_cell(two, 'seconds')} | {_cell(one, 'bridge_calls', fmt='.0f')} "
              f"| {_cell(one, 'bridge_bytes', 1 / 1024, '.1f')} | {_cell(one, 'bridge_seconds', fmt='.3f')} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="submissions (per chapter with --mixed); default 40, 5 with --mixed")
    ap.add_argument("--assignment", default="01-one-hot")
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--rerun", action="store_true", help="only measure a rerun with nothing changed (2 workers)")
    ap.add_argument("--mixed", action="store_true", help="N perfect submissions of every chapter in one batch")
    args = ap.parse_args()
    if args.mixed:
        mixed(args.n or 5, args.skip_stock)
        return
    args.n = args.n or 40
    if args.rerun:
        with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
            _batch(Path(tmp) / "big", args.assignment, args.n)
            first, again = rerun(Path(tmp) / "big", args.assignment)
        print(f"{args.n} submissions of {args.assignment}, 2 workers: first run {first:.1f} s, "
              f"the same command again with nothing changed {again:.1f} s (whole commands)")
        return
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        big, one = Path(tmp) / "big", Path(tmp) / "one"
        _batch(big, args.assignment, args.n)
        _batch(one, args.assignment, 1)
        t_stock = None if args.skip_stock else stock(big, [args.assignment])[0]
        (t1, g1, _), (t2, g2, _) = cli(big, [args.assignment], 1), cli(big, [args.assignment], 2)
        t_one, g_one, _ = cli(one, [args.assignment], 1)
        compute = own_compute(args.assignment)
    n = args.n
    slope = (g1 - g_one) / (n - 1)
    print(f"\n{n} submissions of {args.assignment}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    _table(t_stock, [("autograder, 1 worker", t1, g1), ("autograder, 2 workers", t2, g2)], n)
    print(f"2 workers vs 1: {t1 / t2:.2f}x on the whole command, {g1 / g2:.2f}x on the grading phase")
    print(f"per-submission cost with 1 worker (slope of the grading phase, 1 vs {n} submissions): {slope:.2f} s; "
          f"the notebook's own compute in a warm process: {compute:.2f} s; overhead: {slope - compute:.2f} s")
    print(f"fixed cost of a run (1 submission, 1 worker, whole command): {t_one:.1f} s")


if __name__ == "__main__":
    main()

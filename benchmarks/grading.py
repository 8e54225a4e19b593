"""Grading throughput: stock sequential ``nbgrader autograde`` vs ``python -m autograder grade``
with 1 and 2 workers, on the same batch, in one run. Prints a markdown table.

    .venv/bin/python benchmarks/grading.py [--n 40] [--assignment 01-one-hot]
    .venv/bin/python benchmarks/grading.py --rerun [--n 40]   # a rerun with nothing changed

What each row measures (wall clock, the whole command):
- stock: ``NbGraderAPI.autograde`` per student, in sequence (a fresh kernel and ``import torch`` each);
- workers=1 / workers=2: the CLI end to end (preparing the gradebook, starting workers and
  their fork servers, grading, feedback pages, CSVs).
Per-submission cost is the slope between a 1-submission run and the N-submission run with one
worker (so start-up is not counted); the notebook's own compute is the time to run its cells in
a warm process (torch already imported), and the overhead is the difference.
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


def _batch(dest: Path, assignment: str, n: int) -> None:
    src = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    for i in range(n):
        d = dest / f"student{i:03d}" / assignment
        d.mkdir(parents=True)
        shutil.copy(src, d / src.name)


def stock(batch: Path, assignment: str) -> float:
    """Stock nbgrader: its own preprocessors, one kernel per notebook, one notebook at a time."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder import course

    with tempfile.TemporaryDirectory(prefix="bench-stock-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
        shutil.copytree(batch, root / "submitted")
        config = course.nbgrader_config(root, db_path=root / "gradebook.db")
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel("ERROR")
        assert api.generate_assignment(assignment, force=True, create=True)["success"]
        env = dict(os.environ, SEQLAB_QUICK="1", MPLBACKEND="Agg")
        os.environ.update(env)
        t0 = time.perf_counter()
        for student in sorted(p.name for p in batch.iterdir()):
            r = api.autograde(assignment, student, force=True, create=True)
            assert r["success"], r.get("error")
        return time.perf_counter() - t0


def cli(batch: Path, assignment: str, workers: int) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds of its grading phase: first job sent to last result)."""
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "autograder", "-v", "grade", str(batch), "--out", out, "--assignment",
                            assignment, "--workers", str(workers), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"autograder failed:\n{r.stderr[-3000:]}")
        phase = next(float(line.split(": ")[-1].split()[0]) for line in r.stderr.splitlines()
                     if line.startswith("INFO grade ") and "submissions:" in line)
        return dt, phase


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--assignment", default="01-one-hot")
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--rerun", action="store_true", help="only measure a rerun with nothing changed (2 workers)")
    args = ap.parse_args()
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
        t_stock = None if args.skip_stock else stock(big, args.assignment)
        (t1, g1), (t2, g2) = cli(big, args.assignment, 1), cli(big, args.assignment, 2)
        t_one, g_one = cli(one, args.assignment, 1)
        compute = own_compute(args.assignment)
    n = args.n
    slope = (g1 - g_one) / (n - 1)
    print(f"\n{n} submissions of {args.assignment}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| grader | whole command (s) | grading phase (s) | per submission (s) | whole command vs stock |")
    print("| --- | ---: | ---: | ---: | ---: |")
    if t_stock:
        print(f"| stock nbgrader autograde, sequential | {t_stock:.1f} | {t_stock:.1f} | {t_stock / n:.2f} | 1.0x |")
    for label, t, g in (("autograder, 1 worker", t1, g1), ("autograder, 2 workers", t2, g2)):
        vs = f"{t_stock / t:.1f}x" if t_stock else ""
        print(f"| {label} | {t:.1f} | {g:.1f} | {g / n:.2f} | {vs} |")
    print()
    print(f"2 workers vs 1: {t1 / t2:.2f}x on the whole command, {g1 / g2:.2f}x on the grading phase")
    print(f"per-submission cost with 1 worker (slope of the grading phase, 1 vs {n} submissions): {slope:.2f} s; "
          f"the notebook's own compute in a warm process: {compute:.2f} s; overhead: {slope - compute:.2f} s")
    print(f"fixed cost of a run (1 submission, 1 worker, whole command): {t_one:.1f} s")


if __name__ == "__main__":
    main()

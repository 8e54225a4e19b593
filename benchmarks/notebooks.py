"""Execution time of each solution notebook, split into kernel start, the setup cell (imports,
mostly `import torch`) and the rest, in quick mode (as graded and tested: `long-experiment`
cells run their short version) and in full mode (as a student or the site runs them).

    .venv/bin/python benchmarks/notebooks.py [--quick-only] [ASSIGNMENT ...]

Prints a markdown table for the README. Targets (DESIGN.md): <= 60 s per notebook on 2 cores
in quick mode (01-02: <= 30 s).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder import course  # noqa: E402 - after the repository joins sys.path


def run(assignment: str, quick: bool) -> dict[str, float]:
    """Seconds for kernel start, the setup cell and all later cells."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    os.environ["SEQLAB_QUICK"] = "1" if quick else ""
    os.environ["MPLBACKEND"] = "Agg"
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": tmp}})
        t0 = time.perf_counter()
        with client.setup_kernel():
            t1 = time.perf_counter()
            code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            client.execute_cell(nb.cells[code[0]], code[0])  # the setup cell: imports
            t2 = time.perf_counter()
            for i in code[1:]:
                client.execute_cell(nb.cells[i], i)
            t3 = time.perf_counter()
    return {"kernel": t1 - t0, "setup": t2 - t1, "rest": t3 - t2, "total": t3 - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--quick-only", action="store_true")
    args = parser.parse_args()
    ids = args.assignments or course.assignments()
    print(f"{os.cpu_count()} cores; seconds per solution notebook\n")
    print("| notebook | mode | kernel start | setup cell (imports) | exercise + tests | total |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for a in ids:
        for quick in (True,) if args.quick_only else (True, False):
            t = run(a, quick)
            mode = "quick (graded)" if quick else "full"
            print(f"| {a} | {mode} | {t['kernel']:.1f} | {t['setup']:.1f} | {t['rest']:.1f} | {t['total']:.1f} |", flush=True)


if __name__ == "__main__":
    main()

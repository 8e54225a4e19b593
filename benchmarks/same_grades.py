"""Do two checkouts of the grader grade alike? For a change that must not change behaviour (a refactor).

    git worktree add --detach /tmp/before-x <the commit before the change>
    .venv/bin/python benchmarks/same_grades.py /tmp/before-x [--keep DIR]

Builds one mixed batch (every chapter's solution; release stubs; the first named mistakes of four
chapters' functions, from tests/chapters; an answer that runs nn.RNN; an edited test cell; flagged
code; not JSON; a renamed notebook; a kernel that dies; a cell that hangs; lost metadata; a student not
in the roster and one with no folder), grades it with each checkout in turn (the same command, this
environment, ``--cell-timeout 10``), and compares grades.csv, cells.csv and mistakes.csv byte for
byte, summary.csv's bridge calls and bytes, and the feedback pages. Prints the wall time of each run.

What varies from run to run of the same code is said so, not counted as a difference: the feedback
pages of 08 and 09 (their training cells print timings, and 09's short training its perplexities)
and the bridge's bytes of those two chapters.
Part of a checkout's path reaches the bridge, so give the other checkout a path as long as this one's
for the bridge's bytes to compare.
"""
from __future__ import annotations

import argparse
import csv
import filecmp
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ("grades.csv", "cells.csv", "mistakes.csv")
VARY = ("08-transformer", "09-language-model")  # their feedback shows training timings and 09's perplexities


def _nb(kind: str, a: str):
    return nbformat.read(ROOT / kind / a / f"{a}.ipynb", as_version=4)


def _cell(nb, gid):
    return next(c for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("grade_id") == gid)


def _mistakes(a: str) -> dict:
    spec = importlib.util.spec_from_file_location(f"mistakes_{a}", ROOT / "tests" / "chapters" / f"test_{a}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT))
    spec.loader.exec_module(module)
    return module.MISTAKES


def batch(dest: Path) -> Path:
    """The submissions under ``dest/submitted``; returns the roster's path."""
    def put(student, a, nb, name=None):
        d = dest / "submitted" / student / a
        d.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, str):
            (d / f"{a}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, d / f"{name or a}.ipynb")

    chapters = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
    for a in chapters:
        put("alice", a, _nb("solutions", a))
    for a in ("01-one-hot", "02-rnn", "06-self-attention"):
        put("bob", a, _nb("notebooks", a))
    for a in ("02-rnn", "05-lstm", "06-self-attention", "07-positional-encoding"):
        for k, student in enumerate(("carol", "dave")):
            nb = _nb("solutions", a)
            for function, ms in _mistakes(a).items():
                mistake = list(ms.values())[k % len(ms)]
                _cell(nb, function).source = getattr(mistake, "source", mistake).strip("\n") + "\n"
            put(student, a, nb)
    nb = _nb("solutions", "02-rnn")
    _cell(nb, "RNN").source += ("\n\nclass RNN(torch.nn.Module):\n    def __init__(self, input_size, hidden_size):\n"
                                "        super().__init__()\n        self.rnn = torch.nn.RNN(input_size, hidden_size, batch_first=True)\n"
                                "    def forward(self, X, h0=None):\n        H, h = self.rnn(X, None if h0 is None else h0[None])\n"
                                "        return H, h[0]\n")
    put("erin", "02-rnn", nb)
    nb = _nb("solutions", "01-one-hot")
    _cell(nb, "test_one_hot_visible").source += "\n# edited\n"
    put("erin", "01-one-hot", nb)
    nb = _nb("solutions", "06-self-attention")
    nb.cells.append(nbformat.v4.new_code_cell("np.allclose = lambda *a, **k: True"))
    put("erin", "06-self-attention", nb)
    put("frank", "01-one-hot", '{"cells": [')
    put("frank", "02-rnn", _nb("solutions", "02-rnn"), name="my-rnn")
    for a, code in (("03-bptt", "import os\nos._exit(3)"), ("04-gradients", "while True:\n    pass")):
        nb = _nb("solutions", a)
        nb.cells.insert(3, nbformat.v4.new_code_cell(code))
        put("frank", a, nb)
    nb = _nb("solutions", "01-one-hot")
    nb.cells.append(nbformat.v4.new_code_cell("print('x' * 300_000)"))
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    put("gina", "01-one-hot", nb)
    roster = dest / "roster.csv"
    roster.write_text("student_id\nalice\nbob\ncarol\ndave\nerin\nfrank\nhenry\n")
    return roster


def grade(checkout: Path, submitted: Path, roster: Path, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(submitted), "--out", str(out), "--roster", str(roster),
                    "--cell-timeout", "10", "--no-progress"], cwd=checkout, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - t0


def _bridge(path: Path) -> list[tuple]:
    """Per summary.csv row, the bridge's calls and bytes (the bytes of VARY's chapters vary from run to run)."""
    with path.open(encoding="utf-8-sig") as f:
        return [(r["assignment"], r["item"], r["bridge_calls"], None if r["assignment"] in VARY else r["bridge_bytes"])
                for r in csv.DictReader(f)]


def compare(before: Path, after: Path) -> list[str]:
    """What differs, one line each (empty: the same)."""
    lines = [f"{name} differs" for name in COMPARED if not filecmp.cmp(before / name, after / name, shallow=False)]
    if _bridge(before / "summary.csv") != _bridge(after / "summary.csv"):
        lines.append("summary.csv: the bridge's calls or bytes differ")
    pages = sorted(p.relative_to(before) for p in (before / "feedback").rglob("*.html"))
    if pages != sorted(p.relative_to(after) for p in (after / "feedback").rglob("*.html")):
        lines.append("feedback/: not the same pages")
    for page in pages:
        if not filecmp.cmp(before / page, after / page, shallow=False):
            varies = " (its training output varies from run to run)" if page.parts[2] in VARY else ""
            lines.append(f"{page} differs{varies}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="a checkout of the grader before the change")
    parser.add_argument("--keep", type=Path, help="keep the batch and both outputs here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="same-grades-"))
    work.mkdir(parents=True, exist_ok=True)
    roster = batch(work)
    for name, checkout in (("before", args.before.resolve()), ("after", ROOT)):
        shutil.rmtree(work / name, ignore_errors=True)
        print(f"{name}: {checkout}: {grade(checkout, work / 'submitted', roster, work / name):.1f} s "
              f"(load {Path('/proc/loadavg').read_text().split()[0]})", flush=True)
    lines = compare(work / "before", work / "after")
    print("\n".join(lines) or "the same: grades.csv, cells.csv, mistakes.csv, the bridge's calls and bytes, every feedback page")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return int(any("varies" not in line for line in lines))


if __name__ == "__main__":
    sys.exit(main())

"""The instructor's outputs: grades.csv, cells.csv, summary.csv and the printed summary.

CSV files are UTF-8 with a byte-order mark and every text field quoted, so that a spreadsheet
opens ids with commas, quotes and non-ASCII characters correctly. ``--only STUDENT`` replaces
that student's rows and keeps everyone else's exactly as they were.
"""
from __future__ import annotations

import csv
import statistics
from pathlib import Path

from .plan import CELLS_COLUMNS, GRADES_COLUMNS
from .records import Status

#: What grading cost, per submission, on each assignment's total row (blank on cell rows): the
#: seconds a worker spent on it, and the calls, bytes (both ways) and seconds of waiting on the
#: student's kernel across the judge's bridge. Timings, so a --force regrade changes them.
COST_COLUMNS = ["seconds", "bridge_calls", "bridge_bytes", "bridge_seconds"]
SUMMARY_COLUMNS = ["assignment", "item", "notebook", "students", "mean", "median", "max_score", "lost", *COST_COLUMNS]


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, fieldnames=columns, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in columns})
    tmp.replace(path)


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("score", "max_score"):
            if k in r:
                r[k] = float(r[k])
    return rows


def merge_rows(report, cell_rows: list[dict], out: Path, *, partial: bool, dest: Path | None = None) -> None:
    """Fill report.cells / report.grades (this run's rows) and write the CSVs (merged when partial).

    ``out`` holds the CSVs of earlier runs (read when partial); the new ones go to ``dest``
    (default ``out``; grade.py writes them into its staging folder and moves them at the end).
    """
    dest = dest or out
    report.cells = cell_rows
    grades = {}
    for r in cell_rows:
        g = grades.setdefault((r["student_id"], r["assignment"]),
                              dict(student_id=r["student_id"], assignment=r["assignment"], score=0.0, max_score=0.0))
        g["score"] += r["score"]
        g["max_score"] += r["max_score"]
    report.grades = list(grades.values())
    all_cells, all_grades = cell_rows, report.grades
    if partial:
        mine = {(r["student_id"], r["assignment"]) for r in cell_rows}
        all_cells = [r for r in read_csv(out / "cells.csv") if (r["student_id"], r["assignment"]) not in mine] + cell_rows
        all_grades = [r for r in read_csv(out / "grades.csv") if (r["student_id"], r["assignment"]) not in mine] + report.grades
        order = {}
        for r in all_cells:
            order.setdefault((r["assignment"], r["notebook"], r["grade_id"]), len(order))
        all_cells.sort(key=lambda r: (r["student_id"], r["assignment"], order[(r["assignment"], r["notebook"], r["grade_id"])]))
        all_grades.sort(key=lambda r: (r["student_id"], r["assignment"]))
    report.all_cells, report.all_grades = all_cells, all_grades
    write_csv(dest / "grades.csv", GRADES_COLUMNS, all_grades)
    write_csv(dest / "cells.csv", CELLS_COLUMNS, all_cells)


def _cost(results: list, assignment: str) -> dict:
    """Means per submission of ``assignment`` over ``results`` (``records.JobResult``, graded
    or reused): worker seconds, and calls, bytes and seconds on the judge's bridge summed over the
    submission's notebooks. A figure no result carries is blank."""
    mine = [r for r in results if r.assignment == assignment]
    per = {k: [] for k in COST_COLUMNS}
    for r in mine:
        if r.seconds is not None:
            per["seconds"].append(r.seconds)
        bridges = [nb.bridge for nb in r.notebooks.values()]
        if bridges and all(b is not None for b in bridges):  # one without figures would make the sum a guess
            for k in ("calls", "bytes", "seconds"):
                per[f"bridge_{k}"].append(sum(getattr(b, k) for b in bridges))
    return {k: round(statistics.mean(v), 4) if v else "" for k, v in per.items()}


def _summary(report, results: list) -> list[dict]:
    rows = []
    grades, cells = report.all_grades, report.all_cells
    for a in sorted({g["assignment"] for g in grades}):
        scores = [g["score"] for g in grades if g["assignment"] == a]
        mx = max(g["max_score"] for g in grades if g["assignment"] == a)
        rows.append(dict(assignment=a, item="total", notebook="", students=len(scores), mean=round(statistics.mean(scores), 4),
                         median=statistics.median(scores), max_score=mx,
                         lost=sum(1 for s in scores if s < mx), **_cost(results, a)))
        seen = []
        for c in cells:
            if c["assignment"] == a and (c["notebook"], c["grade_id"]) not in seen:
                seen.append((c["notebook"], c["grade_id"]))
        for nb, gid in seen:
            cs = [c for c in cells if c["assignment"] == a and c["notebook"] == nb and c["grade_id"] == gid]
            sc = [c["score"] for c in cs]
            rows.append(dict(assignment=a, item=gid, notebook=nb, students=len(cs), mean=round(statistics.mean(sc), 4),
                             median=statistics.median(sc), max_score=cs[0]["max_score"],
                             lost=sum(1 for c in cs if c["score"] < c["max_score"]), **dict.fromkeys(COST_COLUMNS, "")))
    return rows


def write_summary(report, path: Path, results: list = ()) -> None:
    """``results``: this run's per-submission results (graded and reused), for the cost columns."""
    report.summary = _summary(report, list(results))
    write_csv(path, SUMMARY_COLUMNS, report.summary)


def summary_lines(report) -> list[str]:
    """Per assignment: students, mean and median, what could not be graded; then how many lost each cell."""
    lines = []
    cells = report.all_cells
    for row in report.summary:
        a = row["assignment"]
        if row["item"] == "total":
            bad = sorted({p.student_id for p in report.problems if p.assignment == a})
            missing = sorted({c["student_id"] for c in cells if c["assignment"] == a and c["status"] == Status.MISSING})
            tampered = sorted({c["student_id"] for c in cells if c["assignment"] == a and c["status"] == Status.TAMPERED})
            lines.append(
                f"{a}: {row['students']} students, mean {row['mean']:.2f} / {row['max_score']:g}, median {row['median']:g}"
                + (f", {len(missing)} missing" if missing else "")
                + (f", {len(bad)} with problems" if bad else "")
                + (f", {len(tampered)} flagged tampered ({', '.join(tampered[:5])}{', ...' if len(tampered) > 5 else ''})" if tampered else "")
            )
        else:
            lines.append(f"  {row['item']:<40} {row['max_score']:g} pt  lost by {row['lost']} of {row['students']}")
    return lines

"""The class report: what the class got wrong, written by every grading run beside grades.csv.

- ``OUT/mistakes.csv``: ``student_id, assignment, function, grade_id, mistake``, one row per test
  cell lost to a mistake in the student's code; ``mistake`` is the likely mistake the failing check
  named, empty when it named none. Quoted like the other CSVs (results.write_csv).
- ``OUT/report/index.html`` and ``OUT/report/<assignment>.html``: per assignment the score
  distribution, each test cell's losses and why, per function the named mistakes counted across the
  class with excerpts of the answers that made them (no student id on any page), the failures that
  are not mistakes in the code, and how the run went.

Where the data come from: the cells.csv rows, and each submission's result (this run's, graded or
reused; for the students a ``--only`` run leaves alone, the one stored in ``OUT/.cache``), whose
rows say why a cell was lost (causes.py: carried as data from the judge's checks, never read from a
message) and which keep the answer cells of the mistakes (excerpts.py). counts.py counts,
plots.py draws, pages.py writes HTML.

The pages are rewritten only when what they report changes (a digest of the counts, excerpts and
the report's own code, kept in index.html): an unchanged rerun leaves them byte for byte as they
were, and its own run figures (graded, reused) do not count as a change.
"""
from __future__ import annotations

import hashlib
import re
from importlib.metadata import version
from pathlib import Path
from typing import Callable

from ..records import Status
from .counts import MISTAKES_COLUMNS, Finding, count, mistakes_rows
from .pages import RunFacts, all_pages

__all__ = ["REPORT_DIR", "MISTAKES_CSV", "MISTAKES_COLUMNS", "RunFacts", "gather", "write"]

REPORT_DIR = "report"
MISTAKES_CSV = "mistakes.csv"
_DIGEST = re.compile(r'<meta name="report-digest" content="([0-9a-f]{64})">')


def gather(cells: list[dict], results: list, stored: Callable[[str, str], object]) -> tuple[list[Finding], dict]:
    """The findings behind ``cells`` (the cells.csv rows) and the answers of the named mistakes:
    (findings, {(student_id, assignment, function): answer cell source}).

    ``results``: this run's ``records.JobResult`` (graded and reused); ``stored(student, assignment)``
    gives the stored result of a submission this run did not touch. A row whose stored score differs
    from cells.csv (a stale result) is left out rather than guessed at.
    """
    by_key = {(r.student, r.assignment): r for r in results}
    findings, answers, seen = [], {}, set()
    for c in cells:
        if not Status(c["status"]).graded:
            continue
        key = (c["student_id"], c["assignment"])
        if key not in by_key:
            by_key[key] = stored(*key)
        result = by_key[key]
        nb = result.notebooks.get(c["notebook"]) if result is not None else None
        cell = nb.verdict(c["grade_id"]) if nb else None
        if cell is None or cell.score != float(c["score"]):
            continue
        lost = float(c["score"]) < float(c["max_score"])
        cause = (cell.cause or "mistake") if lost else ""
        f = Finding(c["student_id"], c["assignment"], c["notebook"], c["grade_id"], cause,
                    cell.mistake if cause == "mistake" else "", cell.flag)
        if f.cause or f.flag:
            findings.append(f)
        if (key, c["notebook"]) not in seen:
            seen.add((key, c["notebook"]))
            for function, source in (nb.answers or {}).items():
                answers[(c["student_id"], c["assignment"], function)] = source
    return findings, answers


def _digest(reports) -> str:
    """What the pages say, apart from the run that wrote them: the counts and excerpts, the report's
    own code and the versions of the libraries that draw it."""
    h = hashlib.sha256(repr(reports).encode())
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    for dist in ("matplotlib", "pygments", "numpy"):
        h.update(f"{dist}={version(dist)}".encode())
    return h.hexdigest()


def _published_digest(folder: Path) -> str | None:
    try:
        m = _DIGEST.search((folder / "index.html").read_text(encoding="utf-8")[:20000])
    except OSError:
        return None
    return m[1] if m else None


def _plot(report, theme) -> bytes:
    from .plots import score_histogram

    return score_histogram(list(report.scores), report.max_score, report.submitted_mean, report.submitted_median, theme)


def write(dest: Path, published: Path, cells: list[dict], results: list, stored, run: RunFacts,
          problems: list[tuple[str, str]] = ()) -> bool:
    """Write ``mistakes.csv`` and the report's folder into ``dest`` (grade.py's staging folder); the
    folder only when its pages would differ from those in ``published`` (OUT). Returns whether it
    wrote the pages. ``problems``: (student_id, assignment) of the run's problems (see counts.count)."""
    from ..results import write_csv

    findings, answers = gather(cells, results, stored)
    write_csv(dest / MISTAKES_CSV, MISTAKES_COLUMNS, mistakes_rows(cells, findings))
    reports = count(cells, findings, answers, problems)
    digest = _digest(reports)
    if _published_digest(published / REPORT_DIR) == digest:
        return False
    folder = dest / REPORT_DIR
    folder.mkdir()
    for name, html in all_pages(reports, run, digest, _plot).items():
        (folder / name).write_text(html, encoding="utf-8")
    return True

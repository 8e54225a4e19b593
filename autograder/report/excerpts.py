"""Excerpts of the answers that made a mistake: kept when a notebook is graded, chosen and
anonymised when the class report is written.

A worker keeps, per notebook, the answer cells (``grade_id`` = the contract name) of the
functions whose tests named a mistake, and only those, so a stored result stays small
(``answers_with_mistakes``). The report shows at most ``PER_MISTAKE`` of them for each mistake:
the commonest distinct answers first (ties: the shorter, then by text), so the same results always
give the same choice whoever made them. Student ids are blanked out of the text
(``anonymise``); the page escapes it.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .causes import function_of

#: Characters of one answer cell kept in a stored result.
STORED_CHARS = 8000
#: Excerpts shown per mistake, and the lines and characters of each.
PER_MISTAKE = 2
SHOWN_LINES = 40
SHOWN_CHARS = 3000
#: What a student id in an excerpt becomes. Ids shorter than this many characters are left alone
#: (an id "x" would blank out every variable x).
REDACTED = "[student]"
MIN_ID_CHARS = 3


def answers_with_mistakes(cells, verdicts) -> dict[str, str]:
    """The answer cells (``assemble.RunCell`` of kind "solution") of the functions that one of
    ``verdicts`` (``records.CellVerdict``) found a named mistake in: grade_id -> source."""
    named = {function_of(v.grade_id) for v in verdicts if v.mistake}
    return {rc.grade_id: rc.source[:STORED_CHARS] for rc in cells
            if rc.kind == "solution" and rc.grade_id in named}


@dataclass(frozen=True)
class Excerpt:
    text: str      # anonymised and cut, not yet escaped
    students: int  # how many of the students who made the mistake wrote this answer (up to blank lines)
    cut: bool      # lines or characters were left out


def _normal(source: str) -> str:
    """An answer without trailing spaces and blank lines at either end: two students whose cells
    differ only there wrote the same answer."""
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines()).strip("\n")


def anonymiser(student_ids) -> Callable[[str], str]:
    """A function that blanks out of a text every id of ``student_ids`` (case-insensitive, where
    it is not part of a longer word or number)."""
    ids = sorted({i for i in student_ids if len(i) >= MIN_ID_CHARS}, key=lambda i: (-len(i), i))
    if not ids:
        return lambda text: text
    pattern = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, ids)) + r")(?![A-Za-z0-9])", re.I)
    return lambda text: pattern.sub(REDACTED, text)


def choose(answers: list[str], anonymise) -> list[Excerpt]:
    """Up to ``PER_MISTAKE`` excerpts of ``answers`` (one per student who made the mistake)."""
    counts = Counter(_normal(anonymise(a)) for a in answers if a and a.strip())  # blanked first: ids never group
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[:PER_MISTAKE]
    out = []
    for text, n in ranked:
        shown = "\n".join(text.splitlines()[:SHOWN_LINES])[:SHOWN_CHARS]
        out.append(Excerpt(shown, n, cut=shown != text))
    return out

"""What counts as a leak (DESIGN.md): a line of a solution or hidden-test block, 30 characters or
longer once stripped and not a comment, that appears in a published file."""
from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

from tests.harness import ROOT

MIN_LEN = 30
_BLOCKS = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
_TAGS = re.compile(r"<[^>]+>")


def secret_lines(root: Path = ROOT) -> dict[str, str]:
    """line -> where it comes from, for every solution and hidden-test line of every source notebook."""
    lines = {}
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for _, block in _BLOCKS.findall(cell.source):
                for line in block.splitlines():
                    s = line.strip()
                    if len(s) >= MIN_LEN and not s.startswith("#"):
                        lines.setdefault(s, f"{path.name} ({cell.metadata.get('nbgrader', {}).get('grade_id')})")
    return lines


def published_text(path: Path) -> str:
    """The text of a published file as a reader could see it (HTML tags stripped and unescaped too)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".html", ".htm"):
        text = text + "\n" + html.unescape(_TAGS.sub("", text))
    if path.suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        text = text + "\n" + "\n".join(c.source for c in nb.cells)
    return text


def find_leaks(files, secrets: dict[str, str] | None = None) -> list[str]:
    secrets = secret_lines() if secrets is None else secrets
    found = []
    for path in files:
        text = published_text(path)
        found += [f"{path}: {line!r} from {src}" for line, src in secrets.items() if line in text]
    return found

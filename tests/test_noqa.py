"""Every ``noqa`` in the course's Python says which rule it silences and why (``# noqa: BLE001 - why``).

ruff (``make lint``, settings in pyproject.toml) refuses a ``noqa`` that silences nothing; this
refuses one that does not say why, so the next reader can judge whether the reason still holds.
"""
from __future__ import annotations

import re
import subprocess

from tests.harness import ROOT

NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)$")
JUSTIFIED = re.compile(r":\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*\s+-\s+\S")


def _tracked_python() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.py"], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_every_noqa_names_its_rule_and_says_why():
    unexplained = []
    for rel in _tracked_python():
        for n, line in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1):
            m = NOQA.search(line)
            if m and not JUSTIFIED.match(m["rest"]):
                unexplained.append(f"{rel}:{n}: {line.strip()}")
    assert not unexplained

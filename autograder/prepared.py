"""What preparing assignments produces, kept between runs, so that an unchanged course prepares in
a file copy instead of ``nbgrader generate_assignment`` (seconds per assignment) and a ``git show``
per earlier release of each notebook.

- ``Prepared``: the gradebook rows of the assignments (a gradebook nbgrader's generate_assignment
  wrote, before any submission) and each notebook's source and release JSON, keyed by what they
  are made of: the grader (``store.grader_digest``: its code, nbgrader's version) and every file of
  the assignments' source folders. A full run copies the gradebook and adds its submissions.
- ``history``: the test cells of a notebook's earlier releases (gradebook.release_history), keyed
  by the repository's commit.

The cache lives in the course's build folder (``_build/grading-cache``, git-ignored, hidden from
students' kernels like the rest of the course); deleting it only costs the next run the time.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import course
from .store import grader_digest

#: Entries kept (the oldest go first).
KEEP = 16


def cache_dir(root: Path) -> Path:
    return root / "_build" / "grading-cache"


@dataclass(frozen=True)
class Prepared:
    """A gradebook holding only the assignments, and their notebooks' texts."""

    gradebook: Path
    notebooks: dict  # assignment -> notebook -> {"source_json", "release_json"}


def key(root: Path, assignments: list[str]) -> str:
    h = hashlib.sha256(grader_digest(root).encode())
    for a in sorted(assignments):
        folder = root / course.SOURCE_DIR / a
        h.update(f"\0{a}".encode())
        for p in sorted(folder.rglob("*")):
            if p.is_file() and ".ipynb_checkpoints" not in p.parts:
                h.update(f"\0{p.relative_to(folder).as_posix()}\0".encode() + p.read_bytes())
    return h.hexdigest()[:32]


def load(root: Path, assignments: list[str]) -> Prepared | None:
    entry = cache_dir(root) / f"assignments-{key(root, assignments)}"
    try:
        notebooks = json.loads((entry / "notebooks.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (entry / "gradebook.db").is_file() or sorted(notebooks) != sorted(assignments):
        return None
    os.utime(entry)  # recently used: kept longest
    return Prepared(entry / "gradebook.db", notebooks)


def save(root: Path, assignments: list[str], gradebook: Path, notebooks: dict) -> None:
    """Keep what a run prepared (before it added any submission to ``gradebook``). Never fails a run."""
    base = cache_dir(root)
    try:
        base.mkdir(parents=True, exist_ok=True)
        entry = base / f"assignments-{key(root, assignments)}"
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=".new-"))
        shutil.copyfile(gradebook, tmp / "gradebook.db")
        texts = {a: {nb: {k: v[k] for k in ("source_json", "release_json")} for nb, v in nbs.items()}
                 for a, nbs in notebooks.items()}
        (tmp / "notebooks.json").write_text(json.dumps(texts), encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
        _prune(base)
    except OSError:
        shutil.rmtree(locals().get("tmp", base / ".none"), ignore_errors=True)


def history(root: Path, assignment: str, notebook: str, compute: Callable[[], dict]) -> dict:
    """``compute()`` (the earlier releases' test cells of one notebook), kept per commit of the repository."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = ""
    if not head:
        return compute()
    path = cache_dir(root) / "history" / f"{head}-{assignment}-{notebook}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return value


def _prune(base: Path) -> None:
    entries = sorted((p for p in base.glob("assignments-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in entries[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    histories = sorted((base / "history").glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in histories[:-KEEP * 20]:
        old.unlink(missing_ok=True)


def read_key(path: Path | None) -> str | None:
    """The key a run wrote with ``write_key`` beside the gradebook it published (None: none)."""
    try:
        return path.read_text(encoding="utf-8").strip() if path is not None else None
    except OSError:
        return None


def write_key(path: Path, value: str) -> None:
    """Say which sources the published gradebook's assignments were prepared from (``key``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value + "\n", encoding="utf-8")
    os.replace(tmp, path)

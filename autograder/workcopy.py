"""Students' working copies: ``work/<id>/``, made from the release, never rewritten by a release.

The release (``notebooks/<id>/``) is generated: ``make book`` and ``python -m autograder release``
replace it whenever a source notebook changes, so a student never works there. Their notebook is
``work/<id>/<id>.ipynb`` (git-ignored; nbgrader's ``fetch_assignment`` and the Assignment List put
a fetched assignment in the same place, ``Exchange.assignment_dir`` in course.py):

- ``open_copy``, the student's command (``python -m autograder open 02-rnn``): makes the working
  copy from the release on first open, and remembers that release (``work/.course/<id>/``). When
  the release has changed since, it brings the changes into the copy cell by cell (``merge``): a
  cell the student did not edit takes the release's new text; a cell the student edited stays
  theirs, and a line names it (the release's version is in ``notebooks/<id>/``). The copy as it
  was before is kept beside the record.
- ``Rescue``, what ``release.py`` does before it regenerates: a file of ``notebooks/<id>/`` that
  differs from what was generated there (a notebook a student edited in place, as the README once
  said to, or a file they added) is copied to the working copy's place first, and one line says
  where. What was generated is known from ``_build/release-record/<id>/`` (written after each
  release), else from git (a committed file with local changes); a file neither knows is kept
  when the new release does not write the same bytes.
"""
from __future__ import annotations

import filecmp
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import course

#: Beside the working copies: the release each copy was made from or last brought up to date with,
#: and the copies as they were before an update.
RECORDS = ".course"
#: What ``release.py`` generated last, file by file (``_build/release-record/<id>/``).
RELEASE_RECORD = Path("_build") / "release-record"


def _files(folder: Path) -> list[Path]:
    """The files of a release or working folder, relative to it (checkpoints left out)."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and ".ipynb_checkpoints" not in p.parts)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- the three-way merge of cells


@dataclass
class Merge:
    """What bringing a release's changes into a working copy did, cell by cell (labels)."""

    updated: list[str] = field(default_factory=list)    # the release changed it, the student had not
    added: list[str] = field(default_factory=list)      # new in the release
    removed: list[str] = field(default_factory=list)    # the release dropped it, the student had not edited it
    conflicts: list[str] = field(default_factory=list)  # both changed it: the student's version stays

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.added or self.removed)


def _key(cell) -> str:
    """A cell's identity across releases and copies: nbgrader's grade_id, else the cell's id."""
    gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    return f"grade:{gid}" if gid else f"id:{cell.get('id')}"


def _same(a, b) -> bool:
    """Whether two versions of a cell read the same (outputs and editor metadata aside)."""
    return (a.cell_type == b.cell_type and a.source == b.source
            and (a.get("metadata", {}).get("nbgrader") or {}) == (b.get("metadata", {}).get("nbgrader") or {}))


def _label(cell) -> str:
    gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    if gid:
        return gid
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"{cell.cell_type} cell '{first[:40]}'"


def _fresh(theirs, ours):
    """The release's version of a cell, in the student's copy: no outputs, the copy's cell id."""
    cell = nbformat.from_dict(dict(theirs))
    if "id" in ours:
        cell["id"] = ours["id"]
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def merge(base, ours, theirs):
    """Bring the changes from release ``base`` to release ``theirs`` into ``ours``, the student's
    copy made from ``base``; returns (the merged notebook, ``Merge``).

    Cells are matched by nbgrader's ``grade_id``, else by cell id (the release keeps the source's
    ids; a cell the student inserted has a new one). A cell the student did not edit takes the
    release's new version; one they edited stays as they wrote it, also when the release changed it
    too (a conflict); a cell new in the release goes after the cell it follows there; one the release
    dropped goes unless the student edited it. The student's own cells, their order and deletions,
    and the notebook's metadata stay.
    """
    old = {_key(c): c for c in base.cells}
    new = {_key(c): c for c in theirs.cells}
    report = Merge()
    cells = []
    for cell in ours.cells:
        k = _key(cell)
        if k not in old:  # the student's own cell
            cells.append(cell)
        elif k not in new:  # the release dropped it
            if _same(cell, old[k]):
                report.removed.append(_label(cell))
            else:
                cells.append(cell)
        elif _same(new[k], old[k]):  # the release did not change it
            cells.append(cell)
        elif _same(cell, old[k]):
            cells.append(_fresh(new[k], cell))
            report.updated.append(_label(new[k]))
        else:
            cells.append(cell)
            report.conflicts.append(_label(cell))
    for i, cell in enumerate(theirs.cells):
        k = _key(cell)
        if k in old:
            continue
        placed = {_key(c): j for j, c in enumerate(cells)}
        after = next((placed[_key(p)] for p in reversed(theirs.cells[:i]) if _key(p) in placed), -1)
        cells.insert(after + 1, _fresh(cell, cell))
        report.added.append(_label(cell))
    merged = nbformat.from_dict(dict(ours))
    merged.cells = cells
    return merged, report


# ---------------------------------------------------------------- the student's command


@dataclass
class Opened:
    """The working copy ``open_copy`` made or brought up to date, and what it says (one line each)."""

    notebook: Path
    lines: list[str] = field(default_factory=list)


def working_folder(assignment: str, root: Path = course.ROOT) -> Path:
    return root / course.WORK_DIR / assignment


def record_folder(assignment: str, root: Path = course.ROOT) -> Path:
    """The release this assignment's working copy was made from, file by file."""
    return root / course.WORK_DIR / RECORDS / assignment


def open_copy(assignment: str, root: Path = course.ROOT) -> Opened:
    """Make ``work/<id>/`` from the release if it is not there; otherwise bring in what the release
    changed since (``merge``), keeping every cell the student edited. Never removes a student's file."""
    known = course.assignments(root)
    if assignment not in known:
        raise ValueError(f"no assignment {assignment!r}; the course has {', '.join(known)}")
    release = root / course.RELEASE_DIR / assignment
    if not _files(release):
        raise FileNotFoundError(f"{_rel(release, root)}/ is missing: run `make book` (it generates the release) first")
    work, record = working_folder(assignment, root), record_folder(assignment, root)
    opened = Opened(work / f"{assignment}.ipynb")
    new_copy = not opened.notebook.exists()
    for rel in _files(release):
        src, dest, base = release / rel, work / rel, record / rel
        if not dest.exists():
            _copy(src, dest)
            _copy(src, base)
            if not new_copy:
                opened.lines.append(f"added the release's new file {_rel(dest, root)}")
        elif not base.exists():  # fetched with nbgrader, or kept by a release: counts as made from this release
            _copy(src, base)
        elif not filecmp.cmp(base, src, shallow=False):
            lines, brought = _update(src, dest, base, root)
            opened.lines += lines
            if brought:  # else the next open tries again
                _copy(src, base)
    if new_copy:
        opened.lines.insert(0, f"made your working copy {_rel(work, root)}/ from the release "
                               f"(`make book` never changes it; your answers go in {_rel(opened.notebook, root)})")
    return opened


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def _update(src: Path, dest: Path, base: Path, root: Path) -> tuple[list[str], bool]:
    """Bring the release's change of one file into the working copy: (lines saying what happened,
    whether the change was dealt with)."""
    shown, fresh = _rel(dest, root), _rel(src, root)
    if dest.suffix != ".ipynb":
        if filecmp.cmp(dest, base, shallow=False):
            _copy(src, dest)
            return [f"updated {shown} from the new release"], True
        return [f"kept your edited {shown}; the new release's version is {fresh}"], True
    try:
        ours = nbformat.read(dest, as_version=4)
        merged, report = merge(nbformat.read(base, as_version=4), ours, nbformat.read(src, as_version=4))
    except Exception as e:  # noqa: BLE001 - a copy that does not parse is left exactly as it is
        return [f"kept {shown} as it is: it could not be read as a notebook ({type(e).__name__}); "
                f"the new release is {fresh}"], False
    lines = []
    if report.changed:
        backup = base.parent / f"{dest.stem}.before-{_stamp()}{dest.suffix}"
        _copy(dest, backup)
        nbformat.write(merged, dest)
        parts = [f"{len(v)} {what} ({', '.join(v)})" for what, v in
                 (("updated", report.updated), ("added", report.added), ("removed", report.removed)) if v]
        lines.append(f"brought the release's changes into {shown}: cells {'; '.join(parts)}; your answers "
                     f"are kept (the copy as it was: {_rel(backup, root)})")
    if report.conflicts:
        lines.append(f"kept your version of {len(report.conflicts)} cell(s) that the release also changed "
                     f"({', '.join(report.conflicts)}): compare them with the new release, {fresh}")
    return lines, True


def behind(root: Path = course.ROOT) -> list[str]:
    """One line per working copy whose release changed since it was made or brought up to date."""
    lines = []
    for record in sorted((root / course.WORK_DIR / RECORDS).glob("*")):
        a, release = record.name, root / course.RELEASE_DIR / record.name
        if not working_folder(a, root).is_dir() or not release.is_dir():
            continue
        changed = [rel for rel in _files(release)
                   if (record / rel).exists() and not filecmp.cmp(record / rel, release / rel, shallow=False)]
        if changed:
            lines.append(f"{_rel(working_folder(a, root), root)}/: the release changed since your copy was made; "
                         f"`.venv/bin/python -m autograder open {a}` brings the changes in and keeps your answers")
    return lines


# ---------------------------------------------------------------- a release meets an edited notebook


@dataclass
class Kept:
    """A file of ``notebooks/<id>/`` that differs from what was generated there: the student's."""

    assignment: str
    rel: Path             # inside notebooks/<id>/
    data: bytes
    made_from: bytes | None  # the generated version it was edited from, when known


class Rescue:
    """Before a release regenerates ``notebooks/<id>/``: take out what a student changed there.

    ``before()`` finds the files that differ from what was generated (the record, else git) and
    copies them to the working copy's place at once, so that nothing depends on the regeneration
    finishing; a file with no record either way is held in memory and kept after the regeneration
    only if it differs from the new release. ``after()`` does that, then records what was generated.
    """

    def __init__(self, root: Path, assignments: list[str]):
        self.root, self.assignments = root, assignments
        self.lines: list[str] = []
        self._unknown: list[Kept] = []

    def before(self) -> None:
        changed = _git_changes(self.root, self.assignments)  # None: not a git checkout
        for a in self.assignments:
            release, record = self.root / course.RELEASE_DIR / a, self.root / RELEASE_RECORD / a
            for rel in _files(release):
                path = f"{course.RELEASE_DIR}/{a}/{rel.as_posix()}"
                if changed is not None and path not in changed:
                    continue  # as committed, and the committed release is generated (tests/test_release.py)
                data = (release / rel).read_bytes()
                generated = (record / rel).read_bytes() if (record / rel).is_file() else None
                if data == generated:
                    continue  # as the last release generated it (say, not committed yet)
                if record.is_dir():  # not what was generated, or not generated at all (a file of the student's)
                    self._keep(Kept(a, rel, data, generated))
                elif changed is not None and changed.get(path) is not None:  # a committed file, edited
                    self._keep(Kept(a, rel, data, changed[path]))
                else:  # untracked, or no git: decided once the new release is there
                    self._unknown.append(Kept(a, rel, data, None))

    def after(self, regenerated: list[str]) -> None:
        """Once ``regenerated`` (those the release reached, the last maybe not to the end) are."""
        for kept in self._unknown:
            fresh = self.root / course.RELEASE_DIR / kept.assignment / kept.rel
            if kept.assignment in regenerated and (not fresh.exists() or fresh.read_bytes() != kept.data):
                self._keep(kept)
        self._unknown = []
        for a in regenerated:
            release, record = self.root / course.RELEASE_DIR / a, self.root / RELEASE_RECORD / a
            shutil.rmtree(record, ignore_errors=True)
            if release.is_dir():
                shutil.copytree(release, record, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))

    def _keep(self, kept: Kept) -> None:
        root, work = self.root, working_folder(kept.assignment, self.root)
        was = f"{course.RELEASE_DIR}/{kept.assignment}/{kept.rel.as_posix()}"
        dest = work / kept.rel
        if dest.exists():  # the student has a working copy too: this one goes beside it
            dest = dest.with_name(f"{dest.stem}.kept-{_stamp()}{dest.suffix}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(kept.data)
            self.lines.append(f"kept your edited {was} as {_rel(dest, root)} before regenerating the release "
                              f"(your working copy {_rel(work / kept.rel, root)} is as it was)")
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(kept.data)
        if kept.made_from is not None:  # so that `open` can bring in what the new release changes
            base = record_folder(kept.assignment, root) / kept.rel
            base.parent.mkdir(parents=True, exist_ok=True)
            base.write_bytes(kept.made_from)
        self.lines.append(f"kept your edited {was} as {_rel(dest, root)} before regenerating the release; "
                          f"work there from now on: `.venv/bin/python -m autograder open {kept.assignment}`")


def _git_changes(root: Path, assignments: list[str]) -> dict[str, bytes | None] | None:
    """Files of ``notebooks/<id>/`` that git sees changed (path -> the committed version) or
    untracked (path -> None); None when ``root`` is not a git checkout (or git is missing)."""
    paths = [f"{course.RELEASE_DIR}/{a}" for a in assignments]
    try:
        top = subprocess.run(["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True, timeout=60)
        if top.returncode != 0:
            return None
        out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths],
                             cwd=root, capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = top.stdout.strip()
    changes: dict[str, bytes | None] = {}
    for entry in out.decode("utf-8", "surrogateescape").split("\0"):
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        path = path[len(prefix):] if prefix and path.startswith(prefix) else path
        if status == "??":
            changes[path] = None
        elif "M" in status:
            shown = subprocess.run(["git", "show", f":./{path}"], cwd=root, capture_output=True, timeout=60)
            changes[path] = shown.stdout if shown.returncode == 0 else None
    return changes

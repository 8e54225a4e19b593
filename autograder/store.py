"""Grading as the term goes on: what a submission's result depends on, and the results kept.

Each job has a *fingerprint* (``fingerprint``), a hash of all that decides its result: the
student's files, the assignment's source and release notebooks and release history, the grader's
own code (``autograder/``, ``seqlab/``, the versions of Python and the libraries it runs), the
limits (``limits.Limits``) and whether operators are recorded. ``ResultStore`` keeps each finished
result under ``OUT/.cache/<student>/<assignment>.json`` with the fingerprint it was graded under; a later run
reuses it while the fingerprint is unchanged, so it grades only what is new or changed, and a run
stopped midway keeps what it finished.

A ``--force`` run regrades everything, so results stored before it do not count; but when it is
stopped midway, the same command run again finishes it rather than starting over. Each run has an
id written into every result it stores; a ``--force`` run leaves its id in ``.forced-run`` until a
run completes, and a ``--force`` run that finds one continues that run: it reuses the results
stored under that id (still only under the same fingerprint) and grades the rest.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

from .records import Job, JobResult

#: Libraries whose version can change a grade or a feedback page.
FINGERPRINT_DISTRIBUTIONS = ("numpy", "torch", "ipython", "nbformat", "nbconvert", "nbgrader")


def _feed(h, *parts) -> None:
    """Hash each part with its length in front, so that no two sequences of parts hash alike."""
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)


def _package_dir(name: str, fallback: Path) -> Path:
    spec = importlib.util.find_spec(name)  # finds a top-level package without importing it
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return fallback


def grader_digest(root: Path) -> str:
    """Hash of the grader itself: every file of ``autograder/`` and of the ``seqlab`` the kernels
    import, Python's version and the versions of ``FINGERPRINT_DISTRIBUTIONS``. Any edit to the
    grader's code invalidates every stored result."""
    h = hashlib.sha256()
    for pkg in (Path(__file__).resolve().parent, _package_dir("seqlab", root / "seqlab")):
        for p in sorted(pkg.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                _feed(h, p.relative_to(pkg.parent).as_posix(), p.read_bytes())
    _feed(h, sys.version)
    for dist in FINGERPRINT_DISTRIBUTIONS:
        try:
            _feed(h, dist, importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            _feed(h, dist, "-")
    return h.hexdigest()


def fingerprint(job: Job, grader: str) -> str:
    """What a job's result depends on, as one hex digest; ``grader`` is ``grader_digest(root)``.

    The limits and the recorder's switch count; the hidden folders do not: they name this run's
    scratch folders, which change every run and decide nothing about the grade.
    """
    h = hashlib.sha256()
    _feed(h, "grader", grader, "limits", json.dumps(job.limits.to_json(), sort_keys=True), "record", job.record,
          "student", job.student, "assignment", job.assignment)
    for rel in sorted(job.files):
        _feed(h, "file", rel, job.files[rel])
    for name in sorted(job.notebooks):
        nb = job.notebooks[name]
        _feed(h, "notebook", name, nb.source_json, nb.release_json, json.dumps(nb.history or {}, sort_keys=True),
              nb.student_json)
    return h.hexdigest()


#: In the store's folder while a ``--force`` run has not completed: that run's id.
FORCED_RUN = ".forced-run"


class ResultStore:
    """Finished results, one JSON file per submission: ``folder/<student>/<assignment>.json``
    holding ``{"fingerprint": ..., "run": ..., "result": ...}`` (result: ``records.JobResult.to_json``;
    run, the id of the run that stored it).

    Written by the CLI process as each result arrives, atomically (a temporary file, then
    ``os.replace``), so an interrupted run leaves whole files only. A file that cannot be read
    counts as absent: that submission is graded again.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.saved = 0  # results stored by this run
        self.run = uuid.uuid4().hex

    def begin(self, *, force: bool) -> bool:
        """Start a run. A ``force`` run continues an interrupted ``--force`` run when one left its
        id (then returns True) and leaves its own id otherwise, until ``finish``."""
        if not force:
            return False
        marker = self.folder / FORCED_RUN
        try:
            earlier = marker.read_text(encoding="utf-8").strip()
        except OSError:
            earlier = ""
        if earlier:
            self.run = earlier
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(marker, self.run)
        return False

    def finish(self) -> None:
        """The run completed: no ``--force`` run is left to continue."""
        (self.folder / FORCED_RUN).unlink(missing_ok=True)

    def path(self, student: str, assignment: str) -> Path:
        return self.folder / student / f"{assignment}.json"

    def has(self, student: str, assignment: str) -> bool:
        return self.path(student, assignment).is_file()

    def load(self, job: Job, *, this_run_only: bool = False) -> JobResult | None:
        """The stored result of ``job`` if it was graded under the same fingerprint, else None;
        ``this_run_only`` (a ``--force`` run): only if this run, or the one it continues, stored it."""
        stored = self._read(job.student, job.assignment)
        if stored is None or stored.get("fingerprint") != job.fingerprint:
            return None
        if this_run_only and stored.get("run") != self.run:
            return None
        result = self._result(stored)
        if result is not None:
            result.path = job.path
        return result

    def stored(self, student: str, assignment: str) -> JobResult | None:
        """The result last stored for a submission, whatever it was graded under (None when there is
        none or it cannot be read). The class report reads those of the students that a ``--only``
        run did not grade."""
        stored = self._read(student, assignment)
        return None if stored is None else self._result(stored)

    def _read(self, student: str, assignment: str) -> dict | None:
        try:
            stored = json.loads(self.path(student, assignment).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) else None

    @staticmethod
    def _result(stored: dict) -> JobResult | None:
        try:
            return JobResult.from_json(stored["result"])
        except (KeyError, TypeError, ValueError, AttributeError):  # a damaged or older file: grade again
            return None

    @staticmethod
    def keepable(result: JobResult) -> bool:
        """Only a complete grading is kept: a notebook that could not be graded (a worker or fork
        server that died, a Ctrl-C) is graded again next run rather than remembered as a zero."""
        notebooks = result.notebooks
        return bool(notebooks) and all(nb.cells is not None and not nb.problem for nb in notebooks.values())

    def save(self, job: Job, result: JobResult) -> bool:
        if job.fingerprint is None or not self.keepable(result):
            return False
        dest = self.path(job.student, job.assignment)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(dest, json.dumps({"fingerprint": job.fingerprint, "run": self.run, "result": result.to_json()}))
        self.saved += 1
        return True


def _write_atomically(dest: Path, text: str) -> None:
    """Write ``dest`` whole or not at all: a temporary file beside it, then a rename."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

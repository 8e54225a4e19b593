"""Grading as the term goes on: Ctrl-C, resume, and reruns that grade only what is new or changed.

The slow tests grade one batch of six submissions (three students, chapters 01 and 02: solutions
and untouched releases) once without interruption, the reference, and compare every other run
with it: a run stopped by Ctrl-C and then rerun, a late submission, a changed notebook, --force.
The fast tests pin down the fingerprint and the result store on their own.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograder import store
from autograder.limits import Limits
from autograder.protocol import BridgeStats
from autograder.records import CellVerdict, Job, JobResult, NotebookJob, NotebookResult, Status
from autograder.sandbox import cleanup
from autograder.store import ResultStore, fingerprint, grader_digest
from tests.harness import ROOT, release_notebook, source_notebook

#: (student, assignment) -> the notebook submitted: six jobs, full marks and zeros mixed.
BATCH = {
    ("alice", "01-one-hot"): source_notebook, ("alice", "02-rnn"): source_notebook,
    ("bob", "01-one-hot"): release_notebook, ("bob", "02-rnn"): release_notebook,
    ("carol", "01-one-hot"): source_notebook, ("carol", "02-rnn"): release_notebook,
}
COUNTS = re.compile(r"^(\d+) submissions: (\d+) graded, (\d+) unchanged since the last run and reused", re.M)
RESUMED = re.compile(r"^(\d+) submissions: (\d+) graded, (\d+) graded by the interrupted --force run and reused$", re.M)
INTERRUPTED = re.compile(r"^interrupted: (\d+) of (\d+) submissions graded and kept; run the same command again to finish$")
TABLES = ("grades.csv", "cells.csv")


# ---------------------------------------------------------------- helpers

def _command(batch: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--workers", "2", *extra]


def _grade(batch: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(_command(batch, out, *extra), cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _counts(proc) -> tuple[int, int, int]:
    """(submissions, graded, reused) from the CLI's own line."""
    m = COUNTS.search(proc.stdout)
    assert m, proc.stdout
    return int(m[1]), int(m[2]), int(m[3])


def _lines(path: Path, student: str) -> list[str]:
    """The raw lines of a CSV whose first field (student_id) is ``student``, as written."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()[1:]
    return [line for line in lines if next(csv.reader([line]))[0] == student]


def _pages(out: Path, folder: str = "feedback") -> dict[str, bytes]:
    fb = out / folder
    return {str(p.relative_to(fb)): p.read_bytes() for p in sorted(fb.rglob("*")) if p.is_file()}


class _Stderr:
    """Reads a running process's stderr on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.thread.start()

    def wait_for(self, pattern: re.Pattern, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if pattern.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError("no line matching %r within %g s; stderr so far:\n%s" % (pattern.pattern, timeout, "".join(self.lines)))

    def text(self) -> str:
        self.thread.join(timeout=30)
        return "".join(self.lines)


def _ctrl_c_after_first_result(batch: Path, out: Path, *extra: str, before_ctrl_c=None):
    """Start a run in a session of its own, and once its progress bar shows a submission graded,
    send SIGINT to its whole process group, as Ctrl-C at a terminal does (``before_ctrl_c(process)``
    just before). Returns (exit status, stdout, stderr, the processes the run had when interrupted)."""
    proc = subprocess.Popen(_command(batch, out, *extra), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    err = _Stderr(proc.stderr)
    try:
        err.wait_for(re.compile(r"^graded [1-9]\d*/\d+"), timeout=600)
        family = psutil.Process(proc.pid).children(recursive=True)
        if before_ctrl_c is not None:
            before_ctrl_c(proc)
        os.killpg(proc.pid, signal.SIGINT)
        stdout = proc.stdout.read()
        proc.wait(timeout=120)
    except BaseException:
        proc.kill()
        raise
    return proc.returncode, stdout, err.text(), family


def _survivors(family: list[psutil.Process], wait: float = 5.0) -> list[str]:
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for p in family:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid} {p.name()} {p.cmdline()[:4]}")
            except psutil.Error:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _check_interrupt_messages(rc: int, stdout: str, stderr: str, jobs: int) -> int:
    """One line about the interruption, no traceback, exit 130; returns how many were kept."""
    assert rc == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    about = [line for line in stderr.splitlines() if "interrupt" in line.lower()]
    assert len(about) == 1, stderr
    m = INTERRUPTED.match(about[0])
    assert m and int(m[2]) == jobs, about[0]
    assert "wrote " not in stdout, stdout
    return int(m[1])


# ---------------------------------------------------------------- the slow tests (the CLI end to end)

@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    batch = tmp_path_factory.mktemp("incremental") / "submitted"
    for (student, a), notebook in BATCH.items():
        (batch / student / a).mkdir(parents=True)
        shutil.copy(notebook(a), batch / student / a / f"{a}.ipynb")
    return batch


@pytest.fixture(scope="module")
def reference(batch, tmp_path_factory) -> Path:
    """OUT of one uninterrupted run of the batch."""
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = _grade(batch, out)
    assert _counts(proc) == (len(BATCH), len(BATCH), 0)
    return out


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


@pytest.mark.slow
def test_interrupt_then_rerun_equals_an_uninterrupted_run(batch, reference, tmp_path):
    out = tmp_path / "out"
    rc, stdout, stderr, family = _ctrl_c_after_first_result(batch, out)
    kept = _check_interrupt_messages(rc, stdout, stderr, len(BATCH))
    assert family, "the run had no worker processes when interrupted"
    assert not _survivors(family), "processes of the interrupted run still alive"
    # what it finished is stored; nothing else was written (no half-written gradebook or CSVs)
    assert 1 <= kept <= len(BATCH)
    assert len(list((out / ".cache").rglob("*.json"))) == kept
    assert sorted(p.name for p in out.iterdir()) == [".cache"]

    proc = _grade(batch, out)
    assert _counts(proc) == (len(BATCH), len(BATCH) - kept, kept)
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert _pages(out) == _pages(reference)  # feedback pages number their cells: gradings are reproducible


@pytest.mark.slow
def test_interrupted_run_leaves_the_previous_results_as_they_were(batch, reference, tmp_path):
    out = _copy(reference, tmp_path / "out")
    files = ("gradebook.db", "summary.csv", *TABLES)
    before = {name: (out / name).read_bytes() for name in files}, _pages(out)
    rc, stdout, stderr, family = _ctrl_c_after_first_result(batch, out, "--force")
    _check_interrupt_messages(rc, stdout, stderr, len(BATCH))
    assert not _survivors(family)
    assert ({name: (out / name).read_bytes() for name in files}, _pages(out)) == before
    assert not list(out.glob(".staging-*"))


@pytest.mark.slow
def test_late_submission_alone_is_graded(batch, reference, tmp_path):
    late_batch, out = _copy(batch, tmp_path / "submitted"), _copy(reference, tmp_path / "out")
    (late_batch / "dave" / "02-rnn").mkdir(parents=True)
    shutil.copy(source_notebook("02-rnn"), late_batch / "dave" / "02-rnn" / "02-rnn.ipynb")
    proc = subprocess.run(_command(late_batch, out), cwd=ROOT, capture_output=True, text=True, timeout=1200)
    # dave has no 01-one-hot, which the others submitted: a problem line and exit status 1, as documented
    assert proc.returncode == 1, proc.stderr[-3000:]
    problems = [line for line in proc.stderr.splitlines() if line.startswith("problem: ")]
    assert problems == [f"problem: {late_batch.resolve() / 'dave' / '01-one-hot'}: no submission (the folder is missing)"], proc.stderr
    assert _counts(proc) == (len(BATCH) + 1, 1, len(BATCH))  # dave graded; everyone else's reused
    for name in TABLES:
        for student in ("alice", "bob", "carol"):
            assert _lines(out / name, student) == _lines(reference / name, student), (name, student)
        # dave submitted the solution of 02 (the same rows as alice's) and nothing of 01 (missing)
        dave = _lines(out / name, "dave")
        assert [line.split(",", 1)[1] for line in dave if '"02-rnn"' in line] == \
            [line.split(",", 1)[1] for line in _lines(reference / name, "alice") if '"02-rnn"' in line], name
    assert {r for line in _lines(out / "cells.csv", "dave") if '"01-one-hot"' in line
            for r in [next(csv.reader([line]))[-1]]} == {"missing"}
    new, old = _pages(out), _pages(reference)
    assert set(new) == set(old) | {"dave/02-rnn/02-rnn.html"}
    assert {k: v for k, v in new.items() if not k.startswith("dave/")} == old  # byte for byte


@pytest.mark.slow
def test_changed_notebook_alone_is_regraded(batch, reference, tmp_path):
    changed_batch, out = _copy(batch, tmp_path / "submitted"), _copy(reference, tmp_path / "out")
    # carol finishes chapter 02: her untouched release is replaced by the solution
    shutil.copy(source_notebook("02-rnn"), changed_batch / "carol" / "02-rnn" / "02-rnn.ipynb")
    proc = _grade(changed_batch, out)
    assert _counts(proc) == (len(BATCH), 1, len(BATCH) - 1)
    for name in TABLES:
        for student in ("alice", "bob"):
            assert _lines(out / name, student) == _lines(reference / name, student), (name, student)
        carol = _lines(out / name, "carol")
        assert [line for line in carol if '"01-one-hot"' in line] == \
            [line for line in _lines(reference / name, "carol") if '"01-one-hot"' in line], name
        # her 02-rnn rows are now alice's (both submitted the solution)
        assert [line.split(",", 1)[1] for line in carol if '"02-rnn"' in line] == \
            [line.split(",", 1)[1] for line in _lines(reference / name, "alice") if '"02-rnn"' in line], name
    new, old = _pages(out), _pages(reference)
    assert new["carol/02-rnn/02-rnn.html"] != old["carol/02-rnn/02-rnn.html"]
    assert {k: v for k, v in new.items() if k != "carol/02-rnn/02-rnn.html"} == \
        {k: v for k, v in old.items() if k != "carol/02-rnn/02-rnn.html"}


@pytest.mark.slow
def test_force_regrades_everything(batch, reference, tmp_path):
    out = _copy(reference, tmp_path / "out")
    proc = _grade(batch, out, "--force")
    assert _counts(proc) == (len(BATCH), len(BATCH), 0)
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert _pages(out) == _pages(reference)  # graded again (the counts above say so), to the same bytes
    # the same results: the class report is left as it was (its run figures are the first run's)
    assert _pages(out, "report") == _pages(reference, "report") and (out / "report" / "index.html").exists()
    assert (out / "mistakes.csv").read_bytes() == (reference / "mistakes.csv").read_bytes()


@pytest.mark.slow
def test_the_same_force_command_finishes_an_interrupted_force_run(batch, reference, tmp_path):
    out = _copy(reference, tmp_path / "out")
    run = {}
    rc, stdout, stderr, family = _ctrl_c_after_first_result(
        batch, out, "--force", before_ctrl_c=lambda proc: run.update(pid=proc.pid, scratch=cleanup.scratch_of_run(proc.pid)))
    kept = _check_interrupt_messages(rc, stdout, stderr, len(BATCH))
    assert not _survivors(family)
    # its workers' scratch folders went with them: the next run has nothing to report as left by a killed run
    assert run["scratch"] and not cleanup.scratch_of_run(run["pid"]), run

    proc = _grade(batch, out, "--force")  # "run the same command again to finish"
    m = RESUMED.search(proc.stdout)
    assert m and (int(m[1]), int(m[2]), int(m[3])) == (len(BATCH), len(BATCH) - kept, kept), proc.stdout
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert _pages(out) == _pages(reference)
    # finished: the next --force starts over (no unfinished run is left to continue)
    assert not (out / ".cache" / store.FORCED_RUN).exists()


# ---------------------------------------------------------------- fast: the fingerprint and the store

def _job(**change) -> Job:
    job = {"student": "alice", "assignment": "02-rnn", "path": "/submitted/alice/02-rnn",
           "files": {"02-rnn.ipynb": b'{"cells": []}', "data.txt": b"abc"},
           "notebooks": {"02-rnn": {"source_json": "SOURCE", "release_json": "RELEASE", "history": {"t": ["old"]},
                                    "student_json": '{"cells": []}'}},
           "limits": Limits(), "record": True, "hide": ("/tmp/seqgrade-course-abc",)}
    for key, value in change.items():
        where, _, name = key.partition("__")
        if where == "limits":
            job["limits"] = dataclasses.replace(job["limits"], **{name: value})
        elif name:
            target = job[where] if where != "nb" else job["notebooks"]["02-rnn"]
            target[name] = value
        else:
            job[where] = value
    job["notebooks"] = {n: NotebookJob(**nb) for n, nb in job["notebooks"].items()}
    return Job(**job)


@pytest.mark.parametrize("change", [
    {"files__data.txt": b"abd"},                      # any file of the submission
    {"files__extra.py": b""},                         # a file added beside it
    {"nb__student_json": '{"cells": [1]}'},
    {"nb__source_json": "SOURCE'"},                   # the course's tests or solutions
    {"nb__release_json": "RELEASE'"},
    {"nb__history": {"t": ["old", "older"]}},         # a test cell of another release
    {"limits__cell_timeout": 60},                     # a limit
    {"record": False},                                # --no-record
    {"student": "bob"},
])
def test_fingerprint_changes_with_what_decides_a_grade(change):
    assert fingerprint(_job(**change), "grader") != fingerprint(_job(), "grader")


def test_fingerprint_ignores_the_runs_scratch_folders_and_follows_the_grader():
    assert fingerprint(_job(hide=("/tmp/seqgrade-course-xyz",)), "grader") == fingerprint(_job(), "grader")
    assert fingerprint(_job(), "grader v2") != fingerprint(_job(), "grader")


def test_grader_digest_follows_library_versions(monkeypatch):
    before = grader_digest(ROOT)
    assert grader_digest(ROOT) == before
    real = store.importlib.metadata.version
    monkeypatch.setattr(store.importlib.metadata, "version", lambda d: real(d) + ".post1" if d == "torch" else real(d))
    assert grader_digest(ROOT) != before


def _result(**nb) -> JobResult:
    fields = dict(cells=[CellVerdict("t", 2.0, 2.0, Status.PASSED, "")], feedback="<html>é</html>", problem=None,
                  bridge=BridgeStats(12, 3400, 0.25))
    fields.update(nb)
    return JobResult("alice", "02-rnn", {"02-rnn": NotebookResult(**fields)}, seconds=1.5)


def test_store_gives_back_a_result_only_under_the_same_fingerprint(tmp_path):
    store, job = ResultStore(tmp_path / ".cache"), _job()
    job.fingerprint = "f1"
    assert store.load(job) is None
    assert store.save(job, _result()) and store.saved == 1
    expected = _result()
    expected.path = job.path
    assert store.load(job) == expected
    assert store.load(dataclasses.replace(job, fingerprint="f2")) is None
    assert [p.name for p in (tmp_path / ".cache" / "alice").iterdir()] == ["02-rnn.json"]  # no temporary left


def test_store_keeps_only_complete_gradings(tmp_path):
    store, job = ResultStore(tmp_path), dataclasses.replace(_job(), fingerprint="f1")
    assert not store.save(job, _result(cells=None, problem="could not be graded: BrokenProcessPool: ..."))
    assert not store.save(job, _result(problem="could not be graded: the fork server died"))
    assert store.saved == 0 and store.load(job) is None


def test_store_treats_a_damaged_file_as_absent(tmp_path):
    store, job = ResultStore(tmp_path), dataclasses.replace(_job(), fingerprint="f1")
    store.path("alice", "02-rnn").parent.mkdir(parents=True)
    store.path("alice", "02-rnn").write_text('{"fingerprint": "f1", "result": {"notebooks"')
    assert store.load(job) is None
    store.path("alice", "02-rnn").write_text(json.dumps({"fingerprint": "f1", "result": "not a result"}))
    assert store.load(job) is None


def test_a_force_run_reuses_only_what_it_or_the_force_run_it_continues_stored(tmp_path):
    job = dataclasses.replace(_job(), fingerprint="f1")
    before = ResultStore(tmp_path)
    assert before.save(job, _result())  # an earlier, complete run
    before.finish()

    forced = ResultStore(tmp_path)
    assert forced.begin(force=True) is False  # a new --force run
    assert forced.load(job, this_run_only=True) is None  # the earlier run's result does not count
    assert forced.save(job, _result())
    assert forced.load(job, this_run_only=True) is not None
    # stopped here (no finish): the same command continues that run and reuses what it stored
    again = ResultStore(tmp_path)
    assert again.begin(force=True) is True and again.load(job, this_run_only=True) is not None
    again.finish()
    # a run completed: a later --force starts over
    later = ResultStore(tmp_path)
    assert later.begin(force=True) is False and later.load(job, this_run_only=True) is None
    # a run without --force reuses by fingerprint alone, whoever stored the result
    assert ResultStore(tmp_path).load(job) is not None

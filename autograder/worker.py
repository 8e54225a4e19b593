"""Grade one submission (one student, one assignment): the job a worker runs.

A worker (a process of the local pool, or a Dask worker) holds a *slot* (kernel/sandbox.py) and one
fork server (kernel/host.py) for its whole life. For each notebook of the submission it assembles the
cells to run (assemble.py), copies the student's files into a scratch folder owned by the
slot's user, has the fork server run the cells (the student's in a confined kernel, the
course's tests in a judge beside it: kernel/, judge/), grades each test cell (judge/verdict.py), and
builds the feedback page. It returns plain data; the parent alone
writes the gradebook and the CSVs, so parallel workers never contend for SQLite.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat

from . import autograded
from .judge import feedback
from .kernel import sandbox
from .assemble import assemble
from .kernel.host import read_frame, write_frame
from .judge.scan import scan
from .judge.verdict import RunFindings, verdict
from .records import Job, JobResult, NotebookJob, NotebookResult
from .report.causes import blame_answer_faults
from .report.excerpts import answers_with_mistakes

_LOCAL = threading.local()  # one slot and fork server per thread (Dask workers may run several)


def _state() -> dict:
    if not hasattr(_LOCAL, "state"):
        _LOCAL.state = {}
    return _LOCAL.state


class KernelHost:
    """A fork server subprocess and the frames to talk to it."""

    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
        env["SEQGRADE_PARENT"] = str(os.getpid())  # the server dies with this process (host.serve)
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.kernel.host"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.ready = False

    def wait_ready(self) -> None:
        """The server imports torch for a few seconds; the worker does its own imports meanwhile."""
        if not self.ready:
            ready = read_frame(self.proc.stdout)
            if not ready or not ready.get("ready"):
                raise RuntimeError("the fork server did not start")
            self.ready = True

    def run(self, req: dict) -> dict:
        try:
            self.wait_ready()
            write_frame(self.proc.stdin, req)
            reply = read_frame(self.proc.stdout)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            self.close()
            raise RuntimeError("the fork server died")
        return reply

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def init_worker(start_host: bool = True) -> dict:
    """Take a slot, its user and scratch folder, and start the fork server (once per process)."""
    st = _state()
    if st:
        return st
    slot, lock_fd = sandbox.acquire_slot()
    ids = sandbox.ensure_user(slot)
    # Root's, and only traversable by others: the slot's user owns each job folder in it, but cannot
    # plant anything beside them (a symlink named like the next job's folder, say).
    base = sandbox.scratch_dir(slot)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o711)
    base.chmod(0o711)
    (base / sandbox.RUN_MARK).write_text(str(os.getppid()))  # the grading run that removes it when it ends
    st.update(slot=slot, lock_fd=lock_fd, ids=ids, base=base, jobs=0)
    if start_host:
        st["host"] = KernelHost()
    return st


def _host() -> KernelHost:
    st = init_worker()
    if st.get("host") is None or st["host"].proc.poll() is not None:
        st["host"] = KernelHost()
    return st["host"]


def _write_files(dest: Path, files: dict[str, bytes], ids) -> None:
    dest.mkdir(mode=0o700)
    for rel, data in files.items():
        p = (dest / rel).resolve()
        if dest.resolve() not in p.parents:
            continue  # a path that climbs out of the submission
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    if ids:
        for root, dirs, names in os.walk(dest):
            os.chown(root, *ids)
            for n in names:
                os.chown(os.path.join(root, n), *ids)


def _side(rc, graded_ids: set) -> str:
    """Where a cell runs: the setup cell in both processes (the kernel needs its imports; there its
    ``seqlab.oracles`` is unavailable), the graded test cells in the judge, the rest in the kernel."""
    if rc.kind == "course" and rc.grade_id == "setup":
        return "both"
    if rc.kind == "course" and rc.grade_id in graded_ids:
        return "judge"
    return "kernel"


def grade_notebook(nb_job: NotebookJob, settings: dict, files: dict[str, bytes], name: str) -> NotebookResult:
    """Grade one notebook; returns its cells' rows and its feedback page."""
    st = init_worker()
    source = nbformat.reads(nb_job.source_json, as_version=4)
    release = nbformat.reads(nb_job.release_json, as_version=4)
    graded = [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)), c)
              for c in source.cells if (c.metadata.get("nbgrader") or {}).get("grade")]
    try:
        student = nbformat.reads(nb_job.student_json, as_version=4)
    except Exception as e:  # noqa: BLE001 - the parent checks too; a race or a worker-only failure
        return NotebookResult([dict(grade_id=g, score=0.0, max_score=p, status="invalid", message=str(e)) for g, p, _ in graded],
                              problem=f"not a valid notebook ({type(e).__name__}: {e})")
    history = {g: set(v) for g, v in (nb_job.history or {}).items()}
    plan = assemble(source, release, student, history)
    flags = []
    for rc in plan.cells:
        if rc.kind in ("solution", "student"):
            flags += scan(rc.source)

    st["jobs"] += 1
    job_dir = st["base"] / f"job{st['jobs']}"
    shutil.rmtree(job_dir, ignore_errors=True)
    _write_files(job_dir, files, st["ids"])
    run_cells = [rc for rc in plan.cells if rc.kind != "markdown"]
    graded_ids = {g for g, _, _ in graded}
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(job_dir), "TMPDIR": str(job_dir),
           "MPLBACKEND": "Agg", "SEQLAB_QUICK": "1", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    limits = sandbox.Limits.from_settings(settings)
    req = {
        "cells": [{"source": rc.source, "side": _side(rc, graded_ids), "kind": rc.kind, "grade_id": rc.grade_id}
                  for rc in run_cells],
        "record": bool(settings.get("record", True)),  # the own-work rule at run time (judge/operators.py)
        "cwd": str(job_dir), "env": env, "slot": st["slot"],
        "uid": st["ids"][0] if st["ids"] else None, "gid": st["ids"][1] if st["ids"] else None,
        "hide": settings.get("hide", []), **limits.as_dict(), "rlimits": limits.rlimits(own_user=bool(st["ids"])),
    }
    try:
        reply = _host().run(req)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    if "fatal" in reply:
        return NotebookResult([dict(grade_id=g, score=0.0, max_score=p, status="error", message=reply["fatal"]) for g, p, _ in graded],
                              problem=f"could not be graded: {reply['fatal']}")
    results = reply["cells"]
    by_gid = {rc.grade_id: k for k, rc in enumerate(run_cells) if rc.kind == "course" and rc.grade_id}

    rows, fb_meta = [], {}
    for gid, points, _ in graded:
        k = by_gid.get(gid)
        res = results[k] if k is not None else {"error": {"ename": "Missing", "evalue": "not run"}}
        run = RunFindings.from_dict(res.get("run"))
        v = verdict(gid, points, res.get("error"), plan.test_cell_changes.get(gid), flags, run)
        rows.append(v.row())
        fb_meta[gid] = v.score
        refusal = run.message() if run is not None else None
        if refusal and k is not None:  # the feedback shows why the cell earned nothing
            res["error"] = {"ename": "NotOwnWork" if not run.tampered else "Tampered", "evalue": refusal,
                            "traceback": []}
    rows = blame_answer_faults(rows, {rc.grade_id: res.get("error") for rc, res in zip(run_cells, results)
                                      if rc.kind == "solution" and rc.grade_id})

    # The autograded notebook (what the formgrader opens) and, from it, the student's page.
    run_index = {id(rc): k for k, rc in enumerate(run_cells)}
    nb = autograded.notebook(source, plan.cells, [results[run_index[id(rc)]] if id(rc) in run_index else None
                                                  for rc in plan.cells])
    try:
        html = feedback.page(nb, name, fb_meta, sum(r["score"] for r in rows), sum(r["max_score"] for r in rows))
    except Exception as e:  # noqa: BLE001 - a page that cannot be rendered must not cost the grade
        html = None
        rows_problem = f"feedback could not be rendered: {type(e).__name__}: {e}"
    else:
        rows_problem = None
    return NotebookResult(rows, html, note=rows_problem, bridge=reply.get("bridge") or {},
                          answers=answers_with_mistakes(plan.cells, rows), autograded=nbformat.writes(nb))


def grade_job(job: Job) -> JobResult:
    """One student's one assignment: every notebook, each in its own kernel."""
    t0 = time.monotonic()
    out = JobResult(job.student, job.assignment, {}, path=job.path)
    for name, nb_job in job.notebooks.items():
        try:
            out.notebooks[name] = grade_notebook(nb_job, job.settings, job.files, name)
        except Exception as e:  # noqa: BLE001 - one broken submission never stops the batch
            out.notebooks[name] = NotebookResult(None, problem=f"could not be graded: {type(e).__name__}: {e}")
    out.seconds = time.monotonic() - t0
    return out


def warm() -> int:
    """Pool initializer / Dask warm-up: take a slot, start the fork server, compile the page template."""
    st = init_worker()
    feedback.page(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), "warm-up", {}, 0, 0)
    st["host"].wait_ready()
    return st["slot"]

"""Grade one submission (one student, one assignment): the job a worker runs.

A worker (a process of the local pool, or a Dask worker) holds a *slot* (sandbox/slots.py) and one
fork server (forkserver/) for its whole life. For each notebook of the submission it assembles the
cells to run (assemble.py), copies the student's files into a scratch folder owned by the
slot's user, has the fork server run the cells (a ``protocol.NotebookRequest``: the student's cells
in a confined kernel, the course's tests in a judge beside it: kernel/, judge/), grades each test
cell (judge/verdict.py), and builds the feedback page. It returns plain data; the parent alone
writes the gradebook and the CSVs, so parallel workers never contend for SQLite.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

from . import autograded, protocol
from .assemble import RunCell, assemble
from .judge import feedback
from .judge.scan import scan
from .judge.verdict import verdict
from .protocol import Cell, CellError, CellKind, CellResult, Confinement, Fatal, NotebookRequest, Side
from .records import CellVerdict, Job, JobResult, NotebookJob, NotebookResult, Status
from .report.causes import blame_answer_faults
from .report.excerpts import answers_with_mistakes
from .sandbox import slots

_LOCAL = threading.local()  # one slot and fork server per thread (Dask workers may run several)


class ForkServer:
    """A fork server subprocess (forkserver/server.py) and the messages to talk to it."""

    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
        env["SEQGRADE_PARENT"] = str(os.getpid())  # the server dies with this process (server.serve)
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.forkserver"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.ready = False

    def wait_ready(self) -> None:
        """The server imports torch for a few seconds; the worker does its own imports meanwhile."""
        if not self.ready:
            if protocol.read(self.proc.stdout) != protocol.READY:
                raise RuntimeError("the fork server did not start")
            self.ready = True

    def run(self, request: NotebookRequest) -> protocol.NotebookReply | Fatal:
        try:
            self.wait_ready()
            protocol.write(self.proc.stdin, request.to_json())
            reply = protocol.read(self.proc.stdout)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            self.close()
            raise RuntimeError("the fork server died")
        return protocol.NotebookReply.from_json(reply)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a server that will not stop is killed
            self.proc.kill()


@dataclass
class _Slot:
    """What a worker holds for its life: a slot, its user (None without root), its scratch folder,
    and its fork server."""

    slot: int
    lock_fd: int
    ids: tuple[int, int] | None
    base: Path
    server: ForkServer
    jobs: int = 0

    def fork_server(self) -> ForkServer:
        """The fork server, started anew when the last one died."""
        if self.server.proc.poll() is not None:
            self.server = ForkServer()
        return self.server


def _worker() -> _Slot:
    """This thread's slot, user, scratch folder and fork server, taken the first time it grades."""
    held = getattr(_LOCAL, "held", None)
    if held is not None:
        return held
    slot, lock_fd = slots.acquire_slot()
    ids = slots.ensure_user(slot)
    # Root's, and only traversable by others: the slot's user owns each job folder in it, but cannot
    # plant anything beside them (a symlink named like the next job's folder, say).
    base = slots.scratch_dir(slot)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o711)
    base.chmod(0o711)
    (base / slots.RUN_MARK).write_text(str(os.getppid()))  # the grading run that removes it when it ends
    _LOCAL.held = _Slot(slot, lock_fd, ids, base, ForkServer())
    return _LOCAL.held


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


def _side(rc: RunCell, graded_ids: set) -> Side:
    """Where a cell runs: the setup cell in both processes (the kernel needs its imports; there its
    ``seqlab.oracles`` is unavailable), the graded test cells in the judge, the rest in the kernel."""
    if rc.kind == CellKind.COURSE and rc.grade_id == "setup":
        return Side.BOTH
    if rc.kind == CellKind.COURSE and rc.grade_id in graded_ids:
        return Side.JUDGE
    return Side.KERNEL


def _none_graded(graded, status: Status, message: str) -> list[CellVerdict]:
    return [CellVerdict(g, 0.0, p, status, message) for g, p, _ in graded]


def grade_notebook(nb_job: NotebookJob, job: Job, name: str) -> NotebookResult:
    """Grade one notebook of ``job``; returns its cells' verdicts and its feedback page."""
    held = _worker()
    source = nbformat.reads(nb_job.source_json, as_version=4)
    release = nbformat.reads(nb_job.release_json, as_version=4)
    graded = [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)), c)
              for c in source.cells if (c.metadata.get("nbgrader") or {}).get("grade")]
    try:
        student = nbformat.reads(nb_job.student_json, as_version=4)
    except Exception as e:  # noqa: BLE001 - the parent checks too; a race or a worker-only failure costs this notebook only
        return NotebookResult(_none_graded(graded, Status.INVALID, str(e)), problem=f"not a valid notebook ({type(e).__name__}: {e})")
    history = {g: set(v) for g, v in (nb_job.history or {}).items()}
    plan = assemble(source, release, student, history)
    flags = []
    for rc in plan.cells:
        if rc.kind in (CellKind.SOLUTION, CellKind.STUDENT):
            flags += scan(rc.source)

    held.jobs += 1
    job_dir = held.base / f"job{held.jobs}"
    shutil.rmtree(job_dir, ignore_errors=True)
    _write_files(job_dir, job.files, held.ids)
    run_cells = [rc for rc in plan.cells if rc.kind != CellKind.MARKDOWN]
    graded_ids = {g for g, _, _ in graded}
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(job_dir), "TMPDIR": str(job_dir),
           "MPLBACKEND": "Agg", "SEQLAB_QUICK": "1", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    uid, gid = held.ids if held.ids else (None, None)
    request = NotebookRequest(
        cells=tuple(Cell(rc.source, _side(rc, graded_ids), rc.kind, rc.grade_id) for rc in run_cells),
        limits=job.limits,
        confinement=Confinement(str(job_dir), env, job.hide, held.slot, uid, gid, job.limits.rlimits(own_user=uid is not None)),
        record=job.record,  # the own-work rule at run time (judge/operators.py)
    )
    try:
        reply = held.fork_server().run(request)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    if isinstance(reply, Fatal):
        return NotebookResult(_none_graded(graded, Status.ERROR, reply.why), problem=f"could not be graded: {reply.why}")
    results = list(reply.cells)
    by_gid = {rc.grade_id: k for k, rc in enumerate(run_cells) if rc.kind == CellKind.COURSE and rc.grade_id}

    verdicts, fb_meta = [], {}
    for gid, points, _ in graded:
        k = by_gid.get(gid)
        res = results[k] if k is not None else CellResult(error=CellError("Missing", "not run"))
        run = res.run
        v = verdict(gid, points, res.error, plan.test_cell_changes.get(gid), flags, run)
        verdicts.append(v)
        fb_meta[gid] = v.score
        refusal = run.message() if run is not None else None
        if refusal and k is not None:  # the feedback shows why the cell earned nothing
            results[k] = replace(res, error=CellError("NotOwnWork" if not run.tampered else "Tampered", refusal))
    verdicts = blame_answer_faults(verdicts, {rc.grade_id: res.error for rc, res in zip(run_cells, results)
                                              if rc.kind == CellKind.SOLUTION and rc.grade_id})

    # The autograded notebook (what the formgrader opens) and, from it, the student's page.
    run_index = {id(rc): k for k, rc in enumerate(run_cells)}
    nb = autograded.notebook(source, plan.cells, [results[run_index[id(rc)]] if id(rc) in run_index else None
                                                  for rc in plan.cells])
    try:
        html = feedback.page(nb, name, fb_meta, sum(v.score for v in verdicts), sum(v.max_score for v in verdicts))
    except Exception as e:  # noqa: BLE001 - a page that cannot be rendered must not cost the grade
        html = None
        rows_problem = f"feedback could not be rendered: {type(e).__name__}: {e}"
    else:
        rows_problem = None
    return NotebookResult(verdicts, html, note=rows_problem, bridge=reply.bridge,
                          answers=answers_with_mistakes(plan.cells, verdicts), autograded=nbformat.writes(nb))


def grade_job(job: Job) -> JobResult:
    """One student's one assignment: every notebook, each in its own kernel."""
    t0 = time.monotonic()
    out = JobResult(job.student, job.assignment, {}, path=job.path)
    for name, nb_job in job.notebooks.items():
        try:
            out.notebooks[name] = grade_notebook(nb_job, job, name)
        except Exception as e:  # noqa: BLE001 - one broken submission never stops the batch
            out.notebooks[name] = NotebookResult(None, problem=f"could not be graded: {type(e).__name__}: {e}")
    out.seconds = time.monotonic() - t0
    return out


def warm() -> int:
    """Pool initializer / Dask warm-up: take a slot, start the fork server, compile the page template."""
    held = _worker()
    feedback.page(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), "warm-up", {}, 0, 0)
    held.server.wait_ready()
    return held.slot

"""Run grading jobs on workers: a local pool of processes, or a Dask cluster (``--cluster``).

Each local worker is a spawned process that holds a slot and a fork server for its life
(worker.py); jobs go to whichever worker is free. Results come back as plain data, in any
order; each is handed to ``on_result`` as it arrives (grade.py stores it, so an interrupted run
keeps what it finished); the progress bar (graded / total, ETA) goes to stderr.

Ctrl-C: the local workers run in their own process group (jobs.pool_init), so a Ctrl-C at the
terminal reaches only the CLI process. It raises KeyboardInterrupt there; ``Workers.close``
then kills every worker with its fork server and kernels, and the caller reports.

Killed outright (``kill -9``, the OOM killer, a dropped SSH session), the CLI process cannot
clean up: each worker dies with it (``_pool_init``: a parent-death signal), and takes its fork
server and kernels along (forkserver/server.py); the multiprocessing resource tracker exits when the last
process holding its pipe is gone.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from .records import Job, JobResult, NotebookResult


class Progress:
    """``graded 12/40 [#####.....] ETA 0:31`` on stderr: redrawn in place on a terminal,
    a line at most every few seconds otherwise (logs, CI)."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0
        self.open_line = False  # a redrawn line without its newline yet (terminal only)

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        width = 30
        fill = int(width * self.done / self.total) if self.total else width
        return (f"graded {self.done}/{self.total} [{'#' * fill}{'.' * (width - fill)}] "
                f"elapsed {int(elapsed) // 60}:{int(elapsed) % 60:02d}, ETA {int(eta) // 60}:{int(eta) % 60:02d}")

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.open_line = self.done != self.total
            self.stream.write("\r" + self.line() + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        elif self.done == self.total or now - self.last >= 5:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now

    def close(self) -> None:
        """End a bar left half-drawn (the run was interrupted), so the next message starts a line."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _failed(job: Job, e: BaseException) -> JobResult:
    problem = f"could not be graded: {type(e).__name__}: {e}"
    return JobResult(job.student, job.assignment, {n: NotebookResult(None, problem=problem) for n in job.notebooks},
                     path=job.path)


@contextlib.contextmanager
def _sigint_blocked():
    """Block SIGINT in this thread while it spawns workers: a spawned process inherits the mask
    through exec, so a Ctrl-C in the second before its initializer moves it out of the terminal's
    process group stays pending instead of raising a KeyboardInterrupt traceback in it. Here, a
    pending Ctrl-C is delivered as soon as the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _pool_init(parent_pid: int) -> int:
    """A local worker's initializer: die with the grading command first (if it is killed outright,
    its workers, their fork servers and kernels must not live on), then jobs.pool_init."""
    from . import jobs
    from .sandbox.confine import die_with_parent

    die_with_parent(parent_pid)
    return jobs.pool_init()


class Workers:
    """The local pool, started before the assignment is prepared so that its fork servers import
    torch while nbgrader builds the gradebook (the two overlap on a 2-core machine)."""

    def __init__(self, n: int):
        self.n = max(1, n)
        try:
            with _sigint_blocked():
                self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_pool_init, initargs=(os.getpid(),))
                self._warming = [self.pool.submit(os.getpid) for _ in range(self.n)]  # spawn them all now
        except KeyboardInterrupt:  # held back while spawning, raised as the block ends: the caller has no pool to close
            self.close()
            raise

    def run(self, jobs: list[Job], bar: Progress, on_result=None) -> list[JobResult]:
        from . import jobs as job_functions

        with _sigint_blocked():  # a submit may spawn a worker
            futures = {self.pool.submit(job_functions.grade_job, job): job for job in jobs}
        return gather(as_completed(futures), futures.__getitem__, bar, on_result)

    def close(self) -> None:
        """Stop the workers now, at the end of a run or on Ctrl-C: kill each worker with its fork
        server and kernels rather than wait for interpreters to wind down (their slots' locks go
        with them), let the pool's own thread see them gone, and remove their scratch folders."""
        from .sandbox import cleanup

        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        cleanup.kill_trees([p.pid for p in procs if p.pid], their_users=True, reap_roots=False)  # joined just below
        for p in procs:
            p.join(timeout=5)  # reaped by multiprocessing itself, so the pool sees them dead
        self.pool.shutdown(wait=False, cancel_futures=True)
        cleanup.remove_scratch(os.getpid())  # the workers' own scratch: not a leftover for the next run to report


def start(workers: int | None, expected_jobs: int, cluster: str | None):
    if cluster or expected_jobs == 0:
        return None
    return Workers(min(workers or default_workers(), expected_jobs))


def run_jobs(jobs: list[Job], *, workers: int | None = None, cluster: str | None = None, progress: bool = True,
             pool: Workers | None = None, on_result=None) -> list[JobResult]:
    """Grade ``jobs``; returns their results. ``on_result(job, result)`` runs in this process as each
    arrives. A KeyboardInterrupt propagates (the caller closes the pool it passed in)."""
    if not jobs:
        return []
    bar = Progress(len(jobs), enabled=progress)
    try:
        if cluster:
            from .cluster import run_on_cluster

            return run_on_cluster(jobs, cluster, lambda completed, job_of: gather(completed, job_of, bar, on_result))
        own = pool is None
        pool = pool or Workers(min(workers or default_workers(), len(jobs)))
        try:
            return pool.run(jobs, bar, on_result)
        finally:
            if own:
                pool.close()
    finally:
        bar.close()


def gather(completed, job_of, bar: Progress, on_result=None) -> list[JobResult]:
    """Results of finished futures (a local pool's or Dask's), in the order they complete."""
    results = []
    for fut in completed:
        job = job_of(fut)
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - whatever killed a worker takes only its job down
            res = _failed(job, e)
        res.path = job.path
        if on_result is not None:
            on_result(job, res)
        results.append(res)
        bar.step()
    return results

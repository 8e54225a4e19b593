"""Run grading jobs on workers: a local pool of processes, or a Dask cluster (``--cluster``).

Each local worker is a spawned process that holds a slot and a fork server for its life
(worker.py); jobs go to whichever worker is free. Results come back as plain data, in any
order; the progress bar (graded / total, ETA) goes to stderr.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed


class Progress:
    """``graded 12/40 [#####.....] ETA 0:31`` on stderr: redrawn in place on a terminal,
    a line at most every few seconds otherwise (logs, CI)."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0

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
            self.stream.write("\r" + self.line() + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        elif self.done == self.total or now - self.last >= 5:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _failed(job: dict, e: BaseException) -> dict:
    return {"student": job["student"], "assignment": job["assignment"], "path": job.get("path"),
            "notebooks": {n: {"cells": None, "feedback": None, "problem": f"could not be graded: {type(e).__name__}: {e}"}
                          for n in job["notebooks"]}}


class Workers:
    """The local pool, started before the assignment is prepared so that its fork servers import
    torch while nbgrader builds the gradebook (the two overlap on a 2-core machine)."""

    def __init__(self, n: int):
        from . import jobs

        self.n = max(1, n)
        self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=jobs.warm)
        self._warming = [self.pool.submit(os.getpid) for _ in range(self.n)]  # spawn them all now

    def run(self, jobs: list[dict], bar: Progress) -> list[dict]:
        from . import jobs as job_functions

        futures = {self.pool.submit(job_functions.grade_job, job): job for job in jobs}
        return gather(as_completed(futures), futures.__getitem__, bar)

    def close(self) -> None:
        # All results are in: stop the workers now rather than wait for their interpreters to wind
        # down (their fork servers see EOF and exit; their slots' locks go with them).
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                p.kill()
            except Exception:  # noqa: BLE001
                pass


def start(workers: int | None, expected_jobs: int, cluster: str | None):
    if cluster or expected_jobs == 0:
        return None
    return Workers(min(workers or default_workers(), expected_jobs))


def run_jobs(jobs: list[dict], *, workers: int | None = None, cluster: str | None = None, progress: bool = True,
             pool: Workers | None = None) -> list[dict]:
    if not jobs:
        return []
    bar = Progress(len(jobs), enabled=progress)
    if cluster:
        from .cluster import run_on_cluster

        return run_on_cluster(jobs, cluster, bar)
    own = pool is None
    pool = pool or Workers(min(workers or default_workers(), len(jobs)))
    try:
        return pool.run(jobs, bar)
    finally:
        if own:
            pool.close()


def gather(completed, job_of, bar: Progress) -> list[dict]:
    """Results of finished futures (a local pool's or Dask's), in the order they complete."""
    results = []
    for fut in completed:
        job = job_of(fut)
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - a worker that died takes only its job down
            res = _failed(job, e)
        res["path"] = job.get("path")
        results.append(res)
        bar.step()
    return results

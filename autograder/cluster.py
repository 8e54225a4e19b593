"""``--cluster tcp://scheduler:8786``: the same jobs on a Dask cluster.

Optional: needs ``dask`` and ``distributed`` (pinned in requirements.txt). Every Dask worker
thread takes its own slot and fork server the first time it grades (worker.py), exactly as a
local worker does, so the sandbox and the results are the same; the jobs carry the student's
files and the course's notebooks as data, so a remote worker needs only this package and its
environment, not the course folder. Results come back to this process, which alone writes
the gradebook and the CSVs. Start workers with one thread each for the same isolation per
core as the local pool: ``dask worker tcp://scheduler:8786 --nthreads 1 --nworkers N``.
On Ctrl-C the jobs not yet finished are cancelled; a job already running on a Dask worker runs
to its end there (Dask does not stop a running task) and its result is dropped.
"""
from __future__ import annotations

from typing import Callable, Iterable

from .records import Job, JobResult


def run_on_cluster(jobs: list[Job], address: str, collect: Callable[[Iterable, Callable], list[JobResult]]) -> list[JobResult]:
    """Grade ``jobs`` on the Dask scheduler at ``address``. ``collect(completed, job_of)`` turns the
    futures, as they complete, into results (runner.gather: the same for a local pool)."""
    try:
        from distributed import Client, as_completed
    except ImportError as e:  # pragma: no cover - the optional extra is missing
        raise ValueError("--cluster needs dask.distributed: pip install dask distributed (see requirements.txt)") from e
    from . import jobs as job_functions

    with Client(address, timeout="30s") as client:
        futures = client.map(job_functions.grade_job, jobs, pure=False, key=[f"grade-{i}" for i in range(len(jobs))])
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            return collect(as_completed(futures), lambda fut: jobs[index[fut.key]])
        except KeyboardInterrupt:
            client.cancel(futures)
            raise

"""The two functions a pool or Dask worker runs, importable without the worker's heavy imports
(the CLI process only pickles references to these; nbconvert and friends load in the workers)."""
from __future__ import annotations


def warm() -> int:
    from .worker import warm as _warm

    return _warm()


def grade_job(job: dict) -> dict:
    from .worker import grade_job as _grade_job

    return _grade_job(job)

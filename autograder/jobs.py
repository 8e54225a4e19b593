"""The functions a pool or Dask worker runs, importable without the worker's heavy imports
(the CLI process only pickles references to these; nbconvert and friends load in the workers)."""
from __future__ import annotations


def pool_init() -> int:
    """Initializer of a local pool's worker: leave the terminal's process group, then warm up.

    A Ctrl-C at the terminal goes to every process of its foreground group; in a worker and its
    fork server it would raise KeyboardInterrupt mid-job and print their tracebacks. In a group of
    its own, the worker (and the fork server it starts next, and the kernels, which take sessions
    of their own anyway) never sees it: the CLI process alone reacts, and stops the pool.
    The worker was spawned with SIGINT blocked (runner._sigint_blocked); a Ctrl-C that arrived
    meanwhile is dropped (SIG_IGN while unblocking). The fork server then starts with Python's
    usual handler, because it interrupts a kernel's overlong cell with SIGINT and the kernels
    it forks inherit its disposition.
    """
    import os
    import signal

    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return warm()


def warm() -> int:
    from .worker import warm as _warm

    return _warm()


def grade_job(job):  # records.Job -> records.JobResult
    from .worker import grade_job as _grade_job

    return _grade_job(job)

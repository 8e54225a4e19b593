"""What one notebook's kernel may use: the one definition of every limit and of its default.

A ``Limits`` is made once, by the CLI (``from_options``: ``--cell-timeout``, ``--memory-mb``), and
travels unchanged on each job (records.Job), in the fork server's request (protocol.NotebookRequest)
to where each limit acts: the fork server times cells and watches memory, the slot's cgroup caps
memory and processes (sandbox/cgroups.py), the kernel sets its resource limits (``rlimits``,
sandbox/confine.py) and keeps that much output. Every limit is a positive, finite number: 0 (or
less, or infinity) is refused with a message, never taken for "not given".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


class LimitError(ValueError):
    """A limit that cannot mean what it says (0 seconds a cell, a memory cap of 0 MB)."""


@dataclass(frozen=True)
class Limits:
    """One notebook's budget. The defaults here are the course's; nothing else writes them."""

    mem_bytes: int = 2 << 30          # memory of the kernel and everything it starts
    max_pids: int = 256               # processes and threads of the slot's user
    max_file_bytes: int = 64 << 20    # the largest file it may write
    max_open_files: int = 256
    output_limit: int = 100_000       # characters of output kept per cell and stream
    cell_timeout: float = 120.0       # seconds one cell may run (SIGINT, then SIGKILL)
    total_timeout: float = 1800.0     # seconds the whole notebook may run, re-runs included

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) not in (int, float) or not 0 < value < math.inf:  # not NaN either; a bool is no limit
                raise LimitError(f"{f.name} must be a positive number, not {value!r}")

    @classmethod
    def from_options(cls, *, cell_timeout: float | None = None, memory_mb: int | None = None) -> "Limits":
        """The CLI's limits: a given option overrides its default, whatever its value (0 included:
        it is refused with the option's name rather than taken for "not given")."""
        if cell_timeout is not None and not 0 < cell_timeout < math.inf:
            raise LimitError(f"--cell-timeout {cell_timeout:g}: give a cell's time limit in seconds, more than 0")
        if memory_mb is not None and not memory_mb > 0:
            raise LimitError(f"--memory-mb {memory_mb}: a kernel needs more than 0 MB of memory")
        given = {"cell_timeout": None if cell_timeout is None else float(cell_timeout),
                 "mem_bytes": None if memory_mb is None else memory_mb << 20}
        return cls(**{k: v for k, v in given.items() if v is not None})

    def rlimits(self, own_user: bool) -> dict[str, int]:
        """setrlimit values for a kernel. RLIMIT_NPROC counts every process of the user, so it binds
        only when the kernel has a user of its own; RLIMIT_CPU is the backstop should everything above
        the kernel be gone: the notebook's whole time budget in CPU seconds, and no more."""
        limits = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": self.max_file_bytes,
                  "RLIMIT_CPU": int(self.total_timeout + self.cell_timeout)}
        if own_user:
            limits.update(RLIMIT_NPROC=self.max_pids, RLIMIT_NOFILE=self.max_open_files)
        return limits

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> "Limits":
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not set(data) <= names:
            raise LimitError(f"not limits: {data!r}"[:200])
        return cls(**data)

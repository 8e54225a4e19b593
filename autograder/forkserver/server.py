"""The fork server: one process per grading worker that imports NumPy, PyTorch, IPython and the
course's helpers once, never computes, and forks two fresh processes for every notebook:

- the **kernel** (kernel/main.py), confined by the sandbox, where the student's cells run, and the
  course's cells that only define what the student's code uses; ``seqlab.oracles`` is not
  importable there (never imported before the fork, poisoned in the kernel, hidden on disk);
- the **judge** (judge/main.py), where the setup cell and every graded test cell run, with the real
  oracles; it reaches the student's functions and classes only through the data-only bridge, and
  decides every pass. No student code ever runs in it.

It decides nothing itself: it times the cells by what the judge tells it (``protocol.CellEvent``),
interrupts a cell over its time limit (SIGINT to the kernel, then SIGKILL), watches the kernel's
memory where no cgroup caps it, notices a kernel that dies (``os._exit``, a segfault, the memory
cap) and re-runs the notebook from the start with the fatal cell skipped, so later cells still count.

Run as ``python -m autograder.forkserver``; it reads ``protocol.NotebookRequest``s and writes
``protocol.NotebookReply``s as frames on stdin/stdout (worker.ForkServer is the other end).

Nothing outlives the worker: the server dies with it (``die_with_parent``; the worker passes its
pid in ``SEQGRADE_PARENT``) and stops, killing kernel and judge, as soon as its request pipe reads
as end-of-file, also in the middle of a notebook; both die with the server.

Why a fork server: starting a kernel and ``import torch`` cost about 1.2 s, more than these
notebooks' own code; a forked child starts in milliseconds. The server must not run a torch
operation itself: a child forked after that inherits a dead intra-op thread pool and hangs.
"""
from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import sys
import termios
import time
from dataclasses import dataclass, replace

from .. import protocol
from ..limits import Limits
from ..protocol import BridgeStats, CellError, CellResult, Done, Ended, Fatal, KernelLost, NotebookReply, NotebookRequest, Started
from ..sandbox.cgroups import SlotGroup, slot_group
from ..sandbox.confine import die_with_parent
from ..sandbox.slots import kill_user_processes
from . import shell as shells

#: How many times a notebook is re-run after its kernel died, before the rest of it is given up.
MAX_DEATHS = 8
#: Seconds between the SIGINT of a cell over its time limit and the SIGKILL of its kernel; then
#: of the judge, should the course's own code be what hangs.
KILL_KERNEL_AFTER, KILL_JUDGE_AFTER = 2.0, 5.0

_SHELL = None


# ---------------------------------------------------------------- preload (server, once)

def preload() -> None:
    """Import everything a notebook of the course uses; build a pristine IPython shell."""
    global _SHELL
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("SEQLAB_QUICK", "1")
    # What the notebooks import, loaded once here rather than in every kernel and judge.
    import collections, copy, dataclasses, functools, itertools, json, math, random, re, statistics, string, typing  # noqa: E401, F401 - loaded before any fork, one line for all
    import pkgutil

    import numpy  # noqa: F401 - loaded before any fork
    import torch
    import torch.nn.functional
    # What PyTorch imports on its first operator on the "meta" device (the tests' device-hygiene
    # check): its Python decompositions, symbolic shapes (sympy) and dynamo, 800 modules, seconds that
    # every kernel and judge would otherwise pay, and that the recorder would otherwise trace.
    import sympy  # noqa: F401 - loaded before any fork
    import torch._decomp
    import torch._dynamo
    import torch._prims
    import torch._refs
    import torch.fx.experimental.symbolic_shapes  # noqa: F401 - loaded before any fork
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import seqlab

    for mod in pkgutil.iter_modules(seqlab.__path__, "seqlab."):
        if mod.name == "seqlab.oracles":
            continue  # the course's reference answers: imported by the judge alone, never before a kernel forks
        try:
            __import__(mod.name)
        except Exception:  # noqa: BLE001 - an optional helper module that does not import here is not needed
            pass
    _SHELL = shells.new_shell()
    from ..judge import main as judge  # noqa: F401 - both sides, imported before any fork
    from ..kernel import main as kernel  # noqa: F401 - both sides, imported before any fork
    from ..kernel import recorder

    recorder.install_guards()  # before any kernel exists, so no student code ever sees the unguarded doors


# ---------------------------------------------------------------- the server's side of one run

def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class WorkerGone(Exception):
    """The worker closed its end of the request pipe (it died): stop the kernel and exit."""


#: The read end of the worker's request pipe. It only ever reads as end-of-file while a kernel
#: runs (the worker sends nothing until it has the reply), and then the server stops at once.
_REQUESTS_FD: int | None = None


def _worker_gone() -> bool:
    if _REQUESTS_FD is None:
        return False
    r, _, _ = select.select([_REQUESTS_FD], [], [], 0)
    if not r:
        return False
    try:
        waiting = int.from_bytes(fcntl.ioctl(_REQUESTS_FD, termios.FIONREAD, bytes(4)), sys.byteorder)
    except OSError:
        return True
    return waiting == 0  # readable with nothing to read: end of file


def _timed_out(limits: Limits) -> CellError:
    return CellError.fault("TimeoutError", f"this cell ran longer than {limits.cell_timeout:g} s and was stopped")


@dataclass
class _Attempt:
    """How one attempt at a notebook (a kernel and a judge) ended: ``ended`` (every cell ran), or
    died in ``cell`` (None: before any), ``why`` ("timeout", "memory", "judge" or None: the kernel
    died of itself), with the kernel's wait ``status``."""

    ended: bool
    cell: int | None = None
    why: str | None = None
    status: int = 0


def _pump(kernel: int, judge: int, rfd: int, limits: Limits, capped_by_cgroup: bool,
          results: list, bridge: list) -> _Attempt:
    """Read the judge's events until it ends, or the kernel or the judge dies. Raises WorkerGone
    (both killed) when the worker goes away meanwhile.

    A cell over its time limit: SIGINT to the kernel (the student's code is what runs long; the
    judge's call then fails with a TimeoutError), SIGKILL to the kernel 2 s later, and to the
    judge 5 s after that, should the course's own code be what hangs."""
    events = protocol.Unframer()
    current, started, stage = None, 0.0, 0
    watchdog = not capped_by_cgroup
    why, ended, kernel_status, kernel_gone = None, False, None, False
    while True:
        now = time.monotonic()
        if current is not None and now - started > limits.cell_timeout:
            if stage == 0:
                _signal(kernel, signal.SIGINT)
                stage, started = 1, now - limits.cell_timeout + KILL_KERNEL_AFTER
            elif stage == 1:
                why = "timeout"
                _kill_group(kernel)
                stage, started = 2, now - limits.cell_timeout + KILL_JUDGE_AFTER
            else:
                _kill_group(judge)
        if watchdog and kernel_status is None and _rss(kernel) > limits.mem_bytes:
            why = "memory"
            _kill_group(kernel)
        if kernel_status is None:
            done, status = os.waitpid(kernel, os.WNOHANG)
            if done:
                kernel_status = status
        r, _, _ = select.select([rfd], [], [], 0.05)
        if _worker_gone():
            for pid in (kernel, judge):
                _kill_group(pid)
            raise WorkerGone
        if not r:
            continue
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        for message in events.feed(chunk):
            event = protocol.event_from_json(message)
            if isinstance(event, Started):
                current, started, stage = event.i, time.monotonic(), 0
            elif isinstance(event, Done) and event.i == current:
                if results[event.i] is None:
                    result = event.result
                    if stage and result.error is not None:
                        result = replace(result, error=_timed_out(limits))
                    results[event.i] = result
                bridge[:] = [event.bridge]
                current = None
            elif isinstance(event, KernelLost):  # the judge lost the kernel in cell i
                current, kernel_gone = event.i, True
            elif isinstance(event, Ended):
                bridge[:] = [event.bridge]
                ended = True
    os.close(rfd)
    _, judge_status = os.waitpid(judge, 0)
    _kill_group(kernel)
    if kernel_status is None:
        _, kernel_status = os.waitpid(kernel, 0)
    if ended:
        return _Attempt(True)
    if not kernel_gone and why is None:
        return _Attempt(False, current, "judge", judge_status)
    return _Attempt(False, current, why, kernel_status)


def _fork(target, *args) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        finally:
            os._exit(70)
    return pid


def _death(attempt: _Attempt, limits: Limits) -> tuple[str, str]:
    """(ename, what happened) for a cell whose kernel or judge died."""
    if attempt.why == "timeout":
        return "TimeoutError", f"this cell ran longer than {limits.cell_timeout:g} s and was stopped"
    if attempt.why == "memory":
        return "MemoryError", f"this cell used more than {limits.mem_bytes >> 20} MB of memory and was stopped"
    if attempt.why == "judge":
        return "GraderError", "the grader's own process for this notebook failed here"
    status = attempt.status
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    how = f"signal {signal.Signals(sig).name}" if sig else f"exit code {os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}"
    return "KernelDied", f"the kernel died while running this cell ({how})"


def run(request: NotebookRequest, cgroup: SlotGroup | None = None) -> NotebookReply:
    """Run one notebook: a fresh kernel and a fresh judge per attempt; one result per cell."""
    from ..judge import main as judge_side
    from ..kernel import main as kernel_side

    n = len(request.cells)
    results: list[CellResult | None] = [None] * n
    skip: set[int] = set()
    deaths = 0
    bridge: list[BridgeStats] = []
    t0 = time.monotonic()
    server_pid = os.getpid()  # both die with this server (die_with_parent)
    cgroup_procs = cgroup.procs_files if cgroup else []
    while True:
        rfd, wfd = os.pipe()
        judge_end, kernel_end = socket.socketpair()
        oom_before = cgroup.oom_kills() if cgroup else 0

        def as_kernel():
            os.close(rfd)
            os.close(wfd)
            judge_end.close()
            kernel_side.serve(request, kernel_end, _SHELL, shells.run_cell, server_pid=server_pid, cgroup_procs=cgroup_procs)

        def as_judge():
            os.close(rfd)
            kernel_end.close()
            judge_side.judge(request, judge_end, wfd, _SHELL, shells.run_cell, skip, server_pid=server_pid)

        kernel = _fork(as_kernel)
        judge = _fork(as_judge)
        os.close(wfd)
        judge_end.close()
        kernel_end.close()
        try:
            attempt = _pump(kernel, judge, rfd, request.limits, bool(cgroup and cgroup.memory), results, bridge)
        finally:  # also when the worker is gone: nothing the kernel started may outlive it
            for pid in (kernel, judge):
                _kill_group(pid)
            if cgroup:
                cgroup.kill_all()
            kill_user_processes(request.confinement.uid)
        if attempt.ended:
            break
        if attempt.why is None and cgroup and cgroup.oom_kills() > oom_before:
            attempt.why = "memory"
        deaths += 1
        ename, what = _death(attempt, request.limits)
        cell = attempt.cell
        if cell is None or deaths > MAX_DEATHS or time.monotonic() - t0 > request.limits.total_timeout:
            for j in range(n):
                if results[j] is None:
                    results[j] = CellResult(error=CellError(ename, what + " (the notebook could not be run past this point)",
                                                            (f"{ename}: {what}",)))
            break
        results[cell] = CellResult(error=CellError.fault(ename, what + "; the notebook was re-run without it, "
                                                                      "so the cells after it still count"))
        skip.add(cell)
    # cells after the end (cannot happen) or skipped by a death
    cells = tuple(r if r is not None else CellResult(error=CellError("NotRun", "not run")) for r in results)
    return NotebookReply(cells, bridge[0] if bridge else None)


def serve() -> None:
    global _REQUESTS_FD
    # Dies with the worker that started it (which passes its pid), even while a kernel runs.
    die_with_parent(int(os.environ.get("SEQGRADE_PARENT") or 0) or None)
    requests = os.fdopen(os.dup(0), "rb")
    _REQUESTS_FD = requests.fileno()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints of the server go to stderr, never into the protocol
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    preload()
    protocol.write(replies, protocol.READY)
    groups: dict = {}
    while True:
        message = protocol.read(requests)
        if message is None:
            break
        try:
            request = NotebookRequest.from_json(message)
            group = None
            slot = request.confinement.slot
            if slot is not None:
                key = (slot, request.limits.mem_bytes, request.limits.max_pids)
                if key not in groups:  # None where the machine gives no cgroups
                    groups[key] = slot_group(slot, request.limits)
                group = groups[key]
            reply = run(request, group)
        except WorkerGone:
            break
        except Exception as e:  # noqa: BLE001 - the grader's own failure: reported, and the server keeps serving
            reply = Fatal(f"{type(e).__name__}: {e}")
        protocol.write(replies, reply.to_json())

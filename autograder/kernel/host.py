"""The fork server: one process per grading worker that imports NumPy, PyTorch, IPython and the
course's helpers once, never computes, and forks two fresh processes for every notebook:

- the **kernel** (``_kernel``), confined by sandbox.py, where the student's cells run, and the
  course's cells that only define what the student's code uses; ``seqlab.oracles`` is not
  importable there (never imported before the fork, poisoned in the kernel, hidden on disk);
- the **judge** (``_judge``), where the setup cell and every graded test cell run, with the real
  oracles; it reaches the student's functions and classes only through the data-only bridge
  (judge/bridge.py, kernel/servant.py, wire.py), and decides every pass. No student code ever runs in it.

Run as ``python -m autograder.kernel.host``; it reads requests and writes replies as length-prefixed
JSON frames on stdin/stdout (see ``worker.KernelHost``). A request is a list of cells, each with
its side (kernel, judge or both), and the sandbox settings; the reply has, per cell, its outputs
and its error, and the bridge's cost. The fork server enforces per-cell time limits (SIGINT to
the kernel, then SIGKILL), notices a kernel that dies (``os._exit``, a segfault, the memory cap)
and re-runs the notebook from the start with the fatal cell skipped, so later cells still count.

Nothing outlives the worker: the server dies with it (``sandbox.die_with_parent``; the worker
passes its pid in ``SEQGRADE_PARENT``) and stops, killing kernel and judge, as soon as its request
pipe reads as end-of-file, also in the middle of a notebook; both die with the server.

Why a fork server: starting a kernel and ``import torch`` cost about 1.2 s, more than these
notebooks' own code; a forked child starts in milliseconds. The server must not run a torch
operation itself: a child forked after that inherits a dead intra-op thread pool and hangs.
"""
from __future__ import annotations

import builtins
import os
import select
import signal
import sys
import time

from . import sandbox  # noqa: F401 - imported before any fork

_SHELL = None
_MAX_DEATHS = 8


# ---------------------------------------------------------------- framing

def read_frame(f) -> dict | None:
    import json

    head = f.read(4)
    if len(head) < 4:
        return None
    n = int.from_bytes(head, "big")
    data = f.read(n)
    return json.loads(data)


def write_frame(f, obj: dict) -> None:
    import json

    data = json.dumps(obj, separators=(",", ":")).encode()
    f.write(len(data).to_bytes(4, "big") + data)
    f.flush()


# ---------------------------------------------------------------- preload (server, once)

def _no_input(*args, **kwargs):
    raise EOFError("input() is not available while grading: a graded notebook cannot wait for keyboard input")


def preload() -> None:
    """Import everything a notebook of the course uses; build a pristine IPython shell."""
    global _SHELL
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("SEQLAB_QUICK", "1")
    import collections, copy, dataclasses, functools, itertools, json, math, random, re, statistics, string, typing  # noqa: F401,E401
    import pkgutil

    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch.nn.functional  # noqa: F401
    # What PyTorch imports on its first operator on the "meta" device (the tests' device-hygiene
    # check): its Python decompositions, symbolic shapes (sympy) and dynamo, 800 modules, seconds that
    # every kernel and judge would otherwise pay, and that the recorder would otherwise trace.
    import sympy  # noqa: F401
    import torch._decomp  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch._prims  # noqa: F401
    import torch._refs  # noqa: F401
    import torch.fx.experimental.symbolic_shapes  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import seqlab

    for mod in pkgutil.iter_modules(seqlab.__path__, "seqlab."):
        if mod.name == "seqlab.oracles":
            continue  # the course's reference answers: imported by the judge alone, never before a kernel forks
        try:
            __import__(mod.name)
        except Exception:  # noqa: BLE001 - an optional helper module that does not import here
            pass
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    c = Config()
    c.HistoryManager.enabled = False
    c.InteractiveShell.colors = "nocolor"
    c.InteractiveShell.autocall = 0
    _SHELL = InteractiveShell.instance(config=c)
    _capturing_displayhook(_SHELL)
    builtins.input = _no_input
    _run_cell(_SHELL, "_warm = 1 + 1\n_warm", 1000)  # IPython's lazy first-cell work, done once here
    import autograder.judge.bridge  # noqa: F401 - both ends of the bridge, imported before any fork
    import autograder.kernel.servant  # noqa: F401
    from autograder.kernel import recorder

    recorder.install_guards()  # before any kernel exists, so no student code ever sees the unguarded doors


# ---------------------------------------------------------------- the kernel (child)

class _Capped:
    """A text stream that keeps the first ``limit`` characters and drops the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit: int):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def write(self, s):
        s = str(s)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self) -> str:
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[... {self.dropped} more characters of output were dropped by the grader]\n"
        return out


def _capturing_displayhook(shell):
    from IPython.core.displayhook import DisplayHook

    class Hook(DisplayHook):
        _course_outputs: list = []

        def __call__(self, result=None):
            if result is None:
                return
            self.check_for_underscore()
            format_dict, md = self.shell.display_formatter.format(result)
            self._course_outputs.append({"data": format_dict, "metadata": md})
            self.update_user_ns(result)

    hook = Hook(shell=shell, cache_size=0)
    shell.displayhook = hook
    shell.display_trap.hook = hook


def _json_safe(data: dict, limit: int) -> dict:
    out = {}
    for mime, v in (data or {}).items():
        if mime in ("text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml", "text/latex") and isinstance(v, str):
            out[mime] = v[:limit]
    return out


def _run_cell(shell, source: str, limit: int) -> tuple[list, dict | None]:
    from IPython.core.displaypub import CapturingDisplayPublisher

    out, err = _Capped(limit), _Capped(limit)
    hook_outputs: list = []
    tb: list = []
    shell.display_pub = CapturingDisplayPublisher()
    hook = shell.displayhook
    hook._course_outputs = hook_outputs
    shell._showtraceback = lambda etype, evalue, stb: tb.append((etype, evalue, stb))
    sys.stdout, sys.stderr = out, err
    try:
        result = shell.run_cell(source, store_history=False, silent=False)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    error = result.error_before_exec or result.error_in_exec
    outputs = []
    if out.text():
        outputs.append({"output_type": "stream", "name": "stdout", "text": out.text()})
    if err.text():
        outputs.append({"output_type": "stream", "name": "stderr", "text": err.text()})
    for d in shell.display_pub.outputs[:20]:
        outputs.append({"output_type": "display_data", "data": _json_safe(d.get("data"), limit), "metadata": {}})
    for d in hook_outputs[-1:]:
        outputs.append({"output_type": "execute_result", "data": _json_safe(d.get("data"), limit), "metadata": {},
                        "execution_count": None})
    e = None
    if error is not None:
        try:
            ename, evalue = type(error).__name__, str(error)[:4000]
        except Exception:  # noqa: BLE001 - a student exception whose __str__ fails
            ename, evalue = type(error).__name__, "(unprintable)"
        if isinstance(error, KeyboardInterrupt):
            ename, evalue = "TimeoutError", "interrupted"
        stb = [str(s)[:4000] for s in (tb[-1][2] if tb else [])][:60]
        e = {"ename": ename, "evalue": evalue, "traceback": stb or [f"{ename}: {evalue}"]}
        e.update(_check_finding(error))
    return outputs, e


def _check_finding(error: BaseException) -> dict:
    """What a failed course check found, as data (``seqlab.testing.CheckError``: the mistake it named,
    why it failed), for the class report. Read in the judge, where the checks run; a kernel cell's
    error reaches the judge without these fields (judge/bridge.py ``_cell_outputs``)."""
    from seqlab.testing import CheckError

    if not isinstance(error, CheckError):
        return {}
    found = {k: getattr(error, k, None) for k in ("mistake", "cause")}
    return {k: v[:500] for k, v in found.items() if type(v) is str and v}


def _kernel(req: dict, sock) -> None:
    """The student's kernel: confined, it runs the student's cells (and the course's cells that only
    define what they use) when the judge asks, and answers the judge's calls (servant.py)."""
    from .servant import Servant, poison_oracles

    sandbox.confine(req)
    _quiet_fds(keep={sock.fileno()})
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req.get("env") or {})
    sys.path.append(req["cwd"])  # the student's own modules import; the course's win
    import torch

    torch.set_num_threads(1)
    poison_oracles()
    shell = _SHELL
    shell.user_ns.clear()
    shell.init_user_ns()
    servant = Servant(sock, shell, _run_cell, int(req["output_limit"]))
    _forget_grader_modules()
    servant.serve()
    os._exit(0)


def _forget_grader_modules() -> None:
    """The grader's own modules leave ``sys.modules`` before student code runs (the live servant and
    recorder keep working through their references), so that no import or lookup by name reaches
    them; the course folder they came from is hidden from the kernel, so they cannot be imported anew."""
    for name in [n for n in sys.modules if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]


def _judge(req: dict, sock, wfd: int, skip: set[int]) -> None:
    """The judge: runs the setup and test cells, where no student code has run (judge/bridge.py)."""
    from ..judge import bridge as judge

    sandbox.die_with_parent(req["parent_pid"])
    judge.protect_self()
    _quiet_fds(keep={sock.fileno(), wfd})
    os.environ.clear()
    os.environ.update(req.get("env") or {})
    os.chdir(req["cwd"])
    shell = _SHELL
    shell.user_ns.clear()
    shell.init_user_ns()

    def report(frame: dict) -> None:
        data = _frame(frame)
        while data:
            data = data[os.write(wfd, data):]

    judge.drive(req, sock, report, _run_cell, shell, skip)
    os._exit(0)


def _quiet_fds(keep: set[int]) -> None:
    """stdin/stdout/stderr to /dev/null; every other descriptor closed but ``keep``."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    prev = 2
    for fd in sorted(keep | {0, 1, 2})[3:] + [65536]:
        if fd > prev + 1:
            os.closerange(prev + 1, fd)
        prev = fd


def _frame(obj: dict) -> bytes:
    import json

    data = json.dumps(obj, separators=(",", ":")).encode()
    return len(data).to_bytes(4, "big") + data


# ---------------------------------------------------------------- the server's side of one run

def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
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
    import fcntl
    import termios

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


def _pump(kernel: int, judge: int, rfd: int, req: dict, results: list, bridge: dict) -> tuple:
    """Read the judge's frames until it ends, or the kernel or the judge dies. Returns ('end',) or
    ('died', cell, why, the kernel's wait status). Raises WorkerGone (both killed) when the worker
    goes away meanwhile.

    A cell over its time limit: SIGINT to the kernel (the student's code is what runs long; the
    judge's call then fails with a TimeoutError), SIGKILL to the kernel 2 s later, and to the
    judge 5 s after that, should the course's own code be what hangs."""
    import json

    buf = b""
    current, started, stage = None, 0.0, 0
    cell_timeout = float(req["cell_timeout"])
    mem_bytes = int(req["mem_bytes"])
    watchdog = mem_bytes and not req.get("cgroup_memory")
    why, ended, kernel_status, kernel_gone = None, False, None, False
    while True:
        now = time.monotonic()
        if current is not None and now - started > cell_timeout:
            if stage == 0:
                _signal(kernel, signal.SIGINT)
                stage, started = 1, now - cell_timeout + 2.0
            elif stage == 1:
                why = "timeout"
                _kill_group(kernel)
                stage, started = 2, now - cell_timeout + 5.0
            else:
                _kill_group(judge)
        if watchdog and kernel_status is None and _rss(kernel) > mem_bytes:
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
        buf += chunk
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if len(buf) < 4 + n:
                break
            msg = json.loads(buf[4:4 + n])
            buf = buf[4 + n:]
            t, i = msg.get("t"), msg.get("i")
            if t == "start":
                current, started, stage = i, time.monotonic(), 0
            elif t == "done" and i == current:
                if results[i] is None:
                    err = msg.get("error")
                    if stage and err:
                        err = {"ename": "TimeoutError", "evalue": f"this cell ran longer than {cell_timeout:g} s and was stopped",
                               "traceback": [f"TimeoutError: this cell ran longer than {cell_timeout:g} s and was stopped"]}
                    results[i] = {"outputs": msg.get("outputs") or [], "error": err}
                    if msg.get("run") is not None:  # what the recorder saw (judge/operators.py)
                        results[i]["run"] = msg["run"]
                bridge.update(msg.get("bridge") or {})
                current = None
            elif t == "died":  # the judge lost the kernel in cell i
                current, kernel_gone = i, True
            elif t == "end":
                bridge.update(msg.get("bridge") or {})
                ended = True
    os.close(rfd)
    _, judge_status = os.waitpid(judge, 0)
    _kill_group(kernel)
    if kernel_status is None:
        _, kernel_status = os.waitpid(kernel, 0)
    if ended:
        return ("end",)
    if not kernel_gone and why is None:
        return ("died", current, "judge", judge_status)
    return ("died", current, why, kernel_status)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _fork(target, *args) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        finally:
            os._exit(70)
    return pid


def run(req: dict, cgroups=None) -> dict:
    """Run one notebook: a fresh kernel and a fresh judge per attempt; one result per cell."""
    import socket

    n = len(req["cells"])
    results: list = [None] * n
    skip: set[int] = set()
    deaths = 0
    bridge: dict = {}
    t0 = time.monotonic()
    req["parent_pid"] = os.getpid()  # both die with this server (sandbox.die_with_parent)
    while True:
        rfd, wfd = os.pipe()
        judge_end, kernel_end = socket.socketpair()
        oom_before = cgroups.oom_kills() if cgroups else 0

        def as_kernel():
            os.close(rfd)
            os.close(wfd)
            judge_end.close()
            _kernel(req, kernel_end)

        def as_judge():
            os.close(rfd)
            kernel_end.close()
            _judge(req, judge_end, wfd, skip)

        kernel = _fork(as_kernel)
        judge = _fork(as_judge)
        os.close(wfd)
        judge_end.close()
        kernel_end.close()
        try:
            outcome = _pump(kernel, judge, rfd, req, results, bridge)
        finally:  # also when the worker is gone: nothing the kernel started may outlive it
            for pid in (kernel, judge):
                _kill_group(pid)
            if cgroups:
                cgroups.kill_all()
            sandbox.kill_user_processes(req.get("uid"))
        if outcome[0] == "end":
            break
        _, cell, why, status = outcome
        if why is None and cgroups and cgroups.oom_kills() > oom_before:
            why = "memory"
        deaths += 1
        if why == "timeout":
            err = ("TimeoutError", f"this cell ran longer than {req['cell_timeout']:g} s and was stopped")
        elif why == "memory":
            err = ("MemoryError", f"this cell used more than {int(req['mem_bytes']) >> 20} MB of memory and was stopped")
        elif why == "judge":
            err = ("GraderError", "the grader's own process for this notebook failed here")
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            how = f"signal {signal.Signals(sig).name}" if sig else f"exit code {code}"
            err = ("KernelDied", f"the kernel died while running this cell ({how})")
        if cell is None or deaths > _MAX_DEATHS or time.monotonic() - t0 > float(req["total_timeout"]):
            for j in range(n):
                if results[j] is None:
                    results[j] = {"outputs": [], "error": {
                        "ename": err[0], "evalue": err[1] + " (the notebook could not be run past this point)",
                        "traceback": [f"{err[0]}: {err[1]}"]}}
            break
        msg = err[1] + "; the notebook was re-run without it, so the cells after it still count"
        results[cell] = {"outputs": [], "error": {"ename": err[0], "evalue": msg, "traceback": [f"{err[0]}: {msg}"]}}
        skip.add(cell)
    for j in range(n):  # cells after the end (cannot happen) or skipped by a death
        if results[j] is None:
            results[j] = {"outputs": [], "error": {"ename": "NotRun", "evalue": "not run", "traceback": []}}
    return {"cells": results, "bridge": bridge}


def serve() -> None:
    global _REQUESTS_FD
    # Dies with the worker that started it (which passes its pid), even while a kernel runs.
    sandbox.die_with_parent(int(os.environ.get("SEQGRADE_PARENT") or 0) or None)
    proto_in = os.fdopen(os.dup(0), "rb")
    _REQUESTS_FD = proto_in.fileno()
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints of the server go to stderr, never into the protocol
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    preload()
    write_frame(proto_out, {"ready": True})
    cg_cache = {}
    while True:
        req = read_frame(proto_in)
        if req is None:
            break
        cg = None
        if req.get("slot") is not None:
            key = (req["slot"], req["mem_bytes"], req["max_pids"])
            if key not in cg_cache:  # None where the machine gives no cgroups
                cg_cache[key] = sandbox.Cgroups(req["slot"], int(req["mem_bytes"]), int(req["max_pids"]))
            cg = cg_cache[key]
            req["cgroup_procs"] = cg.procs_files if cg else []
            req["cgroup_memory"] = bool(cg and cg.memory)
        try:
            reply = run(req, cg)
        except WorkerGone:
            break
        except Exception as e:  # noqa: BLE001 - report, keep serving
            reply = {"fatal": f"{type(e).__name__}: {e}"}
        write_frame(proto_out, reply)


if __name__ == "__main__":
    serve()

"""The fork server: one process per grading worker that imports NumPy, PyTorch, IPython and the
course's helpers once, never computes, and forks a fresh kernel for every notebook.

Run as ``python -m autograder.host``; it reads requests and writes replies as length-prefixed
JSON frames on stdin/stdout (see ``worker.KernelHost``). A request is a list of cells and the
sandbox settings; the reply has, per cell, its outputs, its error and the data of every check
it made. The fork server enforces per-cell time limits (SIGINT, then SIGKILL), notices a kernel
that dies (``os._exit``, a segfault, the memory cap) and re-runs the notebook from the start
with the fatal cell skipped, so that later cells still count.

Nothing outlives the worker: the server dies with it (``sandbox.die_with_parent``; the worker
passes its pid in ``SEQGRADE_PARENT``) and stops, killing the kernel, as soon as its request pipe
reads as end-of-file, also in the middle of a notebook; each kernel dies with the server.

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

from . import checks, sandbox  # noqa: F401 - imported before any fork

_SHELL = None
_SNAPSHOT = None
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
    global _SHELL, _SNAPSHOT
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("SEQLAB_QUICK", "1")
    import collections, copy, dataclasses, functools, itertools, json, math, random, re, statistics, string, typing  # noqa: F401,E401
    import pkgutil

    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch.nn.functional  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import seqlab

    for mod in pkgutil.walk_packages(seqlab.__path__, "seqlab."):
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
    checks.install()
    builtins.input = _no_input
    _run_cell(_SHELL, "_warm = 1 + 1\n_warm", 1000)  # IPython's lazy first-cell work, done once here
    from .pristine import Snapshot

    _SNAPSHOT = Snapshot()
    _SHELL._pristine = {
        "input_transformers_cleanup": list(_SHELL.input_transformer_manager.cleanup_transforms),
        "line_transforms": list(_SHELL.input_transformer_manager.line_transforms),
        "token_transformers": list(_SHELL.input_transformer_manager.token_transformers),
        "input_transformers_post": list(_SHELL.input_transformers_post),
        "ast_transformers": list(_SHELL.ast_transformers),
        "events": {k: list(v) for k, v in _SHELL.events.callbacks.items()},
    }


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


def _restore(shell, setup_names: dict) -> None:
    _SNAPSHOT.restore()
    p = shell._pristine
    tm = shell.input_transformer_manager
    tm.cleanup_transforms[:] = p["input_transformers_cleanup"]
    tm.line_transforms[:] = p["line_transforms"]
    tm.token_transformers[:] = p["token_transformers"]
    shell.input_transformers_post[:] = p["input_transformers_post"]
    shell.ast_transformers[:] = p["ast_transformers"]
    for k in list(shell.events.callbacks):
        shell.events.callbacks[k][:] = p["events"].get(k, [])
    ns = shell.user_ns
    for k, v in setup_names.items():
        ns[k] = v
    ns["__builtins__"] = builtins
    builtins.input = _no_input


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
    return outputs, e


def _child(req: dict, wfd: int, skip: set[int]) -> None:
    sandbox.confine(req)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    keep = sorted({0, 1, 2, wfd})
    prev = 2
    for fd in keep[3:] + [65536]:
        if fd > prev + 1:
            os.closerange(prev + 1, fd)
        prev = fd
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req.get("env") or {})
    sys.path.append(req["cwd"])  # the student's own modules import; the course's win
    import torch

    torch.set_num_threads(1)
    checks._CHANNEL["fd"] = wfd
    checks._CHANNEL["pid"] = os.getpid()
    shell = _SHELL
    shell.user_ns.clear()
    shell.init_user_ns()
    limit = int(req.get("output_limit", 100_000))
    setup_names: dict = {}
    dirty = True
    for i, cell in enumerate(req["cells"]):
        if i in skip:
            continue
        course = cell.get("course", False)
        if course and dirty:
            _restore(shell, setup_names)
            dirty = False
        checks._CHANNEL["cell"] = i
        checks.send({"t": "start", "i": i})
        before = dict(shell.user_ns) if cell.get("setup") else None
        outputs, error = _run_cell(shell, cell["source"], limit)
        if before is not None:
            setup_names.update({k: v for k, v in shell.user_ns.items() if k not in before or before[k] is not v})
        checks.send({"t": "done", "i": i, "outputs": outputs, "error": error})
        if not course:
            dirty = True
    checks.send({"t": "end"})
    os._exit(0)


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


def _pump(pid: int, rfd: int, req: dict, results: list, checks_of: dict) -> tuple:
    """Read the child's frames until it ends or dies. Returns ('end',) or ('died', cell, why).
    Raises WorkerGone (the kernel killed) when the worker goes away meanwhile."""
    import json

    buf = b""
    current, started, interrupted, ended = None, 0.0, False, False
    cell_timeout = float(req.get("cell_timeout", 120))
    mem_bytes = int(req.get("mem_bytes", 0))
    watchdog = mem_bytes and not req.get("cgroup_memory")
    why = None
    while True:
        now = time.monotonic()
        if current is not None and now - started > cell_timeout:
            if not interrupted:
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
                interrupted, started = True, now - cell_timeout + 2.0  # 2 s grace to honour the interrupt
            else:
                why = "timeout"
                _kill_group(pid)
        if watchdog and _rss(pid) > mem_bytes:
            why = "memory"
            _kill_group(pid)
        r, _, _ = select.select([rfd], [], [], 0.05)
        if _worker_gone():
            _kill_group(pid)
            os.waitpid(pid, 0)
            raise WorkerGone
        if not r:
            continue
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if n > (64 << 20):
                why = "protocol"
                _kill_group(pid)
                buf = b""
                break
            if len(buf) < 4 + n:
                break
            try:
                msg = json.loads(buf[4:4 + n])
            except ValueError:
                msg = {}
            buf = buf[4 + n:]
            t, i = msg.get("t"), msg.get("i")
            if t == "start" and isinstance(i, int) and 0 <= i < len(results):
                current, started, interrupted = i, time.monotonic(), False
                checks_of[i] = []
            elif t == "check" and i == current and current is not None:
                checks_of[current].append(msg)
            elif t == "done" and i == current and current is not None:
                if results[i] is None:
                    err = msg.get("error")
                    if interrupted and err:
                        err = {"ename": "TimeoutError", "evalue": f"this cell ran longer than {cell_timeout:g} s and was stopped",
                               "traceback": [f"TimeoutError: this cell ran longer than {cell_timeout:g} s and was stopped"]}
                    results[i] = {"outputs": msg.get("outputs") or [], "error": err, "checks": checks_of.get(i, [])}
                current = None
            elif t == "end":
                ended = True
    _, status = os.waitpid(pid, 0)
    os.close(rfd)
    if ended:
        return ("end",)
    return ("died", current, why, status)


def run(req: dict, cgroups=None) -> dict:
    """Run one notebook's cells in fresh forked kernels; one result per cell."""
    n = len(req["cells"])
    results: list = [None] * n
    skip: set[int] = set()
    deaths = 0
    t0 = time.monotonic()
    req["parent_pid"] = os.getpid()  # the kernel dies with this server (sandbox.die_with_parent)
    while True:
        rfd, wfd = os.pipe()
        oom_before = cgroups.oom_kills() if cgroups else 0
        pid = os.fork()
        if pid == 0:  # the kernel
            try:
                os.close(rfd)
                _child(req, wfd, skip)
            finally:
                os._exit(70)
        os.close(wfd)
        checks_of: dict = {}
        try:
            outcome = _pump(pid, rfd, req, results, checks_of)
        finally:  # also when the worker is gone: nothing the kernel started may outlive it
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
            err = ("TimeoutError", f"this cell ran longer than {req.get('cell_timeout', 120):g} s and was stopped")
        elif why == "memory":
            err = ("MemoryError", f"this cell used more than {int(req.get('mem_bytes', 0)) >> 20} MB of memory and was stopped")
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            how = f"signal {signal.Signals(sig).name}" if sig else f"exit code {code}"
            err = ("KernelDied", f"the kernel died while running this cell ({how})")
        if cell is None or deaths > _MAX_DEATHS or time.monotonic() - t0 > float(req.get("total_timeout", 1800)):
            for j in range(n):
                if results[j] is None:
                    results[j] = {"outputs": [], "checks": [], "error": {
                        "ename": err[0], "evalue": err[1] + " (the notebook could not be run past this point)",
                        "traceback": [f"{err[0]}: {err[1]}"]}}
            break
        msg = err[1] + "; the notebook was re-run without it, so the cells after it still count"
        results[cell] = {"outputs": [], "checks": [], "error": {"ename": err[0], "evalue": msg, "traceback": [f"{err[0]}: {msg}"]}}
        skip.add(cell)
    for j in range(n):  # cells after the end (cannot happen) or skipped by a death
        if results[j] is None:
            results[j] = {"outputs": [], "checks": [], "error": {"ename": "NotRun", "evalue": "not run", "traceback": []}}
    return {"cells": results, "deaths": deaths, "wall": time.monotonic() - t0}


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
            key = (req["slot"], req.get("mem_bytes"), req.get("max_pids"))
            if key not in cg_cache:  # None where the machine gives no cgroups
                cg_cache[key] = sandbox.Cgroups(req["slot"], int(req.get("mem_bytes") or (2 << 30)),
                                                int(req.get("max_pids") or 256))
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

"""The judge, from the fork: it runs one notebook's setup and test cells, where no student code has
ever run, and the kernel's cells over the bridge (bridge.py), and tells the fork server how each
cell went (``protocol.CellEvent``).

Only answers cross (names.py): after each kernel cell, a name the kernel reports is bound here only
when the course's tests may take it from the student. While a test cell of a function with built-ins
it must be written without runs, the kernel records which of PyTorch's operators the student's code
ran (``Link.open_window``/``close_window``; operators.py reads the record, verdict.py decides).
"""
from __future__ import annotations

import ctypes
import os

from .. import protocol
from ..protocol import BridgeStats, CellError, CellKind, CellResult, Done, Ended, KernelLost, NotebookRequest, Started
from ..sandbox.confine import die_with_parent, quiet_fds
from . import names, operators
from .bridge import BridgeError, Link

PR_SET_DUMPABLE = 4


def judge(request: NotebookRequest, sock, events_fd: int, shell, run_cell, skip: set[int], *, server_pid: int) -> None:
    """Run as the judge of one notebook (a freshly forked child of the fork server); never returns.
    ``events_fd``: the pipe to the fork server; ``skip``: cells a dead kernel was stopped in before."""
    die_with_parent(server_pid)
    protect_self()
    quiet_fds(keep={sock.fileno(), events_fd})
    os.environ.clear()
    os.environ.update(request.confinement.env)
    os.chdir(request.confinement.cwd)
    shell.user_ns.clear()
    shell.init_user_ns()
    with os.fdopen(events_fd, "wb") as events:
        drive(request, Link(sock), lambda event: protocol.write(events, event.to_json()), run_cell, shell, skip)
    os._exit(0)


def protect_self() -> None:
    """No other process of this user may read or trace the judge (the kernel may share its uid when
    the grader runs unprivileged)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace, no /proc/<pid>/mem
    except (OSError, AttributeError):
        pass
    os.environ.pop("PYTHONINSPECT", None)


def drive(request: NotebookRequest, link: Link, report, run_cell, shell, skip: set[int]) -> None:
    """Run one notebook: the judge's cells here, the kernel's over ``link``. ``report(event)`` tells
    the fork server about each cell (started, done, ended; or the kernel lost)."""
    import torch

    torch.set_num_threads(1)
    limit = request.limits.output_limit
    ns = shell.user_ns
    cells = request.cells
    crossing = names.crossing(cells)
    forbidden = names.forbidden_lists(c.source for c in cells if c.kind == CellKind.COURSE and c.in_judge)
    record = request.record
    watched = operators.python_level(forbidden.values()) if record else []
    if watched:  # before any student code runs
        _guarded(link, lambda: link.request_raw(protocol.Watch(watched)))
    for i, cell in enumerate(cells):
        if i in skip:
            continue
        report(Started(i))
        run = None
        if cell.in_judge:
            function = names.graded_function(cell.grade_id) if cell.kind == CellKind.COURSE else None
            rules = forbidden.get(function) if function else None
            window = None
            if record and rules is not None and operators.needs_record(rules):
                window = _guarded(link, lambda: link.open_window(function))
            outputs, error = run_cell(shell, cell.source, limit)
            if window is not None:
                run = _guarded(link, lambda: link.close_window(window, function, rules))
            link.release()
        if cell.in_kernel:
            link.cells.append(cell.source)
            try:
                reply = link.request(protocol.RunCell(cell.source))
            except BridgeError:
                link.closed = True
            else:
                if not cell.in_judge:
                    outputs, error = kernel_cell_result(reply)
                course_cell = cell.kind == CellKind.COURSE
                bind_names(ns, reply.get("names"), lambda name: crossing.admits(name, course_cell), link)
        if link.closed:
            report(KernelLost(i))
            return
        report(Done(i, CellResult(tuple(outputs), error, run), _stats(link)))
    report(Ended(_stats(link)))


def _stats(link: Link) -> BridgeStats:
    return BridgeStats(link.calls, link.bytes, round(link.seconds, 4))


def bind_names(ns: dict, reported, admits, link: Link) -> None:
    """Bind what the kernel's cell defined, each name only if ``admits(name)`` (names.Crossing.admits)."""
    if type(reported) is not dict:
        return
    for name, value in reported.items():
        if type(name) is not str or not name.isidentifier() or name.startswith("_") or not admits(name):
            continue
        try:
            with link.descending_from(name):
                ns[name] = link.decode(value)
        except protocol.WireError:
            continue


def _guarded(link: Link, step):
    """A recording step; the kernel gone meanwhile closes the link (the cell is reported as lost)."""
    try:
        return step()
    except BridgeError:
        link.closed = True
        return None


def kernel_cell_result(reply: dict) -> tuple[list, CellError | None]:
    """The kernel's outputs and error of one of its cells, kept only in the shapes the feedback page
    shows (what the kernel says is the student's: never a check's finding)."""
    outputs = []
    for o in (reply.get("outputs") or [])[:50]:
        if type(o) is not dict:
            continue
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") in ("stdout", "stderr") and type(o.get("text")) is str:
            outputs.append({"output_type": "stream", "name": o["name"], "text": o["text"][:200_000]})
        elif kind in ("display_data", "execute_result") and type(o.get("data")) is dict:
            data = {k: v for k, v in o["data"].items() if type(k) is str and type(v) is str}
            out = {"output_type": kind, "data": data, "metadata": {}}
            if kind == "execute_result":
                out["execution_count"] = None
            outputs.append(out)
    err = reply.get("cell_error")
    if type(err) is not dict:
        return outputs, None
    tb = err.get("traceback") if type(err.get("traceback")) is list else []
    return outputs, CellError(str(err.get("ename", "Error"))[:200], str(err.get("evalue", ""))[:4000],
                              tuple(str(s)[:4000] for s in tb[:60]))

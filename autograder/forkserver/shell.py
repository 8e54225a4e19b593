"""The IPython shell a notebook's cells run in, and running one cell (``run_cell``).

The fork server builds one pristine shell before it forks (``new_shell``); the kernel and the
judge each inherit a copy and empty its namespace. ``run_cell`` runs a cell as Jupyter would and
captures what it shows: stdout and stderr (the first ``limit`` characters each), displays and the
cell's value, as nbformat outputs, and its error as a ``protocol.CellError``. Both sides use it:
the kernel for the student's cells (kernel/servant.py), the judge for the course's (judge/main.py).
"""
from __future__ import annotations

import builtins
import sys

from ..protocol import CellError

#: MIME types a captured display keeps (text; images as text: PNG in base64, SVG).
_SHOWN_MIME = ("text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml", "text/latex")


def _no_input(*args, **kwargs):
    raise EOFError("input() is not available while grading: a graded notebook cannot wait for keyboard input")


def new_shell():
    """A pristine IPython shell (no history, no colours, no autocall) whose displayhook captures
    each cell's value; ``input()`` raises EOFError at once in every process forked from here."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    c = Config()
    c.HistoryManager.enabled = False
    c.InteractiveShell.colors = "nocolor"
    c.InteractiveShell.autocall = 0
    shell = InteractiveShell.instance(config=c)
    _capturing_displayhook(shell)
    builtins.input = _no_input
    run_cell(shell, "_warm = 1 + 1\n_warm", 1000)  # IPython's lazy first-cell work, done once here
    return shell


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
    return {mime: v[:limit] for mime, v in (data or {}).items() if mime in _SHOWN_MIME and isinstance(v, str)}


def run_cell(shell, source: str, limit: int) -> tuple[list, CellError | None]:
    """Run ``source`` in ``shell``: (its nbformat outputs, its error or None)."""
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
    return outputs, None if error is None else _cell_error(error, tb)


def _cell_error(error: BaseException, tb: list) -> CellError:
    try:
        ename, evalue = type(error).__name__, str(error)[:4000]
    except Exception:  # noqa: BLE001 - a student exception whose __str__ raises: the cell still failed
        ename, evalue = type(error).__name__, "(unprintable)"
    if isinstance(error, KeyboardInterrupt):
        ename, evalue = "TimeoutError", "interrupted"
    stb = [str(s)[:4000] for s in (tb[-1][2] if tb else [])][:60]
    return CellError(ename, evalue, tuple(stb or [f"{ename}: {evalue}"]), **check_finding(error))


def check_finding(error: BaseException) -> dict[str, str]:
    """What a failed course check found, as data (``seqlab.testing.CheckError``: the mistake it named,
    why it failed), for the class report. Read in the judge, where the checks run; a kernel cell's
    error reaches the judge without these fields (judge/main.py ``kernel_cell_result``)."""
    from seqlab.testing import CheckError

    if not isinstance(error, CheckError):
        return {}
    found = {k: getattr(error, k, None) for k in ("mistake", "cause")}
    return {k: v[:500] for k, v in found.items() if type(v) is str and v}

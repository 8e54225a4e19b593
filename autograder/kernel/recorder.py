"""The kernel's recorder: which PyTorch operators ran while a test cell called into the student's
code (the own-work rule at run time; the judge decides what the record means, judge/operators.py).

A *window* spans one test cell. While it is open, PyTorch's profiler runs on every thread of the
kernel, and its hooks in the dispatcher see every ATen operator however it was reached:
``nn.RNN`` found by a walk of ``__subclasses__``, ``torch.ops.aten...``, ``torch._C``, a functional
call, a thread pool. The servant marks the spans where the student's code runs (``student``); its
own work between them (decoding arguments, encoding results) is left out.

What the dispatcher does not see is marked by *guards*, record-function ranges the profiler keeps
beside the operators (so nothing about them lives in Python state the student could reset):

- ``py::<path>``: a built-in written in Python (``torch.nn.MultiheadAttention``'s forward,
  ``F.multi_head_attention_forward``, ``clip_grad_norm_``) was called; the judge names which to
  watch before any student code runs (``watch``);
- ``door::<name>``: code outside PyTorch opened a door around the dispatcher, which runs an
  operator's kernel without the dispatcher's record (``OpOverload.decompose``, ``.redispatch``,
  ``._op_dk``, ``torch._C._get_operation_overload``);
- ``switch::<name>``: the profiler's own switches were used (stopping or starting a profiler,
  turning record functions off on a thread, making record-function ranges).

Everything here runs beside the student's code, so none of it is believed: the judge opens each
window with a fresh nonce and closes it with another, and a record without both marks (the
profiler was stopped or replaced) is tampering. The profiler's entry points are taken when this
module is imported, in the fork server before any kernel exists, and the guards are installed
there (``install_guards``); the recorder alone holds the originals.
"""
from __future__ import annotations

import bisect
import contextlib
import os
import sys
import types

from torch._C import _autograd as _A, _profiler as _P

#: The name every mark of the recorder starts with.
MARK = "seqgrade::"
STUDENT = MARK + "student"
_MAX_NAMES = 2000

# The originals, taken before any guard replaces the public names.
_prepare, _enable, _disable, _enabled = _A._prepare_profiler, _A._enable_profiler, _A._disable_profiler, _A._profiler_enabled
_Range = _P._RecordFunctionFast
_CONFIG = _P.ProfilerConfig(_P.ProfilerState.KINETO, False, False, False, False, False,
                            _P._ExperimentalConfig(profile_all_threads=True))
_ACTIVITIES = {_P.ProfilerActivity.CPU}
_SCOPES = {_P.RecordScope.FUNCTION, _P.RecordScope.USER_SCOPE}


class Recorder:
    """Opens and closes windows; between them, nothing is recorded and nothing costs."""

    def __init__(self):
        self.open_nonce: str | None = None

    def open(self, nonce: str) -> None:
        if _enabled():  # a profiler the student's own code left running: set aside
            _disable()
        _prepare(_CONFIG, _ACTIVITIES)
        _enable(_CONFIG, _ACTIVITIES, _SCOPES)
        self.open_nonce = nonce
        with _Range(f"{MARK}open::{nonce}"):
            pass

    def student(self):
        """A span of the student's code (a context manager); a no-op when no window is open."""
        return _Range(STUDENT) if self.open_nonce is not None else contextlib.nullcontext()

    def close(self, nonce: str) -> dict:
        """End the window; what ran in it, as plain data (see ``reduce``)."""
        if self.open_nonce is None:
            return {"marks": [], "off": "no window was open"}
        self.open_nonce = None
        with _Range(f"{MARK}close::{nonce}"):
            pass
        try:
            result = _disable()
        except RuntimeError as e:  # the profiler is not running any more
            return {"marks": [], "off": str(e)[:200]}
        return reduce(result.events())


def reduce(events) -> dict:
    """A window's events, as the judge reads them:

    - ``marks``: the window's own marks seen on the calling thread (``open::<nonce>``, ``close::<nonce>``);
    - ``ops``: the ATen operators (``aten::rnn_tanh``) the student's code ran, on any thread;
    - ``calls``: the guards' marks in the student's code (``py::torch.nn.MultiheadAttention``,
      ``door::decompose``, ``switch::_disable_profiler``);
    - ``other_threads``: how many operators ran off the calling thread.
    """
    rows = []  # (name, thread, start): each read from the event once
    for e in events:
        try:
            rows.append((e.name(), e.start_thread_id(), e.start_ns(), e.end_ns()))
        except UnicodeDecodeError:  # a name the profiler could not decode: not an operator of PyTorch's
            continue
    main = next((r[1] for r in rows if r[0].startswith(MARK + "open::")), None)
    spans = sorted((start, end) for name, thread, start, end in rows if name == STUDENT and thread == main)
    starts = [a for a, _ in spans]
    marks, ops, calls = set(), set(), set()
    other = 0
    for name, thread, start, _ in rows:
        if name == STUDENT:
            continue
        if thread == main:
            if name.startswith((MARK + "open::", MARK + "close::")):
                marks.add(name[len(MARK):])
                continue
            i = bisect.bisect_right(starts, start) - 1
            if i < 0 or start > spans[i][1]:
                continue  # the servant's own work
        else:
            other += 1
        (calls if name.startswith(MARK) else ops).add(name.removeprefix(MARK))
    return {"marks": sorted(marks), "ops": sorted(ops)[:_MAX_NAMES], "calls": sorted(calls)[:_MAX_NAMES],
            "other_threads": other}


# ---------------------------------------------------------------- guards

#: PyTorch's own folder (set by install_guards): code there may use the doors.
_TORCH = ""
#: The profiler's switches: (module, name). Their guards mark every call, whoever makes it.
_SWITCHES = (("torch._C._autograd", "_enable_record_function"), ("torch._C._autograd", "_disable_profiler"),
             ("torch._C._autograd", "_disable_profiler_legacy"), ("torch._C._autograd", "_enable_profiler"),
             ("torch._C._autograd", "_enable_profiler_legacy"), ("torch._C._autograd", "_prepare_profiler"))


def _from_outside(depth: int = 2) -> bool:
    """Whether the guard's caller is code outside PyTorch (PyTorch itself reaches its doors on the
    "meta" device, through its Python decompositions)."""
    try:
        filename = sys._getframe(depth).f_code.co_filename
    except ValueError:
        return True
    return not os.path.abspath(filename).startswith(_TORCH)


def _marking(fn, mark: str, only_from_outside: bool = False):
    """``fn`` wrapped so that each call leaves ``mark`` in a running profiler's record."""
    def guard(*args, **kwargs):
        if not only_from_outside or _from_outside():
            with _Range(MARK + mark):
                pass
        return fn(*args, **kwargs)

    guard.__name__ = getattr(fn, "__name__", "guard")
    guard.__qualname__ = getattr(fn, "__qualname__", guard.__name__)
    guard.__doc__ = getattr(fn, "__doc__", None)
    return guard


def _replace_everywhere(replacements: dict) -> None:
    """Rebind every name in PyTorch's modules that holds one of the originals (``id -> (original,
    replacement)``): a function may be re-exported under several names (``torch.nn.utils.clip_grad_norm_``
    and ``torch.nn.utils.clip_grad.clip_grad_norm_``)."""
    if not replacements:
        return
    for name, module in list(sys.modules.items()):
        if not (name == "torch" or name.startswith("torch.")) or not isinstance(module, types.ModuleType):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            hit = replacements.get(id(value))
            if hit is not None and hit[0] is value:
                namespace[key] = hit[1]


class _OpDk:
    """``OpOverload._op_dk`` (runs the kernel of one dispatch key, unrecorded) behind a guard: a data
    descriptor, so every OpOverload made later stores its binding where the guard reads it."""

    KEY = "_seqgrade_op_dk"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raw = obj.__dict__.get(self.KEY)
        return None if raw is None else _marking(raw, "door::_op_dk", only_from_outside=True)

    def __set__(self, obj, value):
        obj.__dict__[self.KEY] = value


def install_guards() -> None:
    """Guard the doors around the dispatcher and the profiler's switches (once, in the fork server,
    before any kernel exists)."""
    global _TORCH
    import torch
    import torch._ops as ops

    overload = ops.OpOverload
    if getattr(overload, "__seqgrade_guarded__", False):
        return
    _TORCH = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
    for name in ("decompose", "redispatch"):
        setattr(overload, name, _marking(vars(overload)[name], f"door::{name}", only_from_outside=True))
    overload._op_dk = _OpDk()
    for op in _existing_overloads():
        raw = op.__dict__.pop("_op_dk", None)
        if raw is not None:
            op.__dict__[_OpDk.KEY] = raw
    torch._C._get_operation_overload = _marking(torch._C._get_operation_overload, "door::_get_operation_overload",
                                                only_from_outside=True)
    replacements = {}
    for module, name in _SWITCHES:
        original = getattr(sys.modules.get(module), name, None)
        if original is not None:
            replacements[id(original)] = (original, _marking(original, f"switch::{name}"))
    _replace_everywhere(replacements)
    overload.__seqgrade_guarded__ = True


def _existing_overloads():
    """The OpOverloads made so far (``torch.ops.aten.add.Tensor`` ...), to move their ``_op_dk`` behind the guard."""
    import torch._ops as ops

    for namespace in list(vars(ops.ops).values()):
        if not isinstance(namespace, ops._OpNamespace):
            continue
        for packet in list(vars(namespace).values()):
            if isinstance(packet, ops.OpOverloadPacket):
                yield from (v for v in list(vars(packet).values()) if isinstance(v, ops.OpOverload))


def watch(paths) -> list[str]:
    """Mark every call of the built-ins written in Python that ``paths`` name (a function, or a
    module class's own ``forward``): ``py::<path>``. Returns the paths it could not watch."""
    missed, replacements = [], {}
    for path in paths if isinstance(paths, list) else []:
        target = _resolve(path) if isinstance(path, str) else None
        if target is None:
            missed.append(str(path)[:200])
            continue
        owner, name, fn = target
        if getattr(fn, "__seqgrade_mark__", None) or id(fn) in replacements:
            continue  # the same built-in under another name, guarded already
        guard = _guard_function(fn, f"py::{path}")
        if isinstance(owner, type):
            setattr(owner, name, guard)
        else:
            replacements[id(fn)] = (fn, guard)
    _replace_everywhere(replacements)
    return missed


def _guard_function(fn, mark: str):
    """A guard for a Python function and for the function it wraps (``functools.wraps``: a decorated
    built-in such as ``clip_grad_norm_``), so that calling its ``__wrapped__`` leaves the mark too."""
    guard = _marking(fn, mark)
    inner = getattr(fn, "__wrapped__", None)
    if isinstance(inner, types.FunctionType):
        guarded_inner = _marking(inner, mark)
        for cell in fn.__closure__ or ():
            if cell.cell_contents is inner:
                cell.cell_contents = guarded_inner
        fn.__wrapped__ = guard.__wrapped__ = guarded_inner
    guard.__seqgrade_mark__ = mark
    return guard


def _resolve(path: str):
    """(owner, name, function) for a dotted path in PyTorch: a Python function, or a class's own
    ``forward``; None for anything else. Only modules already imported are looked in."""
    if not path.startswith("torch."):
        return None
    parts = path.split(".")
    obj = sys.modules.get("torch")
    owner, name = None, None
    for i, part in enumerate(parts[1:], start=1):
        owner, name = obj, part
        obj = getattr(obj, part, None)
        if obj is None:
            obj = sys.modules.get(".".join(parts[: i + 1]))
        if obj is None:
            return None
    if isinstance(obj, type):
        fn = vars(obj).get("forward")
        return (obj, "forward", fn) if isinstance(fn, types.FunctionType) else None
    return (owner, name, obj) if isinstance(obj, types.FunctionType) else None

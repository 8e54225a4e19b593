"""What the grader's processes say to each other: the framing, once, and every message as a
dataclass with its JSON form (``to_json``, ``from_json``).

A message is a 4-byte big-endian length, then that many bytes of compact JSON (``frame``); one
over ``MAX_FRAME`` is refused. ``send``/``recv`` carry frames on a socket, ``write``/``read`` on a
pipe opened as a file, ``Unframer`` splits what a non-blocking pipe delivers.

Three conversations:

- a worker and its fork server (worker.ForkServer, forkserver/server.py): ``READY`` once, then for
  each notebook a ``NotebookRequest`` (its ``Cell``s, its ``Limits``, its ``Confinement``) answered
  by a ``NotebookReply`` (a ``CellResult`` per cell, the bridge's ``BridgeStats``) or a ``Fatal``;
- the judge and the fork server: the judge tells how each cell went (``CellEvent``: ``Started``,
  ``Done``, ``KernelLost``, ``Ended``), and the fork server times the cells by it;
- the judge and the kernel, over the bridge: one ``BridgeRequest`` (a class per operation:
  ``RunCell``, ``Call``, ``GetAttr`` ...) at a time, each answered ``{"re": body}``, where ``body``
  is the operation's reply or ``{"error": ErrorReply}``; while the kernel answers, the student's code
  may call back into the judge (``CallBack``). Values inside these messages are wire.py's.

Nothing the kernel sends is believed: ``from_json`` checks every field's type and raises
``WireError`` on anything else, so a malformed message fails the one request that got it.
"""
from __future__ import annotations

import json
import struct
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import ClassVar

from .limits import LimitError, Limits

MAX_FRAME = 256 << 20  # bytes of one message: a reply over it is refused, the call fails
_HEAD = struct.Struct(">I")


class WireError(ValueError):
    """A message that is not what the protocol allows (or is over its limits)."""


# ---------------------------------------------------------------- framing

def frame(message) -> bytes:
    """One message as bytes: its length, then its JSON."""
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_FRAME:
        raise WireError(f"a message of {len(data) >> 20} MB is over the bridge's {MAX_FRAME >> 20} MB limit")
    return _HEAD.pack(len(data)) + data


def _length(head: bytes) -> int:
    (n,) = _HEAD.unpack(head)
    if n > MAX_FRAME:
        raise WireError(f"a message of {n >> 20} MB is over the bridge's {MAX_FRAME >> 20} MB limit")
    return n


def _loads(data: bytes):
    try:
        return json.loads(data)
    except ValueError as e:
        raise WireError(f"not JSON: {e}") from None


def _read_exact(read, n: int) -> bytes:
    """``n`` bytes from ``read`` (a socket's ``recv``, a file's ``read``); EOFError when it ends first."""
    parts, got = [], 0
    while got < n:
        chunk = read(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side is gone")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def send(sock, message) -> int:
    """Write one message on a socket; returns its size in bytes."""
    data = frame(message)
    sock.sendall(data)
    return len(data)


def recv(sock) -> tuple[object, int]:
    """Read one message from a socket; returns it and its size in bytes. EOFError when the peer is gone."""
    n = _length(_read_exact(sock.recv, _HEAD.size))
    return _loads(_read_exact(sock.recv, n)), n + _HEAD.size


def write(f, message) -> None:
    """Write one message on a pipe opened as a binary file, and flush it."""
    f.write(frame(message))
    f.flush()


def read(f):
    """Read one message from a pipe opened as a binary file; None at its end."""
    try:
        return _loads(_read_exact(f.read, _length(_read_exact(f.read, _HEAD.size))))
    except EOFError:
        return None


class Unframer:
    """The messages in what a non-blocking pipe delivers, chunk by chunk."""

    def __init__(self):
        self.buffer = b""

    def feed(self, chunk: bytes) -> list:
        self.buffer += chunk
        messages = []
        while len(self.buffer) >= _HEAD.size:
            n = _length(self.buffer[:_HEAD.size])
            if len(self.buffer) < _HEAD.size + n:
                break
            messages.append(_loads(self.buffer[_HEAD.size:_HEAD.size + n]))
            self.buffer = self.buffer[_HEAD.size + n:]
        return messages


# ---------------------------------------------------------------- checking what arrives

def _need(value, kind, what: str):
    """``value`` if it is of ``kind`` (a type or a tuple of types, compared exactly: no bool for an int)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if type(value) not in kinds:
        raise WireError(f"bad {what}")
    return value


def _strings(value, what: str) -> tuple[str, ...]:
    if type(value) is not list or not all(type(v) is str for v in value):
        raise WireError(f"bad {what}")
    return tuple(value)


# ---------------------------------------------------------------- the fork server's request and reply

class Side(StrEnum):
    """Where a cell runs: the kernel (the student's code), the judge (the course's tests), or both
    (the setup cell: the kernel needs its imports, where ``seqlab.oracles`` is unavailable)."""

    KERNEL = "kernel"
    JUDGE = "judge"
    BOTH = "both"


class CellKind(StrEnum):
    """Whose a cell is (assemble.py): the course's (from solutions/), the student's answer, a cell
    the student added, or markdown (shown in the feedback, never run)."""

    COURSE = "course"
    SOLUTION = "solution"
    STUDENT = "student"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class Cell:
    """One cell the fork server runs: its text, where it runs, whose it is."""

    source: str
    side: Side
    kind: CellKind
    grade_id: str | None = None

    @property
    def in_judge(self) -> bool:
        return self.side in (Side.JUDGE, Side.BOTH)

    @property
    def in_kernel(self) -> bool:
        return self.side in (Side.KERNEL, Side.BOTH)

    def to_json(self) -> dict:
        return {"source": self.source, "side": self.side.value, "kind": self.kind.value, "grade_id": self.grade_id}

    @classmethod
    def from_json(cls, d) -> "Cell":
        d = _need(d, dict, "cell")
        try:
            return cls(_need(d.get("source"), str, "cell source"), Side(d.get("side")), CellKind(d.get("kind")),
                       _need(d.get("grade_id"), (str, type(None)), "grade_id"))
        except ValueError as e:
            raise WireError(f"bad cell ({e})") from None


@dataclass(frozen=True)
class Confinement:
    """Where and as whom one notebook's kernel runs (sandbox/confine.py): its scratch copy of the
    submission, its environment, the folders hidden from it, its worker's slot and user, and the
    resource limits it sets on itself (``Limits.rlimits``)."""

    cwd: str
    env: dict[str, str]
    hide: tuple[str, ...] = ()
    slot: int | None = None
    uid: int | None = None
    gid: int | None = None
    rlimits: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"cwd": self.cwd, "env": self.env, "hide": list(self.hide), "slot": self.slot, "uid": self.uid,
                "gid": self.gid, "rlimits": self.rlimits}

    @classmethod
    def from_json(cls, d) -> "Confinement":
        d = _need(d, dict, "confinement")
        env, rlimits = _need(d.get("env"), dict, "env"), _need(d.get("rlimits"), dict, "rlimits")
        if not all(type(k) is str and type(v) is str for k, v in env.items()) \
                or not all(type(k) is str and type(v) is int for k, v in rlimits.items()):
            raise WireError("bad confinement")
        optional = (int, type(None))
        return cls(_need(d.get("cwd"), str, "cwd"), env, _strings(d.get("hide"), "hide"),
                   _need(d.get("slot"), optional, "slot"), _need(d.get("uid"), optional, "uid"),
                   _need(d.get("gid"), optional, "gid"), rlimits)


@dataclass(frozen=True)
class NotebookRequest:
    """A worker asks its fork server to run one notebook; ``record``: the own-work recorder is on."""

    cells: tuple[Cell, ...]
    limits: Limits
    confinement: Confinement
    record: bool = True

    def to_json(self) -> dict:
        return {"cells": [c.to_json() for c in self.cells], "limits": self.limits.to_json(),
                "confinement": self.confinement.to_json(), "record": self.record}

    @classmethod
    def from_json(cls, d) -> "NotebookRequest":
        d = _need(d, dict, "request")
        try:
            limits = Limits.from_json(d.get("limits"))
        except (LimitError, TypeError) as e:
            raise WireError(f"bad limits ({e})") from None
        return cls(tuple(Cell.from_json(c) for c in _need(d.get("cells"), list, "cells")), limits,
                   Confinement.from_json(d.get("confinement")), _need(d.get("record"), bool, "record"))


#: The fork server's first message: it has imported what every notebook needs.
READY = {"ready": True}


@dataclass(frozen=True)
class CellError:
    """Why a cell failed: the exception's name and text and the traceback shown to the student;
    for a failed course check (``seqlab.testing.CheckError``) the mistake it named and the cause
    it gave, as data for the class report (report/causes.py). ``ename`` also names the faults
    around the code: ``TimeoutError``, ``MemoryError``, ``KernelDied``, ``GraderError``, ``NotRun``."""

    ename: str
    evalue: str
    traceback: tuple[str, ...] = ()
    mistake: str = ""
    cause: str = ""

    @classmethod
    def fault(cls, ename: str, evalue: str) -> "CellError":
        """A fault the grader reports itself (no traceback but its one line)."""
        return cls(ename, evalue, (f"{ename}: {evalue}",))

    def to_json(self) -> dict:
        out = {"ename": self.ename, "evalue": self.evalue, "traceback": list(self.traceback)}
        out.update({k: v for k, v in (("mistake", self.mistake), ("cause", self.cause)) if v})
        return out

    @classmethod
    def from_json(cls, d) -> "CellError":
        d = _need(d, dict, "error")
        return cls(_need(d.get("ename"), str, "ename"), _need(d.get("evalue"), str, "evalue"),
                   _strings(d.get("traceback", []), "traceback"), _need(d.get("mistake", ""), str, "mistake"),
                   _need(d.get("cause", ""), str, "cause"))


@dataclass(frozen=True)
class RunFindings:
    """What the record of a test cell's calls into the student's code says (judge/operators.py)."""

    function: str                 # the function or class the cell grades
    refused: tuple[str, ...]      # why it is not the student's own work ("it ran aten::rnn_tanh (behind torch.nn.RNN) ...")
    tampered: str | None = None   # why the record cannot be believed

    def message(self) -> str | None:
        """The refusal, as the student reads it in the feedback (None: nothing to refuse)."""
        if self.tampered:
            return (f"{self.function} earns no points: {self.tampered}. The grader records which of PyTorch's "
                    "operators run while the tests call your code; switching that off counts as tampering.")
        if self.refused:
            return (f"{self.function} is not your own work: while the tests called it, "
                    + "; ".join(self.refused) + ".")
        return None

    def to_json(self) -> dict:
        return {"function": self.function, "refused": list(self.refused), "tampered": self.tampered}

    @classmethod
    def from_json(cls, d) -> "RunFindings":
        d = _need(d, dict, "findings")
        return cls(_need(d.get("function"), str, "function"), _strings(d.get("refused"), "refused"),
                   _need(d.get("tampered"), (str, type(None)), "tampered"))


@dataclass(frozen=True)
class CellResult:
    """How one cell ran: its outputs (nbformat's output dicts), its error, and for a recorded test
    cell what the recorder saw (``run``)."""

    outputs: tuple[dict, ...] = ()
    error: CellError | None = None
    run: RunFindings | None = None

    def to_json(self) -> dict:
        out = {"outputs": list(self.outputs), "error": None if self.error is None else self.error.to_json()}
        if self.run is not None:
            out["run"] = self.run.to_json()
        return out

    @classmethod
    def from_json(cls, d) -> "CellResult":
        d = _need(d, dict, "cell result")
        outputs = _need(d.get("outputs"), list, "outputs")
        if not all(type(o) is dict for o in outputs):
            raise WireError("bad outputs")
        error, run = d.get("error"), d.get("run")
        return cls(tuple(outputs), None if error is None else CellError.from_json(error),
                   None if run is None else RunFindings.from_json(run))


@dataclass(frozen=True)
class BridgeStats:
    """What crossed the judge's bridge for one notebook: calls, bytes both ways, seconds the judge waited."""

    calls: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"calls": self.calls, "bytes": self.bytes, "seconds": self.seconds}

    @classmethod
    def from_json(cls, d) -> "BridgeStats":
        d = _need(d, dict, "bridge stats")
        return cls(_need(d.get("calls"), int, "calls"), _need(d.get("bytes"), int, "bytes"),
                   float(_need(d.get("seconds"), (int, float), "seconds")))


@dataclass(frozen=True)
class NotebookReply:
    """The fork server's answer: a result per requested cell, and the bridge's cost (None when the
    judge never reported one)."""

    cells: tuple[CellResult, ...]
    bridge: BridgeStats | None = None

    def to_json(self) -> dict:
        return {"cells": [c.to_json() for c in self.cells], "bridge": None if self.bridge is None else self.bridge.to_json()}

    @classmethod
    def from_json(cls, d) -> "NotebookReply | Fatal":
        d = _need(d, dict, "reply")
        if "fatal" in d:
            return Fatal(_need(d["fatal"], str, "fatal"))
        bridge = d.get("bridge")
        return cls(tuple(CellResult.from_json(c) for c in _need(d.get("cells"), list, "cells")),
                   None if bridge is None else BridgeStats.from_json(bridge))


@dataclass(frozen=True)
class Fatal:
    """The fork server could not run the notebook at all (a bug of the grader's, not the student's)."""

    why: str

    def to_json(self) -> dict:
        return {"fatal": self.why}


# ---------------------------------------------------------------- the judge's cell events

@dataclass(frozen=True)
class Started:
    """Cell ``i`` starts: its time limit runs from now."""

    i: int
    T: ClassVar[str] = "start"

    def to_json(self) -> dict:
        return {"t": self.T, "i": self.i}


@dataclass(frozen=True)
class Done:
    """Cell ``i`` ended (its result), and the bridge's cost so far."""

    i: int
    result: CellResult
    bridge: BridgeStats
    T: ClassVar[str] = "done"

    def to_json(self) -> dict:
        return {"t": self.T, "i": self.i, **self.result.to_json(), "bridge": self.bridge.to_json()}


@dataclass(frozen=True)
class KernelLost:
    """The judge lost the kernel (it died, or was stopped) while running cell ``i``."""

    i: int
    T: ClassVar[str] = "died"

    def to_json(self) -> dict:
        return {"t": self.T, "i": self.i}


@dataclass(frozen=True)
class Ended:
    """Every cell ran; the bridge's whole cost."""

    bridge: BridgeStats
    T: ClassVar[str] = "end"

    def to_json(self) -> dict:
        return {"t": self.T, "bridge": self.bridge.to_json()}


CellEvent = Started | Done | KernelLost | Ended


def event_from_json(d) -> CellEvent:
    d = _need(d, dict, "event")
    t = d.get("t")
    if t == Ended.T:
        return Ended(BridgeStats.from_json(d.get("bridge")))
    i = _need(d.get("i"), int, "cell index")
    if t == Started.T:
        return Started(i)
    if t == KernelLost.T:
        return KernelLost(i)
    if t == Done.T:
        return Done(i, CellResult.from_json(d), BridgeStats.from_json(d.get("bridge")))
    raise WireError(f"unknown event {t!r}")


# ---------------------------------------------------------------- the bridge: operations

class _Op:
    """An operation's JSON form: ``{"op": OP, field: value, ...}``. A field with a default is left
    out while it has that default; a field without one is always there. Values (``args``,
    ``value`` ...) are wire.py's encodings, carried as they are."""

    OP: ClassVar[str]
    #: field name -> the types it may have (exactly); "value" fields (wire data) are not listed
    KINDS: ClassVar[dict[str, tuple[type, ...]]] = {}

    def to_json(self) -> dict:
        out = {"op": self.OP}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.default is MISSING or value != f.default:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, d: dict):
        kwargs = {}
        for f in fields(cls):
            if f.name not in d:
                if f.default is MISSING:
                    raise WireError(f"{cls.OP}: {f.name} missing")
                continue
            value = d[f.name]
            if f.name in cls.KINDS and type(value) not in cls.KINDS[f.name]:
                raise WireError(f"{cls.OP}: bad {f.name}")
            kwargs[f.name] = value
        return cls(**kwargs)


_INT, _STR, _BOOL = (int,), (str,), (bool,)


@dataclass(frozen=True)
class RunCell(_Op):
    """Run a cell in the kernel; the reply has its outputs, its error and the names it defined."""

    source: str
    OP: ClassVar[str] = "run_cell"
    KINDS: ClassVar[dict] = {"source": _STR}


@dataclass(frozen=True)
class Call(_Op):
    """Call the kernel's object ``h`` with these arguments (wire data; ``rec``: the call runs in the
    open recording window; ``dev``: "meta" when the test made it the default device)."""

    h: int
    args: object
    kwargs: object
    grad: bool
    dev: str | None
    rec: bool
    OP: ClassVar[str] = "call"
    KINDS: ClassVar[dict] = {"h": _INT, "grad": _BOOL, "dev": (str, type(None)), "rec": _BOOL}


@dataclass(frozen=True)
class Backward(_Op):
    """Send gradients back through the result of call ``graph``; the reply has the inputs' gradients."""

    graph: int
    grads: object
    OP: ClassVar[str] = "backward"
    KINDS: ClassVar[dict] = {"graph": _INT}


@dataclass(frozen=True)
class Release(_Op):
    """The test cell is over: the kernel forgets the autograd graphs it kept for it."""

    OP: ClassVar[str] = "release"


@dataclass(frozen=True)
class Watch(_Op):
    """Guard these built-ins written in Python (kernel/recorder.py), before any student code runs."""

    paths: list
    OP: ClassVar[str] = "watch"
    KINDS: ClassVar[dict] = {"paths": (list,)}


@dataclass(frozen=True)
class Record(_Op):
    """Open a recording window with a nonce, or close one with another (the reply is the record)."""

    open: str | None = None
    close: str | None = None
    OP: ClassVar[str] = "record"
    KINDS: ClassVar[dict] = {"open": _STR, "close": _STR}


@dataclass(frozen=True)
class GetAttr(_Op):
    h: int
    name: str
    rec: bool
    OP: ClassVar[str] = "getattr"
    KINDS: ClassVar[dict] = {"h": _INT, "name": _STR, "rec": _BOOL}


@dataclass(frozen=True)
class SetAttr(_Op):
    """Set an attribute to data; ``inplace``: copy into the tensor there (a fetched tensor the test
    changed in place, written back)."""

    h: int
    name: str
    value: object
    rec: bool | None = None
    inplace: bool = False
    OP: ClassVar[str] = "setattr"
    KINDS: ClassVar[dict] = {"h": _INT, "name": _STR, "rec": _BOOL, "inplace": _BOOL}


@dataclass(frozen=True)
class GetItem(_Op):
    h: int
    key: object
    rec: bool
    OP: ClassVar[str] = "getitem"
    KINDS: ClassVar[dict] = {"h": _INT, "rec": _BOOL}


@dataclass(frozen=True)
class _OnHandle(_Op):
    """An operation on the kernel's object ``h`` alone (``rec``: record the operators it runs)."""

    h: int
    rec: bool
    KINDS: ClassVar[dict] = {"h": _INT, "rec": _BOOL}


@dataclass(frozen=True)
class Len(_OnHandle):
    OP: ClassVar[str] = "len"


@dataclass(frozen=True)
class Iter(_OnHandle):
    OP: ClassVar[str] = "iter"


@dataclass(frozen=True)
class Repr(_OnHandle):
    OP: ClassVar[str] = "repr"


@dataclass(frozen=True)
class CallBack(_Op):
    """From the kernel, while it answers: call the judge's callable ``cb`` (a test's function)."""

    cb: int
    args: object
    kwargs: object
    OP: ClassVar[str] = "callback"
    KINDS: ClassVar[dict] = {"cb": _INT}


#: The operations the judge may ask of the kernel.
BRIDGE_OPS: dict[str, type[_Op]] = {op.OP: op for op in (RunCell, Call, Backward, Release, Watch, Record, GetAttr,
                                                          SetAttr, GetItem, Len, Iter, Repr)}
BridgeRequest = RunCell | Call | Backward | Release | Watch | Record | GetAttr | SetAttr | GetItem | Len | Iter | Repr


def operation_from_json(d, table: dict[str, type[_Op]] = BRIDGE_OPS) -> _Op:
    """The operation a message asks for (``table``: those this side answers)."""
    op = table.get(_need(d, dict, "message").get("op"))
    if op is None:
        raise WireError(f"unknown operation {d.get('op')!r}"[:100])
    return op.from_json(d)


@dataclass(frozen=True)
class ErrorReply:
    """The answer to a request that raised: the exception's class name, the names of its classes
    (``module.qualname``, builtins bare) and its text."""

    type: str
    classes: tuple[str, ...]  # its "mro" (a field of that name would take ``type.mro`` for a default)
    msg: str

    def to_json(self) -> dict:
        return {"error": {"type": self.type, "mro": list(self.classes), "msg": self.msg}}

    @classmethod
    def of(cls, e: BaseException) -> "ErrorReply":
        try:
            msg = str(e)[:4000]
        except Exception:  # noqa: BLE001 - anything a student's __str__ raises: the answer is still a failure
            msg = "(unprintable)"
        mro = []
        for c in type(e).__mro__[:30]:
            try:
                mro.append(f"{c.__module__}.{c.__qualname__}" if c.__module__ != "builtins" else c.__qualname__)
            except Exception:  # noqa: BLE001 - a student's class whose names raise: left out
                pass
        return cls(type(e).__name__[:100], tuple(mro), msg)

    @classmethod
    def from_json(cls, d) -> "ErrorReply":
        """Lenient: the kernel's failure is reported whatever its shape (``BridgeError`` when it is not a dict)."""
        d = _need(d, dict, "failure")
        mro = d.get("mro")
        return cls(str(d.get("type", "Exception"))[:100], tuple(m for m in mro if type(m) is str) if type(mro) is list else (),
                   str(d.get("msg", ""))[:4000])

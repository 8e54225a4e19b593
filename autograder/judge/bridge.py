"""The judge's end of the bridge: the link to one notebook's kernel and the proxies of what stays there.

The judge (judge/main.py) runs the setup cell and every graded test cell itself, with the real
``seqlab.oracles``; the student's cells, and the course's cells that only define what the
student's code uses, run in the kernel (kernel/servant.py). After each kernel cell the kernel reports
the names it defined: data arrive as data, functions, classes and objects as :class:`Remote`
proxies. A test cell reads the same here as in JupyterLab: ``rnn_step(x, h, ...)`` calls the
kernel with the arguments as data and gets the result back as data; ``RNN(3, 5)`` makes a module
in the kernel and returns its proxy; ``model.W_xh`` fetches a copy of the parameter (with its
``.grad``), and an in-place change of that copy (``with torch.no_grad(): p.add_(1)``) is written
back before the next request; ``loss.backward()`` through a result of the kernel sends the
gradient across (``_Crossing``) and brings back the gradients of the judge's tensors, while the
module's own parameters accumulate theirs in the kernel.

A pass is decided here: a test cell passes when it raises nothing in the judge. The kernel can
only answer, and whatever it answers is checked against values the judge computed itself.

Each request is one of ``protocol``'s operations (``Call``, ``GetAttr`` ...); values inside are
wire.py's. While a test cell of a function with built-ins it must be written without runs, the
kernel records which of PyTorch's operators the student's code ran (``Link.open_window``/
``close_window``); operators.py reads that record, the verdict decides.
"""
from __future__ import annotations

import builtins
import contextlib
import secrets
import time
import weakref

from .. import protocol, wire
from ..protocol import ErrorReply, RunFindings, WireError
from . import operators

#: Exceptions that cross as themselves (the student's ValueError is a ValueError to ``check_raises``).
_BUILTIN_ERRORS = {name: cls for name, cls in vars(builtins).items()
                   if isinstance(cls, type) and issubclass(cls, Exception)}


class BridgeError(RuntimeError):
    """The kernel is gone, or answered what the wire format does not allow."""


class RemoteError(Exception):
    """An exception raised in the kernel whose class is not a builtin one; its text is the kernel's."""


# ---------------------------------------------------------------- the link

class Link:
    """One kernel, one socket; requests go one at a time (callbacks from the kernel nest)."""

    def __init__(self, sock):
        self.sock = sock
        self.closed = False
        self.callbacks: list = []
        self.mirrors: list = []  # (weakref to a fetched tensor, remote, name, fingerprint)
        self.cells: list[str] = []  # sources of the cells run in the kernel, in order
        self.calls = self.bytes = 0
        self.seconds = 0.0
        self.decoding_root: str | None = None  # the name the proxies decoded now descend from
        self.recording_for: str | None = None  # the function whose calls the open window records

    # -- values
    def encode(self, x, **kw) -> tuple:
        enc = wire.Encoder(self._callback_handle, **kw)
        return enc(x), enc

    def _callback_handle(self, obj) -> dict:
        if isinstance(obj, Remote):
            if obj._link is not self:
                raise BridgeError("a proxy of another notebook's kernel")
            return {"h": obj._h}
        if callable(obj):
            self.callbacks.append(obj)
            return {"cb": len(self.callbacks) - 1, "n": str(getattr(obj, "__name__", type(obj).__name__))[:200]}
        raise TypeError(f"a {type(obj).__name__} cannot be sent to the student's code (only data, "
                        "the student's own objects and functions can)")

    def decode(self, v):
        return wire.Decoder(self._reference)(v)

    def _reference(self, tag: str, msg: dict):
        if tag == "cb":
            raise WireError("the kernel sent a callback reference")
        h, kind, name, mro = msg.get("h"), msg.get("k"), msg.get("n"), msg.get("mro")
        if type(h) is not int or kind not in ("class", "module", "function", "object") or type(name) is not str \
                or type(mro) is not list or not all(type(m) is str for m in mro):
            raise WireError("bad handle")
        return Remote(self, h, kind, name[:200], mro[:50], root=self.decoding_root)

    @contextlib.contextmanager
    def descending_from(self, root: str | None):
        """Decode under this: the proxies made descend from the object the judge bound as ``root``
        (what a call of ``RNN`` returns, an attribute of that, descends from ``RNN``)."""
        before, self.decoding_root = self.decoding_root, root
        try:
            yield
        finally:
            self.decoding_root = before

    def records(self, remote: "Remote") -> bool:
        """Whether a request on ``remote`` runs in the open window's spans: it descends from the
        function the window's test cell grades (not the course's own helpers, nor other answers)."""
        return self.recording_for is not None and remote._root == self.recording_for

    # -- requests
    def request(self, op: protocol.BridgeRequest) -> dict:
        """Send one operation; its reply's body (a dict the caller checks field by field: the kernel
        wrote it). An ``ErrorReply`` is raised as the exception it names."""
        if self.closed:
            raise BridgeError("the student's kernel for this notebook has ended: its objects cannot be used")
        if not isinstance(op, protocol.Release):
            self.flush_mirrors()
        t0 = time.monotonic()
        self.calls += 1
        try:
            self.bytes += protocol.send(self.sock, op.to_json())
            while True:
                reply, n = protocol.recv(self.sock)
                self.bytes += n
                if type(reply) is not dict:
                    raise WireError("not a message")
                if "op" in reply:  # the kernel calls one of our callbacks meanwhile
                    self._serve_callback(reply)
                    continue
                body = reply.get("re")
                if type(body) is not dict:
                    raise WireError("not a reply")
                break
        except (EOFError, OSError) as e:
            self.closed = True
            raise BridgeError(f"the student's kernel died or was stopped ({type(e).__name__})") from None
        finally:
            self.seconds += time.monotonic() - t0
        if "error" in body:
            raise _as_exception(body["error"])
        return body

    def _serve_callback(self, msg: dict) -> None:
        try:
            call = protocol.operation_from_json(msg, {protocol.CallBack.OP: protocol.CallBack})
            if not 0 <= call.cb < len(self.callbacks):
                raise WireError("unknown callback")
            args, kwargs = self.decode(call.args), self.decode(call.kwargs)
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise WireError("bad callback arguments")
            value, _ = self.encode(self.callbacks[call.cb](*args, **kwargs))
            reply = {"value": value}
        except Exception as e:  # noqa: BLE001 - the course's function failed on what the student passed: its answer
            reply = ErrorReply(type(e).__name__, (type(e).__name__,), str(e)[:2000]).to_json()
        self.bytes += protocol.send(self.sock, {"re": reply})

    # -- write-back of fetched tensors changed here
    def mirror(self, tensor, remote: "Remote", name: str) -> None:
        self.mirrors.append((weakref.ref(tensor), remote, name, _fingerprint(tensor)))

    def flush_mirrors(self) -> None:
        keep = []
        for ref, remote, name, before in self.mirrors:
            t = ref()
            if t is None:
                continue
            now = _fingerprint(t)
            if now != before:
                value, _ = self.encode(t)
                self.request_raw(protocol.SetAttr(remote._h, name, value, inplace=True))
            keep.append((ref, remote, name, now))
        self.mirrors = keep

    def request_raw(self, op: protocol.BridgeRequest) -> dict:
        """``request`` without writing back the fetched tensors first (a write-back is one of these)."""
        saved, self.mirrors = self.mirrors, []
        try:
            return self.request(op)
        finally:
            self.mirrors = saved + self.mirrors

    # -- operations
    def call(self, remote: "Remote", args: tuple, kwargs: dict):
        import torch

        (a, enc_a) = self.encode(list(args), refs=True)
        (k, enc_k) = self.encode(dict(kwargs), refs=True)
        # one numbering of the arguments' arrays and tensors across args and kwargs
        for leaf in _leaves(k):
            if "ref" in leaf:
                leaf["ref"] += len(enc_a.refs)
        refs = enc_a.refs + enc_k.refs
        device = torch.get_default_device()
        reply = self.request(protocol.Call(remote._h, a, k, torch.is_grad_enabled(),
                                           device.type if device.type == "meta" else None, self.records(remote)))
        self._apply_writeback(remote, reply.get("wb"), refs)
        value = reply.get("value")
        with self.descending_from(remote._root):
            if reply.get("graph") is None:
                return self.decode(value)
            return self._with_graph(reply, refs)

    def _apply_writeback(self, remote: "Remote", wb, refs: list) -> None:
        """Take what the call was allowed to change in its arguments: tensors' ``.grad`` and generators'
        states. A call that changed the values of an array or tensor it was given is refused: the
        judge's data stay as they were (the expected values of a test are computed from them)."""
        import torch

        if not wb:
            return
        if type(wb) is not list:
            raise WireError("bad write-back")
        changed = []
        for item in wb:
            if type(item) is not dict or type(item.get("ref")) is not int or not 0 <= item["ref"] < len(refs):
                raise WireError("bad write-back item")
            target = refs[item["ref"]]
            if item.get("changed") is True:
                changed.append(target)
            if "grad" in item and isinstance(target, torch.Tensor):
                g = self.decode(item["grad"])
                if g is None:
                    target.grad = None
                elif isinstance(g, torch.Tensor) and g.shape == target.shape:
                    target.grad = g.to(target.device, target.dtype)
            if "gen" in item and isinstance(target, torch.Generator):
                g = self.decode(item["gen"])
                if isinstance(g, torch.Generator):
                    target.set_state(g.get_state())
        if changed:
            from seqlab.testing import CheckError

            shapes = ", ".join(str(tuple(getattr(t, "shape", ()))) for t in changed[:3])
            raise CheckError(
                f"{remote.__name__} changed the values of an argument it was given (shape {shapes}) in place.\n"
                "  A function of this course leaves its inputs as they were and returns new arrays:\n"
                "  write x = x * 2 (a new array), not x *= 2 or x[...] = ... on an argument.")

    def _with_graph(self, reply: dict, refs: list):
        """Decode a result with autograd history in the kernel: its tensors become outputs of a
        ``_Crossing`` node whose inputs are the judge's tensors the kernel differentiated against."""
        import torch

        slots: list = []

        def on_leaf(obj, msg):
            if isinstance(msg.get("slot"), int):
                slots.append(obj)

        value = wire.Decoder(self._reference, on_leaf=on_leaf)(reply["value"])
        inputs = reply.get("inputs") or []
        if type(inputs) is not list or not all(type(i) is int and 0 <= i < len(refs) for i in inputs):
            raise WireError("bad graph inputs")
        inputs = [refs[i] for i in inputs]
        plain = [s.detach() for s in slots]
        anchor = torch.zeros((), device="cpu", requires_grad=True)  # so outputs carry history without inputs
        crossed = _Crossing.apply(self, reply["graph"], plain, anchor, *inputs)
        swap = {id(s): c for s, c in zip(slots, crossed)}
        return _replace(value, swap)

    def backward(self, graph, grads) -> list:
        value, _ = self.encode(list(grads))
        reply = self.request(protocol.Backward(graph, value))
        out = self.decode(reply.get("grads"))
        if type(out) is not list:
            raise WireError("bad gradients")
        return out

    # -- recording windows (kernel/recorder.py)
    def open_window(self, function: str) -> str:
        """Start recording what the student's ``function`` runs when called; returns the window's nonce."""
        nonce = secrets.token_hex(8)
        try:
            self.request_raw(protocol.Record(open=nonce))
        except BridgeError:
            raise
        except Exception:  # noqa: BLE001 - the kernel could not open it: the record will lack its mark
            pass
        self.recording_for = function
        return nonce

    def close_window(self, opened: str, function: str, forbidden: tuple[str, ...]) -> RunFindings:
        """Stop recording; what the record says about ``function``."""
        closed = secrets.token_hex(8)
        self.recording_for = None
        try:
            record = self.request_raw(protocol.Record(close=closed)).get("record")
        except BridgeError:
            raise
        except Exception as e:  # noqa: BLE001 - the kernel answered with an error instead of a record
            record = f"{type(e).__name__}: {e}"
        return operators.findings(function, forbidden, record, opened, closed)

    def release(self) -> None:
        if not self.closed:
            try:
                self.request(protocol.Release())
            except BridgeError:
                pass

def _fingerprint(t):
    g = t.grad
    return (t._version, id(g), None if g is None else g._version)


def _leaves(v):
    if isinstance(v, dict):
        if "ref" in v and ("nd" in v or "tn" in v or "gn" in v):
            yield v
        for x in v.values():
            yield from _leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from _leaves(x)


def _replace(value, swap: dict):
    import torch

    if isinstance(value, torch.Tensor):
        return swap.get(id(value), value)
    if type(value) is list:
        return [_replace(v, swap) for v in value]
    if type(value) is tuple:
        return tuple(_replace(v, swap) for v in value)
    if type(value) is dict:
        return {k: _replace(v, swap) for k, v in value.items()}
    return value


def _as_exception(err) -> BaseException:
    """The exception a kernel's ``ErrorReply`` names: a builtin one as itself, any other as ``RemoteError``."""
    try:
        failure = ErrorReply.from_json(err)
    except WireError:
        return BridgeError("malformed error from the kernel")
    msg, kind = failure.msg, failure.type
    for name in failure.classes:
        if name == "KeyboardInterrupt" or name == "TimeoutError" and kind == "TimeoutError":
            return TimeoutError(msg or "stopped: over the time limit")
        cls = _BUILTIN_ERRORS.get(name)
        if cls is not None and cls is not Exception:
            try:
                return cls(msg)
            except Exception:  # noqa: BLE001 - a builtin exception class whose constructor wants more: told as text
                return RemoteError(f"{kind}: {msg}")
    return RemoteError(f"{kind}: {msg}")


def _crossing():
    import torch

    class Crossing(torch.autograd.Function):
        """Gradients across the bridge: outputs computed in the kernel, inputs that live here."""

        @staticmethod
        def forward(ctx, link, graph, outputs, anchor, *inputs):
            ctx.link, ctx.graph, ctx.n_inputs = link, graph, len(inputs)
            return tuple(o.clone() for o in outputs)

        @staticmethod
        def backward(ctx, *grads):
            got = ctx.link.backward(ctx.graph, grads)
            if len(got) != ctx.n_inputs:
                raise BridgeError("the kernel sent gradients for other inputs")
            return (None, None, None, None, *got)

    return Crossing


class _LazyCrossing:
    cls = None

    def apply(self, *args):
        if _LazyCrossing.cls is None:
            _LazyCrossing.cls = _crossing()
        return _LazyCrossing.cls.apply(*args)


_Crossing = _LazyCrossing()


# ---------------------------------------------------------------- the proxy

#: Classes a proxy may pass for in ``isinstance`` (the kernel's claim only picks among these).
_PASSES_FOR = {"torch.nn.modules.module.Module": "torch.nn.Module"}


class Remote:
    """An object that stays in the student's kernel: a function, a class, a module instance.

    Supports calling, attributes (data come back as copies; objects as proxies), item access,
    ``len``, iteration, and setting attributes to data. Nothing else crosses."""

    def __init__(self, link: Link, h: int, kind: str, name: str, mro: list[str], root: str | None = None):
        d = self.__dict__
        d["_link"], d["_h"], d["_kind"], d["_mro"] = link, h, kind, mro
        d["_root"] = root  # the name the judge bound it, or the one it descends from
        d["__name__"] = d["__qualname__"] = name
        d["__seqlab_cells__"] = link.cells  # read by seqlab.testing: the student's code, as text

    @property
    def __class__(self):
        import torch

        for name in self._mro:
            if name in _PASSES_FOR:
                return torch.nn.Module
        return Remote

    def __call__(self, *args, **kwargs):
        return self._link.call(self, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol probes (__array__, __torch_function__, ...) stay here
        reply = self._link.request(protocol.GetAttr(self._h, name, self._link.records(self)))
        with self._link.descending_from(self._root):
            value = self._link.decode(reply.get("value"))
        import torch

        if isinstance(value, torch.Tensor):
            self._link.mirror(value, self, name)
        return value

    def __setattr__(self, name: str, value) -> None:
        encoded, _ = self._link.encode(value)
        self._link.request(protocol.SetAttr(self._h, name, encoded, rec=self._link.records(self)))

    def __getitem__(self, key):
        encoded, _ = self._link.encode(key)
        reply = self._link.request(protocol.GetItem(self._h, encoded, self._link.records(self)))
        with self._link.descending_from(self._root):
            return self._link.decode(reply.get("value"))

    def __len__(self) -> int:
        n = self._link.request(protocol.Len(self._h, self._link.records(self))).get("value")
        if type(n) is not int or n < 0:
            raise WireError("bad length")
        return n

    def __iter__(self):
        reply = self._link.request(protocol.Iter(self._h, self._link.records(self)))
        with self._link.descending_from(self._root):
            items = self._link.decode(reply.get("value"))
        if type(items) is not list:
            raise WireError("bad items")
        return iter(items)

    def __repr__(self) -> str:
        try:
            text = self._link.request(protocol.Repr(self._h, self._link.records(self))).get("value")
        except Exception:  # noqa: BLE001 - a repr for a message must not fail: the proxy describes itself instead
            text = None
        return text[:2000] if type(text) is str else f"<{self._kind} {self.__name__} in the student's kernel>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return True

    def __hash__(self) -> int:
        return hash((id(self._link), self._h))

    def __eq__(self, other) -> bool:
        return isinstance(other, Remote) and other._link is self._link and other._h == self._h

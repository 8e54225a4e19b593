"""The kernel's end of the bridge: runs the student's cells and serves the judge's requests.

This code runs in the sandboxed kernel, beside the student's code, so nothing it says is trusted:
it only answers. The judge sends one request at a time; each is one of a fixed set of operations
(``OPS``, protocol.py's operations) on the kernel's namespace or on objects the kernel holds (functions, classes, module
instances), which the judge names by *handles*. Values go back as data (wire.py); an object that
is not data stays here and goes back as a new handle.

While a request runs, the student's code may call a *callback* (a test's function that stays in
the judge): the kernel sends a ``callback`` request and serves nested requests until the reply.

While the judge runs a test cell of a function with built-ins it must be written without, it
opens a *recording window* (``record``, recorder.py): every request that runs the student's code
(a call, an attribute, an item, a backward pass ...) marks its span, so that the record holds what
the student's code ran and not the servant's own work.
"""
from __future__ import annotations

import builtins
import contextlib
import os
import sys
import types

from .. import protocol, wire
from ..protocol import ErrorReply, WireError
from .recorder import Recorder, watch

#: Names IPython puts in every namespace; never reported to the judge.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_DATA_LIMIT = 1 << 20  # bytes: a value defined by a cell larger than this is reported as a handle


def poison_oracles() -> None:
    """Make ``seqlab.oracles`` (the course's reference answers) unusable in this process: every
    ``import seqlab.oracles...`` gets a module whose attributes raise. They are never imported here."""
    import pkgutil

    import seqlab

    message = ("seqlab.oracles (the course's reference answers) is not available to your code while it is graded: "
               "write this function yourself")

    class Unavailable(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            raise RuntimeError(message)

    root = Unavailable("seqlab.oracles")
    root.__path__ = []  # a package, so that `import seqlab.oracles.rnn` finds the poisoned submodules
    sys.modules["seqlab.oracles"] = root
    seqlab.__dict__["oracles"] = root
    path = os.path.join(os.path.dirname(seqlab.__file__), "oracles")
    for info in pkgutil.iter_modules([path]):
        mod = Unavailable(f"seqlab.oracles.{info.name}")
        sys.modules[mod.__name__] = mod
        root.__dict__[info.name] = mod


class Callback:
    """A callable that stays in the judge (a test's function): calling it asks the judge."""

    def __init__(self, servant: "Servant", cb: int, name: str):
        self._servant, self._cb, self.__name__ = servant, cb, name

    def __call__(self, *args, **kwargs):
        return self._servant.callback(self._cb, args, kwargs)

    def __repr__(self):
        return f"<the course's {self.__name__}>"


class Servant:
    def __init__(self, sock, shell, run_cell, output_limit: int):
        self.sock, self.shell, self.run_cell, self.limit = sock, shell, run_cell, output_limit
        self.recorder = Recorder()
        # taken before any student code runs: rebinding the module's tables changes nothing
        self.ops, self.known = dict(OPS), dict(protocol.BRIDGE_OPS)
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}     # id(obj) -> handle
        self.graphs: dict[int, tuple[list, list]] = {}
        self.reported: dict[str, int] = {}

    # ------------------------------------------------------------ handles and values

    def handle(self, obj) -> dict:
        h = self.ids.get(id(obj))
        if h is None or self.objects.get(h) is not obj:
            h = len(self.objects) + 1
            self.objects[h], self.ids[id(obj)] = obj, h
        import torch

        kind = ("class" if isinstance(obj, type) else "module" if isinstance(obj, torch.nn.Module)
                else "function" if callable(obj) else "object")
        try:
            name = str(getattr(obj, "__name__", "") or type(obj).__name__)[:200]
        except Exception:  # noqa: BLE001 - a student object whose __name__ raises
            name = "object"
        mro = [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__][:50]
        return {"h": h, "k": kind, "n": name, "mro": mro}

    def reference(self, tag: str, msg: dict):
        if tag == "cb":
            cb = msg.get("cb")
            if type(cb) is not int:
                raise WireError("bad callback")
            return Callback(self, cb, str(msg.get("n", "function"))[:200])
        return self._object(msg.get("h"))

    def encode(self, x, **kw):
        return wire.Encoder(self.handle, **kw)(x)

    # ------------------------------------------------------------ the loop

    def serve(self) -> None:
        """Answer requests until the judge closes its end."""
        while True:
            try:
                msg, _ = protocol.recv(self.sock)
            except KeyboardInterrupt:  # a time limit meant for a cell of the judge's: nothing to stop here
                continue
            except EOFError:
                return
            self.answer(msg)

    def answer(self, msg) -> None:
        try:
            op = protocol.operation_from_json(msg, self.known)
            reply = self.ops[type(op)](self, op)
        except KeyboardInterrupt:
            reply = ErrorReply("TimeoutError", ("TimeoutError",), "stopped: over the time limit").to_json()
        except BaseException as e:  # noqa: BLE001 - whatever the student's code raised is the answer
            reply = ErrorReply.of(e).to_json()
        try:
            protocol.send(self.sock, {"re": reply})
        except WireError as e:
            protocol.send(self.sock, {"re": ErrorReply.of(e).to_json()})

    def callback(self, cb: int, args, kwargs):
        enc = wire.Encoder(self.handle)
        protocol.send(self.sock, protocol.CallBack(cb, enc(list(args)), enc(dict(kwargs))).to_json())
        while True:
            msg, _ = protocol.recv(self.sock)
            if "op" in msg:
                self.answer(msg)
                continue
            reply = msg.get("re") or {}
            if "error" in reply:
                raise RuntimeError(f"the course's {cb} raised {reply['error'].get('type')}: {reply['error'].get('msg')}")
            return wire.Decoder(self.reference)(reply.get("value"))

    # ------------------------------------------------------------ operations

    def op_run_cell(self, op: protocol.RunCell):
        outputs, error = self.run_cell(self.shell, op.source, self.limit)
        self.shell.user_ns["__builtins__"] = builtins
        return {"outputs": outputs, "cell_error": None if error is None else error.to_json(), "names": self.names()}

    def names(self) -> dict:
        """The names the cells defined or rebound since the last report: data as data (when small),
        functions, classes and other objects as handles; modules are not reported."""
        out = {}
        for name, value in list(self.shell.user_ns.items()):
            if name.startswith("_") or name in _IPYTHON_NAMES or isinstance(value, types.ModuleType):
                continue
            if self.reported.get(name) == id(value):
                continue
            self.reported[name] = id(value)
            try:
                enc = self.encode(value, budget=_DATA_LIMIT)
            except Exception:  # noqa: BLE001 - too large to send, or not data: a handle
                enc = self.handle(value)
            out[name] = enc
        return out

    def _object(self, h: int):
        obj = self.objects.get(h)
        if obj is None:
            raise WireError("unknown handle")
        return obj

    def _decode_args(self, op: protocol.Call):
        leaves = []
        dec = wire.Decoder(self.reference, on_leaf=lambda obj, m: leaves.append((m.get("ref"), obj, _state(obj))))
        return dec(op.args), dec(op.kwargs), leaves

    def op_call(self, op: protocol.Call):
        import torch

        fn = self._object(op.h)
        args, kwargs, leaves = self._decode_args(op)
        with torch.set_grad_enabled(op.grad), self._student(op.rec):
            if op.dev == "meta":
                with torch.device("meta"):
                    result = fn(*args, **kwargs)
            else:
                result = fn(*args, **kwargs)
        enc = wire.Encoder(self.handle, slots=op.grad)
        value = enc(result)
        reply = {"value": value, "wb": self._writeback(leaves)}
        if enc.slots:
            inputs = [(ref, obj) for ref, obj, _ in leaves if ref is not None and isinstance(obj, torch.Tensor)
                      and obj.requires_grad and obj.is_leaf]
            gid = len(self.graphs) + 1
            self.graphs[gid] = (enc.slots, [obj for _, obj in inputs], op.rec)
            reply["graph"], reply["inputs"] = gid, [ref for ref, _ in inputs]
        return reply

    def _writeback(self, leaves) -> list:
        """What the call changed in its arguments, as ``{"ref", ...}`` items: ``"changed": True`` when
        the values of an array or tensor changed (the judge refuses the call; it never takes the
        values), ``"grad"`` for a tensor's new ``.grad`` (``clip_grad_norm_torch`` scales them in
        place), ``"gen"`` for a generator's new state (sampling advances it)."""
        out = []
        for ref, obj, before in leaves:
            if ref is None:
                continue
            change = _changes(obj, before)
            if change:
                item = {"ref": ref}
                if change.get("values"):
                    item["changed"] = True
                if "grad" in change:
                    item["grad"] = wire.Encoder(self.handle, grads=False)(change["grad"])
                if "gen" in change:
                    item["gen"] = wire.Encoder(self.handle)(change["gen"])
                out.append(item)
        return out

    def op_backward(self, op: protocol.Backward):
        import torch

        if op.graph not in self.graphs:
            raise WireError("unknown graph")
        outs, inputs, recorded = self.graphs[op.graph]
        grads = wire.Decoder(self.reference)(op.grads)
        if type(grads) is not list or len(grads) != len(outs):
            raise WireError("bad gradients")
        for t in inputs:
            t.grad = None
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
        if pairs:
            with self._student(recorded):  # the backward of the student's operators, custom ones included
                torch.autograd.backward([o for o, _ in pairs], [g.to(o.device, o.dtype) for o, g in pairs], retain_graph=True)
        enc = wire.Encoder(self.handle, grads=False)
        return {"grads": enc([t.grad for t in inputs])}

    def op_release(self, op: protocol.Release):
        self.graphs.clear()
        return {}

    def _student(self, recorded: bool | None):
        """The span of a request into the function the open window records (the judge says which:
        ``rec``); none for anything else it calls (09's CharTransformer, whose own attention the
        tests of KVCache run beside it)."""
        return self.recorder.student() if recorded else contextlib.nullcontext()

    def op_watch(self, op: protocol.Watch):
        """Guard the built-ins written in Python that the course forbids somewhere (recorder.watch);
        the judge asks before any student code runs."""
        return {"missed": watch(op.paths)}

    def op_record(self, op: protocol.Record):
        """Open a recording window (``open``: its nonce) or close it (``close``: the reply is the record)."""
        if op.open is not None:
            self.recorder.open(op.open)
            return {}
        return {"record": self.recorder.close(str(op.close))}

    def op_getattr(self, op: protocol.GetAttr):
        obj = self._object(op.h)
        with self._student(op.rec):  # a property runs the student's code
            value = getattr(obj, op.name)
        return {"value": self.encode(value)}

    def op_setattr(self, op: protocol.SetAttr):
        import torch

        obj = self._object(op.h)
        value = wire.Decoder(self.reference)(op.value)
        current = getattr(obj, op.name, None)
        if op.inplace and isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor) \
                and current.shape == value.shape:
            with torch.no_grad():
                current.copy_(value)
            current.grad = None if value.grad is None else value.grad.to(current.device, current.dtype)
        else:
            with self._student(op.rec):
                setattr(obj, op.name, value)
        return {}

    def op_getitem(self, op: protocol.GetItem):
        obj = self._object(op.h)
        key = wire.Decoder(self.reference)(op.key)
        with self._student(op.rec):
            value = obj[key]
        return {"value": self.encode(value)}

    def op_len(self, op: protocol.Len):
        obj = self._object(op.h)
        with self._student(op.rec):
            return {"value": len(obj)}

    def op_iter(self, op: protocol.Iter):
        items = []
        with self._student(op.rec):
            for item in self._object(op.h):
                items.append(item)
                if len(items) > 100_000:
                    raise WireError("an iterator too long to cross the bridge")
        return {"value": self.encode(items)}

    def op_repr(self, op: protocol.Repr):
        obj = self._object(op.h)
        with self._student(op.rec):
            return {"value": repr(obj)[:2000]}


#: Each operation and the method that answers it.
OPS = {protocol.RunCell: Servant.op_run_cell, protocol.Call: Servant.op_call, protocol.Backward: Servant.op_backward,
       protocol.Release: Servant.op_release, protocol.Watch: Servant.op_watch, protocol.Record: Servant.op_record,
       protocol.GetAttr: Servant.op_getattr, protocol.SetAttr: Servant.op_setattr, protocol.GetItem: Servant.op_getitem,
       protocol.Len: Servant.op_len, protocol.Iter: Servant.op_iter, protocol.Repr: Servant.op_repr}


def _state(obj):
    """What to compare an argument with after the call."""
    import numpy as np
    import torch

    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, torch.Tensor):
        g = obj.grad
        data = obj.detach().clone() if obj.device.type != "meta" else None
        return (obj._version, data, id(g), None if g is None else g._version)
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    return None


def _changes(obj, before) -> dict:
    """How an argument changed since ``_state``: {"values": True}, {"grad": new grad}, {"gen": generator}."""
    import numpy as np
    import torch

    out: dict = {}
    # A value perturbed and put back (a numerical gradient's x[i] += h ... x[i] -= h) may differ in its
    # last bit: that is not a change.
    if isinstance(obj, np.ndarray):
        if before.shape != obj.shape or before.dtype != obj.dtype:
            out["values"] = True
        elif obj.dtype.kind in "fc":
            out["values"] = not np.allclose(before, obj, rtol=1e-10, atol=1e-12, equal_nan=True)
        else:
            out["values"] = not np.array_equal(before, obj)
    elif isinstance(obj, torch.Tensor):
        version, data, grad_id, grad_version = before
        if obj._version != version and data is not None:
            now = obj.detach()
            if data.shape != now.shape or data.dtype != now.dtype:
                out["values"] = True
            elif now.is_floating_point() or now.is_complex():
                out["values"] = not torch.allclose(data, now, rtol=1e-10, atol=1e-12, equal_nan=True)
            else:
                out["values"] = not torch.equal(data, now)
        g = obj.grad
        if id(g) != grad_id or (g is not None and g._version != grad_version):
            out["grad"] = g
    elif isinstance(obj, torch.Generator):
        if not torch.equal(obj.get_state(), before):
            out["gen"] = obj
    return out

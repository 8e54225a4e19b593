"""The kernel's end of the bridge: runs the student's cells and serves the judge's requests.

This code runs in the sandboxed kernel, beside the student's code, so nothing it says is trusted:
it only answers. The judge sends one request at a time; each is one of a fixed set of operations
(``OPS``) on the kernel's namespace or on objects the kernel holds (functions, classes, module
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

from .. import wire
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
        self.ops = dict(OPS)  # taken before any student code runs: rebinding the module's table changes nothing
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
                raise wire.WireError("bad callback")
            return Callback(self, cb, str(msg.get("n", "function"))[:200])
        obj = self.objects.get(msg.get("h"))
        if obj is None:
            raise wire.WireError("unknown handle")
        return obj

    def encode(self, x, **kw):
        return wire.Encoder(self.handle, **kw)(x)

    # ------------------------------------------------------------ the loop

    def serve(self) -> None:
        """Answer requests until the judge closes its end."""
        while True:
            try:
                msg, _ = wire.recv_frame(self.sock)
            except KeyboardInterrupt:  # a time limit meant for a cell of the judge's: nothing to stop here
                continue
            except EOFError:
                return
            self.answer(msg)

    def answer(self, msg) -> None:
        try:
            op = self.ops[msg["op"]]
            reply = op(self, msg)
        except KeyboardInterrupt:
            reply = {"error": {"type": "TimeoutError", "mro": ["TimeoutError"], "msg": "stopped: over the time limit"}}
        except BaseException as e:  # noqa: BLE001 - the student's error is the answer
            reply = {"error": _error(e)}
        try:
            wire.send_frame(self.sock, {"re": reply})
        except wire.WireError as e:
            wire.send_frame(self.sock, {"re": {"error": _error(e)}})

    def callback(self, cb: int, args, kwargs):
        enc = wire.Encoder(self.handle)
        wire.send_frame(self.sock, {"op": "callback", "cb": cb, "args": enc(list(args)), "kwargs": enc(dict(kwargs))})
        while True:
            msg, _ = wire.recv_frame(self.sock)
            if "op" in msg:
                self.answer(msg)
                continue
            reply = msg.get("re") or {}
            if "error" in reply:
                raise RuntimeError(f"the course's {cb} raised {reply['error'].get('type')}: {reply['error'].get('msg')}")
            return wire.Decoder(self.reference)(reply.get("value"))

    # ------------------------------------------------------------ operations

    def op_run_cell(self, msg):
        outputs, error = self.run_cell(self.shell, msg["source"], self.limit)
        self.shell.user_ns["__builtins__"] = builtins
        return {"outputs": outputs, "cell_error": error, "names": self.names()}

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

    def _decode_args(self, msg):
        leaves = []
        dec = wire.Decoder(self.reference, on_leaf=lambda obj, m: leaves.append((m.get("ref"), obj, _state(obj))))
        return dec(msg.get("args", {"L": []})), dec(msg.get("kwargs", {"D": []})), leaves

    def op_call(self, msg):
        import torch

        fn = self.reference("h", msg)
        args, kwargs, leaves = self._decode_args(msg)
        grad = bool(msg.get("grad", True))
        with torch.set_grad_enabled(grad), self._student(msg):
            if msg.get("dev") == "meta":
                with torch.device("meta"):
                    result = fn(*args, **kwargs)
            else:
                result = fn(*args, **kwargs)
        enc = wire.Encoder(self.handle, slots=grad)
        value = enc(result)
        reply = {"value": value, "wb": self._writeback(leaves)}
        if enc.slots:
            inputs = [(ref, obj) for ref, obj, _ in leaves if ref is not None and isinstance(obj, torch.Tensor)
                      and obj.requires_grad and obj.is_leaf]
            gid = len(self.graphs) + 1
            self.graphs[gid] = (enc.slots, [obj for _, obj in inputs], bool(msg.get("rec")))
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

    def op_backward(self, msg):
        import torch

        outs, inputs, recorded = self.graphs[msg["graph"]]
        grads = wire.Decoder(self.reference)(msg["grads"])
        if type(grads) is not list or len(grads) != len(outs):
            raise wire.WireError("bad gradients")
        for t in inputs:
            t.grad = None
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
        if pairs:
            with self._student({"rec": recorded}):  # the backward of the student's operators, custom ones included
                torch.autograd.backward([o for o, _ in pairs], [g.to(o.device, o.dtype) for o, g in pairs], retain_graph=True)
        enc = wire.Encoder(self.handle, grads=False)
        return {"grads": enc([t.grad for t in inputs])}

    def op_release(self, msg):
        self.graphs.clear()
        return {}

    def _student(self, msg):
        """The span of a request into the function the open window records (the judge says which:
        ``"rec"``); none for anything else it calls (09's CharTransformer, whose own attention the
        tests of KVCache run beside it)."""
        return self.recorder.student() if msg.get("rec") else contextlib.nullcontext()

    def op_watch(self, msg):
        """Guard the built-ins written in Python that the course forbids somewhere (recorder.watch);
        the judge asks before any student code runs."""
        return {"missed": watch(msg.get("paths"))}

    def op_record(self, msg):
        """Open a recording window (``{"open": nonce}``) or close it (``{"close": nonce}``: the record)."""
        if isinstance(msg.get("open"), str):
            self.recorder.open(msg["open"])
            return {}
        return {"record": self.recorder.close(str(msg.get("close")))}

    def op_getattr(self, msg):
        obj = self.reference("h", msg)
        with self._student(msg):  # a property runs the student's code
            value = getattr(obj, str(msg["name"]))
        return {"value": self.encode(value)}

    def op_setattr(self, msg):
        import torch

        obj = self.reference("h", msg)
        name = str(msg["name"])
        value = wire.Decoder(self.reference)(msg["value"])
        current = getattr(obj, name, None)
        if msg.get("inplace") and isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor) \
                and current.shape == value.shape:
            with torch.no_grad():
                current.copy_(value)
            current.grad = None if value.grad is None else value.grad.to(current.device, current.dtype)
        else:
            with self._student(msg):
                setattr(obj, name, value)
        return {}

    def op_getitem(self, msg):
        obj = self.reference("h", msg)
        key = wire.Decoder(self.reference)(msg["key"])
        with self._student(msg):
            value = obj[key]
        return {"value": self.encode(value)}

    def op_len(self, msg):
        obj = self.reference("h", msg)
        with self._student(msg):
            return {"value": len(obj)}

    def op_iter(self, msg):
        items = []
        with self._student(msg):
            for item in self.reference("h", msg):
                items.append(item)
                if len(items) > 100_000:
                    raise wire.WireError("an iterator too long to cross the bridge")
        return {"value": self.encode(items)}

    def op_repr(self, msg):
        obj = self.reference("h", msg)
        with self._student(msg):
            return {"value": repr(obj)[:2000]}


OPS = {name[3:]: fn for name, fn in vars(Servant).items() if name.startswith("op_")}


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


def _error(e: BaseException) -> dict:
    try:
        msg = str(e)[:4000]
    except Exception:  # noqa: BLE001 - a student exception whose __str__ fails
        msg = "(unprintable)"
    mro = []
    for c in type(e).__mro__[:30]:
        try:
            mro.append(f"{c.__module__}.{c.__qualname__}" if c.__module__ != "builtins" else c.__qualname__)
        except Exception:  # noqa: BLE001
            pass
    return {"type": type(e).__name__[:100], "mro": mro, "msg": msg}

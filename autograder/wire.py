"""The bridge's values, the one definition both sides use: what a Python value is as plain JSON
(the messages that carry them, and their frames, are protocol.py's).

Only data crosses between the judge (the trusted process that runs the course's cells) and the
student's kernel: ``None``, booleans, numbers, strings, lists, tuples, dicts, sets, NumPy arrays (npy,
``allow_pickle=False``), tensors (their data as npy plus dtype, device, ``requires_grad``, whether
they are a ``Parameter``, and their ``.grad``), dtypes, devices, slices, generators' states, and
references: a *handle* names an object that stays in the kernel (a student's function, class or
module instance), a *callback* names a callable that stays in the judge (a test's lambda, a course
model handed to a student's decoder). Decoding never imports, evaluates or unpickles anything: a
tag it does not know, a field of the wrong type or a value over the limits raises ``WireError``.

Every value is a JSON object with one tag (the first letter says which), except ``None``,
``bool``, ``int``, ``float`` and ``str``, which are themselves. Tags:

====== =====================================================================================
``L``  list              ``T`` tuple        ``D`` dict as [[key, value], ...]  ``S`` set
``F``  frozenset         ``I`` an iterator (a generator, ``model.parameters()``): its items
``nd`` NumPy array       ``ns`` NumPy scalar ``tn`` tensor (``dt`` dtype, ``dev``, ``shape``,
       ``rg`` requires_grad, ``pm`` Parameter, ``gr`` grad, ``ref`` and ``slot``, see below)
``dt`` torch dtype       ``dv`` torch device ``sz`` torch.Size ``sl`` slice ``rg`` range
``el`` Ellipsis          ``gn`` torch.Generator (its state and device)
``h``  handle (``k`` kind, ``n`` name, ``mro`` class names)     ``cb`` callback
====== =====================================================================================

``ref`` numbers the arrays and tensors of a call's arguments, so that the kernel can send back
the ones the call changed in place (``writeback``); ``slot`` numbers the tensors of a result
that carry autograd history in the kernel, so that the judge can send their gradients back.
"""
from __future__ import annotations

import base64
import io

from .protocol import WireError

MAX_DEPTH = 64              # nesting of containers
MAX_ITEMS = 1_000_000       # values in one message
MAX_ARRAY = 128 << 20       # bytes of one array or tensor

_SCALARS = (type(None), bool, int, float, str)


# ---------------------------------------------------------------- arrays

def _npy(a) -> str:
    import numpy as np

    if a.nbytes > MAX_ARRAY:
        raise WireError(f"an array of {a.nbytes >> 20} MB is over the bridge's {MAX_ARRAY >> 20} MB limit")
    buf = io.BytesIO()
    np.save(buf, a if a.flags.c_contiguous else a.copy(order="C"), allow_pickle=False)  # 0-d stays 0-d
    return base64.b64encode(buf.getvalue()).decode()


def _unnpy(text):
    import numpy as np

    if type(text) is not str or len(text) > MAX_ARRAY * 4 // 3 + 1024:
        raise WireError("array data missing or too large")
    try:
        a = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - anything np.load refuses is malformed
        raise WireError(f"bad array data ({type(e).__name__})") from None
    if type(a) is not np.ndarray or a.dtype.hasobject:
        raise WireError("bad array data")
    return a


_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
                 "bool", "complex64", "complex128")


def torch_dtype(name):
    import torch

    if type(name) is not str or name.replace("torch.", "") not in _TORCH_DTYPES:
        raise WireError(f"unknown dtype {name!r}")
    return getattr(torch, name.replace("torch.", ""))


def _device(name):
    import torch

    if type(name) is not str or len(name) > 32:
        raise WireError("bad device")
    try:
        return torch.device(name)
    except Exception:  # noqa: BLE001 - whatever torch.device refuses is a malformed device
        raise WireError(f"bad device {name!r}") from None


# ---------------------------------------------------------------- encoding

class Encoder:
    """Turns values into wire data. ``handle(obj)`` is called for what is not data (the kernel makes a
    handle, the judge a callback); ``refs`` collects the arrays and tensors encoded (a call's arguments),
    ``slots`` the tensors with autograd history (a result), when asked for."""

    def __init__(self, handle, *, refs: bool = False, slots: bool = False, grads: bool = True,
                 budget: int | None = None):
        self.handle, self.items, self.budget = handle, 0, budget
        self.refs: list | None = [] if refs else None
        self.slots: list | None = [] if slots else None
        self.grads = grads

    def __call__(self, x, depth: int = 0):
        import numpy as np
        import torch

        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise WireError("a value too large or too deeply nested to cross the bridge")
        t = type(x)
        if t in _SCALARS:
            return x
        if t is list:
            return {"L": [self(i, depth + 1) for i in x]}
        if t is tuple:
            return {"T": [self(i, depth + 1) for i in x]}
        if t is dict:
            return {"D": [[self(k, depth + 1), self(v, depth + 1)] for k, v in x.items()]}
        if t is set or t is frozenset:
            return {"S" if t is set else "F": [self(i, depth + 1) for i in x]}
        if t is np.ndarray and not x.dtype.hasobject:
            self.spend(x.nbytes)
            out = {"nd": _npy(x)}
            if self.refs is not None:
                out["ref"] = len(self.refs)
                self.refs.append(x)
            return out
        if isinstance(x, np.generic) and t.__module__ == "numpy" and not isinstance(x, np.object_):
            return {"ns": _npy(np.asarray(x))}
        if t is torch.Tensor or t is torch.nn.Parameter:
            return self.tensor(x, depth)
        if t is torch.dtype:
            return {"dt": str(x)}
        if t is torch.device:
            return {"dv": str(x)}
        if t is torch.Size:
            return {"sz": [int(i) for i in x]}
        if t is slice:
            return {"sl": [self(x.start, depth + 1), self(x.stop, depth + 1), self(x.step, depth + 1)]}
        if t is range:
            return {"rg": [x.start, x.stop, x.step]}
        if x is Ellipsis:
            return {"el": 1}
        if t is torch.Generator:
            out = {"gn": _npy(x.get_state().numpy()), "dev": str(x.device)}
            if self.refs is not None:  # sampling advances it: the new state comes back
                out["ref"] = len(self.refs)
                self.refs.append(x)
            return out
        if self.refs is not None and _is_iterator(x):  # a generator argument: its items, read once
            items = []
            for i in x:
                items.append(self(i, depth + 1))
                if len(items) > 100_000:
                    raise WireError("an iterator too long to cross the bridge")
            return {"I": items}
        return self.handle(x)

    def spend(self, nbytes: int) -> None:
        if self.budget is not None:
            self.budget -= nbytes
            if self.budget < 0:
                raise WireError("over the budget")

    def tensor(self, x, depth: int, inner: bool = False):
        """``inner``: a tensor's ``.grad``, which travels with it and is never an argument or output itself."""
        import torch

        self.spend(x.numel() * x.element_size())
        out = {"dt": str(x.dtype).replace("torch.", ""), "dev": str(x.device), "shape": [int(s) for s in x.shape],
               "rg": bool(x.requires_grad), "pm": type(x) is torch.nn.Parameter}
        if x.device.type == "meta":
            out["tn"] = None
        else:
            data = x.detach()
            if data.dtype == torch.bfloat16:
                data = data.float()
            out["tn"] = _npy(data.cpu().resolve_conj().resolve_neg().numpy())
        if self.grads and x.grad is not None and depth < MAX_DEPTH:
            g = x.grad
            out["gr"] = self.tensor(g, depth + 1, inner=True) if type(g) is torch.Tensor else None
        if inner:
            return out
        if self.refs is not None:
            out["ref"] = len(self.refs)
            self.refs.append(x)
        if self.slots is not None and x.requires_grad:
            out["slot"] = len(self.slots)
            self.slots.append(x)
        return out


def _is_iterator(x) -> bool:
    import types

    return isinstance(x, (types.GeneratorType, map, filter, zip, enumerate)) or type(x).__name__ in (
        "list_iterator", "tuple_iterator", "dict_keyiterator", "dict_valueiterator", "dict_itemiterator")


# ---------------------------------------------------------------- decoding

class Decoder:
    """Turns wire data into values. ``reference(tag, msg)`` resolves ``h``/``cb`` tags (the kernel
    looks handles up in its table, the judge makes a proxy); ``on_leaf(obj, msg)`` sees each array and
    tensor decoded (the kernel records a call's arguments for write-back)."""

    def __init__(self, reference, on_leaf=None):
        self.reference, self.on_leaf, self.items = reference, on_leaf, 0

    def __call__(self, v, depth: int = 0):
        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise WireError("a value too large or too deeply nested")
        if type(v) in _SCALARS:
            return v
        if type(v) is not dict or not v:
            raise WireError(f"not a wire value: {type(v).__name__}")
        if "tn" in v:
            return self.tensor(v, depth)
        tag = next(iter(v))
        body = v[tag]
        if tag in ("L", "T", "S", "F", "I"):
            if type(body) is not list:
                raise WireError(f"bad {tag}")
            items = [self(i, depth + 1) for i in body]
            if tag == "L":
                return items
            if tag == "T":
                return tuple(items)
            if tag == "I":
                return iter(items)
            try:
                return set(items) if tag == "S" else frozenset(items)
            except TypeError:
                raise WireError("a set of unhashable values") from None
        if tag == "D":
            if type(body) is not list:
                raise WireError("bad D")
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("bad D item")
                k = self(pair[0], depth + 1)
                try:
                    out[k] = self(pair[1], depth + 1)
                except TypeError:
                    raise WireError("an unhashable dict key") from None
            return out
        if tag == "nd":
            a = _unnpy(body)
            if self.on_leaf:
                self.on_leaf(a, v)
            return a
        if tag == "ns":
            return _unnpy(body)[()]
        if tag == "dt":
            return torch_dtype(body)
        if tag == "dv":
            return _device(body)
        if tag == "sz":
            import torch

            if type(body) is not list or not all(type(i) is int for i in body):
                raise WireError("bad size")
            return torch.Size(body)
        if tag == "sl":
            if type(body) is not list or len(body) != 3:
                raise WireError("bad slice")
            return slice(*(self(i, depth + 1) for i in body))
        if tag == "rg":
            if type(body) is not list or len(body) != 3 or not all(type(i) is int for i in body):
                raise WireError("bad range")
            return range(*body)
        if tag == "el":
            return Ellipsis
        if tag == "gn":
            import torch

            g = torch.Generator(device=_device(v.get("dev", "cpu")))
            try:
                g.set_state(torch.from_numpy(_unnpy(body)))
            except Exception:  # noqa: BLE001 - whatever set_state refuses is a malformed state
                raise WireError("bad generator state") from None
            if self.on_leaf:
                self.on_leaf(g, v)
            return g
        if tag in ("h", "cb"):
            return self.reference(tag, v)
        raise WireError(f"unknown tag {tag!r}")

    def tensor(self, v, depth: int, inner: bool = False):
        import torch

        dtype, device = torch_dtype(v.get("dt")), _device(v.get("dev", "cpu"))
        shape = v.get("shape")
        if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
            raise WireError("bad tensor shape")
        if v["tn"] is None:
            if device.type != "meta":
                raise WireError("tensor data missing")
            t = torch.empty(shape, dtype=dtype, device="meta")
        else:
            a = _unnpy(v["tn"])
            if list(a.shape) != shape:
                raise WireError("tensor data does not have its shape")
            t = torch.from_numpy(a.copy()).to(dtype=dtype)
            if device.type != "cpu":
                t = t.to(device)
        if v.get("pm") is True:
            t = torch.nn.Parameter(t, requires_grad=bool(v.get("rg")))
        elif v.get("rg") is True and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        if v.get("gr") is not None:
            g = self.tensor(v["gr"], depth + 1, inner=True)
            if g.shape == t.shape and g.dtype == t.dtype and g.device == t.device:
                t.grad = g.detach()
        if self.on_leaf and not inner:
            self.on_leaf(t, v)
        return t

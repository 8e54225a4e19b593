"""The grader does not take the student's kernel's word for a pass.

In the fork server, ``install()`` wraps the check helpers of ``seqlab.testing`` (before the
pristine snapshot, so the wrappers are what every test cell gets). Each wrapper runs the
helper as usual (the student sees the usual message) and also sends the check's *data* (the
arrays, values, types and devices it compared, never a verdict) out of the student's process
at once. The controller, a process the student never runs in, re-decides every check with its
own copy of the helpers (``redecide``). A test cell counts as passed only when the kernel
raised nothing *and* every one of its checks passes out of process; a kernel that says
"passed" when its own data says "failed" was tampered with.
"""
from __future__ import annotations

import base64
import io
import json
import os
from typing import Any

_CHANNEL: dict[str, Any] = {"fd": None, "cell": None, "pid": None}
_MAX_VALUE = 4 << 20  # bytes of one exported array; larger ones count as unconvertible


# ---------------------------------------------------------------- student side (fork server)

def _frame(obj: dict) -> bytes:
    data = json.dumps(obj, separators=(",", ":")).encode()
    return len(data).to_bytes(4, "big") + data


def send(obj: dict) -> None:
    fd = _CHANNEL["fd"]
    if fd is None or os.getpid() != _CHANNEL["pid"]:
        return  # a process the student forked is not the kernel: it has no say
    data = _frame(obj)
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _array(x: Any):
    import numpy as np

    from seqlab.testing import to_numpy

    try:
        a = to_numpy(x)
    except Exception:  # noqa: BLE001
        return {"bad": True}
    if type(a) is not np.ndarray or a.dtype == object or a.nbytes > _MAX_VALUE:
        return {"bad": True}
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return {"npy": base64.b64encode(buf.getvalue()).decode()}


def _plain(x: Any, depth: int = 0):
    """Plain JSON-able data of exactly the builtin types, tagged; None if ``x`` is anything else."""
    t = type(x)
    if depth > 20:
        return None
    if x is None or t in (bool, int, float, str):
        return {"v": x} if not (t is float and x != x) else {"nan": True}
    if t in (list, tuple, set, frozenset):
        items = [_plain(i, depth + 1) for i in x]
        if any(i is None for i in items):
            return None
        if t in (set, frozenset):
            items.sort(key=lambda i: json.dumps(i, sort_keys=True))
        return {t.__name__: items}
    if t is dict:
        pairs = [(_plain(k, depth + 1), _plain(v, depth + 1)) for k, v in x.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return {"dict": sorted(([k, v] for k, v in pairs), key=lambda p: json.dumps(p, sort_keys=True))}
    return None


def _mro(x: Any) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in type(x).__mro__]


def _types(types) -> list[str]:
    types = types if isinstance(types, tuple) else (types,)
    return [f"{t.__module__}.{t.__qualname__}" for t in types]


def _emit(kind: str, name: str, **data) -> None:
    try:
        send({"t": "check", "i": _CHANNEL["cell"], "kind": kind, "name": str(name)[:300], **data})
    except Exception:  # noqa: BLE001 - a check that cannot be exported counts as failed out of process
        send({"t": "check", "i": _CHANNEL["cell"], "kind": "broken", "name": str(name)[:300]})


def install() -> None:
    """Wrap seqlab.testing's helpers in place (fork server, before the snapshot)."""
    import functools

    import numpy as np
    import torch

    from seqlab import testing as T

    orig = {n: getattr(T, n) for n in ("check_type", "check_shape", "check_dtype", "check_close",
                                       "check_equal", "check_raises", "check_tensor_on")}

    # Each exporter takes the check's arguments and sends the data it decides on; arguments that only
    # shape the student's message (hint=, mistakes=) are accepted and not sent (`**_`).
    def wrap(name, exporter):
        f = orig[name]

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            exporter(*args, **kwargs)
            return f(*args, **kwargs)

        return wrapper

    def exp_type(name, got, types, hint="", **_):
        _emit("type", name, mro=_mro(got), types=_types(types))

    def exp_shape(name, got, expected_shape, hint="", **_):
        shape = None
        if got is not None:
            try:
                shape = [int(s) for s in tuple(getattr(got, "shape", np.shape(got)))]
            except Exception:  # noqa: BLE001
                shape = None
        _emit("shape", name, shape=shape, expected=[int(s) for s in expected_shape])

    def exp_dtype(name, got, expected, hint="", **_):
        is_tensor = isinstance(got, torch.Tensor) and type(got).__module__.startswith("torch")
        is_array = type(got) is np.ndarray
        dtype = str(got.dtype) if (is_tensor or is_array) else None
        if expected == "float":
            want = "float"
        elif isinstance(expected, torch.dtype):
            want = str(expected)
        else:
            want = str(np.dtype(expected))
        _emit("dtype", name, dtype=dtype, tensor=is_tensor, array=is_array, expected=want)

    def exp_close(name, got, expected, *, rtol=1e-7, atol=1e-10, **_):
        _emit("close", name, got=None if got is None else _array(got), expected=_array(expected),
              rtol=float(rtol), atol=float(atol))

    def exp_equal(name, got, expected, hint="", **_):  # mistakes= only words the message
        _emit("equal", name, got=_plain(got), expected=_plain(expected))

    def exp_tensor_on(name, got, like, **_):
        ok_type = type(got) is torch.Tensor or (isinstance(got, torch.Tensor) and type(got).__module__.startswith("torch"))
        _emit("tensor_on", name, tensor=ok_type,
              got=[str(got.device), str(got.dtype)] if ok_type else None,
              like=[str(like.device), str(like.dtype)])

    def check_raises(name, exc_type, fn, *args, hint="", **kwargs):
        raised = None
        try:
            fn(*args, **kwargs)
        except exc_type as e:
            raised = e
        except Exception as e:  # noqa: BLE001
            _emit("raises", name, mro=_mro(e), expected=_types(exc_type))
            T._fail(name, f"expected {exc_type.__name__}, but it raised {type(e).__name__}: {e}", hint and f"hint: {hint}")
        _emit("raises", name, mro=None if raised is None else _mro(raised), expected=_types(exc_type))
        if raised is None:
            T._fail(name, f"expected {exc_type.__name__}, but nothing was raised", hint and f"hint: {hint}")

    T.check_type = wrap("check_type", exp_type)
    T.check_shape = wrap("check_shape", exp_shape)
    T.check_dtype = wrap("check_dtype", exp_dtype)
    T.check_close = wrap("check_close", exp_close)
    T.check_equal = wrap("check_equal", exp_equal)
    T.check_tensor_on = wrap("check_tensor_on", exp_tensor_on)
    check_raises.__doc__ = orig["check_raises"].__doc__
    T.check_raises = check_raises


# ---------------------------------------------------------------- controller side

def _load(a):
    import numpy as np

    if not isinstance(a, dict) or "npy" not in a:
        return None
    return np.load(io.BytesIO(base64.b64decode(a["npy"])), allow_pickle=False)


def _unplain(p):
    (tag, v), = p.items()
    if tag == "v":
        return v
    if tag == "nan":
        return float("nan")
    if tag == "list":
        return [_unplain(i) for i in v]
    if tag == "tuple":
        return tuple(_unplain(i) for i in v)
    if tag in ("set", "frozenset"):
        return frozenset(json.dumps(i, sort_keys=True) for i in v)
    if tag == "dict":
        return {json.dumps(k, sort_keys=True): _unplain(val) for k, val in v}
    raise ValueError(tag)


_TORCH_FLOATS = {"torch.float16", "torch.bfloat16", "torch.float32", "torch.float64"}


def redecide(rec: dict) -> str | None:
    """None if the exported check passes, else why not. Runs outside the student's process."""
    import numpy as np

    kind = rec.get("kind")
    try:
        if kind == "close":
            got, expected = _load(rec.get("got")), _load(rec.get("expected"))
            if got is None or expected is None:
                return "value could not be compared"
            if got.shape != expected.shape:
                return f"shape {got.shape} != {expected.shape}"
            if not (np.issubdtype(got.dtype, np.number) or got.dtype == bool):
                return f"dtype {got.dtype} is not numeric"
            if not np.allclose(got, expected, rtol=rec["rtol"], atol=rec["atol"], equal_nan=False):
                return "values differ"
            return None
        if kind == "equal":
            if rec.get("got") is None or rec.get("expected") is None:
                return "not plain data"
            if json.dumps(rec["got"], sort_keys=True) != json.dumps(rec["expected"], sort_keys=True):
                # ints and floats that compare equal (1 == 1.0) still count as equal
                if _unplain(rec["got"]) != _unplain(rec["expected"]):
                    return "values differ"
            return None
        if kind == "type":
            return None if set(rec["mro"]) & set(rec["types"]) else f"type {rec['mro'][0]}"
        if kind == "shape":
            return None if rec["shape"] is not None and list(rec["shape"]) == list(rec["expected"]) else "shape differs"
        if kind == "dtype":
            dtype, want = rec.get("dtype"), rec["expected"]
            if dtype is None:
                return "not an array or tensor"
            if want == "float":
                ok = dtype in _TORCH_FLOATS if rec["tensor"] else np.issubdtype(np.dtype(dtype), np.floating)
            else:
                ok = dtype == want
            return None if ok else f"dtype {dtype}"
        if kind == "raises":
            return None if rec.get("mro") and set(rec["mro"]) & set(rec["expected"]) else "did not raise"
        if kind == "tensor_on":
            return None if rec.get("tensor") and rec.get("got") == rec.get("like") else "device or dtype differs"
    except Exception as e:  # noqa: BLE001 - malformed data is a failed check
        return f"malformed check data ({type(e).__name__})"
    return f"unknown check {kind!r}"

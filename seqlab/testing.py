"""Checks for exercise tests: each failure says what was expected, what came back, with
shapes, and (when it can tell) the likely mistake.

Every check raises :class:`CheckError` (an ``AssertionError``) and returns nothing on success.
``mistakes`` arguments map a description of a common mistake to the value that mistake
produces; tests compute those values from an oracle applied to altered inputs (weights
swapped or transposed, bias zeroed), never from a second hand-written answer.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

__all__ = [
    "CheckError",
    "to_numpy",
    "check_type",
    "check_shape",
    "check_dtype",
    "check_close",
    "check_equal",
    "check_raises",
    "meta_default_device",
    "check_tensor_on",
    "check_implemented",
]


class CheckError(AssertionError):
    """A failed exercise check. The message is written for the student."""


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of an array, tensor (any device, with or without grad), list or number."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _fail(name: str, *lines: str) -> None:
    body = "\n".join("  " + line for line in lines if line)
    raise CheckError(f"{name} is wrong.\n{body}")


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"torch.Tensor of shape {tuple(x.shape)}, dtype {x.dtype}, on {x.device}"
    if isinstance(x, np.ndarray):
        return f"np.ndarray of shape {x.shape}, dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:200]


def check_type(name: str, got: Any, types: type | tuple[type, ...], hint: str = "") -> None:
    """``got`` is an instance of ``types``."""
    if not isinstance(got, types):
        if got is None:
            hint = hint or "did the function forget to `return` its result?"
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        _fail(name, f"expected a {names}, got {_describe(got)}", hint and f"hint: {hint}")


def check_shape(name: str, got: Any, expected_shape: tuple[int, ...], hint: str = "") -> None:
    """``got`` has exactly ``expected_shape``."""
    if got is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    shape = tuple(getattr(got, "shape", np.shape(got)))
    if shape != tuple(expected_shape):
        _fail(name, f"expected shape {tuple(expected_shape)}, got {shape}", hint and f"hint: {hint}")


def check_dtype(name: str, got: Any, expected: Any, hint: str = "") -> None:
    """``got.dtype`` equals ``expected`` (a NumPy dtype, a torch dtype, or "float")."""
    dtype = getattr(got, "dtype", None)
    if expected == "float":
        ok = (isinstance(got, torch.Tensor) and got.dtype.is_floating_point) or (
            isinstance(got, np.ndarray) and np.issubdtype(got.dtype, np.floating)
        )
        want = "a floating-point dtype"
    elif isinstance(expected, torch.dtype):
        ok, want = dtype == expected, str(expected)
    else:
        ok, want = dtype == np.dtype(expected), str(np.dtype(expected))
    if not ok:
        _fail(name, f"expected {want}, got dtype {dtype}", hint and f"hint: {hint}")


def _matches(got: np.ndarray, value: Any, rtol: float, atol: float) -> bool:
    value = to_numpy(value)
    return got.shape == value.shape and bool(np.allclose(got, value, rtol=rtol, atol=atol, equal_nan=True))


def check_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-10,
    mistakes: Mapping[str, Any] | None = None,
    hint: str = "",
) -> None:
    """``got`` has the shape of ``expected`` and equals it within ``rtol``/``atol``.

    On a mismatch, names the first entry of ``mistakes`` whose value ``got`` matches.
    """
    if got is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    expected_np = to_numpy(expected)
    try:
        got_np = to_numpy(got)
    except Exception:  # noqa: BLE001 - anything unconvertible is simply the wrong answer
        _fail(name, f"expected an array of shape {expected_np.shape}, got {_describe(got)}")
    if got_np.dtype == object:
        _fail(name, f"expected an array of shape {expected_np.shape}, got {_describe(got)}")
    likely = next(
        (label for label, value in (mistakes or {}).items() if _matches(got_np, value, rtol, atol)),
        None,
    )
    mistake_line = likely and f"likely mistake: {likely}"
    hint_line = hint and f"hint: {hint}"
    if got_np.shape != expected_np.shape:
        _fail(name, f"expected shape {expected_np.shape}, got {got_np.shape}", mistake_line, hint_line)
    if np.allclose(got_np, expected_np, rtol=rtol, atol=atol, equal_nan=False):
        return
    with np.errstate(invalid="ignore"):
        err = np.abs(got_np.astype(np.float64) - expected_np.astype(np.float64))
    err = np.where(np.isnan(err), np.inf, err)
    where = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    n_bad = int(np.sum(~np.isclose(got_np, expected_np, rtol=rtol, atol=atol)))
    _fail(
        name,
        f"shape {expected_np.shape} is right, but {n_bad} of {expected_np.size} values differ "
        f"(rtol={rtol:g}, atol={atol:g})",
        f"largest difference at index {tuple(int(i) for i in where)}: "
        f"expected {expected_np[where]!r}, got {got_np[where]!r}",
        "the result contains NaN or inf" if not np.all(np.isfinite(got_np)) else "",
        mistake_line,
        hint_line,
    )


def check_equal(name: str, got: Any, expected: Any, hint: str = "") -> None:
    """``got == expected`` for plain Python values (dicts, lists, ints, strings)."""
    if got != expected:
        _fail(name, f"expected {expected!r}", f"got      {got!r}", hint and f"hint: {hint}")


def check_raises(
    name: str, exc_type: type[BaseException], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """``fn(*args, **kwargs)`` raises ``exc_type`` (a subclass counts)."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as e:  # noqa: BLE001
        _fail(name, f"expected {exc_type.__name__}, but it raised {type(e).__name__}: {e}")
    _fail(name, f"expected {exc_type.__name__}, but nothing was raised")


@contextlib.contextmanager
def meta_default_device(what: str) -> Iterator[None]:
    """Run a block with PyTorch's default device set to ``meta``.

    Code that creates a tensor without ``device=`` (``torch.zeros(n)``) then gets a meta
    tensor, and mixing it with the real inputs raises; we turn that into a clear message.
    """
    try:
        with torch.device("meta"):
            yield
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:
        raise CheckError(
            f"{what} is not device-clean.\n"
            "  It failed with PyTorch's default device set to 'meta', which means some tensor was\n"
            "  created without the device (and dtype) of the inputs or parameters, e.g.\n"
            "  torch.zeros(N, H) instead of torch.zeros(N, H, device=X.device, dtype=X.dtype).\n"
            f"  The error was: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None


def check_tensor_on(name: str, got: Any, like: torch.Tensor) -> None:
    """``got`` is a tensor on the device and of the dtype of ``like``."""
    check_type(name, got, torch.Tensor)
    if got.device != like.device or got.dtype != like.dtype:
        _fail(
            name,
            f"expected a tensor on {like.device} with dtype {like.dtype}, "
            f"got one on {got.device} with dtype {got.dtype}",
            "hint: create tensors with device=<input>.device, dtype=<input>.dtype",
        )


def check_implemented(obj: Any) -> None:
    """``obj`` (a function, or a class and its methods) is no longer the release stub.

    A test cell whose real checks are hidden starts with this line, so that in the student's
    copy it fails until the function is written (and ``nbgrader validate --invert`` sees every
    test fail on the stubs) while giving nothing away.
    """
    functions = [obj] if not isinstance(obj, type) else [v for v in vars(obj).values() if inspect.isfunction(v)]
    for fn in functions:
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):  # no source to read: the hidden tests decide
            continue
        if "YOUR CODE HERE" in source and "raise NotImplementedError" in source:
            raise CheckError(f"{getattr(obj, '__name__', obj)} is not written yet: replace the "
                             "`raise NotImplementedError()` in its cell with your code.")

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
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from seqlab import diagnose, factories, ownwork

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
    "check_own_work",
    "call_checked",
    "checked",
    "likely_cause",
]


class CheckError(AssertionError):
    """A failed exercise check. The message is written for the student.

    Two fields say the same as data, for the grader's class report (it counts them across a
    class and never reads the message): ``mistake``, the likely mistake the message names (None
    when it names none), and ``cause``, why the check failed when the cause is not a wrong value:
    ``"not written"`` (still the release stub) or ``"not own work"`` (the own-work rule).
    """

    def __init__(self, message: str = "", *, mistake: str | None = None, cause: str | None = None):
        super().__init__(message)
        self.mistake, self.cause = mistake, cause


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of an array, tensor (any device, with or without grad), list or number."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


_LIKELY = "likely mistake: "


def _fail(name: str, *lines: str) -> None:
    """Raise the failure of ``name`` with one line per non-empty entry of ``lines``; a line that
    starts with ``likely mistake: `` also becomes the error's ``mistake``."""
    body = "\n".join("  " + line for line in lines if line)
    mistake = next((line[len(_LIKELY):] for line in lines if line and line.startswith(_LIKELY)), None)
    raise CheckError(f"{name} is wrong.\n{body}", mistake=mistake)


def _plain(x: Any) -> Any:
    """``x`` with NumPy and 0-d torch scalars turned into Python numbers (recursively through
    lists, tuples and dicts), so messages print ``0.5``, not ``np.float64(0.5)``."""
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        return x.item()
    if isinstance(x, torch.Tensor) and x.dim() == 0:
        return x.item()
    if isinstance(x, dict):
        return {_plain(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"torch.Tensor of shape {tuple(x.shape)}, dtype {x.dtype}, on {x.device}"
    if isinstance(x, np.ndarray):
        return f"np.ndarray of shape {x.shape}, dtype {x.dtype}"
    return f"{type(x).__name__} {_plain(x)!r}"[:200]


def check_type(name: str, got: Any, types: type | tuple[type, ...], hint: str = "") -> None:
    """``got`` is an instance of ``types``."""
    if not isinstance(got, types):
        if got is None:
            hint = hint or "did the function forget to `return` its result?"
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        _fail(name, f"expected a {names}, got {_describe(got)}", hint and f"hint: {hint}")


def check_shape(name: str, got: Any, expected_shape: tuple[int, ...], hint: str = "",
                mistakes: Mapping[str, Any] | None = None) -> None:
    """``got`` has exactly ``expected_shape``. On a mismatch, names the entries of ``mistakes``
    whose value ``got`` matches (shape and values), else what the shapes say."""
    if got is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    shape = tuple(getattr(got, "shape", np.shape(got)))
    if shape != tuple(expected_shape):
        try:
            got_np = to_numpy(got)
        except Exception:  # noqa: BLE001 - a shape is all this check needs
            got_np = None
        slip = _named(_matching(mistakes, lambda value: got_np is not None and _matches(got_np, value, 1e-7, 1e-10)))
        slip = slip or diagnose.shape_slip(expected_shape, shape)
        _fail(name, f"expected shape {tuple(expected_shape)}, got {shape}", slip and f"likely mistake: {slip}",
              hint and f"hint: {hint}")


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


def _matching(mistakes: Mapping[str, Any] | None, matches: Callable[[Any], bool]) -> list[str]:
    """The labels of ``mistakes`` whose value ``matches``; none when the table itself cannot be
    computed for these inputs (a wrong answer is still reported, only without a name)."""
    try:
        return [label for label, value in (mistakes or {}).items() if matches(value)]
    except Exception:  # noqa: BLE001 - naming is a courtesy: it must never hide the failure itself
        return []


def _named(labels: list[str]) -> str | None:
    """The likely mistake from the labels whose values the answer matches: when several mistakes give
    the same value on these inputs, all of them are named (never only one that may be the wrong one)."""
    labels = list(dict.fromkeys(labels))
    if not labels:
        return None
    if len(labels) == 1:
        return labels[0]
    return "; or, as it gives the same values here: ".join(labels[:3])


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

    On a mismatch, names the entries of ``mistakes`` whose value ``got`` matches (all of them when
    several do: mistakes that coincide on these inputs are named together).
    """
    if got is None:
        _fail(name, "got None: did the function forget to `return` its result?")
    expected_np = to_numpy(expected)
    if isinstance(got, torch.Tensor) and got.device.type == "meta":
        _fail(name, f"got {_describe(got)}: the tests set PyTorch's default device to 'meta', so a tensor "
              "created without device= lands there",
              "likely mistake: a tensor was created on the default device: create it with device=<input>.device "
              "(and dtype=<input>.dtype), e.g. torch.zeros(N, H, device=X.device, dtype=X.dtype)")
    try:
        got_np = to_numpy(got)
    except Exception:  # noqa: BLE001 - anything unconvertible is simply the wrong answer
        _fail(name, f"expected an array of shape {expected_np.shape}, got {_describe(got)}", _unpacking_slip(got))
    if got_np.dtype == object:
        _fail(name, f"expected an array of shape {expected_np.shape}, got {_describe(got)}", _unpacking_slip(got))
    if got_np.shape == expected_np.shape and np.allclose(got_np, expected_np, rtol=rtol, atol=atol, equal_nan=False):
        return
    # Only a wrong answer reads ``mistakes`` (the oracles compute them lazily: a right one never pays).
    likely = _named(_matching(mistakes, lambda value: _matches(got_np, value, rtol, atol)))
    if likely is None:
        likely = (diagnose.shape_slip(expected_np.shape, got_np.shape) if got_np.shape != expected_np.shape
                  else diagnose.value_slip(expected_np, got_np)) or None
    mistake_line = likely and f"likely mistake: {likely}"
    hint_line = hint and f"hint: {hint}"
    if got_np.shape != expected_np.shape:
        _fail(name, f"expected shape {expected_np.shape}, got {got_np.shape}", mistake_line, hint_line)
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
        f"expected {_plain(expected_np[where])!r}, got {_plain(got_np[where])!r}",
        "the result contains NaN or inf" if not np.all(np.isfinite(got_np)) else "",
        mistake_line,
        hint_line,
    )


def _unpacking_slip(got: Any) -> str:
    """What a list or tuple where one array belongs usually means."""
    if isinstance(got, (list, tuple)) and got and all(isinstance(g, (np.ndarray, torch.Tensor)) for g in got):
        return ("likely mistake: a list of arrays came back where one array belongs: are the results returned "
                "in the documented order, and stacked into one array?")
    return ""


def check_equal(name: str, got: Any, expected: Any, hint: str = "", mistakes: Mapping[str, Any] | None = None) -> None:
    """``got == expected`` for plain Python values (dicts, lists, ints, strings).

    On a mismatch, names the entries of ``mistakes`` whose value equals ``got``.
    """
    if got != expected:
        likely = _named(_matching(mistakes, lambda value: _plain(got) == value))
        _fail(name, f"expected {_plain(expected)!r}", f"got      {_plain(got)!r}",
              likely and f"likely mistake: {likely}", hint and f"hint: {hint}")


def check_raises(
    name: str, exc_type: type[BaseException], fn: Callable[..., Any], *args: Any, hint: str = "", **kwargs: Any
) -> None:
    """``fn(*args, **kwargs)`` raises ``exc_type`` (a subclass counts)."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as e:  # noqa: BLE001 - any other exception is the student's error, reported as such
        _fail(name, f"expected {exc_type.__name__}, but it raised {type(e).__name__}: {e}", hint and f"hint: {hint}")
    _fail(name, f"expected {exc_type.__name__}, but nothing was raised", hint and f"hint: {hint}")


#: Words by which an error raised under the meta default device is about where a tensor lives.
_DEVICE_WORDS = ("meta", "device")


def _device_message(what: str, code: Sequence[Any], first: str) -> str:
    """Why ``what`` is not device-clean: the calls in ``code`` that leave the device out, or the
    general rule when none is found."""
    bare = factories.describe(factories.bare_factories(code, ("device",)))
    lines = [f"{what} is not device-clean.",
             "It failed with PyTorch's default device set to 'meta', so some tensor was created without the",
             "device of the inputs or parameters (a new tensor lands on the default device).",
             f"likely mistake: {bare}" if bare else
             "likely mistake: a tensor was created without device=: write torch.zeros(N, H, device=X.device, "
             "dtype=X.dtype) instead of torch.zeros(N, H) (or X.new_zeros(N, H)), and never .cuda() or .cpu()",
             first]
    return "\n  ".join(line for line in lines if line)


@contextlib.contextmanager
def meta_default_device(what: str, *code: Any, hint: str = "") -> Iterator[None]:
    """Run a block with PyTorch's default device set to ``meta``.

    Code that creates a tensor without ``device=`` (``torch.zeros(n)``) then gets a meta tensor,
    and mixing it with the real inputs raises; we turn that into a clear message, which lists the
    calls in ``code`` (the student's functions, classes or modules under test) that leave the
    device out. An error that has nothing to do with devices (a shape error, say) is reported as
    what it is, with its likely cause and ``hint``.
    """
    try:
        with torch.device("meta"):
            yield
    except CheckError as e:  # a check inside the block found a tensor on 'meta': say which call made it
        text = str(e)
        if "meta" in text and code and "these calls make" not in text:
            bare = factories.describe(factories.bare_factories(code, ("device",)))
            if bare:
                raise CheckError(f"{text}\n  likely mistake: {bare}") from None
        raise
    except NotImplementedError as e:
        if not any(w in str(e).lower() for w in _DEVICE_WORDS):  # a stub; not "Cannot copy out of meta tensor"
            raise CheckError(f"{what}: the function is not written yet (it raised NotImplementedError).") from None
        raise CheckError(_device_message(what, code, f"The error was: NotImplementedError: {str(e).splitlines()[0]}"[:400])) from None
    except (RuntimeError, TypeError, ValueError, IndexError, AttributeError) as e:
        first = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:400]
        if any(w in str(e).lower() for w in _DEVICE_WORDS):
            raise CheckError(_device_message(what, code, f"The error was: {first}")) from None
        cause = likely_cause(e)
        raise CheckError(f"{what} is wrong.\n  it raised {first}"
                         + (f"\n  likely mistake: {cause}" if cause else "")
                         + (f"\n  hint: {hint}" if hint else "")) from None


def check_tensor_on(name: str, got: Any, like: torch.Tensor, *, dtype: bool = True) -> None:
    """``got`` is a tensor on the device and (unless ``dtype=False``) of the dtype of ``like``."""
    check_type(name, got, torch.Tensor)
    if got.device != like.device or (dtype and got.dtype != like.dtype):
        why = []
        if got.device != like.device:
            why.append(f"a tensor made without device= lands on the default device ({got.device.type} here): "
                       f"create it with device=X.device, X an input or a parameter")
        if dtype and got.dtype != like.dtype:
            why.append(f"a tensor made without dtype= is {torch.get_default_dtype()}, and a float64 constant turns "
                       f"float32 inputs into float64: create it with dtype=X.dtype (or X.new_zeros(...))")
        _fail(
            name,
            f"expected a tensor on {like.device} with dtype {like.dtype}, "
            f"got one on {got.device} with dtype {got.dtype}",
            "likely mistake: " + "; ".join(why),
            "hint: create tensors with device=<input>.device, dtype=<input>.dtype",
        )


#: Function or class name -> the built-ins its exercise re-implements, registered by the visible
#: test (``check_own_work``) so that the hidden tests' ``check_implemented`` applies them too.
_FORBIDDEN: dict[str, tuple[str, ...]] = {}


def check_own_work(obj: Any, forbidden: Sequence[str] = ()) -> None:
    """``obj`` is written, and written by the student: it calls neither the course's reference
    answers (``seqlab.oracles``, always forbidden, as is ``seqlab.given``) nor any of ``forbidden``, the dotted public
    paths of the built-ins its exercise re-implements (``"torch.nn.LSTM"``).

    The list is remembered for ``obj.__name__``, so every later ``check_implemented(obj)`` (the
    first line of each hidden test cell) applies it as well.
    """
    _FORBIDDEN[getattr(obj, "__name__", str(obj))] = tuple(forbidden)
    check_implemented(obj)


def _functions_of(obj: Any) -> list[Any]:
    """``obj`` itself if it is a function, else the functions defined in its class body."""
    return [obj] if not isinstance(obj, type) else [v for v in vars(obj).values() if inspect.isfunction(v)]


def _student_cells(obj: Any) -> list[str]:
    """The source of the cells that may define ``obj``, in the order they ran.

    In order of preference: the ``__seqlab_cells__`` the grader's bridge puts on its stand-ins
    for the student's functions; the ``In`` list of the namespace ``obj`` was defined in (IPython
    keeps one, and so does the tests' notebook runner); IPython's own ``In``; the source of
    ``obj``'s module, or of ``obj`` alone.
    """
    cells = getattr(obj, "__seqlab_cells__", None)
    if isinstance(cells, (list, tuple)):
        return [c for c in cells if isinstance(c, str)]
    for fn in _functions_of(obj):
        history = getattr(fn, "__globals__", {}).get("In")
        if isinstance(history, list):
            return [c for c in history if isinstance(c, str)]
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    history = shell.user_ns.get("In") if shell is not None else None
    if isinstance(history, list):
        return [c for c in history if isinstance(c, str)]
    module = inspect.getmodule(obj)
    for source_of in (module, obj) if module and module.__name__ != "__main__" else (obj,):
        try:  # the whole module has the imports too
            return [inspect.getsource(source_of)]
        except (OSError, TypeError):
            continue
    return []


def _sources(obj: Any) -> list[str]:
    """The source of ``obj``'s definition (as pieces to search for the stub's marks)."""
    cells = getattr(obj, "__seqlab_cells__", None)
    if isinstance(cells, (list, tuple)):
        found = ownwork.definition(getattr(obj, "__name__", ""), cells)
        return [found] if found else []
    sources = []
    for fn in _functions_of(obj):
        try:
            sources.append(inspect.getsource(fn))
        except (OSError, TypeError):  # no source to read: the hidden tests decide
            continue
    return sources


def check_implemented(obj: Any) -> None:
    """``obj`` (a function, or a class and its methods) is no longer the release stub, and is the
    student's own work (see :func:`check_own_work`).

    A test cell whose real checks are hidden starts with this line, so that in the student's
    copy it fails until the function is written (and ``nbgrader validate --invert`` sees every
    test fail on the stubs) while giving nothing away.
    """
    name = getattr(obj, "__name__", str(obj))
    if any("YOUR CODE HERE" in s and "raise NotImplementedError" in s for s in _sources(obj)):
        raise CheckError(f"{name} is not written yet: replace the `raise NotImplementedError()` in its cell "
                         "with your code.", cause="not written")
    forbidden = _FORBIDDEN.get(name, ())
    found = ownwork.violations(name, _student_cells(obj), forbidden)
    if not found:
        itself = ownwork.forbidden_object(obj, forbidden)
        found = [itself] if itself else []
    if found:
        without = " and without " + " or ".join(forbidden) if forbidden else ""
        raise CheckError(f"{name} is not your own work: it earns no points while it uses these.\n"
                         + "".join(f"  {line}\n" for line in found)
                         + "  Write it without the course's reference answers (`oracle`, seqlab.oracles), the course's"
                         + f" helpers that compute an earlier chapter's answer (seqlab.given){without}.",
                         cause="not own work")


def likely_cause(error: BaseException, args: Sequence[Any] = ()) -> str:
    """The likely mistake behind an exception raised inside a student's function ("" if unknown);
    ``args``, the arguments of the call, explain some shape errors (see :mod:`seqlab.diagnose`)."""
    return diagnose.error_cause(error, args)


def _exercise_cause(error: BaseException, causes: Sequence[tuple[Sequence[str], str]]) -> str:
    """The first of an exercise's own ``(words, cause)`` pairs one of whose words (lower case) the
    error's text contains ("" if none)."""
    text = f"{type(error).__name__}: {error}".lower()
    return next((cause for words, cause in causes if any(w in text for w in words)), "")


def _raised_cause(error: BaseException, fn: Any, values: list, warned: list[str],
                  causes: Sequence[tuple[Sequence[str], str]] = ()) -> str:
    """The likely cause of ``error``, raised by ``fn(*values)``: an exercise's own ``causes`` first,
    else read from the error, the arguments' shapes and the warnings of the call, completed from
    ``fn``'s source: the ``.T`` it applies to a batch, the calls that make a tensor without the
    inputs' device or dtype."""
    own = _exercise_cause(error, causes)
    if own:
        return own
    cause = diagnose.error_cause(error, values, warned)
    batched = any(len(getattr(v, "shape", ())) >= 3 for v in values)
    if batched and ("matrix product" in cause or "incompatible shapes" in cause) and ".T was used" not in cause:
        for t in factories.transposed_names([fn])[:2]:
            cause += (f"; {t}.T reverses every axis: with batch axes, swap only the last two, "
                      f"{t}.transpose(-2, -1) (NumPy: np.swapaxes({t}, -1, -2))")
    for what, opening in (("device", "a tensor was created on the wrong device"),
                          ("dtype", "a tensor was created with the wrong dtype")):
        if cause.startswith(opening):
            bare = factories.describe(factories.bare_factories([fn], (what,)), what)
            cause = f"{cause}; {bare}" if bare else cause
    return cause


def call_checked(name: str, fn: Callable[..., Any], *args: Any, hint: str = "",
                 causes: Sequence[tuple[Sequence[str], str]] = (), **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an exception raised inside it becomes a :class:`CheckError` that
    says what was called, what was raised and (when it can tell) the likely mistake.

    A test wraps a call to the student's function in this, so a raw NumPy or PyTorch error
    ("matmul: Input operand 1 has a mismatch in its core dimension 0 ...") reaches the student
    with its probable cause. ``hint`` (what the function must do) is added to the message. A
    device or dtype error also lists the calls in ``fn``'s source that leave them out.
    ``causes``: ``(words, cause)`` pairs of the exercise, tried before the general ones: an error
    whose text contains one of ``words`` names ``cause``.
    """
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return fn(*args, **kwargs)
            except CheckError:
                raise
            except NotImplementedError:
                raise CheckError(f"{name}: the function is not written yet (it raised NotImplementedError).",
                                 cause="not written") from None
            except Exception as e:  # noqa: BLE001 - any error of the student's code is reported, not re-raised
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                cause = _raised_cause(e, fn, [*args, *kwargs.values()], [str(w.message) for w in caught], causes)
                _fail(name, f"it raised {type(e).__name__}: {first}"[:400], cause and f"likely mistake: {cause}",
                      hint and f"hint: {hint}")
    finally:  # the student still sees the warnings of the call, once it is over
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def checked(fn: Callable[..., Any], hint: str = "") -> Callable[..., Any]:
    """``fn`` wrapped so that each call goes through :func:`call_checked`: a test writes
    ``checked(aggregate)(A, V)`` where it would write ``aggregate(A, V)``."""
    name = getattr(fn, "__name__", "the function")

    def call(*args: Any, **kwargs: Any) -> Any:
        return call_checked(f"{name}(...)", fn, *args, hint=hint, **kwargs)

    return call

"""What a wrong shape or an error raised inside a student's code most likely means.

The checks of :mod:`seqlab.testing` first compare a wrong answer with the values the usual
mistakes give (the oracles' ``*_mistakes`` tables); when none matches, or when the student's code
raised instead of returning, they fall back on the two readings here:

- :func:`shape_slip`: how a wrong shape relates to the right one (an axis missing, one entry
  too many or too few, axes merged or in another order, an axis doubled by a concatenation);
- :func:`value_slip`: how wrong values of the right shape relate to the right ones (all zeros,
  the sign flipped, a constant factor, transposed, shifted by one step, wrong only at one end);
- :func:`error_cause`: the usual cause of a NumPy or PyTorch error message, with the shapes it
  names compared with the shapes of the arguments the function was given.

Each reading says only what the shapes or the message establish, and names the common slips
that produce it, so that it is never a wrong name.
"""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

__all__ = ["shape_slip", "value_slip", "error_cause", "shapes_in"]


# ----------------------------------------------------------------------------- wrong shapes

def _axes(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_slip(expected: Sequence[int], got: Sequence[int]) -> str:
    """How ``got`` differs from ``expected``, in the words of the slip that usually causes it
    ("" when the two shapes are not related in a way that names one)."""
    E, G = tuple(int(s) for s in expected), tuple(int(s) for s in got)
    if E == G:
        return ""
    if len(G) == len(E) - 1:
        missing = [i for i in range(len(E)) if E[:i] + E[i + 1:] == G]
        if missing:
            i = missing[0]
            return (f"axis {i} (length {E[i]}) is missing: only one entry along it was kept (only the last time "
                    f"step, say, or the first sequence of the batch), or it was reduced away (a sum, a mean, np.max "
                    f"instead of np.maximum); "
                    f"keep every entry, shape {_axes(E)}")
    if len(G) == len(E) + 1:
        extra = [i for i in range(len(G)) if G[:i] + G[i + 1:] == E]
        if extra:
            i = extra[0]
            if G[i] == 1:
                return (f"there is an extra axis {i} of length 1 (keepdims=True, or a state made as (1, N, H), the "
                        f"layout of nn.RNN and nn.LSTM, where the course's states are (N, H)): expected {_axes(E)}")
            return (f"there is an extra axis {i} of length {G[i]}: one value per entry along it, where one value "
                    f"over all of them is expected (reduce over that axis too, e.g. a norm of the whole array)")
    if len(G) < len(E):
        for k in range(2, len(E) - len(G) + 2):
            for start in range(len(E) - k + 1):
                if E[:start] + (math.prod(E[start:start + k]),) + E[start + k:] == G:
                    merged = _axes(E[start:start + k])
                    return (f"the axes {merged} were flattened (merged) into one axis of length {G[start]}: "
                            f"a reshape(-1, ...) or a flattened index that was not undone; keep them apart, "
                            f"shape {_axes(E)}")
    if len(G) == len(E) and sorted(G) == sorted(E):
        if len(E) == 2:
            return f"the result is transposed (rows and columns swapped): got {_axes(G)}, expected {_axes(E)}"
        swaps = [(i, j) for i in range(len(E)) for j in range(i + 1, len(E))
                 if G[:i] + (G[j],) + G[i + 1:j] + (G[i],) + G[j + 1:] == E]
        if swaps:
            i, j = swaps[0]
            return (f"axes {i} and {j} are swapped (got {_axes(G)}, expected {_axes(E)}): a transpose, or "
                    f"stacking along the wrong axis (time and batch mixed up?)")
        return f"the axes are in another order: got {_axes(G)}, expected {_axes(E)}"
    if len(G) == len(E):
        differ = [i for i in range(len(E)) if E[i] != G[i]]
        if len(differ) == 1:
            i = differ[0]
            if abs(G[i] - E[i]) == 1 and (i < len(E) - 1 or len(E) == 1):  # a width off by one is a coincidence
                why = ("the initial state included, or a range or a slice that goes one too far?"
                       if G[i] > E[i] else "the first or the last step left out, or a range or a slice that stops "
                       "one short?")
                return (f"axis {i} has one entry too {'many' if G[i] > E[i] else 'few'}, {G[i]} instead of {E[i]}: "
                        f"off by one ({why})")
            if G[i] == 2 * E[i]:
                return (f"axis {i} is twice as long as it should be: two arrays were concatenated along it where "
                        f"they should be added")
    return ""


# ----------------------------------------------------------------------------- wrong values

def _close(a, b) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def _factor_words(c: float) -> str:
    """`` = 1/4``, `` = sqrt(2)``: the simple number a factor is, when it is one (not an integer: it reads as itself)."""
    if abs(c - round(c)) <= 1e-6 * abs(c):
        return ""
    for k in range(2, 65):
        for value, words in ((1 / k, f"1/{k}"), (math.sqrt(k), f"sqrt({k})"), (1 / math.sqrt(k), f"1/sqrt({k})")):
            if abs(c - value) <= 1e-6 * abs(value):
                return f" = {words}"
    return ""


def value_slip(expected, got) -> str:
    """How ``got`` (of ``expected``'s shape, with wrong values) relates to ``expected``, when a plain
    relation says it ("" when none does)."""
    E, G = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if E.shape != G.shape or E.size == 0 or not np.all(np.isfinite(G)) or not np.all(np.isfinite(E)):
        return ""
    if not np.any(G) and np.any(E):
        return "every value is 0: nothing reached the result (a sum never added to, a gradient never propagated?)"
    if _close(G, -E):
        return "every value has the wrong sign: a minus sign is missing or extra"
    nonzero = np.abs(E) > 1e-12
    if nonzero.sum() >= 2 and _close(G[~nonzero], np.zeros_like(G[~nonzero])):
        ratio = G[nonzero] / E[nonzero]
        c = float(np.median(ratio))
        if abs(c) > 1e-12 and np.allclose(ratio, c, rtol=1e-6, atol=0) and not np.isclose(c, 1.0):
            return (f"every value is {c:.6g}{_factor_words(abs(c))} times the right one: a scale is missing, extra, "
                    f"wrong or in the wrong place (a mean where a sum belongs, a division by the wrong size, a scale "
                    f"applied after the softmax instead of before the softmax, to the scores, a missing pair of "
                    f"parentheses?)")
    if E.ndim == 0:
        return ""
    if E.ndim >= 2 and E.shape[-1] == E.shape[-2] > 1 and _close(G, np.swapaxes(E, -1, -2)):
        return "the result is transposed (its last two axes are swapped)"
    for axis in range(E.ndim):
        n = E.shape[axis]
        if n < 3:
            continue
        head, tail = [slice(None)] * E.ndim, [slice(None)] * E.ndim
        head[axis], tail[axis] = slice(0, n - 1), slice(1, n)
        if _close(G[tuple(tail)], E[tuple(head)]):
            return (f"the values are shifted one step along axis {axis}: entry s holds the right value of s - 1 "
                    f"(off by one: stored before it was updated?)")
        if _close(G[tuple(head)], E[tuple(tail)]):
            return f"the values are shifted one step along axis {axis}: entry s holds the right value of s + 1 (off by one)"
    wrong = ~np.isclose(G, E, rtol=1e-6, atol=1e-9)
    for axis in range(max(E.ndim - 1, 1)):      # not the feature axis of a batch
        bad = np.flatnonzero(wrong.any(axis=tuple(a for a in range(E.ndim) if a != axis)))
        n = E.shape[axis]
        if n >= 4 and len(bad) == 1 and bad[0] in (0, n - 1):
            where = "first" if 0 in bad else "last"
            return (f"only entries {bad.tolist()} along axis {axis} are wrong, the rest is right: look at the "
                    f"{where} step (a boundary case, an initial state, a range that starts or stops one off?)")
    return ""


# ----------------------------------------------------------------------------- errors

_SHAPE = re.compile(r"(?:\(|\[)\s*(\d+(?:\s*(?:,|x)\s*\d+)+|\d+\s*,?)\s*(?:\)|\])")


def shapes_in(text: str) -> list[tuple[int, ...]]:
    """The shapes written in an error message: ``(2,3)``, ``(4, 3)``, ``[4, 3]``, ``(2x3 and 5x5)`` ..."""
    found = []
    for group in _SHAPE.findall(text):
        for part in group.split(" and "):
            nums = re.findall(r"\d+", part)
            if nums:
                found.append(tuple(int(s) for s in nums))
    for a, b in re.findall(r"(\d+(?:x\d+)+) and (\d+(?:x\d+)+)", text):
        found += [tuple(int(s) for s in a.split("x")), tuple(int(s) for s in b.split("x"))]
    return found


#: (words, cause): a cause applies when one of its words is in the error's text (a tuple of words
#: must all be there). The first that applies wins, so the specific ones come first.
_CAUSES: tuple[tuple[tuple[str | tuple[str, ...], ...], str], ...] = (
    (("is on the meta device", "meta tensor", "device type meta", "meta and cpu", "cpu and meta",
      "on device meta", "expected all tensors to be on the same device", "expected device"),
     "a tensor was created on the wrong device: create new tensors with device=X.device "
     "(e.g. torch.zeros(N, H, device=X.device, dtype=X.dtype)) and never call .cuda() or .cpu() inside"),
    (("cannot cast ufunc", "same_kind"),
     "float values were written into an array of an integer dtype (np.zeros_like of an integer array, or "
     "dtype=int): make the array float"),
    (("dtype", "double", "expected scalar type", "float != ", "found float", "found double"),
     "a tensor was created with the wrong dtype: torch.zeros(N, H) is float32 while the input may be "
     "float64; pass dtype=X.dtype (and device=X.device), or use X.new_zeros(N, H)"),
    (("view size is not compatible",),
     "view() after a transpose: the tensor is no longer laid out in order in memory; use .reshape(...) "
     "(or .contiguous().view(...))"),
    (("stack expects each tensor to be equal size", "all input arrays must have the same shape"),
     "arrays of different shapes were stacked: reduce each one first (stack their norms or sums, not the "
     "arrays), or flatten them and concatenate"),
    (("inhomogeneous", "setting an array element with a sequence"),
     "a list of arrays of different shapes was made into one array (np.array(grads), np.linalg.norm(grads), "
     "np.sum(grads)): handle each array on its own (e.g. sum the squares of each array, then add the sums)"),
    (("only 0-dimensional arrays can be converted", "only length-1 arrays", "only one element tensors",
      "only size-1 arrays"),
     "a function made for one number (math.exp, math.sqrt, float(), .item()) got an array: use the "
     "elementwise NumPy or PyTorch function (np.exp, np.sqrt, torch.exp)"),
    (("array split does not result in an equal division",),
     "np.split into equal parts along an axis whose length is not a multiple of the number of parts: is it "
     "the right axis? (the gate blocks are columns, the last axis: np.split(a, 4, axis=-1))"),
    (("not enough values to unpack", "too many values to unpack"),
     "a value was unpacked into the wrong number of names: check what was split and along which axis "
     "(a.chunk(4, dim=-1) splits the last axis into 4 blocks; dim=0 splits the batch) and what the "
     "function returns"),
    ((("unsupported operand", "'tuple'"), ("not supported between", "'tuple'"),
      ("must be tensor, not tuple",), ("must be real number, not tuple",)),
     "a tuple was used as a number or an array: a call that returns a pair (MultiHeadAttention's "
     "(out, A), an RNN's (H, h_T), lstm_step's (h_t, c_t)) must be unpacked, or indexed with [0]"),
    (("'nonetype'",),
     "a value is None: a function forgot to `return`, or a parameter's .grad is None (it got no gradient: "
     "skip those parameters)"),
    (("axes don't match array",),
     "a transpose with a fixed list of axes (K.transpose(0, 2, 1)) got an array with another number of "
     "axes: to swap the last two axes of any array use np.swapaxes(K, -1, -2) (in PyTorch K.transpose(-2, -1))"),
    (("could not broadcast input array from shape",),
     "a result was written into an array of another shape: an array preallocated with the wrong shape "
     "(np.zeros_like(X) copies X's shape, (N, T, D), where the states are (N, T, H)), or a slice along "
     "the wrong axis"),
    (("sizes of tensors must match except in dimension",
      "all the input array dimensions except for the concatenation axis must match"),
     "arrays were concatenated along the wrong axis (torch.cat / np.concatenate join along dim 0 unless told): "
     "the other axes must match, so check dim= (the time axis of (N, T, H) is dim=1)"),
    (("mismatch in its core dimension", "not aligned", "shapes cannot be multiplied", "size mismatch"),
     "the inner sizes of a matrix product do not match, so one operand has the wrong shape: a weight "
     "transposed or two weights swapped, the operands in the wrong order (A @ V, not V @ A), .T was used on a "
     "batch (.T reverses every axis: use np.swapaxes(K, -1, -2) or K.transpose(-2, -1) to swap the last "
     "two), or an array made with the wrong size"),
    (("could not be broadcast", "must match the size of tensor", "the size of tensor a",
      "inconsistent tensor size"),
     "two arrays of incompatible shapes were combined elementwise: check which axis each one has (a batch "
     "axis where time belongs, a table or mask cut to the wrong length, an axis reduced without "
     "keepdims=True, or an input mixed up with another)"),
    (("out of bounds", "out of range", "dimension out of range"),
     "an index or an axis is out of range: check the shape of each input and which axis you index"),
)


def _applies(words, text: str) -> bool:
    return any(all(w in text for w in word) if isinstance(word, tuple) else word in text for word in words)


def _shape_of(x: Any) -> tuple[int, ...] | None:
    shape = getattr(x, "shape", None)
    try:
        return tuple(int(s) for s in shape) if shape is not None else None
    except TypeError:
        return None


def _matmul_operands(text: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The two operands' shapes of a PyTorch matrix-product error, ``(2x3 and 5x5)``."""
    m = re.search(r"\((\d+(?:x\d+)+) and (\d+(?:x\d+)+)\)", text)
    return (tuple(int(s) for s in m.group(1).split("x")), tuple(int(s) for s in m.group(2).split("x"))) if m else None


def _argument_clues(text: str, args: Sequence[Any]) -> list[str]:
    """What the shapes named in an error are, read off the arguments' shapes: a whole sequence
    ``X[n]`` of a batch ``(N, T, D)`` where one step ``X[:, s]`` belongs, or a state made with the
    input's width (like ``X[:, 0]``) multiplied by a square hidden-to-hidden matrix."""
    named = set(shapes_in(text))
    operands = _matmul_operands(text)
    clues = []
    sizes = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", text)
    if sizes:
        a, b = int(sizes.group(1)), int(sizes.group(2))
        lengths = {}
        for x in args:
            shape = _shape_of(x)
            if shape is not None and len(shape) == 3:
                lengths.setdefault(shape[1], shape)
        for x in args:
            shape = _shape_of(x)
            if shape is not None and len(shape) == 3 and {a, b} == {shape[0], shape[1]} and a != b:
                clues.append(f"{shape[0]} and {shape[1]} are the batch and time lengths of the {_axes(shape)} input: "
                             f"X[s] is sequence s; step s of every sequence is X[:, s] (time is axis 1)")
                break
        if a != b and a in lengths and b in lengths and not clues:
            clues.append(f"{a} and {b} are the lengths of two different inputs, {_axes(lengths[a])} and "
                         f"{_axes(lengths[b])}: something made for one was combined with the other; check which "
                         f"input gives each attention its queries, its keys and values, and its mask (two swapped?)")
    for x in args:
        shape = _shape_of(x)
        if shape is None or len(shape) != 3 or shape[0] == shape[1]:
            continue
        N, T, D = shape
        if (T, D) in named:
            clues.append(f"{_axes((T, D))} is the shape of one whole sequence X[n] of the {_axes(shape)} input: "
                         f"the time steps are axis 1, so step s of every sequence is X[:, s], of shape {_axes((N, D))}")
        if operands and operands[0] == (N, D) and len(operands[1]) == 2 and operands[1][0] == operands[1][1] != D:
            k = operands[1][0]
            clues.append(f"an array of shape {_axes((N, D))}, the shape of one input step X[:, s], was multiplied by "
                         f"a square ({k}, {k}) matrix: a state made like the input (width D = {D}) where a state of "
                         f"shape (N, H) = {_axes((N, k))} belongs?")
    return clues


def error_cause(error: BaseException, args: Sequence[Any] = (), warned: Sequence[str] = ()) -> str:
    """The likely mistake behind an exception raised inside a student's function ("" if unknown).

    ``args`` are the arguments of the call (their shapes explain some errors); ``warned`` the
    texts of the warnings the call raised before it failed.
    """
    text = f"{type(error).__name__}: {error}".lower()
    cause = next((cause for words, cause in _CAUSES if _applies(words, text)), "")
    if any("x.t` on tensors of dimension other than 2" in w.lower() for w in warned):
        cause = ("K.T was used on a tensor with batch axes: .T reverses every axis; swap the last two with "
                 "K.transpose(-2, -1) (or K.mT)")
    clues = _argument_clues(str(error), args) if cause and "device" not in cause and "dtype" not in cause else []
    return "; ".join([cause] + clues) if cause else "; ".join(clues)

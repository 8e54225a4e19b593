"""Where a student's PyTorch code makes new tensors without the device or dtype of its inputs.

``torch.zeros(N, H)`` makes a float32 tensor on the default device, whatever the inputs are;
on a GPU, or with float64 inputs, mixing it with them fails. When a device or dtype check fails,
:func:`bare_factories` reads the source of the student's functions, classes or modules and lists
the calls that leave the device (or the dtype) out, each with what to write instead, so that the
message says *which* tensor. Constructors (``__init__``) are not read: parameters made there
follow the module when it is moved with ``.to()``.

It also finds the names the code transposes with ``.T`` (:func:`transposed_names`), which reverses
every axis of a batch, a common cause of shape errors in attention.

Only the text is read (the same for a function in the student's notebook and for one that stays
in the grader's sandbox, whose cells arrive as ``__seqlab_cells__``); nothing is run.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["BareFactory", "bare_factories", "describe", "transposed_names"]

#: torch functions that make a new tensor on the default device unless given ``device=``.
MAKERS = ("zeros", "ones", "empty", "full", "arange", "eye", "tensor", "as_tensor", "rand", "randn",
          "randint", "linspace", "logspace", "tril", "triu")
#: Of those, the ones whose result is float32 unless given ``dtype=`` (or a float64 input).
FLOAT_MAKERS = ("zeros", "ones", "empty", "full", "rand", "randn", "linspace", "logspace", "eye")
#: tril/triu make a new tensor only when given one (torch.tril(torch.ones(...))): the inner call is the maker.
_NOT_MAKERS = ("tril", "triu")


@dataclass(frozen=True)
class BareFactory:
    """A call that makes a tensor without the inputs' device (or dtype), and the call to write instead."""

    where: str      # the function it is in
    call: str       # as written
    instead: str    # with device=... (and dtype=...) added


def _source_of(obj: Any) -> list[str]:
    """The source of ``obj``: a function, a class, or a module instance (its class)."""
    from seqlab import ownwork

    cells = getattr(obj, "__seqlab_cells__", None)
    if isinstance(cells, (list, tuple)):
        found = ownwork.definition(getattr(obj, "__name__", ""), [c for c in cells if isinstance(c, str)])
        return [found] if found else []
    if not (inspect.isfunction(obj) or inspect.ismethod(obj) or isinstance(obj, type)):
        obj = type(obj)
    try:
        return [inspect.getsource(obj)]
    except (OSError, TypeError):
        pass
    if isinstance(obj, type):  # a class defined in a notebook cell: read its methods one by one
        out = []
        for fn in vars(obj).values():
            try:
                out.append(inspect.getsource(fn))
            except (OSError, TypeError):
                continue
        return out
    return []


def _input_name(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The name to take the device from: one the function already reads ``.device`` of, else its
    first argument other than ``self``."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and node.attr in ("device", "dtype") and isinstance(node.value, ast.Name):
            return node.value.id
    params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
    return params[0] if params and params[0] not in ("parameters", "params", "grads", "model") else "<input>"


def _is_torch_maker(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("torch", "th"):
        if f.attr in MAKERS and f.attr not in _NOT_MAKERS:
            return f.attr
    return None


def _calls(source: str, need: tuple[str, ...]) -> Iterable[BareFactory]:
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return
    text = textwrap.dedent(source)
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name == "__init__":
            continue
        name = _input_name(fn)
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            maker = _is_torch_maker(node)
            if maker is None:
                continue
            given = {k.arg for k in node.keywords}
            if None in given:  # **kwargs: cannot tell
                continue
            # torch.tensor(t) / torch.as_tensor(t) of an existing tensor keeps nothing of t's device
            missing = [k for k in need if k not in given
                       and (k == "device" or maker in FLOAT_MAKERS or maker in ("tensor", "as_tensor"))]
            if not missing:
                continue
            call = ast.get_source_segment(text, node) or f"torch.{maker}(...)"
            extra = ", ".join(f"{k}={name}.{k}" for k in missing)
            inner = call[:-1].rstrip()
            instead = f"{inner}{'' if inner.endswith('(') else ', '}{extra})"
            yield BareFactory(fn.name, " ".join(call.split()), " ".join(instead.split()))


def bare_factories(objects: Iterable[Any], need: tuple[str, ...] = ("device",)) -> list[BareFactory]:
    """The calls in ``objects``' source that make a tensor without each keyword of ``need``
    (``"device"``, ``"dtype"``), in order, without repeats."""
    seen, out = set(), []
    for obj in objects:
        for source in _source_of(obj):
            for bare in _calls(source, need):
                if bare.call not in seen:
                    seen.add(bare.call)
                    out.append(bare)
    return out


def describe(bare: list[BareFactory], what: str = "device") -> str:
    """A message part listing ``bare`` calls: which tensor, and what to write instead."""
    if not bare:
        return ""
    where = "on the default device" if what == "device" else "in the default dtype (float32)"
    lines = [f"these calls make a tensor {where} instead of the inputs' {what}:"]
    lines += [f"    in {b.where}: {b.call}  ->  {b.instead}" for b in bare[:6]]
    return "\n  ".join(lines)


def transposed_names(objects: Iterable[Any]) -> list[str]:
    """The expressions ``objects``' source transposes with ``.T`` (``K`` for ``K.T``), in order."""
    out: list[str] = []
    for obj in objects:
        for source in _source_of(obj):
            try:
                tree = ast.parse(textwrap.dedent(source))
            except SyntaxError:
                continue
            text = textwrap.dedent(source)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr == "T":
                    name = ast.get_source_segment(text, node.value)
                    if name and name not in out:
                        out.append(name)
    return out

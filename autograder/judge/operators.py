"""The own-work rule at run time, decided in the judge: what a window's record (kernel/recorder.py)
says about a function whose visible test lists the built-ins it is written without.

``Signatures.of(forbidden)`` turns the dotted paths of ``check_own_work(X, forbidden=[...])``
into what they leave in a record:

- ``"torch"`` (a NumPy exercise): any ATen operator, any guard's mark;
- a built-in backed by ATen operators (``torch.nn.RNN`` -> ``aten::rnn_tanh``, ``aten::rnn_relu``
  and the cuDNN/MIOpen kernels; ``F.scaled_dot_product_attention`` -> it and its private kernels,
  ``aten::_scaled_dot_product_flash_attention_for_cpu`` ...);
- a built-in written in Python (``nn.MultiheadAttention``, ``F.multi_head_attention_forward``,
  ``nn.TransformerDecoderLayer``, ``clip_grad_norm_``): the kernel's guard on it (``py::<path>``;
  ``python_level`` lists the paths the kernel must watch, before any student code runs).

Whatever the list, a door around PyTorch's dispatcher opened by the student's code
(``door::decompose``, ``door::_op_dk`` ...) refuses the function, because it hides which operator
ran. A record without the window's two marks (the profiler was stopped or replaced), or one that
shows the profiler's own switches used (``switch::_disable_profiler``, ``switch::_enable_record_function``),
is tampering.

``findings(...)`` returns a ``protocol.RunFindings``; the verdict decides the cell with it.
"""
from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Iterable

from ..protocol import RunFindings

#: ATen operators behind built-ins whose own names differ, or that have private kernels (a ``*``
#: ends a prefix).
_RNN = ("rnn_tanh", "rnn_relu", "_cudnn_rnn", "miopen_rnn")
_RNN_CELL = ("rnn_tanh_cell", "rnn_relu_cell")
_LSTM = ("lstm", "_cudnn_rnn", "miopen_rnn", "mkldnn_rnn_layer", "_thnn_fused_lstm_cell")
_LSTM_CELL = ("lstm_cell", "_thnn_fused_lstm_cell")
_GRU = ("gru", "_cudnn_rnn", "miopen_rnn", "_thnn_fused_gru_cell")
_GRU_CELL = ("gru_cell", "_thnn_fused_gru_cell")
_SDPA = ("scaled_dot_product_attention", "_scaled_dot_product_*", "_flash_attention_forward",
         "_efficient_attention_forward", "_fused_sdp_choice")
_OPERATORS: dict[str, tuple[str, ...]] = {
    "torch.nn.RNN": _RNN, "torch.nn.RNNCell": _RNN_CELL,
    "torch.nn.LSTM": _LSTM, "torch.nn.LSTMCell": _LSTM_CELL,
    "torch.nn.GRU": _GRU, "torch.nn.GRUCell": _GRU_CELL,
    "torch._VF": _RNN + _RNN_CELL + _LSTM + _LSTM_CELL + _GRU + _GRU_CELL,
    "torch.lstm": _LSTM, "torch.gru": _GRU,
    "torch.nn.functional.scaled_dot_product_attention": _SDPA,
    "torch.nn.MultiheadAttention": ("_native_multi_head_attention",),
    "torch.nn.functional.multi_head_attention_forward": ("_native_multi_head_attention",),
    "torch.nn.TransformerEncoderLayer": ("_transformer_encoder_layer_fwd",),
    "torch.nn.functional.layer_norm": ("layer_norm", "native_layer_norm"),
    "torch.nn.functional.softmax": ("softmax", "_softmax"),
    "torch.softmax": ("softmax", "_softmax"),
    "torch.nn.functional.cross_entropy": ("cross_entropy_loss",),
}
_DOOR, _SWITCH, _PYTHON = "door::", "switch::", "py::"


@dataclass(frozen=True)
class Signatures:
    """What one function's forbidden built-ins leave in a record."""

    any_torch: bool                 # a NumPy exercise: any PyTorch at all
    operators: dict[str, str]       # ATen operator name (``*`` at the end: a prefix) -> the forbidden entry
    python: tuple[str, ...]         # forbidden built-ins written in Python (dotted paths)

    @classmethod
    @functools.lru_cache(maxsize=256)
    def of(cls, forbidden: tuple[str, ...]) -> "Signatures":
        operators: dict[str, str] = {}
        for entry in forbidden:
            if entry != "torch":
                for op in _OPERATORS.get(entry, ()) + _own_operator(entry):
                    operators.setdefault(op, entry)
        return cls("torch" in forbidden, operators, tuple(e for e in forbidden if _python_function(e) is not None))

    def operator(self, name: str) -> str | None:
        """The forbidden entry an operator (``aten::rnn_tanh``) belongs to, if any."""
        bare = name.split("::", 1)[1] if name.startswith("aten::") else None
        if bare is None:
            return None
        entry = self.operators.get(bare)
        if entry is None:
            entry = next((e for op, e in self.operators.items() if op.endswith("*") and bare.startswith(op[:-1])), None)
        return entry

    def python_entry(self, path: str) -> str | None:
        """The forbidden entry a guarded built-in (``py::<path>``) is, if any: the same object under any name."""
        return next((e for e in self.python if _same(path, e)), None)


def needs_record(forbidden: tuple[str, ...]) -> bool:
    """Whether a function's test cells are recorded: those with anything to refuse at run time."""
    sig = Signatures.of(tuple(forbidden))
    return sig.any_torch or bool(sig.operators or sig.python)


def python_level(lists: Iterable[tuple[str, ...]]) -> list[str]:
    """The built-ins written in Python that any of ``lists`` forbids: what the kernel must watch."""
    return sorted({e for forbidden in lists for e in Signatures.of(tuple(forbidden)).python})


def findings(function: str, forbidden: tuple[str, ...], record, opened: str, closed: str) -> RunFindings:
    """What a window's record means for ``function`` (the nonces the judge opened and closed it with)."""
    if not isinstance(record, dict):
        why = f" ({record[:200]})" if isinstance(record, str) else ""
        return RunFindings(function, (), f"the kernel sent no record of what ran{why}")
    marks = set(_strings(record.get("marks")))
    ops, calls = _strings(record.get("ops")), _strings(record.get("calls"))
    if f"open::{opened}" not in marks or f"close::{closed}" not in marks:
        return RunFindings(function, (), "the recorder of PyTorch's operators was stopped or replaced while the tests ran")
    switches = sorted({c[len(_SWITCH):] for c in calls if c.startswith(_SWITCH)})
    if switches:
        return RunFindings(function, (), "the code used the profiler's own switches while the tests ran ("
                           + ", ".join(switches[:4]) + ")")
    sig = Signatures.of(tuple(forbidden))
    refused: list[str] = []
    if sig.any_torch and (ops or calls):
        shown = ", ".join((ops + calls)[:4])
        refused.append(f"it ran PyTorch ({shown}), and this exercise is written in NumPy alone")
    for op in ops:
        entry = sig.operator(op)
        if entry:
            refused.append(f"it ran {op} (behind {entry}), the built-in this exercise re-implements")
    for call in calls:
        entry = sig.python_entry(call[len(_PYTHON):]) if call.startswith(_PYTHON) else None
        if entry:
            refused.append(f"it ran {entry}, the built-in this exercise re-implements")
    doors = sorted({c[len(_DOOR):] for c in calls if c.startswith(_DOOR)})
    if doors:
        refused.append("it ran an operator around PyTorch's dispatcher (" + ", ".join(doors[:3]) +
                       "), where the grader cannot see which one")
    return RunFindings(function, tuple(dict.fromkeys(refused))[:6], None)


def _strings(value) -> list[str]:
    return [v for v in value if type(v) is str][:5000] if type(value) is list else []


def _own_operator(entry: str) -> tuple[str, ...]:
    """``torch.rnn_tanh``, ``torch.nn.functional.one_hot``, ``torch.ops.aten.lstm``: the operator of that name."""
    import torch

    name = entry.rsplit(".", 1)[-1]
    if not entry.startswith("torch.") or not name or name.startswith("__"):
        return ()
    try:
        getattr(torch.ops.aten, name)
    except (AttributeError, RuntimeError):
        return ()
    return (name,)


def _python_function(entry: str):
    """The Python code a forbidden built-in runs (a function, or a module class's own ``forward``), or None."""
    from seqlab.ownwork import lookup

    if not entry.startswith("torch."):
        return None
    obj = lookup(entry)
    if isinstance(obj, type):
        obj = vars(obj).get("forward")
    return obj if isinstance(obj, types.FunctionType) else None


def _same(path: str, entry: str) -> bool:
    from seqlab.ownwork import same_object

    return same_object(path, entry)

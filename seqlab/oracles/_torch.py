"""Conversions between the NumPy arrays of the tests and the tensors of the built-ins."""
import functools
from collections.abc import Mapping

import numpy as np
import torch


def t(x) -> torch.Tensor:
    """A float64 (or integer) CPU tensor holding a copy of ``x``."""
    arr = np.array(x)
    if np.issubdtype(arr.dtype, np.floating):
        return torch.tensor(arr, dtype=torch.float64)
    return torch.tensor(arr)


def n(x: torch.Tensor) -> np.ndarray:
    """A NumPy copy of a tensor."""
    return x.detach().cpu().numpy()


def load_course_weights(module: torch.nn.Module, W_in, W_rec, b) -> torch.nn.Module:
    """Copy course-layout weights into a PyTorch recurrent layer (layer 0 of ``nn.RNN`` /
    ``nn.LSTM`` / ``nn.GRU``) or cell; returns it.

    The course multiplies rows on the right (``x_t @ W_in``, ``W_in (D, G·H)``); PyTorch stores
    the transposes and two biases whose sum is the course's one: ``b`` goes into ``bias_ih``,
    zeros into ``bias_hh``.
    """
    suffix = "_l0" if hasattr(module, "weight_ih_l0") else ""
    with torch.no_grad():
        for name, value in [("weight_ih", W_in.T), ("weight_hh", W_rec.T), ("bias_ih", b)]:
            getattr(module, name + suffix).copy_(torch.as_tensor(value))
        getattr(module, "bias_hh" + suffix).zero_()
    return module


class Parameters:
    """Parameter values by attribute path, as a module has them: ``P.W_xh``, ``P.attn.W_q``,
    ``P.ff[0].weight``; oracles that read a module's parameters read these the same way."""

    def __init__(self, values: dict[str, torch.Tensor]):
        self._values = values
        self._children: dict[str, "Parameters"] = {}
        for path, value in values.items():
            head, _, rest = path.partition(".")
            if rest:
                self._children.setdefault(head, Parameters({}))._values[rest] = value
        for name, child in list(self._children.items()):
            self._children[name] = Parameters(child._values)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        if name in self._children:
            return self._children[name]
        raise AttributeError(f"no parameter {name!r}")

    def __getitem__(self, index):
        return getattr(self, str(index))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._values)

    def named_parameters(self):
        return iter(self._values.items())

    def parameters(self):
        return iter(self._values.values())


def own_parameters(module, generator: torch.Generator | None = None, scale: float = 0.5) -> Parameters:
    """New random values for every parameter of ``module`` (only their names, shapes and dtypes are
    read from it), loaded into it with ``load_state_dict``; returns them.

    A test computes its expected values from what this returns, never from the parameters the
    module reports back: under the grader the module lives in the student's kernel, where its
    answers are the student's claims, while these numbers are the test's own.
    """
    values = {}
    for name, p in module.named_parameters():
        values[name] = scale * torch.randn(tuple(p.shape), dtype=p.dtype, generator=generator, device="cpu").to(p.device)
    module.load_state_dict(values, strict=False)
    return Parameters(values)


class _Deferred:
    """One computation, run the first time any of its parts is needed, then kept."""

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs, self.done, self.value = fn, args, kwargs, False, None

    def get(self):
        if not self.done:
            self.value, self.done = self.fn(*self.args, **self.kwargs), True
            self.fn = self.args = self.kwargs = None
        return self.value


class LazyMistakes(Mapping):
    """A ``{mistake: value}`` mapping computed only when a check reads it, which it does only when
    the answer is wrong: a right answer never pays for the dozens of altered computations."""

    def __init__(self, deferred: _Deferred, part: int | None = None):
        self._deferred, self._part = deferred, part

    def _dict(self) -> dict:
        value = self._deferred.get()
        return value if self._part is None else value[self._part]

    def __getitem__(self, key):
        return self._dict()[key]

    def __iter__(self):
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __bool__(self) -> bool:  # "were mistakes given?" is asked before they are needed
        return True


def lazy_mistakes(fn=None, *, parts: int | None = None):
    """Decorate an oracle's ``*_mistakes`` function so that its dict (or, with ``parts=k``, each of
    the ``k`` dicts of its tuple) is computed on first use."""
    def wrap(f):
        @functools.wraps(f)
        def deferred(*args, **kwargs):
            d = _Deferred(f, args, kwargs)
            return LazyMistakes(d) if parts is None else tuple(LazyMistakes(d, i) for i in range(parts))

        deferred.eager = f
        return deferred

    return wrap(fn) if fn is not None else wrap

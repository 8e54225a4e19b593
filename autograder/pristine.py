"""A snapshot of the course's modules, taken in the fork server before any student code runs,
and restored in the student's process before every course cell (setup and test cells).

Student code may rebind ``np.allclose``, a check helper, ``torch.Tensor.__eq__``, a function's
``__code__``, ``sys.modules['seqlab.testing']`` or ``builtins``; none of that survives into a
test cell. (What it cannot undo, e.g. a C-level patch through ``ctypes``, is caught by the
static scan and by the out-of-process re-check of every ``check_*`` call; see checks.py.)
"""
from __future__ import annotations

import sys
import types

#: Top-level packages whose module dicts are restored (torch only in part: it has ~1000 modules).
_WHOLE = ("numpy", "seqlab", "math", "builtins", "random", "autograder")
_TORCH = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.parameter", "torch.linalg",
          "torch.testing", "torch.autograd", "torch.nn.utils", "torch.nn.utils.clip_grad", "torch.random",
          "torch.functional", "torch._tensor")


class Snapshot:
    def __init__(self):
        self.modules: dict[str, types.ModuleType] = {}
        self.dicts: dict[str, dict] = {}
        self.codes: list[tuple[types.FunctionType, types.CodeType, tuple | None, dict | None]] = []
        self.classes: list[tuple[type, dict]] = []
        self._take()

    def _tracked(self):
        for name, mod in list(sys.modules.items()):
            if not isinstance(mod, types.ModuleType):
                continue
            if name.split(".")[0] in _WHOLE or name in _TORCH or name.startswith("torch.nn.modules"):
                yield name, mod

    def _take(self):
        seen_fn, seen_cls = set(), set()
        for name, mod in self._tracked():
            self.modules[name] = mod
            d = dict(vars(mod))
            self.dicts[name] = d
            for value in d.values():
                for fn in (value, getattr(value, "_implementation", None), getattr(value, "__wrapped__", None)):
                    if isinstance(fn, types.FunctionType) and id(fn) not in seen_fn:
                        seen_fn.add(id(fn))
                        self.codes.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
                if isinstance(value, type) and id(value) not in seen_cls and getattr(value, "__module__", "").split(".")[0] in ("torch", "seqlab"):
                    seen_cls.add(id(value))
                    self.classes.append((value, dict(value.__dict__)))

    def restore(self) -> None:
        mods = sys.modules
        for name, mod in self.modules.items():
            if mods.get(name) is not mod:
                mods[name] = mod
            d, snap = mod.__dict__, self.dicts[name]
            for k, v in snap.items():
                if d.get(k, _MISSING) is not v:
                    d[k] = v
            if len(d) != len(snap):
                for k in [k for k in d if k not in snap]:
                    del d[k]
        for fn, code, defaults, kwdefaults in self.codes:
            if fn.__code__ is not code:
                fn.__code__ = code
            if fn.__defaults__ is not defaults:
                fn.__defaults__ = defaults
            if fn.__kwdefaults__ is not kwdefaults:
                fn.__kwdefaults__ = kwdefaults
        for cls, snap in self.classes:
            d = cls.__dict__
            for k, v in snap.items():
                if d.get(k, _MISSING) is not v:
                    try:
                        setattr(cls, k, v)
                    except (AttributeError, TypeError):
                        pass
            for k in [k for k in d if k not in snap]:
                try:
                    delattr(cls, k)
                except (AttributeError, TypeError):
                    pass
        sys.settrace(None)
        sys.setprofile(None)
        import threading

        threading.settrace(None)
        threading.setprofile(None)


_MISSING = object()

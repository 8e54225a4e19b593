"""Is an answer the student's own work? A static reading of the cells a kernel has run.

``violations(name, cells, forbidden)`` finds the last top-level ``def``/``class`` called ``name``
in ``cells`` (the source of every cell run so far, in order), reads its body and the bodies of
the other top-level functions and classes it refers to, and reports each reference to the
course's reference answers (``seqlab.oracles``) or to one of ``forbidden`` (public dotted
paths of the built-ins the exercise re-implements, such as ``"torch.nn.LSTM"``).

Names are resolved through the imports and simple assignments of the cells and of the body:
``nn.LSTM``, ``torch.nn.modules.rnn.LSTM``, ``getattr(nn, "LSTM")``, ``__import__("torch").nn``
and ``importlib.import_module("seqlab.oracles.rnn")`` all name a path. A path matches a
forbidden one when both import to the same object (so the private home of a class matches its
public name), or, when either cannot be imported, when the strings are equal. A forbidden
entry that is a module (``"torch"``) forbids everything in it. Nothing the student wrote is
ever run; the only imports are of modules under the roots of ``forbidden`` and of ``seqlab``.
"""
from __future__ import annotations

import ast
import functools
import importlib
import sys
import types
from typing import Any, Sequence

ORACLES = "seqlab.oracles"


def violations(name: str, cells: Sequence[str], forbidden: Sequence[str] = ()) -> list[str]:
    """One message per reference of ``name`` (and the helpers it uses) to an oracle or to one of
    ``forbidden``, e.g. ``"line 7: LSTM uses nn.LSTM (torch.nn.LSTM), the built-in this exercise
    re-implements"``; line numbers count from the top of the cell that holds the code."""
    program = _Program(cells)
    binding = program.bindings.get(name)
    if binding is None:
        return []
    found: list[str] = []
    if binding.path is not None:  # ``rnn_step = oracle.rnn_step``: the name itself is borrowed
        reason = _reason(binding.path, tuple(forbidden), binding.text)
        if reason:
            found.append(f"line {binding.node.lineno}: {name} is {binding.text}{reason}")
        return found
    if not isinstance(binding.node, _DEFS):  # bound to something we cannot name
        return []
    queue, seen = [name], {name}
    while queue:
        current = queue.pop(0)
        node_binding = program.bindings[current]
        where = "" if current == name else f" (in {current}, which {name} uses)"
        reader = _Reader(program, node_binding, tuple(forbidden))
        reader.visit(node_binding.node)
        for lineno, verb, text, reason in reader.found:
            message = f"line {lineno}{where}: {name} {verb} {text}{reason}"
            if message not in found:
                found.append(message)
        for helper in reader.helpers:
            if helper not in seen:
                seen.add(helper)
                queue.append(helper)
    return found


def definition(name: str, cells: Sequence[str]) -> str | None:
    """The source of the last top-level ``def``/``class`` called ``name`` in ``cells`` (None if none)."""
    binding = _Program(cells).bindings.get(name)
    if binding is None or not isinstance(binding.node, _DEFS):
        return None
    return ast.get_source_segment(binding.source, binding.node)


def forbidden_object(obj: Any, forbidden: Sequence[str] = ()) -> str | None:
    """Why the object ``obj`` itself is not the student's (an oracle, or one of ``forbidden``), or None."""
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    if isinstance(module, str) and (module == ORACLES or module.startswith(ORACLES + ".")):
        return f"{getattr(obj, '__name__', obj)} is the course's reference answer ({ORACLES})"
    for path in forbidden:
        target = _lookup(path)
        if target is not None and target is obj:
            return f"{getattr(obj, '__name__', obj)} is {path}, the built-in this exercise re-implements"
    return None


# ----------------------------------------------------------------------------- reading the cells

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _Binding:
    """The last top-level statement binding a global name: a def/class (``path`` None) or an
    import or assignment (``path`` the dotted path it names, None if it names none)."""

    def __init__(self, node: ast.AST, source: str, path: str | None, text: str = ""):
        self.node, self.source, self.path, self.text = node, source, path, text


def _blank_magics(source: str) -> str:
    """``source`` with IPython's ``%magic`` and ``!shell`` lines blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _top_level(body: list[ast.stmt]):
    """The statements run at module level, looking inside if/try/with/for blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
            blocks = [getattr(stmt, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [h.body for h in getattr(stmt, "handlers", [])]
            for block in blocks:
                yield from _top_level(block)


class _Program:
    """The global names of all cells, each with its last binding (late binding, as Python does)."""

    def __init__(self, cells: Sequence[str]):
        self.bindings: dict[str, _Binding] = {}
        self.star_modules: list[str] = []  # ``from m import *``: any unbound name may come from m
        for raw in cells:
            if not isinstance(raw, str):
                continue
            source = _blank_magics(raw)
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError):  # the cell did not run, so it defined nothing
                continue
            for stmt in _top_level(tree.body):
                self._bind(stmt, source)

    def global_path(self, name: str) -> str | None:
        binding = self.bindings.get(name)
        if binding is not None:
            return binding.path
        return next((f"{m}.{name}" for m in reversed(self.star_modules) if _lookup(f"{m}.{name}") is not None), None)

    def _bind(self, stmt: ast.stmt, source: str) -> None:
        if isinstance(stmt, _DEFS):
            self.bindings[stmt.name] = _Binding(stmt, source, None)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level and stmt.names[0].name == "*":
                self.star_modules.append(stmt.module)
            for alias_name, path in _import_aliases(stmt):
                self.bindings[alias_name] = _Binding(stmt, source, path, f"imported from {path}")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            path = _resolve(stmt.value, self.global_path, self.bindings.__contains__)
            text = ast.get_source_segment(source, stmt.value) or ast.unparse(stmt.value)
            for target in targets:
                if isinstance(target, ast.Name):
                    self.bindings[target.id] = _Binding(stmt, source, path, text[:60])


def _import_aliases(stmt: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(bound name, dotted path) for each name an import statement binds."""
    if isinstance(stmt, ast.Import):
        return [(a.asname, a.name) if a.asname else (a.name.split(".")[0], a.name.split(".")[0])
                for a in stmt.names]
    if stmt.level or not stmt.module:  # relative imports name nothing we can follow
        return []
    return [(a.asname or a.name, f"{stmt.module}.{a.name}") for a in stmt.names if a.name != "*"]


def _resolve(node: ast.AST, lookup, is_bound) -> str | None:
    """The dotted path ``node`` names (``nn.LSTM`` -> ``"torch.nn.LSTM"``), or None.

    ``lookup(name)`` gives the path of a name; ``is_bound(name)`` says the code binds a name
    itself, so that builtins such as ``getattr`` count only when not rebound.
    """
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, lookup, is_bound)
        return f"{base}.{node.attr}" if base else None
    if not isinstance(node, ast.Call) or not node.args:
        return None
    first = node.args[0]
    text = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    func = node.func
    builtin = func.id if isinstance(func, ast.Name) and not is_bound(func.id) else ""
    if builtin == "getattr" and len(node.args) >= 2:
        attr = node.args[1]
        base = _resolve(first, lookup, is_bound)
        if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            return f"{base}.{attr.value}"
        return None
    if text is None or text.startswith("."):
        return None
    if builtin == "__import__":  # returns the top package unless a fromlist is given
        has_fromlist = len(node.args) >= 4 or any(k.arg == "fromlist" for k in node.keywords)
        return text if has_fromlist else text.split(".")[0]
    if _resolve(func, lookup, is_bound) == "importlib.import_module":
        return text
    return None


# ----------------------------------------------------------------------------- reading one body


def _local_names(node: ast.AST) -> set[str]:
    """Names bound anywhere inside a def/class (arguments, assignments, nested defs, imports),
    less those declared ``global``: they never refer to the cells' global names."""
    names: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, _DEFS) and sub is not node:
            names.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
        elif isinstance(sub, ast.Global):
            declared_global.update(sub.names)
    return names - declared_global


class _Reader:
    """Collects, for one def/class, its references to oracles and forbidden objects, and the
    other top-level definitions of the cells it uses (``helpers``)."""

    def __init__(self, program: _Program, binding: _Binding, forbidden: tuple[str, ...]):
        self.program, self.source, self.forbidden = program, binding.source, forbidden
        self.locals = _local_names(binding.node)
        self.aliases: dict[str, str] = {}  # local names bound to a path: ``L = nn.LSTM``, local imports
        self.found: list[tuple[int, str, str, str]] = []
        self.helpers: list[str] = []
        self._collect_aliases(binding.node)

    def _lookup(self, name: str) -> str | None:
        if name in self.locals:
            return self.aliases.get(name)
        return self.program.global_path(name)

    def _is_bound(self, name: str) -> bool:
        return name in self.locals or name in self.program.bindings

    def _collect_aliases(self, node: ast.AST) -> None:
        for _ in range(2):  # twice, so an alias of an alias defined later in the body resolves
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    self.aliases.update(_import_aliases(sub))
                elif isinstance(sub, ast.Assign):
                    path = _resolve(sub.value, self._lookup, self._is_bound)
                    for target in sub.targets:
                        if isinstance(target, ast.Name) and path:
                            self.aliases[target.id] = path
                elif isinstance(sub, ast.arguments):  # def f(x, nn=torch.nn): the default names a path
                    positional = sub.posonlyargs + sub.args
                    pairs = list(zip(positional[len(positional) - len(sub.defaults):], sub.defaults))
                    pairs += [(a, d) for a, d in zip(sub.kwonlyargs, sub.kw_defaults) if d is not None]
                    for arg, default in pairs:
                        path = _resolve(default, self._lookup, self._is_bound)
                        if path:
                            self.aliases[arg.arg] = path

    def visit(self, node: ast.AST, called: bool = False) -> None:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            return  # a name being bound (``cls = nn.LSTM``) is not a use
        if isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
            path = _resolve(node, self._lookup, self._is_bound)
            if path is not None:
                text = ast.get_source_segment(self.source, node) or ast.unparse(node)
                reason = _reason(path, self.forbidden, text)
                if reason:
                    verb = "calls" if called and path.startswith(ORACLES) else "uses"
                    self.found.append((node.lineno, verb, text[:60], reason))
                return  # the parts of a resolved chain (``torch`` in ``torch.nn``) are not read again
            if isinstance(node, ast.Name) and node.id not in self.locals:
                binding = self.program.bindings.get(node.id)
                if binding is not None and isinstance(binding.node, _DEFS):
                    self.helpers.append(node.id)
        if isinstance(node, ast.Call):
            self.visit(node.func, called=True)
            for child in node.args + [k.value for k in node.keywords]:
                self.visit(child)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child)


# ----------------------------------------------------------------------------- deciding


def _reason(path: str, forbidden: tuple[str, ...], text: str = "") -> str:
    """Why a reference to ``path``, written ``text``, is not allowed ("" when it is): the words
    that follow the reference in a message."""
    prefixes = [path.rsplit(".", i)[0] for i in range(path.count(".") + 1)]  # longest first
    if any(prefix == ORACLES for prefix in prefixes):
        return f", the course's reference answer ({ORACLES})"
    for prefix in prefixes:
        entry = next((e for e in forbidden if _same(prefix, e)), None)
        if entry is None:
            continue
        if "." not in entry or isinstance(_lookup(entry), types.ModuleType):
            return f", from {entry}, which this exercise is written without"
        shown = "" if text == entry else f" ({entry})"
        return f"{shown}, the built-in this exercise re-implements"
    obj = _lookup(path)  # a re-export of an oracle under another name
    module = getattr(obj, "__module__", None) if obj is not None else None
    if isinstance(module, str) and module.startswith(ORACLES + ".") and not isinstance(obj, types.ModuleType):
        return f" ({module}), the course's reference answer ({ORACLES})"
    return ""


def _same(path: str, entry: str) -> bool:
    if path == entry:
        return True
    if path.split(".")[0] != entry.split(".")[0]:
        return False
    a, b = _lookup(path), _lookup(entry)
    return a is not None and a is b


@functools.lru_cache(maxsize=4096)
def _lookup(path: str) -> Any:
    """The object a dotted path names, importing modules under torch, numpy, scipy and seqlab
    only (never a module the student chose); None if it cannot be found."""
    parts = path.split(".")
    if parts[0] not in _IMPORTABLE_ROOTS:
        return None
    try:
        obj = sys.modules.get(parts[0]) or importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], start=1):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                if not isinstance(obj, types.ModuleType):
                    return None
                obj = importlib.import_module(".".join(parts[: i + 1]))
    except Exception:  # noqa: BLE001 - a path that does not import is compared as a string
        return None
    return obj


_IMPORTABLE_ROOTS = frozenset({"torch", "numpy", "scipy", "seqlab", "math"})

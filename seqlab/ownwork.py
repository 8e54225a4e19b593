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
entry that is a module (``"torch"``) forbids everything in it. ``seqlab.given`` (earlier
chapters' answers computed by built-ins) is forbidden like the oracles.

A name the reader cannot see is refused rather than guessed: a lookup by a computed name in a
module or a module's dict (``getattr(torch.nn, "R" + "NN")``, ``vars(m)[k]``, ``sys.modules[k]``,
``attrgetter(k)``), an import by a computed name, ``eval``/``exec``/``compile``, and a module
handed over as a value (to a helper, a container, an attribute), where a later lookup would be
out of sight. Lookups in the student's own objects (``getattr(self, name)``) stay allowed. Globals
the answer uses that are not plain aliases (``f = getattr(...)``) are read like helpers.
Nothing the student wrote is ever run; the only imports are of modules under fixed roots.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import sys
import types
from typing import Any, Sequence

ORACLES = "seqlab.oracles"
GIVEN = "seqlab.given"

_GIVEN_WHAT = f"a course helper that computes an earlier chapter's answer ({GIVEN})"
_ATEN = "torch.ops.aten."
#: The end of every message about a name the reader cannot see.
_UNSEEN = ": an answer must name what it calls, so that the grader can tell it is the student's own work"


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
    queue, seen = [name], {name}  # a name bound to an expression we cannot name: read the statement
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
    for home, what in ((ORACLES, f"the course's reference answer ({ORACLES})"), (GIVEN, _GIVEN_WHAT)):
        if isinstance(module, str) and (module == home or module.startswith(home + ".")):
            return f"{getattr(obj, '__name__', obj)} is {what}"
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
                else:  # ``a, b = ...``: names we cannot follow one by one; the statement is read
                    self._bind_statement(target, stmt, source)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.AugAssign)):
            targets = [stmt.target] if not isinstance(stmt, (ast.With, ast.AsyncWith)) else [
                item.optional_vars for item in stmt.items if item.optional_vars is not None]
            for target in targets:
                self._bind_statement(target, stmt, source)

    def _bind_statement(self, target: ast.AST, stmt: ast.stmt, source: str) -> None:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                self.bindings[sub.id] = _Binding(stmt, source, None)


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
    itself, so that builtins such as ``getattr`` count only when not rebound (an unbound builtin
    is ``builtins.<name>``). A module's dict is ``<module>.__dict__`` (``vars(m)``, ``m.__dict__``,
    ``globals()`` as ``__main__.__dict__``); a constant key in it, in ``sys.modules``, or given
    to ``getattr``, ``__getattribute__``, ``attrgetter(...)(m)``, ``__import__`` or
    ``import_module`` names a path as an attribute would.
    """
    if isinstance(node, ast.Name):
        path = lookup(node.id)
        if path is None and not is_bound(node.id):
            if node.id == "__builtins__":
                return "builtins"
            if hasattr(builtins, node.id):
                return f"builtins.{node.id}"
        return path
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, lookup, is_bound)
        if base == "__main__":  # sys.modules["__main__"].oracle is the notebook's global ``oracle``
            return lookup(node.attr)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript):
        return _key_path(_resolve(node.value, lookup, is_bound), _constant(node.slice), lookup)
    if not isinstance(node, ast.Call):
        return None
    func = _resolve(node.func, lookup, is_bound)
    if func == "builtins.globals" and not node.args:
        return "__main__.__dict__"
    if not node.args:
        return None
    first, text = node.args[0], _constant(node.args[0])
    if func == "builtins.vars" and len(node.args) == 1:
        base = _resolve(first, lookup, is_bound)
        return f"{base}.__dict__" if base else None
    if func == "builtins.getattr" and len(node.args) >= 2:
        base, attr = _resolve(first, lookup, is_bound), _constant(node.args[1])
        return f"{base}.{attr}" if base and attr else None
    owner, _, method = (func or "").rpartition(".")
    if method in ("get", "pop") and _is_namespace(owner):
        return _key_path(owner, text, lookup)
    if method in ("__getattribute__", "__getattr__") and _is_module(owner):  # torch.nn.__getattribute__("RNN")
        return f"{owner}.{text}" if text else None
    getter = _getter(node.func, lookup, is_bound)
    if getter is not None and len(node.args) == 1:  # attrgetter("nn.RNN")(torch)
        base = _resolve(first, lookup, is_bound)
        return f"{base}.{getter}" if base and getter else None
    if text is None or text.startswith("."):
        return None
    if func in _IMPORTERS[:2]:  # returns the top package unless a fromlist is given
        has_fromlist = len(node.args) >= 4 or any(k.arg == "fromlist" for k in node.keywords)
        return text if has_fromlist else text.split(".")[0]
    if func == "importlib.import_module":
        return text
    return None


#: Functions that import a module by its name as a string.
_IMPORTERS = ("builtins.__import__", "importlib.__import__", "importlib.import_module")
#: Functions that build a lookup by name to be applied later.
_GETTERS = ("operator.attrgetter", "operator.methodcaller")
#: Built-ins that run code given as a string.
_RUNNERS = ("builtins.eval", "builtins.exec", "builtins.compile")


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _getter(node: ast.AST, lookup, is_bound) -> str | None:
    """For ``attrgetter(name)`` or ``methodcaller(name, ...)``: ``name`` if it is one constant
    ("" otherwise); None when ``node`` is not such a call."""
    kind = _resolve(node.func, lookup, is_bound) if isinstance(node, ast.Call) else None
    if kind not in _GETTERS:
        return None
    texts = [_constant(a) for a in (node.args if kind == "operator.attrgetter" else node.args[:1])]
    return texts[0] if len(texts) == 1 and texts[0] else ""


def _key_path(namespace: str | None, key: str | None, lookup) -> str | None:
    """The path that ``key`` names in ``namespace`` (``sys.modules`` or ``<path>.__dict__``)."""
    if not key or not _is_namespace(namespace):
        return None
    if namespace == "sys.modules":
        return key
    owner = namespace[: -len(".__dict__")]
    return lookup(key) if owner == "__main__" else f"{owner}.{key}"


def _is_namespace(path: str | None) -> bool:
    """``path`` is a table of names to objects: ``sys.modules`` or the dict of something imported."""
    return path is not None and (path == "sys.modules" or path.endswith(".__dict__"))


def _is_module(path: str | None) -> bool:
    """``path`` names a module (or a module's way of looking names up), so that a lookup in it by
    a computed name could reach anything."""
    if path is None:
        return False
    if path in ("builtins", "__main__") or path.endswith((".__getattribute__", ".__getattr__")):
        return True
    return isinstance(_lookup(path), types.ModuleType)


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
    """Collects, for one def/class (or a global statement the answer uses), its references to
    oracles and forbidden objects, the names it looks up out of sight, and the other top-level
    bindings of the cells it uses (``helpers``)."""

    def __init__(self, program: _Program, binding: _Binding, forbidden: tuple[str, ...]):
        self.program, self.source, self.forbidden = program, binding.source, forbidden
        is_def = isinstance(binding.node, _DEFS)
        self.locals = _local_names(binding.node) if is_def else set()  # a global statement binds globals
        self.aliases: dict[str, str] = {}  # local names bound to a path: ``L = nn.LSTM``, local imports
        self.found: list[tuple[int, str, str, str]] = []
        self.helpers: list[str] = []
        if is_def:
            self._collect_aliases(binding.node)

    def _lookup(self, name: str) -> str | None:
        if name in self.locals:
            return self.aliases.get(name)
        return self.program.global_path(name)

    def _is_bound(self, name: str) -> bool:
        return name in self.locals or name in self.program.bindings

    def _path(self, node: ast.AST) -> str | None:
        return _resolve(node, self._lookup, self._is_bound)

    def _text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def _collect_aliases(self, node: ast.AST) -> None:
        for _ in range(2):  # twice, so an alias of an alias defined later in the body resolves
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    self.aliases.update(_import_aliases(sub))
                elif isinstance(sub, ast.Assign):
                    path = self._path(sub.value)
                    for target in sub.targets:
                        if isinstance(target, ast.Name) and path:
                            self.aliases[target.id] = path
                elif isinstance(sub, ast.arguments):  # def f(x, nn=torch.nn): the default names a path
                    for arg, default in _defaults(sub):
                        path = self._path(default)
                        if path:
                            self.aliases[arg.arg] = path

    def _unseen(self, node: ast.AST) -> tuple[str, str, list[ast.AST]] | None:
        """For a lookup by a computed name in something imported, or an import by a computed
        name: (verb, what, the parts still to read); None for anything else."""
        if isinstance(node, ast.Subscript) and _constant(node.slice) is None and _is_namespace(self._path(node.value)):
            return "looks up a name at run time", f"{self._text(node.value)}[...]", [node.slice]
        if not isinstance(node, ast.Call):
            return None
        func, args = self._path(node.func), node.args + [k.value for k in node.keywords]
        shown = f"{self._text(node.func)}(...)"
        if func == "builtins.getattr" and len(node.args) >= 2 and _constant(node.args[1]) is None \
                and self._path(node.args[0]) is not None:
            return "looks up a name at run time", f"getattr({self._text(node.args[0])}, ...)", args[1:]
        owner, _, method = (func or "").rpartition(".")
        computed = not node.args or _constant(node.args[0]) is None
        if computed and ((method in ("get", "pop") and _is_namespace(owner))
                         or (method in ("__getattribute__", "__getattr__") and _is_module(owner))):
            return "looks up a name at run time", shown, args
        if _getter(node, self._lookup, self._is_bound) == "":
            return "looks up a name at run time", shown, args
        if func in _IMPORTERS and computed:
            return "imports a module by a computed name", shown, args
        return None

    def visit(self, node: ast.AST, called: bool = False, kept: bool = False) -> None:
        """Read ``node``; ``called``: it is the function of a call; ``kept``: it is bound to a
        plain name (an alias the reader follows), so a module there is not handed over."""
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            return  # a name being bound (``cls = nn.LSTM``) is not a use
        if isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
            unseen = self._unseen(node)
            if unseen is not None:
                verb, what, rest = unseen
                self.found.append((node.lineno, verb, f"({what[:60]})", _UNSEEN))
                for child in rest:
                    self.visit(child)
                return
            path = self._path(node)
            if path is not None:
                self._judge(node, path, called, kept)
                return  # the parts of a resolved chain (``torch`` in ``torch.nn``) are not read again
            if isinstance(node, ast.Subscript) and _is_namespace(self._path(node.value)):
                return  # a constant key that names nothing we know (``globals()["__builtins__"]``)
            if isinstance(node, ast.Name) and node.id not in self.locals:
                binding = self.program.bindings.get(node.id)
                if binding is not None and (isinstance(binding.node, _DEFS) or binding.path is None):
                    self.helpers.append(node.id)
        if isinstance(node, ast.Call):
            self.visit(node.func, called=True)
            for i, child in enumerate(node.args + [k.value for k in node.keywords]):
                self.visit(child, kept=i == 0 and self._path(node.func) == "builtins.hasattr")
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                self.visit(target)
            self.visit(node.value, kept=all(isinstance(t, ast.Name) for t in targets))
            return
        if isinstance(node, ast.arguments):
            defaults = {id(d) for _, d in _defaults(node)}
            for child in ast.iter_child_nodes(node):
                self.visit(child, kept=id(child) in defaults)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def _judge(self, node: ast.AST, path: str, called: bool, kept: bool) -> None:
        """Record why a use of ``path`` (written as ``node``) is not allowed, if it is not."""
        text = self._text(node)
        reason = _reason(path, self.forbidden, text)
        if reason:
            verb = "calls" if called and path.startswith(ORACLES) else "uses"
            self.found.append((node.lineno, verb, text[:60], reason))
        elif path in _RUNNERS:
            self.found.append((node.lineno, "runs code given as a string", f"({text[:60]})", _UNSEEN))
        elif not kept and not called and (_is_module(path) or _is_namespace(path)):
            shown = text if text == path else f"{text} ({path})"
            self.found.append((node.lineno, "hands over", f"{shown[:60]} as a value, so the names looked up in it "
                               "are out of sight", _UNSEEN))


def _defaults(arguments: ast.arguments) -> list[tuple[ast.arg, ast.expr]]:
    """(argument, default) for each argument of a signature that has a default."""
    positional = arguments.posonlyargs + arguments.args
    pairs = list(zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults))
    return pairs + [(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is not None]


# ----------------------------------------------------------------------------- deciding


def _reason(path: str, forbidden: tuple[str, ...], text: str = "") -> str:
    """Why a reference to ``path``, written ``text``, is not allowed ("" when it is): the words
    that follow the reference in a message."""
    prefixes = [path.rsplit(".", i)[0] for i in range(path.count(".") + 1)]  # longest first
    if any(prefix == ORACLES for prefix in prefixes):
        return f", the course's reference answer ({ORACLES})"
    if any(prefix == GIVEN for prefix in prefixes):
        return f", {_GIVEN_WHAT}"
    if path.startswith(_ATEN):  # torch.ops.aten.rnn_tanh(.default) is the op behind torch.rnn_tanh
        op = path[len(_ATEN):].split(".")[0]
        prefixes = [f"torch.{op}", f"torch.nn.functional.{op}"] + prefixes
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
    """The object a dotted path names, importing modules under torch, numpy, scipy, seqlab and a
    few standard ones only (never a module the student chose); None if it cannot be found."""
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


_IMPORTABLE_ROOTS = frozenset({"torch", "numpy", "scipy", "seqlab", "math",
                               "sys", "builtins", "importlib", "operator", "types", "inspect", "functools"})


#: The same resolution of dotted paths, for the grader's run-time rule (autograder/judge/operators.py).
lookup, same_object = _lookup, _same

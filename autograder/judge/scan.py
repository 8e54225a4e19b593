"""A static look at the student's code for the tools of tampering.

It never changes a score: scores come from running the code with the course's cells restored
and every check re-decided out of process. It only flags a notebook (status ``tampered``) so
the instructor looks at it: code that rebinds attributes of NumPy, PyTorch, the course's
helpers or builtins, redefines the names the setup cell imports, hooks IPython's input or
AST transformers or events, touches a function's ``__code__``, ``sys.modules``, tracing,
``ctypes``, ``gc``, frames, or the grader's own channel.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path


def exported_names(module: str) -> frozenset[str]:
    """The names ``module`` exports (its ``__all__``), read from its source without importing it
    (``seqlab.testing`` imports PyTorch, which a grading worker has no other use for)."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return frozenset(ast.literal_eval(node.value))
    raise LookupError(f"{module} has no __all__")


#: Names the course's setup cells bind, and modules whose attributes a student has no reason to set.
_GUARDED_ROOTS = {"np", "numpy", "torch", "nn", "F", "seqlab", "testing", "oracle", "oracles", "builtins",
                  "__builtins__", "sys", "math", "runtime", "data", "text", "IPython", "autograder"}
#: The setup cell's check helpers (all of ``seqlab.testing``) and its ``oracle`` module.
_SETUP_NAMES = exported_names("seqlab.testing") | {"oracle"}
_BAD_ATTRS = {"input_transformers_post", "input_transformers_cleanup", "ast_transformers", "input_transformer_manager",
              "register_magic_function", "register_magics", "settrace", "setprofile", "_getframe", "get_referrers",
              "get_objects", "__code__", "__globals__", "__closure__", "f_globals", "f_locals", "f_back",
              "_CHANNEL", "excepthook", "showtraceback", "_showtraceback", "displayhook", "display_pub"}
_BAD_MODULES = {"ctypes", "gc", "inspect", "autograder", "importlib", "builtins"}


def _root(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def scan(source: str) -> list[str]:
    """Reasons this code looks like tampering (empty: nothing seen)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and _root(sub) in _GUARDED_ROOTS:
                    found.append(f"line {node.lineno}: sets {ast.unparse(sub)}")
                elif isinstance(sub, ast.Attribute) and sub.attr in _BAD_ATTRS:
                    found.append(f"line {node.lineno}: sets .{sub.attr}")
                elif isinstance(sub, ast.Name) and sub.id in _SETUP_NAMES:
                    found.append(f"line {node.lineno}: rebinds {sub.id}")
                elif isinstance(sub, ast.Subscript) and _root(sub) in ("sys", "builtins", "__builtins__"):
                    found.append(f"line {node.lineno}: sets {ast.unparse(sub)[:60]}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in _SETUP_NAMES:
            found.append(f"line {node.lineno}: redefines {node.name}")
        if isinstance(node, ast.Attribute) and node.attr in _BAD_ATTRS:
            found.append(f"line {node.lineno}: uses .{node.attr}")
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name in ("setattr", "delattr") and node.args and _root(node.args[0]) in _GUARDED_ROOTS | {"type"}:
                found.append(f"line {node.lineno}: {name} on {ast.unparse(node.args[0])[:40]}")
            if name in ("__import__", "import_module") or (name in ("exec", "eval", "compile") and node.args
                                                            and not isinstance(node.args[0], ast.Constant)):
                found.append(f"line {node.lineno}: calls {name}")
            if name in ("write", "dup2", "fdopen") and _root(fn) == "os":
                found.append(f"line {node.lineno}: os.{name}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in _BAD_MODULES:
                    found.append(f"line {node.lineno}: imports {m}")
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if (a.asname or a.name) in _SETUP_NAMES and (node.module or "") != "seqlab.testing":
                        found.append(f"line {node.lineno}: rebinds {a.asname or a.name}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "tests passed" in node.value.lower():
            found.append(f"line {node.lineno}: prints a test's success message")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
            found.append(f"line {node.lineno}: reads /proc")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            found.append(f"line {node.lineno}: calls get_ipython()")
    return found


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())

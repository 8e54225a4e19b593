"""The grader's layout, as README's "How the grader is built" draws it, kept true by reading the imports.

Every import of every module under ``autograder/`` is read from its text (function-level imports
too): nothing in ``kernel/`` (what runs beside the student's code) imports ``judge/`` (what decides)
or the other way round; the fork server sits above both and nothing beneath imports it; the sandbox
and the protocol import neither side; and no module imports itself back through others. The README
names every module and folder of the grader, and nothing that is not there.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.harness import ROOT

PACKAGE = ROOT / "autograder"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(name: str, path: Path) -> set[str]:
    """The grader's modules that ``name`` imports, anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from . import protocol`` imports a module; ``from .protocol import Cell`` a name of one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _inside(name: str, folder: str) -> bool:
    return name == f"autograder.{folder}" or name.startswith(f"autograder.{folder}.")


@pytest.mark.parametrize("side,other", [("kernel", "judge"), ("judge", "kernel")])
def test_the_kernel_and_the_judge_never_import_each_other(side, other):
    crossing = {f"{m} -> {t}" for m, ts in GRAPH.items() if _inside(m, side) for t in ts if _inside(t, other)}
    assert not crossing


def test_the_fork_server_is_above_both_sides_and_the_layers_beneath_import_no_side():
    below = {"kernel": ("forkserver",), "judge": ("forkserver",), "sandbox": ("forkserver", "kernel", "judge"),
             "protocol": ("forkserver", "kernel", "judge", "sandbox"), "wire": ("forkserver", "kernel", "judge", "sandbox"),
             "limits": ("forkserver", "kernel", "judge", "sandbox", "protocol")}
    wrong = {f"{m} -> {t}" for folder, above in below.items() for m, ts in GRAPH.items() if _inside(m, folder)
             for t in ts if any(_inside(t, a) for a in above)}
    assert not wrong


def test_no_module_imports_itself_back():
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for t in sorted(GRAPH[name]):
            if t in path:
                cycles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in done:
                visit(t, path + [t])
        done.add(name)

    done: set[str] = set()
    for name in sorted(GRAPH):
        if name not in done:
            visit(name, [name])
    # a package's __init__ that imports its own submodules is not a cycle of modules
    cycles = [c for c in cycles if not all(c.split(" -> ")[0].startswith(p) for p in c.split(" -> "))]
    assert not cycles


def test_the_readme_names_every_part_of_the_grader():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## How the grader is built\n.*?```\n(.*?)```", text, re.S)
    assert block, "README.md has no layout block under '## How the grader is built'"
    named = set(re.findall(r"[\w]+(?:\.py|/)", block[1]))
    files = {p.name for p in MODULES.values() if p.name != "__init__.py"} | {
        f"{p.parent.name}/" for p in MODULES.values() if p.name == "__init__.py" and p.parent != PACKAGE}
    assert files - named == set(), "parts of the grader the README does not name"
    assert {n for n in named if n.endswith(".py")} - files == set(), "files the README names that do not exist"

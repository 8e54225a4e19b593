"""What the judge reads from the course's own cells before any of them runs: which names may cross
from the kernel (only the student's answers), which function each test cell grades, and the
built-ins each function is written without.

Only answers cross. After each kernel cell the kernel reports the names it defined, and the judge
binds a name only if the course's tests may take it from the student (``Crossing.admits``):

- an *answer*: a name of the exercise contract (a solution cell's ``grade_id``), or a name that a
  course cell run by the judge *reads* (a free load anywhere in it, closures included) and that no
  course cell run by the judge *binds*;
- never a Python builtin or a name IPython puts in every namespace, so a student's ``range``,
  ``len`` or ``set`` never stands in for the real one inside a test;
- a *given* name, one that an answer-like read names but a course cell run in the kernel defines
  (chapter 03's ``RNN`` class, 09's ``CharTransformer``), is taken only from that course cell: a
  student who rebinds it later changes their own kernel, never what the tests use.

Everything here is computed once, statically, over all the course's cells (not "so far"), from
their text: nothing the student wrote is read.
"""
from __future__ import annotations

import ast
import builtins
import re
import symtable
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..protocol import Cell, CellKind

#: Names IPython binds in every namespace (the kernel never reports them; the judge has its own).
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open", "display"})
#: Python's builtins: the judge's own always win.
BUILTIN_NAMES = frozenset(dir(builtins))
#: A graded test cell's grade_id names the function it grades (DESIGN.md: test_<name>_visible / _hidden).
_TEST_ID = re.compile(r"^test_(?P<name>\w+?)_(?:visible|hidden)$")


@dataclass(frozen=True)
class Crossing:
    """The names the judge binds from the kernel's reports."""

    answers: frozenset[str]  # taken from whichever kernel cell defines them
    given: frozenset[str]    # taken only from the course's own kernel cells

    def admits(self, name: str, course_cell: bool) -> bool:
        return name in self.answers or (course_cell and name in self.given)


def crossing(cells: Sequence[Cell]) -> Crossing:
    """The rule above, computed over every cell of the notebook."""
    reads: set[str] = set()
    judge_binds: set[str] = set()
    kernel_course_binds: set[str] = set()
    contract = {c.grade_id for c in cells if c.kind == CellKind.SOLUTION and c.grade_id and c.grade_id.isidentifier()}
    for cell in cells:
        if cell.kind != CellKind.COURSE:
            continue
        cell_reads, cell_binds = reads_and_binds(cell.source)
        if cell.in_judge:
            reads |= cell_reads
            judge_binds |= cell_binds
        else:
            kernel_course_binds |= cell_binds
    never = judge_binds | BUILTIN_NAMES | IPYTHON_NAMES
    wanted = {n for n in reads | contract if not n.startswith("_")} - never
    given = frozenset(wanted & kernel_course_binds - contract)
    return Crossing(frozenset(wanted - given), given)


def reads_and_binds(source: str) -> tuple[set[str], set[str]]:
    """(global names the cell reads anywhere, global names it binds) of one cell's text.

    Reads are free loads that resolve to the notebook's namespace: at the top level, and inside
    functions, lambdas, comprehensions and class bodies wherever a name is not local there.
    Binds are the top level's assignments, imports, defs and classes, and names a function
    declares ``global`` and assigns. A cell that does not parse binds and reads nothing."""
    try:
        table = symtable.symtable(_python(source), "<cell>", "exec")
    except (SyntaxError, ValueError):
        return set(), set()
    reads: set[str] = set()
    binds: set[str] = set()
    for scope in _scopes(table):
        top = scope is table
        for sym in scope.get_symbols():
            name = sym.get_name()
            if top:
                if sym.is_referenced():
                    reads.add(name)
                if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
                    binds.add(name)
            elif sym.is_global() or sym.is_declared_global():
                if sym.is_referenced():
                    reads.add(name)
                if sym.is_declared_global() and sym.is_assigned():
                    binds.add(name)
    return reads, binds


def _scopes(table: symtable.SymbolTable):
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def _python(source: str) -> str:
    """The cell as Python (IPython's ``%magic`` and ``!shell`` lines turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


# ---------------------------------------------------------------- own work: what each test cell grades

def graded_function(grade_id: str | None) -> str | None:
    """The function or class a test cell grades, from its grade_id (``test_RNN_hidden`` -> ``RNN``)."""
    match = _TEST_ID.match(grade_id or "")
    return match.group("name") if match else None


def forbidden_lists(sources: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """name -> the built-ins it is written without, read from the ``check_own_work(name,
    forbidden=[...])`` calls of the course's visible tests (constant lists only)."""
    out: dict[str, tuple[str, ...]] = {}
    for source in sources:
        try:
            tree = ast.parse(_python(source))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check_own_work"
                    and node.args and isinstance(node.args[0], ast.Name)):
                continue
            given = next((k.value for k in node.keywords if k.arg == "forbidden"), node.args[1] if len(node.args) > 1 else None)
            try:
                paths = ast.literal_eval(given) if given is not None else []
            except ValueError:
                continue
            if isinstance(paths, (list, tuple)) and all(isinstance(p, str) for p in paths):
                out[node.args[0].id] = tuple(paths)
    return out

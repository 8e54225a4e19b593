"""Turn a student's notebook into the list of cells the grader runs.

The rule: the student's *answers* come from the student's file, everything the course wrote
comes from ``solutions/``. Solution cells (``nbgrader.solution``) are taken from the student;
every locked cell (setup, visible tests, hidden tests) is taken from the source notebook, so
hidden tests are injected at grading time and an edited test cell runs as the course wrote it.

Cells are matched by ``grade_id``; when a student's cell lost its nbgrader metadata (some
editors drop it) or its id was renamed, a locked cell is matched by its exact text and a
solution cell by the functions and classes it defines. A locked cell the student deleted is
put back after the course cell that precedes it. Cells the student added run where they are.

Each test cell present in the student's file is also compared with the release:
``edited`` (its text changed although its nbgrader checksum is the current release's, or the
checksum does not match its text), ``outdated`` (its text and checksum are consistent and
belong to another release of the assignment) or unchanged.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .protocol import CellKind


@dataclass
class RunCell:
    """A cell of the student's notebook as the grader runs it: whose text it is, and its grade_id."""

    source: str
    kind: CellKind
    grade_id: str | None = None


@dataclass
class Plan:
    """The cells to run, in order, and what became of the student's test cells."""

    cells: list[RunCell]
    #: grade_id -> "edited" / "outdated" for test cells whose text differs from the release
    test_cell_changes: dict[str, str] = field(default_factory=dict)


def _meta(cell) -> dict:
    m = cell.get("metadata", {}).get("nbgrader") or {}
    return m if isinstance(m, dict) else {}


def normalized(src) -> str:
    """A cell's text as compared: one string, trailing spaces and blank ends dropped."""
    if isinstance(src, list):
        src = "".join(src)
    return "\n".join(line.rstrip() for line in str(src).strip().splitlines())


def _defined_names(src: str) -> set[str]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        # a solution with a syntax error: fall back to the def/class lines
        return {line.split()[1].split("(")[0].split(":")[0] for line in src.splitlines()
                if line.startswith(("def ", "class ")) and len(line.split()) > 1}
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def assemble(source_nb, release_nb, student_nb, history: dict[str, set[str]] | None = None) -> Plan:
    """``history``: grade_id -> normalized texts of that cell in earlier releases (may be empty)."""
    history = history or {}
    src_cells = [c for c in source_nb.cells]
    rel_by_id = {_meta(c).get("grade_id"): c for c in release_nb.cells if _meta(c).get("grade_id")}
    src_ids = [_meta(c).get("grade_id") for c in src_cells]
    src_index = {g: i for i, g in enumerate(src_ids) if g}
    is_solution = {g: bool(_meta(c).get("solution")) for g, c in zip(src_ids, src_cells) if g}

    stu = [c for c in student_nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    assigned: list[str | None] = [None] * len(stu)
    used: set[str] = set()
    # 1. by grade_id
    for k, c in enumerate(stu):
        g = _meta(c).get("grade_id")
        if g in src_index and g not in used and (c.get("cell_type") == src_cells[src_index[g]].get("cell_type")):
            assigned[k] = g
            used.add(g)
    # 2. locked cells by exact text (metadata lost, or id renamed), in order
    for g in src_ids:
        if not g or g in used or is_solution[g] or g not in rel_by_id:
            continue
        text = normalized(_source(rel_by_id[g]))
        for k in range(len(stu)):
            if assigned[k] is None and stu[k].get("cell_type") == "code" and normalized(_source(stu[k])) == text and text:
                assigned[k] = g
                used.add(g)
                break
    # 3. solution cells by the names they define
    for g in src_ids:
        if not g or g in used or not is_solution[g]:
            continue
        names = _defined_names(_source(src_cells[src_index[g]]))
        for k in range(len(stu)):
            if assigned[k] is None and stu[k].get("cell_type") == "code" and names and names <= _defined_names(_source(stu[k])):
                assigned[k] = g
                used.add(g)
                break

    cells: list[RunCell] = []
    placed_src: list[int] = []  # source index of the last course-matched cell, per run cell
    last_src = -1
    changes: dict[str, str] = {}
    for k, c in enumerate(stu):
        g = assigned[k]
        if c.get("cell_type") != "code":
            cells.append(RunCell(_source(c), CellKind.MARKDOWN))
        elif g is None:
            cells.append(RunCell(_source(c), CellKind.STUDENT))
        elif is_solution[g]:
            cells.append(RunCell(_source(c), CellKind.SOLUTION, g))
            last_src = max(last_src, src_index[g])
        else:
            sc = src_cells[src_index[g]]
            cells.append(RunCell(_source(sc), CellKind.COURSE, g))
            last_src = max(last_src, src_index[g])
            if _meta(sc).get("grade") and g in rel_by_id:
                change = _compare(c, rel_by_id[g], normalized(_source(sc)), history.get(g, set()))
                if change:
                    changes[g] = change
        placed_src.append(last_src)
    # 4. put back course cells the student deleted, after the course cell that precedes them
    for i, (g, sc) in enumerate(zip(src_ids, src_cells)):
        if sc.get("cell_type") != "code" or (g and g in used):
            continue
        if not g:
            continue  # an unlocked plain cell of the course (a demo): the student's version, if any, ran
        if is_solution[g]:
            continue  # nothing defines its names: the tests that use them fail
        rc = RunCell(_source(sc), CellKind.COURSE, g)
        at = 0
        for j, p in enumerate(placed_src):
            if p < i:
                at = j + 1
        cells.insert(at, rc)
        placed_src.insert(at, i)
        used.add(g)
    return Plan(cells, changes)


def _compare(student_cell, release_cell, source_text: str, earlier: set[str]) -> str | None:
    """None if the student's test cell is the release's (or the source's, hidden tests and all);
    else "outdated" (the text of an earlier release) or "edited"."""
    text = normalized(_source(student_cell))
    if text == normalized(_source(release_cell)) or text == source_text:
        return None
    if text in earlier:
        return "outdated"
    stored = _meta(student_cell).get("checksum")
    current = _meta(release_cell).get("checksum")
    if stored and stored != current:
        from nbgrader import utils as nbutils  # imported only here: all of nbgrader comes with it, seconds

        try:
            # an earlier release's cell carries that release's checksum of its own text
            # (hidden-test cells were checksummed with their hidden tests, so only visible ones can show this)
            if nbutils.compute_checksum(student_cell) == stored:
                return "outdated"
        except Exception:  # noqa: BLE001 - malformed metadata: nothing shows it is an earlier release's
            pass
    return "edited"

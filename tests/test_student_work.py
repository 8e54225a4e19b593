"""A student's work is never overwritten: the working copy, a release that meets an edited notebook,
a fix that comes in where the student has not written, and an assignment fetched with nbgrader.

Everything runs in a copy of the course (``tests.nbgrader_course.copy_course``), as a student would
use it: ``python -m autograder open`` / ``release`` in that copy, answers written into the notebook
file, a fix to a source notebook as a ``git pull`` would bring it. The slow test does it end to end
with git and ``make book`` (``test_the_student_who_edits_pulls_a_fix_and_rebuilds``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import workcopy
from autograder.course import local_exchange
from tests.nbgrader_course import COURSE_ID, ROOT, copy_course, fill_in, make_user, solution_sources

A = "02-rnn"
ANSWER = "rnn_step"
#: A visible test cell, a text cell and an answer cell of 02-rnn, as a fix might change them.
TEST_CELL, TEXT_CELL_ID = "test_rnn_step_visible", "cell-3"
FIX = "# a fix from the course: this line is new\n"


# ---------------------------------------------------------------- helpers: what the student and the course do

def autograder(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` in the course at ``root`` (its own code, as the student runs it there)."""
    r = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=root, capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    if check:
        assert r.returncode == 0, f"`python -m autograder {' '.join(args)}` exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def cells(path: Path) -> dict[str, nbformat.NotebookNode]:
    """grade_id (or cell id) -> cell of the notebook at ``path``."""
    nb = nbformat.read(path, as_version=4)
    return {(c.metadata.get("nbgrader") or {}).get("grade_id") or c.id: c for c in nb.cells}


def answer(root: Path, path: Path) -> dict[str, str]:
    """The student writes their rnn_step into the notebook at ``path`` (and saves it)."""
    answers = {ANSWER: solution_sources(A)[ANSWER]}
    fill_in(path, answers)
    return answers


def fix_the_course(root: Path, *, stub: bool = False) -> None:
    """A fix as a pull brings it: a visible test and a text cell of the source change (and, with
    ``stub``, the answer cell's docstring, a line the release gives every student)."""
    path = root / "solutions" / A / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if gid == TEST_CELL:
            cell.source = FIX + cell.source
        elif cell.id == TEXT_CELL_ID:
            cell.source += "\n\nA sentence the fix added."
        elif gid == ANSWER and stub:
            cell.source = cell.source.replace('"""One step of a tanh RNN', '"""One time step of a tanh RNN', 1)
            assert "One time step of a tanh RNN" in cell.source
    nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path) -> Path:
    return copy_course(tmp_path / "course")


# ---------------------------------------------------------------- the working copy


def test_open_makes_the_working_copy_once_and_never_rewrites_it(course):
    first = autograder(course, "open", A, "--no-lab")
    copy = course / "work" / A / f"{A}.ipynb"
    assert first.stdout.splitlines()[-1] == f"work/{A}/{A}.ipynb", first.stdout
    assert "made your working copy work/02-rnn/" in first.stdout
    assert copy.read_bytes() == (course / "notebooks" / A / f"{A}.ipynb").read_bytes()

    answer(course, copy)
    mine = copy.read_bytes()
    again = autograder(course, "open", A, "--no-lab")
    assert again.stdout.strip() == f"work/{A}/{A}.ipynb", again.stdout  # nothing to say, nothing done
    assert copy.read_bytes() == mine

    autograder(course, "release", A)  # the release regenerated with nothing changed: the copy is not behind
    assert copy.read_bytes() == mine


def test_a_release_leaves_the_working_copy_and_says_it_is_behind_then_open_brings_the_fix_in(course):
    autograder(course, "open", A, "--no-lab")
    copy = course / "work" / A / f"{A}.ipynb"
    answers = answer(course, copy)
    mine = copy.read_bytes()

    fix_the_course(course)
    released = autograder(course, "release", A)
    assert copy.read_bytes() == mine, "the release rewrote the student's working copy"
    assert (f"work/{A}/: the release changed since your copy was made; `.venv/bin/python -m autograder open {A}` "
            "brings the changes in and keeps your answers") in released.stdout.splitlines(), released.stdout

    opened = autograder(course, "open", A, "--no-lab")
    now = cells(copy)
    assert now[ANSWER].source == answers[ANSWER], "the student's answer was lost"
    assert now[TEST_CELL].source.startswith(FIX), "the fixed test did not come in"
    assert now[TEXT_CELL_ID].source.endswith("A sentence the fix added.")
    assert now[TEST_CELL].metadata.nbgrader == cells(course / "notebooks" / A / f"{A}.ipynb")[TEST_CELL].metadata.nbgrader
    line = next(x for x in opened.stdout.splitlines() if x.startswith("brought the release's changes into"))
    assert TEST_CELL in line and "markdown cell '## 1. One time step'" in line and "your answers are kept" in line, line
    backup = re.search(r"the copy as it was: (\S+)\)", line)[1]
    assert (course / backup).read_bytes() == mine
    assert "kept your version" not in opened.stdout
    # the copy still validates as the release's notebook (nbgrader's checksums of the locked cells)
    nbformat.validate(nbformat.read(copy, as_version=4))
    assert autograder(course, "open", A, "--no-lab").stdout.strip() == f"work/{A}/{A}.ipynb"  # up to date now


def test_a_fix_to_a_cell_the_student_wrote_in_keeps_theirs_and_names_it(course):
    autograder(course, "open", A, "--no-lab")
    copy = course / "work" / A / f"{A}.ipynb"
    answers = answer(course, copy)

    fix_the_course(course, stub=True)
    autograder(course, "release", A)
    opened = autograder(course, "open", A, "--no-lab")
    now = cells(copy)
    assert now[ANSWER].source == answers[ANSWER]
    assert now[TEST_CELL].source.startswith(FIX)  # the rest of the fix still comes in
    assert (f"kept your version of 1 cell(s) that the release also changed ({ANSWER}): compare them with the new "
            f"release, notebooks/{A}/{A}.ipynb") in opened.stdout.splitlines(), opened.stdout
    assert "One time step of a tanh RNN" in cells(course / "notebooks" / A / f"{A}.ipynb")[ANSWER].source


def test_a_copy_that_does_not_parse_is_left_as_it_is_and_the_fix_waits(course):
    autograder(course, "open", A, "--no-lab")
    copy = course / "work" / A / f"{A}.ipynb"
    copy.write_text(copy.read_text()[:-200])  # cut short (a crash while saving, a bad edit)
    broken = copy.read_bytes()
    fix_the_course(course)
    autograder(course, "release", A)
    opened = autograder(course, "open", A, "--no-lab")
    assert copy.read_bytes() == broken
    assert (f"kept work/{A}/{A}.ipynb as it is: it could not be read as a notebook (NotJSONError); the new "
            f"release is notebooks/{A}/{A}.ipynb") in opened.stdout.splitlines(), opened.stdout
    # still behind: once the student repairs the copy, the next open brings the fix in
    assert any(line.startswith(f"work/{A}/: the release changed") for line in autograder(course, "release", A).stdout.splitlines())


def test_open_names_an_unknown_chapter_and_a_missing_release(course):
    r = autograder(course, "open", "02-rnm", "--no-lab", check=False)
    assert r.returncode == 2 and "no assignment '02-rnm'; the course has 01-one-hot, 02-rnn" in r.stderr, r.stderr
    shutil.rmtree(course / "notebooks" / A)
    r = autograder(course, "open", A, "--no-lab", check=False)
    assert r.returncode == 2 and "notebooks/02-rnn/ is missing: run `make book`" in r.stderr, r.stderr
    assert not (course / "work" / A).exists()


# ---------------------------------------------------------------- a release meets a notebook edited in place


def _edit_in_place(course: Path) -> tuple[Path, bytes]:
    """The README once sent students to the release itself: answers written into notebooks/<id>/."""
    release = course / "notebooks" / A / f"{A}.ipynb"
    answer(course, release)
    (course / "notebooks" / A / "my-notes.txt").write_text("the student's own file\n")
    return release, release.read_bytes()


def test_a_release_keeps_a_notebook_edited_in_place_as_the_working_copy(course):
    autograder(course, "release", A)  # as `make book` did before: the release is recorded as generated
    release, edited = _edit_in_place(course)
    fix_the_course(course)
    r = autograder(course, "release", A)
    kept = course / "work" / A / f"{A}.ipynb"
    assert (f"kept your edited notebooks/{A}/{A}.ipynb as work/{A}/{A}.ipynb before regenerating the release; "
            f"work there from now on: `.venv/bin/python -m autograder open {A}`") in r.stdout.splitlines(), r.stdout
    assert kept.read_bytes() == edited
    assert (course / "work" / A / "my-notes.txt").read_text() == "the student's own file\n"
    assert cells(release)[ANSWER].source != cells(kept)[ANSWER].source  # the release is the release again
    assert cells(release)[TEST_CELL].source.startswith(FIX)

    # The kept copy was made from the release before the fix: opening it brings the fix in.
    autograder(course, "open", A, "--no-lab")
    assert cells(kept)[TEST_CELL].source.startswith(FIX)
    assert cells(kept)[ANSWER].source == solution_sources(A)[ANSWER]

    # Edited in place again although a working copy exists: kept beside it, the copy left alone.
    copy = kept.read_bytes()
    answer(course, release)
    r = autograder(course, "release", A)
    line = next(x for x in r.stdout.splitlines() if x.startswith("kept your edited"))
    beside = re.search(r" as (work/02-rnn/02-rnn\.kept-\d{8}-\d{6}\.ipynb) ", line)
    assert beside and (course / beside[1]).exists(), line
    assert kept.read_bytes() == copy


def test_in_a_git_checkout_a_release_keeps_what_git_sees_changed(course):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    shutil.copy2(ROOT / ".gitignore", course / ".gitignore")
    subprocess.run([*git, "init", "-q"], cwd=course, check=True)
    subprocess.run([*git, "add", "-A"], cwd=course, check=True)
    subprocess.run([*git, "commit", "-qm", "the course"], cwd=course, check=True)
    release, edited = _edit_in_place(course)  # a fresh clone: no release recorded yet, git knows
    r = autograder(course, "release", A)
    assert f"kept your edited notebooks/{A}/{A}.ipynb as work/{A}/{A}.ipynb" in r.stdout
    assert f"kept your edited notebooks/{A}/my-notes.txt as work/{A}/my-notes.txt" in r.stdout
    assert (course / "work" / A / f"{A}.ipynb").read_bytes() == edited
    assert subprocess.run(["git", "status", "--porcelain"], cwd=course, capture_output=True, text=True).stdout == "", \
        "the release left the checkout changed (or the working copy is not git-ignored)"


def test_an_untouched_release_is_regenerated_silently(course):
    r = autograder(course, "release", A)
    assert [x for x in r.stdout.splitlines() if not x.startswith("released ")] == [], r.stdout
    assert r.stderr == "", r.stderr  # not even nbgrader's "Removing existing assignment"
    assert not (course / "work" / A).exists()


# ---------------------------------------------------------------- nbgrader's fetch lands beside the working copies


def test_an_assignment_fetched_in_the_course_folder_lands_in_work(course, tmp_path):
    """JupyterLab's Assignment List (its server handler, in this process) and the command line."""
    if local_exchange(course) is None:
        pytest.skip("a hub's exchange is set up on this machine: the course's own exchange is not used")
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

    user = make_user(tmp_path, "student", tmp_path / "unused", cwd=course)
    user.run("nbgrader", "release_assignment", A)  # into the course's own exchange, the one the list reads
    cwd = os.getcwd()
    assignment_list = AssignmentList()
    assignment_list.root_dir = str(course)  # a JupyterLab started in the course folder
    fetched = assignment_list.fetch_assignment(COURSE_ID, A)  # the list's Fetch button
    assert fetched["success"], fetched
    assert (course / "work" / A / f"{A}.ipynb").exists()
    assert not (course / A).exists(), "fetching dropped the assignment at the course root"
    listed = assignment_list.list_released_assignments(COURSE_ID)
    assert listed["success"] and [(x["status"], x["path"]) for x in listed["value"]] == [("fetched", f"work/{A}")], listed
    assert os.getcwd() == cwd  # the handler changes folder while it works, and back

    again = user.run("nbgrader", "fetch_assignment", A, f"--course={COURSE_ID}", check=False)  # the command line: same place
    assert again.returncode != 0 and f"You already have a copy of the assignment in this directory: {A}" in again.stderr
    user.run("nbgrader", "submit", A, f"--course={COURSE_ID}")  # sent from work/02-rnn
    opened = autograder(course, "open", A, "--no-lab")  # the fetched copy is the working copy
    assert "made your working copy" not in opened.stdout


def test_the_repo_ignores_working_copies_but_keeps_the_folders_config():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", f"work/{A}/{A}.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "work/<id>/ is not git-ignored: a student's answers would show up in git"
    for kept in ("work/nbgrader_config.py", "work/README.md"):
        assert subprocess.run(["git", "check-ignore", "-q", "--no-index", kept], cwd=ROOT).returncode == 1, kept


# ---------------------------------------------------------------- end to end: git, make book


def _git(cwd: Path, *args: str) -> str:
    r = subprocess.run(["git", "-c", "user.name=course", "-c", "user.email=course@example.edu", "-c", "commit.gpgsign=false",
                        "-c", "pull.rebase=false", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r.stdout


def _make_book(clone: Path) -> subprocess.CompletedProcess:
    """The student's `make book`. The environment is the course's own (linked in): -o keeps make from
    reinstalling it or rewriting its JupyterLab settings, which it would for a clone's newer files."""
    env = dict(os.environ, PATH=f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):  # a student's shell, not the `make test` that runs this
        env.pop(var, None)
    r = subprocess.run(["make", "-o", ".venv/.installed", "-o", ".venv/etc/jupyter/jupyter_server_config.py", "book"],
                       cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"make book exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.mark.slow
def test_the_student_who_edits_pulls_a_fix_and_rebuilds(tmp_path):
    """The course on a git server, a student's clone with a built site, a fix pushed by the instructor."""
    if shutil.which("git") is None or shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git, make and a git checkout of the course")
    origin = tmp_path / "origin"
    files = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (origin / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, origin / rel)
    _git(origin, "init", "-q")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "the course as released")

    # The student clones it and builds it (the built site copied in, as if built before: the test stays short).
    student = tmp_path / "student"
    _git(tmp_path, "clone", "-q", str(origin), str(student))
    os.symlink(ROOT / ".venv", student / ".venv")
    for part in ("html", ".doctrees", ".jupyter_cache", "jupyter_execute"):
        if (ROOT / "_build" / part).is_dir():
            shutil.copytree(ROOT / "_build" / part, student / "_build" / part, symlinks=True)
    for stamp in (".released", ".site-student"):
        (student / "_build" / stamp).touch()
    first = _make_book(student)
    assert "note: the site in _build/html is not publishable yet" in first.stdout

    # It opens chapter 02 and answers rnn_step; under the README's old advice, it also answered
    # chapter 01 in the release itself.
    autograder(student, "open", A, "--no-lab")
    copy = student / "work" / A / f"{A}.ipynb"
    answers = answer(student, copy)
    mine = copy.read_bytes()
    in_place = student / "notebooks" / "01-one-hot" / "01-one-hot.ipynb"
    fill_in(in_place, {"build_vocab": solution_sources("01-one-hot")["build_vocab"]})
    edited_in_place = in_place.read_bytes()

    # The instructor fixes chapter 02 (a test, a text cell, the docstring of rnn_step), releases, pushes.
    fix_the_course(origin, stub=True)
    autograder(origin, "release", A)
    _git(origin, "commit", "-qam", "02-rnn: a fix")

    # The student pulls and rebuilds.
    _git(student, "pull", "-q")
    rebuilt = _make_book(student)
    out = rebuilt.stdout.splitlines()
    assert copy.read_bytes() == mine, "make book rewrote the student's working copy"
    assert ("kept your edited notebooks/01-one-hot/01-one-hot.ipynb as work/01-one-hot/01-one-hot.ipynb before "
            "regenerating the release; work there from now on: `.venv/bin/python -m autograder open 01-one-hot`") in out, \
        rebuilt.stdout[-3000:]
    assert (student / "work" / "01-one-hot" / "01-one-hot.ipynb").read_bytes() == edited_in_place
    assert (f"work/{A}/: the release changed since your copy was made; `.venv/bin/python -m autograder open {A}` "
            "brings the changes in and keeps your answers") in out, rebuilt.stdout[-3000:]
    assert out[-1].startswith("note: the site in _build/html is not publishable yet")
    changed = [line for line in _git(student, "status", "--porcelain").splitlines() if line != "?? .venv"]  # (a link here)
    assert changed == [], f"the rebuild left the clone changed: {changed}"
    served = student / "_build" / "html" / "_sources" / "notebooks" / A / f"{A}.ipynb"
    assert cells(served)[TEST_CELL].source.startswith(FIX), "the site does not serve the fixed release"

    # Opening chapter 02 again brings the fix in; the answer stays, and the cell both changed is named.
    opened = autograder(student, "open", A, "--no-lab")
    now = cells(copy)
    assert now[ANSWER].source == answers[ANSWER]
    assert now[TEST_CELL].source.startswith(FIX) and now[TEXT_CELL_ID].source.endswith("A sentence the fix added.")
    assert (f"kept your version of 1 cell(s) that the release also changed ({ANSWER}): compare them with the new "
            f"release, notebooks/{A}/{A}.ipynb") in opened.stdout.splitlines(), opened.stdout
    assert any(line.startswith(f"brought the release's changes into work/{A}/{A}.ipynb") for line in opened.stdout.splitlines())


# ---------------------------------------------------------------- the merge itself


def _nb(*cells_):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells_)
    return nb


def _code(cid, source, grade_id=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cid
    if grade_id:
        cell.metadata.nbgrader = {"grade_id": grade_id, "locked": True, "grade": True, "solution": False}
    return cell


def test_merge_places_a_new_release_cell_after_its_predecessor_and_keeps_the_students_own():
    base = _nb(_code("a", "a"), _code("b", "b"))
    ours = _nb(_code("a", "a"), _code("mine", "my scratch"), _code("b", "b"))
    theirs = _nb(_code("a", "a"), _code("new", "new test", "test_new"), _code("b", "b"))
    merged, report = workcopy.merge(base, ours, theirs)
    assert [c.source for c in merged.cells] == ["a", "new test", "my scratch", "b"]
    assert report.added == ["test_new"] and not report.updated and not report.conflicts


def test_merge_drops_a_cell_the_release_dropped_unless_the_student_edited_it():
    base = _nb(_code("a", "a"), _code("b", "b"))
    theirs = _nb(_code("a", "a"))
    merged, report = workcopy.merge(base, _nb(_code("a", "a"), _code("b", "b")), theirs)
    assert [c.source for c in merged.cells] == ["a"] and report.removed == ["code cell 'b'"]
    merged, report = workcopy.merge(base, _nb(_code("a", "a"), _code("b", "b edited")), theirs)
    assert [c.source for c in merged.cells] == ["a", "b edited"] and not report.removed


def test_merge_clears_the_outputs_of_a_cell_it_updates_and_keeps_those_of_the_others():
    ran = _code("t", "check()", "test_t")
    ran.outputs = [nbformat.v4.new_output("stream", text="passed\n")]
    ran.execution_count = 3
    same = _code("s", "setup()", "setup")
    same.outputs = [nbformat.v4.new_output("stream", text="ok\n")]
    base = _nb(_code("s", "setup()", "setup"), _code("t", "check()", "test_t"))
    theirs = _nb(_code("s", "setup()", "setup"), _code("t", "check(fixed=True)", "test_t"))
    merged, report = workcopy.merge(base, _nb(same, ran), theirs)
    assert merged.cells[1].source == "check(fixed=True)" and merged.cells[1].outputs == []
    assert merged.cells[1].execution_count is None
    assert merged.cells[0].outputs == same.outputs and report.updated == ["test_t"]
    assert json.loads(nbformat.writes(merged))  # a valid notebook

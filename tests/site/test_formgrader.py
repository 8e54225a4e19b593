"""The formgrader shows what the course's grading CLI wrote, and feedback pages work offline.

A class of two (alice: every answer; bob: ``rnn_step`` only) is graded with
``python -m autograder grade submitted --out grading`` in a copy of the course; a Jupyter server
with nbgrader's formgrader then runs there on localhost, and in Chromium:

- the formgrader lists the assignment, both students and the scores of ``grading/grades.csv``;
- a feedback page opens with no request to any other host, its math typeset (MathML with a
  size on the page), and no line of a hidden test in it.

Screenshots go to ``_build/test-artifacts/formgrader-*.png``.
"""
from __future__ import annotations

import re

import pytest

from tests.leaks import find_leaks, published_text, secret_lines
from tests.nbgrader_course import JupyterServer, copy_course, fill_in, make_user, read_csv, solution_sources
from tests.site.helpers import ARTIFACTS

pytestmark = [pytest.mark.site, pytest.mark.slow]

ASSIGNMENT = "02-rnn"
STUDENTS = ("alice", "bob")
MS = 1000


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formgrader")
    root = copy_course(tmp / "course")
    teacher = make_user(tmp, "instructor", tmp / "exchange", cwd=root)
    answers = solution_sources(ASSIGNMENT)
    for name, mine in (("alice", answers), ("bob", {"rnn_step": answers["rnn_step"]})):
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        notebook = folder / f"{ASSIGNMENT}.ipynb"
        notebook.write_bytes((root / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
        fill_in(notebook, mine)
    r = teacher.run("python", "-m", "autograder", "grade", "submitted", "--out", "grading", "--workers", "1",
                    "--no-progress", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    grades = {row["student_id"]: row for row in read_csv(root / "grading" / "grades.csv")}
    assert set(grades) == set(STUDENTS)
    return {"root": root, "teacher": teacher, "grades": grades}


@pytest.fixture(scope="module")
def formgrader(graded):
    server = JupyterServer(graded["teacher"], ["jupyter", "server"])
    yield server
    server.close()


def _shot(page, name: str, full_page: bool = True):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"formgrader-{name}.png"), full_page=full_page)


def _offline_context(browser, allowed_prefix: str):
    """A context that lets through only URLs starting with ``allowed_prefix`` and lists the rest."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.offhost = []

    def route(r):
        url = r.request.url
        if url.startswith(allowed_prefix) or url.startswith(("data:", "blob:")):
            return r.continue_()
        context.offhost.append(url)
        return r.abort()

    context.route("**/*", route)
    context.set_default_timeout(60 * MS)
    return context


def _score(text: str) -> float:
    return float(re.match(r"\s*([\d.]+)", text).group(1))


def test_formgrader_shows_the_grades_of_the_cli(browser, graded, formgrader):
    context = _offline_context(browser, formgrader.base)
    page = context.new_page()
    try:
        page.goto(formgrader.url("formgrader/gradebook"))
        page.get_by_role("link", name=ASSIGNMENT, exact=True).wait_for()
        _shot(page, "01-gradebook")
        listed = page.locator("table tbody tr", has_text=ASSIGNMENT).first.inner_text()
        assert re.search(r"\b2\b", listed), f"the gradebook does not count two submissions: {listed}"

        # Manage Students: one row per student with their total score (one assignment graded).
        page.goto(formgrader.url("formgrader/manage_students"))
        rows = page.locator("table tbody tr")
        rows.filter(has_text="bob").first.wait_for()
        _shot(page, "02-students")
        header = [h.strip().lower() for h in page.locator("table thead th").all_inner_texts()]
        col = next(i for i, h in enumerate(header) if "score" in h)
        shown = {}
        for row in rows.all():
            cells = row.locator("td").all_inner_texts()
            name = next((s for s in STUDENTS if s in cells), None)
            if name:
                shown[name] = _score(cells[col])
        expected = {s: float(graded["grades"][s]["score"]) for s in STUDENTS}
        assert shown == expected, f"formgrader shows {shown}, grades.csv says {expected}"

        assert not context.offhost, context.offhost
        assert formgrader.alive
    finally:
        context.close()


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_page_is_offline_typeset_and_keeps_hidden_tests_hidden(browser, graded, student):
    page_path = graded["root"] / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    # The page shows the student's own answers; what it must never show is a hidden test's line
    # (one the release does not also show).
    release = published_text(graded["root"] / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    hidden = {line: src for line, src in secret_lines().items() if src.endswith("_hidden)") and line not in release}
    assert hidden, "no hidden-test line found to look for"
    leaks = find_leaks([page_path], hidden)
    assert not leaks, leaks
    context = _offline_context(browser, page_path.as_uri())
    page = context.new_page()
    try:
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        heading = page.locator("h4").first.inner_text()
        m = re.search(r"Score: ([\d.]+) / ([\d.]+)", heading)
        assert m and float(m.group(1)) == float(graded["grades"][student]["score"]), heading
        maths = page.locator("math")
        assert maths.count() > 10, "the page has no typeset math"
        sizes = page.evaluate("() => [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect())"
                              ".map(r => [r.width, r.height])")
        assert all(w > 0 and h > 0 for w, h in sizes), f"math elements without a size: {sizes[:5]}"
        prose = "\n".join(page.locator(".text_cell_render").all_inner_texts())
        assert prose and not re.search(r"\$[^\d\s]", prose), "raw TeX left in the page's text"
        page.locator("math").nth(3).scroll_into_view_if_needed()
        _shot(page, f"04-feedback-{student}", full_page=False)
        assert not context.offhost, f"the feedback page asked other hosts for {context.offhost}"
    finally:
        context.close()

"""A whole term, as its people do it, with the commands of the grading page (book/grading.md).

A hub-like machine in a scratch folder: the administrator's commands make the exchange, and the
administrator's ``nbgrader_config.py`` (the page's, with its paths moved into the scratch folder)
sits where every user's Jupyter reads it (``JUPYTER_CONFIG_PATH``, standing in for
``/etc/jupyter``); no command names an exchange or a course. Three students share one login
(one ``HOME``), each in a folder of their own with the page's per-student ``nbgrader_config.py``:
alice answers everything, bob only ``rnn_step``, mallory nothing but cells that try to run script
and load from another host in whoever opens her pages.

Then, in order: the instructor's commands (release, list, collect, the course's grading CLI);
every formgrader page in Chromium shows the CLI's scores and opens each submission; a TA types a
score and a comment in the formgrader, bob resubmits, and the regrade keeps both (gradebook, CSVs,
page); stock ``nbgrader autograde`` gives the CLI's scores without a checksum alarm; the
formgrader's Generate Feedback button and stock ``generate_feedback --force`` write the course's
pages; ``release_feedback`` and each student's
``fetch_feedback``; what each student received has no hidden-test line and loads nothing from
anywhere; mallory's pages run nothing and load nothing (while the same notebook through plain
nbconvert does both). Screenshots: ``_build/test-artifacts/term-*.png``.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from tests.leaks import find_leaks, published_text, secret_lines
from tests.nbgrader_course import ROOT, JupyterServer, User, copy_course, fill_in, make_user, read_csv, solution_sources
from tests.site.helpers import ARTIFACTS

pytestmark = [pytest.mark.site, pytest.mark.slow]

A = "02-rnn"
NB = f"{A}.ipynb"
STUDENTS = ("alice", "bob", "mallory")
GRADING_PAGE = ROOT / "book" / "grading.md"
#: The paths the grading page uses, and where this test puts them.
PAGE_EXCHANGE = "/usr/local/share/nbgrader/exchange"
PAGE_STUDENT_FOLDER = "/home/lab/alice"
EVIL = "https://evil.example"
MS = 1000
#: nbgrader's formgrade template asks a CDN for MathJax 2 in the submission view (its own page,
#: not the course's; offline, its formulas stay TeX). Every other request must stay on the server.
FORMGRADER_MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"

#: mallory's cells: a markdown cell and a code cell whose outputs try every way to run or load.
HOSTILE_MARKDOWN = f"""## Notes <script>alert('md-script')</script>

<img src=x onerror="alert('md-onerror')"> [a link](javascript:alert('md-link')) ![pic]({EVIL}/md.png)

<iframe src="{EVIL}/md-frame"></iframe> <form action="{EVIL}/md-form"><button>send</button></form>

$\\href{{javascript:alert('tex')}}{{x}}$ and $\\text{{<svg/onload=alert('tex2')>}}$
"""
HOSTILE_CODE = f"""from IPython.display import HTML, SVG, Javascript, Markdown, display, publish_display_data
display(HTML(\"\"\"<script>alert('script')</script>
<img src=x onerror="alert('onerror')"><a id="jslink" href="javascript:alert('link')">click me</a>
<iframe src="{EVIL}/frame"></iframe><form action="{EVIL}/form"><input name="q"><button>send</button></form>
<div style="background-image: url('{EVIL}/css.png'); width: 40px; height: 40px">css</div>
<style>body {{ background: url('{EVIL}/style.png') }}</style><link rel="stylesheet" href="{EVIL}/sheet.css">
<object data="{EVIL}/object"></object><meta http-equiv="refresh" content="0;url={EVIL}/refresh">\"\"\"))
display(SVG(\"\"\"<svg xmlns="http://www.w3.org/2000/svg" onload="alert('svg')"><script>alert('svg-script')</script>
<image href="{EVIL}/svg.png" width="10" height="10"/></svg>\"\"\"))
display(Javascript("alert('js'); fetch('{EVIL}/js')"))
display(Markdown("<img src=x onerror=alert('markdown-output')>"))
publish_display_data({{"image/png": "\\" onerror=\\"alert('png')", "text/plain": "a picture"}})
print("<script>alert('stdout')</script>")
"""


# --- the grading page's commands and files ---------------------------------------------------

def page_blocks() -> list[str]:
    """The fenced code blocks of the grading page, in order."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", GRADING_PAGE.read_text(encoding="utf-8"), re.S | re.M)


def page_block(first_line: str) -> str:
    """The grading page's code block that contains a line starting with ``first_line``."""
    found = [b for b in page_blocks() if any(line.startswith(first_line) for line in b.splitlines())]
    assert len(found) == 1, f"book/grading.md has {len(found)} code blocks with a line `{first_line}...`"
    return found[0]


def page_commands(first_line: str) -> dict[str, list[str]]:
    """The commands of the page's block that starts with ``first_line``, by their subcommand
    (``nbgrader list --inbound`` -> ``list``; ``python -m autograder grade`` -> ``grade``)."""
    out = {}
    for line in page_block(first_line).splitlines():
        words = shlex.split(line.split("#")[0])
        if words:
            out[words[3] if words[:3] == ["python", "-m", "autograder"] else words[1]] = words
    return out


# --- the term ----------------------------------------------------------------------------------

@dataclass
class Term:
    root: Path
    exchange: Path
    teacher: User
    students: dict[str, User]
    commands: dict[str, dict[str, list[str]]]
    runs: dict[str, object] = field(default_factory=dict)

    def student_does(self, name: str, command: str):
        return self.students[name].run(*self.commands["student"][command])

    def instructor_does(self, command: str, check: bool = True):
        return self.teacher.run(*self.commands["instructor"][command], check=check)


def _add_hostile_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells += [nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN), nbformat.v4.new_code_cell(HOSTILE_CODE)]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Term:
    tmp = tmp_path_factory.mktemp("term")
    # The administrator: the page's commands (without sudo) and file, moved into the scratch folder.
    exchange = tmp / "usr" / "local" / "share" / "nbgrader" / "exchange"
    etc = tmp / "etc" / "jupyter"
    etc.mkdir(parents=True)
    for line in page_block("sudo mkdir").splitlines():
        User("root", tmp, tmp, exchange).run("bash", "-c", line.replace("sudo ", "").replace(PAGE_EXCHANGE, str(exchange)))
    admin = page_block("# /etc/jupyter/nbgrader_config.py")
    assert PAGE_EXCHANGE in admin
    (etc / "nbgrader_config.py").write_text(admin.replace(PAGE_EXCHANGE, str(exchange)), encoding="utf-8")
    hub = {"JUPYTER_CONFIG_PATH": str(etc)}  # every user's Jupyter reads it, as it reads /etc/jupyter

    teacher = make_user(tmp, "instructor", exchange, cwd=copy_course(tmp / "course"))
    teacher.extra_env = hub
    lab = tmp / "home" / "lab"  # the one login the students share
    students = {}
    per_student = page_block("# nbgrader_config.py in the student's own folder")
    for name in STUDENTS:
        folder = lab / name
        folder.mkdir(parents=True)
        (folder / "nbgrader_config.py").write_text(
            per_student.replace(PAGE_STUDENT_FOLDER, str(folder)).replace('"alice"', f'"{name}"'), encoding="utf-8")
        students[name] = User(name, lab, folder, exchange, extra_env=hub)
    t = Term(tmp / "course", exchange, teacher, students,
             {"student": page_commands("nbgrader fetch_assignment"), "instructor": page_commands("nbgrader release_assignment"),
              "ta": page_commands("python -m autograder grade submitted --out grading  # the pages")})

    t.instructor_does("release_assignment")
    answers = solution_sources(A)
    for name in STUDENTS:
        t.runs[f"list-{name}"] = t.student_does(name, "list")
        t.student_does(name, "fetch_assignment")
        mine = t.students[name].cwd / A / NB
        if name == "alice":
            fill_in(mine, answers)
        elif name == "bob":
            fill_in(mine, {"rnn_step": answers["rnn_step"]})
        else:
            _add_hostile_cells(mine)
        t.student_does(name, "submit")
    t.runs["inbound"] = t.instructor_does("list")
    t.instructor_does("collect")
    t.runs["grade"] = t.instructor_does("grade", check=False)
    return t


@pytest.fixture(scope="module")
def formgrader(term):
    server = JupyterServer(term.teacher, ["jupyter", "server"])
    yield server
    server.close()


def _cli_grades(term: Term) -> dict[str, float]:
    return {r["student_id"]: float(r["score"]) for r in read_csv(term.root / "grading" / "grades.csv")}


def _gradebook(term: Term):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{term.root / 'grading' / 'gradebook.db'}", "seq-models-from-scratch")


class Browser:
    """A tab that may reach only ``allowed`` (a URL prefix), listing every other request and every
    dialog (``alert``) a page opens, and dismissing it."""

    def __init__(self, browser, allowed: str, also: tuple[str, ...] = ()):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.offhost, self.dialogs = [], []

        def route(r):
            url = r.request.url
            if url.startswith((allowed, "data:", "blob:")):
                return r.continue_()
            if not url.startswith(also):
                self.offhost.append(url)
            return r.abort()

        self.context.route("**/*", route)
        self.context.set_default_timeout(60 * MS)
        self.page = self.context.new_page()
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, url: str, wait_ms: int = 1500):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(wait_ms)
        return self.page

    def shot(self, name: str, full_page: bool = True):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"term-{name}.png"), full_page=full_page)

    def close(self):
        self.context.close()


def _row_of(page, text: str) -> str:
    row = page.locator("table tbody tr", has_text=text).first
    row.wait_for()
    return row.inner_text()


# --- the tests, in the term's order ----------------------------------------------------------

def test_students_sharing_a_login_submit_under_their_own_names(term):
    assert term.runs["grade"].returncode == 0, term.runs["grade"].stdout + term.runs["grade"].stderr
    for name in STUDENTS:
        listed = term.runs[f"list-{name}"]
        assert A in listed.stdout + listed.stderr, f"{name} does not see the assignment: {listed.stderr}"
        assert (term.students[name].cwd / A / NB).is_file()  # where the page says fetch puts it
        assert (term.root / "submitted" / name / A / "timestamp.txt").is_file(), f"no submission collected for {name}"
        assert name in term.runs["inbound"].stdout + term.runs["inbound"].stderr
    # One exchange: the administrator's. The course set none of its own.
    assert list((term.exchange / "seq-models-from-scratch" / "inbound").iterdir())
    assert not (term.root / "_build" / "nbgrader" / "exchange").exists()


def test_every_formgrader_page_shows_the_clis_scores_and_opens_each_submission(term, formgrader, browser):
    grades = _cli_grades(term)
    assert grades == {"alice": 12.0, "bob": 3.0, "mallory": 0.0}
    tab = _formgrader_tab(browser, formgrader)
    try:
        page = tab.open(formgrader.url("formgrader/manage_assignments"))
        assert re.search(rf"{A}.*\b3\b", _row_of(page, A)), "Manage Assignments does not count three submissions"
        tab.shot("01-assignments")

        page = tab.open(formgrader.url(f"formgrader/manage_submissions/{A}"))
        for name in STUDENTS:
            row = _row_of(page, name)
            assert "needs autograding" not in row.lower() and "graded" in row.lower(), row
            assert f"{grades[name]:g} / 12" in row, row
        tab.shot("02-submissions")

        page = tab.open(formgrader.url(f"formgrader/gradebook/{A}/{A}"))
        assert page.locator("table tbody tr", has_text="Submission #").count() == 3
        tab.shot("03-notebook-submissions")

        page = tab.open(formgrader.url("formgrader/manage_students"))
        for name in STUDENTS:
            assert f"{grades[name]:g} / 12" in _row_of(page, name)
        tab.shot("04-students")

        page = tab.open(formgrader.url("formgrader/manage_students/bob"))
        row = _row_of(page, A)
        assert "file missing" not in row and "no submission" not in row and "3 / 12" in row, row
        page = tab.open(formgrader.url(f"formgrader/manage_students/bob/{A}"))
        assert "3 / 12" in _row_of(page, A)
        tab.shot("05-student")

        for name in STUDENTS:
            page = tab.open(_submission_url(formgrader, name), wait_ms=2500)
            shown = sum(float(v or 0) for v in page.locator("input.score").evaluate_all("els => els.map(e => e.placeholder)"))
            assert page.locator("input.score").count() == 8
            assert shown == grades[name], f"{name}'s submission shows {shown}, the CLI gave {grades[name]}"
            tab.shot(f"06-submission-{name}", full_page=False)
        assert not tab.dialogs, f"something a student wrote ran in the formgrader: {tab.dialogs}"
        assert not tab.offhost, tab.offhost
        assert formgrader.alive
    finally:
        tab.close()


def _formgrader_tab(browser, formgrader) -> Browser:
    """A tab on the formgrader as a TA reaches it: its home page first (which logs the tab in for
    the pages' own API calls; a submission page opened first gets its grades refused)."""
    tab = Browser(browser, formgrader.base, also=(FORMGRADER_MATHJAX,))
    tab.open(formgrader.url("formgrader"))
    return tab


def _submission_url(formgrader, student: str) -> str:
    sid = formgrader.get_json(f"formgrader/api/student_notebook_submissions/{student}/{A}")[0]["id"]
    assert sid, f"{student}'s notebook has no submission to open"
    return formgrader.url(f"formgrader/submissions/{sid}/")


def test_a_tas_score_and_comment_survive_a_regrade(term, formgrader, browser):
    comment = "Start with rnn_outputs: it is one matrix product."
    tab = _formgrader_tab(browser, formgrader)
    try:
        page = tab.open(_submission_url(formgrader, "bob"), wait_ms=2500)
        page.locator("input#test_RNN_visible").fill("1")
        page.locator("input#test_RNN_visible").press("Tab")
        page.locator("textarea#rnn_outputs-comment").fill(comment)
        page.locator("textarea#rnn_outputs-comment").press("Tab")
        for _ in range(30):  # each box saves itself as it changes
            with _gradebook(term) as gb:
                saved = (gb.find_grade("test_RNN_visible", A, A, "bob").manual_score,
                         gb.find_comment("rnn_outputs", A, A, "bob").manual_comment)
            if saved == (1.0, comment):
                break
            page.wait_for_timeout(500)
        tab.shot("07-manual-grade", full_page=False)
    finally:
        tab.close()
    assert saved == (1.0, comment), f"the formgrader saved {saved}"

    # bob writes rnn_forward too and submits again; the TA's commands regrade what changed.
    fill_in(term.students["bob"].cwd / A / NB, {k: v for k, v in solution_sources(A).items() if k in ("rnn_step", "rnn_forward")})
    term.student_does("bob", "submit")
    term.instructor_does("collect")
    regrade = term.teacher.run(*term.commands["ta"]["grade"], check=False)
    assert regrade.returncode == 0, regrade.stdout + regrade.stderr
    assert "1 graded, 2 unchanged" in regrade.stdout, regrade.stdout

    with _gradebook(term) as gb:
        grade = gb.find_grade("test_RNN_visible", A, A, "bob")
        assert (grade.auto_score, grade.manual_score) == (0.0, 1.0)
        assert gb.find_comment("rnn_outputs", A, A, "bob").manual_comment == comment
        assert gb.find_grade("test_rnn_forward_hidden", A, A, "bob").auto_score == 2.0  # the new answer counted
    cells = {r["grade_id"]: float(r["score"]) for r in read_csv(term.root / "grading" / "cells.csv") if r["student_id"] == "bob"}
    assert cells["test_RNN_visible"] == 1.0 and _cli_grades(term)["bob"] == 7.0  # 3 + 3 for rnn_forward + 1 by hand
    page = (term.root / "grading" / "feedback" / "bob" / A / f"{A}.html").read_text(encoding="utf-8")
    assert comment in page and "Score: 7.0 / 12.0" in page

    tab = _formgrader_tab(browser, formgrader)
    try:  # the formgrader that stayed up through the regrade shows it, and bob is not "needs autograding"
        row = _row_of(tab.open(formgrader.url(f"formgrader/manage_submissions/{A}")), "bob")
        assert "7 / 12" in row and "needs autograding" not in row.lower(), row
    finally:
        tab.close()
    term.runs["cli-pages"] = {n: (term.root / "grading" / "feedback" / n / A / f"{A}.html").read_text(encoding="utf-8")
                              for n in STUDENTS}


def test_stock_autograde_gives_the_clis_scores_without_a_checksum_alarm(term):
    def auto_scores():
        with _gradebook(term) as gb:
            return {(s.student.id, g.name): g.auto_score for s in gb.assignment_submissions(A)
                    for nb in s.notebooks for g in nb.grades}

    before = auto_scores()
    stock = term.teacher.run("nbgrader", "autograde", A, "--force")
    said = stock.stdout + stock.stderr
    assert "checksum" not in said and "has changed" not in said, said[-3000:]
    assert auto_scores() == before
    term.instructor_does("export")  # nbgrader's own CSV of the gradebook: the CLI's totals
    assert {r["student_id"]: float(r["score"]) for r in read_csv(term.root / "grades.csv")} == _cli_grades(term)


def test_stock_feedback_is_the_courses_and_each_student_fetches_only_theirs(term, formgrader, browser):
    made = {n: term.root / "grading" / "feedback" / n / A / f"{A}.html" for n in STUDENTS}
    made["mallory"].unlink()
    tab = _formgrader_tab(browser, formgrader)
    try:  # the formgrader's Generate Feedback button, for one student
        page = tab.open(formgrader.url(f"formgrader/manage_submissions/{A}"))
        page.locator("table tbody tr", has_text="mallory").locator("td.generate-feedback a").click()
        page.get_by_text("Successfully generated feedback").wait_for()
        tab.shot("11-generate-feedback-button", full_page=False)
    finally:
        tab.close()
    by_button = made["mallory"].read_text(encoding="utf-8")
    term.teacher.run("nbgrader", "generate_feedback", A, "--force")
    assert made["mallory"].read_text(encoding="utf-8") == by_button  # the button and the command: one page maker
    release = published_text(term.root / "notebooks" / A / NB)
    hidden = {line: src for line, src in secret_lines().items() if src.endswith("_hidden)") and line not in release}
    assert not find_leaks(made.values(), hidden)
    for name, path in made.items():
        assert 'http-equiv="Content-Security-Policy"' in path.read_text(encoding="utf-8")
    assert "Start with rnn_outputs" in made["bob"].read_text(encoding="utf-8")

    term.instructor_does("release_feedback")
    for name in STUDENTS:
        term.student_does(name, "fetch_feedback")
        received = sorted((term.students[name].cwd / A / "feedback").rglob("*.html"))
        assert len(received) == 1, f"{name} received {received}"
        assert received[0].read_text(encoding="utf-8") == made[name].read_text(encoding="utf-8"), f"{name} got another's page"
        everything = [p for p in term.students[name].cwd.rglob("*") if p.is_file()]
        assert not find_leaks(everything, hidden), f"{name} received a hidden test"
        tab = Browser(browser, received[0].as_uri())
        try:
            page = tab.open(received[0].as_uri())
            assert re.search(r"Score: [\d.]+ / 12\.0", page.locator("h4").first.inner_text())
            assert page.locator("math").count() > 10
            tab.shot(f"08-received-{name}", full_page=False)
            assert not tab.offhost and not tab.dialogs, (tab.offhost, tab.dialogs)
        finally:
            tab.close()


def test_a_hostile_submission_runs_nothing_and_loads_nothing(term, formgrader, tmp_path, browser):
    pages = {"cli": tmp_path / "mallory-cli.html",
             "received": next((term.students["mallory"].cwd / A / "feedback").rglob("*.html"))}
    pages["cli"].write_text(term.runs["cli-pages"]["mallory"], encoding="utf-8")
    for kind, path in pages.items():
        tab = Browser(browser, path.as_uri())
        try:
            page = tab.open(path.as_uri(), wait_ms=2000)
            for selector in ("script", "iframe", "form", "object", "embed", "svg", "link[rel=stylesheet]",
                             "meta[http-equiv=refresh]", "a[href^='javascript:']", "img[src]:not([src^='data:'])"):
                assert page.locator(selector).count() == 0, f"{kind} page: a live {selector}"
            text = page.locator("body").inner_text()
            assert "alert('script')" in text and "<script>alert('stdout')</script>" in text  # shown, as text
            assert re.search(r"Score: 0\.0 / 12\.0", page.locator("h4").first.inner_text())
            tab.shot(f"09-hostile-{kind}")
            assert not tab.dialogs, f"{kind} page ran {tab.dialogs}"
            assert not tab.offhost, f"{kind} page loaded {tab.offhost}"
        finally:
            tab.close()

    # The formgrader's view of the same submission (stock autograde's notebook, outputs as executed).
    tab = _formgrader_tab(browser, formgrader)
    try:
        tab.open(_submission_url(formgrader, "mallory"), wait_ms=2500)
        tab.shot("10-hostile-formgrader", full_page=False)
        assert not tab.dialogs and not tab.offhost, (tab.dialogs, tab.offhost)
    finally:
        tab.close()

    # The control: the same executed notebook through plain nbconvert runs and loads the payloads.
    from nbconvert import HTMLExporter

    plain = tmp_path / "mallory-plain.html"
    html, _ = HTMLExporter(template_name="classic").from_filename(
        str(term.root / "grading" / "autograded" / "mallory" / A / NB))
    plain.write_text(html, encoding="utf-8")
    tab = Browser(browser, plain.as_uri())
    try:
        tab.open(plain.as_uri(), wait_ms=2000)
        assert tab.dialogs and [u for u in tab.offhost if u.startswith(EVIL)], "the hostile cells did nothing even unguarded"
    finally:
        tab.close()

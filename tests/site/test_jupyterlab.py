"""JupyterLab as a student and an instructor meet it, in a real browser.

The student runs the README's command from the course root, which opens their working copy
(``work/02-rnn/02-rnn.ipynb``, made from the release); runs all cells and sees, at the first stub, a
message naming the function to write; writes ``rnn_step`` in the browser and its visible test
passes, saved into the working copy (the release is untouched); nbgrader's Validate button, its
Assignment List and the Formgrader all open without an error, and the server stays up. The instructor opens a source
notebook and saves it: the file is unchanged.

Everything runs in a copy of the course (the environment linked in as ``.venv``), so the real
notebooks are never saved over. Screenshots go to ``_build/test-artifacts/jupyterlab-*.png``.
"""
from __future__ import annotations

import os
import re
import shlex

import pytest

from autograder.course import local_exchange
from tests.nbgrader_course import ROOT, JupyterServer, copy_course, make_user, solution_sources
from tests.site.helpers import ARTIFACTS

pytestmark = [pytest.mark.site, pytest.mark.slow]

ASSIGNMENT = "02-rnn"
MS = 1000


def readme_student_command() -> list[str]:
    """The command the README gives students (the line ``.venv/bin/python -m autograder open <id>``)."""
    m = re.search(r"^(\.venv/bin/python -m autograder open \S+)\s*$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    assert m, "README.md no longer shows students a `.venv/bin/python -m autograder open ID` command"
    assert m.group(1).endswith(f" {ASSIGNMENT}"), m.group(1)
    return shlex.split(m.group(1))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    root = copy_course(tmp / "course")
    os.symlink(ROOT / ".venv", root / ".venv")  # the README's command names .venv/bin/jupyter
    (tmp / "exchange").mkdir()
    user = make_user(tmp, "student", tmp / "exchange", cwd=root)
    released = local_exchange(root) is not None
    if released:  # into the course's own exchange, the one its Lab extensions read (never a hub's)
        user.run("nbgrader", "release_assignment", ASSIGNMENT)
    return {"root": root, "user": user, "released": released}


@pytest.fixture(scope="module")
def student_lab(course):
    server = JupyterServer(course["user"], readme_student_command())
    yield server
    server.close()


def _context(browser, server: JupyterServer):
    """A browser tab's context that lets requests reach this server only (and lists the rest)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.offhost = []

    def route(r):
        if r.request.url.startswith(server.base) or r.request.url.startswith(("data:", "blob:")):
            return r.continue_()
        context.offhost.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    context.set_default_timeout(60 * MS)
    return context


def _open_notebook(page, server: JupyterServer, path):
    rel = os.path.relpath(path, server.root_dir)
    assert not rel.startswith(".."), f"{path} is outside the server's root {server.root_dir}"
    # ?reset: a fresh workspace, not the tabs an earlier session of this user left open.
    page.goto(server.url(f"lab/tree/{rel}?reset"), wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel:visible .jp-Cell", timeout=120 * MS)
    # The kernel is ready when the status bar says so (the toolbar's indicator reads idle early).
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=120 * MS)
    news = page.locator(".jp-toast-button", has_text=re.compile("^No$"))  # "notified about Jupyter news?"
    if news.count():
        news.first.click()


def _menu(page, top: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def _shot(page, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{name}.png"))


def _code_cell(page, text: str):
    """The code cell whose editor shows ``text``."""
    return page.locator(".jp-NotebookPanel:visible .jp-CodeCell").filter(
        has=page.locator(".cm-content", has_text=text)).first


def test_readme_command_serves_the_course_root(student_lab, course):
    """nbgrader's tools need the course root inside the server's root (the formgrader says so)."""
    assert student_lab.alive
    root = student_lab.root_dir.resolve()
    assert os.path.relpath(course["root"], root) == ".", (
        f"the README's command serves {root}, not the course root: nbgrader's formgrader cannot work there")
    assert "not a subdirectory of the notebook server root" not in student_lab.log_text()


def test_student_session_in_jupyterlab(browser, student_lab, course):
    context = _context(browser, student_lab)
    page = context.new_page()
    try:
        copy = course["root"] / "work" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert copy.exists(), "the README's command did not make the student's working copy"
        _open_notebook(page, student_lab, copy)
        _shot(page, "01-opened")

        # Run all: execution stops at the first visible test, which names the function to write.
        _menu(page, "Run", "Run All Cells")
        # (Cells out of view are laid out lazily: wait for the output to exist, then look at it.)
        error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").first
        error.wait_for(state="attached", timeout=180 * MS)
        error.scroll_into_view_if_needed()
        assert "rnn_step is not written yet" in error.text_content(), error.text_content()
        _shot(page, "02-run-all-names-the-stub")

        # Write rnn_step in the browser, run it, then its visible test.
        stub = _code_cell(page, "def rnn_step(")
        stub.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(solution_sources(ASSIGNMENT)["rnn_step"])
        page.keyboard.press("Shift+Enter")  # runs rnn_step's cell, selects its visible test
        page.keyboard.press("Shift+Enter")  # runs the visible test
        test = _code_cell(page, "check_own_work(rnn_step,")
        test.locator(".jp-OutputArea-output", has_text="rnn_step: visible tests passed").wait_for(timeout=120 * MS)
        assert "Error" not in test.locator(".jp-OutputArea").inner_text()
        test.scroll_into_view_if_needed()
        _shot(page, "03-rnn-step-visible-test-passes")

        # nbgrader's Validate button: a report of the tests, not a traceback.
        page.locator(".jp-NotebookPanel:visible .jp-Toolbar").get_by_text("Validate", exact=True).click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=300 * MS)
        page.wait_for_timeout(500)
        text = dialog.inner_text()
        _shot(page, "04-validate")
        # The report of the saved notebook: rnn_step's test passes now, the first failure is
        # rnn_forward's stub (its traceback is the test's own; none comes from nbgrader's code).
        assert text.startswith("Validation Results") and "The following cell failed" in text, text
        assert "check_own_work(rnn_forward," in text and "check_own_work(rnn_step," not in text, text
        assert "site-packages/nbgrader" not in text, text
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
        # What was saved: the answer in the working copy, the release as it was released.
        assert "def rnn_step" in copy.read_text() and "np.tanh" in copy.read_text()
        release = f"notebooks/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        assert (course["root"] / release).read_bytes() == (ROOT / release).read_bytes()

        # Nbgrader > Assignment List: opens, lists, and the server stays up.
        _menu(page, "Nbgrader", "Assignment List")
        panel = page.locator(".jp-MainAreaWidget:visible").filter(has_text="Released assignments")
        panel.wait_for(timeout=60 * MS)
        page.wait_for_timeout(2 * MS)  # the list is fetched after the panel shows
        _shot(page, "05-assignment-list")
        listing = panel.inner_text()
        assert "Traceback" not in listing and "error" not in listing.lower(), listing
        if course["released"]:  # the working copy (work/02-rnn/) is the assignment as fetched: Submit sends it
            downloaded = listing.split("Downloaded assignments")[1].split("Submitted assignments")[0]
            assert ASSIGNMENT in downloaded and "Submit" in downloaded, listing
        assert student_lab.alive, student_lab.log_text()

        # Nbgrader > Formgrader: the course's assignments, no error page.
        _menu(page, "Nbgrader", "Formgrader")
        frame = page.frame_locator(".jp-MainAreaWidget:visible iframe")
        frame.locator("body").wait_for(timeout=60 * MS)
        frame.get_by_text(ASSIGNMENT, exact=True).first.wait_for(timeout=60 * MS)
        body = frame.locator("body").inner_text()
        _shot(page, "06-formgrader")
        assert "encountered an error" not in body, body

        assert student_lab.alive, student_lab.log_text()
        student_lab.get_json("api/status")
        assert "Traceback" not in student_lab.log_text(), student_lab.log_text()
    finally:
        context.close()


def test_saving_a_source_notebook_leaves_it_unchanged(browser, course):
    """An instructor edits sources in JupyterLab: opening and saving one changes no byte."""
    source = course["root"] / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    before = source.read_bytes()
    assert before == (ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    server = JupyterServer(course["user"], ["jupyter", "lab"])
    context = _context(browser, server)
    page = context.new_page()
    try:
        _open_notebook(page, server, source)
        mtime = source.stat().st_mtime_ns
        page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
        page.keyboard.press("Control+S")
        for _ in range(60):
            if source.stat().st_mtime_ns != mtime:
                break
            page.wait_for_timeout(500)
        assert source.stat().st_mtime_ns != mtime, "JupyterLab did not save the notebook"
        _shot(page, "07-source-saved")
        after = source.read_bytes()
        assert after == before, "saving in JupyterLab changed the source notebook:\n" + _diff(before, after)
        assert server.alive
    finally:
        context.close()
        server.close()


def _diff(a: bytes, b: bytes) -> str:
    import difflib

    return "".join(list(difflib.unified_diff(a.decode().splitlines(True), b.decode().splitlines(True), n=1))[:60])


def hub_student_switches() -> list[list[str]]:
    """The commands book/grading.md gives for a hub's students (``jupyter ... disable ...``)."""
    text = (ROOT / "book" / "grading.md").read_text(encoding="utf-8")
    cmds = [shlex.split(line) for line in re.findall(r"^(jupyter (?:labextension|server extension) disable .+)$", text, re.M)]
    assert cmds, "book/grading.md no longer says how to give students the student tools only"
    return cmds


def test_hub_students_see_the_student_tools_only(browser, course, tmp_path):
    """The hub set-up of book/grading.md. The test applies its JupyterLab switches to one user's own
    Jupyter settings (the shared environment stays as it is): the same commands, one level up.
    The menu then offers the student tools only, and Validate and the assignment list work."""
    student = make_user(tmp_path, "hubstudent", course["user"].exchange, cwd=course["root"])
    student.extra_env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    switches = hub_student_switches()
    assert {c[-1] for c in switches if c[1] == "server"} == {"nbgrader.server_extensions.formgrader",
                                                              "nbgrader.server_extensions.course_list"}
    for cmd in switches:
        # Only JupyterLab's switches can be tried one level up: a user's `jupyter server extension
        # disable --user` cannot override the environment's own "enabled" (jupyter_server reads
        # the environment's settings after the user's), so the server side is not exercised here.
        if cmd[1] == "labextension":
            student.run(*[{"--level=sys_prefix": "--level=user"}.get(a, a) for a in cmd])
    server = JupyterServer(student, ["jupyter", "lab"])
    context = _context(browser, server)
    page = context.new_page()
    try:
        _open_notebook(page, server, course["root"] / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
        items = [t.strip() for t in page.locator(".lm-Menu-itemLabel").all_inner_texts()]
        _shot(page, "08-hub-student-menu")
        page.keyboard.press("Escape")
        assert "Assignment List" in items and "Formgrader" not in items and "Course List" not in items, items
        assert page.locator(".jp-NotebookPanel:visible .jp-Toolbar").get_by_text("Validate", exact=True).count() == 1
        assert page.request.get(server.url("assignments?course_id=seq-models-from-scratch")).ok
    finally:
        context.close()
        server.close()

"""The class report as an instructor meets it: grade a class through the CLI, open
``OUT/report/`` in Chromium, check what it says against cells.csv and mistakes.csv.

The batch mixes perfect submissions, every tests-of-the-tests mistake of 01-one-hot and 02-rnn
(``MISTAKES`` of tests/chapters/, one student each, a few made by more than one student), and
submissions that fail for reasons other than the code: a notebook that is not JSON, a renamed
one, an answer that never ends, one that kills its kernel, one that calls the forbidden built-in,
one that reaches for the tools of tampering, the untouched release, and a student with no
submission at all. Then a late submission arrives (a rerun changes the counts), then a rerun with
nothing new (the report stays byte for byte).
"""
from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from tests.harness import ROOT, as_mistake, grade_id, release_notebook, source_notebook
from tests.site.helpers import Server, open_page

pytestmark = pytest.mark.slow

CHAPTERS = ("01-one-hot", "02-rnn")
TRANSPOSED = "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    return np.tanh(x_t @ W_xh + h_prev @ W_hh.T + b_h)"
INJECTED = "</code></pre><script>document.title = 'pwned'</script>"


def _mistakes(assignment: str) -> dict:
    path = ROOT / "tests" / "chapters" / f"test_{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"chapter_{assignment.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MISTAKES


def _submit(batch: Path, student: str, assignment: str, answers: dict[str, str] | None = None, *,
            base=source_notebook, name: str | None = None) -> None:
    """``student`` hands in ``assignment``: the solutions with ``answers`` (function -> cell source) in place."""
    nb = nbformat.read(base(assignment), as_version=4)
    answers = dict(answers or {})
    for cell in nb.cells:
        if grade_id(cell) in answers and (cell.metadata.get("nbgrader") or {}).get("solution"):
            cell.source = answers.pop(grade_id(cell))
    assert not answers, answers
    folder = batch / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name or assignment}.ipynb")


def _grade(batch: Path, out: Path, roster: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out), "--roster", str(roster),
           "--workers", "2", "--cell-timeout", "10", "--no-progress", *[x for a in CHAPTERS for x in ("--assignment", a)]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 1, proc.stderr[-3000:]  # 1: the broken notebooks are problems, everyone else is graded
    return proc


def _snapshot(out: Path) -> dict[str, bytes]:
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "report").iterdir()}
    for name in ("cells.csv", "mistakes.csv"):
        files[name] = (out / name).read_bytes()
    return files


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(OUT, the students, the report after the first run, after a late submission, after a rerun)."""
    tmp = tmp_path_factory.mktemp("class-report")
    batch, out = tmp / "submitted", tmp / "out"
    students = ["u_ada", "u_ben", "u_cat", "u_dan", "u_eve", "u_fay", "u_gus", "u_hal", "u_ivy", "u_kim"]
    for a in CHAPTERS:
        _submit(batch, "u_ada", a)
    _submit(batch, "u_ben", "01-one-hot")                                        # no 02-rnn
    for a in CHAPTERS:
        for i, (function, label, m) in enumerate((f, label, as_mistake(m)) for f, ms in _mistakes(a).items()
                                                 for label, m in ms.items()):
            student = f"u_m{i:02d}"
            students.append(student) if student not in students else None
            _submit(batch, student, a, {function: m.source})
    # two mistakes made again (excerpts show up to two answers): one student writes their id, one markup
    _submit(batch, "u_lee", "02-rnn", {"rnn_outputs": "def rnn_outputs(H, W_hy, b_y):\n"
                                       "    return H @ W_hy  # u_lee: I think this is right\n"})
    _submit(batch, "u_max", "02-rnn", {"rnn_step": f"# {INJECTED}\ndef rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n"
                                       "    return np.tanh(x_t @ W_xh + h_prev @ W_hh)\n"})
    (batch / "u_cat" / "01-one-hot").mkdir(parents=True)
    (batch / "u_cat" / "01-one-hot" / "01-one-hot.ipynb").write_text('{"cells": [')   # not JSON
    _submit(batch, "u_dan", "02-rnn", {                                           # never ends (rnn_forward does not call it)
        "rnn_step": "def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n    while True:\n        pass\n",
        "rnn_forward": "def rnn_forward(X, h0, W_xh, W_hh, b_h):\n    h, out = h0, []\n    for s in range(X.shape[1]):\n"
                       "        h = np.tanh(X[:, s] @ W_xh + h @ W_hh + b_h)\n        out.append(h)\n"
                       "    return np.stack(out, axis=1)\n"})
    _submit(batch, "u_eve", "01-one-hot", {"build_vocab": "import os\nos._exit(1)\n"})        # kills its kernel
    _submit(batch, "u_fay", "02-rnn", {"rnn_step": "import torch\n\ndef rnn_step(x_t, h_prev, W_xh, W_hh, b_h):\n"
                                       "    cell = torch.tanh(torch.as_tensor(x_t @ W_xh + h_prev @ W_hh + b_h))\n"
                                       "    return cell.numpy()\n"})                          # the forbidden built-in
    _submit(batch, "u_gus", "02-rnn", name="my-rnn")                                         # renamed
    _submit(batch, "u_hal", "01-one-hot", {"embedding_lookup": "np.allclose = lambda *a, **k: True\n\n"
                                           "def embedding_lookup(indices, E):\n    return E[np.asarray(indices)]\n"})
    _submit(batch, "u_ivy", "02-rnn", base=release_notebook)                                 # the stubs
    students += ["u_lee", "u_max"]
    roster = tmp / "roster.csv"
    roster.write_text("student_id\n" + "\n".join(students) + "\n")              # u_kim: in the roster, nothing handed in

    first = _grade(batch, out, roster)
    assert "class report:" in first.stdout and "(unchanged" not in first.stdout, first.stdout
    runs = [_snapshot(out)]
    _submit(batch, "u_kim", "02-rnn", {"rnn_step": TRANSPOSED})                  # a late submission
    assert ": 1 graded, " in _grade(batch, out, roster).stdout
    runs.append(_snapshot(out))
    last = _grade(batch, out, roster)
    assert "(unchanged: nothing it reports changed)" in last.stdout
    runs.append(_snapshot(out))
    problems = set(re.findall(rf"^problem: {re.escape(str(batch))}/([^/]+)/([^/:]+)", last.stderr, re.M))
    return out, students, runs, problems


def _csv(out: Path, name: str) -> list[dict]:
    with (out / name).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- mistakes.csv

def test_mistakes_csv_lists_each_test_cell_lost_to_the_code(graded):
    out, *_ = graded
    mistakes, cells = _csv(out, "mistakes.csv"), _csv(out, "cells.csv")
    assert list(mistakes[0]) == ["student_id", "assignment", "function", "grade_id", "mistake"]
    assert (out / "mistakes.csv").read_text(encoding="utf-8-sig").splitlines()[1].startswith('"u_')  # quoted
    lost = {(c["student_id"], c["assignment"], c["grade_id"]) for c in cells if float(c["score"]) < float(c["max_score"])}
    assert {(m["student_id"], m["assignment"], m["grade_id"]) for m in mistakes} <= lost
    assert all(m["grade_id"] in (f"test_{m['function']}_visible", f"test_{m['function']}_hidden") for m in mistakes)
    mine = defaultdict(set)
    for m in mistakes:
        mine[m["student_id"], m["function"]].add(m["mistake"])
    assert mine["u_kim", "rnn_step"] == {"W_hh is transposed: use h_prev @ W_hh"}
    assert mine["u_max", "rnn_step"] == {"the bias b_h is missing"}
    assert mine["u_lee", "rnn_outputs"] == {"the bias b_y is missing"}
    # what is not a mistake in the code is no row: time-out, own work, the release stub, a dead kernel
    for student, function in (("u_dan", "rnn_step"), ("u_fay", "rnn_step"), ("u_ivy", "rnn_step"), ("u_eve", "build_vocab")):
        assert (student, function) not in mine, (student, function, mine[student, function])
    named = sum(1 for m in mistakes if m["mistake"])
    assert named >= 0.6 * len(mistakes), f"only {named} of {len(mistakes)} rows name a mistake"


# ---------------------------------------------------------------- the pages in a browser

def _context(browser, server: Server, *, dark: bool, phone: bool = False):
    context = browser.new_context(viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 900},
                                  color_scheme="dark" if dark else "light", is_mobile=phone, has_touch=phone)
    context.route("**/*", lambda route: route.continue_() if server.is_local(route.request.url) else route.abort())
    return context


@pytest.fixture(scope="module")
def pages(graded, browser, artifacts):
    """Every page of the report opened in light, dark and on a phone; screenshots saved."""
    out, *_ = graded
    server = Server(out / "report")
    opened = {}
    contexts = {mode: _context(browser, server, dark=mode == "dark", phone=mode == "phone")
                for mode in ("light", "dark", "phone")}
    names = ["index"] + list(CHAPTERS)
    for mode, context in contexts.items():
        for name in names:
            visit = open_page(context, server, name)
            visit.page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            visit.page.screenshot(path=str(artifacts / f"class-report__{name}-{mode}.png"), full_page=True)
            opened[name, mode] = visit
    yield opened
    for context in contexts.values():
        context.close()
    server.close()


def test_pages_load_nothing_from_elsewhere_and_log_no_error(pages):
    for (name, mode), visit in pages.items():
        assert not visit.offhost, (name, mode, visit.offhost)
        assert not visit.errors and not visit.known_errors, (name, mode, visit.errors)
        assert not visit.failed, (name, mode, visit.failed)
        assert visit.page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"), (name, mode)


def test_pages_fit_a_phone_and_follow_the_colour_scheme(pages):
    for name in ["index", *CHAPTERS]:
        phone = pages[name, "phone"].page
        assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
        backgrounds = {mode: pages[name, mode].page.evaluate("() => getComputedStyle(document.body).backgroundColor")
                       for mode in ("light", "dark")}
        assert backgrounds == {"light": "rgb(255, 255, 255)", "dark": "rgb(20, 24, 30)"}, backgrounds
    for chapter in CHAPTERS:  # the plot drawn for the scheme: the <img> shows the dark SVG in the dark
        srcs = {mode: pages[chapter, mode].page.evaluate("() => document.querySelector('picture img').currentSrc")
                for mode in ("light", "dark")}
        assert srcs["light"] != srcs["dark"] and all(s.startswith("data:image/svg+xml;base64,") for s in srcs.values())


def test_no_student_id_is_on_any_page(graded, pages):
    out, students, *_ = graded
    for (name, mode), visit in pages.items():
        html, text = visit.page.content(), visit.page.inner_text("body")
        assert not [s for s in students if s in html or s.lower() in text.lower()], (name, mode)
    assert not [p for p in (out / "report").iterdir() if p.suffix != ".html"]


def test_answers_are_shown_as_text(pages):
    page = pages["02-rnn", "light"].page
    assert page.evaluate("() => document.querySelectorAll('script').length") == 0
    assert page.title() == "02-rnn: class report"
    assert INJECTED in page.inner_text("#fn-rnn_step")
    assert "[student]: I think this is right" in page.inner_text("#fn-rnn_outputs")


def test_counts_on_the_pages_equal_cells_csv_and_mistakes_csv(graded, pages):
    out, _, _, problems = graded
    cells, mistakes = _csv(out, "cells.csv"), _csv(out, "mistakes.csv")
    for a in CHAPTERS:
        page = pages[a, "light"].page
        mine = [c for c in cells if c["assignment"] == a]
        students = {c["student_id"] for c in mine}
        # each test cell: how many lost it
        shown = dict(page.evaluate("""() => [...document.querySelectorAll('#cells tbody tr')].map(tr =>
            [tr.querySelector('td[data-label="test cell"]').innerText, +tr.querySelector('td[data-label="lost by"]').innerText])"""))
        expected = {g: sum(1 for c in mine if c["grade_id"] == g and float(c["score"]) < float(c["max_score"]))
                    for g in dict.fromkeys(c["grade_id"] for c in mine)}
        assert shown == expected, a
        # each function: the students who failed it in the code, each named mistake, and those with no name
        rows = [m for m in mistakes if m["assignment"] == a]
        for function in dict.fromkeys(m["function"] for m in rows):
            fn = [m for m in rows if m["function"] == function]
            failing = {m["student_id"] for m in fn}
            named = defaultdict(set)
            for m in fn:
                if m["mistake"]:
                    named[m["mistake"]].add(m["student_id"])
            section = page.locator(f"#fn-{function}")
            assert int(section.locator(".failing").inner_text()) == len(failing), (a, function)
            shown = {li.locator(".text").inner_text(): int(li.locator(".count").inner_text())
                     for li in section.locator("li.mistake").all()}
            assert shown == {text: len(s) for text, s in named.items()}, (a, function)
            counts = [int(li.locator(".count").inner_text()) for li in section.locator("li.mistake").all()]
            assert counts == sorted(counts, reverse=True), (a, function)  # most frequent first
            unnamed = failing - set().union(*named.values())
            assert int(section.locator("li.unnamed .count").inner_text()) == len(unnamed), (a, function)
        # the scores: students and no submission, as cells.csv says
        stats = dict(reversed(s.split("\n")) for s in page.locator(".stat").all_inner_texts())
        # no submission: every row missing, and no problem line (a renamed notebook is listed apart)
        missing = {s for s in students if all(c["status"] == "missing" for c in mine if c["student_id"] == s)
                   and (s, a) not in problems}
        index = pages["index", "light"].page
        row = index.locator("#assignments tbody tr").filter(has=index.locator(f'a[href="{a}.html"]'))
        assert (int(row.locator('td[data-label="students"]').inner_text()),
                int(row.locator('td[data-label="no submission"]').inner_text())) == (len(students), len(missing)), a
        assert (int(stats["students"]), int(stats["no submission"])) == (len(students), len(missing)), a
        totals = [sum(float(c["score"]) for c in mine if c["student_id"] == s) for s in students]
        assert float(stats["mean"]) == pytest.approx(sum(totals) / len(totals), abs=0.005), a
    assert ("u_gus", "02-rnn") in problems  # renamed: not counted as no submission


def test_failures_that_are_not_the_code_have_their_own_section(pages):
    faults_02 = pages["02-rnn", "light"].page.inner_text("#faults")
    for label in ("time-out", "refused: not the student's own work", "notebook missing"):
        assert label in faults_02, faults_02
    faults_01 = pages["01-one-hot", "light"].page.inner_text("#faults")
    for label in ("not a valid notebook", "the kernel died", "tampering flag: the code reaches for the tools of tampering"):
        assert label in faults_01, faults_01


# ---------------------------------------------------------------- as the term goes on

def test_a_late_submission_changes_the_counts_and_an_unchanged_rerun_nothing(graded):
    _, _, (first, late, rerun), _ = graded
    assert rerun == late  # every page and both CSVs, byte for byte

    def count(html: bytes, text: str) -> int:
        m = re.search(r'<section class="function" id="fn-rnn_step">.*?<span class="count">(\d+)</span><div><meter[^>]*></meter>'
                      r'<span class="text">' + re.escape(text), html.decode(), re.S)
        return int(m[1])

    t = "W_hh is transposed: use h_prev @ W_hh"
    assert count(late["report/02-rnn.html"], t) == count(first["report/02-rnn.html"], t) + 1
    assert late["report/01-one-hot.html"] == first["report/01-one-hot.html"]
    assert late["report/index.html"] != first["report/index.html"]

"""What a student's feedback page may show, whichever tool makes it (autograder/judge/feedback.py).

Fast checks of the two steps every page goes through: the student's view of an autograded
notebook (hidden tests cut, test errors as ``Type: message``, outputs inert) and the page itself
(markdown sanitised, MathML rebuilt, a Content-Security-Policy first in its head). The browser
proves the same with a real hostile submission in tests/site/test_whole_term.py.
"""
from __future__ import annotations


import nbformat
import pytest

from autograder.judge import feedback
from tests.harness import ROOT
from tests.leaks import secret_lines

EVIL = "https://evil.example"


def _test_cell(source: str, outputs=(), grade_id: str = "test_x_hidden"):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 2}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _body(page: str) -> str:
    return page[page.index("<body"):]


def _elements(html: str) -> list[tuple[str, list]]:
    """(tag, attributes) of every element of ``html``, as a browser's parser reads them."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Parser().feed(html)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_a_course_cell_shows_exactly_its_release_text(path):
    """Cutting the hidden tests out of a source cell gives the release's cell, for every cell of
    every assignment: a page shows what the student was given, never more."""
    release = nbformat.read(ROOT / "notebooks" / path.parent.name / path.name, as_version=4)
    released = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
                if c.metadata.get("nbgrader", {}).get("locked")}
    source = nbformat.read(path, as_version=4)
    locked = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert any("BEGIN HIDDEN TESTS" in c.source for c in locked)
    for cell in locked:
        assert feedback.strip_hidden_tests(cell.source) == released[cell.metadata["nbgrader"]["grade_id"]]


def test_an_unclosed_hidden_block_hides_everything_after_it():
    assert feedback.strip_hidden_tests("a = 1\n### BEGIN HIDDEN TESTS\nassert secret\n") == "a = 1"


def test_a_failed_test_shows_its_message_and_no_line_of_the_test():
    hidden = "### BEGIN HIDDEN TESTS\nassert rnn_step(x) == 42, 'rnn_step is off'\n### END HIDDEN TESTS"
    tb = ["AssertionError Traceback", "----> 2 assert rnn_step(x) == 42, 'rnn_step is off'", "AssertionError: rnn_step is off"]
    answer = nbformat.v4.new_code_cell("def rnn_step(x):\n    return 1 / 0")
    answer.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                             traceback=["----> 2     return 1 / 0"])]
    nb = nbformat.v4.new_notebook(cells=[answer, _test_cell(hidden, [{"output_type": "error", "ename": "AssertionError",
                                                                      "evalue": "rnn_step is off", "traceback": tb}])])
    page = feedback.page(nb, "nb", {"test_x_hidden": 0.0}, 0, 2)
    assert "rnn_step(x) == 42" not in page and "BEGIN HIDDEN" not in page
    assert "AssertionError: rnn_step is off" in page
    assert "return 1 / 0" in page  # the student's own traceback stays: it is their code


def test_what_a_student_displays_is_shown_as_text():
    shown = {"output_type": "display_data", "metadata": {"text/html": {"isolated": True}}, "data": {
        "text/html": "<img src=x onerror=alert(1)>",
        "image/svg+xml": "<svg onload=alert(2)/>",
        "application/javascript": "alert(3)",
        "image/png": '" onerror="alert(4)',
    }}
    out = feedback.inert_outputs([shown, {"output_type": "stream", "name": "x onmouseover=alert(5)", "text": "<b>hi</b>"},
                                  {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "fig"}},
                                  {"output_type": "unknown", "data": {"text/html": "<script>"}}])
    assert [o.output_type for o in out] == ["display_data", "stream", "display_data"]
    assert out[0].data == {"text/plain": "alert(3)"} and out[0].metadata == {}  # a rich form only: its text
    assert out[1].name == "stdout"
    assert out[2].data == {"image/png": "iVBORw0KGgo=", "text/plain": "fig"}


def test_student_markdown_is_text_and_links_cannot_run():
    md = "\n\n".join([
        "<script>alert(1)</script>", "A <img src=x onerror=alert(2)> in a sentence.",
        "[link](javascript:alert(3)) and [ok](https://example.org)", f"![pic]({EVIL}/pic.png)",
        f"<meta http-equiv=refresh content='0;url={EVIL}'>",
        "$\\href{javascript:alert(4)}{x}$ and $\\text{<svg/onload=alert(5)>}$ and $h_t$"])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(md)])
    body = _body(feedback.page(nb, "nb", {}, 0, 0))
    elements = _elements(body)
    assert not [tag for tag, _ in elements if tag in ("script", "meta", "svg", "iframe", "form", "object", "style")]
    assert not [(tag, a) for tag, attrs in elements for a, v in attrs
                if a.startswith("on") or (a in ("href", "src") and not str(v).startswith(("https://example.org", "#")))]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # shown, as text
    assert '<a href="https://example.org">ok</a>' in body
    assert body.count("<math") == 1 and 'class="tex"' in body  # h_t typeset; the two tricks kept as TeX text


def test_every_page_forbids_scripts_and_loads_from_anywhere():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    page = feedback.page(nb, "nb", {}, 0, 0)
    head = page[page.index("<head>"):page.index("</head>")]
    assert head.split("\n")[1] == f'<meta http-equiv="Content-Security-Policy" content="{feedback.CSP}">'
    for rule in ("default-src 'none'", "img-src data:", "form-action 'none'", "base-uri 'none'"):
        assert rule in feedback.CSP
    assert "script-src" not in feedback.CSP and "<script" not in page  # default-src 'none' covers scripts


def test_the_same_grading_gives_the_same_page_byte_for_byte():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$x$"), _test_cell("assert True")])
    assert feedback.page(nb, "nb", {"test_x_hidden": 2.0}, 2, 2) == feedback.page(nb, "nb", {"test_x_hidden": 2.0}, 2, 2)


def test_a_comment_and_a_changed_score_show_on_the_page():
    answer = nbformat.v4.new_code_cell("def f(): pass")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "f"}
    nb = nbformat.v4.new_notebook(cells=[answer, _test_cell("assert f() is None")])
    page = feedback.page(nb, "nb", {"test_x_hidden": 1.5}, 1.5, 2, comments={"f": "Name the *loop* variable."})
    assert "<em>loop</em>" in page and "Score: 1.5 / 2.0" in page


def test_no_solution_or_hidden_line_in_a_page_of_a_solution():
    """The source notebook itself, as if a student had submitted it with outputs: its page keeps
    the student's (here: the solution's) answers but never a hidden-test line."""
    path = ROOT / "solutions" / "02-rnn" / "02-rnn.ipynb"
    nb = nbformat.read(path, as_version=4)
    scores = {c.metadata["nbgrader"]["grade_id"]: 0.0 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    page = feedback.page(nb, "02-rnn", scores, 0, 12)
    hidden = [line for line, src in secret_lines().items() if src.startswith("02-rnn.ipynb") and src.endswith("_hidden)")]
    assert hidden and not [line for line in hidden if line in page]

"""Feedback pages carry their math as MathML and load nothing from another host.

(The browser test in tests/site/test_formgrader.py shows a real page typeset offline; these are
the fast checks of the conversion itself.)
"""
from __future__ import annotations

import re

import nbformat
import pytest

from autograder.judge import feedback
from tests.harness import ROOT

MATH = re.compile(r"<math\b.*?</math>", re.S)


def test_inline_and_display_formulas_become_mathml():
    out = feedback.markdown_math_to_mathml("The state $h_t$ is\n\n$$h_t = \\tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)$$\n\ndone.")
    maths = MATH.findall(out)
    assert len(maths) == 2
    assert 'display="inline"' in maths[0] and "<msub><mi>h</mi><mi>t</mi></msub>" in maths[0]
    assert 'display="block"' in maths[1] and "tanh" in maths[1]
    assert "$" not in out


def test_inline_math_may_wrap_onto_the_next_line_but_not_cross_a_paragraph():
    assert len(MATH.findall(feedback.markdown_math_to_mathml("a $x +\ny$ b"))) == 1
    assert feedback.markdown_math_to_mathml("a $x\n\ny$ b") == "a $x\n\ny$ b"


@pytest.mark.parametrize("text", [
    "costs $5 and $6",                  # money, not math
    "an escaped \\$x\\$ stays",         # escaped dollars
    "code `x = $a$` is not math",       # inline code
    "```\nprint('$x$')\n```",           # a fenced block
])
def test_what_is_not_math_is_left_alone(text):
    assert feedback.markdown_math_to_mathml(text) == text


def test_tex_that_cannot_be_converted_stays_readable():
    out = feedback.tex_to_mathml("\\frac{1}{")
    assert out.startswith('<code class="tex">') and "\\frac{1}{" in out


def test_every_formula_of_the_release_notebooks_converts():
    """No formula a student reads in a notebook falls back to raw TeX on a feedback page."""
    checked = 0
    for path in sorted((ROOT / "notebooks").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            out = feedback.markdown_math_to_mathml(cell.source)
            checked += len(MATH.findall(out))
            assert 'class="tex"' not in out, f"{path.name}: a formula did not convert:\n{cell.source[:300]}"
            assert "$" not in re.sub(r"`[^`]*`", "", MATH.sub("", out)), f"{path.name}: a formula was not found"
    assert checked > 100


def test_a_page_has_no_mathjax_and_no_other_host():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("The score $\\alpha_{ij}$."),
                                         nbformat.v4.new_code_cell("x = 1")])
    page = feedback.page(nb, "nb", {}, 1, 2)
    assert "<math" in page
    assert "x-mathjax-config" not in page and "MathJax.js" not in page and "cdnjs" not in page
    scripts_and_links = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page, re.I)
    assert not [t for t in scripts_and_links if re.search(r"(src|href)=[\"']?(https?:)?//", t)], scripts_and_links

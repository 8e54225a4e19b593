"""Feedback HTML per notebook with nbgrader's feedback template.

Course cells are shown with their *release* text (a hidden test's source never appears), test
cells that failed show only ``Type: message`` (the course's checks put what a student needs
there), and each test cell carries its score.

A feedback page is one self-contained file that works offline: nbgrader's ``release_feedback``
copies the single ``.html`` file to the student, so nothing can sit beside it. nbgrader's template
loads MathJax from a CDN; instead, the TeX of markdown cells is converted to MathML here, when the
page is built (browsers render MathML natively), and the template's MathJax macro is replaced by
one that emits nothing. The page then makes no request to any other host.
"""
from __future__ import annotations

import html as _html
import os
import re

import nbformat

_EXPORTER = None

# --- TeX -> MathML in markdown ----------------------------------------------------------------

# Code (fenced blocks and inline spans) is left alone: a ``$`` there is not math.
_CODE = re.compile(r"(^(?P<fence>```|~~~)[^\n]*\n.*?^(?P=fence)[ \t]*$|`+[^`]*?`+)", re.M | re.S)
# $$ display $$ (may span lines), then $ inline $ (may wrap onto the next line but not cross a
# paragraph; no space just inside the dollars and no digit after the closing one, so "costs $5
# and $6" stays text). A backslash-escaped \$ is a dollar.
_DISPLAY = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?![\s$])((?:[^$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$(?!\d)")


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """One formula as a ``<math>`` element; the TeX itself (escaped) when it cannot be converted,
    so a student still reads the formula rather than losing it."""
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds; any of them means "keep the TeX"
        return f'<code class="tex">{_html.escape(tex)}</code>'


def markdown_math_to_mathml(markdown: str) -> str:
    """Replace every ``$...$`` and ``$$...$$`` of a markdown cell by MathML (code untouched)."""
    out, pos = [], 0
    for m in _CODE.finditer(markdown):
        out.append(_convert_math(markdown[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_convert_math(markdown[pos:]))
    return "".join(out)


def _convert_math(text: str) -> str:
    # A display formula becomes a block of its own (blank lines around it), as markdown needs for
    # raw HTML that is not inside a paragraph.
    text = _DISPLAY.sub(lambda m: "\n\n" + tex_to_mathml(m.group(1), display=True) + "\n\n", text)
    return _INLINE.sub(lambda m: tex_to_mathml(m.group(1)), text)


#: Shadows nbconvert's ``mathjax.html.j2`` (the macro nbgrader's feedback template calls with the
#: CDN address): the page gets no MathJax script at all.
_NO_MATHJAX = {"mathjax.html.j2": "{%- macro mathjax(url=None) -%}{%- endmacro -%}"}


def _exporter():
    global _EXPORTER
    if _EXPORTER is None:
        import nbgrader
        from jinja2 import DictLoader
        from nbconvert.exporters import HTMLExporter
        from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
        from traitlets.config import Config

        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        class FeedbackExporter(HTMLExporter):
            """HTMLExporter without its BeautifulSoup pass (alt text and tab stops for the JupyterLab
            template; the classic feedback template has none of those elements): 0.2 s a page saved."""

            def from_notebook_node(self, nb, resources=None, **kw):
                self.register_filter("highlight_code", Highlight2HTML(pygments_lexer="ipython3", parent=self))
                resources = self._init_resources(resources)
                self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata,
                                                                               parent=self, resources=resources))
                return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

        base = os.path.dirname(nbgrader.__file__)
        c = Config()
        c.HTMLExporter.template_name = "feedback"
        c.HTMLExporter.extra_template_basedirs = [os.path.join(base, "server_extensions", "formgrader", "templates")]
        c.HTMLExporter.extra_template_paths = [os.path.join(base, "server_extensions", "formgrader", "static", "node_modules",
                                                            "bootstrap", "dist", "css")]
        _EXPORTER = FeedbackExporter(config=c, extra_loaders=[DictLoader(_NO_MATHJAX)])
        _EXPORTER.register_preprocessor(CSSHTMLHeaderPreprocessor(config=c), enabled=True)
    return _EXPORTER


def build(notebook: str, cells: list[dict], score: float, max_score: float) -> str:
    """``cells``: dicts with source, cell_type, outputs, nbgrader (metadata or None)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for k, c in enumerate(cells):
        if c["cell_type"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(markdown_math_to_mathml(c["source"]))
        else:
            cell = nbformat.v4.new_code_cell(c["source"])
            outs = []
            for o in c.get("outputs") or []:
                try:
                    outs.append(nbformat.from_dict(o))
                except Exception:  # noqa: BLE001 - an output nbformat refuses is left off the page, never the page
                    pass
            cell.outputs = outs
        cell.id = f"cell-{k}"  # not nbformat's random id: the same grading gives the same page, byte for byte
        if c.get("nbgrader"):
            cell.metadata["nbgrader"] = c["nbgrader"]
        nb.cells.append(cell)
    resources = {"nbgrader": {"notebook": notebook, "score": score, "max_score": max_score, "late_penalty": 0}}
    html, _ = _exporter().from_notebook_node(nb, resources=resources)
    return html

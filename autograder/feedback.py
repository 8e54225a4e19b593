"""Feedback HTML per notebook with nbgrader's feedback template.

Course cells are shown with their *release* text (a hidden test's source never appears), test
cells that failed show only ``Type: message`` (the course's checks put what a student needs
there), and each test cell carries its score.
"""
from __future__ import annotations

import os

import nbformat

_EXPORTER = None


def _exporter():
    global _EXPORTER
    if _EXPORTER is None:
        import nbgrader
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
        _EXPORTER = FeedbackExporter(config=c)
        _EXPORTER.register_preprocessor(CSSHTMLHeaderPreprocessor(config=c), enabled=True)
    return _EXPORTER


def build(notebook: str, cells: list[dict], score: float, max_score: float) -> str:
    """``cells``: dicts with source, cell_type, outputs, nbgrader (metadata or None)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for c in cells:
        if c["cell_type"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(c["source"])
        else:
            cell = nbformat.v4.new_code_cell(c["source"])
            outs = []
            for o in c.get("outputs") or []:
                try:
                    outs.append(nbformat.from_dict(o))
                except Exception:  # noqa: BLE001
                    pass
            cell.outputs = outs
        if c.get("nbgrader"):
            cell.metadata["nbgrader"] = c["nbgrader"]
        nb.cells.append(cell)
    resources = {"nbgrader": {"notebook": notebook, "score": score, "max_score": max_score, "late_penalty": 0}}
    html, _ = _exporter().from_notebook_node(nb, resources=resources)
    return html

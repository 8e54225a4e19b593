"""Widgets that keep working on the static site, where no kernel runs.

The trick: compute every view in advance, put them in an ``ipywidgets.Stack`` and link the
stack's ``selected_index`` to a control with ``jslink``, a link the browser maintains by
itself. When the page is built the widget state is saved, so a reader can switch views
without Python. Python callbacks (``observe``, ``interact``) would need a kernel: avoid them.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets


def _as_widget(view) -> widgets.Widget:
    if isinstance(view, widgets.Widget):
        return view
    return widgets.HTML(str(view))


def choice_views(labels: Sequence[str], views: Sequence, description: str = "Show:") -> widgets.VBox:
    """A dropdown of ``labels`` that shows the matching precomputed view (HTML string or widget)."""
    if len(labels) != len(views) or not labels:
        raise ValueError(f"need one view per label, got {len(labels)} labels and {len(views)} views")
    dropdown = widgets.Dropdown(options=list(labels), index=0, description=description,
                                style={"description_width": "initial"}, layout=widgets.Layout(width="max-content"))
    stack = widgets.Stack([_as_widget(v) for v in views], selected_index=0)
    widgets.jslink((dropdown, "index"), (stack, "selected_index"))
    return widgets.VBox([dropdown, stack])


def slider_views(views: Sequence, description: str = "t", first: int = 0) -> widgets.VBox:
    """A slider that shows view ``i`` at position ``i``; the readout counts from ``first``
    (e.g. ``first=1`` for the lecture's time steps t = 1..T)."""
    if not views:
        raise ValueError("need at least one view")
    slider = widgets.IntSlider(value=0, min=0, max=len(views) - 1, description=description,
                               readout=False, continuous_update=True)
    stack = widgets.Stack([_as_widget(v) for v in views], selected_index=0)
    labels = widgets.Stack([widgets.Label(f"{description} = {first + i}") for i in range(len(views))],
                           selected_index=0)
    widgets.jslink((slider, "value"), (stack, "selected_index"))
    widgets.jslink((slider, "value"), (labels, "selected_index"))
    return widgets.VBox([widgets.HBox([slider, labels]), stack])


def html_table(rows: Sequence[Sequence], header: Sequence[str] | None = None, row_labels: Sequence[str] | None = None,
               shade: bool = True, fmt: str = "{:.2f}") -> str:
    """A small HTML table; numeric cells are shaded by value (blue negative, red positive) when ``shade``."""
    def cell(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            text = fmt.format(v) if isinstance(v, float) else str(v)
            if shade:
                a = max(-1.0, min(1.0, float(v)))
                color = f"rgba(220,60,60,{a:.2f})" if a >= 0 else f"rgba(60,100,220,{-a:.2f})"
                return f'<td style="background:{color};text-align:center;padding:2px 8px">{text}</td>'
            return f'<td style="text-align:center;padding:2px 8px">{text}</td>'
        return f'<td style="padding:2px 8px">{v}</td>'

    head = ""
    if header is not None:
        corner = "<th></th>" if row_labels is not None else ""
        head = "<tr>" + corner + "".join(f'<th style="padding:2px 8px">{h}</th>' for h in header) + "</tr>"
    body = ""
    for i, row in enumerate(rows):
        label = f'<th style="padding:2px 8px;text-align:right">{row_labels[i]}</th>' if row_labels is not None else ""
        body += "<tr>" + label + "".join(cell(v) for v in row) + "</tr>"
    return f'<table style="border-collapse:collapse;font-family:monospace">{head}{body}</table>'

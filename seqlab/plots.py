"""Figures drawn by code for the lecture pages (no pasted images)."""
from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def figure_html(fig, dpi: int = 80) -> str:
    """``fig`` as an inline PNG ``<img>`` tag, then closed: one precomputed view of a widget
    (``seqlab.widgets.slider_views`` / ``choice_views``), so the built site needs no kernel."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"/>'


def _box(ax, x, y, text, color, w=0.8, h=0.5):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                facecolor=color, edgecolor="#333333", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(ax, start, end, label=None, color="#333333"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, linewidth=1.2))
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        if start[0] == end[0]:  # vertical arrow: label beside it
            ax.text(mx + 0.08, my, label, ha="left", va="center", fontsize=9, color=color)
        else:
            ax.text(mx, my + 0.12, label, ha="center", fontsize=9, color=color)


def unrolled_rnn(T: int = 4, inputs: list[str] | None = None, outputs: str = "all", ax=None):
    """The RNN unrolled over ``T`` steps: x_t -> h_t -> y_t, h_{t-1} -> h_t, shared weights.

    ``outputs``: "all" (many-to-many), "last" (many-to-one) or "none".
    ``inputs``: labels of the inputs; for one-to-many pass a single label (later steps get none).
    """
    ax = ax or plt.subplots(figsize=(1.7 * T + 1.5, 3.8))[1]
    labels = inputs or [f"$x_{t}$" for t in range(1, T + 1)]
    _box(ax, 0, 1, "$h_0$", "#eeeeee")
    for t in range(1, T + 1):
        _box(ax, 1.6 * t, 1, f"$h_{t}$", "#cfe2f3")
        _arrow(ax, (1.6 * (t - 1) + 0.45, 1), (1.6 * t - 0.45, 1), "$W_{hh}$")
        if t <= len(labels):
            _box(ax, 1.6 * t, -0.4, labels[t - 1], "#fff2cc")
            _arrow(ax, (1.6 * t, -0.12), (1.6 * t, 0.72), "$W_{xh}$")
        if outputs == "all" or (outputs == "last" and t == T):
            _box(ax, 1.6 * t, 2.4, rf"$\hat y_{t}$", "#d9ead3")
            _arrow(ax, (1.6 * t, 1.28), (1.6 * t, 2.12), "$W_{hy}$")
    ax.set_xlim(-0.6, 1.6 * T + 0.6)
    ax.set_ylim(-0.9, 2.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax

"""The class report's plots: matplotlib figures as SVG, the same bytes for the same data.

Each plot is drawn once per theme (theme.py); the page shows the one that matches the reader's
colour scheme (``<picture>`` with a ``prefers-color-scheme`` source). Deterministic SVG: no date
or creator in the metadata, a fixed ``svg.hashsalt`` for the ids, text drawn as paths in the font
matplotlib ships (DejaVu Sans), so a rerun writes the same page.
"""
from __future__ import annotations

import io
import math

from .theme import Theme

_RC = {
    "svg.hashsalt": "seqlab-class-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 10,
}


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def score_histogram(scores: list[float], max_score: float, mean: float | None, median: float | None,
                    theme: Theme) -> bytes:
    """How many students got each score (``scores``: one per student who submitted)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(4.4, 2.4), facecolor=theme.background)  # shown at about its size on a phone
        ax = fig.add_axes((0.12, 0.2, 0.84, 0.66), facecolor=theme.background)
        top = max(max_score, max(scores, default=0.0), 1e-9)
        bins = max(1, min(20, math.ceil(top)))
        counts, edges = np.histogram(scores, bins=bins, range=(0.0, top))
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=theme.primary,
               edgecolor=theme.background, linewidth=0.8)
        if mean is not None:
            ax.axvline(mean, color=theme.accent, linestyle="--", linewidth=1.5, label=f"mean {mean:.2f}")
        if median is not None:
            ax.axvline(median, color=theme.text, linestyle=":", linewidth=1.5, label=f"median {median:g}")
        ax.set_xlim(0, top)
        ax.set_ylim(0, max(1, int(counts.max(initial=0))) * 1.05)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"score (out of {max_score:g})", color=theme.text)
        ax.set_ylabel("students", color=theme.text)
        ax.tick_params(colors=theme.muted)
        for side, spine in ax.spines.items():
            spine.set_visible(side in ("left", "bottom"))
            spine.set_color(theme.border)
        if mean is not None or median is not None:
            legend = ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False, fontsize=9,
                               borderaxespad=0.2)  # above the bars, never over them
            for text in legend.get_texts():
                text.set_color(theme.text)
        return _svg(fig)

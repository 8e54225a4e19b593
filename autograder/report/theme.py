"""The class report's two colour schemes, the student site's own (pydata-sphinx-theme's light and
dark palettes), in one place: the pages' CSS and the plots both read them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    surface: str     # table headers, code, cards
    text: str
    muted: str
    border: str
    primary: str     # links, bars
    accent: str      # the mean in plots


LIGHT = Theme("light", background="#ffffff", surface="#f3f4f5", text="#222832", muted="#48566b",
              border="#d1d5da", primary="#0a7d91", accent="#c132af")
DARK = Theme("dark", background="#14181e", surface="#29313d", text="#ced6dd", muted="#9ca4af",
             border="#48566b", primary="#3fb1c5", accent="#e47fd7")
THEMES = (LIGHT, DARK)

"""What the site tests share: the table of contents, the built site, a local server and a browser.

The tests walk ``_toc.yml`` (never a fixed chapter list), so a chapter added to the toc is
covered the moment it is built.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "_build" / "test-artifacts"
TOC = ROOT / "_toc.yml"
CHROMIUM = Path(os.environ.get("SITE_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = (
    "Debian's chromium is needed for the site tests (`playwright install` cannot download here). "
    "Install it with:  sudo apt-get update && sudo apt-get install -y chromium   "
    "(the test set-up does this by itself when it runs as root), or point SITE_CHROMIUM at a "
    "Chromium binary."
)

# The one console error the site is allowed: the widget manager (embed-amd.js) calls the
# MathJax 2 API (MathJax.Hub.Queue) for widget labels while MathJax 3 is loaded. The label
# still renders. Anything else is a failure.
KNOWN_ERROR_MESSAGE = "reading 'Queue'"
KNOWN_ERROR_SOURCE = "/_static/widgets/embed-amd.js"


def toc_entries(toc: Path = TOC) -> list[dict]:
    """Every document of the toc in reading order: {'doc', 'part', 'level'} (root first)."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    out = [{"doc": data["root"], "part": None, "level": 0}]

    def walk(items, part, level):
        for item in items or []:
            if "file" in item:
                out.append({"doc": item["file"], "part": part, "level": level})
            for key in ("sections", "chapters"):
                walk(item.get(key), part, level + 1)
            for sub in item.get("subtrees", []) or []:
                walk(sub.get("entries") or sub.get("sections") or sub.get("chapters"), part, level + 1)

    for part in data.get("parts", []) or []:
        walk(part.get("chapters"), part.get("caption"), 1)
    walk(data.get("chapters"), None, 1)
    walk(data.get("sections"), None, 1)
    return out


def toc_docs(toc: Path = TOC) -> list[str]:
    return [e["doc"] for e in toc_entries(toc)]


def source_of(doc: str) -> Path | None:
    for suffix in (".md", ".ipynb", ".rst"):
        p = ROOT / f"{doc}{suffix}"
        if p.exists():
            return p
    return None


def is_exercise(doc: str) -> bool:
    """A student notebook page: notebooks/<id>/<id>."""
    return bool(re.fullmatch(r"notebooks/([^/]+)/\1", doc))


def is_chapter(doc: str) -> bool:
    """A lecture page: book/<two digits>-<name>."""
    return bool(re.fullmatch(r"book/\d\d-[^/]+", doc))


def html_of(doc: str, site: Path = SITE) -> Path:
    return site / f"{doc}.html"


def artifact_name(doc: str) -> str:
    return doc.replace("/", "__")


def ensure_site(site: Path = SITE) -> Path:
    """The built student site; built here (incrementally) when it is missing."""
    if not (site / "index.html").exists():
        env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        subprocess.run(["jupyter-book", "build", ".", "--warningiserror", "--keep-going"], cwd=ROOT, env=env,
                       check=False)
    if not (site / "index.html").exists():
        raise RuntimeError(f"no built site at {site}: run `make book` and look at its errors")
    return site


def ensure_chromium() -> Path:
    """Debian's chromium, installed with apt-get when we run as root; otherwise a clear failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") and "SITE_CHROMIUM" not in os.environ:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], env=env, check=False, capture_output=True)
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env,
                           capture_output=True, text=True)
        if CHROMIUM.exists():
            return CHROMIUM
        raise RuntimeError(f"apt-get install chromium failed ({r.returncode}): {r.stderr[-800:]}\n{INSTALL_HINT}")
    raise RuntimeError(f"no Chromium at {CHROMIUM}. {INSTALL_HINT}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@dataclass
class Server:
    root: Path
    httpd: http.server.ThreadingHTTPServer = field(init=False)

    def __post_init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(QuietHandler, directory=str(self.root)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/"

    def is_local(self, url: str) -> bool:
        if url.startswith(("data:", "blob:", "about:")):
            return True
        return urlsplit(url).netloc == urlsplit(self.base).netloc

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Visit:
    """One page opened in the browser, with everything it logged."""

    doc: str
    page: object
    errors: list[str] = field(default_factory=list)        # console errors and uncaught exceptions
    known_errors: list[str] = field(default_factory=list)  # the allowed MathJax-2 call from embed-amd.js
    offhost: list[str] = field(default_factory=list)       # requests to any other host (blocked)
    failed: list[str] = field(default_factory=list)        # failed requests and HTTP errors


def new_context(browser, server: Server, dark: bool = False):
    """A browser context that blocks (and so can report) every request to another host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark" if dark else "light")
    if dark:
        context.add_init_script("try { localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark'); } catch (e) {}")
    context.route("**/*", lambda route: route.continue_() if server.is_local(route.request.url) else route.abort())
    return context


def open_page(context, server: Server, doc: str, url: str | None = None) -> Visit:
    """Open ``doc`` (or ``url``) in a new tab of ``context``, wait for math and widgets, return the visit."""
    page = context.new_page()
    visit = Visit(doc, page)

    def on_console(msg):
        if msg.type == "error":
            loc = msg.location or {}
            text = f"console error: {msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})"
            if msg.text.startswith("Failed to load resource"):
                return  # reported with its URL by on_response / on_failed
            visit.errors.append(text)

    def on_pageerror(err):
        lines = (err.stack or "").splitlines()
        top = lines[1] if len(lines) > 1 else ""
        if KNOWN_ERROR_MESSAGE in (err.message or "") and KNOWN_ERROR_SOURCE in top:
            visit.known_errors.append(err.message)
        else:
            visit.errors.append(f"uncaught {err.name}: {err.message}\n" + "\n".join(lines[:4]))

    def on_request(req):
        if not server.is_local(req.url):
            visit.offhost.append(req.url)

    def on_response(resp):
        if resp.status >= 400:
            visit.failed.append(f"HTTP {resp.status} {resp.url}")

    def on_failed(req):
        if server.is_local(req.url):
            visit.failed.append(f"failed {req.url}: {req.failure}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("request", on_request)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.goto(url or server.base + f"{doc}.html", wait_until="load")
    settle(page)
    return visit


def settle(page, timeout_ms: int = 90_000) -> None:
    """Wait until MathJax has typeset the page and every saved widget view is rendered."""
    page.wait_for_load_state("networkidle", timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const mj = window.MathJax;
            const hasMath = document.querySelector('.math, div.math, span.math') !== null;
            if (hasMath && !(mj && mj.startup && mj.startup.document && document.querySelector('mjx-container'))) return false;
            const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
            for (const s of views) {
                if (!s.parentElement.querySelector('.jupyter-widgets')) return false;
            }
            return true;
        }""",
        timeout=timeout_ms,
    )
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_timeout(200)


# --- colours (WCAG contrast) -------------------------------------------------------------

def _channel(c: float) -> float:
    c = c / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(fg, bg) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# JS: the colour of an element's text and the colour actually behind it (first opaque ancestor),
# with semi-transparent layers blended in.
COLOURS_JS = """
(el) => {
  const parse = (s) => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0,0,0,0];
      const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const fg = parse(getComputedStyle(el).color);
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = [255, 255, 255];
  for (const c of layers.reverse()) bg = [0,1,2].map(i => c[i] * c[3] + bg[i] * (1 - c[3]));
  return {fg: fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3])), bg};
}
"""

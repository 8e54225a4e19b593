"""Offline link and anchor check over every HTML file of the built site: each internal link,
image, script and style sheet resolves to a file that exists, each #anchor to an id in its
target; nothing is loaded from another host (links *to* other sites, such as the Colab launch
button, are allowed: they are navigation, not loads)."""
from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.site import helpers

pytestmark = pytest.mark.site

VENDORED = ("_static/mathjax/", "_static/widgets/", "_static/vendor/", "_static/scripts/", "_static/styles/")
LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src", "audio": "src"}


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href") is not None:
            self.refs.append(("link", tag, a["href"]))
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            self.refs.append(("load" if rel in ("stylesheet", "icon", "preload", "shortcut icon", "modulepreload") else "link",
                              tag, a["href"]))
        elif tag in LOADS and a.get(LOADS[tag]):
            self.refs.append(("load", tag, a[LOADS[tag]]))


SPECIAL = {"index", "genindex", "search", "py-modindex"}


def _pages(site: Path):
    """The site's HTML pages (theme templates copied under _static/ are assets, not pages)."""
    return [p for p in sorted(site.rglob("*.html")) if not p.relative_to(site).as_posix().startswith("_static/")]


def _parse(path: Path) -> _Collect:
    c = _Collect()
    c.feed(path.read_text(encoding="utf-8", errors="replace"))
    return c


def test_links_and_anchors_resolve(site):
    assert len(_pages(site)) >= len(helpers.toc_docs()), "fewer HTML pages than toc entries"
    broken = broken_links(site)
    assert not broken, f"{len(broken)} broken link(s):\n" + "\n".join(broken[:40])


def test_instructor_edition_links_and_anchors_resolve():
    site = helpers.ROOT / "_build" / "instructor" / "html"
    if not (site / "index.html").exists():
        pytest.skip("instructor edition not built (make book EDITION=instructor)")
    broken = broken_links(site)
    assert not broken, f"{len(broken)} broken link(s) in the instructor edition:\n" + "\n".join(broken[:40])


def broken_links(site: Path) -> list[str]:
    pages = _pages(site)
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for page, c in parsed.items():
        rel = page.relative_to(site).as_posix()
        for kind, tag, ref in c.refs:
            ref = ref.strip()
            if not ref or ref.startswith(("mailto:", "javascript:", "data:", "tel:")):
                continue
            u = urlsplit(ref)
            if u.scheme or u.netloc:
                if kind == "load":
                    broken.append(f"{rel}: <{tag}> loads from another host: {ref}")
                continue
            if not u.path:
                target = page
            else:
                joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), unquote(u.path)))
                if joined.startswith(".."):
                    broken.append(f"{rel}: <{tag}> {ref} points outside the site")
                    continue
                target = site / joined
                if target.is_dir():
                    target = target / "index.html"
                if not target.is_file():
                    broken.append(f"{rel}: <{tag}> {ref}: {joined} does not exist")
                    continue
            if u.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(u.fragment) not in ids:
                    broken.append(f"{rel}: <{tag}> {ref}: no id {u.fragment!r} in {target.relative_to(site)}")
    return broken


def test_no_stale_pages(site):
    """Sphinx never deletes a page it no longer builds; a published folder must not carry one."""
    expected = set(helpers.toc_docs()) | SPECIAL
    stale = [p.relative_to(site).as_posix() for p in _pages(site) if p.relative_to(site).with_suffix("").as_posix() not in expected]
    assert not stale, f"pages in {site} that are not in the toc (left by an older build; `make clean book`): {stale}"
    logs = [p.relative_to(site).as_posix() for p in site.glob("reports/**/*") if p.is_file()]
    assert not logs, f"execution error logs in {site} (a page failed to run, or an older build left them; `make clean book`): {logs}"


def test_every_toc_page_was_built(site):
    missing = [d for d in helpers.toc_docs() if not helpers.html_of(d, site).exists()]
    assert not missing, f"toc entries with no page in {site}: {missing} (run `make book`)"

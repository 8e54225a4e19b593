"""The site's search (Sphinx's, offline) finds each chapter by a word from its own text."""
from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest
import snowballstemmer

from tests.site import helpers

pytestmark = pytest.mark.site

_stem = snowballstemmer.stemmer("porter").stemWord   # what Sphinx's English search uses


@lru_cache(maxsize=1)
def _index() -> dict:
    text = (helpers.SITE / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1: text.rindex(")")])


def _docs_of(entry) -> set[int]:
    return set(entry) if isinstance(entry, list) else {entry}


def distinctive_word(doc: str) -> str:
    """A word of the page's own text that the search index files under this page only."""
    index = _index()
    if doc not in index["docnames"]:
        pytest.fail(f"{doc} is in _toc.yml but not in the built site's search index: run `make book`", pytrace=False)
    me = index["docnames"].index(doc)
    html = helpers.html_of(doc).read_text(encoding="utf-8")
    body = html[html.find("<main"):] if "<main" in html else html
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    words = re.findall(r"[A-Za-z]{7,}", re.sub(r"<[^>]+>", " ", body))
    for word in sorted(set(words), key=lambda w: (words.index(w))):
        stem = _stem(word.lower())
        entry = index["terms"].get(stem)
        if entry is not None and _docs_of(entry) == {me}:
            return word.lower()
    for word in words:   # no word unique to the page: any word the page is indexed under
        entry = index["terms"].get(_stem(word.lower()))
        if entry is not None and me in _docs_of(entry):
            return word.lower()
    pytest.fail(f"{doc}: no word of its text is in the search index", pytrace=False)


def test_search_finds_chapter_by_a_word_of_its_text(chapter, visits, server):
    word = distinctive_word(chapter)
    visit = helpers.open_page(visits.context(False), server, "search", url=f"{server.base}search.html?q={word}")
    page = visit.page
    page.wait_for_function("() => { const s = document.querySelector('#search-results .search-summary, #search-results p');"
                           " return s && /found|did not match/i.test(s.textContent); }", timeout=30_000)
    hrefs = page.eval_on_selector_all("#search-results ul.search li a", "(as) => as.map(a => a.getAttribute('href'))")
    page.close()
    assert any(h.split("?")[0].split("#")[0].endswith(f"{chapter}.html") for h in hrefs), \
        f"searching {word!r} did not list {chapter}: {hrefs}"
    problems = visit.errors + visit.offhost + visit.failed
    assert not problems, problems

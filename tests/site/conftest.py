"""Fixtures of the browser tests: the built student site served on localhost, Debian's chromium
driven by Playwright, every off-host request blocked, one visit per page shared by the tests."""
from __future__ import annotations

import pytest

from tests.site import helpers
from tests.site.helpers import ARTIFACTS, Server, ensure_chromium, ensure_site, new_context, open_page, toc_docs


@pytest.fixture(scope="session")
def site():
    try:
        return ensure_site()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def server(site):
    srv = Server(site)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def browser():
    try:
        chromium = ensure_chromium()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make test` installs requirements.txt into .venv "
                    "(or run .venv/bin/pip install -r requirements.txt)", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Visits:
    """Opens each page once per theme and keeps the tab, so the tests of one page share a load."""

    def __init__(self, browser, server):
        self.browser, self.server = browser, server
        self.contexts, self.visits = {}, {}

    def context(self, dark: bool):
        if dark not in self.contexts:
            self.contexts[dark] = new_context(self.browser, self.server, dark=dark)
        return self.contexts[dark]

    def get(self, doc: str, dark: bool = False) -> helpers.Visit:
        key = (doc, dark)
        if not helpers.html_of(doc).exists():
            pytest.fail(f"{doc} is in _toc.yml but {helpers.html_of(doc).relative_to(helpers.ROOT)} was not built: "
                        "run `make book` (the site is older than the toc)", pytrace=False)
        if key not in self.visits:
            self.visits[key] = open_page(self.context(dark), self.server, doc)
        return self.visits[key]

    def fresh(self, doc: str, dark: bool = False) -> helpers.Visit:
        return open_page(self.context(dark), self.server, doc)

    def close(self):
        for ctx in self.contexts.values():
            ctx.close()


@pytest.fixture(scope="session")
def visits(browser, server):
    v = Visits(browser, server)
    yield v
    v.close()


def pytest_generate_tests(metafunc):
    docs = toc_docs()
    if "doc" in metafunc.fixturenames:
        metafunc.parametrize("doc", docs)
    if "exercise" in metafunc.fixturenames:
        metafunc.parametrize("exercise", [d for d in docs if helpers.is_exercise(d)])
    if "chapter" in metafunc.fixturenames:
        metafunc.parametrize("chapter", [d for d in docs if helpers.is_chapter(d)])


def pytest_configure(config):
    config.addinivalue_line("markers", "site: browser and link tests of the built site (tests/site)")

"""Tests of the site tests: each check fails on a page that has the fault it looks for."""
from __future__ import annotations

import pytest

from tests.site import helpers
from tests.site.test_links import broken_links
from tests.site.test_pages import dead_widgets

pytestmark = pytest.mark.site

BAD_PAGE = """<!DOCTYPE html><html><head>
<script src="https://cdn.jsdelivr.net/npm/nothing@1/x.js"></script>
<script>console.error("boom");</script>
</head><body><main><p id="here">text</p><img src="missing.png">
<a href="other.html#nowhere">x</a> <a href="#here">ok</a> <a href="https://example.org/">away (allowed)</a>
<div class="cell_output"><div class="widget-subarea"><div class="jupyter-widgets widget-dropdown">
<select><option>a</option><option>b</option></select></div><p>a view that never changes</p></div></div>
</main></body></html>"""


@pytest.fixture
def bad_site(tmp_path):
    (tmp_path / "bad.html").write_text(BAD_PAGE)
    (tmp_path / "other.html").write_text("<html><body><p id='somewhere'>x</p></body></html>")
    return tmp_path


def test_link_check_catches_missing_files_anchors_and_offhost_loads(bad_site):
    found = "\n".join(broken_links(bad_site))
    assert "missing.png" in found
    assert "no id 'nowhere'" in found
    assert "cdn.jsdelivr.net" in found
    assert "example.org" not in found and "#here" not in found


def test_browser_visit_reports_offhost_requests_errors_and_404s(bad_site, browser):
    server = helpers.Server(bad_site)
    context = helpers.new_context(browser, server)
    try:
        visit = helpers.open_page(context, server, "bad")
        assert any("cdn.jsdelivr.net" in u for u in visit.offhost)
        assert any("boom" in e for e in visit.errors)
        assert any("404" in f and "missing.png" in f for f in visit.failed)
        undriven, dead = dead_widgets(visit.page, timeout_ms=1500)
        assert undriven == 0 and len(dead) == 1, (undriven, dead)
    finally:
        context.close()
        server.close()

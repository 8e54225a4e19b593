"""Every page of the table of contents, opened in Chromium as a reader would, with no network
beyond the local server: no console error, no failed or off-host request, math typeset, each
widget answering input with no kernel, legible in the dark theme; a screenshot per page."""
from __future__ import annotations

import pytest

from tests.site import helpers

pytestmark = pytest.mark.site


def _problems(visit) -> list[str]:
    return visit.errors + [f"off-host request (blocked): {u}" for u in visit.offhost] + visit.failed


def test_page_loads_with_no_error_and_no_offhost_request(doc, visits, artifacts):
    visit = visits.get(doc)
    visit.page.screenshot(path=str(artifacts / f"{helpers.artifact_name(doc)}.png"), full_page=True)
    problems = _problems(visit)
    assert not problems, f"{doc}: " + "\n".join(problems)


MATH_STATE_JS = """() => {
  const skip = (el) => el.closest('pre, code, script, style, .highlight, mjx-container, .widget-subarea, textarea');
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (skip(n.parentElement)) continue;
    const t = n.textContent;
    if (t.includes('$$') || /\\\\\\[|\\\\\\(|\\\\begin\\{/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const maths = [...document.querySelectorAll('span.math, div.math')];
  return {
    math: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 80)),
    typeset: document.querySelectorAll('mjx-container').length,
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    raw,
  };
}"""


def test_math_is_typeset(doc, visits):
    state = visits.get(doc).page.evaluate(MATH_STATE_JS)
    assert not state["untypeset"], f"{doc}: math left untypeset: {state['untypeset'][:5]}"
    assert not state["errors"], f"{doc}: MathJax errors: {state['errors'][:5]}"
    assert not state["raw"], f"{doc}: raw TeX delimiters in the text: {state['raw'][:5]}"
    if state["math"]:
        assert state["typeset"] >= state["math"]


# A control's "view": what the reader sees in its cell output, minus the control itself.
SIGNATURE_JS = """(control) => {
  const out = control.closest('.cell_output') || control.closest('.widget-subarea') || document.body;
  let text = out.innerText;
  const own = control.closest('.widget-inline-hbox, .widget-dropdown, .widget-slider, .widget-toggle-buttons') || control;
  if (own.innerText) text = text.replace(own.innerText, '');
  const imgs = [...out.querySelectorAll('img')].filter(i => i.offsetParent !== null)
      .map(i => i.src.length + ':' + i.src.slice(-48));
  const svgs = [...out.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 0)
      .map(s => s.innerHTML.length);
  return JSON.stringify([text, imgs, svgs]);
}"""

CONTROLS = (".widget-dropdown select, .widget-slider .noUi-handle, .widget-toggle-buttons button, "
            ".widget-radio-box input")
ANY_INPUT = ".jupyter-widgets input, .jupyter-widgets select, .jupyter-widgets button, .jupyter-widgets textarea"


def _operate(page, control) -> str:
    kind = control.evaluate("""(c) => c.matches('select') ? 'dropdown' : c.classList.contains('noUi-handle') ? 'slider'
                                   : c.matches('button') ? 'button' : 'radio'""")
    if kind == "dropdown":
        n = control.locator("option").count()
        current = control.evaluate("(s) => s.selectedIndex")
        control.select_option(index=(current + 1) % n)
        return f"dropdown option {(current + 1) % n} of {n}"
    if kind == "slider":
        now = float(control.get_attribute("aria-valuenow"))
        top = float(control.get_attribute("aria-valuemax"))
        control.focus()
        page.keyboard.press("ArrowLeft" if now >= top else "ArrowRight")
        return "slider one step"
    control.click()
    return f"{kind} click"


def dead_widgets(page, timeout_ms: int = 10_000) -> tuple[int, list[str]]:
    """Operate every widget control on the page; (inputs of kinds we cannot drive, controls whose view did not change)."""
    total = page.locator(ANY_INPUT).count()
    # sliders have no <input>; every <input>/<select>/<button> must belong to a control we drive
    driven_inputs = page.locator(".widget-dropdown select, .widget-toggle-buttons button, .widget-radio-box input").count()
    controls = page.locator(CONTROLS)
    dead = []
    for i in range(controls.count()):
        control = controls.nth(i)
        if control.evaluate("(c) => c.closest('.widget-toggle-buttons') !== null && c.classList.contains('mod-active')"):
            continue  # the pressed toggle button: pressing it again changes nothing, by design
        control.scroll_into_view_if_needed()
        before = control.evaluate(SIGNATURE_JS)
        action = _operate(page, control)
        try:
            page.wait_for_function(f"([c, before]) => ({SIGNATURE_JS})(c) !== before", arg=[control.element_handle(), before],
                                   timeout=timeout_ms)
        except Exception:  # noqa: BLE001 - Playwright's timeout or a detached element: either way the control is dead
            dead.append(f"control {i} ({action}): the view did not change")
    return total - driven_inputs, dead


def test_each_widget_responds_without_a_kernel(doc, visits):
    undriven, dead = dead_widgets(visits.get(doc).page)
    assert not undriven, (f"{doc}: {undriven} widget input(s) of a kind this test cannot drive yet: "
                          "add it to CONTROLS in tests/site/test_pages.py")
    assert not dead, f"{doc}: widgets that do not respond with no kernel:\n" + "\n".join(dead)


# what must be legible, and the least contrast (WCAG AA: 4.5:1 for text; 3:1 for large text and
# graphics, which is what the heat-map cells of seqlab.widgets.html_table are: their background
# is the value's colour, their number a label on it)
LEGIBILITY = {
    "math": ("mjx-container", 4.5),
    "text": ("main article p", 4.5),
    "widget label": (".widget-label:not([style*='display: none']), .widget-html-content", 4.5),
    "widget select": (".widget-dropdown select", 4.5),
    "table cell": ("main article td:not([style*='background'])", 4.5),
    "heat-map cell": ("main article td[style*='background']", 3.0),
}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_theme_is_legible(doc, theme, visits, artifacts):
    dark = theme == "dark"
    visit = visits.get(doc, dark=dark)
    page = visit.page
    assert page.evaluate("() => document.documentElement.dataset.theme") == theme
    if dark:
        page.screenshot(path=str(artifacts / f"{helpers.artifact_name(doc)}-dark.png"), full_page=True)
    bad = []
    for what, (selector, least) in LEGIBILITY.items():
        els = page.locator(selector)
        for i in range(min(els.count(), 40)):
            el = els.nth(i)
            if not el.is_visible():
                continue
            c = el.evaluate(helpers.COLOURS_JS)
            ratio = helpers.contrast(c["fg"], c["bg"])
            if ratio < least:
                bad.append(f"{what} #{i} {el.inner_text()[:30]!r}: contrast {ratio:.1f} < {least} (fg {c['fg']}, bg {c['bg']})")
    images = page.locator("main article img")
    for i in range(images.count()):
        img = images.nth(i)
        if not img.is_visible() or img.evaluate("(i) => i.closest('.sidebar-logo, .navbar-brand') !== null"):
            continue
        c = img.evaluate(helpers.COLOURS_JS)
        if helpers.luminance(c["bg"]) < 0.5:
            bad.append(f"figure #{i} ({(img.get_attribute('src') or '')[-40:]}) sits on a dark background in the dark "
                       f"theme ({c['bg']}): black axes and labels of a transparent figure would be illegible")
    assert not bad, f"{doc} in the {theme} theme:\n" + "\n".join(bad)
    problems = _problems(visit)
    assert not problems, f"{doc} ({theme}): " + "\n".join(problems)

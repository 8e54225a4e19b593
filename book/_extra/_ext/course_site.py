"""Small fixes to the built site, loaded through ``sphinx: local_extensions`` in ``_config.yml``.

It lives under ``book/_extra`` (beside the vendored assets) so that single-page builds which copy
``_config.yml`` and link ``book/_extra`` find it too; ``exclude_patterns`` keeps it out of the site.

- every page links ``_static/course.css`` (served from ``book/_extra/_static``): dark-mode colours
  for widgets and a light card behind figures, so plots and math stay legible in both themes;
- a script or style sheet registered twice is written once (sphinx-thebe 0.3.1 registers its
  inline config twice under Sphinx 7, and the second ``const THEBE_JS_URL`` is a page error);
- the theme's ``default_mode`` is ``auto`` unless set, so a first visit logs no
  "invalid theme mode" console error.
"""
from __future__ import annotations

COURSE_CSS = "course.css"


def _theme_defaults(app, config):
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")   # read by pydata-sphinx-theme's layout
    config.html_context = context


def _add_css(app):
    if app.builder.format == "html":
        app.add_css_file(COURSE_CSS, priority=900)


def _key(asset):
    filename = getattr(asset, "filename", asset) or ""   # None and "" both mean an inline script
    attributes = getattr(asset, "attributes", {}) or {}
    return (str(filename), str(attributes.get("body", "")))


def _unique(assets):
    seen, kept = set(), []
    for asset in assets:
        key = _key(asset)
        if key not in seen:
            seen.add(key)
            kept.append(asset)
    return kept


def _dedupe(app, pagename, templatename, context, doctree):
    # Runs first (priority 1): 'html-page-context' stops at the first handler that returns a
    # template. The lists are the builder's own, restored from its _orig_* copies per page.
    for name, orig in (("script_files", "_orig_js_files"), ("css_files", "_orig_css_files")):
        assets = context.get(name)
        if isinstance(assets, list):
            assets[:] = _unique(assets)
        if isinstance(getattr(app.builder, orig, None), list):
            setattr(app.builder, orig, _unique(getattr(app.builder, orig)))


def setup(app):
    app.connect("config-inited", _theme_defaults)
    app.connect("builder-inited", _add_css)
    app.connect("html-page-context", _dedupe, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Small fixes to the built site, loaded through ``sphinx: local_extensions`` in ``_config.yml``.

It lives under ``book/_extra`` (beside the vendored assets) so that single-page builds which copy
``_config.yml`` and link ``book/_extra`` find it too; ``exclude_patterns`` keeps it out of the site.

- every page links ``_static/course.css`` (served from ``book/_extra/_static``): dark-mode colours
  for widgets and a light card behind figures, so plots and math stay legible in both themes;
- a script or style sheet registered twice is written once (sphinx-thebe 0.3.1 registers its
  inline config twice under Sphinx 7, and the second ``const THEBE_JS_URL`` is a page error);
- the theme's ``default_mode`` is ``auto`` unless set, so a first visit logs no
  "invalid theme mode" console error;
- the site serves the helper package: ``_static/seqlab-<version>-py3-none-any.whl`` and
  ``_static/SHA256SUMS``, and the notebooks it serves for download carry the wheel's address
  (``html.baseurl`` in ``_config.yml``) so that their setup cell installs it (``seqlab_wheel.py``);
  pages name the wheel as ``{{ seqlab_wheel }}`` and link it as ``{{ seqlab_wheel_link }}``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seqlab_wheel

log = logging.getLogger(__name__)

COURSE_CSS = "course.css"


def _theme_defaults(app, config):
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")   # read by pydata-sphinx-theme's layout
    config.html_context = context


def _wheel_substitution(app, config):
    # Pages live one folder below the site root (book/, notebooks/<id>/ is deeper but never links it).
    name = seqlab_wheel.wheel_name(Path(app.srcdir))
    subs = dict(getattr(config, "myst_substitutions", None) or {})
    subs.setdefault("seqlab_wheel", name)
    subs.setdefault("seqlab_wheel_link", f'<a href="../{seqlab_wheel.STATIC}/{name}"><code>{name}</code></a>')
    config.myst_substitutions = subs


def _publish_wheel(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    base_url = app.config.html_baseurl or ""
    wheel, stamped = seqlab_wheel.publish(Path(app.srcdir), Path(app.outdir), base_url)
    if base_url:
        log.info(f"seqlab: {wheel.name} served; {len(stamped)} notebooks install it from {base_url}")
    else:  # `make book` then says in one line that the site is not publishable yet (seqlab_wheel.unpublished_notice)
        log.info(f"seqlab: {wheel.name} served; no html.baseurl, so downloaded notebooks name it for the student to install")


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
    app.connect("config-inited", _wheel_substitution)
    app.connect("build-finished", _publish_wheel)
    app.connect("builder-inited", _add_css)
    app.connect("html-page-context", _dedupe, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

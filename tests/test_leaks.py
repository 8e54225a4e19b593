"""No solution code or hidden test in anything published: the release, the site, the helper package."""
import re
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.leaks import find_leaks, secret_lines

MARKERS = re.compile(r"BEGIN (SOLUTION|HIDDEN TESTS)|END (SOLUTION|HIDDEN TESTS)")
TEXT_SUFFIXES = {".ipynb", ".html", ".js", ".txt", ".json", ".md", ".py", ".css", ".svg"}
# Third-party files we vendor verbatim: they cannot contain course solutions.
VENDORED = ("_static/mathjax", "_static/widgets", "_static/vendor", "_sphinx_design_static", "_static/scripts")


def _files(folder: Path):
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in TEXT_SUFFIXES and not any(v in p.as_posix() for v in VENDORED):
            yield p


def test_there_are_secrets_to_look_for():
    secrets = secret_lines()
    assert len(secrets) > 20, "the leak check found almost no solution lines: is the marker format right?"


def test_release_notebooks_leak_nothing():
    assert not find_leaks(_files(ROOT / "notebooks"))


def test_lecture_pages_and_helper_package_leak_nothing():
    assert not find_leaks([*_files(ROOT / "book"), *_files(ROOT / "seqlab")])


def test_the_leak_check_would_catch_a_leak(tmp_path):
    line = next(iter(secret_lines()))
    leaked = tmp_path / "page.html"
    leaked.write_text(f"<pre><span>{line[:10]}</span>{line[10:].replace('<', '&lt;')}</pre>")
    assert find_leaks([leaked])


def test_built_site_leaks_nothing():
    site = ROOT / "_build" / "html"
    if not (site / "index.html").exists():
        pytest.skip("no built site (run `make book`); the site tests build it")
    assert not find_leaks(_files(site))


def test_built_site_has_no_nbgrader_markers():
    site = ROOT / "_build" / "html"
    if not (site / "index.html").exists():
        pytest.skip("no built site (run `make book`); the site tests build it")
    marked = [str(p) for p in _files(site) if MARKERS.search(p.read_text(errors="ignore"))]
    assert not marked, f"solution or hidden-test markers in the built site: {marked}"

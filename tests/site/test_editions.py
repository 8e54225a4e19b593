"""The two editions: the student site carries no solution page, the instructor edition's toc
(generated from _toc.yml by book/build_instructor.py) puts each chapter's solution notebook after
its exercise, and, as `make test` builds it, shows them executed."""
from __future__ import annotations

import importlib.util

import pytest
import yaml

from tests.site import helpers

pytestmark = pytest.mark.site


def _builder():
    spec = importlib.util.spec_from_file_location("build_instructor", helpers.ROOT / "book" / "build_instructor.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_student_site_has_no_solution_page(site):
    assert not list(site.glob("solutions/**/*")), "the student site contains pages from solutions/"
    assert not list(site.glob("_sources/solutions/**/*")), "the student site contains solution sources"
    assert "(instructor edition)" not in (site / "index.html").read_text(encoding="utf-8")


def test_instructor_toc_adds_each_solution_after_its_exercise(tmp_path):
    mod = _builder()
    toc_path, config_path = mod.generate(tmp_path)
    student = helpers.toc_docs()
    instructor = helpers.toc_docs(toc_path)
    exercises = [d for d in student if helpers.is_exercise(d)]
    for ex in exercises:
        aid = ex.split("/")[1]
        if (helpers.ROOT / "solutions" / aid / f"{aid}.ipynb").exists():
            i = instructor.index(ex)
            assert instructor[i + 1] == f"solutions/{aid}/{aid}", f"no solution page after {ex}"
    assert [d for d in instructor if not d.startswith("solutions/")] == student, "the instructor toc lost or reordered pages"
    config = yaml.safe_load(config_path.read_text())
    assert not any(p.startswith("solutions") for p in config["exclude_patterns"])
    assert "instructor" in config["title"] and config["html"]["announcement"]
    student_config = yaml.safe_load((helpers.ROOT / "_config.yml").read_text())
    assert any(p.startswith("solutions") for p in student_config["exclude_patterns"]), \
        "the student _config.yml must keep excluding solutions/"


def test_built_instructor_edition_shows_executed_solutions():
    html = helpers.ROOT / "_build" / "instructor" / "html"
    if not (html / "index.html").exists():
        pytest.fail("the instructor edition is not built: `make test` builds it (or `make book EDITION=instructor`)",
                    pytrace=False)
    toc = helpers.toc_docs(helpers.ROOT / "_build" / "instructor" / "_toc.yml")
    solutions = [d for d in toc if d.startswith("solutions/")]
    assert solutions
    for doc in solutions:
        page = helpers.html_of(doc, html)
        assert page.exists(), f"{doc} missing from the instructor edition"
        text = page.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" in text or "BEGIN HIDDEN TESTS" in text, f"{doc}: no solution code shown"
        assert "cell_output" in text, f"{doc}: no executed outputs"
        assert "Instructor edition" in text, f"{doc}: no instructor banner"

# The two commands of the course: `make book` and `make test`. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# nbgrader shells out to alembic: the environment's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

INSTALLED := $(VENV)/.installed
# The course's JupyterLab settings (jupyter_server_config.py), where the environment's Jupyter reads them.
LAB_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.py
RELEASED := _build/.released
SOURCES := $(shell find solutions -type f -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)
# The site: EDITION=student (default, _build/html, published) or instructor (_build/instructor/html,
# solutions rendered and executed; never publish it).
EDITION ?= student
SITE_STAMP := _build/.site-student
INSTRUCTOR_STAMP := _build/.site-instructor
BOOK_INPUTS := _config.yml _toc.yml $(shell find book notebooks seqlab -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)
# The browser tests (tests/site) drive Debian's chromium through Playwright.
CHROMIUM ?= $(or $(SITE_CHROMIUM),/usr/bin/chromium)

.PHONY: book book-student book-instructor browser lint test release clean help
help:
	@echo "make book                     set up, regenerate notebooks/, build the student site into _build/html"
	@echo "make book EDITION=instructor  the same, plus solutions executed, into _build/instructor/html (private)"
	@echo "make test                     set up, lint, build both editions, run the whole test suite (browser tests too)"
	@echo "make lint                     ruff check (settings in pyproject.toml)"

# Stamp files: an unchanged course neither reinstalls nor regenerates.
$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(LAB_CONFIG): jupyter_server_config.py $(INSTALLED)
	@mkdir -p $(dir $@)
	cp $< $@

$(RELEASED): $(INSTALLED) $(LAB_CONFIG) $(SOURCES) autograder/course.py autograder/release.py
	$(BIN)/python -m autograder release
	@mkdir -p _build && touch $@

release: $(RELEASED)

book: book-$(EDITION)

# Stamp: an unchanged site is not even handed to Sphinx (which alone takes seconds to start).
# Every `make book` says when the site has no public address yet (html.baseurl in _config.yml).
book-student: $(SITE_STAMP)
	@$(BIN)/python book/_extra/_ext/seqlab_wheel.py .
$(SITE_STAMP): $(RELEASED) $(BOOK_INPUTS)
	$(if $(filter seqlab/%,$?),rm -rf _build/.jupyter_cache  # seqlab changed: cached page outputs may be stale)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@touch $@

# The instructor edition executes every solution notebook (minutes): rebuilt only when an input changed.
book-instructor: $(INSTRUCTOR_STAMP)
$(INSTRUCTOR_STAMP): $(RELEASED) $(BOOK_INPUTS) $(SOURCES) book/build_instructor.py
	$(BIN)/python book/build_instructor.py
	@touch $@

# Debian's chromium for the browser tests: installed here when running as root (as CI does);
# otherwise the site tests fail with the command to run.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing: sudo apt-get update && sudo apt-get install -y chromium (the site tests will fail)" >&2; fi; \
	fi

# The linter first (ruff, pinned in requirements.txt; its settings in pyproject.toml), then both
# editions are built and checked (tests/site/test_editions.py reads the instructor one).
test: lint $(SITE_STAMP) $(INSTRUCTOR_STAMP) browser
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .

clean:
	rm -rf _build

# The two commands of the course: `make book` and `make test`. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# nbgrader shells out to alembic: the environment's bin/ must be on PATH.
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

INSTALLED := $(VENV)/.installed
RELEASED := _build/.released
SOURCES := $(shell find solutions -type f -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)

.PHONY: book test release clean help
help:
	@echo "make book   set up, regenerate notebooks/, build the student site into _build/html"
	@echo "make test   set up, regenerate notebooks/, run the whole test suite"

# Stamp files: an unchanged course neither reinstalls nor regenerates.
$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(RELEASED): $(INSTALLED) $(SOURCES) autograder/course.py autograder/release.py
	$(BIN)/python -m autograder release
	@mkdir -p _build && touch $@

release: $(RELEASED)

book: $(RELEASED)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

test: $(RELEASED)
	$(BIN)/python -m pytest

clean:
	rm -rf _build

# Two entry points, each working on a fresh machine with Python 3.10+:
#   make demo   - the crash-and-resume demo (run it twice: the first run kills itself)
#   make test   - install what the tests need into .venv and run them
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	rm -f examples/03_crash_and_resume.sqlite*
	-$(BIN)/python examples/03_crash_and_resume.py
	$(BIN)/python examples/03_crash_and_resume.py

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

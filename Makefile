# Two entry points, each working on a fresh machine with Python 3.10+:
#   make demo      - the crash-and-resume demo (run it twice: the first run kills itself)
#   make test      - install what the tests need into .venv and run them, in three processes
#                    (pytest-xdist: most tests wait on subprocesses and sleeps), as CI does
# and, while editing, make test-fast: the tests not marked slow (pytest -m "not slow");
# make compat: install DBOS Transact into .venv-compat, run every example and README snippet on
# dbos_lite and on DBOS Transact, and compare their result lines (compat/run.py says how); then
# run the tests marked both_engines on DBOS Transact (DBOS_LITE_TEST_ENGINE=dbos, tests/engine.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COMPAT_VENV := .venv-compat
COMPAT_BIN := $(COMPAT_VENV)/bin

.PHONY: demo test test-fast compat

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
	$(BIN)/python -m pytest -q -n 3

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n 3 -m "not slow"

$(COMPAT_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_BIN)/python -m pip install --quiet --upgrade pip
	$(COMPAT_BIN)/python -m pip install --quiet 'dbos==3.4.0' 'apsw>=3.45' 'msgspec>=0.18.6' \
		'pytest>=7.4' 'hypothesis>=6.90'
	touch $@

compat: $(COMPAT_VENV)/.installed
	$(COMPAT_BIN)/python compat/names.py check
	$(COMPAT_BIN)/python compat/run.py
	DBOS_LITE_TEST_ENGINE=dbos $(COMPAT_BIN)/python -m pytest -q -m both_engines

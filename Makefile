# Skyport: `make run` and `make test` work on a fresh clone with nothing but python3 (>= 3.11) and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
# The first python3.11+ on PATH (python3.13, python3.12, python3.11, then python3 if it is new enough).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  && { command -v $$p; break; }; done)
PYTEST_ARGS ?=

.PHONY: help run test bench lint migrate seed clean venv check-browser

help:
	@echo "make run      start the portal (web + Celery worker + beat) on http://127.0.0.1:$${PORT:-8000}/"
	@echo "make test     the whole test suite (PYTEST_ARGS='-k foo -x' to narrow it)"
	@echo "make bench    run tests/bench/bench_*.py, results in var/bench/results.json"
	@echo "make lint     ruff check ."
	@echo "make migrate  apply database migrations"
	@echo "make seed     load demo data if the database is empty"
	@echo "make clean    remove .venv, var/ and caches"

# The venv is rebuilt only when requirements.txt changes (or the venv is missing).
$(STAMP): requirements.txt
	@if [ -z "$(PYTHON)" ]; then echo "skyport: Python >= 3.11 is required (python3.11 or newer on PATH)." >&2; exit 1; fi
	@if [ ! -x $(PY) ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@# The repo root on the venv's sys.path: `.venv/bin/pytest` can then import the -p plugins in tests/.
	@echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/skyport-root.pth"
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m tools.runtime run

check-browser: $(STAMP)
	$(PY) -m tools.runtime check-browser

test: $(STAMP) check-browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@mkdir -p var/bench
	@shopt -s nullglob; scripts=(tests/bench/bench_*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no tests/bench/bench_*.py scripts yet"; exit 0; fi; \
	for s in "$${scripts[@]}"; do echo "== $$s"; $(PY) "$$s" || exit $$?; done; \
	echo "== var/bench/results.json"; cat var/bench/results.json; echo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Like `make run`, these are the demo's (SKYPORT_DEMO=1 unless set): see README "Deploying" otherwise.
migrate: $(STAMP)
	SKYPORT_DEMO=$${SKYPORT_DEMO:-1} $(PY) manage.py migrate --noinput

seed: $(STAMP) migrate
	SKYPORT_DEMO=$${SKYPORT_DEMO:-1} $(PY) manage.py seed_demo --if-empty

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis staticfiles
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +

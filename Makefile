# Everything runs inside .venv, which the first target that needs it builds (system packages included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

.DEFAULT_GOAL := help
.PHONY: help setup test test-all bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(READY): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(READY)

setup: $(READY) ## install system packages and the Python environment (.venv)

test: $(READY) ## run the fast test suite
	$(PY) -m pytest -q

test-all: $(READY) ## run every test, the slow ones too (GPU tests skip without a GPU)
	$(PY) -m pytest -q -m ""

bench: $(READY) ## run the benchmarks and print their figures
	$(PY) -m benchmarks

clean: ## remove the environment and caches (keeps outputs)
	rm -rf $(VENV) .pytest_cache *.egg-info

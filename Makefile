# Everything runs inside .venv, which the first target that needs it builds (system packages included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

# make generate SUBSET=cls|det [SOURCE=... OUT=... LIMIT=... WORKERS=... SCHEDULER=... ARGS=...]
SUBSET ?= cls
OUT ?= out
MODELS ?= offline
METRICS ?= release
SOURCE ?=
LIMIT ?=
WORKERS ?=
SCHEDULER ?=
ARGS ?=
# Paths are quoted: SOURCE="my photos" works.
GENERATE_FLAGS := --subset $(SUBSET) --out "$(OUT)" $(if $(SOURCE),--source "$(SOURCE)") $(if $(LIMIT),--limit $(LIMIT)) \
	$(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(ARGS)

.DEFAULT_GOAL := help
BROWSER := $(VENV)/.browser
.PHONY: help setup demo generate score metrics export status report test test-all bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(READY): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(READY)

$(BROWSER): $(READY) scripts/install-system-deps.sh
	scripts/install-system-deps.sh browser
	touch $(BROWSER)

setup: $(READY) ## install system packages and the Python environment (.venv)

demo: $(READY) ## the main job on the sample set: generate cls + det, label cls offline, metrics, export, report
	$(PY) -m pipeline.generate --subset cls --out "$(OUT)"
	$(PY) -m pipeline.generate --subset det --out "$(OUT)"
	$(PY) -m pipeline.score --models offline --out "$(OUT)"
	$(PY) -m pipeline.metrics --metrics psnr,ssim --out "$(OUT)"
	$(PY) -m pipeline.export "$(OUT)"
	$(PY) -m pipeline.status "$(OUT)"
	$(PY) -m pipeline.report "$(OUT)"

generate: $(READY) ## make the degraded images of SUBSET=cls|det (SOURCE, OUT, LIMIT, WORKERS, SCHEDULER, ARGS)
	$(PY) -m pipeline.generate $(GENERATE_FLAGS)

score: $(READY) ## run the oracles MODELS=offline|cls|det|ins|all|NAMES on OUT and compute the labels (ARGS)
	$(PY) -m pipeline.score --models $(MODELS) --out "$(OUT)" $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(ARGS)

metrics: $(READY) ## full-reference metrics METRICS=release|paper|all|NAMES of OUT (ARGS)
	$(PY) -m pipeline.metrics --metrics $(METRICS) --out "$(OUT)" $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(ARGS)

export: $(READY) ## write the release's label CSVs under OUT
	$(PY) -m pipeline.export "$(OUT)"

status: $(READY) ## what is done, failed and left under OUT
	$(PY) -m pipeline.status "$(OUT)"

report: $(READY) ## HTML report, stats.json and dataset card of OUT (ARGS="--test-split cls=PATH --test-split det=PATH")
	$(PY) -m pipeline.report "$(OUT)" $(ARGS)

test: $(READY) $(BROWSER) ## run the fast test suite
	$(PY) -m pytest -q

test-all: $(READY) $(BROWSER) ## run every test, the slow ones too (GPU tests skip without a GPU)
	$(PY) -m pytest -q -m ""

bench: $(READY) ## run the benchmarks and print their figures
	$(PY) -m benchmarks

clean: ## remove the environment and caches (keeps outputs)
	rm -rf $(VENV) .pytest_cache *.egg-info

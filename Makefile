# One-word targets; each runs `setup` first when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TORCH_VERSION := 2.13.0
EXTRAS := train,serve,deploy,load,dev
ARTIFACT ?= artifacts/default
PORT ?= 8080

.PHONY: setup run train serve package test test-fast test-slow test-docker lint format typecheck \
        bench-train bench-serve loadtest loadtest-ci capacity clean

setup: $(STAMP)

# torch goes in first and pinned: an unpinned `torch` would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

## The quick start: train the default model on the bundled sample (once), then serve it on :8080.
run: setup
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) -m service serve --model-dir $(ARTIFACT) --port $(PORT)

train: setup
	$(PY) -m training train --output $(ARTIFACT)

serve: setup
	$(PY) -m service serve --model-dir $(ARTIFACT) --port $(PORT)

package: setup
	$(PY) -m training package $(ARTIFACT) --output $(ARTIFACT).tar.gz

## Tests: the default tiers (unit, in-process, real server, real training). No Docker needed.
test: setup
	$(PY) -m pytest -m "not docker and not gpu" --timeout 900

test-fast: setup
	$(PY) -m pytest -m "not slow and not docker and not gpu and not load"

test-docker: setup
	$(PY) -m pytest -m docker --timeout 1800 -p no:cacheprovider -s

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy service training deploy loadtests

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-train: setup
	$(PY) benchmarks/bench_train.py

bench-serve: setup
	$(PY) benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) artifacts runs reports .pytest_cache .mypy_cache .ruff_cache

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
        bench-train bench-serve bench-long bench-rerank bench-mme loadtest loadtest-mme loadtest-ci capacity clean wrk prometheus

setup: $(STAMP)

# torch goes in first and pinned: an unpinned `torch` would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q -c constraints.txt -e ./client[sagemaker]
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

## wrk, the C HTTP load generator of bench-serve and of its test in `make test`: from Debian
## packages when missing (through sudo unless root).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
wrk:
	@command -v wrk >/dev/null || ($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

## Prometheus and promtool from Debian packages when missing: tests/observability evaluates
## every PromQL expression we ship on a real Prometheus.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
		($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

## Tests: the default tiers (unit, in-process, real server, real training). No Docker needed.
test: setup wrk prometheus
	$(PY) -m pytest -m "not docker and not gpu" --timeout 900

test-fast: setup
	$(PY) -m pytest -m "not slow and not docker and not gpu and not load"

## Containers (docs/containers.md): installs Docker from Debian packages if missing; the tests
## start a daemon if none answers, build stand-in base images where none can be pulled, and
## remove what they made (daemon included) at the end. Prints each step's time.
test-docker: setup
	scripts/docker-install.sh
	$(PY) -m pytest -m docker --timeout 1800 -p no:cacheprovider -s --durations=0

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy service training deploy loadtests benchmarks scripts tests client

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-train: setup
	$(PY) benchmarks/bench_train.py

## Server vs in-process ONNX Runtime vs a naive pipeline server (BENCH_DURATION, BENCH_CONCURRENCY),
## load from wrk (installed when missing).
bench-serve: setup wrk
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) benchmarks/bench_serve.py --model-dir $(ARTIFACT)

## Long documents (300-2,000 tokens) through the server: `chunk` against `right` truncation.
bench-long: setup
	$(PY) benchmarks/bench_long_texts.py

## A query against 1,000 documents through a MiniLM-sized cross-encoder: /rerank against by hand.
bench-rerank: setup
	$(PY) benchmarks/bench_rerank.py

## Many models in one server (docs/serving.md, multi-model): loads, cold invokes, memory per model,
## 1 model against 10 under the same load, a hot model at 3x beside a cold one.
bench-mme: setup
	$(PY) benchmarks/bench_mme.py $(if $(wildcard $(ARTIFACT)/manifest.json),--model-dir $(ARTIFACT),)

clean:
	rm -rf $(VENV) artifacts runs reports .pytest_cache .mypy_cache .ruff_cache

## Load tests (docs/loadtesting.md): Locust against a server started for the run on $(ARTIFACT).
## Extra Locust/our options: LOADTEST_ARGS="--shape step -u 32 --slo-p99-ms 100"; reports in reports/.
LOADTEST_ARGS ?=
CAPACITY_ARGS ?=
# CI uses the default model when it is there, else a tiny real one built in a second without
# torch (training/tiny_onnx_artifact.py): the gate catches a broken server or contract; its
# latency limits are generous on purpose.
CI_ARTIFACT ?= $(if $(wildcard $(ARTIFACT)/manifest.json),$(ARTIFACT),artifacts/ci-tiny)

loadtest: setup
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) -m loadtests run --model-dir $(ARTIFACT) --report-dir reports/loadtest -u 8 -t 30s $(LOADTEST_ARGS)

## A multi-model server with MME_ARGS models (Zipf over them; docs/loadtesting.md).
MME_ARGS ?= --models 10 --model-zipf 1.0
loadtest-mme: setup
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) -m loadtests run --model-dir $(ARTIFACT) --report-dir reports/loadtest-mme -u 8 -t 30s $(MME_ARGS) $(LOADTEST_ARGS)

loadtest-ci: setup
	test -f $(CI_ARTIFACT)/manifest.json || $(PY) -c "from pathlib import Path; from training.tiny_onnx_artifact import build_onnx_artifact; build_onnx_artifact(Path('$(CI_ARTIFACT)'))"
	$(PY) -m loadtests run --model-dir $(CI_ARTIFACT) --report-dir reports/loadtest-ci -u 4 -r 4 -t 20s \
		--slo-p95-ms 1000 --slo-p99-ms 2000 --slo-max-fail-ratio 0 --slo-min-rps 5 $(LOADTEST_ARGS)

capacity: setup
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) -m loadtests capacity --model-dir $(ARTIFACT) --slo-p99-ms 100 --report-dir reports/capacity $(CAPACITY_ARGS)

## Containers: build, run, measure (docs/containers.md). BuildKit when buildx is installed,
## else the legacy builder; the Dockerfiles work with both.
DOCKER_BUILDKIT ?= $(shell docker buildx version >/dev/null 2>&1 && echo 1 || echo 0)
export DOCKER_BUILDKIT
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: docker-build docker-build-gpu docker-up docker-down docker-standins bench-docker \
        test-docker-gpu-image

docker-build:
	docker build -f docker/serve.Dockerfile -t headline-serve:latest .
	docker build -f docker/train.Dockerfile -t headline-serve-train:latest .

docker-build-gpu:
	docker build -f docker/serve-gpu.Dockerfile -t headline-serve:gpu .

# Optional (about 3 GB of CUDA wheels): build the GPU serving image, check its CUDA libraries
# and its fallback to CPU where no GPU is visible.
test-docker-gpu-image: setup
	scripts/docker-install.sh
	TEST_GPU_IMAGE=1 $(PY) -m pytest tests/docker/test_gpu_image.py -m docker --timeout 1800 -p no:cacheprovider -s

docker-up:
	$(COMPOSE) up -d

docker-down:
	$(COMPOSE) down

# Machines that cannot pull (CI): Docker from Debian, a daemon, stand-in base images, CPU torch.
# Stop that daemon afterwards with `scripts/dockerd.sh stop`.
docker-standins:
	scripts/docker-install.sh
	scripts/dockerd.sh start
	scripts/make-standin-images.sh
	scripts/torch-wheelhouse.sh

## Image sizes and cold start (docker run -> first 200 /ping) with the default model.
bench-docker: setup
	test -f $(ARTIFACT)/manifest.json || $(PY) -m training train --output $(ARTIFACT)
	$(PY) scripts/bench_docker.py --artifact $(ARTIFACT)

## Deploy CLI against a moto server on loopback (no AWS, no Docker); the docker push test is in test-docker.
.PHONY: test-deploy
test-deploy: setup
	$(PY) -m pytest tests/deploy -m "not docker and not gpu" -q

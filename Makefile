# The project's commands. `make test` is what CI runs (.ci/run); `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# fastText's own package is only needed by the tests (reference vectors); its wheel declares numpy>=2,
# which mxnet cannot use, but its extension runs with numpy 1.23, so it is installed without dependencies. It is
# built from fastText's main branch, which no longer zeroes the input matrix it trains: the tests and benchmarks run
# it so that no value is left unwritten (tests/support/fasttext_reference.py, benchmarks/harness.py).
FASTTEXT_WHEEL := fasttext-numpy2-wheel==0.9.2

.PHONY: help venv images images-gpu images-arm64 docker registry demo push smoke-aws test test-unit test-container test-localmode test-aws test-mutants bench \
	bench-train bench-serve bench-toolkit-image bench-word-vectors bench-gpu-path bench-localmode bench-images bench-report \
	bench-word-vector-hosts clean
# make demo DATA=your-headlines CORPUS=your-text: the demo on your own data (files or folders).
DATA ?=
CORPUS ?=
# make push PUSH_ARGS="--train-variant both --pull-policy": arguments of scripts/push.py (--help lists them).
PUSH_ARGS ?=
# make smoke-aws SMOKE_ARGS="--role ARN --yes": arguments of scripts/smoke_aws.py; without any, the plan and the
# cost estimate only (--dry-run).
SMOKE_ARGS ?= --dry-run

help:
	@echo "make demo         local mode end to end with the SageMaker SDK: word vectors -> classifier -> endpoint ->"
	@echo "                  batch transform, on data it makes itself (DATA=... CORPUS=... for your own)"
	@echo "make test         every test tier (unit, container, localmode, aws), as CI runs it"
	@echo "make test-unit    unit tests only (no Docker); test-container, test-localmode, test-aws: the other tiers"
	@echo "make test-mutants each deliberate break of tests/mutants/catalogue.py applied to a copy of the repository:"
	@echo "                  its tests must fail there (a table of mutants and the tests that killed them)"
	@echo "make lint         ruff (ruff.toml): lint and format check; mypy (mypy.ini): type check of code/headlines;"
	@echo "                  test and test-unit run them first"
	@echo "make push         push the images to ECR (scripts/push.py; PUSH_ARGS=...), URIs in build/images.json"
	@echo "make smoke-aws    the workshop end to end on your AWS account (push, both training jobs, endpoint,"
	@echo "                  batch transform, serverless), then all of it deleted: SMOKE_ARGS=\"--role ARN --yes\";"
	@echo "                  alone it prints the plan and the cost estimate (scripts/smoke_aws.py; never run by CI)"
	@echo "make images       build the CPU training image and the serving image (headlines-train:cpu, headlines-serve:cpu)"
	@echo "make images-gpu   build the GPU training image (headlines-train:gpu)"
	@echo "make images-arm64 build the Graviton serving image (headlines-serve:cpu-arm64), under qemu on x86"
	@echo "make bench        every benchmark, then docs/benchmarks.md from their records (bench-results/):"
	@echo "                  bench-train (accuracy vs fastText supervised), bench-serve (load, ours and AWS's MXNet"
	@echo "                  toolkit side by side; its image: make bench-toolkit-image), bench-word-vectors"
	@echo "                  (word vectors vs fastText), bench-gpu-path (word vectors' GPU path: host side and"
	@echo "                  device steps on CPU), bench-localmode (SDK v2: one vs two hosts), bench-images;"
	@echo "                  QUICK=1 checks the harness on generated data in a few minutes (bench-results/quick/)"
	@echo "make bench-word-vector-hosts  word vectors on two hosts against one: a text8-sized vocabulary, and"
	@echo "                  WikiText-2's rho over seeds (docs/performance.md quotes it; not on the page)"
	@echo "make venv         the test virtualenv in $(VENV)"

$(BIN)/activate: tests/requirements-dev.lock containers/requirements-build.lock code/pyproject.toml
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv python3-dev" >&2; exit 1; }
	$(BIN)/pip install -q --upgrade pip==24.3.1
	$(BIN)/pip install -q --require-hashes --no-deps -r containers/requirements-build.lock
	$(BIN)/pip install -q --require-hashes --no-deps --no-build-isolation -r tests/requirements-dev.lock
	$(BIN)/pip install -q --no-deps $(FASTTEXT_WHEEL)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e code
	touch $@

venv: $(BIN)/activate

docker:
	@scripts/ensure-docker.sh

# The aws tier's ECR stand-in (Debian's docker-registry), with the engine.
registry:
	@scripts/ensure-docker.sh --with-registry

images: docker
	scripts/build-images.sh train-cpu serve

images-gpu: docker
	scripts/build-images.sh train-gpu

# On an x86 machine its RUN steps run under qemu, which ensure-docker.sh --with-arm64 registers.
images-arm64: docker
	@scripts/ensure-docker.sh --with-arm64
	scripts/build-images.sh serve-arm64

# Sets up what it needs (Docker engine, images, the SDK's virtualenv; their output in DEMO_SETUP_LOG, its end shown
# when something fails), then runs scripts/demo.py, which logs the rest to demo-output/demo.log.
DEMO_SETUP_LOG := build/demo-setup.log
demo: docker
	@mkdir -p $(dir $(DEMO_SETUP_LOG)) && : > $(DEMO_SETUP_LOG)
	@echo "Setting up the images and the SageMaker SDK v2's virtualenv (log: $(DEMO_SETUP_LOG))"
	@{ scripts/build-images.sh train-cpu serve && \
	   if nvidia-smi -L >/dev/null 2>&1; then scripts/build-images.sh train-gpu; fi; } >> $(DEMO_SETUP_LOG) 2>&1 \
		|| { tail -n 30 $(DEMO_SETUP_LOG); exit 1; }
	@grep '^built ' $(DEMO_SETUP_LOG) | sed 's/^/    /'
	@sdk_python=$$(scripts/sdk-venv.sh v2 2>>$(DEMO_SETUP_LOG)) || { tail -n 30 $(DEMO_SETUP_LOG); exit 1; }; \
		$$sdk_python scripts/demo.py $(if $(DATA),--data "$(DATA)") $(if $(CORPUS),--corpus "$(CORPUS)")

# The images on the machine as they are: build them first (make images, make images-gpu).
push: venv docker
	$(BIN)/python scripts/push.py $(PUSH_ARGS)

# The images are built first unless the arguments need none (a dry run, a cleanup, images pushed before).
smoke-aws: venv
	@case "$(SMOKE_ARGS)" in *--dry-run*|*--cleanup*|*--images*) ;; *) $(MAKE) images;; esac
	@sdk_python=$$(scripts/sdk-venv.sh v2) && $$sdk_python scripts/smoke_aws.py --push-python $(BIN)/python $(SMOKE_ARGS)

# ruff, configured in ruff.toml, and mypy, configured in mypy.ini (every function of the package annotated), both
# pinned in tests/requirements-dev.lock. `$(BIN)/ruff check --fix .` and `$(BIN)/ruff format .` fix most of what ruff
# reports.
.PHONY: lint
lint: venv
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy code/headlines

test-unit: venv lint
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-container: venv images images-gpu images-arm64
	$(BIN)/python -m pytest -m container $(PYTEST_ARGS)

# The real SageMaker SDK (v2 and v3, each in its own virtualenv that the tests create) in local mode.
test-localmode: venv images
	$(BIN)/python -m pytest -m localmode $(PYTEST_ARGS)

# Delivery against AWS stand-ins (moto server, a local registry): push, buildspec.yml, launch.
test-aws: venv registry images
	$(BIN)/python -m pytest -m aws $(PYTEST_ARGS)

# The tests must fail on a broken product: each mutant of tests/mutants/catalogue.py on its own copy of the repository.
test-mutants: venv docker
	$(BIN)/python -m tests.mutants.run

# Every tier in one pytest run, so the summary line counts them all.
test: venv lint registry images images-gpu images-arm64
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Benchmarks (not tests): records in bench-results/, then docs/benchmarks.md and its plots written from them.
# QUICK=1: every benchmark on the generated data with small sizes, to check the harness in a few minutes (CI runs
# it); records and page go to bench-results/quick/ and docs/ is left alone.
QUICK ?=
export QUICK
bench: bench-train bench-serve bench-word-vectors bench-gpu-path bench-localmode bench-images bench-report

bench-report: venv
	$(BIN)/python -m benchmarks.report

bench-train: venv images
	$(BIN)/python -m benchmarks.train_uci

# Ours and AWS's MXNet inference toolkit side by side; the toolkit's image is benchmarks/toolkit/Dockerfile, built
# like ours (scripts/images.py's BENCHMARK_IMAGES: never pushed). Its first build takes about a minute.
bench-serve: venv images bench-toolkit-image
	$(BIN)/python -m benchmarks.serve_load

bench-toolkit-image: docker
	scripts/build-images.sh bench-toolkit

bench-word-vectors: venv images
	$(BIN)/python -m benchmarks.word_vectors_wikitext2

# The word-vector job's MXNet (GPU) path on this CPU: its host side alone on one core, and its device steps timed
# in an MXNet CPU context (not GPU timings). No image: it runs the package in the virtualenv.
bench-gpu-path: venv
	$(BIN)/python -m benchmarks.word_vectors_gpu_path

bench-localmode: venv images
	$(BIN)/python -m benchmarks.localmode_uci

# Not a section of docs/benchmarks.md: docs/performance.md quotes its record (about 10 minutes, real data only).
bench-word-vector-hosts: venv
	$(BIN)/python -m benchmarks.word_vectors_hosts

bench-images: venv images images-gpu
	$(BIN)/python -m benchmarks.image_sizes

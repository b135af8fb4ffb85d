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

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) models .pytest_cache .mypy_cache .ruff_cache

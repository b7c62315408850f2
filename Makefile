# The two commands of the README: `make run` and `make test`. Everything else they need,
# they install: a virtual environment with the pinned packages, the schema, a PostgreSQL
# server for the integration tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Set up, migrate, seed a small demo network and serve on http://$(HOST):$(PORT) (SQLite).
run: $(STAMP)
	$(BIN)/openoms db upgrade
	$(BIN)/openoms seed
	$(BIN)/openoms serve --host $(HOST) --port $(PORT)

## Set up and run the whole suite: lint, types, unit, integration on SQLite and PostgreSQL, e2e.
test: $(STAMP)
	bash scripts/ensure-postgres.sh "$(TEST_POSTGRES_URL)"
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	OPENOMS_TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)" $(BIN)/pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/python bench/capture.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

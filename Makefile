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
# The whole suite's line coverage, the e2e tests' `openoms` subprocesses included, as
# measured when the gate was set (rounded down): `make test` fails below it.
COVERAGE_MIN := 97
FUZZ_EXAMPLES ?= 20
BENCH_ARGS ?=
# The console's browser tests drive Debian's Chromium (Playwright's own browser download is
# never used: it would fetch a browser build from outside the package registries).
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install run test lint typecheck unit fuzz bench clean chromium

$(STAMP): pyproject.toml
	@echo "==> creating the virtual environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> installing the pinned packages (about a minute the first time)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Debian's Chromium for the console's browser tests, installed with apt when missing.
chromium:
	@test -x $(CHROMIUM) || { echo "==> installing chromium (apt) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## Set up, migrate, seed a small demo network and serve on http://$(HOST):$(PORT) (SQLite).
run: $(STAMP)
	@echo "==> migrating the database ($${OPENOMS_DATABASE_URL:-sqlite:///var/openoms.db})"
	@$(BIN)/openoms db upgrade
	@echo "==> seeding the demo network and its demo orders (safe to repeat)"
	@$(BIN)/openoms seed
	@echo "==> the console's demo admin (a fresh password on every run)"
	@$(BIN)/openoms users demo-admin --url http://$(HOST):$(PORT)/console/
	@echo "==> serving on http://$(HOST):$(PORT) (console at http://$(HOST):$(PORT)/console/, API docs at http://$(HOST):$(PORT)/docs; Ctrl-C stops)"
	@$(BIN)/openoms serve --host $(HOST) --port $(PORT)

## Set up and run the whole suite: lint, import contracts, types, unit, integration on SQLite and PostgreSQL,
## e2e; derandomized property tests; line coverage (subprocesses included) gated.
test: $(STAMP) chromium
	bash scripts/ensure-postgres.sh "$(TEST_POSTGRES_URL)"
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	rm -rf var/coverage
	OPENOMS_TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)" HYPOTHESIS_PROFILE=ci \
		$(BIN)/coverage run -m pytest -n 2 -p no:cacheprovider --durations=15 $(PYTEST_ARGS)
	@$(BIN)/coverage combine --quiet
	@echo "line coverage of src/openoms, e2e subprocesses included (at least $(COVERAGE_MIN) %):"
	@$(BIN)/coverage report --format=total --fail-under=$(COVERAGE_MIN)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## The unit tests alone: no database, so no PostgreSQL either (an explicit opt-out).
unit: $(STAMP)
	OPENOMS_TEST_SQLITE_ONLY=1 $(BIN)/pytest tests/unit

## Schemathesis over every API operation, with an admin key and a storefront key bound to
## one channel, against `openoms serve` on a scratch PostgreSQL database with the demo
## network (not part of `make test`; see docs/api.md).
fuzz: $(STAMP)
	bash scripts/ensure-postgres.sh "$(TEST_POSTGRES_URL)"
	$(BIN)/python scripts/fuzz.py --postgres-url "$(TEST_POSTGRES_URL)" --examples $(FUZZ_EXAMPLES)

## The DESIGN §11 benchmarks, one after the other, then their table (figure, target, measured,
## ratio, verified): bench/all.py. BENCH_ARGS="--quick" for a smoke run, "--only scale" for one.
bench: $(STAMP)
	$(BIN)/python bench/all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache schemathesis-report

# jifen — `make run` serves the demo village, `make test` checks everything. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.9.30
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install browser run test lint format typecheck pytest migrate openapi openapi-check bench screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed ## create .venv and install the locked dependencies

CHROMIUM := /usr/bin/chromium
browser: ## Debian's chromium and a Chinese font for the browser tests (installed with apt when missing)
	@if [ ! -x $(CHROMIUM) ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		echo "installing chromium and fonts-wqy-microhei with apt-get (needs root)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

run: install ## migrate, load the demo village into an empty database, serve on http://127.0.0.1:8000
	$(BIN)/jifen serve --host $(HOST) --port $(PORT) --upgrade-db --load-demo

test: install browser ## everything CI checks: ruff, mypy, the OpenAPI spec, pytest (with browser journeys)
	@# the checks run beside the tests: pytest waits on PostgreSQL and the browser much of the time, so the
	@# CPU mypy and ruff need is there; each one's output is printed whole when it ends
	$(MAKE) --no-print-directory --output-sync=target -j4 lint typecheck openapi-check pytest

lint: install ## ruff, and the import contracts (import-linter)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests bench migrations

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench migrations
	$(BIN)/ruff format src tests bench migrations

typecheck: install ## mypy (strict)
	$(BIN)/mypy

# two pytest-xdist workers; a test file stays on one worker (its tests share the module's world); the files in
# the order tests/conftest.py puts them, the longest first (SLOW_FIRST)
TEST_WORKERS ?= 2
pytest: install browser ## the test suite against real PostgreSQL (embedded unless JIFEN_TEST_DATABASE_URL is set), TEST_WORKERS processes
	@# one bytecode cache for pytest and every server and command it starts (tests/live.py bytecode_env): only
	@# the first process compiles jifen and its dependencies, even where PYTHONDONTWRITEBYTECODE is set
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/var/pycache $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

migrate: install ## migrate the configured (or embedded) database to the newest revision
	$(BIN)/jifen db upgrade

openapi: install ## regenerate openapi/openapi.json
	$(BIN)/python -m jifen.openapi

openapi-check: install ## fail when openapi/openapi.json is stale
	$(BIN)/python -m jifen.openapi --check

bench: install ## benchmarks with ratios against a raw-SQL baseline (see docs/benchmarks.md)
	$(BIN)/python -m bench

screenshots: install browser ## the README's walkthrough pictures: the setup journey, into docs/screenshots/
	JIFEN_SCREENSHOTS=$(abspath docs/screenshots) $(BIN)/pytest tests/web/test_setup_journey.py -q -p no:cacheprovider
	rm -f docs/screenshots/village_goes_live/server-timing.txt

clean: ## remove the virtual environments (keeps var/, the demo data)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache

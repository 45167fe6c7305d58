# tinhso: `make demo` serves the platform with Nghệ An's demo data; `make test` runs the whole test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
VENDOR := src/tinhso/web/static/vendor
PORT ?= 8000

.PHONY: install assets system-deps services demo serve test test-sqlite lint format bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) assets

# Front-end libraries come from the npm registry at install time; they are not kept in the repository.
$(VENDOR)/.stamp: package.json package-lock.json scripts/vendor-assets.sh
	bash scripts/vendor-assets.sh
	touch $@

assets: $(VENDOR)/.stamp

# Debian packages the tests need (Chromium for the browser tests).
system-deps:
	bash scripts/system-deps.sh

# PostgreSQL, NATS JetStream and Mosquitto for the tests, started if they are down.
services:
	bash scripts/services.sh

demo: install
	$(BIN)/tinhso demo --port $(PORT)

serve: install
	$(BIN)/tinhso serve --port $(PORT)

test: install system-deps services
	$(BIN)/pytest

test-sqlite: install
	TINHSO_TEST_BACKENDS=sqlite $(BIN)/pytest -m "not browser and not nats and not mqtt"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install services
	for b in bench/*.py; do $(BIN)/python $$b --small || exit 1; done

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache .mypy_cache .ruff_cache

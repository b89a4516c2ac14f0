# casework: two commands for a fresh clone.
#   make run   - install, migrate the SQLite database, seed demo data, serve on :5000
#   make test  - install the test dependencies and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
DEMO_PEOPLE ?= 300
DEMO_SEED   ?= 1

.PHONY: run test lint install install-test assets bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "casework needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

install: $(VENV)/.installed assets
install-test: $(VENV)/.installed-test assets
assets: node_modules/.package-lock.json

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --people $(DEMO_PEOPLE) --seed $(DEMO_SEED)
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install-test
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

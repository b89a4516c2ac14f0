# casework: two commands for a fresh clone.
#   make run   - install, migrate the SQLite database, seed demo data, serve on :5000
#   make test  - install the test dependencies and run the whole suite
#   make bench - benchmarks at national scale (BENCH_PEOPLE, BENCH_DATABASE_URL)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
DEMO_PEOPLE ?= 300
DEMO_SEED   ?= 1
BENCH_PEOPLE  ?= 100000
BENCH_SECONDS ?= 20

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

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $@

install: $(VENV)/.installed assets
install-test: $(VENV)/.installed-test assets
assets: node_modules/.package-lock.json

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --people $(DEMO_PEOPLE) --seed $(DEMO_SEED)
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install-test
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Seeds bench/data/casework-$(BENCH_PEOPLE).db (or BENCH_DATABASE_URL) if it is
# not there yet, runs every benchmark and adds the figures to bench/results.md.
bench: $(VENV)/.installed-bench assets
	@command -v wrk >/dev/null || apt-get install -y wrk || sudo apt-get install -y wrk
	$(BIN)/python bench/run.py --people $(BENCH_PEOPLE) --seconds $(BENCH_SECONDS)

lint: install-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

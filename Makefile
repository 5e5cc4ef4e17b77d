# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .pentascore-demo
DEMO_USERS ?= 20000

.PHONY: demo test lint typecheck install clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

demo: $(STAMP)
	@echo "== 1/3 simulate $(DEMO_USERS) users x 24 months into $(DEMO_DIR)/sim"
	rm -rf $(DEMO_DIR)
	$(BIN)/pentascore simulate --users $(DEMO_USERS) --months 24 --seed 7 --out $(DEMO_DIR)/sim
	@echo "== 2/3 ingest the simulated events into the lake at $(DEMO_DIR)/home"
	$(BIN)/pentascore --home $(DEMO_DIR)/home ingest $(DEMO_DIR)/sim/events
	@echo "== 3/3 what the lake now holds"
	$(BIN)/pentascore --home $(DEMO_DIR)/home lake stats

bench: $(STAMP)
	$(BIN)/python -m bench.simulate
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

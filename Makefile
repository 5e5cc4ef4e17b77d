# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .pentascore-demo
DEMO_USERS ?= 20000
# The simulator's as-of date: its ground truth is the 12 months after it.
DEMO_AS_OF ?= 2025-10-01
DEMO_PORT ?= 8000

.PHONY: demo test lint typecheck install clean bench browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (and a CJK font for the Chinese pages).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium fonts-wqy-zenhei; \
		else sudo apt-get install -y -q chromium fonts-wqy-zenhei; fi; }

# Two workers, one per core: most tests are single-threaded Python. The Spark tests share one
# worker (and so one JVM), and each worker builds its own session fixtures and databases.
test: lint typecheck browser
	$(BIN)/pytest -q -n 2 --dist loadgroup

demo: $(STAMP)
	@echo "== 1/6 simulate $(DEMO_USERS) users x 24 months into $(DEMO_DIR)/sim"
	rm -rf $(DEMO_DIR)
	$(BIN)/pentascore simulate --users $(DEMO_USERS) --months 24 --seed 7 --out $(DEMO_DIR)/sim
	@echo "== 2/6 ingest the simulated events into the lake at $(DEMO_DIR)/home"
	$(BIN)/pentascore --home $(DEMO_DIR)/home ingest $(DEMO_DIR)/sim/events
	@echo "== 3/6 what the lake now holds"
	$(BIN)/pentascore --home $(DEMO_DIR)/home lake stats
	@echo "== 4/6 train a scorecard on the features and outcomes as of $(DEMO_AS_OF), make it the champion"
	$(BIN)/pentascore --home $(DEMO_DIR)/home train --as-of $(DEMO_AS_OF) --repeats 1 --promote
	@echo "== 5/6 the monthly run as of $(DEMO_AS_OF): features, scores, publish"
	$(BIN)/pentascore --home $(DEMO_DIR)/home run-month --as-of $(DEMO_AS_OF)
	@echo "== 6/6 serve the scores: a partner, a person, and the URL to try (Ctrl-C stops)"
	@$(BIN)/pentascore --home $(DEMO_DIR)/home partners add "Demo Hotel" --json > $(DEMO_DIR)/partner.json
	@$(BIN)/python -c "import pyarrow.parquet as pq; print(pq.read_table('$(DEMO_DIR)/sim/truth/users.parquet').column('user_id')[0])" > $(DEMO_DIR)/user.txt
	@$(BIN)/pentascore --home $(DEMO_DIR)/home consumers token $$(cat $(DEMO_DIR)/user.txt) --json > $(DEMO_DIR)/consumer.json
	@$(BIN)/python scripts/demo_logins.py $(DEMO_DIR) http://127.0.0.1:$(DEMO_PORT)
	PENTASCORE_DEV=true PENTASCORE_OPERATOR_TOKEN=dev-operator-token \
		$(BIN)/pentascore --home $(DEMO_DIR)/home serve --port $(DEMO_PORT)

# scorecardpy 0.1.9.7 does not run on pandas 3, so bench/models.py runs it in a side
# environment with pandas 2 (bench/peers.py).
SIDE := bench/.out/scorecardpy-venv
$(SIDE)/bin/python:
	$(PYTHON) -m venv $(SIDE)
	$(SIDE)/bin/python -m pip install --quiet scorecardpy==0.1.9.7 pandas==2.2.3 numpy==2.4.6 \
		scikit-learn==1.9.1 scipy==1.17.1

bench: $(STAMP) $(SIDE)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,peers]'
	$(BIN)/python -m bench.simulate
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.models

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

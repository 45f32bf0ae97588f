# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := server
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test init demo lint lint-js bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The JavaScript linter (package.json: development only; the app itself has no build step).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

init: install
	$(BIN)/flask init

demo: init
	$(BIN)/flask demo

## Serve the app on SQLite with demo data at http://$(HOST):$(PORT), with the push worker
## beside it (VAPID keys made once into instance/ unless set in the environment)
run: demo
	@$(BIN)/flask vapid-keys --instance
	@echo "Jangkau: http://$(HOST):$(PORT)"
	@$(BIN)/flask push-worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; exit 130' INT TERM; \
	trap 'kill $$worker 2>/dev/null' EXIT; \
	$(BIN)/flask run --host $(HOST) --port $(PORT)

## The linters, then the whole test suite (SQLite, and PostgreSQL when a server answers),
## then a search of every log line the suite wrote: no NIK, no phone number.
## The database tests on PostgreSQL run in a second process beside the rest (two cores:
## half the wait); its output is shown after, and either failing fails the target.
TEST_LOG ?= instance/test-suite.log
test: install-test lint-js
	@mkdir -p $(dir $(TEST_LOG))
	@JANGKAU_TEST_LOG=$(TEST_LOG).postgresql $(BIN)/pytest -k postgresql \
		> $(TEST_LOG).postgresql.out 2>&1 & postgresql=$$!; \
	JANGKAU_TEST_LOG=$(TEST_LOG) $(BIN)/pytest -k "not postgresql"; rest=$$?; \
	wait $$postgresql; on_postgresql=$$?; \
	echo "== the database tests on PostgreSQL"; cat $(TEST_LOG).postgresql.out; \
	test $$rest -eq 0 && test $$on_postgresql -eq 0
	$(BIN)/python tools/check_logs.py --expect-requests $(TEST_LOG)
	$(BIN)/python tools/check_logs.py $(TEST_LOG).postgresql

lint-js: node_modules/.installed
	node_modules/.bin/eslint .

lint: install-test lint-js
	$(BIN)/ruff check .

## Benchmarks that print figures (sync through gunicorn; the app's download budget)
bench: install-test
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/push_profile.py --postgres
	$(BIN)/python bench/pull_scale.py --sizes 10000,100000
	$(BIN)/python bench/province.py
	$(BIN)/python bench/pwa_budget.py

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis node_modules

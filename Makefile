# AIS — the two commands that matter: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two locks generated from pyproject.toml (`make lock`): requirements.lock holds what the app needs
# to run (`make run`, the image); requirements-dev.lock adds the test and lint tools (`make test`,
# `make lint`, CI). Each install is redone only when its lock or the package metadata change.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar on
PYTEST := $(BIN)/pytest -q -p no:cacheprovider
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x tests/test_smoke.py"`.
PYTEST_ARGS ?=
ARGS ?=
BENCH_ARGS ?=

# Targets run one after another; `make test` itself runs its two passes side by side
# (scripts/test_passes.sh), which is safe because they share no database, Redis database or port.
.NOTPARALLEL:
.PHONY: venv venv-dev lock run test test-sqlite test-postgres test-faults lint check bench bench-perf loadtest loadtest-smoke migration clean distclean

venv: $(RUNTIME_STAMP)
venv-dev: $(DEV_STAMP)

$(VENV)/bin/python:
	@echo "==> creating the virtualenv $(VENV) ($(PYTHON) -m venv)"
	@$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.lock pyproject.toml | $(VENV)/bin/python
	@echo "==> installing the runtime dependencies into $(VENV): $$(grep -c '==' requirements.lock) pinned packages from requirements.lock (about a minute the first time)"
	$(PIP) -r requirements.lock
	@echo "==> installing AIS itself (editable)"
	$(PIP) --quiet --no-deps -e .
	@touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(VENV)/bin/python
	@echo "==> installing the runtime and development dependencies into $(VENV): $$(grep -c '==' requirements-dev.lock) pinned packages from requirements-dev.lock (a few minutes the first time)"
	$(PIP) -r requirements-dev.lock
	@echo "==> installing AIS itself (editable)"
	$(PIP) --quiet --no-deps -e .
	@touch $@ $(RUNTIME_STAMP)

# Regenerate both locks from pyproject.toml (after changing a dependency there).
lock:
	bash scripts/lock_requirements.sh

# `make run ARGS="--port 9000"` passes options to `ais serve`.
run: venv
	$(BIN)/ais serve $(ARGS)

# The whole suite twice, side by side: on SQLite (embedded mode) and on PostgreSQL with Redis,
# each line prefixed with its pass; then the fault tests alone. The PostgreSQL pass creates and
# drops its own `ais_test_*` databases through AIS_TEST_PG_ADMIN_DSN (default
# postgresql://root@127.0.0.1:5432/test).
test: venv-dev
	@MAKE="$(MAKE)" bash scripts/test_passes.sh

test-sqlite: venv-dev
	AIS_TEST_DB=sqlite $(PYTEST) -m "not faults" $(PYTEST_ARGS)

test-postgres: venv-dev
	AIS_TEST_DB=postgres AIS_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PYTEST) -m "not faults" $(PYTEST_ARGS)

# The fault tests (marked `faults`): private PostgreSQL clusters (PostgreSQL 15 server binaries,
# AIS_TEST_PG_BIN), redis-servers and `ais serve` processes that the tests stop, freeze and kill.
test-faults: venv-dev
	AIS_TEST_DB=postgres AIS_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PYTEST) -m faults $(PYTEST_ARGS)

lint: venv-dev
	$(BIN)/ruff check src tests bench loadtest
	$(BIN)/mypy src

check: lint test

# The performance issue's measurements in one run and one summary table (bench/README.md):
# `make bench-perf BENCH_ARGS="--quick"` for a ~2-minute smoke run.
bench-perf: venv-dev
	$(BIN)/python bench/perf.py $(BENCH_ARGS)

# Every bench/*.py that is a script (has a `__main__` guard); the others are shared modules.
bench: venv-dev
	@set -e; found=0; for script in bench/*.py; do \
		grep -q "__name__ == .__main__." "$$script" 2>/dev/null || continue; found=1; \
		echo "== $$script"; $(BIN)/python "$$script" $(BENCH_ARGS); \
	done; [ $$found = 1 ] || echo "no benchmark scripts in bench/"

# The seeds' load scenario against the production topology on this machine (loadtest/run.py):
# scratch PostgreSQL databases, a redis-server, `ais sandbox`, `ais serve --no-worker --workers 2`
# and `ais worker`, then locust; p50/p95/p99 per endpoint, error rate, invariants. Not part of
# `make test`. `make loadtest ARGS="--users 100 --run-time 60s"`; `make loadtest-smoke` is the
# short run CI does (tests/loadtest runs it too).
loadtest: venv-dev
	$(BIN)/python loadtest/run.py $(ARGS)

loadtest-smoke: venv-dev
	$(BIN)/python loadtest/run.py --users 10 --run-time 30s --sandbox-burst 2 $(ARGS)

# Pre-release only: rebuild the single initial migration from the models.
migration: venv-dev
	bash scripts/regenerate_initial_migration.sh

# Build and tool caches. Leaves .venv and the embedded database in var/ alone.
clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist

# Everything `make` created, the virtualenv included (still not var/: that is your data).
distclean: clean
	rm -rf $(VENV) src/*.egg-info

# The Postman collection of the API, generated from its OpenAPI document; a test fails when the
# committed file is stale.
.PHONY: postman
postman: venv
	$(BIN)/python scripts/postman_collection.py --output docs/postman/ais.postman_collection.json

# AIS — the two commands that matter: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt only when the pinned dependencies or the package metadata change.
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest -q -p no:cacheprovider
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x tests/test_smoke.py"`.
PYTEST_ARGS ?=
ARGS ?=
BENCH_ARGS ?=

# The two test passes share PostgreSQL and Redis; never run them side by side under `make -j`.
.NOTPARALLEL:
.PHONY: venv run test test-sqlite test-postgres lint check bench migration clean distclean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps -e .
	@touch $@

# `make run ARGS="--port 9000"` passes options to `ais serve`.
run: venv
	$(BIN)/ais serve $(ARGS)

# The whole suite twice: on SQLite (embedded mode), then on PostgreSQL with Redis.
# The PostgreSQL pass creates and drops its own `ais_test_*` databases through
# AIS_TEST_PG_ADMIN_DSN (default postgresql://root@127.0.0.1:5432/test).
test: test-sqlite test-postgres

test-sqlite: venv
	AIS_TEST_DB=sqlite $(PYTEST) $(PYTEST_ARGS)

test-postgres: venv
	AIS_TEST_DB=postgres AIS_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PYTEST) $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

check: lint test

# Every bench/*.py that is a script (has a `__main__` guard); the others are shared modules.
bench: venv
	@set -e; found=0; for script in bench/*.py; do \
		grep -q "__name__ == .__main__." "$$script" 2>/dev/null || continue; found=1; \
		echo "== $$script"; $(BIN)/python "$$script" $(BENCH_ARGS); \
	done; [ $$found = 1 ] || echo "no benchmark scripts in bench/"

# Pre-release only: rebuild the single initial migration from the models.
migration: venv
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

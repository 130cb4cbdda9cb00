#!/usr/bin/env bash
# Pre-release only: rebuild the single initial Alembic revision from the models.
#
# Deletes migrations/versions/*_initial_schema.py, autogenerates "initial schema" against a
# scratch PostgreSQL database (created and dropped here), then formats the new file.
# The new revision has a new id, so databases built from the old one must be recreated
# (`ais serve` says so). Once AIS is released, write ordinary incremental migrations instead:
#   .venv/bin/alembic revision --autogenerate -m "what changed"
#
# Needs PostgreSQL; AIS_TEST_PG_ADMIN_DSN (default postgresql://root@127.0.0.1:5432/test)
# names a database to connect to for CREATE/DROP DATABASE.
set -euo pipefail

cd "$(dirname "$0")/.."
ADMIN_DSN="${AIS_TEST_PG_ADMIN_DSN:-postgresql://root@127.0.0.1:5432/test}"
VERSIONS=migrations/versions
BIN=.venv/bin

[[ -x "$BIN/alembic" ]] || { echo "error: $BIN/alembic missing; run 'make venv' first" >&2; exit 1; }

shopt -s nullglob
existing=("$VERSIONS"/*.py)
shopt -u nullglob
if (( ${#existing[@]} > 1 )); then
    echo "error: ${#existing[@]} revisions in $VERSIONS; this script only replaces a lone initial revision." >&2
    printf '  %s\n' "${existing[@]}" >&2
    exit 1
fi

scratch="ais_migration_$$_$(date +%s)"
psql_admin() { psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 "$ADMIN_DSN" "$@"; }

backup_dir="$(mktemp -d)"
cleanup() {
    status=$?
    psql_admin -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" >/dev/null 2>&1 || true
    if (( status != 0 )) && (( ${#existing[@]} == 1 )) && [[ ! -e "${existing[0]}" ]]; then
        # Autogenerate failed: put the previous revision back rather than leave none.
        rm -f "$VERSIONS"/*.py
        cp "$backup_dir"/*.py "$VERSIONS"/
        echo "regeneration failed; restored ${existing[0]}" >&2
    fi
    rm -rf "$backup_dir"
}
trap cleanup EXIT

psql_admin -c "CREATE DATABASE \"$scratch\""
if (( ${#existing[@]} == 1 )); then
    cp "${existing[0]}" "$backup_dir"/
    rm "${existing[0]}"
fi

# env.py reads DATABASE_URL through the AIS settings (the environment wins over a local .env).
DATABASE_URL="${ADMIN_DSN%/*}/$scratch" "$BIN/alembic" revision --autogenerate -m "initial schema"

shopt -s nullglob
created=("$VERSIONS"/*.py)
shopt -u nullglob
if (( ${#created[@]} != 1 )); then
    echo "error: expected one new revision, found ${#created[@]}" >&2
    exit 1
fi
"$BIN/ruff" format --quiet "${created[0]}"
echo "wrote ${created[0]}"

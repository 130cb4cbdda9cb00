#!/usr/bin/env bash
# `make test`: the SQLite and PostgreSQL passes side by side, then the fault tests alone.
#
# Each pass spends most of its time waiting (on servers it started, on PostgreSQL, on sleeps in
# fault-tolerance tests), so on two cores both together take about as long as the longer one.
# They share nothing that collides: every PostgreSQL database a test makes has a random name, the
# SQLite pass has no Redis (the PostgreSQL pass uses TEST_REDIS_URL), servers listen on free
# ports. Every line is prefixed with its pass; the exit status is non-zero if any pass failed,
# and the fault tests run even when a pass failed, so one CI log shows everything.
# The fault tests stop, freeze and kill processes and time their recovery: they run alone.
set -uo pipefail

make_cmd=${MAKE:-make}
status_dir=$(mktemp -d)
trap 'rm -rf "$status_dir"' EXIT

run_pass() {  # run_pass <name> <make target>: the pass's output prefixed, its status in a file
    local name=$1 target=$2
    { PYTHONUNBUFFERED=1 "$make_cmd" --no-print-directory "$target" 2>&1; echo $? >"$status_dir/$name"; } \
        | sed -u "s/^/[$name] /"
}

started=$SECONDS
run_pass sqlite test-sqlite &
run_pass postgres test-postgres &
wait
failed=0
for name in sqlite postgres; do
    code=$(cat "$status_dir/$name" 2>/dev/null || echo 1)
    printf '==> %s pass: %s\n' "$name" "$([[ $code == 0 ]] && echo passed || echo "FAILED (exit $code)")"
    [[ $code == 0 ]] || failed=1
done
printf '==> both passes took %ds; now the fault tests\n' "$((SECONDS - started))"
"$make_cmd" --no-print-directory test-faults || failed=1
exit "$failed"

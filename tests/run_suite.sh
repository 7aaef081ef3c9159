#!/usr/bin/env bash
# `make test`'s pytest step: two sessions at once. Most of the suite's wall time
# is spent waiting on brokers and service processes, not on the CPU, so the
# tests that start brokers of their own run beside the rest. Each session has
# its own broker ports (the second one's base is the first's + 100), its own
# half of the ports free_port hands out (CLAIMSCRUB_TEST_PORTS) and its own
# temporary directory, because pytest clears other sessions' numbered temp dirs.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
RUN=${RUN:-.run}
BASE=${CLAIMSCRUB_TEST_KAFKA_PORT:-19092}
OWN_BROKERS=(
  tests/integration/test_failover.py
  tests/integration/test_faults.py
  tests/integration/test_key_rotation.py
  tests/integration/test_bench_skeleton.py
)
mkdir -p "$RUN"
log="$RUN/test-own-brokers.log"

CLAIMSCRUB_TEST_KAFKA_PORT=$((BASE + 100)) CLAIMSCRUB_TEST_PORTS=26400-32767 "$PY" -m pytest -q -p no:cacheprovider \
  --durations=5 --basetemp="$RUN/pytest-own-brokers" "${OWN_BROKERS[@]}" >"$log" 2>&1 &
own=$!
trap 'kill "$own" 2>/dev/null' INT TERM

ignore=()
for t in "${OWN_BROKERS[@]}"; do ignore+=("--ignore=$t"); done
CLAIMSCRUB_TEST_KAFKA_PORT=$BASE CLAIMSCRUB_TEST_PORTS=20000-26399 "$PY" -m pytest -q --durations=10 \
  --basetemp="$RUN/pytest-shared" "${ignore[@]}" "$@"
shared=$?

wait "$own"
own_status=$?
echo "---- tests with brokers of their own (${OWN_BROKERS[*]##*/}) ----"
cat "$log"
echo "---- shared broker: exit $shared; own brokers: exit $own_status ----"
[ "$shared" -eq 0 ] && [ "$own_status" -eq 0 ]

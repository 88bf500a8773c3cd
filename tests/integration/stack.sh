#!/usr/bin/env bash
# The compose topologies as local processes (scripts/stack.sh): for each
# pattern, `up` starts the broker and the pipeline with the compose file's
# environment, the sink fills, `down` stops generators first and lets the
# rest drain, and `streamctl verify` finds every source without gaps.
# Needs the kafka, amqp and mqtt transports, the HTTP source and
# scripts/brokers.sh. The brokers it starts are left running (like the other
# suites; scripts/run-integration.sh stops what it started).
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATTERNS=${STACK_PATTERNS:-kafka amqp mqtt}
# Ports away from a stack a developer may be running (8080, 19100...).
export STACK_HTTP_PORT=${STACK_TEST_HTTP_PORT:-18080}
export STACK_METRICS_BASE=${STACK_TEST_METRICS_BASE:-19150}
export STACK_STOP_TIMEOUT=20 STACK_QUIET=3 STACK_DRAIN_TIMEOUT=45
RUN_SECONDS=${STACK_TEST_SECONDS:-8}

rows() { sql "$1" "SELECT COUNT(*) FROM $2" 2>/dev/null || echo 0; }
filled() { [ "$(rows "$1" cpu_stats)" -ge 3 ] && [ "$(rows "$1" sensor_features)" -ge 1 ]; }

for p in $PATTERNS; do
	dir=$WORK/stack-$p
	export STACK_DIR=$dir
	db=$dir/volumes/sink-data/streamctl.db
	if ! "$ROOT/scripts/stack.sh" "$p" up >"$WORK/up-$p.out" 2>&1; then
		not_ok "$p: stack.sh up starts the compose topology" "$(cat "$WORK/up-$p.out")"
		"$ROOT/scripts/stack.sh" "$p" down >/dev/null 2>&1
		continue
	fi
	ok "$p: stack.sh up starts the compose topology"
	check "$p: status shows every process running" "$ROOT/scripts/stack.sh" "$p" status
	n=$(wc -l <"$dir/run/instances")
	check_eq "$p: one process per compose service" "$("${PYTHON:-python3}" "$ROOT/scripts/compose-env.py" \
		"$ROOT/compose/$p.yml" list | wc -l)" "$n"
	code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$STACK_HTTP_PORT/" 2>/dev/null) || true
	check "$p: the HTTP ingest answers on 127.0.0.1:$STACK_HTTP_PORT (HTTP $code)" test "${code:-000}" != 000
	if wait_for 60 filled "$db"; then
		ok "$p: the sink fills (cpu_stats $(rows "$db" cpu_stats), sensor_features $(rows "$db" sensor_features))"
	else
		not_ok "$p: the sink fills within 60 s" "$(tail -n 5 "$dir"/log/*.log)"
	fi
	sleep "$RUN_SECONDS"
	"$ROOT/scripts/stack.sh" "$p" down >"$WORK/down-$p.out" 2>&1
	check_eq "$p: stack.sh down exits 0" 0 "$?"
	check_grep "$p: down stops the generators, drains, then the processors, then the sink" \
		"stopped gen-.*drained.*stopped process.*stopped sink" <(tr '\n' ' ' <"$WORK/down-$p.out")
	check "$p: no process was killed (each drained on SIGTERM)" sh -c "! grep -q SIGKILL '$WORK/down-$p.out'"
	check_exit 1 "$p: nothing runs after down" "$ROOT/scripts/stack.sh" "$p" status
	check "$p: verify finds every source clean" "$SC" verify --db="$db"
	check_grep "$p: verify reports the cpu and the sensor source" "cpu-.*|sensor-" "$WORK/last.out"
	grep -h -E 'error|fatal' "$dir"/log/*.log 2>/dev/null | head -n 5
done

finish

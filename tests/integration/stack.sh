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
SAMPLE=$ROOT/tests/data/sensorlogger-push.json
DEVICE=$(sed -n 's/.*"deviceId": *"\([^"]*\)".*/\1/p' "$SAMPLE" | head -n 1)
# A python3 with the yaml module (python3-yaml): $PYTHON, python3 or Debian's.
if [ -z "${PYTHON:-}" ]; then
	for PYTHON in python3 /usr/bin/python3; do
		"$PYTHON" -c 'import yaml' 2>/dev/null && break
	done
fi
PY=$PYTHON
export PYTHON

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
	check_eq "$p: one process per compose service" "$("$PY" "$ROOT/scripts/compose-env.py" \
		"$ROOT/compose/$p.yml" list | wc -l)" "$n"
	# The phone app's two ways in: an HTTP push to the ingest, and (mqtt) a
	# publish of its bare JSON on its own topic for the app's processor.
	code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "@$SAMPLE" "http://127.0.0.1:$STACK_HTTP_PORT/" 2>/dev/null) || true
	check_eq "$p: the HTTP ingest on 127.0.0.1:$STACK_HTTP_PORT accepts a Sensor Logger push" 200 "$code"
	app_rows=1
	if [ "$p" = mqtt ]; then
		eval "$("$ROOT/scripts/brokers.sh" env | grep '^MQTT_PORT=')"
		check "mqtt: the app's own MQTT publish on sensor-logger is accepted" \
			mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -V mqttv5 -t sensor-logger -f "$SAMPLE"
		app_rows=2
	fi
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
	check_eq "$p: the phone's pushes became $app_rows feature row(s) of its device" "$app_rows" \
		"$(sql "$db" "SELECT COUNT(*) FROM sensor_features WHERE source = '$DEVICE'")"
done

finish

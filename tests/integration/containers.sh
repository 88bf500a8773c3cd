#!/usr/bin/env bash
# Containers for real: start a Docker engine if none answers, build every
# image without the public registry, and run each compose stack end to end
# (scripts/docker-stack.sh, what `make stack` runs): records flow, the Kafka
# cluster loses a broker mid-stream and gets it back, RabbitMQ runs three
# competing processors, a Sensor Logger push over HTTP is stored, and
# `streamctl verify` on the sink's volume is clean: every source from seq 0,
# no gap, no duplicate.
#
# Host ports are the suite's own (CONTAINERS_*_PORT), not the local brokers'
# (scripts/brokers.sh: 9092/9093, 5672, 1883, 9001, 19092-19094), so this
# runs beside them; the compose projects are streamctl-test-<pattern>, not a
# user's `make stack`. CONTAINERS_STACKS limits the stacks (default all).
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export STACK_HTTP_PORT=${CONTAINERS_HTTP_PORT:-38080}
export STACK_KAFKA_UI_PORT=${CONTAINERS_KAFKA_UI_PORT:-39000}
export STACK_AMQP_UI_PORT=${CONTAINERS_AMQP_UI_PORT:-35673}
export STACK_MQTT_PORT=${CONTAINERS_MQTT_PORT:-31884}
export STACK_MQTT_WS_PORT=${CONTAINERS_MQTT_WS_PORT:-39002}
STACKS=${CONTAINERS_STACKS:-kafka amqp mqtt}
if [ -z "${PYTHON:-}" ]; then
	for PYTHON in python3 /usr/bin/python3; do
		"$PYTHON" -c 'import yaml' 2>/dev/null && break
	done
fi
export PYTHON
CURRENT=''
# An aborted run leaves no stack behind.
trap '[ -n "$CURRENT" ] && STACK_PROJECT=streamctl-test-$CURRENT scripts/docker-stack.sh "$CURRENT" down -v >/dev/null 2>&1; rm -rf "$WORK"' EXIT
t_all=$SECONDS

check "a Docker engine answers (scripts/docker-engine.sh start)" scripts/docker-engine.sh start
if ! docker info >/dev/null 2>&1; then
	not_ok "no Docker engine: the container tests cannot run" "$(scripts/docker-engine.sh status 2>&1)"
	finish
	exit
fi

t0=$SECONDS
check "every image builds without the public registry (scripts/docker-images.sh all)" scripts/docker-images.sh all
cat "$WORK/last.out" | sed 's/^/        /'
t_images=$((SECONDS - t0))
check "streamctl:latest runs: generate --count=3" sh -c \
	'test "$(docker run --rm streamctl:latest generate --source=cpu --count=3 --codec=json 2>/dev/null | grep -c "\"seq\"")" -ge 1'

# rows PATTERN: the sink's row count as verify reports it (0 if none yet).
rows() {
	local n
	n=$(scripts/docker-stack.sh "$1" verify 2>/dev/null | sed -n 's/^verify: .*(\([0-9]*\) rows.*/\1/p')
	echo "${n:-0}"
}
# more_rows PATTERN N: more than N rows stored.
more_rows() { [ "$(rows "$1")" -gt "$2" ]; }

push_phone() {
	curl -s -o /dev/null -w '%{http_code}' -m 10 -X POST -H 'Content-Type: application/json' \
		--data '{"messageId":0,"sessionId":"s-test","deviceId":"phone-'"$1"'","payload":[{"name":"accelerometer","time":1700000000000000000,"values":{"x":0.1,"y":0.2,"z":9.8}}]}' \
		"http://127.0.0.1:$STACK_HTTP_PORT/"
}

# verify_clean PATTERN: verify exits 0, says clean, and every source's
# rows start at seq 0 with no gap and no duplicate; cpu, sensor and the
# pushed phone are among them.
verify_clean() {
	local out
	out=$(scripts/docker-stack.sh "$1" verify 2>&1) || { printf '%s\n' "$out"; return 1; }
	printf '%s\n' "$out"
	grep -q '^verify: clean' <<<"$out" || return 1
	grep -q '^cpu-.*: [0-9]* rows, seq 0\.\.[0-9]*; no gaps; 0 duplicates refused$' <<<"$out" || return 1
	grep -q '^sensor-.*: [0-9]* rows, seq 0\.\.[0-9]*; no gaps; 0 duplicates refused$' <<<"$out" || return 1
	grep -q "^phone-$1 .*seq 0\.\.0; no gaps" <<<"$out" || return 1
	! grep -E '^[^ ]+ \(.*\): ' <<<"$out" | grep -vE 'rows, seq 0\.\.[0-9]+; no gaps; 0 duplicates refused$'
}

# started_after_ready PATTERN: every generator container started after a
# successful /readyz probe of the sink and of each processor (service process) (docker keeps
# each container's last 5 probes, 5 s apart: asked right after up, the first
# success is among them).
started_after_ready() {
	local gens=() cons=() s
	for s in $("$PYTHON" scripts/compose-env.py "compose/$1.yml" list | awk '$2 == "generate" { print $1 }'); do
		gens+=($(scripts/docker-stack.sh "$1" compose ps -q "$s"))
	done
	for s in process sink; do
		cons+=($(scripts/docker-stack.sh "$1" compose ps -q "$s"))
	done
	[ "${#gens[@]}" -ge 3 ] && [ "${#cons[@]}" -ge 2 ] || { echo "generators ${gens[*]}, consumers ${cons[*]}"; return 1; }
	docker inspect "${gens[@]}" "${cons[@]}" | "$PYTHON" -c '
import datetime, json, re, sys
n = int(sys.argv[1])
d = json.load(sys.stdin)
gens, cons = d[:n], d[n:]
def t(s):  # RFC 3339 with up to 9 fraction digits -> (seconds, ns)
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", s)
    z = "+00:00" if m.group(3) == "Z" else m.group(3)
    return (int(datetime.datetime.fromisoformat(m.group(1) + z).timestamp()), int((m.group(2) or "0").ljust(9, "0")[:9]))
bad = 0
for c in cons:
    ok = [t(p["End"]) for p in (c["State"].get("Health") or {}).get("Log", []) if p["ExitCode"] == 0]
    first = min(ok) if ok else None
    for g in gens:
        if first is None or t(g["State"]["StartedAt"]) <= first:
            bad += 1
            print("%s started %s, %s first ready %s" % (g["Name"], g["State"]["StartedAt"], c["Name"], first))
sys.exit(1 if bad else 0)' "${#gens[@]}"
}

declare -A took
for p in $STACKS; do
	export STACK_PROJECT=streamctl-test-$p
	S="scripts/docker-stack.sh $p"
	CURRENT=$p
	t0=$SECONDS
	$S down -v >/dev/null 2>&1 # leftovers of an aborted run
	case "$p" in
	amqp) check "$p: the stack comes up with three processors" $S up --scale process=3 ;;
	*) check "$p: the stack comes up" $S up ;;
	esac
	cp "$WORK/last.out" "$WORK/up-$p.out"
	t_up=$((SECONDS - t0))
	if ! grep -q "stack: $p up in" "$WORK/up-$p.out"; then
		$S compose logs --tail=20 >"$WORK/logs" 2>&1
		not_ok "$p: skipped, the stack did not come up" "$(cat "$WORK/logs")"
		$S down -v >/dev/null 2>&1
		continue
	fi
	check "$p: the generators started only after the sink and every processor were ready (/readyz)" \
		started_after_ready "$p"
	check "$p: records reach the sink's database" wait_for 90 more_rows "$p" 10
	check_eq "$p: the Sensor Logger HTTP push is answered 200" 200 "$(push_phone "$p")"
	case "$p" in
	kafka)
		if grep -q 'Kafka UI unavailable' "$WORK/up-$p.out"; then
			ok "kafka: the Kafka UI image cannot be had: the stack says so and runs without it"
		else
			check "kafka: the Kafka UI answers" wait_for 60 curl -sf -o /dev/null "http://127.0.0.1:$STACK_KAFKA_UI_PORT/"
		fi
		check "kafka: three brokers healthy" sh -c "test \$($S compose ps | grep -c 'kafka[123]_1 .*(healthy)') -eq 3"
		n=$(rows "$p")
		check "kafka: broker kafka2 stopped mid-stream" $S compose stop kafka2
		check "kafka: records still reach the sink with kafka2 down (RF 3, min.insync 2)" wait_for 90 more_rows "$p" "$((n + 10))"
		check "kafka: kafka2 started again" $S compose start kafka2
		check "kafka: kafka2 healthy again" wait_for 180 sh -c "$S compose ps kafka2 | grep -q '(healthy)'"
		n=$(rows "$p")
		check "kafka: records keep flowing after kafka2 is back" wait_for 90 more_rows "$p" "$((n + 10))"
		;;
	amqp)
		check_eq "amqp: three processor containers run" 3 "$($S compose ps -q process | wc -l)"
		check "amqp: the management UI answers (user streamctl)" \
			curl -sf -o /dev/null -u streamctl:streamctl "http://127.0.0.1:$STACK_AMQP_UI_PORT/api/overview"
		consumers3() {
			curl -sf -u streamctl:streamctl "http://127.0.0.1:$STACK_AMQP_UI_PORT/api/queues/%2F/streamctl.raw.cpu" |
				grep -q '"consumers":3[,}]'
		}
		check "amqp: the three processors compete on one queue (3 consumers on streamctl.raw.cpu)" wait_for 30 consumers3
		n=$(rows "$p")
		check "amqp: records keep flowing" wait_for 60 more_rows "$p" "$((n + 10))"
		;;
	mqtt)
		n=$(rows "$p")
		check "mqtt: records keep flowing" wait_for 60 more_rows "$p" "$((n + 10))"
		;;
	esac
	check "$p: the stack goes down in order (generators, drain, processors, drain, sink)" $S down
	check "$p: verify on the sink's volume is clean: every source from seq 0, no gap, no duplicate" verify_clean "$p"
	grep -E '^verify: clean|rows, seq' "$WORK/last.out" | sed 's/^/        /'
	$S down -v >/dev/null 2>&1
	CURRENT=''
	took[$p]="$((SECONDS - t0))s (up ${t_up}s)"
done
unset STACK_PROJECT

printf '        timing: images %ss' "$t_images"
for p in $STACKS; do printf ', %s %s' "$p" "${took[$p]:-?}"; done
printf ', suite %ss\n' "$((SECONDS - t_all))"
finish

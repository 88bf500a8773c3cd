#!/usr/bin/env bash
# scripts/bench/amqp-publisher.sh - RabbitMQ publish throughput (issue 8;
# goal: streamctl >= 80% of PerfTest).
#
#   streamctl generate --transport=amqp --source=cpu --rate=0 --count=N --inflight=W
#   PerfTest -x 1 -y 0 -C N -s S -c W -f persistent   (RabbitMQ's own load tool)
#   a plain pika loop with publisher confirms
#
# Same target for all: streamctl's topology (durable topic exchange NS,
# durable classic queue NS.raw.cpu bound with "raw.cpu.#"), declared first,
# routing key raw.cpu.<host>; persistent messages; confirm window W (1000,
# streamctl's default).  PerfTest sends S random bytes (S = the mean size of
# streamctl's records); pika sends streamctl's own records.  pika's
# BlockingChannel confirms one message at a time (it has no window): it is
# what a plain pika loop does, and it is slow, so it sends min(N, 20000).
# The delivered count is read back from the queue, which is deleted after
# each run.  PerfTest is fetched by Maven into .cache/perftest.
#
# usage: scripts/bench/amqp-publisher.sh [N]   (CSV: bench/results/amqp-publisher.csv)
. "$(dirname "$0")/lib.sh"
bench_init amqp-publisher
bench_venv

if [ "$BENCH_QUICK" = 1 ]; then N=${1:-10000}; else N=${1:-100000}; fi
: "${BENCH_WINDOW:=1000}"
: "${BENCH_AMQP_TOOLS:=streamctl perftest pika}"
NPIKA=$((N < 20000 ? N : 20000))
[ "$BENCH_QUICK" = 1 ] && NPIKA=$((N < 2000 ? N : 2000))
SETTINGS="persistent confirms window=$BENCH_WINDOW classic durable queue"
KEY=$(hostname)
PERFTEST_DIR=$BENCH_ROOT/.cache/perftest

if ! ls "$PERFTEST_DIR"/perf-test-*.jar >/dev/null 2>&1; then
	bench_log "fetching PerfTest with Maven into $PERFTEST_DIR"
	mvn -q -B -f "$BENCH_DIR/perftest-pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$PERFTEST_DIR" >&2 || bench_die "mvn could not fetch PerfTest"
fi

bench_payloads "$N" "$BENCH_TMP/payloads" --source=cpu
S=$PAYLOAD_SIZE
head -n "$NPIKA" "$BENCH_TMP/payloads" >"$BENCH_TMP/payloads-pika"
bench_log "N=$N records (pika $NPIKA), mean payload $S bytes"

aadmin() { "$PY" "$BENCH_DIR/amqpadmin.py" "$AMQP_URI" "$@"; }
new_ns() {
	NS=$(bench_uniq bench-ap)
	aadmin declare "$NS" || bench_die "cannot declare $NS"
}
done_ns() {
	DELIVERED=$(aadmin count "$NS.raw.cpu")
	aadmin delete "$NS.raw.cpu" "$NS.raw.sensor" "$NS.processed.cpu" "$NS.processed.sensor" \
		"$NS.deadletter.rejected" "$NS" "$NS.dlx"
	[ "$DELIVERED" = "$1" ] || bench_log "  warning: queue held $DELIVERED of $1"
}

run_streamctl() {
	new_ns
	local st=$BENCH_TMP/stats-$1.json
	bench_time sc "$SC" generate --transport=amqp --broker="$AMQP_URI" --namespace="$NS" \
		--source=cpu --rate=0 --count="$N" --inflight="$BENCH_WINDOW" \
		--stats="$st" --stats-interval=0 --progress=never 2>"$BENCH_TMP/sc.err" || bench_log "  streamctl failed: $(tail -n 2 "$BENCH_TMP/sc.err")"
	done_ns "$N"
	bench_tp_row streamctl "$1" "$SETTINGS" "$N" "$S" "$DELIVERED" "$(bench_stat "$st" elapsed_s)"
}

run_perftest() {
	new_ns
	local out=$BENCH_TMP/perftest-$1.out tool_s
	# PerfTest wants the vhost spelled out ("/" is %2F)
	local uri=${AMQP_URI%/}
	[ "${uri##*:[0-9]*/}" = "$uri" ] && uri=$uri/%2F
	bench_time perftest java -cp "$PERFTEST_DIR/*" com.rabbitmq.perf.PerfTest -h "$uri" \
		-x 1 -y 0 -C "$N" -s "$S" -c "$BENCH_WINDOW" -f persistent -p -u "$NS.raw.cpu" \
		-e "$NS" -t topic -k "raw.cpu.$KEY" >"$out" 2>&1
	done_ns "$N"
	tool_s=$(awk '/sending rate avg/ { r = $(NF - 1) } END { if (r > 0) printf "%.3f", '"$N"' / r }' "$out")
	bench_tp_row perftest "$1" "$SETTINGS" "$N" "$S" "$DELIVERED" "$tool_s"
}

run_pika() {
	new_ns
	local out=$BENCH_TMP/pika-$1.out
	bench_time pika "$PY" "$BENCH_DIR/amqp_publish.py" "$AMQP_URI" "$NS" "raw.cpu.$KEY" \
		"$BENCH_TMP/payloads-pika" >"$out"
	done_ns "$NPIKA"
	bench_tp_row pika "$1" "$SETTINGS" "$NPIKA" "$S" "$DELIVERED" "$(awk '{ print $4 }' "$out")"
}

# shellcheck disable=SC2086
bench_interleave "$BENCH_PAIRS" $BENCH_AMQP_TOOLS
echo "== AMQP publish with confirms, N=$N (pika $NPIKA), S=$S bytes, wall =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl rate_wall
echo "== the same, by each tool's own clock (PerfTest excludes JVM start) =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl rate_tool

#!/usr/bin/env bash
# scripts/bench/amqp-perftest-latency.sh - RabbitMQ's own latency at a fixed
# rate, as its PerfTest measures it, with the broker work of the streamctl
# pipeline (issue 17's "p99 <= 5 ms at 1 kHz"): two PerfTest instances at
# once, one per queue, each publishing RATE persistent messages/s with
# confirms (window W) and consuming them with manual multi-acks (prefetch P,
# one ack per B), S bytes, for DUR s.  PerfTest's consumer latency is from
# its publish to its delivery through one queue; the pipeline's records go
# through two such hops plus the processor and SQLite.  One CSV row per
# instance per run: PerfTest's whole-run latency percentiles and rates, and
# the broker's CPU seconds over the run.
#
# usage: scripts/bench/amqp-perftest-latency.sh [RATE [DUR [RUNS]]]   (1000 30 3)
# env: AMQP_URI, W (1000), P (2000), B (500), S (254: the pipeline's raw records)
# CSV: bench/results/amqp-perftest-latency.csv
. "$(dirname "$0")/lib.sh"
bench_init amqp-perftest-latency

RATE=${1:-1000} DUR=${2:-30} RUNS=${3:-3}
: "${W:=1000}" "${P:=2000}" "${B:=500}" "${S:=254}"
PERFTEST_DIR=$BENCH_ROOT/.cache/perftest
if ! ls "$PERFTEST_DIR"/perf-test-*.jar >/dev/null 2>&1; then
	bench_log "fetching PerfTest with Maven into $PERFTEST_DIR"
	mvn -q -B -f "$BENCH_DIR/perftest-pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$PERFTEST_DIR" >&2 || bench_die "mvn could not fetch PerfTest"
fi
HEADER="$BENCH_META_HEADER,bench,run,queue,rate,seconds,sent_avg,received_avg,lat_min_us,lat_p50_us,lat_p75_us,lat_p95_us,lat_p99_us,confirm_p50_us,confirm_p99_us,broker_cpu_s,settings"
SETTINGS="persistent confirms window=$W prefetch=$P ack-every=$B size=$S classic durable queues"
bench_amqp_broker
[ -n "$BROKER_PID" ] || bench_die "no beam.smp found on port $AMQP_PORT_"
uri=${AMQP_URI%/}
[ "${uri##*:[0-9]*/}" = "$uri" ] && uri=$uri/%2F # PerfTest wants the vhost spelled out

for ((i = 1; i <= RUNS; i++)); do
	ns=$(bench_uniq bench-aptl)
	c0=$(bench_proc_cpu "$BROKER_PID")
	pids=()
	for st in a b; do
		java -cp "$PERFTEST_DIR/*" com.rabbitmq.perf.PerfTest -h "$uri" -x 1 -y 1 -r "$RATE" \
			-s "$S" -c "$W" -q "$P" -A "$B" -f persistent -e "$ns" -t topic -k "$st.cpu" \
			-u "$ns.$st" -ad true -z "$DUR" -i 5 >"$BENCH_TMP/pt-$st.out" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || bench_die "PerfTest failed: $(tail -n 2 "$BENCH_TMP/pt-a.out" "$BENCH_TMP/pt-b.out")"
	c1=$(bench_proc_cpu "$BROKER_PID")
	for st in a b; do
		f=$BENCH_TMP/pt-$st.out
		sent=$(awk '/sending rate avg/ { print $(NF - 1) }' "$f")
		recv=$(awk '/receiving rate avg/ { print $(NF - 1) }' "$f")
		# "consumer latency min/median/75th/95th/99th 247/559/1291/6505/21377 µs"
		lat=$(awk '/^id:.*consumer latency min/ && !/time / { print $(NF - 1) }' "$f" | tr / ,)
		conf=$(awk '/^id:.*confirm latency min/ && !/time / { split($(NF - 1), a, "/"); print a[2] "," a[5] }' "$f")
		[ -n "$lat" ] && [ -n "$conf" ] || bench_die "no latency summary in PerfTest's output: $(tail -n 3 "$f")"
		bench_csv_append "$BENCH_CSV" "$HEADER" \
			"$(bench_meta),amqp-perftest-latency,$i,$st,$RATE,$DUR,$sent,$recv,$lat,$conf,$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }'),\"$SETTINGS\""
		bench_log "run $i queue $st: $RATE/s for $DUR s, consumer latency min/p50/p75/p95/p99 $lat us, confirm p50/p99 $conf us"
	done
done

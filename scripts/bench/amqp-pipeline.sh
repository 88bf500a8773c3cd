#!/usr/bin/env bash
# scripts/bench/amqp-pipeline.sh - the full RabbitMQ pipeline (generate ->
# process -> sink, cpu source, JSON) against RabbitMQ's own PerfTest doing
# the same broker work, in the same run, interleaved (issue 17; goal:
# streamctl >= 0.8x PerfTest end to end, >= 8000 records/s with p99 < 100 ms,
# p99 <= 5 ms at 1 kHz).
#
# Saturation, interleaved pairs (bench_interleave streamctl perftest):
#   streamctl  sink and process started first, then `generate --rate=0
#              --count=N`; rate = rows / (last stored_ns - first intended_ns)
#              from the sink DB: publish raw (confirms) -> deliver to process
#              -> publish processed (confirms) -> deliver to sink -> SQLite
#              commit -> acks.
#   perftest   PerfTest cannot chain a consumer into a producer, so the
#              closest it does is two PerfTest instances at once, one per
#              queue, each `-x 1 -y 1 -C N -D N`: stage A publishes to and
#              consumes from queue NS.a, stage B from NS.b, over topic
#              exchange NS.  Per record the broker does what it does for the
#              pipeline: two persistent publishes with confirms (window W,
#              -c), two deliveries with manual acks (prefetch -q P, one ack
#              with multiple=true per B messages, -A, like streamctl's one
#              ack per batch).  Message size S = the mean size of streamctl's
#              raw records.  Durable classic queues, auto-deleted after the
#              run.  End-to-end rate = the slower stage's "receiving rate
#              avg" (PerfTest's own clock, JVM start excluded).
# Latency at fixed rates (after the pairs, rates alternated): streamctl at
#   each of RATES for DUR s, e2e = stored_ns - intended_ns (no coordinated
#   omission), p50/p99/p99.9/max.
# Broker CPU seconds (beam.smp listening on the AMQP port, /proc/<pid>/stat)
# and client CPU seconds (/usr/bin/time; PerfTest: both JVMs) per run.
#
# usage: scripts/bench/amqp-pipeline.sh [N]   (CSV: bench/results/amqp-pipeline.csv)
# env: AMQP_URI, RATES ("8000 1000"), DUR (30), LAT_RUNS (3), W (1000), P (2000), B (500)
. "$(dirname "$0")/lib.sh"
bench_init amqp-pipeline

if [ "$BENCH_QUICK" = 1 ]; then N=${1:-20000}; else N=${1:-100000}; fi
: "${RATES:=8000 1000}" "${DUR:=30}" "${LAT_RUNS:=3}" "${W:=1000}" "${P:=2000}" "${B:=500}"
[ "$BENCH_QUICK" = 1 ] && DUR=10 LAT_RUNS=1
PERFTEST_DIR=$BENCH_ROOT/.cache/perftest
SETTINGS="persistent confirms window=$W prefetch=$P ack-every=$B classic durable queues"
HEADER="$BENCH_META_HEADER,bench,tool,pair,target_rate,count,rows,seconds,rate_e2e,e2e_p50_ms,e2e_p99_ms,e2e_p999_ms,e2e_max_ms,broker_cpu_s,client_cpu_s,settings"
PIDS=()
bench_cleanup_hook() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
}

if ! ls "$PERFTEST_DIR"/perf-test-*.jar >/dev/null 2>&1; then
	bench_log "fetching PerfTest with Maven into $PERFTEST_DIR"
	mvn -q -B -f "$BENCH_DIR/perftest-pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$PERFTEST_DIR" >&2 || bench_die "mvn could not fetch PerfTest"
fi

bench_amqp_broker
[ -n "$BROKER_PID" ] || bench_log "no beam.smp found on port $AMQP_PORT_: broker CPU not recorded"
broker_cpu() { if [ -n "$BROKER_PID" ]; then bench_proc_cpu "$BROKER_PID"; else echo 0; fi; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

S=$("$SC" generate --count=2000 --rate=0 --source=cpu --stats=/dev/null --progress=never |
	python3 "$BENCH_DIR/deframe.py" | awk '{ s += length($0) } END { printf "%d", NR ? s / NR + 0.5 : 0 }')
bench_log "N=$N, mean raw record $S bytes, broker pid ${BROKER_PID:-?}, $SETTINGS"

row() { # tool pair target count rows seconds rate p50 p99 p999 max broker client
	bench_csv_append "$BENCH_CSV" "$HEADER" \
		"$(bench_meta),amqp-pipeline,$1,$2,$3,$4,$5,$6,$7,$8,$9,${10},${11},${12},${13},\"$SETTINGS\""
	bench_log "  $1 (target $3/s): $5 rows, $7 records/s end to end, e2e p50 $8 p99 $9 ms, broker cpu ${12} s, client cpu ${13} s"
}

# streamctl PAIR RATE: the pipeline; RATE 0 = as fast as it goes (N records),
# else RATE records/s for DUR s.
pipeline() {
	local pair=$1 rate=$2 ns db res gen_args
	ns=$(bench_uniq bench-apl)
	db=$BENCH_TMP/$ns.db
	if [ "$rate" = 0 ]; then gen_args=(--rate=0 --count="$N"); else gen_args=(--rate="$rate" --duration="$DUR"); fi
	bench_amqp_pipeline "$SC" "$db" "$ns" "${gen_args[@]}"
	res=$(python3 - "$db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
lat = sorted((s - i) / 1e6 for s, i in db.execute("SELECT stored_ns, intended_ns FROM cpu_stats"))
lo, hi = db.execute("SELECT min(intended_ns), max(stored_ns) FROM cpu_stats").fetchone()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else 0.0
span = (hi - lo) / 1e9 if lat else 0.0
print("%d %.3f %.1f %.2f %.2f %.2f %.2f" % (len(lat), span, len(lat) / span if span else 0,
                                            q(0.5), q(0.99), q(0.999), lat[-1] if lat else 0))
EOF
	)
	read -r rows span r p50 p99 p999 pmax <<<"$res"
	local count=$N
	[ "$rate" = 0 ] || count=$((rate * DUR))
	row streamctl "$pair" "$rate" "$count" "$rows" "$span" "$r" "$p50" "$p99" "$p999" "$pmax" \
		"$RUN_BROKER_CPU" "$RUN_CLIENT_CPU"
	rm -f "$db" "$db-wal" "$db-shm"
}

run_streamctl() { pipeline "$1" 0; }

run_perftest() {
	local pair=$1 ns uri c0 c1 st pa pb ra rb r wall cpu=0
	ns=$(bench_uniq bench-apt)
	uri=${AMQP_URI%/}
	[ "${uri##*:[0-9]*/}" = "$uri" ] && uri=$uri/%2F # PerfTest wants the vhost spelled out
	c0=$(broker_cpu)
	for st in a b; do
		bench_time_bg "pt$st" java -cp "$PERFTEST_DIR/*" com.rabbitmq.perf.PerfTest -h "$uri" \
			-x 1 -y 1 -C "$N" -D "$N" -s "$S" -c "$W" -q "$P" -A "$B" -f persistent \
			-e "$ns" -t topic -k "$st.cpu" -u "$ns.$st" -ad true -z 600 -i 5 \
			>"$BENCH_TMP/perftest-$st.out" 2>&1
		[ "$st" = a ] && pa=$BG_PID || pb=$BG_PID
	done
	PIDS=("$pa" "$pb")
	wait "$pa" "$pb"
	PIDS=()
	c1=$(broker_cpu)
	for st in a b; do
		bench_time_read "pt$st"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { printf "%.2f", a + u + s }')
	done
	rate_of() { awk '/receiving rate avg/ { r = $(NF - 1) } END { print r + 0 }' "$1"; }
	ra=$(rate_of "$BENCH_TMP/perftest-a.out")
	rb=$(rate_of "$BENCH_TMP/perftest-b.out")
	r=$(awk -v a="$ra" -v b="$rb" 'BEGIN { print (a < b ? a : b) }')
	wall=$(awk -v n="$N" -v r="$r" 'BEGIN { printf "%.3f", (r > 0 ? n / r : 0) }')
	row perftest "$pair" 0 "$N" "$N" "$wall" "$r" "" "" "" "" "$(sub "$c1" "$c0")" "$cpu"
}

bench_interleave "$BENCH_PAIRS" streamctl perftest
# shellcheck disable=SC2206
rates=($RATES)
for ((i = 1; i <= LAT_RUNS; i++)); do
	if ((i % 2)); then order=("${rates[@]}"); else order=($(printf '%s\n' "${rates[@]}" | tac)); fi
	for rate in "${order[@]}"; do
		bench_log "latency run $i/$LAT_RUNS: streamctl at $rate/s for $DUR s"
		pipeline "lat$i" "$rate"
	done
done

echo "== AMQP pipeline end to end, N=$N, S=$S bytes: streamctl / PerfTest per pair =="
awk -F, -v run="$RUN_ID" '$1 == run && $10 ~ /^[1-9][0-9]*$/ && $11 == 0 { r[$10 "," $9] = $15 }
	END { for (k in r) { split(k, a, ","); if (a[2] == "streamctl" && r[a[1] ",perftest"] > 0)
		printf "pair %s: streamctl %s/s, perftest %s/s, ratio %.2f\n", a[1], r[k], r[a[1] ",perftest"], r[k] / r[a[1] ",perftest"] } }' \
	"$BENCH_CSV" | sort
echo "== fixed-rate latency (streamctl) =="
awk -F, -v run="$RUN_ID" '$1 == run && $10 ~ /^lat/ { printf "%s/s: %s rows, %s/s, p50 %s p99 %s p99.9 %s max %s ms\n", $11, $13, $15, $16, $17, $18, $19 }' \
	"$BENCH_CSV"

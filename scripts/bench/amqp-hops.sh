#!/usr/bin/env bash
# scripts/bench/amqp-hops.sh - where the RabbitMQ pipeline's latency goes at a
# fixed rate (issue 17's "p99 <= 5 ms at 1 kHz"): generate -> process -> sink
# (cpu source, JSON, the settings of amqp-pipeline.sh) at RATE records/s for
# DUR s, RUNS times; the sink's rows carry four clocks per record, so each
# record's latency splits into
#   send    sent_ns - intended_ns       the generator late against its schedule
#   hop1    processed_ns - sent_ns      broker queue 1, the processor's wait
#                                       (incl. the confirms of its previous batch)
#   hop2    stored_ns - processed_ns    broker queue 2, the sink, SQLite
#   e2e     stored_ns - intended_ns
# One CSV row per run: p50/p99/p99.9/max of each (ms), the mean of each part
# over the slowest 1 % of records (e2e >= its p99), broker and client CPU s.
#
# usage: scripts/bench/amqp-hops.sh [RATE [DUR [RUNS]]]   (1000 30 3)
# env: AMQP_URI, W (1000), P (2000), B (500)
# CSV: bench/results/amqp-hops.csv
. "$(dirname "$0")/lib.sh"
bench_init amqp-hops

RATE=${1:-1000} DUR=${2:-30} RUNS=${3:-3}
: "${W:=1000}" "${P:=2000}" "${B:=500}"
HEADER="$BENCH_META_HEADER,bench,run,rate,seconds,rows"
for h in send hop1 hop2 e2e; do HEADER="$HEADER,${h}_p50_ms,${h}_p99_ms,${h}_p999_ms,${h}_max_ms"; done
HEADER="$HEADER,slow_send_ms,slow_hop1_ms,slow_hop2_ms,broker_cpu_s,client_cpu_s,settings"
SETTINGS="persistent confirms window=$W prefetch=$P batch=$B classic durable queues"
bench_amqp_broker
[ -n "$BROKER_PID" ] || bench_die "no beam.smp found on port $AMQP_PORT_"

for ((i = 1; i <= RUNS; i++)); do
	ns=$(bench_uniq bench-ahop)
	db=$BENCH_TMP/$ns.db
	common=(--transport=amqp --broker="$AMQP_URI" --namespace="$ns" --stats-interval=0
		--progress=never --stats=/dev/null)
	bench_time_bg sink "$SC" sink "${common[@]}" --db="$db" --idle-exit=3 --prefetch="$P" \
		--batch="$B" 2>>"$BENCH_TMP/sink.log"
	sink=$BG_PID
	bench_time_bg proc "$SC" process "${common[@]}" --idle-exit=3 --prefetch="$P" --batch="$B" \
		2>>"$BENCH_TMP/proc.log"
	proc=$BG_PID
	sleep 2
	c0=$(bench_proc_cpu "$BROKER_PID")
	bench_time gen "$SC" generate "${common[@]}" --source=cpu --inflight="$W" --rate="$RATE" \
		--duration="$DUR" 2>>"$BENCH_TMP/gen.log" || bench_die "generate failed: $(tail -n 2 "$BENCH_TMP/gen.log")"
	cpu=$(awk -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print u + s }')
	wait "$sink" "$proc"
	c1=$(bench_proc_cpu "$BROKER_PID")
	for t in sink proc; do
		bench_time_read "$t"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { printf "%.2f", a + u + s }')
	done
	res=$(python3 - "$db" <<'EOF'
import sqlite3, sys
rows = list(sqlite3.connect(sys.argv[1]).execute(
    "SELECT sent_ns - intended_ns, processed_ns - sent_ns, stored_ns - processed_ns,"
    " stored_ns - intended_ns FROM cpu_stats"))
out = [str(len(rows))]
def q(v, f): return v[min(len(v) - 1, int(f * len(v)))]
for k in range(4):
    v = sorted(r[k] / 1e6 for r in rows)
    out += ["%.2f" % x for x in (q(v, .5), q(v, .99), q(v, .999), v[-1])]
thr = q(sorted(r[3] for r in rows), .99)
slow = [r for r in rows if r[3] >= thr]
out += ["%.2f" % (sum(r[k] for r in slow) / len(slow) / 1e6) for k in range(3)]
print(",".join(out))
EOF
	) || bench_die "no rows in $db"
	bench_csv_append "$BENCH_CSV" "$HEADER" \
		"$(bench_meta),amqp-hops,$i,$RATE,$DUR,$res,$(awk -v a="$c1" -v b="$c0" 'BEGIN { printf "%.2f", a - b }'),$cpu,\"$SETTINGS\""
	IFS=, read -r n s50 s99 s999 smax h50 h99 h999 hmax g50 g99 g999 gmax e50 e99 e999 emax ss sh sg <<<"$res"
	bench_log "run $i: $n rows at $RATE/s; p99 send $s99, hop1 $h99, hop2 $g99, e2e $e99 ms (max $emax); slowest 1 %: send $ss, hop1 $sh, hop2 $sg ms"
	rm -f "$db" "$db-wal" "$db-shm"
done

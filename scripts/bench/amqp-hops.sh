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
# REVS="BEFORE AFTER" (commits): both are built in temporary worktrees
# (revs.sh) and run alternately, RUNS pairs after a warm-up pair that is not
# recorded; each row's git_rev names the build that ran.
#
# usage: scripts/bench/amqp-hops.sh [RATE [DUR [RUNS]]]   (1000 30 3)
# env: AMQP_URI, W (1000), P (2000), B (500), REVS
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

builds=("$SC") revs=("$BENCH_REV") first=1
if [ -n "${REVS:-}" ]; then
	. "$BENCH_DIR/revs.sh"
	bench_revs_env
	first=0
fi

# hops DB: "rows,send p50,p99,p999,max,hop1 ...,e2e ...,slow send,hop1,hop2"
hops() {
	python3 - "$1" <<'EOF'
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
}

for ((i = first; i <= RUNS; i++)); do
	for k in "${!builds[@]}"; do
		ns=$(bench_uniq bench-ahop)
		db=$BENCH_TMP/$ns.db
		bench_amqp_pipeline "${builds[k]}" "$db" "$ns" --rate="$RATE" --duration="$DUR" ||
			bench_die "generate failed: $(tail -n 2 "$BENCH_TMP/gen.log")"
		res=$(hops "$db") || bench_die "no rows in $db"
		rm -f "$db" "$db-wal" "$db-shm"
		[ "$i" -gt 0 ] || continue # the warm-up pair
		BENCH_REV=${revs[k]}
		bench_csv_append "$BENCH_CSV" "$HEADER" \
			"$(bench_meta),amqp-hops,$i,$RATE,$DUR,$res,$RUN_BROKER_CPU,$RUN_CLIENT_CPU,\"$SETTINGS\""
		IFS=, read -r n _ s99 _ _ _ h99 _ _ _ g99 _ _ _ e99 _ emax ss sh sg <<<"$res"
		bench_log "run $i ${revs[k]}: $n rows at $RATE/s; p99 send $s99, hop1 $h99, hop2 $g99, e2e $e99 ms (max $emax); slowest 1 %: send $ss, hop1 $sh, hop2 $sg ms"
	done
done

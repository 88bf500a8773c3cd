#!/usr/bin/env bash
# scripts/bench/exp-kafka-producers.sh - 1/4/16 concurrent producers into one
# Kafka topic (issue 8 experiment).  The issue asked for 1/10/100: a hundred
# generator processes (each a librdkafka client with its threads) on this
# 2-core machine measure the scheduler, not streamctl, so the default is
# 1 4 16 (BENCH_PRODUCERS overrides).
#
# N records in total, N/P per producer, each with its own --source-id; all
# start together; rate = N / wall of the whole group; CPU summed.  The
# record key stays the default (the host name), so all producers write into
# one partition of the topic: the contention of many clients on one
# partition leader (exp-kafka-replication.sh spreads its keys).
# CSV bench/results/exp-kafka-producers.csv, plot docs/img/exp-kafka-producers.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-kafka-producers
bench_venv
# rounds after the warm-up round 0 (experiments are long: at most 3 by default)
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-8000}; else N=${1:-4000000}; fi # issue 20: cells of 1 s and more
: "${BENCH_PRODUCERS:=1 4 16}"
: "${BENCH_PARTITIONS:=3}"
HEADER="$BENCH_META_HEADER,exp,series,pair,producers,partitions,count,delivered,wall_s,rate,cpu_s"
kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" "$@"; }

cell() {
	local np=$1 pair=$2 ns cpu wall got
	ns=$(bench_uniq bench-kprod)
	kadmin create "$ns.raw.cpu" "$BENCH_PARTITIONS" || bench_die "cannot create topic"
	bench_producers "$np" "$N" "$KAFKA_BOOTSTRAP" "$ns" gen host
	wall=$GROUP_WALL cpu=$GROUP_CPU
	got=$(kadmin count "$ns.raw.cpu")
	kadmin delete "$ns.raw.cpu" 2>/dev/null
	local rate
	rate=$(awk -v n="$got" -v t="$wall" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	bench_csv_append "$BENCH_RESULTS/exp-kafka-producers.csv" "$HEADER" \
		"$(bench_meta),kafka-producers,streamctl generate,$pair,$np,$BENCH_PARTITIONS,$N,$got,$wall,$rate,$cpu"
	bench_log "  producers=$np: $got/$N in $wall s = $rate/s, cpu $cpu s"
}

for ((pair = 0; pair <= ROUNDS; pair++)); do
	for np in $BENCH_PRODUCERS; do
		bench_log "round $pair/$ROUNDS: producers=$np"
		cell "$np" "$pair"
	done
done
bench_plot one exp-kafka-producers.csv

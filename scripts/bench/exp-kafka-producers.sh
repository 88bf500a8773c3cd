#!/usr/bin/env bash
# scripts/bench/exp-kafka-producers.sh - 1/4/16 concurrent producers into one
# Kafka topic (issue 8 experiment).  The issue asked for 1/10/100: a hundred
# generator processes (each a librdkafka client with its threads) on this
# 2-core machine measure the scheduler, not streamctl, so the default is
# 1 4 16 (BENCH_PRODUCERS overrides).
#
# N records in total, N/P per producer, each with its own --source-id; all
# start together; rate = N / wall of the whole group; CPU summed.
# CSV bench/results/exp-kafka-producers.csv, plot docs/img/exp-kafka-producers.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-kafka-producers
bench_venv
# rounds after the warm-up round 0 (experiments are long: at most 3 by default)
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-8000}; else N=${1:-1000000}; fi
: "${BENCH_PRODUCERS:=1 4 16}"
: "${BENCH_PARTITIONS:=3}"
HEADER="$BENCH_META_HEADER,exp,series,pair,producers,partitions,count,delivered,wall_s,rate,cpu_s"
kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" "$@"; }

cell() {
	local np=$1 pair=$2 ns i pids=() cpu=0 t0 t1 wall got
	ns=$(bench_uniq bench-kprod)
	kadmin create "$ns.raw.cpu" "$BENCH_PARTITIONS" || bench_die "cannot create topic"
	t0=$(date +%s.%N)
	for ((i = 0; i < np; i++)); do
		bench_time_bg "g$i" "$SC" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" \
			--namespace="$ns" --source=cpu --source-id="gen-$i" --rate=0 --count=$((N / np)) \
			--stats=/dev/null --progress=never
		pids+=("$BG_PID")
	done
	wait "${pids[@]}"
	t1=$(date +%s.%N)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	for ((i = 0; i < np; i++)); do
		bench_time_read "g$i"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print a + u + s }')
	done
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
bench_plot sweep "$BENCH_RESULTS/exp-kafka-producers.csv" "$BENCH_IMG/exp-kafka-producers.png" \
	"Kafka: concurrent producers, N=$N in total" producers

#!/usr/bin/env bash
# scripts/bench/exp-kafka-scaling.sh - Kafka partitions 1/3/12 x processors
# 1/3 in one consumer group (issue 8 experiment).
#
# Each cell: a new namespace whose raw topic has P partitions; K `streamctl
# process` start in one group and get BENCH_JOIN (8) s to join (Kafka delays
# the first rebalance by 3 s; loading first let one processor drain it all
# before the others joined); then N cpu records are sent unthrottled by
# BENCH_KEYS (12) generators, each with its own key (--device-id): Kafka puts
# all records of one key in one partition, and the cpu source has one key per
# host, so with a single generator one processor gets everything whatever
# the partitions.  The group processes them while they arrive (idle exit).  The processed records
# are read back and rate = N / (last - first processed_ns) (collect.py);
# "active" counts the processors that got records (their stats "in"); peak
# lag is the largest "lag" in their 1 s stats lines.  Two cores: three processors and the broker share them, so K=3 can
# only show the cost of coordination here, not a speed-up.
# CSV bench/results/exp-kafka-scaling.csv, plot docs/img/exp-kafka-scaling.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-kafka-scaling
bench_venv
# rounds after the warm-up round 0 (experiments are long: at most 3 by default)
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-5000}; else N=${1:-600000}; fi # issue 20: cells of 1 s and more
: "${BENCH_PARTS:=1 3 12}"
: "${BENCH_PROCS:=1 3}"
: "${BENCH_JOIN:=8}"
: "${BENCH_KEYS:=12}"
N=$((N / BENCH_KEYS * BENCH_KEYS))
HEADER="$BENCH_META_HEADER,exp,series,pair,partitions,processors,active,count,delivered,dup,span_s,rate,cpu_s,peak_lag"
kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" "$@"; }

cell() {
	local parts=$1 procs=$2 pair=$3 ns i pids=() cpu=0 lag=0 active=0 c l in
	ns=$(bench_uniq bench-ks)
	kadmin create "$ns.raw.cpu" "$parts" && kadmin create "$ns.processed.cpu" "$parts" ||
		bench_die "cannot create topics"
	local k=(--transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" --progress=never)
	rm -f "$BENCH_TMP"/p*.json # stats files are appended to
	for ((i = 0; i < procs; i++)); do
		bench_time_bg "p$i" "$SC" process "${k[@]}" --client-id="p$i" --idle-exit=$((BENCH_JOIN + 6)) \
			--stats="$BENCH_TMP/p$i.json" --stats-interval=1
		pids+=("$BG_PID")
	done
	sleep "$BENCH_JOIN" # the whole group joins before the first record
	# one generator per key: records of one key all go to one partition
	local gp=()
	for ((i = 0; i < BENCH_KEYS; i++)); do
		"$SC" generate "${k[@]}" --source=cpu --device-id="dev-$i" --source-id="gen-$i" --rate=0 \
			--count=$((N / BENCH_KEYS)) --stats=/dev/null 2>/dev/null &
		gp+=($!)
	done
	wait "${gp[@]}" || bench_log "  a generator failed"
	wait "${pids[@]}"
	for ((i = 0; i < procs; i++)); do
		bench_time_read "p$i"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print a + u + s }')
		l=$(sed -n 's/.*"lag":\([0-9]*\).*/\1/p' "$BENCH_TMP/p$i.json" | sort -n | tail -n 1)
		[ "${l:-0}" -gt "$lag" ] && lag=$l
		in=$(bench_stat "$BENCH_TMP/p$i.json" in)
		[ "${in:-0}" -gt 0 ] && active=$((active + 1))
	done
	read -r c span rate dup < <("$PY" "$BENCH_DIR/collect.py" kafka "$KAFKA_BOOTSTRAP" "$ns.processed.cpu" "$N" 30)
	kadmin delete "$ns.raw.cpu" "$ns.processed.cpu" "$ns.raw.sensor" "$ns.processed.sensor" "$ns.deadletter" 2>/dev/null
	bench_csv_append "$BENCH_RESULTS/exp-kafka-scaling.csv" "$HEADER" \
		"$(bench_meta),kafka-scaling,processors=$procs,$pair,$parts,$procs,$active,$N,$c,$dup,$span,$rate,$cpu,$lag"
	bench_log "  partitions=$parts processors=$procs ($active got records): $c/$N processed in $span s = $rate/s, cpu $cpu s, peak lag $lag, dup $dup"
}

for ((pair = 0; pair <= ROUNDS; pair++)); do
	for parts in $BENCH_PARTS; do
		for procs in $BENCH_PROCS; do
			bench_log "round $pair/$ROUNDS: partitions=$parts processors=$procs"
			cell "$parts" "$procs" "$pair"
		done
	done
done
bench_plot one exp-kafka-scaling.csv

#!/usr/bin/env bash
# scripts/bench/exp-amqp.sh - RabbitMQ experiments (issue 8):
#   consumers   1/3/10 competing `streamctl process` on one queue (prefetch 500)
#   prefetch    1/10/100/1000 with one processor
#   confirms    publisher confirm window 1/100/1000 (streamctl generate --inflight)
#
# Consumer cells: N cpu records are published first, then the processors
# start together and drain the queue (idle exit); the processed records are
# read back from NS.processed.cpu and rate = N / (last - first processed_ns)
# (collect.py).  Confirm cells: rate = N / the generator's own elapsed time
# (stats "elapsed_s", which ends when every confirm has arrived).
# CSV bench/results/exp-amqp.csv (series, value), plot docs/img/exp-amqp.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-amqp
bench_venv
# rounds after the warm-up round 0 (experiments are long: at most 3 by default)
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-2000}; else N=${1:-20000}; fi # issue 20: cells of 1 s and more
: "${BENCH_CONSUMERS:=1 3 10}"
: "${BENCH_PREFETCH:=1 10 100 1000}"
: "${BENCH_CONFIRM:=1 100 1000}"
HEADER="$BENCH_META_HEADER,exp,series,pair,value,count,delivered,dup,span_s,rate,cpu_s"
aadmin() { "$PY" "$BENCH_DIR/amqpadmin.py" "$AMQP_URI" "$@"; }
cleanup_ns() {
	aadmin delete "$1.raw.cpu" "$1.raw.sensor" "$1.processed.cpu" "$1.processed.sensor" \
		"$1.deadletter.rejected" "$1" "$1.dlx" 2>/dev/null
}
row() {
	bench_csv_append "$BENCH_RESULTS/exp-amqp.csv" "$HEADER" "$(bench_meta),amqp,$*"
}

# drain SERIES VALUE PAIR CONSUMERS PREFETCH
drain() {
	local series=$1 value=$2 pair=$3 nc=$4 prefetch=$5 ns i pids=() cpu=0 c span rate dup
	ns=$(bench_uniq bench-ax)
	local a=(--transport=amqp --broker="$AMQP_URI" --namespace="$ns" --progress=never)
	"$SC" generate "${a[@]}" --source=cpu --rate=0 --count="$N" --stats=/dev/null 2>/dev/null ||
		bench_die "generate failed"
	for ((i = 0; i < nc; i++)); do
		bench_time_bg "c$i" "$SC" process "${a[@]}" --prefetch="$prefetch" --idle-exit=3 \
			--stats=/dev/null
		pids+=("$BG_PID")
	done
	wait "${pids[@]}"
	for ((i = 0; i < nc; i++)); do
		bench_time_read "c$i"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print a + u + s }')
	done
	read -r c span rate dup < <("$PY" "$BENCH_DIR/collect.py" amqp "$AMQP_URI" "$ns.processed.cpu" "$N" 10)
	cleanup_ns "$ns"
	row "$series,$pair,$value,$N,$c,$dup,$span,$rate,$cpu"
	bench_log "  $series=$value: $c/$N in $span s = $rate/s, cpu $cpu s, dup $dup"
}

confirm() {
	local w=$1 pair=$2 ns st=$BENCH_TMP/gen.json el rate
	ns=$(bench_uniq bench-ac)
	bench_time gen "$SC" generate --transport=amqp --broker="$AMQP_URI" --namespace="$ns" \
		--source=cpu --rate=0 --count="$N" --inflight="$w" --stats="$st" --stats-interval=0 \
		--progress=never 2>/dev/null || bench_log "  generate failed"
	el=$(bench_stat "$st" elapsed_s)
	rate=$(awk -v n="$N" -v t="$el" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	cleanup_ns "$ns"
	row "confirm window,$pair,$w,$N,$N,0,$el,$rate,$(awk -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print u + s }')"
	bench_log "  confirm window=$w: $N in $el s = $rate/s"
}

for ((pair = 0; pair <= ROUNDS; pair++)); do
	bench_log "round $pair/$ROUNDS"
	for k in $BENCH_CONSUMERS; do drain consumers "$k" "$pair" "$k" 500; done
	for p in $BENCH_PREFETCH; do drain prefetch "$p" "$pair" 1 "$p"; done
	for w in $BENCH_CONFIRM; do confirm "$w" "$pair"; done
done
bench_plot one exp-amqp.csv

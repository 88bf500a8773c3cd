#!/usr/bin/env bash
# scripts/bench/exp-mqtt-qos.sh - MQTT QoS 0/1/2 through the whole pipeline
# (issue 8 experiment): generate -> process -> sink over Mosquitto, at an
# unthrottled rate (throughput and loss) and at BENCH_MQTT_RATE (1000/s;
# latency from the intended send time).  sink and process subscribe first
# (BENCH_JOIN s); rows, span and e2e percentiles come from the sink DB
# (dbstats.py); lost = sent - rows.  Mosquitto's default limits
# (max_queued_messages 1000, max_inflight_messages 20) apply: an
# unthrottled QoS 1/2 run may lose messages at the broker (ARCHITECTURE.md).
# CSV bench/results/exp-mqtt-qos.csv, plot docs/img/exp-mqtt-qos.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-mqtt-qos
bench_venv
# rounds after the warm-up round 0 (experiments are long: at most 3 by default)
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-2000}; else N=${1:-20000}; fi
: "${BENCH_MQTT_QOS:=0 1 2}"
: "${BENCH_MQTT_RATES:=0 1000}"
: "${BENCH_JOIN:=2}"
HEADER="$BENCH_META_HEADER,exp,series,pair,qos,gen_rate,count,delivered,lost,span_s,rate,e2e_p50_ms,e2e_p99_ms,e2e_p999_ms,e2e_max_ms,cpu_s"

cell() {
	local qos=$1 grate=$2 pair=$3 ns db rows span p50 p99 p999 pmax cpu=0 tag
	ns=$(bench_uniq bench-mq)
	db=$BENCH_TMP/$ns.db
	local m=(--transport=mqtt --broker="mqtt://$MQTT_HOST:$MQTT_PORT" --namespace="$ns" --qos="$qos"
		--progress=never --stats=/dev/null)
	bench_time_bg sink "$SC" sink "${m[@]}" --client-id="$ns-sink" --db="$db" --idle-exit=4
	local sp=$BG_PID
	bench_time_bg proc "$SC" process "${m[@]}" --client-id="$ns-proc" --idle-exit=4
	local pp=$BG_PID
	sleep "$BENCH_JOIN"
	bench_time gen "$SC" generate "${m[@]}" --client-id="$ns-gen" --source=cpu --rate="$grate" --count="$N" \
		2>/dev/null || bench_log "  generate failed"
	wait "$pp" "$sp"
	for tag in gen proc sink; do
		bench_time_read "$tag"
		cpu=$(awk -v a="$cpu" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print a + u + s }')
	done
	read -r rows span p50 p99 p999 pmax < <("$PY" "$BENCH_DIR/dbstats.py" "$db" 2>/dev/null || echo "0 0 0 0 0 0")
	local rate
	rate=$(awk -v n="$rows" -v t="$span" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	bench_csv_append "$BENCH_RESULTS/exp-mqtt-qos.csv" "$HEADER" \
		"$(bench_meta),mqtt-qos,gen rate $grate,$pair,$qos,$grate,$N,$rows,$((N - rows)),$span,$rate,$p50,$p99,$p999,$pmax,$cpu"
	bench_log "  qos=$qos rate=$grate: $rows/$N stored ($((N - rows)) lost) at $rate/s, e2e p50 $p50 p99 $p99 max $pmax ms"
}

for ((pair = 0; pair <= ROUNDS; pair++)); do
	for grate in $BENCH_MQTT_RATES; do
		for qos in $BENCH_MQTT_QOS; do
			bench_log "round $pair/$ROUNDS: qos=$qos rate=$grate"
			cell "$qos" "$grate" "$pair"
		done
	done
done
bench_plot one exp-mqtt-qos.csv

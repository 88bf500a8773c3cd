#!/usr/bin/env bash
# scripts/bench/kafka-pipeline.sh - the whole pipeline over Kafka, streamctl
# vs plain Python (issue 8; goal: streamctl >= 20x Python).
#
#   streamctl generate --source=cpu --rate=0 | process | sink --db   (three processes, Kafka between)
#   kafka_pipeline.py gen | proc | sink                              (the same work in Python)
#
# The Python pipeline runs twice, once per client a plain script would use:
# python-confluent-kafka (librdkafka in C under a Python API) and
# python-kafka-python (pure Python); the same code apart from the client
# calls, the same settings (acks=all, idempotence, linger 5 ms).
#
# Both: topics NS.raw.cpu and NS.processed.cpu of BENCH_PARTITIONS (3)
# partitions created first; sink and process started first and given
# BENCH_JOIN (5) seconds to join their groups; then the generator sends N
# records unthrottled.  Throughput = rows / (last row's stored time - first
# record's intended time), read from the sink database (dbstats.py), so the
# join wait and the idle exit are not counted; e2e latency from the same rows.
# CPU = user+sys summed over the three processes (including their idle wait).
#
# usage: scripts/bench/kafka-pipeline.sh [N]   (CSV: bench/results/kafka-pipeline.csv)
. "$(dirname "$0")/lib.sh"
bench_init kafka-pipeline
bench_venv

if [ "$BENCH_QUICK" = 1 ]; then N=${1:-5000}; else N=${1:-200000}; fi
: "${BENCH_PARTITIONS:=3}"
: "${BENCH_JOIN:=5}"
IDLE=8
SETTINGS="cpu json acks=all idempotence linger.ms=5 partitions=$BENCH_PARTITIONS"
kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" "$@"; }

setup_ns() {
	NS=$(bench_uniq bench-kpl)
	kadmin create "$NS.raw.cpu" "$BENCH_PARTITIONS" || bench_die "cannot create $NS.raw.cpu"
	kadmin create "$NS.processed.cpu" "$BENCH_PARTITIONS" || bench_die "cannot create $NS.processed.cpu"
	DB=$BENCH_TMP/$NS.db
}

teardown_ns() {
	kadmin delete "$NS.raw.cpu" "$NS.processed.cpu" "$NS.raw.sensor" "$NS.processed.sensor" \
		"$NS.deadletter" 2>/dev/null
}

# record TOOL PAIR: rows from the DB, CPU from the three time files.
record() {
	local tool=$1 pair=$2 rows span p50 p99 p999 pmax u=0 s=0 r=0 tag
	read -r rows span p50 p99 p999 pmax < <("$PY" "$BENCH_DIR/dbstats.py" "$DB")
	for tag in gen proc sink; do
		bench_time_read "$tag"
		u=$(awk -v a="$u" -v b="$T_USER" 'BEGIN { print a + b }')
		s=$(awk -v a="$s" -v b="$T_SYS" 'BEGIN { print a + b }')
		[ "$T_RSS" -gt "$r" ] && r=$T_RSS
	done
	T_WALL=$span T_USER=$u T_SYS=$s T_RSS=$r
	TOOL_VER=${3:-$tool} bench_tp_row "$tool" "$pair" "$SETTINGS" "$N" "" "$rows" "$span" "$p50" "$p99" "$p999" "$pmax"
}

run_streamctl() {
	setup_ns
	local k=(--transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$NS" --progress=never --stats-interval=0)
	bench_time_bg sink "$SC" sink "${k[@]}" --db="$DB" --idle-exit=$IDLE --stats="$BENCH_TMP/sink.json"
	local sp=$BG_PID
	bench_time_bg proc "$SC" process "${k[@]}" --idle-exit=$IDLE --stats="$BENCH_TMP/proc.json"
	local pp=$BG_PID
	sleep "$BENCH_JOIN"
	bench_time gen "$SC" generate "${k[@]}" --source=cpu --rate=0 --count="$N" --stats="$BENCH_TMP/gen.json"
	wait "$pp" "$sp"
	record streamctl "$1"
	teardown_ns
}

# run_python CLIENT PAIR
run_python() {
	setup_ns
	local py=("$PY" "$BENCH_DIR/kafka_pipeline.py" --client="$1")
	bench_time_bg sink "${py[@]}" sink "$KAFKA_BOOTSTRAP" "$NS" $IDLE "$DB"
	local sp=$BG_PID
	bench_time_bg proc "${py[@]}" proc "$KAFKA_BOOTSTRAP" "$NS" $IDLE
	local pp=$BG_PID
	sleep "$BENCH_JOIN"
	bench_time gen "${py[@]}" gen "$KAFKA_BOOTSTRAP" "$NS" "$N"
	wait "$pp" "$sp"
	record "python-$1" "$2" "$1"
	teardown_ns
}

run_python-confluent-kafka() { run_python confluent-kafka "$1"; }
run_python-kafka-python() { run_python kafka-python "$1"; }

: "${BENCH_PIPELINE_TOOLS:=streamctl python-confluent-kafka python-kafka-python}"
# shellcheck disable=SC2086
bench_interleave "$BENCH_PAIRS" $BENCH_PIPELINE_TOOLS
echo "== Kafka pipeline generate -> process -> sink, N=$N (rows / span in the sink DB) =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl rate_wall

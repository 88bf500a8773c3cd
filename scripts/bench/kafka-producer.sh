#!/usr/bin/env bash
# scripts/bench/kafka-producer.sh - Kafka produce throughput (issue 8).
#
#   streamctl generate --transport=kafka --source=cpu --rate=0 --count=N
#   kcat -P ... -X acks=all -X enable.idempotence=true -X linger.ms=5 < N records
#   Kafka ProducerPerformance --num-records N --record-size S --throughput -1
#   a plain Python loop sending the same N records, once with confluent-kafka
#   (librdkafka in C under a Python API) and once with kafka-python (pure
#   Python; idempotence and acks=all supported and set, like the others)
#
# The records kcat and Python send are streamctl's own (made once with
# `streamctl generate --source=cpu`, deframed, one per line) with the same key;
# ProducerPerformance sends random bytes of the same mean size S, without a key.
# streamctl builds every record as it goes (reads /proc/stat, encodes JSON):
# the others only send.  Same settings for all: acks=all, idempotence, linger
# 5 ms, no compression, one topic of BENCH_PARTITIONS (3) partitions created
# before each run and deleted after it, delivered count read back from the
# topic's end offsets.  Other client defaults differ (batch sizes: librdkafka
# batch.size 1 MB / 10000 msgs, Java and kafka-python batch.size 16 KiB) and
# are left as each tool ships them.
#
# streamctl-gen-only (the generator into /dev/null, no broker) is listed too:
# the ceiling the cpu source itself puts on every transport.
#
# usage: scripts/bench/kafka-producer.sh [N]     (CSV: bench/results/kafka-producer.csv)
. "$(dirname "$0")/lib.sh"
bench_init kafka-producer
bench_venv

if [ "$BENCH_QUICK" = 1 ]; then N=${1:-50000}; else N=${1:-1000000}; fi
: "${BENCH_PARTITIONS:=3}"
: "${BENCH_KAFKA_TOOLS:=streamctl kcat kafka-java confluent-kafka kafka-python streamctl-gen-only}"
SETTINGS="acks=all idempotence linger.ms=5 partitions=$BENCH_PARTITIONS"
KEY=$(hostname)

bench_payloads "$N" "$BENCH_TMP/payloads" --source=cpu
S=$PAYLOAD_SIZE
sed "s/^/$KEY\t/" "$BENCH_TMP/payloads" >"$BENCH_TMP/keyed"
bench_log "N=$N records, mean payload $S bytes, key '$KEY'"

kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" "$@"; }

new_topic() {
	TOPIC_NS=$(bench_uniq bench-kp)
	TOPIC=$TOPIC_NS.raw.cpu
	kadmin create "$TOPIC" "$BENCH_PARTITIONS" || bench_die "cannot create topic $TOPIC"
}

done_topic() {
	DELIVERED=$(kadmin count "$TOPIC")
	kadmin delete "$TOPIC" 2>/dev/null
	[ "$DELIVERED" = "$N" ] || bench_log "  warning: topic holds $DELIVERED of $N"
}

run_streamctl() {
	new_topic
	local st=$BENCH_TMP/stats-$1.json
	bench_time sc "$SC" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" \
		--namespace="$TOPIC_NS" --source=cpu --rate=0 --count="$N" \
		--stats="$st" --stats-interval=0 --progress=never 2>"$BENCH_TMP/sc.err" || bench_log "  streamctl failed: $(tail -n 2 "$BENCH_TMP/sc.err")"
	done_topic
	bench_tp_row streamctl "$1" "$SETTINGS" "$N" "$S" "$DELIVERED" "$(bench_stat "$st" elapsed_s)"
}

# Not a peer: the generator alone into /dev/null over the pipe transport, the
# ceiling the cpu source puts on any transport (it reads /proc/stat per message).
run_streamctl-gen-only() {
	local st=$BENCH_TMP/stats-gen-$1.json
	bench_time gen "$SC" generate --source=cpu --rate=0 --count="$N" \
		--stats="$st" --stats-interval=0 --progress=never >/dev/null 2>&1
	TOOL_VER=streamctl bench_tp_row streamctl-gen-only "$1" "pipe to /dev/null" "$N" "$S" "$N" \
		"$(bench_stat "$st" elapsed_s)"
}

run_kcat() {
	new_topic
	bench_time kcat kcat -P -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -K $'\t' -X acks=all \
		-X enable.idempotence=true -X linger.ms=5 <"$BENCH_TMP/keyed"
	done_topic
	bench_tp_row kcat "$1" "$SETTINGS" "$N" "$S" "$DELIVERED" ""
}

run_kafka-java() {
	new_topic
	local out=$BENCH_TMP/pp-$1.out tool_s
	bench_time pp java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ProducerPerformance \
		--topic "$TOPIC" --num-records "$N" --record-size "$S" --throughput -1 \
		--producer-props acks=all enable.idempotence=true linger.ms=5 \
		bootstrap.servers="$KAFKA_BOOTSTRAP" >"$out" 2>&1
	done_topic
	# last line: "N records sent, R records/sec (...)": the tool's own rate
	tool_s=$(awk -F'[ ,]+' '/records sent/ { r = $4 } END { if (r > 0) printf "%.3f", '"$N"' / r }' "$out")
	bench_tp_row kafka-java "$1" "$SETTINGS" "$N" "$S" "$DELIVERED" "$tool_s"
}

# run_py CLIENT PAIR: kafka_produce.py with that client
run_py() {
	new_topic
	local out=$BENCH_TMP/py-$2.out
	bench_time py "$PY" "$BENCH_DIR/kafka_produce.py" --client="$1" "$KAFKA_BOOTSTRAP" "$TOPIC" \
		"$KEY" "$BENCH_TMP/payloads" >"$out"
	done_topic
	bench_tp_row "$1" "$2" "$SETTINGS" "$N" "$S" "$DELIVERED" "$(awk '{ print $6 }' "$out")"
}

run_confluent-kafka() { run_py confluent-kafka "$1"; }
run_kafka-python() { run_py kafka-python "$1"; }

# shellcheck disable=SC2086
bench_interleave "$BENCH_PAIRS" $BENCH_KAFKA_TOOLS
echo "== Kafka produce, N=$N, S=$S bytes (wall: whole process incl. start-up) =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl rate_wall
echo "== the same, by each tool's own clock (ProducerPerformance excludes JVM start) =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl rate_tool

#!/usr/bin/env bash
# scripts/bench/mqtt-publisher.sh - MQTT publish throughput at QoS 0 and 1
# (issue 8; goal: streamctl >= mosquitto_pub at QoS 0).
#
#   streamctl generate --transport=mqtt --qos=Q --inflight=W --source=cpu --rate=0 --count=N
#   mosquitto_pub -l -q Q < N records           (one message per line)
#   a plain paho-mqtt Python loop, max_inflight_messages=W
#
# mosquitto_pub and paho send streamctl's own records (made once, one per
# line).  Nobody subscribes: the broker routes to no one, the same for all;
# a QoS 1 run ends when every PUBACK arrived, so "delivered" is what each
# tool says it sent.  W (BENCH_MQTT_INFLIGHT, 20) is libmosquitto's and
# paho's default in-flight window; mosquitto_pub has no option to change it.
# The window counts QoS 1 and 2 messages only (MQTT Receive Maximum), so at
# QoS 0 neither applies an in-flight limit (streamctl writes each message to
# the socket in publish(), transports/mqtt_client.c).  streamctl's
# figures include making the records (the cpu source and JSON encoding, about
# 0.45 us CPU per record: `streamctl generate --count=N --rate=0 >/dev/null`); the
# others read them ready-made from a file.
#
# usage: scripts/bench/mqtt-publisher.sh [N]   (CSV: bench/results/mqtt-publisher.csv)
. "$(dirname "$0")/lib.sh"
bench_init mqtt-publisher
bench_venv

# full: 300000, so that the fastest tool runs for seconds and a client's
# fixed start-up and shutdown cost (paho: 0.1-1 s) does not set the ratio
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-10000}; else N=${1:-300000}; fi
: "${BENCH_MQTT_QOS:=0 1}"
: "${BENCH_MQTT_INFLIGHT:=20}"
: "${BENCH_MQTT_TOOLS:=streamctl mosquitto_pub paho}"

bench_payloads "$N" "$BENCH_TMP/payloads" --source=cpu
S=$PAYLOAD_SIZE
bench_log "N=$N records, mean payload $S bytes"

TOOLS=$BENCH_MQTT_TOOLS
if ! "$SC" generate --transport=mqtt --broker="mqtt://$MQTT_HOST:$MQTT_PORT" \
	--namespace="$(bench_uniq bench-probe)" --source=cpu --rate=0 --count=1 \
	--stats=/dev/null --progress=never >/dev/null 2>"$BENCH_TMP/probe.err"; then
	bench_log "streamctl cannot publish over MQTT here ($(tail -n 1 "$BENCH_TMP/probe.err")): left out"
	TOOLS=${TOOLS//streamctl/}
fi

run_streamctl() {
	local st=$BENCH_TMP/stats-$1.json ns
	ns=$(bench_uniq bench-mp)
	bench_time sc "$SC" generate --transport=mqtt --broker="mqtt://$MQTT_HOST:$MQTT_PORT" \
		--namespace="$ns" --qos="$QOS" --inflight="$BENCH_MQTT_INFLIGHT" --source=cpu --rate=0 \
		--count="$N" --stats="$st" --stats-interval=0 --progress=never 2>"$BENCH_TMP/sc.err" ||
		bench_log "  streamctl failed: $(tail -n 2 "$BENCH_TMP/sc.err")"
	bench_tp_row streamctl "$1" "$SETTINGS" "$N" "$S" "$(bench_stat "$st" out)" "$(bench_stat "$st" elapsed_s)"
}

# mosquitto_pub -l at QoS 1/2 stops early when given more than 65,535
# lines: it disconnects at the first PUBACK whose packet id equals the last
# line's, and packet ids wrap at 65,535, so an earlier message with the
# same id ends the run after about N mod 65,535 messages
# (scripts/bench/mosquitto-pub-check.sh counts what the broker received).
# At QoS 1/2 it therefore gets the records in chunks of MP_CHUNK lines,
# one connection each, timed as one command.
MP_CHUNK=60000
split -l "$MP_CHUNK" -d -a 3 "$BENCH_TMP/payloads" "$BENCH_TMP/payloads.part."
mp_chunks() { # HOST PORT TOPIC QOS FILE...
	local h=$1 p=$2 t=$3 q=$4 f
	shift 4
	for f in "$@"; do mosquitto_pub -h "$h" -p "$p" -t "$t" -q "$q" -l <"$f" || return 1; done
}
export -f mp_chunks

run_mosquitto_pub() {
	local topic
	topic=$(bench_uniq bench-mp)/raw/cpu
	if [ "$QOS" = 0 ]; then
		bench_time mp mosquitto_pub -h "$MQTT_HOST" -p "$MQTT_PORT" -t "$topic" \
			-q "$QOS" -l <"$BENCH_TMP/payloads"
	else
		bench_time mp bash -c 'mp_chunks "$@"' mp_chunks "$MQTT_HOST" "$MQTT_PORT" "$topic" \
			"$QOS" "$BENCH_TMP"/payloads.part.*
	fi
	local rc=$?
	bench_tp_row mosquitto_pub "$1" "$SETTINGS" "$N" "$S" "$([ $rc = 0 ] && echo "$N" || echo 0)" ""
}

run_paho() {
	local out=$BENCH_TMP/paho-$1.out
	bench_time paho "$PY" "$BENCH_DIR/mqtt_publish.py" "$MQTT_HOST" "$MQTT_PORT" \
		"$(bench_uniq bench-mp)/raw/cpu" "$QOS" "$BENCH_MQTT_INFLIGHT" "$BENCH_TMP/payloads" >"$out"
	bench_tp_row paho "$1" "$SETTINGS" "$N" "$S" "$(awk '{ print $2 }' "$out")" "$(awk '{ print $4 }' "$out")"
}

for QOS in $BENCH_MQTT_QOS; do
	SETTINGS="qos=$QOS inflight=$BENCH_MQTT_INFLIGHT no subscriber"
	[ "$QOS" = 0 ] || SETTINGS="$SETTINGS; mosquitto_pub $MP_CHUNK lines per connection"
	# shellcheck disable=SC2086
	bench_interleave "$BENCH_PAIRS" $TOOLS
done
REF=streamctl
[[ " $TOOLS " = *" streamctl "* ]] || REF=mosquitto_pub
echo "== MQTT publish, N=$N, S=$S bytes, wall =="
bench_summary "$BENCH_CSV" "$RUN_ID" "$REF" rate_wall

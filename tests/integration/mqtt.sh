#!/usr/bin/env bash
# The pipeline over a real Mosquitto (scripts/brokers.sh start mqtt) at QoS 1:
# both sources and codecs, a sink stopped mid-stream and restarted with the
# same session, two processors on one shared subscription, and a Sensor
# Logger push published with mosquitto_pub on the app's raw topic.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
. "$(dirname "$0")/scenarios.sh.inc"
T=mqtt
READY_WAIT=2
MQTT_PORT=${MQTT_PORT:-1883}
# the pipeline's broker follows MQTT_PORT (a private broker) unless given
export STREAMCTL_BROKER=${STREAMCTL_BROKER:-mqtt://127.0.0.1:$MQTT_PORT}

scenario_basic json 2000
scenario_basic msgpack 2000

# sink stopped (SIGTERM) mid-stream, restarted with the same session
new_ns
db="$WORK/restart.db"
start_sink "$db" --client-id="$NS-sink"
start_process main --client-id="$NS-proc"
sleep "$READY_WAIT"
start_gen cpu 2000 --rate=250 --source-id=cpu-r
start_gen sensor 2000 --rate=250 --source-id=sensor-r
sleep 3
check "mqtt restart: the sink drains and exits 0 on SIGTERM" stop_pid "$SINK_PID"
stored=$(rows_total "$db")
sleep 2
start_sink "$db" --client-id="$NS-sink"
check "mqtt restart: generators finish" wait_gens
if wait_rows "$db" 2000 "$TIMEOUT" 2; then ok "mqtt restart: the restarted sink got what was published while it was away ($stored rows before)"; else not_ok "mqtt restart: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
check "mqtt restart: processor and sink drain" stop_all
check_verify "mqtt restart: verify --expect=2000 is clean" "$db" 2000 2

# sink SIGKILLed holding records it had polled but not committed (its
# database write is held up by another writer's lock): paho acknowledged
# them on receipt, so only the sink's journal can give them back
new_ns
db="$WORK/kill.db"
jnl="$WORK/journal"
start_sink "$db" --client-id="$NS-sink" -X journal="$jnl"
start_process main --client-id="$NS-proc" -X journal="$jnl"
sleep "$READY_WAIT"
start_gen cpu 2000 --rate=250 --source-id=cpu-k
start_gen sensor 2000 --rate=250 --source-id=sensor-k
sleep 2
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
time.sleep(4)
c.execute("ROLLBACK")' "$db" &
locker=$!
sleep 2
# committed offset (header bytes 8..15) below the file size: records pending
pending_bytes() {
	local f="$jnl/$NS-sink.journal" size committed
	size=$(stat -c %s "$f" 2>/dev/null) || return 1
	committed=$(od -An -t u8 -j 8 -N 8 "$f" | tr -d ' ')
	echo $((size - committed))
}
kill -KILL "$SINK_PID"
wait "$SINK_PID" 2>/dev/null
held=$(pending_bytes || echo 0)
check "mqtt kill: the SIGKILLed sink left uncommitted records in its journal ($held bytes)" test "${held:-0}" -gt 0
wait "$locker"
start_sink "$db" --client-id="$NS-sink" -X journal="$jnl"
check "mqtt kill: generators finish" wait_gens
if wait_rows "$db" 2000 "$TIMEOUT" 2; then ok "mqtt kill: the restarted sink replayed its journal and stored everything"; else not_ok "mqtt kill: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
check "mqtt kill: processor and sink drain" stop_all
check_verify "mqtt kill: verify --expect=2000 is clean" "$db" 2000 2
check "mqtt kill: nothing pending, the sink's journal is removed" test ! -e "$jnl/$NS-sink.journal"

# two processors on one shared subscription
new_ns
db="$WORK/share.db"
start_sink "$db"
start_process a --client-id="$NS-a"
start_process b --client-id="$NS-b"
sleep "$READY_WAIT"
start_gen cpu 1500 --rate=300 --source-id=cpu-s
start_gen sensor 1500 --rate=300 --source-id=sensor-s
check "mqtt share: generators finish" wait_gens
if wait_rows "$db" 1500 "$TIMEOUT" 2; then ok "mqtt share: every record stored"; else not_ok "mqtt share: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
check "mqtt share: processors and sink drain" stop_all
for p in a b; do
	n=$(stat_final "$WORK/process-$p.stats" in)
	check "mqtt share: processor $p did work (${n:-0} records)" test "${n:-0}" -gt 0
done
check_verify "mqtt share: verify --expect=1500 is clean" "$db" 1500 2

# the Sensor Logger app's bare JSON on its own topic
new_ns
db="$WORK/app.db"
start_sink "$db"
start_process app --input=sensorlogger --topic="$NS-sensor-logger" --client-id="$NS-app"
sleep "$READY_WAIT"
body=$(cat "$(dirname "$0")/../data/sensorlogger-push.json")
for i in 0 1 2; do
	printf '%s' "$body" | sed "s/\"messageId\": *[0-9]*/\"messageId\": $i/" >"$WORK/push.json"
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$NS-sensor-logger" -f "$WORK/push.json"
done
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$NS-sensor-logger" -m '{"messageId": 3, "payload": 7}'
rows_at_least() { [ "$(rows_total "$1")" -ge "$2" ]; }
dead_letters() { [ "$(sql "$1" 'SELECT COUNT(*) FROM deadletters' 2>/dev/null || echo 0)" -ge 1 ]; }
if wait_for 30 rows_at_least "$db" 3; then ok "mqtt app: three app pushes processed and stored"; else not_ok "mqtt app: three app pushes processed and stored ($(rows_total "$db"))" "$(show_logs)"; fi
wait_for 10 dead_letters "$db"
check "mqtt app: processor and sink drain" stop_all
check_eq "mqtt app: the malformed push is a dead letter" 1 "$(sql "$db" 'SELECT COUNT(*) FROM deadletters')"
check_verify "mqtt app: verify is clean" "$db" 3
finish

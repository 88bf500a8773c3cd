#!/usr/bin/env bash
# The pipeline over a real Kafka broker (scripts/brokers.sh start kafka):
# both sources and both codecs, a processor killed mid-stream, two
# processors sharing four partitions, static membership (a restart with the
# same --client-id, two ids sharing, one id twice fenced, a broker restart),
# and (with the three-node cluster) a broker killed mid-stream under
# replication factor 3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
. "$(dirname "$0")/scenarios.sh.inc"
T=kafka

scenario_basic json 2000
scenario_basic msgpack 2000
scenario_kill_processor 3000 400
scenario_two_processors 1500 300 --partitions=4

# -X debug=...: librdkafka's debug lines reach stderr (without it they are dropped)
new_ns
"$SC" process --transport=kafka --namespace="$NS" --stats-interval=0 --idle-exit=2 \
	-X debug=cgrp 2>"$WORK/debug.log"
check_grep "kafka debug: -X debug=cgrp prints librdkafka's consumer group lines" \
	"kafka: CGRPSTATE: .*changed state" "$WORK/debug.log"

# Static group membership (the --client-id given, or -X group.instance.id).
# A processor SIGKILLed and started again with the same id takes its partitions back
# (no session timeout to wait out): every record arrives, verify is clean.
# How soon the sink advances again is a benchmark (scripts/bench/
# kafka-restart.sh), not a pass/fail timing here.
new_ns
db="$WORK/static.db"
start_sink "$db" --client-id="$NS-sink"
start_process first --client-id="$NS-proc"
start_gen cpu 3000 --rate=400 --source-id=cpu-static
start_gen sensor 3000 --rate=400 --source-id=sensor-static
sleep 4
kill -KILL "${PROC_PIDS[first]}"
wait "${PROC_PIDS[first]}" 2>/dev/null
unset 'PROC_PIDS[first]'
before=$(rows_total "$db")
start_process again --client-id="$NS-proc"
check "kafka static: generators finish" wait_gens
if wait_rows "$db" 3000 "$TIMEOUT" 2; then ok "kafka static: every record stored after a SIGKILL and a restart with the same --client-id ($before rows before)"; else not_ok "kafka static: every record stored after the restart ($(rows_total "$db") rows)" "$(rows_by_source "$db"; show_logs)"; fi
check "kafka static: processor and sink drain" stop_all
check_verify "kafka static: verify --expect=3000 is clean" "$db" 3000 2

# Two instances with different client ids are two static members: they share.
new_ns
db="$WORK/static2.db"
start_sink "$db" --client-id="$NS-sink" --partitions=4
start_process a --client-id="$NS-a" -X group.instance.id="$NS-a" --partitions=4
start_process b --client-id="$NS-b" -X group.instance.id="$NS-b" --partitions=4
start_gen cpu 1500 --rate=300 --source-id=cpu-s2 --partitions=4
start_gen cpu 1500 --rate=300 --source-id=cpu-s2b --device-id=host-b --partitions=4
start_gen sensor 1500 --rate=300 --source-id=sensor-s2 --device-id=phone-b --partitions=4
check "kafka static share: generators finish" wait_gens
if wait_rows "$db" 1500 "$TIMEOUT" 3; then ok "kafka static share: every record stored"; else not_ok "kafka static share: every record stored ($(rows_total "$db") rows)" "$(show_logs)"; fi
check "kafka static share: processors and sink drain" stop_all
a=$(stat_final "$WORK/process-a.stats" in)
b=$(stat_final "$WORK/process-b.stats" in)
check "kafka static share: processor a did work (${a:-0} records)" test "${a:-0}" -gt 0
check "kafka static share: processor b did work (${b:-0} records)" test "${b:-0}" -gt 0
check_verify "kafka static share: verify --expect=1500 is clean" "$db" 1500 3

# Two instances with the same client id: the older one is fenced and says so.
new_ns
start_process dup1 --client-id="$NS-dup"
sleep 6
start_process dup2 --client-id="$NS-dup"
gone() { ! kill -0 "$1" 2>/dev/null; }
if wait_for 40 gone "${PROC_PIDS[dup1]}"; then
	wait "${PROC_PIDS[dup1]}"
	rc=$?
	unset 'PROC_PIDS[dup1]'
	check "kafka fenced: the older instance exits with an error (exit $rc)" test "$rc" -ne 0
	check_grep "kafka fenced: it says why in one line" \
		"kafka: fenced: another instance joined with group.instance.id '$NS-dup'" \
		"$WORK/process-dup1.log"
	check "kafka fenced: and nothing else of kafka's (no FATAL log, no close error)" \
		test "$(grep -c '^kafka:\|: kafka:' "$WORK/process-dup1.log")" -eq 1
else
	not_ok "kafka fenced: the older instance exits" "$(show_logs)"
fi
stop_all >/dev/null 2>&1

# A broker SIGKILLed and restarted under static members (own broker on
# KAFKA_RESTART_PORT, default 29292, so the shared one is never killed).
# librdkafka 2.0.2 sometimes fences its own static member once the
# coordinator is back (transports/kafka.c, kafka_rejoin); the processor and
# the sink must go on either way: every record stored, verify clean, and
# both still running until they are stopped.
BROKERS=${BROKERS:-scripts/brokers.sh}
rb=(env STREAMCTL_BROKERS_DIR="$WORK/restart-broker" KAFKA_PORT="${KAFKA_RESTART_PORT:-29292}"
	KAFKA_HEAP_OPTS="-Xms512m -Xmx512m" "$BROKERS")
if "${rb[@]}" start kafka >"$WORK/restart-broker.log" 2>&1; then
	rs=(--broker="kafka://127.0.0.1:${KAFKA_RESTART_PORT:-29292}")
	new_ns
	db="$WORK/restart.db"
	start_sink "$db" "${rs[@]}" --client-id="$NS-sink"
	start_process one "${rs[@]}" --client-id="$NS-proc"
	start_gen cpu 4000 --rate=250 --source-id=cpu-restart "${rs[@]}"
	sleep 6
	check "kafka broker restart: the broker SIGKILLed mid-stream" "${rb[@]}" kill kafka
	sleep 2
	check "kafka broker restart: the broker started again" "${rb[@]}" start kafka
	check "kafka broker restart: the generator finishes" wait_gens
	if wait_rows "$db" 4000 "$TIMEOUT"; then ok "kafka broker restart: every record stored"; else not_ok "kafka broker restart: every record stored ($(rows_total "$db") rows)" "$(show_logs)"; fi
	check "kafka broker restart: the processor still runs" kill -0 "${PROC_PIDS[one]}"
	check "kafka broker restart: the sink still runs" kill -0 "$SINK_PID"
	check "kafka broker restart: processor and sink drain" stop_all
	check_verify "kafka broker restart: verify --expect=4000 is clean" "$db" 4000 1
	grep -h "joining again" "$WORK/process-one.log" "$WORK/sink.log" | sed 's/^/        /'
	"${rb[@]}" stop kafka >/dev/null 2>&1
else
	not_ok "kafka broker restart: own broker started" "$(tail -n 5 "$WORK/restart-broker.log")"
fi

# fetch_states LOG: each partition's last fetch state and the group's last
# steps (join, sync, assignment, committed offsets), from a consumer run
# with -X debug=cgrp,topic
fetch_states() {
	grep -h 'changed fetch state' "$1" | awk '{ last[$5 " " $6] = $0 } END { for (p in last) print last[p] }'
	grep -h 'CGRPSTATE\|CGRPJOINSTATE\|SYNCGROUP\|OFFSET\|ASSIGNMENT: .*Current\|COORD' "$1" | tail -n 10
}

# three KRaft nodes, replication factor 3, min.insync.replicas=2: one broker
# is killed (SIGKILL) mid-stream and the pipeline finishes without loss
if "$BROKERS" start kafka-cluster >"$WORK/cluster.log" 2>&1; then
	ok "kafka cluster: three nodes started"
	eval "$("$BROKERS" env | grep '^KAFKA_CLUSTER_BOOTSTRAP=')"
	cl=(--broker="kafka://$KAFKA_CLUSTER_BOOTSTRAP" --replication-factor=3 --partitions=3)
	new_ns
	db="$WORK/cluster.db"
	# librdkafka's group and partition states are logged: a consumer that
	# stops fetching after the broker loss then says where it stopped
	start_sink "$db" "${cl[@]}" -X debug=cgrp,topic
	start_process main "${cl[@]}" -X debug=cgrp,topic
	start_gen cpu 3000 --rate=300 --source-id=cpu-cluster "${cl[@]}"
	start_gen sensor 3000 --rate=300 --source-id=sensor-cluster "${cl[@]}"
	sleep 4
	check "kafka cluster: node 2 killed with SIGKILL mid-stream" "$BROKERS" kill kafka-cluster 2
	check "kafka cluster: generators finish with a broker down" wait_gens
	if wait_rows "$db" 3000 "$TIMEOUT" 2; then ok "kafka cluster: every record stored with one broker down"; else not_ok "kafka cluster: every record stored ($(rows_total "$db"))" "$(rows_by_source "$db"; fetch_states "$WORK/process-main.log")"; fi
	check "kafka cluster: processor and sink drain" stop_all
	check_verify "kafka cluster: verify --expect=3000 is clean" "$db" 3000 2
	"$BROKERS" stop kafka-cluster >/dev/null 2>&1
else
	not_ok "kafka cluster: three nodes started" "$(cat "$WORK/cluster.log")"
fi
finish

#!/usr/bin/env bash
# The pipeline over a real RabbitMQ (scripts/brokers.sh start amqp): both
# sources and codecs, three competing processors on one queue, a processor
# killed mid-stream, and RabbitMQ stopped and started again mid-stream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
. "$(dirname "$0")/scenarios.sh.inc"
T=amqp

scenario_basic json 2000
scenario_basic msgpack 2000
scenario_kill_processor 3000 400

# three competing consumers on one queue: each takes a share
new_ns
db="$WORK/three.db"
start_sink "$db"
for p in a b c; do start_process "$p" --prefetch=50; done
start_gen cpu 1500 --rate=300 --source-id=cpu-three
start_gen sensor 1500 --rate=300 --source-id=sensor-three
check "amqp three: generators finish" wait_gens
if wait_rows "$db" 1500 "$TIMEOUT" 2; then ok "amqp three: every record stored"; else not_ok "amqp three: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
check "amqp three: processors and sink drain" stop_all
for p in a b c; do
	n=$(stat_final "$WORK/process-$p.stats" in)
	check "amqp three: processor $p took a share (${n:-0} records)" test "${n:-0}" -gt 0
done
check_verify "amqp three: verify --expect=1500 is clean" "$db" 1500 2

# the broker goes away mid-stream and comes back
if [ -n "${AMQP_RESTART:-}" ]; then
	new_ns
	db="$WORK/restart.db"
	start_sink "$db"
	start_process main
	start_gen cpu 3000 --rate=300 --source-id=cpu-restart
	start_gen sensor 3000 --rate=300 --source-id=sensor-restart
	sleep 3
	$AMQP_RESTART stop
	sleep 3
	$AMQP_RESTART start
	check "amqp restart: generators finish" wait_gens
	if wait_rows "$db" 3000 "$TIMEOUT" 2; then ok "amqp restart: every record stored after the restart"; else not_ok "amqp restart: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
	check "amqp restart: processor and sink drain" stop_all
	check_verify "amqp restart: verify --expect=3000 is clean" "$db" 3000 2
	r=$(stat_final "$WORK/process-main.stats" retries)
	check "amqp restart: the processor reconnected (${r:-0} retries)" test "${r:-0}" -gt 0
else
	not_ok "amqp restart: AMQP_RESTART (a command taking stop|start) is not set"
fi
finish

#!/usr/bin/env bash
# The pipeline over a real Kafka broker (scripts/brokers.sh start kafka):
# both sources and both codecs, a processor killed mid-stream, two
# processors sharing four partitions, and (with the three-node cluster) a
# broker killed mid-stream under replication factor 3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
. "$(dirname "$0")/scenarios.sh.inc"
T=kafka

scenario_basic json 2000
scenario_basic msgpack 2000
scenario_kill_processor 3000 400
scenario_two_processors 1500 300 --partitions=4

# three KRaft nodes, replication factor 3, min.insync.replicas=2: one broker
# is killed (SIGKILL) mid-stream and the pipeline finishes without loss
BROKERS=${BROKERS:-scripts/brokers.sh}
if "$BROKERS" start kafka-cluster >"$WORK/cluster.log" 2>&1; then
	ok "kafka cluster: three nodes started"
	eval "$("$BROKERS" env | grep '^KAFKA_CLUSTER_BOOTSTRAP=')"
	cl=(--broker="kafka://$KAFKA_CLUSTER_BOOTSTRAP" --replication-factor=3 --partitions=3)
	NS=$(fresh_ns)
	db="$WORK/cluster.db"
	start_sink "$db" "${cl[@]}"
	start_process main "${cl[@]}"
	start_gen cpu 3000 --rate=300 --source-id=cpu-cluster "${cl[@]}"
	start_gen sensor 3000 --rate=300 --source-id=sensor-cluster "${cl[@]}"
	sleep 4
	check "kafka cluster: node 2 killed with SIGKILL mid-stream" "$BROKERS" kill kafka-cluster 2
	check "kafka cluster: generators finish with a broker down" wait_gens
	if wait_rows "$db" 3000 "$TIMEOUT" 2; then ok "kafka cluster: every record stored with one broker down"; else not_ok "kafka cluster: every record stored ($(rows_total "$db"))" "$(show_logs)"; fi
	check "kafka cluster: processor and sink drain" stop_all
	check_verify "kafka cluster: verify --expect=3000 is clean" "$db" 3000
	"$BROKERS" stop kafka-cluster >/dev/null 2>&1
else
	not_ok "kafka cluster: three nodes started" "$(cat "$WORK/cluster.log")"
fi
finish

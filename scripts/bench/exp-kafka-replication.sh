#!/usr/bin/env bash
# scripts/bench/exp-kafka-replication.sh - Kafka with 1 broker vs 3 brokers,
# replication factor 1 vs 3 (issue 8 experiment).
#
# Three series, each the same load: P producers (`streamctl generate
# --transport=kafka --rate=0`, acks=all + idempotence as always, each its
# own --source-id and --device-id, the record key, so their records can land
# on different partitions: parts_used in the CSV says how many did) writing
# N records in total into one topic of 3 partitions:
#   1 broker, RF 1     the shared single broker (scripts/brokers.sh kafka)
#   3 brokers, RF 1    the three-node KRaft cluster (brokers.sh kafka-cluster)
#   3 brokers, RF 3    the same cluster, min.insync.replicas=2: every write
#                      is acknowledged once two replicas have it
# rate = delivered / wall of the producer group; CPU of the producers only
# (the brokers are JVMs shared by the series).  All of it on one 2-core
# machine: three brokers do not add hardware here, so the figure is the cost
# of replication and of spreading leaders, not a cluster's capacity.
# The cluster is started when it is not running, and stopped again after.
# CSV bench/results/exp-kafka-replication.csv, plot docs/img/exp-kafka-replication.png.
. "$(dirname "$0")/lib.sh"
bench_init exp-kafka-replication
bench_venv
: "${BENCH_EXP_ROUNDS:=$((BENCH_PAIRS < 3 ? BENCH_PAIRS : 3))}"
ROUNDS=$BENCH_EXP_ROUNDS
if [ "$BENCH_QUICK" = 1 ]; then N=${1:-6000}; else N=${1:-3000000}; fi # issue 20: cells of 1 s and more
P=${BENCH_PRODUCERS:-3}
PARTS=3
BROKERS=$BENCH_ROOT/scripts/brokers.sh
eval "$("$BROKERS" env | grep '^KAFKA_CLUSTER_BOOTSTRAP=')"
HEADER="$BENCH_META_HEADER,exp,series,pair,brokers,rf,min_insync,partitions,producers,count,delivered,parts_used,wall_s,rate,cpu_s"
kadmin() { "$PY" "$BENCH_DIR/kadmin.py" "$@"; }

started_cluster=0
bench_cleanup_hook() {
	[ "$started_cluster" = 1 ] && "$BROKERS" stop kafka-cluster >/dev/null 2>&1
	return 0
}
if ! "$BROKERS" status kafka-cluster >/dev/null 2>&1; then
	bench_log "starting the three-node cluster"
	started_cluster=1
	"$BROKERS" start kafka-cluster >/dev/null || bench_die "the three-node cluster did not start"
fi

cell() { # brokers rf pair
	local nb=$1 rf=$2 pair=$3 bs=$KAFKA_BOOTSTRAP isr=1 ns cpu wall got used rate
	[ "$nb" = 3 ] && bs=$KAFKA_CLUSTER_BOOTSTRAP
	[ "$rf" = 3 ] && isr=2
	ns=$(bench_uniq bench-krepl)
	kadmin "$bs" create "$ns.raw.cpu" "$PARTS" "$rf" "$isr" || bench_die "cannot create topic on $bs"
	bench_producers "$P" "$N" "$bs" "$ns" repl own
	wall=$GROUP_WALL cpu=$GROUP_CPU
	got=$(kadmin "$bs" count "$ns.raw.cpu")
	used=$(kadmin "$bs" parts "$ns.raw.cpu")
	kadmin "$bs" delete "$ns.raw.cpu" 2>/dev/null
	rate=$(awk -v n="$got" -v t="$wall" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	bench_csv_append "$BENCH_RESULTS/exp-kafka-replication.csv" "$HEADER" \
		"$(bench_meta),kafka-replication,RF $rf,$pair,$nb,$rf,$isr,$PARTS,$P,$N,$got,$used,$wall,$rate,$cpu"
	bench_log "  $nb broker(s), RF $rf: $got/$N in $wall s = $rate/s over $used partition(s), cpu $cpu s"
	[ "$got" -ge $((N / P * P)) ] || bench_log "  SHORT DELIVERY: $got of $((N / P * P))"
}

for ((pair = 0; pair <= ROUNDS; pair++)); do
	for cfg in "1 1" "3 1" "3 3"; do
		bench_log "round $pair/$ROUNDS: brokers/RF $cfg"
		# shellcheck disable=SC2086
		cell $cfg "$pair"
	done
done
bench_plot one exp-kafka-replication.csv

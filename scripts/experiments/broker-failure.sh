#!/usr/bin/env bash
# scripts/experiments/broker-failure.sh - what happens to the Kafka pipeline
# when a broker dies, under replication factor 1 and 3.
#
#   scripts/experiments/broker-failure.sh            (both RFs, 3-4 minutes)
#   RFS=3 scripts/experiments/broker-failure.sh      (one RF only)
#
# For each replication factor RF (min.insync.replicas 1 for RF 1, 2 for RF 3)
# on the three-node KRaft cluster of scripts/brokers.sh:
#   - a fresh namespace; its five topics are created with Kafka's own
#     TopicCommand (3 partitions, RF, min.insync.replicas as a topic config:
#     the kafka backend's Admin API call sets no topic configs; the cluster
#     default is 2, which Kafka 4.1 caps at the replication factor for an
#     RF 1 topic, so the explicit 1 only states what is in force);
#   - streamctl sink and process, then a cpu generator (CPU_RATE/s) and a
#     sensor generator (SENSOR_RATE/s), each for RUN_S seconds (--count), all
#     with --stats-interval=1;
#   - at t=KILL_AT s (t=0: generators start) the node leading the raw
#     partitions that carry the traffic is SIGKILLed (every record of a source
#     has one key, so one partition per raw topic holds data: the victim is
#     the node with the most raw-topic records in the partitions it leads,
#     ties broken by the most raw partitions led); at t=RESTART_AT s it is
#     started again (brokers.sh start-node, in the background);
#   - the generators run to their count (waited for up to RUN_S+GEN_GRACE s);
#     the sink is given up to DRAIN_S s to store everything, then process and
#     sink get SIGTERM; `streamctl verify --expect=N` runs per source (on a
#     copy of the database holding that source only: --expect applies to
#     every source and the two counts differ) and on the whole database;
#   - kcat -L is sampled every second (leaders, ISR) until the restarted
#     node is back in every ISR (at most ISR_WAIT s after the drain); the
#     controller's "Fencing broker N" and "unfence granted" log lines give
#     when the cluster declared the node dead and alive again.
# scripts/experiments/broker-failure.py turns each run's raw files into one
# CSV row per second (appended to bench/results/broker-failure.csv), one
# summary row (bench/results/broker-failure-summary.csv) and the plot
# docs/img/broker-failure.png. The raw files stay in
# bench/results/raw/broker-failure/<run>/.
#
# The cluster runs in its own scratch directory and on its own ports, so
# that killing a node never touches the brokers other test runs use:
# STREAMCTL_BROKERS_DIR [.cache/brokers-experiment], KAFKA_CLUSTER_PORT
# [49092], KAFKA_CLUSTER_CONTROLLER_PORT [49192]. It is started if needed and
# stopped at the end only if this script started it (KEEP_CLUSTER=1 keeps it).
# Other knobs (environment): RFS ["1 3"], PARTITIONS [3], CPU_RATE [500],
# SENSOR_RATE [20], RUN_S [60], KILL_AT [10], RESTART_AT [40], GEN_GRACE [40],
# DRAIN_S [40], ISR_WAIT [30: after the drain, how long the restarted node
# may take to rejoin every ISR], RESULTS [bench/results], PLOT [docs/img/broker-failure.png],
# STREAMCTL [build/streamctl], PYTHON [/usr/bin/python3, needs
# python3-matplotlib for the plot].
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SC=${STREAMCTL:-$ROOT/build/streamctl}
BROKERS=$ROOT/scripts/brokers.sh
PYTHON=${PYTHON:-/usr/bin/python3}
export STREAMCTL_BROKERS_DIR=${STREAMCTL_BROKERS_DIR:-$ROOT/.cache/brokers-experiment}
export KAFKA_CLUSTER_PORT=${KAFKA_CLUSTER_PORT:-49092}
export KAFKA_CLUSTER_CONTROLLER_PORT=${KAFKA_CLUSTER_CONTROLLER_PORT:-49192}
KAFKA_LIBS=${KAFKA_LIBS:-${STREAMCTL_CACHE:-$ROOT/.cache}/kafka/libs}

RFS=${RFS:-"1 3"}
PARTITIONS=${PARTITIONS:-3}
CPU_RATE=${CPU_RATE:-500}
SENSOR_RATE=${SENSOR_RATE:-20}
RUN_S=${RUN_S:-60}
KILL_AT=${KILL_AT:-10}
RESTART_AT=${RESTART_AT:-40}
GEN_GRACE=${GEN_GRACE:-40}
DRAIN_S=${DRAIN_S:-40}
ISR_WAIT=${ISR_WAIT:-30}
CPU_N=$((CPU_RATE * RUN_S))
SENSOR_N=$((SENSOR_RATE * RUN_S))

RESULTS=${RESULTS:-$ROOT/bench/results}
RAW_ROOT=$RESULTS/raw/broker-failure
CSV=$RESULTS/broker-failure.csv
SUMMARY=$RESULTS/broker-failure-summary.csv
PLOT=${PLOT:-$ROOT/docs/img/broker-failure.png}

say() { printf 'broker-failure: %s\n' "$*"; }
die() {
	printf 'broker-failure: %s\n' "$*" >&2
	exit 1
}

[ -x "$SC" ] || die "no streamctl binary at $SC (make, or set STREAMCTL)"
command -v kcat >/dev/null || die "kcat not found: run scripts/setup.sh"
command -v sqlite3 >/dev/null || die "sqlite3 not found: run scripts/setup.sh"
ls "$KAFKA_LIBS"/kafka-tools-*.jar >/dev/null 2>&1 || die "no Kafka jars in $KAFKA_LIBS: run scripts/setup.sh"
"$PYTHON" -c 'import matplotlib' 2>/dev/null ||
	die "$PYTHON cannot import matplotlib: apt-get install python3-matplotlib (or set PYTHON)"

eval "$("$BROKERS" env | grep '^KAFKA_CLUSTER_BOOTSTRAP=')"
BS=$KAFKA_CLUSTER_BOOTSTRAP
URI=kafka://$BS

now_ns() { date +%s%N; }

# sleep_until T0_NS SECONDS: sleep until T0 + SECONDS.
sleep_until() {
	local left
	left=$(($1 + $2 * 1000000000 - $(now_ns)))
	[ "$left" -le 0 ] || sleep "$(printf '%d.%09d' $((left / 1000000000)) $((left % 1000000000)))"
}

# Prefixes each line of stdin with the epoch second it arrived.
stamp_lines() {
	local line
	while IFS= read -r line; do printf '%(%s)T %s\n' -1 "$line"; done
}

kafka_tool() {
	java -Xmx128m -Dlog4j.configuration=file:/dev/null -cp "$KAFKA_LIBS/*" "$@"
}

# The partition leaders of topic $1: lines "partition leader" from kcat -L.
leaders() {
	timeout 10 kcat -L -b "$BS" -m 3 -t "$1" 2>/dev/null |
		sed -n 's/^ *partition \([0-9]*\), leader \(-\{0,1\}[0-9]*\),.*/\1 \2/p'
}

# End offsets of topic $1: lines "partition offset".
end_offsets() {
	local args=() p
	for p in $(seq 0 $((PARTITIONS - 1))); do args+=(-t "$1:$p:-1"); done
	timeout 10 kcat -Q -b "$BS" "${args[@]}" 2>/dev/null |
		sed -n 's/.*\[\([0-9]*\)\] offset \([0-9]*\).*/\1 \2/p'
}

# partition_table NS: "topic partition leader end_offset" for the run's
# raw and processed topics.
partition_table() {
	local ns=$1 t
	for t in "$ns.raw.cpu" "$ns.raw.sensor" "$ns.processed.cpu" "$ns.processed.sensor"; do
		join <(leaders "$t" | sort) <(end_offsets "$t" | sort) | sed "s/^/$t /"
	done
}

# pick_victim TABLE: the node with the most raw-topic records in the
# partitions it leads, then the most raw partitions led. Prints "node
# records partitions".
pick_victim() {
	awk '$1 ~ /\.raw\./ && $3 > 0 { r[$3] += $4; p[$3]++ }
		END { for (n in p) print n, r[n] + 0, p[n] }' "$1" | sort -k2,2nr -k3,3nr -k1,1n | head -n 1
}

# isr_full NS: every partition of the run's topics has its full ISR.
isr_full() {
	timeout 10 kcat -L -b "$BS" -m 3 2>/dev/null | awk -v ns="\"$1." '
		/^ *topic "/ { mine = index($2, ns) == 1 }
		mine && /^ *partition / {
			n++
			r = $0; sub(/.*replicas: /, "", r); sub(/, isrs:.*/, "", r)
			i = $0; sub(/.*isrs: /, "", i); sub(/[^0-9,].*/, "", i); sub(/,$/, "", i)
			if (split(r, a, ",") != split(i, b, ",")) bad++
		}
		END { exit !(n > 0 && bad == 0) }'
}

# controller_event PATTERN AFTER_NS: epoch ns of the first line of the
# cluster's logs matching PATTERN that is later than AFTER_NS (empty if none).
controller_event() {
	local line when
	grep -h -- "$1" "$STREAMCTL_BROKERS_DIR"/kafka-cluster/node*/kafka.log 2>/dev/null |
		sed -n 's/^\[\([0-9-]* [0-9:]*\),\([0-9]*\)\].*/\1.\2/p' | sort |
		while read -r line; do
			when=$(date -d "$line" +%s%N) || continue
			if [ "$when" -gt "$2" ]; then
				printf '%s\n' "$when"
				break
			fi
		done
}

# metadata_filter NS: the broker list and NS's topics of kcat -L output.
metadata_filter() {
	awk -v ns="\"$1." '
		/^ *topic "/ { mine = index($2, ns) == 1 }
		/^ *[0-9]+ topics:/ { mine = 0 }
		/^@|^Metadata|brokers:|^ *broker |failed/ || mine'
}

# sample_metadata NS FILE: kcat -L every second into FILE until killed.
sample_metadata() {
	while :; do
		printf '@%s\n' "$(now_ns)"
		timeout 3 kcat -L -b "$BS" -m 2 2>&1 | metadata_filter "$1" || printf 'kcat failed\n'
		sleep 1
	done >"$2"
}

PIDS=()
started_cluster=0
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$started_cluster" = 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then
		"$BROKERS" stop kafka-cluster >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

# wait_bounded PID SECONDS: wait for PID, SIGTERM it after SECONDS (then
# SIGKILL after 15 more); its exit code goes to WB_RC (not printed: wait
# works in this shell only, not in a command substitution).
WB_RC=0
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}
wait_bounded() {
	local pid=$1 end=$((SECONDS + $2)) rc=0
	while running "$pid" && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
	if running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		end=$((SECONDS + 15))
		while running "$pid" && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" || rc=$?
	WB_RC=$rc
}

rows_of() {
	sqlite3 -batch "$1" "SELECT (SELECT COUNT(*) FROM cpu_stats) + (SELECT COUNT(*) FROM sensor_features)" 2>/dev/null || echo 0
}

# verify_source DB SOURCE TABLE OTHER_TABLE N OUT: verify --expect=N on a
# copy of DB without OTHER_TABLE's rows; prints the exit code.
verify_source() {
	local db=$1 table=$3 other=$4 n=$5 out=$6 copy rc=0
	copy=$out.db
	rm -f "$copy"
	sqlite3 -batch "$db" ".backup '$copy'"
	sqlite3 -batch "$copy" "DELETE FROM $other; DELETE FROM sink_sources WHERE source NOT IN (SELECT DISTINCT source FROM $table)"
	"$SC" verify --db="$copy" --expect="$n" >"$out" 2>&1 || rc=$?
	rm -f "$copy" "$copy-wal" "$copy-shm"
	printf '%s\n' "$rc"
}

run_one() {
	local rf=$1 minisr ns run dir db t0 kill_ns restart_ns victim vrec vparts quorum_leader
	local sink_pid proc_pid cpu_pid sensor_pid meta_pid restart_pid t
	[ "$rf" = 1 ] && minisr=1 || minisr=2
	run=$(date -u +%Y%m%dT%H%M%SZ)-rf$rf
	ns=bf$rf$(date +%H%M%S)$$
	dir=$RAW_ROOT/$run
	db=${TMPDIR:-/tmp}/broker-failure-$$-rf$rf.db
	mkdir -p "$dir"
	rm -f "$db" "$db-wal" "$db-shm"
	say "rf $rf (min.insync.replicas $minisr): namespace $ns, raw files in ${dir#"$ROOT"/}"

	# topics: Kafka's TopicCommand, one JVM per topic, in parallel
	local pids=() rc=0
	for t in raw.cpu raw.sensor processed.cpu processed.sensor deadletter; do
		kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
			--topic "$ns.$t" --partitions "$PARTITIONS" --replication-factor "$rf" \
			--config "min.insync.replicas=$minisr" >>"$dir/topics.log" 2>&1 &
		pids+=($!)
	done
	for t in "${pids[@]}"; do wait "$t" || rc=1; done
	[ "$rc" = 0 ] || die "topic creation failed: see $dir/topics.log"
	quorum_leader=$(kafka_tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$BS" \
		describe --status 2>/dev/null | sed -n 's/^LeaderId: *\([0-9]*\).*/\1/p')

	local common=(--transport=kafka --broker="$URI" --namespace="$ns" --partitions="$PARTITIONS"
		--replication-factor="$rf" --stats-interval=1 --progress=never)
	"$SC" sink "${common[@]}" --db="$db" --stats="$dir/sink.stats" 2> >(stamp_lines >"$dir/sink.log") &
	sink_pid=$!
	PIDS+=("$sink_pid")
	"$SC" process "${common[@]}" --stats="$dir/process.stats" 2> >(stamp_lines >"$dir/process.log") &
	proc_pid=$!
	PIDS+=("$proc_pid")
	sample_metadata "$ns" "$dir/metadata.log" &
	meta_pid=$!
	PIDS+=("$meta_pid")
	sleep 4 # both consumers join their groups

	t0=$(now_ns)
	"$SC" generate "${common[@]}" --source=cpu --source-id=cpu-bf --count="$CPU_N" \
		--rate="$CPU_RATE" --stats="$dir/gen-cpu.stats" 2> >(stamp_lines >"$dir/gen-cpu.log") &
	cpu_pid=$!
	PIDS+=("$cpu_pid")
	"$SC" generate "${common[@]}" --source=sensor --source-id=sensor-bf --count="$SENSOR_N" \
		--rate="$SENSOR_RATE" --stats="$dir/gen-sensor.stats" 2> >(stamp_lines >"$dir/gen-sensor.log") &
	sensor_pid=$!
	PIDS+=("$sensor_pid")

	sleep_until "$t0" $((KILL_AT - 3))
	partition_table "$ns" >"$dir/partitions-at-kill.txt"
	read -r victim vrec vparts < <(pick_victim "$dir/partitions-at-kill.txt") || true
	[ -n "${victim:-}" ] || die "could not find the raw partitions' leaders"
	sleep_until "$t0" "$KILL_AT"
	kill_ns=$(now_ns)
	"$BROKERS" kill kafka-cluster "$victim" >"$dir/kill.log" 2>&1
	say "rf $rf: t=$(((kill_ns - t0) / 1000000)) ms: killed node $victim (leads $vparts raw partitions, $vrec records; quorum leader was ${quorum_leader:-?})"

	sleep_until "$t0" "$RESTART_AT"
	restart_ns=$(now_ns)
	("$BROKERS" start-node kafka-cluster "$victim" >"$dir/restart.log" 2>&1 &&
		now_ns >"$dir/ready_ns") &
	restart_pid=$!
	say "rf $rf: t=$(((restart_ns - t0) / 1000000)) ms: restarting node $victim"

	local cpu_rc sensor_rc gen_end_ns
	local budget=$((RUN_S + GEN_GRACE - (restart_ns - t0) / 1000000000))
	wait_bounded "$cpu_pid" "$budget"
	cpu_rc=$WB_RC
	wait_bounded "$sensor_pid" 5
	sensor_rc=$WB_RC
	gen_end_ns=$(now_ns)
	say "rf $rf: t=$(((gen_end_ns - t0) / 1000000)) ms: generators exited (cpu $cpu_rc, sensor $sensor_rc)"
	wait "$restart_pid" || say "rf $rf: node $victim did not come back: see $dir/restart.log"

	# drain: until the sink holds what the generators sent, bounded
	local end=$((SECONDS + DRAIN_S)) want
	want=$((CPU_N + SENSOR_N))
	while [ "$(rows_of "$db")" -lt "$want" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.5; done
	local drained_ns proc_rc sink_rc
	drained_ns=$(now_ns)
	kill -TERM "$proc_pid" 2>/dev/null || true
	wait_bounded "$proc_pid" 30
	proc_rc=$WB_RC
	kill -TERM "$sink_pid" 2>/dev/null || true
	wait_bounded "$sink_pid" 30
	sink_rc=$WB_RC
	# the restarted node back in every ISR (bounded), still sampled
	end=$((SECONDS + ISR_WAIT))
	until isr_full "$ns" || [ "$SECONDS" -ge "$end" ]; do sleep 1; done
	sleep 1
	kill -TERM "$meta_pid" 2>/dev/null || true
	wait "$meta_pid" 2>/dev/null || true
	PIDS=()
	say "rf $rf: drained in $(((drained_ns - gen_end_ns) / 1000000)) ms; process exit $proc_rc, sink exit $sink_rc"

	local v_cpu v_sensor v_all=0
	v_cpu=$(verify_source "$db" cpu-bf cpu_stats sensor_features "$CPU_N" "$dir/verify-cpu.out")
	v_sensor=$(verify_source "$db" sensor-bf sensor_features cpu_stats "$SENSOR_N" "$dir/verify-sensor.out")
	"$SC" verify --db="$db" >"$dir/verify-all.out" 2>&1 || v_all=$?
	sed 's/^/  verify: /' "$dir/verify-cpu.out" "$dir/verify-sensor.out"

	cat >"$dir/run.env" <<EOF
run=$run
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
rf=$rf
min_insync=$minisr
partitions=$PARTITIONS
namespace=$ns
cpu_rate=$CPU_RATE
sensor_rate=$SENSOR_RATE
cpu_n=$CPU_N
sensor_n=$SENSOR_N
run_s=$RUN_S
kill_at=$KILL_AT
restart_at=$RESTART_AT
t0_ns=$t0
kill_ns=$kill_ns
restart_ns=$restart_ns
ready_ns=$(cat "$dir/ready_ns" 2>/dev/null || echo)
fenced_ns=$(controller_event "Fencing broker $victim at epoch" "$kill_ns")
unfenced_ns=$(controller_event "request from broker $victim to unfence has been granted" "$restart_ns")
gen_end_ns=$gen_end_ns
drained_ns=$drained_ns
victim=$victim
victim_raw_records=$vrec
victim_raw_partitions=$vparts
quorum_leader=${quorum_leader:-}
gen_cpu_exit=$cpu_rc
gen_sensor_exit=$sensor_rc
process_exit=$proc_rc
sink_exit=$sink_rc
verify_cpu_exit=$v_cpu
verify_sensor_exit=$v_sensor
verify_all_exit=$v_all
kafka_version=$(basename "$(ls "$KAFKA_LIBS"/kafka-clients-*.jar | head -n 1)" .jar | sed 's/kafka-clients-//')
librdkafka_version=$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')
streamctl_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src transports 2>/dev/null || echo '+dirty')
load_avg=$(cut -d' ' -f1-3 /proc/loadavg)
nproc=$(nproc)
EOF
	rm -f "$dir/ready_ns" "$db" "$db-wal" "$db-shm"
	"$PYTHON" "$ROOT/scripts/experiments/broker-failure.py" record "$dir" "$CSV" "$SUMMARY"
}

if ! "$BROKERS" status kafka-cluster >/dev/null 2>&1; then
	say "starting the three-node cluster in $STREAMCTL_BROKERS_DIR (ports $BS)"
	started_cluster=1
	"$BROKERS" start kafka-cluster
fi
mkdir -p "$RAW_ROOT" "$(dirname "$PLOT")"
for rf in $RFS; do
	run_one "$rf"
done
"$PYTHON" "$ROOT/scripts/experiments/broker-failure.py" plot "$CSV" "$SUMMARY" "$PLOT"
say "wrote ${CSV#"$ROOT"/}, ${SUMMARY#"$ROOT"/}, ${PLOT#"$ROOT"/}"

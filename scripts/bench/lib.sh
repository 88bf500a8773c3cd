# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are read by the scripts that source it
# scripts/bench/lib.sh - sourced by every benchmark script (issue 8).
#
# Rules it helps keep (shared/MEASURING.md): tools run one at a time,
# interleaved (A B, then B A, ...) after a warm-up; every run appends a row
# to a CSV with the parameters, tool versions, date, host and git revision;
# CPU time is recorded per process; summaries are the median of per-pair
# ratios with their min-max spread, computed from the CSV by summarize.py.
#
# Environment:
#   STREAMCTL       the binary (default build/streamctl, built if missing)
#   BENCH_RESULTS   where CSVs go (default bench/results)
#   BENCH_IMG       where plots go (default docs/img)
#   BENCH_PIN=1     run every client under `taskset -c $BENCH_CLIENT_CPUS`
#                   (default 1), identically for every tool.  The brokers are
#                   not touched: on a quiet machine pin them yourself to the
#                   other core (taskset -a -p -c 0 <pid>) and say so.
#   BENCH_PAIRS     interleaved pairs after the warm-up (default 5)
#   BENCH_QUICK=1   small counts (the smoke profile of `make bench-quick`);
#                   results then go to bench/results/quick (plots included),
#                   so smoke runs never mix with the full results
#   KAFKA_LIBS      Kafka jars (default .cache/kafka/libs, else /tmp/kpom/libs)
#   KAFKA_BOOTSTRAP (default 127.0.0.1:9092), AMQP_URI, MQTT_HOST/MQTT_PORT
#
# Provides:
#   bench_init NAME           sets BENCH_ROOT, SC, RUN_ID, BENCH_CSV, meta
#   bench_log MSG...          a progress line on stderr
#   bench_csv_append FILE HEADER ROW   header written when the file is new
#   bench_pin                 prints the taskset prefix (or nothing)
#   bench_time TAG CMD...     runs CMD pinned under /usr/bin/time; sets
#                             T_WALL T_USER T_SYS T_RSS (s, s, s, KiB); keeps rc
#   bench_interleave PAIRS TOOL...   calls run_<TOOL> <pair> with pair 0 the
#                             warm-up (not recorded by convention), then
#                             pairs 1..PAIRS alternating the order
#   bench_venv                creates .cache/venv (Debian python3 + its
#                             matplotlib) with confluent-kafka kafka-python pika
#                             paho-mqtt msgpack
#   bench_stat FILE KEY       a number from the final stats line of FILE
#   bench_hist FILE HIST Q    e.g. bench_hist f e2e_ms p99
#   bench_summary CSV RUN_ID REF   per-tool medians and ratios to REF
#   bench_uniq PREFIX         a unique name for topics, queues, namespaces

set -u

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$BENCH_ROOT/scripts/bench
: "${BENCH_QUICK:=0}"
if [ "$BENCH_QUICK" = 1 ]; then
	: "${BENCH_RESULTS:=$BENCH_ROOT/bench/results/quick}"
	: "${BENCH_IMG:=$BENCH_RESULTS/img}"
else
	: "${BENCH_RESULTS:=$BENCH_ROOT/bench/results}"
	: "${BENCH_IMG:=$BENCH_ROOT/docs/img}"
fi
: "${BENCH_PAIRS:=5}"
: "${BENCH_PIN:=0}"
: "${BENCH_CLIENT_CPUS:=1}"
: "${KAFKA_BOOTSTRAP:=127.0.0.1:9092}"
: "${AMQP_URI:=amqp://guest:guest@127.0.0.1:5672/}"
: "${MQTT_HOST:=127.0.0.1}"
: "${MQTT_PORT:=1883}"
if [ -z "${KAFKA_LIBS:-}" ]; then
	KAFKA_LIBS=$BENCH_ROOT/.cache/kafka/libs
	[ -d "$KAFKA_LIBS" ] || KAFKA_LIBS=/tmp/kpom/libs
fi
VENV=$BENCH_ROOT/.cache/venv
PY=$VENV/bin/python

bench_log() {
	printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

bench_die() {
	bench_log "error: $*"
	exit 1
}

# bench_init NAME: common set-up of a benchmark script.
bench_init() {
	BENCH_NAME=$1
	mkdir -p "$BENCH_RESULTS" "$BENCH_IMG"
	if [ -z "${STREAMCTL:-}" ]; then
		STREAMCTL=$BENCH_ROOT/build/streamctl
		[ -x "$STREAMCTL" ] || make -C "$BENCH_ROOT" -s >/dev/null || bench_die "build failed"
	fi
	SC=$STREAMCTL
	[ -x "$SC" ] || bench_die "no streamctl binary at $SC"
	BENCH_CSV=$BENCH_RESULTS/$BENCH_NAME.csv
	BENCH_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	# host name and CPU model: runs on different machines are not like for like
	BENCH_HOST="$(hostname)/$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1 | tr -d ',"')"
	BENCH_REV=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$BENCH_ROOT" diff --quiet HEAD -- src transports 2>/dev/null || BENCH_REV=$BENCH_REV+dirty
	RUN_ID=$(date -u +%Y%m%dT%H%M%S)-$$
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-$BENCH_NAME.XXXXXX")
	trap 'bench_cleanup' EXIT
	BENCH_LOAD=$(cut -d' ' -f1 /proc/loadavg)
	bench_log "$BENCH_NAME: run $RUN_ID rev $BENCH_REV on $BENCH_HOST ($(nproc) cores, load $BENCH_LOAD, pin=$BENCH_PIN)"
}

# Scripts may define bench_cleanup_hook (stop their own background jobs).
bench_cleanup() {
	if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook; fi
	[ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$BENCH_TMP"
}

bench_uniq() {
	printf '%s-%s-%s' "$1" "$(date +%s%N | tail -c 10)" "$$"
}

# bench_csv_append FILE HEADER ROW
bench_csv_append() {
	if [ ! -s "$1" ]; then printf '%s\n' "$2" >"$1"; fi
	printf '%s\n' "$3" >>"$1"
}

# The common leading columns of every row, and their header.
BENCH_META_HEADER="run_id,date,host,git_rev,mode,load1,pin"
bench_meta() {
	printf '%s,%s,%s,%s,%s,%s,%s' "$RUN_ID" "$BENCH_DATE" "$BENCH_HOST" "$BENCH_REV" \
		"$([ "$BENCH_QUICK" = 1 ] && echo quick || echo full)" "$(cut -d' ' -f1 /proc/loadavg)" "$BENCH_PIN"
}

# bench_amqp_broker: AMQP_PORT_ (AMQP_URI's port) and BROKER_PID (the
# beam.smp listening on it; empty when there is none), for broker CPU.
bench_amqp_broker() {
	AMQP_PORT_=$(printf '%s' "$AMQP_URI" | sed -n 's|^amqps\?://[^/]*:\([0-9][0-9]*\)/\?.*|\1|p')
	: "${AMQP_PORT_:=5672}"
	BROKER_PID=$(ss -ltnpH "sport = :$AMQP_PORT_" 2>/dev/null | sed -n 's/.*"beam.smp",pid=\([0-9]*\).*/\1/p' | head -n 1)
}

# bench_amqp_pipeline SC DB NS GEN_ARGS...: one run of the RabbitMQ pipeline
# with the binary SC (cpu source, JSON): sink and process (prefetch $P,
# batch $B; both leave after 3 s without input) start first, then generate
# (window $W, GEN_ARGS) runs in the foreground; their pids are in PIDS
# meanwhile.  Sets RUN_BROKER_CPU (s; 0 without BROKER_PID) and
# RUN_CLIENT_CPU (s, the three roles); returns the generator's exit code.
bench_amqp_pipeline() {
	local sc=$1 db=$2 ns=$3 sink proc c0=0 c1=0 rc t
	shift 3
	local common=(--transport=amqp --broker="$AMQP_URI" --namespace="$ns" --stats-interval=0
		--progress=never --stats=/dev/null)
	bench_time_bg sink "$sc" sink "${common[@]}" --db="$db" --idle-exit=3 --prefetch="$P" \
		--batch="$B" 2>>"$BENCH_TMP/sink.log"
	sink=$BG_PID
	bench_time_bg proc "$sc" process "${common[@]}" --idle-exit=3 --prefetch="$P" --batch="$B" \
		2>>"$BENCH_TMP/proc.log"
	proc=$BG_PID
	PIDS=("$sink" "$proc")
	sleep 2
	[ -z "$BROKER_PID" ] || c0=$(bench_proc_cpu "$BROKER_PID")
	bench_time gen "$sc" generate "${common[@]}" --source=cpu --inflight="$W" "$@" \
		2>>"$BENCH_TMP/gen.log"
	rc=$?
	RUN_CLIENT_CPU=$(awk -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print u + s }')
	wait "$sink" "$proc"
	PIDS=()
	[ -z "$BROKER_PID" ] || c1=$(bench_proc_cpu "$BROKER_PID")
	for t in sink proc; do
		bench_time_read "$t"
		RUN_CLIENT_CPU=$(awk -v a="$RUN_CLIENT_CPU" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { printf "%.2f", a + u + s }')
	done
	RUN_BROKER_CPU=$(awk -v a="$c1" -v b="$c0" 'BEGIN { printf "%.2f", a - b }')
	return $rc
}

bench_pin() {
	if [ "$BENCH_PIN" = 1 ]; then printf 'taskset -c %s' "$BENCH_CLIENT_CPUS"; fi
}

# bench_time TAG CMD...: run CMD (pinned as configured) under /usr/bin/time.
# CPU is the process's and its waited-for children's (all threads of a JVM).
bench_time() {
	local tag=$1 rc
	shift
	local tf=$BENCH_TMP/time-$tag
	# shellcheck disable=SC2046
	/usr/bin/time -f '%e %U %S %M' -o "$tf" $(bench_pin) "$@"
	rc=$?
	read -r T_WALL T_USER T_SYS T_RSS < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tf" | tail -n 1)
	: "${T_WALL:=0}" "${T_USER:=0}" "${T_SYS:=0}" "${T_RSS:=0}"
	return $rc
}

# bench_time_bg TAG CMD...: the same in the background; the pid is in BG_PID
# and bench_time_read TAG fills T_* once it has ended.
bench_time_bg() {
	local tag=$1
	shift
	# shellcheck disable=SC2046
	/usr/bin/time -f '%e %U %S %M' -o "$BENCH_TMP/time-$tag" $(bench_pin) "$@" &
	BG_PID=$!
}

# bench_producers P N BOOTSTRAP NS ID KEYS: P `streamctl generate
# --transport=kafka --source=cpu --rate=0` at once into namespace NS, N/P
# records each, source ids ID-0 .. ID-(P-1); KEYS=own gives each its own
# record key (--device-id, the same as its source id), KEYS=host leaves the
# default (the host name: every record in one partition).  Sets GROUP_WALL
# (s, first start to last exit) and GROUP_CPU (s, user+sys summed).
bench_producers() {
	local np=$1 n=$2 bs=$3 ns=$4 id=$5 keys=$6 i t0 t1 pids=() key=()
	GROUP_CPU=0
	t0=$(date +%s.%N)
	for ((i = 0; i < np; i++)); do
		key=()
		[ "$keys" = own ] && key=(--device-id="$id-$i")
		bench_time_bg "g$i" "$SC" generate --transport=kafka --broker="kafka://$bs" \
			--namespace="$ns" --source=cpu --source-id="$id-$i" "${key[@]}" --rate=0 \
			--count=$((n / np)) --stats=/dev/null --progress=never
		pids+=("$BG_PID")
	done
	wait "${pids[@]}"
	t1=$(date +%s.%N)
	GROUP_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	for ((i = 0; i < np; i++)); do
		bench_time_read "g$i"
		GROUP_CPU=$(awk -v a="$GROUP_CPU" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { print a + u + s }')
	done
}

bench_time_read() {
	T_WALL=0 T_USER=0 T_SYS=0 T_RSS=0
	read -r T_WALL T_USER T_SYS T_RSS < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$BENCH_TMP/time-$1" | tail -n 1)
}

# CPU seconds (user+sys) of a running process from /proc/<pid>/stat.
bench_proc_cpu() {
	local hz
	hz=$(getconf CLK_TCK)
	awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null
}

# bench_interleave PAIRS TOOL...: pair 0 is the warm-up; odd pairs run the
# tools in the given order, even pairs in reverse, so neither goes first.
bench_interleave() {
	local pairs=$1 p t
	shift
	local tools=("$@") order
	for ((p = 0; p <= pairs; p++)); do
		if ((p % 2 == 1 || p == 0)); then
			order=("${tools[@]}")
		else
			order=()
			for ((t = ${#tools[@]} - 1; t >= 0; t--)); do order+=("${tools[t]}"); done
		fi
		for t in "${order[@]}"; do
			bench_log "pair $p/$pairs: $t"
			"run_$t" "$p" || bench_log "$t failed in pair $p"
		done
	done
}

# bench_stat FILE KEY: a value from the last "final":true stats line.
bench_stat() {
	grep '"final":true' "$1" 2>/dev/null | tail -n 1 | sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p"
}

# bench_hist FILE HIST Q: e.g. bench_hist stats.json e2e_ms p99
bench_hist() {
	grep '"final":true' "$1" 2>/dev/null | tail -n 1 | sed -n "s/.*\"$2\":{[^}]*\"$3\":\([-0-9.e+]*\).*/\1/p"
}

# bench_venv: the Python environment of the plain-Python peers and the plots.
bench_venv() {
	if [ -x "$PY" ] && "$PY" -c 'import confluent_kafka, kafka, pika, paho.mqtt, msgpack' 2>/dev/null; then
		return 0
	fi
	bench_log "creating $VENV"
	/usr/bin/python3 -c 'import matplotlib' 2>/dev/null ||
		bench_log "no Debian matplotlib: apt-get install python3-matplotlib python3-venv (plots will be skipped)"
	/usr/bin/python3 -m venv --system-site-packages "$VENV" || bench_die "python3 -m venv failed (apt-get install python3-venv)"
	"$VENV/bin/pip" install -q confluent-kafka kafka-python pika paho-mqtt msgpack || bench_die "pip install failed"
}

bench_have_plot() {
	"$PY" -c 'import matplotlib' 2>/dev/null
}

# bench_summary CSV RUN_ID REF [RATE_COLUMN]
bench_summary() {
	"$PY" "$BENCH_DIR/summarize.py" "$@"
}

# Versions, one "name=version" string per tool, for the CSV.
bench_version() {
	case $1 in
	streamctl) printf 'streamctl-%s+librdkafka-%s' "$BENCH_REV" \
		"$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" ;;
	kcat) kcat -V 2>&1 | sed -n 's/^kcat - .*//; s/.*Version \([^ ]*\).*librdkafka \([^ ]*\).*/kcat-\1+librdkafka-\2/p' | head -n 1 ;;
	kafka-java) basename "$(ls "$KAFKA_LIBS"/kafka-clients-*.jar 2>/dev/null | head -n 1)" .jar ;;
	confluent-kafka) "$PY" -c 'import importlib.metadata as m, confluent_kafka as c; print("confluent-kafka-%s+librdkafka-%s" % (m.version("confluent-kafka"), c.libversion()[0]))' ;;
	kafka-python) "$PY" -c 'import importlib.metadata as m; print("kafka-python-" + m.version("kafka-python"))' ;;
	pika) "$PY" -c 'import pika; print("pika-" + pika.__version__)' ;;
	paho) "$PY" -c 'import importlib.metadata as m; print("paho-mqtt-" + m.version("paho-mqtt"))' ;;
	perftest) basename "$(ls "$BENCH_ROOT"/.cache/perftest/perf-test-*.jar 2>/dev/null | head -n 1)" .jar ;;
	mosquitto_pub) mosquitto_pub --help 2>&1 | sed -n 's/^mosquitto_pub version \([^ ]*\).*/mosquitto_pub-\1/p' | head -n 1 ;;
	python) "$PY" -c 'import platform; print("python-" + platform.python_version())' ;;
	*) echo "$1" ;;
	esac
}

declare -A BENCH_VERSIONS=()
bench_version_cached() {
	[ -n "${BENCH_VERSIONS[$1]:-}" ] || BENCH_VERSIONS[$1]=$(bench_version "$1")
	printf '%s' "${BENCH_VERSIONS[$1]}"
}

# The throughput CSV every producer benchmark shares.
BENCH_TP_HEADER="$BENCH_META_HEADER,bench,tool,version,pair,settings,count,size,delivered,wall_s,tool_s,rate_wall,rate_tool,user_s,sys_s,cpu_per_msg_us,maxrss_kb,e2e_p50_ms,e2e_p99_ms,e2e_p999_ms,e2e_max_ms"

# bench_tp_row TOOL PAIR SETTINGS COUNT SIZE DELIVERED TOOL_S [P50 P99 P999 MAX]
# uses T_WALL T_USER T_SYS T_RSS of the last bench_time.
bench_tp_row() {
	local tool=$1 pair=$2 settings=$3 count=$4 size=$5 delivered=$6 tool_s=$7
	local p50=${8:-} p99=${9:-} p999=${10:-} pmax=${11:-}
	local rate_wall rate_tool cpu_us
	[ -n "$tool_s" ] && [ "$tool_s" != 0 ] || tool_s=$T_WALL
	rate_wall=$(awk -v n="$delivered" -v t="$T_WALL" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	rate_tool=$(awk -v n="$delivered" -v t="$tool_s" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
	cpu_us=$(awk -v n="$delivered" -v u="$T_USER" -v s="$T_SYS" 'BEGIN { printf "%.2f", (n > 0 ? (u + s) * 1e6 / n : 0) }')
	bench_csv_append "$BENCH_CSV" "$BENCH_TP_HEADER" \
		"$(bench_meta),$BENCH_NAME,$tool,$(bench_version_cached "${TOOL_VER:-$tool}"),$pair,\"$settings\",$count,$size,$delivered,$T_WALL,$tool_s,$rate_wall,$rate_tool,$T_USER,$T_SYS,$cpu_us,$T_RSS,$p50,$p99,$p999,$pmax"
	bench_log "  $tool: $delivered msgs, wall $T_WALL s ($rate_wall/s), tool $tool_s s ($rate_tool/s), cpu ${T_USER}u+${T_SYS}s"
}

# Payload files: streamctl's own records, deframed, one per line.  The pipe
# framing is "SC", a codec byte, a reserved byte and a 32-bit big-endian length.
# bench_payloads N OUT [generate options...]: writes OUT (newline separated)
# and sets PAYLOAD_SIZE to the mean payload size in bytes.
bench_payloads() {
	local n=$1 out=$2
	shift 2
	"$SC" generate --count="$n" --rate=0 --stats=/dev/null --progress=never "$@" |
		"$PY" "$BENCH_DIR/deframe.py" >"$out" || bench_die "could not make payloads"
	PAYLOAD_SIZE=$(awk '{ s += length($0) } END { printf "%d", NR ? s / NR + 0.5 : 0 }' "$out")
}

# The C micro-benchmarks (make bench-bin) next to the binary.
bench_bin() {
	local b=${BENCH_BUILD:-$(dirname "$SC")}/bench/$1
	if [ ! -x "$b" ]; then
		make -C "$BENCH_ROOT" -s BUILD="${BENCH_BUILD:-$(dirname "$SC")}" bench-bin >&2 ||
			bench_die "make bench-bin failed"
	fi
	printf '%s' "$b"
}

# bench_prefix_csv META_HEADER: prefix every line of stdin (a CSV with a header)
# with the meta columns; the header gets BENCH_META_HEADER.
bench_prefix_csv() {
	local meta
	meta=$(bench_meta)
	awk -v h="$BENCH_META_HEADER" -v m="$meta" 'NR == 1 { print h "," $0; next } { print m "," $0 }'
}

# bench_append_csv FILE: append stdin (CSV with header) to FILE, header once.
bench_append_csv() {
	local tmp=$BENCH_TMP/append.csv
	bench_prefix_csv >"$tmp"
	if [ -s "$1" ]; then tail -n +2 "$tmp" >>"$1"; else cat "$tmp" >"$1"; fi
}

bench_plot() {
	if bench_have_plot; then
		BENCH_RESULTS=$BENCH_RESULTS BENCH_IMG=$BENCH_IMG BENCH_QUICK=$BENCH_QUICK \
			"$PY" "$BENCH_DIR/plot.py" "$@" || bench_log "plot $* failed"
	else
		bench_log "no matplotlib: plot $1 skipped"
	fi
}

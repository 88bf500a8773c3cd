#!/usr/bin/env bash
# scripts/chaos.sh TRANSPORT [options] - the full pipeline under injected
# faults, then an exact completeness check.
#
#   TRANSPORT          kafka | amqp | mqtt
#   --seed=N           fault plan seed (default: from the clock, printed)
#   --duration=SEC     how long the generators run and faults are injected [60]
#   --rate=HZ          records per second per generator [50]
#   --count=N          records per generator [rate*duration]; with --count the
#                      rate becomes count/duration
#   --faults=N         faults to inject [max(3, duration/40)]
#   --processors=N     processors sharing the work (1 or 2) [2]
#   --kinds=LIST       fault kinds to draw from: broker,processor,sink [all]
#   --broker-stop=kill|term  how the broker goes down: SIGKILL (brokers.sh
#                      kill) or a clean stop (brokers.sh stop) [kill]
#   --csv=FILE         append one CSV line (header when the file is new)
#   --workdir=DIR      logs, stats and the database (default: a temp dir,
#                      removed after a PASS, kept and printed after a FAIL)
#   --allow-shared-broker   allow killing a broker on a default port
#   --quiet            only the summary line
#
# What happens: a broker (see Brokers), one sink, the processors and two
# generators (cpu and sensor, --count=N at a constant --rate) run on one
# fresh namespace.  At seeded random moments, one at a time, the script
# injects a fault and recovers from it:
#   broker     scripts/brokers.sh kill <b> (SIGKILL), down 1-4 s, then
#              scripts/brokers.sh start <b> (waits until it takes clients)
#   processor  one processor SIGKILLed, restarted 0.5-3 s later
#   sink       the sink SIGKILLed, restarted 0.5-3 s later
# MQTT gets the same three faults.  paho.mqtt.c 1.3 acknowledges a message
# as soon as it reads it, so each MQTT consumer keeps a local journal (-X
# journal=<workdir>/journal here; see transports/mqtt.c) and replays what it
# had not committed when it was killed.  MQTT runs ONE processor by default
# (--processors=1) on a plain subscription (-X shared=false): Mosquitto
# 2.0.11 does not restore $share subscriptions after a restart, so what is
# published between a broker restart and the consumers' resubscription
# would have no subscriber; plain subscriptions are restored from the
# broker's persistence file.  --processors=2 gives MQTT a $share group
# again, and the broker fault can then lose records.  The private Mosquitto
# saves its database after every change (MQTT_AUTOSAVE_CHANGES=1, see
# scripts/brokers.sh; set it to 0 for the default of once a second):
# Mosquitto acknowledges a publish before it saves it, so a broker SIGKILL
# still loses what was acknowledged and not yet saved; a save per change
# narrows that to the messages handled between the PUBACK and the save.
# Known MQTT failure (publishing side, not the consumers): after a broker
# restart a generator or processor can be left waiting for a confirmation
# paho never delivers; the generator then dies ("1 message(s) failed") or
# the processor exits 75 after its 60 s flush, and the run FAILs.
# Generators are never killed (a restarted generator would start again at
# seq 0); a generator that dies by itself fails the run.  A processor or
# sink that exits by itself is restarted (as a supervisor would), counted
# as an unexpected exit, and fails the run too.
# After the last fault the generators finish their --count, the sink is
# given time to store everything, processors and sink are stopped with
# SIGTERM (they must exit 0), and `streamctl verify --expect=N` must be
# clean.  One summary line goes to stdout; exit 0 only on PASS (1 FAIL,
# 2 usage or set-up error).
#
# Brokers.  scripts/brokers.sh with the usual environment
# (STREAMCTL_BROKERS_DIR, KAFKA_PORT, KAFKA_CONTROLLER_PORT, AMQP_PORT,
# AMQP_DIST_PORT, AMQP_EPMD_PORT, AMQP_NODENAME, MQTT_PORT, MQTT_WS_PORT).
# What is not set is private to this run: a temporary scratch directory and
# free ports from 23092 (kafka), 23672 (amqp), 23883 (mqtt) up, below the
# ephemeral port range so a client's outgoing connection cannot hold the
# port while the broker restarts.  The broker is started if it does not run
# and stopped at the end if this script started it; every process it
# started is gone when it exits.  A broker on the default ports (9092,
# 5672, 1883: the shared ones) is refused unless --allow-shared-broker.
#
# Kafka consumers get -X session.timeout.ms=10000 (librdkafka default 45 s):
# a SIGKILLed group member holds its partitions until its session expires.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BROKERS=$ROOT/scripts/brokers.sh
SC=${STREAMCTL:-$ROOT/build/streamctl}

usage() {
	sed -n '2,/^set -u$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

die_usage() {
	printf 'chaos: %s\n' "$1" >&2
	printf "chaos: see 'scripts/chaos.sh --help'\n" >&2
	exit 2
}

# ---- options ------------------------------------------------------------------

T='' SEED='' DURATION=60 RATE=50 COUNT='' FAULTS='' NPROC= CSV='' WORKDIR='' ALLOW_SHARED=0 QUIET=0
KINDLIST=broker,processor,sink BROKER_STOP=kill
for a in "$@"; do
	case "$a" in
	-h | --help)
		usage
		exit 0
		;;
	--seed=*) SEED=${a#*=} ;;
	--duration=*) DURATION=${a#*=} ;;
	--rate=*) RATE=${a#*=} ;;
	--count=*) COUNT=${a#*=} ;;
	--faults=*) FAULTS=${a#*=} ;;
	--processors=*) NPROC=${a#*=} ;;
	--kinds=*) KINDLIST=${a#*=} ;;
	--broker-stop=*) BROKER_STOP=${a#*=} ;;
	--csv=*) CSV=${a#*=} ;;
	--workdir=*) WORKDIR=${a#*=} ;;
	--allow-shared-broker) ALLOW_SHARED=1 ;;
	--quiet) QUIET=1 ;;
	-*) die_usage "unknown option '$a'" ;;
	*)
		[ -z "$T" ] || die_usage "one transport only (got '$T' and '$a')"
		T=$a
		;;
	esac
done
case "$T" in
kafka | amqp | mqtt) ;;
'') die_usage "no transport given (kafka, amqp or mqtt)" ;;
*) die_usage "unknown transport '$T' (kafka, amqp or mqtt)" ;;
esac
isnum() { [[ $1 =~ ^[0-9]+$ ]]; }
[ -n "$SEED" ] || SEED=$((${EPOCHSECONDS:-$(date +%s)} % 100000))
isnum "$SEED" || die_usage "--seed must be a non-negative integer"
isnum "$DURATION" && [ "$DURATION" -ge 20 ] || die_usage "--duration must be an integer >= 20"
if [ -z "$NPROC" ]; then if [ "$T" = mqtt ]; then NPROC=1; else NPROC=2; fi; fi
isnum "$NPROC" && [ "$NPROC" -ge 1 ] && [ "$NPROC" -le 2 ] || die_usage "--processors must be 1 or 2"
if [ -n "$COUNT" ]; then
	isnum "$COUNT" && [ "$COUNT" -gt 0 ] || die_usage "--count must be a positive integer"
	RATE=$(awk -v c="$COUNT" -v d="$DURATION" 'BEGIN { printf "%.3f", c / d }')
else
	[[ $RATE =~ ^[0-9]+$ ]] && [ "$RATE" -gt 0 ] || die_usage "--rate must be a positive integer"
	COUNT=$((RATE * DURATION))
fi
IFS=, read -r -a KINDS <<<"$KINDLIST"
[ "${#KINDS[@]}" -gt 0 ] || die_usage "--kinds is empty"
for k in "${KINDS[@]}"; do
	case "$k" in broker | processor | sink) ;; *) die_usage "unknown fault kind '$k' (broker, processor, sink)" ;; esac
done
case "$BROKER_STOP" in kill | term) ;; *) die_usage "--broker-stop must be kill or term" ;; esac
[ -n "$FAULTS" ] || FAULTS=$((DURATION / 40 > 3 ? DURATION / 40 : 3))
isnum "$FAULTS" && [ "$FAULTS" -ge 1 ] || die_usage "--faults must be a positive integer"
[ -x "$SC" ] || die_usage "no streamctl binary at $SC (make, or set STREAMCTL)"

# ---- brokers: private unless told otherwise -----------------------------------

port_taken() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
TAKEN=" "
# pick VAR BASE: keep VAR if the environment sets it, else the first free port from BASE
pick() {
	local var=$1 p=$2
	if [ -z "${!var:-}" ]; then
		while port_taken "$p" || [[ $TAKEN == *" $p "* ]]; do p=$((p + 1)); done
		printf -v "$var" '%s' "$p"
	fi
	TAKEN+="${!var} "
	export "${var?}"
}
OWN_BROKER_DIR=
if [ -z "${STREAMCTL_BROKERS_DIR:-}" ]; then
	STREAMCTL_BROKERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/streamctl-chaos-brokers.XXXXXX") ||
		die_usage "cannot create a scratch directory"
	OWN_BROKER_DIR=$STREAMCTL_BROKERS_DIR
fi
export STREAMCTL_BROKERS_DIR
case "$T" in
kafka)
	pick KAFKA_PORT 23092
	pick KAFKA_CONTROLLER_PORT $((KAFKA_PORT + 1))
	BROKER_URL=kafka://127.0.0.1:$KAFKA_PORT
	PORT=$KAFKA_PORT DEFAULT_PORT=9092
	;;
amqp)
	pick AMQP_PORT 23672
	pick AMQP_DIST_PORT $((AMQP_PORT + 1))
	pick AMQP_EPMD_PORT 23369
	: "${AMQP_NODENAME:=chaos$$@localhost}"
	export AMQP_NODENAME
	BROKER_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
	PORT=$AMQP_PORT DEFAULT_PORT=5672
	;;
mqtt)
	export MQTT_AUTOSAVE_CHANGES=${MQTT_AUTOSAVE_CHANGES:-1}
	pick MQTT_PORT 23883
	pick MQTT_WS_PORT 23001
	BROKER_URL=mqtt://127.0.0.1:$MQTT_PORT
	PORT=$MQTT_PORT DEFAULT_PORT=1883
	;;
esac
if [ "$PORT" = "$DEFAULT_PORT" ] && [ "$ALLOW_SHARED" != 1 ]; then
	[ -z "$OWN_BROKER_DIR" ] || rm -rf "$OWN_BROKER_DIR"
	die_usage "refusing to kill the $T broker on its default port $PORT (shared); use other ports or --allow-shared-broker"
fi

# ---- state and clean-up ---------------------------------------------------------

OWN_WORKDIR=0
if [ -z "$WORKDIR" ]; then
	WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/streamctl-chaos.XXXXXX") || die_usage "cannot create a work directory"
	OWN_WORKDIR=1
else
	mkdir -p "$WORKDIR" || die_usage "cannot create $WORKDIR"
fi
NS="chaos${T}${$}s$SEED"
DB=$WORKDIR/chaos.db
EVENTS=$WORKDIR/events.log
STARTED_BROKER=0
RESULT=FAIL
declare -A PID=()     # role name (sink, p1, p2) -> pid
declare -A STARTS=()  # role name -> how often it was started
GEN_PIDS=()
GEN_DEAD=0            # generators that exited non-zero
UNEXPECTED=0          # processor/sink exits nobody asked for
BROKER_FAILS=0        # broker restarts that did not come up
DRAIN_BAD=0           # processor/sink that did not exit 0 on the final SIGTERM
declare -A NF=([broker]=0 [processor]=0 [sink]=0)
NOTES=()

T0=${EPOCHREALTIME/./}
T0=$((T0 / 1000))
now_ms() {
	local t=${EPOCHREALTIME/./}
	NOW=$((t / 1000 - T0))
}
say() {
	now_ms
	local line
	printf -v line 'chaos: %6.1fs %s' "$(awk -v n="$NOW" 'BEGIN { print n / 1000 }')" "$*"
	printf '%s\n' "$line" >>"$EVENTS"
	[ "$QUIET" = 1 ] || printf '%s\n' "$line" >&2
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PID[@]}" "${GEN_PIDS[@]}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$STARTED_BROKER" = 1 ]; then
		"$BROKERS" stop "$T" >>"$WORKDIR/brokers.log" 2>&1 ||
			printf 'chaos: could not stop the %s broker (see %s)\n' "$T" "$WORKDIR/brokers.log" >&2
	fi
	[ -z "$OWN_BROKER_DIR" ] || rm -rf "$OWN_BROKER_DIR"
	if [ "$OWN_WORKDIR" = 1 ]; then
		if [ "$RESULT" = PASS ]; then
			rm -rf "$WORKDIR"
		else
			printf 'chaos: logs kept in %s\n' "$WORKDIR" >&2
		fi
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- deterministic plan -------------------------------------------------------------

RNG=$SEED
# rnd N: RND = a number in 0..N-1 (LCG, the same on every bash)
rnd() {
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	RND=$(((RNG >> 8) % $1))
}
rnd "${#KINDS[@]}"
OFF=$RND
WARMUP=5
WINDOW=$((DURATION - WARMUP - 5))
SLOT=$((WINDOW * 1000 / FAULTS))
PLAN_AT=() PLAN_KIND=() PLAN_PAUSE=() PLAN_WHO=()
for ((i = 0; i < FAULTS; i++)); do
	rnd $((SLOT / 2 + 1))
	PLAN_AT+=($((WARMUP * 1000 + i * SLOT + RND)))
	PLAN_KIND+=("${KINDS[$(((i + OFF) % ${#KINDS[@]}))]}")
	rnd 3001
	if [ "${PLAN_KIND[$i]}" = broker ]; then
		PLAN_PAUSE+=($((1000 + RND)))
	else
		PLAN_PAUSE+=($((500 + RND * 5 / 6)))
	fi
	rnd "$NPROC"
	PLAN_WHO+=("p$((RND + 1))")
done
KILLSIG=KILL

# ---- roles ---------------------------------------------------------------------------

COMMON=(--transport="$T" --broker="$BROKER_URL" --namespace="$NS" --stats-interval=0)
CONSUMER=()
[ "$T" = kafka ] && CONSUMER=(-X session.timeout.ms=10000)
if [ "$T" = mqtt ]; then
	CONSUMER=(-X "journal=$WORKDIR/journal")
	[ "$NPROC" = 1 ] && CONSUMER+=(-X shared=false)
fi

# start_role NAME: start (or restart) the sink or a processor
start_role() {
	local name=$1 args=()
	# a stable id per role, as a restarted container keeps its name: MQTT's
	# persistent session and journal, Kafka's static group membership
	[ "$T" = mqtt ] || [ "$T" = kafka ] && args+=(--client-id="$NS-$name")
	if [ "$name" = sink ]; then
		"$SC" sink "${COMMON[@]}" "${CONSUMER[@]}" "${args[@]}" --db="$DB" \
			--stats="$WORKDIR/$name.stats" 2>>"$WORKDIR/$name.log" &
	else
		"$SC" process "${COMMON[@]}" "${CONSUMER[@]}" "${args[@]}" \
			--stats="$WORKDIR/$name.stats" 2>>"$WORKDIR/$name.log" &
	fi
	PID[$name]=$!
	STARTS[$name]=$((${STARTS[$name]:-0} + 1))
}

# alive PID: runs and is not a zombie (our exited children are, until waited for)
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# wait_exit PID SECS: wait for it to exit, RC its exit code; 1 if it did not
wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while alive "$pid"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
	wait "$pid" 2>/dev/null # (no "Killed" job notice)
	RC=$?
	return 0
}

# supervise: restart a processor or sink that exited on its own; note a dead generator
supervise() {
	local name pid i
	for name in "${!PID[@]}"; do
		pid=${PID[$name]}
		alive "$pid" && continue
		wait "$pid" 2>/dev/null
		RC=$?
		UNEXPECTED=$((UNEXPECTED + 1))
		say "UNEXPECTED: $name (pid $pid) exited by itself with status $RC; restarting it"
		tail -n 3 "$WORKDIR/$name.log" | sed 's/^/        /' >&2
		if [ "${STARTS[$name]}" -ge 20 ]; then
			say "$name restarted too often; giving up on it"
			unset "PID[$name]"
			continue
		fi
		start_role "$name"
	done
	for i in "${!GEN_PIDS[@]}"; do
		pid=${GEN_PIDS[$i]}
		[ -n "$pid" ] || continue
		alive "$pid" && continue
		wait "$pid" 2>/dev/null
		RC=$?
		GEN_PIDS[$i]=
		if [ "$RC" -ne 0 ]; then
			GEN_DEAD=$((GEN_DEAD + 1))
			say "FAILURE: generator ${GEN_NAME[$i]} (pid $pid) died with status $RC"
			tail -n 3 "$WORKDIR/gen-${GEN_NAME[$i]}.log" | sed 's/^/        /' >&2
		else
			say "generator ${GEN_NAME[$i]} finished its $COUNT records"
		fi
	done
}

gens_running() {
	local p
	for p in "${GEN_PIDS[@]}"; do [ -n "$p" ] && return 0; done
	return 1
}

# sleep_until MS: sleep (supervising) until MS after the start
sleep_until() {
	while now_ms && [ "$NOW" -lt "$1" ]; do
		supervise
		sleep 0.2
	done
}

rows() {
	sqlite3 -batch "$DB" "SELECT (SELECT COUNT(*) FROM cpu_stats) + (SELECT COUNT(*) FROM sensor_features)" 2>/dev/null || echo 0
}

# ---- faults ------------------------------------------------------------------------

fault_broker() {
	local pause=$1 t0 how=SIGKILL verb=kill
	[ "$BROKER_STOP" = term ] && how="clean stop (SIGTERM)" verb=stop
	say "fault: $how of the $T broker (down ${pause} ms, then restart)"
	if ! "$BROKERS" "$verb" "$T" >>"$WORKDIR/brokers.log" 2>&1; then
		say "could not stop the broker (see brokers.log)"
		BROKER_FAILS=$((BROKER_FAILS + 1))
		return
	fi
	NF[broker]=$((NF[broker] + 1))
	sleep "$(awk -v m="$pause" 'BEGIN { print m / 1000 }')"
	t0=$SECONDS
	if "$BROKERS" start "$T" >>"$WORKDIR/brokers.log" 2>&1; then
		say "broker back after $((SECONDS - t0)) s of start-up"
	else
		BROKER_FAILS=$((BROKER_FAILS + 1))
		say "FAILURE: the broker did not come back (see $WORKDIR/brokers.log); one more try"
		"$BROKERS" start "$T" >>"$WORKDIR/brokers.log" 2>&1 || say "FAILURE: the broker is gone"
	fi
}

# fault_role KIND NAME PAUSE_MS: SIGKILL NAME, restart it
fault_role() {
	local kind=$1 name=$2 pause=$3 pid
	pid=${PID[$name]:-}
	if [ -z "$pid" ] || ! alive "$pid"; then
		supervise
		pid=${PID[$name]:-}
		[ -n "$pid" ] || return
	fi
	say "fault: SIG$KILLSIG $name (pid $pid, restart after ${pause} ms)"
	unset "PID[$name]"
	kill "-$KILLSIG" "$pid" 2>/dev/null
	if ! wait_exit "$pid" 30; then
		say "FAILURE: $name (pid $pid) still runs 30 s after SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		DRAIN_BAD=$((DRAIN_BAD + 1))
	elif [ "$KILLSIG" = TERM ] && [ "$RC" -ne 0 ]; then
		say "FAILURE: $name exited with status $RC on SIGTERM"
		DRAIN_BAD=$((DRAIN_BAD + 1))
	fi
	NF[$kind]=$((NF[$kind] + 1))
	sleep "$(awk -v m="$pause" 'BEGIN { print m / 1000 }')"
	start_role "$name"
}

# ---- the run -------------------------------------------------------------------------

plan=
for ((i = 0; i < FAULTS; i++)); do
	plan+="${plan:+, }$(awk -v m="${PLAN_AT[$i]}" 'BEGIN { printf "%.1f", m / 1000 }') s ${PLAN_KIND[$i]}"
	[ "${PLAN_KIND[$i]}" = processor ] && plan+=" ${PLAN_WHO[$i]}"
	plan+=" (${PLAN_PAUSE[$i]} ms)"
done
say "$T seed $SEED: $COUNT records per source at $RATE Hz, $FAULTS faults over ${DURATION} s, $NPROC processor(s), broker $BROKER_URL, namespace $NS, work dir $WORKDIR"
say "plan (s after the generators start; pause before the restart): $plan"
if "$BROKERS" status "$T" >/dev/null 2>&1; then
	say "the $T broker already runs (STREAMCTL_BROKERS_DIR=$STREAMCTL_BROKERS_DIR)"
else
	say "starting the $T broker in $STREAMCTL_BROKERS_DIR"
	STARTED_BROKER=1
	if ! "$BROKERS" start "$T" >>"$WORKDIR/brokers.log" 2>&1; then
		tail -n 20 "$WORKDIR/brokers.log" >&2
		say "cannot start the $T broker"
		exit 2
	fi
fi

start_role sink
for ((i = 1; i <= NPROC; i++)); do start_role "p$i"; done
sleep 3 # consumers subscribe first: MQTT delivers only to existing subscriptions
supervise
GEN_NAME=(cpu sensor)
GEN_T0=${EPOCHREALTIME/./}
for src in cpu sensor; do
	"$SC" generate "${COMMON[@]}" --source="$src" --count="$COUNT" --rate="$RATE" \
		--source-id="chaos-$src" --stats="$WORKDIR/gen-$src.stats" 2>>"$WORKDIR/gen-$src.log" &
	GEN_PIDS+=($!)
done
T0=$((GEN_T0 / 1000)) # fault times count from the generators' start
say "generators started"

for ((i = 0; i < FAULTS; i++)); do
	sleep_until "${PLAN_AT[$i]}"
	if [ "$GEN_DEAD" -gt 0 ]; then
		say "a generator died: no more faults"
		break
	fi
	case "${PLAN_KIND[$i]}" in
	broker) fault_broker "${PLAN_PAUSE[$i]}" ;;
	processor) fault_role processor "${PLAN_WHO[$i]}" "${PLAN_PAUSE[$i]}" ;;
	sink) fault_role sink sink "${PLAN_PAUSE[$i]}" ;;
	esac
	supervise
done

# the generators finish their count (late after stalls, never skipping)
GEN_DEADLINE=$(((DURATION + 120) * 1000))
while gens_running; do
	now_ms
	if [ "$NOW" -ge "$GEN_DEADLINE" ]; then
		say "FAILURE: generators still running $((DURATION + 120)) s after their start; SIGTERM"
		for p in "${GEN_PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
		GEN_DEAD=$((GEN_DEAD + 1))
		sleep 2
	fi
	supervise
	sleep 0.2
done

# the sink catches up: every record of both sources stored, or 60 s without progress
want=$((2 * COUNT))
last=-1 since=$SECONDS
while :; do
	supervise
	n=$(rows)
	[ "$n" -ge "$want" ] && break
	if [ "$n" != "$last" ]; then
		last=$n since=$SECONDS
	elif [ $((SECONDS - since)) -ge 60 ]; then
		say "the sink made no progress for 60 s at $n of $want rows"
		break
	fi
	sleep 0.5
done
say "sink holds $(rows) of $want rows; draining (SIGTERM) processors and sink"
for name in p1 p2 sink; do # processors first, then the sink
	pid=${PID[$name]:-}
	[ -n "$pid" ] || continue
	unset "PID[$name]"
	kill -TERM "$pid" 2>/dev/null
	if ! wait_exit "$pid" 30; then
		say "FAILURE: $name (pid $pid) did not exit 30 s after SIGTERM"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		DRAIN_BAD=$((DRAIN_BAD + 1))
	elif [ "$RC" -ne 0 ]; then
		say "FAILURE: $name exited with status $RC on SIGTERM"
		DRAIN_BAD=$((DRAIN_BAD + 1))
	fi
done

"$SC" verify --db="$DB" --expect="$COUNT" >"$WORKDIR/verify.out" 2>&1
VRC=$?
[ "$QUIET" = 1 ] || sed 's/^/        /' "$WORKDIR/verify.out" >&2
last=$(tail -n 1 "$WORKDIR/verify.out")
ROWS=$(sed -n 's/.*(\([0-9]*\) rows from.*/\1/p' <<<"$last")
GAPS=$(sed -n 's/.*NOT clean: \([0-9]*\) gaps.*/\1/p' <<<"$last")
MISSING=$(sed -n 's/.* \([0-9]*\) missing.*/\1/p' <<<"$last")
DUPS=$(sed -n 's/^duplicates refused: \([0-9]*\)$/\1/p' "$WORKDIR/verify.out")
ROWS=${ROWS:-0} GAPS=${GAPS:-0} MISSING=${MISSING:-0} DUPS=${DUPS:-0}

[ "$VRC" -eq 0 ] || NOTES+=("verify not clean")
[ "$GEN_DEAD" -eq 0 ] || NOTES+=("$GEN_DEAD generator(s) died")
[ "$UNEXPECTED" -eq 0 ] || NOTES+=("$UNEXPECTED unexpected exit(s)")
[ "$BROKER_FAILS" -eq 0 ] || NOTES+=("$BROKER_FAILS broker restart failure(s)")
[ "$DRAIN_BAD" -eq 0 ] || NOTES+=("$DRAIN_BAD bad stop(s)")
[ "$ROWS" -eq "$want" ] || NOTES+=("$ROWS of $want rows")
if [ "${#NOTES[@]}" -eq 0 ]; then RESULT=PASS; fi
now_ms
ELAPSED=$((NOW / 1000))
BSIG=SIGKILL
[ "$BROKER_STOP" = term ] && BSIG=SIGTERM
SIGS="broker $BSIG, processor/sink SIG$KILLSIG"
why=
[ "${#NOTES[@]}" -eq 0 ] || why=" ($(
	IFS=,
	echo "${NOTES[*]}" | sed 's/,/, /g'
))"
printf 'chaos %s: seed %s, %s msgs/source at %s Hz over %s s, %s processor(s); faults %d: broker %d, processor %d, sink %d (%s); verified %s rows, %s gaps (%s missing), %s duplicates refused, %s unexpected exits; %s%s in %s s\n' \
	"$T" "$SEED" "$COUNT" "$RATE" "$DURATION" "$NPROC" \
	$((NF[broker] + NF[processor] + NF[sink])) "${NF[broker]}" "${NF[processor]}" "${NF[sink]}" "$SIGS" \
	"$ROWS" "$GAPS" "$MISSING" "$DUPS" "$UNEXPECTED" "$RESULT" "$why" "$ELAPSED"
if [ -n "$CSV" ]; then
	[ -s "$CSV" ] || echo "date,transport,seed,duration_s,rate_hz,msgs_per_source,processors,faults_broker,faults_processor,faults_sink,broker_signal,consumer_signal,rows_verified,gaps,missing,duplicates_refused,unexpected_exits,generator_failures,result,elapsed_s" >"$CSV"
	echo "$(date -u +%FT%TZ),$T,$SEED,$DURATION,$RATE,$COUNT,$NPROC,${NF[broker]},${NF[processor]},${NF[sink]},$BSIG,SIG$KILLSIG,$ROWS,$GAPS,$MISSING,$DUPS,$UNEXPECTED,$GEN_DEAD,$RESULT,$ELAPSED" >>"$CSV"
fi
[ "$RESULT" = PASS ]

#!/usr/bin/env bash
# scripts/stack.sh - run a compose stack's pipeline as local processes.
#
#   stack.sh kafka|amqp|mqtt up [--scale SERVICE=N ...]
#   stack.sh kafka|amqp|mqtt down [--brokers]
#   stack.sh kafka|amqp|mqtt status
#   stack.sh kafka|amqp|mqtt env          what `up` would run, with its environment
#
# The same topology as compose/<pattern>.yml without Docker: the broker from
# scripts/brokers.sh (kafka: the single node; STACK_KAFKA_CLUSTER=1: the
# 3-node kafka-cluster), then every streamctl service of the compose file as a
# process with exactly the STREAMCTL_* environment the file gives it (read by
# scripts/compose-env.py, so the two cannot drift). Only what a container has
# of its own is remapped: broker host names -> the local broker (AMQP: its
# guest user), listen and metrics addresses -> 127.0.0.1 (metrics ports
# STACK_METRICS_BASE+n, default 19100), volumes -> local directories, the
# Kafka replication factor is capped at the local broker count, and consumers
# get a client id per instance (in containers the default, which holds the
# host name, is unique; on one host it is not). scripts/compose-env.py says
# exactly what it rewrites; `stack.sh <pattern> env` shows the result.
#
# up: starts the broker, then the sink and the processors; waits until they
# are ready (their /readyz, or STACK_WARMUP seconds where no metrics endpoint
# answers); then the generators. Fails, naming the log, if a process exits.
# The sink volume starts empty (the generators' source ids are per host and
# their seq restarts at 0, so old rows would refuse the new ones as
# duplicates); STACK_KEEP_DATA=1 keeps it.
#
# down: stops the generators first (SIGTERM: each finishes its last message),
# waits until the sink's row count stops changing (STACK_QUIET seconds, at
# most STACK_DRAIN_TIMEOUT), stops the processors, drains again, then the
# sink; each stop is SIGTERM, then SIGKILL after STACK_STOP_TIMEOUT seconds.
# So `streamctl verify` on the database finds no gaps. The broker keeps
# running unless --brokers.
#
# Files: .cache/stack/<pattern>/ (STACK_DIR): run/ (environments, pids),
# log/<instance>.log, volumes/<volume>/ (the sink database).
#
# Environment: STREAMCTL (binary, default build/streamctl), STACK_BROKER
# (use this broker URI instead of starting one), STACK_HTTP_PORT (the HTTP
# ingest's local port, default the published one), STACK_KAFKA_CLUSTER,
# STACK_KEEP_DATA, STACK_WARMUP [5], STACK_READY_TIMEOUT [60],
# STACK_STOP_TIMEOUT [20], STACK_QUIET [3], STACK_DRAIN_TIMEOUT [60],
# STACK_METRICS_BASE [19100], PYTHON (a python3 with yaml).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A python3 with the yaml module (python3-yaml): $PYTHON, python3 or Debian's.
if [ -z "${PYTHON:-}" ]; then
	for PYTHON in python3 /usr/bin/python3; do
		"$PYTHON" -c 'import yaml' 2>/dev/null && break
	done
fi
PY=$PYTHON
SC=${STREAMCTL:-$ROOT/build/streamctl}
[ -e "$SC" ] && SC=$(cd "$(dirname "$SC")" && pwd)/$(basename "$SC")
WARMUP=${STACK_WARMUP:-5}
READY_TIMEOUT=${STACK_READY_TIMEOUT:-60}
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-20}
QUIET=${STACK_QUIET:-3}
DRAIN_TIMEOUT=${STACK_DRAIN_TIMEOUT:-60}

say() { printf 'stack: %s\n' "$*"; }
err() { printf 'stack: %s\n' "$*" >&2; }
die() {
	err "$*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# --- arguments ----------------------------------------------------------------

[ $# -ge 2 ] || {
	usage >&2
	exit 2
}
PATTERN=$1
VERB=$2
shift 2
case "$PATTERN" in
kafka | amqp | mqtt) ;;
*)
	err "unknown pattern '$PATTERN' (known: kafka, amqp, mqtt)"
	exit 2
	;;
esac
COMPOSE=$ROOT/compose/$PATTERN.yml
DIR=${STACK_DIR:-$ROOT/.cache/stack/$PATTERN}
RUN=$DIR/run
LOG=$DIR/log
VOL=$DIR/volumes
TARGET=$PATTERN
if [ "$PATTERN" = kafka ] && [ "${STACK_KAFKA_CLUSTER:-0}" = 1 ]; then
	TARGET=kafka-cluster
fi

# --- processes ----------------------------------------------------------------

# instances: "<instance> <role> <service>" lines of the last up, in start order.
instances() {
	[ -s "$RUN/instances" ] && cat "$RUN/instances"
}

# Prints the pid of instance $1 if it still runs as `streamctl <role>` (the
# binary `up` started, whatever STREAMCTL says now).
inst_pid() {
	local inst=$1 role=$2 pid bin
	[ -s "$RUN/$inst.pid" ] || return 1
	bin=$(cat "$RUN/binary" 2>/dev/null) || bin=$SC
	pid=$(tr -dc 0-9 <"$RUN/$inst.pid")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$bin $role" || return 1
	printf '%s\n' "$pid"
}

# Value of variable $2 in instance $1's environment file.
inst_var() {
	sed -n "s/^$2=//p" "$RUN/$1.env" | tail -n 1
}

start_inst() {
	local inst=$1 role=$2 vars
	mapfile -t vars <"$RUN/$inst.env"
	(
		# Exactly the file's STREAMCTL_* variables: none from the caller.
		for v in $(compgen -e); do
			case "$v" in STREAMCTL_*) unset "$v" ;; esac
		done
		# Own session: a Ctrl-C in the caller's terminal does not reach it;
		# `down` stops it in order. (setsid does not fork here: same pid.)
		exec setsid env "${vars[@]}" "$SC" "$role" </dev/null >>"$LOG/$inst.log" 2>&1
	) &
	printf '%s\n' "$!" >"$RUN/$inst.pid"
	disown "$!" # no "Killed" job notices from this shell; down reaps by pid
}

# Waits until instance $1 is ready: /readyz answers 200, or no metrics
# endpoint answered anything for WARMUP seconds since $3 (the start, in
# $SECONDS). Fails if it exits.
wait_ready() {
	local inst=$1 role=$2 t0=$3 port code='' seen=0
	port=$(inst_var "$inst" STREAMCTL_METRICS)
	port=${port##*:}
	while :; do
		inst_pid "$inst" "$role" >/dev/null || return 1
		if [ -n "$port" ]; then
			code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null) || true
			[ "$code" = 200 ] && return 0
			[ -n "$code" ] && [ "$code" != 000 ] && seen=1
		fi
		if [ "$seen" = 0 ] && [ $((SECONDS - t0)) -ge "$WARMUP" ]; then
			return 0
		fi
		if [ $((SECONDS - t0)) -ge "$READY_TIMEOUT" ]; then
			err "$inst: not ready after ${READY_TIMEOUT}s (/readyz on port $port answered $code)"
			return 2
		fi
		sleep 0.5
	done
}

# Stops every running instance of role $1: SIGTERM, bounded wait, SIGKILL.
stop_role() {
	local role=$1 inst r _svc pid pids=() names=() t0 alive i
	while read -r inst r _svc; do
		[ "$r" = "$role" ] || continue
		pid=$(inst_pid "$inst" "$r") || continue
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
		names+=("$inst")
	done < <(instances)
	[ "${#pids[@]}" -gt 0 ] || return 0
	t0=$SECONDS
	while :; do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		if [ $((SECONDS - t0)) -ge "$STOP_TIMEOUT" ]; then
			for i in "${!pids[@]}"; do
				if kill -0 "${pids[$i]}" 2>/dev/null; then
					err "${names[$i]}: still running ${STOP_TIMEOUT}s after SIGTERM, sent SIGKILL"
					kill -KILL "${pids[$i]}" 2>/dev/null || true
				fi
			done
			sleep 0.2
			break
		fi
		sleep 0.2
	done
	say "stopped ${names[*]} in $((SECONDS - t0))s"
}

# --- the sink database ----------------------------------------------------------

sink_db() {
	local inst r _svc
	while read -r inst r _svc; do
		[ "$r" = sink ] && { inst_var "$inst" STREAMCTL_DB; return 0; }
	done < <(instances)
	return 1
}

# Rows in every table of database $1 (0 if it does not exist yet).
db_rows() {
	"$PY" - "$1" <<'PY' 2>/dev/null || echo 0
import os, sqlite3, sys
p = sys.argv[1]
if not os.path.exists(p):
    print(0); sys.exit(0)
con = sqlite3.connect("file:%s?mode=ro" % p, uri=True, timeout=5)
tabs = [r[0] for r in con.execute(
    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
print(sum(con.execute('SELECT COUNT(*) FROM "%s"' % t.replace('"', '""')).fetchone()[0] for t in tabs))
PY
}

# Waits until the sink's row count has not changed for QUIET seconds.
drain() {
	local db rows last t0=$SECONDS tq=$SECONDS
	db=$(sink_db) || return 0
	last=$(db_rows "$db")
	while [ $((SECONDS - tq)) -lt "$QUIET" ]; do
		if [ $((SECONDS - t0)) -ge "$DRAIN_TIMEOUT" ]; then
			err "drain: rows still changing after ${DRAIN_TIMEOUT}s ($last rows), going on"
			return 0
		fi
		sleep 0.5
		rows=$(db_rows "$db")
		if [ "$rows" != "$last" ]; then
			last=$rows
			tq=$SECONDS
		fi
	done
	say "drained: $last rows in $db"
}

# --- brokers --------------------------------------------------------------------

brokers() {
	[ -x "$ROOT/scripts/brokers.sh" ] ||
		die "scripts/brokers.sh is missing: it starts the local brokers (or set STACK_BROKER=URI)"
	"$ROOT/scripts/brokers.sh" "$@"
}

# Exports the LOCAL_* settings compose-env.py maps the containers onto.
local_settings() {
	export LOCAL_VOLUMES_DIR=$VOL LOCAL_METRICS_BASE=${STACK_METRICS_BASE:-19100}
	[ -n "${STACK_HTTP_PORT:-}" ] && export LOCAL_HTTP_PORT=$STACK_HTTP_PORT
	if [ -n "${STACK_BROKER:-}" ]; then
		export LOCAL_BROKER=$STACK_BROKER
		if [ "$TARGET" = kafka-cluster ]; then
			export LOCAL_KAFKA_BROKERS=3
		else
			export LOCAL_KAFKA_BROKERS=1
		fi
		return 0
	fi
	local assignments
	# (brokers.sh reads the caller's KAFKA_PORT etc.: capture before shadowing)
	assignments=$(brokers env) || die "scripts/brokers.sh env failed"
	local KAFKA_BOOTSTRAP='' KAFKA_CLUSTER_BOOTSTRAP='' AMQP_PORT='' MQTT_PORT=''
	eval "$assignments"
	if [ "$TARGET" = kafka-cluster ]; then
		export LOCAL_KAFKA_BOOTSTRAP=$KAFKA_CLUSTER_BOOTSTRAP LOCAL_KAFKA_BROKERS=3
	else
		export LOCAL_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP LOCAL_KAFKA_BROKERS=1
	fi
	export LOCAL_AMQP_HOSTPORT=127.0.0.1:$AMQP_PORT LOCAL_MQTT_HOSTPORT=127.0.0.1:$MQTT_PORT
}

# --- verbs ----------------------------------------------------------------------

cmd_env() {
	local tmp inst role svc
	local_settings
	tmp=$(mktemp -d)
	"$PY" "$ROOT/scripts/compose-env.py" "$COMPOSE" local --out "$tmp" | while read -r inst role svc; do
		printf '%s (%s, service %s):\n' "$inst" "$role" "$svc"
		sed 's/^/  /' "$tmp/$inst.env"
	done
	rm -rf "$tmp"
}

cmd_up() {
	local scale=() inst role svc running=() failed=0 t0
	while [ $# -gt 0 ]; do
		case "$1" in
		--scale) scale+=("${2:?--scale needs SERVICE=N}"); shift 2 ;;
		--scale=*) scale+=("${1#--scale=}"); shift ;;
		*) die "up: unknown argument '$1'" ;;
		esac
	done
	[ -x "$SC" ] || die "no streamctl binary at $SC (make, or set STREAMCTL)"
	"$PY" -c 'import yaml' 2>/dev/null || die "$PY has no yaml module (Debian: apt-get install python3-yaml)"
	while read -r inst role svc; do
		inst_pid "$inst" "$role" >/dev/null && running+=("$inst")
	done < <(instances || true)
	[ "${#running[@]}" -eq 0 ] || die "$PATTERN is already up (${running[*]}): run '$0 $PATTERN down' first"

	if [ -z "${STACK_BROKER:-}" ]; then
		brokers start "$TARGET"
	fi
	local_settings
	rm -rf "$RUN" "$LOG"
	[ "${STACK_KEEP_DATA:-0}" = 1 ] || rm -rf "$VOL"
	mkdir -p "$RUN" "$LOG" "$VOL"
	printf '%s\n' "$SC" >"$RUN/binary"
	SCALE=$(
		IFS=,
		echo "${scale[*]}"
	) "$PY" "$ROOT/scripts/compose-env.py" "$COMPOSE" local --out "$RUN" >"$RUN/instances.new"
	mv "$RUN/instances.new" "$RUN/instances"

	# Consumers first, so that nothing the generators send finds no one.
	while read -r inst role svc; do
		[ "$role" = generate ] && continue
		start_inst "$inst" "$role"
	done < <(instances)
	t0=$SECONDS
	sleep 0.3 # let each exec streamctl before its pid is checked
	while read -r inst role svc; do
		[ "$role" = generate ] && continue
		if ! wait_ready "$inst" "$role" "$t0"; then
			err "$inst: exited during start-up; its log, $LOG/$inst.log:"
			tail -n 15 "$LOG/$inst.log" | sed 's/^/  | /' >&2
			failed=1
		fi
	done < <(instances)
	if [ "$failed" = 0 ]; then
		while read -r inst role svc; do
			[ "$role" = generate ] && start_inst "$inst" "$role"
		done < <(instances)
		sleep 1
		while read -r inst role svc; do
			if ! inst_pid "$inst" "$role" >/dev/null; then
				err "$inst: exited during start-up; its log, $LOG/$inst.log:"
				tail -n 15 "$LOG/$inst.log" | sed 's/^/  | /' >&2
				failed=1
			fi
		done < <(instances)
	fi
	if [ "$failed" = 1 ]; then
		err "up failed; stopping what started"
		cmd_down >/dev/null
		exit 1
	fi
	say "$PATTERN up: $(awk '{ printf "%s%s", sep, $1; sep = " " }' "$RUN/instances")"
	say "logs in $LOG, database $(sink_db)"
	local listen
	while read -r inst role svc; do
		listen=$(inst_var "$inst" STREAMCTL_LISTEN)
		[ -n "$listen" ] && [ "$(inst_var "$inst" STREAMCTL_SOURCE)" = http ] &&
			say "$inst: Sensor Logger HTTP push URL http://$listen/"
	done < <(instances)
	return 0
}

cmd_down() {
	local with_brokers=0 db
	while [ $# -gt 0 ]; do
		case "$1" in
		--brokers) with_brokers=1; shift ;;
		*) die "down: unknown argument '$1'" ;;
		esac
	done
	if instances >/dev/null; then
		stop_role generate
		drain
		stop_role process
		drain
		stop_role sink
		db=$(sink_db) || true
		[ -n "${db:-}" ] && [ -f "$db" ] && say "database $db: $(cat "$RUN/binary" 2>/dev/null || echo "$SC") verify --db=$db"
	else
		say "$PATTERN: nothing was started"
	fi
	if [ "$with_brokers" = 1 ] && [ -z "${STACK_BROKER:-}" ]; then
		brokers stop "$TARGET"
	fi
	return 0
}

cmd_status() {
	local inst role svc pid all=0 db
	if ! instances >/dev/null; then
		say "$PATTERN: not started"
		return 1
	fi
	while read -r inst role svc; do
		if pid=$(inst_pid "$inst" "$role"); then
			printf '%-14s %-9s running (pid %s)\n' "$inst" "$role" "$pid"
		else
			printf '%-14s %-9s stopped\n' "$inst" "$role"
			all=1
		fi
	done < <(instances)
	if db=$(sink_db) && [ -f "$db" ]; then
		printf 'database %s: %s rows\n' "$db" "$(db_rows "$db")"
	fi
	if [ -z "${STACK_BROKER:-}" ] && [ -x "$ROOT/scripts/brokers.sh" ]; then
		brokers status "$TARGET" || all=1
	fi
	return "$all"
}

case "$VERB" in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
status) cmd_status ;;
env) cmd_env ;;
-h | --help | help) usage ;;
*)
	err "unknown command '$VERB' (up, down, status, env)"
	exit 2
	;;
esac

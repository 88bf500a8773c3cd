#!/usr/bin/env bash
# scripts/docker-stack.sh - run a compose stack in containers (`make stack`).
#
#   docker-stack.sh kafka|amqp|mqtt up [--scale SERVICE=N ...]
#   docker-stack.sh kafka|amqp|mqtt down [-v]
#   docker-stack.sh kafka|amqp|mqtt status
#   docker-stack.sh kafka|amqp|mqtt verify [streamctl verify options]
#   docker-stack.sh kafka|amqp|mqtt compose ARGS...   docker-compose on the stack
#
# up: makes sure an engine answers (scripts/docker-engine.sh start), builds
# streamctl:latest (scripts/docker-images.sh: cached, seconds when nothing
# changed), picks the broker images, then `docker-compose -p streamctl-<pattern>
# -f compose/<pattern>.yml up -d`. compose starts the broker(s), waits until
# they are healthy, starts the sink and the processors, waits until each is
# ready (/readyz: subscribed, its queue or session in place), and only then
# the generators: the first record already finds its consumers.
#
# Images: the compose files' defaults are the official images (apache/kafka,
# rabbitmq:*-management, eclipse-mosquitto, provectuslabs/kafka-ui). Where
# one is neither present nor pullable (no registry), the broker is the local
# image scripts/docker-images.sh builds from Debian packages (and the Kafka
# jars scripts/setup.sh fetched), chosen through KAFKA_IMAGE, RABBITMQ_IMAGE,
# MOSQUITTO_IMAGE, and up says so in one line; the Kafka UI has no such
# stand-in: the stack then runs without it and says the UI is unavailable.
# Set those variables yourself to choose.
#
# down: stops the generators first, waits until the sink's row count has not
# changed for STACK_QUIET seconds (at most STACK_DRAIN_TIMEOUT), stops the
# processors, drains again, stops the sink, then `docker-compose down`; the
# volumes (the sink's database, the broker data) stay unless -v.
# verify: `streamctl verify` in a container on the sink's volume.
#
# Host ports (environment; defaults are the compose files'): STACK_HTTP_PORT
# [8080] the Sensor Logger HTTP push, STACK_KAFKA_UI_PORT [9000],
# STACK_AMQP_UI_PORT [15672], STACK_MQTT_PORT [1883], STACK_MQTT_WS_PORT
# [9001]. Others: STACK_PROJECT [streamctl-<pattern>], STACK_QUIET [3],
# STACK_DRAIN_TIMEOUT [60], STACK_UP_TIMEOUT [300] (docker-compose up's
# wait for healthy dependencies).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A python3 with the yaml module (python3-yaml), as scripts/stack.sh.
if [ -z "${PYTHON:-}" ]; then
	for PYTHON in python3 /usr/bin/python3; do
		"$PYTHON" -c 'import yaml' 2>/dev/null && break
	done
fi
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
FILE=$ROOT/compose/$PATTERN.yml
PROJECT=${STACK_PROJECT:-streamctl-$PATTERN}
export COMPOSE_HTTP_TIMEOUT=${STACK_UP_TIMEOUT:-300}

dc() { docker-compose -p "$PROJECT" -f "$FILE" "$@"; }

# Services of the compose file by role: generate, process, sink (from
# compose-env.py, the same reading scripts/stack.sh uses).
services_of() {
	"$PYTHON" "$ROOT/scripts/compose-env.py" "$FILE" list | awk -v r="$1" '$2 == r { print $1 }'
}

# available IMAGE: present in the engine, or pulled now.
available() {
	docker image inspect "$1" >/dev/null 2>&1 ||
		timeout "${DOCKER_PULL_TIMEOUT:-60}" docker pull -q "$1" >/dev/null 2>&1
}

# The compose default of variable $1 in the file: ${VAR:-default}.
default_image() {
	sed -n "s/.*image: \${$1:-\([^}]*\)}.*/\1/p" "$FILE" | head -n 1
}

# Exports the broker image variable $1 (official default, else the local
# build named by docker-images.sh env, built if missing).
pick_image() {
	local var=$1 what=$2 official local_img
	[ -n "${!var:-}" ] && return 0
	official=$(default_image "$var")
	if available "$official"; then
		export "$var=$official"
		return 0
	fi
	local_img=$("$ROOT/scripts/docker-images.sh" env | sed -n "s/^$var=//p")
	docker image inspect "$local_img" >/dev/null 2>&1 || "$ROOT/scripts/docker-images.sh" "$what" >&2
	export "$var=$local_img"
	say "$official cannot be pulled (no registry): using $local_img, built from Debian packages"
}

# The sink's database on the host (the volume's mount point), if readable.
sink_db_path() {
	local vol mp
	vol=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" |
		grep -E '_sink-data$' | head -n 1) || return 1
	mp=$(docker volume inspect -f '{{ .Mountpoint }}' "$vol" 2>/dev/null) || return 1
	[ -r "$mp/streamctl.db" ] || return 1
	printf '%s\n' "$mp/streamctl.db"
}

db_rows() {
	local db
	db=$(sink_db_path) || { echo 0; return 0; }
	"$PYTHON" - "$db" <<'PY' 2>/dev/null || echo 0
import sqlite3, sys
con = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
tabs = [r[0] for r in con.execute(
    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
print(sum(con.execute('SELECT COUNT(*) FROM "%s"' % t.replace('"', '""')).fetchone()[0] for t in tabs))
PY
}

drain() {
	local rows last t0=$SECONDS tq=$SECONDS
	last=$(db_rows)
	while [ $((SECONDS - tq)) -lt "$QUIET" ]; do
		if [ $((SECONDS - t0)) -ge "$DRAIN_TIMEOUT" ]; then
			err "drain: rows still changing after ${DRAIN_TIMEOUT}s ($last rows), going on"
			return 0
		fi
		sleep 0.5
		rows=$(db_rows)
		if [ "$rows" != "$last" ]; then
			last=$rows
			tq=$SECONDS
		fi
	done
	say "drained: $last rows in the sink's database"
}

cmd_up() {
	local args=() svcs=() t0=$SECONDS
	while [ $# -gt 0 ]; do
		case "$1" in
		--scale) args+=(--scale "${2:?--scale needs SERVICE=N}"); shift 2 ;;
		--scale=*) args+=(--scale "${1#--scale=}"); shift ;;
		*) die "up: unknown argument '$1'" ;;
		esac
	done
	"$ROOT/scripts/docker-engine.sh" start
	command -v docker-compose >/dev/null 2>&1 || die "docker-compose missing: scripts/docker-engine.sh start installs it"
	if [ -z "${STREAMCTL_IMAGE:-}" ]; then
		"$ROOT/scripts/docker-images.sh" streamctl
	fi
	case "$PATTERN" in
	kafka) pick_image KAFKA_IMAGE kafka ;;
	amqp) pick_image RABBITMQ_IMAGE rabbitmq ;;
	mqtt) pick_image MOSQUITTO_IMAGE mosquitto ;;
	esac
	mapfile -t svcs < <(dc config --services)
	if [ "$PATTERN" = kafka ]; then
		local ui
		ui=${KAFKA_UI_IMAGE:-$(default_image KAFKA_UI_IMAGE)}
		if ! available "$ui"; then
			mapfile -t svcs < <(printf '%s\n' "${svcs[@]}" | grep -vx kafka-ui)
			say "Kafka UI unavailable: $ui cannot be pulled (no registry); the stack runs without it"
		else
			say "Kafka UI: http://localhost:${STACK_KAFKA_UI_PORT:-9000}/"
		fi
	fi
	say "docker-compose -p $PROJECT -f compose/$PATTERN.yml up -d ${args[*]}"
	if ! dc up -d --no-build "${args[@]}" "${svcs[@]}"; then
		dc ps >&2 || true
		die "up failed: docker-compose -p $PROJECT -f compose/$PATTERN.yml logs"
	fi
	dc ps
	say "$PATTERN up in $((SECONDS - t0))s; Sensor Logger HTTP push URL http://<this host>:${STACK_HTTP_PORT:-8080}/"
	case "$PATTERN" in
	amqp) say "RabbitMQ management: http://localhost:${STACK_AMQP_UI_PORT:-15672}/ (streamctl/streamctl)" ;;
	mqtt) say "MQTT for the Sensor Logger app: port ${STACK_MQTT_PORT:-1883} (websockets ${STACK_MQTT_WS_PORT:-9001}), topic sensor-logger" ;;
	esac
	say "logs: $0 $PATTERN compose logs -f; stop: make stack-down TRANSPORT=$PATTERN"
}

cmd_down() {
	local vol=() s
	while [ $# -gt 0 ]; do
		case "$1" in
		-v | --volumes) vol=(-v); shift ;;
		*) die "down: unknown argument '$1'" ;;
		esac
	done
	if ! docker info >/dev/null 2>&1; then
		say "no Docker engine answers: nothing to stop"
		return 0
	fi
	if [ -n "$(dc ps -q 2>/dev/null)" ]; then
		mapfile -t s < <(services_of generate)
		dc stop "${s[@]}"
		drain
		mapfile -t s < <(services_of process)
		dc stop "${s[@]}"
		drain
		mapfile -t s < <(services_of sink)
		dc stop "${s[@]}"
	fi
	dc down --remove-orphans "${vol[@]}"
	[ "${#vol[@]}" -gt 0 ] || say "volumes kept (the sink's database: $0 $PATTERN verify); -v deletes them"
}

cmd_verify() {
	local vol
	vol=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | grep -E '_sink-data$' | head -n 1) ||
		die "no sink volume of $PROJECT: run up first"
	[ -n "$vol" ] || die "no sink volume of $PROJECT: run up first"
	docker run --rm -v "$vol:/data" "${STREAMCTL_IMAGE:-streamctl:latest}" verify --db=/data/streamctl.db "$@"
}

case "$VERB" in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
status) dc ps ;;
verify) cmd_verify "$@" ;;
compose) dc "$@" ;;
-h | --help | help) usage ;;
*)
	err "unknown command '$VERB' (up, down, status, verify, compose)"
	exit 2
	;;
esac

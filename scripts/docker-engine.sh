#!/usr/bin/env bash
# scripts/docker-engine.sh - a Docker engine for the images and compose stacks.
#
#   docker-engine.sh start|stop|status
#
# start: if a Docker engine already answers (`docker info`), uses it and says
# so. Otherwise installs what is missing (Debian: docker.io for dockerd and
# containerd, docker-compose, mmdebstrap for base images without the
# registry; apt-get, as root or with sudo) and starts a private dockerd as
# root in its own session, with everything under one directory:
# $DOCKER_ENGINE_DIR (default $STREAMCTL_CACHE/docker, i.e.
# <repo>/.cache/docker): data/ (images, volumes: they survive stop/start, so
# image builds are cached between runs), run/ (exec root, pid file),
# dockerd.log. It listens on the usual socket (DOCKER_ENGINE_HOST, default
# unix:///var/run/docker.sock) so that `docker` and `docker-compose` find it
# without settings. Idempotent; returns when the engine answers (bounded by
# DOCKER_ENGINE_TIMEOUT, default 60 s).
#
# stop: stops only the dockerd this script started (its pid file), SIGTERM
# then SIGKILL after 30 s; an engine it did not start is left alone.
# status: one line; exit 0 if an engine answers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCTL_CACHE:-$ROOT/.cache}
DIR=${DOCKER_ENGINE_DIR:-$CACHE/docker}
HOST=${DOCKER_ENGINE_HOST:-unix:///var/run/docker.sock}
TIMEOUT=${DOCKER_ENGINE_TIMEOUT:-60}
PIDFILE=$DIR/run/dockerd.pid
LOG=$DIR/dockerd.log

say() { printf 'docker-engine: %s\n' "$*"; }
die() {
	printf 'docker-engine: %s\n' "$*" >&2
	exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
fi

answers() { DOCKER_HOST=$HOST timeout 10 docker info >/dev/null 2>&1; }

our_pid() {
	local pid
	[ -s "$PIDFILE" ] || return 1
	pid=$(tr -dc 0-9 <"$PIDFILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	grep -q dockerd "/proc/$pid/comm" 2>/dev/null || return 1
	printf '%s\n' "$pid"
}

# Installs the Debian packages of the commands that are missing.
install_missing() {
	local pkgs=()
	command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
	command -v docker >/dev/null 2>&1 || pkgs+=(docker.io)
	command -v docker-compose >/dev/null 2>&1 || pkgs+=(docker-compose)
	command -v mmdebstrap >/dev/null 2>&1 || pkgs+=(mmdebstrap)
	[ "${#pkgs[@]}" -gt 0 ] || return 0
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
	[ "$(id -u)" -eq 0 ] || [ "${#SUDO[@]}" -gt 0 ] ||
		die "missing ${pkgs[*]} and not root, no sudo: install them as root"
	command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get"
	mkdir -p "$DIR"
	say "installing ${pkgs[*]}"
	# No service starts during the install (under systemd docker.io would
	# start its own daemon; we start ours below, or use that one).
	local policy=/usr/sbin/policy-rc.d own=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
		"${SUDO[@]}" chmod 755 "$policy"
		own=1
	fi
	local rc=0
	{ "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
			install --no-install-recommends "${pkgs[@]}"; } >"$DIR/apt.log" 2>&1 || rc=$?
	[ "$own" = 1 ] && "${SUDO[@]}" rm -f "$policy"
	[ "$rc" = 0 ] || die "apt-get install ${pkgs[*]} failed: see $DIR/apt.log"
}

cmd_start() {
	if answers; then
		if our_pid >/dev/null; then
			say "running (pid $(our_pid), data in $DIR/data)"
		else
			say "an engine already answers at $HOST: using it"
		fi
		return 0
	fi
	install_missing
	answers && { say "an engine answers at $HOST: using it"; return 0; }
	[ "$(id -u)" -eq 0 ] || die "no Docker engine answers and dockerd needs root: run this as root, or start one"
	local pid
	if pid=$(our_pid); then
		die "dockerd (pid $pid) runs but does not answer at $HOST: see $LOG"
	fi
	local sock=${HOST#unix://}
	if [ "$sock" != "$HOST" ] && [ -S "$sock" ]; then
		rm -f "$sock" # stale: nothing answered on it
	fi
	mkdir -p "$DIR/data" "$DIR/run"
	# Own session (setsid), detached from the caller: it outlives this script.
	setsid dockerd --host="$HOST" --data-root="$DIR/data" --exec-root="$DIR/run/exec" \
		--pidfile="$PIDFILE" --storage-driver=overlay2 </dev/null >>"$LOG" 2>&1 &
	local t0=$SECONDS spawned=$!
	until answers; do
		if ! kill -0 "$spawned" 2>/dev/null; then
			tail -n 5 "$LOG" | sed 's/^/  | /' >&2
			die "dockerd exited during start-up: see $LOG"
		fi
		if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
			die "dockerd not answering after ${TIMEOUT}s: see $LOG"
		fi
		sleep 0.5
	done
	say "started dockerd (pid $(our_pid || echo "$spawned")) at $HOST in $((SECONDS - t0))s, data in $DIR/data"
}

cmd_stop() {
	local pid t0=$SECONDS
	if ! pid=$(our_pid); then
		if answers; then
			say "not started by this script (an engine at $HOST is left alone)"
		else
			say "not running"
		fi
		return 0
	fi
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		if [ $((SECONDS - t0)) -ge 30 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			say "dockerd (pid $pid) still running 30s after SIGTERM, sent SIGKILL"
			break
		fi
		sleep 0.2
	done
	say "stopped dockerd (pid $pid) in $((SECONDS - t0))s"
}

cmd_status() {
	local pid
	if answers; then
		if pid=$(our_pid); then
			say "running (pid $pid, $HOST, data in $DIR/data)"
		else
			say "an engine answers at $HOST (not started by this script)"
		fi
		return 0
	fi
	if pid=$(our_pid); then
		say "dockerd (pid $pid) runs but does not answer at $HOST: see $LOG"
	else
		say "no engine answers at $HOST"
	fi
	return 1
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	printf 'usage: %s start|stop|status\n' "$0" >&2
	exit 2
	;;
esac

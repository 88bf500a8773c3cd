#!/usr/bin/env bash
# scripts/setup.sh - install what streamctl needs to build, test and run its
# local brokers on Debian 12, then fetch the Apache Kafka broker jars.
#
# Idempotent and quick when everything is present: it then prints only
# "setup: ok". Otherwise it prints one line per step it did.
#
#   - Debian packages: only the missing ones are installed (apt-get update
#     first). Broker packages (rabbitmq-server, mosquitto) must not leave
#     system services running on 5672/1883: service starts are denied during
#     the install and, under systemd, the units are stopped and disabled.
#   - Kafka jars: scripts/kafka/pom.xml is resolved with Maven into
#     $STREAMCTL_CACHE/kafka/libs (default <repo>/.cache/kafka/libs); a stamp
#     file holding the pom's checksum makes later runs skip it.
#
# Environment: STREAMCTL_CACHE (cache dir), SETUP_SKIP_APT=1 (skip packages),
# SETUP_SKIP_KAFKA=1 (skip the jars).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCTL_CACHE:-$ROOT/.cache}
POM=$ROOT/scripts/kafka/pom.xml

say() { printf 'setup: %s\n' "$*"; }
die() {
	printf 'setup: %s\n' "$*" >&2
	exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	fi
fi

# --- Debian packages ------------------------------------------------------

PACKAGES=(build-essential pkg-config librdkafka-dev librabbitmq-dev
	libpaho-mqtt-dev libmsgpack-dev libsqlite3-dev sqlite3 libcriterion-dev
	libjansson-dev libmicrohttpd-dev rabbitmq-server mosquitto
	mosquitto-clients kcat clang-format curl netcat-openbsd procps python3
	openssl python3-yaml docker-compose clang libclang-rt-14-dev graphviz python3-matplotlib
	valgrind google-perftools libgoogle-perftools-dev python3-venv)
command -v java >/dev/null 2>&1 || PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || PACKAGES+=(maven)

# Prints the packages of "$@" that are not fully installed.
missing_packages() {
	local installed
	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
		awk '$2 == "ii" { print $1 }') || true
	local p
	for p in "$@"; do
		grep -qxF "$p" <<<"$installed" || printf '%s\n' "$p"
	done
}

# Stops and disables the system units of freshly installed broker packages
# (only under systemd; elsewhere the policy-rc.d below kept them from starting).
stop_system_services() {
	[ -d /run/systemd/system ] || return 0
	local unit
	for unit in "$@"; do
		if systemctl is-active --quiet "$unit" 2>/dev/null; then
			"${SUDO[@]}" systemctl stop "$unit" || true
			say "stopped system service $unit"
		fi
		if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
			"${SUDO[@]}" systemctl disable --quiet "$unit" 2>/dev/null || true
			say "disabled system service $unit"
		fi
	done
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
	[ "${#missing[@]}" -gt 0 ] || return 0
	if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
		die "missing packages (${missing[*]}) and not root, no sudo: install them as root"
	fi
	command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get"

	# Deny service starts while installing: Debian's rabbitmq-server and
	# mosquitto would otherwise start system brokers on 5672 and 1883.
	local policy=/usr/sbin/policy-rc.d own_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# streamctl setup.sh: no service starts during install\nexit 101\n' |
			"${SUDO[@]}" tee "$policy" >/dev/null
		"${SUDO[@]}" chmod 755 "$policy"
		own_policy=1
		# shellcheck disable=SC2064 # expand now: the trap must remove this file
		trap "${SUDO[*]} rm -f '$policy'" EXIT
	fi

	say "installing ${#missing[@]} packages: ${missing[*]}"
	mkdir -p "$CACHE"
	local log=$CACHE/setup-apt.log
	: >"$log"
	if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q \
		-o DPkg::Lock::Timeout=300 update >>"$log" 2>&1; then
		tail -n 5 "$log" >&2
		die "apt-get update failed: see $log"
	fi
	if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
		-o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}" \
		>>"$log" 2>&1; then
		tail -n 10 "$log" >&2
		die "apt-get install failed: see $log"
	fi

	if [ "$own_policy" -eq 1 ]; then
		"${SUDO[@]}" rm -f "$policy"
		trap - EXIT
	fi
	stop_system_services rabbitmq-server.service mosquitto.service epmd.socket epmd.service

	local still
	mapfile -t still < <(missing_packages "${missing[@]}")
	[ "${#still[@]}" -eq 0 ] || die "packages still missing after install: ${still[*]}"
	say "installed ${missing[*]}"
}

# --- Kafka broker jars ----------------------------------------------------

fetch_kafka() {
	local dir=$CACHE/kafka libs=$CACHE/kafka/libs
	local stamp_want stamp_have=""
	[ -f "$POM" ] || die "missing $POM"
	stamp_want="pom-sha256 $(sha256sum "$POM" | cut -d' ' -f1)"
	[ -f "$libs/.stamp" ] && stamp_have=$(cat "$libs/.stamp")
	[ "$stamp_want" = "$stamp_have" ] && return 0

	mkdir -p "$dir"
	# One fetch at a time per cache (several checkouts may share it).
	exec 9>"$dir/.lock"
	flock -w 600 9 || die "timed out waiting for $dir/.lock"
	[ -f "$libs/.stamp" ] && stamp_have=$(cat "$libs/.stamp")
	if [ "$stamp_want" != "$stamp_have" ]; then
		command -v mvn >/dev/null 2>&1 || die "mvn not found (maven is needed to fetch Kafka)"
		local version tmp
		version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
		tmp=$(mktemp -d "$dir/libs.tmp.XXXXXX")
		say "fetching Apache Kafka ${version:-?} jars with maven"
		if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
			-DoutputDirectory="$tmp" >"$dir/mvn.log" 2>&1; then
			rm -rf "$tmp"
			die "maven could not fetch the Kafka jars: see $dir/mvn.log"
		fi
		ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || {
			rm -rf "$tmp"
			die "maven fetched no kafka_2.13 jar: see $dir/mvn.log"
		}
		printf '%s\n' "$stamp_want" >"$tmp/.stamp"
		rm -rf "$libs"
		mv "$tmp" "$libs"
		say "kafka ${version:-?}: $(find "$libs" -name '*.jar' | wc -l) jars in $libs"
	fi
	flock -u 9
	exec 9>&-
}

[ "${SETUP_SKIP_APT:-0}" = 1 ] || install_packages
[ "${SETUP_SKIP_KAFKA:-0}" = 1 ] || fetch_kafka
say ok

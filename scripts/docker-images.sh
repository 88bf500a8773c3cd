#!/usr/bin/env bash
# scripts/docker-images.sh - build the images the compose stacks run, without
# the public registry.
#
#   docker-images.sh [streamctl|kafka|rabbitmq|mosquitto|brokers|all]...   (default all)
#   docker-images.sh env       the image variables compose/*.yml reads, as
#                              shell assignments (for the local images)
#
#   streamctl  streamctl:latest, as `make docker` (scripts/docker-build.sh)
#   kafka      $KAFKA_IMAGE (streamctl-kafka:<kafka version>): Kafka KRaft on
#              Debian's JRE with the jars scripts/setup.sh fetched
#              ($STREAMCTL_CACHE/kafka/libs), docker/brokers/kafka.Dockerfile
#   rabbitmq   $RABBITMQ_IMAGE (streamctl-rabbitmq:3.10-management): Debian's
#              rabbitmq-server with the management plugin
#   mosquitto  $MOSQUITTO_IMAGE (streamctl-mosquitto:2.0): Debian's mosquitto
#
# Every image is built on scripts/docker-base.sh's base (the official Debian
# 12 when the registry answers, else one made from Debian packages). Builds
# are cached by the engine: a second run with nothing changed takes seconds.
# Prints one line per image with the time it took. Images these builds
# replace are pruned (only ours: label io.streamctl.image).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCTL_CACHE:-$ROOT/.cache}
KAFKA_LIBS=${KAFKA_LIBS:-$CACHE/kafka/libs}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")
KAFKA_IMAGE=${KAFKA_IMAGE:-streamctl-kafka:$kafka_version}
RABBITMQ_IMAGE=${RABBITMQ_IMAGE:-streamctl-rabbitmq:3.10-management}
MOSQUITTO_IMAGE=${MOSQUITTO_IMAGE:-streamctl-mosquitto:2.0}

say() { printf 'docker-images: %s\n' "$*"; }
die() {
	printf 'docker-images: %s\n' "$*" >&2
	exit 1
}

if [ "${1:-}" = env ]; then
	printf 'KAFKA_IMAGE=%s\nRABBITMQ_IMAGE=%s\nMOSQUITTO_IMAGE=%s\n' "$KAFKA_IMAGE" "$RABBITMQ_IMAGE" "$MOSQUITTO_IMAGE"
	exit 0
fi
docker info >/dev/null 2>&1 ||
	die "no Docker engine reachable (docker info failed): scripts/docker-engine.sh start"

LOG=$CACHE/docker/build
mkdir -p "$LOG"

# build NAME IMAGE CONTEXT DOCKERFILE: quiet docker build, log in $LOG/NAME.log.
build() {
	local name=$1 image=$2 ctx=$3 df=$4 t0=$SECONDS
	if ! docker build -f "$df" -t "$image" --build-arg "BASE_IMAGE=$BASE" "$ctx" >"$LOG/$name.log" 2>&1; then
		tail -n 15 "$LOG/$name.log" | sed 's/^/  | /' >&2
		die "$name: docker build failed: see $LOG/$name.log"
	fi
	say "$image built in $((SECONDS - t0))s (log $LOG/$name.log)"
}

img_streamctl() {
	local t0=$SECONDS
	# The build stage tagged too (streamctl-build:latest), so that pruning
	# the replaced images below keeps its layers: the next build's cache.
	if ! { IMAGE=streamctl-build:latest "$ROOT/scripts/docker-build.sh" --target build &&
		"$ROOT/scripts/docker-build.sh"; } >"$LOG/streamctl.log" 2>&1; then
		tail -n 15 "$LOG/streamctl.log" | sed 's/^/  | /' >&2
		die "streamctl: docker build failed: see $LOG/streamctl.log"
	fi
	say "streamctl:latest built in $((SECONDS - t0))s (log $LOG/streamctl.log)"
}

img_kafka() {
	ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 ||
		die "no Kafka jars in $KAFKA_LIBS: run scripts/setup.sh"
	local ctx=$CACHE/docker/ctx-kafka
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cp -al "$KAFKA_LIBS" "$ctx/libs" 2>/dev/null || cp -a "$KAFKA_LIBS" "$ctx/libs"
	rm -f "$ctx/libs/.stamp"
	cp "$ROOT/docker/brokers/kafka-entrypoint.sh" "$ROOT/docker/brokers/kafka-broker-api-versions.sh" "$ctx/"
	build kafka "$KAFKA_IMAGE" "$ctx" "$ROOT/docker/brokers/kafka.Dockerfile"
}

img_rabbitmq() {
	build rabbitmq "$RABBITMQ_IMAGE" "$ROOT/docker/brokers" "$ROOT/docker/brokers/rabbitmq.Dockerfile"
}

img_mosquitto() {
	build mosquitto "$MOSQUITTO_IMAGE" "$ROOT/docker/brokers" "$ROOT/docker/brokers/mosquitto.Dockerfile"
}

BASE=$("$ROOT/scripts/docker-base.sh")
[ $# -gt 0 ] || set -- all
for what in "$@"; do
	case "$what" in
	streamctl) img_streamctl ;;
	kafka) img_kafka ;;
	rabbitmq) img_rabbitmq ;;
	mosquitto) img_mosquitto ;;
	brokers) img_kafka; img_rabbitmq; img_mosquitto ;;
	all) img_streamctl; img_kafka; img_rabbitmq; img_mosquitto ;;
	*) die "unknown image '$what' (streamctl, kafka, rabbitmq, mosquitto, brokers, all)" ;;
	esac
done
# Images these builds replaced (untagged now, labelled io.streamctl.image):
# removed, so that repeated builds do not fill the engine's disk.
docker image prune -f --filter label=io.streamctl.image >/dev/null 2>&1 || true

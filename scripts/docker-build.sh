#!/usr/bin/env bash
# scripts/docker-build.sh - build the streamctl image (`make docker` calls it).
#
#   scripts/docker-build.sh [extra docker build args...]
#
# Builds docker/Dockerfile with the repository root as the context. Where no Docker engine answers
# (`docker info` fails, including when the docker client is missing) it
# prints one line and exits 1 instead of a page of client errors. The base
# image is the Dockerfile's pinned official one, or, when the registry cannot
# be reached, a Debian 12 made from Debian packages (scripts/docker-base.sh
# says so in one line).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tags: $IMAGE, or streamctl:latest plus streamctl:<version> (src/app/cli.h), the
# tag compose/k8s pins.
if [ -n "${IMAGE:-}" ]; then
	tags=(-t "$IMAGE")
else
	version=$(sed -n 's/^#define STREAMCTL_VERSION "\(.*\)"$/\1/p' src/app/cli.h)
	tags=(-t streamctl:latest ${version:+-t "streamctl:$version"})
fi

if ! docker info >/dev/null 2>&1; then
	echo "make docker: no Docker engine reachable (docker info failed); the image cannot be built on this machine" >&2
	exit 1
fi
base=$(scripts/docker-base.sh) || exit 1
args=()
[ "$base" = "debian:$(sed -n 's/^ARG DEBIAN_TAG=//p' docker/Dockerfile)" ] || args=(--build-arg "BASE_IMAGE=$base")
exec docker build -f docker/Dockerfile "${tags[@]}" "${args[@]}" "$@" .

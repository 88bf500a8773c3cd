#!/usr/bin/env bash
# scripts/docker-base.sh - the Debian 12 base image the builds use; prints its name.
#
#   docker-base.sh            prints e.g. debian:bookworm-20241111-slim
#
# The official, pinned base (docker/Dockerfile's DEBIAN_TAG) when the engine
# has it or can pull it (DOCKER_PULL_TIMEOUT, default 60 s). When the
# registry cannot be reached: the same Debian release made from Debian's own
# packages, `mmdebstrap --variant=minbase bookworm - | docker import -`, as
# $LOCAL_BASE (default streamctl-base:bookworm; made once, ~25 s, then
# reused), and one line on stderr saying so. BASE_IMAGE set: that, as is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_BASE=${LOCAL_BASE:-streamctl-base:bookworm}

if [ -n "${BASE_IMAGE:-}" ]; then
	printf '%s\n' "$BASE_IMAGE"
	exit 0
fi
tag=$(sed -n 's/^ARG DEBIAN_TAG=//p' "$ROOT/docker/Dockerfile")
official=debian:${tag:?no DEBIAN_TAG in docker/Dockerfile}
if docker image inspect "$official" >/dev/null 2>&1 ||
	timeout "${DOCKER_PULL_TIMEOUT:-60}" docker pull -q "$official" >/dev/null 2>&1; then
	printf '%s\n' "$official"
	exit 0
fi
if ! docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
	command -v mmdebstrap >/dev/null 2>&1 ||
		{ echo "docker-base: registry unreachable and no mmdebstrap (Debian: apt-get install mmdebstrap; or scripts/docker-engine.sh start)" >&2; exit 1; }
	t0=$SECONDS
	# The suites of Debian's own images: bookworm, -updates, -security.
	if ! mmdebstrap --quiet --variant=minbase bookworm - \
		"deb http://deb.debian.org/debian bookworm main" \
		"deb http://deb.debian.org/debian bookworm-updates main" \
		"deb http://deb.debian.org/debian-security bookworm-security main" |
		docker import -c 'CMD ["bash"]' -m "Debian 12 minbase from mmdebstrap (streamctl docker-base.sh)" - "$LOCAL_BASE" >/dev/null; then
		echo "docker-base: mmdebstrap | docker import failed" >&2
		exit 1
	fi
	echo "docker-base: made $LOCAL_BASE from Debian packages with mmdebstrap in $((SECONDS - t0))s" >&2
fi
echo "docker-base: registry unreachable ($official cannot be pulled): using $LOCAL_BASE, Debian 12 made from Debian packages" >&2
printf '%s\n' "$LOCAL_BASE"

#!/bin/sh
# streamctl-healthcheck [healthz|readyz] - the image's HEALTHCHECK: GET
# /healthz (or /readyz: connected to the broker, subscribed, the sink's
# database writable; the compose stacks ask it of consumers) on the metrics
# endpoint of STREAMCTL_METRICS (ADDR:PORT, as given to --metrics).
#
# A wildcard bind address (0.0.0.0, ::, *, empty) is asked on loopback.
# Exit 0 healthy, 1 unhealthy (Docker reserves 2, so curl's codes become 1).
# Without STREAMCTL_METRICS the process serves no endpoint and there is
# nothing to judge: exit 0 (documented in the Dockerfile; the compose stacks
# and the Kubernetes manifests always set it).
set -eu
what=${1:-healthz}
case "$what" in
healthz | readyz) ;;
*)
	echo "streamctl-healthcheck: unknown probe '$what' (healthz, readyz)" >&2
	exit 1
	;;
esac
addr=${STREAMCTL_METRICS:-}
[ -n "$addr" ] || exit 0
case "$addr" in
*:*) host=${addr%:*} port=${addr##*:} ;;
*) host='' port=$addr ;;
esac
case "$host" in
'' | 0.0.0.0 | '*') host=127.0.0.1 ;;
'[::]') host='[::1]' ;;
esac
curl -fsS --max-time 4 -o /dev/null "http://$host:$port/$what" || exit 1

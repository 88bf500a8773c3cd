#!/bin/sh
# amqp_restart.sh - the amqp backend rides out a RabbitMQ restart.
#
# A publisher sends N paced messages with confirms while the broker is
# stopped and started again (rabbitmqctl stop_app / start_app, which closes
# every connection with CONNECTION_FORCED and refuses new ones meanwhile);
# a consumer reading at the same time is cut off too.  Passes when the
# publisher's flush confirms all N and the consumers together got every
# number at least once (re-sent copies are allowed: at-least-once).
# Bounded: about 20 s, at most 90 s.
#
#   tests/integration/amqp_restart.sh [build-dir]
#
# Needs the broker of `scripts/brokers.sh start amqp` on 127.0.0.1:5672 and
# a rabbitmqctl that can reach its node: AMQP_CTL overrides the command
# (default: rabbitmqctl -n $RABBITMQ_NODENAME, node rabbit@localhost).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
ctl=${AMQP_CTL:-"/usr/lib/rabbitmq/bin/rabbitmqctl -n ${RABBITMQ_NODENAME:-rabbit@localhost}"}
n=${N:-4000}
ns="restart$$"
tmp=$(mktemp -d)
stopped=0
# Never leave the broker stopped, whatever happens.
trap 'if [ $stopped -eq 1 ]; then $ctl start_app >/dev/null 2>&1; fi; rm -rf "$tmp"' EXIT

make -s -C "$root" BUILD="$build" "$build/libstreamctl.a" >/dev/null
cc -D_GNU_SOURCE -I"$root/src" -I"$root/transports" -std=c11 -o "$tmp/drv" \
	"$here/amqp_restart_drv.c" "$build/libstreamctl.a" \
	$(pkg-config --libs rdkafka librabbitmq msgpack jansson sqlite3 libmicrohttpd 2>/dev/null) \
	-lpaho-mqtt3as -lm -lpthread

if ! $ctl await_startup >/dev/null 2>&1; then
	echo "amqp_restart: RabbitMQ is not running or '$ctl' cannot reach it:" \
		"start it with scripts/brokers.sh start amqp (or set AMQP_CTL)" >&2
	exit 1
fi

# A consumer first (declares the queue), then the publisher, then the restart.
cd "$tmp"
timeout 90 "$tmp/drv" con "$ns" "$n" >"$tmp/con1" 2>&1 &
con=$!
sleep 1
timeout 90 "$tmp/drv" pub "$ns" "$n" >"$tmp/pub" 2>&1 &
pub=$!
sleep 1.5
stopped=1
$ctl stop_app >/dev/null
sleep 3
$ctl start_app >/dev/null
stopped=0
status=0
wait $pub || status=1
wait $con || true   # it may have stopped early: the second consumer picks up
timeout 60 "$tmp/drv" con "$ns" "$n" >"$tmp/con2" 2>&1 || true

echo "publisher: $(cat "$tmp/pub")"
echo "consumer during the restart: $(cat "$tmp/con1")"
echo "consumer after: $(cat "$tmp/con2")"
grep -q "published and confirmed $n" "$tmp/pub" || status=1
# Every number must have been consumed by one of the two consumers.
distinct=$(cat "$tmp"/*.seen | sort -un | wc -l)
echo "distinct numbers consumed: $distinct of $n"
[ "$distinct" -eq "$n" ] || status=1
"$tmp/drv" clean "$ns" 0 || echo "amqp_restart: cleanup of $ns failed" >&2
if [ $status -eq 0 ]; then echo "amqp_restart: ok"; else echo "amqp_restart: FAILED"; fi
exit $status

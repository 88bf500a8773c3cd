#!/usr/bin/env bash
# The short chaos run (scripts/chaos.sh) per transport: the pipeline with
# two processors while the broker, a processor and the sink are killed and
# restarted at seeded random moments; verify --expect=N must be clean.
# Each run starts its own broker in a scratch directory on free ports (the
# shared brokers are never killed) and removes it again.
#
# MQTT runs one processor on plain subscriptions with its consumer journal
# (paho.mqtt.c 1.3 acknowledges on receipt; Mosquitto 2.0.11 does not
# restore $share subscriptions after a restart): see scripts/chaos.sh.
#
# Environment: CHAOS_TRANSPORTS (default "kafka amqp mqtt"), CHAOS_DURATION
# (default 50 s), CHAOS_FAULTS (default 4), CHAOS_SEED (default 1).  The
# broker variables of scripts/brokers.sh (STREAMCTL_BROKERS_DIR, KAFKA_PORT,
# ...) pass through to scripts/chaos.sh.
. "$(dirname "$0")/lib.sh"
CHAOS=$(cd "$(dirname "$0")/../.." && pwd)/scripts/chaos.sh
SEED=${CHAOS_SEED:-1}

for t in ${CHAOS_TRANSPORTS:-kafka amqp mqtt}; do
	start=$SECONDS
	"$CHAOS" "$t" --seed="$SEED" --duration="${CHAOS_DURATION:-50}" \
		--faults="${CHAOS_FAULTS:-4}" --workdir="$WORK/$t" --csv="$WORK/chaos.csv" \
		>"$WORK/$t.out" 2>"$WORK/$t.err"
	rc=$?
	summary=$(grep '^chaos ' "$WORK/$t.out" | tail -n 1)
	echo "        $summary"
	if [ "$rc" -eq 0 ]; then
		ok "$t chaos: verify --expect is clean after the faults ($((SECONDS - start)) s)"
	else
		not_ok "$t chaos: verify --expect is clean after the faults (exit $rc, $((SECONDS - start)) s)" \
			"$(grep -E 'fault|FAIL|UNEXPECTED|broker back|NOT clean|missing' "$WORK/$t.err")"
	fi
	check_grep "$t chaos: faults of every kind were injected" \
		'faults [0-9]+: broker [1-9][0-9]*, processor [1-9][0-9]*, sink [1-9]' "$WORK/$t.out"
done
finish

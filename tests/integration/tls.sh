#!/usr/bin/env bash
# TLS and passwords on every broker transport.  Starts secure brokers of its
# own (scripts/brokers.sh with STREAMCTL_BROKERS_TLS=1) in a fresh scratch
# directory on ports of their own, so it runs beside the plain brokers, and
# stops them at the end.  Per transport: a small pipeline over TLS with a
# password (from a different place each: --password-file, the environment,
# the URI) verified clean; a wrong password refused with exit 77 and a line
# naming the user and the broker, the password shown nowhere; a broker
# certificate from an unknown CA refused naming TLS.
#
# Ports (environment): TLS_KAFKA_PORT [29092] (+1 controller, +2 SASL_SSL),
# TLS_AMQP_PORT [25673] (+1 AMQPS, dist 35673, epmd TLS_AMQP_EPMD_PORT
# [24370]), TLS_MQTT_PORT [21883] (ws TLS_MQTT_WS_PORT [29002], TLS
# TLS_MQTT_TLS_PORT [28883]).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
BROKERS=$(cd "$(dirname "$0")/../.." && pwd)/scripts/brokers.sh
N=200
TIMEOUT=${TIMEOUT:-60}

export STREAMCTL_BROKERS_TLS=1 STREAMCTL_BROKERS_DIR="$WORK/brokers"
export KAFKA_PORT=${TLS_KAFKA_PORT:-29092}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_TLS_PORT=$((KAFKA_PORT + 2))
export AMQP_PORT=${TLS_AMQP_PORT:-25673}
export AMQP_TLS_PORT=$((AMQP_PORT + 1)) AMQP_DIST_PORT=$((AMQP_PORT + 10000))
export AMQP_EPMD_PORT=${TLS_AMQP_EPMD_PORT:-24370} AMQP_NODENAME=sctls$$@localhost
export MQTT_PORT=${TLS_MQTT_PORT:-21883} MQTT_WS_PORT=${TLS_MQTT_WS_PORT:-29002}
export MQTT_TLS_PORT=${TLS_MQTT_TLS_PORT:-28883}
# Whatever the caller's environment says, these runs use only what we give.
unset STREAMCTL_BROKER STREAMCTL_BROKER_PASSWORD STREAMCTL_PASSWORD_FILE STREAMCTL_X

stop_brokers() {
	"$BROKERS" stop kafka amqp mqtt >"$WORK/brokers-stop.log" 2>&1 ||
		cat "$WORK/brokers-stop.log"
}
trap 'stop_brokers; rm -rf "$WORK"' EXIT

if ! "$BROKERS" start kafka amqp mqtt >"$WORK/brokers.log" 2>&1; then
	not_ok "tls: secure brokers start" "$(cat "$WORK/brokers.log")"
	finish
	exit 1
fi
ok "tls: secure brokers start ($(grep -c started "$WORK/brokers.log") of 3)"
eval "$("$BROKERS" env | grep -E '^TLS_(CA|USER|PASSWORD_FILE)=')"
PW=$(cat "$TLS_PASSWORD_FILE")

# A CA the brokers' certificates do not chain to.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$WORK/other-ca.key" -out "$WORK/other-ca.pem" -subj "/CN=not the brokers' CA" \
	>/dev/null 2>&1

# secure_suite T URI(without password) READY_WAIT WAY: WAY is how the password
# travels in the pipeline: file, env or uri.
secure_suite() {
	local way=$4 uri=$2 db wrong sec=()
	T=$1
	new_ns
	db="$WORK/$T.db"
	case "$way" in
	file) sec=(--password-file="$TLS_PASSWORD_FILE") ;;
	env) export STREAMCTL_BROKER_PASSWORD="$PW" ;;
	uri) uri=${uri/"$TLS_USER@"/"$TLS_USER:$PW@"} ;;
	esac
	sec+=(--broker="$uri" -X tls.ca="$TLS_CA")
	start_sink "$db" "${sec[@]}"
	start_process main "${sec[@]}"
	sleep "$3"
	check "$T tls: generate delivers $N records over TLS (password from $way)" \
		run_gen cpu "$N" --rate=0 --source-id="cpu-$T" "${sec[@]}"
	if wait_rows "$db" "$N" "$TIMEOUT"; then ok "$T tls: the sink stores every record"; else not_ok "$T tls: the sink stores every record ($(rows_total "$db") rows)" "$(show_logs)"; fi
	check "$T tls: processor and sink drain and exit 0" stop_all
	check "$T tls: verify --expect=$N is clean" "$SC" verify --db="$db" --expect="$N"
	if grep -rqF -- "$PW" "$WORK"/*.log "$WORK"/*.stats 2>/dev/null; then not_ok "$T tls: the password appears in no log or stats line"; else ok "$T tls: the password appears in no log or stats line"; fi
	unset STREAMCTL_BROKER_PASSWORD
	rm -f "$WORK"/*.log "$WORK"/*.stats

	# a wrong password in the URI: refused, exit 77, not shown
	wrong="wrong-$RANDOM-pw"
	check_exit 77 "$T tls: a wrong password is refused with exit 77 (EX_NOPERM)" \
		"$SC" generate --transport="$T" --namespace="$NS" --count=1 --stats-interval=0 \
		--broker="${2/"$TLS_USER@"/"$TLS_USER:$wrong@"}" -X tls.ca="$TLS_CA"
	check_grep "$T tls: the refusal names the user and says authentication" \
		"authentication refused for user '$TLS_USER' at " "$WORK/last.out"
	if grep -qF -- "$wrong" "$WORK/last.out"; then not_ok "$T tls: the wrong password is not shown" "$(cat "$WORK/last.out")"; else ok "$T tls: the wrong password is not shown"; fi

	# a wrong password from the environment, on a consumer: the same
	check_exit 77 "$T tls: a consumer with a wrong STREAMCTL_BROKER_PASSWORD exits 77" \
		env STREAMCTL_BROKER_PASSWORD="$wrong" "$SC" sink --transport="$T" \
		--namespace="$NS" --db="$WORK/refused.db" --stats-interval=0 --broker="$2" \
		-X tls.ca="$TLS_CA"
	if grep -qF -- "$wrong" "$WORK/last.out"; then not_ok "$T tls: ... and does not show it" "$(cat "$WORK/last.out")"; else ok "$T tls: ... and does not show it"; fi

	# a certificate from a CA we do not trust: refused, naming TLS
	"$SC" generate --transport="$T" --namespace="$NS" --count=1 --stats-interval=0 \
		--broker="$2" --password-file="$TLS_PASSWORD_FILE" \
		-X tls.ca="$WORK/other-ca.pem" >"$WORK/ca.out" 2>&1
	rc=$?
	check "$T tls: an unknown CA is refused (exit $rc)" test "$rc" -ne 0
	check_grep "$T tls: ... with a message naming the tls handshake" \
		"$T: tls handshake with .* failed" "$WORK/ca.out"
}

secure_suite kafka "kafkas://$TLS_USER@127.0.0.1:$KAFKA_TLS_PORT" 0 file
secure_suite amqp "amqps://$TLS_USER@localhost:$AMQP_TLS_PORT/" 0 env
secure_suite mqtt "mqtts://$TLS_USER@localhost:$MQTT_TLS_PORT" 2 uri

# --print-config and --help never show a password
# (kafka: its -X keys pass on to librdkafka, so sasl.password is one of them)
STREAMCTL_BROKER_PASSWORD=env-secret-$$ "$SC" generate --transport=kafka \
	--broker="kafkas://$TLS_USER:uri-secret-$$@localhost/" -X sasl.password=x-secret-$$ \
	--print-config >"$WORK/config.out" 2>&1
check "tls: --print-config redacts the uri, STREAMCTL_BROKER_PASSWORD and -X *password*" \
	bash -c "! grep -q 'secret-$$' '$WORK/config.out' && grep -q '^STREAMCTL_BROKER_PASSWORD=\*\*\*$' '$WORK/config.out'"
check_exit 64 "tls: there is no --broker-password flag (a command line shows in ps)" \
	"$SC" generate --broker-password=x
finish

#!/usr/bin/env bash
# scripts/brokers.sh - run the local brokers streamctl is tested against.
#
#   brokers.sh start|stop|status|restart [TARGET...]   (default: all)
#   brokers.sh kill kafka-cluster N        SIGKILL node N (fault tests)
#   brokers.sh kill kafka|amqp|mqtt        SIGKILL that broker ("start" revives it)
#   brokers.sh start-node kafka-cluster N  start node N again and wait for it
#   brokers.sh env                         the ports as shell assignments
#
# TARGET: kafka | kafka-cluster | amqp | mqtt | all (= kafka amqp mqtt).
#
# Every broker is a child of no one (own session), bound to 127.0.0.1 only,
# with its configuration, data, pid file and log under one scratch directory:
# $STREAMCTL_BROKERS_DIR (default <repo>/.cache/brokers), e.g.
# kafka/kafka.log, kafka-cluster/node2/kafka.log, amqp/log/rabbit.log,
# mqtt/mosquitto.log. Data survives stop/start; delete the directory to reset.
#
# start is idempotent (a running broker is left alone) and returns only when
# each broker accepts clients (bounded by BROKERS_START_TIMEOUT, default 90 s).
# stop returns when the processes are gone (SIGTERM, then SIGKILL after
# BROKERS_STOP_TIMEOUT, default 30 s). status prints one line per broker and
# exits 0 only if all the asked-for brokers run.
#
# Ports (environment, defaults in brackets):
#   KAFKA_PORT [9092], KAFKA_CONTROLLER_PORT [KAFKA_PORT+1]
#   KAFKA_CLUSTER_PORT [19092]: node N listens on KAFKA_CLUSTER_PORT+N-1,
#   KAFKA_CLUSTER_CONTROLLER_PORT [KAFKA_CLUSTER_PORT+100]: its controller on +N-1
#   AMQP_PORT [5672], AMQP_DIST_PORT [AMQP_PORT+20000], AMQP_EPMD_PORT [4369],
#   AMQP_NODENAME [$RABBITMQ_NODENAME or rabbit@localhost]
#   MQTT_PORT [1883], MQTT_WS_PORT [9001]
#   MQTT_AUTOSAVE_CHANGES [0: save every second]: save after N changes
#   MQTT_LOG_DEBUG [0]: 1 logs every packet (PUBLISH, PUBACK, with message
#     ids) to mosquitto.log, to trace a lost or repeated message
# Others: KAFKA_LIBS (jars, default $STREAMCTL_CACHE/kafka/libs from
# scripts/setup.sh), KAFKA_HEAP_OPTS, KAFKA_CLUSTER_HEAP_OPTS.
#
# Secure mode (opt-in): with STREAMCTL_BROKERS_TLS=1, start also gives each
# single broker (kafka, amqp, mqtt; not kafka-cluster) a TLS listener with
# password authentication, next to its plain one:
#   KAFKA_TLS_PORT [KAFKA_PORT+2]  SASL_SSL, SASL/PLAIN
#   AMQP_TLS_PORT [5671]           AMQPS
#   MQTT_TLS_PORT [8883]           MQTT over TLS, no anonymous clients
# A throwaway CA and a server certificate for localhost/127.0.0.1 are made
# once with openssl in <dir>/tls (ca.pem is what clients trust), and one
# user, "streamctl", whose random password is in <dir>/tls/password (mode
# 0600).  "env" then also prints the TLS ports, the CA, user and password
# file.  Use a scratch directory of its own: the plain brokers stay as they
# are without the variable.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${STREAMCTL_CACHE:-$ROOT/.cache}
DIR=${STREAMCTL_BROKERS_DIR:-$CACHE/brokers}
KAFKA_LIBS=${KAFKA_LIBS:-$CACHE/kafka/libs}

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_CLUSTER_PORT=${KAFKA_CLUSTER_PORT:-19092}
KAFKA_CLUSTER_CONTROLLER_PORT=${KAFKA_CLUSTER_CONTROLLER_PORT:-$((KAFKA_CLUSTER_PORT + 100))}
KAFKA_CLUSTER_NODES=3
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms2g -Xmx2g -Xmn1g -XX:+AlwaysPreTouch}
KAFKA_CLUSTER_HEAP_OPTS=${KAFKA_CLUSTER_HEAP_OPTS:--Xms256m -Xmx768m}
AMQP_PORT=${AMQP_PORT:-5672}
AMQP_DIST_PORT=${AMQP_DIST_PORT:-$((AMQP_PORT + 20000))}
AMQP_EPMD_PORT=${AMQP_EPMD_PORT:-${ERL_EPMD_PORT:-4369}}
AMQP_NODENAME=${AMQP_NODENAME:-${RABBITMQ_NODENAME:-rabbit@localhost}}
MQTT_PORT=${MQTT_PORT:-1883}
MQTT_WS_PORT=${MQTT_WS_PORT:-9001}
TLS=${STREAMCTL_BROKERS_TLS:-0}
[ "$TLS" = 0 ] || TLS=1
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-$((KAFKA_PORT + 2))}
AMQP_TLS_PORT=${AMQP_TLS_PORT:-5671}
MQTT_TLS_PORT=${MQTT_TLS_PORT:-8883}
TLS_DIR=$DIR/tls
TLS_USER=streamctl
START_TIMEOUT=${BROKERS_START_TIMEOUT:-90}
STOP_TIMEOUT=${BROKERS_STOP_TIMEOUT:-30}

RABBIT_BIN=/usr/lib/rabbitmq/bin
START_T0=$SECONDS # reset when a start begins: "started ... in Ns" counts from there

say() { printf '%s\n' "$*"; }
err() { printf 'brokers: %s\n' "$*" >&2; }

# Prints the last lines of a log to stderr, indented, to explain a failure.
log_tail() {
	[ -f "$1" ] || return 0
	tail -n "${2:-15}" "$1" | sed 's/^/  | /' >&2
}

# --- processes --------------------------------------------------------------

# Prints the pid in pid file $1 if that process runs and its command line
# contains $2 (guards against a reused pid); fails otherwise.
pid_running() {
	local pidfile=$1 mark=$2 pid
	[ -s "$pidfile" ] || return 1
	pid=$(tr -dc 0-9 <"$pidfile")
	[ -n "$pid" ] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" || return 1
	printf '%s\n' "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Starts "$@" in its own session, detached from our stdio; the pid of the
# exec'd program goes to $1, its output to $2.
spawn() {
	local pidfile=$1 log=$2
	shift 2
	rm -f "$pidfile"
	# shellcheck disable=SC2016 # $$ and $@ belong to the child shell
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
		>>"$log" 2>&1 </dev/null &
	local i
	for i in $(seq 50); do
		[ -s "$pidfile" ] && return 0
		sleep 0.1
	done
	return 1
}

# True if process $1 exists and is not a zombie (a broker this script
# spawned and that died is our zombie until we exit).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# Waits up to $2 seconds for process $1 to exit.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# Stops process $2 (named $1 in messages): SIGTERM, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
		err "$name: pid $pid still there after ${STOP_TIMEOUT}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || {
			err "$name: pid $pid survives SIGKILL"
			return 1
		}
	fi
}

# Fails with a message if one of the ports is taken (by someone else).
ports_free() {
	local name=$1 port
	shift
	for port in "$@"; do
		if port_open "$port"; then
			err "$name: port $port is already in use by another process"
			return 1
		fi
	done
}

# --- tls material (STREAMCTL_BROKERS_TLS=1) -------------------------------------

# Makes, once, a throwaway CA, a server certificate for localhost and
# 127.0.0.1 signed by it, Kafka's PEM key store (key + certificate) and the
# password of the user "streamctl".  Everything stays in $TLS_DIR.
tls_material() {
	local d=$TLS_DIR
	[ -s "$d/server.pem" ] && [ -s "$d/password" ] && return 0
	command -v openssl >/dev/null 2>&1 || {
		err "tls: openssl not found"
		return 1
	}
	mkdir -p "$d"
	chmod 700 "$d"
	if ! (
		set -e
		cd "$d"
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout ca.key -out ca.pem -days 3650 -subj "/CN=streamctl throwaway test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout server.key -out server.csr -subj "/CN=localhost"
		printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			"basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out server.pem -days 3650 -extfile server.ext
		cat server.key server.pem >kafka-keystore.pem
		chmod 644 ca.pem
		od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >password.tmp
		mv password.tmp password
	) >"$d/openssl.log" 2>&1; then
		err "tls: cannot make the certificates: see $d/openssl.log"
		log_tail "$d/openssl.log" 5
		return 1
	fi
}

# ", tls PORT" in secure mode (for messages); $1 "single" or a cluster node.
tls_note() {
	[ "$TLS" = 1 ] && [ "$1" = single ] && printf ', tls %s' "$2"
	return 0
}

tls_password() {
	cat "$TLS_DIR/password"
}

# --- kafka --------------------------------------------------------------------

kafka_check_libs() {
	if ! ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
		err "kafka: no broker jars in $KAFKA_LIBS: run scripts/setup.sh"
		return 1
	fi
	command -v java >/dev/null 2>&1 || {
		err "kafka: java not found: run scripts/setup.sh"
		return 1
	}
}

# kafka_node_dir single|N
kafka_node_dir() {
	if [ "$1" = single ]; then
		printf '%s\n' "$DIR/kafka"
	else
		printf '%s\n' "$DIR/kafka-cluster/node$1"
	fi
}

kafka_node_port() {
	if [ "$1" = single ]; then
		printf '%s\n' "$KAFKA_PORT"
	else
		printf '%s\n' $((KAFKA_CLUSTER_PORT + $1 - 1))
	fi
}

kafka_node_name() {
	if [ "$1" = single ]; then
		printf 'kafka\n'
	else
		printf 'kafka-cluster node %s\n' "$1"
	fi
}

kafka_cluster_bootstrap() {
	local n out=""
	for n in $(seq "$KAFKA_CLUSTER_NODES"); do
		out+="${out:+,}127.0.0.1:$((KAFKA_CLUSTER_PORT + n - 1))"
	done
	printf '%s\n' "$out"
}

# The SASL_SSL listener's settings (secure mode, single node): TLS with the
# PEM key store, SASL/PLAIN with the user streamctl.  server.properties is
# mode 0600: it holds the password.
kafka_tls_config() {
	local pw
	pw=$(tls_password)
	cat <<EOF
# Secure mode (STREAMCTL_BROKERS_TLS=1): SASL_SSL with SASL/PLAIN.
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$TLS_USER="$pw";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/kafka-keystore.pem
listener.name.sasl_ssl.ssl.client.auth=none
EOF
}

# Writes server.properties and log4j.properties for node $1 (single|N).
kafka_write_config() {
	local node=$1 dir id port cport voters n tls_listener="" tls_map=""
	dir=$(kafka_node_dir "$node")
	port=$(kafka_node_port "$node")
	mkdir -p "$dir/data"
	if [ "$TLS" = 1 ] && [ "$node" = single ]; then
		tls_listener=",SASL_SSL://127.0.0.1:$KAFKA_TLS_PORT"
		tls_map=",SASL_SSL:SASL_SSL"
	fi
	(umask 077 && : >"$dir/server.properties")
	if [ "$node" = single ]; then
		id=1
		cport=$KAFKA_CONTROLLER_PORT
		voters="1@127.0.0.1:$cport"
	else
		id=$node
		cport=$((KAFKA_CLUSTER_CONTROLLER_PORT + node - 1))
		voters=""
		for n in $(seq "$KAFKA_CLUSTER_NODES"); do
			voters+="${voters:+,}$n@127.0.0.1:$((KAFKA_CLUSTER_CONTROLLER_PORT + n - 1))"
		done
	fi
	{
		cat <<EOF
# Written by scripts/brokers.sh on each start; edits are overwritten.
# KRaft, broker and controller in one process, static controller quorum.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$tls_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$tls_listener
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$tls_map
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
log.retention.hours=24
EOF
		if [ "$node" = single ]; then
			cat <<EOF
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
			[ -z "$tls_listener" ] || kafka_tls_config
		else
			cat <<EOF
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# The nodes stop together (brokers.sh stop): a controlled shutdown needs the
# controller quorum, and the last node left would wait for it forever.
controlled.shutdown.enable=false
EOF
		fi
	} >"$dir/server.properties"
	cat >"$dir/log4j.properties" <<'EOF'
# Written by scripts/brokers.sh. stdout goes to kafka.log beside this file.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
	# The broker logs through reload4j (above); log4j2, also on the class
	# path, only needs a configuration so that it does not complain.
	cat >"$dir/log4j2.properties" <<'EOF'
status = error
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
EOF
}

kafka_java() {
	local dir=$1 heap=$2
	shift 2
	# shellcheck disable=SC2086 # heap options are several words
	# One GC worker: with two on two cores, a young pause waited up to 174 ms
	# in termination for a worker the scheduler had not run (REPORT, Kafka).
	printf '%s\0' java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		"-Dlog4j.configuration=file:$dir/log4j.properties" \
		"-Dlog4j2.configurationFile=$dir/log4j2.properties" \
		"-Dkafka.logs.dir=$dir" -cp "$KAFKA_LIBS/*" "$@"
}

# Formats node $1's storage once, with cluster id $2.
kafka_format() {
	local node=$1 cid=$2 dir cmd=()
	dir=$(kafka_node_dir "$node")
	[ -f "$dir/data/meta.properties" ] && return 0
	mapfile -d '' cmd < <(kafka_java "$dir" "-Xmx256m" kafka.tools.StorageTool \
		format -t "$cid" -c "$dir/server.properties")
	if ! "${cmd[@]}" >>"$dir/format.log" 2>&1; then
		err "$(kafka_node_name "$node"): storage format failed: see $dir/format.log"
		log_tail "$dir/format.log" 5
		return 1
	fi
}

kafka_random_uuid() {
	local cmd=()
	mapfile -d '' cmd < <(kafka_java "$DIR" "-Xmx128m" kafka.tools.StorageTool random-uuid)
	"${cmd[@]}" 2>/dev/null | grep -E '^[A-Za-z0-9_-]{22}$' | tail -n 1
}

# The cluster id of the single node or of the 3-node cluster (made once).
kafka_cluster_id() {
	local file
	if [ "$1" = single ]; then file=$DIR/kafka/cluster.id; else file=$DIR/kafka-cluster/cluster.id; fi
	if [ ! -s "$file" ]; then
		mkdir -p "$(dirname "$file")"
		kafka_random_uuid >"$file.tmp"
		[ -s "$file.tmp" ] || {
			err "kafka: could not generate a cluster id (java -cp '$KAFKA_LIBS/*' kafka.tools.StorageTool random-uuid)"
			return 1
		}
		mv "$file.tmp" "$file"
	fi
	cat "$file"
}

kafka_pid() {
	local dir
	dir=$(kafka_node_dir "$1")
	pid_running "$dir/kafka.pid" "$dir/server.properties"
}

# Launches node $1 (single|N) unless it runs; returns 2 if it already ran.
kafka_launch() {
	local node=$1 dir name port cport pid cid heap cmd=()
	dir=$(kafka_node_dir "$node")
	name=$(kafka_node_name "$node")
	port=$(kafka_node_port "$node")
	if pid=$(kafka_pid "$node"); then
		say "$name: already running (pid $pid, port $port)"
		return 2
	fi
	kafka_check_libs || return 1
	if [ "$node" = single ]; then
		cport=$KAFKA_CONTROLLER_PORT
		heap=$KAFKA_HEAP_OPTS
	else
		cport=$((KAFKA_CLUSTER_CONTROLLER_PORT + node - 1))
		heap=$KAFKA_CLUSTER_HEAP_OPTS
	fi
	if [ "$TLS" = 1 ] && [ "$node" = single ]; then
		ports_free "$name" "$port" "$cport" "$KAFKA_TLS_PORT" || return 1
		tls_material || return 1
	else
		ports_free "$name" "$port" "$cport" || return 1
	fi
	kafka_write_config "$node"
	cid=$(kafka_cluster_id "$node") || return 1
	kafka_format "$node" "$cid" || return 1
	mapfile -d '' cmd < <(kafka_java "$dir" "$heap" kafka.Kafka "$dir/server.properties")
	printf '\n===== start %s =====\n' "$(date '+%F %T')" >>"$dir/kafka.log"
	if ! spawn "$dir/kafka.pid" "$dir/kafka.log" "${cmd[@]}"; then
		err "$name: could not launch java: see $dir/kafka.log"
		return 1
	fi
}

# Prints the number of brokers in the metadata that 127.0.0.1:$1 returns.
kafka_broker_count() {
	timeout 10 kcat -b "127.0.0.1:$1" -L -m 3 2>/dev/null |
		sed -n 's/^ *\([0-9]\+\) brokers:.*/\1/p' | head -n 1
}

# Waits until node $1 answers metadata requests listing $2 brokers.
kafka_wait() {
	local node=$1 want=$2 dir name port pid n
	dir=$(kafka_node_dir "$node")
	name=$(kafka_node_name "$node")
	port=$(kafka_node_port "$node")
	local deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if ! pid=$(kafka_pid "$node"); then
			err "$name: exited during startup: see $dir/kafka.log"
			log_tail "$dir/kafka.log"
			return 1
		fi
		if port_open "$port" && { [ "$TLS" = 0 ] || [ "$node" != single ] ||
			port_open "$KAFKA_TLS_PORT"; }; then
			if command -v kcat >/dev/null 2>&1; then
				n=$(kafka_broker_count "$port")
				[ "${n:-0}" -ge "$want" ] && break
			elif grep -q 'Kafka Server started' "$dir/kafka.log"; then
				break
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			err "$name: not ready after ${START_TIMEOUT}s (pid $pid, port $port), stopped it: see $dir/kafka.log"
			log_tail "$dir/kafka.log"
			stop_pid "$name" "$pid" >/dev/null 2>&1 || true
			return 1
		fi
		sleep 0.5
	done
	say "$name: started (pid $pid, port $port$(tls_note "$node" "$KAFKA_TLS_PORT")) in $((SECONDS - START_T0))s"
}

kafka_status_node() {
	local node=$1 name port pid
	name=$(kafka_node_name "$node")
	port=$(kafka_node_port "$node")
	if pid=$(kafka_pid "$node"); then
		say "$name: running (pid $pid, port $port)"
	else
		say "$name: stopped (port $port)"
		return 1
	fi
}

cluster_nodes() { seq "$KAFKA_CLUSTER_NODES"; }

check_node() {
	case "${1:-}" in
	[1-9]) [ "$1" -le "$KAFKA_CLUSTER_NODES" ] && return 0 ;;
	esac
	err "kafka-cluster: no node '${1:-}' (1..$KAFKA_CLUSTER_NODES)"
	return 1
}

# --- amqp (RabbitMQ) ------------------------------------------------------------

amqp_env() {
	local d=$DIR/amqp
	export HOME=$d/home
	export ERL_EPMD_PORT=$AMQP_EPMD_PORT
	# epmd (when this starts it) and Erlang distribution on loopback only.
	export ERL_EPMD_ADDRESS=127.0.0.1
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	export RABBITMQ_NODENAME=$AMQP_NODENAME
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	export RABBITMQ_NODE_PORT=$AMQP_PORT
	export RABBITMQ_DIST_PORT=$AMQP_DIST_PORT
	export RABBITMQ_MNESIA_BASE=$d/mnesia
	export RABBITMQ_LOG_BASE=$d/log
	export RABBITMQ_LOGS=$d/log/rabbit.log
	export RABBITMQ_PID_FILE=$d/rabbit.pid
	export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
	export RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
	export RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
	export RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
}

# rabbitmqctl_ SECONDS ARGS...: rabbitmqctl against our node, bounded in time.
rabbitmqctl_() {
	local limit=$1
	shift
	(amqp_env && cd "$DIR/amqp" &&
		timeout "$limit" "$RABBIT_BIN/rabbitmqctl" -n "$AMQP_NODENAME" "$@")
}

amqp_pid() {
	# The Erlang VM's command line holds "-home <HOME>".
	pid_running "$DIR/amqp/rabbit.pid" "-home $DIR/amqp/home"
}

# Secure mode: the AMQPS listener, and the users (guest/guest as RabbitMQ
# makes it, streamctl with the generated password) as definitions imported
# at each boot, so the password never shows on a command line.
amqp_tls_config() {
	local d=$DIR/amqp pw
	pw=$(tls_password)
	(umask 077 && cat >"$d/definitions.json") <<EOF
{"users": [
  {"name": "guest", "password": "guest", "tags": ["administrator"]},
  {"name": "$TLS_USER", "password": "$pw", "tags": []}],
 "vhosts": [{"name": "/"}],
 "permissions": [
  {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "$TLS_USER", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}
EOF
	cat <<EOF
# Secure mode (STREAMCTL_BROKERS_TLS=1): AMQPS, server certificate only.
listeners.ssl.default = 127.0.0.1:$AMQP_TLS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/server.pem
ssl_options.keyfile = $TLS_DIR/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
load_definitions = $d/definitions.json
EOF
}

amqp_launch() {
	local d=$DIR/amqp pid
	if pid=$(amqp_pid); then
		say "amqp: already running (pid $pid, port $AMQP_PORT, node $AMQP_NODENAME)"
		return 2
	fi
	[ -x "$RABBIT_BIN/rabbitmq-server" ] || {
		err "amqp: $RABBIT_BIN/rabbitmq-server not found: run scripts/setup.sh"
		return 1
	}
	if [ "$TLS" = 1 ]; then
		ports_free amqp "$AMQP_PORT" "$AMQP_DIST_PORT" "$AMQP_TLS_PORT" || return 1
		tls_material || return 1
	else
		ports_free amqp "$AMQP_PORT" "$AMQP_DIST_PORT" || return 1
	fi
	mkdir -p "$d/home" "$d/mnesia" "$d/log"
	if [ ! -s "$d/home/.erlang.cookie" ]; then
		(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F \
			>"$d/home/.erlang.cookie")
		chmod 400 "$d/home/.erlang.cookie"
	fi
	cat >"$d/rabbitmq.conf" <<EOF
# Written by scripts/brokers.sh on each start; edits are overwritten.
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
# guest/guest may log in from 127.0.0.1 only (RabbitMQ's default).
loopback_users.guest = true
log.console = false
log.file.level = info
EOF
	[ "$TLS" = 0 ] || amqp_tls_config >>"$d/rabbitmq.conf"
	printf '[].\n' >"$d/enabled_plugins"
	: >"$d/rabbitmq-env.conf"
	rm -f "$d/rabbit.pid"
	printf '\n===== start %s =====\n' "$(date '+%F %T')" >>"$d/startup.log"
	if ! (amqp_env && cd "$d" && setsid "$RABBIT_BIN/rabbitmq-server" -detached \
		>>"$d/startup.log" 2>&1 </dev/null); then
		err "amqp: rabbitmq-server -detached failed: see $d/startup.log"
		log_tail "$d/startup.log"
		return 1
	fi
}

amqp_wait() {
	local d=$DIR/amqp pid deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if rabbitmqctl_ 20 -q await_startup -t 5 >>"$d/await.log" 2>&1 && port_open "$AMQP_PORT" &&
			{ [ "$TLS" = 0 ] || port_open "$AMQP_TLS_PORT"; }; then
			break
		fi
		# Once the pid file exists, the node must stay alive.
		if [ -s "$d/rabbit.pid" ] && ! amqp_pid >/dev/null; then
			err "amqp: node exited during startup: see $d/log/rabbit.log"
			log_tail "$d/log/rabbit.log"
			log_tail "$d/startup.log" 5
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			err "amqp: not ready after ${START_TIMEOUT}s (port $AMQP_PORT), stopping it: see $d/log/rabbit.log"
			log_tail "$d/log/rabbit.log"
			if pid=$(amqp_pid); then stop_pid amqp "$pid" >/dev/null 2>&1 || true; fi
			return 1
		fi
		sleep 0.5
	done
	pid=$(amqp_pid) || pid='?'
	say "amqp: started (pid $pid, port $AMQP_PORT$(tls_note single "$AMQP_TLS_PORT"), node $AMQP_NODENAME) in $((SECONDS - START_T0))s"
}

# Stops the epmd on AMQP_EPMD_PORT when no Erlang node uses it any more.
amqp_stop_epmd() {
	command -v epmd >/dev/null 2>&1 || return 0
	local names
	names=$(ERL_EPMD_PORT=$AMQP_EPMD_PORT timeout 5 epmd -names 2>/dev/null) || return 0
	grep -q '^name ' <<<"$names" && return 0
	ERL_EPMD_PORT=$AMQP_EPMD_PORT timeout 5 epmd -kill >/dev/null 2>&1 || true
}

amqp_status() {
	local pid
	if pid=$(amqp_pid); then
		say "amqp: running (pid $pid, port $AMQP_PORT, node $AMQP_NODENAME)"
	else
		say "amqp: stopped (port $AMQP_PORT)"
		return 1
	fi
}

# --- mqtt (Mosquitto) -----------------------------------------------------------

# Mosquitto acknowledges a QoS 1/2 publish before it writes anything: a
# SIGKILL loses what changed since its last save of the database.  Default:
# save every second (autosave_interval 1; Mosquitto's default is 30 min;
# 2.0.11 compares whole seconds, so it saves every 2 s in practice).
# MQTT_AUTOSAVE_CHANGES=N saves after every N changes instead (a queued
# message, a subscription); N=1 (scripts/chaos.sh) narrows the window to
# the moment between the PUBACK and the save, but each save rewrites the
# whole database: with 20000 messages queued a publisher gets ~200/s.
mqtt_autosave() {
	local n=${MQTT_AUTOSAVE_CHANGES:-0}
	if [[ $n =~ ^[1-9][0-9]*$ ]]; then
		printf '# MQTT_AUTOSAVE_CHANGES=%s: save after every %s change(s)\nautosave_on_changes true\nautosave_interval %s' "$n" "$n" "$n"
	else
		printf '# Save every second (MQTT_AUTOSAVE_CHANGES=N: after N changes)\nautosave_interval 1'
	fi
}

mqtt_pid() {
	pid_running "$DIR/mqtt/mosquitto.pid" "$DIR/mqtt/mosquitto.conf"
}

# Secure mode: a TLS listener that wants a user name and password (the
# password file is made from <dir>/tls/password with mosquitto_passwd -U,
# so the password never shows on a command line).
mqtt_tls_config() {
	local d=$DIR/mqtt
	if ! { (umask 077 && printf '%s:%s\n' "$TLS_USER" "$(tls_password)" >"$d/passwd.tmp") &&
		mosquitto_passwd -U "$d/passwd.tmp" >/dev/null 2>&1 &&
		mv "$d/passwd.tmp" "$d/passwd"; }; then
		err "mqtt: cannot make the password file $d/passwd"
		rm -f "$d/passwd.tmp"
		return 1
	fi
	cat <<EOF
# Secure mode (STREAMCTL_BROKERS_TLS=1): TLS and a password, no anonymous.
listener $MQTT_TLS_PORT 127.0.0.1
cafile $TLS_DIR/ca.pem
certfile $TLS_DIR/server.pem
keyfile $TLS_DIR/server.key
password_file $d/passwd
allow_anonymous false
EOF
}

mqtt_launch() {
	local d=$DIR/mqtt pid
	if pid=$(mqtt_pid); then
		say "mqtt: already running (pid $pid, port $MQTT_PORT, ws $MQTT_WS_PORT)"
		return 2
	fi
	command -v mosquitto >/dev/null 2>&1 || {
		err "mqtt: mosquitto not found: run scripts/setup.sh"
		return 1
	}
	local head="" anon=""
	if [ "$TLS" = 1 ]; then
		ports_free mqtt "$MQTT_PORT" "$MQTT_WS_PORT" "$MQTT_TLS_PORT" || return 1
		tls_material || return 1
		# Each listener has its own authentication; the plain ones stay open.
		head=$'per_listener_settings true\n'
		anon=$'allow_anonymous true\n'
	else
		ports_free mqtt "$MQTT_PORT" "$MQTT_WS_PORT" || return 1
	fi
	mkdir -p "$d/data"
	cat >"$d/mosquitto.conf" <<EOF
# Written by scripts/brokers.sh on each start; edits are overwritten.
# See mosquitto.conf(5). Loopback only, anonymous clients.
${head}user $(id -un)
listener $MQTT_PORT 127.0.0.1
${anon}# Websockets: with an IP address Debian's Mosquitto 2.0.11 still binds all
# interfaces; the interface name binds 127.0.0.1 only. It will not start
# with a websockets listener alone, hence the TCP listener above.
listener $MQTT_WS_PORT lo
protocol websockets
allow_anonymous true
persistence true
persistence_location $d/data/
$(mqtt_autosave)
# The default of 1000 queued QoS 1/2 messages per client drops messages
# silently when a subscriber lags; 0 would mean unbounded.
max_queued_messages 1000000
# Outgoing QoS 1/2 messages in flight per client (default 20).
max_inflight_messages 100
# Sessions of clients that never come back are dropped after a day.
persistent_client_expiration 1d
set_tcp_nodelay true
log_dest file $d/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
$([ "${MQTT_LOG_DEBUG:-0}" = 1 ] && echo 'log_type debug')
log_timestamp_format %Y-%m-%dT%H:%M:%S
EOF
	if [ "$TLS" = 1 ]; then
		mqtt_tls_config >>"$d/mosquitto.conf" || return 1
	fi
	printf '\n===== start %s =====\n' "$(date '+%F %T')" >>"$d/mosquitto.log"
	if ! spawn "$d/mosquitto.pid" "$d/mosquitto.out" mosquitto -c "$d/mosquitto.conf"; then
		err "mqtt: could not launch mosquitto: see $d/mosquitto.out"
		return 1
	fi
}

mqtt_wait() {
	local d=$DIR/mqtt pid deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if ! pid=$(mqtt_pid); then
			err "mqtt: mosquitto exited during startup: see $d/mosquitto.log"
			log_tail "$d/mosquitto.log"
			log_tail "$d/mosquitto.out" 5
			return 1
		fi
		# A QoS 1 publish succeeds only after CONNACK and PUBACK.
		if port_open "$MQTT_PORT" && port_open "$MQTT_WS_PORT" &&
			{ [ "$TLS" = 0 ] || port_open "$MQTT_TLS_PORT"; } &&
			timeout 5 mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 \
				-i "brokers-sh-$$" -t streamctl/brokers/ready -m ok >/dev/null 2>&1; then
			break
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			err "mqtt: not ready after ${START_TIMEOUT}s (port $MQTT_PORT), stopped it: see $d/mosquitto.log"
			log_tail "$d/mosquitto.log"
			stop_pid mqtt "$pid" >/dev/null 2>&1 || true
			return 1
		fi
		sleep 0.2
	done
	say "mqtt: started (pid $pid, port $MQTT_PORT, ws $MQTT_WS_PORT$(tls_note single "$MQTT_TLS_PORT")) in $((SECONDS - START_T0))s"
}

mqtt_status() {
	local pid
	if pid=$(mqtt_pid); then
		say "mqtt: running (pid $pid, port $MQTT_PORT, ws $MQTT_WS_PORT)"
	else
		say "mqtt: stopped (port $MQTT_PORT)"
		return 1
	fi
}

# --- commands -------------------------------------------------------------------

# Expands the targets of the command line ("all" and none mean the default).
expand_targets() {
	local t out=()
	[ "$#" -gt 0 ] || set -- all
	for t in "$@"; do
		case "$t" in
		all) out+=(kafka amqp mqtt) ;;
		kafka | kafka-cluster | amqp | mqtt) out+=("$t") ;;
		*)
			err "unknown broker '$t' (kafka, kafka-cluster, amqp, mqtt, all)"
			return 1
			;;
		esac
	done
	printf '%s\n' "${out[@]}"
}

cmd_start() {
	local targets t rc=0 launched=()
	targets=$(expand_targets "$@") || return 2
	mkdir -p "$DIR"
	START_T0=$SECONDS
	# Launch everything first, then wait: the brokers boot in parallel.
	for t in $targets; do
		case "$t" in
		kafka)
			if kafka_launch single; then launched+=(kafka); else [ $? -eq 2 ] || rc=1; fi
			;;
		kafka-cluster)
			local n
			for n in $(cluster_nodes); do
				if kafka_launch "$n"; then launched+=("kafka-cluster:$n"); else [ $? -eq 2 ] || rc=1; fi
			done
			;;
		amqp)
			if amqp_launch; then launched+=(amqp); else [ $? -eq 2 ] || rc=1; fi
			;;
		mqtt)
			if mqtt_launch; then launched+=(mqtt); else [ $? -eq 2 ] || rc=1; fi
			;;
		esac
	done
	for t in "${launched[@]}"; do
		case "$t" in
		kafka) kafka_wait single 1 || rc=1 ;;
		kafka-cluster:*) kafka_wait "${t#kafka-cluster:}" "$KAFKA_CLUSTER_NODES" || rc=1 ;;
		amqp) amqp_wait || rc=1 ;;
		mqtt) mqtt_wait || rc=1 ;;
		esac
	done
	return "$rc"
}

cmd_stop() {
	local targets t rc=0 n i pid names=() pids=() amqp=0
	targets=$(expand_targets "$@") || return 2
	# The pids of the running brokers; "not running" for the others.
	add() {
		if pid=$("$@"); then
			names+=("$name")
			pids+=("$pid")
		else
			say "$name: not running"
		fi
	}
	local name
	for t in $targets; do
		case "$t" in
		kafka) name=kafka add kafka_pid single ;;
		kafka-cluster)
			for n in $(cluster_nodes); do
				name="kafka-cluster node $n" add kafka_pid "$n"
			done
			;;
		amqp)
			amqp=1
			name=amqp add amqp_pid
			;;
		mqtt) name=mqtt add mqtt_pid ;;
		esac
	done
	# SIGTERM to all first, then wait for all: they shut down in parallel,
	# and a cluster's nodes must go together. RabbitMQ and Mosquitto, too,
	# shut down cleanly on SIGTERM.
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	local deadline=$((SECONDS + STOP_TIMEOUT)) lone_since="" left alone
	local -A done_=()
	while :; do
		left=0
		alone=""
		local cluster_alive=0
		for i in "${!pids[@]}"; do
			[ -z "${done_[$i]:-}" ] || continue
			if alive "${pids[$i]}"; then
				left=$((left + 1))
				case "${names[$i]}" in kafka-cluster*)
					cluster_alive=$((cluster_alive + 1))
					alone=$i
					;;
				esac
			else
				done_[$i]=1
				say "${names[$i]}: stopped"
			fi
		done
		[ "$left" -gt 0 ] || break
		# Safety net: a KRaft node whose controller quorum is gone (the
		# other nodes exited first) may wait for it in its shutdown (with
		# controlled.shutdown.enable=false it gives up after about 5 s).
		if [ "$cluster_alive" -eq 1 ]; then
			lone_since=${lone_since:-$SECONDS}
			if [ $((SECONDS - lone_since)) -ge 15 ]; then
				say "${names[$alone]}: no controller quorum left for its shutdown, sending SIGKILL"
				kill -KILL "${pids[$alone]}" 2>/dev/null || true
				lone_since=""
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			for i in "${!pids[@]}"; do
				[ -z "${done_[$i]:-}" ] || continue
				err "${names[$i]}: pid ${pids[$i]} still there after ${STOP_TIMEOUT}s, sending SIGKILL"
				kill -KILL "${pids[$i]}" 2>/dev/null || true
				if wait_gone "${pids[$i]}" 10; then
					say "${names[$i]}: stopped"
				else
					err "${names[$i]}: pid ${pids[$i]} survives SIGKILL"
					rc=1
				fi
			done
			break
		fi
		sleep 0.2
	done
	[ "$amqp" -eq 0 ] || amqp_stop_epmd
	return "$rc"
}

cmd_status() {
	local targets t rc=0 n
	targets=$(expand_targets "$@") || return 2
	for t in $targets; do
		case "$t" in
		kafka) kafka_status_node single || rc=1 ;;
		kafka-cluster)
			for n in $(cluster_nodes); do kafka_status_node "$n" || rc=1; done
			;;
		amqp) amqp_status || rc=1 ;;
		mqtt) mqtt_status || rc=1 ;;
		esac
	done
	return "$rc"
}

# kill kafka-cluster N | kill kafka | kill amqp | kill mqtt: SIGKILL, no
# shutdown (fault tests); "start" (or "start-node kafka-cluster N") revives.
cmd_kill() {
	local name pid
	case "${1:-}" in
	kafka-cluster)
		check_node "${2:-}" || return 2
		name="kafka-cluster node $2"
		pid=$(kafka_pid "$2") || pid=""
		;;
	kafka)
		name=kafka
		pid=$(kafka_pid single) || pid=""
		;;
	amqp)
		name=amqp
		pid=$(amqp_pid) || pid=""
		;;
	mqtt)
		name=mqtt
		pid=$(mqtt_pid) || pid=""
		;;
	*)
		err "usage: brokers.sh kill kafka-cluster N | kill kafka|amqp|mqtt"
		return 2
		;;
	esac
	if [ -z "$pid" ]; then
		say "$name: not running"
		return 0
	fi
	kill -KILL "$pid"
	wait_gone "$pid" 10 || {
		err "$name: pid $pid survives SIGKILL"
		return 1
	}
	say "$name: killed (pid $pid)"
}

cmd_start_node() {
	[ "${1:-}" = kafka-cluster ] || {
		err "usage: brokers.sh start-node kafka-cluster N"
		return 2
	}
	check_node "${2:-}" || return 2
	mkdir -p "$DIR"
	START_T0=$SECONDS
	local rc=0
	kafka_launch "$2" || rc=$?
	case "$rc" in
	0) kafka_wait "$2" "$KAFKA_CLUSTER_NODES" ;;
	2) return 0 ;;
	*) return 1 ;;
	esac
}

cmd_env() {
	local v
	for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_CLUSTER_PORT KAFKA_CLUSTER_CONTROLLER_PORT \
		AMQP_PORT AMQP_DIST_PORT AMQP_EPMD_PORT AMQP_NODENAME MQTT_PORT MQTT_WS_PORT; do
		printf "%s='%s'\n" "$v" "${!v}"
	done
	printf "KAFKA_BOOTSTRAP='%s'\n" "127.0.0.1:$KAFKA_PORT"
	printf "KAFKA_CLUSTER_BOOTSTRAP='%s'\n" "$(kafka_cluster_bootstrap)"
	printf "AMQP_URL='%s'\n" "amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
	printf "MQTT_URL='%s'\n" "tcp://127.0.0.1:$MQTT_PORT"
	printf "STREAMCTL_BROKERS_DIR='%s'\n" "$DIR"
	[ "$TLS" = 1 ] || return 0
	for v in KAFKA_TLS_PORT AMQP_TLS_PORT MQTT_TLS_PORT; do
		printf "%s='%s'\n" "$v" "${!v}"
	done
	printf "TLS_CA='%s'\n" "$TLS_DIR/ca.pem"
	printf "TLS_USER='%s'\n" "$TLS_USER"
	printf "TLS_PASSWORD_FILE='%s'\n" "$TLS_DIR/password"
	printf "KAFKA_TLS_URL='%s'\n" "kafkas://$TLS_USER@127.0.0.1:$KAFKA_TLS_PORT"
	printf "AMQP_TLS_URL='%s'\n" "amqps://$TLS_USER@localhost:$AMQP_TLS_PORT/"
	printf "MQTT_TLS_URL='%s'\n" "mqtts://$TLS_USER@localhost:$MQTT_TLS_PORT"
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
	local verb=${1:-}
	# Commands that start or stop run one at a time per scratch directory
	# (parallel test runs may all ask for the brokers). flock -o: the
	# brokers started must not inherit the lock.
	case "$verb" in
	start | stop | restart | kill | start-node)
		if [ -z "${BROKERS_LOCKED:-}" ]; then
			mkdir -p "$DIR"
			local rc=0
			BROKERS_LOCKED=1 flock -o -E 75 -w 600 "$DIR/.lock" "${BASH_SOURCE[0]}" "$@" || rc=$?
			[ "$rc" -ne 75 ] || err "timed out waiting for $DIR/.lock"
			return "$rc"
		fi
		;;
	esac
	[ "$#" -gt 0 ] && shift
	case "$verb" in
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	restart)
		cmd_stop "$@" || return 1
		cmd_start "$@"
		;;
	kill) cmd_kill "$@" ;;
	start-node) cmd_start_node "$@" ;;
	env) cmd_env ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		return 2
		;;
	esac
}

main "$@"

#!/bin/sh
# kafka-entrypoint.sh - server.properties from KAFKA_* variables (as the
# apache/kafka image: KAFKA_FOO_BAR -> foo.bar, __ -> _, ___ -> -), storage
# formatted with CLUSTER_ID on first start, then kafka.Kafka in the foreground.
set -eu
conf=/opt/kafka/config/server.properties
: >"$conf"
env | sort | while IFS='=' read -r name value; do
	case "$name" in
	KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_* | KAFKA_LOG4J_* | KAFKA_JMX_*) continue ;;
	KAFKA_*) ;;
	*) continue ;;
	esac
	key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed 's/___/-/g; s/__/@/g; s/_/./g; s/@/_/g')
	printf '%s=%s\n' "$key" "$value" >>"$conf"
done
for f in log4j2.properties log4j2-tools.properties; do
	level=INFO
	[ "$f" = log4j2-tools.properties ] && level=ERROR
	cat >/opt/kafka/config/$f <<CONF
status = error
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.target = SYSTEM_ERR
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $level
rootLogger.appenderRef.stdout.ref = STDOUT
CONF
done
logdirs=$(sed -n 's/^log\.dirs=//p' "$conf")
: "${CLUSTER_ID:?CLUSTER_ID is not set (kafka-storage format needs it)}"
if [ ! -f "${logdirs%%,*}/meta.properties" ]; then
	java -Xmx256m -cp '/opt/kafka/libs/*' -Dlog4j2.configurationFile=/opt/kafka/config/log4j2-tools.properties \
		kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
fi
# shellcheck disable=SC2086 # the options are several words
# one GC worker per broker: two on a small host can leave a pause waiting for
# the one the scheduler has not run (REPORT, Kafka tail latency)
exec java ${KAFKA_HEAP_OPTS:--Xmx1g} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:ParallelGCThreads=1 \
	-XX:ConcGCThreads=1 -XX:+ExitOnOutOfMemoryError \
	-Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
	${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"

#!/bin/sh
# The health probe of compose/kafka.yml, as in apache/kafka's image.
exec java -Xmx64m -XX:TieredStopAtLevel=1 -Xshare:auto -cp '/opt/kafka/libs/*' \
	-Dlog4j2.configurationFile=/opt/kafka/config/log4j2-tools.properties \
	org.apache.kafka.tools.BrokerApiVersionsCommand "$@"

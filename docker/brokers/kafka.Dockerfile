# docker/brokers/kafka.Dockerfile - Apache Kafka (KRaft) on Debian 12's JRE,
# for running compose/kafka.yml without the public registry.
#
#   scripts/docker-images.sh kafka        (context: a staging directory with
#                                          the jars scripts/setup.sh fetched)
#
# A stand-in for apache/kafka: the same configuration interface (KAFKA_*
# environment variables become server.properties entries, KAFKA_FOO_BAR ->
# foo.bar; CLUSTER_ID formats the storage on first start), the same data
# directory and the same /opt/kafka/bin/kafka-broker-api-versions.sh for the
# health check. The jars are Maven Central's (scripts/kafka/pom.xml), the
# JRE is Debian's openjdk-17-jre-headless.
ARG BASE_IMAGE=streamctl-base:bookworm
FROM ${BASE_IMAGE}
LABEL io.streamctl.image="broker"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1000 appuser \
 && useradd --system --uid 1000 --gid appuser --home-dir /opt/kafka appuser \
 && install -d -o appuser -g appuser /var/lib/kafka/data /opt/kafka/config /opt/kafka/bin
COPY libs/ /opt/kafka/libs/
COPY kafka-entrypoint.sh /opt/kafka/bin/kafka-entrypoint.sh
COPY kafka-broker-api-versions.sh /opt/kafka/bin/kafka-broker-api-versions.sh
RUN chmod 0755 /opt/kafka/bin/*.sh
USER appuser
EXPOSE 9092 9093
ENTRYPOINT ["/opt/kafka/bin/kafka-entrypoint.sh"]

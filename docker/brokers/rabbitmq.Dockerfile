# docker/brokers/rabbitmq.Dockerfile - RabbitMQ with the management plugin,
# from Debian 12's rabbitmq-server, for compose/amqp.yml without the public
# registry. A stand-in for rabbitmq:3.13-management: RABBITMQ_DEFAULT_USER
# and RABBITMQ_DEFAULT_PASS create the user on first start, data in
# /var/lib/rabbitmq, AMQP on 5672, the management UI on 15672, and
# rabbitmq-diagnostics for the health check.
ARG BASE_IMAGE=streamctl-base:bookworm
FROM ${BASE_IMAGE}
LABEL io.streamctl.image="broker"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* \
 && rabbitmq-plugins enable --offline rabbitmq_management \
 && install -d -o rabbitmq -g rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
COPY rabbitmq-entrypoint.sh /usr/local/bin/rabbitmq-entrypoint.sh
RUN chmod 0755 /usr/local/bin/rabbitmq-entrypoint.sh
EXPOSE 5672 15672
ENTRYPOINT ["/usr/local/bin/rabbitmq-entrypoint.sh"]

# docker/brokers/mosquitto.Dockerfile - Eclipse Mosquitto 2.0 from Debian 12's
# packages, for compose/mqtt.yml without the public registry. A stand-in for
# eclipse-mosquitto:2.0: configuration /mosquitto/config/mosquitto.conf
# (compose mounts compose/mosquitto.conf: TCP 1883 and websockets 9001;
# Debian's 2.0.11 needs the TCP listener beside the websockets one), data in
# /mosquitto/data, mosquitto_sub for the health check, runs as mosquitto.
ARG BASE_IMAGE=streamctl-base:bookworm
FROM ${BASE_IMAGE}
LABEL io.streamctl.image="broker"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mosquitto mosquitto-clients \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o mosquitto -g mosquitto /mosquitto/config /mosquitto/data /mosquitto/log \
 && printf 'listener 1883\nallow_anonymous true\n' >/mosquitto/config/mosquitto.conf
USER mosquitto
EXPOSE 1883 9001
ENTRYPOINT ["/usr/sbin/mosquitto"]
CMD ["-c", "/mosquitto/config/mosquitto.conf"]

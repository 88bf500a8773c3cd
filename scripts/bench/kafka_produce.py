#!/usr/bin/env python3
"""The plain-Python peer of `streamctl generate --transport=kafka`.

usage: kafka_produce.py [--client=C] BOOTSTRAP TOPIC KEY PAYLOAD_FILE
Sends every line of PAYLOAD_FILE (without its newline) with key KEY, with
acks=all, enable.idempotence=true and linger.ms=5 like the other tools,
then flushes; prints "sent N failed F seconds S".  C is the client a plain
script would import: confluent-kafka (default; librdkafka in C) or
kafka-python (pure Python).  Both count failed deliveries by callback.
"""
import sys
import time


def confluent(bs, topic, key, lines, failed):
    from confluent_kafka import Producer

    def dr(err, msg):
        if err is not None:
            failed[0] += 1

    p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5})
    t0 = time.monotonic()
    for payload in lines:
        while True:
            try:
                p.produce(topic, payload, key, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(60)
    return time.monotonic() - t0


def kafka_python(bs, topic, key, lines, failed):
    from kafka import KafkaProducer

    def dr_err(exc):
        failed[0] += 1

    p = KafkaProducer(bootstrap_servers=bs, acks="all", enable_idempotence=True, linger_ms=5)
    k = key.encode()
    t0 = time.monotonic()
    for payload in lines:
        p.send(topic, payload, k).add_errback(dr_err)  # blocks while its buffer is full
    p.flush(60)
    dt = time.monotonic() - t0
    p.close()
    return dt


def main():
    args = sys.argv[1:]
    client = "confluent-kafka"
    if args and args[0].startswith("--client="):
        client = args.pop(0).split("=", 1)[1]
    if len(args) < 4 or client not in ("confluent-kafka", "kafka-python"):
        sys.exit(__doc__)
    bs, topic, key, path = args[0:4]
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    failed = [0]
    run = kafka_python if client == "kafka-python" else confluent
    dt = run(bs, topic, key, lines, failed)
    print("sent %d failed %d seconds %.3f" % (len(lines), failed[0], dt))


if __name__ == "__main__":
    main()

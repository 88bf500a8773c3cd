#!/usr/bin/env python3
"""The plain-Python peer of `streamctl generate --transport=kafka`.

usage: kafka_produce.py BOOTSTRAP TOPIC KEY PAYLOAD_FILE
Sends every line of PAYLOAD_FILE (without its newline) with key KEY, with
acks=all, enable.idempotence=true and linger.ms=5 like the other tools,
then flushes; prints "sent N failed F seconds S".
"""
import sys
import time

from confluent_kafka import Producer


def main():
    bs, topic, key, path = sys.argv[1:5]
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    failed = [0]

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
    dt = time.monotonic() - t0
    print("sent %d failed %d seconds %.3f" % (len(lines), failed[0], dt))


if __name__ == "__main__":
    main()

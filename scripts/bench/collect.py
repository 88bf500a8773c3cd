#!/usr/bin/env python3
"""Read the processed records of an experiment back and time the processors.

usage: collect.py kafka BOOTSTRAP TOPIC N [TIMEOUT_S]
       collect.py amqp URI QUEUE N [TIMEOUT_S]
prints: count span_s rate dup
span is last - first processed_ns over the records read (the processors'
own clock: a record's processed_ns is set when `process` made it), so the
rate is what the processors achieved, whatever the reading here costs.
dup counts (source, seq) seen more than once (redeliveries).
"""
import json
import sys
import time


def summarize(values):
    seen = set()
    dup = 0
    lo = hi = None
    for v in values:
        r = json.loads(v)
        k = (r["source"], r["seq"])
        if k in seen:
            dup += 1
        seen.add(k)
        p = r["processed_ns"]
        lo = p if lo is None or p < lo else lo
        hi = p if hi is None or p > hi else hi
    n = len(seen)
    span = (hi - lo) / 1e9 if n > 1 else 0.0
    print("%d %.3f %.1f %d" % (n, span, n / span if span > 0 else 0.0, dup))


def kafka(bs, topic, n, timeout):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bs, "group.id": "collect-%d" % time.time_ns(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        for m in c.consume(1000, 0.5):
            if not m.error():
                out.append(m.value())
    c.close()
    return out


def amqp(uri, queue, n, timeout):
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    out = []
    for _method, _props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=timeout):
        if body is None:
            break
        out.append(body)
        if len(out) >= n:
            break
    ch.cancel()
    conn.close()
    return out


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    kind, where, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60
    vals = (kafka if kind == "kafka" else amqp)(where, name, n, timeout)
    summarize(vals)


if __name__ == "__main__":
    main()

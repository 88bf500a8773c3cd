#!/usr/bin/env python3
"""The plain-Python peer of the streamctl Kafka pipeline (generate -> process -> sink).

usage: kafka_pipeline.py [--client=C] gen  BOOTSTRAP NS COUNT
       kafka_pipeline.py [--client=C] proc BOOTSTRAP NS IDLE_S
       kafka_pipeline.py [--client=C] sink BOOTSTRAP NS IDLE_S DB

C is the Kafka client a plain script would import: confluent-kafka (the
default; librdkafka in C under a Python API) or kafka-python (pure Python).
Only the few lines of the client layer below differ between the two.

The same work as streamctl, written the way a plain script would be:
gen reads /proc/stat for every record, computes per-core utilisation and
sends the JSON envelope to NS.raw.cpu (acks=all, idempotent, linger 5 ms);
proc consumes it (group NS.process), computes the mean over cores, the
rolling mean/std over the last 60 samples of the key, the z-score and the
anomaly flag (|z| > 3), and sends the result to NS.processed.cpu; sink
consumes that (group NS.sink) and INSERT OR IGNOREs one row per record into
SQLite (WAL), committing every 500 rows or when the input pauses.  Consumers
use Kafka's auto-commit.  proc and sink exit after IDLE_S seconds without
input, or with an error when nothing arrived within START_TIMEOUT_S.
"""
import collections
import json
import math
import os
import socket
import sqlite3
import sys
import time

CLIENT = "confluent-kafka"
# proc and sink give up when nothing came at all: a bench run must end (a
# kafka-python consumer was once seen spinning without ever joining its group)
START_TIMEOUT_S = 120

# ---- client layer: producer, send, flush, consumer, poll, close ----------


def producer(bs):
    if CLIENT == "kafka-python":
        from kafka import KafkaProducer
        return KafkaProducer(bootstrap_servers=bs, acks="all", enable_idempotence=True,
                             linger_ms=5)
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5})


def produce(p, topic, value, key):
    if CLIENT == "kafka-python":
        p.send(topic, value.encode(), key.encode())  # blocks while its buffer is full
        return
    while True:
        try:
            p.produce(topic, value, key)
            break
        except BufferError:
            p.poll(0.01)
    p.poll(0)


def flush(p):
    p.flush(60)


def consumer(bs, group, topic):
    if CLIENT == "kafka-python":
        from kafka import KafkaConsumer
        return KafkaConsumer(topic, bootstrap_servers=bs, group_id=group,
                             auto_offset_reset="earliest")
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    return c


def poll(c, timeout_s):
    """The values of the messages the next poll returned ([] on timeout)."""
    if CLIENT == "kafka-python":
        batch = c.poll(timeout_ms=int(timeout_s * 1000))
        return [m.value for msgs in batch.values() for m in msgs]
    m = c.poll(timeout_s)
    if m is None or m.error():
        return []
    return [m.value()]


# ---- the work -------------------------------------------------------------


def read_stat():
    cores = []
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]
            cores.append((sum(v), idle))
    return cores  # [0] is the total


def util(prev, cur):
    out = []
    for (t0, i0), (t1, i1) in zip(prev, cur):
        dt = t1 - t0
        out.append(round(100.0 * (dt - (i1 - i0)) / dt, 2) if dt > 0 else 0)
    return out


def gen(bs, ns, count):
    host = socket.gethostname()
    source = "cpu-" + host
    p = producer(bs)
    topic = ns + ".raw.cpu"
    prev = read_stat()
    for seq in range(count):
        intended = time.time_ns()
        cur = read_stat()
        u = util(prev, cur)
        prev = cur
        now = time.time_ns()
        rec = {"v": 1, "kind": "cpu", "source": source, "key": host, "seq": seq,
               "event_ns": now, "intended_ns": intended, "sent_ns": now, "processed_ns": 0,
               "body": {"ncores": len(u) - 1, "total": u[0], "cores": u[1:]}}
        produce(p, topic, json.dumps(rec, separators=(",", ":")), host)
    flush(p)


def proc(bs, ns, idle_s):
    c = consumer(bs, ns + ".process", ns + ".raw.cpu")
    p = producer(bs)
    out = ns + ".processed.cpu"
    windows = collections.defaultdict(lambda: collections.deque(maxlen=60))
    last = time.monotonic()
    seen = False
    while True:
        values = poll(c, 0.1)
        if not values:
            if seen and time.monotonic() - last > idle_s:
                break
            if not seen and time.monotonic() - last > START_TIMEOUT_S:
                sys.exit("proc: nothing arrived in %d s" % START_TIMEOUT_S)
            continue
        seen = True
        last = time.monotonic()
        for value in values:
            r = json.loads(value)
            b = r["body"]
            mean = sum(b["cores"]) / len(b["cores"]) if b["cores"] else 0.0
            w = windows[r["key"]]
            w.append(mean)
            rm = sum(w) / len(w)
            sd = math.sqrt(sum((x - rm) ** 2 for x in w) / len(w))
            z = (mean - rm) / sd if sd > 0 else 0.0
            r["kind"] = "cpu_stats"
            r["processed_ns"] = time.time_ns()
            r["body"] = {"ncores": b["ncores"], "total": b["total"], "mean_cores": mean,
                         "rolling_mean": rm, "rolling_std": sd, "zscore": z,
                         "anomaly": abs(z) > 3, "window": len(w)}
            produce(p, out, json.dumps(r, separators=(",", ":")), r["key"])
    flush(p)
    c.close()


def sink(bs, ns, idle_s, path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS cpu_stats(source TEXT NOT NULL, seq INTEGER NOT NULL,"
               " key TEXT, event_ns INTEGER, intended_ns INTEGER, sent_ns INTEGER,"
               " processed_ns INTEGER, stored_ns INTEGER, ncores INTEGER, total REAL,"
               " mean_cores REAL, rolling_mean REAL, rolling_std REAL, zscore REAL,"
               " anomaly INTEGER, window INTEGER, PRIMARY KEY(source, seq)) WITHOUT ROWID")
    c = consumer(bs, ns + ".sink", ns + ".processed.cpu")
    pending = 0
    last = time.monotonic()
    seen = False
    while True:
        values = poll(c, 0.05)
        if not values:
            if pending:
                db.commit()
                pending = 0
            if seen and time.monotonic() - last > idle_s:
                break
            if not seen and time.monotonic() - last > START_TIMEOUT_S:
                sys.exit("sink: nothing arrived in %d s" % START_TIMEOUT_S)
            continue
        seen = True
        last = time.monotonic()
        for value in values:
            r = json.loads(value)
            b = r["body"]
            db.execute("INSERT OR IGNORE INTO cpu_stats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (r["source"], r["seq"], r["key"], r["event_ns"], r["intended_ns"],
                        r["sent_ns"], r["processed_ns"], time.time_ns(), b["ncores"],
                        b["total"], b["mean_cores"], b["rolling_mean"], b["rolling_std"],
                        b["zscore"], int(b["anomaly"]), b["window"]))
            pending += 1
            if pending >= 500:
                db.commit()
                pending = 0
    db.commit()
    c.close()
    db.close()


def main():
    global CLIENT
    args = sys.argv[1:]
    if args and args[0].startswith("--client="):
        CLIENT = args.pop(0).split("=", 1)[1]
        if CLIENT not in ("confluent-kafka", "kafka-python"):
            sys.exit(__doc__)
    if len(args) < 4:
        sys.exit(__doc__)
    mode, bs, ns = args[0:3]
    if mode == "gen":
        gen(bs, ns, int(args[3]))
    elif mode == "proc":
        proc(bs, ns, float(args[3]))
    elif mode == "sink":
        sink(bs, ns, float(args[3]), args[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

#!/usr/bin/env python3
"""The plain-Python peer of the streamctl Kafka pipeline (generate -> process -> sink).

usage: kafka_pipeline.py gen  BOOTSTRAP NS COUNT
       kafka_pipeline.py proc BOOTSTRAP NS IDLE_S
       kafka_pipeline.py sink BOOTSTRAP NS IDLE_S DB

The same work as streamctl, written the way a plain script would be:
gen reads /proc/stat for every record, computes per-core utilisation and
sends the JSON envelope to NS.raw.cpu (acks=all, idempotent, linger 5 ms);
proc consumes it (group NS.process), computes the mean over cores, the
rolling mean/std over the last 60 samples of the key, the z-score and the
anomaly flag (|z| > 3), and sends the result to NS.processed.cpu; sink
consumes that (group NS.sink) and INSERT OR IGNOREs one row per record into
SQLite (WAL), committing every 500 rows or when the input pauses.  Consumers
use Kafka's auto-commit.  proc and sink exit after IDLE_S seconds without
input.
"""
import collections
import json
import math
import os
import socket
import sqlite3
import sys
import time

from confluent_kafka import Consumer, Producer

PCONF = {"acks": "all", "enable.idempotence": True, "linger.ms": 5}


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


def produce(p, topic, value, key):
    while True:
        try:
            p.produce(topic, value, key)
            break
        except BufferError:
            p.poll(0.01)
    p.poll(0)


def gen(bs, ns, count):
    host = socket.gethostname()
    source = "cpu-" + host
    p = Producer(dict(PCONF, **{"bootstrap.servers": bs}))
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
    p.flush(60)


def consumer(bs, group, topic):
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    return c


def proc(bs, ns, idle_s):
    c = consumer(bs, ns + ".process", ns + ".raw.cpu")
    p = Producer(dict(PCONF, **{"bootstrap.servers": bs}))
    out = ns + ".processed.cpu"
    windows = collections.defaultdict(lambda: collections.deque(maxlen=60))
    last = time.monotonic()
    seen = False
    while True:
        m = c.poll(0.1)
        if m is None:
            if seen and time.monotonic() - last > idle_s:
                break
            continue
        if m.error():
            continue
        seen = True
        last = time.monotonic()
        r = json.loads(m.value())
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
    p.flush(60)
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
        m = c.poll(0.05)
        if m is None:
            if pending:
                db.commit()
                pending = 0
            if seen and time.monotonic() - last > idle_s:
                break
            continue
        if m.error():
            continue
        seen = True
        last = time.monotonic()
        r = json.loads(m.value())
        b = r["body"]
        db.execute("INSERT OR IGNORE INTO cpu_stats VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (r["source"], r["seq"], r["key"], r["event_ns"], r["intended_ns"],
                    r["sent_ns"], r["processed_ns"], time.time_ns(), b["ncores"], b["total"],
                    b["mean_cores"], b["rolling_mean"], b["rolling_std"], b["zscore"],
                    int(b["anomaly"]), b["window"]))
        pending += 1
        if pending >= 500:
            db.commit()
            pending = 0
    db.commit()
    c.close()
    db.close()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, bs, ns = sys.argv[1:4]
    if mode == "gen":
        gen(bs, ns, int(sys.argv[4]))
    elif mode == "proc":
        proc(bs, ns, float(sys.argv[4]))
    elif mode == "sink":
        sink(bs, ns, float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

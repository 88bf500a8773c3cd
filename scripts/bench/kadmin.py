#!/usr/bin/env python3
"""Small Kafka admin helper for the benchmarks (confluent-kafka).

usage: kadmin.py BOOTSTRAP create TOPIC PARTITIONS [RF [MIN_INSYNC]]
       kadmin.py BOOTSTRAP parts TOPIC      partitions that hold messages
       kadmin.py BOOTSTRAP count TOPIC...      sum of end offsets (messages written)
       kadmin.py BOOTSTRAP lag GROUP TOPIC     committed lag of GROUP on TOPIC
       kadmin.py BOOTSTRAP delete TOPIC...
"""
import sys

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def end_offsets(c, topic):
    md = c.list_topics(topic, timeout=10)
    parts = md.topics[topic].partitions
    total = []
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total.append((p, hi))
    return total


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    bs, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "create":
        a = AdminClient({"bootstrap.servers": bs})
        rf = int(args[2]) if len(args) > 2 else 1
        conf = {"min.insync.replicas": args[3]} if len(args) > 3 else {}
        fs = a.create_topics([NewTopic(args[0], num_partitions=int(args[1]), replication_factor=rf,
                                       config=conf)])
        for f in fs.values():
            f.result(30)
    elif cmd == "delete":
        a = AdminClient({"bootstrap.servers": bs})
        fs = a.delete_topics(args, operation_timeout=30)
        for t, f in fs.items():
            try:
                f.result(30)
            except Exception as e:  # a topic that never got created
                print("kadmin: delete %s: %s" % (t, e), file=sys.stderr)
    elif cmd == "parts":
        c = Consumer({"bootstrap.servers": bs, "group.id": "kadmin-count"})
        print(sum(1 for _, hi in end_offsets(c, args[0]) if hi > 0))
        c.close()
    elif cmd in ("count", "lag"):
        c = Consumer({"bootstrap.servers": bs, "group.id": args[0] if cmd == "lag" else "kadmin-count"})
        if cmd == "count":
            print(sum(hi for t in args for _, hi in end_offsets(c, t)))
        else:
            topic = args[1]
            ends = end_offsets(c, topic)
            committed = c.committed([TopicPartition(topic, p) for p, _ in ends], timeout=10)
            lag = 0
            for (p, hi), tp in zip(ends, committed):
                lag += hi - (tp.offset if tp.offset >= 0 else 0)
            print(lag)
        c.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

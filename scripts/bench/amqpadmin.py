#!/usr/bin/env python3
"""Small RabbitMQ helper for the benchmarks (pika).

usage: amqpadmin.py URI count QUEUE           messages ready in QUEUE
       amqpadmin.py URI declare NS             streamctl's topology for raw.cpu: durable
                                               topic exchange NS, durable queue NS.raw.cpu
                                               bound with "raw.cpu.#"
       amqpadmin.py URI delete NAME...         queues and exchanges of that name (missing ones ignored)
"""
import sys

import pika


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    uri, cmd, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    if cmd == "count":
        ch = conn.channel()
        print(ch.queue_declare(names[0], passive=True).method.message_count)
    elif cmd == "declare":
        ns = names[0]
        ch = conn.channel()
        # exactly as transports/amqp_conn.c declares them, so streamctl's own
        # declarations agree with these
        ch.exchange_declare(ns, "topic", durable=True)
        ch.exchange_declare(ns + ".dlx", "fanout", durable=True)
        ch.queue_declare(ns + ".deadletter.rejected", durable=True,
                         arguments={"x-queue-type": "classic"})
        ch.queue_bind(ns + ".deadletter.rejected", ns + ".dlx", "")
        ch.queue_declare(ns + ".raw.cpu", durable=True,
                         arguments={"x-queue-type": "classic",
                                    "x-dead-letter-exchange": ns + ".dlx"})
        ch.queue_bind(ns + ".raw.cpu", ns, "raw.cpu.#")
    elif cmd == "delete":
        for n in names:
            for what in ("queue", "exchange"):
                ch = conn.channel()
                try:
                    if what == "queue":
                        ch.queue_delete(n)
                    else:
                        ch.exchange_delete(n)
                except Exception:
                    pass
                if ch.is_open:
                    ch.close()
    else:
        sys.exit(__doc__)
    conn.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The plain pika peer of `streamctl generate --transport=amqp`.

usage: amqp_publish.py URI EXCHANGE ROUTING_KEY PAYLOAD_FILE
Publishes every line of PAYLOAD_FILE as a persistent message with publisher
confirms.  pika's BlockingChannel waits for each confirm before the next
publish (it has no confirm window): that is what a plain pika loop does.
Prints "sent N seconds S".
"""
import sys
import time

import pika


def main():
    uri, exchange, rk, path = sys.argv[1:5]
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    conn = pika.BlockingConnection(pika.URLParameters(uri))
    ch = conn.channel()
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2)
    t0 = time.monotonic()
    for payload in lines:
        ch.basic_publish(exchange, rk, payload, props, mandatory=False)
    dt = time.monotonic() - t0
    conn.close()
    print("sent %d seconds %.3f" % (len(lines), dt))


if __name__ == "__main__":
    main()

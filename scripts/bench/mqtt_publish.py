#!/usr/bin/env python3
"""The plain paho-mqtt peer of `streamctl generate --transport=mqtt`.

usage: mqtt_publish.py HOST PORT TOPIC QOS INFLIGHT PAYLOAD_FILE
Publishes every line of PAYLOAD_FILE to TOPIC at QOS with at most INFLIGHT
unacknowledged messages (paho's max_inflight_messages) and at most 10000
queued (publish() is retried after a short sleep when the queue is full),
then waits until
every publish is complete (PUBACK/PUBCOMP; sent, for QoS 0).
Prints "sent N seconds S".
"""
import sys
import time

import paho.mqtt.client as mqtt


def main():
    host, port, topic, qos, inflight, path = sys.argv[1:7]
    qos = int(qos)
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-paho-%d" % time.time_ns(),
                    clean_session=True)
    c.max_inflight_messages_set(int(inflight))
    c.max_queued_messages_set(10000)  # bounded queue: publish() refuses when full
    c.connect(host, int(port))
    c.loop_start()
    t0 = time.monotonic()
    last = None
    for payload in lines:
        while True:
            last = c.publish(topic, payload, qos)
            if last.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                break
            time.sleep(0.0002)  # backpressure: wait for acknowledgements
    if last is not None:
        last.wait_for_publish(120)
    # every earlier message is out too: paho completes them in order per QoS
    while c._out_messages:  # noqa: SLF001 - no public "all published" query
        time.sleep(0.001)
    dt = time.monotonic() - t0
    c.disconnect()
    c.loop_stop()
    print("sent %d seconds %.3f" % (len(lines), dt))


if __name__ == "__main__":
    main()

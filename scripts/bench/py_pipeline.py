#!/usr/bin/env python3
"""A plain-Python reference pipeline (generate -> process -> sink) per transport.

usage:
  py_pipeline.py gen  --transport=T --broker=URI --namespace=NS --rate=HZ --duration=S
                      --source-id=ID [--qos=0|1]
  py_pipeline.py proc --transport=T --broker=URI --namespace=NS --client-id=ID
                      --idle-exit=S --ready-file=PATH [--qos=0|1]
  py_pipeline.py sink --transport=T --broker=URI --namespace=NS --client-id=ID
                      --idle-exit=S --ready-file=PATH --db=PATH [--qos=0|1]

T is kafka, amqp or mqtt; URI kafka://HOST:PORT, amqp://USER:PASS@HOST:PORT/VHOST
or mqtt://HOST:PORT.  The reference row of compare.py: the same fixed-rate work
as streamctl, written with the standard Python clients (confluent-kafka, pika,
paho-mqtt 2.x) the way a plain script would, with the same delivery promises.
The work (read_stat/util, rolling stats over 60 samples, z-score, |z| > 3) is
kafka_pipeline.py's; that file stays the unthrottled Kafka-only peer.

gen   one cpu record per 1/HZ s from /proc/stat for S seconds.  Record i is due
      at start + i/HZ: it never leaves before (sleep, then spin the last
      ~150 us on time.time_ns()); when behind it is sent late, never skipped.
      sent_ns is taken just before the client's send call.
proc  consumes NS raw.cpu, adds mean over cores, rolling mean/std, z-score and
      anomaly, stamps processed_ns just before publishing to NS processed.cpu,
      and acknowledges its input only once the output is safe.
sink  consumes NS processed.cpu and INSERT OR IGNOREs into SQLite (WAL)
      cpu_stats; one transaction per 500 rows, or sooner when 50 ms passed or
      the input paused; stored_ns is taken for all rows of a transaction just
      before its INSERTs and COMMIT; input is acknowledged after the COMMIT.
proc and sink touch --ready-file once they can receive, exit 0 after
--idle-exit s without input once something arrived, and exit 1 when nothing
arrived in 120 s.  Every role prints one JSON summary line on stderr; errors
are one line on stderr with exit 64 (usage), 69 (broker unavailable) or 1.

Per transport:
kafka  topics NS.raw.cpu, NS.processed.cpu (created with 1 partition when
       missing); producers acks=all, idempotent, linger.ms=5, key = host name;
       groups NS.process / NS.sink, earliest, enable.auto.commit=false.  proc
       produces a polled batch, flush()es (every delivery report in), then
       commits the batch's offsets; sink commits offsets after its COMMIT.
amqp   durable topic exchange NS, durable queues NS.raw.cpu / NS.processed.cpu
       bound with raw.cpu / processed.cpu; persistent messages (delivery_mode 2)
       with publisher confirms.  pika's BlockingConnection waits for every
       confirm before the next publish (a round trip, for a persistent message
       after the broker's disk sync, per message; its rate was not measured
       here), so this uses pika's SelectConnection, its
       ioloop in a thread, with a window of at most 1000 unconfirmed messages
       (gen); the main thread hands each record (gen) or each polled batch
       (proc) to the ioloop in one add_callback_threadsafe, and sent_ns /
       processed_ns are stamped in the ioloop thread just before basic_publish.
       proc basic_acks (multiple) an input once the outputs of it and of every
       earlier input are confirmed (prefetch 500, streamctl's default); sink
       basic_acks (multiple) after its COMMIT (prefetch 1000, above its batch
       of 500).  A Nack is an error.
mqtt   topics NS/raw/cpu, NS/processed/cpu at --qos (default 1), paho loop_start;
       gen has a clean session and waits at the end until every publish is
       complete; proc and sink use a persistent session (clean_session=False,
       --client-id) and paho's manual_ack: proc PUBACKs an input once its
       output's PUBACK arrived, sink after its COMMIT (at QoS 0 nothing is
       acknowledged: MQTT has no acknowledgement there).
"""
import argparse
import collections
import json
import math
import os
import queue
import resource
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse

START_TIMEOUT_S = 120  # proc/sink: nothing ever arrived
CONNECT_TIMEOUT_S = 10
DRAIN_TIMEOUT_S = 60  # waiting for outstanding deliveries at the end
WINDOW = 1000  # unconfirmed AMQP publishes (gen) / MQTT in flight
SPIN_NS = 150_000  # the last part of a wait is a spin on time.time_ns()
SINK_BATCH = 500
SINK_MAX_AGE_S = 0.05

EX_USAGE = 64
EX_UNAVAILABLE = 69

ROLE = "py_pipeline"


class Fail(Exception):
    def __init__(self, msg, code=1):
        super().__init__(msg)
        self.code = code


def log(msg):
    print("%s: %s" % (ROLE, msg), file=sys.stderr, flush=True)


def touch(path):
    with open(path, "a"):
        pass
    os.utime(path, None)


# ---- the work (as kafka_pipeline.py) --------------------------------------


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


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ---- transports -----------------------------------------------------------
# Each has: get_batch(timeout) -> [(body, token)], publish(stream, key,
# build, token) where build() stamps and encodes the message just before the
# send, settle() (proc: acknowledge inputs whose outputs are safe), ack(tokens)
# (sink: after its COMMIT), drain() (every publish confirmed), close().


class Kafka:
    def __init__(self, uri, ns, role, client_id, ready):
        from confluent_kafka import Producer, Consumer, KafkaException, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic
        self.KafkaException = KafkaException
        self.TopicPartition = TopicPartition
        u = urllib.parse.urlsplit(uri)
        if not u.hostname:
            raise Fail("bad kafka uri %s" % uri, EX_USAGE)
        bs = "%s:%d" % (u.hostname, u.port or 9092)
        self.ns = ns
        self.role = role
        self.errors = []
        self.delivered = 0
        # librdkafka logs every failed reconnect; errors come through error_cb
        base = {"bootstrap.servers": bs,
                "socket.connection.setup.timeout.ms": CONNECT_TIMEOUT_S * 1000,
                "error_cb": self._error, "log_level": 2}
        admin = AdminClient(dict(base))
        try:
            md = admin.list_topics(timeout=CONNECT_TIMEOUT_S)
        except KafkaException as e:
            raise Fail("cannot reach kafka at %s: %s" % (bs, e.args[0].str()), EX_UNAVAILABLE)
        want = {"gen": ["raw.cpu"], "proc": ["raw.cpu", "processed.cpu"],
                "sink": ["processed.cpu"]}[role]
        missing = [NewTopic(ns + "." + s, 1, 1) for s in want if ns + "." + s not in md.topics]
        if missing:
            for t, f in admin.create_topics(missing, request_timeout=CONNECT_TIMEOUT_S).items():
                try:
                    f.result(CONNECT_TIMEOUT_S)
                except KafkaException as e:
                    if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                        raise Fail("cannot create topic %s: %s" % (t, e.args[0].str()),
                                   EX_UNAVAILABLE)
        self.p = None
        if role in ("gen", "proc"):
            self.p = Producer(dict(base, **{"acks": "all", "enable.idempotence": True,
                                            "linger.ms": 5}))
        self.c = None
        if role in ("proc", "sink"):
            group = ns + (".process" if role == "proc" else ".sink")
            self.c = Consumer(dict(base, **{"group.id": group, "client.id": client_id,
                                            "auto.offset.reset": "earliest",
                                            "enable.auto.commit": False}))
            topic = ns + (".raw.cpu" if role == "proc" else ".processed.cpu")

            def on_assign(c, parts):
                if parts:
                    ready()

            self.c.subscribe([topic], on_assign=on_assign)
        self.offsets = {}

    def _error(self, err):
        # transient errors (a broker down) are retried by librdkafka; fatal ones end the run
        if err.fatal():
            self.errors.append("kafka: " + err.str())

    def _delivery(self, err, msg):
        if err is not None:
            self.errors.append("delivery failed: " + err.str())
        else:
            self.delivered += 1

    def check(self):
        if self.errors:
            raise Fail(self.errors[0])

    def get_batch(self, timeout):
        m = self.c.poll(timeout)
        if m is None:
            return []
        msgs = [m] + self.c.consume(499, 0)
        out = []
        for m in msgs:
            if m.error():
                if m.error().fatal():
                    raise Fail("kafka: " + m.error().str())
                log("kafka: " + m.error().str())
                continue
            out.append((m.value(), (m.topic(), m.partition(), m.offset())))
        return out

    def publish(self, stream, key, build, token):
        topic = self.ns + "." + stream
        while True:
            try:
                self.p.produce(topic, build(), key, on_delivery=self._delivery)
                break
            except BufferError:
                self.p.poll(0.01)
        self.p.poll(0)

    def _commit(self, tokens):
        for t, part, off in tokens:
            self.offsets[(t, part)] = off + 1
        if self.offsets:
            self.c.commit(offsets=[self.TopicPartition(t, part, off)
                                   for (t, part), off in self.offsets.items()],
                          asynchronous=True)
            self.offsets = {}

    def settle(self, tokens):
        # proc: every delivery report of the batch in, then its offsets
        if tokens:
            self.drain()
            self._commit(tokens)

    def ack(self, tokens):
        self._commit(tokens)

    def drain(self):
        if self.p is not None and self.p.flush(DRAIN_TIMEOUT_S) > 0:
            raise Fail("kafka: messages still undelivered after %d s" % DRAIN_TIMEOUT_S)
        self.check()

    def close(self):
        if self.c is not None:
            try:
                self.c.commit(asynchronous=False)
            except self.KafkaException:
                pass  # nothing to commit
            self.c.close()


class Amqp:
    def __init__(self, uri, ns, role, client_id, ready):
        import pika
        self.pika = pika
        try:
            params = pika.URLParameters(uri)
        except Exception as e:
            raise Fail("bad amqp uri %s: %s" % (uri, e), EX_USAGE)
        params.socket_timeout = CONNECT_TIMEOUT_S
        params.connection_attempts = 1
        params.client_properties = {"connection_name": "%s-%s" % (ns, client_id)}
        self.ns = ns
        self.role = role
        self.ready_cb = ready
        self.q = queue.Queue()
        self.cond = threading.Condition()
        self.err = None
        self.opened = threading.Event()
        self.closing = False
        self.outbox = []  # publishes of the current batch (main thread)
        self.requested = 0  # publishes handed to the ioloop (main thread)
        self.published = 0  # basic_publish calls (ioloop thread)
        self.confirmed = 0
        self.order = collections.deque()  # (publish seq, input tag or None)
        self.done = set()  # confirmed publish seqs not yet at the left of order
        self.props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        self.streams = {"gen": ["raw.cpu"], "proc": ["raw.cpu", "processed.cpu"],
                        "sink": ["processed.cpu"]}[role]
        self.consume = {"proc": "raw.cpu", "sink": "processed.cpu"}.get(role)
        self.prefetch = 500 if role == "proc" else 1000
        self.conn = pika.SelectConnection(params, on_open_callback=self._on_open,
                                          on_open_error_callback=self._on_open_error,
                                          on_close_callback=self._on_closed)
        self.thread = threading.Thread(target=self.conn.ioloop.start, daemon=True)
        self.thread.start()
        if not self.opened.wait(CONNECT_TIMEOUT_S + 5):
            raise Fail("amqp: no connection to %s within %d s" % (params.host, CONNECT_TIMEOUT_S),
                       EX_UNAVAILABLE)
        self.check(EX_UNAVAILABLE)

    # ioloop thread ----------------------------------------------------------

    def _fail(self, msg):
        with self.cond:
            if self.err is None:
                self.err = msg
            self.cond.notify_all()
        self.opened.set()

    def _on_open_error(self, conn, e):
        self._fail("amqp: cannot connect: %s" % (str(e) or repr(e)))
        conn.ioloop.stop()

    def _on_closed(self, conn, reason):
        if not self.closing:
            self._fail("amqp: connection closed: %s" % reason)
        conn.ioloop.stop()

    def _on_open(self, conn):
        conn.channel(on_open_callback=self._on_channel)

    def _on_channel(self, ch):
        self.ch = ch
        ch.add_on_close_callback(self._on_channel_closed)
        ch.confirm_delivery(ack_nack_callback=self._on_confirm,
                            callback=lambda _f: ch.exchange_declare(
                                self.ns, "topic", durable=True, callback=self._on_exchange))

    def _on_channel_closed(self, ch, reason):
        if not self.closing:
            self._fail("amqp: channel closed: %s" % reason)
            self.conn.close()

    def _on_exchange(self, _f):
        self._declare(list(self.streams))

    def _declare(self, todo):
        if not todo:
            if self.consume is None:
                self.opened.set()
                return
            qn = self.ns + "." + self.consume
            self.ch.basic_qos(prefetch_count=self.prefetch,
                              callback=lambda _f: self.ch.basic_consume(
                                  qn, self._on_message, callback=self._on_consume_ok))
            return
        s = todo.pop(0)
        qn = self.ns + "." + s
        self.ch.queue_declare(qn, durable=True, callback=lambda _f: self.ch.queue_bind(
            qn, self.ns, routing_key=s, callback=lambda _f2: self._declare(todo)))

    def _on_consume_ok(self, _f):
        self.opened.set()
        self.ready_cb()

    def _on_message(self, ch, method, props, body):
        self.q.put((body, method.delivery_tag))

    def _publish(self, rk, build, token):
        if self.ch.is_closed:
            return
        self.ch.basic_publish(self.ns, rk, build(), self.props)
        self.published += 1
        self.order.append((self.published, token))

    def _on_confirm(self, frame):
        m = frame.method
        if isinstance(m, self.pika.spec.Basic.Nack):
            self._fail("amqp: publish %d nacked by the broker" % m.delivery_tag)
            return
        if m.multiple:
            for seq, _t in self.order:
                if seq > m.delivery_tag:
                    break
                self.done.add(seq)
        else:
            self.done.add(m.delivery_tag)
        last = None
        n = 0
        while self.order and self.order[0][0] in self.done:
            seq, token = self.order.popleft()
            self.done.discard(seq)
            n += 1
            if token is not None:
                last = token
        if last is not None:  # proc: every input up to this one has its output confirmed
            self.ch.basic_ack(last, multiple=True)
        with self.cond:
            self.confirmed += n
            self.cond.notify_all()

    # main thread ------------------------------------------------------------

    def check(self, code=1):
        if self.err is not None:
            raise Fail(self.err, code)

    def _call(self, fn):
        try:
            self.conn.ioloop.add_callback_threadsafe(fn)
        except Exception as e:  # the ioloop is gone
            self.check()
            raise Fail("amqp: connection lost: %s" % e)

    def get_batch(self, timeout):
        self.check()
        try:
            out = [self.q.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(out) < 500:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                break
        return out

    def publish(self, stream, key, build, token):
        if self.requested - self.confirmed >= WINDOW:
            self.settle(None)  # what waits in the outbox goes out before we wait for confirms
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            with self.cond:
                while self.requested - self.confirmed >= WINDOW and self.err is None:
                    if not self.cond.wait(max(0, deadline - time.monotonic())):
                        raise Fail("amqp: no confirm in %d s" % DRAIN_TIMEOUT_S)
        self.requested += 1
        self.check()
        self.outbox.append((stream, build, token))

    def _publish_all(self, items):
        for stream, build, token in items:
            self._publish(stream, build, token)

    def settle(self, tokens):
        """Hand the publishes of a batch to the ioloop in one wake-up; inputs
        are acked from the confirm callback."""
        self.check()
        if self.outbox:
            items, self.outbox = self.outbox, []
            self._call(lambda: self._publish_all(items))

    def ack(self, tokens):
        if tokens:
            last = max(tokens)
            self._call(lambda: self.ch.basic_ack(last, multiple=True))

    def drain(self):
        self.settle(None)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        with self.cond:
            while self.confirmed < self.requested and self.err is None:
                if not self.cond.wait(max(0, deadline - time.monotonic())):
                    raise Fail("amqp: %d publishes unconfirmed after %d s"
                               % (self.requested - self.confirmed, DRAIN_TIMEOUT_S))
        self.check()

    def close(self):
        self.closing = True
        if self.thread.is_alive():
            try:
                self.conn.ioloop.add_callback_threadsafe(self.conn.close)
            except Exception:
                pass
            self.thread.join(CONNECT_TIMEOUT_S)


class Mqtt:
    def __init__(self, uri, ns, role, client_id, ready, qos):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        u = urllib.parse.urlsplit(uri)
        if not u.hostname:
            raise Fail("bad mqtt uri %s" % uri, EX_USAGE)
        self.ns = ns
        self.qos = qos
        self.ready_cb = ready
        self.q = queue.Queue()
        self.err = None
        self.connected = threading.Event()
        self.inflight = collections.deque()  # (MQTTMessageInfo, input mid or None)
        self.topic_in = {"proc": ns + "/raw/cpu", "sink": ns + "/processed/cpu"}.get(role)
        persistent = role != "gen"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        clean_session=not persistent, manual_ack=persistent)
        c.max_inflight_messages_set(WINDOW)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.c = c
        try:
            c.connect(u.hostname, u.port or 1883, keepalive=30)
        except OSError as e:
            raise Fail("cannot connect to mqtt at %s:%d: %s" % (u.hostname, u.port or 1883,
                                                                e.strerror or e), EX_UNAVAILABLE)
        c.loop_start()
        if not self.connected.wait(CONNECT_TIMEOUT_S):
            c.loop_stop()
            raise Fail("mqtt: no CONNACK within %d s" % CONNECT_TIMEOUT_S, EX_UNAVAILABLE)
        self.check(EX_UNAVAILABLE)

    def _on_connect(self, c, userdata, flags, rc, props):
        if rc.is_failure:
            self.err = "mqtt: connection refused: %s" % rc
        elif self.topic_in is not None:
            c.subscribe(self.topic_in, self.qos)
        self.connected.set()

    def _on_disconnect(self, c, userdata, flags, rc, props):
        if rc.is_failure:
            self.err = "mqtt: disconnected: %s" % rc

    def _on_subscribe(self, c, userdata, mid, rcs, props):
        bad = [r for r in rcs if r.is_failure]
        if bad:
            self.err = "mqtt: subscription refused: %s" % bad[0]
        else:
            self.ready_cb()

    def _on_message(self, c, userdata, msg):
        self.q.put((msg.payload, msg.mid if msg.qos > 0 else None))

    def check(self, code=1):
        if self.err is not None:
            raise Fail(self.err, code)

    def get_batch(self, timeout):
        self.check()
        try:
            out = [self.q.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(out) < 500:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                break
        return out

    def publish(self, stream, key, build, token):
        topic = self.ns + "/" + stream.replace(".", "/")
        info = self.c.publish(topic, build(), self.qos)
        if info.rc != self.mqtt.MQTT_ERR_SUCCESS and info.rc != self.mqtt.MQTT_ERR_NO_CONN:
            raise Fail("mqtt: publish failed: %s" % self.mqtt.error_string(info.rc))
        self.inflight.append((info, token))
        if len(self.inflight) >= 4 * WINDOW:
            self.settle(None)

    def settle(self, tokens):
        """PUBACK the inputs whose outputs are complete, in order."""
        self.check()
        while self.inflight and self.inflight[0][0].is_published():
            _info, token = self.inflight.popleft()
            if token is not None:
                self.c.ack(token, self.qos)

    def ack(self, tokens):
        for t in tokens:
            if t is not None:
                self.c.ack(t, self.qos)

    def drain(self):
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.inflight:
            self.settle(None)
            if not self.inflight:
                break
            if time.monotonic() > deadline:
                raise Fail("mqtt: %d publishes incomplete after %d s" % (len(self.inflight),
                                                                          DRAIN_TIMEOUT_S))
            time.sleep(0.001)

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


def transport(a, role, ready=lambda: None):
    scheme = urllib.parse.urlsplit(a.broker).scheme
    if scheme != a.transport:
        raise Fail("--broker=%s is not a %s:// uri" % (a.broker, a.transport), EX_USAGE)
    cid = getattr(a, "client_id", None) or "%s-%s-%s" % (a.namespace, role, os.getpid())
    if a.transport == "kafka":
        return Kafka(a.broker, a.namespace, role, cid, ready)
    if a.transport == "amqp":
        return Amqp(a.broker, a.namespace, role, cid, ready)
    return Mqtt(a.broker, a.namespace, role, cid, ready, a.qos)


# ---- roles ----------------------------------------------------------------


def wait_until(t_ns):
    """Return at t_ns or just after, never before: sleep, then spin."""
    while True:
        left = t_ns - time.time_ns()
        if left <= 0:
            return
        if left > SPIN_NS:
            time.sleep((left - SPIN_NS) / 1e9)
        else:
            time.sleep(0)  # lets the client's I/O thread have the GIL while spinning


def gen(a):
    n = int(round(a.rate * a.duration))
    host = socket.gethostname()
    t = transport(a, "gen")
    prev = read_stat()
    late = 0
    max_late = 0
    start = time.time_ns() + 1_000_000  # a little ahead: the first record is on time too
    period = 1e9 / a.rate
    t0 = time.monotonic()
    for i in range(n):
        intended = start + int(round(i * period))
        wait_until(intended)
        cur = read_stat()
        u = util(prev, cur)
        prev = cur
        rec = {"source": a.source_id, "key": host, "seq": i, "intended_ns": intended,
               "sent_ns": 0, "event_ns": time.time_ns(), "cores": u[1:], "total": u[0]}

        def build(rec=rec):
            rec["sent_ns"] = time.time_ns()
            return dumps(rec)

        t.publish("raw.cpu", host, build, None)
        t.settle(None)
        behind = time.time_ns() - intended
        if behind > period:
            late += 1
        max_late = max(max_late, behind)
    send_s = time.monotonic() - t0
    t.drain()
    t.close()
    print(json.dumps({"role": "gen", "transport": a.transport, "sent": n, "rate": a.rate,
                      "send_s": round(send_s, 3), "wall_s": round(time.monotonic() - t0, 3),
                      "late_over_period": late, "max_behind_ms": round(max_late / 1e6, 3),
                      **cpu_s()}),
          file=sys.stderr)


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": round(r.ru_utime, 3), "sys_s": round(r.ru_stime, 3)}


def idle_check(seen, last, idle_s):
    """True when the role is done; raises when nothing ever came."""
    quiet = time.monotonic() - last
    if seen and quiet > idle_s:
        return True
    if not seen and quiet > START_TIMEOUT_S:
        raise Fail("nothing arrived in %d s" % START_TIMEOUT_S)
    return False


def proc(a):
    t = transport(a, "proc", lambda: touch(a.ready_file))
    windows = collections.defaultdict(lambda: collections.deque(maxlen=60))
    last = time.monotonic()
    seen = False
    n = 0
    anomalies = 0
    while True:
        batch = t.get_batch(0.1)
        if not batch:
            t.settle(None)
            if idle_check(seen, last, a.idle_exit):
                break
            continue
        seen = True
        last = time.monotonic()
        for body, token in batch:
            r = json.loads(body)
            cores = r["cores"]
            mean = sum(cores) / len(cores) if cores else 0.0
            w = windows[r["key"]]
            w.append(mean)
            rm = sum(w) / len(w)
            sd = math.sqrt(sum((x - rm) ** 2 for x in w) / len(w))
            z = (mean - rm) / sd if sd > 0 else 0.0
            anomalies += abs(z) > 3
            out = {"source": r["source"], "key": r["key"], "seq": r["seq"],
                   "intended_ns": r["intended_ns"], "sent_ns": r["sent_ns"],
                   "event_ns": r["event_ns"], "processed_ns": 0, "ncores": len(cores),
                   "total": r["total"], "mean_cores": mean, "rolling_mean": rm,
                   "rolling_std": sd, "zscore": z, "anomaly": abs(z) > 3, "window": len(w)}

            def build(out=out):
                out["processed_ns"] = time.time_ns()
                return dumps(out)

            t.publish("processed.cpu", r["key"], build, token)
            n += 1
        t.settle([tok for _b, tok in batch])
    t.drain()
    t.settle(None)
    t.close()
    print(json.dumps({"role": "proc", "transport": a.transport, "processed": n,
                      "anomalies": anomalies, **cpu_s()}), file=sys.stderr)


def sink(a):
    db = sqlite3.connect(a.db, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS cpu_stats(source TEXT NOT NULL, seq INTEGER NOT NULL,"
               " key TEXT, event_ns INTEGER, intended_ns INTEGER, sent_ns INTEGER,"
               " processed_ns INTEGER, stored_ns INTEGER, mean_cores REAL, zscore REAL,"
               " anomaly INTEGER, PRIMARY KEY(source, seq))")
    db.commit()
    t = transport(a, "sink", lambda: touch(a.ready_file))
    rows = []
    tokens = []
    first = 0.0
    last = time.monotonic()
    seen = False
    stored = 0
    commits = 0

    def commit():
        nonlocal rows, tokens, stored, commits
        now = time.time_ns()
        db.executemany("INSERT OR IGNORE INTO cpu_stats VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                       [r + (now, m, z, an) for r, (m, z, an) in rows])
        db.commit()
        t.ack(tokens)
        stored += len(rows)
        commits += 1
        rows = []
        tokens = []

    while True:
        batch = t.get_batch(0.01 if rows else 0.1)
        for body, token in batch:
            r = json.loads(body)
            if not rows:
                first = time.monotonic()
            rows.append(((r["source"], r["seq"], r["key"], r["event_ns"], r["intended_ns"],
                          r["sent_ns"], r["processed_ns"]),
                         (r["mean_cores"], r["zscore"], int(bool(r["anomaly"])))))
            tokens.append(token)
            if len(rows) >= SINK_BATCH:
                commit()
        if batch:
            seen = True
            last = time.monotonic()
        if rows and (not batch or time.monotonic() - first >= SINK_MAX_AGE_S):
            commit()
        if not batch and idle_check(seen, last, a.idle_exit):
            break
    if rows:
        commit()
    t.close()
    db.close()
    print(json.dumps({"role": "sink", "transport": a.transport, "stored": stored,
                      "commits": commits, **cpu_s()}), file=sys.stderr)


# ---- command line ---------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Fail(message, EX_USAGE)


def positive(conv):
    def f(s):
        v = conv(s)
        if v <= 0:
            raise ValueError(s)
        return v
    f.__name__ = conv.__name__
    return f


def parse(argv):
    p = Parser(prog="py_pipeline.py", add_help=True)
    sub = p.add_subparsers(dest="role")
    sub.required = True
    for role in ("gen", "proc", "sink"):
        s = sub.add_parser(role)
        s.error = p.error
        s.add_argument("--transport", required=True, choices=("kafka", "amqp", "mqtt"))
        s.add_argument("--broker", required=True)
        s.add_argument("--namespace", required=True)
        s.add_argument("--qos", type=int, choices=(0, 1), default=1)
        if role == "gen":
            s.add_argument("--rate", required=True, type=positive(float))
            s.add_argument("--duration", required=True, type=positive(float))
            s.add_argument("--source-id", required=True)
        else:
            s.add_argument("--client-id", required=True)
            s.add_argument("--idle-exit", required=True, type=positive(float))
            s.add_argument("--ready-file", required=True)
            if role == "sink":
                s.add_argument("--db", required=True)
    return p.parse_args(argv)


def main():
    global ROLE
    try:
        a = parse(sys.argv[1:])
        ROLE = "py_pipeline " + a.role
        {"gen": gen, "proc": proc, "sink": sink}[a.role](a)
    except Fail as e:
        log("error: %s" % e)
        sys.exit(e.code)
    except KeyboardInterrupt:
        log("error: interrupted")
        sys.exit(130)
    except Exception as e:  # one line, not a traceback
        log("error: %s: %s" % (type(e).__name__, e))
        sys.exit(1)


if __name__ == "__main__":
    main()

/*
 * kafka.c - the Kafka backend (librdkafka): a partitioned, replicated,
 * replayable log; consumers pull; a consumer group splits partitions.
 *
 * Names.  Stream s is the topic "<ns>.<stream>" (streamctl.raw.cpu,
 * streamctl.processed.sensor, streamctl.deadletter); SC_STREAM_EXTERNAL is
 * cfg->external_topic verbatim.  The consumer group is cfg->group, or
 * "<ns>.<role>" (streamctl.process, streamctl.sink).
 *
 * Topics.  A missing topic is created with the Admin API (-X partitions,
 * default 3; -X replication.factor, default 1): the consumer's input topics at
 * open, an output topic on the first publish to it (a transport does not
 * know its outputs before).  The external topic is never created: it
 * belongs to someone else.  Topics the cluster already has are left as
 * they are.
 *
 * Sockets.  socket.nagle.disable=true (TCP_NODELAY) for producer and consumer.
 *
 * Producer.  Idempotent, acks=all, linger.ms=1 (-X overrides any of them).
 * The message timestamp is the event time, clamped to now when it lies in
 * the future (brokers refuse timestamps over an hour ahead).
 * publish() copies the message into librdkafka's queue; when that queue is
 * full it serves delivery reports and retries for up to 30 s (or until a
 * stop is requested): that is the backpressure.  Delivery reports count
 * failures; publish() serves them every KAFKA_POLL_EVERY messages (poll()
 * and a full queue on each call); flush() waits for every report and fails
 * with the count and the first reason.  A pure producer (cfg->inputs == 0) creates its client
 * at open, a consumer creates one on its first publish (process,
 * dead letters), so the sink does not hold an idle producer.
 *
 * Consumer.  At-least-once: enable.auto.commit=true with
 * enable.auto.offset.store=false, so only offsets that commit() stored are
 * ever committed (every auto.commit.interval.ms, on revoke, at close).
 * auto.offset.reset=earliest.  Eager rebalancing with the roundrobin
 * assignor (balances partitions across all input topics); on revoke the
 * stored offsets are committed synchronously before the partitions go.
 * -X partition.assignment.strategy=cooperative-sticky is honoured
 * (incremental assign/unassign).  A message whose partition was revoked
 * before commit() cannot be committed here: its new owner gets it again,
 * which at-least-once allows, so that commit() is not an error.
 *
 * Ownership.  A polled message keeps its rd_kafka_message_t (payload, key
 * copy) until release(); release every polled message before close.
 * -X test.mock.num.brokers gives each librdkafka client its own mock
 * cluster: with a producer and a consumer in one transport, give the mock
 * cluster's bootstrap list as the broker instead.
 *
 * Map:  open/close - producer - consumer - lag and health - vtable
 */
#include "kafka_int.h"

#include "error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_BACKPRESSURE_NS (30 * 1000000000LL)
#define KAFKA_CLOSE_FLUSH_MS  10000
#define KAFKA_POLL_SLICE_MS   100
#define KAFKA_POLL_EVERY      64 /* publishes between two rd_kafka_poll() */

static int kafka_producer_start(struct kafka_priv *k, struct sc_error *err);
static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			       rd_kafka_topic_partition_list_t *parts, void *opaque);
static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);

/* ---- open/close -------------------------------------------------------- */

/* A consumer subscribed to the input streams into *out (topics created when missing). */
static int kafka_consumer_new(struct kafka_priv *k, rd_kafka_t **out, struct sc_error *err)
{
	const struct transport_cfg *cfg = k->cfg;
	const char *create[SC_STREAM__COUNT];
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t e;
	rd_kafka_t *rk;
	char errstr[512];
	const char *store;
	int ncreate = 0, rc;

	rc = kafka_conf_new(k, true, &conf, err);
	if (rc)
		return rc;
	rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return sc_error_set(err, SC_EINVAL, "kafka: cannot create consumer: %s", errstr);
	}
	*out = rk;
	rd_kafka_poll_set_consumer(rk);
	store = transport_prop(cfg, "enable.auto.offset.store");
	k->auto_store = store && strcmp(store, "true") == 0;

	subs = rd_kafka_topic_partition_list_new(SC_STREAM__COUNT);
	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		if (!(cfg->inputs & SC_STREAM_BIT(s)))
			continue;
		if (!k->topics[s][0]) {
			rc = sc_error_set(err, SC_EINVAL,
					  "kafka: stream %s has no topic (give the external topic)",
					  sc_stream_name((enum sc_stream)s));
			goto destroy_subs;
		}
		if (s != SC_STREAM_EXTERNAL)
			create[ncreate++] = k->topics[s];
		rd_kafka_topic_partition_list_add(subs, k->topics[s], RD_KAFKA_PARTITION_UA);
	}
	rc = kafka_ensure_topics(k, rk, create, ncreate, err);
	if (rc)
		goto destroy_subs;
	e = rd_kafka_subscribe(rk, subs);
	if (e)
		rc = sc_error_set(err, kafka_errcode(e), "kafka: cannot subscribe: %s",
				  rd_kafka_err2str(e));
destroy_subs:
	rd_kafka_topic_partition_list_destroy(subs);
	return rc;
}

static int kafka_consumer_start(struct kafka_priv *k, struct sc_error *err)
{
	rd_kafka_t *rk = NULL;
	int rc = kafka_consumer_new(k, &rk, err);

	k->consumer = rk; /* also on failure: close() destroys it */
	return rc;
}

static int kafka_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	struct kafka_priv *k = t->priv;
	int rc;

	k->t = t;
	k->cfg = cfg;
	atomic_init(&k->brokers_down, false);
	atomic_init(&k->fatal, false);
	atomic_init(&k->last_probe_ns, 0);
	atomic_init(&k->lag_cached, -1);
	atomic_init(&k->lag_at_ns, 0);
	atomic_init(&k->opened, false);
	atomic_init(&k->conn_claim, 0);
	atomic_init(&k->conn_fail, 0);
	atomic_init(&k->trouble_ns, 0);
	atomic_init(&k->consumer, NULL);
	if (pthread_mutex_init(&k->swap_lock, NULL))
		return sc_error_set(err, SC_ENOMEM, "kafka: cannot create a mutex");
	k->swap_lock_init = true;
	rc = kafka_topic_opts(k, err);
	if (!rc)
		rc = kafka_parse_brokers(k, cfg->broker, err);
	if (!rc)
		rc = kafka_topic_names(k, err);
	/* validate the producer's -X list now even when the producer comes later */
	if (!rc)
		rc = kafka_conf_new(k, false, &k->pconf, err);
	if (rc)
		return rc;
	rd_kafka_conf_set_dr_msg_cb(k->pconf, kafka_dr_cb);
	if (cfg->inputs)
		return kafka_consumer_start(k, err);
	return kafka_producer_start(k, err);
}

/* Safe after a failed open: every handle may be NULL. */
static void kafka_close(struct transport *t)
{
	struct kafka_priv *k = t->priv;
	rd_kafka_resp_err_t e;

	if (!k)
		return;
	if (k->producer) {
		rd_kafka_flush(k->producer, KAFKA_CLOSE_FLUSH_MS);
		if (rd_kafka_outq_len(k->producer) > 0)
			fprintf(stderr, "kafka: %d message(s) still undelivered at close\n",
				rd_kafka_outq_len(k->producer));
		if (k->failed)
			fprintf(stderr, "kafka: %" PRIu64 " message(s) failed delivery: %s\n",
				k->failed, k->fail_reason);
	}
	if (k->consumer) {
		e = rd_kafka_consumer_close(k->consumer);
		if (e && !(e == RD_KAFKA_RESP_ERR__FATAL && atomic_load(&k->fatal)))
			fprintf(stderr, "kafka: consumer close: %s\n", rd_kafka_err2str(e));
		rd_kafka_destroy(k->consumer);
		k->consumer = NULL;
	}
	if (k->retired) { /* fenced: nothing to leave or commit */
		rd_kafka_destroy_flags(k->retired, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		k->retired = NULL;
	}
	if (k->swap_lock_init) {
		pthread_mutex_destroy(&k->swap_lock);
		k->swap_lock_init = false;
	}
	for (int s = 0; s < SC_STREAM__COUNT; s++)
		if (k->rkt[s]) {
			rd_kafka_topic_destroy(k->rkt[s]);
			k->rkt[s] = NULL;
		}
	if (k->producer) {
		rd_kafka_destroy(k->producer);
		k->producer = NULL;
	}
	if (k->pconf) {
		rd_kafka_conf_destroy(k->pconf);
		k->pconf = NULL;
	}
}

/* ---- producer ---------------------------------------------------------- */

static int kafka_producer_start(struct kafka_priv *k, struct sc_error *err)
{
	char errstr[512];

	k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, k->pconf, errstr, sizeof(errstr));
	if (!k->producer)
		return sc_error_set(err, SC_EINVAL, "kafka: cannot create producer: %s", errstr);
	k->pconf = NULL; /* rd_kafka_new owns it now */
	return 0;
}

/* Runs from rd_kafka_poll()/rd_kafka_flush() in the caller's thread. */
static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct kafka_priv *k = opaque;

	(void)rk;
	if (!rkm->err) {
		/* once per message: a locked store only when the flag changes */
		if (atomic_load_explicit(&k->brokers_down, memory_order_relaxed))
			atomic_store(&k->brokers_down, false);
		if (!atomic_load_explicit(&k->opened, memory_order_relaxed))
			atomic_store(&k->opened, true);
		return;
	}
	if (k->failed++ == 0)
		snprintf(k->fail_reason, sizeof(k->fail_reason), "%s (topic %s)",
			 rd_kafka_err2str(rkm->err), rd_kafka_topic_name(rkm->rkt));
	k->undelivered_total++;
}

static int kafka_fatal(struct kafka_priv *k, rd_kafka_t *rk, struct sc_error *err)
{
	char why[512];
	rd_kafka_resp_err_t e;

	if (!atomic_load(&k->fatal))
		return 0;
	e = rd_kafka_fatal_error(rk, why, sizeof(why));
	if (!e)
		return 0;
	if (e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
		return sc_error_set(err, SC_EIO,
				    "kafka: fenced: another instance joined with group.instance.id "
				    "'%s' (give each instance its own)",
				    kafka_instance_id(k->cfg) ? kafka_instance_id(k->cfg) : "");
	return sc_error_set(err, SC_EIO, "kafka: fatal %s error: %s (%s)",
			    rk == k->producer ? "producer" : "consumer", why, rd_kafka_err2name(e));
}

/*
 * A static member fenced after trouble with the brokers joins again with a
 * new consumer (0), else the fence is final (-SC_EIO, as kafka_fatal says).
 *
 * Why.  librdkafka 2.0.2 fences its own static member when the group
 * coordinator comes back after a broker restart: its session times out on
 * the client side, it joins again under a new member id, and a request still
 * carrying the old id is answered FENCED_INSTANCE_ID, which librdkafka makes
 * fatal (librdkafka issue 3437 reports the same sequence).  A new consumer
 * with the same group.instance.id takes the member's place and its
 * partitions, as a restarted process would.  A second process with the same
 * id fences a healthy member instead - one that saw no connection error in
 * the KAFKA_TROUBLE_S before - and that fence stays fatal, so two instances
 * sharing an id do not fence each other in turn.  At most KAFKA_REJOIN_MAX
 * rejoins per KAFKA_REJOIN_WINDOW_S.
 *
 * What is delivered.  The messages polled from the fenced consumer and not
 * yet committed are read again by the new one from the last committed
 * offsets (commit() of an old message stores nothing): at-least-once, as
 * after a crash.  The fenced consumer is destroyed once its messages are
 * released (it cannot commit or leave the group anyway).
 */
static int kafka_rejoin(struct kafka_priv *k, struct sc_error *err)
{
	int64_t now = sc_mono_ns(), trouble = atomic_load(&k->trouble_ns);
	rd_kafka_t *rk = NULL, *old;
	struct sc_error why = {0};
	int rc;

	if (rd_kafka_fatal_error(k->consumer, NULL, 0) != RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID ||
	    !kafka_instance_id(k->cfg) || !trouble ||
	    now - trouble > KAFKA_TROUBLE_S * 1000000000LL || k->retired_held > 0)
		return -SC_EIO;
	if (now - k->rejoin_since_ns > KAFKA_REJOIN_WINDOW_S * 1000000000LL) {
		k->rejoin_since_ns = now;
		k->rejoins = 0;
	}
	if (k->rejoins >= KAFKA_REJOIN_MAX)
		return -SC_EIO;
	k->rejoins++;
	fprintf(stderr,
		"kafka: static member '%s' was fenced after the brokers failed; joining "
		"again (%d of at most %d in %d s)\n",
		kafka_instance_id(k->cfg), k->rejoins, KAFKA_REJOIN_MAX, KAFKA_REJOIN_WINDOW_S);
	rc = kafka_consumer_new(k, &rk, &why);
	if (rc) {
		if (rk)
			rd_kafka_destroy(rk);
		return sc_error_set(err, -rc, "kafka: joining again after the fence: %s", why.msg);
	}
	pthread_mutex_lock(&k->swap_lock);
	old = k->consumer;
	k->consumer = rk;
	pthread_mutex_unlock(&k->swap_lock);
	if (k->retired)
		rd_kafka_destroy_flags(k->retired, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	k->retired = old;
	k->retired_held = k->held;
	k->held = 0;
	if (!k->retired_held) {
		rd_kafka_destroy_flags(k->retired, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		k->retired = NULL;
	}
	/* the producer has its own fatal state, which kafka_fatal reads from it */
	atomic_store(&k->fatal, k->producer && rd_kafka_fatal_error(k->producer, NULL, 0));
	atomic_store(&k->lag_at_ns, 0);
	return 0;
}

/* The consumer's fatal error, after a rejoin where one is due (kafka_rejoin). */
static int kafka_consumer_fatal(struct kafka_priv *k, struct sc_error *err)
{
	struct sc_error why = {0};
	int rc = kafka_fatal(k, k->consumer, &why);

	if (!rc)
		return 0;
	if (kafka_rejoin(k, err) == 0)
		return 0;
	if (err && !err->code)
		*err = why;
	return rc;
}

/* The producer and the topic handle for stream s, creating either if needed. */
static int kafka_stream_ready(struct kafka_priv *k, enum sc_stream s, struct sc_error *err)
{
	const char *name = k->topics[s];
	int rc;

	if (!k->producer) {
		rc = kafka_producer_start(k, err);
		if (rc)
			return rc;
	}
	if (!k->topic_ready[s] && s != SC_STREAM_EXTERNAL) {
		rc = kafka_ensure_topics(k, k->producer, &name, 1, err);
		if (rc)
			return rc;
	}
	k->topic_ready[s] = true;
	if (!k->rkt[s]) {
		k->rkt[s] = rd_kafka_topic_new(k->producer, name, NULL);
		if (!k->rkt[s])
			return sc_error_set(err, SC_EIO, "kafka: topic %s: %s", name,
					    rd_kafka_err2str(rd_kafka_last_error()));
	}
	return 0;
}

static int kafka_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct kafka_priv *k = t->priv;
	int64_t deadline = 0, ts_ms;
	rd_kafka_resp_err_t e;
	int rc;

	if ((unsigned int)m->stream >= SC_STREAM__COUNT || !k->topics[m->stream][0])
		return sc_error_set(err, SC_EINVAL, "kafka: stream %s has no topic",
				    sc_stream_name(m->stream) ? sc_stream_name(m->stream) : "?");
	/*
	 * The message timestamp is the event time, but never in the future:
	 * brokers refuse timestamps more than log.message.timestamp.after.max.ms
	 * ahead (1 h by default since Kafka 4.0), and the sensor simulator at
	 * --rate=0 runs its event clock ahead of the wall clock.
	 */
	ts_ms = m->timestamp_ns > 0 ? m->timestamp_ns / 1000000 : 0;
	if (ts_ms > k->now_ms_seen) { /* the clock only moves on: read it when needed */
		k->now_ms_seen = sc_now_ns() / 1000000;
		if (ts_ms > k->now_ms_seen)
			ts_ms = k->now_ms_seen;
	}
	rc = kafka_stream_ready(k, m->stream, err);
	/*
	 * Serve delivery reports and errors (failures, healthy(), fatal) every
	 * KAFKA_POLL_EVERY messages: one rd_kafka_poll() serves all that queued
	 * up, and flush(), poll() and a full queue serve them too.
	 */
	if (k->producer && ++k->since_poll >= KAFKA_POLL_EVERY) {
		k->since_poll = 0;
		rd_kafka_poll(k->producer, 0);
	}
	if (!rc)
		rc = kafka_fatal(k, k->producer, err);
	if (rc)
		return rc;
	for (;;) {
		e = rd_kafka_producev(
			k->producer, RD_KAFKA_V_RKT(k->rkt[m->stream]),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_VALUE((void *)m->payload, m->len),
			RD_KAFKA_V_KEY((const void *)m->key, m->key ? strlen(m->key) : 0),
			RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		if (!deadline)
			deadline = sc_mono_ns() + KAFKA_BACKPRESSURE_NS;
		else if (sc_mono_ns() >= deadline)
			return sc_error_set(
				err, SC_ETIMEDOUT,
				"kafka: local queue still full after 30 s: the brokers at "
				"%s do not keep up",
				k->brokers);
		if (sc_stop_requested())
			return sc_error_set(err, SC_EINTR,
					    "kafka: stop requested while the local queue was full");
		rd_kafka_poll(k->producer, 10);
	}
	if (e == RD_KAFKA_RESP_ERR__FATAL && kafka_fatal(k, k->producer, err))
		return -SC_EIO;
	if (e)
		return sc_error_set(err, kafka_errcode(e), "kafka: cannot publish to %s: %s",
				    k->topics[m->stream], rd_kafka_err2str(e));
	return 0;
}

static int kafka_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct kafka_priv *k = t->priv;
	rd_kafka_resp_err_t e;
	uint64_t failed;
	int rc;

	if (!k->producer)
		return 0;
	e = rd_kafka_flush(k->producer, timeout_ms);
	rc = kafka_fatal(k, k->producer, err);
	if (rc)
		return rc;
	if (k->failed) {
		failed = k->failed;
		k->failed = 0;
		return sc_error_set(err, SC_EIO,
				    "kafka: %" PRIu64 " message(s) failed delivery: %s", failed,
				    k->fail_reason);
	}
	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return sc_error_set(err, SC_ETIMEDOUT,
				    "kafka: %d message(s) not acknowledged by %s after %d ms",
				    rd_kafka_outq_len(k->producer), k->brokers, timeout_ms);
	return 0;
}

/* ---- consumer ---------------------------------------------------------- */

/*
 * Runs inside rd_kafka_consumer_poll() and rd_kafka_consumer_close().  On
 * revoke, offsets stored by commit() are committed synchronously first, so
 * the next owner starts right after the last message this one finished.
 */
static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			       rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka_priv *k = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_resp_err_t ce;
	rd_kafka_error_t *error = NULL;

	atomic_store(&k->lag_at_ns, 0);
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		atomic_store(&k->brokers_down, false);
		if (coop)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
	} else {
		ce = rd_kafka_commit(rk, NULL, 0);
		if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
			fprintf(stderr, "kafka: commit before giving up partitions: %s\n",
				rd_kafka_err2str(ce));
		if (coop)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
	if (error) {
		fprintf(stderr, "kafka: rebalance: %s\n", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
}

static enum sc_stream kafka_stream_of(const struct kafka_priv *k, const char *topic)
{
	for (int s = 0; s < SC_STREAM__COUNT; s++)
		if (k->topics[s][0] && strcmp(k->topics[s], topic) == 0)
			return (enum sc_stream)s;
	return SC_STREAM_EXTERNAL;
}

static int kafka_fill(struct kafka_priv *k, rd_kafka_message_t *rkm, struct sc_msg *out,
		      struct sc_error *err)
{
	size_t klen = rkm->key ? rkm->key_len : 0;
	struct kafka_held *h = malloc(sizeof(*h) + klen + 1);
	rd_kafka_timestamp_type_t tstype;
	int64_t ts;

	if (!h) {
		rd_kafka_message_destroy(rkm);
		return sc_error_set(err, SC_ENOMEM, "kafka: out of memory");
	}
	h->rkm = rkm;
	h->rk = k->consumer;
	k->held++;
	if (klen)
		memcpy(h->key, rkm->key, klen);
	h->key[klen] = '\0';
	out->stream = kafka_stream_of(k, rd_kafka_topic_name(rkm->rkt));
	out->payload = rkm->payload;
	out->len = rkm->len;
	out->key = rkm->key ? h->key : NULL;
	ts = rd_kafka_message_timestamp(rkm, &tstype);
	out->timestamp_ns = tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts > 0 ? ts * 1000000 : 0;
	out->handle = h;
	out->token = (uint64_t)rkm->offset;
	atomic_store(&k->brokers_down, false);
	return 1;
}

/* 0: go on polling; < 0: report. */
static int kafka_consume_error(struct kafka_priv *k, const rd_kafka_message_t *rkm,
			       struct sc_error *err)
{
	const char *topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : NULL;
	int64_t now;

	switch (rkm->err) {
	case RD_KAFKA_RESP_ERR__PARTITION_EOF: return 0;
	case RD_KAFKA_RESP_ERR__FATAL:
		atomic_store(&k->fatal, true);
		if (!rd_kafka_fatal_error(k->consumer, NULL, 0))
			return sc_error_set(err, SC_EIO, "kafka: fatal consumer error: %s",
					    rd_kafka_message_errstr(rkm));
		return 0; /* kafka_poll's next round reports it, or joins again, once rkm is gone */
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
		return sc_error_set(err, SC_EAUTH, "kafka: consumer%s%s: %s", topic ? " of " : "",
				    topic ? topic : "", rd_kafka_message_errstr(rkm));
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
		return sc_error_set(err, SC_EINVAL, "kafka: consumer: %s",
				    rd_kafka_message_errstr(rkm));
	default:
		/* transient (broker down, unknown topic for now ...): librdkafka retries */
		now = sc_mono_ns();
		if (now - k->last_transient_ns >= 10 * 1000000000LL) {
			k->last_transient_ns = now;
			fprintf(stderr, "kafka: consumer%s%s: %s (retrying)\n", topic ? " of " : "",
				topic ? topic : "", rd_kafka_message_errstr(rkm));
		}
		return 0;
	}
}

/*
 * The first round does not wait and reads no clock: under load a message is
 * usually there already.  Only when none is does the deadline start.
 */
static int kafka_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct kafka_priv *k = t->priv;
	int64_t deadline = 0;
	rd_kafka_message_t *rkm;
	int rc;

	if (!k->consumer)
		return sc_error_set(err, SC_EINVAL, "kafka: poll without inputs");
	for (;;) {
		int slice = 0;

		if (deadline) {
			int64_t left = deadline - sc_mono_ns();
			slice = left <= 0				 ? 0
				: left < KAFKA_POLL_SLICE_MS * 1000000LL ? (int)(left / 1000000)
									 : KAFKA_POLL_SLICE_MS;
		}
		/* the producer's reports: when about to wait, else every KAFKA_POLL_EVERY */
		if (k->producer && (slice > 0 || ++k->since_poll >= KAFKA_POLL_EVERY)) {
			k->since_poll = 0;
			rd_kafka_poll(k->producer, 0);
		}
		rc = kafka_consumer_fatal(k, err);
		if (rc)
			return rc;
		rkm = rd_kafka_consumer_poll(k->consumer, slice);
		if (rkm && !rkm->err)
			return kafka_fill(k, rkm, out, err);
		if (rkm) {
			rc = kafka_consume_error(k, rkm, err);
			rd_kafka_message_destroy(rkm);
			if (rc)
				return rc;
		}
		if (sc_stop_requested())
			return 0;
		if (!deadline) {
			if (timeout_ms == 0)
				return 0;
			deadline =
				timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + timeout_ms * 1000000LL;
		} else if (sc_mono_ns() >= deadline) {
			return 0;
		}
	}
}

/* Store offset+1 of m's partition; committed by auto-commit, revoke or close. */
static int kafka_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct kafka_priv *k = t->priv;
	const struct kafka_held *h = m->handle;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_topic_partition_t *p;
	rd_kafka_resp_err_t e;
	int rc = 0;

	if (!h)
		return sc_error_set(err, SC_EINVAL,
				    "kafka: commit of a message not polled or "
				    "already released");
	if (k->auto_store || h->rk != k->consumer)
		return 0; /* polled before a rejoin: the new member reads it again (kafka_rejoin) */
	/*
	 * A new list per call: librdkafka caches the partition's handle in the
	 * element (its _private field), so a list reused for another partition
	 * stores the offset on the partition it was first used for - offsets
	 * skipped, records lost (seen in CI with two consumers in a group).
	 */
	parts = rd_kafka_topic_partition_list_new(1);
	p = rd_kafka_topic_partition_list_add(parts, rd_kafka_topic_name(h->rkm->rkt),
					      h->rkm->partition);
	p->offset = h->rkm->offset + 1;
	e = rd_kafka_offsets_store(k->consumer, parts);
	if (!e)
		e = p->err;
	if (e && e != RD_KAFKA_RESP_ERR__STATE) /* __STATE: partition revoked meanwhile */
		rc = sc_error_set(err, kafka_errcode(e),
				  "kafka: cannot store offset %" PRId64 " of %s [%" PRId32 "]: %s",
				  p->offset, p->topic, p->partition, rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}

static void kafka_release(struct transport *t, struct sc_msg *m)
{
	struct kafka_priv *k = t->priv;
	struct kafka_held *h = m->handle;

	if (!h)
		return;
	rd_kafka_message_destroy(h->rkm);
	if (h->rk == k->consumer) {
		k->held--;
	} else if (h->rk == k->retired && --k->retired_held == 0) {
		rd_kafka_destroy_flags(k->retired, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		k->retired = NULL;
	}
	free(h);
	m->handle = NULL;
}

/* ---- lag and health ---------------------------------------------------- */

/*
 * Sum over the assigned partitions of (high watermark - position), from
 * librdkafka's cached fetch state (no request), recomputed at most once a
 * second.  Partitions not fetched from yet are not counted; -1 when no
 * assigned partition is known yet.  Any thread.
 */
static int64_t kafka_lag(struct transport *t)
{
	struct kafka_priv *k = t->priv;
	rd_kafka_topic_partition_list_t *parts = NULL;
	int64_t now = sc_mono_ns(), sum = 0, lo, hi, lag;
	int known = 0;

	rd_kafka_t *rk;

	if (now - atomic_load(&k->lag_at_ns) < 1000000000LL)
		return atomic_load(&k->lag_cached);
	pthread_mutex_lock(&k->swap_lock); /* the consumer stays while we use it */
	rk = k->consumer;
	if (!rk || rd_kafka_assignment(rk, &parts)) {
		pthread_mutex_unlock(&k->swap_lock);
		return -1;
	}
	rd_kafka_position(rk, parts);
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];

		if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) ||
		    hi < 0 || p->offset < 0)
			continue;
		sum += hi > p->offset ? hi - p->offset : 0;
		known++;
	}
	pthread_mutex_unlock(&k->swap_lock);
	lag = parts->cnt == 0 ? 0 : known ? sum : -1;
	rd_kafka_topic_partition_list_destroy(parts);
	atomic_store(&k->lag_cached, lag);
	atomic_store(&k->lag_at_ns, now);
	return lag;
}

/*
 * False after a fatal error, or once librdkafka reported all brokers down
 * until something proves otherwise: a delivery, a message, an assignment,
 * or a metadata probe (at most one a second, 500 ms bound).  Any thread.
 */
static bool kafka_healthy(struct transport *t)
{
	struct kafka_priv *k = t->priv;
	const struct rd_kafka_metadata *md;
	int64_t now = sc_mono_ns();
	rd_kafka_t *rk;
	rd_kafka_resp_err_t e;

	if (atomic_load(&k->fatal))
		return false;
	if (!atomic_load(&k->brokers_down))
		return true;
	if (now - atomic_load(&k->last_probe_ns) < 1000000000LL)
		return false;
	atomic_store(&k->last_probe_ns, now);
	pthread_mutex_lock(&k->swap_lock); /* the consumer stays while we use it */
	rk = k->consumer ? k->consumer : k->producer;
	e = rk ? rd_kafka_metadata(rk, 0, NULL, &md, 500) : RD_KAFKA_RESP_ERR__STATE;
	pthread_mutex_unlock(&k->swap_lock);
	if (e)
		return false;
	rd_kafka_metadata_destroy(md);
	atomic_store(&k->brokers_down, false);
	return true;
}

/* ---- vtable ------------------------------------------------------------ */

const struct transport_ops transport_kafka = {
	.name = "kafka",
	.summary = "Apache Kafka via librdkafka: partitioned replayable log, consumer groups",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_COMMIT |
		TRANSPORT_CAP_CONFIRM | TRANSPORT_CAP_REPLAY | TRANSPORT_CAP_GROUPS |
		TRANSPORT_CAP_LAG,
	.priv_size = sizeof(struct kafka_priv),
	.opts = kafka_opts,
	.open = kafka_open,
	.publish = kafka_publish,
	.poll = kafka_poll,
	.commit = kafka_commit,
	.flush = kafka_flush,
	.release = kafka_release,
	.lag = kafka_lag,
	.healthy = kafka_healthy,
	.close = kafka_close,
};

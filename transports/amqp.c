/*
 * amqp.c - the AMQP 0-9-1 backend (RabbitMQ, rabbitmq-c 0.11): broker-side
 * routing through a topic exchange into durable work queues, push with
 * prefetch, competing consumers, per-message ack.  This file holds the
 * consumer, open/close and the vtable; the connection layer is in
 * amqp_conn.c, the publisher in amqp_pub.c, names and design in amqp_int.h.
 *
 * Broker URI: amqp://user:password@host:port/vhost, default
 * amqp://guest:guest@127.0.0.1:5672/ (an empty vhost means "/"), or
 * amqps://... for TLS (default port 5671).  The password may also come from
 * STREAMCTL_BROKER_PASSWORD or --password-file (transport_password()).  -X
 * keys: prefetch, heartbeat (s, default 60, 0 off), channel_max, frame_max,
 * reconnect.timeout.ms (default 60000), confirm.window (default 1000, also
 * --inflight), quorum (also --quorum), and the TLS keys of transport.h: tls.ca (default
 * $SSL_CERT_FILE or the system bundle), tls.cert + tls.key, tls.insecure.
 * With TLS the broker's certificate and host name are verified unless
 * tls.insecure=true.
 *
 * Consumer: basic.qos prefetch (-X prefetch or --prefetch, default 2000) and one
 * basic.consume with manual ack per input stream, on channel 1 of the
 * consumer connection, with the stream name as consumer tag.  Several
 * processes consuming one stream are competing consumers of its queue.
 * SC_STREAM_EXTERNAL consumes the existing queue named cfg->external_topic.
 * poll() hands out a heap copy of the delivery (struct amqpb_delivery) as
 * msg.handle with the delivery tag as msg.token; it stays valid, payload
 * and key included, until transport_msg_release(), even across reconnects.
 *
 * Acks.  commit() of the delivery that follows every delivery already
 * committed on this connection (the usual case: runtime commits a batch in
 * delivery order) sends nothing yet; the next poll() or close() sends one
 * basic.ack with multiple=true for the highest such tag (lag() sends it too,
 * before it asks the broker), so a batch of 500
 * costs one ack frame (and one write) instead of 500.  An out-of-order
 * commit sends any deferred ack first, then its own single ack.  A crash
 * before the deferred ack went out redelivers those messages: at-least-once
 * as before, replays refused downstream.
 *
 * Connection loss: the next poll() reconnects with backoff, redeclares and
 * consumes again; the broker redelivers what was not acked (REDELIVERED
 * flag).  Delivery tags belong to a connection, so commit() of a message
 * delivered on an earlier connection is a successful no-op: that message
 * comes again.  A failed ack is treated the same way (at-least-once).
 *
 * Map:  consumer setup - poll - commit and release - lag - vtable
 */
#include "amqp_int.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What poll() hands out as msg.handle. */
struct amqpb_delivery {
	amqp_envelope_t env;
	uint64_t gen; /* consumer connection generation it came on */
	bool acked;
	char key[SC_KEY_MAX];
};

/* ---- consumer setup ----------------------------------------------------- */

static int amqpb_input_queue(struct transport *t, enum sc_stream s, char *buf, size_t size,
			     struct sc_error *err)
{
	struct amqpb *b = t->priv;

	if (s != SC_STREAM_EXTERNAL) {
		amqpb_queue_name(&b->o, s, buf, size);
		return 0;
	}
	if (!t->cfg.external_topic || !*t->cfg.external_topic)
		return sc_error_set(err, SC_EINVAL,
				    "amqp: the external stream needs the name of a queue to read");
	sc_strlcpy(buf, t->cfg.external_topic, size);
	return 0;
}

/* After (re)connecting the consumer: prefetch, topology, one consumer per input. */
static int amqpb_con_setup(struct transport *t, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_conn *c = &b->con.conn;
	char queue[256];
	int rc;

	b->con.acked_thru = 0; /* delivery tags restart on a new connection */
	b->con.ack_upto = 0;
	amqp_basic_qos(c->st, AMQPB_DATA_CH, 0, (uint16_t)b->o.prefetch, 0);
	rc = amqpb_reply_error(c, AMQPB_DATA_CH, amqp_get_rpc_reply(c->st), err,
			       "cannot set prefetch %d", b->o.prefetch);
	for (int s = 0; !rc && s < SC_STREAM__COUNT; s++) {
		if (!(t->cfg.inputs & SC_STREAM_BIT(s)))
			continue;
		rc = amqpb_input_queue(t, (enum sc_stream)s, queue, sizeof(queue), err);
		if (rc)
			break;
		if (s == SC_STREAM_EXTERNAL) {
			if (amqpb_queue_ready(c, queue) < 0)
				rc = sc_error_set(err, SC_EINVAL,
						  "amqp: external queue '%s' does not exist",
						  queue);
		} else {
			rc = amqpb_declare_stream(&b->o, c, (enum sc_stream)s, err);
		}
		if (rc)
			break;
		amqp_basic_consume(c->st, AMQPB_DATA_CH, amqp_cstring_bytes(queue),
				   amqp_cstring_bytes(sc_stream_name((enum sc_stream)s)), 0, 0, 0,
				   amqp_empty_table);
		rc = amqpb_reply_error(c, AMQPB_DATA_CH, amqp_get_rpc_reply(c->st), err,
				       "cannot consume from queue %s", queue);
	}
	return rc;
}

/* ---- poll --------------------------------------------------------------- */

static enum sc_stream amqpb_stream_of(const struct transport *t, amqp_bytes_t tag)
{
	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		const char *name = sc_stream_name((enum sc_stream)s);
		if ((t->cfg.inputs & SC_STREAM_BIT(s)) && strlen(name) == tag.len &&
		    memcmp(name, tag.bytes, tag.len) == 0)
			return (enum sc_stream)s;
	}
	return SC_STREAM_EXTERNAL;
}

static int64_t amqpb_timestamp(const amqp_basic_properties_t *p)
{
	if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
		for (int i = 0; i < p->headers.num_entries; i++) {
			const amqp_table_entry_t *e = &p->headers.entries[i];
			if (e->key.len == 5 && memcmp(e->key.bytes, "ts_ns", 5) == 0 &&
			    e->value.kind == AMQP_FIELD_KIND_I64)
				return e->value.value.i64;
		}
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		return (int64_t)p->timestamp * 1000000000;
	return 0;
}

static void amqpb_fill(struct transport *t, struct amqpb_delivery *d, struct sc_msg *out)
{
	amqp_bytes_t rk = d->env.routing_key;
	enum sc_stream s = amqpb_stream_of(t, d->env.consumer_tag);
	const char *name = sc_stream_name(s);
	size_t nlen = strlen(name);

	out->stream = s;
	out->payload = d->env.message.body.bytes;
	out->len = d->env.message.body.len;
	if (s != SC_STREAM_EXTERNAL && rk.len > nlen + 1 && memcmp(rk.bytes, name, nlen) == 0 &&
	    ((const char *)rk.bytes)[nlen] == '.')
		snprintf(d->key, sizeof(d->key), "%.*s", (int)(rk.len - nlen - 1),
			 (const char *)rk.bytes + nlen + 1);
	else if (s == SC_STREAM_EXTERNAL && rk.len)
		snprintf(d->key, sizeof(d->key), "%.*s", (int)rk.len, (const char *)rk.bytes);
	out->key = d->key[0] ? d->key : NULL;
	out->timestamp_ns = amqpb_timestamp(&d->env.message.properties);
	out->flags = d->env.redelivered ? SC_MSG_REDELIVERED : 0;
	out->handle = d;
	out->token = d->env.delivery_tag;
}

/* A frame other than basic.deliver arrived on the consumer connection. */
static void amqpb_con_other_frame(struct amqpb_conn *c)
{
	struct timeval zero = {0};
	struct sc_error ignored;
	amqp_frame_t f;
	int status;

	status = amqp_simple_wait_frame_noblock(c->st, &f, &zero);
	if (status == AMQP_STATUS_TIMEOUT)
		return;
	if (status != AMQP_STATUS_OK) {
		amqpb_status_error(c, status, &ignored, "consumer connection lost");
		return;
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return;
	if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
	    f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)
		amqpb_handle_close(c, &f, &ignored);
	else if (f.payload.method.id == AMQP_BASIC_CANCEL_METHOD)
		amqpb_conn_drop(c); /* queue deleted: reconnect redeclares it */
}

/* Send the deferred basic.ack (multiple=true), if any; a failure means redelivery. */
static void amqpb_ack_flush(struct amqpb *b)
{
	struct amqpb_conn *c = &b->con.conn;
	struct sc_error ignored;
	uint64_t tag = b->con.ack_upto;
	int status;

	if (!tag || !c->up)
		return;
	b->con.ack_upto = 0;
	status = amqp_basic_ack(c->st, AMQPB_DATA_CH, tag, 1);
	if (status != AMQP_STATUS_OK) {
		amqpb_status_error(c, status, &ignored, "cannot ack");
		return;
	}
	c->last_send_ns = sc_mono_ns();
}

/*
 * Wait for one delivery up to timeout_ms (< 0: until one comes or a stop is
 * requested), in slices of at most a second so both connections get their
 * heartbeats and pending confirms are read.
 */
static int amqpb_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_conn *c = &b->con.conn;
	int64_t deadline =
		timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	struct amqpb_delivery *d;
	amqp_rpc_reply_t r;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return sc_error_set(err, SC_ENOMEM, "amqp: out of memory");
	amqpb_ack_flush(b);
	for (;;) {
		int64_t left;
		struct timeval tv;

		amqpb_pub_service(t, timeout_ms < 0 || timeout_ms >= 10);
		if (!c->up) {
			rc = amqpb_reconnect(t, c, amqpb_con_setup, err);
			if (rc) {
				free(d);
				return rc;
			}
		}
		amqpb_keepalive(&b->o, c);
		left = deadline - sc_mono_ns();
		left = left < 0 ? 0 : left > 1000000000 ? 1000000000 : left;
		/*
		 * rabbitmq-c waits in whole milliseconds and rounds a shorter
		 * timeout down to none: the loop then spun until the deadline
		 * (61,029 poll() calls for 2,000 records at prefetch 1).
		 */
		left = (left + 999999) / 1000000 * 1000000;
		tv.tv_sec = (time_t)(left / 1000000000);
		tv.tv_usec = (suseconds_t)(left % 1000000000 / 1000);
		amqp_maybe_release_buffers(c->st);
		r = amqp_consume_message(c->st, &d->env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL) {
			d->gen = c->gen;
			amqpb_fill(t, d, out);
			return 1;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_UNEXPECTED_STATE)
			amqpb_con_other_frame(c);
		else if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
			 r.library_error != AMQP_STATUS_TIMEOUT)
			amqpb_reply_error(c, AMQPB_DATA_CH, r, err, "consumer connection lost");
		if (c->up && (sc_mono_ns() >= deadline || sc_stop_requested())) {
			free(d);
			return 0;
		}
	}
}

/* ---- commit and release ------------------------------------------------- */

static int amqpb_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_conn *c = &b->con.conn;
	struct amqpb_delivery *d = m->handle;
	struct sc_error ignored;
	int status;

	if (!d)
		return sc_error_set(err, SC_EINVAL,
				    "amqp: commit of a message poll() did not give");
	if (d->acked || d->gen != c->gen || !c->up)
		return 0; /* stale delivery tag: the broker redelivers the message */
	d->acked = true;
	if (d->env.delivery_tag == b->con.acked_thru + 1) {
		b->con.acked_thru = d->env.delivery_tag;
		b->con.ack_upto = d->env.delivery_tag; /* sent by the next poll() or close() */
		return 0;
	}
	amqpb_ack_flush(b);
	if (!c->up)
		return 0;
	status = amqp_basic_ack(c->st, AMQPB_DATA_CH, d->env.delivery_tag, 0);
	if (status != AMQP_STATUS_OK) {
		amqpb_status_error(c, status, &ignored, "cannot ack");
		return 0; /* ditto: redelivered after the reconnect */
	}
	c->last_send_ns = sc_mono_ns();
	return 0;
}

static void amqpb_release(struct transport *t, struct sc_msg *m)
{
	struct amqpb_delivery *d = m->handle;

	(void)t;
	if (!d)
		return;
	amqp_destroy_envelope(&d->env);
	free(d);
}

/* ---- lag ---------------------------------------------------------------- */

/* Ready messages in the consumed queues, refreshed at most once a second. */
static int64_t amqpb_lag(struct transport *t)
{
	struct amqpb *b = t->priv;
	struct amqpb_con *con = &b->con;
	int64_t now = sc_mono_ns(), sum = 0;
	char queue[256];

	if (!t->cfg.inputs)
		return -1;
	if (con->lag_at_ns && now - con->lag_at_ns < 1000000000)
		return con->lag;
	amqpb_ack_flush(b); /* committed messages are not ready ones */
	if (!con->conn.up)
		return con->lag_at_ns ? con->lag : -1;
	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		int64_t n;
		if (!(t->cfg.inputs & SC_STREAM_BIT(s)) ||
		    amqpb_input_queue(t, (enum sc_stream)s, queue, sizeof(queue), NULL))
			continue;
		n = amqpb_queue_ready(&con->conn, queue);
		if (n < 0)
			return con->lag_at_ns ? con->lag : -1;
		sum += n;
	}
	con->lag = sum;
	con->lag_at_ns = now;
	return sum;
}

/* ---- vtable ------------------------------------------------------------- */

static bool amqpb_healthy(struct transport *t)
{
	struct amqpb *b = t->priv;

	if (t->cfg.inputs && !b->con.conn.up)
		return false;
	return b->pub.conn.gen == 0 || b->pub.conn.up;
}

static int amqpb_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	int rc;

	b->pub.conn.what = "publisher";
	b->con.conn.what = "consumer";
	rc = amqpb_opts_parse(&b->o, cfg, err);
	if (rc)
		return rc;
	if ((cfg->inputs & SC_STREAM_BIT(SC_STREAM_EXTERNAL)) &&
	    (!cfg->external_topic || !*cfg->external_topic))
		return sc_error_set(err, SC_EINVAL,
				    "amqp: the external stream needs the name of a queue to read");
	if (!cfg->inputs)
		return amqpb_pub_open(t, err);
	/* The publisher connection of a consuming role opens on its first publish. */
	rc = amqpb_connect(&b->o, &b->con.conn, err);
	if (!rc)
		rc = amqpb_con_setup(t, err);
	return rc;
}

static int amqpb_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	return amqpb_pub_publish(t, m, err);
}

static int amqpb_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	return amqpb_pub_flush(t, timeout_ms, err);
}

static void amqpb_close(struct transport *t)
{
	struct amqpb *b = t->priv;

	if (!b)
		return;
	amqpb_ack_flush(b);
	amqpb_pub_close(t);
	amqpb_conn_close(&b->con.conn);
}

const struct transport_ops transport_amqp = {
	.name = "amqp",
	.summary = "RabbitMQ (AMQP 0-9-1): topic exchange, durable work queues, confirms, acks",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_COMMIT |
		TRANSPORT_CAP_CONFIRM | TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG,
	.priv_size = sizeof(struct amqpb),
	.opts = amqpb_opts,
	.open = amqpb_open,
	.publish = amqpb_publish,
	.poll = amqpb_poll,
	.commit = amqpb_commit,
	.flush = amqpb_flush,
	.release = amqpb_release,
	.lag = amqpb_lag,
	.healthy = amqpb_healthy,
	.close = amqpb_close,
};

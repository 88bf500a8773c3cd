/*
 * amqp_pub.c - the amqp backend's publisher: persistent messages with
 * publisher confirms, a bounded window of unconfirmed publishes, re-send
 * after reconnect.
 *
 * Every publish is copied into a ring of -X confirm.window entries (--inflight,
 * default 1000) and sent at once with mandatory=true; the broker answers each with
 * basic.ack or basic.nack (possibly `multiple`), and an unroutable message
 * with basic.return before its ack.  When the ring is full publish() reads
 * confirms until there is room (backpressure); flush() reads them until the
 * ring is empty.  Ring entry i holds publish sequence number base_seq + i,
 * so a confirm finds its entry in O(1).  After a connection loss the ring
 * is re-sent in order on the new connection and renumbered from 1
 * (at-least-once: the broker may already hold some of them; duplicates are
 * refused downstream by (source, seq)).  Nacks and returns are counted and
 * reported by the next flush() as -SC_EIO.  When publish() fails because
 * the broker stayed away longer than reconnect.timeout.ms, its copy stays
 * in the ring and is still sent by a later successful reconnect.
 *
 * Sending.  rabbitmq-c 0.11's amqp_basic_publish() makes one send() per
 * frame: three system calls per message (method, content header, body).
 * On a plain TCP connection, and when the body fits one frame, the three
 * frames are encoded here with the library's own encoders into one buffer
 * and written with one send() (strace: 3 -> 1 sendto per publish).  TLS
 * connections and larger bodies take the library's path.  A write that
 * fails part-way leaves the stream broken, so the connection is dropped
 * and the reconnect re-sends the ring, as for any other send failure.
 *
 * Map:  ring - sending - confirms - publish and flush
 */
#include "amqp_int.h"
#include "error.h"

#include <amqp_framing.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- ring --------------------------------------------------------------- */

static struct amqpb_pending *amqpb_ring_at(struct amqpb_pub *p, size_t i)
{
	return &p->ring[(p->head + i) % p->cap];
}

static void amqpb_ring_pop_done(struct amqpb_pub *p)
{
	while (p->count && p->ring[p->head].done) {
		free(p->ring[p->head].data);
		p->ring[p->head].data = NULL;
		p->head = (p->head + 1) % p->cap;
		p->count--;
		p->base_seq++;
	}
}

/* Drop entries already confirmed out of order, keeping the others in order. */
static void amqpb_ring_compact(struct amqpb_pub *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->count; i++) {
		struct amqpb_pending *e = amqpb_ring_at(p, i);
		if (e->done) {
			free(e->data);
			e->data = NULL;
			continue;
		}
		if (kept != i) {
			*amqpb_ring_at(p, kept) = *e;
			e->data = NULL;
		}
		kept++;
	}
	p->count = kept;
}

static void amqpb_fail(struct amqpb_pub *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Count a nacked or returned message; the last reason is reported by flush. */
static void amqpb_fail(struct amqpb_pub *p, const char *fmt, ...)
{
	va_list ap;

	p->failed++;
	va_start(ap, fmt);
	vsnprintf(p->fail_reason, sizeof(p->fail_reason), fmt, ap);
	va_end(ap);
}

static void amqpb_confirm(struct amqpb_pub *p, uint64_t tag, bool multiple, bool nack)
{
	uint64_t first = multiple ? p->base_seq : tag;

	if (tag < p->base_seq || p->count == 0)
		return;
	if (tag >= p->base_seq + p->count)
		tag = p->base_seq + p->count - 1;
	for (uint64_t seq = first < p->base_seq ? p->base_seq : first; seq <= tag; seq++) {
		struct amqpb_pending *e = amqpb_ring_at(p, (size_t)(seq - p->base_seq));
		if (e->done)
			continue;
		e->done = true;
		if (nack)
			amqpb_fail(p, "nacked by the broker (routing key %s)", e->rk);
	}
	amqpb_ring_pop_done(p);
}

/* ---- sending ------------------------------------------------------------ */

static unsigned char *amqpb_put16(unsigned char *w, uint16_t v)
{
	w[0] = (unsigned char)(v >> 8);
	w[1] = (unsigned char)v;
	return w + 2;
}

static unsigned char *amqpb_put32(unsigned char *w, uint32_t v)
{
	amqpb_put16(w, (uint16_t)(v >> 16));
	return amqpb_put16(w + 2, (uint16_t)v);
}

static void amqpb_put64(unsigned char *w, uint64_t v)
{
	amqpb_put32(w, (uint32_t)(v >> 32));
	amqpb_put32(w + 4, (uint32_t)v);
}

/* All of buf to the (non-blocking) socket, waiting for room as the library does. */
static int amqpb_write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
		if (r > 0) {
			buf += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		return -1;
	}
	return 0;
}

/*
 * basic.publish, its content header and its one body frame encoded into
 * p->wbuf: the number of bytes, or 0 when the library must send it (TLS,
 * a body larger than a frame, an encoding that does not fit).
 */
static size_t amqpb_encode_publish(struct amqpb *b, const struct amqpb_pending *e,
				   amqp_basic_properties_t *props)
{
	struct amqpb_pub *p = &b->pub;
	amqp_connection_state_t st = p->conn.st;
	amqp_basic_publish_t m = {
		.exchange = amqp_cstring_bytes(b->o.ns),
		.routing_key = amqp_cstring_bytes(e->rk),
		.mandatory = 1,
	};
	size_t need = e->len + 2048, used;
	unsigned char *w;
	amqp_bytes_t out;
	int n;

	if (b->o.tls || e->len + 8 > (size_t)amqp_get_frame_max(st) || amqp_get_sockfd(st) < 0)
		return 0;
	if (p->wcap < need) {
		unsigned char *nb = realloc(p->wbuf, need);
		if (!nb)
			return 0;
		p->wbuf = nb;
		p->wcap = need;
	}
	w = p->wbuf;
	/* method frame: type, channel, size, method id, arguments, end */
	w[0] = AMQP_FRAME_METHOD;
	amqpb_put16(w + 1, AMQPB_DATA_CH);
	amqpb_put32(w + 7, AMQP_BASIC_PUBLISH_METHOD);
	out.bytes = w + 11;
	out.len = p->wcap - 11 - 1;
	n = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &m, out);
	if (n < 0)
		return 0;
	amqpb_put32(w + 3, (uint32_t)n + 4);
	w[11 + n] = AMQP_FRAME_END;
	used = 12 + (size_t)n;
	/* content header: class, weight 0, body size, properties */
	w = p->wbuf + used;
	w[0] = AMQP_FRAME_HEADER;
	amqpb_put16(w + 1, AMQPB_DATA_CH);
	amqpb_put16(w + 7, AMQP_BASIC_CLASS);
	amqpb_put16(w + 9, 0);
	amqpb_put64(w + 11, e->len);
	if (p->wcap < used + 20 + e->len + 8)
		return 0;
	out.bytes = w + 19;
	out.len = p->wcap - used - 20 - e->len - 8;
	n = amqp_encode_properties(AMQP_BASIC_CLASS, props, out);
	if (n < 0)
		return 0;
	amqpb_put32(w + 3, (uint32_t)n + 12);
	w[19 + n] = AMQP_FRAME_END;
	used += 20 + (size_t)n;
	/* one body frame (none for an empty body) */
	if (e->len) {
		w = p->wbuf + used;
		w[0] = AMQP_FRAME_BODY;
		amqpb_put16(w + 1, AMQPB_DATA_CH);
		amqpb_put32(w + 3, (uint32_t)e->len);
		memcpy(w + 7, e->data, e->len);
		w[7 + e->len] = AMQP_FRAME_END;
		used += 8 + e->len;
	}
	return used;
}

static int amqpb_send(struct amqpb *b, const struct amqpb_pending *e, struct sc_error *err)
{
	struct amqpb_conn *c = &b->pub.conn;
	amqp_basic_properties_t props;
	amqp_table_entry_t hdr[1];
	amqp_bytes_t body = {.len = e->len, .bytes = e->data};
	size_t i = 0, n;
	int status;

	while (i < e->len && (e->data[i] == ' ' || e->data[i] == '\n' || e->data[i] == '\t'))
		i++;
	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		       AMQP_BASIC_TIMESTAMP_FLAG;
	props.content_type = amqp_cstring_bytes(
		i < e->len && (e->data[i] == '{' || e->data[i] == '[') ? "application/json"
								       : "application/msgpack");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.timestamp = (uint64_t)((e->ts_ns ? e->ts_ns : sc_now_ns()) / 1000000000);
	if (e->ts_ns) {
		hdr[0].key = amqp_cstring_bytes("ts_ns");
		hdr[0].value.kind = AMQP_FIELD_KIND_I64;
		hdr[0].value.value.i64 = e->ts_ns;
		props.headers.num_entries = 1;
		props.headers.entries = hdr;
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
	}
	n = amqpb_encode_publish(b, e, &props);
	if (n) {
		if (amqpb_write_all(amqp_get_sockfd(c->st), b->pub.wbuf, n))
			return amqpb_status_error(c, AMQP_STATUS_SOCKET_ERROR, err,
						  "cannot publish to %s: %s", b->o.where,
						  strerror(errno));
		c->last_send_ns = sc_mono_ns();
		return 0;
	}
	status = amqp_basic_publish(c->st, AMQPB_DATA_CH, amqp_cstring_bytes(b->o.ns),
				    amqp_cstring_bytes(e->rk), 1, 0, &props, body);
	if (status != AMQP_STATUS_OK)
		return amqpb_status_error(c, status, err, "cannot publish to %s", b->o.where);
	c->last_send_ns = sc_mono_ns();
	return 0;
}

/* After (re)connecting: confirm mode, topology, re-send of the unconfirmed. */
static int amqpb_pub_setup(struct transport *t, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;
	struct amqpb_conn *c = &p->conn;
	int rc;

	amqp_confirm_select(c->st, AMQPB_DATA_CH);
	rc = amqpb_reply_error(c, AMQPB_DATA_CH, amqp_get_rpc_reply(c->st), err,
			       "cannot enable publisher confirms");
	for (int s = 0; !rc && s < SC_STREAM_EXTERNAL; s++)
		if (p->streams & SC_STREAM_BIT(s))
			rc = amqpb_declare_stream(&b->o, c, (enum sc_stream)s, err);
	if (rc)
		return rc;
	amqpb_ring_compact(p);
	p->next_seq = 1;
	p->base_seq = 1;
	for (size_t i = 0; i < p->count; i++) {
		rc = amqpb_send(b, amqpb_ring_at(p, i), err);
		if (rc)
			return rc;
		p->next_seq++;
	}
	return 0;
}

int amqpb_pub_open(struct transport *t, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;
	int rc;

	if (!p->ring) {
		p->ring = calloc(b->o.window, sizeof(*p->ring));
		if (!p->ring)
			return sc_error_set(err, SC_ENOMEM, "amqp: out of memory");
		p->cap = b->o.window;
	}
	rc = amqpb_connect(&b->o, &p->conn, err);
	if (!rc)
		rc = amqpb_pub_setup(t, err);
	if (rc)
		amqpb_conn_drop(&p->conn);
	return rc;
}

/* ---- confirms ----------------------------------------------------------- */

/*
 * Read and handle one frame of the publisher connection, waiting up to tv.
 * 1: handled one, 0: none arrived, < 0: the connection is lost (c->up false).
 */
static int amqpb_pump(struct amqpb *b, const struct timeval *tv, struct sc_error *err)
{
	struct amqpb_pub *p = &b->pub;
	struct amqpb_conn *c = &p->conn;
	amqp_frame_t f;
	int status, rc = 1;

	status = amqp_simple_wait_frame_noblock(c->st, &f, tv);
	if (status == AMQP_STATUS_TIMEOUT)
		return 0;
	if (status != AMQP_STATUS_OK)
		return amqpb_status_error(c, status, err, "publisher connection to %s lost",
					  b->o.where);
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 1;
	switch (f.payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *a = f.payload.method.decoded;
		amqpb_confirm(p, a->delivery_tag, a->multiple, false);
		break;
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *n = f.payload.method.decoded;
		amqpb_confirm(p, n->delivery_tag, n->multiple, true);
		break;
	}
	case AMQP_BASIC_RETURN_METHOD: {
		amqp_basic_return_t *r = f.payload.method.decoded;
		char rk[AMQPB_RK_MAX];
		amqp_message_t msg;
		amqp_rpc_reply_t rr;

		snprintf(rk, sizeof(rk), "%.*s", (int)r->routing_key.len,
			 (const char *)r->routing_key.bytes);
		amqpb_fail(p, "returned by the broker: %.*s (routing key %s)",
			   (int)r->reply_text.len, (const char *)r->reply_text.bytes, rk);
		rr = amqp_read_message(c->st, f.channel, &msg, 0);
		if (rr.reply_type == AMQP_RESPONSE_NORMAL)
			amqp_destroy_message(&msg);
		else
			rc = amqpb_reply_error(c, f.channel, rr, err,
					       "cannot read a returned message");
		break;
	}
	case AMQP_CHANNEL_CLOSE_METHOD:
	case AMQP_CONNECTION_CLOSE_METHOD:
		rc = amqpb_handle_close(c, &f, err);
		if (!c->up && rc == 0)
			rc = sc_error_set(err, SC_ECONN, "amqp: publisher connection closed");
		break;
	default: break; /* connection.blocked/unblocked: confirms just come later */
	}
	if (c->up)
		amqp_maybe_release_buffers(c->st);
	return rc;
}

/* Read every frame already there, without blocking. */
static void amqpb_drain(struct amqpb *b)
{
	struct timeval zero = {0};
	struct sc_error ignored;

	while (b->pub.conn.up && amqpb_pump(b, &zero, &ignored) > 0)
		;
}

/*
 * Read confirms until at most `want` publishes are unconfirmed, reconnecting
 * (and re-sending) when the connection drops.  deadline_ns is monotonic.
 */
static int amqpb_wait(struct transport *t, size_t want, int64_t deadline_ns, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;
	int rc;

	while (p->count > want) {
		int64_t left = deadline_ns - sc_mono_ns();
		struct timeval tv;

		if (!p->conn.up) {
			rc = amqpb_reconnect(t, &p->conn, amqpb_pub_setup, err);
			if (rc)
				return rc;
			continue;
		}
		if (left <= 0)
			return sc_error_set(err, SC_ETIMEDOUT,
					    "amqp: %zu message(s) not yet confirmed by the broker",
					    p->count);
		if (left > 1000000000)
			left = 1000000000;
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)(left / 1000);
		rc = amqpb_pump(b, &tv, err);
		if (rc < 0 && p->conn.up)
			return rc;
	}
	return 0;
}

/* ---- publish and flush -------------------------------------------------- */

int amqpb_pub_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;
	struct amqpb_pending *e;
	const char *stream = sc_stream_name(m->stream);
	int n, rc;

	if (!stream || m->stream >= SC_STREAM_EXTERNAL)
		return sc_error_set(err, SC_EINVAL, "amqp: cannot publish to stream %s",
				    stream ? stream : "(invalid)");
	if (!p->conn.up) {
		rc = p->conn.gen == 0 ? amqpb_pub_open(t, err)
				      : amqpb_reconnect(t, &p->conn, amqpb_pub_setup, err);
		if (rc)
			return rc;
	}
	if (!(p->streams & SC_STREAM_BIT(m->stream))) {
		rc = amqpb_declare_stream(&b->o, &p->conn, m->stream, err);
		if (rc)
			return rc;
		p->streams |= SC_STREAM_BIT(m->stream);
	}
	if (p->count == p->cap) {
		rc = amqpb_wait(t, p->cap - 1,
				sc_mono_ns() + b->o.reconnect_timeout_ms * 1000000 + 1000000000,
				err);
		if (rc == -SC_ETIMEDOUT)
			return sc_error_set(
				err, SC_ETIMEDOUT,
				"amqp: publish window of %zu full: the broker confirmed "
				"nothing for %lld ms",
				p->cap, (long long)b->o.reconnect_timeout_ms + 1000);
		if (rc)
			return rc;
	}
	e = amqpb_ring_at(p, p->count);
	memset(e, 0, sizeof(*e));
	if (m->key && *m->key)
		n = snprintf(e->rk, sizeof(e->rk), "%s.%s", stream, m->key);
	else
		n = snprintf(e->rk, sizeof(e->rk), "%s", stream);
	if (n < 0 || (size_t)n >= sizeof(e->rk))
		return sc_error_set(err, SC_EINVAL, "amqp: routing key for key '%s' is too long",
				    m->key);
	e->data = malloc(m->len ? m->len : 1);
	if (!e->data)
		return sc_error_set(err, SC_ENOMEM, "amqp: out of memory");
	memcpy(e->data, m->payload, m->len);
	e->len = m->len;
	e->ts_ns = m->timestamp_ns;
	if (p->count == 0)
		p->base_seq = p->next_seq;
	p->count++;
	p->next_seq++;
	rc = amqpb_send(b, e, err);
	if (rc) {
		/* The copy is in the ring: a reconnect re-sends it with the others. */
		rc = amqpb_reconnect(t, &p->conn, amqpb_pub_setup, err);
		if (rc)
			return rc;
	}
	if (++p->since_drain >= 64 || p->count > p->cap / 2) {
		p->since_drain = 0;
		amqpb_drain(b);
	}
	return 0;
}

int amqpb_pub_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;
	int64_t deadline =
		timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t failed;
	int rc;

	/*
	 * flush(0), which a generator calls before every pause: read what the
	 * broker sent on every 64th call, as publish() does, not on each one
	 * (draining on every call looked worse at 1 kHz in 4 of 6 pairs:
	 * bench/results/amqp-hops.csv, REVS runs of 2026-12-07 13:10-13:19)
	 */
	if (timeout_ms == 0)
		amqpb_pub_service(t, false);
	rc = amqpb_wait(t, 0, deadline, err);
	if (rc == -SC_ETIMEDOUT)
		return sc_error_set(err, SC_ETIMEDOUT,
				    "amqp: flush timed out after %d ms: %zu message(s) not yet "
				    "confirmed",
				    timeout_ms, p->count);
	if (rc)
		return rc;
	if (p->failed) {
		failed = p->failed;
		p->failed = 0;
		return sc_error_set(err, SC_EIO, "amqp: %llu message(s) nacked/returned: %s",
				    (unsigned long long)failed, p->fail_reason);
	}
	return 0;
}

void amqpb_pub_service(struct transport *t, bool idle)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;

	amqpb_keepalive(&b->o, &p->conn);
	if (!p->conn.up || (!idle && ++p->since_drain < 64 && p->count <= p->cap / 2))
		return;
	p->since_drain = 0;
	amqpb_drain(b);
}

void amqpb_pub_close(struct transport *t)
{
	struct amqpb *b = t->priv;
	struct amqpb_pub *p = &b->pub;

	amqpb_conn_close(&p->conn);
	if (p->ring) {
		for (size_t i = 0; i < p->count; i++)
			free(amqpb_ring_at(p, i)->data);
		free(p->ring);
	}
	p->ring = NULL;
	p->count = 0;
	free(p->wbuf);
	p->wbuf = NULL;
	p->wcap = 0;
}

/*
 * mqtt_consume.c - the receive side of the mqtt backend: each message paho
 * hands over (mqtt_client.c's packet loop) is appended to the consumer's
 * journal (mqtt_journal.c) and copied into a queue that poll() empties;
 * poll() runs the packet loop while the queue is empty; commit() moves the
 * journal's committed offset.  The acknowledgement semantics are explained
 * at the top of mqtt.c.
 *
 * Map:  receive queue - journal - poll / commit / release - lag
 */
#include "mqtt_internal.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- receive queue -------------------------------------------------------- */

static void mqtt_classify(struct mqtt_priv *p, const char *topic, enum sc_stream *s,
			  const char **key)
{
	unsigned int inputs = p->t->cfg.inputs;
	char buf[MQTT_TOPIC_MAX];

	for (int i = 0; i < SC_STREAM_EXTERNAL; i++) {
		const char *prefix = p->stopic[i];
		int n = p->stopic_len[i];
		if (!(inputs & SC_STREAM_BIT(i)))
			continue;
		if (n == 0) { /* not made at open (unit tests): compute */
			n = mqtt_stream_topic(p, (enum sc_stream)i, buf, sizeof(buf));
			prefix = buf;
		}
		if (n < 0 || strncmp(topic, prefix, (size_t)n) != 0)
			continue;
		if (topic[n] == '\0' || topic[n] == '/') {
			*s = (enum sc_stream)i;
			*key = topic[n] ? topic + n + 1 : NULL;
			return;
		}
	}
	*s = SC_STREAM_EXTERNAL;
	*key = topic;
}

/* Queue rx (mqtt_lock held). */
static void mqtt_enqueue(struct mqtt_priv *p, struct mqtt_rx *rx)
{
	if (p->tail)
		p->tail->next = rx;
	else
		p->head = rx;
	p->tail = rx;
	p->queued++;
	/* no broadcast: nobody waits for the queue (poll() runs the packet loop
	 * itself), and waking the keepalive threads per message cost about three futex
	 * calls per record */
}

/* Append r to the journal (mqtt_lock held): its ticket, 0 when not journaled. */
static uint64_t mqtt_journal_rec(struct mqtt_priv *p, const struct mqtt_jrec *r)
{
	struct sc_error err = {0};
	uint64_t ticket = 0;

	if (!p->journal)
		return 0;
	if (mqtt_journal_append(p->journal, r, &ticket, &err) != 0) {
		if (!p->journal_broken) {
			p->journal_broken = true;
			fprintf(stderr, "%s (messages are now kept in memory only)\n", err.msg);
		}
		return 0;
	}
	return ticket;
}

/*
 * What a received message is: its stream and key (kp, the "k" property, when
 * it came with one, else the topic after the stream's prefix), and whether it
 * is malformed.  topic receives the topic as a string; r->key may point into
 * it or at kp.
 */
static void mqtt_rx_describe(struct mqtt_priv *p, const char *topic_name, size_t tlen,
			     const char *kp, size_t kplen, char topic[MQTT_TOPIC_MAX],
			     struct mqtt_jrec *r)
{
	const char *key = NULL;
	enum sc_stream s;
	bool malformed = false;

	if (tlen >= MQTT_TOPIC_MAX) {
		tlen = MQTT_TOPIC_MAX - 1;
		malformed = true;
	}
	memcpy(topic, topic_name, tlen);
	topic[tlen] = '\0';
	mqtt_classify(p, topic, &s, &key);
	if (s == SC_STREAM_EXTERNAL && !(p->t->cfg.inputs & SC_STREAM_BIT(SC_STREAM_EXTERNAL)))
		malformed = true;
	r->stream = s;
	r->flags = malformed ? MQTT_JF_MALFORMED : 0u;
	r->key = kp ? kp : key;
	r->klen = kp ? kplen : key ? strlen(key) : 0;
}

/* The "k" user property of a message paho handed over: NULL when none. */
static const char *mqtt_keyprop(MQTTProperties *props, size_t *len)
{
	MQTTProperty *kp;

	for (int i = 0;
	     (kp = MQTTProperties_getPropertyAt(props, MQTTPROPERTY_CODE_USER_PROPERTY, i)); i++)
		if (kp->value.data.len == 1 && kp->value.data.data[0] == MQTT_KEY_PROP[0]) {
			*len = (size_t)kp->value.value.len;
			return kp->value.value.data;
		}
	return NULL;
}

/* A variable byte integer at *b (end e): its value, or -1 when malformed. */
static long mqtt_wire_varint(const unsigned char **b, const unsigned char *e)
{
	long v = 0;

	for (int shift = 0; shift < 28; shift += 7) {
		if (*b >= e)
			return -1;
		v |= (long)(**b & 0x7f) << shift;
		if (!(*(*b)++ & 0x80))
			return v;
	}
	return -1;
}

/*
 * The "k" user property in MQTT 5 properties as paho stores them (their
 * length as a variable byte integer, then the properties as on the wire, MQTT
 * 5.0 section 2.2.2): NULL when there is none or the bytes are not that.
 */
static const char *mqtt_wire_keyprop(const unsigned char *b, size_t n, size_t *len)
{
	const unsigned char *e = b + n;
	long total = mqtt_wire_varint(&b, e);

	if (total < 0 || total > e - b)
		return NULL;
	e = b + total;
	while (b < e) {
		int id = *b++;
		size_t l1, l2;

		switch (id) {
		case 0x01:
		case 0x17:
		case 0x19:
		case 0x24:
		case 0x25:
		case 0x28:
		case 0x29:
		case 0x2a: /* byte */ l1 = 1; break;
		case 0x13:
		case 0x21:
		case 0x22:
		case 0x23: /* two byte integer */ l1 = 2; break;
		case 0x02:
		case 0x11:
		case 0x18:
		case 0x27: /* four byte integer */ l1 = 4; break;
		case 0x0b: /* variable byte integer */
			if (mqtt_wire_varint(&b, e) < 0)
				return NULL;
			l1 = 0;
			break;
		case 0x03:
		case 0x08:
		case 0x09:
		case 0x12:
		case 0x15:
		case 0x16:
		case 0x1a:
		case 0x1c:
		case 0x1f: /* string or binary data */
			if (e - b < 2)
				return NULL;
			l1 = 2 + ((size_t)b[0] << 8 | b[1]);
			break;
		case 0x26: /* user property: a string pair */
			if (e - b < 2)
				return NULL;
			l1 = (size_t)b[0] << 8 | b[1];
			if ((size_t)(e - b) < 2 + l1 + 2)
				return NULL;
			l2 = (size_t)b[2 + l1] << 8 | b[3 + l1];
			if ((size_t)(e - b) < 4 + l1 + l2)
				return NULL;
			if (l1 == 1 && b[2] == (unsigned char)MQTT_KEY_PROP[0]) {
				*len = l2;
				return (const char *)b + 4 + l1;
			}
			l1 += 4 + l2;
			break;
		default: return NULL;
		}
		if ((size_t)(e - b) < l1)
			return NULL;
		b += l1;
	}
	return NULL;
}

/* ---- the journal before the acknowledgement ------------------------------ */

/*
 * paho 1.3 acknowledges a QoS 1 PUBLISH (and a QoS 2 one, with PUBREC) as
 * soon as it has read it into its own queue, before any call of ours sees it
 * (MQTTProtocol_handlePublishes), and has no manual acknowledgement.
 * Appending to the journal when MQTTClient_receive handed the message over
 * left a gap between the two in which a SIGKILL lost a message the broker
 * had been told was safe: only microseconds of code, but the process that
 * has just written the PUBACK is often descheduled right there while the
 * broker it woke runs.  The chaos runs showed it: each record a SIGKILLed
 * sink lost was the last one it acknowledged before the kill (Mosquitto's
 * debug log), 3 in 132 kills (scripts/bench/mqtt-sink-kills.sh).
 * paho's own store would be called before the acknowledgement, but 1.3.12
 * never calls it for an MQTT 5 queue entry (MQTTPersistence_persistQueueEntry
 * takes MQTTProperties_write's byte count for an error).
 *
 * So each round of the packet loop (cl_round) first peeks at the socket: a
 * complete PUBLISH waiting there, on one of our topics, is journaled before
 * paho reads it, and its ticket waits in p->pre (socket order) until paho
 * hands it over; mqtt_rx_take matches it by packet id and payload length.
 * A message read by another paho call (connect, subscribe, a publish that
 * runs the loop), an incomplete packet, or a TLS connection (the bytes are
 * encrypted) is journaled when handed over, as before.  An entry that paho
 * never hands over (the connection dropped before paho read it; the broker
 * sends it again) is committed once a later one is handed over: delivery is
 * in socket order.
 */

/* A peek's first size: a cpu record is about 400 bytes, a sensor batch 1.5-5 KB. */
#define MQTT_PEEK_INITIAL 8192

/* The topic, packet id, key property and payload of a PUBLISH (b, n bytes). */
static bool mqtt_parse_publish(const unsigned char *b, size_t n, const char **topic, size_t *tlen,
			       int *msgid, const char **kp, size_t *kplen,
			       const unsigned char **payload, size_t *len)
{
	const unsigned char *e = b + n, *q = b + 1;
	int qos = (b[0] >> 1) & 3;
	long rem = mqtt_wire_varint(&q, e), props;
	const unsigned char *pstart;

	if (rem < 0 || rem != e - q || e - q < 2)
		return false;
	*tlen = (size_t)q[0] << 8 | q[1];
	q += 2;
	if ((size_t)(e - q) < *tlen + (qos ? 2 : 0))
		return false;
	*topic = (const char *)q;
	q += *tlen;
	*msgid = 0;
	if (qos) {
		*msgid = q[0] << 8 | q[1];
		q += 2;
	}
	pstart = q;
	props = mqtt_wire_varint(&q, e);
	if (props < 0 || props > e - q)
		return false;
	*kp = mqtt_wire_keyprop(pstart, (size_t)(q - pstart) + (size_t)props, kplen);
	q += props;
	*payload = q;
	*len = (size_t)(e - q);
	return true;
}

/* Remember a pre-journaled PUBLISH (mqtt_lock held). */
static int mqtt_pre_push(struct mqtt_priv *p, int msgid, size_t len, uint64_t ticket)
{
	if (p->pre_n == p->pre_cap) {
		size_t cap = p->pre_cap ? p->pre_cap * 2 : 32;
		struct mqtt_pre *n = malloc(cap * sizeof(*n));
		if (!n)
			return -1;
		for (size_t i = 0; i < p->pre_n; i++)
			n[i] = p->pre[(p->pre_head + i) % p->pre_cap];
		free(p->pre);
		p->pre = n;
		p->pre_cap = cap;
		p->pre_head = 0;
	}
	p->pre[(p->pre_head + p->pre_n) % p->pre_cap] =
		(struct mqtt_pre){.msgid = msgid, .len = len, .ticket = ticket};
	p->pre_n++;
	return 0;
}

/*
 * The ticket of the pre-journaled PUBLISH paho hands over (mqtt_lock held),
 * 0 when there is none; entries before it are committed (see above).
 */
static uint64_t mqtt_pre_take(struct mqtt_priv *p, int msgid, size_t len)
{
	struct sc_error err = {0};
	size_t i;

	for (i = 0; i < p->pre_n; i++) {
		struct mqtt_pre *e = &p->pre[(p->pre_head + i) % p->pre_cap];
		if (e->msgid == msgid && e->len == len)
			break;
	}
	if (i == p->pre_n)
		return 0;
	while (i--) {
		if (p->pre[p->pre_head].ticket)
			(void)mqtt_journal_commit(p->journal, p->pre[p->pre_head].ticket, &err);
		p->pre_head = (p->pre_head + 1) % p->pre_cap;
		p->pre_n--;
	}
	p->pre_head = (p->pre_head + 1) % p->pre_cap;
	p->pre_n--;
	return p->pre[(p->pre_head + p->pre_cap - 1) % p->pre_cap].ticket;
}

void mqtt_prejournal(struct mqtt_priv *p)
{
	const unsigned char *q, *payload;
	const char *topic, *kp;
	char tbuf[MQTT_TOPIC_MAX];
	struct mqtt_jrec r;
	size_t tlen, kplen = 0, len, total;
	ssize_t n;
	long rem;
	int msgid;

	if (!p->journal || p->fd < 0 || p->tls || p->nfilters == 0)
		return;
	if (!p->peek) { /* one peek takes a whole record of usual size */
		p->peek = malloc(MQTT_PEEK_INITIAL);
		if (!p->peek)
			return;
		p->peek_cap = MQTT_PEEK_INITIAL;
	}
	n = recv(p->fd, p->peek, p->peek_cap, MSG_PEEK | MSG_DONTWAIT);
	if (n < 2 || (p->peek[0] >> 4) != 3) /* nothing, or not a PUBLISH */
		return;
	q = p->peek + 1;
	rem = mqtt_wire_varint(&q, p->peek + n);
	if (rem < 0)
		return;
	total = (size_t)(q - p->peek) + (size_t)rem;
	if (total > (size_t)n) {
		if (total > p->peek_cap) {
			unsigned char *b = realloc(p->peek, total);
			if (!b)
				return;
			p->peek = b;
			p->peek_cap = total;
		}
		n = recv(p->fd, p->peek, total, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 || (size_t)n < total) /* not all here yet: journaled when handed over */
			return;
	}
	if (!mqtt_parse_publish(p->peek, total, &topic, &tlen, &msgid, &kp, &kplen, &payload, &len))
		return;
	mqtt_rx_describe(p, topic, tlen, kp, kplen, tbuf, &r);
	if (r.flags & MQTT_JF_MALFORMED) /* not one of ours: handed over as before */
		return;
	r.flags |= (p->peek[0] & 0x08) ? MQTT_JF_DUP : 0u;
	r.payload = payload;
	r.len = len;
	pthread_mutex_lock(&mqtt_lock);
	if (p->pre_n) { /* peeked before, and paho did not read it then */
		struct mqtt_pre *t = &p->pre[(p->pre_head + p->pre_n - 1) % p->pre_cap];
		if (t->msgid == msgid && t->len == len) {
			pthread_mutex_unlock(&mqtt_lock);
			return;
		}
	}
	uint64_t ticket = mqtt_journal_rec(p, &r);
	if (ticket && mqtt_pre_push(p, msgid, len, ticket) != 0) {
		struct sc_error err = {0};
		(void)mqtt_journal_commit(p->journal, ticket,
					  &err); /* journaled again when handed over */
	}
	pthread_mutex_unlock(&mqtt_lock);
}

/*
 * No memory for a message paho has already acknowledged (mqtt_lock held):
 * journal it from paho's buffers unless it was journaled already (ticket),
 * so the next start replays it, and make every later poll() fail, so the
 * role stops rather than go on without it.
 */
static void mqtt_rx_lost(struct mqtt_priv *p, const struct mqtt_jrec *r, uint64_t ticket)
{
	if (!ticket)
		ticket = mqtt_journal_rec(p, r);
	if (!p->rx_failed[0])
		snprintf(p->rx_failed, sizeof(p->rx_failed),
			 ticket ? "mqtt: out of memory for a received message: it is kept in "
				  "the journal '%s' for the next start"
				: "mqtt: out of memory for a received message, and no journal "
				  "kept it%s: it is lost",
			 ticket ? p->journal_path : "");
	pthread_cond_broadcast(&mqtt_cond);
}

/*
 * Copy one message paho handed over into the queue (the caller holds
 * client_lock, not mqtt_lock), and journal it unless mqtt_prejournal did.
 * paho has acknowledged it before this runs.
 */
void mqtt_rx_take(struct mqtt_priv *p, char *topic_name, int topic_len, MQTTClient_message *m)
{
	char topic[MQTT_TOPIC_MAX];
	struct mqtt_jrec r;
	struct mqtt_rx *rx;
	size_t kplen = 0;
	const char *kp = mqtt_keyprop(&m->properties, &kplen);
	uint64_t ticket = 0;

	mqtt_rx_describe(p, topic_name, topic_len > 0 ? (size_t)topic_len : strlen(topic_name), kp,
			 kplen, topic, &r);
	r.flags |= m->dup ? MQTT_JF_DUP : 0u;
	r.payload = m->payload;
	r.len = (size_t)m->payloadlen;
	rx = malloc(sizeof(*rx) + r.len + r.klen + 1);
	pthread_mutex_lock(&mqtt_lock);
	if (p->journal && p->pre_n)
		ticket = mqtt_pre_take(p, m->msgid, r.len);
	if (rx) {
		rx->next = NULL;
		rx->stream = r.stream;
		rx->dup = m->dup != 0;
		rx->malformed = (r.flags & MQTT_JF_MALFORMED) != 0;
		rx->len = r.len;
		memcpy(rx->data, m->payload, rx->len);
		rx->key = NULL;
		if (r.key) {
			rx->key = (char *)rx->data + rx->len;
			memcpy(rx->key, r.key, r.klen);
			rx->key[r.klen] = '\0';
		}
		/* first the journal: from here on a SIGKILL does not lose it */
		rx->ticket = ticket ? ticket : mqtt_journal_rec(p, &r);
		mqtt_enqueue(p, rx);
	} else {
		mqtt_rx_lost(p, &r, ticket);
	}
	pthread_mutex_unlock(&mqtt_lock);
	MQTTClient_freeMessage(&m);
	MQTTClient_free(topic_name);
}

/* ---- journal ------------------------------------------------------------- */

/* A replayed record back into the queue, flagged as redelivered. */
static int mqtt_replay_one(void *ctx, const struct mqtt_jrec *r, uint64_t ticket)
{
	struct mqtt_priv *p = ctx;
	struct mqtt_rx *rx = malloc(sizeof(*rx) + r->len + r->klen + 1);

	if (!rx)
		return -SC_ENOMEM;
	rx->next = NULL;
	rx->stream = r->stream;
	rx->dup = true;
	rx->malformed = (r->flags & MQTT_JF_MALFORMED) != 0;
	rx->ticket = ticket;
	rx->len = r->len;
	memcpy(rx->data, r->payload, r->len);
	rx->key = NULL;
	if (r->key) {
		rx->key = (char *)rx->data + rx->len;
		memcpy(rx->key, r->key, r->klen);
		rx->key[r->klen] = '\0';
	}
	mqtt_enqueue(p, rx);
	return 0;
}

int mqtt_journal_start(struct mqtt_priv *p, struct sc_error *err)
{
	uint64_t discarded = 0;
	int rc;

	if (!p->t->cfg.inputs)
		return 0;
	if (p->journal_off) { /* no commit: the runtime drains on stop */
		p->t->caps &= ~(unsigned int)TRANSPORT_CAP_COMMIT;
		return 0;
	}
	rc = mqtt_journal_open(p->journal_path, p->journal_sync, &p->journal, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&mqtt_lock);
	rc = mqtt_journal_replay(p->journal, mqtt_replay_one, p, &discarded, err);
	pthread_mutex_unlock(&mqtt_lock);
	if (rc == -SC_ENOMEM)
		return sc_error_set(err, SC_ENOMEM, "mqtt: journal: out of memory");
	if (rc)
		return rc;
	if (discarded)
		fprintf(stderr,
			"mqtt: journal '%s': dropped a torn or damaged tail of %llu bytes "
			"(a record cut by a crash); the records before it are replayed\n",
			p->journal_path, (unsigned long long)discarded);
	if (p->queued)
		fprintf(stderr,
			"mqtt: journal '%s': %zu message(s) received but not committed by the "
			"last run come first\n",
			p->journal_path, p->queued);
	return 0;
}

void mqtt_consume_close(struct mqtt_priv *p)
{
	struct mqtt_rx *rx;

	while ((rx = p->head)) {
		p->head = rx->next;
		free(rx);
	}
	p->tail = NULL;
	p->queued = 0;
	mqtt_journal_close(p->journal);
	p->journal = NULL;
	free(p->pre);
	p->pre = NULL;
	p->pre_cap = p->pre_head = p->pre_n = 0;
	free(p->peek);
	p->peek = NULL;
	p->peek_cap = 0;
}

/* ---- poll / release ------------------------------------------------------ */

int mqtt_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int64_t end = sc_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	struct mqtt_rx *rx;

	for (;;) {
		int64_t left;
		int r;

		pthread_mutex_lock(&mqtt_lock);
		if (p->rx_failed[0]) {
			sc_error_set(err, SC_ENOMEM, "%s", p->rx_failed);
			pthread_mutex_unlock(&mqtt_lock);
			return -SC_ENOMEM;
		}
		rx = p->head;
		if (rx) {
			p->head = rx->next;
			if (!p->head)
				p->tail = NULL;
			p->queued--;
		}
		t->counters.retries = p->lost + p->resent;
		pthread_mutex_unlock(&mqtt_lock);
		if (rx || sc_stop_requested())
			break;
		r = mqtt_client_round(p);
		if (r > 0)
			continue;
		left = (end - sc_mono_ns()) / 1000000;
		if (left <= 0)
			break;
		if (r < 0) /* no connection: the next attempt when its backoff allows */
			usleep(left < 100 ? (useconds_t)left * 1000 : 100000);
		else
			mqtt_client_wait(p, (int)(left < 1000 ? left : 1000));
	}
	if (!rx)
		return 0;
	out->stream = rx->stream;
	out->payload = rx->data;
	out->len = rx->len;
	out->key = rx->key;
	out->flags = rx->dup ? SC_MSG_REDELIVERED : 0;
	out->token = rx->ticket;
	if (rx->malformed) {
		out->flags |= SC_MSG_MALFORMED;
		out->error = "mqtt: message on an unexpected topic";
	}
	out->handle = rx;
	return 1;
}

/* The message's output is safe: move the journal past it. */
int mqtt_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int rc = 0;

	if (!m->token)
		return 0;
	pthread_mutex_lock(&mqtt_lock);
	if (p->journal)
		rc = mqtt_journal_commit(p->journal, m->token, err);
	pthread_mutex_unlock(&mqtt_lock);
	return rc;
}

void mqtt_release(struct transport *t, struct sc_msg *m)
{
	(void)t;
	free(m->handle);
	m->handle = NULL;
}

/* ---- lag / healthy ------------------------------------------------------- */

int64_t mqtt_lag(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	int64_t n;

	pthread_mutex_lock(&mqtt_lock);
	n = (int64_t)p->queued;
	pthread_mutex_unlock(&mqtt_lock);
	return n;
}

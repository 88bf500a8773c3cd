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

/* Append rx to the journal (mqtt_lock held); on failure it stays in memory only. */
static void mqtt_journal_rx(struct mqtt_priv *p, struct mqtt_rx *rx)
{
	struct mqtt_jrec r = {.stream = rx->stream,
			      .flags = (rx->dup ? MQTT_JF_DUP : 0u) |
				       (rx->malformed ? MQTT_JF_MALFORMED : 0u),
			      .key = rx->key,
			      .klen = rx->key ? strlen(rx->key) : 0,
			      .payload = rx->data,
			      .len = rx->len};

	rx->ticket = mqtt_journal_rec(p, &r);
}

/*
 * No memory for a message paho has already acknowledged (mqtt_lock NOT held):
 * journal it from paho's buffers, so the next start replays it, and make
 * every later poll() fail, so the role stops rather than go on without it.
 */
static void mqtt_rx_lost(struct mqtt_priv *p, const struct mqtt_jrec *r)
{
	uint64_t ticket;

	pthread_mutex_lock(&mqtt_lock);
	ticket = mqtt_journal_rec(p, r);
	if (!p->rx_failed[0])
		snprintf(p->rx_failed, sizeof(p->rx_failed),
			 ticket ? "mqtt: out of memory for a received message: it is kept in "
				  "the journal '%s' for the next start"
				: "mqtt: out of memory for a received message, and no journal "
				  "kept it%s: it is lost",
			 ticket ? p->journal_path : "");
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

/*
 * Journal one message and copy it into the queue (the caller holds
 * client_lock, not mqtt_lock).  paho has acknowledged the message before this
 * runs.
 */
void mqtt_rx_take(struct mqtt_priv *p, char *topic_name, int topic_len, MQTTClient_message *m)
{
	char topic[MQTT_TOPIC_MAX];
	const char *key = NULL;
	enum sc_stream s;
	struct mqtt_rx *rx;
	size_t klen = 0, tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic_name);
	MQTTProperty *kp = NULL;
	bool malformed = false;

	if (tlen >= sizeof(topic)) {
		tlen = sizeof(topic) - 1;
		malformed = true;
	}
	memcpy(topic, topic_name, tlen);
	topic[tlen] = '\0';
	mqtt_classify(p, topic, &s, &key);
	if (s == SC_STREAM_EXTERNAL && !(p->t->cfg.inputs & SC_STREAM_BIT(SC_STREAM_EXTERNAL)))
		malformed = true;
	for (int i = 0; (kp = MQTTProperties_getPropertyAt(&m->properties,
							   MQTTPROPERTY_CODE_USER_PROPERTY, i));
	     i++)
		if (kp->value.data.len == 1 && kp->value.data.data[0] == MQTT_KEY_PROP[0])
			break;
	klen = kp ? (size_t)kp->value.value.len : key ? strlen(key) : 0;

	rx = malloc(sizeof(*rx) + (size_t)m->payloadlen + klen + 1);
	if (rx) {
		rx->next = NULL;
		rx->stream = s;
		rx->dup = m->dup != 0;
		rx->malformed = malformed;
		rx->len = (size_t)m->payloadlen;
		memcpy(rx->data, m->payload, rx->len);
		rx->key = NULL;
		if (kp || key) {
			rx->key = (char *)rx->data + rx->len;
			memcpy(rx->key, kp ? kp->value.value.data : key, klen);
			rx->key[klen] = '\0';
		}
		pthread_mutex_lock(&mqtt_lock);
		/* first the journal: from here on a SIGKILL does not lose it */
		mqtt_journal_rx(p, rx);
		mqtt_enqueue(p, rx);
		pthread_mutex_unlock(&mqtt_lock);
	} else {
		struct mqtt_jrec r = {.stream = s,
				      .flags = (m->dup ? MQTT_JF_DUP : 0u) |
					       (malformed ? MQTT_JF_MALFORMED : 0u),
				      .key = kp ? kp->value.value.data : key,
				      .klen = klen,
				      .payload = m->payload,
				      .len = (size_t)m->payloadlen};
		mqtt_rx_lost(p, &r);
	}
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

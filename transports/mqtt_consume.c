/*
 * mqtt_consume.c - the receive side of the mqtt backend: paho's
 * messageArrived copies each message into a bounded queue that poll() empties.
 * The acknowledgement semantics are explained at the top of mqtt.c.
 */
#include "mqtt_internal.h"
#include "../src/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- receive queue -------------------------------------------------------- */

static void mqtt_classify(struct mqtt_priv *p, const char *topic, enum sc_stream *s,
			  const char **key)
{
	unsigned int inputs = p->t->cfg.inputs;
	char prefix[MQTT_TOPIC_MAX];

	for (int i = 0; i < SC_STREAM_EXTERNAL; i++) {
		int n;
		if (!(inputs & SC_STREAM_BIT(i)))
			continue;
		n = mqtt_stream_topic(p, (enum sc_stream)i, prefix, sizeof(prefix));
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

/*
 * Copy one message into the queue.  Blocks paho's receive thread while the
 * queue is full, unless a writer waits for PUBACKs that only this thread reads.
 */
int mqtt_on_message(void *ctx, char *topic_name, int topic_len, MQTTAsync_message *m)
{
	struct mqtt_priv *p = ctx;
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
	}
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic_name);
	if (!rx)
		return 1; /* out of memory: nothing better to do than drop it */

	pthread_mutex_lock(&mqtt_lock);
	/* keeps blocking during a drain, so the local queue stays bounded */
	while (p->queued >= (size_t)p->prefetch && !mqtt_busy && !p->closing)
		mqtt_wait(100);
	if (p->tail)
		p->tail->next = rx;
	else
		p->head = rx;
	p->tail = rx;
	p->queued++;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
	return 1;
}

/* ---- poll / release ------------------------------------------------------ */

int mqtt_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int64_t end = sc_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	struct mqtt_rx *rx;

	(void)err;
	pthread_mutex_lock(&mqtt_lock);
	while (!p->head && !sc_stop_requested()) {
		int64_t left = (end - sc_mono_ns()) / 1000000;
		if (left <= 0)
			break;
		mqtt_wait(left < 100 ? (int)left : 100);
	}
	rx = p->head;
	if (rx) {
		p->head = rx->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		pthread_cond_broadcast(&mqtt_cond);
	}
	t->counters.retries = p->lost;
	pthread_mutex_unlock(&mqtt_lock);
	if (!rx)
		return 0;
	out->stream = rx->stream;
	out->payload = rx->data;
	out->len = rx->len;
	out->key = rx->key;
	out->flags = rx->dup ? SC_MSG_REDELIVERED : 0;
	if (rx->malformed) {
		out->flags |= SC_MSG_MALFORMED;
		out->error = "mqtt: message on an unexpected topic";
	}
	out->handle = rx;
	return 1;
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

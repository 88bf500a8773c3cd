/*
 * mqtt_publish.c - the publishing side of the mqtt backend: the window of
 * unconfirmed messages, their confirmations, and re-sending what a broker
 * restart lost.  The window and wake-up rules are explained at the top of
 * mqtt.c.
 *
 * Re-sending.  paho keeps unconfirmed QoS 1/2 publishes in memory and sends
 * them again after an automatic reconnect - when the broker still has the
 * session.  A broker that was SIGKILLed and restarted from an older save
 * (Mosquitto) answers "no session", and then paho 1.3 either fails those
 * publishes ("Failure") or drops them without calling either callback: the
 * chaos run saw a generator die of the first and a processor wait 60 s for
 * the second.  So every unconfirmed message keeps a copy here (struct
 * mqtt_out, at most `window` of them, in p->outs), and the thread that waits
 * on the window (publish() or flush()) sends it again when
 *   - paho reported a failure that is not the broker's verdict (a PUBACK
 *     reason code >= 0x80 is final: counted as failed, reported by flush()),
 *   - or nothing was confirmed for MQTT_RESEND_AFTER_MS while connected and
 *     messages are unconfirmed (a silent drop).
 * A re-sent message may arrive twice; the sink refuses the replay of
 * (source, seq).  A copy is freed once confirmed and once paho has called
 * back every send of it; a send paho never calls back is freed at close,
 * after MQTTAsync_destroy (no callback can follow).
 */
#include "mqtt_internal.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No confirmation for this long while connected: send the unconfirmed again. */
#define MQTT_RESEND_AFTER_MS 5000
/* Nothing confirmed for this long while waiting: wake paho's send thread (mqtt_kick). */
#define MQTT_KICK_MS 20

/* One message until confirmed; topic, key and payload in one allocation. */
struct mqtt_out {
	struct mqtt_out *next, *prev;
	struct mqtt_priv *p;
	int sends;	 /* sends paho has not called back yet */
	bool confirmed;	 /* counted out of p->outstanding */
	bool resend;	 /* to be sent again by the waiting thread */
	const char *key; /* the original key, as the "k" property; NULL if none */
	const char *topic;
	size_t len;
	unsigned char data[];
};

/* A publisher held back by a full window goes on once this few are unconfirmed. */
static int mqtt_low_water(const struct mqtt_priv *p)
{
	return p->window / 2;
}

/*
 * Whether a confirmation must wake the waiters (mqtt_lock held).  publish()
 * waits for the window to drain to half (hysteresis: one wake-up per window/2
 * confirmations rather than one per message), flush() for it to be empty.
 */
static bool mqtt_wake_needed(const struct mqtt_priv *p)
{
	return (p->pub_waiters && p->outstanding <= (uint64_t)mqtt_low_water(p)) ||
	       (p->flush_waiters && p->outstanding == 0);
}

static void out_unlink(struct mqtt_priv *p, struct mqtt_out *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		p->outs = o->next;
	if (o->next)
		o->next->prev = o->prev;
}

/* Count o as done (confirmed or finally failed); free it when paho is done too. */
static void out_settle(struct mqtt_priv *p, struct mqtt_out *o)
{
	if (!o->confirmed) {
		o->confirmed = true;
		if (o->resend)
			p->resend_marks--;
		o->resend = false;
		p->outstanding--;
		p->progress_ns = sc_mono_ns();
	}
	if (o->sends == 0) {
		out_unlink(p, o);
		free(o);
	}
}

/* ---- callbacks (paho's threads) ------------------------------------------ */

static void mqtt_on_sent(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_out *o = ctx;
	struct mqtt_priv *p = o->p;

	(void)r;
	pthread_mutex_lock(&mqtt_lock);
	o->sends--;
	if (!o->confirmed)
		p->confirmed++;
	out_settle(p, o);
	if (mqtt_wake_needed(p))
		pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_send_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_out *o = ctx;
	struct mqtt_priv *p = o->p;
	bool refused = r->reasonCode >= 0x80; /* the broker's verdict (PUBACK/PUBREC) */

	pthread_mutex_lock(&mqtt_lock);
	o->sends--;
	if (!o->confirmed) {
		if (refused || p->closing) {
			p->failed++;
			snprintf(p->fail_reason, sizeof(p->fail_reason), "%s",
				 r->reasonCode != MQTTREASONCODE_SUCCESS
					 ? MQTTReasonCode_toString(r->reasonCode)
				 : r->message ? r->message
					      : MQTTAsync_strerror(r->code));
			out_settle(p, o);
		} else if (!o->resend) {
			o->resend =
				true; /* lost in a reconnect: the waiting thread sends it again */
			p->resend_marks++;
		}
	} else if (o->sends == 0) {
		out_settle(p, o);
	}
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

/* ---- sending ------------------------------------------------------------- */

/* A refused sendMessage that a later attempt can get through (a reconnect). */
static bool mqtt_send_transient(int rc)
{
	return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED ||
	       rc == MQTTASYNC_FAILURE || rc == MQTTASYNC_NO_MORE_MSGIDS;
}

/* One send of o through paho (mqtt_lock NOT held: paho may wait for its mutex). */
static int out_send(struct mqtt_priv *p, struct mqtt_out *o)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_callOptions co = MQTTAsync_callOptions_initializer;
	int rc;

	if (o->key && mqtt_key_prop(&msg.properties, o->key))
		return MQTTASYNC_FAILURE;
	msg.payload = o->data;
	msg.payloadlen = (int)o->len;
	msg.qos = p->qos;
	co.onSuccess5 = mqtt_on_sent;
	co.onFailure5 = mqtt_on_send_fail;
	co.context = o;
	rc = MQTTAsync_sendMessage(p->client, o->topic, &msg, &co);
	MQTTProperties_free(&msg.properties);
	return rc;
}

/*
 * Send again what needs it (mqtt_lock held on entry and on return; dropped
 * around the paho calls; the caller has raised mqtt_busy).  After
 * MQTT_RESEND_AFTER_MS without a confirmation while connected, everything
 * unconfirmed is sent again.
 */
static void mqtt_resend_due(struct mqtt_priv *p)
{
	int64_t now = sc_mono_ns();
	bool stalled = p->outstanding > 0 && p->connected &&
		       now - p->progress_ns > (int64_t)MQTT_RESEND_AFTER_MS * 1000000;

	if (!p->connected)
		return; /* paho would only buffer them; wait for the reconnect */
	if (stalled)
		p->progress_ns = now;
	for (struct mqtt_out *o = p->outs; o; o = o->next) {
		if (o->confirmed || !(o->resend || stalled))
			continue;
		if (o->resend)
			p->resend_marks--;
		o->resend = false;
		o->sends++;
		p->resent++;
		pthread_mutex_unlock(&mqtt_lock);
		int rc = out_send(p, o);
		pthread_mutex_lock(&mqtt_lock);
		if (rc != MQTTASYNC_SUCCESS) {
			o->sends--;
			if (!o->confirmed && !o->resend) {
				o->resend = true; /* try again at the next wake-up */
				p->resend_marks++;
			}
			break;
		}
		/* o stays listed: it is unconfirmed and has a send outstanding */
	}
	p->t->counters.retries = p->lost + p->resent;
}

/*
 * Wake paho's send thread (mqtt_lock held on entry and on return; dropped
 * around the paho call; the caller has raised mqtt_busy).  paho 1.3's send
 * thread (MQTTAsync_sendThread) sleeps on a condition variable for up to
 * 1000 ms between rounds, and nothing records a signal given while it is
 * not yet waiting: a publish queued between its last look at the command
 * list and its wait sits there for a second - and so does one held back
 * for a full in-flight window or a partly written packet, since neither a
 * PUBACK nor the end of a write signals it (paho.mqtt.c 11757bf, after
 * 1.3.13).  Only a new command signals it, and a publisher waiting in
 * flush() queues none: the one-second stalls of issue 16.  The cheapest
 * command that delivers nothing to anyone is an UNSUBSCRIBE of a filter
 * this client never subscribed ("<ns>/$wake": the broker answers "no
 * subscription existed", which nobody waits for).
 */
static void mqtt_kick(struct mqtt_priv *p)
{
	MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
	char filter[MQTT_TOPIC_MAX];

	p->kicks++;
	snprintf(filter, sizeof(filter), "%s/$wake", p->ns ? p->ns : "streamctl");
	pthread_mutex_unlock(&mqtt_lock);
	(void)MQTTAsync_unsubscribe(p->client, filter, &o);
	pthread_mutex_lock(&mqtt_lock);
}

/*
 * Wait on the window (mqtt_lock held), re-sending what a reconnect lost, and
 * waking paho's send thread when nothing was confirmed for MQTT_KICK_MS
 * (mqtt_kick): a confirmation wakes this wait at once, so the short timeout
 * costs wake-ups only while nothing moves.
 */
static void mqtt_window_wait(struct mqtt_priv *p)
{
	int64_t now, quiet = (int64_t)MQTT_KICK_MS * 1000000;

	mqtt_resend_due(p);
	mqtt_wait(MQTT_KICK_MS);
	now = sc_mono_ns();
	if (p->outstanding > 0 && p->connected && now - p->progress_ns >= quiet &&
	    now - p->kick_ns >= quiet) {
		p->kick_ns = now;
		mqtt_kick(p);
	}
}

/* ---- publish / flush ----------------------------------------------------- */

int mqtt_key_prop(MQTTProperties *props, const char *key)
{
	MQTTProperty prop = {0};

	prop.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
	prop.value.data.data = (char *)MQTT_KEY_PROP;
	prop.value.data.len = 1;
	prop.value.value.data = (char *)key;
	prop.value.value.len = (int)strlen(key);
	return MQTTProperties_add(props, &prop) ? -1 : 0;
}

int mqtt_topic_of(struct transport *t, const struct sc_msg *m, char *topic, size_t size,
		  bool *keyprop, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	char key[SC_KEY_MAX * 2];
	int n;

	*keyprop = false;
	if (m->stream == SC_STREAM_EXTERNAL) {
		if (!t->cfg.external_topic || !*t->cfg.external_topic)
			return sc_error_set(err, SC_EINVAL,
					    "mqtt: the external stream needs a topic");
		n = snprintf(topic, size, "%s", t->cfg.external_topic);
	} else {
		n = mqtt_stream_topic(p, m->stream, topic, size);
		if (n >= 0 && m->key) {
			sc_strlcpy(key, m->key, sizeof(key));
			mqtt_sanitise(key, false);
			n = snprintf(topic + n, size - (size_t)n, "/%s", key);
			*keyprop = strcmp(key, m->key) != 0;
		}
	}
	if (n < 0 || (size_t)n >= size - 1 || (m->key && strlen(m->key) >= sizeof(key)))
		return sc_error_set(err, SC_EINVAL, "mqtt: topic too long");
	if (m->len > 268435455)
		return sc_error_set(err, SC_ETOOBIG, "mqtt: message of %zu bytes is too large",
				    m->len);
	return 0;
}

int mqtt_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	char topic[MQTT_TOPIC_MAX];
	bool keyprop = false;
	struct mqtt_out *o;
	size_t tlen, klen = 0;
	int64_t end;
	int rc;

	rc = mqtt_topic_of(t, m, topic, sizeof(topic), &keyprop, err);
	if (rc)
		return rc;
	if (p->sync)
		return mqtt_sync_publish(p, topic, m, keyprop, err);

	/* the copy that a re-send needs: payload, topic, key */
	tlen = strlen(topic);
	if (keyprop)
		klen = strlen(m->key);
	o = malloc(sizeof(*o) + m->len + tlen + 1 + (keyprop ? klen + 1 : 0));
	if (!o)
		return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	memset(o, 0, sizeof(*o));
	o->p = p;
	o->len = m->len;
	memcpy(o->data, m->payload, m->len);
	o->topic = memcpy(o->data + m->len, topic, tlen + 1);
	if (keyprop)
		o->key = memcpy(o->data + m->len + tlen + 1, m->key, klen + 1);

	/*
	 * One trip through mqtt_lock before the paho call and one after.  mqtt_busy
	 * stays raised from the wait through MQTTAsync_sendMessage (which may wait
	 * for paho's mutex, held by a receive thread in messageArrived); the
	 * broadcast lets a blocked messageArrived see it (no system call when
	 * nothing waits).
	 */
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	if (p->outstanding >= (uint64_t)p->window) {
		/* not cut short by a stop request: a draining role still needs its outputs out */
		end = sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000;
		p->pub_waiters++;
		while (p->outstanding >= (uint64_t)p->window && sc_mono_ns() < end)
			mqtt_window_wait(p);
		p->pub_waiters--;
		if (p->outstanding >= (uint64_t)p->window) {
			mqtt_busy--;
			pthread_mutex_unlock(&mqtt_lock);
			free(o);
			return sc_error_set(err, SC_ETIMEDOUT,
					    "mqtt: no confirmation from the broker for %d s "
					    "(%d messages unconfirmed)",
					    MQTT_PUBLISH_WAIT_MS / 1000, p->window);
		}
	}
	if (p->outstanding == 0)
		p->progress_ns = sc_mono_ns(); /* the stall clock starts with the window */
	p->outstanding++;
	o->sends = 1;
	o->next = p->outs;
	if (p->outs)
		p->outs->prev = o;
	p->outs = o;
	if (p->resend_marks)
		mqtt_resend_due(p);
	t->counters.retries = p->lost + p->resent;
	pthread_mutex_unlock(&mqtt_lock);

	rc = out_send(p, o);
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy--;
	if (rc != MQTTASYNC_SUCCESS) {
		o->sends--;
		if (mqtt_send_transient(rc)) {
			/* disconnected with paho's buffer full: counted in the window,
			 * sent by the waiting thread once connected again */
			o->resend = true;
			p->resend_marks++;
			rc = MQTTASYNC_SUCCESS;
		} else {
			out_settle(p, o); /* not accepted at all: the caller gets the error */
			pthread_cond_broadcast(&mqtt_cond);
		}
	}
	pthread_mutex_unlock(&mqtt_lock);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
				    MQTTAsync_strerror(rc));
	return 0;
}

int mqtt_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int64_t end = timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t left, failed;
	int rc = 0;

	if (p->sync)
		return mqtt_sync_flush(p, timeout_ms, err);

	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	p->flush_waiters++;
	mqtt_resend_due(p);
	while (p->outstanding > 0 && sc_mono_ns() < end)
		mqtt_window_wait(p);
	p->flush_waiters--;
	mqtt_busy--;
	left = p->outstanding;
	failed = p->failed;
	if (failed) {
		rc = sc_error_set(err, SC_EIO, "mqtt: %llu message(s) failed: %s",
				  (unsigned long long)failed, p->fail_reason);
		p->failed = 0;
	} else if (left) {
		rc = sc_error_set(err, SC_ETIMEDOUT,
				  "mqtt: %llu message(s) still unconfirmed after %d ms",
				  (unsigned long long)left, timeout_ms);
	}
	t->counters.retries = p->lost + p->resent;
	pthread_mutex_unlock(&mqtt_lock);
	return rc;
}

/* After MQTTAsync_destroy: no callback can follow, free every copy left. */
void mqtt_publish_close(struct mqtt_priv *p)
{
	struct mqtt_out *o;

	while ((o = p->outs)) {
		p->outs = o->next;
		free(o);
	}
	p->outstanding = 0;
	p->resend_marks = 0;
}

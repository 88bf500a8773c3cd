/*
 * mqtt.c - the MQTT 5 backend on paho.mqtt.c's asynchronous client (MQTTAsync).
 *
 * Topics.  Stream s with key k is published to "<ns>/<stream>/<k>", the stream
 * name with '.' turned into '/': streamctl/raw/cpu/host1,
 * streamctl/processed/sensor/dev7, streamctl/deadletter/x.  A NULL key gives
 * "<ns>/<stream>" with no key level.  '+', '#' and '/' in a key are replaced
 * by '_' in the topic; the original key then travels in the MQTT 5 user
 * property "k" so the consumer gets it back intact.  SC_STREAM_EXTERNAL is
 * cfg->external_topic, used as is (received key: the full topic name).
 *
 * Shared subscriptions, always.  A consumer subscribes to
 * "$share/<group>/<ns>/<stream>/#" (group: cfg->group, default "<ns>.<role>",
 * with '.', '/', '+', '#' turned into '_'), also when it runs alone, so one or
 * many instances of a role behave the same: the broker hands each message to
 * one member of the group.  Consumers need a stable client id (cfg->client_id
 * or -X client.id) because their MQTT session is persistent: clean start off,
 * session expiry one day (-X session.expiry), so the broker queues messages
 * while a consumer is away (Mosquitto: up to max_queued_messages per client;
 * beyond that it drops silently - size the broker for the pipeline).
 * Producers without an id get "<ns>-<role>-<pid>" and a short session (300 s).
 *
 * Publishing.  MQTTAsync_sendMessage() with per-message success/failure
 * callbacks; at most `window` messages are unconfirmed (PUBACK/PUBCOMP, or for
 * QoS 0 written to the socket).  publish() waits while the window is full:
 * that is the backpressure.  window = min(cfg->inflight (100), the broker's
 * Receive Maximum) so paho's own in-flight window never fills: paho 1.3's send
 * thread would then sleep up to 1 s per message (paho.mqtt.c PR #1457).
 * flush() waits until nothing is unconfirmed and reports failures since the
 * previous flush.  paho persistence is off (in memory): a message is safe only
 * once flush() returned 0; unconfirmed ones are resent after a reconnect.
 *
 * Consuming, and the guarantee actually given.  paho 1.3 sends PUBACK (QoS 1)
 * or PUBREC (QoS 2) as soon as it has read a PUBLISH from the socket, before
 * it calls messageArrived and whatever that callback returns (MQTTProtocol_
 * handlePublishes); it has no manual acknowledgement.  So an acknowledgement
 * after the sink committed is impossible with this library, and
 * TRANSPORT_CAP_COMMIT is NOT declared.  What we do: messageArrived copies the
 * message into a bounded queue (capacity cfg->prefetch, default 100, also sent
 * as MQTT 5 Receive Maximum) and, while the queue is full, blocks paho's
 * receive thread (in 100 ms steps): paho then reads nothing more, unread
 * messages stay unacknowledged in the socket and at the broker, which keeps
 * them in the persistent session.  Messages lost on a crash or a stop: those
 * in the queue and not yet polled (at most prefetch + 1), plus those polled
 * and not yet safe downstream.  Everything not yet read from the socket is
 * redelivered.  The receive thread also reads our PUBACKs, so while publish()
 * or flush() waits (process role: consume and publish on one client) the
 * callback does not block and the queue may briefly exceed its capacity;
 * otherwise the two would wait for each other.
 *
 * Reconnect: paho's automaticReconnect (1..30 s); the subscriptions are made
 * again on every reconnect (harmless with a persistent session);
 * connectionLost counts in counters.retries.
 *
 * -X keys: qos, inflight, keepalive, session.expiry, clean, client.id.
 *
 * Map:  state - configuration - callbacks - open/close - publish/flush -
 *       poll/release - lag/healthy - ops
 */
#include "transport.h"
#include "../src/error.h"

#include <MQTTAsync.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MQTT_DEFAULT_URI       "mqtt://127.0.0.1:1883"
#define MQTT_DEFAULT_INFLIGHT  100
#define MQTT_DEFAULT_PREFETCH  100
#define MQTT_DEFAULT_KEEPALIVE 30
#define MQTT_DEFAULT_EXPIRY    86400
#define MQTT_PRODUCER_EXPIRY   300
#define MQTT_CONNECT_TIMEOUT_S 10
#define MQTT_PUBLISH_WAIT_MS   30000
#define MQTT_CLOSE_TIMEOUT_MS  5000
#define MQTT_TOPIC_MAX	       512
#define MQTT_KEY_PROP	       "k"

/* ---- state --------------------------------------------------------------- */

/* One received message; payload and key live in the same allocation. */
struct mqtt_rx {
	struct mqtt_rx *next;
	enum sc_stream stream;
	bool dup, malformed;
	char *key;
	size_t len;
	unsigned char data[];
};

/* Result of an asynchronous call (connect, subscribe, disconnect). */
struct mqtt_call {
	int state; /* 0 pending, 1 done, < 0 failed with -SC_E* */
	char why[256];
};

struct mqtt_priv {
	MQTTAsync client;
	bool created;
	struct transport *t;

	struct sc_uri uri;
	char server[300];
	char client_id[256];
	char group[128];
	const char *ns;
	int qos, inflight, window, prefetch, keepalive, clean;
	long expiry;
	MQTTProperties connect_props;

	int nfilters;
	char *filters[SC_STREAM__COUNT];
	int filter_qos[SC_STREAM__COUNT];
	bool resubscribe, connected;

	struct mqtt_call connect_call, sub_call, disc_call;
	uint64_t lost; /* connectionLost count, folded into counters.retries */

	uint64_t outstanding, confirmed, failed;
	char fail_reason[200];
	bool closing;

	struct mqtt_rx *head, *tail;
	size_t queued;
};

/*
 * paho 1.3 runs every MQTTAsync client of the process on one receive thread
 * and calls messageArrived holding its global mutex: a blocked callback holds
 * back the PUBACKs of every producer in the process and every paho call
 * (MQTTAsync_sendMessage waits for that mutex).  Hence one lock and one
 * condition for all mqtt transports (every change is broadcast), and
 * mqtt_busy: threads inside a paho call or waiting for something only the
 * receive thread delivers (confirmations, CONNACK, SUBACK).  While it is
 * non-zero no callback blocks, so neither waits for the other.
 */
static pthread_mutex_t mqtt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mqtt_cond = PTHREAD_COND_INITIALIZER;
static int mqtt_busy;

static void mqtt_busy_enter(void)
{
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_busy_leave(void)
{
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy--;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait on the condition for at most ms (mqtt_lock held). */
static void mqtt_wait(int ms)
{
	struct timespec ts;

	mqtt_deadline(&ts, ms);
	pthread_cond_timedwait(&mqtt_cond, &mqtt_lock, &ts);
}

/* ---- configuration ------------------------------------------------------- */

static int mqtt_parse_int(const char *key, const char *v, long lo, long hi, long *out,
			  struct sc_error *err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: -X %s=%s: expected an integer in %ld..%ld", key, v, lo,
				    hi);
	*out = n;
	return 0;
}

static int mqtt_parse_props(struct mqtt_priv *p, const struct transport_cfg *cfg,
			    struct sc_error *err)
{
	for (size_t i = 0; i < cfg->nprops; i++) {
		const char *k = cfg->props[i].key,
			   *v = cfg->props[i].value ? cfg->props[i].value : "";
		long n;
		int rc = 0;

		if (strcmp(k, "qos") == 0) {
			rc = mqtt_parse_int(k, v, 0, 2, &n, err);
			p->qos = (int)n;
		} else if (strcmp(k, "inflight") == 0) {
			rc = mqtt_parse_int(k, v, 1, 65535, &n, err);
			p->inflight = (int)n;
		} else if (strcmp(k, "keepalive") == 0) {
			rc = mqtt_parse_int(k, v, 0, 65535, &n, err);
			p->keepalive = (int)n;
		} else if (strcmp(k, "session.expiry") == 0) {
			rc = mqtt_parse_int(k, v, 0, 4294967295L, &n, err);
			p->expiry = n;
		} else if (strcmp(k, "clean") == 0) {
			if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
				p->clean = 1;
			else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
				p->clean = 0;
			else
				return sc_error_set(err, SC_EINVAL,
						    "mqtt: -X clean=%s: expected true or false", v);
		} else if (strcmp(k, "client.id") == 0) {
			if (!*v || strlen(v) >= sizeof(p->client_id))
				return sc_error_set(err, SC_EINVAL,
						    "mqtt: -X client.id: empty or too long");
			sc_strlcpy(p->client_id, v, sizeof(p->client_id));
		} else {
			return sc_error_set(
				err, SC_EINVAL,
				"mqtt: unknown -X key '%s' (known: qos, inflight, keepalive, "
				"session.expiry, clean, client.id)",
				k);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Replace characters that are special in topic levels / share names. */
static void mqtt_sanitise(char *s, bool dots)
{
	for (; *s; s++)
		if (*s == '+' || *s == '#' || *s == '/' || (dots && *s == '.'))
			*s = '_';
}

static int mqtt_configure(struct mqtt_priv *p, const struct transport_cfg *cfg,
			  struct sc_error *err)
{
	char red[512];
	int rc;

	rc = sc_uri_parse(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, &p->uri,
			  err);
	if (rc)
		return sc_error_prefix(err, "mqtt");
	sc_uri_redact(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, red,
		      sizeof(red));
	if (strcmp(p->uri.scheme, "mqtts") == 0 || strcmp(p->uri.scheme, "ssl") == 0)
		return sc_error_set(err, SC_ENOTSUP,
				    "mqtt: broker uri '%s': tls is not supported yet", red);
	if (strcmp(p->uri.scheme, "mqtt") != 0 && strcmp(p->uri.scheme, "tcp") != 0)
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: broker uri '%s': scheme must be mqtt:// (or tcp://)",
				    red);
	if ((p->uri.path && *p->uri.path) || p->uri.query)
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: broker uri '%s': no path or query expected", red);
	snprintf(p->server, sizeof(p->server),
		 strchr(p->uri.host, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d", p->uri.host,
		 p->uri.port ? p->uri.port : 1883);

	p->ns = cfg->ns && *cfg->ns ? cfg->ns : "streamctl";
	if (strpbrk(p->ns, "+#"))
		return sc_error_set(err, SC_EINVAL, "mqtt: namespace '%s' contains '+' or '#'",
				    p->ns);
	p->qos = cfg->qos < 0 ? 1 : cfg->qos;
	if (p->qos > 2)
		return sc_error_set(err, SC_EINVAL, "mqtt: qos %d: expected 0, 1 or 2", cfg->qos);
	p->inflight = cfg->inflight > 0 ? cfg->inflight : MQTT_DEFAULT_INFLIGHT;
	p->prefetch = cfg->prefetch > 0 ? cfg->prefetch : MQTT_DEFAULT_PREFETCH;
	if (p->prefetch > 65535)
		p->prefetch = 65535;
	p->keepalive = MQTT_DEFAULT_KEEPALIVE;
	p->clean = -1;
	p->expiry = -1;
	if (cfg->client_id && *cfg->client_id)
		sc_strlcpy(p->client_id, cfg->client_id, sizeof(p->client_id));
	rc = mqtt_parse_props(p, cfg, err);
	if (rc)
		return rc;
	if (p->inflight > 65535)
		p->inflight = 65535;
	if (!p->client_id[0]) {
		if (cfg->inputs && p->clean != 1)
			return sc_error_set(
				err, SC_EINVAL,
				"mqtt: a consumer needs a stable client id for its persistent "
				"session (--client-id or -X client.id)");
		snprintf(p->client_id, sizeof(p->client_id), "%s-%s-%ld", p->ns,
			 cfg->role && *cfg->role ? cfg->role : "client", (long)getpid());
		if (p->expiry < 0)
			p->expiry = MQTT_PRODUCER_EXPIRY;
	}
	if (p->clean < 0)
		p->clean = 0;
	if (p->expiry < 0)
		p->expiry = MQTT_DEFAULT_EXPIRY;
	p->window = p->inflight;

	if (cfg->group && *cfg->group)
		snprintf(p->group, sizeof(p->group), "%s", cfg->group);
	else
		snprintf(p->group, sizeof(p->group), "%s.%s", p->ns,
			 cfg->role && *cfg->role ? cfg->role : "client");
	mqtt_sanitise(p->group, true);
	return 0;
}

/* "<ns>/<stream path>" into buf. */
static int mqtt_stream_topic(const struct mqtt_priv *p, enum sc_stream s, char *buf, size_t n)
{
	int len = transport_stream_name(buf, n, p->ns, s, '/');
	return len < 0 || (size_t)len >= n ? -1 : len;
}

static int mqtt_build_filters(struct mqtt_priv *p, const struct transport_cfg *cfg,
			      struct sc_error *err)
{
	char topic[MQTT_TOPIC_MAX], filter[MQTT_TOPIC_MAX + 160];

	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		if (!(cfg->inputs & SC_STREAM_BIT(s)))
			continue;
		if (s == SC_STREAM_EXTERNAL) {
			if (!cfg->external_topic || !*cfg->external_topic)
				return sc_error_set(err, SC_EINVAL,
						    "mqtt: the external stream needs a topic");
			snprintf(filter, sizeof(filter), "$share/%s/%s", p->group,
				 cfg->external_topic);
		} else {
			if (mqtt_stream_topic(p, (enum sc_stream)s, topic, sizeof(topic)) < 0)
				return sc_error_set(err, SC_EINVAL, "mqtt: namespace too long");
			snprintf(filter, sizeof(filter), "$share/%s/%s/#", p->group, topic);
		}
		p->filters[p->nfilters] = strdup(filter);
		if (!p->filters[p->nfilters])
			return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
		p->filter_qos[p->nfilters++] = p->qos;
	}
	return 0;
}

/* ---- callbacks (paho's threads) ------------------------------------------ */

static int mqtt_code_of(int paho_rc, enum MQTTReasonCodes reason)
{
	if (reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
	    reason == MQTTREASONCODE_NOT_AUTHORIZED || paho_rc == 4 || paho_rc == 5)
		return SC_EAUTH;
	return SC_ECONN;
}

static void mqtt_call_fail(struct mqtt_call *c, int code, const char *fmt, const char *a,
			   const char *b)
{
	pthread_mutex_lock(&mqtt_lock);
	snprintf(c->why, sizeof(c->why), fmt, a, b);
	c->state = -code;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_connect(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_priv *p = ctx;
	int rm = 0;

	if (MQTTProperties_hasProperty(&r->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
		rm = MQTTProperties_getNumericValue(&r->properties,
						    MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
	pthread_mutex_lock(&mqtt_lock);
	if (rm > 0 && rm < p->window)
		p->window = rm;
	p->connected = true;
	p->connect_call.state = 1;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_priv *p = ctx;
	const char *why = r->message;
	char buf[64];

	if (r->reasonCode != MQTTREASONCODE_SUCCESS)
		why = MQTTReasonCode_toString(r->reasonCode);
	if (!why) {
		snprintf(buf, sizeof(buf), "%s", MQTTAsync_strerror(r->code));
		why = buf;
	}
	mqtt_call_fail(&p->connect_call, mqtt_code_of(r->code, r->reasonCode), "%s%s", why, "");
}

/* paho fills reasonCodes only for more than one filter, else reasonCode. */
static void mqtt_on_subscribe(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_priv *p = ctx;
	int n = r->alt.sub.reasonCodeCount;

	for (int i = 0; i < (n > 1 ? n : 1); i++) {
		enum MQTTReasonCodes rc = n > 1 ? r->alt.sub.reasonCodes[i] : r->reasonCode;
		if (rc >= 0x80) {
			mqtt_call_fail(&p->sub_call, SC_EIO, "%s: %s", MQTTReasonCode_toString(rc),
				       i < p->nfilters ? p->filters[i] : "?");
			return;
		}
	}
	pthread_mutex_lock(&mqtt_lock);
	p->sub_call.state = 1;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_subscribe_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_priv *p = ctx;

	mqtt_call_fail(&p->sub_call, SC_EIO, "%s%s",
		       r->reasonCode != MQTTREASONCODE_SUCCESS
			       ? MQTTReasonCode_toString(r->reasonCode)
		       : r->message ? r->message
				    : MQTTAsync_strerror(r->code),
		       "");
}

static int mqtt_subscribe(struct mqtt_priv *p)
{
	MQTTAsync_callOptions o = MQTTAsync_callOptions_initializer;

	o.onSuccess5 = mqtt_on_subscribe;
	o.onFailure5 = mqtt_on_subscribe_fail;
	o.context = p;
	return MQTTAsync_subscribeMany(p->client, p->nfilters, p->filters, p->filter_qos, &o);
}

/* Every (re)connection: subscribe again after an automatic reconnect. */
static void mqtt_on_connected(void *ctx, char *cause)
{
	struct mqtt_priv *p = ctx;
	bool again;

	(void)cause;
	pthread_mutex_lock(&mqtt_lock);
	again = p->resubscribe;
	p->connected = true;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
	if (again)
		mqtt_subscribe(p);
}

static void mqtt_on_lost(void *ctx, char *cause)
{
	struct mqtt_priv *p = ctx;

	(void)cause;
	pthread_mutex_lock(&mqtt_lock);
	p->lost++;
	p->connected = false;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_sent(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_priv *p = ctx;

	(void)r;
	pthread_mutex_lock(&mqtt_lock);
	p->outstanding--;
	p->confirmed++;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_send_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	struct mqtt_priv *p = ctx;

	pthread_mutex_lock(&mqtt_lock);
	p->outstanding--;
	p->failed++;
	snprintf(p->fail_reason, sizeof(p->fail_reason), "%s",
		 r->reasonCode != MQTTREASONCODE_SUCCESS ? MQTTReasonCode_toString(r->reasonCode)
		 : r->message				 ? r->message
							 : MQTTAsync_strerror(r->code));
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

/* Which stream and key a received topic belongs to. */
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
static int mqtt_on_message(void *ctx, char *topic_name, int topic_len, MQTTAsync_message *m)
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
	while (p->queued >= (size_t)p->prefetch && !mqtt_busy && !p->closing &&
	       !sc_stop_requested())
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

/* ---- open / close -------------------------------------------------------- */

static int mqtt_await(struct mqtt_call *c, int ms)
{
	int64_t end = sc_mono_ns() + (int64_t)ms * 1000000;
	int state;

	pthread_mutex_lock(&mqtt_lock);
	while (c->state == 0 && sc_mono_ns() < end && !sc_stop_requested())
		mqtt_wait(100);
	state = c->state;
	pthread_mutex_unlock(&mqtt_lock);
	return state;
}

static int mqtt_set_props(struct mqtt_priv *p, struct sc_error *err)
{
	MQTTProperty prop = {0};

	prop.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
	prop.value.integer4 = (unsigned int)p->expiry;
	if (MQTTProperties_add(&p->connect_props, &prop))
		return sc_error_set(err, SC_ENOMEM, "mqtt: cannot set connect properties");
	prop.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
	prop.value.integer2 = (unsigned short)p->prefetch;
	if (MQTTProperties_add(&p->connect_props, &prop))
		return sc_error_set(err, SC_ENOMEM, "mqtt: cannot set connect properties");
	return 0;
}

static int mqtt_open_busy(struct transport *t, const struct transport_cfg *cfg,
			  struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
	char red[512];
	int rc, state;

	p->t = t;
	rc = mqtt_configure(p, cfg, err);
	if (rc)
		return rc;
	rc = mqtt_build_filters(p, cfg, err);
	if (rc)
		return rc;
	rc = mqtt_set_props(p, err);
	if (rc)
		return rc;
	/* Buffered commands: the window plus room for subscribes and acks. */
	co.sendWhileDisconnected = 1;
	co.maxBufferedMessages = p->inflight + 16;
	rc = MQTTAsync_createWithOptions(&p->client, p->server, p->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_EINVAL, "mqtt: cannot create client: %s",
				    MQTTAsync_strerror(rc));
	p->created = true;
	rc = MQTTAsync_setCallbacks(p->client, p, mqtt_on_lost, mqtt_on_message, NULL);
	if (rc == MQTTASYNC_SUCCESS)
		rc = MQTTAsync_setConnected(p->client, p, mqtt_on_connected);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_EIO, "mqtt: cannot set callbacks: %s",
				    MQTTAsync_strerror(rc));

	o.keepAliveInterval = p->keepalive;
	o.cleanstart = p->clean;
	o.maxInflight = p->inflight;
	o.connectTimeout = MQTT_CONNECT_TIMEOUT_S;
	o.automaticReconnect = 1;
	o.minRetryInterval = 1;
	o.maxRetryInterval = 30;
	o.connectProperties = &p->connect_props;
	o.username = p->uri.user && *p->uri.user ? p->uri.user : NULL;
	o.password = p->uri.password;
	o.onSuccess5 = mqtt_on_connect;
	o.onFailure5 = mqtt_on_connect_fail;
	o.context = p;
	sc_uri_redact(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, red,
		      sizeof(red));
	rc = MQTTAsync_connect(p->client, &o);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_ECONN, "mqtt: cannot connect to %s: %s", red,
				    MQTTAsync_strerror(rc));
	state = mqtt_await(&p->connect_call, (MQTT_CONNECT_TIMEOUT_S + 2) * 1000);
	if (state < 0)
		return sc_error_set(err, -state, "mqtt: cannot connect to %s: %s", red,
				    p->connect_call.why);
	if (state == 0)
		return sc_error_set(err, sc_stop_requested() ? SC_EINTR : SC_ETIMEDOUT,
				    "mqtt: cannot connect to %s: no answer", red);
	if (!p->nfilters)
		return 0;
	rc = mqtt_subscribe(p);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_EIO, "mqtt: cannot subscribe: %s",
				    MQTTAsync_strerror(rc));
	state = mqtt_await(&p->sub_call, MQTT_CONNECT_TIMEOUT_S * 1000);
	if (state <= 0)
		return sc_error_set(err, state < 0 ? -state : SC_ETIMEDOUT,
				    "mqtt: cannot subscribe to %s: %s", p->filters[0],
				    state < 0 ? p->sub_call.why : "no answer");
	pthread_mutex_lock(&mqtt_lock);
	p->resubscribe = true;
	pthread_mutex_unlock(&mqtt_lock);
	return 0;
}

static int mqtt_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	int rc;

	mqtt_busy_enter();
	rc = mqtt_open_busy(t, cfg, err);
	mqtt_busy_leave();
	return rc;
}

static void mqtt_on_disconnect(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_priv *p = ctx;

	(void)r;
	pthread_mutex_lock(&mqtt_lock);
	p->disc_call.state = 1;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void mqtt_on_disconnect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	(void)r;
	mqtt_on_disconnect(ctx, NULL);
}

/* Accepts a half-opened transport.  Queued, unpolled messages are dropped. */
static void mqtt_close(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	struct mqtt_rx *rx;

	if (!p)
		return;
	pthread_mutex_lock(&mqtt_lock);
	p->closing = true;
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
	if (p->created) {
		if (p->connected) {
			MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
			d.timeout = MQTT_CLOSE_TIMEOUT_MS;
			d.onSuccess5 = mqtt_on_disconnect;
			d.onFailure5 = mqtt_on_disconnect_fail;
			d.context = p;
			if (MQTTAsync_disconnect(p->client, &d) == MQTTASYNC_SUCCESS)
				mqtt_await(&p->disc_call, MQTT_CLOSE_TIMEOUT_MS + 1000);
		}
		MQTTAsync_destroy(&p->client);
		p->created = false;
	}
	mqtt_busy_leave();
	t->counters.retries = p->lost;
	while ((rx = p->head)) {
		p->head = rx->next;
		free(rx);
	}
	p->tail = NULL;
	for (int i = 0; i < p->nfilters; i++)
		free(p->filters[i]);
	p->nfilters = 0;
	MQTTProperties_free(&p->connect_props);
}

/* ---- publish / flush ----------------------------------------------------- */

static int mqtt_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_callOptions o = MQTTAsync_callOptions_initializer;
	char topic[MQTT_TOPIC_MAX], key[SC_KEY_MAX * 2];
	int64_t end;
	int n, rc;

	if (m->stream == SC_STREAM_EXTERNAL) {
		if (!t->cfg.external_topic || !*t->cfg.external_topic)
			return sc_error_set(err, SC_EINVAL,
					    "mqtt: the external stream needs a topic");
		n = snprintf(topic, sizeof(topic), "%s", t->cfg.external_topic);
	} else {
		n = mqtt_stream_topic(p, m->stream, topic, sizeof(topic));
		if (n >= 0 && m->key) {
			sc_strlcpy(key, m->key, sizeof(key));
			mqtt_sanitise(key, false);
			n = snprintf(topic + n, sizeof(topic) - (size_t)n, "/%s", key);
			if (strcmp(key, m->key) != 0) {
				MQTTProperty prop = {0};
				prop.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
				prop.value.data.data = (char *)MQTT_KEY_PROP;
				prop.value.data.len = 1;
				prop.value.value.data = (char *)m->key;
				prop.value.value.len = (int)strlen(m->key);
				if (MQTTProperties_add(&msg.properties, &prop))
					return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
			}
		}
	}
	if (n < 0 || (size_t)n >= sizeof(topic) - 1 || (m->key && strlen(m->key) >= sizeof(key))) {
		MQTTProperties_free(&msg.properties);
		return sc_error_set(err, SC_EINVAL, "mqtt: topic too long");
	}
	if (m->len > 268435455) {
		MQTTProperties_free(&msg.properties);
		return sc_error_set(err, SC_ETOOBIG, "mqtt: message of %zu bytes is too large",
				    m->len);
	}

	end = sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000;
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	while (p->outstanding >= (uint64_t)p->window && !sc_stop_requested() && sc_mono_ns() < end)
		mqtt_wait(100);
	mqtt_busy--;
	if (p->outstanding >= (uint64_t)p->window) {
		pthread_mutex_unlock(&mqtt_lock);
		MQTTProperties_free(&msg.properties);
		if (sc_stop_requested())
			return sc_error_set(err, SC_EINTR, "mqtt: publish interrupted");
		return sc_error_set(err, SC_ETIMEDOUT,
				    "mqtt: no confirmation from the broker for %d s "
				    "(%d messages unconfirmed)",
				    MQTT_PUBLISH_WAIT_MS / 1000, p->window);
	}
	p->outstanding++;
	t->counters.retries = p->lost;
	pthread_mutex_unlock(&mqtt_lock);

	msg.payload = (void *)m->payload;
	msg.payloadlen = (int)m->len;
	msg.qos = p->qos;
	o.onSuccess5 = mqtt_on_sent;
	o.onFailure5 = mqtt_on_send_fail;
	o.context = p;
	mqtt_busy_enter();
	rc = MQTTAsync_sendMessage(p->client, topic, &msg, &o);
	mqtt_busy_leave();
	MQTTProperties_free(&msg.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&mqtt_lock);
		p->outstanding--;
		pthread_cond_broadcast(&mqtt_cond);
		pthread_mutex_unlock(&mqtt_lock);
		return sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
				    MQTTAsync_strerror(rc));
	}
	return 0;
}

static int mqtt_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int64_t end = timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t left, failed;
	int rc = 0;

	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	while (p->outstanding > 0 && !sc_stop_requested() && sc_mono_ns() < end)
		mqtt_wait(100);
	mqtt_busy--;
	left = p->outstanding;
	failed = p->failed;
	if (failed) {
		rc = sc_error_set(err, SC_EIO, "mqtt: %llu message(s) failed: %s",
				  (unsigned long long)failed, p->fail_reason);
		p->failed = 0;
	} else if (left) {
		rc = sc_error_set(err, sc_stop_requested() ? SC_EINTR : SC_ETIMEDOUT,
				  "mqtt: %llu message(s) still unconfirmed after %d ms",
				  (unsigned long long)left, timeout_ms);
	}
	t->counters.retries = p->lost;
	pthread_mutex_unlock(&mqtt_lock);
	return rc;
}

/* ---- poll / release ------------------------------------------------------ */

static int mqtt_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
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

static void mqtt_release(struct transport *t, struct sc_msg *m)
{
	(void)t;
	free(m->handle);
	m->handle = NULL;
}

/* ---- lag / healthy ------------------------------------------------------- */

static int64_t mqtt_lag(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	int64_t n;

	pthread_mutex_lock(&mqtt_lock);
	n = (int64_t)p->queued;
	pthread_mutex_unlock(&mqtt_lock);
	return n;
}

static bool mqtt_healthy(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	bool up;

	pthread_mutex_lock(&mqtt_lock);
	up = p->connected;
	t->counters.retries = p->lost;
	pthread_mutex_unlock(&mqtt_lock);
	return up;
}

/* ---- ops ----------------------------------------------------------------- */

const struct transport_ops transport_mqtt = {
	.name = "mqtt",
	.summary = "MQTT 5 (paho): QoS 0/1/2, persistent sessions, shared subscriptions",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_CONFIRM |
		TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG,
	.priv_size = sizeof(struct mqtt_priv),
	.open = mqtt_open,
	.publish = mqtt_publish,
	.poll = mqtt_poll,
	.commit = NULL,
	.flush = mqtt_flush,
	.release = mqtt_release,
	.lag = mqtt_lag,
	.healthy = mqtt_healthy,
	.close = mqtt_close,
};

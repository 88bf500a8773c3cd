/*
 * mqtt_sync.c - publish-only handles (the generate role) at every QoS, plain
 * and TLS, on paho's synchronous client (MQTTClient, libpaho-mqtt3cs).
 * MQTTClient_publishMessage5 writes each PUBLISH to the socket in the
 * caller's thread.  The asynchronous path (mqtt.c, mqtt_publish.c) hands
 * every message to paho's send thread, is called back when it is written or
 * confirmed, and wakes the publisher from paho's threads: thread hand-offs
 * and lock traffic per message that a handle which only publishes does not
 * need.  Handles that subscribe (process, sink) stay asynchronous.
 *
 * No paho thread.  With callbacks set (MQTTClient_setCallbacks), MQTTClient
 * runs a receive thread, and starting and stopping it costs 0.3 s per
 * connection (a 100 ms sleep, 10 ms semaphore polls, a 100 ms select to
 * notice the new socket, a 100 ms wait at destroy; MQTTClient.c 1.3.12,
 * MQTTClient_connectURIVersion, MQTTClient_run, MQTTClient_stop).  Without
 * it, paho reads the socket only inside the calls that run its packet loop
 * (MQTTClient_cycle): MQTTClient_receive, MQTTClient_yield, connect.  So
 * this file drives that loop itself, from the thread that waits:
 *   - QoS 1/2: confirmations come through MQTTClient_setPublished (called
 *     inside the packet loop, PUBACK/PUBCOMP or a refusing PUBREC, with the
 *     reason code), which needs no thread.  publish() counts the unconfirmed
 *     messages; once `window` are, it reads acknowledgements with
 *     MQTTClient_receive(timeout 0) - one packet per call, no sleep - until
 *     half the window is left (hysteresis: one wait per window/2 messages),
 *     and between calls that read nothing it waits in poll() on the socket
 *     (found once after connect, mqtt_new_socket; unknown: 1 ms naps).
 *     flush() does the same until nothing is unconfirmed.  Never
 *     MQTTClient_yield in a publish: it runs the packet loop for a fixed
 *     100 ms, however soon the acknowledgements come.
 *   - paho's own in-flight limit (maxInflightMessages, clamped by paho to the
 *     broker's Receive Maximum) is never reached: at the limit,
 *     MQTTClient_publishMessage5 runs MQTTClient_yield, 100 ms per round.  The
 *     window is min(inflight, the broker's Receive Maximum) and paho's limit
 *     is set to the window, so only this file's wait ever holds a publish
 *     back.
 *   - keepalive: a thread of ours (sync_keepalive) wakes every second
 *     (keepalive / 4 when shorter) and, once nothing was published for half
 *     the keepalive interval, runs one round of the packet loop
 *     (MQTTClient_receive, timeout 0): paho sends PINGREQ when due, reads
 *     PINGRESP and what acknowledgements are waiting, and notices a
 *     connection the broker closed.  While messages flow they keep the
 *     connection alive.
 * Nagle's algorithm stays on at QoS 1 and 2 (mqtt.c sets TCP_NODELAY on
 * every other socket): this handle sends only packets the broker answers
 * (PUBLISH, PUBREL, PINGREQ), and an answer carries the ACK that releases
 * what Nagle held back, so nothing waits for a delayed ACK, while a burst of
 * publishes goes out in full segments instead of one segment and one broker
 * wake-up per message.  At QoS 0 nothing is answered: TCP_NODELAY (with
 * Nagle a QoS 0 publisher now and then waited for the broker's delayed ACK,
 * about 40 ms, bench/results/raw/mqtt-qos0-nagle.csv).
 *
 * sync_lock, one mutex for all such handles, is held around every paho call
 * on them: paho's packet loop serves every MQTTClient socket of the process,
 * so a round run for one handle (or by the keepalive thread) may read
 * another's packet - a CONNACK read that way is dropped and that connect
 * times out - and a confirmation must not be read before publish() has
 * recorded the message id it answers.  It is not held while waiting for
 * acknowledgements or between reconnect attempts, but it is held through a
 * connect, which paho bounds by MQTT_CONNECT_TIMEOUT_S: while one handle
 * cannot reach its broker, the other publish-only handles of the process
 * wait that long (the generate role has one).
 *
 * Delivery.  QoS 0: publish() returns once paho has written the message to
 * the socket (paho waits for a partly written packet to complete), so flush()
 * has nothing to wait for; at most once: a message written to a connection
 * the broker has already dropped is lost.  QoS 1/2: flush() returns 0 once
 * every message was confirmed, and reports refusals (reason code >= 0x80)
 * since the previous flush.  Each unconfirmed message keeps a copy here
 * (struct mqtt_sync_out).  After a reconnect, paho sends again (DUP) what it
 * still holds (MQTTClient keeps its unconfirmed publishes across a reconnect
 * unless the session starts clean); what it no longer holds
 * (MQTTClient_getPendingDeliveryTokens) is sent again from our copy.  Nothing
 * confirmed for MQTT_SYNC_RESEND_MS while messages wait: the connection is
 * dropped and made again, which sends them all again (a broker restarted
 * from an older save may have lost them without a word).  A re-sent message
 * may arrive twice; the sink refuses the replay of (source, seq).
 * Reconnecting happens in publish()/flush(): at once, then after 1, 2, 4, ...
 * 30 s; after MQTT_PUBLISH_WAIT_MS without a connection they fail with
 * -SC_ECONN.  Losses of the connection count in counters.retries.
 *
 * Two paho libraries in one process (until the consumers move here too).
 * libpaho-mqtt3as (MQTTAsync) and libpaho-mqtt3cs both export
 * Thread_{start,create_mutex,lock_mutex,unlock_mutex,getid},
 * MQTTProperties_*, MQTTProperty*, MQTTReasonCode_toString and Heap_get_info,
 * built from the same source files (Thread.c, MQTTProperties.c,
 * MQTTReasonCodes.c, Heap.c; `nm -D`, paho 1.3.11 as installed, the same in
 * 1.3.12), and call them through the PLT, so the library linked first (3as:
 * see the Makefile) serves both.  The Thread_* functions are stateless
 * wrappers of pthread calls: same code, safe.  MQTTProperties_* allocate
 * through paho's heap tracker (Heap.c, built in by Debian), whose state is per
 * library: properties 3cs reads from a packet (CONNACK) and frees through
 * 3as's MQTTProperties_free are not found in 3as's table and are left
 * allocated - a few hundred bytes per connect (LeakSanitizer, which
 * tests/lsan.supp's libpaho-mqtt3as line covers), not per message, and never
 * a double free or a crash (Heap.c myfree frees only what its table holds).
 * The "k" property of a publish is allocated and freed here, both by 3as.
 *
 * Map:  state - connecting - the packet loop - re-sending - publish/flush/close
 */
#include "mqtt_internal.h"
#include "error.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MQTT_SYNC_BACKOFF_MAX_S 30
/* Nothing confirmed for this long while messages wait: reconnect, which sends them again. */
#define MQTT_SYNC_RESEND_MS 5000
/* Sockets to the broker looked at to find ours after connecting. */
#define MQTT_SYNC_SOCKS 64
#define MQTT_SYNC_IDS	65536
/* paho's PAHO_MEMORY_ERROR (not in MQTTClient.h) */
#define MQTT_SYNC_ENOMEM (-99)
#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))

/* ---- state ------------------------------------------------------------- */

/* One unconfirmed message; topic, key and payload in one allocation. */
struct mqtt_sync_out {
	struct mqtt_sync_out *next, *prev;
	int msgid;	 /* paho's message id; 0: not in paho (to be sent again) */
	const char *key; /* the original key, as the "k" property; NULL if none */
	const char *topic;
	size_t len;
	unsigned char data[];
};

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;

bool mqtt_sync_eligible(const struct mqtt_priv *p)
{
	return p->nfilters == 0;
}

static void sync_lost(struct mqtt_priv *p)
{
	pthread_mutex_lock(&mqtt_lock);
	if (p->connected) {
		p->connected = false;
		p->lost++;
	}
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void out_unlink(struct mqtt_priv *p, struct mqtt_sync_out *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		p->sync_outs = o->next;
	if (o->next)
		o->next->prev = o->prev;
}

/* Confirmed or refused (mqtt_lock held). */
static void out_settle(struct mqtt_priv *p, struct mqtt_sync_out *o)
{
	if (o->msgid > 0 && p->sync_ids[o->msgid] == o)
		p->sync_ids[o->msgid] = NULL;
	out_unlink(p, o);
	free(o);
	p->outstanding--;
	p->progress_ns = sc_mono_ns();
}

/* Its acknowledgement came with reason code rc (mqtt_lock held). */
static void out_done(struct mqtt_priv *p, struct mqtt_sync_out *o, int rc)
{
	if (rc >= 0x80) { /* the broker's verdict: final */
		p->failed++;
		snprintf(p->fail_reason, sizeof(p->fail_reason), "%s",
			 MQTTReasonCode_toString((enum MQTTReasonCodes)rc));
	} else {
		p->confirmed++;
	}
	out_settle(p, o);
}

/*
 * PUBACK, PUBCOMP, or a PUBREC that refuses (paho's packet loop, in whichever
 * thread runs it, sync_lock held).
 */
static void sync_on_published(void *ctx, int msgid, int packet_type, MQTTProperties *props,
			      enum MQTTReasonCodes rc)
{
	struct mqtt_priv *p = ctx;
	struct mqtt_sync_out *o;

	(void)packet_type;
	(void)props;
	if (msgid <= 0 || msgid >= MQTT_SYNC_IDS)
		return;
	pthread_mutex_lock(&mqtt_lock);
	o = p->sync_ids ? p->sync_ids[msgid] : NULL;
	if (o)
		out_done(p, o, rc);
	else if (p->sync_early_n >= 0 && p->sync_early_n < (int)ARRAY_SIZE(p->sync_early)) {
		p->sync_early[p->sync_early_n][0] = msgid;
		p->sync_early[p->sync_early_n][1] = (int)rc;
		p->sync_early_n++;
	}
	pthread_mutex_unlock(&mqtt_lock);
}

/* ---- connecting ---------------------------------------------------------- */

/* One attempt (sync_lock held): 0, or -SC_EAUTH / -SC_ECONN with why filled. */
static int sync_connect(struct mqtt_priv *p, char *why, size_t n)
{
	MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
	unsigned long known[MQTT_SYNC_SOCKS];
	MQTTResponse r;
	int rc, nknown, rm = 0;

	o.keepAliveInterval = p->keepalive;
	o.cleanstart = p->clean;
	o.connectTimeout = MQTT_CONNECT_TIMEOUT_S;
	o.reliable = 0;
	o.maxInflightMessages = p->qos > 0 ? p->window : 65535;
	o.username = p->uri.user && *p->uri.user ? p->uri.user : NULL;
	o.password = p->password[0] ? p->password : NULL;
	if (p->tls)
		o.ssl = &p->sync_ssl;
	nknown = mqtt_broker_sockets(p, known, MQTT_SYNC_SOCKS);
	r = MQTTClient_connect5(p->sync_client, &o, &p->connect_props, NULL);
	rc = r.reasonCode;
	if (rc == MQTTCLIENT_SUCCESS && r.properties &&
	    MQTTProperties_hasProperty(r.properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
		rm = MQTTProperties_getNumericValue(r.properties,
						    MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
	MQTTResponse_free(r);
	if (rc == MQTTCLIENT_SUCCESS) {
		if (p->qos == 0)
			mqtt_nodelay(p);
		p->sync_fd = nknown <= MQTT_SYNC_SOCKS ? mqtt_new_socket(p, known, nknown) : -1;
		pthread_mutex_lock(&mqtt_lock);
		if (rm > 0 && rm < p->window && p->qos > 0) /* paho clamps its limit to it too */
			p->window = rm;
		p->connected = true;
		pthread_mutex_unlock(&mqtt_lock);
		return 0;
	}
	/* a refused CONNACK comes back as its reason code */
	snprintf(why, n, "%s",
		 rc >= 0x80		    ? MQTTReasonCode_toString((enum MQTTReasonCodes)rc)
		 : rc == MQTTCLIENT_FAILURE ? "TCP connect failure (refused or timed out)"
					    : MQTTClient_strerror(rc));
	if (rc == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD || rc == MQTTREASONCODE_NOT_AUTHORIZED ||
	    rc == 4 || rc == 5)
		return -SC_EAUTH;
	return -SC_ECONN;
}

/* One round of paho's packet loop (sync_lock held): false if the connection is gone. */
static bool sync_round(struct mqtt_priv *p)
{
	MQTTClient_message *msg = NULL;
	char *topic = NULL;
	int len = 0, rc;

	rc = MQTTClient_receive(p->sync_client, &topic, &len, &msg, 0);
	if (msg) /* nothing is subscribed; a stray message is dropped */
		MQTTClient_freeMessage(&msg);
	if (topic)
		MQTTClient_free(topic);
	return rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE &&
	       MQTTClient_isConnected(p->sync_client);
}

/* The keepalive thread: see the top of the file. */
static void *sync_keepalive(void *arg)
{
	struct mqtt_priv *p = arg;
	int64_t idle_after = (int64_t)p->keepalive * 500 * 1000000, idle_since = sc_mono_ns();
	int tick_ms =
		p->keepalive >= 4 ? 1000 : p->keepalive * 250; /* sees a publish late by this */
	unsigned long seen = 0, n;
	bool up, was;

	pthread_mutex_lock(&mqtt_lock);
	while (!p->sync_stop) {
		mqtt_wait(tick_ms);
		if (p->sync_stop)
			break;
		n = __atomic_load_n(&p->sync_pubs, __ATOMIC_RELAXED);
		if (n != seen) {
			seen = n;
			idle_since = sc_mono_ns();
			continue;
		}
		if (sc_mono_ns() - idle_since < idle_after || !p->connected)
			continue;
		pthread_mutex_unlock(&mqtt_lock);
		pthread_mutex_lock(&sync_lock);
		up = sync_round(p);
		pthread_mutex_unlock(&sync_lock);
		pthread_mutex_lock(&mqtt_lock);
		was = p->connected;
		if (!up && was) {
			p->connected = false;
			p->lost++;
		}
	}
	pthread_mutex_unlock(&mqtt_lock);
	return NULL;
}

static void sync_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

int mqtt_sync_open(struct mqtt_priv *p, const char *red, struct sc_error *err)
{
	MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
	char why[256];
	int rc;

	p->sync_fd = -1;
	p->sync_early_n = -1;
	if (p->qos > 0) {
		p->sync_ids = calloc(MQTT_SYNC_IDS, sizeof(*p->sync_ids));
		if (!p->sync_ids)
			return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	}
	co.MQTTVersion = MQTTVERSION_5;
	rc = MQTTClient_createWithOptions(&p->sync_client, p->server, p->client_id,
					  MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTCLIENT_SUCCESS) {
		p->sync_client = NULL;
		return sc_error_set(err, SC_EINVAL, "mqtt: cannot create client: %s",
				    MQTTClient_strerror(rc));
	}
	p->sync = true;
	rc = MQTTClient_setPublished(p->sync_client, p, sync_on_published);
	if (rc != MQTTCLIENT_SUCCESS)
		return sc_error_set(err, SC_EIO, "mqtt: cannot set callbacks: %s",
				    MQTTClient_strerror(rc));
	if (p->tls) {
		MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
		ssl.trustStore = p->tlsopt.ca;
		ssl.keyStore = p->tlsopt.cert;
		ssl.privateKey = p->tlsopt.key;
		ssl.enableServerCertAuth = !p->tlsopt.insecure;
		ssl.verify = !p->tlsopt.insecure;
		ssl.ssl_error_cb = mqtt_on_ssl_error;
		ssl.ssl_error_context = p;
		p->sync_ssl = ssl;
	}
	pthread_mutex_lock(&sync_lock);
	rc = sync_connect(p, why, sizeof(why));
	pthread_mutex_unlock(&sync_lock);
	if (rc) {
		sc_strlcpy(p->connect_call.why, why, sizeof(p->connect_call.why));
		return mqtt_connect_error(p, -rc, red, err);
	}
	if (p->keepalive > 0) {
		rc = pthread_create(&p->sync_ka, NULL, sync_keepalive, p);
		if (rc)
			return sc_error_set(err, SC_ENOMEM, "mqtt: cannot start a thread: %s",
					    strerror(rc));
		p->sync_ka_started = true;
	}
	return 0;
}

/*
 * The connection is gone: reconnect with backoff until end (sync_lock held,
 * dropped while sleeping).  attempt counts the attempts of this call (the
 * first one is immediate).
 */
static int sync_reconnect(struct mqtt_priv *p, int64_t end, int *attempt, char *why, size_t n)
{
	int rc = -SC_ECONN;

	snprintf(why, n, "no connection");
	while (sc_mono_ns() < end) {
		if (*attempt > 0) {
			int s = *attempt > 5 ? MQTT_SYNC_BACKOFF_MAX_S : 1 << (*attempt - 1);
			int64_t left = (end - sc_mono_ns()) / 1000000;
			if (s > MQTT_SYNC_BACKOFF_MAX_S)
				s = MQTT_SYNC_BACKOFF_MAX_S;
			pthread_mutex_unlock(&sync_lock);
			sync_sleep_ms((int64_t)s * 1000 < left ? (int64_t)s * 1000 : left);
			pthread_mutex_lock(&sync_lock);
		}
		(*attempt)++;
		rc = sync_connect(p, why, n);
		if (rc == 0)
			return 0;
	}
	return rc;
}

/* ---- re-sending ------------------------------------------------------------ */

/* One send of o (sync_lock held): paho's return code. */
static int out_send(struct mqtt_priv *p, struct mqtt_sync_out *o)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	MQTTClient_deliveryToken token = 0;
	MQTTResponse r;

	if (o->key && mqtt_key_prop(&msg.properties, o->key))
		return MQTT_SYNC_ENOMEM;
	msg.payload = o->data;
	msg.payloadlen = (int)o->len;
	msg.qos = p->qos;
	pthread_mutex_lock(&mqtt_lock);
	p->sync_early_n = 0;
	pthread_mutex_unlock(&mqtt_lock);
	r = MQTTClient_publishMessage5(p->sync_client, o->topic, &msg, &token);
	MQTTProperties_free(&msg.properties);
	pthread_mutex_lock(&mqtt_lock);
	if (r.reasonCode == MQTTCLIENT_SUCCESS && token > 0 && token < MQTT_SYNC_IDS) {
		int early = -1;
		/* a partly written packet makes paho run its packet loop inside the
		 * call, which may read this very message's acknowledgement */
		for (int i = 0; i < p->sync_early_n; i++)
			if (p->sync_early[i][0] == token)
				early = p->sync_early[i][1];
		o->msgid = token;
		p->sync_ids[token] = o;
		if (early >= 0)
			out_done(p, o, early);
	}
	p->sync_early_n = -1;
	pthread_mutex_unlock(&mqtt_lock);
	return r.reasonCode;
}

/*
 * After a reconnect (sync_lock held): send again, from our copy, what paho no
 * longer holds (it sends again itself what it does).
 */
static int sync_resend_lost(struct mqtt_priv *p)
{
	MQTTClient_deliveryToken *tokens = NULL;
	struct mqtt_sync_out *o, **todo;
	int rc = MQTTCLIENT_SUCCESS, n = 0;

	if (p->qos == 0 || !p->sync_outs)
		return 0;
	if (MQTTClient_getPendingDeliveryTokens(p->sync_client, &tokens) != MQTTCLIENT_SUCCESS)
		tokens = NULL;
	pthread_mutex_lock(&mqtt_lock);
	for (o = p->sync_outs; o; o = o->next) {
		bool held = false;
		for (int i = 0; tokens && tokens[i] != -1; i++)
			held |= tokens[i] == o->msgid;
		if (!held) {
			if (o->msgid > 0 && p->sync_ids[o->msgid] == o)
				p->sync_ids[o->msgid] = NULL;
			o->msgid = 0;
		}
	}
	pthread_mutex_unlock(&mqtt_lock);
	MQTTClient_free(tokens);
	/* a publish may run paho's packet loop, whose confirmations free copies
	 * of the list: take those to send (which nothing can confirm) first */
	pthread_mutex_lock(&mqtt_lock);
	for (o = p->sync_outs; o; o = o->next)
		n += o->msgid == 0;
	pthread_mutex_unlock(&mqtt_lock);
	if (!n)
		return 0;
	todo = malloc((size_t)n * sizeof(*todo));
	if (!todo)
		return -1;
	n = 0;
	pthread_mutex_lock(&mqtt_lock);
	for (o = p->sync_outs; o; o = o->next)
		if (o->msgid == 0)
			todo[n++] = o;
	pthread_mutex_unlock(&mqtt_lock);
	for (int i = 0; i < n && rc == MQTTCLIENT_SUCCESS; i++) {
		rc = out_send(p, todo[i]);
		pthread_mutex_lock(&mqtt_lock);
		p->resent++;
		pthread_mutex_unlock(&mqtt_lock);
	}
	free(todo);
	return rc == MQTTCLIENT_SUCCESS ? 0 : -1;
}

/*
 * Get a connection back (sync_lock held): reconnect, then re-send what paho
 * lost.  0, or -SC_E* with err set.
 */
static int sync_recover(struct mqtt_priv *p, int64_t *end, int *attempt, struct sc_error *err)
{
	char why[256];
	int rc;

	sync_lost(p);
	if (!*end)
		*end = sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000;
	for (;;) {
		rc = sync_reconnect(p, *end, attempt, why, sizeof(why));
		if (rc)
			return sc_error_set(err, -rc,
					    "mqtt: lost the connection to %s and could not "
					    "reconnect for %d s: %s",
					    p->where, MQTT_PUBLISH_WAIT_MS / 1000, why);
		pthread_mutex_lock(&mqtt_lock);
		p->progress_ns = sc_mono_ns();
		pthread_mutex_unlock(&mqtt_lock);
		if (sync_resend_lost(p) == 0 && MQTTClient_isConnected(p->sync_client))
			return 0;
		sync_lost(p);
	}
}

/*
 * Read acknowledgements until at most `until` messages are unconfirmed or
 * end passes (sync_lock held, dropped while waiting on the socket).  Returns
 * 0, or -SC_E* with err set when the connection cannot be had back;
 * -SC_ETIMEDOUT without err when end passed.
 */
static int sync_drain(struct mqtt_priv *p, uint64_t until, int64_t end, struct sc_error *err)
{
	int64_t rend = 0, now, quiet_since = sc_mono_ns();
	int attempt = 0, rc;
	uint64_t left, seen = UINT64_MAX, settled;

	for (;;) {
		pthread_mutex_lock(&mqtt_lock);
		left = p->outstanding;
		settled = p->confirmed + p->failed;
		pthread_mutex_unlock(&mqtt_lock);
		now = sc_mono_ns();
		if (left <= until)
			return 0;
		if (now >= end)
			return -SC_ETIMEDOUT;
		if (settled != seen) {
			quiet_since = now;
		} else if (now - quiet_since > (int64_t)MQTT_SYNC_RESEND_MS * 1000000) {
			/* a silent loss: the reconnect sends everything again */
			MQTTClient_disconnect5(p->sync_client, 0,
					       MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
			rc = sync_recover(p, &rend, &attempt, err);
			if (rc)
				return rc;
			quiet_since = sc_mono_ns();
			continue;
		} else { /* the last round read no acknowledgement */
			pthread_mutex_unlock(&sync_lock);
			if (p->sync_fd >= 0) {
				struct pollfd pfd = {.fd = p->sync_fd, .events = POLLIN};
				poll(&pfd, 1, 10);
			} else {
				sync_sleep_ms(1);
			}
			pthread_mutex_lock(&sync_lock);
		}
		seen = settled;
		if (!sync_round(p)) {
			rc = sync_recover(p, &rend, &attempt, err);
			if (rc)
				return rc;
		}
	}
}

/* ---- publish / flush / close --------------------------------------------- */

int mqtt_sync_publish(struct mqtt_priv *p, const char *topic, const struct sc_msg *m, bool keyprop,
		      struct sc_error *err)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	struct mqtt_sync_out *o = NULL;
	size_t tlen, klen = 0;
	MQTTResponse r;
	int64_t end = 0;
	int attempt = 0, rc;

	pthread_mutex_lock(&sync_lock);
	if (p->qos > 0) {
		uint64_t window;

		pthread_mutex_lock(&mqtt_lock);
		window = (uint64_t)p->window;
		if (p->outstanding == 0)
			p->progress_ns = sc_mono_ns(); /* the stall clock starts with the window */
		pthread_mutex_unlock(&mqtt_lock);
		if (p->outstanding >= window) {
			rc = sync_drain(p, window / 2,
					sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000,
					err);
			if (rc) {
				pthread_mutex_unlock(&sync_lock);
				if (rc == -SC_ETIMEDOUT)
					return sc_error_set(err, SC_ETIMEDOUT,
							    "mqtt: no confirmation from the broker "
							    "for %d s (%llu messages unconfirmed)",
							    MQTT_PUBLISH_WAIT_MS / 1000,
							    (unsigned long long)window);
				return rc;
			}
		}
		/* the copy that a re-send needs: payload, topic, key */
		tlen = strlen(topic);
		if (keyprop)
			klen = strlen(m->key);
		o = malloc(sizeof(*o) + m->len + tlen + 1 + (keyprop ? klen + 1 : 0));
		if (!o) {
			pthread_mutex_unlock(&sync_lock);
			return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
		}
		memset(o, 0, sizeof(*o));
		o->len = m->len;
		memcpy(o->data, m->payload, m->len);
		o->topic = memcpy(o->data + m->len, topic, tlen + 1);
		if (keyprop)
			o->key = memcpy(o->data + m->len + tlen + 1, m->key, klen + 1);
		pthread_mutex_lock(&mqtt_lock);
		p->outstanding++;
		o->next = p->sync_outs;
		if (p->sync_outs)
			p->sync_outs->prev = o;
		p->sync_outs = o;
		pthread_mutex_unlock(&mqtt_lock);
		for (;;) {
			rc = out_send(p, o);
			if (rc == MQTTCLIENT_SUCCESS)
				break;
			if (rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE)
				goto refused;
			/* not taken: the connection is gone; sync_recover sends it with
			 * the others once back (and o may be confirmed and freed by then) */
			rc = sync_recover(p, &end, &attempt, err);
			if (rc) {
				pthread_mutex_unlock(&sync_lock);
				return rc;
			}
			break;
		}
		pthread_mutex_unlock(&sync_lock);
		__atomic_add_fetch(&p->sync_pubs, 1, __ATOMIC_RELAXED);
		return 0;
	}

	if (keyprop && mqtt_key_prop(&msg.properties, m->key)) {
		pthread_mutex_unlock(&sync_lock);
		return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	}
	msg.payload = (void *)m->payload;
	msg.payloadlen = (int)m->len;
	msg.qos = 0;
	for (;;) {
		r = MQTTClient_publishMessage5(p->sync_client, topic, &msg, NULL);
		rc = r.reasonCode;
		if (rc == MQTTCLIENT_SUCCESS)
			break;
		if (rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE)
			goto refused;
		/* not written: the connection is gone; send it again once reconnected */
		rc = sync_recover(p, &end, &attempt, err);
		if (rc) {
			pthread_mutex_unlock(&sync_lock);
			MQTTProperties_free(&msg.properties);
			return rc;
		}
	}
	pthread_mutex_unlock(&sync_lock);
	MQTTProperties_free(&msg.properties);
	__atomic_add_fetch(&p->sync_pubs, 1, __ATOMIC_RELAXED);
	return 0;

refused:
	if (o) {
		pthread_mutex_lock(&mqtt_lock);
		out_settle(p, o);
		pthread_mutex_unlock(&mqtt_lock);
	}
	pthread_mutex_unlock(&sync_lock);
	MQTTProperties_free(&msg.properties);
	return sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
			    MQTTClient_strerror(rc));
}

int mqtt_sync_flush(struct mqtt_priv *p, int timeout_ms, struct sc_error *err)
{
	int64_t end = timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t left, failed;
	int rc = 0;

	if (p->qos > 0) {
		pthread_mutex_lock(&sync_lock);
		rc = sync_drain(p, 0, end, err);
		pthread_mutex_unlock(&sync_lock);
		if (rc && rc != -SC_ETIMEDOUT)
			return rc;
		rc = 0;
	}
	pthread_mutex_lock(&mqtt_lock);
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
	p->t->counters.retries = p->lost + p->resent;
	pthread_mutex_unlock(&mqtt_lock);
	return rc;
}

void mqtt_sync_close(struct mqtt_priv *p)
{
	struct mqtt_sync_out *o;
	bool up;

	if (p->sync_ka_started) {
		pthread_mutex_lock(&mqtt_lock);
		p->sync_stop = true;
		pthread_cond_broadcast(&mqtt_cond);
		pthread_mutex_unlock(&mqtt_lock);
		pthread_join(p->sync_ka, NULL);
		p->sync_ka_started = false;
	}
	if (p->sync_client) {
		pthread_mutex_lock(&mqtt_lock);
		up = p->connected;
		p->connected = false;
		pthread_mutex_unlock(&mqtt_lock);
		pthread_mutex_lock(&sync_lock);
		/* timeout 0: what flush() did not see confirmed is not waited for here
		 * (paho would run its 100 ms loop until it is) */
		if (up)
			MQTTClient_disconnect5(p->sync_client, 0,
					       MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
		MQTTClient_destroy(&p->sync_client);
		pthread_mutex_unlock(&sync_lock);
		p->sync_client = NULL;
	}
	while ((o = p->sync_outs)) {
		p->sync_outs = o->next;
		free(o);
	}
	p->outstanding = 0;
	free(p->sync_ids);
	p->sync_ids = NULL;
}

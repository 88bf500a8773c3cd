/*
 * mqtt_client.c - the connection of an mqtt handle, paho's packet loop and
 * publishing, at every QoS, plain and TLS, on paho's synchronous client
 * (MQTTClient, libpaho-mqtt3cs), in the caller's thread.
 *
 * Why the synchronous client.  paho's asynchronous client (MQTTAsync) hands
 * every command to a send thread and reads every packet on a receive thread
 * that calls back into the application: a thread hand-off and lock traffic
 * per message, a send thread that sleeps up to 1 s when a wake-up is lost
 * (the one-second stalls of issue 16), and a processor at 5,000 records/s
 * that spent a third of its samples in the kernel switching and waking
 * threads.  Here nothing is handed over: a PUBLISH is written in publish(),
 * and a message is read in the call that wants it.
 *
 * No paho thread.  With callbacks set (MQTTClient_setCallbacks), MQTTClient
 * runs a receive thread, and starting and stopping it costs 0.3 s per
 * connection (a 100 ms sleep, 10 ms semaphore polls, a 100 ms select to
 * notice the new socket, a 100 ms wait at destroy; MQTTClient.c 1.3.12,
 * MQTTClient_connectURIVersion, MQTTClient_run, MQTTClient_stop).  Without
 * it, paho reads the socket only inside the calls that run its packet loop
 * (MQTTClient_cycle): MQTTClient_receive, MQTTClient_yield, connect,
 * subscribe.  So this file drives that loop itself, one round at a time
 * (MQTTClient_receive with timeout 0: at most one packet read, no sleep), from
 * the thread that waits:
 *   - messages: a round hands over a PUBLISH it read (or one an earlier paho
 *     call read into paho's queue); mqtt_rx_take (mqtt_consume.c) queues
 *     it.  A round first peeks at the socket and journals the PUBLISH paho
 *     is about to read, before paho acknowledges it (mqtt_prejournal).
 *     poll() runs rounds while they hand over messages and, when one hands
 *     over nothing, waits in poll(2) on the socket (found once
 *     after connect, mqtt_new_socket) for at most MQTT_IDLE_WAIT_MS: the bound
 *     on how long a message that a paho call read into paho's own queue
 *     waits unseen.
 *   - QoS 1/2 confirmations: MQTTClient_setPublished (called inside the
 *     packet loop, PUBACK/PUBCOMP or a refusing PUBREC, with the reason code)
 *     needs no thread.  publish() counts the unconfirmed messages; once
 *     `window` are, it runs rounds until half the window is left (hysteresis:
 *     one wait per window/2 messages), waiting on the socket between rounds
 *     that read nothing.  flush() does the same until nothing is
 *     unconfirmed; flush(0), which a generator calls before each pause,
 *     reads only what has already arrived (cl_service).  The rounds of a
 *     consumer that publishes (the process role) also read the PUBLISHes
 *     that arrive among the acknowledgements and queue them.  Never
 *     MQTTClient_yield: it runs the loop for a fixed 100 ms, however soon
 *     the acknowledgements come.
 *   - paho's own in-flight limit (maxInflightMessages, clamped by paho to the
 *     broker's Receive Maximum) is never reached: at the limit,
 *     MQTTClient_publishMessage5 runs MQTTClient_yield, 100 ms per round.  The
 *     window is min(inflight, the broker's Receive Maximum) and paho's limit
 *     is set to the window, so only this file's wait ever holds a publish
 *     back.
 *   - keepalive: paho sends PINGREQ from inside a round when one is due.  A
 *     thread of ours (cl_keepalive) wakes every second (keepalive / 4 when
 *     shorter) and, once no round and no publish happened for half the
 *     keepalive interval (a role busy elsewhere, a generator at a low rate),
 *     runs one round itself; it also notices a connection the broker closed.
 * TCP_NODELAY on a handle that subscribes: it sends PUBACKs, which nothing
 * answers, so a PUBLISH written after one would wait for the broker's delayed
 * ACK.  A publish-only handle keeps Nagle's algorithm, so a burst of publishes
 * goes out in full segments instead of one segment and one broker wake-up per
 * message.  At QoS 1/2 it sends only packets the broker answers (PUBLISH,
 * PUBREL, PINGREQ), and an answer carries the ACK that releases what Nagle
 * held back.  At QoS 0 nothing is answered, and a publisher that then
 * paused waited up to the broker's delayed ACK, about 40 ms
 * (bench/results/raw/mqtt-qos0-nagle.csv): so flush() pushes what is held
 * back (TCP_NODELAY on and off again), and the generator flushes before every
 * pause.
 *
 * client_lock, one mutex for all handles, is held around every paho call on
 * them: paho's packet loop serves every MQTTClient socket of the process, so a
 * round run for one handle (or by a keepalive thread) may read another's
 * packet - a CONNACK read that way is dropped and that connect times out - and
 * a confirmation must not be read before publish() has recorded the message
 * id it answers.  It is not held while waiting on the socket or between
 * reconnect attempts, but it is held through a connect, which paho bounds by
 * MQTT_CONNECT_TIMEOUT_S (the roles have one handle each).
 *
 * Delivery.  QoS 0: publish() returns once paho has written the message to
 * the socket (paho waits for a partly written packet to complete), so flush()
 * has nothing to wait for; at most once: a message written to a connection
 * the broker has already dropped is lost.  QoS 1/2: flush() returns 0 once
 * every message was confirmed, and reports refusals (reason code >= 0x80)
 * since the previous flush.  Each unconfirmed message keeps a copy here
 * (struct mqtt_out).  After a reconnect, paho sends again (DUP) what it still
 * holds (MQTTClient keeps its unconfirmed publishes across a reconnect unless
 * the session starts clean); what it no longer holds
 * (MQTTClient_getPendingDeliveryTokens) is sent again from our copy.  Nothing
 * confirmed for MQTT_RESEND_MS while messages wait: the connection is dropped
 * and made again, which sends them all again (a broker restarted from an
 * older save may have lost them without a word).  A re-sent message may
 * arrive twice; the sink refuses the replay of (source, seq).  publish() and
 * flush() reconnect at once, then after 1, 2, 4, ... 30 s; after
 * MQTT_PUBLISH_WAIT_MS without a connection they fail with -SC_ECONN.  A
 * consumer's poll() reconnects on the same schedule, one attempt per call at
 * most, and does not sleep past its timeout (an attempt itself takes up to
 * MQTT_CONNECT_TIMEOUT_S when something accepts the connection and never
 * answers; a broker that is down refuses at once).  Every connect of a
 * handle that subscribes subscribes again.  Losses of the connection count in counters.retries.
 *
 * Map:  state - confirmations - connecting - the packet loop - re-sending -
 *       publish/flush/close
 */
#include "mqtt_internal.h"
#include "error.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MQTT_BACKOFF_MAX_S 30
/* Nothing confirmed for this long while messages wait: reconnect, which sends them again. */
#define MQTT_RESEND_MS 5000
/* A round that read nothing: wait this long at most on the socket before the next. */
#define MQTT_IDLE_WAIT_MS 10
/* Sockets to the broker looked at to find ours after connecting. */
#define MQTT_SOCKS 64
#define MQTT_IDS   65536
/* paho's PAHO_MEMORY_ERROR (not in MQTTClient.h) */
#define MQTT_ENOMEM   (-99)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- state ------------------------------------------------------------- */

/* One unconfirmed message; topic, key and payload in one allocation. */
struct mqtt_out {
	struct mqtt_out *next, *prev;
	int msgid;	 /* paho's message id; 0: not in paho (to be sent again) */
	const char *key; /* the original key, as the "k" property; NULL if none */
	const char *topic;
	size_t len;
	unsigned char data[];
};

static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

static bool cl_up(struct mqtt_priv *p)
{
	bool up;

	pthread_mutex_lock(&mqtt_lock);
	up = p->connected;
	pthread_mutex_unlock(&mqtt_lock);
	return up;
}

/* The connection is gone (the next attempt to get it back is due at once). */
static void cl_lost(struct mqtt_priv *p)
{
	pthread_mutex_lock(&mqtt_lock);
	if (p->connected) {
		p->connected = false;
		p->lost++;
		p->attempt = 0;
		p->retry_ns = 0;
	}
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

static void cl_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Wait until the socket has something to read, for at most ms (no lock held). */
static void cl_wait_readable(const struct mqtt_priv *p, int ms)
{
	if (p->fd >= 0) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		poll(&pfd, 1, ms);
	} else {
		cl_sleep_ms(ms < 1 ? ms : 1);
	}
}

/* ---- confirmations --------------------------------------------------------- */

static void out_unlink(struct mqtt_priv *p, struct mqtt_out *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		p->outs = o->next;
	if (o->next)
		o->next->prev = o->prev;
}

/* Confirmed or refused (mqtt_lock held). */
static void out_settle(struct mqtt_priv *p, struct mqtt_out *o)
{
	if (o->msgid > 0 && p->ids[o->msgid] == o)
		p->ids[o->msgid] = NULL;
	out_unlink(p, o);
	free(o);
	p->outstanding--;
	p->progress_ns = sc_mono_ns();
}

/* Its acknowledgement came with reason code rc (mqtt_lock held). */
static void out_done(struct mqtt_priv *p, struct mqtt_out *o, int rc)
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
 * thread runs it, client_lock held).
 */
static void cl_on_published(void *ctx, int msgid, int packet_type, MQTTProperties *props,
			    enum MQTTReasonCodes rc)
{
	struct mqtt_priv *p = ctx;
	struct mqtt_out *o;

	(void)packet_type;
	(void)props;
	if (msgid <= 0 || msgid >= MQTT_IDS)
		return;
	pthread_mutex_lock(&mqtt_lock);
	o = p->ids ? p->ids[msgid] : NULL;
	if (o)
		out_done(p, o, rc);
	else if (p->early_n >= 0 && p->early_n < (int)ARRAY_SIZE(p->early)) {
		p->early[p->early_n][0] = msgid;
		p->early[p->early_n][1] = (int)rc;
		p->early_n++;
	}
	pthread_mutex_unlock(&mqtt_lock);
}

/* ---- connecting ---------------------------------------------------------- */

static int cl_round(struct mqtt_priv *p);

/* Subscribe to every filter (client_lock held): 0, or -SC_EIO with why filled. */
static int cl_subscribe(struct mqtt_priv *p, char *why, size_t n)
{
	MQTTResponse r;
	int rc = 0;

	r = MQTTClient_subscribeMany5(p->client, p->nfilters, p->filters, p->filter_qos, NULL,
				      NULL);
	if (r.reasonCode < 0) {
		snprintf(why, n, "cannot subscribe to %s: %s", p->filters[0],
			 MQTTClient_strerror(r.reasonCode));
		rc = -SC_ECONN;
	}
	/* paho fills reasonCodes only for more than one filter, else reasonCode */
	for (int i = 0; rc == 0 && i < (r.reasonCodeCount > 1 ? r.reasonCodeCount : 1); i++) {
		int code = r.reasonCodeCount > 1 ? (int)r.reasonCodes[i] : (int)r.reasonCode;
		if (code >= 0x80) {
			snprintf(why, n, "cannot subscribe to %s: %s",
				 i < p->nfilters ? p->filters[i] : "?",
				 MQTTReasonCode_toString((enum MQTTReasonCodes)code));
			rc = -SC_EIO;
		}
	}
	MQTTResponse_free(r);
	return rc;
}

/*
 * One attempt (client_lock held): connect, then subscribe.  0, or
 * -SC_EAUTH / -SC_ECONN (connect) / -SC_EIO (a refused subscription) with
 * why filled.
 */
static int cl_connect(struct mqtt_priv *p, char *why, size_t n)
{
	MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
	unsigned long known[MQTT_SOCKS];
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
		o.ssl = &p->ssl;
	nknown = mqtt_broker_sockets(p, known, MQTT_SOCKS);
	r = MQTTClient_connect5(p->client, &o, &p->connect_props, NULL);
	rc = r.reasonCode;
	if (rc == MQTTCLIENT_SUCCESS && r.properties &&
	    MQTTProperties_hasProperty(r.properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
		rm = MQTTProperties_getNumericValue(r.properties,
						    MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
	MQTTResponse_free(r);
	if (rc != MQTTCLIENT_SUCCESS) {
		/* a refused CONNACK comes back as its reason code */
		snprintf(why, n, "%s",
			 rc >= 0x80 ? MQTTReasonCode_toString((enum MQTTReasonCodes)rc)
			 : rc == MQTTCLIENT_FAILURE ? "TCP connect failure (refused or timed out)"
						    : MQTTClient_strerror(rc));
		if (rc == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
		    rc == MQTTREASONCODE_NOT_AUTHORIZED || rc == 4 || rc == 5)
			return -SC_EAUTH;
		return -SC_ECONN;
	}
	if (p->nfilters > 0)
		mqtt_nodelay(p);
	p->fd = nknown <= MQTT_SOCKS ? mqtt_new_socket(p, known, nknown) : -1;
	if (p->nfilters > 0) {
		rc = cl_subscribe(p, why, n);
		if (rc) {
			MQTTClient_disconnect5(p->client, 0, MQTTREASONCODE_NORMAL_DISCONNECTION,
					       NULL);
			return rc;
		}
		/* while paho waited for the SUBACK it read, and acknowledged, what the
		 * broker sent of the session's queue: journal it now, not at the
		 * first poll() (a kill in between would lose it); bounded, so that a
		 * long backlog stays with the broker */
		for (int i = 0; i < p->prefetch + 16 && cl_round(p) > 0; i++)
			;
	}
	pthread_mutex_lock(&mqtt_lock);
	if (rm > 0 && rm < p->window && p->qos > 0) /* paho clamps its limit to it too */
		p->window = rm;
	p->connected = true;
	p->attempt = 0;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
	return 0;
}

/* Seconds to wait before reconnect attempt number `attempt` (0: the first, at once). */
static int cl_backoff_s(int attempt)
{
	if (attempt <= 0)
		return 0;
	if (attempt > 5)
		return MQTT_BACKOFF_MAX_S;
	return 1 << (attempt - 1) < MQTT_BACKOFF_MAX_S ? 1 << (attempt - 1) : MQTT_BACKOFF_MAX_S;
}

/*
 * The connection is gone: reconnect with backoff until end (client_lock
 * held, dropped while sleeping).  *attempt counts the attempts of this call
 * (the first one is immediate).
 */
static int cl_reconnect(struct mqtt_priv *p, int64_t end, int *attempt, char *why, size_t n)
{
	int rc = -SC_ECONN;

	snprintf(why, n, "no connection");
	while (sc_mono_ns() < end) {
		if (*attempt > 0) {
			int64_t s = cl_backoff_s(*attempt), left = (end - sc_mono_ns()) / 1000000;
			pthread_mutex_unlock(&client_lock);
			cl_sleep_ms(s * 1000 < left ? s * 1000 : left);
			pthread_mutex_lock(&client_lock);
		}
		(*attempt)++;
		rc = cl_connect(p, why, n);
		if (rc == 0)
			return 0;
	}
	return rc;
}

/* ---- the packet loop --------------------------------------------------------- */

/* One round of paho's packet loop (client_lock held): 1 a message, 0 nothing, -1 gone. */
static int cl_round(struct mqtt_priv *p)
{
	MQTTClient_message *msg = NULL;
	char *topic = NULL;
	int len = 0, rc;

	mqtt_prejournal(p); /* what paho is about to read and acknowledge */
	rc = MQTTClient_receive(p->client, &topic, &len, &msg, 0);
	__atomic_add_fetch(&p->rounds, 1, __ATOMIC_RELAXED);
	if (msg && p->nfilters > 0) {
		mqtt_rx_take(p, topic, len, msg);
		return 1;
	}
	if (msg) /* nothing is subscribed; a stray message is dropped */
		MQTTClient_freeMessage(&msg);
	if (topic)
		MQTTClient_free(topic);
	return rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE &&
			       MQTTClient_isConnected(p->client)
		       ? 0
		       : -1;
}

/* The keepalive thread: see the top of the file. */
static void *cl_keepalive(void *arg)
{
	struct mqtt_priv *p = arg;
	int64_t idle_after = (int64_t)p->keepalive * 500 * 1000000, idle_since = sc_mono_ns();
	int tick_ms =
		p->keepalive >= 4 ? 1000 : p->keepalive * 250; /* sees activity late by this */
	unsigned long seen = 0, n;
	int r;

	pthread_mutex_lock(&mqtt_lock);
	while (!p->ka_stop) {
		mqtt_wait(tick_ms);
		if (p->ka_stop)
			break;
		n = __atomic_load_n(&p->rounds, __ATOMIC_RELAXED);
		if (n != seen) {
			seen = n;
			idle_since = sc_mono_ns();
			continue;
		}
		if (sc_mono_ns() - idle_since < idle_after || !p->connected)
			continue;
		pthread_mutex_unlock(&mqtt_lock);
		pthread_mutex_lock(&client_lock);
		r = cl_round(p);
		pthread_mutex_unlock(&client_lock);
		if (r < 0)
			cl_lost(p);
		pthread_mutex_lock(&mqtt_lock);
		seen = __atomic_load_n(&p->rounds, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&mqtt_lock);
	return NULL;
}

int mqtt_client_open(struct mqtt_priv *p, const char *red, struct sc_error *err)
{
	MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
	char why[sizeof(p->connect_why)];
	int rc;

	p->fd = -1;
	p->early_n = -1;
	if (p->qos > 0) {
		p->ids = calloc(MQTT_IDS, sizeof(*p->ids));
		if (!p->ids)
			return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	}
	co.MQTTVersion = MQTTVERSION_5;
	rc = MQTTClient_createWithOptions(&p->client, p->server, p->client_id,
					  MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTCLIENT_SUCCESS) {
		p->client = NULL;
		return sc_error_set(err, SC_EINVAL, "mqtt: cannot create client: %s",
				    MQTTClient_strerror(rc));
	}
	rc = MQTTClient_setPublished(p->client, p, cl_on_published);
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
		p->ssl = ssl;
	}
	pthread_mutex_lock(&client_lock);
	rc = cl_connect(p, why, sizeof(why));
	pthread_mutex_unlock(&client_lock);
	if (rc == -SC_EIO)
		return sc_error_set(err, SC_EIO, "mqtt: %s", why);
	if (rc) {
		sc_strlcpy(p->connect_why, why, sizeof(p->connect_why));
		return mqtt_connect_error(p, -rc, red, err);
	}
	if (p->keepalive > 0) {
		rc = pthread_create(&p->ka, NULL, cl_keepalive, p);
		if (rc)
			return sc_error_set(err, SC_ENOMEM, "mqtt: cannot start a thread: %s",
					    strerror(rc));
		p->ka_started = true;
	}
	return 0;
}

/* ---- re-sending ------------------------------------------------------------ */

/* One send of o (client_lock held): paho's return code. */
static int out_send(struct mqtt_priv *p, struct mqtt_out *o)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	MQTTClient_deliveryToken token = 0;
	MQTTResponse r;

	if (o->key && mqtt_key_prop(&msg.properties, o->key))
		return MQTT_ENOMEM;
	msg.payload = o->data;
	msg.payloadlen = (int)o->len;
	msg.qos = p->qos;
	pthread_mutex_lock(&mqtt_lock);
	p->early_n = 0;
	pthread_mutex_unlock(&mqtt_lock);
	r = MQTTClient_publishMessage5(p->client, o->topic, &msg, &token);
	MQTTProperties_free(&msg.properties);
	pthread_mutex_lock(&mqtt_lock);
	if (r.reasonCode == MQTTCLIENT_SUCCESS && token > 0 && token < MQTT_IDS) {
		int early = -1;
		/* a partly written packet makes paho run its packet loop inside the
		 * call, which may read this very message's acknowledgement */
		for (int i = 0; i < p->early_n; i++)
			if (p->early[i][0] == token)
				early = p->early[i][1];
		o->msgid = token;
		p->ids[token] = o;
		if (early >= 0)
			out_done(p, o, early);
	}
	p->early_n = -1;
	pthread_mutex_unlock(&mqtt_lock);
	return r.reasonCode;
}

/*
 * After a reconnect (client_lock held): send again, from our copy, what paho
 * no longer holds (it sends again itself what it does).
 */
static int cl_resend_lost(struct mqtt_priv *p)
{
	MQTTClient_deliveryToken *tokens = NULL;
	struct mqtt_out *o, **todo;
	int rc = MQTTCLIENT_SUCCESS, n = 0;

	if (p->qos == 0 || !p->outs)
		return 0;
	if (MQTTClient_getPendingDeliveryTokens(p->client, &tokens) != MQTTCLIENT_SUCCESS)
		tokens = NULL;
	pthread_mutex_lock(&mqtt_lock);
	for (o = p->outs; o; o = o->next) {
		bool held = false;
		for (int i = 0; tokens && tokens[i] != -1; i++)
			held |= tokens[i] == o->msgid;
		if (!held) {
			if (o->msgid > 0 && p->ids[o->msgid] == o)
				p->ids[o->msgid] = NULL;
			o->msgid = 0;
		}
		n += o->msgid == 0;
	}
	pthread_mutex_unlock(&mqtt_lock);
	MQTTClient_free(tokens);
	if (!n)
		return 0;
	/* a publish may run paho's packet loop, whose confirmations free copies
	 * of the list: take those to send (which nothing can confirm) first */
	todo = malloc((size_t)n * sizeof(*todo));
	if (!todo)
		return -1;
	n = 0;
	pthread_mutex_lock(&mqtt_lock);
	for (o = p->outs; o; o = o->next)
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
 * Get a connection back (client_lock held): reconnect, then re-send what paho
 * lost.  0, or -SC_E* with err set.
 */
static int cl_recover(struct mqtt_priv *p, int64_t *end, int *attempt, struct sc_error *err)
{
	char why[256];
	int rc;

	cl_lost(p);
	if (!*end)
		*end = sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000;
	for (;;) {
		rc = cl_reconnect(p, *end, attempt, why, sizeof(why));
		if (rc)
			return sc_error_set(err, -rc,
					    "mqtt: lost the connection to %s and could not "
					    "reconnect for %d s: %s",
					    p->where, MQTT_PUBLISH_WAIT_MS / 1000, why);
		pthread_mutex_lock(&mqtt_lock);
		p->progress_ns = sc_mono_ns();
		pthread_mutex_unlock(&mqtt_lock);
		if (cl_resend_lost(p) == 0 && MQTTClient_isConnected(p->client))
			return 0;
		cl_lost(p);
	}
}

int mqtt_client_round(struct mqtt_priv *p)
{
	char why[256];
	int64_t retry_ns;
	bool up;
	int r;

	pthread_mutex_lock(&client_lock);
	pthread_mutex_lock(&mqtt_lock);
	up = p->connected;
	retry_ns = p->retry_ns; /* a keepalive thread's cl_lost may reset it */
	pthread_mutex_unlock(&mqtt_lock);
	if (!up) {
		/* a consumer gets its connection back here: one attempt when the
		 * backoff allows (see the top of the file) */
		if (sc_mono_ns() < retry_ns) {
			pthread_mutex_unlock(&client_lock);
			return -1;
		}
		int rc = cl_connect(p, why, sizeof(why));
		if (rc == 0 && cl_resend_lost(p) != 0) { /* try again from scratch */
			MQTTClient_disconnect5(p->client, 0, MQTTREASONCODE_NORMAL_DISCONNECTION,
					       NULL);
			rc = -1;
		}
		if (rc) {
			pthread_mutex_lock(&mqtt_lock);
			p->connected = false;
			p->attempt++;
			p->retry_ns = sc_mono_ns() + (int64_t)cl_backoff_s(p->attempt) * 1000000000;
			pthread_mutex_unlock(&mqtt_lock);
			pthread_mutex_unlock(&client_lock);
			return -1;
		}
		pthread_mutex_lock(&mqtt_lock);
		p->progress_ns = sc_mono_ns();
		pthread_mutex_unlock(&mqtt_lock);
	}
	r = cl_round(p);
	pthread_mutex_unlock(&client_lock);
	if (r < 0)
		cl_lost(p);
	return r;
}

void mqtt_client_wait(struct mqtt_priv *p, int ms)
{
	cl_wait_readable(p, ms < MQTT_IDLE_WAIT_MS ? ms : MQTT_IDLE_WAIT_MS);
}

/*
 * Run rounds until at most `until` messages are unconfirmed or end passes
 * (client_lock held, dropped while waiting on the socket).  Returns 0, or
 * -SC_E* with err set when the connection cannot be had back; -SC_ETIMEDOUT
 * without err when end passed.
 */
static int cl_drain(struct mqtt_priv *p, uint64_t until, int64_t end, struct sc_error *err)
{
	int64_t rend = 0, now, quiet_since = sc_mono_ns();
	int attempt = 0, rc, r = 1;
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
			seen = settled;
		} else if (now - quiet_since > (int64_t)MQTT_RESEND_MS * 1000000) {
			/* a silent loss: the reconnect sends everything again */
			MQTTClient_disconnect5(p->client, 0, MQTTREASONCODE_NORMAL_DISCONNECTION,
					       NULL);
			rc = cl_recover(p, &rend, &attempt, err);
			if (rc)
				return rc;
			quiet_since = sc_mono_ns();
			continue;
		} else if (r == 0) { /* the last round read nothing */
			pthread_mutex_unlock(&client_lock);
			cl_wait_readable(p, MQTT_IDLE_WAIT_MS);
			pthread_mutex_lock(&client_lock);
		}
		r = cl_round(p);
		if (r < 0) {
			rc = cl_recover(p, &rend, &attempt, err);
			if (rc)
				return rc;
			r = 1;
		}
	}
}

/*
 * Read what has already arrived, without waiting (client_lock held).  A
 * publisher that pauses calls flush(0): the acknowledgements of its window
 * are read then, not only once the window is full.  At QoS 2 this is what
 * delivers the messages: the broker passes a QoS 2 message on only after our
 * PUBREL, which paho sends when it reads the PUBREC (with a window of 100 at
 * 1,000/s that waited up to 100 ms).
 */
static void cl_service(struct mqtt_priv *p)
{
	int i;

	if (p->fd < 0) { /* our socket was not found: one round (timeout 0) */
		if (cl_round(p) < 0)
			cl_lost(p);
		return;
	}
	for (i = 0; i < 256; i++) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) != 1)
			return;
		if (cl_round(p) < 0) {
			cl_lost(p); /* the next publish gets the connection back */
			return;
		}
	}
}

/* ---- publish / flush / close --------------------------------------------- */

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

/* QoS 1/2 (client_lock held): make room in the window, keep a copy, send it. */
static int cl_publish_confirmed(struct mqtt_priv *p, const char *topic, const struct sc_msg *m,
				bool keyprop, struct sc_error *err)
{
	struct mqtt_out *o;
	size_t tlen, klen = 0;
	uint64_t window;
	int64_t end = 0;
	int attempt = 0, rc;

	pthread_mutex_lock(&mqtt_lock);
	window = (uint64_t)p->window;
	if (p->outstanding == 0)
		p->progress_ns = sc_mono_ns(); /* the stall clock starts with the window */
	pthread_mutex_unlock(&mqtt_lock);
	if (p->outstanding >= window) {
		rc = cl_drain(p, window / 2, sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000,
			      err);
		if (rc == -SC_ETIMEDOUT)
			return sc_error_set(err, SC_ETIMEDOUT,
					    "mqtt: no confirmation from the broker for %d s (%llu "
					    "messages unconfirmed)",
					    MQTT_PUBLISH_WAIT_MS / 1000,
					    (unsigned long long)window);
		if (rc)
			return rc;
	}
	/* the copy that a re-send needs: payload, topic, key */
	tlen = strlen(topic);
	if (keyprop)
		klen = strlen(m->key);
	o = malloc(sizeof(*o) + m->len + tlen + 1 + (keyprop ? klen + 1 : 0));
	if (!o)
		return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	memset(o, 0, sizeof(*o));
	o->len = m->len;
	memcpy(o->data, m->payload, m->len);
	o->topic = memcpy(o->data + m->len, topic, tlen + 1);
	if (keyprop)
		o->key = memcpy(o->data + m->len + tlen + 1, m->key, klen + 1);
	pthread_mutex_lock(&mqtt_lock);
	p->outstanding++;
	o->next = p->outs;
	if (p->outs)
		p->outs->prev = o;
	p->outs = o;
	pthread_mutex_unlock(&mqtt_lock);
	rc = out_send(p, o);
	if (rc == MQTTCLIENT_SUCCESS)
		return 0;
	if (rc == MQTTCLIENT_DISCONNECTED || rc == MQTTCLIENT_FAILURE)
		/* not taken: the connection is gone; cl_recover sends it with the
		 * others once back (and o may be confirmed and freed by then) */
		return cl_recover(p, &end, &attempt, err);
	pthread_mutex_lock(&mqtt_lock);
	out_settle(p, o);
	pthread_mutex_unlock(&mqtt_lock);
	return sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
			    MQTTClient_strerror(rc));
}

/* QoS 0 (client_lock held): write it; again after a reconnect if it was not. */
static int cl_publish_qos0(struct mqtt_priv *p, const char *topic, const struct sc_msg *m,
			   bool keyprop, struct sc_error *err)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	int64_t end = 0;
	int attempt = 0, rc;

	if (keyprop && mqtt_key_prop(&msg.properties, m->key))
		return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	msg.payload = (void *)m->payload;
	msg.payloadlen = (int)m->len;
	msg.qos = 0;
	for (;;) {
		MQTTResponse r = MQTTClient_publishMessage5(p->client, topic, &msg, NULL);
		rc = r.reasonCode;
		if (rc == MQTTCLIENT_SUCCESS) {
			p->unpushed = true;
			break;
		}
		if (rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE) {
			rc = sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
					  MQTTClient_strerror(rc));
			break;
		}
		rc = cl_recover(p, &end, &attempt, err);
		if (rc)
			break;
	}
	MQTTProperties_free(&msg.properties);
	return rc;
}

int mqtt_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	char topic[MQTT_TOPIC_MAX];
	bool keyprop = false;
	int64_t end = 0;
	int attempt = 0, rc;

	rc = mqtt_topic_of(t, m, topic, sizeof(topic), &keyprop, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&client_lock);
	/* a consumer whose poll() saw the connection go publishes after getting it back */
	rc = cl_up(p) ? 0 : cl_recover(p, &end, &attempt, err);
	if (rc == 0)
		rc = p->qos > 0 ? cl_publish_confirmed(p, topic, m, keyprop, err)
				: cl_publish_qos0(p, topic, m, keyprop, err);
	pthread_mutex_unlock(&client_lock);
	__atomic_add_fetch(&p->rounds, 1, __ATOMIC_RELAXED);
	return rc;
}

int mqtt_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	int64_t end = timeout_ms < 0 ? INT64_MAX : sc_mono_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t left, failed;
	int rc = 0;

	if (p->qos > 0) {
		pthread_mutex_lock(&client_lock);
		if (timeout_ms == 0 && cl_up(p))
			cl_service(p);
		rc = cl_drain(p, 0, end, err);
		pthread_mutex_unlock(&client_lock);
		if (rc && rc != -SC_ETIMEDOUT)
			return rc;
		rc = 0;
	} else if (p->nfilters == 0 && p->fd >= 0 && p->unpushed) {
		/* what Nagle's algorithm holds back goes out now: turning
		 * TCP_NODELAY on pushes it (Linux tcp_push_pending_frames) */
		int on = 1, off = 0;
		pthread_mutex_lock(&client_lock);
		setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off));
		p->unpushed = false;
		pthread_mutex_unlock(&client_lock);
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
	t->counters.retries = p->lost + p->resent;
	pthread_mutex_unlock(&mqtt_lock);
	return rc;
}

void mqtt_client_close(struct mqtt_priv *p)
{
	struct mqtt_out *o;
	bool up;

	if (p->ka_started) {
		pthread_mutex_lock(&mqtt_lock);
		p->ka_stop = true;
		pthread_cond_broadcast(&mqtt_cond);
		pthread_mutex_unlock(&mqtt_lock);
		pthread_join(p->ka, NULL);
		p->ka_started = false;
	}
	if (p->client) {
		pthread_mutex_lock(&mqtt_lock);
		up = p->connected;
		p->connected = false;
		pthread_mutex_unlock(&mqtt_lock);
		pthread_mutex_lock(&client_lock);
		/* timeout 0: what flush() did not see confirmed is not waited for here
		 * (paho would run its 100 ms loop until it is) */
		if (up)
			MQTTClient_disconnect5(p->client, 0, MQTTREASONCODE_NORMAL_DISCONNECTION,
					       NULL);
		MQTTClient_destroy(&p->client);
		pthread_mutex_unlock(&client_lock);
		p->client = NULL;
	}
	while ((o = p->outs)) {
		p->outs = o->next;
		free(o);
	}
	p->outstanding = 0;
	free(p->ids);
	p->ids = NULL;
}

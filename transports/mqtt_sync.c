/*
 * mqtt_sync.c - the QoS 0 publish path of a publish-only handle (issue 8):
 * paho's synchronous client (MQTTClient, libpaho-mqtt3c) writes each PUBLISH
 * to the socket in the caller's thread.  The asynchronous path (mqtt.c,
 * mqtt_publish.c) hands every message to paho's send thread and is called
 * back when it is written: a thread hop, a callback and our copy per message,
 * which QoS 0 does not need - it has no confirmation to wait for and nothing
 * to send again.
 *
 * Which handles: QoS 0, no subscriptions (the generate role; the process
 * role publishes on the handle it consumes from, which stays asynchronous),
 * mqtt:// only (libpaho-mqtt3c has no TLS; mqtts:// stays asynchronous).
 *
 * Contracts.  publish() returns once paho has written the message to the
 * socket (paho waits for a partly written packet to complete), so flush() has
 * nothing to wait for, and close() sends DISCONNECT behind what was
 * published.  Delivery is at most once: a message written to a connection
 * that the broker has already dropped is lost (TCP reports it only at the
 * next write).  A publish that finds the connection gone (the write failed,
 * or the keepalive thread noticed it closed) reconnects - at once, then after
 * 1, 2, 4, ... 30 s - and sends that message again; after
 * MQTT_PUBLISH_WAIT_MS without a connection it fails with -SC_ECONN, as the
 * asynchronous path fails after as long without confirmations.  Losses of
 * the connection count in counters.retries.
 *
 * Keepalive, without paho's thread.  With callbacks set, MQTTClient runs a
 * receive thread, and starting and stopping it costs 0.3 s per connection (a
 * 100 ms sleep, 10 ms semaphore polls, a 100 ms select to notice the new
 * socket, a 100 ms wait at destroy).  A publisher receives nothing but
 * PINGRESP, so a thread of ours (sync_keepalive) wakes every second
 * (keepalive / 4 when shorter) and, once nothing was published for half the
 * keepalive interval, calls MQTTClient_yield: 100 ms of paho's select loop,
 * which sends PINGREQ when due, reads PINGRESP and notices a connection the
 * broker closed.  While messages flow, they keep the connection alive.
 * p->sync_call keeps that thread's paho calls and the publisher's apart (a
 * cycle of paho's select loop in each thread could take the other's packet:
 * a CONNACK read by MQTTClient_yield is dropped and the connect times out).
 * It is taken once per publish: uncontended, but while a keepalive yield
 * runs (100 ms, only after half a keepalive without publishing).
 *
 * Two paho libraries in one process.  libpaho-mqtt3as (MQTTAsync) and
 * libpaho-mqtt3c both export Thread_{start,create_mutex,lock_mutex,
 * unlock_mutex,getid}, MQTTProperties_*, MQTTProperty*, MQTTReasonCode_toString
 * and Heap_get_info, built from the same source files (paho 1.3.11 as
 * installed, libpaho-mqtt1.3; the same in 1.3.12: Thread.c,
 * MQTTProperties.c, MQTTReasonCodes.c, Heap.c), and call them through the PLT,
 * so the library linked first (3as: see the Makefile) serves both.  The
 * Thread_* functions are stateless wrappers of pthread calls: same code,
 * safe.  MQTTProperties_* allocate through paho's heap tracker (Heap.c, built
 * in by Debian), whose state is per library: properties 3c reads from a
 * packet (CONNACK) and frees through 3as's MQTTProperties_free are not found
 * in 3as's table and are left allocated - about 470 bytes per connect
 * (LeakSanitizer, which tests/lsan.supp's libpaho-mqtt3as line covers), not
 * per message, and never a double free or a crash (Heap.c myfree frees only
 * what its table holds).
 * The "k" property of a publish is allocated and freed here, both by 3as.
 */
#include "mqtt_internal.h"
#include "error.h"

#include <MQTTClient.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MQTT_SYNC_BACKOFF_MAX_S 30

bool mqtt_sync_eligible(const struct mqtt_priv *p)
{
	return p->qos == 0 && p->nfilters == 0 && !p->tls;
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

/* ---- connecting ---------------------------------------------------------- */

/* One attempt: 0, or -SC_EAUTH / -SC_ECONN with why filled. */
static int sync_connect(struct mqtt_priv *p, char *why, size_t n)
{
	MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
	MQTTResponse r;
	int rc;

	o.keepAliveInterval = p->keepalive;
	o.cleanstart = p->clean;
	o.connectTimeout = MQTT_CONNECT_TIMEOUT_S;
	o.username = p->uri.user && *p->uri.user ? p->uri.user : NULL;
	o.password = p->password[0] ? p->password : NULL;
	r = MQTTClient_connect5(p->sync_client, &o, &p->connect_props, NULL);
	rc = r.reasonCode;
	MQTTResponse_free(r);
	if (rc == MQTTCLIENT_SUCCESS) {
		mqtt_nodelay(p);
		pthread_mutex_lock(&mqtt_lock);
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

/* The keepalive thread: see the top of the file. */
static void *sync_keepalive(void *arg)
{
	struct mqtt_priv *p = arg;
	int64_t idle_after = (int64_t)p->keepalive * 500 * 1000000, idle_since = sc_mono_ns();
	int tick_ms =
		p->keepalive >= 4 ? 1000 : p->keepalive * 250; /* sees a publish late by this */
	unsigned long seen = 0, n;
	bool up;

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
		if (sc_mono_ns() - idle_since < idle_after)
			continue;
		pthread_mutex_unlock(&mqtt_lock);
		pthread_mutex_lock(&p->sync_call);
		MQTTClient_yield();
		up = MQTTClient_isConnected(p->sync_client);
		pthread_mutex_unlock(&p->sync_call);
		pthread_mutex_lock(&mqtt_lock);
		if (!up && p->connected) {
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

	rc = pthread_mutex_init(&p->sync_call, NULL);
	if (rc)
		return sc_error_set(err, SC_ENOMEM, "mqtt: cannot create a mutex: %s",
				    strerror(rc));
	p->sync_call_init = true;
	co.MQTTVersion = MQTTVERSION_5;
	rc = MQTTClient_createWithOptions(&p->sync_client, p->server, p->client_id,
					  MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTCLIENT_SUCCESS) {
		p->sync_client = NULL;
		return sc_error_set(err, SC_EINVAL, "mqtt: cannot create client: %s",
				    MQTTClient_strerror(rc));
	}
	p->sync = true;
	rc = sync_connect(p, why, sizeof(why));
	if (rc == -SC_EAUTH)
		return sc_error_set(
			err, SC_EAUTH, "mqtt: authentication refused for user '%s' at %s: %s",
			p->uri.user && *p->uri.user ? p->uri.user : "(none)", p->where, why);
	if (rc)
		return sc_error_set(err, -rc, "mqtt: cannot connect to %s: %s", red, why);
	if (p->keepalive > 0) {
		rc = pthread_create(&p->sync_ka, NULL, sync_keepalive, p);
		if (rc)
			return sc_error_set(err, SC_ENOMEM, "mqtt: cannot start a thread: %s",
					    strerror(rc));
		p->sync_ka_started = true;
	}
	return 0;
}

/* ---- publish / flush / close --------------------------------------------- */

/*
 * The connection is gone: reconnect with backoff until end.  attempt counts
 * the attempts of this publish() (the first one is immediate).
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
			sync_sleep_ms((int64_t)s * 1000 < left ? (int64_t)s * 1000 : left);
		}
		(*attempt)++;
		rc = sync_connect(p, why, n);
		if (rc == 0)
			return 0;
	}
	return rc;
}

int mqtt_sync_publish(struct mqtt_priv *p, const char *topic, const struct sc_msg *m, bool keyprop,
		      struct sc_error *err)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	MQTTResponse r;
	int64_t end = 0;
	int attempt = 0, rc;
	char why[256];

	if (keyprop && mqtt_key_prop(&msg.properties, m->key))
		return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
	msg.payload = (void *)m->payload;
	msg.payloadlen = (int)m->len;
	msg.qos = 0;
	pthread_mutex_lock(&p->sync_call);
	for (;;) {
		r = MQTTClient_publishMessage5(p->sync_client, topic, &msg, NULL);
		rc = r.reasonCode;
		if (rc == MQTTCLIENT_SUCCESS)
			break;
		if (rc != MQTTCLIENT_DISCONNECTED && rc != MQTTCLIENT_FAILURE) {
			pthread_mutex_unlock(&p->sync_call);
			MQTTProperties_free(&msg.properties);
			return sc_error_set(err, SC_EIO, "mqtt: cannot publish to %s: %s", topic,
					    MQTTClient_strerror(rc));
		}
		/* not written: the connection is gone; send it again once reconnected */
		sync_lost(p);
		if (!end)
			end = sc_mono_ns() + (int64_t)MQTT_PUBLISH_WAIT_MS * 1000000;
		rc = sync_reconnect(p, end, &attempt, why, sizeof(why));
		if (rc) {
			pthread_mutex_unlock(&p->sync_call);
			MQTTProperties_free(&msg.properties);
			return sc_error_set(err, -rc,
					    "mqtt: lost the connection to %s and could not "
					    "reconnect for %d s: %s",
					    p->where, MQTT_PUBLISH_WAIT_MS / 1000, why);
		}
	}
	pthread_mutex_unlock(&p->sync_call);
	MQTTProperties_free(&msg.properties);
	__atomic_add_fetch(&p->sync_pubs, 1, __ATOMIC_RELAXED);
	return 0;
}

int mqtt_sync_flush(struct mqtt_priv *p)
{
	pthread_mutex_lock(&mqtt_lock);
	p->t->counters.retries = p->lost;
	pthread_mutex_unlock(&mqtt_lock);
	return 0;
}

void mqtt_sync_close(struct mqtt_priv *p)
{
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
		if (up)
			MQTTClient_disconnect5(p->sync_client, MQTT_CLOSE_TIMEOUT_MS,
					       MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
		MQTTClient_destroy(&p->sync_client);
		p->sync_client = NULL;
	}
	if (p->sync_call_init)
		pthread_mutex_destroy(&p->sync_call);
	p->sync_call_init = false;
}

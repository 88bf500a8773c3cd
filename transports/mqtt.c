/*
 * mqtt.c - the MQTT 5 backend on paho.mqtt.c: handles that subscribe (process,
 * sink) on its asynchronous client (MQTTAsync), publish-only handles
 * (generate) on its synchronous client (MQTTClient, mqtt_sync.c).
 *
 * Topics.  Stream s with key k is published to "<ns>/<stream>/<k>", the stream
 * name with '.' turned into '/': streamctl/raw/cpu/host1,
 * streamctl/processed/sensor/dev7, streamctl/deadletter/x.  A NULL key gives
 * "<ns>/<stream>" with no key level.  '+', '#' and '/' in a key are replaced
 * by '_' in the topic; the original key then travels in the MQTT 5 user
 * property "k" so the consumer gets it back intact.  SC_STREAM_EXTERNAL is
 * cfg->external_topic, used as is (received key: the full topic name).
 *
 * Subscriptions.  By default a consumer subscribes to
 * "$share/<group>/<ns>/<stream>/#" (group: cfg->group, default "<ns>.<role>",
 * with '.', '/', '+', '#' turned into '_'), also when it runs alone, so one or
 * many instances of a role behave the same: the broker hands each message to
 * one member of the group.  -X shared=false subscribes to "<ns>/<stream>/#"
 * itself: every such consumer gets every message, so run one per role.  Why
 * it exists: Mosquitto 2.0.11 does not restore $share subscriptions from its
 * persistence file after a restart, so what is published between a broker
 * restart and the consumers' resubscription has no subscriber and is dropped;
 * plain subscriptions of persistent sessions are restored and keep queueing.
 * Consumers need a stable client id (cfg->client_id
 * or -X client.id) because their MQTT session is persistent: clean start off,
 * session expiry one day (-X session.expiry), so the broker queues messages
 * while a consumer is away (Mosquitto: up to max_queued_messages per client;
 * beyond that it drops silently - size the broker for the pipeline).
 * Producers without an id get "<ns>-<role>-<pid>" ("-<n>" added for the n-th
 * further handle of the process) and a short session (300 s).
 *
 * Publishing.  MQTTAsync_sendMessage() with per-message success/failure
 * callbacks; at most `window` messages are unconfirmed (PUBACK/PUBCOMP, or for
 * QoS 0 written to the socket).  publish() waits while the window is full:
 * that is the backpressure.  window = min(-X inflight (100), the broker's
 * Receive Maximum) and paho's maxInflight = -X inflight, so paho never has a
 * publish it must hold back for a full in-flight window: paho 1.3's send
 * thread would then sleep up to 1 s (paho.mqtt.c PR #1457).  It can sleep
 * that second with a publish queued anyway (a signal given before it waits
 * is lost; a partly written packet holds the queue back): a publish() or
 * flush() that waits and sees no confirmation for 20 ms wakes it
 * (mqtt_kick in mqtt_publish.c; issue 16).  At QoS 0 nothing
 * is in flight in MQTT's sense (Receive Maximum counts QoS 1 and 2 only), so
 * the window is at least MQTT_QOS0_WINDOW (100) and the broker's Receive
 * Maximum does not apply.  A publisher held back by a full window is woken
 * once the window has drained to half (hysteresis), not at every
 * confirmation: paho hands every message to its send thread and reads every
 * PUBACK on its receive thread, and waking our publisher at every message
 * doubled the CPU time (issue 8, QoS 0: 1.2-2.4 context switches and 14-16 us
 * per message before, 0.1 and 7-8 us after).  The callbacks
 * broadcast only when a waiting publish() or flush() can go on.
 * flush() waits until nothing is unconfirmed and reports failures since the
 * previous flush.  paho persistence is off (in memory): a message is safe only
 * once flush() returned 0.  Unconfirmed ones are sent again after a
 * reconnect - by paho when the broker kept the session, and otherwise from
 * our own copy (mqtt_publish.c: a broker restarted from an older save makes
 * paho 1.3 fail or silently drop them).
 *
 * A publish-only handle (the generate role, every QoS, TLS too) does none of
 * this: mqtt_sync.c publishes through paho's synchronous client in the
 * caller's thread and reads the confirmations there too (its own window,
 * copies and re-sends; no paho thread, no hand-off per message).
 *
 * Consuming, and the guarantee actually given.  paho 1.3 sends PUBACK (QoS 1)
 * or PUBREC (QoS 2) as soon as it has read a PUBLISH from the socket, before
 * it calls messageArrived and whatever that callback returns (MQTTProtocol_
 * handlePublishes); it has no manual acknowledgement.  So an acknowledgement
 * after the sink committed is impossible with this library.  Instead each
 * consumer keeps a local journal (mqtt_journal.c): messageArrived appends the
 * message (stream, flags, key, payload, CRC-32) to an append-only file with
 * write() before it returns, poll() hands it out, and commit() - called by
 * the roles once the output is safe - moves the committed offset in the
 * file's header past it.  On open, what the journal holds beyond that offset
 * is queued first, flagged SC_MSG_REDELIVERED; so TRANSPORT_CAP_COMMIT is
 * declared and an MQTT consumer is at-least-once across its own crash, like
 * the Kafka and AMQP ones.  The file is truncated once everything in it is
 * committed (past 256 KiB) and removed at close when nothing is pending; it
 * grows while a consumer stays behind its queue without ever catching up.
 * Where: -X journal=DIR, default $STREAMCTL_STATE_DIR/mqtt,
 * $XDG_STATE_HOME/streamctl/mqtt or ~/.local/state/streamctl/mqtt; the file
 * is "<client id>.journal" (locked: one process per client id).
 * What is NOT covered, honestly:
 *  - the instant between paho's PUBACK and our write(): the same receive
 *    thread, microseconds, but a SIGKILL landing exactly there loses that
 *    one message (the broker has its acknowledgement);
 *  - a machine crash or power loss: write() leaves the record in the page
 *    cache; -X journal.sync=true adds fdatasync after every append and
 *    commit (slower: one disk flush per message);
 *  - the broker's own loss: Mosquitto acknowledges a publish before it saves
 *    its database, so a broker SIGKILL loses what was acknowledged since the
 *    last save (scripts/brokers.sh saves every second, or with
 *    MQTT_AUTOSAVE_CHANGES=1 after every change).
 * -X journal=off restores the old behaviour (no journal, no COMMIT: what is
 * queued or polled but not safe is lost when the process is killed; on
 * SIGINT/SIGTERM the runtime drains the queue for up to 10 s).
 * messageArrived copies the message into a bounded queue (capacity
 * -X prefetch, default 100, also sent as MQTT 5 Receive Maximum) and, while
 * the queue is full, blocks paho's receive thread: paho then reads nothing
 * more from the socket, and what it has not read is not acknowledged, so the
 * broker keeps it in the persistent session.  paho 1.3 calls messageArrived
 * holding its global mutex and reads every client's PUBACKs on the same
 * thread, so the callback never blocks while any thread of the process is in
 * a paho call or waits for a confirmation, CONNACK or SUBACK (mqtt_busy); the
 * queue may then exceed its capacity a little.  Otherwise consume and
 * publish in one process (the process role) would deadlock.
 *
 * Reconnect: paho's automaticReconnect (1..30 s); the subscriptions are made
 * again on every reconnect (harmless with a persistent session);
 * connectionLost counts in counters.retries.
 *
 * Security.  mqtts://[user[:password]@]host[:port] (default port 8883; ssl://
 * is the same) connects over TLS, verifying the broker's certificate (-X
 * tls.ca, default the system's trust store) and host name unless -X
 * tls.insecure=true; -X tls.cert and tls.key give a client certificate.  The
 * password comes from the URI, STREAMCTL_BROKER_PASSWORD or --password-file
 * (transport_password()).  A refused login is -SC_EAUTH.
 *
 * -X keys: qos, inflight, keepalive, session.expiry, clean, client.id,
 * shared, journal, journal.sync, tls.ca, tls.cert, tls.key, tls.insecure.
 *
 * Files: mqtt.c (this: connection, callbacks, ops), mqtt_publish.c (the
 * window, confirmations, re-sends), mqtt_sync.c (publish-only handles), mqtt_config.c (options, topic names, filters), mqtt_consume.c
 * (receive queue, poll, commit), mqtt_journal.c (the consumer's journal),
 * mqtt_internal.h (their shared state; only for transports/mqtt*.c).
 *
 * Map:  process-wide state - callbacks - open/close - publish/flush -
 *       healthy - ops
 */
#include "mqtt_internal.h"
#include "error.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

/*
 * The window at QoS 0, at least: nothing is in flight at QoS 0 (MQTT's Receive
 * Maximum and libmosquitto's max_inflight_messages count QoS 1 and 2 only), so
 * the window only bounds paho's queue of unwritten messages, and a small one
 * costs a thread wake-up every few messages.  Measured (issue 8, 100k records
 * of 234 B): 20 -> 7.6-10.5 us CPU per message, 100 -> 6.7-7.6, 1000 -> 9.1-9.7.
 */
#define MQTT_QOS0_WINDOW 100

/* ---- process-wide state ---------------------------------------------------- */

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
pthread_mutex_t mqtt_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t mqtt_cond = PTHREAD_COND_INITIALIZER;
int mqtt_busy;

void mqtt_busy_enter(void)
{
	pthread_mutex_lock(&mqtt_lock);
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	pthread_mutex_unlock(&mqtt_lock);
}

void mqtt_busy_leave(void)
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

void mqtt_wait(int ms)
{
	struct timespec ts;

	mqtt_deadline(&ts, ms);
	pthread_cond_timedwait(&mqtt_cond, &mqtt_lock, &ts);
}

/*
 * paho.mqtt.c 1.3 never sets TCP_NODELAY and has no hook to set it.  With
 * Nagle's algorithm on, a PUBLISH that follows our own PUBACK on the same
 * socket waits for the broker's delayed ACK of that PUBACK: the process role
 * at QoS 1 (it acknowledges its input, then publishes its output) paid about
 * 10 ms per record at 100 records/s.  So, once connected, every TCP socket of
 * this process whose peer is the broker's port gets TCP_NODELAY (Mosquitto
 * sets it on its side with set_tcp_nodelay, scripts/brokers.sh).
 */
/* Call fn for each socket of this process whose peer is the broker's port. */
static void mqtt_scan(const struct mqtt_priv *p, void (*fn)(int fd, void *ctx), void *ctx)
{
	const char *colon = strrchr(p->where, ':');
	int port = colon ? atoi(colon + 1) : 0;
	struct dirent *e;
	DIR *d;

	if (port <= 0 || port > 65535 || !(d = opendir("/proc/self/fd")))
		return;
	while ((e = readdir(d))) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = atoi(e->d_name), type = 0, peer = 0;
		socklen_t tlen = sizeof(type);

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) || type != SOCK_STREAM ||
		    getpeername(fd, (struct sockaddr *)&ss, &len))
			continue;
		if (ss.ss_family == AF_INET)
			peer = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			peer = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		if (peer == port)
			fn(fd, ctx);
	}
	closedir(d);
}

static void mqtt_set_nodelay(int fd, void *ctx)
{
	int one = 1;

	(void)ctx;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void mqtt_nodelay(const struct mqtt_priv *p)
{
	mqtt_scan(p, mqtt_set_nodelay, NULL);
}

struct mqtt_socks {
	unsigned long *ino;
	const unsigned long *known;
	int n, max, fd, found;
};

static unsigned long mqtt_inode(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (unsigned long)st.st_ino;
}

static void mqtt_add_socket(int fd, void *ctx)
{
	struct mqtt_socks *s = ctx;

	if (s->n < s->max)
		s->ino[s->n] = mqtt_inode(fd);
	s->n++;
}

int mqtt_broker_sockets(const struct mqtt_priv *p, unsigned long *ino, int max)
{
	struct mqtt_socks s = {.ino = ino, .max = max};

	mqtt_scan(p, mqtt_add_socket, &s);
	return s.n;
}

static void mqtt_find_new(int fd, void *ctx)
{
	struct mqtt_socks *s = ctx;
	unsigned long ino = mqtt_inode(fd);

	for (int i = 0; i < s->n; i++)
		if (s->known[i] == ino)
			return;
	s->fd = fd;
	s->found++;
}

int mqtt_new_socket(const struct mqtt_priv *p, const unsigned long *known, int n)
{
	struct mqtt_socks s = {.known = known, .n = n, .fd = -1};

	mqtt_scan(p, mqtt_find_new, &s);
	return s.found == 1 ? s.fd : -1;
}

/* ---- callbacks (paho's threads) ------------------------------------------ */

static int mqtt_code_of(int paho_rc, enum MQTTReasonCodes reason)
{
	/* paho 1.3 gives a refused CONNACK's reason code as the return code */
	if (reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
	    reason == MQTTREASONCODE_NOT_AUTHORIZED || paho_rc == 4 || paho_rc == 5 ||
	    paho_rc == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
	    paho_rc == MQTTREASONCODE_NOT_AUTHORIZED)
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
	mqtt_nodelay(p);
	pthread_mutex_lock(&mqtt_lock);
	if (rm > 0 && rm < p->window && p->qos > 0) /* Receive Maximum counts QoS 1 and 2 */
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
	else if (r->code >= 0x80 && r->code <= 0xff) /* paho 1.3: the CONNACK reason code */
		why = MQTTReasonCode_toString((enum MQTTReasonCodes)r->code);
	if (!why) {
		snprintf(buf, sizeof(buf), "%s", MQTTAsync_strerror(r->code));
		why = buf;
	}
	mqtt_call_fail(&p->connect_call, mqtt_code_of(r->code, r->reasonCode), "%s%s", why, "");
}

/*
 * OpenSSL's errors as paho reports them (its threads): keep the reason of
 * the last one.  An OpenSSL error line is
 * "<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>".
 */
int mqtt_on_ssl_error(const char *str, size_t len, void *ctx)
{
	struct mqtt_priv *p = ctx;
	const char *f = str, *end = str + len, *next;
	int field = 0;

	while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
		end = str + --len;
	for (; field < 5 && f < end; field++) {
		next = memchr(f, ':', (size_t)(end - f));
		if (!next)
			break;
		f = next + 1;
	}
	if (field == 5) {
		next = memchr(f, ':', (size_t)(end - f));
		str = f;
		len = (size_t)((next ? next : end) - f);
	}
	pthread_mutex_lock(&mqtt_lock);
	snprintf(p->tls_why, sizeof(p->tls_why), "%.*s", (int)len, str);
	pthread_mutex_unlock(&mqtt_lock);
	return 0;
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
	mqtt_nodelay(p);
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

int mqtt_connect_error(struct mqtt_priv *p, int code, const char *red, struct sc_error *err)
{
	char tls_why[sizeof(p->tls_why)];

	pthread_mutex_lock(&mqtt_lock);
	sc_strlcpy(tls_why, p->tls_why, sizeof(tls_why));
	pthread_mutex_unlock(&mqtt_lock);
	if (code == SC_EAUTH)
		return sc_error_set(err, SC_EAUTH,
				    "mqtt: authentication refused for user '%s' at %s: %s",
				    p->uri.user && *p->uri.user ? p->uri.user : "(none)", p->where,
				    p->connect_call.why);
	if (p->tls && tls_why[0])
		return sc_error_set(err, SC_ECONN, "mqtt: tls handshake with %s failed: %s%s",
				    p->where, tls_why, p->tlsopt.ca ? "" : " (no -X tls.ca given)");
	return sc_error_set(err, code, "mqtt: cannot connect to %s: %s", red, p->connect_call.why);
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
	if (p->qos == 0 && p->window < MQTT_QOS0_WINDOW)
		p->window = MQTT_QOS0_WINDOW;
	rc = mqtt_journal_start(p, err);
	if (rc)
		return rc;
	sc_uri_redact(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, red,
		      sizeof(red));
	if (mqtt_sync_eligible(p))
		return mqtt_sync_open(p, red, err);
	/* Buffered commands while disconnected: the window, sends of it that a
	 * reconnect left in paho next to our re-sends (mqtt_publish.c), and room
	 * for subscribes and acks.  A full buffer is not fatal either: the
	 * message waits for the next re-send. */
	co.sendWhileDisconnected = 1;
	co.maxBufferedMessages = 4 * p->window + 16;
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
	o.password = p->password[0] ? p->password : NULL;
	if (p->tls) {
		MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
		ssl.trustStore = p->tlsopt.ca;
		ssl.keyStore = p->tlsopt.cert;
		ssl.privateKey = p->tlsopt.key;
		ssl.enableServerCertAuth = !p->tlsopt.insecure;
		ssl.verify = !p->tlsopt.insecure;
		ssl.ssl_error_cb = mqtt_on_ssl_error;
		ssl.ssl_error_context = p;
		p->ssl = ssl;
		o.ssl = &p->ssl;
	}
	o.onSuccess5 = mqtt_on_connect;
	o.onFailure5 = mqtt_on_connect_fail;
	o.context = p;
	rc = MQTTAsync_connect(p->client, &o);
	if (rc != MQTTASYNC_SUCCESS)
		return sc_error_set(err, SC_ECONN, "mqtt: cannot connect to %s: %s", red,
				    MQTTAsync_strerror(rc));
	state = mqtt_await(&p->connect_call, (MQTT_CONNECT_TIMEOUT_S + 2) * 1000);
	if (state < 0)
		return mqtt_connect_error(p, -state, red, err);
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

/*
 * Accepts a half-opened transport.  Queued, unpolled messages are dropped
 * from memory (the journal keeps them for the next start).
 */
static void mqtt_close(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	bool up;

	if (!p)
		return;
	pthread_mutex_lock(&mqtt_lock);
	p->closing = true;
	mqtt_busy++;
	pthread_cond_broadcast(&mqtt_cond);
	/* paho's receive thread sets it when it reconnects on its own (after the
	 * broker dropped us for an oversized packet, say): read it under the lock */
	up = p->connected;
	pthread_mutex_unlock(&mqtt_lock);
	if (p->sync)
		mqtt_sync_close(p);
	if (p->created) {
		if (up) {
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
	if (p->kicks && getenv("STREAMCTL_MQTT_DEBUG"))
		fprintf(stderr, "mqtt: woke paho's send thread %llu time(s)\n",
			(unsigned long long)p->kicks);
	mqtt_publish_close(p);
	t->counters.retries = p->lost + p->resent;
	mqtt_consume_close(p);
	for (int i = 0; i < p->nfilters; i++)
		free(p->filters[i]);
	p->nfilters = 0;
	MQTTProperties_free(&p->connect_props);
}

/* ---- healthy ------------------------------------------------------------- */

static bool mqtt_healthy(struct transport *t)
{
	struct mqtt_priv *p = t->priv;
	bool up;

	pthread_mutex_lock(&mqtt_lock);
	up = p->connected;
	t->counters.retries = p->lost + p->resent;
	pthread_mutex_unlock(&mqtt_lock);
	return up;
}

/* ---- ops ----------------------------------------------------------------- */

const struct transport_ops transport_mqtt = {
	.name = "mqtt",
	.summary = "MQTT 5 (paho): QoS 0/1/2, persistent sessions, shared subscriptions",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_COMMIT |
		TRANSPORT_CAP_CONFIRM | TRANSPORT_CAP_GROUPS | TRANSPORT_CAP_LAG,
	.priv_size = sizeof(struct mqtt_priv),
	.opts = mqtt_opts,
	.open = mqtt_open,
	.publish = mqtt_publish,
	.poll = mqtt_poll,
	.commit = mqtt_commit,
	.flush = mqtt_flush,
	.release = mqtt_release,
	.lag = mqtt_lag,
	.healthy = mqtt_healthy,
	.close = mqtt_close,
};

/*
 * mqtt.c - the MQTT 5 backend on paho.mqtt.c's synchronous client
 * (MQTTClient): open, close, ops.
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
 * Producers without an id get "<ns>-<role>-<host>-<pid>" ("-<n>" added for the n-th
 * further handle of the process) and a short session (300 s).
 *
 * The client.  Every handle runs on paho's synchronous client (MQTTClient,
 * libpaho-mqtt3cs) with no paho thread: paho reads and writes the socket only
 * inside our calls, in the caller's thread (mqtt_client.c says how, and why
 * the asynchronous client's hand-offs and its send thread's 1 s sleep made
 * the pipeline stall and cost a third of the processor's time switching
 * threads).  poll() runs paho's packet loop until a message arrives or the
 * timeout passes; publish() writes the PUBLISH at once; publish() and
 * flush() read the acknowledgements themselves.
 *
 * Publishing.  At most `window` QoS 1/2 messages are unconfirmed
 * (PUBACK/PUBCOMP): window = min(-X inflight (100), the broker's Receive
 * Maximum).  publish() with a full window reads acknowledgements until half
 * of it is left: that is the backpressure.  flush() waits until nothing is
 * unconfirmed and reports refusals (reason code >= 0x80) since the previous
 * flush.  paho persistence is off (in memory): a message is safe only once
 * flush() returned 0.  Each unconfirmed message keeps a copy, sent again after
 * a reconnect that lost it (a broker restarted from an older save) and after
 * 5 s without any confirmation.  QoS 0: publish() returns once the message is
 * written to the socket; flush() has nothing to wait for.
 *
 * Consuming, and the guarantee actually given.  paho 1.3 sends PUBACK (QoS 1)
 * or PUBREC (QoS 2) as soon as it has read a PUBLISH from the socket, before
 * it hands the message over (MQTTProtocol_handlePublishes); it has no manual
 * acknowledgement.  So an acknowledgement after the sink committed is
 * impossible with this library.  Instead each consumer keeps a local journal
 * (mqtt_journal.c): each message paho reads is appended (stream, flags,
 * key, payload, CRC-32) to an append-only file with write() before paho
 * reads and acknowledges it (each round of paho's packet loop first peeks at
 * the socket: mqtt_consume.c, mqtt_prejournal), poll() hands it out, and
 * commit() - called by the roles
 * once the output is safe - moves the committed offset in the file's header
 * past it.  On open, what the journal holds beyond that offset is queued
 * first, flagged SC_MSG_REDELIVERED; so TRANSPORT_CAP_COMMIT is declared and
 * an MQTT consumer is at-least-once across its own crash, like the Kafka and
 * AMQP ones.  The file is truncated once everything in it is
 * committed (past 256 KiB) and removed at close when nothing is pending; it
 * grows while a consumer stays behind its queue without ever catching up.
 * Where: -X journal=DIR, default $STREAMCTL_STATE_DIR/mqtt,
 * $XDG_STATE_HOME/streamctl/mqtt or ~/.local/state/streamctl/mqtt; the file
 * is "<client id>.journal" (locked: one process per client id).
 * What is NOT covered, honestly:
 *  - a message paho reads outside our rounds (while it connects and
 *    subscribes; inside a publish that finds a partly written packet), one
 *    not complete in the socket when peeked, and every message over TLS (the
 *    peek sees ciphertext) is journaled when paho hands it over, just after
 *    paho acknowledged it: a SIGKILL in between loses that message;
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
 * A message is read from the socket only inside a call: poll() reads until it
 * has one (what is not read stays in the socket and then with the broker, in
 * the persistent session); publish() and flush() of the process role read
 * the PUBLISHes that come between their acknowledgements and queue them for
 * the next poll().  -X prefetch is sent as MQTT 5 Receive Maximum: how many
 * unacknowledged QoS 1/2 messages the broker may have in flight to us.
 *
 * Reconnect: a consumer's poll() reconnects at once, then after 1, 2, 4 ...
 * 30 s, and subscribes again (harmless with a persistent session);
 * publish() and flush() reconnect the same way for up to 30 s and then fail.
 * Lost connections count in counters.retries.
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
 * Files: mqtt.c (this: open, close, ops), mqtt_client.c (the connection,
 * paho's packet loop, publishing), mqtt_config.c (options, topic names,
 * filters), mqtt_consume.c (receive queue, poll, commit), mqtt_journal.c (the
 * consumer's journal), mqtt_internal.h (their shared state; only for
 * transports/mqtt*.c).
 *
 * Map:  process-wide state - sockets - TLS errors - open/close - healthy - ops
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

/* ---- process-wide state ---------------------------------------------------- */

pthread_mutex_t mqtt_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t mqtt_cond = PTHREAD_COND_INITIALIZER;

void mqtt_wait(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&mqtt_cond, &mqtt_lock, &ts);
}

/* ---- sockets ------------------------------------------------------------- */

/*
 * paho.mqtt.c 1.3 never sets TCP_NODELAY and has no hook to set it, nor does
 * it say which socket is a handle's.  Both are found here by looking at this
 * process's sockets whose peer is the broker's port.  Why TCP_NODELAY: with
 * Nagle's algorithm on, a PUBLISH that follows our own PUBACK on the same
 * socket waits for the broker's delayed ACK of that PUBACK: the process role
 * at QoS 1 (it acknowledges its input, then publishes its output) paid about
 * 10 ms per record at 100 records/s.
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

/* ---- TLS errors ------------------------------------------------------------ */

/*
 * OpenSSL's errors as paho reports them: keep the reason of the last one.
 * An OpenSSL error line is
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
				    p->connect_why);
	if (p->tls && tls_why[0])
		return sc_error_set(err, SC_ECONN, "mqtt: tls handshake with %s failed: %s%s",
				    p->where, tls_why, p->tlsopt.ca ? "" : " (no -X tls.ca given)");
	return sc_error_set(err, code, "mqtt: cannot connect to %s: %s", red, p->connect_why);
}

/* ---- open / close -------------------------------------------------------- */

static int mqtt_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	struct mqtt_priv *p = t->priv;
	char red[512];
	int rc;

	p->t = t;
	p->fd = -1;
	rc = mqtt_configure(p, cfg, err);
	if (rc)
		return rc;
	rc = mqtt_build_filters(p, cfg, err);
	if (rc)
		return rc;
	rc = mqtt_set_props(p, err);
	if (rc)
		return rc;
	rc = mqtt_journal_start(p, err);
	if (rc)
		return rc;
	sc_uri_redact(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, red,
		      sizeof(red));
	return mqtt_client_open(p, red, err);
}

/*
 * Accepts a half-opened transport.  Queued, unpolled messages are dropped
 * from memory (the journal keeps them for the next start).
 */
static void mqtt_close(struct transport *t)
{
	struct mqtt_priv *p = t->priv;

	if (!p)
		return;
	mqtt_client_close(p);
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

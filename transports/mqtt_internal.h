/*
 * mqtt_internal.h - state shared by the files of the mqtt backend
 * (mqtt.c: connection, publishing, ops; mqtt_config.c: options, topics;
 * mqtt_consume.c: the receive queue).  Do not include it anywhere else:
 * only transports/mqtt*.c may see paho's types.
 */
#ifndef SC_MQTT_INTERNAL_H
#define SC_MQTT_INTERNAL_H

#include "transport.h"
#include "mqtt_journal.h"

#include <MQTTAsync.h>
#include <MQTTClient.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MQTT_DEFAULT_URI       "mqtt://127.0.0.1:1883"
#define MQTT_DEFAULT_PORT      1883
#define MQTT_DEFAULT_TLS_PORT  8883
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
	uint64_t ticket; /* its journal record (mqtt_journal_commit), 0 without */
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
	char where[300];    /* "host:port", for messages */
	char password[256]; /* transport_password(); "" for none */
	bool tls;	    /* mqtts:// (or ssl://) */
	struct transport_tls tlsopt;
	MQTTAsync_SSLOptions ssl;
	char tls_why[256]; /* the last OpenSSL error paho reported (mqtt_lock) */
	char client_id[256];
	char group[128];
	const char *ns;
	int qos, inflight, window, prefetch, keepalive, clean;
	long expiry;
	MQTTProperties connect_props;

	/* "<ns>/<stream path>" of every stream, made once at open (read-only after) */
	char stopic[SC_STREAM__COUNT][MQTT_TOPIC_MAX];
	int stopic_len[SC_STREAM__COUNT]; /* 0: not made (compute), < 0: too long */

	int nfilters;
	char *filters[SC_STREAM__COUNT];
	int filter_qos[SC_STREAM__COUNT];
	bool resubscribe, connected;

	struct mqtt_call connect_call, sub_call, disc_call;
	uint64_t lost; /* connectionLost count, folded into counters.retries */

	uint64_t outstanding, confirmed, failed;
	char fail_reason[200];
	/* publish() / flush() waiting on this transport's window (mqtt_lock): the
	 * callbacks broadcast only when one of them can go on (see mqtt.c) */
	int pub_waiters, flush_waiters;
	/* copies of the unconfirmed messages, for re-sending (mqtt_publish.c) */
	struct mqtt_out *outs;
	int resend_marks;    /* outs flagged for a re-send */
	int64_t progress_ns; /* the last confirmation (or the window's start) */
	uint64_t resent;     /* re-sends, folded into counters.retries */
	int64_t kick_ns;     /* the last wake-up of paho's send thread (mqtt_publish.c) */
	uint64_t kicks;	     /* such wake-ups (said at close with STREAMCTL_MQTT_DEBUG) */
	bool closing;

	/* a publish-only handle on paho's synchronous client (mqtt_sync.c) */
	bool sync;
	void *sync_client;	 /* MQTTClient; NULL when not created */
	unsigned long sync_pubs; /* publishes so far (atomic: the keepalive thread reads it) */
	bool sync_stop;		 /* the keepalive thread must end (mqtt_lock) */
	bool sync_ka_started;	 /* sync_ka runs */
	pthread_t sync_ka;	 /* keepalive thread (mqtt_sync.c) */
	int sync_fd;		 /* its socket, to wait for PUBACKs on; -1: not known */
	MQTTClient_SSLOptions sync_ssl;
	/* unconfirmed QoS 1/2 messages (mqtt_lock): by paho's message id, and listed */
	struct mqtt_sync_out **sync_ids;
	struct mqtt_sync_out *sync_outs;
	/* acknowledgements read inside a publish call, before its message id was
	 * known (mqtt_sync.c out_send): id and reason code */
	int sync_early_n;
	int sync_early[8][2];

	struct mqtt_rx *head, *tail;
	size_t queued;

	/* the consumer's journal (mqtt_consume.c); NULL with -X journal=off */
	bool shared;	   /* -X shared: $share/<group>/ filters (default) */
	bool journal_off;  /* -X journal=off */
	bool journal_sync; /* -X journal.sync=true */
	char journal_path[1024];
	struct mqtt_journal *journal;
	bool journal_broken;  /* an append failed: said once on stderr */
	char rx_failed[1200]; /* a received message had no memory: poll() fails with this */
};

/* One lock and condition for all mqtt transports: see mqtt.c. */
extern pthread_mutex_t mqtt_lock;
extern pthread_cond_t mqtt_cond;
extern int mqtt_busy;
void mqtt_busy_enter(void);
void mqtt_busy_leave(void);
/* Wait on mqtt_cond for at most ms (mqtt_lock held). */
void mqtt_wait(int ms);
/* TCP_NODELAY on this process's sockets to the broker's port (mqtt.c). */
void mqtt_nodelay(const struct mqtt_priv *p);
/* Inodes of this process's sockets to the broker's port into ino (room for
 * max): how many there are. */
int mqtt_broker_sockets(const struct mqtt_priv *p, unsigned long *ino, int max);
/* The one socket to the broker's port whose inode is not in known[n], or -1
 * when there is not exactly one. */
int mqtt_new_socket(const struct mqtt_priv *p, const unsigned long *known, int n);
/* OpenSSL's errors as paho reports them: keep the reason (mqtt.c). */
int mqtt_on_ssl_error(const char *str, size_t len, void *ctx);
/* A failed connect as one line: the user on a refused login, TLS on a failed handshake. */
int mqtt_connect_error(struct mqtt_priv *p, int code, const char *red, struct sc_error *err);

/* mqtt_config.c */
int mqtt_configure(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err);
int mqtt_build_filters(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err);
int mqtt_set_props(struct mqtt_priv *p, struct sc_error *err);
/* "<ns>/<stream path>" into buf; its length or -1 when it does not fit. */
int mqtt_stream_topic(const struct mqtt_priv *p, enum sc_stream s, char *buf, size_t n);
/* Replace '+', '#', '/' (and '.' with dots) by '_'. */
void mqtt_sanitise(char *s, bool dots);

/* mqtt_publish.c */
/* Add the original key as the "k" user property (MQTT_KEY_PROP) to props: 0 or -1. */
int mqtt_key_prop(MQTTProperties *props, const char *key);
/* The topic of m into topic (size bytes); *keyprop: the key needs the "k" property. */
int mqtt_topic_of(struct transport *t, const struct sc_msg *m, char *topic, size_t size,
		  bool *keyprop, struct sc_error *err);
int mqtt_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err);
int mqtt_flush(struct transport *t, int timeout_ms, struct sc_error *err);
/* Free the unconfirmed copies; after MQTTAsync_destroy only. */
void mqtt_publish_close(struct mqtt_priv *p);

/* mqtt_sync.c: publish-only handles on paho's synchronous client */
/* Whether p (configured, filters built) takes the synchronous path. */
bool mqtt_sync_eligible(const struct mqtt_priv *p);
/* Create and connect; red: the broker URI without its password, for messages. */
int mqtt_sync_open(struct mqtt_priv *p, const char *red, struct sc_error *err);
int mqtt_sync_publish(struct mqtt_priv *p, const char *topic, const struct sc_msg *m, bool keyprop,
		      struct sc_error *err);
int mqtt_sync_flush(struct mqtt_priv *p, int timeout_ms, struct sc_error *err);
/* Disconnect and destroy. */
void mqtt_sync_close(struct mqtt_priv *p);

/* mqtt_consume.c */
int mqtt_on_message(void *ctx, char *topic_name, int topic_len, MQTTAsync_message *m);
int mqtt_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err);
void mqtt_release(struct transport *t, struct sc_msg *m);
int64_t mqtt_lag(struct transport *t);
int mqtt_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err);
/* Open the journal and queue what it has not committed (before connecting). */
int mqtt_journal_start(struct mqtt_priv *p, struct sc_error *err);
/* After the client is destroyed: free the queue, close the journal. */
void mqtt_consume_close(struct mqtt_priv *p);
/* mqtt.c's ops (journal=off and QoS 0 clear caps of the instance, not of these) */
extern const struct transport_ops transport_mqtt;
extern const struct transport_opt mqtt_opts[];

#endif /* SC_MQTT_INTERNAL_H */

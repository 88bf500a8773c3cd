/*
 * mqtt_internal.h - state shared by the files of the mqtt backend
 * (mqtt.c: open, close, ops; mqtt_client.c: the connection, paho's packet
 * loop, publishing; mqtt_config.c: options, topics; mqtt_consume.c: the
 * receive queue and the journal).  Do not include it anywhere else: only
 * transports/mqtt*.c may see paho's types.
 */
#ifndef SC_MQTT_INTERNAL_H
#define SC_MQTT_INTERNAL_H

#include "transport.h"
#include "mqtt_journal.h"

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

struct mqtt_out; /* an unconfirmed QoS 1/2 message (mqtt_client.c) */

struct mqtt_priv {
	struct transport *t;

	struct sc_uri uri;
	char server[300];
	char where[300];    /* "host:port", for messages */
	char password[256]; /* transport_password(); "" for none */
	bool tls;	    /* mqtts:// (or ssl://) */
	struct transport_tls tlsopt;
	MQTTClient_SSLOptions ssl;
	char tls_why[256]; /* the last OpenSSL error paho reported (mqtt_lock) */
	char connect_why[256];
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

	/* the connection (mqtt_client.c); counters and flags under mqtt_lock */
	MQTTClient client; /* NULL: not created */
	int fd;		   /* its socket, to wait on; -1: not known */
	bool connected;
	uint64_t lost;	  /* connections lost, folded into counters.retries */
	int attempt;	  /* reconnect attempts since the connection was lost */
	int64_t retry_ns; /* a consumer's next reconnect attempt (poll) */
	unsigned long
		rounds; /* packet-loop rounds and publishes (atomic: the keepalive thread reads it) */
	bool ka_stop;	/* the keepalive thread must end */
	bool ka_started;
	pthread_t ka;

	/* publishing (mqtt_client.c) */
	uint64_t outstanding, confirmed, failed;
	char fail_reason[200];
	int64_t progress_ns;   /* the last confirmation (or the window's start) */
	uint64_t resent;       /* re-sends, folded into counters.retries */
	bool unpushed;	       /* QoS 0: written since flush() last pushed (client_lock) */
	struct mqtt_out **ids; /* unconfirmed QoS 1/2 messages by paho's message id */
	struct mqtt_out *outs; /* and listed */
	/* acknowledgements read inside a publish call, before its message id was
	 * known (mqtt_client.c out_send): id and reason code */
	int early_n;
	int early[8][2];

	/* receiving (mqtt_consume.c), under mqtt_lock */
	struct mqtt_rx *head, *tail;
	size_t queued;
	bool shared;	   /* -X shared: $share/<group>/ filters (default) */
	bool journal_off;  /* -X journal=off */
	bool journal_sync; /* -X journal.sync=true */
	char journal_path[1024];
	struct mqtt_journal *journal; /* NULL with -X journal=off */
	bool journal_broken;	      /* an append failed: said once on stderr */
	/* PUBLISHes journaled from a peek at the socket before paho read (and
	 * acknowledged) them, in socket order, until paho hands them over
	 * (mqtt_consume.c, under mqtt_lock; peek under client_lock) */
	struct mqtt_pre {
		int msgid;
		size_t len;
		uint64_t ticket;
	} * pre;
	size_t pre_cap, pre_head, pre_n;
	unsigned char *peek;
	size_t peek_cap;
	char rx_failed[1200]; /* a received message had no memory: poll() fails with this */
};

/*
 * mqtt_lock guards the counters and queues of every mqtt transport of the
 * process against the keepalive threads and against paho's packet loop,
 * which serves every handle's socket in whichever thread runs it (see
 * mqtt_client.c).  mqtt_cond is broadcast on every change the keepalive
 * threads wait for.
 */
extern pthread_mutex_t mqtt_lock;
extern pthread_cond_t mqtt_cond;
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

/*
 * mqtt_consume.c: journal the PUBLISH waiting at the head of the socket, if
 * it is complete, before paho reads and acknowledges it (client_lock held).
 */
void mqtt_prejournal(struct mqtt_priv *p);

/* mqtt_config.c */
int mqtt_configure(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err);
int mqtt_build_filters(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err);
int mqtt_set_props(struct mqtt_priv *p, struct sc_error *err);
/* "<ns>/<stream path>" into buf; its length or -1 when it does not fit. */
int mqtt_stream_topic(const struct mqtt_priv *p, enum sc_stream s, char *buf, size_t n);
/* Replace '+', '#', '/' (and '.' with dots) by '_'. */
void mqtt_sanitise(char *s, bool dots);

/* mqtt_client.c */
/* Create, connect and subscribe; red: the broker URI without its password, for messages. */
int mqtt_client_open(struct mqtt_priv *p, const char *red, struct sc_error *err);
/*
 * One round of paho's packet loop for p (timeout 0): 1 when it handed over a
 * message (queued by mqtt_rx_take), 0 when not, -1 when the connection is
 * gone.  A consumer that is not connected tries to reconnect when its
 * backoff allows (and returns -1 while it cannot).
 */
int mqtt_client_round(struct mqtt_priv *p);
/* After a round that read nothing: wait on the socket for at most ms (capped at 10 ms). */
void mqtt_client_wait(struct mqtt_priv *p, int ms);
/* Disconnect, destroy, free the unconfirmed copies. */
void mqtt_client_close(struct mqtt_priv *p);
int mqtt_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err);
int mqtt_flush(struct transport *t, int timeout_ms, struct sc_error *err);
/* Add the original key as the "k" user property (MQTT_KEY_PROP) to props: 0 or -1. */
int mqtt_key_prop(MQTTProperties *props, const char *key);
/* The topic of m into topic (size bytes); *keyprop: the key needs the "k" property. */
int mqtt_topic_of(struct transport *t, const struct sc_msg *m, char *topic, size_t size,
		  bool *keyprop, struct sc_error *err);

/* mqtt_consume.c */
/* A message paho handed over (and has acknowledged): journal and queue it; frees m and topic. */
void mqtt_rx_take(struct mqtt_priv *p, char *topic, int topic_len, MQTTClient_message *m);
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

/*
 * kafka_int.h - private to the kafka backend (transports/kafka*.c).
 *
 * Do not include this outside transports/kafka*.c: it is the only header
 * besides those files that names librdkafka types.  The rest of streamctl
 * knows the backend only as `transport_kafka` (kafka.c).
 *
 * Files:
 *   kafka.c        the vtable: open/close, publish/flush, poll/commit/release,
 *                  lag, healthy
 *   kafka_setup.c  broker list, client configuration (-X), log and error
 *                  callbacks, topic names and topic creation (Admin API)
 */
#ifndef SC_KAFKA_INT_H
#define SC_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

#define KAFKA_DEFAULT_BROKERS "127.0.0.1:9092"
/*
 * Consumer group liveness.  With static membership (group.instance.id from
 * --client-id) a member that stops, even cleanly, keeps its partitions until
 * the session times out; 10 s is how long partitions of an instance that
 * never comes back wait before moving.  Heartbeats every second.  The
 * broker's group.min.session.timeout.ms (default 6 s) bounds it below.
 */
/*
 * Producer linger: a message waits at most this long for others to share
 * its request, and every producing stage of a pipeline adds that wait to
 * every record at low rates (REPORT section 4 has the before and after of
 * 5 -> 1 ms); at high rates batches still fill while earlier requests are in
 * flight.
 */
#define KAFKA_LINGER_MS		 "1"
#define KAFKA_SESSION_TIMEOUT_MS "10000"
#define KAFKA_HEARTBEAT_MS	 "1000"
#define KAFKA_TOPIC_MAX		 250 /* Kafka's limit is 249 characters */
#define KAFKA_REASON_MAX	 256

/*
 * A polled message: the librdkafka message plus a NUL-terminated copy of its
 * key, one allocation, freed by release().  sc_msg.handle points to it.
 */
struct kafka_held {
	rd_kafka_message_t *rkm;
	rd_kafka_t *rk; /* the consumer it came from (one retired by a rejoin, or the current) */
	char key[];
};

/*
 * Rejoins after a fence that followed trouble with the brokers (see
 * kafka_rejoin in kafka.c): at most this many in KAFKA_REJOIN_WINDOW_S, and
 * only when the consumer saw the brokers fail in the KAFKA_TROUBLE_S before.
 */
#define KAFKA_REJOIN_MAX      5
#define KAFKA_REJOIN_WINDOW_S 600
#define KAFKA_TROUBLE_S	      120

struct kafka_priv {
	struct transport *t;
	const struct transport_cfg *cfg;
	char brokers[1024];				/* bootstrap.servers */
	bool tls;					/* kafkas:// */
	char user[128];					/* from the URI, "" if none */
	char password[256];				/* transport_password(), "" if none */
	char topics[SC_STREAM__COUNT][KAFKA_TOPIC_MAX]; /* "" when no topic */
	int partitions, replication;			/* for topic creation */

	/* producer: created at open for a pure producer, else on first publish */
	rd_kafka_conf_t *pconf; /* validated at open, owned until rd_kafka_new */
	rd_kafka_t *producer;
	rd_kafka_topic_t *rkt[SC_STREAM__COUNT];
	bool topic_ready[SC_STREAM__COUNT];
	uint64_t failed;		    /* delivery failures since the last flush */
	char fail_reason[KAFKA_REASON_MAX]; /* the first of them */
	uint64_t undelivered_total;	    /* over the whole life, for close */
	int64_t now_ms_seen;		    /* latest wall clock read by publish() */
	unsigned int since_poll;	    /* publishes since the last rd_kafka_poll */

	/*
	 * consumer.  It is replaced when a static member that was fenced after a
	 * broker restart joins again (kafka_rejoin): lag() and healthy() run on
	 * other threads and use it under swap_lock, which the swap takes.  The
	 * replaced one is kept until the messages polled from it are released.
	 */
	_Atomic(rd_kafka_t *) consumer;
	pthread_mutex_t swap_lock;
	bool swap_lock_init;
	rd_kafka_t *retired; /* the consumer before the last rejoin, until retired_held is 0 */
	size_t held;	     /* polled, not released, from the current consumer */
	size_t retired_held; /* the same from the retired one */
	int rejoins;	     /* rejoins since rejoin_since_ns */
	int64_t rejoin_since_ns;
	bool auto_store; /* -X enable.auto.offset.store=true: commit() is a no-op */
	bool debug;	 /* -X debug=...: librdkafka's debug lines are printed too */
	int64_t last_transient_ns;
	_Atomic int64_t trouble_ns; /* the last connection error librdkafka reported (0: none) */

	/* written by librdkafka callbacks, read from any thread */
	atomic_bool brokers_down;
	atomic_bool fatal;
	_Atomic int64_t last_probe_ns;
	_Atomic int64_t lag_cached;
	_Atomic int64_t lag_at_ns;
	/* the first authentication or TLS failure librdkafka reported */
	atomic_bool opened;    /* a broker answered once: later failures are printed */
	atomic_int conn_claim; /* 1 once conn_reason is being written */
	atomic_int conn_fail;  /* 0, SC_EAUTH or SC_ECONN (TLS) once conn_reason is set */
	char conn_reason[KAFKA_REASON_MAX];
};

/* ---- kafka_setup.c ----------------------------------------------------- */

/* The -X keys of this backend (transport.h); the others go to librdkafka. */
extern const struct transport_opt kafka_opts[];

/* k->partitions and k->replication from -X partitions, -X replication.factor. */
int kafka_topic_opts(struct kafka_priv *k, struct sc_error *err);
/* group.instance.id for a consumer (static membership), or NULL: see kafka_setup.c. */
const char *kafka_instance_id(const struct transport_cfg *cfg);

/*
 * Parse cfg->broker ("kafka://h:p[,h:p...]" or a bare "h:p[,h:p...]",
 * default 127.0.0.1:9092; a missing port is 9092) into k->brokers.
 * "kafkas://" means TLS; "[user[:password]@]" before the list gives SASL
 * credentials (k->tls, k->user, k->password).  0 or -SC_EINVAL naming the
 * problem.
 */
int kafka_parse_brokers(struct kafka_priv *k, const char *uri, struct sc_error *err);

/* Fill k->topics from cfg->ns and cfg->external_topic; -SC_EINVAL if too long. */
int kafka_topic_names(struct kafka_priv *k, struct sc_error *err);

/*
 * A configuration for a producer (consumer = false) or a consumer: common
 * settings, this backend's defaults, then every -X key=value (which win).
 * *out is owned by the caller (rd_kafka_new takes it).  An unknown or
 * invalid property gives -SC_EINVAL "kafka: -X key=value: <librdkafka text>".
 */
int kafka_conf_new(struct kafka_priv *k, bool consumer, rd_kafka_conf_t **out,
		   struct sc_error *err);

/*
 * Make sure every topic named in `names` exists: topics the cluster
 * metadata already lists are left alone, the others are created with
 * k->partitions and k->replication (TOPIC_ALREADY_EXISTS is success), then
 * we wait until the metadata shows them.  Bounded (about 20 s in all).
 */
int kafka_ensure_topics(struct kafka_priv *k, rd_kafka_t *rk, const char *const *names, int n,
			struct sc_error *err);

/*
 * The authentication or TLS failure librdkafka reported, as an error
 * naming the user and the brokers; 0 when there was none.
 */
int kafka_conn_error(struct kafka_priv *k, struct sc_error *err);

/* librdkafka error -> SC_E* code (positive). */
int kafka_errcode(rd_kafka_resp_err_t e);

#endif /* SC_KAFKA_INT_H */

/*
 * transport.h - the transport vtable and the wrappers the roles call.
 *
 * Roles never call a backend's function pointers directly: they go through
 * the transport_*() wrappers below, which check capabilities, count, and
 * keep error messages uniform (Redis connection.h style).  Backends are one
 * file each (transports/<name>.c) ending in a
 *   const struct transport_ops transport_<name> = { .name = "<name>", ... };
 * with everything else static, and are listed in transports/registry.c.
 * Only transports/<name>.c may include its client library's headers.
 *
 * Delivery contract (docs/ARCHITECTURE.md; tests/unit/test_contract.c checks it
 * against every backend):
 *  - publish() borrows the message; a backend that delivers asynchronously
 *    copies what it needs.  publish() may block to apply backpressure when
 *    the backend's bounded queue is full.
 *  - flush() returns 0 only when every message published before it is safe
 *    at the broker (Kafka: acked by acks=all; AMQP: confirmed; MQTT: PUBACK/
 *    PUBCOMP); a message that failed delivery makes it return -SC_EIO naming
 *    how many failed and why (once: the next flush() starts afresh).
 *    flush(0) does not wait: it returns 0 once the broker's answers are in
 *    (called again and again it reads them itself, AMQP on every 64th call),
 *    -SC_ETIMEDOUT while messages are still in flight, or the failure (a
 *    generator asks this way before it pauses).
 *  - poll() fills a caller-owned struct sc_msg.  Its payload and key are
 *    valid until the next poll() or transport_msg_release(), whichever comes
 *    first (decode at once); its handle/token stay valid until
 *    transport_msg_release().  commit() tells the backend the message is done
 *    (its output is safe): Kafka stores the offset, AMQP acks, MQTT
 *    acknowledges.  Messages not committed are redelivered after a crash or
 *    restart when the backend has TRANSPORT_CAP_COMMIT.
 *
 * Map:  capabilities - message - configuration - vtable - wrappers
 */
#ifndef SC_TRANSPORT_H
#define SC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "stop.h"

struct sc_error;

/* ---- capabilities ------------------------------------------------------ */

enum transport_cap {
	TRANSPORT_CAP_PUBLISH = 1u << 0, /* publish() and flush() exist */
	TRANSPORT_CAP_CONSUME = 1u << 1, /* poll() exists */
	TRANSPORT_CAP_COMMIT = 1u << 2,	 /* commit() exists: uncommitted input is redelivered */
	TRANSPORT_CAP_CONFIRM = 1u << 3, /* flush() means the broker has the messages */
	TRANSPORT_CAP_REPLAY = 1u << 4,	 /* the log keeps consumed messages (re-readable) */
	TRANSPORT_CAP_GROUPS = 1u << 5,	 /* several consumers split one stream */
	TRANSPORT_CAP_LAG = 1u << 6,	 /* lag() exists */
};

/* ---- message ----------------------------------------------------------- */

enum sc_msg_flags {
	SC_MSG_MALFORMED = 1u << 0,   /* the transport could not frame it: see msg.error */
	SC_MSG_REDELIVERED = 1u << 1, /* the broker says it may have been seen before */
};

struct sc_msg {
	enum sc_stream stream; /* logical stream it is published to / came from */
	const void *payload;
	size_t len;
	const char *key;      /* partition / routing key, NUL-terminated; may be NULL */
	int64_t timestamp_ns; /* event time (Kafka message timestamp), 0 if none */
	unsigned int flags;   /* SC_MSG_* */
	const char *error;    /* with SC_MSG_MALFORMED: the reason */
	/* consumer side, owned by the backend until transport_msg_release() */
	void *handle;
	uint64_t token;
};

/* ---- configuration ----------------------------------------------------- */

struct sc_kv {
	const char *key;
	const char *value;
};

struct transport_cfg {
	const char *broker;	    /* URI; NULL or "" means the backend's local default */
	const char *ns;		    /* namespace prefix of every topic/queue/group */
	const char *role;	    /* "generate", "process", "sink", "bench": names the group */
	const char *client_id;	    /* stable id of this instance (MQTT session, Kafka client.id) */
	bool client_id_given;	    /* client_id was named by the user (--client-id), not made up */
	const char *group;	    /* consumer group / shared subscription; NULL: "<ns>.<role>" */
	unsigned int inputs;	    /* SC_STREAM_BIT()s to consume; 0 for a pure producer */
	const char *external_topic; /* with SC_STREAM_EXTERNAL: the foreign topic to read */
	size_t max_msg_bytes; /* larger messages are refused (publish) or dead-lettered (poll) */
	/* -X key=value: the backend's own options (its table) and, where the
	 * table has "*", keys it passes on to its client library */
	const struct sc_kv *props;
	size_t nprops;
	/* credentials beside the URI's user:password@ (see transport_password()) */
	const char *password;	   /* overrides the URI's password; NULL: none */
	const char *password_file; /* its first line overrides both; NULL: none */
};

/*
 * A backend's own options: the -X keys it reads, declared in a table in its
 * own file.  The CLI generates --help, --print-config, the
 * STREAMCTL_<BACKEND>_<KEY> variables (transport_opt_env()) and the checks of
 * values from it, so adding an option touches only the backend's files.
 * The table ends with {.key = NULL}; an entry with key "*" says that other
 * keys are passed on (to the client library or a wrapped backend) rather than
 * refused.
 *
 * `flag` gives an option a top-level flag and variable as well (flag "qos":
 * --qos=N and STREAMCTL_QOS set -X qos).  It exists for the options that
 * were once shared settings, so the scripts and compose files that use those
 * names keep working; several backends may give the same flag to options of
 * their own, each with its own meaning, range and default.  A flag given to a
 * backend whose table lacks it is an error; its variable is then ignored,
 * like the variables of another role.
 */
enum transport_opt_type { TRANSPORT_OPT_STR, TRANSPORT_OPT_LONG, TRANSPORT_OPT_BOOL };

struct transport_opt {
	const char *key;
	enum transport_opt_type type;
	const char *def; /* default as text for help and --print-config; NULL: none */
	long min, max;	 /* TRANSPORT_OPT_LONG */
	const char *help;
	const char *flag; /* also --<flag>=VALUE and STREAMCTL_<FLAG>; NULL: -X only */
};

/* ---- vtable ------------------------------------------------------------ */

struct transport;

struct transport_ops {
	const char *name;
	const char *summary; /* one line for --help */
	unsigned int caps;   /* TRANSPORT_CAP_* it may have; per instance: transport.caps */
	size_t priv_size;    /* the core allocates (zeroed) t->priv of this size */
	const struct transport_opt *opts; /* its -X keys; NULL: takes none */
	int (*open)(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err);
	int (*publish)(struct transport *t, const struct sc_msg *m, struct sc_error *err);
	/* 1: got a message, 0: none within timeout, -SC_EOF: input ended, <0: error */
	int (*poll)(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err);
	int (*commit)(struct transport *t, const struct sc_msg *m, struct sc_error *err);
	int (*flush)(struct transport *t, int timeout_ms, struct sc_error *err);
	/* Release a polled message (required with CONSUME; may be a no-op). */
	void (*release)(struct transport *t, struct sc_msg *m);
	/* Messages waiting for this consumer (Kafka lag, AMQP ready count); < 0 unknown. */
	int64_t (*lag)(struct transport *t);
	/* Still connected to its broker (for /readyz); NULL means always. */
	bool (*healthy)(struct transport *t);
	/* Must accept a half-opened transport (after a failed open). */
	void (*close)(struct transport *t);
};

struct transport_counters {
	uint64_t published; /* publish() calls that succeeded */
	uint64_t publish_errors;
	uint64_t polled; /* messages handed out by poll() */
	uint64_t committed;
	uint64_t retries; /* reconnects, re-sends (backends add to it) */
};

struct transport {
	const struct transport_ops *ops;
	/* This instance's TRANSPORT_CAP_*: ops->caps, less what its settings turn
	 * off; open() may only clear bits (MQTT at QoS 0 confirms nothing). */
	unsigned int caps;
	void *priv;
	struct transport_cfg cfg; /* copy; strings borrowed from the caller */
	struct transport_counters counters;
};

/* ---- registry and wrappers -------------------------------------------- */

/* NULL-terminated list of the backends built into this binary. */
extern const struct transport_ops *const transport_backends[];

/* Backend by name; NULL when unknown or not built in (err says which). */
const struct transport_ops *transport_find(const char *name, struct sc_error *err);

/* Check every registered backend's methods against its caps (start-up, tests). */
int transport_registry_check(struct sc_error *err);

/*
 * Open a backend; *out is NULL on failure.  cfg strings must outlive the
 * transport.  Every wrapper below accepts err == NULL (the code alone is
 * returned then).
 */
int transport_open(const char *name, const struct transport_cfg *cfg, struct transport **out,
		   struct sc_error *err);
int transport_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err);
int transport_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err);
/* A no-op returning 0 on backends without TRANSPORT_CAP_COMMIT. */
int transport_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err);
int transport_flush(struct transport *t, int timeout_ms, struct sc_error *err);
void transport_msg_release(struct transport *t, struct sc_msg *m);
int64_t transport_lag(struct transport *t);
bool transport_healthy(struct transport *t);
/* This instance's capabilities, as open() left them. */
bool transport_has(const struct transport *t, unsigned int caps);
/* Accepts NULL. */
void transport_close(struct transport *t);

/*
 * Check -X keys and values against the backend's option table: a declared
 * key's value must have its type; an undeclared key (other than the tls.*
 * keys) is refused unless the table has "*".  0 or -SC_EINVAL with one line.
 */
int transport_check_props(const struct transport_ops *ops, const struct sc_kv *props, size_t nprops,
			  struct sc_error *err);
/*
 * A backend's option value: -X key of cfg, else the default of its entry in
 * ops->opts, parsed with the entry's range, so the table is the one place
 * that holds them.  0 (*out set; left alone when there is neither) or
 * -SC_EINVAL.  The key must be in the table (assert).
 */
int transport_opt_long(const struct transport_ops *ops, const struct transport_cfg *cfg,
		       const char *key, long *out, struct sc_error *err);
int transport_opt_bool(const struct transport_ops *ops, const struct transport_cfg *cfg,
		       const char *key, bool *out, struct sc_error *err);
/* The environment variable of a backend option: STREAMCTL_MQTT_KEEPALIVE. */
void transport_opt_env(const struct transport_ops *ops, const struct transport_opt *o, char *buf,
		       size_t size);

/* ---- helpers for backends --------------------------------------------- */

/*
 * Resolve "<ns>.<stream>" names, e.g. "streamctl.raw.cpu".  Returns the
 * number of characters written (like snprintf).
 */
int transport_stream_name(char *buf, size_t size, const char *ns, enum sc_stream s, char sep);

/* Value of -X key, or NULL. */
const char *transport_prop(const struct transport_cfg *cfg, const char *key);

/*
 * -X values, parsed the same way by every backend.  An integer is decimal in
 * min..max; a boolean is true/1 or false/0.  0, or -SC_EINVAL with
 * "<backend>: -X <key>=<v>: expected ...".
 */
int transport_parse_long(const char *backend, const char *key, const char *v, long min, long max,
			 long *out, struct sc_error *err);
int transport_parse_bool(const char *backend, const char *key, const char *v, bool *out,
			 struct sc_error *err);
/* The same for -X key in cfg: 1 when given (*out set), 0 when absent, or -SC_EINVAL. */
int transport_prop_long(const struct transport_cfg *cfg, const char *backend, const char *key,
			long min, long max, long *out, struct sc_error *err);
int transport_prop_bool(const struct transport_cfg *cfg, const char *backend, const char *key,
			bool *out, struct sc_error *err);

/*
 * Parsed broker URI: scheme://[user[:password]@]host[:port][/path][?query].
 * Strings point into `storage`; user and password are percent-decoded
 * ("%40" is '@').  0 or -SC_EINVAL naming the problem.  The password never
 * appears in error messages.
 */
struct sc_uri {
	char *scheme, *user, *password, *host, *path, *query;
	int port;
	char storage[1024];
};
int sc_uri_parse(const char *uri, struct sc_uri *out, struct sc_error *err);
/* The URI with any password replaced by "***", for logs and errors. */
void sc_uri_redact(const char *uri, char *buf, size_t size);

/*
 * The password a backend logs in with, into buf: the first line of
 * cfg->password_file, else cfg->password (STREAMCTL_BROKER_PASSWORD), else
 * uri_password (the URI's, may be NULL, may be buf itself).  Returns 1 when there is one, 0
 * when there is none (buf ""), or a negative code with
 * "<backend>: password file 'PATH': <why>" (unreadable, empty, too long).
 */
int transport_password(const struct transport_cfg *cfg, const char *backend,
		       const char *uri_password, char *buf, size_t size, struct sc_error *err);

/*
 * TLS settings every backend takes as -X keys: tls.ca=PATH (the CA bundle
 * the broker's certificate must chain to; default: the system's),
 * tls.cert=PATH and tls.key=PATH (a client certificate, both or neither),
 * tls.insecure=true (no verification of the certificate or host name; only
 * when given explicitly).  Strings borrowed from cfg.
 */
struct transport_tls {
	const char *ca, *cert, *key;
	bool insecure;
};
int transport_tls_opts(const struct transport_cfg *cfg, const char *backend,
		       struct transport_tls *out, struct sc_error *err);
/* True for the -X keys transport_tls_opts() reads. */
bool transport_tls_key(const char *key);

#endif /* SC_TRANSPORT_H */

/*
 * amqp_int.h - private to the amqp backend (transports/amqp*.c).  Do not
 * include it anywhere else: it is the only header besides those files that
 * names rabbitmq-c types.
 *
 * The backend is split in three files sharing the state below:
 *   amqp_conn.c  options and URI, connect/login, error translation,
 *                topology, reconnect with backoff
 *   amqp_pub.c   the publisher: confirm window (ring of unconfirmed copies),
 *                basic.ack/nack/return handling, flush
 *   amqp.c       the consumer (poll/commit/lag), open/close, the vtable
 *
 * Names (ns = cfg->ns, default "streamctl"; stream = sc_stream_name()):
 *   exchange  "<ns>"                   durable topic exchange, routing key
 *                                      "<stream>.<key>" or "<stream>"
 *   queue     "<ns>.<stream>"          durable work queue bound with "<stream>.#",
 *                                      classic or quorum (-X quorum), whose 
 *                                      x-dead-letter-exchange is "<ns>.dlx"
 *   exchange  "<ns>.dlx"               durable fanout exchange for messages the
 *                                      consumers reject or nack without requeue
 *   queue     "<ns>.deadletter.rejected" bound to "<ns>.dlx"; the broker adds the
 *                                      x-death header with the reason
 *
 * Two connections, because rabbitmq-c is single-threaded and a connection
 * that consumes and waits for confirms at the same time must demultiplex
 * frames by hand: the publisher connection (channel 1 in confirm mode) and
 * the consumer connection (channel 1 consuming).  Channel 2 of each is the
 * control channel for declarations, so a refused declaration never closes the
 * channel that carries messages.
 */
#ifndef SC_AMQP_INT_H
#define SC_AMQP_INT_H

#include <amqp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport.h"

#define AMQPB_DATA_CH 1 /* publishing (confirm mode) or consuming */
#define AMQPB_CTL_CH  2 /* declarations and passive declares */
#define AMQPB_RK_MAX  256
extern const struct transport_ops transport_amqp;
extern const struct transport_opt amqpb_opts[];

struct sc_error;

/* Settings from the broker URI, cfg and -X. */
struct amqpb_opts {
	char host[256];
	int port;
	char user[128];
	char password[256];
	char vhost[128];
	bool tls;		     /* amqps:// */
	struct transport_tls tlsopt; /* -X tls.*, paths borrowed from cfg */
	char ca[512];		     /* tls.ca, or the system bundle; "" if none found */
	char where[300];	     /* "127.0.0.1:5672", for messages */
	char ns[96];
	char name[160]; /* connection_name shown by the broker */
	int prefetch;
	int heartbeat; /* seconds, 0: off */
	int channel_max;
	int frame_max;
	size_t window;		      /* max unconfirmed publishes */
	int64_t reconnect_timeout_ms; /* total time reconnect() keeps trying */
	bool quorum;
};

struct amqpb_conn {
	const char *what; /* "publisher" or "consumer", for messages */
	amqp_connection_state_t st;
	bool up;
	bool ctl_open;	       /* control channel usable */
	uint64_t gen;	       /* +1 on every successful connect */
	unsigned int declared; /* SC_STREAM_BIT()s declared on this connection */
	bool ns_declared;      /* the namespace's exchanges */
	int64_t last_send_ns;  /* monotonic time of our last frame, for heartbeats */
};

/* A publish copy kept until the broker confirms it. */
struct amqpb_pending {
	unsigned char *data;
	size_t len;
	int64_t ts_ns;
	bool done;
	char rk[AMQPB_RK_MAX];
};

struct amqpb_pub {
	struct amqpb_conn conn;
	struct amqpb_pending *ring; /* cap entries; count used from head */
	size_t cap, head, count;
	uint64_t base_seq;    /* publish sequence number (delivery tag) of ring[head] */
	uint64_t next_seq;    /* sequence number of the next publish */
	unsigned int streams; /* every stream published to, redeclared on reconnect */
	uint64_t failed;      /* nacked or returned since the last flush */
	char fail_reason[256];
	unsigned int since_drain;
	unsigned char *wbuf; /* one publish's three frames, written at once */
	size_t wcap;
};

struct amqpb_con {
	struct amqpb_conn conn;
	uint64_t acked_thru; /* every delivery tag <= this is acked or in ack_upto */
	uint64_t ack_upto;   /* not yet sent: one basic.ack multiple=true up to this tag */
	int64_t lag;
	int64_t lag_at_ns; /* monotonic time of the last refresh, 0: never */
};

struct amqpb {
	struct amqpb_opts o;
	struct amqpb_pub pub;
	struct amqpb_con con;
};

/* ---- amqp_conn.c --------------------------------------------------------- */

/* Fill o from cfg (URI, -X); 0 or -SC_EINVAL naming the problem. */
int amqpb_opts_parse(struct amqpb_opts *o, const struct transport_cfg *cfg, struct sc_error *err);

/* One connection attempt: socket, login, channels 1 and 2.  Bumps c->gen. */
int amqpb_connect(const struct amqpb_opts *o, struct amqpb_conn *c, struct sc_error *err);

/*
 * Send a heartbeat when we have been silent for half the heartbeat interval.
 * rabbitmq-c sends them only while it waits for frames long enough, and a
 * connection idling while its process works on the other one would be
 * closed by the broker.
 */
void amqpb_keepalive(const struct amqpb_opts *o, struct amqpb_conn *c);

/* Forget a broken connection without talking to the broker.  Accepts a closed one. */
void amqpb_conn_drop(struct amqpb_conn *c);

/* Close politely (channel.close, connection.close), then drop. */
void amqpb_conn_close(struct amqpb_conn *c);

/*
 * Translate an RPC reply into an SC_E* error "amqp: <what>: <why>" and, when
 * the broker closed the channel or the connection, acknowledge the close and
 * update c.  Returns 0 for AMQP_RESPONSE_NORMAL.
 */
int amqpb_reply_error(struct amqpb_conn *c, amqp_channel_t ch, amqp_rpc_reply_t r,
		      struct sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Map a library status (amqp_status_enum) to an error; marks c down. */
int amqpb_status_error(struct amqpb_conn *c, int status, struct sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Handle a connection.close or channel.close method read outside an RPC. */
int amqpb_handle_close(struct amqpb_conn *c, const amqp_frame_t *f, struct sc_error *err);

/* "<ns>.<stream>" (queue) or "<stream>" (routing prefix) of s. */
void amqpb_queue_name(const struct amqpb_opts *o, enum sc_stream s, char *buf, size_t size);

/* Declare the exchanges, the work queue of s and its binding (once per connection). */
int amqpb_declare_stream(const struct amqpb_opts *o, struct amqpb_conn *c, enum sc_stream s,
			 struct sc_error *err);

/*
 * Ready messages in queue `name` (queue.declare passive); -1 on error,
 * which is not reported further (lag is advisory).
 */
int64_t amqpb_queue_ready(struct amqpb_conn *c, const char *name);

/*
 * Reconnect c with exponential backoff (100 ms doubling to 5 s) for at most
 * o->reconnect_timeout_ms, calling setup() after each successful connect.
 * Gives up at once on errors that retrying cannot fix (authentication,
 * refused declarations) and on sc_stop_requested() (-SC_EINTR).
 */
int amqpb_reconnect(struct transport *t, struct amqpb_conn *c,
		    int (*setup)(struct transport *t, struct sc_error *err), struct sc_error *err);

/* ---- amqp_pub.c ------------------------------------------------------------ */

int amqpb_pub_open(struct transport *t, struct sc_error *err);
int amqpb_pub_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err);
int amqpb_pub_flush(struct transport *t, int timeout_ms, struct sc_error *err);
/*
 * Keep the publisher connection's heartbeats going and read confirms that
 * already arrived, without blocking: always when `idle` (the caller is about
 * to wait), else every 64th call (a read attempt is a syscall).
 */
void amqpb_pub_service(struct transport *t, bool idle);
void amqpb_pub_close(struct transport *t);

#endif /* SC_AMQP_INT_H */

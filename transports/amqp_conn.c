/*
 * amqp_conn.c - the amqp backend's connection layer: options and broker URI,
 * connect and login, translation of rabbitmq-c errors into SC_E* codes,
 * topology declarations and reconnect with backoff.  See amqp_int.h for
 * the names and the two-connection design.
 *
 * Map:  options - errors - connect - topology - reconnect
 */
#include "amqp_int.h"
#include "error.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define AMQPB_DEFAULT_URI	"amqp://guest:guest@127.0.0.1:5672/"
#define AMQPB_CONNECT_TIMEOUT_S 5
#define AMQPB_RPC_TIMEOUT_S	30

/* ---- options ------------------------------------------------------------ */

/*
 * The -X keys of this backend (transport.h: help, env and checks come from
 * here).  prefetch, confirm.window and quorum also answer to the flags they
 * had when they were shared settings; 0 stands for the default where those
 * flags documented it so.  The default prefetch is four times the roles'
 * default --batch (500), so the broker keeps delivering while a batch waits
 * for its confirms and its ack (with prefetch == batch the pipeline ran
 * stop-and-wait).
 */
const struct transport_opt amqpb_opts[] = {
	{"prefetch", TRANSPORT_OPT_LONG, "2000", 0, 65535,
	 "unacknowledged deliveries a consumer holds, basic.qos (0: the default)", "prefetch"},
	{"heartbeat", TRANSPORT_OPT_LONG, "60", 0, 3600, "heartbeat seconds, 0: none"},
	{"channel_max", TRANSPORT_OPT_LONG, "0", 0, 65535, "channels asked for, 0: the broker's"},
	{"frame_max", TRANSPORT_OPT_LONG, "131072", 4096, 1L << 30, "largest frame in bytes"},
	{"reconnect.timeout.ms", TRANSPORT_OPT_LONG, "60000", 0, 86400000L,
	 "give up reconnecting after MS"},
	{"confirm.window", TRANSPORT_OPT_LONG, "1000", 0, 1000000,
	 "unconfirmed publishes in flight (0: the default)", "inflight"},
	{"quorum", TRANSPORT_OPT_BOOL, "false", 0, 0,
	 "declare quorum queues (replicated over a cluster) instead of classic ones", "quorum"},
	{NULL},
};

static int amqpb_prop_long(const struct transport_cfg *cfg, const char *key, long min, long max,
			   long *out, struct sc_error *err)
{
	int rc = transport_prop_long(cfg, "amqp", key, min, max, out, err);

	return rc < 0 ? rc : 0;
}

static int amqpb_check_props(const struct transport_cfg *cfg, struct sc_error *err)
{
	return transport_check_props(&transport_amqp, cfg->props, cfg->nprops, err);
}

/*
 * The CA bundle when -X tls.ca is not given: rabbitmq-c does not load
 * OpenSSL's default paths, so name the system bundle ($SSL_CERT_FILE, or
 * the usual Debian, Red Hat and Alpine places).
 */
static void amqpb_default_ca(char *buf, size_t size)
{
	static const char *const bundles[] = {
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/cert.pem",
		NULL,
	};
	const char *env = getenv("SSL_CERT_FILE");

	buf[0] = '\0';
	if (env && *env) {
		sc_strlcpy(buf, env, size);
		return;
	}
	for (size_t i = 0; bundles[i]; i++)
		if (access(bundles[i], R_OK) == 0) {
			sc_strlcpy(buf, bundles[i], size);
			return;
		}
}

static int amqpb_parse_uri(struct amqpb_opts *o, const struct transport_cfg *cfg, const char *uri,
			   struct sc_error *err)
{
	struct amqp_connection_info info;
	struct sc_uri u;
	char red[512], copy[1024];
	int rc;

	sc_uri_redact(uri, red, sizeof(red));
	rc = sc_uri_parse(uri, &u, err);
	if (rc)
		return sc_error_prefix(err, "amqp");
	if (strcmp(u.scheme, "amqp") != 0 && strcmp(u.scheme, "amqps") != 0)
		return sc_error_set(
			err, SC_EINVAL,
			"amqp: broker uri '%s': expected amqp[s]://[user:password@]host[:port]"
			"[/vhost]",
			red);
	if (u.query)
		return sc_error_set(
			err, SC_EINVAL,
			"amqp: broker uri '%s': query parameters are not supported (use -X)", red);
	sc_strlcpy(copy, uri, sizeof(copy));
	amqp_default_connection_info(&info);
	if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK)
		return sc_error_set(err, SC_EINVAL, "amqp: broker uri '%s' is malformed", red);
	if (sc_strlcpy(o->host, info.host, sizeof(o->host)) >= sizeof(o->host) ||
	    sc_strlcpy(o->user, info.user, sizeof(o->user)) >= sizeof(o->user) ||
	    sc_strlcpy(o->password, info.password, sizeof(o->password)) >= sizeof(o->password) ||
	    sc_strlcpy(o->vhost, info.vhost, sizeof(o->vhost)) >= sizeof(o->vhost))
		return sc_error_set(err, SC_EINVAL, "amqp: broker uri '%s': a field is too long",
				    red);
	rc = transport_password(cfg, "amqp", info.password, o->password, sizeof(o->password), err);
	memset(copy, 0, sizeof(copy)); /* info's strings point into it, the password too */
	if (rc < 0)
		return rc;
	/* "amqp://host/" names the empty vhost in the spec; nobody means that. */
	if (!o->vhost[0])
		sc_strlcpy(o->vhost, "/", sizeof(o->vhost));
	o->tls = info.ssl != 0;
	o->port = info.port;
	snprintf(o->where, sizeof(o->where), strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host,
		 o->port);
	return 0;
}

int amqpb_opts_parse(struct amqpb_opts *o, const struct transport_cfg *cfg, struct sc_error *err)
{
	const struct transport_cfg none = {0}; /* for the table's defaults */
	long prefetch = 0, window = 0;
	long heartbeat = 60, channel_max = 0, frame_max = 131072, reconnect_ms = 60000;
	bool quorum = false;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = amqpb_check_props(cfg, err);
	if (!rc)
		rc = transport_opt_long(&transport_amqp, cfg, "prefetch", &prefetch, err);
	if (!rc)
		rc = transport_opt_long(&transport_amqp, cfg, "confirm.window", &window, err);
	if (!rc)
		rc = transport_opt_bool(&transport_amqp, cfg, "quorum", &quorum, err);
	if (!rc)
		rc = amqpb_prop_long(cfg, "heartbeat", 0, 3600, &heartbeat, err);
	if (!rc)
		rc = amqpb_prop_long(cfg, "channel_max", 0, 65535, &channel_max, err);
	if (!rc)
		rc = amqpb_prop_long(cfg, "frame_max", 4096, 1L << 30, &frame_max, err);
	if (!rc)
		rc = amqpb_prop_long(cfg, "reconnect.timeout.ms", 0, 86400000L, &reconnect_ms, err);
	if (rc)
		return rc;
	if (prefetch == 0)
		rc = transport_opt_long(&transport_amqp, &none, "prefetch", &prefetch, err);
	if (!rc && window == 0)
		rc = transport_opt_long(&transport_amqp, &none, "confirm.window", &window, err);
	if (rc)
		return rc;
	if (channel_max == 1)
		return sc_error_set(err, SC_EINVAL, "amqp: channel_max must be 0 or at least 2");
	rc = amqpb_parse_uri(o, cfg, cfg->broker && *cfg->broker ? cfg->broker : AMQPB_DEFAULT_URI,
			     err);
	if (!rc)
		rc = transport_tls_opts(cfg, "amqp", &o->tlsopt, err);
	if (rc)
		return rc;
	if (o->tlsopt.ca)
		sc_strlcpy(o->ca, o->tlsopt.ca, sizeof(o->ca));
	else
		amqpb_default_ca(o->ca, sizeof(o->ca));
	if (sc_strlcpy(o->ns, cfg->ns && *cfg->ns ? cfg->ns : "streamctl", sizeof(o->ns)) >=
	    sizeof(o->ns) - 32)
		return sc_error_set(err, SC_EINVAL, "amqp: namespace '%s' is too long", cfg->ns);
	snprintf(o->name, sizeof(o->name), "streamctl %s %s", cfg->role ? cfg->role : "",
		 cfg->client_id ? cfg->client_id : "");
	o->prefetch = (int)prefetch;
	o->window = (size_t)window;
	o->heartbeat = (int)heartbeat;
	o->channel_max = (int)channel_max;
	o->frame_max = (int)frame_max;
	o->reconnect_timeout_ms = reconnect_ms;
	o->quorum = quorum;
	return 0;
}

/* ---- errors ------------------------------------------------------------- */

static int amqpb_code_of_reply(int reply_code)
{
	switch (reply_code) {
	case AMQP_ACCESS_REFUSED:
	case AMQP_NOT_ALLOWED: return SC_EAUTH;
	case AMQP_PRECONDITION_FAILED: return SC_EINVAL;
	case AMQP_CONNECTION_FORCED: return SC_ECONN;
	default: return SC_EIO;
	}
}

void amqpb_conn_drop(struct amqpb_conn *c)
{
	if (c->st)
		amqp_destroy_connection(c->st);
	c->st = NULL;
	c->up = false;
	c->ctl_open = false;
}

int amqpb_status_error(struct amqpb_conn *c, int status, struct sc_error *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int code = SC_ECONN;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (status == AMQP_STATUS_TIMEOUT)
		code = SC_ETIMEDOUT;
	else if (status == AMQP_STATUS_NO_MEMORY)
		code = SC_ENOMEM;
	amqpb_conn_drop(c);
	return sc_error_set(err, code, "amqp: %s: %s", what, amqp_error_string2(status));
}

/* Acknowledge a close the broker sent on channel ch (0: the connection). */
static int amqpb_closed(struct amqpb_conn *c, amqp_channel_t ch, int reply_code, amqp_bytes_t text,
			struct sc_error *err, const char *what)
{
	int code = amqpb_code_of_reply(reply_code);

	if (ch == 0) {
		amqp_connection_close_ok_t ok = {0};
		amqp_send_method(c->st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		amqpb_conn_drop(c);
	} else {
		amqp_channel_close_ok_t ok = {0};
		amqp_send_method(c->st, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		if (ch == AMQPB_CTL_CH)
			c->ctl_open = false;
		else
			amqpb_conn_drop(c); /* the data channel is the reason to exist */
	}
	return sc_error_set(err, code, "amqp: %s: %.*s", what, (int)text.len,
			    (const char *)text.bytes);
}

int amqpb_reply_error(struct amqpb_conn *c, amqp_channel_t ch, amqp_rpc_reply_t r,
		      struct sc_error *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		return amqpb_status_error(c, r.library_error, err, "%s", what);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = r.reply.decoded;
		return amqpb_closed(c, 0, m->reply_code, m->reply_text, err, what);
	}
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = r.reply.decoded;
		return amqpb_closed(c, ch, m->reply_code, m->reply_text, err, what);
	}
	amqpb_conn_drop(c);
	return sc_error_set(err, SC_EIO, "amqp: %s: unexpected reply from the broker", what);
}

int amqpb_handle_close(struct amqpb_conn *c, const amqp_frame_t *f, struct sc_error *err)
{
	char what[64];

	snprintf(what, sizeof(what), "%s %s closed by the broker", c->what,
		 f->channel ? "channel" : "connection");
	if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = f->payload.method.decoded;
		return amqpb_closed(c, 0, m->reply_code, m->reply_text, err, what);
	}
	if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = f->payload.method.decoded;
		return amqpb_closed(c, f->channel, m->reply_code, m->reply_text, err, what);
	}
	return 0;
}

/* ---- connect ------------------------------------------------------------ */

/*
 * rabbitmq-c reports a failed TCP connect as "a socket error occurred"
 * with errno lost; connect once more ourselves to tell the user why.
 */
static void amqpb_connect_reason(const struct amqpb_opts *o, char *buf, size_t size)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[16];
	int fd, e = 0, rc;
	socklen_t elen = sizeof(e);

	sc_strlcpy(buf, "a socket error occurred", size);
	snprintf(port, sizeof(port), "%d", o->port);
	rc = getaddrinfo(o->host, port, &hints, &ai);
	if (rc) {
		snprintf(buf, size, "cannot resolve host: %s", gai_strerror(rc));
		return;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		goto out;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		e = 0;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 2000) <= 0)
			e = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen))
			e = errno;
	} else {
		e = errno;
	}
	if (e) {
		sc_strlcpy(buf, strerror(e), size);
		buf[0] = (char)tolower((unsigned char)buf[0]);
	}
	close(fd);
out:
	freeaddrinfo(ai);
}

static int amqpb_login(const struct amqpb_opts *o, struct amqpb_conn *c, struct sc_error *err)
{
	amqp_table_entry_t props[1];
	amqp_table_t table = {.num_entries = 1, .entries = props};
	amqp_rpc_reply_t r;

	props[0].key = amqp_cstring_bytes("connection_name");
	props[0].value.kind = AMQP_FIELD_KIND_UTF8;
	props[0].value.value.bytes = amqp_cstring_bytes(o->name);
	r = amqp_login_with_properties(c->st, o->vhost, o->channel_max, o->frame_max, o->heartbeat,
				       &table, AMQP_SASL_METHOD_PLAIN, o->user, o->password);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = r.reply.decoded;
		char what[700];
		if (m->reply_code == AMQP_ACCESS_REFUSED) {
			snprintf(what, sizeof(what), "authentication refused for user '%s' at %s",
				 o->user, o->where);
			return amqpb_closed(c, 0, m->reply_code, m->reply_text, err, what);
		}
		if (m->reply_code == AMQP_NOT_ALLOWED) {
			snprintf(what, sizeof(what), "user '%s' may not use vhost '%s' at %s",
				 o->user, o->vhost, o->where);
			return amqpb_closed(c, 0, m->reply_code, m->reply_text, err, what);
		}
	}
	return amqpb_reply_error(c, 0, r, err, "cannot log in to %s as user '%s'", o->where,
				 o->user);
}

static int amqpb_channel_open(struct amqpb_conn *c, amqp_channel_t ch, struct sc_error *err)
{
	amqp_channel_open(c->st, ch);
	return amqpb_reply_error(c, ch, amqp_get_rpc_reply(c->st), err,
				 "%s: cannot open channel %u", c->what, ch);
}

/*
 * A plain socket, or with amqps:// a TLS one that verifies the broker's
 * certificate against o->ca and its host name (rabbitmq-c matches DNS
 * names only: name the broker "localhost" rather than 127.0.0.1), unless
 * -X tls.insecure=true.
 */
static int amqpb_socket_new(const struct amqpb_opts *o, struct amqpb_conn *c, amqp_socket_t **out,
			    struct sc_error *err)
{
	amqp_socket_t *sock;
	int status;

	*out = NULL;
	if (!o->tls) {
		*out = amqp_tcp_socket_new(c->st);
		return *out ? 0 : sc_error_set(err, SC_ENOMEM, "amqp: cannot create a socket");
	}
	sock = amqp_ssl_socket_new(c->st);
	if (!sock)
		return sc_error_set(err, SC_EIO, "amqp: cannot create a tls socket");
	amqp_ssl_socket_set_verify_peer(sock, !o->tlsopt.insecure);
	amqp_ssl_socket_set_verify_hostname(sock, !o->tlsopt.insecure);
	if (o->ca[0] && !o->tlsopt.insecure) {
		status = amqp_ssl_socket_set_cacert(sock, o->ca);
		if (status != AMQP_STATUS_OK)
			return sc_error_set(err, SC_EINVAL,
					    "amqp: cannot load the CA file '%s': %s", o->ca,
					    amqp_error_string2(status));
	}
	if (o->tlsopt.cert) {
		status = amqp_ssl_socket_set_key(sock, o->tlsopt.cert, o->tlsopt.key);
		if (status != AMQP_STATUS_OK)
			return sc_error_set(err, SC_EINVAL,
					    "amqp: cannot load the client certificate '%s' and key "
					    "'%s': %s",
					    o->tlsopt.cert, o->tlsopt.key,
					    amqp_error_string2(status));
	}
	*out = sock;
	return 0;
}

int amqpb_connect(const struct amqpb_opts *o, struct amqpb_conn *c, struct sc_error *err)
{
	struct timeval tv = {.tv_sec = AMQPB_CONNECT_TIMEOUT_S};
	struct timeval rpc = {.tv_sec = AMQPB_RPC_TIMEOUT_S};
	amqp_socket_t *sock;
	char why[160];
	int status, rc;

	amqpb_conn_drop(c);
	c->st = amqp_new_connection();
	if (!c->st)
		return sc_error_set(err, SC_ENOMEM, "amqp: out of memory");
	rc = amqpb_socket_new(o, c, &sock, err);
	if (rc) {
		amqpb_conn_drop(c);
		return rc;
	}
	status = amqp_socket_open_noblock(sock, o->host, o->port, &tv);
	if (status != AMQP_STATUS_OK) {
		if (status <= AMQP_STATUS_SSL_ERROR && status > _AMQP_STATUS_SSL_NEXT_VALUE) {
			unsigned char ip[16];
			const char *hint = o->tlsopt.ca ? "" : " (no -X tls.ca given)";
			if (status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED &&
			    (inet_pton(AF_INET, o->host, ip) == 1 ||
			     inet_pton(AF_INET6, o->host, ip) == 1))
				hint = " (rabbitmq-c matches host names only: give the name in the "
				       "certificate, e.g. localhost)";
			amqpb_conn_drop(c);
			return sc_error_set(err, SC_ECONN,
					    "amqp: tls handshake with %s failed: %s%s", o->where,
					    amqp_error_string2(status), hint);
		}
		if (status == AMQP_STATUS_SOCKET_ERROR)
			amqpb_connect_reason(o, why, sizeof(why));
		else if (status == AMQP_STATUS_TIMEOUT)
			snprintf(why, sizeof(why), "no answer within %d s",
				 AMQPB_CONNECT_TIMEOUT_S);
		else
			sc_strlcpy(why, amqp_error_string2(status), sizeof(why));
		amqpb_conn_drop(c);
		return sc_error_set(err, SC_ECONN, "amqp: cannot connect to %s: %s", o->where, why);
	}
	amqp_set_rpc_timeout(c->st, &rpc);
	rc = amqpb_login(o, c, err);
	if (!rc)
		rc = amqpb_channel_open(c, AMQPB_DATA_CH, err);
	if (!rc)
		rc = amqpb_channel_open(c, AMQPB_CTL_CH, err);
	if (rc) {
		amqpb_conn_drop(c);
		return rc;
	}
	c->up = true;
	c->ctl_open = true;
	c->gen++;
	c->declared = 0;
	c->ns_declared = false;
	c->last_send_ns = sc_mono_ns();
	return 0;
}

void amqpb_keepalive(const struct amqpb_opts *o, struct amqpb_conn *c)
{
	amqp_frame_t hb = {.frame_type = AMQP_FRAME_HEARTBEAT, .channel = 0};
	int64_t now = sc_mono_ns();
	struct sc_error ignored;
	int status;

	if (!c->up || o->heartbeat <= 0 ||
	    now - c->last_send_ns < (int64_t)o->heartbeat * 500000000)
		return;
	status = amqp_send_frame(c->st, &hb);
	if (status != AMQP_STATUS_OK)
		amqpb_status_error(c, status, &ignored, "%s heartbeat", c->what);
	else
		c->last_send_ns = now;
}

void amqpb_conn_close(struct amqpb_conn *c)
{
	if (c->st && c->up) {
		if (c->ctl_open)
			amqp_channel_close(c->st, AMQPB_CTL_CH, AMQP_REPLY_SUCCESS);
		amqp_channel_close(c->st, AMQPB_DATA_CH, AMQP_REPLY_SUCCESS);
		amqp_connection_close(c->st, AMQP_REPLY_SUCCESS);
	}
	amqpb_conn_drop(c);
}

/* ---- topology ----------------------------------------------------------- */

void amqpb_queue_name(const struct amqpb_opts *o, enum sc_stream s, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s", o->ns, sc_stream_name(s));
}

static int amqpb_ctl(struct amqpb_conn *c, struct sc_error *err)
{
	if (!c->up)
		return sc_error_set(err, SC_ECONN, "amqp: %s connection is down", c->what);
	if (c->ctl_open)
		return 0;
	if (amqpb_channel_open(c, AMQPB_CTL_CH, err))
		return -err->code;
	c->ctl_open = true;
	return 0;
}

static int amqpb_declare_queue(const struct amqpb_opts *o, struct amqpb_conn *c, const char *queue,
			       const char *dlx, struct sc_error *err)
{
	amqp_table_entry_t args[2];
	amqp_table_t table = {.num_entries = 1, .entries = args};

	args[0].key = amqp_cstring_bytes("x-queue-type");
	args[0].value.kind = AMQP_FIELD_KIND_UTF8;
	args[0].value.value.bytes = amqp_cstring_bytes(o->quorum ? "quorum" : "classic");
	if (dlx) {
		args[1].key = amqp_cstring_bytes("x-dead-letter-exchange");
		args[1].value.kind = AMQP_FIELD_KIND_UTF8;
		args[1].value.value.bytes = amqp_cstring_bytes(dlx);
		table.num_entries = 2;
	}
	amqp_queue_declare(c->st, AMQPB_CTL_CH, amqp_cstring_bytes(queue), 0, 1, 0, 0, table);
	return amqpb_reply_error(c, AMQPB_CTL_CH, amqp_get_rpc_reply(c->st), err,
				 "cannot declare queue %s", queue);
}

static int amqpb_bind(struct amqpb_conn *c, const char *queue, const char *exchange,
		      const char *pattern, struct sc_error *err)
{
	amqp_queue_bind(c->st, AMQPB_CTL_CH, amqp_cstring_bytes(queue),
			amqp_cstring_bytes(exchange), amqp_cstring_bytes(pattern),
			amqp_empty_table);
	return amqpb_reply_error(c, AMQPB_CTL_CH, amqp_get_rpc_reply(c->st), err,
				 "cannot bind queue %s to exchange %s", queue, exchange);
}

static int amqpb_declare_exchange(struct amqpb_conn *c, const char *name, const char *type,
				  struct sc_error *err)
{
	amqp_exchange_declare(c->st, AMQPB_CTL_CH, amqp_cstring_bytes(name),
			      amqp_cstring_bytes(type), 0, 1, 0, 0, amqp_empty_table);
	return amqpb_reply_error(c, AMQPB_CTL_CH, amqp_get_rpc_reply(c->st), err,
				 "cannot declare exchange %s", name);
}

static int amqpb_declare_ns(const struct amqpb_opts *o, struct amqpb_conn *c, struct sc_error *err)
{
	char dlx[128], rejected[160];
	int rc;

	snprintf(dlx, sizeof(dlx), "%s.dlx", o->ns);
	snprintf(rejected, sizeof(rejected), "%s.deadletter.rejected", o->ns);
	rc = amqpb_declare_exchange(c, o->ns, "topic", err);
	if (!rc)
		rc = amqpb_declare_exchange(c, dlx, "fanout", err);
	if (!rc)
		rc = amqpb_declare_queue(o, c, rejected, NULL, err);
	if (!rc)
		rc = amqpb_bind(c, rejected, dlx, "", err);
	if (!rc)
		c->ns_declared = true;
	return rc;
}

int amqpb_declare_stream(const struct amqpb_opts *o, struct amqpb_conn *c, enum sc_stream s,
			 struct sc_error *err)
{
	char queue[160], pattern[64], dlx[128];
	int rc;

	if (s >= SC_STREAM_EXTERNAL)
		return sc_error_set(err, SC_EINVAL, "amqp: stream %d has no queue of ours", (int)s);
	if (c->declared & SC_STREAM_BIT(s))
		return 0;
	rc = amqpb_ctl(c, err);
	if (!rc && !c->ns_declared)
		rc = amqpb_declare_ns(o, c, err);
	if (rc)
		return rc;
	amqpb_queue_name(o, s, queue, sizeof(queue));
	snprintf(pattern, sizeof(pattern), "%s.#", sc_stream_name(s));
	snprintf(dlx, sizeof(dlx), "%s.dlx", o->ns);
	rc = amqpb_declare_queue(o, c, queue, dlx, err);
	if (!rc)
		rc = amqpb_bind(c, queue, o->ns, pattern, err);
	if (!rc)
		c->declared |= SC_STREAM_BIT(s);
	return rc;
}

int64_t amqpb_queue_ready(struct amqpb_conn *c, const char *name)
{
	struct sc_error ignored;
	amqp_queue_declare_ok_t *ok;

	if (amqpb_ctl(c, &ignored))
		return -1;
	ok = amqp_queue_declare(c->st, AMQPB_CTL_CH, amqp_cstring_bytes(name), 1, 0, 0, 0,
				amqp_empty_table);
	if (!ok) {
		amqpb_reply_error(c, AMQPB_CTL_CH, amqp_get_rpc_reply(c->st), &ignored,
				  "passive declare");
		return -1;
	}
	return (int64_t)ok->message_count;
}

/* ---- reconnect ---------------------------------------------------------- */

static bool amqpb_retryable(int rc)
{
	return rc == -SC_ECONN || rc == -SC_ETIMEDOUT || rc == -SC_EIO;
}

/* Sleep up to ms, in slices, returning early on a stop request. */
static void amqpb_sleep_ms(int64_t ms)
{
	while (ms > 0 && !sc_stop_requested()) {
		int64_t slice = ms < 50 ? ms : 50;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(slice * 1000000)};
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

int amqpb_reconnect(struct transport *t, struct amqpb_conn *c,
		    int (*setup)(struct transport *t, struct sc_error *err), struct sc_error *err)
{
	struct amqpb *b = t->priv;
	int64_t start = sc_mono_ns(), deadline = start + b->o.reconnect_timeout_ms * 1000000;
	int64_t backoff = 100;
	char last[SC_ERRMSG_MAX];
	int rc;

	amqpb_conn_drop(c);
	for (;;) {
		if (sc_stop_requested())
			return sc_error_set(
				err, SC_EINTR,
				"amqp: %s connection lost, reconnect stopped on request", c->what);
		rc = amqpb_connect(&b->o, c, err);
		if (!rc)
			rc = setup(t, err);
		if (!rc) {
			t->counters.retries++;
			return 0;
		}
		amqpb_conn_drop(c);
		if (!amqpb_retryable(rc))
			return rc;
		if (sc_mono_ns() >= deadline) {
			sc_strlcpy(last, strncmp(err->msg, "amqp: ", 6) ? err->msg : err->msg + 6,
				   sizeof(last));
			return sc_error_set(err, SC_ECONN,
					    "amqp: %s connection lost, gave up reconnecting after "
					    "%lld ms: %s",
					    c->what, (long long)b->o.reconnect_timeout_ms, last);
		}
		{
			int64_t left = (deadline - sc_mono_ns()) / 1000000;
			amqpb_sleep_ms(backoff < left ? backoff : left);
		}
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
}

/*
 * http_ingest.c - see http_ingest.h.
 *
 * Two layers: http_ingest_push() is the whole logic of one push (parse,
 * envelope, publish, flush, reply) and knows nothing of HTTP; the
 * libmicrohttpd callbacks below it only collect the body within the size
 * limit, route by method and path, and turn a status and a JSON text into
 * a response.  The listening socket is opened here (not by libmicrohttpd)
 * so a bad or busy address gets one clear error and port 0 works.
 *
 * Map:  state - replies - sequence counters - one push - HTTP layer -
 *       listen and stop - the generate run
 */
#include "http_ingest.h"
#include "net.h"
#include "config.h"
#include "error.h"
#include "record.h"
#include "runtime.h"
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define HTTP_DEFAULT_FLUSH_MS 10000
#define HTTP_CONN_TIMEOUT_S   30
#define HTTP_MAX_CONNECTIONS  64
#define HTTP_MAX_DEVICES      4096
#define HTTP_RUN_TICK_MS      50

/* ---- state ----------------------------------------------------------------- */

struct http_dev {
	char id[SC_ID_MAX];
	uint64_t next; /* seq of the device's next push */
};

struct http_ingest {
	struct http_ingest_cfg cfg;
	struct transport *t;	 /* borrowed */
	struct run_stats *stats; /* borrowed */

	pthread_mutex_t lock; /* guards everything below up to the server part */
	struct sc_record rec;
	struct sc_buf enc;
	struct http_dev *devs;
	size_t ndevs, capdevs;
	uint64_t accepted, refused, failed;
	bool stopping;
	int active; /* requests between first callback and completion */

	/* server (MHD thread and the owner) */
	struct MHD_Daemon *d;
	int port;
	struct sc_buf reply; /* MHD thread only */
};

/* Per request: the body collected so far. */
struct http_req {
	struct sc_buf body;
	bool too_big;
};

/* ---- replies --------------------------------------------------------------- */

/* {"error":"<msg>"} with msg escaped to plain ASCII JSON. */
static void reply_error(struct sc_buf *out, const char *msg)
{
	static const char hex[] = "0123456789abcdef";

	out->len = 0;
	sc_buf_append(out, "{\"error\":\"", 10);
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
		if (*p == '"' || *p == '\\') {
			sc_buf_append(out, "\\", 1);
			sc_buf_append(out, p, 1);
		} else if (*p < 0x20) {
			sc_buf_append(out, esc, sizeof(esc));
		} else if (*p >= 0x80) {
			sc_buf_append(out, "?", 1);
		} else {
			sc_buf_append(out, p, 1);
		}
	}
	sc_buf_append(out, "\"}\n", 3);
}

static void reply_errorf(struct sc_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply_errorf(struct sc_buf *out, const char *fmt, ...)
{
	char msg[SC_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(out, msg);
}

static void reply_ok(struct sc_buf *out, uint64_t seq)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "{\"ok\":true,\"seq\":%llu}\n",
			 (unsigned long long)seq);

	out->len = 0;
	sc_buf_append(out, text, (size_t)n);
}

/* ---- sequence counters ------------------------------------------------------- */

/* The device's counter, added at 0 on its first push; NULL when full or out of memory. */
static struct http_dev *dev_get(struct http_ingest *h, const char *id)
{
	struct http_dev *d;

	for (size_t i = 0; i < h->ndevs; i++)
		if (!strcmp(h->devs[i].id, id))
			return &h->devs[i];
	if (h->ndevs == HTTP_MAX_DEVICES)
		return NULL;
	if (h->ndevs == h->capdevs) {
		size_t cap = h->capdevs ? h->capdevs * 2 : 8;
		d = realloc(h->devs, cap * sizeof(*d));
		if (!d)
			return NULL;
		h->devs = d;
		h->capdevs = cap;
	}
	d = &h->devs[h->ndevs++];
	sc_strlcpy(d->id, id, sizeof(d->id));
	d->next = 0;
	return d;
}

/* ---- one push ------------------------------------------------------------- */

struct http_ingest *http_ingest_new(const struct http_ingest_cfg *cfg, struct transport *t,
				    struct run_stats *stats, struct sc_error *err)
{
	struct http_ingest *h;

	if (cfg->codec == SC_CODEC_NONE) {
		sc_error_set(err, SC_EINVAL, "http: no codec configured");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		sc_error_set(err, SC_ENOMEM, "http: out of memory");
		return NULL;
	}
	h->cfg = *cfg;
	if (!h->cfg.max_body)
		h->cfg.max_body = HTTP_DEFAULT_MAX_BODY;
	if (h->cfg.flush_timeout_ms <= 0)
		h->cfg.flush_timeout_ms = HTTP_DEFAULT_FLUSH_MS;
	h->t = t;
	h->stats = stats;
	pthread_mutex_init(&h->lock, NULL);
	sc_record_init(&h->rec, SC_KIND_SENSOR);
	sc_buf_init(&h->enc);
	sc_buf_init(&h->reply);
	return h;
}

void http_ingest_free(struct http_ingest *h)
{
	if (!h)
		return;
	http_ingest_stop(h);
	sc_record_release(&h->rec);
	sc_buf_release(&h->enc);
	sc_buf_release(&h->reply);
	free(h->devs);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

uint64_t http_ingest_accepted(struct http_ingest *h)
{
	uint64_t n;

	pthread_mutex_lock(&h->lock);
	n = h->accepted;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* A push that did not make it: count it, under the lock. */
static int refuse(struct http_ingest *h, int status)
{
	if (status >= 500)
		h->failed++;
	else
		h->refused++;
	h->stats->errors++;
	return status;
}

static int status_of(int rc)
{
	switch (-rc) {
	case SC_EINVAL: return 400;
	case SC_ETOOBIG: return 413;
	default: return 503;
	}
}

static void fill_envelope(struct sc_record *r, uint64_t seq, int64_t now)
{
	const struct sc_sensor_batch *b = &r->u.sensor;
	int64_t latest = 0;

	for (size_t i = 0; i < b->n; i++)
		if (i == 0 || b->readings[i].time_ns > latest)
			latest = b->readings[i].time_ns;
	sc_strlcpy(r->env.source, b->device_id, sizeof(r->env.source));
	snprintf(r->env.key, sizeof(r->env.key), "%s/%s", b->device_id, b->session_id);
	r->env.seq = seq;
	r->env.event_ns = b->n ? latest : now;
	r->env.intended_ns = now;
	r->env.sent_ns = now;
	r->env.processed_ns = 0;
}

/* Publish the parsed record under the device's next seq and flush; called locked. */
static int publish_locked(struct http_ingest *h, int64_t now, struct sc_buf *reply)
{
	struct sc_record *r = &h->rec;
	struct sc_error e = {0};
	struct http_dev *dev;
	struct sc_msg m;
	int rc;

	dev = dev_get(h, r->u.sensor.device_id);
	if (!dev) {
		reply_errorf(reply, "http: cannot track more than %d devices", HTTP_MAX_DEVICES);
		return refuse(h, 503);
	}
	fill_envelope(r, dev->next, now);
	rc = codec_encode(h->cfg.codec, r, &h->enc, &e);
	if (rc) {
		reply_error(reply, e.msg);
		return refuse(h, status_of(rc));
	}
	memset(&m, 0, sizeof(m));
	m.stream = SC_STREAM_RAW_SENSOR;
	m.payload = h->enc.data;
	m.len = h->enc.len;
	m.key = r->env.key;
	m.timestamp_ns = r->env.event_ns;
	rc = transport_publish(h->t, &m, &e);
	if (rc) {
		reply_error(reply, e.msg);
		return refuse(h, status_of(rc));
	}
	/* the transport has it now: the seq is used even if the flush fails */
	dev->next++;
	rc = transport_flush(h->t, h->cfg.flush_timeout_ms, &e);
	if (rc) {
		reply_error(reply, e.msg);
		return refuse(h, 503);
	}
	h->accepted++;
	h->stats->out++;
	h->stats->bytes_out += m.len;
	run_stats_latency(h->stats, 0, sc_now_ns() - now);
	reply_ok(reply, r->env.seq);
	return 200;
}

int http_ingest_push(struct http_ingest *h, const void *body, size_t len, struct sc_buf *reply)
{
	struct sc_error e = {0};
	int64_t now = sc_now_ns();
	int status, rc;

	if (!body)
		body = "";
	pthread_mutex_lock(&h->lock);
	h->stats->in++;
	h->stats->bytes_in += len;
	if (h->stopping || (h->cfg.count >= 0 && h->accepted >= (uint64_t)h->cfg.count)) {
		reply_error(reply, "http: ingest is stopping");
		status = refuse(h, 503);
		goto unlock;
	}
	if (len > h->cfg.max_body) {
		reply_errorf(reply, "body of %zu bytes exceeds --max-msg-bytes=%zu", len,
			     h->cfg.max_body);
		status = refuse(h, 413);
		goto unlock;
	}
	sc_record_reset(&h->rec, SC_KIND_SENSOR);
	rc = codec_sensorlogger_parse(body, len, &h->rec.u.sensor, &e);
	if (rc) {
		reply_error(reply, e.msg);
		status = refuse(h, status_of(rc));
		goto unlock;
	}
	if (!h->rec.u.sensor.device_id[0]) {
		reply_error(reply, "field 'deviceId': empty");
		status = refuse(h, 400);
		goto unlock;
	}
	status = publish_locked(h, now, reply);
unlock:
	pthread_mutex_unlock(&h->lock);
	return status;
}

/* ---- HTTP layer -------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status, const void *data,
			       size_t len, const char *type, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, int status, const struct sc_buf *b)
{
	return respond(c, (unsigned int)status, b->data, b->len, "application/json", NULL);
}

/* A body over the limit, refused by the HTTP layer before http_ingest_push(). */
static enum MHD_Result respond_too_big(struct http_ingest *h, struct MHD_Connection *c,
				       const char *what)
{
	pthread_mutex_lock(&h->lock);
	h->stats->in++;
	refuse(h, 413);
	pthread_mutex_unlock(&h->lock);
	reply_errorf(&h->reply, "body %s exceeds --max-msg-bytes=%zu", what, h->cfg.max_body);
	return respond_json(c, 413, &h->reply);
}

/* First call of a request: route it; the body (if any) comes in the next calls. */
static enum MHD_Result on_headers(struct http_ingest *h, struct MHD_Connection *c, const char *url,
				  const char *method)
{
	const char *cl;
	char what[64];

	if (strcmp(method, MHD_HTTP_METHOD_POST)) {
		if ((!strcmp(method, MHD_HTTP_METHOD_GET) ||
		     !strcmp(method, MHD_HTTP_METHOD_HEAD)) &&
		    !strcmp(url, "/healthz"))
			return respond(c, 200, "ok\n", 3, "text/plain", NULL);
		reply_errorf(&h->reply, "method %s not allowed: POST a Sensor Logger push", method);
		return respond(c, 405, h->reply.data, h->reply.len, "application/json", "POST");
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (end != cl && (errno == ERANGE || n > h->cfg.max_body)) {
			snprintf(what, sizeof(what), "of %s bytes", cl);
			return respond_too_big(h, c, what);
		}
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_ingest *h = cls;
	struct http_req *rq = *con_cls;
	int status;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		sc_buf_init(&rq->body);
		*con_cls = rq;
		pthread_mutex_lock(&h->lock);
		h->active++;
		pthread_mutex_unlock(&h->lock);
		return on_headers(h, c, url, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (!rq->too_big && rq->body.len + n <= h->cfg.max_body) {
			if (sc_buf_append(&rq->body, upload_data, n))
				return MHD_NO;
		} else {
			/* keep draining so the client gets its 413, but store nothing more */
			rq->too_big = true;
			sc_buf_release(&rq->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->too_big)
		return respond_too_big(h, c, "(chunked)");
	status = http_ingest_push(h, rq->body.data, rq->body.len, &h->reply);
	return respond_json(c, status, &h->reply);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_ingest *h = cls;
	struct http_req *rq = *con_cls;

	(void)c;
	(void)toe;
	if (!rq)
		return;
	sc_buf_release(&rq->body);
	free(rq);
	*con_cls = NULL;
	pthread_mutex_lock(&h->lock);
	h->active--;
	pthread_mutex_unlock(&h->lock);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- listen and stop --------------------------------------------------------- */

int http_ingest_listen(struct http_ingest *h, const char *addr, struct sc_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int fd, family = AF_INET;

	if (h->d)
		return sc_error_set(err, SC_EINVAL, "http: already listening");
	fd = net_listen(addr, "http", &family, err);
	if (fd < 0)
		return fd;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	h->stopping = false;
	h->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS, MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		h->port = 0;
		return sc_error_set(err, SC_EIO, "http: cannot start the server on %s", addr);
	}
	return 0;
}

int http_ingest_port(const struct http_ingest *h)
{
	return h->d ? h->port : 0;
}

void http_ingest_stop(struct http_ingest *h)
{
	int64_t deadline;
	MHD_socket fd;
	int active;

	if (!h || !h->d)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_mutex_unlock(&h->lock);
	fd = MHD_quiesce_daemon(h->d);
	deadline = sc_mono_ns() + (int64_t)(h->cfg.flush_timeout_ms + 1000) * 1000000;
	for (;;) {
		struct timespec ts = {0, 10 * 1000000};

		pthread_mutex_lock(&h->lock);
		active = h->active;
		pthread_mutex_unlock(&h->lock);
		if (active <= 0 || sc_mono_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(h->d);
	h->d = NULL;
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

/* ---- the generate run -------------------------------------------------------- */

static void print_listening(const struct sc_config *cfg, const struct http_ingest *h)
{
	char host[256], port[8];

	if (net_split_addr(cfg->listen, host, sizeof(host), port, sizeof(port), "http", NULL))
		return;
	fprintf(stderr, "http: listening on http://%s%s%s:%d/ for Sensor Logger pushes\n",
		strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		http_ingest_port(h));
}

static void serve(const struct sc_config *cfg, struct http_ingest *h, struct run_stats *stats)
{
	int64_t end = cfg->duration > 0 ? sc_mono_ns() + (int64_t)(cfg->duration * 1e9) : 0;

	while (!sc_stop_requested()) {
		struct timespec ts = {0, HTTP_RUN_TICK_MS * 1000000L};

		if (end && sc_mono_ns() >= end)
			break;
		if (cfg->count >= 0 && http_ingest_accepted(h) >= (uint64_t)cfg->count)
			break;
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&h->lock);
		run_stats_tick(stats);
		pthread_mutex_unlock(&h->lock);
	}
}

int http_ingest_run(const struct sc_config *cfg, struct sc_error *err)
{
	struct http_ingest_cfg hc;
	struct run_stats *stats;
	struct transport *t = NULL;
	struct http_ingest *h;
	int rc, frc;

	memset(&hc, 0, sizeof(hc));
	hc.codec = codec_from_name(cfg->codec);
	hc.max_body = cfg->max_msg_bytes > 0 ? (size_t)cfg->max_msg_bytes : 0;
	hc.count = cfg->count;
	hc.flush_timeout_ms = HTTP_DEFAULT_FLUSH_MS;

	rc = runtime_start(cfg, "generate", 0, &stats, &t, err);
	if (rc)
		return rc;
	h = http_ingest_new(&hc, t, stats, err);
	if (!h) {
		rc = -err->code;
		goto finish;
	}
	rc = http_ingest_listen(h, cfg->listen, err);
	if (rc)
		goto free_ingest;
	print_listening(cfg, h);

	serve(cfg, h, stats);
	http_ingest_stop(h);
	frc = transport_flush(t, HTTP_DEFAULT_FLUSH_MS, err);
	if (frc)
		rc = frc;
	fprintf(stderr, "http: %llu pushes accepted, %llu refused, %llu failed\n",
		(unsigned long long)h->accepted, (unsigned long long)h->refused,
		(unsigned long long)h->failed);
free_ingest:
	http_ingest_free(h);
finish:
	runtime_finish(stats, t);
	return rc;
}

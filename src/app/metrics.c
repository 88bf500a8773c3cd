/* metrics.c - see metrics.h */
#include "metrics.h"
#include "error.h"
#include "net.h"
#include "runtime.h"
#include "transport.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QN 5

static const double quantiles[QN] = {0.5, 0.9, 0.99, 0.999, 1.0};

struct snap {
	uint64_t in, out, stored, duplicates, deadletters, errors, bytes_in, bytes_out, retries;
	int64_t lag;
	uint64_t e2e_n, stage_n;
	double e2e_sum, stage_sum;
	int64_t e2e_q[QN], stage_q[QN];
	bool healthy, ready, valid;
};

struct metrics {
	struct MHD_Daemon *d;
	int fd; /* the listening socket until the daemon takes it, then -1 */
	int port;
	char role[16];
	pthread_mutex_t lock;
	struct snap snap;
};

static void add_counter(FILE *f, const char *role, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP streamctl_%s %s\n# TYPE streamctl_%s counter\n", name, help, name);
	fprintf(f, "streamctl_%s{role=\"%s\"} %llu\n", name, role, (unsigned long long)v);
}

static void add_summary(FILE *f, const char *role, const char *kind, const int64_t *q, uint64_t n,
			double sum)
{
	for (int i = 0; i < QN; i++)
		fprintf(f,
			"streamctl_latency_seconds{role=\"%s\",kind=\"%s\",quantile=\"%g\"} %.9f\n",
			role, kind, quantiles[i], (double)q[i] / 1e9);
	fprintf(f, "streamctl_latency_seconds_sum{role=\"%s\",kind=\"%s\"} %.9f\n", role, kind,
		sum / 1e9);
	fprintf(f, "streamctl_latency_seconds_count{role=\"%s\",kind=\"%s\"} %llu\n", role, kind,
		(unsigned long long)n);
}

static char *render(struct metrics *m, size_t *len)
{
	struct snap s;
	char *buf = NULL;
	FILE *f;

	pthread_mutex_lock(&m->lock);
	s = m->snap;
	pthread_mutex_unlock(&m->lock);
	f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fprintf(f, "# HELP streamctl_up 1 while the process runs\n# TYPE streamctl_up gauge\n");
	fprintf(f, "streamctl_up{role=\"%s\"} 1\n", m->role);
	fprintf(f,
		"# HELP streamctl_ready 1 when connected and able to work\n"
		"# TYPE streamctl_ready gauge\nstreamctl_ready{role=\"%s\"} %d\n",
		m->role, s.ready ? 1 : 0);
	add_counter(f, m->role, "messages_in_total", "messages consumed", s.in);
	add_counter(f, m->role, "messages_out_total", "messages produced or written", s.out);
	add_counter(f, m->role, "stored_total", "rows stored by the sink", s.stored);
	add_counter(f, m->role, "duplicates_total", "replays refused by the sink", s.duplicates);
	add_counter(f, m->role, "deadletters_total", "messages dead-lettered", s.deadletters);
	add_counter(f, m->role, "errors_total", "errors", s.errors);
	add_counter(f, m->role, "bytes_in_total", "payload bytes consumed", s.bytes_in);
	add_counter(f, m->role, "bytes_out_total", "payload bytes produced", s.bytes_out);
	add_counter(f, m->role, "retries_total", "reconnects and re-sends", s.retries);
	fprintf(f,
		"# HELP streamctl_consumer_lag messages waiting for this consumer (-1 unknown)\n"
		"# TYPE streamctl_consumer_lag gauge\nstreamctl_consumer_lag{role=\"%s\"} %lld\n",
		m->role, (long long)s.lag);
	fprintf(f,
		"# HELP streamctl_latency_seconds latency since the intended send time (e2e) "
		"and since the previous stage (stage)\n# TYPE streamctl_latency_seconds summary\n");
	add_summary(f, m->role, "e2e", s.e2e_q, s.e2e_n, s.e2e_sum);
	add_summary(f, m->role, "stage", s.stage_q, s.stage_n, s.stage_sum);
	fclose(f);
	return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;
	const char *text = NULL;
	char *body = NULL;
	size_t len = 0;
	bool ready;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		text = "method not allowed\n";
	} else if (!strcmp(url, "/metrics")) {
		body = render(m, &len);
		if (!body) {
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			text = "out of memory\n";
		}
	} else if (!strcmp(url, "/healthz")) {
		text = "ok\n";
	} else if (!strcmp(url, "/readyz")) {
		pthread_mutex_lock(&m->lock);
		ready = m->snap.valid && m->snap.ready;
		pthread_mutex_unlock(&m->lock);
		status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
		text = ready ? "ready\n" : "not ready\n";
	} else {
		status = MHD_HTTP_NOT_FOUND;
		text = "not found: try /metrics, /healthz, /readyz\n";
	}
	if (body)
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(strlen(text), (void *)text,
						    MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
				body ? "text/plain; version=0.0.4" : "text/plain");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

struct metrics *metrics_start(const char *addr, const char *role, struct sc_error *err)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int family = AF_INET;

	if (!m) {
		sc_error_set(err, SC_ENOMEM, "metrics: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	sc_strlcpy(m->role, role, sizeof(m->role));
	m->fd = net_listen(addr, "metrics", &family, err);
	if (m->fd < 0)
		goto fail;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (getsockname(m->fd, (struct sockaddr *)&ss, &sl) == 0)
		m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, m, MHD_OPTION_LISTEN_SOCKET, m->fd,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT,
				32u, MHD_OPTION_END);
	if (!m->d) {
		sc_error_set(err, SC_EIO, "metrics: cannot serve on %s", addr);
		goto close_fd;
	}
	m->fd = -1; /* the daemon owns it now: MHD_stop_daemon() closes it */
	return m;
close_fd:
	close(m->fd);
fail:
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

int metrics_port(const struct metrics *m)
{
	return m ? m->port : 0;
}

void metrics_update(struct metrics *m, const struct run_stats *s, bool healthy, bool ready)
{
	struct snap n;

	memset(&n, 0, sizeof(n));
	n.in = s->in;
	n.out = s->out;
	n.stored = s->stored;
	n.duplicates = s->duplicates;
	n.deadletters = s->deadletters;
	n.errors = s->errors;
	n.bytes_in = s->bytes_in;
	n.bytes_out = s->bytes_out;
	n.retries = s->t ? s->t->counters.retries : 0;
	n.lag = s->t ? transport_lag(s->t) : -1;
	n.e2e_n = s->e2e_all.count;
	n.e2e_sum = s->e2e_all.sum;
	n.stage_n = s->stage_all.count;
	n.stage_sum = s->stage_all.sum;
	for (int i = 0; i < QN; i++) {
		n.e2e_q[i] = hist_quantile(&s->e2e_all, quantiles[i]);
		n.stage_q[i] = hist_quantile(&s->stage_all, quantiles[i]);
	}
	n.healthy = healthy;
	n.ready = ready;
	n.valid = true;
	pthread_mutex_lock(&m->lock);
	m->snap = n;
	pthread_mutex_unlock(&m->lock);
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d);
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

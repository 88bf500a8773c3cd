/* runtime.c - see runtime.h */
#include "runtime.h"
#include "config.h"
#include "error.h"
#include "metrics.h"
#include "stop.h"
#include "transport.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
	if (sc_stop_requested())
		_exit(128 + sig);
	sc_stop_set(true);
}

void runtime_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void runtime_request_stop(bool stop)
{
	sc_stop_set(stop);
}

/*
 * A consumer's default client id is stable across restarts, so an MQTT
 * session (and what the broker queued for it) survives a restart:
 * "<namespace>-<role>-<hostname>".  Several instances of a role on one host
 * need distinct --client-id values.
 */
void runtime_transport_cfg(const struct sc_config *cfg, unsigned int inputs,
			   struct transport_cfg *tc)
{
	static char default_id[160];

	memset(tc, 0, sizeof(*tc));
	tc->broker = cfg->broker;
	tc->ns = cfg->ns;
	tc->role = cfg->role_name;
	tc->client_id = cfg->client_id;
	/* an id the user gave names one instance; a made-up default (below) is
	 * the same for every instance on a host (Kafka: static membership only
	 * for the first) */
	tc->client_id_given = cfg->client_id && *cfg->client_id;
	if (inputs && (!cfg->client_id || !*cfg->client_id)) {
		char host[64] = "localhost";
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(default_id, sizeof(default_id), "%s-%s-%s", cfg->ns, cfg->role_name, host);
		tc->client_id = default_id;
	}
	tc->group = cfg->group;
	tc->inputs = inputs;
	tc->external_topic = cfg->topic;
	tc->max_msg_bytes = (size_t)cfg->max_msg_bytes;
	tc->props = cfg->props;
	tc->nprops = cfg->nprops;
	tc->password = cfg->broker_password;
	tc->password_file = cfg->password_file;
}

int run_stats_init(struct run_stats *s, const struct sc_config *cfg, const char *role,
		   struct sc_error *err)
{
	memset(s, 0, sizeof(*s));
	s->role = role;
	s->interval = cfg->stats_interval;
	s->start_mono = s->last_mono = sc_mono_ns();
	s->fout = stderr;
	if (cfg->stats_path && *cfg->stats_path && strcmp(cfg->stats_path, "-")) {
		s->fout = fopen(cfg->stats_path, "a");
		if (!s->fout)
			return sc_error_set(err, SC_EIO, "cannot open stats file '%s': %s",
					    cfg->stats_path, strerror(errno));
		s->own_out = true;
	}
	if (cfg->metrics && *cfg->metrics) {
		s->metrics = metrics_start(cfg->metrics, role, err);
		if (!s->metrics) {
			if (s->own_out)
				fclose(s->fout);
			return -err->code;
		}
		fprintf(stderr, "%s: metrics on port %d (/metrics, /healthz, /readyz)\n", role,
			metrics_port(s->metrics));
	}
	if (!strcmp(cfg->progress, "always"))
		s->progress = true;
	else if (!strcmp(cfg->progress, "auto"))
		s->progress = isatty(2) && !s->own_out ? true : false;
	return 0;
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

static void print_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f,
		"\"%s\":{\"n\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
		"\"max\":%.3f}",
		name, (unsigned long long)h->count, ms(hist_quantile(h, 0.5)),
		ms(hist_quantile(h, 0.9)), ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)),
		ms(h->max));
}

static void clear_progress(struct run_stats *s)
{
	if (s->progress_drawn) {
		fputs("\r\033[K", stderr);
		s->progress_drawn = false;
	}
}

static void report(struct run_stats *s, int64_t now, bool final)
{
	double dt = (double)(now - s->last_mono) / 1e9, el = (double)(now - s->start_mono) / 1e9;
	const struct hist *st = final ? &s->stage_all : &s->stage;
	const struct hist *e2e = final ? &s->e2e_all : &s->e2e;
	double rin, rout;

	if (final) {
		rin = el > 0 ? (double)s->in / el : 0;
		rout = el > 0 ? (double)s->out / el : 0;
	} else {
		rin = dt > 0 ? (double)(s->in - s->last_in) / dt : 0;
		rout = dt > 0 ? (double)(s->out - s->last_out) / dt : 0;
	}
	clear_progress(s);
	fprintf(s->fout,
		"{\"ts_ns\":%lld,\"role\":\"%s\",\"final\":%s,\"elapsed_s\":%.3f,\"in\":%llu,"
		"\"out\":%llu,\"stored\":%llu,\"duplicates\":%llu,\"deadletters\":%llu,"
		"\"errors\":%llu,\"rate_in\":%.1f,\"rate_out\":%.1f,\"bytes_in\":%llu,"
		"\"bytes_out\":%llu,",
		(long long)sc_now_ns(), s->role, final ? "true" : "false", el,
		(unsigned long long)s->in, (unsigned long long)s->out,
		(unsigned long long)s->stored, (unsigned long long)s->duplicates,
		(unsigned long long)s->deadletters, (unsigned long long)s->errors, rin, rout,
		(unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
	if (s->t)
		fprintf(s->fout, "\"retries\":%llu,\"lag\":%lld,",
			(unsigned long long)s->t->counters.retries, (long long)transport_lag(s->t));
	print_hist(s->fout, "stage_ms", st);
	fputc(',', s->fout);
	print_hist(s->fout, "e2e_ms", e2e);
	fputs("}\n", s->fout);
	fflush(s->fout);
	s->last_mono = now;
	s->last_in = s->in;
	s->last_out = s->out;
	hist_reset(&s->stage);
	hist_reset(&s->e2e);
}

void run_stats_latency(struct run_stats *s, int64_t stage_ns, int64_t e2e_ns)
{
	if (stage_ns > 0) {
		hist_record(&s->stage, stage_ns);
		hist_record(&s->stage_all, stage_ns);
	}
	if (e2e_ns > 0) {
		hist_record(&s->e2e, e2e_ns);
		hist_record(&s->e2e_all, e2e_ns);
	}
}

static void publish_metrics(struct run_stats *s, bool final)
{
	bool healthy = s->t ? transport_healthy(s->t) : false;
	bool ready = healthy && !final && !sc_stop_requested() &&
		     (!s->ready_fn || s->ready_fn(s->ready_ctx));

	metrics_update(s->metrics, s, healthy, ready);
}

void run_stats_tick(struct run_stats *s)
{
	int64_t now;

	if (!s->metrics && s->interval <= 0 && !s->progress)
		return; /* nothing periodic to do: spare the clock call */
	now = sc_mono_ns();

	if (s->metrics && now - s->metrics_mono >= 250000000) {
		s->metrics_mono = now;
		publish_metrics(s, false);
	}
	if (s->interval > 0 && (double)(now - s->last_mono) >= s->interval * 1e9)
		report(s, now, false);
	if (s->progress && now - s->start_mono > 0) {
		static int64_t last_draw;
		if (now - last_draw < 200000000)
			return;
		last_draw = now;
		fprintf(stderr, "\r\033[K%s: in %llu  out %llu  dlq %llu  e2e p99 %.1f ms", s->role,
			(unsigned long long)s->in, (unsigned long long)s->out,
			(unsigned long long)s->deadletters, ms(hist_quantile(&s->e2e_all, 0.99)));
		s->progress_drawn = true;
	}
}

void run_stats_finish(struct run_stats *s)
{
	int64_t now = sc_mono_ns();
	double el = (double)(now - s->start_mono) / 1e9;

	report(s, now, true);
	if (s->metrics)
		publish_metrics(s, true);
	fprintf(stderr,
		"%s: %llu in, %llu out, %llu stored, %llu duplicates refused, %llu dead letters "
		"in %.2f s (%.0f/s); e2e latency p50 %.2f ms p99 %.2f ms max %.2f ms\n",
		s->role, (unsigned long long)s->in, (unsigned long long)s->out,
		(unsigned long long)s->stored, (unsigned long long)s->duplicates,
		(unsigned long long)s->deadletters, el,
		el > 0 ? (double)(s->in ? s->in : s->out) / el : 0.0,
		ms(hist_quantile(&s->e2e_all, 0.5)), ms(hist_quantile(&s->e2e_all, 0.99)),
		ms(s->e2e_all.max));
}

int runtime_start(const struct sc_config *cfg, const char *role, unsigned int inputs,
		  struct run_stats **stats, struct transport **t, struct sc_error *err)
{
	struct transport_cfg tc;
	struct run_stats *s;
	int rc;

	*stats = NULL;
	*t = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return sc_error_set(err, SC_ENOMEM, "%s: out of memory", role);
	rc = run_stats_init(s, cfg, role, err);
	if (rc)
		goto free_stats;
	runtime_transport_cfg(cfg, inputs, &tc);
	rc = transport_open(cfg->transport, &tc, t, err);
	if (rc)
		goto release_stats;
	s->t = *t;
	*stats = s;
	return 0;
release_stats:
	run_stats_release(s);
free_stats:
	free(s);
	return rc;
}

void runtime_finish(struct run_stats *stats, struct transport *t)
{
	if (stats)
		run_stats_finish(stats);
	transport_close(t);
	if (stats) {
		run_stats_release(stats);
		free(stats);
	}
}

void run_stats_release(struct run_stats *s)
{
	metrics_stop(s->metrics);
	s->metrics = NULL;
	if (s->own_out && s->fout)
		fclose(s->fout);
	s->fout = NULL;
}

int runtime_poll_batch(struct transport *t, struct sc_msg *msgs, size_t cap, int batch_ms,
		       int idle_ms, size_t *n, runtime_handle_fn handle, void *ctx,
		       struct sc_error *err)
{
	int64_t deadline = 0;
	int rc;

	*n = 0;
	while (*n < cap) {
		int wait = idle_ms;

		if (*n > 0) {
			/*
			 * The batch is what is already there: it ends as soon as
			 * the next poll would wait, or when batch_ms passed.
			 * Waiting for a 1 ms pause kept a batch open for most of
			 * batch_ms whenever messages came about a millisecond
			 * apart (1 kHz).  Under load messages pile up while a
			 * batch is confirmed and committed, so batches still grow.
			 */
			if (deadline - sc_mono_ns() <= 0)
				return 0;
			wait = 0;
		}
		rc = transport_poll(t, &msgs[*n], wait, err);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return rc;
		if (*n == 0)
			deadline = sc_mono_ns() + (int64_t)batch_ms * 1000000;
		rc = handle(ctx, &msgs[*n], err);
		(*n)++;
		if (rc)
			return rc;
	}
	return 0;
}

int runtime_ack_batch(struct transport *t, struct sc_msg *msgs, size_t n, struct sc_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = transport_commit(t, &msgs[i], err);
		transport_msg_release(t, &msgs[i]);
	}
	return rc;
}

bool runtime_keep_consuming(struct transport *t, int64_t *drain_deadline)
{
	if (!sc_stop_requested())
		return true;
	if (transport_has(t, TRANSPORT_CAP_COMMIT))
		return false;
	if (!*drain_deadline)
		*drain_deadline = sc_mono_ns() + 10 * 1000000000LL;
	return sc_mono_ns() < *drain_deadline && transport_lag(t) > 0;
}

void runtime_drop_batch(struct transport *t, struct sc_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		transport_msg_release(t, &msgs[i]);
}

int runtime_consume(const struct sc_config *cfg, struct transport *t, struct run_stats *stats,
		    runtime_handle_fn handle, runtime_safe_fn safe, void (*abandon)(void *ctx),
		    void *ctx, struct sc_error *err)
{
	size_t cap = (size_t)cfg->batch, n;
	struct sc_msg *msgs = calloc(cap, sizeof(*msgs));
	int64_t last_input = sc_mono_ns(), drain_deadline = 0;
	int rc = 0;

	if (!msgs)
		return sc_error_set(err, SC_ENOMEM, "%s: out of memory", stats->role);
	while (runtime_keep_consuming(t, &drain_deadline)) {
		int prc = runtime_poll_batch(t, msgs, cap, (int)cfg->batch_ms, 200, &n, handle, ctx,
					     err);

		if (prc == -SC_EINTR)
			prc = -SC_EOF;
		if (prc && prc != -SC_EOF)
			rc = prc;
		else
			rc = safe(ctx, n, err);
		if (rc) {
			abandon(ctx);
			runtime_drop_batch(t, msgs, n);
			break;
		}
		if (n) {
			rc = runtime_ack_batch(t, msgs, n, err);
			if (rc)
				break;
			last_input = sc_mono_ns();
		}
		run_stats_tick(stats);
		if (prc == -SC_EOF)
			break;
		if (cfg->idle_exit > 0 &&
		    sc_mono_ns() - last_input >= (int64_t)(cfg->idle_exit * 1e9))
			break;
	}
	free(msgs);
	return rc;
}

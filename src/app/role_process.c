/*
 * role_process.c - the process role: raw records in, processed records out.
 *
 * Exactly one output per input: a processed record, or a dead-letter record
 * (undecodable, invalid, oversized input) carrying the reason and the
 * original bytes.  Delivery: outputs of a batch are published, then flushed
 * (broker-confirmed on backends with TRANSPORT_CAP_CONFIRM), and only then
 * is the batch's input committed - at-least-once, with replays refused by
 * the sink's (source, seq) identity.
 */
#include "codec.h"
#include "config.h"
#include "error.h"
#include "proc.h"
#include "runtime.h"
#include "transport.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_TIMEOUT_MS 60000
#define RESEND_FOR_NS	 (60 * 1000000000LL) /* keep re-sending a batch's outputs this long */

/* One output of the current batch, kept until the broker confirmed it. */
struct proc_out {
	struct sc_buf buf;
	enum sc_stream stream;
	char key[SC_KEY_MAX];
	int64_t timestamp_ns;
};

struct proc_run {
	const struct sc_config *cfg;
	struct transport *t;
	struct proc *p;
	struct run_stats *stats;
	enum sc_codec codec;
	bool sensorlogger;
	struct sc_record in, out;
	struct proc_out *outs; /* the batch's outputs, cfg->batch of them */
	size_t nouts;
	bool send_failed; /* a publish of this batch failed: re-send it */
	struct sc_error send_err;
};

static int send_out(struct proc_run *r, const struct proc_out *o, struct sc_error *err)
{
	struct sc_msg m;

	memset(&m, 0, sizeof(m));
	m.stream = o->stream;
	m.payload = o->buf.data;
	m.len = o->buf.len;
	m.key = o->key[0] ? o->key : NULL;
	m.timestamp_ns = o->timestamp_ns;
	return transport_publish(r->t, &m, err);
}

/*
 * Encode and publish one output, keeping it until the batch is confirmed.
 * A failed publish does not end the batch: the whole batch is re-sent at
 * its end (see confirm_batch); only an encoding failure is an error here.
 */
static int publish_record(struct proc_run *r, struct sc_record *rec, struct sc_error *err)
{
	struct proc_out *o;
	int rc;

	if (r->nouts >= (size_t)r->cfg->batch)
		return sc_error_set(err, SC_EINVAL, "process: more outputs than inputs in a batch");
	o = &r->outs[r->nouts];
	rc = codec_encode(r->codec, rec, &o->buf, err);
	if (rc)
		return rc;
	o->stream = sc_kind_stream(rec->kind);
	sc_strlcpy(o->key, rec->env.key, sizeof(o->key));
	o->timestamp_ns = rec->env.event_ns;
	r->nouts++;
	r->stats->out++;
	r->stats->bytes_out += o->buf.len;
	if (!r->send_failed && send_out(r, o, &r->send_err))
		r->send_failed = true;
	return 0;
}

/*
 * Make the batch's outputs safe: flush, and when a publish or the flush
 * failed (a broker that went away, a reconnect that lost in-flight
 * messages), send every output of the batch again and flush again, with
 * backoff, for up to RESEND_FOR_NS.  Re-sent outputs that had arrived are
 * refused by the sink as replays of (source, seq), so nothing is doubled.
 */
static int confirm_batch(struct proc_run *r, struct sc_error *err)
{
	int64_t give_up = sc_mono_ns() + RESEND_FOR_NS;
	int64_t pause = 250000000;
	unsigned attempt = 0;
	int rc;

	for (;;) {
		if (!r->send_failed) {
			rc = transport_flush(r->t, FLUSH_TIMEOUT_MS, &r->send_err);
			if (!rc)
				break;
		}
		if (sc_mono_ns() + pause >= give_up) {
			*err = r->send_err;
			return sc_error_prefix(
				err, "process: outputs not confirmed after %u re-sends", attempt);
		}
		fprintf(stderr, "process: %s; re-sending the batch's %zu outputs\n",
			r->send_err.msg, r->nouts);
		struct timespec ts = {pause / 1000000000LL, pause % 1000000000LL};
		nanosleep(&ts, NULL);
		if (pause < 4000000000LL)
			pause *= 2;
		attempt++;
		r->t->counters.retries++;
		r->send_failed = false;
		for (size_t i = 0; i < r->nouts && !r->send_failed; i++)
			if (send_out(r, &r->outs[i], &r->send_err))
				r->send_failed = true;
	}
	r->nouts = 0;
	return 0;
}

static int dead_letter(struct proc_run *r, const struct sc_msg *m, const char *reason,
		       struct sc_error *err)
{
	const char *origin = sc_stream_name(m->stream);
	size_t keep = m->len;
	int rc;

	/* keep the dead letter itself under the size limit */
	if (r->cfg->max_msg_bytes > 4096 && keep > (size_t)r->cfg->max_msg_bytes / 2)
		keep = (size_t)r->cfg->max_msg_bytes / 2;
	rc = sc_deadletter_fill(&r->out, "process", origin, reason, m->payload, keep);
	if (rc)
		return sc_error_set(err, SC_ENOMEM, "process: out of memory");
	if (m->key)
		sc_strlcpy(r->out.env.key, m->key, sizeof(r->out.env.key));
	r->out.env.processed_ns = sc_now_ns();
	r->stats->deadletters++;
	return publish_record(r, &r->out, err);
}

/* Wrap a bare Sensor Logger push (the app's own JSON) in an envelope. */
static int decode_sensorlogger(struct proc_run *r, const struct sc_msg *m, struct sc_error *err)
{
	struct sc_sensor_batch *b;
	int64_t now = sc_now_ns(), last = 0;
	int rc;

	sc_record_reset(&r->in, SC_KIND_SENSOR);
	rc = codec_sensorlogger_parse(m->payload, m->len, &r->in.u.sensor, err);
	if (rc)
		return rc;
	b = &r->in.u.sensor;
	for (size_t i = 0; i < b->n; i++)
		if (b->readings[i].time_ns > last)
			last = b->readings[i].time_ns;
	sc_strlcpy(r->in.env.source, b->device_id, sizeof(r->in.env.source));
	snprintf(r->in.env.key, sizeof(r->in.env.key), "%s/%s", b->device_id, b->session_id);
	r->in.env.seq = b->message_id >= 0 ? (uint64_t)b->message_id : 0;
	r->in.env.event_ns = last ? last : now;
	r->in.env.intended_ns = now;
	r->in.env.sent_ns = now;
	return 0;
}

static int handle(void *ctx, struct sc_msg *m, struct sc_error *err)
{
	struct proc_run *r = ctx;
	struct sc_error why;
	int64_t now;
	int rc;

	r->stats->in++;
	r->stats->bytes_in += m->len;
	sc_error_clear(&why);
	if (m->flags & SC_MSG_MALFORMED)
		return dead_letter(r, m, m->error ? m->error : "malformed message", err);
	if (r->sensorlogger && m->stream == SC_STREAM_EXTERNAL)
		rc = decode_sensorlogger(r, m, &why);
	else
		rc = codec_decode(m->payload, m->len, &r->in, &why);
	if (!rc)
		rc = proc_apply(r->p, &r->in, &r->out, &why);
	if (rc)
		return dead_letter(r, m, why.msg[0] ? why.msg : sc_strerror(rc), err);
	now = sc_now_ns();
	r->out.env.processed_ns = now;
	run_stats_latency(r->stats, r->in.env.sent_ns ? now - r->in.env.sent_ns : 0,
			  r->in.env.intended_ns ? now - r->in.env.intended_ns : 0);
	return publish_record(r, &r->out, err);
}

/* runtime_consume's safe step: the batch's outputs confirmed. */
static int batch_safe(void *ctx, size_t n, struct sc_error *err)
{
	struct proc_run *r = ctx;

	return n ? confirm_batch(r, err) : 0;
}

static void batch_abandon(void *ctx)
{
	struct proc_run *r = ctx;

	r->nouts = 0;
	r->send_failed = false;
}

static int run(struct proc_run *r, struct sc_error *err)
{
	size_t cap = (size_t)r->cfg->batch;
	int rc;

	r->outs = calloc(cap, sizeof(*r->outs));
	if (!r->outs)
		return sc_error_set(err, SC_ENOMEM, "process: out of memory");
	rc = runtime_consume(r->cfg, r->t, r->stats, handle, batch_safe, batch_abandon, r, err);
	for (size_t i = 0; i < cap; i++)
		sc_buf_release(&r->outs[i].buf);
	free(r->outs);
	r->outs = NULL;
	return rc;
}

int role_process(const struct sc_config *cfg, struct sc_error *err)
{
	struct proc_run r;
	struct proc_cfg pc;
	unsigned int inputs;
	int rc, frc;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.codec = codec_from_name(cfg->codec);
	r.sensorlogger = !strcmp(cfg->input, "sensorlogger");
	sc_record_init(&r.in, SC_KIND_NONE);
	sc_record_init(&r.out, SC_KIND_NONE);

	memset(&pc, 0, sizeof(pc));
	pc.cpu_window = (unsigned)cfg->cpu_window;
	pc.z_threshold = cfg->z_threshold;
	pc.activity_window = (unsigned)cfg->activity_window;
	r.p = proc_new(&pc, err);
	if (!r.p)
		return -err->code;

	inputs = r.sensorlogger
			 ? SC_STREAM_BIT(SC_STREAM_EXTERNAL)
			 : SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);
	rc = runtime_start(cfg, "process", inputs, &r.stats, &r.t, err);
	if (rc)
		goto free_proc;
	rc = run(&r, err);
	frc = transport_flush(r.t, FLUSH_TIMEOUT_MS, rc ? NULL : err);
	if (!rc && frc)
		rc = frc;
	runtime_finish(r.stats, r.t);
free_proc:
	proc_free(r.p);
	sc_record_release(&r.in);
	sc_record_release(&r.out);

	return rc;
}

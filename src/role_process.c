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

#define FLUSH_TIMEOUT_MS 60000

struct proc_run {
	const struct sc_config *cfg;
	struct transport *t;
	struct proc *p;
	struct run_stats *stats;
	enum sc_codec codec;
	bool sensorlogger;
	struct sc_record in, out;
	struct sc_buf buf;
};

static int publish_record(struct proc_run *r, struct sc_record *rec, struct sc_error *err)
{
	struct sc_msg m;
	int rc;

	rc = codec_encode(r->codec, rec, &r->buf, err);
	if (rc)
		return rc;
	memset(&m, 0, sizeof(m));
	m.stream = sc_kind_stream(rec->kind);
	m.payload = r->buf.data;
	m.len = r->buf.len;
	m.key = rec->env.key[0] ? rec->env.key : NULL;
	m.timestamp_ns = rec->env.event_ns;
	rc = transport_publish(r->t, &m, err);
	if (rc)
		return rc;
	r->stats->out++;
	r->stats->bytes_out += m.len;
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

static int run(struct proc_run *r, struct sc_error *err)
{
	const struct sc_config *cfg = r->cfg;
	size_t cap = (size_t)cfg->batch, n;
	struct sc_msg *msgs = calloc(cap, sizeof(*msgs));
	int64_t last_input = sc_mono_ns(), drain_deadline = 0;
	int rc = 0;

	if (!msgs)
		return sc_error_set(err, SC_ENOMEM, "process: out of memory");
	while (runtime_keep_consuming(r->t, &drain_deadline)) {
		int prc = runtime_poll_batch(r->t, msgs, cap, (int)cfg->batch_ms, 200, &n, handle,
					     r, err);
		if (prc && prc != -SC_EOF) {
			runtime_drop_batch(r->t, msgs, n);
			rc = prc;
			break;
		}
		if (n) {
			rc = transport_flush(r->t, FLUSH_TIMEOUT_MS, err);
			if (rc) {
				runtime_drop_batch(r->t, msgs, n);
				break;
			}
			rc = runtime_ack_batch(r->t, msgs, n, err);
			if (rc)
				break;
			last_input = sc_mono_ns();
		}
		run_stats_tick(r->stats);
		if (prc == -SC_EOF)
			break;
		if (cfg->idle_exit > 0 &&
		    sc_mono_ns() - last_input >= (int64_t)(cfg->idle_exit * 1e9))
			break;
	}
	free(msgs);
	return rc;
}

int role_process(const struct sc_config *cfg, struct sc_error *err)
{
	struct proc_run r;
	struct proc_cfg pc;
	struct transport_cfg tc;
	unsigned int inputs;
	int rc, frc;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.codec = codec_from_name(cfg->codec);
	r.sensorlogger = !strcmp(cfg->input, "sensorlogger");
	sc_buf_init(&r.buf);
	sc_record_init(&r.in, SC_KIND_NONE);
	sc_record_init(&r.out, SC_KIND_NONE);

	memset(&pc, 0, sizeof(pc));
	pc.cpu_window = (unsigned)cfg->cpu_window;
	pc.z_threshold = cfg->z_threshold;
	pc.activity_window = (unsigned)cfg->activity_window;
	r.p = proc_new(&pc, err);
	if (!r.p)
		return -err->code;

	r.stats = calloc(1, sizeof(*r.stats));
	if (!r.stats) {
		rc = sc_error_set(err, SC_ENOMEM, "process: out of memory");
		goto free_proc;
	}
	rc = run_stats_init(r.stats, cfg, "process", err);
	if (rc)
		goto free_stats;

	inputs = r.sensorlogger
			 ? SC_STREAM_BIT(SC_STREAM_EXTERNAL)
			 : SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);
	runtime_transport_cfg(cfg, inputs, &tc);
	rc = transport_open(cfg->transport, &tc, &r.t, err);
	if (rc)
		goto release_stats;
	r.stats->t = r.t;

	rc = run(&r, err);
	frc = transport_flush(r.t, FLUSH_TIMEOUT_MS, rc ? NULL : err);
	if (!rc && frc)
		rc = frc;
	run_stats_finish(r.stats);
	transport_close(r.t);
release_stats:
	run_stats_release(r.stats);
free_stats:
	free(r.stats);
free_proc:
	proc_free(r.p);
	sc_record_release(&r.in);
	sc_record_release(&r.out);
	sc_buf_release(&r.buf);
	return rc;
}

/*
 * role_sink.c - the sink role: processed records into SQLite (and CSV).
 *
 * Each batch is one SQLite transaction; the batch's input is committed at
 * the transport only after that transaction committed.  A replay of a
 * stored (source, seq) is refused and counted, never a second row.  Input
 * that cannot be decoded, is oversized, or is not a processed record becomes
 * a row in the deadletters table with the reason; dead-letter records made
 * upstream are stored there too.
 */
#include "codec.h"
#include "config.h"
#include "error.h"
#include "runtime.h"
#include "sink.h"
#include "transport.h"

#include <stdlib.h>
#include <string.h>

struct sink_run {
	const struct sc_config *cfg;
	struct transport *t;
	struct sink *s;
	struct run_stats *stats;
	struct sc_record rec;
	bool in_tx;
};

/* The write transaction opens with the batch's first record, so an idle sink holds no lock. */
static int store(struct sink_run *r, const struct sc_record *rec, struct sc_error *err)
{
	int stored = 0, rc;

	if (!r->in_tx) {
		rc = sink_begin(r->s, err);
		if (rc)
			return rc;
		r->in_tx = true;
	}
	rc = sink_put(r->s, rec, &stored, err);
	if (rc)
		return rc;
	if (rec->kind == SC_KIND_DEADLETTER)
		r->stats->deadletters++;
	else if (stored)
		r->stats->stored++;
	else
		r->stats->duplicates++;
	return 0;
}

static int dead_letter(struct sink_run *r, const struct sc_msg *m, const char *reason,
		       struct sc_error *err)
{
	if (sc_deadletter_fill(&r->rec, "sink", sc_stream_name(m->stream), reason, m->payload,
			       m->len))
		return sc_error_set(err, SC_ENOMEM, "sink: out of memory");
	return store(r, &r->rec, err);
}

static int handle(void *ctx, struct sc_msg *m, struct sc_error *err)
{
	struct sink_run *r = ctx;
	struct sc_error why;
	int64_t now;

	r->stats->in++;
	r->stats->bytes_in += m->len;
	if (m->flags & SC_MSG_MALFORMED)
		return dead_letter(r, m, m->error ? m->error : "malformed message", err);
	sc_error_clear(&why);
	if (codec_decode(m->payload, m->len, &r->rec, &why))
		return dead_letter(r, m, why.msg, err);
	if (r->rec.kind != SC_KIND_CPU_STATS && r->rec.kind != SC_KIND_SENSOR_FEATURES &&
	    r->rec.kind != SC_KIND_DEADLETTER) {
		char reason[96];
		snprintf(reason, sizeof(reason), "sink: unexpected record kind '%s'",
			 sc_kind_name(r->rec.kind));
		return dead_letter(r, m, reason, err);
	}
	now = sc_now_ns();
	if (r->rec.kind != SC_KIND_DEADLETTER)
		run_stats_latency(r->stats,
				  r->rec.env.processed_ns ? now - r->rec.env.processed_ns : 0,
				  r->rec.env.intended_ns ? now - r->rec.env.intended_ns : 0);
	return store(r, &r->rec, err);
}

static bool sink_ready(void *ctx)
{
	return sink_writable(ctx);
}

/* runtime_consume's safe step: the batch's SQLite transaction committed. */
static int batch_safe(void *ctx, size_t n, struct sc_error *err)
{
	struct sink_run *r = ctx;
	int rc = 0;

	if (r->in_tx) {
		r->in_tx = false;
		rc = sink_commit(r->s, err);
		if (rc) {
			sink_rollback(r->s);
			return rc;
		}
	}
	r->stats->out += n;
	return 0;
}

static void batch_abandon(void *ctx)
{
	struct sink_run *r = ctx;

	if (r->in_tx)
		sink_rollback(r->s);
	r->in_tx = false;
}

static int run(struct sink_run *r, struct sc_error *err)
{
	return runtime_consume(r->cfg, r->t, r->stats, handle, batch_safe, batch_abandon, r, err);
}

int role_sink(const struct sc_config *cfg, struct sc_error *err)
{
	struct sink_run r;
	struct sink_cfg sc;
	int rc;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	sc_record_init(&r.rec, SC_KIND_NONE);

	memset(&sc, 0, sizeof(sc));
	sc.db_path = cfg->db;
	sc.csv_dir = cfg->csv;
	r.s = sink_open(&sc, err);
	if (!r.s)
		return -err->code;

	rc = runtime_start(cfg, "sink",
			   SC_STREAM_BIT(SC_STREAM_PROC_CPU) |
				   SC_STREAM_BIT(SC_STREAM_PROC_SENSOR) |
				   SC_STREAM_BIT(SC_STREAM_DEADLETTER),
			   &r.stats, &r.t, err);
	if (rc)
		goto close_sink;
	r.stats->ready_fn = sink_ready;
	r.stats->ready_ctx = r.s;
	rc = run(&r, err);
	runtime_finish(r.stats, r.t);
	if (!rc)
		fprintf(stderr, "sink: database %s\n", cfg->db);
close_sink:
	sink_close(r.s);
	sc_record_release(&r.rec);
	return rc;
}

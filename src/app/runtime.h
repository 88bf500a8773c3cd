/*
 * runtime.h - what every role shares: signals, the transport set-up from
 * the configuration, and the stats reporter.
 *
 * Stats: counters and two latency histograms per role, written as one JSON
 * line every --stats-interval seconds (to --stats=FILE or stderr) plus a
 * final line and a human summary at exit; on a terminal a one-line live
 * progress display is redrawn (--progress).
 *   stage latency: generate -> process (sent_ns) for process,
 *                  process -> sink (processed_ns) for sink;
 *   e2e latency:   from the generator's *intended* send time, so a stalled
 *                  producer shows up as latency (no coordinated omission).
 */
#ifndef SC_RUNTIME_H
#define SC_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "stats.h"

struct sc_config;
struct sc_error;
struct transport;
struct transport_cfg;
struct sc_msg;
struct metrics;

/* Install SIGINT/SIGTERM handlers: first one requests a stop, second exits at once. */
void runtime_signals(void);
/* For tests: request or clear a stop. */
void runtime_request_stop(bool stop);

/* Fill a transport configuration from the role's configuration. */
void runtime_transport_cfg(const struct sc_config *cfg, unsigned int inputs,
			   struct transport_cfg *tc);

struct run_stats {
	const char *role;
	uint64_t in, out, stored, duplicates, deadletters, errors;
	uint64_t bytes_in, bytes_out;
	struct hist stage, e2e;		/* since the last report */
	struct hist stage_all, e2e_all; /* since the start */
	int64_t start_mono, last_mono;
	uint64_t last_in, last_out;
	double interval;
	FILE *fout;
	bool own_out;
	bool progress;
	bool progress_drawn;
	struct transport *t;
	/* --metrics: the endpoint, and what else /readyz needs (e.g. sink writable) */
	struct metrics *metrics;
	int64_t metrics_mono;
	bool (*ready_fn)(void *ctx);
	void *ready_ctx;
};

int run_stats_init(struct run_stats *s, const struct sc_config *cfg, const char *role,
		   struct sc_error *err);
/*
 * What every role does around its work: allocate and start its stats
 * (role name, --stats, --metrics), then open its transport consuming
 * `inputs` (0 for a producer).  On failure nothing is left open.
 * runtime_finish() prints the final stats, closes the transport and frees
 * the stats; it accepts NULLs.
 */
int runtime_start(const struct sc_config *cfg, const char *role, unsigned int inputs,
		  struct run_stats **stats, struct transport **t, struct sc_error *err);
void runtime_finish(struct run_stats *stats, struct transport *t);

/* Record one message's latencies (ns; a value <= 0 means unknown and is skipped). */
void run_stats_latency(struct run_stats *s, int64_t stage_ns, int64_t e2e_ns);
/* Print a periodic line if the interval elapsed (cheap to call often). */
void run_stats_tick(struct run_stats *s);
/* Final JSON line and a one-line human summary on stderr. */
void run_stats_finish(struct run_stats *s);
void run_stats_release(struct run_stats *s);

/*
 * Consumer batches (process and sink).  runtime_poll_batch() polls up to
 * `cap` messages into msgs[]: it waits up to idle_ms for the first message,
 * then takes only messages already there (no wait), for at most batch_ms,
 * and calls handle() on each message as
 * soon as it arrives (its payload is only valid until the next poll).
 * *n is the number of messages taken.  Returns 0, -SC_EOF when the input
 * ended (after the messages in msgs[]), or a negative error.
 * runtime_ack_batch() commits every message (after the caller made their
 * output safe) and releases them.
 */
typedef int (*runtime_handle_fn)(void *ctx, struct sc_msg *m, struct sc_error *err);
int runtime_poll_batch(struct transport *t, struct sc_msg *msgs, size_t cap, int batch_ms,
		       int idle_ms, size_t *n, runtime_handle_fn handle, void *ctx,
		       struct sc_error *err);
int runtime_ack_batch(struct transport *t, struct sc_msg *msgs, size_t n, struct sc_error *err);
/*
 * Should a consumer role keep polling?  Until a stop is requested, yes.
 * After it, backends with TRANSPORT_CAP_COMMIT stop at once (what is not
 * committed is redelivered); the others have acknowledged what they queued
 * locally, so the role drains that queue (lag > 0), for at most 10 s.
 */
bool runtime_keep_consuming(struct transport *t, int64_t *drain_deadline);
/*
 * The main loop of a consumer role.  Each round polls a batch (handle() on
 * every message), then safe(ctx, n) makes the batch's outputs safe (sink:
 * the SQLite commit; process: outputs confirmed by the broker), and only
 * then is the input committed at the transport.  On any failure abandon(ctx)
 * undoes the open batch and its input is released uncommitted.  The loop
 * ends at the end of input, on a stop (after draining, see
 * runtime_keep_consuming), after --idle-exit seconds without input, or on an
 * error.  A stop in the middle of a batch (the pipe's poll says -SC_EINTR)
 * ends it like the end of input: what was read is stored, not rolled back,
 * since a pipe cannot deliver it again.
 */
typedef int (*runtime_safe_fn)(void *ctx, size_t n, struct sc_error *err);
int runtime_consume(const struct sc_config *cfg, struct transport *t, struct run_stats *stats,
		    runtime_handle_fn handle, runtime_safe_fn safe, void (*abandon)(void *ctx),
		    void *ctx, struct sc_error *err);

/* Release without committing (the input will be redelivered where the backend can). */
void runtime_drop_batch(struct transport *t, struct sc_msg *msgs, size_t n);

int role_generate(const struct sc_config *cfg, struct sc_error *err);
int role_process(const struct sc_config *cfg, struct sc_error *err);
int role_sink(const struct sc_config *cfg, struct sc_error *err);
int role_verify(const struct sc_config *cfg, struct sc_error *err);

#endif /* SC_RUNTIME_H */

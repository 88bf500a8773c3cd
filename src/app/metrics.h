/*
 * metrics.h - the optional HTTP endpoint of a role (--metrics=ADDR:PORT):
 *   /metrics  Prometheus text format: counters, consumer lag, latency quantiles
 *   /healthz  200 while the process runs
 *   /readyz   200 when connected to its broker (and, for the sink, the
 *             database is writable); 503 otherwise and while draining
 *
 * The role thread publishes a snapshot (metrics_update) at most every
 * 250 ms from run_stats_tick; the server thread only reads snapshots, so
 * no transport or sink call ever runs on the server thread.
 */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include <stdbool.h>

struct metrics;
struct run_stats;
struct sc_error;

/* Start serving on addr; NULL with err set (bad address, port in use). */
struct metrics *metrics_start(const char *addr, const char *role, struct sc_error *err);
/* Copy the current figures (called by the role thread). */
void metrics_update(struct metrics *m, const struct run_stats *s, bool healthy, bool ready);
/* The port actually bound (for --metrics=127.0.0.1:0). */
int metrics_port(const struct metrics *m);
/* Accepts NULL. */
void metrics_stop(struct metrics *m);

#endif /* SC_METRICS_H */

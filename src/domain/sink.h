/*
 * sink.h - SQLite (and optional CSV) sink, and the verifier.
 *
 * Schema (created if missing; WAL mode; prepared statements):
 *   cpu_stats(source, seq, key, event_ns, intended_ns, sent_ns, processed_ns,
 *             stored_ns, ncores, total, mean_cores, rolling_mean,
 *             rolling_std, zscore, anomaly, window,
 *             PRIMARY KEY(source, seq))
 *   sensor_features(source, seq, key, event_ns, intended_ns, sent_ns,
 *             processed_ns, stored_ns, device_id, session_id, message_id,
 *             window_start_ns, window_end_ns, nreadings, activity,
 *             activity_score, PRIMARY KEY(source, seq))
 *   sensor_feature_values(source, seq, sensor, field, count, mean, std,
 *             min, max, PRIMARY KEY(source, seq, sensor, field))
 *   deadletters(id INTEGER PRIMARY KEY, stored_ns, stage, origin, reason,
 *             payload BLOB)
 *   sink_sources(source PRIMARY KEY, duplicates INTEGER)  -- replays refused
 *
 * A row's identity is (source, seq): a replayed record is refused (INSERT OR
 * IGNORE) and counted in sink_sources.duplicates, never stored twice.
 * Writes happen inside an explicit transaction: sink_begin, any number of
 * sink_put / sink_deadletter, sink_commit.  Only after sink_commit returns 0
 * are the rows durable and may the caller acknowledge its input.
 * CSV, when configured, gets one line per newly stored processed record
 * (files cpu_stats.csv and sensor_features.csv under csv_dir), written at
 * commit.
 */
#ifndef SC_SINK_H
#define SC_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct sc_error;
struct sc_record;

struct sink_cfg {
	const char *db_path;   /* required */
	const char *csv_dir;   /* NULL: no CSV */
	int busy_timeout_ms;   /* default 5000 */
	bool synchronous_full; /* PRAGMA synchronous=FULL instead of NORMAL */
};

struct sink;

struct sink *sink_open(const struct sink_cfg *cfg, struct sc_error *err);
int sink_begin(struct sink *s, struct sc_error *err);
/*
 * Store a processed record (cpu_stats or sensor_features) or a dead-letter
 * record.  *stored (may be NULL) is 1 when a new row was written, 0 when it
 * was a duplicate.  Other kinds: -SC_EINVAL.
 */
int sink_put(struct sink *s, const struct sc_record *r, int *stored, struct sc_error *err);
int sink_commit(struct sink *s, struct sc_error *err);
/* Roll back the open transaction (after a failure); accepts none open. */
void sink_rollback(struct sink *s);
/* Quick check that the database is writable (for /readyz). */
bool sink_writable(struct sink *s);
/* Accepts NULL; rolls back an open transaction. */
void sink_close(struct sink *s);

struct verify_cfg {
	const char *db_path;
	long long expect; /* >= 0: every source must hold seq 0..expect-1; -1: no tail check */
	long sources;	  /* > 0: exactly this many sources must have stored rows; 0: any */
	FILE *out;	  /* the readable summary */
};

/*
 * Print per source: kind, rows, seq range, gaps (listed, the first few),
 * missing tail (with expect), duplicates refused; then dead letters.
 * Returns 0 when clean, 1 when a gap or missing tail was found, or a
 * negative SC_E* with err set (database unreadable, no such file).
 */
int verify_run(const struct verify_cfg *cfg, struct sc_error *err);

#endif /* SC_SINK_H */

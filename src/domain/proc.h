/*
 * proc.h - the processing step: one processed record per raw record.
 *
 * cpu    -> cpu_stats: mean over cores, rolling mean/std over the last
 *           `cpu_window` samples of the same key, z-score of the new sample
 *           against the window before it, anomaly when |z| > z_threshold
 *           (and the window holds at least 5 samples).
 * sensor -> sensor_features: per sensor and value field count/mean/std
 *           (population)/min/max, plus field "magnitude" for sensors with
 *           x/y/z; an activity label from the rolling std of the
 *           accelerometer magnitude over the last `activity_window` batches
 *           of the key: still < 0.5 <= walking < 3.0 <= running (m/s^2),
 *           "unknown" without accelerometer data.
 *
 * State is kept per envelope key (bounded: at most `max_keys`, least
 * recently used evicted).  The output envelope copies source, key, seq,
 * event, intended and sent times from the input; processed_ns is left 0 for
 * the role to stamp.
 */
#ifndef SC_PROC_H
#define SC_PROC_H

#include <stddef.h>

struct sc_error;
struct sc_record;

struct proc_cfg {
	unsigned cpu_window;	  /* default 60 */
	double z_threshold;	  /* default 3.0 */
	unsigned activity_window; /* default 5 */
	size_t max_keys;	  /* default 65536 */
};

struct proc;

/* cfg may be NULL for the defaults; zero fields take their default. */
struct proc *proc_new(const struct proc_cfg *cfg, struct sc_error *err);

/*
 * Derive out from in.  -SC_EINVAL (with the reason) when in is not a raw
 * kind or fails validation (e.g. ncores 0, NaN values): the caller
 * dead-letters it.
 */
int proc_apply(struct proc *p, const struct sc_record *in, struct sc_record *out,
	       struct sc_error *err);

/* Number of keys with state (for stats). */
size_t proc_keys(const struct proc *p);

void proc_free(struct proc *p);

#endif /* SC_PROC_H */

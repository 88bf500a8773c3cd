/*
 * gen.h - data generators: real cpu load and a simulated smartphone.
 *
 * A generator fills the body of a raw record plus envelope.key and
 * envelope.event_ns; the generate role sets source, seq, intended and sent
 * times.  Generators never sleep: pacing is the role's job.
 *
 *  - cpu: per-core and total utilisation from the deltas of /proc/stat
 *    (path overridable for tests) between two calls.
 *  - sensor: a phone that is still, walks or runs (phases of seeded random
 *    length), with accelerometer, gyroscope, gravity, magnetometer (x/y/z),
 *    orientation (qw,qx,qy,qz,roll,pitch,yaw), barometer (pressure,
 *    relativeAltitude), light (lux), microphone (dBFS) and location
 *    (latitude, longitude, altitude, speed, bearing, horizontalAccuracy,
 *    verticalAccuracy) at their usual rates, batched per push like the app.
 *    Deterministic for a given seed and sequence of window ends.
 */
#ifndef SC_GEN_H
#define SC_GEN_H

#include <stdint.h>

struct sc_error;
struct sc_record;

enum gen_source {
	GEN_SOURCE_CPU = 1,
	GEN_SOURCE_SENSOR,
};

struct gen_cfg {
	enum gen_source source;
	const char *device_id;	/* sensor: deviceId and key; cpu: key (default: hostname) */
	const char *session_id; /* sensor: sessionId (default: derived from seed) */
	uint64_t seed;		/* sensor simulator seed */
	const char *proc_stat;	/* cpu: path of /proc/stat (NULL: the real one) */
	int64_t min_read_ns; /* cpu: least time between two reads (0: one clock tick, < 0: none) */
};

struct gen;

/* New generator or NULL with err set (e.g. /proc/stat unreadable). */
struct gen *gen_new(const struct gen_cfg *cfg, struct sc_error *err);

/*
 * Fill r (reset to the generator's kind) with the sample or batch ending at
 * event time `window_end_ns` (UTC epoch ns).  For the sensor simulator the
 * batch covers (previous window end, window_end_ns]; the first batch covers
 * one second.  0 or negative SC_E* with err set.
 */
int gen_next(struct gen *g, struct sc_record *r, int64_t window_end_ns, struct sc_error *err);

/* Accepts NULL. */
void gen_free(struct gen *g);

#endif /* SC_GEN_H */

/*
 * record.h - the message model shared by every role, codec and transport.
 *
 * A record is an envelope plus one body.  Raw records come from the
 * generators (cpu samples, Sensor Logger batches); processed records are made
 * by `process`, exactly one per raw record, and carry the raw record's
 * source, key, seq, event/intended/sent times, so the sink can check
 * end-to-end completeness and latency.  Dead-letter records carry a message
 * that could not be decoded or validated, with the reason.
 *
 * Ownership: a record owns the arrays its body points to.  sc_record_init()
 * prepares one, sc_record_reset() makes it empty for reuse while keeping
 * allocated capacity (the hot path decodes into one reused record),
 * sc_record_release() frees everything.
 *
 * Map:  kinds and streams - envelope - bodies - record - byte buffer - time
 */
#ifndef SC_RECORD_H
#define SC_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- kinds and streams ------------------------------------------------ */

enum sc_kind {
	SC_KIND_NONE = 0,
	SC_KIND_CPU,		 /* raw: one /proc/stat sample */
	SC_KIND_SENSOR,		 /* raw: one Sensor Logger push batch */
	SC_KIND_CPU_STATS,	 /* processed from SC_KIND_CPU */
	SC_KIND_SENSOR_FEATURES, /* processed from SC_KIND_SENSOR */
	SC_KIND_DEADLETTER,	 /* a message that could not be handled */
	SC_KIND__COUNT
};

/*
 * Logical streams.  A backend maps each to its own names under the
 * namespace (Kafka topic "<ns>.raw.cpu", AMQP routing key, MQTT topic ...).
 */
enum sc_stream {
	SC_STREAM_RAW_CPU = 0,
	SC_STREAM_RAW_SENSOR,
	SC_STREAM_PROC_CPU,
	SC_STREAM_PROC_SENSOR,
	SC_STREAM_DEADLETTER,
	SC_STREAM_EXTERNAL, /* a foreign topic, e.g. the Sensor Logger app's */
	SC_STREAM__COUNT
};

#define SC_STREAM_BIT(s) (1u << (s))

/* "cpu", "sensor", "cpu_stats", "sensor_features", "deadletter"; NULL if bad. */
const char *sc_kind_name(enum sc_kind k);
enum sc_kind sc_kind_from_name(const char *name);
/* "raw.cpu", "raw.sensor", "processed.cpu", "processed.sensor", "deadletter", "external" */
const char *sc_stream_name(enum sc_stream s);
/* The stream a record of this kind is published on. */
enum sc_stream sc_kind_stream(enum sc_kind k);

/* ---- envelope ---------------------------------------------------------- */

#define SC_ID_MAX   64	/* source ids, device ids, session ids (incl. NUL) */
#define SC_KEY_MAX  132 /* partitioning / routing key (incl. NUL) */
#define SC_NAME_MAX 32	/* sensor and value names (incl. NUL) */

struct sc_envelope {
	char source[SC_ID_MAX]; /* stable id of the producing instance */
	char key[SC_KEY_MAX];	/* partition / routing key, e.g. device id */
	uint64_t seq;		/* per source, contiguous from 0 */
	int64_t event_ns;	/* event time, UTC epoch ns */
	int64_t intended_ns;	/* when the generator meant to send it */
	int64_t sent_ns;	/* when the generator actually sent it */
	int64_t processed_ns;	/* processed records: when process emitted it; 0 on raw */
};

/* ---- bodies ------------------------------------------------------------ */

#define SC_CPU_MAX_CORES 256

/* Raw cpu sample: utilisation in percent [0,100], per core and in total. */
struct sc_cpu_sample {
	uint32_t ncores;
	double total;
	double cores[SC_CPU_MAX_CORES];
};

#define SC_SENSOR_MAX_VALUES   16
#define SC_SENSOR_MAX_READINGS 100000

struct sc_sensor_value {
	char name[SC_NAME_MAX]; /* "x", "qw", "pressure", "latitude", ... */
	double v;
};

/* One entry of a Sensor Logger "payload" array. */
struct sc_sensor_reading {
	char name[SC_NAME_MAX]; /* "accelerometer", "orientation", ... */
	int64_t time_ns;	/* UTC epoch ns */
	bool has_accuracy;
	int32_t accuracy;
	uint32_t nvalues;
	struct sc_sensor_value values[SC_SENSOR_MAX_VALUES];
};

/* Raw sensor batch: the Sensor Logger push schema. */
struct sc_sensor_batch {
	int64_t message_id;
	char session_id[SC_ID_MAX];
	char device_id[SC_ID_MAX];
	size_t n, cap;
	struct sc_sensor_reading *readings; /* owned, n used of cap */
};

/* Processed cpu record. */
struct sc_cpu_stats {
	uint32_t ncores;
	double total;	     /* total utilisation reported by /proc/stat */
	double mean_cores;   /* mean over the cores */
	double rolling_mean; /* of mean_cores over the key's rolling window */
	double rolling_std;
	double zscore;	 /* of this sample against the window before it */
	bool anomaly;	 /* |zscore| above the threshold */
	uint32_t window; /* samples in the rolling window */
};

/* One per-sensor, per-field statistic of a batch ("magnitude" for x/y/z). */
struct sc_feature {
	char sensor[SC_NAME_MAX];
	char field[SC_NAME_MAX];
	uint32_t count;
	double mean, std, min, max;
};

/* Processed sensor record: tumbling-window features of one batch. */
struct sc_sensor_features {
	int64_t message_id;
	char session_id[SC_ID_MAX];
	char device_id[SC_ID_MAX];
	int64_t window_start_ns, window_end_ns; /* first and last reading time */
	uint32_t nreadings;
	char activity[16];     /* "still", "walking", "running", "unknown" */
	double activity_score; /* rolling std of the accelerometer magnitude */
	size_t n, cap;
	struct sc_feature *features; /* owned */
};

#define SC_REASON_MAX 256

/* A message that could not be decoded or was invalid. */
struct sc_deadletter {
	char reason[SC_REASON_MAX];
	char origin[SC_NAME_MAX]; /* stream name it arrived on, or "pipe" */
	char stage[16];		  /* role that refused it: "process", "sink" */
	size_t len, cap;
	unsigned char *payload; /* owned copy of the original bytes */
};

/* ---- record ------------------------------------------------------------ */

struct sc_record {
	enum sc_kind kind;
	struct sc_envelope env;
	union {
		struct sc_cpu_sample cpu;
		struct sc_sensor_batch sensor;
		struct sc_cpu_stats cpu_stats;
		struct sc_sensor_features features;
		struct sc_deadletter dead;
	} u;
};

/* Zero r and set its kind. */
void sc_record_init(struct sc_record *r, enum sc_kind kind);
/* Make r an empty record of `kind`, keeping allocations when the kind is unchanged. */
void sc_record_reset(struct sc_record *r, enum sc_kind kind);
/* Free what r owns; r is left as after sc_record_init(r, SC_KIND_NONE).  Accepts NULL. */
void sc_record_release(struct sc_record *r);

/* Append an empty reading / feature, growing the array; NULL when out of memory or over the limit. */
struct sc_sensor_reading *sc_batch_add(struct sc_sensor_batch *b);
struct sc_feature *sc_features_add(struct sc_sensor_features *f);
/* Add a value to a reading; -1 when it already holds SC_SENSOR_MAX_VALUES. */
int sc_reading_set(struct sc_sensor_reading *rd, const char *name, double v);
/* Value by name, or NULL. */
const struct sc_sensor_value *sc_reading_get(const struct sc_sensor_reading *rd, const char *name);
/* Fill a dead-letter record (copies payload); 0 or -SC_ENOMEM. */
int sc_deadletter_fill(struct sc_record *r, const char *stage, const char *origin,
		       const char *reason, const void *payload, size_t len);

/* Deep comparison of the logical content; true when equal. For tests and round trips. */
bool sc_record_equal(const struct sc_record *a, const struct sc_record *b);

/* Bounded string copy that always terminates; returns strlen(src) like strlcpy. */
size_t sc_strlcpy(char *dst, const char *src, size_t size);

/* ---- growable byte buffer --------------------------------------------- */

struct sc_buf {
	unsigned char *data;
	size_t len, cap;
};

void sc_buf_init(struct sc_buf *b);
void sc_buf_release(struct sc_buf *b);
/* Ensure room for `extra` more bytes; 0 or -SC_ENOMEM. */
int sc_buf_reserve(struct sc_buf *b, size_t extra);
int sc_buf_append(struct sc_buf *b, const void *p, size_t n);

/* ---- time ------------------------------------------------------------- */

/* UTC epoch nanoseconds (CLOCK_REALTIME). */
int64_t sc_now_ns(void);
/* Monotonic nanoseconds (CLOCK_MONOTONIC), for intervals. */
int64_t sc_mono_ns(void);

#endif /* SC_RECORD_H */

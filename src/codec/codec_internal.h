/*
 * codec_internal.h - helpers shared by codec.c, codec_json.c and
 * codec_msgpack.c.  Do not include this outside the codec files.
 */
#ifndef SC_CODEC_INTERNAL_H
#define SC_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_error;

/*
 * Where a field sits, kept as parts and formatted only when there is an
 * error to report: "<base><arr>[<idx>].<sub>.<field>", e.g.
 * "body.payload[2].values.x".  Any of arr, sub and field may be NULL.
 */
struct codec_path {
	const char *codec; /* "json: ", "msgpack: " or "" */
	const char *base;  /* "body." or "" */
	const char *arr;   /* "payload", "features", "cores" or NULL */
	long idx;
	const char *sub; /* "values" or NULL */
};

/* Set err to "<codec>field '<path>': <why>"; returns -SC_EINVAL. */
int codec_field_error(struct sc_error *err, const struct codec_path *p, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True when s[0..n) is valid UTF-8 without NUL bytes. */
bool codec_utf8_valid(const char *s, size_t n);

/*
 * The schema both decoders look keys up in: per map, an index per known key
 * (X__N of them) and the keys in that order, so the JSON and MessagePack
 * decoders cannot drift apart in what they accept.  Defined in codec.c.
 */
struct codec_key {
	const char *name;
	uint32_t len;
};

/* envelope */
enum {
	E_V,
	E_KIND,
	E_SOURCE,
	E_KEY,
	E_SEQ,
	E_EVENT,
	E_INTENDED,
	E_SENT,
	E_PROCESSED,
	E_BODY,
	E__N
};
extern const struct codec_key codec_env_keys[E__N];
/* cpu sample body */
enum { C_NCORES, C_TOTAL, C_CORES, C__N };
extern const struct codec_key codec_cpu_keys[C__N];
/* sensor push body (also the Sensor Logger app's own body) and one reading of it */
enum { S_MSGID, S_SESSION, S_DEVICE, S_PAYLOAD, S__N };
extern const struct codec_key codec_sensor_keys[S__N];
enum { R_NAME, R_TIME, R_VALUES, R_ACCURACY, R__N };
extern const struct codec_key codec_reading_keys[R__N];
/* cpu stats body */
enum { T_NCORES, T_TOTAL, T_MEAN, T_RMEAN, T_RSTD, T_Z, T_ANOMALY, T_WINDOW, T__N };
extern const struct codec_key codec_stats_keys[T__N];
/* sensor features body and one feature of it */
enum { X_MSGID, X_SESSION, X_DEVICE, X_WSTART, X_WEND, X_NREAD, X_ACT, X_SCORE, X_FEATURES, X__N };
extern const struct codec_key codec_features_keys[X__N];
enum { F_SENSOR, F_FIELD, F_COUNT, F_MEAN, F_STD, F_MIN, F_MAX, F__N };
extern const struct codec_key codec_feature_keys[F__N];
/* dead-letter body */
enum { D_REASON, D_ORIGIN, D_STAGE, D_PAYLOAD, D__N };
extern const struct codec_key codec_dead_keys[D__N];

/*
 * The scalar fields of each map, in wire order, with where they live in the
 * record: one description that both codecs' encoders and decoders walk, so
 * a field is added, renamed or retyped in one place.  Arrays, nested maps,
 * the version and the kind are written by hand around these runs.
 *  - slot: the key's index in the map's codec_*_keys table (the decoders'
 *    slot array); name: the same key (tests/unit/test_codec.c checks both)
 *  - json: the key as the JSON encoder writes it, with its leading comma:
 *    ",\"name\":" (the first field of an object skips the comma)
 * Types: what the decoders accept and how the encoders write them (JSON: a
 * number or string; MessagePack: CF_U32 as uint32, CF_U64 as uint64, CF_I64
 * as int64, CF_DBL as float64, CF_STR as str, CF_BOOL as bool).
 */
enum codec_ftype { CF_STR, CF_I64, CF_U64, CF_U32, CF_DBL, CF_BOOL };

#define CODEC_JSON_KEY_MAX 24

struct codec_field {
	uint8_t slot;
	uint8_t type;  /* enum codec_ftype */
	uint8_t jlen;  /* strlen(json) */
	uint8_t nlen;  /* strlen(name) */
	uint16_t size; /* CF_STR: capacity of the char array (incl. NUL) */
	uint16_t off;  /* offset of the member in its struct */
	const char *name;
	char json[CODEC_JSON_KEY_MAX]; /* NUL-padded: copied whole, then cut */
};

struct codec_fields {
	const struct codec_field *f;
	uint8_t n;
};

/* envelope: source .. processed_ns (v, kind and body by hand) */
extern const struct codec_fields codec_env_fields;
/* sensor batch: messageId, sessionId, deviceId (payload by hand) */
extern const struct codec_fields codec_sensor_fields;
/* cpu stats: every field */
extern const struct codec_fields codec_stats_fields;
/* sensor features: messageId .. activity_score (features by hand) */
extern const struct codec_fields codec_features_fields;
/* one feature: every field */
extern const struct codec_fields codec_feature_fields;
/* dead letter: reason, origin, stage (payload by hand) */
extern const struct codec_fields codec_dead_fields;

#endif /* SC_CODEC_INTERNAL_H */

/* codec.c - codec names, detection and dispatch; see codec.h */
#include "codec.h"
#include "codec_internal.h"
#include "error.h"
#include "record.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum sc_codec codec_from_name(const char *name)
{
	if (!name)
		return SC_CODEC_NONE;
	if (strcmp(name, "json") == 0)
		return SC_CODEC_JSON;
	if (strcmp(name, "msgpack") == 0)
		return SC_CODEC_MSGPACK;
	return SC_CODEC_NONE;
}

const char *codec_name(enum sc_codec c)
{
	switch (c) {
	case SC_CODEC_JSON: return "json";
	case SC_CODEC_MSGPACK: return "msgpack";
	default: return "none";
	}
}

enum sc_codec codec_detect(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;

	if (!p || len == 0)
		return SC_CODEC_NONE;
	if ((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf)
		return SC_CODEC_MSGPACK;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	if (i < len && p[i] == '{')
		return SC_CODEC_JSON;
	return SC_CODEC_NONE;
}

int codec_encode(enum sc_codec c, const struct sc_record *r, struct sc_buf *out,
		 struct sc_error *err)
{
	switch (c) {
	case SC_CODEC_JSON: return codec_json_encode(r, out, err);
	case SC_CODEC_MSGPACK: return codec_msgpack_encode(r, out, err);
	default: return sc_error_set(err, SC_EINVAL, "codec: unknown codec %d", (int)c);
	}
}

int codec_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err)
{
	switch (codec_detect(data, len)) {
	case SC_CODEC_JSON: return codec_json_decode(data, len, r, err);
	case SC_CODEC_MSGPACK: return codec_msgpack_decode(data, len, r, err);
	default:
		if (len == 0)
			return sc_error_set(err, SC_EINVAL, "codec: empty message");
		return sc_error_set(err, SC_EINVAL,
				    "codec: neither json nor msgpack (first byte 0x%02x)",
				    ((const unsigned char *)data)[0]);
	}
}

int codec_field_error(struct sc_error *err, const struct codec_path *p, const char *field,
		      const char *fmt, ...)
{
	char where[160], why[SC_ERRMSG_MAX];
	size_t n = 0;
	va_list ap;

	where[0] = '\0';
	n += (size_t)snprintf(where, sizeof(where), "%s", p->base ? p->base : "");
	if (p->arr && n < sizeof(where))
		n += (size_t)snprintf(where + n, sizeof(where) - n, "%s[%ld]", p->arr, p->idx);
	if (p->sub && n < sizeof(where))
		n += (size_t)snprintf(where + n, sizeof(where) - n, "%s%s", p->arr ? "." : "",
				      p->sub);
	if (field && n < sizeof(where))
		snprintf(where + n, sizeof(where) - n, "%s%s", (p->arr || p->sub) ? "." : "",
			 field);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return sc_error_set(err, SC_EINVAL, "%sfield '%s': %s", p->codec ? p->codec : "", where,
			    why);
}

bool codec_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned int cp, need;

		if (c >= 0x01 && c < 0x80) {
			i++;
			continue;
		}
		if (c == 0)
			return false;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		for (unsigned int k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* ---- the decoders' schema (codec_internal.h) ------------------------------ */

#define KEY(s)                             \
	{                                  \
		s, (uint32_t)sizeof(s) - 1 \
	}

const struct codec_key codec_env_keys[E__N] = {
	KEY("v"),	 KEY("kind"),	     KEY("source"),  KEY("key"),	  KEY("seq"),
	KEY("event_ns"), KEY("intended_ns"), KEY("sent_ns"), KEY("processed_ns"), KEY("body")};
const struct codec_key codec_cpu_keys[C__N] = {KEY("ncores"), KEY("total"), KEY("cores")};
const struct codec_key codec_sensor_keys[S__N] = {KEY("messageId"), KEY("sessionId"),
						  KEY("deviceId"), KEY("payload")};
const struct codec_key codec_reading_keys[R__N] = {KEY("name"), KEY("time"), KEY("values"),
						   KEY("accuracy")};
const struct codec_key codec_stats_keys[T__N] = {
	KEY("ncores"),	    KEY("total"),  KEY("mean_cores"), KEY("rolling_mean"),
	KEY("rolling_std"), KEY("zscore"), KEY("anomaly"),    KEY("window")};
const struct codec_key codec_features_keys[X__N] = {
	KEY("messageId"),	KEY("sessionId"),      KEY("deviceId"),
	KEY("window_start_ns"), KEY("window_end_ns"),  KEY("nreadings"),
	KEY("activity"),	KEY("activity_score"), KEY("features")};
const struct codec_key codec_feature_keys[F__N] = {
	KEY("sensor"), KEY("field"), KEY("count"), KEY("mean"), KEY("std"), KEY("min"), KEY("max")};
const struct codec_key codec_dead_keys[D__N] = {KEY("reason"), KEY("origin"), KEY("stage"),
						KEY("payload")};

/* ---- the scalar fields (codec_internal.h) --------------------------------- */

#define FIELD(slot_, type_, st, member, key)                                                      \
	{                                                                                         \
		.slot = (slot_), .type = (type_), .jlen = (uint8_t)(sizeof(",\"" key "\":") - 1), \
		.nlen = (uint8_t)(sizeof(key) - 1), .size = 0,                                    \
		.off = (uint16_t)offsetof(st, member), .name = key, .json = ",\"" key "\":"       \
	}
#define FSTR(slot_, st, member, key)                                                             \
	{                                                                                        \
		.slot = (slot_), .type = CF_STR, .jlen = (uint8_t)(sizeof(",\"" key "\":") - 1), \
		.nlen = (uint8_t)(sizeof(key) - 1), .size = (uint16_t)sizeof(((st *)0)->member), \
		.off = (uint16_t)offsetof(st, member), .name = key, .json = ",\"" key "\":"      \
	}
_Static_assert(sizeof(",\"window_start_ns\":") <= CODEC_JSON_KEY_MAX, "longest key fits");
#define FIELDS(arr)                                          \
	{                                                    \
		arr, (uint8_t)(sizeof(arr) / sizeof(arr[0])) \
	}

static const struct codec_field env_f[] = {
	FSTR(E_SOURCE, struct sc_envelope, source, "source"),
	FSTR(E_KEY, struct sc_envelope, key, "key"),
	FIELD(E_SEQ, CF_U64, struct sc_envelope, seq, "seq"),
	FIELD(E_EVENT, CF_I64, struct sc_envelope, event_ns, "event_ns"),
	FIELD(E_INTENDED, CF_I64, struct sc_envelope, intended_ns, "intended_ns"),
	FIELD(E_SENT, CF_I64, struct sc_envelope, sent_ns, "sent_ns"),
	FIELD(E_PROCESSED, CF_I64, struct sc_envelope, processed_ns, "processed_ns"),
};
static const struct codec_field sensor_f[] = {
	FIELD(S_MSGID, CF_I64, struct sc_sensor_batch, message_id, "messageId"),
	FSTR(S_SESSION, struct sc_sensor_batch, session_id, "sessionId"),
	FSTR(S_DEVICE, struct sc_sensor_batch, device_id, "deviceId"),
};
static const struct codec_field stats_f[] = {
	FIELD(T_NCORES, CF_U32, struct sc_cpu_stats, ncores, "ncores"),
	FIELD(T_TOTAL, CF_DBL, struct sc_cpu_stats, total, "total"),
	FIELD(T_MEAN, CF_DBL, struct sc_cpu_stats, mean_cores, "mean_cores"),
	FIELD(T_RMEAN, CF_DBL, struct sc_cpu_stats, rolling_mean, "rolling_mean"),
	FIELD(T_RSTD, CF_DBL, struct sc_cpu_stats, rolling_std, "rolling_std"),
	FIELD(T_Z, CF_DBL, struct sc_cpu_stats, zscore, "zscore"),
	FIELD(T_ANOMALY, CF_BOOL, struct sc_cpu_stats, anomaly, "anomaly"),
	FIELD(T_WINDOW, CF_U32, struct sc_cpu_stats, window, "window"),
};
static const struct codec_field features_f[] = {
	FIELD(X_MSGID, CF_I64, struct sc_sensor_features, message_id, "messageId"),
	FSTR(X_SESSION, struct sc_sensor_features, session_id, "sessionId"),
	FSTR(X_DEVICE, struct sc_sensor_features, device_id, "deviceId"),
	FIELD(X_WSTART, CF_I64, struct sc_sensor_features, window_start_ns, "window_start_ns"),
	FIELD(X_WEND, CF_I64, struct sc_sensor_features, window_end_ns, "window_end_ns"),
	FIELD(X_NREAD, CF_U32, struct sc_sensor_features, nreadings, "nreadings"),
	FSTR(X_ACT, struct sc_sensor_features, activity, "activity"),
	FIELD(X_SCORE, CF_DBL, struct sc_sensor_features, activity_score, "activity_score"),
};
static const struct codec_field feature_f[] = {
	FSTR(F_SENSOR, struct sc_feature, sensor, "sensor"),
	FSTR(F_FIELD, struct sc_feature, field, "field"),
	FIELD(F_COUNT, CF_U32, struct sc_feature, count, "count"),
	FIELD(F_MEAN, CF_DBL, struct sc_feature, mean, "mean"),
	FIELD(F_STD, CF_DBL, struct sc_feature, std, "std"),
	FIELD(F_MIN, CF_DBL, struct sc_feature, min, "min"),
	FIELD(F_MAX, CF_DBL, struct sc_feature, max, "max"),
};
static const struct codec_field dead_f[] = {
	FSTR(D_REASON, struct sc_deadletter, reason, "reason"),
	FSTR(D_ORIGIN, struct sc_deadletter, origin, "origin"),
	FSTR(D_STAGE, struct sc_deadletter, stage, "stage"),
};

const struct codec_fields codec_env_fields = FIELDS(env_f);
const struct codec_fields codec_sensor_fields = FIELDS(sensor_f);
const struct codec_fields codec_stats_fields = FIELDS(stats_f);
const struct codec_fields codec_features_fields = FIELDS(features_f);
const struct codec_fields codec_feature_fields = FIELDS(feature_f);
const struct codec_fields codec_dead_fields = FIELDS(dead_f);

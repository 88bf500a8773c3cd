/*
 * codec_json.c - the JSON codec (see codec.h for the wire shape).
 *
 * Encoding is hand-written: direct appends into the caller's sc_buf, strings
 * escaped per RFC 8259, doubles printed with the shortest of %.15g, %.16g and
 * %.17g that reads back to the same value, integers as integers.  Decoding
 * uses jansson (duplicate keys refused) and then checks every field's type
 * and range, naming the first bad field in err.  jansson keeps an object's
 * keys in document order, so a reading's "values" keep theirs.
 *
 * Limitation: jansson integers are signed 64-bit, so a "seq" above
 * INT64_MAX encodes but does not decode.
 *
 * Map:  encoder output - encoder bodies - decode helpers - decode bodies -
 *       envelope decode - Sensor Logger parse
 */
#include "codec.h"
#include "codec_internal.h"
#include "dtoa.h"
#include "error.h"
#include "record.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_FEATURES (1u << 20)

/* ---- encoder output ----------------------------------------------------- */

/* Encoder state: after the first failure rc is set and further output is dropped. */
struct jenc {
	struct sc_buf *b;
	struct sc_error *err;
	int rc;
};

static unsigned char *jenc_room(struct jenc *e, size_t n)
{
	if (e->rc)
		return NULL;
	if (sc_buf_reserve(e->b, n)) {
		e->rc = sc_error_set(e->err, SC_ENOMEM, "json: out of memory");
		return NULL;
	}
	return e->b->data + e->b->len;
}

static void put(struct jenc *e, const char *s, size_t n)
{
	unsigned char *p = jenc_room(e, n);

	if (!p)
		return;
	memcpy(p, s, n);
	e->b->len += n;
}

#define PUTS(e, lit) put((e), (lit), sizeof(lit) - 1)

static void put_u64(struct jenc *e, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(e, tmp + i, sizeof(tmp) - i);
}

static void put_i64(struct jenc *e, int64_t v)
{
	if (v < 0) {
		PUTS(e, "-");
		put_u64(e, (uint64_t)0 - (uint64_t)v);
		return;
	}
	put_u64(e, (uint64_t)v);
}

/* The shortest decimal that parses back equal (dtoa.h); non-finite is an error. */
static void put_dbl(struct jenc *e, const char *field, double v)
{
	char tmp[DTOA_BUFSIZE];

	if (e->rc)
		return;
	if (!isfinite(v)) {
		e->rc = sc_error_set(e->err, SC_EINVAL,
				     "json: field '%s': cannot encode non-finite number", field);
		return;
	}
	if (v == 0 && signbit(v)) {
		PUTS(e, "-0.0"); /* "-0" would read back as the integer 0 */
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		put_i64(e, (int64_t)v);
		return;
	}
	put(e, tmp, dtoa_shortest(v, tmp));
}

static void put_str(struct jenc *e, const char *field, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strnlen(s, max);
	unsigned char *p, *o;

	if (e->rc)
		return;
	if (!codec_utf8_valid(s, n)) {
		e->rc = sc_error_set(e->err, SC_EINVAL, "json: field '%s': invalid utf-8", field);
		return;
	}
	p = o = jenc_room(e, 6 * n + 2);
	if (!p)
		return;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = (unsigned char)hex[c >> 4];
			*o++ = (unsigned char)hex[c & 15];
		}
	}
	*o++ = '"';
	e->b->len += (size_t)(o - p);
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(struct jenc *e, const unsigned char *s, size_t n)
{
	unsigned char *p, *o;
	size_t i;

	p = o = jenc_room(e, (n + 2) / 3 * 4 + 2);
	if (!p)
		return;
	*o++ = '"';
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = (unsigned char)b64_alphabet[w >> 18];
		*o++ = (unsigned char)b64_alphabet[(w >> 12) & 63];
		*o++ = (unsigned char)b64_alphabet[(w >> 6) & 63];
		*o++ = (unsigned char)b64_alphabet[w & 63];
	}
	if (i < n) {
		uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = (unsigned char)b64_alphabet[w >> 18];
		*o++ = (unsigned char)b64_alphabet[(w >> 12) & 63];
		*o++ = i + 1 < n ? (unsigned char)b64_alphabet[(w >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o++ = '"';
	e->b->len += (size_t)(o - p);
}

/* ---- encoder bodies ------------------------------------------------------ */

static void enc_cpu(struct jenc *e, const struct sc_cpu_sample *c)
{
	if (c->ncores == 0 || c->ncores > SC_CPU_MAX_CORES) {
		e->rc = sc_error_set(e->err, SC_EINVAL,
				     "json: field 'ncores': %u out of range 1..%d", c->ncores,
				     SC_CPU_MAX_CORES);
		return;
	}
	PUTS(e, "{\"ncores\":");
	put_u64(e, c->ncores);
	PUTS(e, ",\"total\":");
	put_dbl(e, "total", c->total);
	PUTS(e, ",\"cores\":[");
	for (uint32_t i = 0; i < c->ncores; i++) {
		if (i)
			PUTS(e, ",");
		put_dbl(e, "cores", c->cores[i]);
	}
	PUTS(e, "]}");
}

static void enc_reading(struct jenc *e, const struct sc_sensor_reading *rd)
{
	if (rd->nvalues > SC_SENSOR_MAX_VALUES) {
		e->rc = sc_error_set(e->err, SC_EINVAL, "json: reading '%s' has %u values (max %d)",
				     rd->name, rd->nvalues, SC_SENSOR_MAX_VALUES);
		return;
	}
	PUTS(e, "{\"name\":");
	put_str(e, "name", rd->name, sizeof(rd->name));
	PUTS(e, ",\"time\":");
	put_i64(e, rd->time_ns);
	PUTS(e, ",\"values\":{");
	for (uint32_t j = 0; j < rd->nvalues; j++) {
		const struct sc_sensor_value *v = &rd->values[j];
		if (j)
			PUTS(e, ",");
		put_str(e, "values", v->name, sizeof(v->name));
		PUTS(e, ":");
		put_dbl(e, v->name, v->v);
	}
	PUTS(e, "}");
	if (rd->has_accuracy) {
		PUTS(e, ",\"accuracy\":");
		put_i64(e, rd->accuracy);
	}
	PUTS(e, "}");
}

static void enc_sensor(struct jenc *e, const struct sc_sensor_batch *b)
{
	PUTS(e, "{\"messageId\":");
	put_i64(e, b->message_id);
	PUTS(e, ",\"sessionId\":");
	put_str(e, "sessionId", b->session_id, sizeof(b->session_id));
	PUTS(e, ",\"deviceId\":");
	put_str(e, "deviceId", b->device_id, sizeof(b->device_id));
	PUTS(e, ",\"payload\":[");
	for (size_t i = 0; i < b->n && !e->rc; i++) {
		if (i)
			PUTS(e, ",");
		enc_reading(e, &b->readings[i]);
	}
	PUTS(e, "]}");
}

static void enc_cpu_stats(struct jenc *e, const struct sc_cpu_stats *s)
{
	PUTS(e, "{\"ncores\":");
	put_u64(e, s->ncores);
	PUTS(e, ",\"total\":");
	put_dbl(e, "total", s->total);
	PUTS(e, ",\"mean_cores\":");
	put_dbl(e, "mean_cores", s->mean_cores);
	PUTS(e, ",\"rolling_mean\":");
	put_dbl(e, "rolling_mean", s->rolling_mean);
	PUTS(e, ",\"rolling_std\":");
	put_dbl(e, "rolling_std", s->rolling_std);
	PUTS(e, ",\"zscore\":");
	put_dbl(e, "zscore", s->zscore);
	if (s->anomaly)
		PUTS(e, ",\"anomaly\":true");
	else
		PUTS(e, ",\"anomaly\":false");
	PUTS(e, ",\"window\":");
	put_u64(e, s->window);
	PUTS(e, "}");
}

static void enc_features(struct jenc *e, const struct sc_sensor_features *f)
{
	PUTS(e, "{\"messageId\":");
	put_i64(e, f->message_id);
	PUTS(e, ",\"sessionId\":");
	put_str(e, "sessionId", f->session_id, sizeof(f->session_id));
	PUTS(e, ",\"deviceId\":");
	put_str(e, "deviceId", f->device_id, sizeof(f->device_id));
	PUTS(e, ",\"window_start_ns\":");
	put_i64(e, f->window_start_ns);
	PUTS(e, ",\"window_end_ns\":");
	put_i64(e, f->window_end_ns);
	PUTS(e, ",\"nreadings\":");
	put_u64(e, f->nreadings);
	PUTS(e, ",\"activity\":");
	put_str(e, "activity", f->activity, sizeof(f->activity));
	PUTS(e, ",\"activity_score\":");
	put_dbl(e, "activity_score", f->activity_score);
	PUTS(e, ",\"features\":[");
	for (size_t i = 0; i < f->n && !e->rc; i++) {
		const struct sc_feature *ft = &f->features[i];
		if (i)
			PUTS(e, ",");
		PUTS(e, "{\"sensor\":");
		put_str(e, "sensor", ft->sensor, sizeof(ft->sensor));
		PUTS(e, ",\"field\":");
		put_str(e, "field", ft->field, sizeof(ft->field));
		PUTS(e, ",\"count\":");
		put_u64(e, ft->count);
		PUTS(e, ",\"mean\":");
		put_dbl(e, "mean", ft->mean);
		PUTS(e, ",\"std\":");
		put_dbl(e, "std", ft->std);
		PUTS(e, ",\"min\":");
		put_dbl(e, "min", ft->min);
		PUTS(e, ",\"max\":");
		put_dbl(e, "max", ft->max);
		PUTS(e, "}");
	}
	PUTS(e, "]}");
}

static void enc_dead(struct jenc *e, const struct sc_deadletter *d)
{
	PUTS(e, "{\"reason\":");
	put_str(e, "reason", d->reason, sizeof(d->reason));
	PUTS(e, ",\"origin\":");
	put_str(e, "origin", d->origin, sizeof(d->origin));
	PUTS(e, ",\"stage\":");
	put_str(e, "stage", d->stage, sizeof(d->stage));
	PUTS(e, ",\"payload\":");
	put_base64(e, d->payload, d->len);
	PUTS(e, "}");
}

int codec_json_encode(const struct sc_record *r, struct sc_buf *out, struct sc_error *err)
{
	struct jenc e = {.b = out, .err = err, .rc = 0};
	const char *kind = r->kind != SC_KIND_NONE ? sc_kind_name(r->kind) : NULL;

	out->len = 0;
	if (!kind)
		return sc_error_set(err, SC_EINVAL, "json: cannot encode record of kind %d",
				    (int)r->kind);
	PUTS(&e, "{\"v\":1,\"kind\":\"");
	put(&e, kind, strlen(kind));
	PUTS(&e, "\",\"source\":");
	put_str(&e, "source", r->env.source, sizeof(r->env.source));
	PUTS(&e, ",\"key\":");
	put_str(&e, "key", r->env.key, sizeof(r->env.key));
	PUTS(&e, ",\"seq\":");
	put_u64(&e, r->env.seq);
	PUTS(&e, ",\"event_ns\":");
	put_i64(&e, r->env.event_ns);
	PUTS(&e, ",\"intended_ns\":");
	put_i64(&e, r->env.intended_ns);
	PUTS(&e, ",\"sent_ns\":");
	put_i64(&e, r->env.sent_ns);
	PUTS(&e, ",\"processed_ns\":");
	put_i64(&e, r->env.processed_ns);
	PUTS(&e, ",\"body\":");
	switch (r->kind) {
	case SC_KIND_CPU: enc_cpu(&e, &r->u.cpu); break;
	case SC_KIND_SENSOR: enc_sensor(&e, &r->u.sensor); break;
	case SC_KIND_CPU_STATS: enc_cpu_stats(&e, &r->u.cpu_stats); break;
	case SC_KIND_SENSOR_FEATURES: enc_features(&e, &r->u.features); break;
	default: enc_dead(&e, &r->u.dead); break;
	}
	PUTS(&e, "}");
	if (e.rc)
		out->len = 0;
	return e.rc;
}

/* ---- decode helpers ------------------------------------------------------ */

/*
 * Each helper checks one value v (NULL when the field is absent) and stores
 * it; on failure err names the field at path p.
 */
static int j_missing(const struct codec_path *p, const char *field, struct sc_error *err)
{
	return codec_field_error(err, p, field, "missing");
}

static int j_str(json_t *v, const struct codec_path *p, const char *field, char *dst, size_t size,
		 struct sc_error *err)
{
	size_t n;

	if (!v)
		return j_missing(p, field, err);
	if (!json_is_string(v))
		return codec_field_error(err, p, field, "expected string");
	n = json_string_length(v);
	if (n >= size)
		return codec_field_error(err, p, field, "string longer than %zu bytes", size - 1);
	memcpy(dst, json_string_value(v), n);
	dst[n] = '\0';
	return 0;
}

static int j_i64(json_t *v, const struct codec_path *p, const char *field, int64_t *dst,
		 struct sc_error *err)
{
	if (!v)
		return j_missing(p, field, err);
	if (!json_is_integer(v))
		return codec_field_error(err, p, field, "expected integer");
	*dst = (int64_t)json_integer_value(v);
	return 0;
}

static int j_u64(json_t *v, const struct codec_path *p, const char *field, uint64_t max,
		 uint64_t *dst, struct sc_error *err)
{
	json_int_t i;

	if (!v)
		return j_missing(p, field, err);
	if (!json_is_integer(v) || (i = json_integer_value(v)) < 0)
		return codec_field_error(err, p, field, "expected unsigned integer");
	if ((uint64_t)i > max)
		return codec_field_error(err, p, field, "%lld out of range (max %llu)",
					 (long long)i, (unsigned long long)max);
	*dst = (uint64_t)i;
	return 0;
}

static int j_u32(json_t *v, const struct codec_path *p, const char *field, uint32_t *dst,
		 struct sc_error *err)
{
	uint64_t u = 0;
	int rc = j_u64(v, p, field, UINT32_MAX, &u, err);

	*dst = (uint32_t)u;
	return rc;
}

static int j_dbl(json_t *v, const struct codec_path *p, const char *field, double *dst,
		 struct sc_error *err)
{
	if (!v)
		return j_missing(p, field, err);
	if (!json_is_number(v))
		return codec_field_error(err, p, field, "expected number");
	*dst = json_number_value(v);
	if (!isfinite(*dst))
		return codec_field_error(err, p, field, "non-finite number");
	return 0;
}

static int j_bool(json_t *v, const struct codec_path *p, const char *field, bool *dst,
		  struct sc_error *err)
{
	if (!v)
		return j_missing(p, field, err);
	if (!json_is_boolean(v))
		return codec_field_error(err, p, field, "expected boolean");
	*dst = json_is_true(v);
	return 0;
}

static json_t *j_get(json_t *o, const char *key)
{
	return json_object_get(o, key);
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64 (padded) into d->payload, growing it. */
static int j_base64(json_t *v, const struct codec_path *p, const char *field,
		    struct sc_deadletter *d, struct sc_error *err)
{
	const unsigned char *s;
	size_t n, out = 0, pad = 0;

	if (!v)
		return j_missing(p, field, err);
	if (!json_is_string(v))
		return codec_field_error(err, p, field, "expected base64 string");
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	if (n % 4)
		return codec_field_error(err, p, field, "invalid base64 (length %zu)", n);
	if (n && s[n - 1] == '=')
		pad = (n >= 2 && s[n - 2] == '=') ? 2 : 1;
	if (n / 4 * 3 > d->cap) {
		unsigned char *np = realloc(d->payload, n / 4 * 3);
		if (!np)
			return sc_error_set(err, SC_ENOMEM, "json: out of memory");
		d->payload = np;
		d->cap = n / 4 * 3;
	}
	for (size_t i = 0; i < n; i += 4) {
		int q[4];
		bool last = i + 4 == n;
		for (int k = 0; k < 4; k++) {
			q[k] = b64_value(s[i + k]);
			if (q[k] < 0 && !(last && s[i + k] == '=' && k >= 4 - (int)pad))
				return codec_field_error(err, p, field,
							 "invalid base64 at offset %zu",
							 i + (size_t)k);
			if (q[k] < 0)
				q[k] = 0;
		}
		uint32_t w = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 | (uint32_t)q[2] << 6 |
			     (uint32_t)q[3];
		d->payload[out++] = (unsigned char)(w >> 16);
		if (!last || pad < 2)
			d->payload[out++] = (unsigned char)(w >> 8);
		if (!last || pad < 1)
			d->payload[out++] = (unsigned char)w;
	}
	d->len = out;
	return 0;
}

/* ---- decode bodies --------------------------------------------------------- */

static int dec_reading(json_t *o, const struct codec_path *p, struct sc_sensor_reading *rd,
		       struct sc_error *err)
{
	struct codec_path vp = *p;
	json_t *values, *v;
	const char *name;
	int rc;

	if (!json_is_object(o))
		return codec_field_error(err, p, NULL, "expected object");
	if ((rc = j_str(j_get(o, "name"), p, "name", rd->name, sizeof(rd->name), err)) ||
	    (rc = j_i64(j_get(o, "time"), p, "time", &rd->time_ns, err)))
		return rc;
	values = j_get(o, "values");
	if (!values)
		return j_missing(p, "values", err);
	if (!json_is_object(values))
		return codec_field_error(err, p, "values", "expected object");
	if (json_object_size(values) > SC_SENSOR_MAX_VALUES)
		return codec_field_error(err, p, "values", "more than %d values",
					 SC_SENSOR_MAX_VALUES);
	vp.sub = "values";
	json_object_foreach(values, name, v)
	{
		struct sc_sensor_value *sv = &rd->values[rd->nvalues];
		size_t n = strlen(name);
		if (n >= SC_NAME_MAX)
			return codec_field_error(err, p, "values",
						 "value name longer than %d bytes",
						 SC_NAME_MAX - 1);
		if ((rc = j_dbl(v, &vp, name, &sv->v, err)))
			return rc;
		memcpy(sv->name, name, n + 1);
		rd->nvalues++;
	}
	v = j_get(o, "accuracy");
	if (v) {
		int64_t acc = 0;
		if ((rc = j_i64(v, p, "accuracy", &acc, err)))
			return rc;
		if (acc < INT32_MIN || acc > INT32_MAX)
			return codec_field_error(err, p, "accuracy", "out of range");
		rd->has_accuracy = true;
		rd->accuracy = (int32_t)acc;
	}
	return 0;
}

/* The Sensor Logger push body, shared by the envelope decoder and the bare parser. */
static int dec_sensor(json_t *o, const char *codec, const char *base, struct sc_sensor_batch *b,
		      struct sc_error *err)
{
	struct codec_path p = {.codec = codec, .base = base};
	json_t *payload;
	size_t n;
	int rc;

	if ((rc = j_i64(j_get(o, "messageId"), &p, "messageId", &b->message_id, err)) ||
	    (rc = j_str(j_get(o, "sessionId"), &p, "sessionId", b->session_id,
			sizeof(b->session_id), err)) ||
	    (rc = j_str(j_get(o, "deviceId"), &p, "deviceId", b->device_id, sizeof(b->device_id),
			err)))
		return rc;
	payload = j_get(o, "payload");
	if (!payload)
		return j_missing(&p, "payload", err);
	if (!json_is_array(payload))
		return codec_field_error(err, &p, "payload", "expected array");
	n = json_array_size(payload);
	if (n > SC_SENSOR_MAX_READINGS)
		return codec_field_error(err, &p, "payload", "more than %d readings",
					 SC_SENSOR_MAX_READINGS);
	p.arr = "payload";
	for (size_t i = 0; i < n; i++) {
		struct sc_sensor_reading *rd = sc_batch_add(b);
		if (!rd)
			return sc_error_set(err, SC_ENOMEM, "%sout of memory", codec);
		p.idx = (long)i;
		if ((rc = dec_reading(json_array_get(payload, i), &p, rd, err)))
			return rc;
	}
	return 0;
}

static int dec_cpu(json_t *o, struct sc_cpu_sample *c, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	json_t *cores;
	int rc;

	if ((rc = j_u32(j_get(o, "ncores"), &p, "ncores", &c->ncores, err)))
		return rc;
	if (c->ncores == 0 || c->ncores > SC_CPU_MAX_CORES)
		return codec_field_error(err, &p, "ncores", "%u out of range 1..%d", c->ncores,
					 SC_CPU_MAX_CORES);
	if ((rc = j_dbl(j_get(o, "total"), &p, "total", &c->total, err)))
		return rc;
	cores = j_get(o, "cores");
	if (!cores)
		return j_missing(&p, "cores", err);
	if (!json_is_array(cores))
		return codec_field_error(err, &p, "cores", "expected array");
	if (json_array_size(cores) != c->ncores)
		return codec_field_error(err, &p, "cores", "%zu entries but ncores is %u",
					 json_array_size(cores), c->ncores);
	p.arr = "cores";
	for (uint32_t i = 0; i < c->ncores; i++) {
		p.idx = (long)i;
		if ((rc = j_dbl(json_array_get(cores, i), &p, NULL, &c->cores[i], err)))
			return rc;
	}
	return 0;
}

static int dec_cpu_stats(json_t *o, struct sc_cpu_stats *s, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	int rc;

	if ((rc = j_u32(j_get(o, "ncores"), &p, "ncores", &s->ncores, err)) ||
	    (rc = j_dbl(j_get(o, "total"), &p, "total", &s->total, err)) ||
	    (rc = j_dbl(j_get(o, "mean_cores"), &p, "mean_cores", &s->mean_cores, err)) ||
	    (rc = j_dbl(j_get(o, "rolling_mean"), &p, "rolling_mean", &s->rolling_mean, err)) ||
	    (rc = j_dbl(j_get(o, "rolling_std"), &p, "rolling_std", &s->rolling_std, err)) ||
	    (rc = j_dbl(j_get(o, "zscore"), &p, "zscore", &s->zscore, err)) ||
	    (rc = j_bool(j_get(o, "anomaly"), &p, "anomaly", &s->anomaly, err)) ||
	    (rc = j_u32(j_get(o, "window"), &p, "window", &s->window, err)))
		return rc;
	return 0;
}

static int dec_feature(json_t *o, const struct codec_path *p, struct sc_feature *ft,
		       struct sc_error *err)
{
	int rc;

	if (!json_is_object(o))
		return codec_field_error(err, p, NULL, "expected object");
	if ((rc = j_str(j_get(o, "sensor"), p, "sensor", ft->sensor, sizeof(ft->sensor), err)) ||
	    (rc = j_str(j_get(o, "field"), p, "field", ft->field, sizeof(ft->field), err)) ||
	    (rc = j_u32(j_get(o, "count"), p, "count", &ft->count, err)) ||
	    (rc = j_dbl(j_get(o, "mean"), p, "mean", &ft->mean, err)) ||
	    (rc = j_dbl(j_get(o, "std"), p, "std", &ft->std, err)) ||
	    (rc = j_dbl(j_get(o, "min"), p, "min", &ft->min, err)) ||
	    (rc = j_dbl(j_get(o, "max"), p, "max", &ft->max, err)))
		return rc;
	return 0;
}

static int dec_features(json_t *o, struct sc_sensor_features *f, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	json_t *arr;
	size_t n;
	int rc;

	if ((rc = j_i64(j_get(o, "messageId"), &p, "messageId", &f->message_id, err)) ||
	    (rc = j_str(j_get(o, "sessionId"), &p, "sessionId", f->session_id,
			sizeof(f->session_id), err)) ||
	    (rc = j_str(j_get(o, "deviceId"), &p, "deviceId", f->device_id, sizeof(f->device_id),
			err)) ||
	    (rc = j_i64(j_get(o, "window_start_ns"), &p, "window_start_ns", &f->window_start_ns,
			err)) ||
	    (rc = j_i64(j_get(o, "window_end_ns"), &p, "window_end_ns", &f->window_end_ns, err)) ||
	    (rc = j_u32(j_get(o, "nreadings"), &p, "nreadings", &f->nreadings, err)) ||
	    (rc = j_str(j_get(o, "activity"), &p, "activity", f->activity, sizeof(f->activity),
			err)) ||
	    (rc = j_dbl(j_get(o, "activity_score"), &p, "activity_score", &f->activity_score, err)))
		return rc;
	arr = j_get(o, "features");
	if (!arr)
		return j_missing(&p, "features", err);
	if (!json_is_array(arr))
		return codec_field_error(err, &p, "features", "expected array");
	n = json_array_size(arr);
	if (n > JSON_MAX_FEATURES)
		return codec_field_error(err, &p, "features", "more than %u features",
					 JSON_MAX_FEATURES);
	p.arr = "features";
	for (size_t i = 0; i < n; i++) {
		struct sc_feature *ft = sc_features_add(f);
		if (!ft)
			return sc_error_set(err, SC_ENOMEM, "json: out of memory");
		p.idx = (long)i;
		if ((rc = dec_feature(json_array_get(arr, i), &p, ft, err)))
			return rc;
	}
	return 0;
}

static int dec_dead(json_t *o, struct sc_deadletter *d, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	int rc;

	if ((rc = j_str(j_get(o, "reason"), &p, "reason", d->reason, sizeof(d->reason), err)) ||
	    (rc = j_str(j_get(o, "origin"), &p, "origin", d->origin, sizeof(d->origin), err)) ||
	    (rc = j_str(j_get(o, "stage"), &p, "stage", d->stage, sizeof(d->stage), err)) ||
	    (rc = j_base64(j_get(o, "payload"), &p, "payload", d, err)))
		return rc;
	return 0;
}

/* ---- envelope decode ------------------------------------------------------- */

/* jansson's parse error as one line: "<prefix>truncated input (...)" or "<prefix>malformed ..." */
static int j_parse_error(const json_error_t *je, const char *prefix, struct sc_error *err)
{
	if (json_error_code(je) == json_error_premature_end_of_input)
		return sc_error_set(err, SC_EINVAL, "%struncated input: %s at offset %d", prefix,
				    je->text, je->position);
	if (json_error_code(je) == json_error_end_of_input_expected)
		return sc_error_set(err, SC_EINVAL, "%strailing garbage at offset %d", prefix,
				    je->position);
	return sc_error_set(err, SC_EINVAL, "%smalformed json: %s at line %d column %d", prefix,
			    je->text, je->line, je->column);
}

static int dec_envelope(json_t *root, struct sc_record *r, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = ""};
	int64_t ver = 0;
	enum sc_kind kind;
	json_t *body, *v;
	int rc;

	if (!json_is_object(root))
		return sc_error_set(err, SC_EINVAL, "json: not an object");
	if ((rc = j_i64(j_get(root, "v"), &p, "v", &ver, err)))
		return rc;
	if (ver != 1)
		return codec_field_error(err, &p, "v", "unsupported version %lld", (long long)ver);
	v = j_get(root, "kind");
	if (!v)
		return j_missing(&p, "kind", err);
	if (!json_is_string(v))
		return codec_field_error(err, &p, "kind", "expected string");
	kind = sc_kind_from_name(json_string_value(v));
	if (kind == SC_KIND_NONE)
		return codec_field_error(err, &p, "kind", "unknown kind");
	sc_record_reset(r, kind);
	if ((rc = j_str(j_get(root, "source"), &p, "source", r->env.source, sizeof(r->env.source),
			err)) ||
	    (rc = j_str(j_get(root, "key"), &p, "key", r->env.key, sizeof(r->env.key), err)) ||
	    (rc = j_u64(j_get(root, "seq"), &p, "seq", UINT64_MAX, &r->env.seq, err)) ||
	    (rc = j_i64(j_get(root, "event_ns"), &p, "event_ns", &r->env.event_ns, err)) ||
	    (rc = j_i64(j_get(root, "intended_ns"), &p, "intended_ns", &r->env.intended_ns, err)) ||
	    (rc = j_i64(j_get(root, "sent_ns"), &p, "sent_ns", &r->env.sent_ns, err)) ||
	    (rc = j_i64(j_get(root, "processed_ns"), &p, "processed_ns", &r->env.processed_ns,
			err)))
		return rc;
	body = j_get(root, "body");
	if (!body)
		return j_missing(&p, "body", err);
	if (!json_is_object(body))
		return codec_field_error(err, &p, "body", "expected object");
	switch (kind) {
	case SC_KIND_CPU: return dec_cpu(body, &r->u.cpu, err);
	case SC_KIND_SENSOR: return dec_sensor(body, "json: ", "body.", &r->u.sensor, err);
	case SC_KIND_CPU_STATS: return dec_cpu_stats(body, &r->u.cpu_stats, err);
	case SC_KIND_SENSOR_FEATURES: return dec_features(body, &r->u.features, err);
	default: return dec_dead(body, &r->u.dead, err);
	}
}

int codec_json_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err)
{
	json_error_t je;
	json_t *root;
	int rc;

	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return j_parse_error(&je, "json: ", err);
	rc = dec_envelope(root, r, err);
	json_decref(root);
	return rc;
}

/* ---- Sensor Logger parse --------------------------------------------------- */

int codec_sensorlogger_parse(const void *data, size_t len, struct sc_sensor_batch *b,
			     struct sc_error *err)
{
	struct sc_sensor_reading *keep = b->readings;
	size_t cap = b->cap;
	json_error_t je;
	json_t *root;
	int rc;

	memset(b, 0, sizeof(*b));
	b->readings = keep;
	b->cap = cap;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return j_parse_error(&je, "", err);
	if (!json_is_object(root))
		rc = sc_error_set(err, SC_EINVAL, "body is not a json object");
	else
		rc = dec_sensor(root, "", "", b, err);
	json_decref(root);
	return rc;
}

/*
 * codec_json.c - the JSON codec (see codec.h for the wire shape).
 *
 * Encoding is hand-written: direct appends into the caller's sc_buf, strings
 * escaped per RFC 8259, doubles printed as the shortest decimal that reads
 * back to the same value (dtoa.h: Grisu3, printf fallback), integers as
 * integers.
 *
 * Decoding is hand-written too, in one pass over the input with the
 * json_scan.h tokenizer: no DOM, no allocation per field.  Each object of
 * the schema is scanned into slots by key (unknown keys skipped, duplicates
 * refused); nested arrays and objects (body, payload, values, cores,
 * features) are decoded in place as they come; when the object closes its
 * fields are checked in a fixed order and the first bad one is named in err.
 * Syntax errors anywhere (truncation, malformed json, trailing garbage)
 * take precedence over field errors, so a message that is not JSON is
 * reported as such whatever its fields hold.  A reading's "values"
 * keep their document order.  "seq" is exact over the whole uint64 range.
 *
 * Map:  encoder output - encoder bodies - decode helpers - object scanning -
 *       decode bodies - envelope decode - Sensor Logger parse
 */
#include "codec.h"
#include "codec_internal.h"
#include "dtoa.h"
#include "error.h"
#include "json_scan.h"
#include "record.h"

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

/* The scalar fields fs of the struct at base; open: they start the object
 * (the first key's comma becomes the '{'). */
static void enc_fields(struct jenc *e, const struct codec_fields *fs, const void *base, bool open)
{
	const unsigned char *b = base;

	for (unsigned int i = 0; i < fs->n; i++) {
		const struct codec_field *f = &fs->f[i];
		const void *m = b + f->off;
		unsigned char *o = jenc_room(e, sizeof(f->json));

		/* a fixed-size copy of the padded key, then the length it has */
		if (!o)
			return;
		memcpy(o, f->json, sizeof(f->json));
		if (open && i == 0)
			*o = '{';
		e->b->len += f->jlen;
		switch (f->type) {
		case CF_STR: put_str(e, f->name, m, f->size); break;
		case CF_I64: put_i64(e, *(const int64_t *)m); break;
		case CF_U64: put_u64(e, *(const uint64_t *)m); break;
		case CF_U32: put_u64(e, *(const uint32_t *)m); break;
		case CF_DBL: put_dbl(e, f->name, *(const double *)m); break;
		case CF_BOOL:
			if (*(const bool *)m)
				PUTS(e, "true");
			else
				PUTS(e, "false");
			break;
		}
	}
}

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
	enc_fields(e, &codec_sensor_fields, b, true);
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
	enc_fields(e, &codec_stats_fields, s, true);
	PUTS(e, "}");
}

static void enc_features(struct jenc *e, const struct sc_sensor_features *f)
{
	enc_fields(e, &codec_features_fields, f, true);
	PUTS(e, ",\"features\":[");
	for (size_t i = 0; i < f->n && !e->rc; i++) {
		if (i)
			PUTS(e, ",");
		enc_fields(e, &codec_feature_fields, &f->features[i], true);
		PUTS(e, "}");
	}
	PUTS(e, "]}");
}

static void enc_dead(struct jenc *e, const struct sc_deadletter *d)
{
	enc_fields(e, &codec_dead_fields, d, true);
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
	PUTS(&e, "\"");
	enc_fields(&e, &codec_env_fields, &r->env, false);
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
 * Each helper checks one scanned value v (type JT_NONE when the field is
 * absent) and stores it; on failure err names the field at path p.
 */
static int j_missing(const struct codec_path *p, const char *field, struct sc_error *err)
{
	return codec_field_error(err, p, field, "missing");
}

static inline int j_str(const struct jval *v, const struct codec_path *p, const char *field,
			char *dst, size_t size, struct sc_error *err)
{
	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (v->type != JT_STR)
		return codec_field_error(err, p, field, "expected string");
	if (js_str_copy(v, dst, size) >= size)
		return codec_field_error(err, p, field, "string longer than %zu bytes", size - 1);
	return 0;
}

static inline int j_i64(const struct jval *v, const struct codec_path *p, const char *field,
			int64_t *dst, struct sc_error *err)
{
	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (v->type != JT_INT)
		return codec_field_error(err, p, field, "expected integer");
	if (!v->neg && v->mag > (uint64_t)INT64_MAX)
		return codec_field_error(err, p, field, "integer out of range");
	*dst = !v->neg ? (int64_t)v->mag
		       : (v->mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v->mag);
	return 0;
}

static inline int j_u64(const struct jval *v, const struct codec_path *p, const char *field,
			uint64_t max, uint64_t *dst, struct sc_error *err)
{
	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (v->type != JT_INT || v->neg)
		return codec_field_error(err, p, field, "expected unsigned integer");
	if (v->mag > max)
		return codec_field_error(err, p, field, "%llu out of range (max %llu)",
					 (unsigned long long)v->mag, (unsigned long long)max);
	*dst = v->mag;
	return 0;
}

static inline int j_u32(const struct jval *v, const struct codec_path *p, const char *field,
			uint32_t *dst, struct sc_error *err)
{
	uint64_t u = 0;
	int rc = j_u64(v, p, field, UINT32_MAX, &u, err);

	*dst = (uint32_t)u;
	return rc;
}

/* A number as a double, or -1 when v is not a number. */
static int jv_double(const struct jval *v, double *dst)
{
	if (v->type == JT_REAL)
		*dst = v->d;
	else if (v->type == JT_INT)
		*dst = v->neg ? -(double)v->mag : (double)v->mag;
	else
		return -1;
	return 0;
}

static inline int j_dbl(const struct jval *v, const struct codec_path *p, const char *field,
			double *dst, struct sc_error *err)
{
	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (jv_double(v, dst))
		return codec_field_error(err, p, field, "expected number");
	if (!isfinite(*dst))
		return codec_field_error(err, p, field, "non-finite number");
	return 0;
}

static inline int j_bool(const struct jval *v, const struct codec_path *p, const char *field,
			 bool *dst, struct sc_error *err)
{
	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (v->type != JT_TRUE && v->type != JT_FALSE)
		return codec_field_error(err, p, field, "expected boolean");
	*dst = v->type == JT_TRUE;
	return 0;
}

/* The scalar fields fs of the struct at base from their slots, in table order. */
static int j_fields(const struct jval *sl, const struct codec_fields *fs, void *base,
		    const struct codec_path *p, struct sc_error *err)
{
	unsigned char *b = base;

	for (unsigned int i = 0; i < fs->n; i++) {
		const struct codec_field *f = &fs->f[i];
		const struct jval *v = &sl[f->slot];
		void *m = b + f->off;
		int rc = 0;

		switch (f->type) {
		case CF_STR: rc = j_str(v, p, f->name, m, f->size, err); break;
		case CF_I64: rc = j_i64(v, p, f->name, m, err); break;
		case CF_U64: rc = j_u64(v, p, f->name, UINT64_MAX, m, err); break;
		case CF_U32: rc = j_u32(v, p, f->name, m, err); break;
		case CF_DBL: rc = j_dbl(v, p, f->name, m, err); break;
		case CF_BOOL: rc = j_bool(v, p, f->name, m, err); break;
		}
		if (rc)
			return rc;
	}
	return 0;
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

/* Strict RFC 4648 base64 (padded) of s[0..n) into d->payload, growing it. */
static int b64_decode(const unsigned char *s, size_t n, const struct codec_path *p,
		      const char *field, struct sc_deadletter *d, struct sc_error *err)
{
	size_t out = 0, pad = 0;

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

static int j_base64(const struct jval *v, const struct codec_path *p, const char *field,
		    struct sc_deadletter *d, struct sc_error *err)
{
	char *tmp;
	size_t n;
	int rc;

	if (v->type == JT_NONE)
		return j_missing(p, field, err);
	if (v->type != JT_STR)
		return codec_field_error(err, p, field, "expected base64 string");
	if (!v->esc)
		return b64_decode((const unsigned char *)v->s, v->n, p, field, d, err);
	/* escaped (e.g. "\/"): decode the string first; rare, so allocate */
	if (!(tmp = malloc(v->n + 1)))
		return sc_error_set(err, SC_ENOMEM, "json: out of memory");
	n = js_str_copy(v, tmp, v->n + 1);
	rc = b64_decode((const unsigned char *)tmp, n, p, field, d, err);
	free(tmp);
	return rc;
}

/* ---- object scanning --------------------------------------------------------- */

/*
 * A nested container (object or array) found at slot i, scanner on its
 * opener: decode it in place or js_skip it.  0 or a fatal error; a
 * semantic problem is kept in ctx for the owner to report in order.
 */
typedef int (*nested_fn)(struct jscan *s, int i, struct jval *v, void *ctx);

/*
 * One object of the schema, scanner on its '{': known keys' scalar values
 * go to slots[i] (which the caller zeroed), containers to fn (skipped when
 * fn is NULL), unknown keys are skipped, duplicates refused (a known key by
 * its slot, the others by the key set; the two cannot be equal, as keys are
 * matched on their decoded bytes).  0 when the
 * object closed, or a fatal error.
 */
static int scan_object(struct jscan *s, const struct codec_key *defs, int ndefs, struct jval *slots,
		       nested_fn fn, void *ctx)
{
	struct jkeyset ks;
	struct jkey k;
	bool first = true;
	int rc, i;

	if ((rc = js_open(s)))
		return rc;
	js_keyset_init(&ks);
	while ((rc = js_next_key(s, &first, &k)) == 1) {
		for (i = 0; i < ndefs; i++)
			if (js_key_is(&k, defs[i].name, defs[i].len))
				break;
		if (i == ndefs) {
			/* unknown keys go to the key set; a known key is a duplicate when its slot is taken */
			if ((rc = js_keyset_add(s, &ks, &k)) || (rc = js_skip(s)))
				break;
			continue;
		}
		if (slots[i].type != JT_NONE) {
			rc = js_malformed(s, (const unsigned char *)k.raw - 1,
					  "duplicate object key");
			break;
		}
		if ((rc = js_value(s, &slots[i])))
			break;
		if (slots[i].type == JT_OBJ || slots[i].type == JT_ARR) {
			if ((rc = fn ? fn(s, i, &slots[i], ctx) : js_skip(s)))
				break;
		}
	}
	js_keyset_free(&ks);
	return rc;
}

static int nomem(struct jscan *s)
{
	s->fatal = true;
	return sc_error_set(s->err, SC_ENOMEM, "%sout of memory", s->prefix);
}

/* ---- decode bodies --------------------------------------------------------- */

/* Reading: name, time, values{...}, accuracy? */

enum vbad { VBAD_NONE, VBAD_NAME, VBAD_NUMBER };

struct reading_ctx {
	struct sc_sensor_reading *rd;
	size_t count;  /* values seen (rd holds the first SC_SENSOR_MAX_VALUES) */
	enum vbad bad; /* first problem among the values */
	uint32_t badidx;
};

/* The "values" object, in place: names and numbers into rd->values. */
static int dec_values(struct jscan *s, int i, struct jval *v, void *vctx)
{
	struct reading_ctx *c = vctx;
	struct jkeyset ks;
	struct jkey k;
	struct jval x;
	bool first = true;
	int rc;

	if (i != R_VALUES || v->type != JT_OBJ)
		return js_skip(s);
	if ((rc = js_open(s)))
		return rc;
	js_keyset_init(&ks);
	while ((rc = js_next_key(s, &first, &k)) == 1) {
		size_t idx = c->count++;
		struct sc_sensor_value *sv = &c->rd->values[idx < SC_SENSOR_MAX_VALUES ? idx : 0];
		if ((rc = js_keyset_add(s, &ks, &k)))
			break;
		if (idx >= SC_SENSOR_MAX_VALUES || c->bad) {
			if ((rc = js_skip(s)))
				break;
			continue;
		}
		if (k.long_esc || k.n >= SC_NAME_MAX) {
			c->bad = VBAD_NAME;
			if ((rc = js_skip(s)))
				break;
			continue;
		}
		memcpy(sv->name, k.s, k.n);
		sv->name[k.n] = '\0';
		if ((rc = js_value(s, &x)))
			break;
		if (x.type == JT_OBJ || x.type == JT_ARR) {
			if ((rc = js_skip(s)))
				break;
		}
		if (jv_double(&x, &sv->v) || !isfinite(sv->v)) {
			c->bad = VBAD_NUMBER;
			c->badidx = (uint32_t)idx;
			continue;
		}
		c->rd->nvalues = (uint32_t)idx + 1;
	}
	js_keyset_free(&ks);
	return rc;
}

/* One payload element (an object, scanner on it); semantic problems into err. */
static int dec_reading(struct jscan *s, const struct codec_path *p, struct sc_sensor_reading *rd,
		       struct sc_error *err)
{
	struct jval sl[R__N];
	struct reading_ctx c = {.rd = rd};
	struct codec_path vp = *p;
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_reading_keys, R__N, sl, dec_values, &c)))
		return rc;
	if ((rc = j_str(&sl[R_NAME], p, "name", rd->name, sizeof(rd->name), err)) ||
	    (rc = j_i64(&sl[R_TIME], p, "time", &rd->time_ns, err)))
		return rc;
	if (sl[R_VALUES].type == JT_NONE)
		return j_missing(p, "values", err);
	if (sl[R_VALUES].type != JT_OBJ)
		return codec_field_error(err, p, "values", "expected object");
	if (c.count > SC_SENSOR_MAX_VALUES)
		return codec_field_error(err, p, "values", "more than %d values",
					 SC_SENSOR_MAX_VALUES);
	if (c.bad == VBAD_NAME)
		return codec_field_error(err, p, "values", "value name longer than %d bytes",
					 SC_NAME_MAX - 1);
	vp.sub = "values";
	if (c.bad == VBAD_NUMBER)
		return codec_field_error(err, &vp, rd->values[c.badidx].name, "expected number");
	if (sl[R_ACCURACY].type != JT_NONE) {
		int64_t acc = 0;
		if ((rc = j_i64(&sl[R_ACCURACY], p, "accuracy", &acc, err)))
			return rc;
		if (acc < INT32_MIN || acc > INT32_MAX)
			return codec_field_error(err, p, "accuracy", "out of range");
		rd->has_accuracy = true;
		rd->accuracy = (int32_t)acc;
	}
	return 0;
}

/* Sensor push body: messageId, sessionId, deviceId, payload[...] */

static int dec_feature(struct jscan *s, const struct codec_path *p, struct sc_feature *ft,
		       struct sc_error *err);

/*
 * payload[...] or features[...]: an array of objects decoded in place, one
 * record element each, counting; the first semantic problem (in element
 * order) is kept in first/first_rc.
 */
struct list_ctx {
	void *body;    /* struct sc_sensor_batch or struct sc_sensor_features */
	bool readings; /* which of the two */
	int slot;      /* the key holding the list */
	size_t max;    /* elements beyond it are only counted */
	struct codec_path p;
	size_t count;
	int first_rc;
	struct sc_error first;
};

static int dec_list(struct jscan *s, int i, struct jval *v, void *vctx)
{
	struct list_ctx *c = vctx;
	struct codec_path p = c->p;
	struct sc_error el;
	struct jval x;
	bool first = true;
	int rc;

	if (i != c->slot || v->type != JT_ARR)
		return js_skip(s);
	if ((rc = js_open(s)))
		return rc;
	while ((rc = js_next_elem(s, &first)) == 1) {
		size_t idx = c->count++;
		if (c->first_rc || idx >= c->max) {
			if ((rc = js_skip(s)))
				return rc;
			continue;
		}
		p.idx = (long)idx;
		if ((rc = js_value(s, &x)))
			return rc;
		if (x.type != JT_OBJ) {
			c->first_rc = codec_field_error(&c->first, &p, NULL, "expected object");
			if (x.type == JT_ARR && (rc = js_skip(s)))
				return rc;
			continue;
		}
		if (c->readings) {
			struct sc_sensor_reading *rd = sc_batch_add(c->body);
			rc = rd ? dec_reading(s, &p, rd, &el) : nomem(s);
		} else {
			struct sc_feature *ft = sc_features_add(c->body);
			rc = ft ? dec_feature(s, &p, ft, &el) : nomem(s);
		}
		if (rc) {
			if (s->fatal)
				return rc;
			c->first_rc = rc;
			c->first = el;
		}
	}
	return rc;
}

static int dec_sensor(struct jscan *s, const char *codec, const char *base,
		      struct sc_sensor_batch *b, struct sc_error *err)
{
	struct jval sl[S__N];
	struct list_ctx c = {.body = b,
			     .readings = true,
			     .slot = S_PAYLOAD,
			     .max = SC_SENSOR_MAX_READINGS,
			     .p = {.codec = codec, .base = base, .arr = "payload"}};
	struct codec_path p = {.codec = codec, .base = base};
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_sensor_keys, S__N, sl, dec_list, &c)))
		return rc;
	if ((rc = j_fields(sl, &codec_sensor_fields, b, &p, err)))
		return rc;
	if (sl[S_PAYLOAD].type == JT_NONE)
		return j_missing(&p, "payload", err);
	if (sl[S_PAYLOAD].type != JT_ARR)
		return codec_field_error(err, &p, "payload", "expected array");
	if (c.count > SC_SENSOR_MAX_READINGS)
		return codec_field_error(err, &p, "payload", "more than %d readings",
					 SC_SENSOR_MAX_READINGS);
	if (c.first_rc && err)
		*err = c.first;
	return c.first_rc;
}

/* Cpu sample: ncores, total, cores[...] */

struct cpu_ctx {
	struct sc_cpu_sample *c;
	size_t count;
	long bad; /* first element that is not a number, or -1 */
};

static int dec_cores(struct jscan *s, int i, struct jval *v, void *vctx)
{
	struct cpu_ctx *c = vctx;
	struct jval x;
	bool first = true;
	double d = 0;
	int rc;

	if (i != C_CORES || v->type != JT_ARR)
		return js_skip(s);
	if ((rc = js_open(s)))
		return rc;
	while ((rc = js_next_elem(s, &first)) == 1) {
		size_t idx = c->count++;
		if ((rc = js_value(s, &x)))
			return rc;
		if ((x.type == JT_OBJ || x.type == JT_ARR) && (rc = js_skip(s)))
			return rc;
		if (jv_double(&x, &d) || !isfinite(d)) {
			if (c->bad < 0)
				c->bad = (long)idx;
			continue;
		}
		if (idx < SC_CPU_MAX_CORES)
			c->c->cores[idx] = d;
	}
	return rc;
}

static int dec_cpu(struct jscan *s, struct sc_cpu_sample *cs, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	struct jval sl[C__N];
	struct cpu_ctx c = {.c = cs, .bad = -1};
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_cpu_keys, C__N, sl, dec_cores, &c)))
		return rc;
	if ((rc = j_u32(&sl[C_NCORES], &p, "ncores", &cs->ncores, err)))
		return rc;
	if (cs->ncores == 0 || cs->ncores > SC_CPU_MAX_CORES)
		return codec_field_error(err, &p, "ncores", "%u out of range 1..%d", cs->ncores,
					 SC_CPU_MAX_CORES);
	if ((rc = j_dbl(&sl[C_TOTAL], &p, "total", &cs->total, err)))
		return rc;
	if (sl[C_CORES].type == JT_NONE)
		return j_missing(&p, "cores", err);
	if (sl[C_CORES].type != JT_ARR)
		return codec_field_error(err, &p, "cores", "expected array");
	if (c.count != cs->ncores)
		return codec_field_error(err, &p, "cores", "%zu entries but ncores is %u", c.count,
					 cs->ncores);
	p.arr = "cores";
	p.idx = c.bad;
	if (c.bad >= 0)
		return codec_field_error(err, &p, NULL, "expected number");
	return 0;
}

/* Cpu stats: scalars only. */

static int dec_cpu_stats(struct jscan *s, struct sc_cpu_stats *st, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	struct jval sl[T__N];
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_stats_keys, T__N, sl, NULL, NULL)))
		return rc;
	return j_fields(sl, &codec_stats_fields, st, &p, err);
}

/* One feature: scalars only. */

static int dec_feature(struct jscan *s, const struct codec_path *p, struct sc_feature *ft,
		       struct sc_error *err)
{
	struct jval sl[F__N];
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_feature_keys, F__N, sl, NULL, NULL)))
		return rc;
	return j_fields(sl, &codec_feature_fields, ft, p, err);
}

/* Sensor features: scalars and features[...] */

static int dec_features(struct jscan *s, struct sc_sensor_features *f, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	struct jval sl[X__N];
	struct list_ctx c = {.body = f,
			     .slot = X_FEATURES,
			     .max = JSON_MAX_FEATURES,
			     .p = {.codec = "json: ", .base = "body.", .arr = "features"}};
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_features_keys, X__N, sl, dec_list, &c)))
		return rc;
	if ((rc = j_fields(sl, &codec_features_fields, f, &p, err)))
		return rc;
	if (sl[X_FEATURES].type == JT_NONE)
		return j_missing(&p, "features", err);
	if (sl[X_FEATURES].type != JT_ARR)
		return codec_field_error(err, &p, "features", "expected array");
	if (c.count > JSON_MAX_FEATURES)
		return codec_field_error(err, &p, "features", "more than %u features",
					 JSON_MAX_FEATURES);
	if (c.first_rc && err)
		*err = c.first;
	return c.first_rc;
}

/* Dead letter: scalars only. */

static int dec_dead(struct jscan *s, struct sc_deadletter *d, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = "body."};
	struct jval sl[D__N];
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_dead_keys, D__N, sl, NULL, NULL)))
		return rc;
	if ((rc = j_fields(sl, &codec_dead_fields, d, &p, err)) ||
	    (rc = j_base64(&sl[D_PAYLOAD], &p, "payload", d, err)))
		return rc;
	return 0;
}

/* ---- envelope decode ------------------------------------------------------- */

/* A body of kind k, scanner on its '{'. */
static int dec_body(struct jscan *s, enum sc_kind k, struct sc_record *r, struct sc_error *err)
{
	switch (k) {
	case SC_KIND_CPU: return dec_cpu(s, &r->u.cpu, err);
	case SC_KIND_SENSOR: return dec_sensor(s, "json: ", "body.", &r->u.sensor, err);
	case SC_KIND_CPU_STATS: return dec_cpu_stats(s, &r->u.cpu_stats, err);
	case SC_KIND_SENSOR_FEATURES: return dec_features(s, &r->u.features, err);
	default: return dec_dead(s, &r->u.dead, err);
	}
}

/* The kind named by v, or SC_KIND_NONE. */
static enum sc_kind jv_kind(const struct jval *v)
{
	char name[32];

	if (v->type != JT_STR || js_str_copy(v, name, sizeof(name)) >= sizeof(name))
		return SC_KIND_NONE;
	return sc_kind_from_name(name);
}

struct env_ctx {
	struct sc_record *r;
	struct jval *sl;
	enum sc_kind kind; /* the body was decoded as this kind, or NONE: decode it later */
	int body_rc;
	struct sc_error body_err;
};

/*
 * The body is decoded where it stands when "kind" came before it (as the
 * encoder writes it); otherwise it is only validated now and decoded again
 * once the whole envelope is known.
 */
static int dec_body_here(struct jscan *s, int i, struct jval *v, void *vctx)
{
	struct env_ctx *c = vctx;
	enum sc_kind k;

	if (i != E_BODY || v->type != JT_OBJ || (k = jv_kind(&c->sl[E_KIND])) == SC_KIND_NONE)
		return js_skip(s);
	sc_record_reset(c->r, k);
	c->kind = k;
	c->body_rc = dec_body(s, k, c->r, &c->body_err);
	return s->fatal ? c->body_rc : 0;
}

static int dec_envelope(struct jscan *s, struct sc_record *r, struct sc_error *err)
{
	struct codec_path p = {.codec = "json: ", .base = ""};
	struct jval sl[E__N];
	struct env_ctx c = {.r = r, .sl = sl};
	int64_t ver = 0;
	enum sc_kind kind;
	int rc;

	memset(sl, 0, sizeof(sl));
	if ((rc = scan_object(s, codec_env_keys, E__N, sl, dec_body_here, &c)))
		return rc;
	if ((rc = j_i64(&sl[E_V], &p, "v", &ver, err)))
		return rc;
	if (ver != 1)
		return codec_field_error(err, &p, "v", "unsupported version %lld", (long long)ver);
	if (sl[E_KIND].type == JT_NONE)
		return j_missing(&p, "kind", err);
	if (sl[E_KIND].type != JT_STR)
		return codec_field_error(err, &p, "kind", "expected string");
	kind = jv_kind(&sl[E_KIND]);
	if (kind == SC_KIND_NONE)
		return codec_field_error(err, &p, "kind", "unknown kind");
	if (c.kind == SC_KIND_NONE)
		sc_record_reset(r, kind);
	else
		memset(&r->env, 0, sizeof(r->env));
	if ((rc = j_fields(sl, &codec_env_fields, &r->env, &p, err)))
		return rc;
	if (sl[E_BODY].type == JT_NONE)
		return j_missing(&p, "body", err);
	if (sl[E_BODY].type != JT_OBJ)
		return codec_field_error(err, &p, "body", "expected object");
	if (c.kind == SC_KIND_NONE) {
		/* "body" came before "kind": decode it again, it is known to be valid json */
		struct jscan again = *s;
		again.p = sl[E_BODY].at;
		again.depth = 1;
		return dec_body(&again, kind, r, err);
	}
	if (c.body_rc && err)
		*err = c.body_err;
	return c.body_rc;
}

/* Top-level value: an object decoded by fn, or any other json refused as not_object. */
static int dec_top(struct jscan *s, const char *not_object, struct sc_error *err,
		   int (*fn)(struct jscan *s, void *arg, struct sc_error *err), void *arg)
{
	int c = js_peek(s), rc;

	if (c < 0)
		return js_truncated(s, "no json value");
	if (c != '{' && c != '[')
		return js_malformed(s, s->p, "'[' or '{' expected");
	if (c == '[') {
		if ((rc = js_skip(s)))
			return rc;
	} else {
		rc = fn(s, arg, err);
		if (s->fatal)
			return rc;
	}
	if (js_peek(s) >= 0) {
		s->fatal = true;
		return sc_error_set(err, SC_EINVAL, "%strailing garbage at offset %zu", s->prefix,
				    (size_t)(s->p - s->start));
	}
	if (c == '[')
		return sc_error_set(err, SC_EINVAL, "%s", not_object);
	return rc;
}

static int top_envelope(struct jscan *s, void *arg, struct sc_error *err)
{
	return dec_envelope(s, arg, err);
}

int codec_json_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err)
{
	struct jscan s;

	js_init(&s, data, len, "json: ", err);
	return dec_top(&s, "json: not an object", err, top_envelope, r);
}

/* ---- Sensor Logger parse --------------------------------------------------- */

static int top_sensor(struct jscan *s, void *arg, struct sc_error *err)
{
	return dec_sensor(s, "", "", arg, err);
}

int codec_sensorlogger_parse(const void *data, size_t len, struct sc_sensor_batch *b,
			     struct sc_error *err)
{
	struct sc_sensor_reading *keep = b->readings;
	size_t cap = b->cap;
	struct jscan s;

	memset(b, 0, sizeof(*b));
	b->readings = keep;
	b->cap = cap;
	js_init(&s, data, len, "", err);
	return dec_top(&s, "body is not a json object", err, top_sensor, b);
}

/*
 * codec_msgpack.c - the MessagePack codec (see codec.h for the wire shape).
 *
 * Same maps, keys and key order as the JSON codec; doubles are float64,
 * integers use the smallest msgpack encoding, the dead-letter payload is bin.
 * Encoding goes through msgpack_packer with a write callback appending
 * straight into the caller's sc_buf.  Decoding reads the bytes once, in
 * place (see "scanner" below): no tree, no allocation, strings referenced in
 * the input until they are copied once into the record's fixed-size fields.
 *
 * Map:  encoder - scanner - field helpers - map scanning - decode bodies -
 *       envelope
 */
#include "codec.h"
#include "codec_internal.h"
#include "error.h"
#include "record.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define MP_MAX_FEATURES (1u << 20)

/* ---- encoder ---------------------------------------------------------------- */

struct menc {
	struct sc_buf *b;
	struct sc_error *err;
	msgpack_packer pk;
	int rc;
};

static int menc_write(void *data, const char *buf, size_t len)
{
	struct menc *e = data;

	if (e->rc)
		return -1;
	if (len == 0)
		return 0;
	if (sc_buf_append(e->b, buf, len)) {
		e->rc = sc_error_set(e->err, SC_ENOMEM, "msgpack: out of memory");
		return -1;
	}
	return 0;
}

static void m_key(struct menc *e, const char *k)
{
	msgpack_pack_str_with_body(&e->pk, k, strlen(k));
}

static void m_str(struct menc *e, const char *field, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (e->rc)
		return;
	if (!codec_utf8_valid(s, n)) {
		e->rc = sc_error_set(e->err, SC_EINVAL, "msgpack: field '%s': invalid utf-8",
				     field);
		return;
	}
	msgpack_pack_str_with_body(&e->pk, s, n);
}

static void m_dbl(struct menc *e, const char *field, double v)
{
	if (e->rc)
		return;
	if (!isfinite(v)) {
		e->rc = sc_error_set(e->err, SC_EINVAL,
				     "msgpack: field '%s': cannot encode non-finite number", field);
		return;
	}
	msgpack_pack_double(&e->pk, v);
}

/* The scalar fields fs of the struct at base, as key/value pairs. */
static void enc_fields(struct menc *e, const struct codec_fields *fs, const void *base)
{
	const unsigned char *b = base;

	for (unsigned int i = 0; i < fs->n; i++) {
		const struct codec_field *f = &fs->f[i];
		const void *m = b + f->off;

		msgpack_pack_str_with_body(&e->pk, f->name, f->nlen);
		switch (f->type) {
		case CF_STR: m_str(e, f->name, m, f->size); break;
		case CF_I64: msgpack_pack_int64(&e->pk, *(const int64_t *)m); break;
		case CF_U64: msgpack_pack_uint64(&e->pk, *(const uint64_t *)m); break;
		case CF_U32: msgpack_pack_uint32(&e->pk, *(const uint32_t *)m); break;
		case CF_DBL: m_dbl(e, f->name, *(const double *)m); break;
		case CF_BOOL:
			if (*(const bool *)m)
				msgpack_pack_true(&e->pk);
			else
				msgpack_pack_false(&e->pk);
			break;
		}
	}
}

static void enc_cpu(struct menc *e, const struct sc_cpu_sample *c)
{
	if (c->ncores == 0 || c->ncores > SC_CPU_MAX_CORES) {
		e->rc = sc_error_set(e->err, SC_EINVAL,
				     "msgpack: field 'ncores': %u out of range 1..%d", c->ncores,
				     SC_CPU_MAX_CORES);
		return;
	}
	msgpack_pack_map(&e->pk, 3);
	m_key(e, "ncores");
	msgpack_pack_uint32(&e->pk, c->ncores);
	m_key(e, "total");
	m_dbl(e, "total", c->total);
	m_key(e, "cores");
	msgpack_pack_array(&e->pk, c->ncores);
	for (uint32_t i = 0; i < c->ncores; i++)
		m_dbl(e, "cores", c->cores[i]);
}

static void enc_reading(struct menc *e, const struct sc_sensor_reading *rd)
{
	if (rd->nvalues > SC_SENSOR_MAX_VALUES) {
		e->rc = sc_error_set(e->err, SC_EINVAL,
				     "msgpack: reading '%s' has %u values (max %d)", rd->name,
				     rd->nvalues, SC_SENSOR_MAX_VALUES);
		return;
	}
	msgpack_pack_map(&e->pk, rd->has_accuracy ? 4 : 3);
	m_key(e, "name");
	m_str(e, "name", rd->name, sizeof(rd->name));
	m_key(e, "time");
	msgpack_pack_int64(&e->pk, rd->time_ns);
	m_key(e, "values");
	msgpack_pack_map(&e->pk, rd->nvalues);
	for (uint32_t j = 0; j < rd->nvalues; j++) {
		m_str(e, "values", rd->values[j].name, sizeof(rd->values[j].name));
		m_dbl(e, rd->values[j].name, rd->values[j].v);
	}
	if (rd->has_accuracy) {
		m_key(e, "accuracy");
		msgpack_pack_int32(&e->pk, rd->accuracy);
	}
}

static void enc_sensor(struct menc *e, const struct sc_sensor_batch *b)
{
	msgpack_pack_map(&e->pk, codec_sensor_fields.n + 1u);
	enc_fields(e, &codec_sensor_fields, b);
	m_key(e, "payload");
	msgpack_pack_array(&e->pk, b->n);
	for (size_t i = 0; i < b->n && !e->rc; i++)
		enc_reading(e, &b->readings[i]);
}

static void enc_cpu_stats(struct menc *e, const struct sc_cpu_stats *s)
{
	msgpack_pack_map(&e->pk, codec_stats_fields.n);
	enc_fields(e, &codec_stats_fields, s);
}

static void enc_features(struct menc *e, const struct sc_sensor_features *f)
{
	msgpack_pack_map(&e->pk, codec_features_fields.n + 1u);
	enc_fields(e, &codec_features_fields, f);
	m_key(e, "features");
	msgpack_pack_array(&e->pk, f->n);
	for (size_t i = 0; i < f->n && !e->rc; i++) {
		msgpack_pack_map(&e->pk, codec_feature_fields.n);
		enc_fields(e, &codec_feature_fields, &f->features[i]);
	}
}

static void enc_dead(struct menc *e, const struct sc_deadletter *d)
{
	msgpack_pack_map(&e->pk, codec_dead_fields.n + 1u);
	enc_fields(e, &codec_dead_fields, d);
	m_key(e, "payload");
	msgpack_pack_bin_with_body(&e->pk, d->payload, d->len);
}

int codec_msgpack_encode(const struct sc_record *r, struct sc_buf *out, struct sc_error *err)
{
	struct menc e = {.b = out, .err = err, .rc = 0};
	const char *kind = r->kind != SC_KIND_NONE ? sc_kind_name(r->kind) : NULL;

	out->len = 0;
	if (!kind)
		return sc_error_set(err, SC_EINVAL, "msgpack: cannot encode record of kind %d",
				    (int)r->kind);
	msgpack_packer_init(&e.pk, &e, menc_write);
	msgpack_pack_map(&e.pk, codec_env_fields.n + 3u); /* + v, kind, body */
	m_key(&e, "v");
	msgpack_pack_uint8(&e.pk, 1);
	m_key(&e, "kind");
	m_str(&e, "kind", kind, 32);
	enc_fields(&e, &codec_env_fields, &r->env);
	m_key(&e, "body");
	switch (r->kind) {
	case SC_KIND_CPU: enc_cpu(&e, &r->u.cpu); break;
	case SC_KIND_SENSOR: enc_sensor(&e, &r->u.sensor); break;
	case SC_KIND_CPU_STATS: enc_cpu_stats(&e, &r->u.cpu_stats); break;
	case SC_KIND_SENSOR_FEATURES: enc_features(&e, &r->u.features); break;
	default: enc_dead(&e, &r->u.dead); break;
	}
	if (e.rc)
		out->len = 0;
	return e.rc;
}

/* ---- scanner ----------------------------------------------------------------- */

/*
 * Decoding reads the bytes once, in place, with no tree and no allocation
 * (msgpack-c's unpacker built a msgpack_object tree in a zone first, which
 * cost more than the decode itself).  It mirrors the JSON decoder
 * (codec_json.c): a problem with the bytes themselves (truncated, a
 * never-used type byte, nesting deeper than MP_MAX_DEPTH, trailing bytes) is
 * fatal and ends the scan at once; a problem with a field is kept and
 * reported once the whole message was read, in field order, so the bytes
 * are always checked first and both codecs name the same field.
 */
#define MP_MAX_DEPTH 16 /* our deepest record nests 5 levels */

enum mtype {
	MT_NONE = 0,
	MT_NIL,
	MT_BOOL,
	MT_UINT,
	MT_NINT,
	MT_FLOAT,
	MT_STR,
	MT_BIN,
	MT_EXT,
	MT_ARR,
	MT_MAP
};

/* One value: a scalar read whole, a container's header (its items follow). */
struct mval {
	enum mtype type; /* MT_NONE: the field is absent */
	uint32_t n;	 /* MT_STR/MT_BIN: bytes; MT_ARR: items; MT_MAP: pairs */
	union {
		bool b;
		uint64_t u; /* MT_UINT */
		int64_t i;  /* MT_NINT (< 0) */
		double d;   /* MT_FLOAT (float32 widened) */
		const char *s;
	} v;
	const unsigned char *at; /* where the value starts */
};

struct mscan {
	const unsigned char *p, *end;
	size_t len; /* the whole input, for messages */
	int depth;  /* open non-empty containers */
	bool fatal;
	struct sc_error *err;
};

static int ms_fatal(struct mscan *s, int code, const char *why)
{
	s->fatal = true;
	return sc_error_set(s->err, code, "msgpack: %s", why);
}

static int ms_truncated(struct mscan *s)
{
	s->fatal = true;
	return sc_error_set(s->err, SC_EINVAL, "msgpack: truncated input (%zu bytes)", s->len);
}

/* The big-endian unsigned of n = 1, 2, 4 or 8 bytes at p. */
static inline uint64_t ms_be(const unsigned char *p, unsigned int n)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (n) {
	case 1: return p[0];
	case 2: memcpy(&v16, p, 2); return __builtin_bswap16(v16);
	case 4: memcpy(&v32, p, 4); return __builtin_bswap32(v32);
	default: memcpy(&v64, p, 8); return __builtin_bswap64(v64);
	}
}

/*
 * Read the value at s->p into v: a scalar entirely, a container's header
 * (with its count checked against the bytes left: every item takes at least
 * one).  0, or a fatal error.
 */
static int ms_value_any(struct mscan *s, struct mval *v)
{
	const unsigned char *p = s->p;
	size_t left = (size_t)(s->end - p), hdr = 1, body = 0;
	unsigned int c;
	uint64_t n = 0;

	if (left == 0)
		return ms_truncated(s);
	v->at = p;
	c = p[0];
	if (c <= 0x7f) {
		v->type = MT_UINT;
		v->v.u = c;
	} else if (c >= 0xe0) {
		v->type = MT_NINT;
		v->v.i = (int8_t)c;
	} else if (c >= 0xa0 && c <= 0xbf) {
		v->type = MT_STR;
		body = c & 0x1fu;
	} else if (c <= 0x8f) {
		v->type = MT_MAP;
		n = c & 0x0fu;
	} else if (c <= 0x9f) {
		v->type = MT_ARR;
		n = c & 0x0fu;
	} else {
		unsigned int w = 0; /* bytes of a length or count after the type byte */
		switch (c) {
		case 0xc0: v->type = MT_NIL; break;
		case 0xc2:
		case 0xc3:
			v->type = MT_BOOL;
			v->v.b = c == 0xc3;
			break;
		case 0xc4:
		case 0xc5:
		case 0xc6:
			v->type = MT_BIN;
			w = 1u << (c - 0xc4);
			break;
		case 0xc7:
		case 0xc8:
		case 0xc9:
			v->type = MT_EXT;
			w = 1u << (c - 0xc7);
			break;
		case 0xca: v->type = MT_FLOAT, hdr = 5; break;
		case 0xcb: v->type = MT_FLOAT, hdr = 9; break;
		case 0xcc:
		case 0xcd:
		case 0xce:
		case 0xcf: v->type = MT_UINT, hdr = 1 + (1u << (c - 0xcc)); break;
		case 0xd0:
		case 0xd1:
		case 0xd2:
		case 0xd3: v->type = MT_NINT, hdr = 1 + (1u << (c - 0xd0)); break;
		case 0xd4:
		case 0xd5:
		case 0xd6:
		case 0xd7:
		case 0xd8: v->type = MT_EXT, hdr = 2 + (1u << (c - 0xd4)); break;
		case 0xd9:
		case 0xda:
		case 0xdb:
			v->type = MT_STR;
			w = 1u << (c - 0xd9);
			break;
		case 0xdc:
		case 0xdd:
			v->type = MT_ARR;
			w = c == 0xdc ? 2 : 4;
			break;
		case 0xde:
		case 0xdf:
			v->type = MT_MAP;
			w = c == 0xde ? 2 : 4;
			break;
		default: return ms_fatal(s, SC_EINVAL, "malformed input"); /* 0xc1 */
		}
		if (w) {
			if (left < 1 + w)
				return ms_truncated(s);
			n = ms_be(p + 1, w);
			hdr = 1 + w;
			if (v->type == MT_EXT)
				body = n + 1, n = 0; /* the ext type byte, then the data */
			else if (v->type == MT_STR || v->type == MT_BIN)
				body = n, n = 0;
		}
		if (left < hdr)
			return ms_truncated(s);
		if (c >= 0xca && c <= 0xd3) {
			uint64_t x = ms_be(p + 1, (unsigned int)hdr - 1);
			if (c == 0xca) {
				float f;
				uint32_t x32 = (uint32_t)x;
				memcpy(&f, &x32, sizeof(f));
				v->v.d = f;
			} else if (c == 0xcb) {
				memcpy(&v->v.d, &x, sizeof(x));
			} else if (c <= 0xcf) {
				v->v.u = x;
			} else {
				unsigned int bits = 8u * ((unsigned int)hdr - 1);
				int64_t i = bits == 64 ? (int64_t)x
						       : (int64_t)(x ^ (1ull << (bits - 1))) -
								 (int64_t)(1ull << (bits - 1));
				if (i >= 0)
					v->type = MT_UINT, v->v.u = (uint64_t)i;
				else
					v->v.i = i;
			}
		}
	}
	left -= hdr;
	if (v->type == MT_STR || v->type == MT_BIN || v->type == MT_EXT) {
		if (body > left)
			return ms_truncated(s);
		v->n = (uint32_t)body;
		v->v.s = (const char *)p + hdr;
		s->p = p + hdr + body;
		return 0;
	}
	if (v->type == MT_MAP || v->type == MT_ARR) {
		if ((v->type == MT_MAP ? 2 * n : n) > left)
			return ms_truncated(s);
		v->n = (uint32_t)n;
	}
	s->p = p + hdr;
	return 0;
}

/* ms_value_any with the two commonest shapes (keys, doubles) inline. */
static inline int ms_value(struct mscan *s, struct mval *v)
{
	const unsigned char *p = s->p;
	size_t left = (size_t)(s->end - p);

	if (left >= 9 && p[0] == 0xcb) { /* float64: every double we write */
		uint64_t x = ms_be(p + 1, 8);
		v->type = MT_FLOAT;
		v->at = p;
		memcpy(&v->v.d, &x, sizeof(x));
		s->p = p + 9;
		return 0;
	}
	if (left && p[0] >= 0xa0 && p[0] <= 0xbf && left > (p[0] & 0x1fu)) { /* fixstr */
		v->type = MT_STR;
		v->at = p;
		v->n = p[0] & 0x1fu;
		v->v.s = (const char *)p + 1;
		s->p = p + 1 + v->n;
		return 0;
	}
	return ms_value_any(s, v);
}

/* Step into container v (its header read); a fatal error when too deep. */
static inline int ms_enter(struct mscan *s, const struct mval *v)
{
	if (v->n == 0)
		return 0;
	if (s->depth == MP_MAX_DEPTH) {
		s->fatal = true;
		return sc_error_set(s->err, SC_EINVAL, "msgpack: nesting deeper than %d levels",
				    MP_MAX_DEPTH);
	}
	s->depth++;
	return 0;
}

static inline void ms_leave(struct mscan *s, const struct mval *v)
{
	if (v->n)
		s->depth--;
}

static int ms_skip_items(struct mscan *s, const struct mval *v);

/* Skip what follows v's header when v is a container; 0 for scalars. */
static inline int ms_skip(struct mscan *s, const struct mval *v)
{
	return v->type == MT_ARR || v->type == MT_MAP ? ms_skip_items(s, v) : 0;
}

static int ms_skip_items(struct mscan *s, const struct mval *v)
{
	struct mval x;
	uint64_t n;
	int rc;

	if ((rc = ms_enter(s, v)))
		return rc;
	n = v->type == MT_MAP ? 2 * (uint64_t)v->n : v->n;
	for (uint64_t k = 0; k < n; k++)
		if ((rc = ms_value(s, &x)) || (rc = ms_skip(s, &x)))
			return rc;
	ms_leave(s, v);
	return 0;
}

static int ms_nomem(struct mscan *s)
{
	return ms_fatal(s, SC_ENOMEM, "out of memory");
}

/* ---- field helpers --------------------------------------------------------------- */

/* Each helper checks one value v (type MT_NONE when absent) and stores it. */
static int mp_missing(const struct codec_path *p, const char *field, struct sc_error *err)
{
	return codec_field_error(err, p, field, "missing");
}

static inline int mp_str(const struct mval *v, const struct codec_path *p, const char *field,
			 char *dst, size_t size, struct sc_error *err)
{
	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if (v->type != MT_STR)
		return codec_field_error(err, p, field, "expected string");
	if (v->n >= size)
		return codec_field_error(err, p, field, "string longer than %zu bytes", size - 1);
	if (!codec_utf8_valid(v->v.s, v->n))
		return codec_field_error(err, p, field, "invalid utf-8 or nul byte in string");
	memcpy(dst, v->v.s, v->n);
	dst[v->n] = '\0';
	return 0;
}

static inline int mp_i64(const struct mval *v, const struct codec_path *p, const char *field,
			 int64_t *dst, struct sc_error *err)
{
	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if (v->type == MT_NINT) {
		*dst = v->v.i;
		return 0;
	}
	if (v->type != MT_UINT)
		return codec_field_error(err, p, field, "expected integer");
	if (v->v.u > INT64_MAX)
		return codec_field_error(err, p, field, "integer out of range");
	*dst = (int64_t)v->v.u;
	return 0;
}

static inline int mp_u64(const struct mval *v, const struct codec_path *p, const char *field,
			 uint64_t max, uint64_t *dst, struct sc_error *err)
{
	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if (v->type != MT_UINT)
		return codec_field_error(err, p, field, "expected unsigned integer");
	if (v->v.u > max)
		return codec_field_error(err, p, field, "%llu out of range (max %llu)",
					 (unsigned long long)v->v.u, (unsigned long long)max);
	*dst = v->v.u;
	return 0;
}

static inline int mp_u32(const struct mval *v, const struct codec_path *p, const char *field,
			 uint32_t *dst, struct sc_error *err)
{
	uint64_t u = 0;
	int rc = mp_u64(v, p, field, UINT32_MAX, &u, err);

	*dst = (uint32_t)u;
	return rc;
}

/* v as a double: 0, -1 when it is not a number, -2 when it is not finite. */
static inline int mv_double(const struct mval *v, double *dst)
{
	switch (v->type) {
	case MT_FLOAT: *dst = v->v.d; return isfinite(*dst) ? 0 : -2;
	case MT_UINT: *dst = (double)v->v.u; return 0;
	case MT_NINT: *dst = (double)v->v.i; return 0;
	default: return -1;
	}
}

static const char *const dbl_why[] = {"", "expected number", "non-finite number"};

static inline int mp_dbl(const struct mval *v, const struct codec_path *p, const char *field,
			 double *dst, struct sc_error *err)
{
	int bad;

	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if ((bad = mv_double(v, dst)))
		return codec_field_error(err, p, field, "%s", dbl_why[-bad]);
	return 0;
}

static inline int mp_bool(const struct mval *v, const struct codec_path *p, const char *field,
			  bool *dst, struct sc_error *err)
{
	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if (v->type != MT_BOOL)
		return codec_field_error(err, p, field, "expected boolean");
	*dst = v->v.b;
	return 0;
}

/* The scalar fields fs of the struct at base from their slots, in table order. */
static int mp_fields(const struct mval *sl, const struct codec_fields *fs, void *base,
		     const struct codec_path *p, struct sc_error *err)
{
	unsigned char *b = base;

	for (unsigned int i = 0; i < fs->n; i++) {
		const struct codec_field *f = &fs->f[i];
		const struct mval *v = &sl[f->slot];
		void *m = b + f->off;
		int rc = 0;

		switch (f->type) {
		case CF_STR: rc = mp_str(v, p, f->name, m, f->size, err); break;
		case CF_I64: rc = mp_i64(v, p, f->name, m, err); break;
		case CF_U64: rc = mp_u64(v, p, f->name, UINT64_MAX, m, err); break;
		case CF_U32: rc = mp_u32(v, p, f->name, m, err); break;
		case CF_DBL: rc = mp_dbl(v, p, f->name, m, err); break;
		case CF_BOOL: rc = mp_bool(v, p, f->name, m, err); break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* A sub-object field that must be of type t ("expected <what>"). */
static int mp_typed(const struct mval *v, enum mtype t, const char *what,
		    const struct codec_path *p, const char *field, struct sc_error *err)
{
	if (v->type == MT_NONE)
		return mp_missing(p, field, err);
	if (v->type != t)
		return codec_field_error(err, p, field, "expected %s", what);
	return 0;
}

/* A field problem kept while the scan went on: the first one, reported later. */
struct kept {
	int rc;
	struct sc_error e;
};

static int kept_report(const struct kept *k, struct sc_error *err)
{
	if (k->rc && err)
		*err = k->e;
	return k->rc;
}

/* ---- map scanning ---------------------------------------------------------------- */

static inline bool key_is(const struct mval *k, const struct codec_key *d)
{
	return k->n == d->len && memcmp(k->v.s, d->name, d->len) == 0;
}

/* The index of key k in defs, or ndefs; the key written j-th is tried first. */
static inline int key_find(const struct mval *k, const struct codec_key *defs, int ndefs, int j)
{
	if (j < ndefs && key_is(k, &defs[j]))
		return j;
	for (int i = 0; i < ndefs; i++)
		if (i != j && key_is(k, &defs[i]))
			return i;
	return ndefs;
}

/*
 * A container found at slot i (its header read into v): decode its items
 * in place or ms_skip them.  0 or a fatal error; a field problem is kept in
 * ctx for the owner to report in order.
 */
typedef int (*nested_fn)(struct mscan *s, int i, struct mval *v, void *ctx);

/*
 * The pairs of map m (header read): the values of known keys go to slots[i]
 * (which the caller zeroed), containers to fn (skipped when fn is NULL),
 * unknown keys are skipped.  A key that is not a string or a known key seen
 * twice is kept in ke (reported before the fields, as it concerns the whole
 * map).  0, or a fatal error.
 */
static int scan_map(struct mscan *s, const struct mval *m, const struct codec_key *defs, int ndefs,
		    struct mval *slots, nested_fn fn, void *ctx, const struct codec_path *p,
		    struct kept *ke)
{
	struct mval k, v;
	int rc, i;

	if ((rc = ms_enter(s, m)))
		return rc;
	for (uint32_t j = 0; j < m->n; j++) {
		if ((rc = ms_value(s, &k)) || (rc = ms_skip(s, &k)) || (rc = ms_value(s, &v)))
			return rc;
		i = ndefs;
		if (k.type != MT_STR) {
			if (!ke->rc)
				ke->rc = codec_field_error(&ke->e, p, NULL,
							   "map key is not a string");
		} else {
			i = key_find(&k, defs, ndefs, (int)j);
			if (i < ndefs && slots[i].type != MT_NONE) {
				if (!ke->rc)
					ke->rc = codec_field_error(&ke->e, p, defs[i].name,
								   "duplicate key");
				i = ndefs;
			}
		}
		if (i == ndefs) {
			if ((rc = ms_skip(s, &v)))
				return rc;
			continue;
		}
		slots[i] = v;
		if (v.type == MT_ARR || v.type == MT_MAP) {
			if ((rc = fn ? fn(s, i, &slots[i], ctx) : ms_skip(s, &v)))
				return rc;
		}
	}
	ms_leave(s, m);
	return 0;
}

/* ---- decode bodies --------------------------------------------------------------- */

/* Reading: name, time, values{...}, accuracy? */

struct reading_ctx {
	struct sc_sensor_reading *rd;
	const struct codec_path *p;
	struct kept bad; /* the first problem among the values */
};

/* The "values" map, in place: names and numbers into rd->values. */
static int dec_values(struct mscan *s, int i, struct mval *v, void *vctx)
{
	struct reading_ctx *c = vctx;
	struct codec_path vp = *c->p;
	struct mval k, x;
	int rc, why;

	if (i != R_VALUES || v->type != MT_MAP)
		return ms_skip(s, v);
	if (v->n > SC_SENSOR_MAX_VALUES) {
		c->bad.rc = codec_field_error(&c->bad.e, c->p, "values", "more than %d values",
					      SC_SENSOR_MAX_VALUES);
		return ms_skip(s, v);
	}
	if ((rc = ms_enter(s, v)))
		return rc;
	vp.sub = "values";
	for (uint32_t j = 0; j < v->n; j++) {
		struct sc_sensor_value *sv = &c->rd->values[j];
		if ((rc = ms_value(s, &k)) || (rc = ms_skip(s, &k)) || (rc = ms_value(s, &x)) ||
		    (rc = ms_skip(s, &x)))
			return rc;
		if (c->bad.rc)
			continue;
		if (k.type != MT_STR) {
			c->bad.rc = codec_field_error(&c->bad.e, c->p, "values",
						      "map key is not a string");
			continue;
		}
		if (k.n >= SC_NAME_MAX) {
			c->bad.rc = codec_field_error(&c->bad.e, c->p, "values",
						      "value name longer than %d bytes",
						      SC_NAME_MAX - 1);
			continue;
		}
		if (!codec_utf8_valid(k.v.s, k.n)) {
			c->bad.rc = codec_field_error(&c->bad.e, c->p, "values",
						      "value name is not valid utf-8");
			continue;
		}
		memcpy(sv->name, k.v.s, k.n);
		sv->name[k.n] = '\0';
		for (uint32_t q = 0; q < j && !c->bad.rc; q++)
			if (c->rd->values[q].name[0] == sv->name[0] &&
			    strcmp(c->rd->values[q].name, sv->name) == 0)
				c->bad.rc = codec_field_error(&c->bad.e, &vp, sv->name,
							      "duplicate key");
		if (c->bad.rc)
			continue;
		if ((why = mv_double(&x, &sv->v))) {
			c->bad.rc =
				codec_field_error(&c->bad.e, &vp, sv->name, "%s", dbl_why[-why]);
			continue;
		}
		c->rd->nvalues = j + 1;
	}
	ms_leave(s, v);
	return 0;
}

/* One payload element, map m (header read). */
static int dec_reading(struct mscan *s, const struct mval *m, const struct codec_path *p,
		       struct sc_sensor_reading *rd, struct sc_error *err)
{
	struct mval sl[R__N];
	struct reading_ctx c;
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	c.rd = rd;
	c.p = p;
	c.bad.rc = 0;
	if ((rc = scan_map(s, m, codec_reading_keys, R__N, sl, dec_values, &c, p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_str(&sl[R_NAME], p, "name", rd->name, sizeof(rd->name), err)) ||
	    (rc = mp_i64(&sl[R_TIME], p, "time", &rd->time_ns, err)) ||
	    (rc = mp_typed(&sl[R_VALUES], MT_MAP, "map", p, "values", err)))
		return rc;
	if (c.bad.rc)
		return kept_report(&c.bad, err);
	if (sl[R_ACCURACY].type != MT_NONE) {
		int64_t acc = 0;
		if ((rc = mp_i64(&sl[R_ACCURACY], p, "accuracy", &acc, err)))
			return rc;
		if (acc < INT32_MIN || acc > INT32_MAX)
			return codec_field_error(err, p, "accuracy", "out of range");
		rd->has_accuracy = true;
		rd->accuracy = (int32_t)acc;
	}
	return 0;
}

/* Sensor push body: messageId, sessionId, deviceId, payload[...] */

struct list_ctx {
	void *body;    /* struct sc_sensor_batch or struct sc_sensor_features */
	bool readings; /* which of the two */
	int slot;      /* the key holding the list */
	uint32_t max;
	const char *arr;
	struct kept bad; /* the first problem, in element order */
};

static int dec_feature(struct mscan *s, const struct mval *m, const struct codec_path *p,
		       struct sc_feature *ft, struct sc_error *err);

/* payload[...] or features[...]: maps decoded in place, one record element each. */
static int dec_list(struct mscan *s, int i, struct mval *v, void *vctx)
{
	struct list_ctx *c = vctx;
	struct codec_path p = {.codec = "msgpack: ", .base = "body.", .arr = c->arr};
	struct mval x;
	int rc;

	if (i != c->slot || v->type != MT_ARR || v->n > c->max)
		return ms_skip(s, v); /* the owner reports it */
	if ((rc = ms_enter(s, v)))
		return rc;
	for (uint32_t j = 0; j < v->n; j++) {
		if ((rc = ms_value(s, &x)))
			return rc;
		if (c->bad.rc || x.type != MT_MAP) {
			if (!c->bad.rc) {
				p.idx = (long)j;
				c->bad.rc = codec_field_error(&c->bad.e, &p, NULL, "expected map");
			}
			if ((rc = ms_skip(s, &x)))
				return rc;
			continue;
		}
		p.idx = (long)j;
		if (c->readings) {
			struct sc_sensor_reading *rd = sc_batch_add(c->body);
			if (!rd)
				return ms_nomem(s);
			rc = dec_reading(s, &x, &p, rd, &c->bad.e);
		} else {
			struct sc_feature *ft = sc_features_add(c->body);
			if (!ft)
				return ms_nomem(s);
			rc = dec_feature(s, &x, &p, ft, &c->bad.e);
		}
		if (rc) {
			if (s->fatal)
				return rc;
			c->bad.rc = rc;
		}
	}
	ms_leave(s, v);
	return 0;
}

static int dec_sensor(struct mscan *s, const struct mval *m, struct sc_sensor_batch *b,
		      struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	struct mval sl[S__N];
	struct list_ctx c = {.body = b,
			     .readings = true,
			     .slot = S_PAYLOAD,
			     .max = SC_SENSOR_MAX_READINGS,
			     .arr = "payload"};
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_sensor_keys, S__N, sl, dec_list, &c, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_fields(sl, &codec_sensor_fields, b, &p, err)) ||
	    (rc = mp_typed(&sl[S_PAYLOAD], MT_ARR, "array", &p, "payload", err)))
		return rc;
	if (sl[S_PAYLOAD].n > SC_SENSOR_MAX_READINGS)
		return codec_field_error(err, &p, "payload", "more than %d readings",
					 SC_SENSOR_MAX_READINGS);
	return kept_report(&c.bad, err);
}

/* Cpu sample: ncores, total, cores[...] */

struct cpu_ctx {
	struct sc_cpu_sample *c;
	long bad; /* the first element that is not a finite number, or -1 */
	int why;
};

static int dec_cores(struct mscan *s, int i, struct mval *v, void *vctx)
{
	struct cpu_ctx *c = vctx;
	struct mval x;
	double d = 0;
	int rc, why;

	if (i != C_CORES || v->type != MT_ARR)
		return ms_skip(s, v);
	if ((rc = ms_enter(s, v)))
		return rc;
	for (uint32_t j = 0; j < v->n; j++) {
		if ((rc = ms_value(s, &x)) || (rc = ms_skip(s, &x)))
			return rc;
		if ((why = mv_double(&x, &d))) {
			if (c->bad < 0)
				c->bad = (long)j, c->why = why;
			continue;
		}
		if (j < SC_CPU_MAX_CORES)
			c->c->cores[j] = d;
	}
	ms_leave(s, v);
	return 0;
}

static int dec_cpu(struct mscan *s, const struct mval *m, struct sc_cpu_sample *cs,
		   struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	struct mval sl[C__N];
	struct cpu_ctx c = {.c = cs, .bad = -1};
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_cpu_keys, C__N, sl, dec_cores, &c, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_u32(&sl[C_NCORES], &p, "ncores", &cs->ncores, err)))
		return rc;
	if (cs->ncores == 0 || cs->ncores > SC_CPU_MAX_CORES)
		return codec_field_error(err, &p, "ncores", "%u out of range 1..%d", cs->ncores,
					 SC_CPU_MAX_CORES);
	if ((rc = mp_dbl(&sl[C_TOTAL], &p, "total", &cs->total, err)) ||
	    (rc = mp_typed(&sl[C_CORES], MT_ARR, "array", &p, "cores", err)))
		return rc;
	if (sl[C_CORES].n != cs->ncores)
		return codec_field_error(err, &p, "cores", "%u entries but ncores is %u",
					 sl[C_CORES].n, cs->ncores);
	p.arr = "cores";
	p.idx = c.bad;
	if (c.bad >= 0)
		return codec_field_error(err, &p, NULL, "%s", dbl_why[-c.why]);
	return 0;
}

/* Cpu stats: scalars only. */

static int dec_cpu_stats(struct mscan *s, const struct mval *m, struct sc_cpu_stats *st,
			 struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	struct mval sl[T__N];
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_stats_keys, T__N, sl, NULL, NULL, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	return mp_fields(sl, &codec_stats_fields, st, &p, err);
}

/* One feature: scalars only. */

static int dec_feature(struct mscan *s, const struct mval *m, const struct codec_path *p,
		       struct sc_feature *ft, struct sc_error *err)
{
	struct mval sl[F__N];
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_feature_keys, F__N, sl, NULL, NULL, p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	return mp_fields(sl, &codec_feature_fields, ft, p, err);
}

/* Sensor features: scalars and features[...] */

static int dec_features(struct mscan *s, const struct mval *m, struct sc_sensor_features *ff,
			struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	struct mval sl[X__N];
	struct list_ctx c = {
		.body = ff, .slot = X_FEATURES, .max = MP_MAX_FEATURES, .arr = "features"};
	struct kept ke; /* its message is written only with rc */
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_features_keys, X__N, sl, dec_list, &c, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_fields(sl, &codec_features_fields, ff, &p, err)) ||
	    (rc = mp_typed(&sl[X_FEATURES], MT_ARR, "array", &p, "features", err)))
		return rc;
	if (sl[X_FEATURES].n > MP_MAX_FEATURES)
		return codec_field_error(err, &p, "features", "more than %u features",
					 MP_MAX_FEATURES);
	return kept_report(&c.bad, err);
}

/* Dead letter: scalars only. */

static int dec_dead(struct mscan *s, const struct mval *m, struct sc_deadletter *d,
		    struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	struct mval sl[D__N];
	struct kept ke; /* its message is written only with rc */
	uint32_t n;
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_dead_keys, D__N, sl, NULL, NULL, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_fields(sl, &codec_dead_fields, d, &p, err)) ||
	    (rc = mp_typed(&sl[D_PAYLOAD], MT_BIN, "bin", &p, "payload", err)))
		return rc;
	n = sl[D_PAYLOAD].n;
	if (n > d->cap) {
		unsigned char *np = realloc(d->payload, n);
		if (!np)
			return sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
		d->payload = np;
		d->cap = n;
	}
	if (n)
		memcpy(d->payload, sl[D_PAYLOAD].v.s, n);
	d->len = n;
	return 0;
}

/* ---- envelope -------------------------------------------------------------------- */

/* A body of kind k, map m (header read). */
static int dec_body(struct mscan *s, const struct mval *m, enum sc_kind k, struct sc_record *r,
		    struct sc_error *err)
{
	switch (k) {
	case SC_KIND_CPU: return dec_cpu(s, m, &r->u.cpu, err);
	case SC_KIND_SENSOR: return dec_sensor(s, m, &r->u.sensor, err);
	case SC_KIND_CPU_STATS: return dec_cpu_stats(s, m, &r->u.cpu_stats, err);
	case SC_KIND_SENSOR_FEATURES: return dec_features(s, m, &r->u.features, err);
	default: return dec_dead(s, m, &r->u.dead, err);
	}
}

/* The kind named by v, or SC_KIND_NONE. */
static enum sc_kind mv_kind(const struct mval *v)
{
	char name[32];

	if (v->type != MT_STR || v->n >= sizeof(name))
		return SC_KIND_NONE;
	memcpy(name, v->v.s, v->n);
	name[v->n] = '\0';
	return sc_kind_from_name(name);
}

struct env_ctx {
	struct sc_record *r;
	struct mval *sl;
	enum sc_kind kind; /* the body was decoded as this kind, or NONE: decode it later */
	struct kept body;
};

/*
 * The body is decoded where it stands when "kind" came before it (as the
 * encoder writes it); otherwise it is only checked now and decoded again
 * from its start once the whole envelope is known.
 */
static int dec_body_here(struct mscan *s, int i, struct mval *v, void *vctx)
{
	struct env_ctx *c = vctx;
	enum sc_kind k;

	if (i != E_BODY || v->type != MT_MAP || (k = mv_kind(&c->sl[E_KIND])) == SC_KIND_NONE)
		return ms_skip(s, v);
	sc_record_reset(c->r, k);
	c->kind = k;
	c->body.rc = dec_body(s, v, k, c->r, &c->body.e);
	return s->fatal ? c->body.rc : 0;
}

static int dec_envelope(struct mscan *s, const struct mval *m, struct sc_record *r,
			struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = ""};
	struct mval sl[E__N];
	struct env_ctx c = {.r = r, .sl = sl};
	struct kept ke; /* its message is written only with rc */
	int64_t ver = 0;
	enum sc_kind kind;
	int rc;

	memset(sl, 0, sizeof(sl));
	ke.rc = 0;
	if ((rc = scan_map(s, m, codec_env_keys, E__N, sl, dec_body_here, &c, &p, &ke)))
		return rc;
	if (ke.rc)
		return kept_report(&ke, err);
	if ((rc = mp_i64(&sl[E_V], &p, "v", &ver, err)))
		return rc;
	if (ver != 1)
		return codec_field_error(err, &p, "v", "unsupported version %lld", (long long)ver);
	if ((rc = mp_typed(&sl[E_KIND], MT_STR, "string", &p, "kind", err)))
		return rc;
	kind = mv_kind(&sl[E_KIND]);
	if (kind == SC_KIND_NONE)
		return codec_field_error(err, &p, "kind", "unknown kind");
	if (c.kind == SC_KIND_NONE)
		sc_record_reset(r, kind);
	else
		memset(&r->env, 0, sizeof(r->env));
	if ((rc = mp_fields(sl, &codec_env_fields, &r->env, &p, err)) ||
	    (rc = mp_typed(&sl[E_BODY], MT_MAP, "map", &p, "body", err)))
		return rc;
	if (c.kind == SC_KIND_NONE) {
		/* "body" came before "kind": read it again, its bytes are known to be sound */
		struct mscan again = *s;
		struct mval bm;
		again.p = sl[E_BODY].at;
		again.depth = 1;
		if ((rc = ms_value(&again, &bm)))
			return rc;
		return dec_body(&again, &bm, kind, r, err);
	}
	return kept_report(&c.body, err);
}

int codec_msgpack_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err)
{
	struct mscan s = {
		.p = data, .end = (const unsigned char *)data + len, .len = len, .err = err};
	struct mval root;
	int rc = 0;

	if ((rc = ms_value(&s, &root)))
		return rc;
	if (root.type == MT_MAP) {
		rc = dec_envelope(&s, &root, r, err);
		if (s.fatal)
			return rc;
	} else if ((rc = ms_skip(&s, &root))) {
		return rc;
	}
	if (s.p != s.end)
		return sc_error_set(err, SC_EINVAL,
				    "msgpack: trailing garbage after %zu of %zu bytes",
				    (size_t)(s.p - (const unsigned char *)data), len);
	if (root.type != MT_MAP)
		return sc_error_set(err, SC_EINVAL, "msgpack: not a map");
	return rc;
}

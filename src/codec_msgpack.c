/*
 * codec_msgpack.c - the MessagePack codec (see codec.h for the wire shape).
 *
 * Same maps, keys and key order as the JSON codec; doubles are float64,
 * integers use the smallest msgpack encoding, the dead-letter payload is bin.
 * Encoding goes through msgpack_packer with a write callback appending
 * straight into the caller's sc_buf.  Decoding unpacks into a per-thread
 * msgpack_zone that is cleared and reused, so steady-state decoding does not
 * allocate; strings are referenced in the input, not copied, until they are
 * copied once into the record's fixed-size fields.
 *
 * msgpack-c reserves an array's or map's slots as soon as it reads the
 * header (24 bytes per element), and reports nesting deeper than 32 levels
 * as out of memory.  So before unpacking, a pre-scan walks the headers
 * without building anything and refuses counts that the bytes left cannot
 * hold (every element takes at least one byte) as truncated input, and
 * nesting deeper than MP_MAX_DEPTH as invalid: what msgpack-c then reserves
 * is bounded by the input size, and its out-of-memory means exactly that.
 *
 * Map:  encoder - per-thread zone - decode helpers - decode bodies - envelope -
 *       pre-scan
 */
#include "codec.h"
#include "codec_internal.h"
#include "error.h"
#include "record.h"

#include <math.h>
#include <msgpack.h>
#include <pthread.h>
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
	msgpack_pack_map(&e->pk, 4);
	m_key(e, "messageId");
	msgpack_pack_int64(&e->pk, b->message_id);
	m_key(e, "sessionId");
	m_str(e, "sessionId", b->session_id, sizeof(b->session_id));
	m_key(e, "deviceId");
	m_str(e, "deviceId", b->device_id, sizeof(b->device_id));
	m_key(e, "payload");
	msgpack_pack_array(&e->pk, b->n);
	for (size_t i = 0; i < b->n && !e->rc; i++)
		enc_reading(e, &b->readings[i]);
}

static void enc_cpu_stats(struct menc *e, const struct sc_cpu_stats *s)
{
	msgpack_pack_map(&e->pk, 8);
	m_key(e, "ncores");
	msgpack_pack_uint32(&e->pk, s->ncores);
	m_key(e, "total");
	m_dbl(e, "total", s->total);
	m_key(e, "mean_cores");
	m_dbl(e, "mean_cores", s->mean_cores);
	m_key(e, "rolling_mean");
	m_dbl(e, "rolling_mean", s->rolling_mean);
	m_key(e, "rolling_std");
	m_dbl(e, "rolling_std", s->rolling_std);
	m_key(e, "zscore");
	m_dbl(e, "zscore", s->zscore);
	m_key(e, "anomaly");
	if (s->anomaly)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
	m_key(e, "window");
	msgpack_pack_uint32(&e->pk, s->window);
}

static void enc_features(struct menc *e, const struct sc_sensor_features *f)
{
	msgpack_pack_map(&e->pk, 9);
	m_key(e, "messageId");
	msgpack_pack_int64(&e->pk, f->message_id);
	m_key(e, "sessionId");
	m_str(e, "sessionId", f->session_id, sizeof(f->session_id));
	m_key(e, "deviceId");
	m_str(e, "deviceId", f->device_id, sizeof(f->device_id));
	m_key(e, "window_start_ns");
	msgpack_pack_int64(&e->pk, f->window_start_ns);
	m_key(e, "window_end_ns");
	msgpack_pack_int64(&e->pk, f->window_end_ns);
	m_key(e, "nreadings");
	msgpack_pack_uint32(&e->pk, f->nreadings);
	m_key(e, "activity");
	m_str(e, "activity", f->activity, sizeof(f->activity));
	m_key(e, "activity_score");
	m_dbl(e, "activity_score", f->activity_score);
	m_key(e, "features");
	msgpack_pack_array(&e->pk, f->n);
	for (size_t i = 0; i < f->n && !e->rc; i++) {
		const struct sc_feature *ft = &f->features[i];
		msgpack_pack_map(&e->pk, 7);
		m_key(e, "sensor");
		m_str(e, "sensor", ft->sensor, sizeof(ft->sensor));
		m_key(e, "field");
		m_str(e, "field", ft->field, sizeof(ft->field));
		m_key(e, "count");
		msgpack_pack_uint32(&e->pk, ft->count);
		m_key(e, "mean");
		m_dbl(e, "mean", ft->mean);
		m_key(e, "std");
		m_dbl(e, "std", ft->std);
		m_key(e, "min");
		m_dbl(e, "min", ft->min);
		m_key(e, "max");
		m_dbl(e, "max", ft->max);
	}
}

static void enc_dead(struct menc *e, const struct sc_deadletter *d)
{
	msgpack_pack_map(&e->pk, 4);
	m_key(e, "reason");
	m_str(e, "reason", d->reason, sizeof(d->reason));
	m_key(e, "origin");
	m_str(e, "origin", d->origin, sizeof(d->origin));
	m_key(e, "stage");
	m_str(e, "stage", d->stage, sizeof(d->stage));
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
	msgpack_pack_map(&e.pk, 10);
	m_key(&e, "v");
	msgpack_pack_uint8(&e.pk, 1);
	m_key(&e, "kind");
	m_str(&e, "kind", kind, 32);
	m_key(&e, "source");
	m_str(&e, "source", r->env.source, sizeof(r->env.source));
	m_key(&e, "key");
	m_str(&e, "key", r->env.key, sizeof(r->env.key));
	m_key(&e, "seq");
	msgpack_pack_uint64(&e.pk, r->env.seq);
	m_key(&e, "event_ns");
	msgpack_pack_int64(&e.pk, r->env.event_ns);
	m_key(&e, "intended_ns");
	msgpack_pack_int64(&e.pk, r->env.intended_ns);
	m_key(&e, "sent_ns");
	msgpack_pack_int64(&e.pk, r->env.sent_ns);
	m_key(&e, "processed_ns");
	msgpack_pack_int64(&e.pk, r->env.processed_ns);
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

/* ---- per-thread zone ---------------------------------------------------------- */

#define MP_ZONE_MIN (64u * 1024)
#define MP_ZONE_MAX (64u * 1024 * 1024)

static pthread_key_t zone_key;
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;
static int zone_key_rc;

static void zone_free(void *z)
{
	msgpack_zone_free(z);
}

static void zone_key_make(void)
{
	zone_key_rc = pthread_key_create(&zone_key, zone_free);
}

/*
 * The calling thread's zone, with a first chunk big enough for a message of
 * len bytes (a sensor batch's objects take about four times its encoded
 * size; we leave room for twice that), so a decode rarely needs a second
 * chunk; NULL when out of memory.
 */
static msgpack_zone *zone_get(size_t len)
{
	msgpack_zone *z;
	size_t want = MP_ZONE_MIN;

	if (pthread_once(&zone_once, zone_key_make) || zone_key_rc)
		return NULL;
	while (want < len * 8 && want < MP_ZONE_MAX)
		want *= 2;
	z = pthread_getspecific(zone_key);
	if (z && z->chunk_size >= want)
		return z;
	if (z) {
		msgpack_zone_free(z);
		pthread_setspecific(zone_key, NULL);
	}
	z = msgpack_zone_new(want);
	if (z && pthread_setspecific(zone_key, z)) {
		msgpack_zone_free(z);
		z = NULL;
	}
	return z;
}

/* ---- decode helpers ------------------------------------------------------------ */

/* Each helper checks one value v (NULL when the field is absent) and stores it. */
static int mp_missing(const struct codec_path *p, const char *field, struct sc_error *err)
{
	return codec_field_error(err, p, field, "missing");
}

static bool key_is(const msgpack_object *k, const char *name, size_t n)
{
	return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

/*
 * One pass over map o: slot[i] points at the value of key names[i] (NULL when
 * absent).  Unknown keys are ignored; non-string and duplicate keys are errors.
 */
static int mp_fields(const msgpack_object *o, const char *const *names, const size_t *lens,
		     size_t nnames, const msgpack_object **slot, const struct codec_path *p,
		     const char *field, struct sc_error *err)
{
	for (size_t i = 0; i < nnames; i++)
		slot[i] = NULL;
	for (uint32_t k = 0; k < o->via.map.size; k++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[k];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			return codec_field_error(err, p, field, "map key is not a string");
		for (size_t i = 0; i < nnames; i++) {
			if (!key_is(&kv->key, names[i], lens[i]))
				continue;
			if (slot[i])
				return codec_field_error(err, p, names[i], "duplicate key");
			slot[i] = &kv->val;
			break;
		}
	}
	return 0;
}

static int mp_str(const msgpack_object *v, const struct codec_path *p, const char *field, char *dst,
		  size_t size, struct sc_error *err)
{
	uint32_t n;

	if (!v)
		return mp_missing(p, field, err);
	if (v->type != MSGPACK_OBJECT_STR)
		return codec_field_error(err, p, field, "expected string");
	n = v->via.str.size;
	if (n >= size)
		return codec_field_error(err, p, field, "string longer than %zu bytes", size - 1);
	if (!codec_utf8_valid(v->via.str.ptr, n))
		return codec_field_error(err, p, field, "invalid utf-8 or nul byte in string");
	memcpy(dst, v->via.str.ptr, n);
	dst[n] = '\0';
	return 0;
}

static int mp_i64(const msgpack_object *v, const struct codec_path *p, const char *field,
		  int64_t *dst, struct sc_error *err)
{
	if (!v)
		return mp_missing(p, field, err);
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*dst = v->via.i64;
		return 0;
	}
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return codec_field_error(err, p, field, "expected integer");
	if (v->via.u64 > INT64_MAX)
		return codec_field_error(err, p, field, "integer out of range");
	*dst = (int64_t)v->via.u64;
	return 0;
}

static int mp_u64(const msgpack_object *v, const struct codec_path *p, const char *field,
		  uint64_t max, uint64_t *dst, struct sc_error *err)
{
	if (!v)
		return mp_missing(p, field, err);
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return codec_field_error(err, p, field, "expected unsigned integer");
	if (v->via.u64 > max)
		return codec_field_error(err, p, field, "%llu out of range (max %llu)",
					 (unsigned long long)v->via.u64, (unsigned long long)max);
	*dst = v->via.u64;
	return 0;
}

static int mp_u32(const msgpack_object *v, const struct codec_path *p, const char *field,
		  uint32_t *dst, struct sc_error *err)
{
	uint64_t u = 0;
	int rc = mp_u64(v, p, field, UINT32_MAX, &u, err);

	*dst = (uint32_t)u;
	return rc;
}

static int mp_dbl(const msgpack_object *v, const struct codec_path *p, const char *field,
		  double *dst, struct sc_error *err)
{
	if (!v)
		return mp_missing(p, field, err);
	switch (v->type) {
	case MSGPACK_OBJECT_FLOAT64:
	case MSGPACK_OBJECT_FLOAT32: *dst = v->via.f64; break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *dst = (double)v->via.u64; break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *dst = (double)v->via.i64; break;
	default: return codec_field_error(err, p, field, "expected number");
	}
	if (!isfinite(*dst))
		return codec_field_error(err, p, field, "non-finite number");
	return 0;
}

static int mp_bool(const msgpack_object *v, const struct codec_path *p, const char *field,
		   bool *dst, struct sc_error *err)
{
	if (!v)
		return mp_missing(p, field, err);
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return codec_field_error(err, p, field, "expected boolean");
	*dst = v->via.boolean;
	return 0;
}

/* A sub-object field that must be of type t ("expected <what>"). */
static int mp_typed(const msgpack_object *v, msgpack_object_type t, const char *what,
		    const struct codec_path *p, const char *field, struct sc_error *err)
{
	if (!v)
		return mp_missing(p, field, err);
	if (v->type != t)
		return codec_field_error(err, p, field, "expected %s", what);
	return 0;
}

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- decode bodies -------------------------------------------------------------- */

static const char *const reading_keys[] = {"name", "time", "values", "accuracy"};
static const size_t reading_lens[] = {4, 4, 6, 8};

static int dec_values(const msgpack_object *o, const struct codec_path *p,
		      struct sc_sensor_reading *rd, struct sc_error *err)
{
	int rc;

	if (o->via.map.size > SC_SENSOR_MAX_VALUES)
		return codec_field_error(err, p, "values", "more than %d values",
					 SC_SENSOR_MAX_VALUES);
	for (uint32_t k = 0; k < o->via.map.size; k++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[k];
		struct sc_sensor_value *sv = &rd->values[k];
		uint32_t n = kv->key.via.str.size;
		struct codec_path vp = *p;

		vp.sub = "values";
		if (kv->key.type != MSGPACK_OBJECT_STR)
			return codec_field_error(err, p, "values", "map key is not a string");
		if (n >= SC_NAME_MAX)
			return codec_field_error(err, p, "values",
						 "value name longer than %d bytes",
						 SC_NAME_MAX - 1);
		if (!codec_utf8_valid(kv->key.via.str.ptr, n))
			return codec_field_error(err, p, "values", "value name is not valid utf-8");
		memcpy(sv->name, kv->key.via.str.ptr, n);
		sv->name[n] = '\0';
		for (uint32_t j = 0; j < k; j++)
			if (strcmp(rd->values[j].name, sv->name) == 0)
				return codec_field_error(err, &vp, sv->name, "duplicate key");
		if ((rc = mp_dbl(&kv->val, &vp, sv->name, &sv->v, err)))
			return rc;
		rd->nvalues = k + 1;
	}
	return 0;
}

static int dec_reading(const msgpack_object *o, const struct codec_path *p,
		       struct sc_sensor_reading *rd, struct sc_error *err)
{
	const msgpack_object *f[NKEYS(reading_keys)];
	int rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return codec_field_error(err, p, NULL, "expected map");
	if ((rc = mp_fields(o, reading_keys, reading_lens, NKEYS(reading_keys), f, p, NULL, err)) ||
	    (rc = mp_str(f[0], p, "name", rd->name, sizeof(rd->name), err)) ||
	    (rc = mp_i64(f[1], p, "time", &rd->time_ns, err)) ||
	    (rc = mp_typed(f[2], MSGPACK_OBJECT_MAP, "map", p, "values", err)) ||
	    (rc = dec_values(f[2], p, rd, err)))
		return rc;
	if (f[3]) {
		int64_t acc = 0;
		if ((rc = mp_i64(f[3], p, "accuracy", &acc, err)))
			return rc;
		if (acc < INT32_MIN || acc > INT32_MAX)
			return codec_field_error(err, p, "accuracy", "out of range");
		rd->has_accuracy = true;
		rd->accuracy = (int32_t)acc;
	}
	return 0;
}

static const char *const sensor_keys[] = {"messageId", "sessionId", "deviceId", "payload"};
static const size_t sensor_lens[] = {9, 9, 8, 7};

static int dec_sensor(const msgpack_object *o, struct sc_sensor_batch *b, struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	const msgpack_object *f[NKEYS(sensor_keys)];
	uint32_t n;
	int rc;

	if ((rc = mp_fields(o, sensor_keys, sensor_lens, NKEYS(sensor_keys), f, &p, NULL, err)) ||
	    (rc = mp_i64(f[0], &p, "messageId", &b->message_id, err)) ||
	    (rc = mp_str(f[1], &p, "sessionId", b->session_id, sizeof(b->session_id), err)) ||
	    (rc = mp_str(f[2], &p, "deviceId", b->device_id, sizeof(b->device_id), err)) ||
	    (rc = mp_typed(f[3], MSGPACK_OBJECT_ARRAY, "array", &p, "payload", err)))
		return rc;
	n = f[3]->via.array.size;
	if (n > SC_SENSOR_MAX_READINGS)
		return codec_field_error(err, &p, "payload", "more than %d readings",
					 SC_SENSOR_MAX_READINGS);
	p.arr = "payload";
	for (uint32_t i = 0; i < n; i++) {
		struct sc_sensor_reading *rd = sc_batch_add(b);
		if (!rd)
			return sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
		p.idx = (long)i;
		if ((rc = dec_reading(&f[3]->via.array.ptr[i], &p, rd, err)))
			return rc;
	}
	return 0;
}

static const char *const cpu_keys[] = {"ncores", "total", "cores"};
static const size_t cpu_lens[] = {6, 5, 5};

static int dec_cpu(const msgpack_object *o, struct sc_cpu_sample *c, struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	const msgpack_object *f[NKEYS(cpu_keys)];
	int rc;

	if ((rc = mp_fields(o, cpu_keys, cpu_lens, NKEYS(cpu_keys), f, &p, NULL, err)) ||
	    (rc = mp_u32(f[0], &p, "ncores", &c->ncores, err)))
		return rc;
	if (c->ncores == 0 || c->ncores > SC_CPU_MAX_CORES)
		return codec_field_error(err, &p, "ncores", "%u out of range 1..%d", c->ncores,
					 SC_CPU_MAX_CORES);
	if ((rc = mp_dbl(f[1], &p, "total", &c->total, err)) ||
	    (rc = mp_typed(f[2], MSGPACK_OBJECT_ARRAY, "array", &p, "cores", err)))
		return rc;
	if (f[2]->via.array.size != c->ncores)
		return codec_field_error(err, &p, "cores", "%u entries but ncores is %u",
					 f[2]->via.array.size, c->ncores);
	p.arr = "cores";
	for (uint32_t i = 0; i < c->ncores; i++) {
		p.idx = (long)i;
		if ((rc = mp_dbl(&f[2]->via.array.ptr[i], &p, NULL, &c->cores[i], err)))
			return rc;
	}
	return 0;
}

static const char *const stats_keys[] = {"ncores",	"total",  "mean_cores", "rolling_mean",
					 "rolling_std", "zscore", "anomaly",	"window"};
static const size_t stats_lens[] = {6, 5, 10, 12, 11, 6, 7, 6};

static int dec_cpu_stats(const msgpack_object *o, struct sc_cpu_stats *s, struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	const msgpack_object *f[NKEYS(stats_keys)];
	int rc;

	if ((rc = mp_fields(o, stats_keys, stats_lens, NKEYS(stats_keys), f, &p, NULL, err)) ||
	    (rc = mp_u32(f[0], &p, "ncores", &s->ncores, err)) ||
	    (rc = mp_dbl(f[1], &p, "total", &s->total, err)) ||
	    (rc = mp_dbl(f[2], &p, "mean_cores", &s->mean_cores, err)) ||
	    (rc = mp_dbl(f[3], &p, "rolling_mean", &s->rolling_mean, err)) ||
	    (rc = mp_dbl(f[4], &p, "rolling_std", &s->rolling_std, err)) ||
	    (rc = mp_dbl(f[5], &p, "zscore", &s->zscore, err)) ||
	    (rc = mp_bool(f[6], &p, "anomaly", &s->anomaly, err)) ||
	    (rc = mp_u32(f[7], &p, "window", &s->window, err)))
		return rc;
	return 0;
}

static const char *const feature_keys[] = {"sensor", "field", "count", "mean", "std", "min", "max"};
static const size_t feature_lens[] = {6, 5, 5, 4, 3, 3, 3};

static int dec_feature(const msgpack_object *o, const struct codec_path *p, struct sc_feature *ft,
		       struct sc_error *err)
{
	const msgpack_object *f[NKEYS(feature_keys)];
	int rc;

	if (o->type != MSGPACK_OBJECT_MAP)
		return codec_field_error(err, p, NULL, "expected map");
	if ((rc = mp_fields(o, feature_keys, feature_lens, NKEYS(feature_keys), f, p, NULL, err)) ||
	    (rc = mp_str(f[0], p, "sensor", ft->sensor, sizeof(ft->sensor), err)) ||
	    (rc = mp_str(f[1], p, "field", ft->field, sizeof(ft->field), err)) ||
	    (rc = mp_u32(f[2], p, "count", &ft->count, err)) ||
	    (rc = mp_dbl(f[3], p, "mean", &ft->mean, err)) ||
	    (rc = mp_dbl(f[4], p, "std", &ft->std, err)) ||
	    (rc = mp_dbl(f[5], p, "min", &ft->min, err)) ||
	    (rc = mp_dbl(f[6], p, "max", &ft->max, err)))
		return rc;
	return 0;
}

static const char *const features_keys[] = {"messageId",       "sessionId",	 "deviceId",
					    "window_start_ns", "window_end_ns",	 "nreadings",
					    "activity",	       "activity_score", "features"};
static const size_t features_lens[] = {9, 9, 8, 15, 13, 9, 8, 14, 8};

static int dec_features(const msgpack_object *o, struct sc_sensor_features *ff,
			struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	const msgpack_object *f[NKEYS(features_keys)];
	uint32_t n;
	int rc;

	if ((rc = mp_fields(o, features_keys, features_lens, NKEYS(features_keys), f, &p, NULL,
			    err)) ||
	    (rc = mp_i64(f[0], &p, "messageId", &ff->message_id, err)) ||
	    (rc = mp_str(f[1], &p, "sessionId", ff->session_id, sizeof(ff->session_id), err)) ||
	    (rc = mp_str(f[2], &p, "deviceId", ff->device_id, sizeof(ff->device_id), err)) ||
	    (rc = mp_i64(f[3], &p, "window_start_ns", &ff->window_start_ns, err)) ||
	    (rc = mp_i64(f[4], &p, "window_end_ns", &ff->window_end_ns, err)) ||
	    (rc = mp_u32(f[5], &p, "nreadings", &ff->nreadings, err)) ||
	    (rc = mp_str(f[6], &p, "activity", ff->activity, sizeof(ff->activity), err)) ||
	    (rc = mp_dbl(f[7], &p, "activity_score", &ff->activity_score, err)) ||
	    (rc = mp_typed(f[8], MSGPACK_OBJECT_ARRAY, "array", &p, "features", err)))
		return rc;
	n = f[8]->via.array.size;
	if (n > MP_MAX_FEATURES)
		return codec_field_error(err, &p, "features", "more than %u features",
					 MP_MAX_FEATURES);
	p.arr = "features";
	for (uint32_t i = 0; i < n; i++) {
		struct sc_feature *ft = sc_features_add(ff);
		if (!ft)
			return sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
		p.idx = (long)i;
		if ((rc = dec_feature(&f[8]->via.array.ptr[i], &p, ft, err)))
			return rc;
	}
	return 0;
}

static const char *const dead_keys[] = {"reason", "origin", "stage", "payload"};
static const size_t dead_lens[] = {6, 6, 5, 7};

static int dec_dead(const msgpack_object *o, struct sc_deadletter *d, struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = "body."};
	const msgpack_object *f[NKEYS(dead_keys)];
	uint32_t n;
	int rc;

	if ((rc = mp_fields(o, dead_keys, dead_lens, NKEYS(dead_keys), f, &p, NULL, err)) ||
	    (rc = mp_str(f[0], &p, "reason", d->reason, sizeof(d->reason), err)) ||
	    (rc = mp_str(f[1], &p, "origin", d->origin, sizeof(d->origin), err)) ||
	    (rc = mp_str(f[2], &p, "stage", d->stage, sizeof(d->stage), err)) ||
	    (rc = mp_typed(f[3], MSGPACK_OBJECT_BIN, "bin", &p, "payload", err)))
		return rc;
	n = f[3]->via.bin.size;
	if (n > d->cap) {
		unsigned char *np = realloc(d->payload, n);
		if (!np)
			return sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
		d->payload = np;
		d->cap = n;
	}
	if (n)
		memcpy(d->payload, f[3]->via.bin.ptr, n);
	d->len = n;
	return 0;
}

/* ---- envelope -------------------------------------------------------------------- */

static const char *const env_keys[] = {
	"v",	    "kind",	   "source",  "key",	      "seq",
	"event_ns", "intended_ns", "sent_ns", "processed_ns", "body"};
static const size_t env_lens[] = {1, 4, 6, 3, 3, 8, 11, 7, 12, 4};

static int dec_envelope(const msgpack_object *root, struct sc_record *r, struct sc_error *err)
{
	struct codec_path p = {.codec = "msgpack: ", .base = ""};
	const msgpack_object *f[NKEYS(env_keys)];
	char kname[32];
	enum sc_kind kind;
	int64_t ver = 0;
	int rc;

	if (root->type != MSGPACK_OBJECT_MAP)
		return sc_error_set(err, SC_EINVAL, "msgpack: not a map");
	if ((rc = mp_fields(root, env_keys, env_lens, NKEYS(env_keys), f, &p, NULL, err)) ||
	    (rc = mp_i64(f[0], &p, "v", &ver, err)))
		return rc;
	if (ver != 1)
		return codec_field_error(err, &p, "v", "unsupported version %lld", (long long)ver);
	if ((rc = mp_typed(f[1], MSGPACK_OBJECT_STR, "string", &p, "kind", err)))
		return rc;
	kind = SC_KIND_NONE;
	if (f[1]->via.str.size < sizeof(kname)) {
		memcpy(kname, f[1]->via.str.ptr, f[1]->via.str.size);
		kname[f[1]->via.str.size] = '\0';
		kind = sc_kind_from_name(kname);
	}
	if (kind == SC_KIND_NONE)
		return codec_field_error(err, &p, "kind", "unknown kind");
	sc_record_reset(r, kind);
	if ((rc = mp_str(f[2], &p, "source", r->env.source, sizeof(r->env.source), err)) ||
	    (rc = mp_str(f[3], &p, "key", r->env.key, sizeof(r->env.key), err)) ||
	    (rc = mp_u64(f[4], &p, "seq", UINT64_MAX, &r->env.seq, err)) ||
	    (rc = mp_i64(f[5], &p, "event_ns", &r->env.event_ns, err)) ||
	    (rc = mp_i64(f[6], &p, "intended_ns", &r->env.intended_ns, err)) ||
	    (rc = mp_i64(f[7], &p, "sent_ns", &r->env.sent_ns, err)) ||
	    (rc = mp_i64(f[8], &p, "processed_ns", &r->env.processed_ns, err)) ||
	    (rc = mp_typed(f[9], MSGPACK_OBJECT_MAP, "map", &p, "body", err)))
		return rc;
	switch (kind) {
	case SC_KIND_CPU: return dec_cpu(f[9], &r->u.cpu, err);
	case SC_KIND_SENSOR: return dec_sensor(f[9], &r->u.sensor, err);
	case SC_KIND_CPU_STATS: return dec_cpu_stats(f[9], &r->u.cpu_stats, err);
	case SC_KIND_SENSOR_FEATURES: return dec_features(f[9], &r->u.features, err);
	default: return dec_dead(f[9], &r->u.dead, err);
	}
}

/* ---- pre-scan -------------------------------------------------------------------- */

#define MP_MAX_DEPTH 16 /* our deepest record nests 5 levels; msgpack-c allows 32 */

/* Big-endian unsigned of n bytes at p[*pos], advancing *pos; false when cut. */
static bool mp_be(const unsigned char *p, size_t len, size_t *pos, unsigned int n, uint64_t *v)
{
	if (len - *pos < n)
		return false;
	*v = 0;
	for (unsigned int i = 0; i < n; i++)
		*v = (*v << 8) | p[(*pos)++];
	return true;
}

/*
 * Walk the first object's headers in p[0..len): 0 when every count fits the
 * bytes left and the nesting is shallow enough, else -SC_EINVAL.  Other
 * malformations (a never-used type byte, trailing bytes) are left to
 * msgpack_unpack, which refuses them before it reserves anything more.
 */
static int mp_prescan(const unsigned char *p, size_t len, struct sc_error *err)
{
	uint64_t left[MP_MAX_DEPTH + 1]; /* elements still to read per open level */
	uint64_t owed = 1;		 /* elements still to read in all levels */
	size_t pos = 0;
	int depth = 0;

	left[0] = 1;
	while (owed) {
		uint64_t n = 0, skip = 0, v;
		unsigned char c;
		bool ok = true;

		if (owed > len - pos)
			return sc_error_set(err, SC_EINVAL, "msgpack: truncated input (%zu bytes)",
					    len);
		c = p[pos++];
		if (c >= 0x80 && c <= 0x8f)
			n = 2u * (c & 0x0fu);
		else if (c >= 0x90 && c <= 0x9f)
			n = c & 0x0fu;
		else if (c >= 0xa0 && c <= 0xbf)
			skip = c & 0x1fu;
		else if (c >= 0xc4 && c <= 0xc6)
			ok = mp_be(p, len, &pos, 1u << (c - 0xc4), &skip);
		else if (c >= 0xc7 && c <= 0xc9)
			ok = mp_be(p, len, &pos, 1u << (c - 0xc7), &skip), skip++;
		else if (c == 0xca || c == 0xcb)
			skip = c == 0xca ? 4 : 8;
		else if (c >= 0xcc && c <= 0xcf)
			skip = 1u << (c - 0xcc);
		else if (c >= 0xd0 && c <= 0xd3)
			skip = 1u << (c - 0xd0);
		else if (c >= 0xd4 && c <= 0xd8)
			skip = 1 + (1u << (c - 0xd4));
		else if (c >= 0xd9 && c <= 0xdb)
			ok = mp_be(p, len, &pos, 1u << (c - 0xd9), &skip);
		else if (c == 0xdc || c == 0xdd)
			ok = mp_be(p, len, &pos, c == 0xdc ? 2 : 4, &n);
		else if (c == 0xde || c == 0xdf)
			ok = mp_be(p, len, &pos, c == 0xde ? 2 : 4, &v), n = 2 * v;
		else if (c == 0xc1)
			return 0;
		if (!ok || skip > len - pos)
			return sc_error_set(err, SC_EINVAL, "msgpack: truncated input (%zu bytes)",
					    len);
		pos += skip;
		owed--;
		left[depth]--;
		if (n) {
			if (depth == MP_MAX_DEPTH)
				return sc_error_set(err, SC_EINVAL,
						    "msgpack: nesting deeper than %d levels",
						    MP_MAX_DEPTH);
			left[++depth] = n;
			owed += n;
		}
		while (depth > 0 && left[depth] == 0)
			depth--;
	}
	return 0;
}

int codec_msgpack_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err)
{
	msgpack_zone *z;
	msgpack_object root;
	size_t off = 0;
	int rc;

	if ((rc = mp_prescan(data, len, err)))
		return rc;
	z = zone_get(len);
	if (!z)
		return sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
	switch (msgpack_unpack(data, len, &off, z, &root)) {
	case MSGPACK_UNPACK_SUCCESS: rc = dec_envelope(&root, r, err); break;
	case MSGPACK_UNPACK_EXTRA_BYTES:
		rc = sc_error_set(err, SC_EINVAL,
				  "msgpack: trailing garbage after %zu of %zu bytes", off, len);
		break;
	case MSGPACK_UNPACK_CONTINUE:
		rc = sc_error_set(err, SC_EINVAL, "msgpack: truncated input (%zu bytes)", len);
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = sc_error_set(err, SC_ENOMEM, "msgpack: out of memory");
		break;
	default: rc = sc_error_set(err, SC_EINVAL, "msgpack: malformed input"); break;
	}
	msgpack_zone_clear(z);
	return rc;
}

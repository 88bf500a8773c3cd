/* record.c - see record.h */
#include "record.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const kind_names[SC_KIND__COUNT] = {
	[SC_KIND_NONE] = "none",
	[SC_KIND_CPU] = "cpu",
	[SC_KIND_SENSOR] = "sensor",
	[SC_KIND_CPU_STATS] = "cpu_stats",
	[SC_KIND_SENSOR_FEATURES] = "sensor_features",
	[SC_KIND_DEADLETTER] = "deadletter",
};

static const char *const stream_names[SC_STREAM__COUNT] = {
	[SC_STREAM_RAW_CPU] = "raw.cpu",	[SC_STREAM_RAW_SENSOR] = "raw.sensor",
	[SC_STREAM_PROC_CPU] = "processed.cpu", [SC_STREAM_PROC_SENSOR] = "processed.sensor",
	[SC_STREAM_DEADLETTER] = "deadletter",	[SC_STREAM_EXTERNAL] = "external",
};

const char *sc_kind_name(enum sc_kind k)
{
	if ((int)k < 0 || k >= SC_KIND__COUNT)
		return NULL;
	return kind_names[k];
}

enum sc_kind sc_kind_from_name(const char *name)
{
	for (int k = SC_KIND_CPU; k < SC_KIND__COUNT; k++)
		if (name && strcmp(name, kind_names[k]) == 0)
			return (enum sc_kind)k;
	return SC_KIND_NONE;
}

const char *sc_stream_name(enum sc_stream s)
{
	if ((int)s < 0 || s >= SC_STREAM__COUNT)
		return NULL;
	return stream_names[s];
}

enum sc_stream sc_kind_stream(enum sc_kind k)
{
	switch (k) {
	case SC_KIND_CPU: return SC_STREAM_RAW_CPU;
	case SC_KIND_SENSOR: return SC_STREAM_RAW_SENSOR;
	case SC_KIND_CPU_STATS: return SC_STREAM_PROC_CPU;
	case SC_KIND_SENSOR_FEATURES: return SC_STREAM_PROC_SENSOR;
	default: return SC_STREAM_DEADLETTER;
	}
}

void sc_record_init(struct sc_record *r, enum sc_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
}

void sc_record_reset(struct sc_record *r, enum sc_kind kind)
{
	if (r->kind != kind) {
		sc_record_release(r);
		r->kind = kind;
		return;
	}
	memset(&r->env, 0, sizeof(r->env));
	switch (kind) {
	case SC_KIND_SENSOR: {
		struct sc_sensor_batch *b = &r->u.sensor;
		struct sc_sensor_reading *keep = b->readings;
		size_t cap = b->cap;
		memset(b, 0, sizeof(*b));
		b->readings = keep;
		b->cap = cap;
		break;
	}
	case SC_KIND_SENSOR_FEATURES: {
		struct sc_sensor_features *f = &r->u.features;
		struct sc_feature *keep = f->features;
		size_t cap = f->cap;
		memset(f, 0, sizeof(*f));
		f->features = keep;
		f->cap = cap;
		break;
	}
	case SC_KIND_DEADLETTER: {
		struct sc_deadletter *d = &r->u.dead;
		unsigned char *keep = d->payload;
		size_t cap = d->cap;
		memset(d, 0, sizeof(*d));
		d->payload = keep;
		d->cap = cap;
		break;
	}
	case SC_KIND_CPU:
		/* only the used part needs clearing: a sample has ncores entries */
		r->u.cpu.ncores = 0;
		r->u.cpu.total = 0;
		break;
	default: memset(&r->u, 0, sizeof(r->u.cpu_stats)); break;
	}
}

void sc_record_release(struct sc_record *r)
{
	if (!r)
		return;
	switch (r->kind) {
	case SC_KIND_SENSOR: free(r->u.sensor.readings); break;
	case SC_KIND_SENSOR_FEATURES: free(r->u.features.features); break;
	case SC_KIND_DEADLETTER: free(r->u.dead.payload); break;
	default: break;
	}
	r->kind = SC_KIND_NONE;
	memset(&r->env, 0, sizeof(r->env));
	memset(&r->u.sensor, 0, sizeof(r->u.sensor));
	memset(&r->u.features, 0, sizeof(r->u.features));
	memset(&r->u.dead, 0, sizeof(r->u.dead));
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem, size_t limit)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return p;
	if (need > limit)
		return NULL;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit;
	np = realloc(p, ncap * elem);
	if (!np)
		return NULL;
	*cap = ncap;
	return np;
}

struct sc_sensor_reading *sc_batch_add(struct sc_sensor_batch *b)
{
	struct sc_sensor_reading *np, *rd;

	np = grow(b->readings, &b->cap, b->n + 1, sizeof(*np), SC_SENSOR_MAX_READINGS);
	if (!np)
		return NULL;
	b->readings = np;
	rd = &b->readings[b->n++];
	memset(rd, 0, offsetof(struct sc_sensor_reading, values));
	return rd;
}

struct sc_feature *sc_features_add(struct sc_sensor_features *f)
{
	struct sc_feature *np, *ft;

	np = grow(f->features, &f->cap, f->n + 1, sizeof(*np), 1u << 20);
	if (!np)
		return NULL;
	f->features = np;
	ft = &f->features[f->n++];
	memset(ft, 0, sizeof(*ft));
	return ft;
}

int sc_reading_set(struct sc_sensor_reading *rd, const char *name, double v)
{
	if (rd->nvalues >= SC_SENSOR_MAX_VALUES)
		return -1;
	sc_strlcpy(rd->values[rd->nvalues].name, name, SC_NAME_MAX);
	rd->values[rd->nvalues].v = v;
	rd->nvalues++;
	return 0;
}

const struct sc_sensor_value *sc_reading_get(const struct sc_sensor_reading *rd, const char *name)
{
	for (uint32_t i = 0; i < rd->nvalues; i++)
		if (strcmp(rd->values[i].name, name) == 0)
			return &rd->values[i];
	return NULL;
}

int sc_deadletter_fill(struct sc_record *r, const char *stage, const char *origin,
		       const char *reason, const void *payload, size_t len)
{
	struct sc_deadletter *d;

	sc_record_reset(r, SC_KIND_DEADLETTER);
	d = &r->u.dead;
	sc_strlcpy(d->reason, reason ? reason : "unknown", sizeof(d->reason));
	sc_strlcpy(d->origin, origin ? origin : "", sizeof(d->origin));
	sc_strlcpy(d->stage, stage ? stage : "", sizeof(d->stage));
	if (len > d->cap) {
		unsigned char *np = realloc(d->payload, len);
		if (!np)
			return -SC_ENOMEM;
		d->payload = np;
		d->cap = len;
	}
	if (len)
		memcpy(d->payload, payload, len);
	d->len = len;
	return 0;
}

static bool dbl_eq(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return a == b;
}

static bool env_equal(const struct sc_envelope *a, const struct sc_envelope *b)
{
	return strcmp(a->source, b->source) == 0 && strcmp(a->key, b->key) == 0 &&
	       a->seq == b->seq && a->event_ns == b->event_ns && a->intended_ns == b->intended_ns &&
	       a->sent_ns == b->sent_ns && a->processed_ns == b->processed_ns;
}

static bool reading_equal(const struct sc_sensor_reading *a, const struct sc_sensor_reading *b)
{
	if (strcmp(a->name, b->name) || a->time_ns != b->time_ns ||
	    a->has_accuracy != b->has_accuracy || a->nvalues != b->nvalues)
		return false;
	if (a->has_accuracy && a->accuracy != b->accuracy)
		return false;
	for (uint32_t i = 0; i < a->nvalues; i++)
		if (strcmp(a->values[i].name, b->values[i].name) ||
		    !dbl_eq(a->values[i].v, b->values[i].v))
			return false;
	return true;
}

bool sc_record_equal(const struct sc_record *a, const struct sc_record *b)
{
	if (a->kind != b->kind || !env_equal(&a->env, &b->env))
		return false;
	switch (a->kind) {
	case SC_KIND_CPU:
		if (a->u.cpu.ncores != b->u.cpu.ncores || !dbl_eq(a->u.cpu.total, b->u.cpu.total))
			return false;
		for (uint32_t i = 0; i < a->u.cpu.ncores; i++)
			if (!dbl_eq(a->u.cpu.cores[i], b->u.cpu.cores[i]))
				return false;
		return true;
	case SC_KIND_SENSOR: {
		const struct sc_sensor_batch *x = &a->u.sensor, *y = &b->u.sensor;
		if (x->message_id != y->message_id || strcmp(x->session_id, y->session_id) ||
		    strcmp(x->device_id, y->device_id) || x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (!reading_equal(&x->readings[i], &y->readings[i]))
				return false;
		return true;
	}
	case SC_KIND_CPU_STATS: {
		const struct sc_cpu_stats *x = &a->u.cpu_stats, *y = &b->u.cpu_stats;
		return x->ncores == y->ncores && dbl_eq(x->total, y->total) &&
		       dbl_eq(x->mean_cores, y->mean_cores) &&
		       dbl_eq(x->rolling_mean, y->rolling_mean) &&
		       dbl_eq(x->rolling_std, y->rolling_std) && dbl_eq(x->zscore, y->zscore) &&
		       x->anomaly == y->anomaly && x->window == y->window;
	}
	case SC_KIND_SENSOR_FEATURES: {
		const struct sc_sensor_features *x = &a->u.features, *y = &b->u.features;
		if (x->message_id != y->message_id || strcmp(x->session_id, y->session_id) ||
		    strcmp(x->device_id, y->device_id) ||
		    x->window_start_ns != y->window_start_ns ||
		    x->window_end_ns != y->window_end_ns || x->nreadings != y->nreadings ||
		    strcmp(x->activity, y->activity) ||
		    !dbl_eq(x->activity_score, y->activity_score) || x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++) {
			const struct sc_feature *p = &x->features[i], *q = &y->features[i];
			if (strcmp(p->sensor, q->sensor) || strcmp(p->field, q->field) ||
			    p->count != q->count || !dbl_eq(p->mean, q->mean) ||
			    !dbl_eq(p->std, q->std) || !dbl_eq(p->min, q->min) ||
			    !dbl_eq(p->max, q->max))
				return false;
		}
		return true;
	}
	case SC_KIND_DEADLETTER: {
		const struct sc_deadletter *x = &a->u.dead, *y = &b->u.dead;
		return strcmp(x->reason, y->reason) == 0 && strcmp(x->origin, y->origin) == 0 &&
		       strcmp(x->stage, y->stage) == 0 && x->len == y->len &&
		       (x->len == 0 || memcmp(x->payload, y->payload, x->len) == 0);
	}
	default: return true;
	}
}

size_t sc_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

void sc_buf_init(struct sc_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void sc_buf_release(struct sc_buf *b)
{
	if (!b)
		return;
	free(b->data);
	sc_buf_init(b);
}

int sc_buf_reserve(struct sc_buf *b, size_t extra)
{
	size_t need = b->len + extra, ncap;
	unsigned char *np;

	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	np = realloc(b->data, ncap);
	if (!np)
		return -SC_ENOMEM;
	b->data = np;
	b->cap = ncap;
	return 0;
}

int sc_buf_append(struct sc_buf *b, const void *p, size_t n)
{
	if (sc_buf_reserve(b, n))
		return -SC_ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int64_t sc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t sc_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

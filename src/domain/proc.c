/*
 * proc.c - the processing step; see proc.h.
 *
 * Map:  key state (hash table + LRU) - statistics - cpu - sensor - api
 *
 * Decisions the header leaves open, written down here:
 *  - cpu: rolling_mean/rolling_std (population) describe the window after
 *    the new sample was added, `window` is its size; the z-score compares
 *    the new sample with the window before it and is 0 while that window
 *    holds fewer than 5 samples or has std 0.  Samples whose total or cores
 *    are outside [0,100] are refused like NaN.  O(cpu_window) per sample.
 *  - sensor: only batches that carry accelerometer readings with x/y/z
 *    enter the key's activity window, so a batch without them repeats the
 *    last label ("unknown" before any).  The score is the std of every
 *    accelerometer magnitude in the window's batches (pooled, population).
 *    An empty batch is valid: no features, nreadings 0, window_start_ns =
 *    window_end_ns = 0.  A sensor with more than PROC_MAX_FIELDS distinct
 *    fields in one batch is refused.  No "magnitude" is added to a sensor
 *    that already has a field of that name.
 *  - Nothing in the key state changes when a record is refused.
 *  - Memory: one allocation per new key (reused on eviction), scratch that
 *    grows to the largest batch seen; proc_apply allocates nothing once
 *    the keys and batch shapes have been seen.
 */
#include "proc.h"
#include "error.h"
#include "record.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROC_MAX_FIELDS	  32
#define PROC_MIN_ZSAMPLES 5
#define ACT_WALKING	  0.5
#define ACT_RUNNING	  3.0

/* ---- key state -------------------------------------------------------- */

struct act_entry {
	uint32_t count;
	double mean, m2;
};

struct key_state {
	struct key_state *hnext;	       /* bucket chain */
	struct key_state *lru_prev, *lru_next; /* lru_prev is the more recent */
	uint64_t hash;
	char key[SC_KEY_MAX];
	uint32_t cpu_n, cpu_head; /* values in the ring, next slot */
	double *cpu_ring;	  /* cpu_window values, inside this allocation */
	bool seen_accel;
	uint32_t act_n, act_head;
	struct act_entry *act_ring; /* activity_window entries, inside this allocation */
};

struct field_acc {
	char name[SC_NAME_MAX];
	uint32_t count;
	double mean, m2, min, max;
};

struct sensor_acc {
	char name[SC_NAME_MAX];
	uint32_t nfields;
	bool has_magnitude_field;
	struct field_acc f[PROC_MAX_FIELDS];
	struct field_acc mag;
};

struct proc {
	struct proc_cfg cfg;
	struct key_state **buckets;
	size_t nbuckets, nkeys;
	struct key_state *lru_head, *lru_tail; /* most recent at the head */
	struct sensor_acc *sens;	       /* per-batch scratch */
	size_t nsens, capsens;
};

static uint64_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static void lru_unlink(struct proc *p, struct key_state *k)
{
	if (k->lru_prev)
		k->lru_prev->lru_next = k->lru_next;
	else
		p->lru_head = k->lru_next;
	if (k->lru_next)
		k->lru_next->lru_prev = k->lru_prev;
	else
		p->lru_tail = k->lru_prev;
	k->lru_prev = k->lru_next = NULL;
}

static void lru_push_front(struct proc *p, struct key_state *k)
{
	k->lru_prev = NULL;
	k->lru_next = p->lru_head;
	if (p->lru_head)
		p->lru_head->lru_prev = k;
	p->lru_head = k;
	if (!p->lru_tail)
		p->lru_tail = k;
}

static void bucket_unlink(struct proc *p, struct key_state *k)
{
	struct key_state **pp = &p->buckets[k->hash & (p->nbuckets - 1)];

	while (*pp && *pp != k)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = k->hnext;
	k->hnext = NULL;
}

static void bucket_insert(struct proc *p, struct key_state *k)
{
	struct key_state **b = &p->buckets[k->hash & (p->nbuckets - 1)];

	k->hnext = *b;
	*b = k;
}

/* Double the table; on allocation failure keep the old one (longer chains). */
static void table_grow(struct proc *p)
{
	size_t n = p->nbuckets * 2;
	struct key_state **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct key_state *k = p->buckets[i], *next;
		for (; k; k = next) {
			next = k->hnext;
			k->hnext = nb[k->hash & (n - 1)];
			nb[k->hash & (n - 1)] = k;
		}
	}
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
}

static void state_clear(struct key_state *k, const char *key, uint64_t h)
{
	k->hash = h;
	sc_strlcpy(k->key, key, sizeof(k->key));
	k->cpu_n = k->cpu_head = 0;
	k->seen_accel = false;
	k->act_n = k->act_head = 0;
}

/* The state of `key`, created (or recycled from the LRU tail) when new; NULL on ENOMEM. */
static struct key_state *state_get(struct proc *p, const char *key)
{
	uint64_t h = key_hash(key);
	struct key_state *k;

	for (k = p->buckets[h & (p->nbuckets - 1)]; k; k = k->hnext) {
		if (k->hash == h && strcmp(k->key, key) == 0) {
			if (p->lru_head != k) {
				lru_unlink(p, k);
				lru_push_front(p, k);
			}
			return k;
		}
	}
	if (p->nkeys >= p->cfg.max_keys) {
		k = p->lru_tail;
		lru_unlink(p, k);
		bucket_unlink(p, k);
	} else {
		size_t sz = sizeof(*k) + p->cfg.cpu_window * sizeof(double) +
			    p->cfg.activity_window * sizeof(struct act_entry);
		k = calloc(1, sz);
		if (!k)
			return NULL;
		k->cpu_ring = (double *)(k + 1);
		k->act_ring = (struct act_entry *)(k->cpu_ring + p->cfg.cpu_window);
		p->nkeys++;
		if (p->nkeys > p->nbuckets / 4 * 3)
			table_grow(p);
	}
	state_clear(k, key, h);
	bucket_insert(p, k);
	lru_push_front(p, k);
	return k;
}

/* ---- statistics ------------------------------------------------------- */

static void acc_add(struct field_acc *a, double x)
{
	double d = x - a->mean;

	if (a->count == 0 || x < a->min)
		a->min = x;
	if (a->count == 0 || x > a->max)
		a->max = x;
	a->count++;
	a->mean += d / a->count;
	a->m2 += d * (x - a->mean);
}

static double acc_std(const struct field_acc *a)
{
	return a->count ? sqrt(a->m2 / a->count) : 0.0;
}

static bool acc_finite(const struct field_acc *a)
{
	return isfinite(a->mean) && isfinite(a->m2) && isfinite(acc_std(a));
}

/* Population mean and std of the cpu ring. */
static void ring_stats(const struct key_state *k, double *mean, double *std)
{
	double sum = 0, ss = 0, m;

	if (k->cpu_n == 0) {
		*mean = *std = 0;
		return;
	}
	for (uint32_t i = 0; i < k->cpu_n; i++)
		sum += k->cpu_ring[i];
	m = sum / k->cpu_n;
	for (uint32_t i = 0; i < k->cpu_n; i++)
		ss += (k->cpu_ring[i] - m) * (k->cpu_ring[i] - m);
	*mean = m;
	*std = sqrt(ss / k->cpu_n);
}

static void envelope_copy(struct sc_envelope *dst, const struct sc_envelope *src)
{
	sc_strlcpy(dst->source, src->source, sizeof(dst->source));
	sc_strlcpy(dst->key, src->key, sizeof(dst->key));
	dst->seq = src->seq;
	dst->event_ns = src->event_ns;
	dst->intended_ns = src->intended_ns;
	dst->sent_ns = src->sent_ns;
	dst->processed_ns = 0;
}

static bool pct_ok(double v)
{
	return isfinite(v) && v >= 0.0 && v <= 100.0;
}

/* ---- cpu -------------------------------------------------------------- */

static int proc_cpu(struct proc *p, const struct sc_record *in, struct sc_record *out,
		    const char *key, struct sc_error *err)
{
	const struct sc_cpu_sample *s = &in->u.cpu;
	struct sc_cpu_stats *st;
	struct key_state *k;
	double sum = 0, x, mb, sb, z = 0;
	uint32_t nb;

	if (s->ncores == 0 || s->ncores > SC_CPU_MAX_CORES)
		return sc_error_set(err, SC_EINVAL, "proc: invalid cpu sample: ncores is %u",
				    s->ncores);
	if (!pct_ok(s->total))
		return sc_error_set(err, SC_EINVAL,
				    "proc: invalid cpu sample: total %g is not a percentage",
				    s->total);
	for (uint32_t i = 0; i < s->ncores; i++) {
		if (!pct_ok(s->cores[i]))
			return sc_error_set(err, SC_EINVAL,
					    "proc: invalid cpu sample: core %u value %g is not a "
					    "percentage",
					    i, s->cores[i]);
		sum += s->cores[i];
	}
	x = sum / s->ncores;

	k = state_get(p, key);
	if (!k)
		return sc_error_set(err, SC_ENOMEM, "proc: out of memory for key state");
	nb = k->cpu_n;
	ring_stats(k, &mb, &sb);
	if (nb >= PROC_MIN_ZSAMPLES && sb > 0) {
		z = (x - mb) / sb;
		if (!isfinite(z))
			z = 0;
	}
	k->cpu_ring[k->cpu_head] = x;
	k->cpu_head = (k->cpu_head + 1) % p->cfg.cpu_window;
	if (k->cpu_n < p->cfg.cpu_window)
		k->cpu_n++;

	sc_record_reset(out, SC_KIND_CPU_STATS);
	envelope_copy(&out->env, &in->env);
	st = &out->u.cpu_stats;
	st->ncores = s->ncores;
	st->total = s->total;
	st->mean_cores = x;
	ring_stats(k, &st->rolling_mean, &st->rolling_std);
	st->zscore = z;
	st->anomaly = nb >= PROC_MIN_ZSAMPLES && fabs(z) > p->cfg.z_threshold;
	st->window = k->cpu_n;
	return 0;
}

/* ---- sensor ----------------------------------------------------------- */

static struct sensor_acc *sensor_find(struct proc *p, const char *name, size_t *hint)
{
	struct sensor_acc *sa;

	if (*hint < p->nsens && strcmp(p->sens[*hint].name, name) == 0)
		return &p->sens[*hint];
	for (size_t i = 0; i < p->nsens; i++) {
		if (strcmp(p->sens[i].name, name) == 0) {
			*hint = i;
			return &p->sens[i];
		}
	}
	if (p->nsens == p->capsens) {
		size_t n = p->capsens ? p->capsens * 2 : 16;
		struct sensor_acc *ns = realloc(p->sens, n * sizeof(*ns));
		if (!ns)
			return NULL;
		p->sens = ns;
		p->capsens = n;
	}
	sa = &p->sens[p->nsens];
	sc_strlcpy(sa->name, name, sizeof(sa->name));
	sa->nfields = 0;
	sa->has_magnitude_field = false;
	memset(&sa->mag, 0, sizeof(sa->mag));
	*hint = p->nsens++;
	return sa;
}

static struct field_acc *field_find(struct sensor_acc *sa, const char *name, uint32_t pos)
{
	struct field_acc *f;

	if (pos < sa->nfields && strcmp(sa->f[pos].name, name) == 0)
		return &sa->f[pos];
	for (uint32_t i = 0; i < sa->nfields; i++)
		if (strcmp(sa->f[i].name, name) == 0)
			return &sa->f[i];
	if (sa->nfields == PROC_MAX_FIELDS)
		return NULL;
	f = &sa->f[sa->nfields++];
	memset(f, 0, sizeof(*f));
	sc_strlcpy(f->name, name, sizeof(f->name));
	if (strcmp(name, "magnitude") == 0)
		sa->has_magnitude_field = true;
	return f;
}

/* sqrt(x^2+y^2+z^2) without overflow for large finite components. */
static double magnitude(double x, double y, double z)
{
	double m = fmax(fabs(x), fmax(fabs(y), fabs(z)));

	if (m == 0)
		return 0;
	x /= m;
	y /= m;
	z /= m;
	return m * sqrt(x * x + y * y + z * z);
}

/* Accumulate the batch into p->sens; 0 or -SC_EINVAL / -SC_ENOMEM. */
static int sensor_accumulate(struct proc *p, const struct sc_sensor_batch *b, struct sc_error *err)
{
	size_t hint = 0;

	p->nsens = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct sc_sensor_reading *rd = &b->readings[i];
		const struct sc_sensor_value *x, *y, *z;
		struct sensor_acc *sa;

		if (!memchr(rd->name, '\0', sizeof(rd->name)) || !rd->name[0])
			return sc_error_set(err, SC_EINVAL,
					    "proc: invalid sensor batch: reading %zu has no name",
					    i);
		if (rd->nvalues > SC_SENSOR_MAX_VALUES)
			return sc_error_set(err, SC_EINVAL,
					    "proc: invalid sensor batch: reading %zu has %u values",
					    i, rd->nvalues);
		sa = sensor_find(p, rd->name, &hint);
		if (!sa)
			return sc_error_set(err, SC_ENOMEM,
					    "proc: out of memory for sensor scratch");
		for (uint32_t j = 0; j < rd->nvalues; j++) {
			const struct sc_sensor_value *v = &rd->values[j];
			struct field_acc *f;

			if (!isfinite(v->v))
				return sc_error_set(err, SC_EINVAL,
						    "proc: invalid sensor batch: reading %zu (%s) "
						    "field %.31s is not finite",
						    i, rd->name, v->name);
			f = field_find(sa, v->name, j);
			if (!f)
				return sc_error_set(
					err, SC_EINVAL,
					"proc: invalid sensor batch: sensor %s has more "
					"than %d fields",
					rd->name, PROC_MAX_FIELDS);
			acc_add(f, v->v);
		}
		x = sc_reading_get(rd, "x");
		y = sc_reading_get(rd, "y");
		z = sc_reading_get(rd, "z");
		if (x && y && z)
			acc_add(&sa->mag, magnitude(x->v, y->v, z->v));
	}
	return 0;
}

static int feature_put(struct sc_sensor_features *ft, const char *sensor, const struct field_acc *a,
		       struct sc_error *err)
{
	struct sc_feature *f;

	if (!acc_finite(a))
		return sc_error_set(err, SC_EINVAL,
				    "proc: invalid sensor batch: %s %s values out of range", sensor,
				    a->name);
	f = sc_features_add(ft);
	if (!f)
		return sc_error_set(err, SC_ENOMEM, "proc: out of memory for features");
	sc_strlcpy(f->sensor, sensor, sizeof(f->sensor));
	sc_strlcpy(f->field, a->name, sizeof(f->field));
	f->count = a->count;
	f->mean = a->mean;
	f->std = acc_std(a);
	f->min = a->min;
	f->max = a->max;
	return 0;
}

static bool sensor_has_mag(const struct sensor_acc *sa)
{
	return sa->mag.count > 0 && !sa->has_magnitude_field;
}

/* Pooled population std of the key's activity window. */
static double activity_score(const struct key_state *k)
{
	double n = 0, mean = 0, m2 = 0;

	for (uint32_t i = 0; i < k->act_n; i++) {
		const struct act_entry *e = &k->act_ring[i];
		double nn, d;

		if (!e->count)
			continue;
		nn = n + e->count;
		d = e->mean - mean;
		mean += d * e->count / nn;
		m2 += e->m2 + d * d * n * e->count / nn;
		n = nn;
	}
	return n > 0 ? sqrt(m2 / n) : 0.0;
}

static int proc_sensor(struct proc *p, const struct sc_record *in, struct sc_record *out,
		       const char *key, struct sc_error *err)
{
	const struct sc_sensor_batch *b = &in->u.sensor;
	const struct sensor_acc *accel = NULL;
	struct sc_sensor_features *ft;
	struct key_state *k;
	int ret;

	if (b->n > 0 && !b->readings)
		return sc_error_set(err, SC_EINVAL,
				    "proc: invalid sensor batch: no readings array");
	ret = sensor_accumulate(p, b, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < p->nsens; i++) {
		if (!sensor_has_mag(&p->sens[i]))
			continue;
		sc_strlcpy(p->sens[i].mag.name, "magnitude", SC_NAME_MAX);
		if (!acc_finite(&p->sens[i].mag))
			return sc_error_set(err, SC_EINVAL,
					    "proc: invalid sensor batch: %s magnitude out of range",
					    p->sens[i].name);
		if (strcmp(p->sens[i].name, "accelerometer") == 0)
			accel = &p->sens[i];
	}

	sc_record_reset(out, SC_KIND_SENSOR_FEATURES);
	envelope_copy(&out->env, &in->env);
	ft = &out->u.features;
	ft->message_id = b->message_id;
	sc_strlcpy(ft->session_id, b->session_id, sizeof(ft->session_id));
	sc_strlcpy(ft->device_id, b->device_id, sizeof(ft->device_id));
	ft->nreadings = (uint32_t)b->n;
	for (size_t i = 0; i < b->n; i++) {
		int64_t t = b->readings[i].time_ns;
		if (i == 0 || t < ft->window_start_ns)
			ft->window_start_ns = t;
		if (i == 0 || t > ft->window_end_ns)
			ft->window_end_ns = t;
	}
	for (size_t i = 0; i < p->nsens; i++) {
		const struct sensor_acc *sa = &p->sens[i];
		for (uint32_t j = 0; j < sa->nfields; j++)
			if ((ret = feature_put(ft, sa->name, &sa->f[j], err)) < 0)
				return ret;
		if (sensor_has_mag(sa) && (ret = feature_put(ft, sa->name, &sa->mag, err)) < 0)
			return ret;
	}

	k = state_get(p, key);
	if (!k)
		return sc_error_set(err, SC_ENOMEM, "proc: out of memory for key state");
	if (accel) {
		struct act_entry *e = &k->act_ring[k->act_head];
		e->count = accel->mag.count;
		e->mean = accel->mag.mean;
		e->m2 = accel->mag.m2;
		k->act_head = (k->act_head + 1) % p->cfg.activity_window;
		if (k->act_n < p->cfg.activity_window)
			k->act_n++;
		k->seen_accel = true;
	}
	if (!k->seen_accel) {
		sc_strlcpy(ft->activity, "unknown", sizeof(ft->activity));
		ft->activity_score = 0;
		return 0;
	}
	ft->activity_score = activity_score(k);
	sc_strlcpy(ft->activity,
		   ft->activity_score < ACT_WALKING   ? "still"
		   : ft->activity_score < ACT_RUNNING ? "walking"
						      : "running",
		   sizeof(ft->activity));
	return 0;
}

/* ---- api -------------------------------------------------------------- */

struct proc *proc_new(const struct proc_cfg *cfg, struct sc_error *err)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		goto fail_nomem;
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.cpu_window)
		p->cfg.cpu_window = 60;
	if (!(p->cfg.z_threshold > 0))
		p->cfg.z_threshold = 3.0;
	if (!p->cfg.activity_window)
		p->cfg.activity_window = 5;
	if (!p->cfg.max_keys)
		p->cfg.max_keys = 65536;
	if (!isfinite(p->cfg.z_threshold) || p->cfg.cpu_window > (1u << 24) ||
	    p->cfg.activity_window > (1u << 20)) {
		free(p);
		sc_error_set(err, SC_EINVAL, "proc: window or threshold out of range");
		return NULL;
	}
	p->nbuckets = 16;
	p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
	if (!p->buckets)
		goto fail_free_proc;
	return p;

fail_free_proc:
	free(p);
fail_nomem:
	sc_error_set(err, SC_ENOMEM, "proc: out of memory");
	return NULL;
}

int proc_apply(struct proc *p, const struct sc_record *in, struct sc_record *out,
	       struct sc_error *err)
{
	char key[SC_KEY_MAX];

	if (!p || !in || !out || in == out)
		return sc_error_set(err, SC_EINVAL, "proc: bad arguments");
	sc_strlcpy(key, memchr(in->env.key, '\0', sizeof(in->env.key)) ? in->env.key : "",
		   sizeof(key));
	switch (in->kind) {
	case SC_KIND_CPU: return proc_cpu(p, in, out, key, err);
	case SC_KIND_SENSOR: return proc_sensor(p, in, out, key, err);
	default: {
		const char *name = sc_kind_name(in->kind);
		return sc_error_set(err, SC_EINVAL, "proc: not a raw record: kind %s",
				    name ? name : "invalid");
	}
	}
}

size_t proc_keys(const struct proc *p)
{
	return p ? p->nkeys : 0;
}

void proc_free(struct proc *p)
{
	struct key_state *k, *next;

	if (!p)
		return;
	for (k = p->lru_head; k; k = next) {
		next = k->lru_next;
		free(k);
	}
	free(p->buckets);
	free(p->sens);
	free(p);
}

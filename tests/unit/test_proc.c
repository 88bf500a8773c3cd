/*
 * test_proc.c - cpu rolling statistics and anomalies, sensor features and
 * activity labels, per-key state and its LRU bound, input validation.
 */
#include <criterion/criterion.h>

#include "error.h"
#include "gen.h"
#include "proc.h"
#include "record.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static struct proc *proc_with(unsigned cpu_window, unsigned activity_window, size_t max_keys)
{
	struct proc_cfg cfg = {
		.cpu_window = cpu_window, .activity_window = activity_window, .max_keys = max_keys};
	struct sc_error err = {0};
	struct proc *p = proc_new(&cfg, &err);

	cr_assert_not_null(p, "%s", err.msg);
	return p;
}

/* A two-core sample whose mean over cores is `mean`. */
static void cpu_rec(struct sc_record *r, const char *key, uint64_t seq, double mean)
{
	sc_record_reset(r, SC_KIND_CPU);
	sc_strlcpy(r->env.source, "gen-1", sizeof(r->env.source));
	sc_strlcpy(r->env.key, key, sizeof(r->env.key));
	r->env.seq = seq;
	r->env.event_ns = 1000 + (int64_t)seq;
	r->env.intended_ns = 2000 + (int64_t)seq;
	r->env.sent_ns = 3000 + (int64_t)seq;
	r->u.cpu.ncores = 2;
	r->u.cpu.cores[0] = mean - 1 >= 0 ? mean - 1 : 0;
	r->u.cpu.cores[1] = 2 * mean - r->u.cpu.cores[0];
	r->u.cpu.total = mean;
}

static const struct sc_cpu_stats *apply_cpu(struct proc *p, struct sc_record *in,
					    struct sc_record *out)
{
	struct sc_error err = {0};

	cr_assert_eq(proc_apply(p, in, out, &err), 0, "%s", err.msg);
	cr_assert_eq(out->kind, SC_KIND_CPU_STATS);
	return &out->u.cpu_stats;
}

static void add_reading(struct sc_record *r, const char *name, int64_t t, int nv,
			const char **names, const double *v)
{
	struct sc_sensor_reading *rd = sc_batch_add(&r->u.sensor);

	cr_assert_not_null(rd);
	sc_strlcpy(rd->name, name, sizeof(rd->name));
	rd->time_ns = t;
	for (int i = 0; i < nv; i++)
		cr_assert_eq(sc_reading_set(rd, names[i], v[i]), 0);
}

static const char *xyz[] = {"x", "y", "z"};

static void add_xyz(struct sc_record *r, const char *name, int64_t t, double x, double y, double z)
{
	double v[3] = {x, y, z};

	add_reading(r, name, t, 3, xyz, v);
}

static void sensor_rec(struct sc_record *r, const char *key)
{
	sc_record_reset(r, SC_KIND_SENSOR);
	sc_strlcpy(r->env.source, "phone-src", sizeof(r->env.source));
	sc_strlcpy(r->env.key, key, sizeof(r->env.key));
	r->env.seq = 17;
	r->env.event_ns = 111;
	r->env.intended_ns = 222;
	r->env.sent_ns = 333;
	r->env.processed_ns = 444;
	r->u.sensor.message_id = 5;
	sc_strlcpy(r->u.sensor.session_id, "sess", sizeof(r->u.sensor.session_id));
	sc_strlcpy(r->u.sensor.device_id, key, sizeof(r->u.sensor.device_id));
}

static const struct sc_sensor_features *apply_sensor(struct proc *p, struct sc_record *in,
						     struct sc_record *out)
{
	struct sc_error err = {0};

	cr_assert_eq(proc_apply(p, in, out, &err), 0, "%s", err.msg);
	cr_assert_eq(out->kind, SC_KIND_SENSOR_FEATURES);
	return &out->u.features;
}

static void expect_feature(const struct sc_feature *f, const char *sensor, const char *field,
			   uint32_t count, double mean, double std, double min, double max)
{
	cr_assert_str_eq(f->sensor, sensor);
	cr_assert_str_eq(f->field, field);
	cr_assert_eq(f->count, count, "%s.%s count %u", sensor, field, f->count);
	cr_assert_float_eq(f->mean, mean, 1e-12, "%s.%s mean %.15g", sensor, field, f->mean);
	cr_assert_float_eq(f->std, std, 1e-12, "%s.%s std %.15g", sensor, field, f->std);
	cr_assert_float_eq(f->min, min, 1e-12);
	cr_assert_float_eq(f->max, max, 1e-12);
}

/* An accelerometer batch whose magnitudes alternate between 0 and 2*half (std = half). */
static void activity_batch(struct sc_record *r, const char *key, double half)
{
	sensor_rec(r, key);
	for (int i = 0; i < 50; i++)
		add_xyz(r, "accelerometer", 1000 + i, 0, i % 2 ? 2 * half : 0, 0);
}

/* ---- cpu -------------------------------------------------------------- */

Test(proc_cpu, computes_rolling_mean_std_and_zscore_exactly)
{
	struct proc *p = proc_with(6, 0, 0);
	struct sc_record in, out;
	const struct sc_cpu_stats *st;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (int i = 1; i <= 5; i++) {
		cpu_rec(&in, "h", i, 10.0 * i);
		st = apply_cpu(p, &in, &out);
		cr_assert_float_eq(st->mean_cores, 10.0 * i, 1e-12);
		cr_assert_eq(st->window, (uint32_t)i);
		cr_assert_float_eq(st->rolling_mean, 5.0 * (i + 1), 1e-12);
		cr_assert_eq(st->zscore, 0.0, "fewer than 5 samples before: z is 0");
		cr_assert_not(st->anomaly);
	}
	/* before: 10..50, mean 30, std sqrt(200); after: 10..60, mean 35, std sqrt(1750/6) */
	cpu_rec(&in, "h", 6, 60);
	st = apply_cpu(p, &in, &out);
	cr_assert_float_eq(st->zscore, 30.0 / sqrt(200.0), 1e-12);
	cr_assert_float_eq(st->rolling_mean, 35.0, 1e-12);
	cr_assert_float_eq(st->rolling_std, sqrt(1750.0 / 6.0), 1e-12);
	cr_assert_eq(st->window, 6);
	cr_assert_not(st->anomaly);
	/* before: 10..60; after the ring drops 10: 20..70, mean 45 */
	cpu_rec(&in, "h", 7, 70);
	st = apply_cpu(p, &in, &out);
	cr_assert_float_eq(st->zscore, 35.0 / sqrt(1750.0 / 6.0), 1e-12);
	cr_assert_float_eq(st->rolling_mean, 45.0, 1e-12);
	cr_assert_float_eq(st->rolling_std, sqrt(1750.0 / 6.0), 1e-12);
	cr_assert_eq(st->window, 6, "the window is bounded by cpu_window");
	cr_assert_eq(st->ncores, 2);
	cr_assert_float_eq(st->total, 70.0, 1e-12);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, raises_an_anomaly_on_a_spike_only)
{
	static const double calm[] = {50, 51, 49, 50, 51, 49, 50, 51};
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_cpu_stats *st;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (size_t i = 0; i < sizeof(calm) / sizeof(calm[0]); i++) {
		cpu_rec(&in, "h", i, calm[i]);
		cr_assert_not(apply_cpu(p, &in, &out)->anomaly, "calm sample %zu", i);
	}
	cpu_rec(&in, "h", 8, 95);
	st = apply_cpu(p, &in, &out);
	cr_assert(st->anomaly);
	cr_assert_gt(st->zscore, 3.0);
	cpu_rec(&in, "h", 9, 50);
	st = apply_cpu(p, &in, &out);
	cr_assert_not(st->anomaly, "back to normal (z %g)", st->zscore);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, gives_zero_zscore_for_a_constant_series)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_cpu_stats *st = NULL;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (int i = 0; i < 10; i++) {
		cpu_rec(&in, "h", i, 25);
		st = apply_cpu(p, &in, &out);
		cr_assert_eq(st->zscore, 0.0);
		cr_assert_not(st->anomaly);
	}
	cr_assert_eq(st->rolling_std, 0.0);
	cr_assert_float_eq(st->rolling_mean, 25.0, 1e-12);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, keeps_keys_independent)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_cpu_stats *st;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (int i = 0; i < 4; i++) {
		cpu_rec(&in, "a", i, 10);
		apply_cpu(p, &in, &out);
		cpu_rec(&in, "b", i, 90);
		apply_cpu(p, &in, &out);
	}
	cpu_rec(&in, "a", 4, 20);
	st = apply_cpu(p, &in, &out);
	cr_assert_eq(st->window, 5);
	cr_assert_float_eq(st->rolling_mean, 12.0, 1e-12, "b's samples do not leak into a");
	cr_assert_eq(proc_keys(p), 2);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, evicts_the_least_recently_used_key_at_max_keys)
{
	struct proc *p = proc_with(0, 0, 2);
	struct sc_record in, out;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	cpu_rec(&in, "a", 0, 10);
	apply_cpu(p, &in, &out);
	cpu_rec(&in, "b", 0, 10);
	apply_cpu(p, &in, &out);
	cpu_rec(&in, "a", 1, 10); /* a is now the most recent */
	cr_assert_eq(apply_cpu(p, &in, &out)->window, 2);
	cpu_rec(&in, "c", 0, 10); /* evicts b */
	cr_assert_eq(apply_cpu(p, &in, &out)->window, 1);
	cr_assert_eq(proc_keys(p), 2);
	cpu_rec(&in, "a", 2, 10);
	cr_assert_eq(apply_cpu(p, &in, &out)->window, 3, "a kept its state");
	cpu_rec(&in, "b", 1, 10); /* b starts over, evicting c */
	cr_assert_eq(apply_cpu(p, &in, &out)->window, 1, "b was evicted");
	cpu_rec(&in, "c", 1, 10);
	cr_assert_eq(apply_cpu(p, &in, &out)->window, 1, "c was evicted");
	cr_assert_eq(proc_keys(p), 2);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, holds_many_keys_through_table_growth)
{
	struct proc *p = proc_with(0, 0, 300);
	struct sc_record in, out;
	char key[32];

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(key, sizeof(key), "host-%d", i);
			cpu_rec(&in, key, round, 10);
			/* a cyclic scan of 1000 keys through 300 slots always misses */
			cr_assert_eq(apply_cpu(p, &in, &out)->window, 1, "%s", key);
		}
		cr_assert_eq(proc_keys(p), 300);
	}
	for (int i = 700; i < 1000; i++) { /* the last 300 of the scan are resident */
		snprintf(key, sizeof(key), "host-%d", i);
		cpu_rec(&in, key, 2, 10);
		cr_assert_eq(apply_cpu(p, &in, &out)->window, 2, "%s survived", key);
	}
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, copies_the_envelope_and_leaves_processed_ns_zero)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	cpu_rec(&in, "host-x", 41, 30);
	in.env.processed_ns = 99;
	apply_cpu(p, &in, &out);
	cr_assert_str_eq(out.env.source, "gen-1");
	cr_assert_str_eq(out.env.key, "host-x");
	cr_assert_eq(out.env.seq, 41);
	cr_assert_eq(out.env.event_ns, 1041);
	cr_assert_eq(out.env.intended_ns, 2041);
	cr_assert_eq(out.env.sent_ns, 3041);
	cr_assert_eq(out.env.processed_ns, 0);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_cpu, rejects_invalid_samples_with_a_reason_and_no_state)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_error err = {0};
	struct sc_record in, out;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	cpu_rec(&in, "h", 0, 10);
	in.u.cpu.ncores = 0;
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "proc: invalid cpu sample: ncores is 0");

	cpu_rec(&in, "h", 0, 10);
	in.u.cpu.cores[1] = NAN;
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "core 1"), "%s", err.msg);

	cpu_rec(&in, "h", 0, 10);
	in.u.cpu.total = INFINITY;
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "total"), "%s", err.msg);

	cpu_rec(&in, "h", 0, 10);
	in.u.cpu.cores[0] = 250;
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);

	cr_assert_eq(proc_keys(p), 0, "refused records create no state");
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc, rejects_records_that_are_not_raw)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_error err = {0};
	struct sc_record in, out;

	sc_record_init(&in, SC_KIND_CPU_STATS);
	sc_record_init(&out, SC_KIND_NONE);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "proc: not a raw record: kind cpu_stats");
	sc_record_init(&in, SC_KIND_DEADLETTER);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert_eq(proc_apply(p, &in, &in, &err), -SC_EINVAL, "in and out must differ");
	proc_free(p);
	proc_free(NULL);
}

/* ---- sensor ----------------------------------------------------------- */

Test(proc_sensor, computes_exact_features_in_first_appearance_order)
{
	static const char *lux[] = {"lux"};
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_sensor_features *ft;
	double v;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sensor_rec(&in, "phone-1");
	add_xyz(&in, "accelerometer", 100, 3, 4, 0);
	v = 10;
	add_reading(&in, "light", 150, 1, lux, &v);
	add_xyz(&in, "accelerometer", 200, 0, 0, 2);
	v = 30;
	add_reading(&in, "light", 50, 1, lux, &v);
	add_xyz(&in, "accelerometer", 300, 1, 2, 2);
	ft = apply_sensor(p, &in, &out);

	cr_assert_eq(ft->n, 5);
	expect_feature(&ft->features[0], "accelerometer", "x", 3, 4.0 / 3, sqrt(42.0 / 27), 0, 3);
	expect_feature(&ft->features[1], "accelerometer", "y", 3, 2.0, sqrt(8.0 / 3), 0, 4);
	expect_feature(&ft->features[2], "accelerometer", "z", 3, 4.0 / 3, sqrt(24.0 / 27), 0, 2);
	/* magnitudes 5, 2, 3 */
	expect_feature(&ft->features[3], "accelerometer", "magnitude", 3, 10.0 / 3, sqrt(42.0 / 27),
		       2, 5);
	expect_feature(&ft->features[4], "light", "lux", 2, 20, 10, 10, 30);
	cr_assert_eq(ft->nreadings, 5);
	cr_assert_eq(ft->window_start_ns, 50);
	cr_assert_eq(ft->window_end_ns, 300);
	cr_assert_eq(ft->message_id, 5);
	cr_assert_str_eq(ft->session_id, "sess");
	cr_assert_str_eq(ft->device_id, "phone-1");
	cr_assert_str_eq(ft->activity, "walking");
	cr_assert_float_eq(ft->activity_score, sqrt(42.0 / 27), 1e-12);

	cr_assert_str_eq(out.env.source, "phone-src");
	cr_assert_str_eq(out.env.key, "phone-1");
	cr_assert_eq(out.env.seq, 17);
	cr_assert_eq(out.env.event_ns, 111);
	cr_assert_eq(out.env.intended_ns, 222);
	cr_assert_eq(out.env.sent_ns, 333);
	cr_assert_eq(out.env.processed_ns, 0);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, adds_magnitude_only_for_readings_with_x_y_z)
{
	static const char *xy[] = {"x", "y"};
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_sensor_features *ft;
	double v[2] = {3, 4};

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sensor_rec(&in, "k");
	add_reading(&in, "flat", 1, 2, xy, v);
	add_xyz(&in, "gyroscope", 2, 0, 3, 4);
	add_reading(&in, "gyroscope", 3, 2, xy, v);
	ft = apply_sensor(p, &in, &out);
	cr_assert_eq(ft->n, 2 + 4);
	cr_assert_str_eq(ft->features[1].field, "y");
	expect_feature(&ft->features[5], "gyroscope", "magnitude", 1, 5, 0, 5, 5);
	expect_feature(&ft->features[4], "gyroscope", "z", 1, 4, 0, 4, 4);
	expect_feature(&ft->features[2], "gyroscope", "x", 2, 1.5, 1.5, 0, 3);
	cr_assert_str_eq(ft->activity, "unknown", "no accelerometer ever");
	cr_assert_eq(ft->activity_score, 0.0);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, labels_still_walking_and_running)
{
	struct proc *p = proc_with(0, 1, 0);
	struct sc_record in, out;
	const struct sc_sensor_features *ft;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	activity_batch(&in, "k", 0.01);
	ft = apply_sensor(p, &in, &out);
	cr_assert_str_eq(ft->activity, "still");
	cr_assert_float_eq(ft->activity_score, 0.01, 1e-12);
	activity_batch(&in, "k", 1.0);
	ft = apply_sensor(p, &in, &out);
	cr_assert_str_eq(ft->activity, "walking");
	cr_assert_float_eq(ft->activity_score, 1.0, 1e-12);
	activity_batch(&in, "k", 4.0);
	ft = apply_sensor(p, &in, &out);
	cr_assert_str_eq(ft->activity, "running");
	cr_assert_float_eq(ft->activity_score, 4.0, 1e-12);
	/* the thresholds themselves */
	activity_batch(&in, "k", 0.5);
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "walking");
	activity_batch(&in, "k", 3.0);
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "running");
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, pools_the_activity_over_the_last_batches_of_the_key)
{
	static const char *lux[] = {"lux"};
	struct proc *p = proc_with(0, 2, 0);
	struct sc_record in, out;
	const struct sc_sensor_features *ft;
	double v = 1;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sensor_rec(&in, "k");
	add_reading(&in, "light", 1, 1, lux, &v);
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "unknown");

	activity_batch(&in, "k", 4.0); /* magnitudes 0/8 */
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "running");
	activity_batch(&in, "k", 0.0); /* magnitudes 0: pooled with 0/8 -> std sqrt(12) */
	ft = apply_sensor(p, &in, &out);
	cr_assert_float_eq(ft->activity_score, sqrt(12.0), 1e-12);
	cr_assert_str_eq(ft->activity, "running");
	activity_batch(&in, "other", 1.0);
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "walking", "keys are separate");
	activity_batch(&in, "k", 0.0); /* the running batch left the window of 2 */
	ft = apply_sensor(p, &in, &out);
	cr_assert_str_eq(ft->activity, "still");
	cr_assert_eq(ft->activity_score, 0.0);

	sensor_rec(&in, "k"); /* no accelerometer: the label stays */
	add_reading(&in, "light", 1, 1, lux, &v);
	cr_assert_str_eq(apply_sensor(p, &in, &out)->activity, "still");
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, accepts_an_empty_batch)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_sensor_features *ft;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sensor_rec(&in, "k");
	ft = apply_sensor(p, &in, &out);
	cr_assert_eq(ft->n, 0);
	cr_assert_eq(ft->nreadings, 0);
	cr_assert_eq(ft->window_start_ns, 0);
	cr_assert_eq(ft->window_end_ns, 0);
	cr_assert_str_eq(ft->activity, "unknown");
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, rejects_non_finite_and_overflowing_values)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_error err = {0};
	struct sc_record in, out;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sensor_rec(&in, "k");
	add_xyz(&in, "accelerometer", 1, 0, 0, 0);
	add_xyz(&in, "accelerometer", 2, 0, NAN, 0);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "proc: invalid sensor batch: reading 1 (accelerometer) field y "
				  "is not finite");

	sensor_rec(&in, "k");
	add_xyz(&in, "gyroscope", 1, -INFINITY, 0, 0);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);

	sensor_rec(&in, "k"); /* finite, but the variance overflows */
	add_xyz(&in, "accelerometer", 1, 1e300, 0, 0);
	add_xyz(&in, "accelerometer", 2, -1e300, 0, 0);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);

	sensor_rec(&in, "k");
	add_xyz(&in, "", 1, 0, 0, 0);
	cr_assert_eq(proc_apply(p, &in, &out, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "no name"), "%s", err.msg);

	cr_assert_eq(proc_keys(p), 0, "refused batches create no state");
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

Test(proc_sensor, reuses_the_output_arrays_in_steady_state)
{
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	const struct sc_feature *arr;

	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	activity_batch(&in, "k", 1.0);
	arr = apply_sensor(p, &in, &out)->features;
	for (int i = 0; i < 5; i++) {
		activity_batch(&in, "k", 1.0 + i);
		cr_assert_eq(apply_sensor(p, &in, &out)->features, arr);
	}
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
}

/*
 * The simulated phone through proc: over 20 minutes, batches whose reported
 * speed says still / walking / running (stable for the last 6 batches, so
 * the 5-batch activity window holds one phase only) get that label.
 */
Test(proc_sensor, labels_the_simulated_phone_by_its_phase)
{
	static const char *labels[] = {"still", "walking", "running"};
	struct gen_cfg gcfg = {.source = GEN_SOURCE_SENSOR, .seed = 99};
	struct sc_error err = {0};
	struct gen *g = gen_new(&gcfg, &err);
	struct proc *p = proc_with(0, 0, 0);
	struct sc_record in, out;
	int hist[6] = {-1, -1, -1, -1, -1, -1}, checked[3] = {0};

	cr_assert_not_null(g, "%s", err.msg);
	sc_record_init(&in, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	for (int k = 0; k < 1200; k++) {
		cr_assert_eq(gen_next(g, &in, 1700000000LL * 1000000000LL + k * 1000000000LL, &err),
			     0, "%s", err.msg);
		const struct sc_sensor_features *ft = apply_sensor(p, &in, &out);
		double speed = -1;
		for (size_t i = 0; i < in.u.sensor.n; i++)
			if (!strcmp(in.u.sensor.readings[i].name, "location"))
				speed = sc_reading_get(&in.u.sensor.readings[i], "speed")->v;
		memmove(hist, hist + 1, 5 * sizeof(int));
		hist[5] = speed < 0.5 ? 0 : speed > 1.0 && speed < 1.9 ? 1 : speed > 2.4 ? 2 : -1;
		bool stable = hist[5] >= 0;
		for (int i = 0; i < 5; i++)
			stable = stable && hist[i] == hist[5];
		if (!stable)
			continue;
		cr_assert_str_eq(ft->activity, labels[hist[5]], "batch %d score %g", k,
				 ft->activity_score);
		checked[hist[5]]++;
	}
	for (int c = 0; c < 3; c++)
		cr_assert_gt(checked[c], 30, "%s checked %d times only", labels[c], checked[c]);
	sc_record_release(&in);
	sc_record_release(&out);
	proc_free(p);
	gen_free(g);
}

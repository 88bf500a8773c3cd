/*
 * test_gen.c - the cpu generator against fake /proc/stat files and the
 * simulated phone's rates, determinism, physics and limits.
 */
#include <criterion/criterion.h>

#include "error.h"
#include "gen.h"
#include "record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_NS 1000000000LL
#define T0   (1700000000LL * S_NS + 123456789LL) /* deliberately not on the 20 ms grid */

/* ---- cpu helpers ------------------------------------------------------ */

static char tmpdir[64];
static char statpath[128];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gen.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(statpath, sizeof(statpath), "%s/stat", tmpdir);
}

static void tmp_teardown(void)
{
	unlink(statpath);
	rmdir(tmpdir);
}

static void write_stat(const char *text)
{
	FILE *f = fopen(statpath, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static const char snap_a[] = "cpu  100 0 100 800 0 0 0 0 0 0\n"
			     "cpu0 50 0 50 400 0 0 0 0 0 0\n"
			     "cpu1 50 0 50 400 0 0 0 0 0 0\n"
			     "intr 12345 1 2 3 4 5\n"
			     "ctxt 99\n";

/* cpu0: total +500, idle+iowait +150 -> 70%; cpu1: +500, +450 -> 10%;
 * all: +1000, +600 -> 40%.  Guest time (column 9) is inside user already. */
static const char snap_b[] = "cpu  450 0 150 1200 200 0 0 0 300 0\n"
			     "cpu0 350 0 100 450 100 0 0 0 300 0\n"
			     "cpu1 100 0 50 750 100 0 0 0 0 0\n"
			     "intr 12400 1 2 3 4 5\n"
			     "ctxt 120\n";

/* A cpu generator on the fake file that reads it on every call (no tick cache). */
static struct gen *cpu_gen(const char *key)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_CPU,
			      .proc_stat = statpath,
			      .device_id = key,
			      .min_read_ns = -1};
	struct sc_error err = {0};
	struct gen *g = gen_new(&cfg, &err);

	cr_assert_not_null(g, "gen_new: %s", err.msg);
	return g;
}

TestSuite(cpu_generator, .init = tmp_setup, .fini = tmp_teardown);

Test(cpu_generator, reports_exact_percentages_from_two_snapshots)
{
	struct sc_error err = {0};
	struct sc_record r;
	struct gen *g;

	write_stat(snap_a);
	g = cpu_gen("host-a");
	write_stat(snap_b);
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 42, &err), 0, "%s", err.msg);
	cr_assert_eq(r.kind, SC_KIND_CPU);
	cr_assert_str_eq(r.env.key, "host-a");
	cr_assert_eq(r.env.event_ns, 42);
	cr_assert_eq(r.u.cpu.ncores, 2);
	cr_assert_float_eq(r.u.cpu.total, 40.0, 1e-9);
	cr_assert_float_eq(r.u.cpu.cores[0], 70.0, 1e-9);
	cr_assert_float_eq(r.u.cpu.cores[1], 10.0, 1e-9);
	sc_record_release(&r);
	gen_free(g);
}

Test(cpu_generator, repeats_previous_values_when_counters_did_not_advance)
{
	struct sc_error err = {0};
	struct sc_record r;
	struct gen *g;

	write_stat(snap_a);
	g = cpu_gen("h");
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(r.u.cpu.ncores, 2);
	cr_assert_float_eq(r.u.cpu.total, 0.0, 1e-12, "nothing before: 0");
	cr_assert_float_eq(r.u.cpu.cores[1], 0.0, 1e-12);
	write_stat(snap_b);
	cr_assert_eq(gen_next(g, &r, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(gen_next(g, &r, 3, &err), 0, "%s", err.msg);
	cr_assert_float_eq(r.u.cpu.total, 40.0, 1e-9, "unchanged counters repeat the last value");
	cr_assert_float_eq(r.u.cpu.cores[0], 70.0, 1e-9);
	cr_assert_float_eq(r.u.cpu.cores[1], 10.0, 1e-9);
	sc_record_release(&r);
	gen_free(g);
}

Test(cpu_generator, does_not_reread_within_one_clock_tick)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_CPU,
			      .proc_stat = statpath,
			      .device_id = "h",
			      .min_read_ns = 200000000};
	struct sc_error err = {0};
	struct timespec pause = {0, 250000000};
	struct sc_record r;
	struct gen *g;

	write_stat(snap_a);
	g = gen_new(&cfg, &err);
	cr_assert_not_null(g, "%s", err.msg);
	sc_record_init(&r, SC_KIND_NONE);
	write_stat(snap_b);
	cr_assert_eq(gen_next(g, &r, 1, &err), 0, "%s", err.msg);
	cr_assert_float_eq(r.u.cpu.total, 40.0, 1e-9, "the first sample reads the file");
	write_stat("not a stat file\n");
	cr_assert_eq(gen_next(g, &r, 2, &err), 0, "within the interval the file is not read: %s",
		     err.msg);
	cr_assert_float_eq(r.u.cpu.total, 40.0, 1e-9, "within the interval: the last sample again");
	cr_assert_eq(r.u.cpu.ncores, 2);
	cr_assert_float_eq(r.u.cpu.cores[0], 70.0, 1e-9);
	cr_assert_eq(r.env.event_ns, 2);
	nanosleep(&pause, NULL);
	cr_assert_lt(gen_next(g, &r, 3, &err), 0, "after the interval the file is read again");
	cr_assert(strstr(err.msg, "cpu: malformed"), "%s", err.msg);
	sc_record_release(&r);
	gen_free(g);
}

Test(cpu_generator, matches_cores_by_number_when_one_goes_offline)
{
	struct sc_error err = {0};
	struct sc_record r;
	struct gen *g;

	write_stat(snap_a);
	g = cpu_gen("h");
	write_stat("cpu  450 0 150 1200 200 0 0 0 0 0\n"
		   "cpu1 100 0 50 750 100 0 0 0 0 0\n");
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(r.u.cpu.ncores, 1);
	cr_assert_float_eq(r.u.cpu.cores[0], 10.0, 1e-9, "the remaining core is cpu1");
	sc_record_release(&r);
	gen_free(g);
}

Test(cpu_generator, reads_kernels_with_four_columns)
{
	struct sc_error err = {0};
	struct sc_record r;
	struct gen *g;

	write_stat("cpu  100 0 100 800\ncpu0 100 0 100 800\n");
	g = cpu_gen("h");
	write_stat("cpu  200 0 200 1400\ncpu0 200 0 200 1400\n");
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 1, &err), 0, "%s", err.msg);
	cr_assert_float_eq(r.u.cpu.total, 25.0, 1e-9);
	cr_assert_float_eq(r.u.cpu.cores[0], 25.0, 1e-9);
	sc_record_release(&r);
	gen_free(g);
}

Test(cpu_generator, refuses_a_malformed_line_naming_it)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_CPU, .proc_stat = statpath};
	struct sc_error err = {0};
	char want[256];

	write_stat("cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 x 4\n");
	cr_assert_null(gen_new(&cfg, &err));
	cr_assert_eq(err.code, SC_EINVAL);
	snprintf(want, sizeof(want), "cpu: malformed %s line 3", statpath);
	cr_assert_str_eq(err.msg, want);

	write_stat("cpu  1 2 3\n");
	cr_assert_null(gen_new(&cfg, &err), "fewer than 4 columns");
	cr_assert(strstr(err.msg, "line 1"), "%s", err.msg);

	write_stat("intr 1 2 3\n");
	cr_assert_null(gen_new(&cfg, &err), "no cpu line at all");
	cr_assert_eq(err.code, SC_EINVAL);
}

Test(cpu_generator, fails_when_the_file_disappears)
{
	struct sc_error err = {0};
	struct sc_record r;
	struct gen *g;
	char want[256];

	write_stat(snap_a);
	g = cpu_gen("h");
	unlink(statpath);
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 1, &err), -SC_EIO);
	snprintf(want, sizeof(want), "cpu: cannot read %s: No such file or directory", statpath);
	cr_assert_str_eq(err.msg, want);
	gen_free(g);
}

Test(cpu_generator, reads_the_real_proc_stat_with_hostname_key)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_CPU};
	struct sc_error err = {0};
	struct sc_record r;
	char host[256] = "";
	struct gen *g = gen_new(&cfg, &err);

	cr_assert_not_null(g, "%s", err.msg);
	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(gen_next(g, &r, 7, &err), 0, "%s", err.msg);
	gethostname(host, sizeof(host));
	cr_assert_str_eq(r.env.key, host);
	cr_assert_geq(r.u.cpu.ncores, 1);
	cr_assert(r.u.cpu.total >= 0 && r.u.cpu.total <= 100);
	for (uint32_t i = 0; i < r.u.cpu.ncores; i++)
		cr_assert(r.u.cpu.cores[i] >= 0 && r.u.cpu.cores[i] <= 100);
	gen_free(g);
}

/* ---- sensor helpers --------------------------------------------------- */

static struct gen *sensor_gen(uint64_t seed)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_SENSOR, .seed = seed};
	struct sc_error err = {0};
	struct gen *g = gen_new(&cfg, &err);

	cr_assert_not_null(g, "%s", err.msg);
	return g;
}

static void next_ok(struct gen *g, struct sc_record *r, int64_t end)
{
	struct sc_error err = {0};

	cr_assert_eq(gen_next(g, r, end, &err), 0, "%s", err.msg);
	cr_assert_eq(r->kind, SC_KIND_SENSOR);
}

static size_t count_of(const struct sc_sensor_batch *b, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++)
		n += strcmp(b->readings[i].name, name) == 0;
	return n;
}

static double val(const struct sc_sensor_reading *rd, const char *name)
{
	const struct sc_sensor_value *v = sc_reading_get(rd, name);

	cr_assert_not_null(v, "%s has no %s", rd->name, name);
	return v->v;
}

/* Population std of the accelerometer magnitude in a batch. */
static double accel_std(const struct sc_sensor_batch *b)
{
	double sum = 0, ss = 0, n = 0, m;

	for (size_t i = 0; i < b->n; i++) {
		const struct sc_sensor_reading *rd = &b->readings[i];
		if (strcmp(rd->name, "accelerometer"))
			continue;
		m = hypot(hypot(val(rd, "x"), val(rd, "y")), val(rd, "z"));
		sum += m;
		ss += m * m;
		n++;
	}
	m = sum / n;
	return sqrt(fmax(0, ss / n - m * m));
}

static const struct sc_sensor_reading *first_of(const struct sc_sensor_batch *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->readings[i].name, name) == 0)
			return &b->readings[i];
	return NULL;
}

/* Metres between two lat/lon points (equirectangular, fine at this scale). */
static double dist_m(double lat1, double lon1, double lat2, double lon2)
{
	double k = M_PI / 180.0, x = (lon2 - lon1) * k * cos((lat1 + lat2) / 2 * k);

	return 6371008.8 * hypot(x, (lat2 - lat1) * k);
}

/* ---- sensor simulator ------------------------------------------------- */

Test(sensor_simulator, reports_each_sensor_at_its_rate_in_a_one_second_window)
{
	static const struct {
		const char *name;
		size_t rate;
	} want[] = {{"accelerometer", 50}, {"gyroscope", 50},	{"gravity", 10},
		    {"magnetometer", 10},  {"orientation", 10}, {"barometer", 1},
		    {"light", 1},	   {"microphone", 2},	{"location", 1}};
	struct gen *g = sensor_gen(1);
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	for (int k = 0; k < 3; k++) {
		next_ok(g, &r, T0 + k * S_NS);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			cr_assert_eq(count_of(&r.u.sensor, want[i].name), want[i].rate,
				     "batch %d: %s has %zu readings", k, want[i].name,
				     count_of(&r.u.sensor, want[i].name));
		cr_assert_eq(r.u.sensor.n, 135);
	}
	sc_record_release(&r);
	gen_free(g);
}

Test(sensor_simulator, is_deterministic_for_a_seed)
{
	struct gen *a = sensor_gen(7), *b = sensor_gen(7), *c = sensor_gen(8);
	struct sc_record ra, rb, rc;

	sc_record_init(&ra, SC_KIND_NONE);
	sc_record_init(&rb, SC_KIND_NONE);
	sc_record_init(&rc, SC_KIND_NONE);
	for (int k = 0; k < 5; k++) {
		next_ok(a, &ra, T0 + k * 700000000LL);
		next_ok(b, &rb, T0 + k * 700000000LL);
		next_ok(c, &rc, T0 + k * 700000000LL);
		cr_assert(sc_record_equal(&ra, &rb), "batch %d differs for the same seed", k);
		cr_assert_not(sc_record_equal(&ra, &rc), "batch %d same for another seed", k);
	}
	sc_record_release(&ra);
	sc_record_release(&rb);
	sc_record_release(&rc);
	gen_free(a);
	gen_free(b);
	gen_free(c);
}

Test(sensor_simulator, does_not_depend_on_how_windows_cut_the_stream)
{
	static const int64_t cuts[] = {0, 300000000LL, 1000000000LL, 1710000000LL, 2000000000LL};
	struct gen *a = sensor_gen(3), *b = sensor_gen(3);
	struct sc_record ra, rb;
	size_t j = 0;

	sc_record_init(&ra, SC_KIND_NONE);
	sc_record_init(&rb, SC_KIND_NONE);
	next_ok(a, &ra, T0 + S_NS);	/* (T0, T0+1] */
	next_ok(a, &ra, T0 + 3 * S_NS); /* (T0+1, T0+3] at once */
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		next_ok(b, &rb, T0 + S_NS + cuts[k]);
		if (k == 0)
			continue;
		for (size_t i = 0; i < rb.u.sensor.n; i++, j++) {
			cr_assert_lt(j, ra.u.sensor.n);
			cr_assert_str_eq(rb.u.sensor.readings[i].name,
					 ra.u.sensor.readings[j].name);
			cr_assert_eq(rb.u.sensor.readings[i].time_ns,
				     ra.u.sensor.readings[j].time_ns);
			for (uint32_t v = 0; v < ra.u.sensor.readings[j].nvalues; v++)
				cr_assert_eq(rb.u.sensor.readings[i].values[v].v,
					     ra.u.sensor.readings[j].values[v].v);
		}
	}
	cr_assert_eq(j, ra.u.sensor.n);
	sc_record_release(&ra);
	sc_record_release(&rb);
	gen_free(a);
	gen_free(b);
}

Test(sensor_simulator, orders_readings_in_the_window_with_finite_values)
{
	struct gen *g = sensor_gen(11);
	struct sc_record r;
	int64_t prev_end = T0 - S_NS;

	sc_record_init(&r, SC_KIND_NONE);
	for (int k = 0; k < 20; k++) {
		int64_t end = T0 + k * 450000000LL, last = INT64_MIN;
		next_ok(g, &r, end);
		cr_assert_eq(r.env.event_ns, end);
		for (size_t i = 0; i < r.u.sensor.n; i++) {
			const struct sc_sensor_reading *rd = &r.u.sensor.readings[i];
			cr_assert(rd->time_ns > prev_end && rd->time_ns <= end,
				  "reading outside (prev end, end]");
			cr_assert_geq(rd->time_ns, last, "time order");
			last = rd->time_ns;
			cr_assert_gt(rd->nvalues, 0);
			for (uint32_t v = 0; v < rd->nvalues; v++)
				cr_assert(isfinite(rd->values[v].v), "%s.%s not finite", rd->name,
					  rd->values[v].name);
			bool want_acc =
				!strcmp(rd->name, "magnetometer") || !strcmp(rd->name, "location");
			cr_assert_eq(rd->has_accuracy, want_acc, "accuracy on %s", rd->name);
		}
		prev_end = end;
	}
	sc_record_release(&r);
	gen_free(g);
}

Test(sensor_simulator, fills_ids_and_counts_message_ids_from_zero)
{
	struct gen_cfg cfg = {.source = GEN_SOURCE_SENSOR, .seed = 5};
	struct sc_error err = {0};
	struct gen *g = sensor_gen(5), *h;
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	for (int k = 0; k < 3; k++) {
		next_ok(g, &r, T0 + k * S_NS);
		cr_assert_eq(r.u.sensor.message_id, k);
	}
	cr_assert_str_eq(r.u.sensor.device_id, "sim-phone-5");
	cr_assert_str_eq(r.env.key, "sim-phone-5");
	cr_assert_eq(strncmp(r.u.sensor.session_id, "sim-", 4), 0);
	cr_assert_eq(strlen(r.u.sensor.session_id), 4 + 16);

	cfg.device_id = "pixel-7";
	cfg.session_id = "sess-1";
	h = gen_new(&cfg, &err);
	cr_assert_not_null(h, "%s", err.msg);
	next_ok(h, &r, T0);
	cr_assert_str_eq(r.u.sensor.device_id, "pixel-7");
	cr_assert_str_eq(r.env.key, "pixel-7");
	cr_assert_str_eq(r.u.sensor.session_id, "sess-1");
	gen_free(h);

	cfg.device_id = "a-device-id-that-is-much-longer-than-the-sixty-three-bytes-allowed";
	cr_assert_null(gen_new(&cfg, &err));
	cr_assert_eq(err.code, SC_EINVAL);
	sc_record_release(&r);
	gen_free(g);
}

Test(sensor_simulator, keeps_orientation_gravity_and_quaternion_consistent)
{
	struct gen *g = sensor_gen(21);
	struct sc_record r;
	int checked = 0;

	sc_record_init(&r, SC_KIND_NONE);
	for (int k = 0; k < 30; k++) {
		const struct sc_sensor_reading *grav = NULL;
		next_ok(g, &r, T0 + k * S_NS);
		for (size_t i = 0; i < r.u.sensor.n; i++) {
			const struct sc_sensor_reading *rd = &r.u.sensor.readings[i];
			if (!strcmp(rd->name, "gravity"))
				grav = rd;
			if (strcmp(rd->name, "orientation"))
				continue;
			double qw = val(rd, "qw"), qx = val(rd, "qx"), qy = val(rd, "qy"),
			       qz = val(rd, "qz");
			double roll = val(rd, "roll"), pitch = val(rd, "pitch"),
			       yaw = val(rd, "yaw");
			cr_assert_float_eq(qw * qw + qx * qx + qy * qy + qz * qz, 1.0, 1e-9);
			/* euler from the quaternion (ZYX) */
			double r2 = atan2(2 * (qw * qx + qy * qz), 1 - 2 * (qx * qx + qy * qy));
			double p2 = asin(2 * (qw * qy - qz * qx));
			double y2 = atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz));
			cr_assert_float_eq(r2, roll, 1e-9);
			cr_assert_float_eq(p2, pitch, 1e-9);
			cr_assert_float_eq(cos(y2 - yaw), 1.0, 1e-9);
			/* gravity of the same instant is (-sin p, cos p sin r, cos p cos r) g */
			cr_assert_not_null(grav);
			cr_assert_eq(grav->time_ns, rd->time_ns);
			cr_assert_float_eq(val(grav, "x"), -9.80665 * sin(pitch), 1e-9);
			cr_assert_float_eq(val(grav, "y"), 9.80665 * cos(pitch) * sin(roll), 1e-9);
			cr_assert_float_eq(val(grav, "z"), 9.80665 * cos(pitch) * cos(roll), 1e-9);
			checked++;
		}
	}
	cr_assert_eq(checked, 300);
	sc_record_release(&r);
	gen_free(g);
}

/*
 * Over half an hour of simulated time, classify each 1 s batch by its
 * reported speed (still < 0.5 m/s, walking 1.0-1.9, running > 2.4) when the
 * batches before and after have the same class (so the 2 s blends between
 * phases fall out), and check the accelerometer tells the phases apart as
 * proc.h's thresholds expect; then check that each stretch of walking
 * moves the phone and each stretch of stillness does not.
 */
#define LONG_RUN 1800

Test(sensor_simulator, walks_and_runs_with_distinct_acceleration_and_movement)
{
	static int cls[LONG_RUN];
	static double stdv[LONG_RUN], lat[LONG_RUN], lon[LONG_RUN];
	struct gen *g = sensor_gen(2024);
	struct sc_record r;
	double sum[3] = {0}, n[3] = {0}, maxs[3] = {0}, mins[3] = {1e9, 1e9, 1e9};
	double walk_m = 0, walk_s = 0, still_max = 0;
	int start = 0;

	sc_record_init(&r, SC_KIND_NONE);
	for (int k = 0; k < LONG_RUN; k++) {
		next_ok(g, &r, T0 + k * S_NS);
		const struct sc_sensor_reading *loc = first_of(&r.u.sensor, "location");
		double speed = val(loc, "speed");
		cls[k] = speed < 0.5 ? 0 : speed > 1.0 && speed < 1.9 ? 1 : speed > 2.4 ? 2 : -1;
		stdv[k] = accel_std(&r.u.sensor);
		lat[k] = val(loc, "latitude");
		lon[k] = val(loc, "longitude");
	}
	for (int k = 1; k + 1 < LONG_RUN; k++) {
		int c = cls[k];
		if (c < 0 || cls[k - 1] != c || cls[k + 1] != c)
			continue;
		sum[c] += stdv[k];
		n[c]++;
		maxs[c] = fmax(maxs[c], stdv[k]);
		mins[c] = fmin(mins[c], stdv[k]);
	}
	for (int k = 1; k <= LONG_RUN; k++) {
		if (k < LONG_RUN && cls[k] == cls[start])
			continue;
		/* a stretch of one class from start to k-1 */
		double d = dist_m(lat[start], lon[start], lat[k - 1], lon[k - 1]);
		if (cls[start] == 1 && k - start >= 10) {
			walk_m += d;
			walk_s += k - 1 - start;
		}
		if (cls[start] == 0 && k - start >= 10)
			still_max = fmax(still_max, d);
		start = k;
	}
	for (int c = 0; c < 3; c++)
		cr_assert_gt(n[c], 60, "phase %d seen in %g batches only", c, n[c]);
	cr_assert_lt(sum[0] / n[0], 0.5, "still %g", sum[0] / n[0]);
	cr_assert(sum[1] / n[1] >= 0.5 && sum[1] / n[1] < 3.0, "walking %g", sum[1] / n[1]);
	cr_assert_geq(sum[2] / n[2], 3.0, "running %g", sum[2] / n[2]);
	cr_assert_lt(maxs[0], mins[1], "still and walking overlap");
	cr_assert_lt(maxs[1], mins[2], "walking and running overlap");
	/* walking at ~1.4 m/s on a gently winding path */
	cr_assert_gt(walk_s, 60);
	cr_assert(walk_m / walk_s > 0.8 && walk_m / walk_s < 2.0, "walking %g m/s",
		  walk_m / walk_s);
	cr_assert_lt(still_max, 10.0, "a still phone drifted %g m", still_max);
	cr_log_info("accel std: still <= %.3f, walking %.2f-%.2f, running >= %.2f; walking %.2f "
		    "m/s net, still drift <= %.2f m",
		    maxs[0], mins[1], maxs[1], mins[2], walk_m / walk_s, still_max);
	sc_record_release(&r);
	gen_free(g);
}

Test(sensor_simulator, caps_a_huge_window_to_its_newest_readings)
{
	struct gen *g = sensor_gen(9);
	struct sc_record r;
	int64_t end = T0 + 3600 * S_NS;

	sc_record_init(&r, SC_KIND_NONE);
	next_ok(g, &r, T0);
	next_ok(g, &r, end);
	cr_assert_leq(r.u.sensor.n, SC_SENSOR_MAX_READINGS);
	cr_assert_eq(r.u.sensor.n, 740 * 135);
	cr_assert_gt(r.u.sensor.readings[0].time_ns, end - 740 * S_NS);
	cr_assert_leq(r.u.sensor.readings[r.u.sensor.n - 1].time_ns, end);
	next_ok(g, &r, end + S_NS);
	cr_assert_eq(r.u.sensor.n, 135, "back to normal after the gap");
	sc_record_release(&r);
	gen_free(g);
}

Test(sensor_simulator, gives_an_empty_batch_when_time_does_not_advance)
{
	struct gen *g = sensor_gen(4);
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	next_ok(g, &r, T0);
	next_ok(g, &r, T0);
	cr_assert_eq(r.u.sensor.n, 0);
	cr_assert_eq(r.u.sensor.message_id, 1);
	next_ok(g, &r, T0 - S_NS);
	cr_assert_eq(r.u.sensor.n, 0);
	next_ok(g, &r, T0 + S_NS);
	cr_assert_eq(r.u.sensor.n, 135);
	sc_record_release(&r);
	gen_free(g);
}

Test(gen, refuses_an_unknown_source)
{
	struct gen_cfg cfg = {.source = 99};
	struct sc_error err = {0};

	cr_assert_null(gen_new(&cfg, &err));
	cr_assert_eq(err.code, SC_EINVAL);
	cr_assert_str_eq(err.msg, "gen: unknown source 99");
	gen_free(NULL);
}

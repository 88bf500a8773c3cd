/*
 * test_dtoa.c - shortest round-trip formatting of doubles (dtoa.h) and the
 * JSON encoder that uses it.
 *
 * Random inputs come from a fixed-seed xorshift64 generator, so every run
 * checks the same doubles; the loops are sized for about a second.
 *
 * Map:  helpers - round trips - length and shortness - edge cases - layout -
 *       JSON codec
 */
#include "codec.h"
#include "dtoa.h"
#include "json_number.h"
#include "error.h"
#include "record.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random finite double from a uniformly random bit pattern. */
static double random_bits_double(uint64_t *s)
{
	double v;

	do {
		uint64_t b = rng_next(s);
		memcpy(&v, &b, sizeof(v));
	} while (!isfinite(v));
	return v;
}

/* A full-precision value of everyday magnitude, like the sensor generator's. */
static double random_everyday_double(uint64_t *s)
{
	double unit = (double)(rng_next(s) >> 11) * 0x1.0p-53;
	int scale = (int)(rng_next(s) % 13) - 6;

	return (rng_next(s) & 1 ? -1 : 1) * unit * pow(10, scale);
}

static int bits_equal(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* The encoder's old output: shortest of %.15g/%.16g/%.17g that reads back. */
static int printf_loop(double v, char *buf, size_t cap)
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	return n;
}

/* Format v and require an exact round trip, a JSON number and a NUL. */
static size_t check_one(double v, char *buf)
{
	size_t n;

	memset(buf, 'x', DTOA_BUFSIZE);
	n = dtoa_shortest(v, buf);
	cr_assert(n > 0 && n < DTOA_BUFSIZE && buf[n] == '\0', "%.17g: length %zu", v, n);
	cr_assert(bits_equal(strtod(buf, NULL), v), "%.17g (%a) printed as %s", v, v, buf);
	cr_assert(is_json_number(buf), "%.17g printed as %s", v, buf);
	return n;
}

/* ---- round trips -------------------------------------------------------- */

Test(dtoa, round_trips_two_million_random_bit_patterns)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	char buf[DTOA_BUFSIZE];

	for (int i = 0; i < 2000000; i++)
		check_one(random_bits_double(&s), buf);
}

Test(dtoa, round_trips_a_million_everyday_full_precision_values)
{
	uint64_t s = 0x2545f4914f6cdd1dull;
	char buf[DTOA_BUFSIZE];

	for (int i = 0; i < 1000000; i++)
		check_one(random_everyday_double(&s), buf);
}

Test(dtoa, round_trips_every_exponent_at_both_ends_of_its_binade)
{
	char buf[DTOA_BUFSIZE];

	for (uint64_t e = 0; e < 0x7ff; e++) {
		uint64_t lo = e << 52, hi = lo | ((1ull << 52) - 1);
		uint64_t pats[] = {lo, lo + 1, hi - 1, hi, lo | (1ull << 51)};

		for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
			double v;

			memcpy(&v, &pats[i], sizeof(v));
			check_one(v, buf);
			check_one(-v, buf);
		}
	}
}

/* ---- length and shortness ----------------------------------------------- */

Test(dtoa, is_never_longer_than_percent_17g_nor_the_printf_loop_it_replaces)
{
	uint64_t s = 0x853c49e6748fea9bull;
	char buf[DTOA_BUFSIZE], old[40], g17[40];

	for (int i = 0; i < 200000; i++) {
		double v = i & 1 ? random_bits_double(&s) : random_everyday_double(&s);
		size_t n = check_one(v, buf);
		int o = printf_loop(v, old, sizeof(old));
		int g = snprintf(g17, sizeof(g17), "%.17g", v);

		cr_assert((int)n <= o, "%s is longer than %s", buf, old);
		cr_assert((int)n <= g, "%s is longer than %s", buf, g17);
	}
}

/*
 * When Grisu3 succeeds its digits are the shortest: no correctly rounded
 * decimal with fewer significant digits reads back as v.
 */
Test(dtoa, grisu3_digits_are_the_shortest_that_round_trip)
{
	uint64_t s = 0xda3e39cb94b95bdbull;
	char d[18], tmp[40];
	int checked = 0;

	for (int i = 0; i < 20000; i++) {
		double v = fabs(i & 1 ? random_bits_double(&s) : random_everyday_double(&s));
		int e10, n;

		if (v == 0)
			continue;
		n = dtoa_grisu3(v, d, &e10);
		if (n == 0)
			continue;
		checked++;
		cr_assert(n >= 1 && n <= 17 && d[0] != '0' && d[n - 1] != '0', "%.17g", v);
		snprintf(tmp, sizeof(tmp), "%.*se%d", n, d, e10);
		cr_assert(bits_equal(strtod(tmp, NULL), v), "%.17g: digits %s", v, tmp);
		for (int p = 1; p < n; p++) {
			snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
			cr_assert(strtod(tmp, NULL) != v, "%.17g: %s is shorter than %d digits", v,
				  tmp, n);
		}
	}
	cr_assert(checked > 19000, "grisu3 succeeded for only %d of 20000", checked);
}

/* Loitsch reports Grisu3 giving up on about 0.5% of doubles. */
Test(dtoa, grisu3_handles_at_least_99_percent_of_random_doubles)
{
	uint64_t s = 0x5851f42d4c957f2dull;
	char d[18];
	int ok = 0, e10;

	for (int i = 0; i < 500000; i++)
		ok += dtoa_grisu3(fabs(random_bits_double(&s)), d, &e10) > 0;
	cr_assert(ok >= 495000, "grisu3 succeeded for %d of 500000", ok);
}

/* ---- edge cases --------------------------------------------------------- */

Test(dtoa, prints_edge_cases_exactly)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{0.0, "0"},
		{-0.0, "-0"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{2.0 / 3, "0.6666666666666666"},
		{5e-324, "5e-324"},
		{4.9e-324, "5e-324"},
		{-5e-324, "-5e-324"},
		{1e-323, "1e-323"},
		{2.2250738585072009e-308, "2.225073858507201e-308"}, /* largest denormal */
		{DBL_MIN, "2.2250738585072014e-308"},
		{DBL_MAX, "1.7976931348623157e+308"},
		{-DBL_MAX, "-1.7976931348623157e+308"},
		{DBL_EPSILON, "2.220446049250313e-16"},
		{1e15, "1e+15"},
		{1e16, "1e+16"},
		{1e21, "1e+21"},
		{1e22, "1e+22"},
		{1e23, "1e+23"},
		{1234567890123456.0, "1234567890123456"},
		{9007199254740993.0, "9007199254740992"},
		{12345678901234567.0, "12345678901234568"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{1e-7, "1e-07"},
		{1.5e300, "1.5e+300"},
		{-1.5e-300, "-1.5e-300"},
		{0.001, "0.001"},
		{0.0001, "1e-04"},
		{0.00012, "0.00012"},
		{123.456, "123.456"},
		{-2.5, "-2.5"},
		{1.0, "1"},
		{10.0, "10"},
		{10000.0, "10000"},
		{100000.0, "1e+05"},
		{52.520008, "52.520008"},
		{9.80665, "9.80665"},
	};
	char buf[DTOA_BUFSIZE];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_one(cases[i].v, buf);
		cr_assert_str_eq(buf, cases[i].want, "%.17g", cases[i].v);
	}
}

Test(dtoa, prints_every_power_of_ten_as_a_single_digit)
{
	char buf[DTOA_BUFSIZE], lit[16];

	for (int k = -323; k <= 308; k++) {
		double v;
		size_t n, m, ones;

		snprintf(lit, sizeof(lit), "1e%d", k);
		v = strtod(lit, NULL);
		n = check_one(v, buf);
		m = strcspn(buf, "e");
		ones = 0;
		for (size_t i = 0; i < m; i++)
			ones += buf[i] == '1';
		cr_assert(ones == 1 && strspn(buf, "0.1") == m, "%s printed as %s", lit, buf);
		cr_assert(n <= (k <= -100 || k >= 100 ? 6u : 5u), "%s printed as %s", lit, buf);
	}
}

Test(dtoa, round_trips_the_neighbours_of_layout_thresholds)
{
	static const double around[] = {1e-5,	1e-4,  1e-3, 1,	   1e15,
					1e16,	1e17,  1e21, 1e22, 9007199254740992.0,
					0x1p63, 0x1p64};
	char buf[DTOA_BUFSIZE];

	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		double v = around[i];

		for (int j = 0; j < 20; j++) {
			check_one(v, buf);
			check_one(-v, buf);
			v = nextafter(v, 0);
		}
		v = around[i];
		for (int j = 0; j < 20; j++) {
			check_one(v, buf);
			v = nextafter(v, INFINITY);
		}
	}
}

/* ---- layout ------------------------------------------------------------- */

/* A number without '.' or 'e' is an integer to JSON readers: it must fit int64. */
Test(dtoa, writes_integer_looking_numbers_only_below_1e17)
{
	uint64_t s = 0xbf58476d1ce4e5b9ull;
	char buf[DTOA_BUFSIZE];

	for (int i = 0; i < 200000; i++) {
		double v = ldexp((double)(rng_next(&s) >> 11), (int)(rng_next(&s) % 80) - 53);

		check_one(v, buf);
		if (!strpbrk(buf, ".e"))
			cr_assert(fabs(v) < 1e17, "%s has no '.' or exponent", buf);
	}
}

/* ---- JSON codec --------------------------------------------------------- */

/* The encoder's exponent forms read back bit for bit through the decoder. */
Test(dtoa, json_codec_round_trips_exponent_forms_exactly)
{
	static const double vals[] = {1e-7,    1.5e300, 5e-324,	 DBL_MAX,
				      1e21,    1e15,	1.25e16, -1e-300,
				      DBL_MIN, 0.0001,	1e100,	 123456789012345678.0,
				      0.1,     -0.0};
	static const char *forms[] = {"1e-07", "1.5e+300", "5e-324", "1.7976931348623157e+308",
				      "1e+21", "1.25e+16", "-1e-300"};
	struct sc_record r, d;
	struct sc_error err = {0};
	struct sc_buf buf;
	size_t nv = sizeof(vals) / sizeof(vals[0]);
	char *s;

	sc_record_init(&r, SC_KIND_CPU);
	sc_record_init(&d, SC_KIND_NONE);
	sc_buf_init(&buf);
	sc_strlcpy(r.env.source, "test-dtoa", SC_ID_MAX);
	r.env.seq = 1;
	r.env.event_ns = 1717000000000000000LL;
	for (size_t i = 0; i < nv; i += 8) {
		size_t m = nv - i < 8 ? nv - i : 8;

		r.u.cpu.ncores = (int)m;
		r.u.cpu.total = vals[i];
		for (size_t j = 0; j < m; j++)
			r.u.cpu.cores[j] = vals[i + j];
		buf.len = 0;
		cr_assert_eq(codec_json_encode(&r, &buf, &err), 0, "%s", err.msg);
		s = strndup((const char *)buf.data, buf.len);
		for (size_t j = 0; j < sizeof(forms) / sizeof(forms[0]); j++)
			if (i == 0)
				cr_assert(strstr(s, forms[j]), "no %s in %s", forms[j], s);
		cr_assert_eq(codec_json_decode(buf.data, buf.len, &d, &err), 0, "%s: %s", err.msg,
			     s);
		cr_assert(bits_equal(d.u.cpu.total, vals[i]), "%s", s);
		for (size_t j = 0; j < m; j++)
			cr_assert(bits_equal(d.u.cpu.cores[j], vals[i + j]), "core %zu: %s", j, s);
		free(s);
	}
	sc_buf_release(&buf);
	sc_record_release(&d);
	sc_record_release(&r);
}

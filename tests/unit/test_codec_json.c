/*
 * test_codec_json.c - the hand-written JSON decoder (json_scan.c +
 * codec_json.c): a differential round trip against the original records and
 * the msgpack codec over many generated records of every kind, number
 * exactness against strtod, string escapes, and the rejections jansson used
 * to make for us (duplicate keys, \u0000, lone surrogates, bad utf-8,
 * overflow, deep nesting).
 *
 * Map:  generated records - differential round trip - numbers - strings -
 *       keys and nesting - rejections
 */
#include "codec.h"
#include "error.h"
#include "gen.h"
#include "proc.h"
#include "record.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- generated records -------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* A finite double of a random shape: bit patterns, short decimals, integers, edges. */
static double rnd_double(void)
{
	static const double edge[] = {0.0,
				      -0.0,
				      DBL_MIN,
				      -DBL_MIN,
				      DBL_MAX,
				      5e-324,
				      1e15,
				      1e15 - 1,
				      1e22,
				      1e23,
				      0.1,
				      100.0,
				      9007199254740993.0,
				      123456789012345678.0};
	uint64_t bits;
	double d;

	switch (rnd() % 5) {
	case 0:
		do {
			bits = rnd();
			memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		return d;
	case 1: return (double)(int64_t)(rnd() % 2000001) / 1000.0 - 1000.0; /* 3 decimals */
	case 2: return (double)(rnd() % 10000) * 0.01;			     /* cpu-like */
	case 3: return (double)(int64_t)rnd() / 7.0;
	default: return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
	}
}

/* A string of random bytes that is valid utf-8 without NUL: ASCII incl. controls, 2-4 byte. */
static void rnd_string(char *dst, size_t size)
{
	static const char *const pieces[] = {"a",
					     "Z",
					     "\"",
					     "\\",
					     "/",
					     "\n",
					     "\t",
					     "\x01",
					     "\x1f",
					     "\x7f",
					     "\xc3\xa9",
					     "\xe2\x82\xac",
					     "\xf0\x9f\x98\x80",
					     " ",
					     "{",
					     "}"};
	size_t n = 0, want = rnd() % size;

	while (n < want) {
		const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t l = strlen(p);
		if (n + l >= size)
			break;
		memcpy(dst + n, p, l);
		n += l;
	}
	dst[n] = '\0';
}

static void rnd_env(struct sc_record *r)
{
	rnd_string(r->env.source, sizeof(r->env.source));
	rnd_string(r->env.key, sizeof(r->env.key));
	r->env.seq = rnd() % 3 ? rnd() % 100000 : rnd(); /* full uint64 range too */
	r->env.event_ns = (int64_t)rnd();
	r->env.intended_ns = rnd() % 2 ? (int64_t)rnd() : INT64_MIN;
	r->env.sent_ns = rnd() % 2 ? (int64_t)rnd() : INT64_MAX;
	r->env.processed_ns = r->kind == SC_KIND_CPU_STATS || r->kind == SC_KIND_SENSOR_FEATURES
				      ? (int64_t)rnd()
				      : 0;
}

static void rnd_cpu(struct sc_record *r)
{
	sc_record_reset(r, SC_KIND_CPU);
	r->u.cpu.ncores = 1 + (uint32_t)(rnd() % SC_CPU_MAX_CORES);
	r->u.cpu.total = rnd_double();
	for (uint32_t i = 0; i < r->u.cpu.ncores; i++)
		r->u.cpu.cores[i] = rnd_double();
	rnd_env(r);
}

static void rnd_dead(struct sc_record *r)
{
	unsigned char payload[64];
	char reason[SC_REASON_MAX], origin[SC_NAME_MAX], stage[16];
	size_t n = rnd() % sizeof(payload);

	for (size_t i = 0; i < n; i++)
		payload[i] = (unsigned char)rnd();
	rnd_string(reason, sizeof(reason));
	rnd_string(origin, sizeof(origin));
	rnd_string(stage, sizeof(stage));
	cr_assert_eq(sc_deadletter_fill(r, stage, origin, reason, payload, n), 0);
	rnd_env(r);
}

/* Encode with c into buf, decode into d; both must succeed. */
static void encode_decode(enum sc_codec c, const struct sc_record *r, struct sc_buf *buf,
			  struct sc_record *d)
{
	struct sc_error err = {0};

	cr_assert_eq(codec_encode(c, r, buf, &err), 0, "%s encode: %s", codec_name(c), err.msg);
	cr_assert_eq(codec_decode(buf->data, buf->len, d, &err), 0, "%s decode: %s (%.*s)",
		     codec_name(c), err.msg, (int)(buf->len > 400 ? 400 : buf->len), buf->data);
}

/*
 * r through JSON (the new decoder) and through msgpack: both equal r, and
 * the JSON-decoded record re-encodes to the same bytes.
 */
static void check_record(const struct sc_record *r, struct sc_record *dj, struct sc_record *dm)
{
	struct sc_buf bj, bm, again;
	struct sc_error err = {0};

	sc_buf_init(&bj);
	sc_buf_init(&bm);
	sc_buf_init(&again);
	encode_decode(SC_CODEC_JSON, r, &bj, dj);
	encode_decode(SC_CODEC_MSGPACK, r, &bm, dm);
	cr_assert(sc_record_equal(r, dj), "json round trip differs: %.*s", (int)bj.len, bj.data);
	cr_assert(sc_record_equal(dj, dm), "json and msgpack decode differently: %.*s", (int)bj.len,
		  bj.data);
	cr_assert_eq(codec_json_encode(dj, &again, &err), 0, "%s", err.msg);
	cr_assert(again.len == bj.len && memcmp(again.data, bj.data, bj.len) == 0,
		  "re-encoding differs: %.*s", (int)bj.len, bj.data);
	sc_buf_release(&bj);
	sc_buf_release(&bm);
	sc_buf_release(&again);
}

/* ---- differential round trip ------------------------------------------- */

Test(codec_json, decodes_generated_records_of_every_kind_like_msgpack)
{
	struct sc_record raw, out, dj, dm;
	struct sc_error err = {0};
	struct gen_cfg scfg = {.source = GEN_SOURCE_SENSOR, .seed = 7, .device_id = "phone-\"1\""};
	struct gen_cfg ccfg = {.source = GEN_SOURCE_CPU, .min_read_ns = -1};
	struct gen *sg = gen_new(&scfg, &err), *cg;
	struct proc *pr = proc_new(NULL, &err);
	int64_t t = 1717000000000000000LL;
	size_t counts[SC_KIND__COUNT] = {0};

	cr_assert_not_null(sg, "%s", err.msg);
	cr_assert_not_null(pr, "%s", err.msg);
	cg = gen_new(&ccfg, &err);
	cr_assert_not_null(cg, "%s", err.msg);
	sc_record_init(&raw, SC_KIND_NONE);
	sc_record_init(&out, SC_KIND_NONE);
	sc_record_init(&dj, SC_KIND_NONE);
	sc_record_init(&dm, SC_KIND_NONE);
	for (int i = 0; i < 400; i++) {
		/* raw from the generators (sensor simulator, real /proc/stat) or random */
		t += 250000000;
		if (i % 4 == 0)
			cr_assert_eq(gen_next(sg, &raw, t, &err), 0, "%s", err.msg);
		else if (i % 4 == 1)
			cr_assert_eq(gen_next(cg, &raw, t, &err), 0, "%s", err.msg);
		else if (i % 4 == 2)
			rnd_cpu(&raw);
		else
			rnd_dead(&raw);
		if (raw.kind != SC_KIND_DEADLETTER) {
			raw.env.seq = (uint64_t)i;
			sc_strlcpy(raw.env.source, "gen-1", sizeof(raw.env.source));
			raw.env.intended_ns = t;
			raw.env.sent_ns = t + 1000;
		}
		check_record(&raw, &dj, &dm);
		counts[raw.kind]++;
		/* processed: stats/features from proc, for finite raw input */
		if (raw.kind == SC_KIND_CPU || raw.kind == SC_KIND_SENSOR) {
			if (proc_apply(pr, &raw, &out, &err) == 0) {
				check_record(&out, &dj, &dm);
				counts[out.kind]++;
			}
		}
	}
	for (int k = SC_KIND_CPU; k < SC_KIND__COUNT; k++)
		cr_assert_gt(counts[k], 10, "only %zu records of kind %s", counts[k],
			     sc_kind_name((enum sc_kind)k));
	gen_free(sg);
	gen_free(cg);
	proc_free(pr);
	sc_record_release(&raw);
	sc_record_release(&out);
	sc_record_release(&dj);
	sc_record_release(&dm);
}

/* ---- numbers --------------------------------------------------------------- */

#define ENV_HEAD                                                                      \
	"{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"seq\":3,"         \
	"\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0,\"body\":" \
	"{\"ncores\":1,\"cores\":[0],\"total\":"

/* Decode text as the "total" of a cpu record; 0 or the decoder's error. */
static int decode_total(const char *num, double *out, struct sc_error *err)
{
	char text[512];
	struct sc_record r;
	int rc;

	snprintf(text, sizeof(text), ENV_HEAD "%s}}", num);
	sc_record_init(&r, SC_KIND_NONE);
	rc = codec_json_decode(text, strlen(text), &r, err);
	*out = r.u.cpu.total;
	sc_record_release(&r);
	return rc;
}

Test(codec_json, parses_every_decimal_form_exactly_as_strtod)
{
	char num[128];
	struct sc_error err = {0};
	double got;

	for (int i = 0; i < 20000; i++) {
		/* digits, an optional fraction, an optional exponent */
		int nint = (int)(rnd() % 19), nfrac = (int)(rnd() % 22), n = 0;
		if (rnd() % 2)
			num[n++] = '-';
		if (nint == 0 || rnd() % 4 == 0) {
			num[n++] = '0';
		} else {
			num[n++] = (char)('1' + rnd() % 9);
			for (int k = 1; k < nint; k++)
				num[n++] = (char)('0' + rnd() % 10);
		}
		if (nfrac && rnd() % 4) {
			num[n++] = '.';
			for (int k = 0; k < nfrac; k++)
				num[n++] = (char)('0' + (rnd() % 3 ? rnd() % 10 : 0));
		}
		if (rnd() % 3 == 0)
			n += snprintf(num + n, sizeof(num) - (size_t)n, "e%d",
				      (int)(rnd() % 70) - 35);
		num[n] = '\0';
		cr_assert_eq(decode_total(num, &got, &err), 0, "%s: %s", num, err.msg);
		double want = strtod(num, NULL);
		if (!strpbrk(num, ".e") && want == 0)
			want = 0.0; /* "-0" is the integer 0, as jansson read it */
		cr_assert(memcmp(&got, &want, sizeof(got)) == 0, "%s: got %.17g want %.17g", num,
			  got, want);
	}
	/* the classic hard cases of the fast path's bounds */
	static const char *const hard[] = {"9007199254740993",
					   "9007199254740993.0",
					   "2.2250738585072011e-308",
					   "4.9406564584124654e-324",
					   "1.7976931348623157e308",
					   "0.1e23",
					   "1e22",
					   "1e23",
					   "123456789012345678901234567890.5",
					   "12345678901234567890123e-3",
					   "0.30000000000000004",
					   "-0.0",
					   "1e-400",
					   "8.98846567431158e307"};
	for (size_t i = 0; i < sizeof(hard) / sizeof(hard[0]); i++) {
		cr_assert_eq(decode_total(hard[i], &got, &err), 0, "%s: %s", hard[i], err.msg);
		double want = strtod(hard[i], NULL);
		cr_assert(memcmp(&got, &want, sizeof(got)) == 0, "%s: got %.17g want %.17g",
			  hard[i], got, want);
	}
}

Test(codec_json, keeps_64_bit_integers_exact)
{
	static const char *const text =
		"{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\","
		"\"seq\":18446744073709551615,\"event_ns\":-9223372036854775808,"
		"\"intended_ns\":9223372036854775807,\"sent_ns\":-0,\"processed_ns\":0,"
		"\"body\":{\"ncores\":1,\"total\":1,\"cores\":[0]}}";
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(text, strlen(text), &r, &err), 0, "%s", err.msg);
	cr_assert_eq(r.env.seq, UINT64_MAX);
	cr_assert_eq(r.env.event_ns, INT64_MIN);
	cr_assert_eq(r.env.intended_ns, INT64_MAX);
	cr_assert_eq(r.env.sent_ns, 0);
	sc_record_release(&r);
}

/* The encoder's number format before dtoa.h (printf and strtod only): a length bound. */
static void ref_dbl(double v, char *out, size_t size)
{
	if (v == 0 && signbit(v)) {
		snprintf(out, size, "-0.0");
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		snprintf(out, size, "%lld", (long long)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			break;
	}
}

Test(codec_json, prints_doubles_that_read_back_exactly_and_never_longer_than_printf_shortest)
{
	struct sc_record r, back;
	struct sc_error err = {0};
	struct sc_buf buf;
	char want[256 * 40], dec[64];
	int ties = 0;

	sc_buf_init(&buf);
	sc_record_init(&r, SC_KIND_CPU);
	r.u.cpu.ncores = SC_CPU_MAX_CORES;
	for (int rec = 0; rec < 1500; rec++) {
		size_t n = 0;
		for (int i = 0; i < SC_CPU_MAX_CORES; i++) {
			double v;
			if (i % 4 == 3) {
				/* 17 digits ending in 5 (or 50): the rounding ties of the 16/15-digit forms */
				bool p16 = rnd() % 2;
				snprintf(dec, sizeof(dec),
					 p16 ? "%s%llu.%015llu5e%d" : "%s%llu.%014llu50e%d",
					 rnd() % 2 ? "-" : "", (unsigned long long)(rnd() % 9 + 1),
					 (unsigned long long)(rnd() % (p16 ? 1000000000000000ull
									   : 100000000000000ull)),
					 (int)(rnd() % 640) - 320);
				v = strtod(dec, NULL);
				if (!isfinite(v))
					v = 1.5;
				char e17[40];
				snprintf(e17, sizeof(e17), "%.16e", v);
				ties += strncmp(e17 + (v < 0) + 2 + (p16 ? 15 : 14),
						p16 ? "5e" : "50e", p16 ? 2 : 3) == 0;
			} else {
				v = rnd_double();
			}
			r.u.cpu.cores[i] = v;
			n += (size_t)snprintf(want + n, sizeof(want) - n, i ? "," : "\"cores\":[");
			ref_dbl(v, want + n, sizeof(want) - n);
			n += strlen(want + n);
		}
		buf.len = 0;
		cr_assert_eq(codec_json_encode(&r, &buf, &err), 0, "%s", err.msg);
		const char *got = memmem(buf.data, buf.len, "\"cores\":[", 9);
		const char *end =
			got ? memchr(got, ']', buf.len - (size_t)(got - (char *)buf.data)) : NULL;
		cr_assert(got && end, "record %d: no cores array", rec);
		/* dtoa.h's shortest digits: never longer than the printf loop's */
		cr_assert_leq((size_t)(end - got), n, "record %d: %.*s\nlonger than %s", rec,
			      (int)(end - got), got, want);
		sc_record_init(&back, SC_KIND_NONE);
		cr_assert_eq(codec_json_decode(buf.data, buf.len, &back, &err), 0, "%s", err.msg);
		for (int i = 0; i < SC_CPU_MAX_CORES; i++)
			cr_assert(memcmp(&back.u.cpu.cores[i], &r.u.cpu.cores[i], sizeof(double)) ==
					  0,
				  "record %d core %d: %.17g read back as %.17g", rec, i,
				  r.u.cpu.cores[i], back.u.cpu.cores[i]);
		sc_record_release(&back);
	}
	sc_buf_release(&buf);
	sc_record_release(&r);
}

/* ---- strings ------------------------------------------------------------------ */

Test(codec_json, decodes_every_escape_including_surrogate_pairs)
{
	static const char *const text =
		"{\"v\":1,\"kind\":\"cpu\",\"source\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t"
		"\\u00e9\\u20AC\\ud83d\\ude00\\u0001\xc3\xa9\","
		"\"key\":\"k\",\"seq\":3,\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,"
		"\"processed_ns\":0,\"body\":{\"ncores\":1,\"total\":1,\"cores\":[0]}}";
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(text, strlen(text), &r, &err), 0, "%s", err.msg);
	cr_assert_str_eq(r.env.source, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				       "\x01\xc3\xa9");
	sc_record_release(&r);
}

/* ---- keys and nesting ------------------------------------------------------------ */

Test(codec_json, matches_escaped_keys_and_decodes_a_body_before_its_kind)
{
	static const char *const text =
		"{\"body\":{\"ncores\":2,\"total\":5.5,\"cores\":[1,2]},\"v\":1,"
		"\"\\u006bind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"se\\u0071\":3,"
		"\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0}";
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(text, strlen(text), &r, &err), 0, "%s", err.msg);
	cr_assert_eq(r.kind, SC_KIND_CPU);
	cr_assert_eq(r.env.seq, 3);
	cr_assert_eq(r.u.cpu.ncores, 2);
	cr_assert_eq(r.u.cpu.cores[1], 2.0);
	sc_record_release(&r);
}

static void expect_error(const char *text, const char *want)
{
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(text, strlen(text), &r, &err), -SC_EINVAL, "accepted %s",
		     text);
	cr_assert(strstr(err.msg, want), "'%s' lacks '%s' (input %s)", err.msg, want, text);
	cr_assert_null(strchr(err.msg, '\n'), "%s", err.msg);
	sc_record_release(&r);
}

Test(codec_json, refuses_duplicate_keys_anywhere_even_when_escaped)
{
	expect_error("{\"v\":1,\"v\":1}", "duplicate object key");
	expect_error("{\"v\":1,\"\\u0076\":1}", "duplicate object key");
	expect_error("{\"future\":{\"a\":1,\"b\":[{\"c\":1,\"c\":2}]},\"v\":1}",
		     "duplicate object key");
	expect_error("{\"zz\":1,\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
		     "duplicate object key");
	/* many keys: the hashed key set */
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "{");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "\"k%d\":%d,", i, i);
	snprintf(text + n, sizeof(text) - n, "\"k137\":0}");
	expect_error(text, "duplicate object key");
}

Test(codec_json, refuses_nesting_deeper_than_the_limit)
{
	char text[512];
	size_t n = (size_t)snprintf(text, sizeof(text), "{\"x\":");

	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	text[n] = '\0';
	expect_error(text, "json: nesting deeper than 64 levels");
}

/* ---- rejections --------------------------------------------------------------------- */

Test(codec_json, refuses_what_jansson_refused_with_a_one_line_reason)
{
	expect_error("{\"v\":1,\"kind\":\"c\\u0000pu\"}", "json: malformed json: \\u0000");
	expect_error("{\"v\":1,\"kind\":\"\\ud83d\"}", "lone high surrogate");
	expect_error("{\"v\":1,\"kind\":\"\\ud83dx\\ude00\"}", "lone high surrogate");
	expect_error("{\"v\":1,\"kind\":\"\\ude00\"}", "lone low surrogate");
	expect_error("{\"v\":1,\"kind\":\"\\uzzzz\"}", "invalid \\u escape");
	expect_error("{\"v\":1,\"kind\":\"\\q\"}", "invalid escape");
	expect_error("{\"v\":1,\"kind\":\"\xc0\x80\"}", "invalid utf-8");
	expect_error("{\"v\":1,\"kind\":\"\xed\xa0\x80\"}", "invalid utf-8");
	expect_error("{\"v\":1,\"kind\":\"\xf4\x90\x80\x80\"}", "invalid utf-8");
	expect_error("{\"v\":1,\"kind\":\"a\nb\"}", "control character");
	expect_error("{\"v\":01}", "json: malformed json");
	expect_error("{\"v\":1.}", "json: malformed json: invalid number");
	expect_error("{\"v\":+1}", "json: malformed json: invalid token");
	expect_error("{\"v\":18446744073709551616}", "json: malformed json: too big integer");
	expect_error("{\"v\":-9223372036854775809}", "too big negative integer");
	expect_error("{\"v\":-1e400}", "real number overflow");
	expect_error("{\"v\":1,}", "json: malformed json");
	expect_error("{\"v\":1 \"kind\":2}", "',' or '}' expected");
	expect_error("{\"v\" 1}", "':' expected");
	expect_error("{\"v\":tru}", "json: malformed json: invalid literal");
	expect_error("{\"v\":[1 2]}", "',' or ']' expected");
	expect_error("{\"v\":1}}", "json: trailing garbage at offset 7");
	expect_error("  ", "json: truncated input");
	expect_error("{\"v\":\"abc", "json: truncated input: unterminated string");
	expect_error("7", "'[' or '{' expected");
	/* an integer beyond int64 in an int64 field is a field error, like msgpack */
	expect_error("{\"v\":9223372036854775808}", "json: field 'v': integer out of range");
	/* the syntax error wins over an earlier field error */
	expect_error("{\"v\":\"x\",\"y\":[}", "json: malformed json");
}

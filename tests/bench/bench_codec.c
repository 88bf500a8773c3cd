/*
 * bench_codec.c - JSON vs MessagePack: bytes per message and encode/decode
 * time per message for the cpu sample and the sensor batch (issue 8).
 *
 *   bench_codec [--runs=R] [--cpu-iters=L] [--sensor-iters=L] [--csv]
 *   bench_codec --only=KIND:CODEC:OP --iters=L     (one loop, for callgrind)
 *
 * Records: K cpu samples from the real /proc/stat and K sensor batches of
 * one second each (the simulator's default rates, ~150 readings) from seed
 * 1; the loops cycle through them so the data varies like the real stream.
 * Each of R runs times L operations as one block (clock overhead is
 * negligible against L); the figure is the mean of the R per-run means with
 * the half-width of its 95% confidence interval (Student's t).  Decode is
 * codec_decode() (auto-detect + parse into one reused record, as the
 * processor does); encode is codec_encode() into one reused buffer.
 *
 * --only runs a single bench_loop_encode()/bench_loop_decode() so that
 * `valgrind --tool=callgrind --toggle-collect=bench_loop_*` counts the
 * instructions of exactly that operation (scripts/bench/codec.sh divides by
 * L).
 */
#include "bench_stats.h"
#include "codec.h"
#include "error.h"
#include "gen.h"
#include "record.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 32 /* distinct records per kind */

struct corpus {
	const char *kind;
	struct sc_record rec[K];
	struct sc_buf enc[2][K]; /* [0] json, [1] msgpack */
	double bytes[2];	 /* mean encoded size */
};

static const enum sc_codec codecs[2] = {SC_CODEC_JSON, SC_CODEC_MSGPACK};

static void die(const char *what, const struct sc_error *err)
{
	fprintf(stderr, "bench_codec: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static void corpus_make(struct corpus *c, enum gen_source src)
{
	struct gen_cfg cfg = {.source = src, .seed = 1, .device_id = "bench-phone"};
	struct sc_error err = {0};
	struct gen *g = gen_new(&cfg, &err);
	int64_t t = 1700000000LL * 1000000000LL;

	if (!g)
		die("gen_new", &err);
	c->kind = src == GEN_SOURCE_CPU ? "cpu" : "sensor";
	for (int i = 0; i < K; i++) {
		sc_record_init(&c->rec[i], SC_KIND_NONE);
		t += 1000000000LL; /* one-second windows */
		if (gen_next(g, &c->rec[i], t, &err))
			die("gen_next", &err);
		c->rec[i].env.seq = (uint64_t)i;
		c->rec[i].env.intended_ns = t;
		c->rec[i].env.sent_ns = t + 1000;
		snprintf(c->rec[i].env.source, sizeof(c->rec[i].env.source), "%s-bench", c->kind);
		for (int k = 0; k < 2; k++) {
			sc_buf_init(&c->enc[k][i]);
			if (codec_encode(codecs[k], &c->rec[i], &c->enc[k][i], &err))
				die("codec_encode", &err);
			c->bytes[k] += (double)c->enc[k][i].len / K;
		}
	}
	gen_free(g);
}

static void corpus_free(struct corpus *c)
{
	for (int i = 0; i < K; i++) {
		sc_record_release(&c->rec[i]);
		for (int k = 0; k < 2; k++)
			sc_buf_release(&c->enc[k][i]);
	}
}

/* Not static and not inlined: callgrind's --toggle-collect names them. */
__attribute__((noinline)) void bench_loop_encode(struct corpus *c, int k, long iters,
						 struct sc_buf *out);
__attribute__((noinline)) void bench_loop_decode(struct corpus *c, int k, long iters,
						 struct sc_record *r);

void bench_loop_encode(struct corpus *c, int k, long iters, struct sc_buf *out)
{
	struct sc_error err = {0};

	for (long i = 0; i < iters; i++)
		if (codec_encode(codecs[k], &c->rec[i % K], out, &err))
			die("codec_encode", &err);
}

void bench_loop_decode(struct corpus *c, int k, long iters, struct sc_record *r)
{
	struct sc_error err = {0};

	for (long i = 0; i < iters; i++) {
		const struct sc_buf *b = &c->enc[k][i % K];
		if (codec_decode(b->data, b->len, r, &err))
			die("codec_decode", &err);
	}
}

/* Mean ns per operation over `runs` runs of `iters`; ci gets the 95% half-width. */
static double measure(struct corpus *c, int k, bool decode, int runs, long iters, double *ci)
{
	double *per = calloc((size_t)runs, sizeof(*per));
	struct sc_buf out;
	struct sc_record r;
	double m;

	if (!per)
		die("calloc", NULL);
	sc_buf_init(&out);
	sc_record_init(&r, SC_KIND_NONE);
	/* warm-up: caches, allocations of the reused buffer and record */
	if (decode)
		bench_loop_decode(c, k, K, &r);
	else
		bench_loop_encode(c, k, K, &out);
	for (int i = 0; i < runs; i++) {
		int64_t t0 = bench_now_ns();
		if (decode)
			bench_loop_decode(c, k, iters, &r);
		else
			bench_loop_encode(c, k, iters, &out);
		per[i] = (double)(bench_now_ns() - t0) / (double)iters;
	}
	m = bench_mean(per, (size_t)runs);
	*ci = bench_ci95(per, (size_t)runs);
	sc_buf_release(&out);
	sc_record_release(&r);
	free(per);
	return m;
}

static int run_only(struct corpus *cs, const char *spec, long iters)
{
	char kind[16], codec[16], op[16];
	struct sc_buf out;
	struct sc_record r;

	if (sscanf(spec, "%15[^:]:%15[^:]:%15s", kind, codec, op) != 3) {
		fprintf(stderr,
			"bench_codec: --only wants KIND:CODEC:OP, e.g. sensor:json:decode\n");
		return 2;
	}
	struct corpus *c = strcmp(kind, "cpu") == 0 ? &cs[0] : &cs[1];
	int k = strcmp(codec, "json") == 0 ? 0 : 1;
	sc_buf_init(&out);
	sc_record_init(&r, SC_KIND_NONE);
	if (strcmp(op, "decode") == 0)
		bench_loop_decode(c, k, iters, &r);
	else
		bench_loop_encode(c, k, iters, &out);
	sc_buf_release(&out);
	sc_record_release(&r);
	return 0;
}

int main(int argc, char **argv)
{
	static struct corpus cs[2];
	int runs = 10;
	long cpu_iters = 20000, sensor_iters = 300, iters = 0;
	const char *only = NULL;
	bool csv = false;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--runs=", 7) == 0)
			runs = atoi(argv[i] + 7);
		else if (strncmp(argv[i], "--cpu-iters=", 12) == 0)
			cpu_iters = atol(argv[i] + 12);
		else if (strncmp(argv[i], "--sensor-iters=", 15) == 0)
			sensor_iters = atol(argv[i] + 15);
		else if (strncmp(argv[i], "--iters=", 8) == 0)
			iters = atol(argv[i] + 8);
		else if (strncmp(argv[i], "--only=", 7) == 0)
			only = argv[i] + 7;
		else if (strcmp(argv[i], "--csv") == 0)
			csv = true;
		else {
			fprintf(stderr,
				"usage: bench_codec [--runs=R] [--cpu-iters=L] "
				"[--sensor-iters=L] [--csv] | --only=KIND:CODEC:OP --iters=L\n");
			return 2;
		}
	}
	if (runs < 2 || cpu_iters < 1 || sensor_iters < 1) {
		fprintf(stderr, "bench_codec: --runs must be >= 2 and iterations >= 1\n");
		return 2;
	}
	corpus_make(&cs[0], GEN_SOURCE_CPU);
	corpus_make(&cs[1], GEN_SOURCE_SENSOR);
	if (only) {
		int rc = run_only(cs, only, iters > 0 ? iters : 1000);
		corpus_free(&cs[0]);
		corpus_free(&cs[1]);
		return rc;
	}
	if (csv)
		printf("kind,codec,bytes,encode_ns,encode_ci95_ns,decode_ns,decode_ci95_ns,runs,"
		       "iters\n");
	else
		printf("%-7s %-8s %9s %14s %14s   (R=%d runs; +- is the 95%% CI half-width)\n",
		       "kind", "codec", "bytes", "encode ns", "decode ns", runs);
	for (int c = 0; c < 2; c++) {
		long it = c == 0 ? cpu_iters : sensor_iters;
		double enc[2], dec[2], eci[2], dci[2];
		for (int k = 0; k < 2; k++) {
			enc[k] = measure(&cs[c], k, false, runs, it, &eci[k]);
			dec[k] = measure(&cs[c], k, true, runs, it, &dci[k]);
			if (csv)
				printf("%s,%s,%.1f,%.1f,%.1f,%.1f,%.1f,%d,%ld\n", cs[c].kind,
				       codec_name(codecs[k]), cs[c].bytes[k], enc[k], eci[k],
				       dec[k], dci[k], runs, it);
			else
				printf("%-7s %-8s %9.1f %8.0f +-%4.0f %8.0f +-%4.0f   L=%ld\n",
				       cs[c].kind, codec_name(codecs[k]), cs[c].bytes[k], enc[k],
				       eci[k], dec[k], dci[k], it);
		}
		if (!csv)
			printf("%-7s msgpack/json: size %.2f (%.0f%% smaller), encode %.2fx "
			       "faster, decode %.2fx faster\n",
			       cs[c].kind, cs[c].bytes[1] / cs[c].bytes[0],
			       100.0 * (1 - cs[c].bytes[1] / cs[c].bytes[0]), enc[0] / enc[1],
			       dec[0] / dec[1]);
	}
	corpus_free(&cs[0]);
	corpus_free(&cs[1]);
	return 0;
}

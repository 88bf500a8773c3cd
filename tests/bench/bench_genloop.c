/*
 * bench_genloop.c - the work of one generator loop iteration (gen_next() +
 * codec_encode(), as role_generate.c's send_one() does before publishing),
 * without the pacing sleep, measured one iteration at a time (issue 8).
 *
 *   bench_genloop [--runs=R] [--loops=L] [--sensor-loops=L] [--target=PCT] [--csv]
 *
 * For each case (cpu from /proc/stat, cpu from a regular-file copy of
 * /proc/stat, sensor; json and msgpack) it runs R runs of L iterations,
 * each iteration timed on its own with CLOCK_MONOTONIC, and prints:
 *   mean    the mean of the R per-run means (ns per iteration)
 *   sd      the standard deviation of single iterations (pooled over runs)
 *   ci95    the half-width of the 95% confidence interval of the mean,
 *           from the spread of the R run means (Student's t, R-1 df): run
 *           means are closer to independent than single iterations, which
 *           share caches and the scheduler's moods
 *   need R  the runs that would bring ci95 under --target percent of the
 *           mean at this spread: (t * sd_runmeans / (target * mean))^2
 * Why R and L: L iterations make one run long enough (~10-30 ms: L=1000 for
 * cpu at ~10 us, L=30 for sensor at ~0.3-1 ms) that its mean is not one
 * preemption; R = 30 gives t(29) = 2.05, and
 * the printed "need R" says whether R was enough for the target (default
 * 2%): when it is larger than R, rerun with --runs set to it.
 * The timer's own cost (one clock_gettime pair, ~40 ns here) is measured
 * and subtracted.
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
#include <unistd.h>

struct bcase {
	const char *name;
	enum gen_source src;
	bool file; /* cpu: read a regular-file copy of /proc/stat */
	enum sc_codec codec;
};

static const struct bcase cases[] = {
	{"cpu(/proc/stat)", GEN_SOURCE_CPU, false, SC_CODEC_JSON},
	{"cpu(/proc/stat)", GEN_SOURCE_CPU, false, SC_CODEC_MSGPACK},
	{"cpu(file copy)", GEN_SOURCE_CPU, true, SC_CODEC_JSON},
	{"sensor", GEN_SOURCE_SENSOR, false, SC_CODEC_JSON},
	{"sensor", GEN_SOURCE_SENSOR, false, SC_CODEC_MSGPACK},
};

static void die(const char *what, const struct sc_error *err)
{
	fprintf(stderr, "bench_genloop: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

static double timer_overhead(void)
{
	int64_t best = INT64_MAX;

	for (int i = 0; i < 10000; i++) {
		int64_t a = bench_now_ns(), b = bench_now_ns();
		if (b - a < best)
			best = b - a;
	}
	return (double)best;
}

static int copy_proc_stat(char *path, size_t size)
{
	char buf[65536];
	FILE *in = fopen("/proc/stat", "r"), *out;
	size_t n;

	snprintf(path, size, "/tmp/bench_genloop_stat.%d", (int)getpid());
	out = fopen(path, "w");
	if (!in || !out) {
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), in);
	fwrite(buf, 1, n, out);
	fclose(in);
	return fclose(out) ? -1 : 0;
}

int main(int argc, char **argv)
{
	int runs = 30;
	long loops = 1000, sensor_loops = 30;
	double target = 2.0;
	bool csv = false;
	char statcopy[64];

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--runs=", 7) == 0)
			runs = atoi(argv[i] + 7);
		else if (strncmp(argv[i], "--loops=", 8) == 0)
			loops = atol(argv[i] + 8);
		else if (strncmp(argv[i], "--sensor-loops=", 15) == 0)
			sensor_loops = atol(argv[i] + 15);
		else if (strncmp(argv[i], "--target=", 9) == 0)
			target = atof(argv[i] + 9);
		else if (strcmp(argv[i], "--csv") == 0)
			csv = true;
		else {
			fprintf(stderr, "usage: bench_genloop [--runs=R] [--loops=L] "
					"[--sensor-loops=L] [--target=PCT] [--csv]\n");
			return 2;
		}
	}
	if (runs < 2 || loops < 2 || sensor_loops < 2) {
		fprintf(stderr, "bench_genloop: --runs and --loops must be >= 2\n");
		return 2;
	}
	if (copy_proc_stat(statcopy, sizeof(statcopy)))
		die("cannot copy /proc/stat", NULL);
	double ovh = timer_overhead();
	long maxl = loops > sensor_loops ? loops : sensor_loops;
	double *it = malloc(sizeof(double) * (size_t)maxl);
	double *rmean = malloc(sizeof(double) * (size_t)runs);
	if (!it || !rmean)
		die("malloc", NULL);
	if (csv)
		printf("case,codec,runs,loops,mean_ns,sd_ns,ci95_ns,ci95_pct,need_runs,timer_ns\n");
	else
		printf("R=%d runs x L=%ld loops (sensor %ld); timer overhead %.0f ns subtracted; "
		       "target ci95 <= %.1f%% of the mean\n",
		       runs, loops, sensor_loops, ovh, target);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct bcase *bc = &cases[c];
		struct gen_cfg cfg = {
			.source = bc->src, .seed = 1, .proc_stat = bc->file ? statcopy : NULL};
		struct sc_error err = {0};
		struct gen *g = gen_new(&cfg, &err);
		struct sc_record rec;
		struct sc_buf buf;
		int64_t wend = 1700000000LL * 1000000000LL;
		double sumsq = 0, grand;
		long n = 0, L = bc->src == GEN_SOURCE_SENSOR ? sensor_loops : loops;

		if (!g)
			die("gen_new", &err);
		sc_record_init(&rec, SC_KIND_NONE);
		sc_buf_init(&buf);
		for (int w = 0; w < 50; w++) { /* warm-up */
			wend += 1000000000LL;
			if (gen_next(g, &rec, wend, &err) ||
			    codec_encode(bc->codec, &rec, &buf, &err))
				die("warm-up", &err);
		}
		for (int r = 0; r < runs; r++) {
			for (long l = 0; l < L; l++) {
				wend += 1000000000LL; /* sensor: one-second batches */
				int64_t t0 = bench_now_ns();
				if (gen_next(g, &rec, wend, &err))
					die("gen_next", &err);
				rec.env.seq = (uint64_t)l;
				rec.env.intended_ns = wend;
				rec.env.sent_ns = wend;
				if (codec_encode(bc->codec, &rec, &buf, &err))
					die("codec_encode", &err);
				it[l] = (double)(bench_now_ns() - t0) - ovh;
			}
			rmean[r] = bench_mean(it, (size_t)L);
			for (long l = 0; l < L; l++)
				sumsq += (it[l] - rmean[r]) * (it[l] - rmean[r]);
			n += L;
		}
		grand = bench_mean(rmean, (size_t)runs);
		double sd = sqrt(sumsq / (double)(n - runs));
		double ci = bench_ci95(rmean, (size_t)runs);
		double need = pow(bench_t95((size_t)runs - 1) * bench_sd(rmean, (size_t)runs) /
					  (target / 100.0 * grand),
				  2);
		if (csv)
			printf("%s,%s,%d,%ld,%.1f,%.1f,%.1f,%.2f,%.0f,%.0f\n", bc->name,
			       codec_name(bc->codec), runs, L, grand, sd, ci, 100 * ci / grand,
			       ceil(need), ovh);
		else
			printf("%-16s %-8s mean %10.0f ns  sd %9.0f ns  ci95 +-%7.0f ns (%5.2f%%)  "
			       "need R >= %.0f%s\n",
			       bc->name, codec_name(bc->codec), grand, sd, ci, 100 * ci / grand,
			       ceil(need), ceil(need) > runs ? "  (more runs needed)" : "");
		sc_buf_release(&buf);
		sc_record_release(&rec);
		gen_free(g);
	}
	remove(statcopy);
	free(it);
	free(rmean);
	return 0;
}

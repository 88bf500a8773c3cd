/*
 * bench_stats.h - small statistics for the C micro-benchmarks (issue 8):
 * mean, sample standard deviation and the half-width of the 95% confidence
 * interval of a mean (Student's t for n - 1 degrees of freedom).  Header
 * only, static functions: each benchmark is a single translation unit.
 */
#ifndef SC_BENCH_STATS_H
#define SC_BENCH_STATS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline double bench_mean(const double *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += x[i];
	return n ? s / (double)n : 0;
}

static inline double bench_sd(const double *x, size_t n)
{
	double m = bench_mean(x, n), s = 0;

	if (n < 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		s += (x[i] - m) * (x[i] - m);
	return sqrt(s / (double)(n - 1));
}

/* Two-sided 95% quantile of Student's t with df degrees of freedom. */
static inline double bench_t95(size_t df)
{
	static const double t[] = {0,	  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
				   2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
				   2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
				   2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};

	if (df == 0)
		return INFINITY;
	if (df < sizeof(t) / sizeof(t[0]))
		return t[df];
	if (df < 60)
		return 2.00;
	if (df < 120)
		return 1.98;
	return 1.96;
}

/* Half-width of the 95% confidence interval of the mean of x[0..n). */
static inline double bench_ci95(const double *x, size_t n)
{
	if (n < 2)
		return INFINITY;
	return bench_t95(n - 1) * bench_sd(x, n) / sqrt((double)n);
}

#endif /* SC_BENCH_STATS_H */

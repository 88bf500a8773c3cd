/*
 * stats.h - counters, latency histograms and the periodic report.
 *
 * The histogram is log-linear (HdrHistogram's idea): values in ns are
 * bucketed by power of two with 128 used linear sub-buckets, so a recorded
 * value is known to within 1/128 (< 1%).  Recording is a few instructions and no
 * allocation.
 */
#ifndef SC_STATS_H
#define SC_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 8
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAGS     40 /* up to 2^47 ns, about 39 hours */

struct hist {
	uint64_t count;
	int64_t min, max;
	double sum;
	uint64_t buckets[HIST_MAGS][HIST_SUB];
};

void hist_reset(struct hist *h);
/* Negative values are recorded as 0. */
void hist_record(struct hist *h, int64_t v);
/* Value at quantile q in [0,1] (highest value of its bucket, capped at max); 0 if empty. */
int64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

#endif /* SC_STATS_H */

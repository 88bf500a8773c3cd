/* test_stats.c - the latency histogram. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static struct hist h;

Test(hist, small_values_are_exact)
{
	hist_reset(&h);
	for (int v = 1; v <= 100; v++)
		hist_record(&h, v);
	cr_assert_eq(h.count, 100);
	cr_assert_eq(h.min, 1);
	cr_assert_eq(h.max, 100);
	cr_assert_eq(hist_quantile(&h, 0.5), 51);
	cr_assert_eq(hist_quantile(&h, 0.99), 100);
	cr_assert_float_eq(hist_mean(&h), 50.5, 1e-9);
}

Test(hist, quantiles_are_within_one_percent)
{
	hist_reset(&h);
	/* 1..1e6 ns in steps of 7: a wide, known distribution */
	uint64_t n = 0;
	for (int64_t v = 1; v <= 1000000; v += 7, n++)
		hist_record(&h, v);
	for (double q = 0.1; q < 1.0; q += 0.1) {
		double exact = 1 + 7.0 * (double)(uint64_t)(q * (double)n);
		double got = (double)hist_quantile(&h, q);
		cr_assert(got >= exact * 0.99 && got <= exact * 1.01, "q=%.1f exact=%.0f got=%.0f",
			  q, exact, got);
	}
}

Test(hist, large_and_negative_values_are_clamped)
{
	hist_reset(&h);
	hist_record(&h, -5);
	hist_record(&h, INT64_MAX);
	cr_assert_eq(h.count, 2);
	cr_assert_eq(h.min, 0);
	cr_assert_eq(hist_quantile(&h, 0.0), 0);
	cr_assert_eq(hist_quantile(&h, 1.0), INT64_MAX);
}

/*
 * Merging two histograms of the same layout.  Only the tests combine
 * histograms (the runtime records each sample into its interval and its
 * since-start histogram), so the merge lives here rather than in stats.c.
 */
static void hist_merge(struct hist *into, const struct hist *from)
{
	if (!from->count)
		return;
	if (!into->count || from->min < into->min)
		into->min = from->min;
	if (!into->count || from->max > into->max)
		into->max = from->max;
	into->count += from->count;
	into->sum += from->sum;
	for (unsigned m = 0; m < HIST_MAGS; m++)
		for (unsigned s = 0; s < HIST_SUB; s++)
			into->buckets[m][s] += from->buckets[m][s];
}

static void assert_same_hist(const struct hist *x, const struct hist *y)
{
	static const double qs[] = {0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1};

	cr_assert_eq(x->count, y->count);
	cr_assert_eq(x->min, y->min);
	cr_assert_eq(x->max, y->max);
	cr_assert_float_eq(x->sum, y->sum, 1e-6 * (y->sum > 1 ? y->sum : 1));
	cr_assert_eq(memcmp(x->buckets, y->buckets, sizeof(x->buckets)), 0, "bucket counts differ");
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		cr_assert_eq(hist_quantile(x, qs[i]), hist_quantile(y, qs[i]), "q=%g", qs[i]);
}

/* Merging the histograms of two halves of a sample equals recording the
 * whole sample into one histogram: every bucket, the extremes, the sum and
 * the quantiles. */
Test(hist, merge_of_two_halves_equals_recording_all)
{
	static struct hist a, b, all;
	unsigned int seed = 12345;

	hist_reset(&a);
	hist_reset(&b);
	hist_reset(&all);
	for (int i = 0; i < 20000; i++) {
		int64_t v = (int64_t)(rand_r(&seed) % 1000000) << (rand_r(&seed) % 20);

		hist_record(i % 3 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_record(&b, 0);
	hist_record(&all, 0);
	hist_record(&a, (int64_t)1 << 46);
	hist_record(&all, (int64_t)1 << 46);
	hist_merge(&a, &b);
	assert_same_hist(&a, &all);
}

/* An empty side changes nothing, whichever side it is; the merged extremes
 * come from the non-empty one even when the empty one's fields are zero. */
Test(hist, merge_with_an_empty_histogram_is_the_identity)
{
	static struct hist a, empty, copy;

	hist_reset(&a);
	hist_reset(&empty);
	hist_record(&a, 700);
	hist_record(&a, 9000);
	copy = a;
	hist_merge(&a, &empty);
	assert_same_hist(&a, &copy);
	hist_merge(&empty, &a);
	assert_same_hist(&empty, &copy);
	cr_assert_eq(empty.min, 700);
}

Test(hist, empty_histogram_reports_zero)
{
	hist_reset(&h);
	cr_assert_eq(hist_quantile(&h, 0.99), 0);
	cr_assert_float_eq(hist_mean(&h), 0.0, 1e-12);
}

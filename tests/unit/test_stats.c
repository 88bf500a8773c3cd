/* test_stats.c - the latency histogram. */
#include <criterion/criterion.h>
#include <stdlib.h>

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

Test(hist, merge_adds_counts)
{
	static struct hist a, b;

	hist_reset(&a);
	hist_reset(&b);
	hist_record(&a, 10);
	hist_record(&b, 1000);
	hist_record(&b, 5);
	hist_merge(&a, &b);
	cr_assert_eq(a.count, 3);
	cr_assert_eq(a.min, 5);
	cr_assert_eq(a.max, 1000);
}

Test(hist, empty_histogram_reports_zero)
{
	hist_reset(&h);
	cr_assert_eq(hist_quantile(&h, 0.99), 0);
	cr_assert_float_eq(hist_mean(&h), 0.0, 1e-12);
}

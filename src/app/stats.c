/* stats.c - see stats.h */
#include "stats.h"

#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

/*
 * Values below HIST_SUB sit in magnitude 0, one bucket per value.  Larger
 * values v with highest bit b go to magnitude m = b - HIST_SUB_BITS + 1 and
 * sub-bucket v >> m, which lies in [HIST_SUB/2, HIST_SUB): a bucket is
 * 1/(HIST_SUB/2) of its value wide, i.e. < 1% with HIST_SUB_BITS 8.
 */
static void locate(int64_t v, unsigned *mag, unsigned *sub)
{
	uint64_t u = (uint64_t)v;
	unsigned m;

	if (u < HIST_SUB) {
		*mag = 0;
		*sub = (unsigned)u;
		return;
	}
	m = (unsigned)(63 - __builtin_clzll(u)) - HIST_SUB_BITS + 1;
	if (m >= HIST_MAGS) {
		*mag = HIST_MAGS - 1;
		*sub = HIST_SUB - 1;
		return;
	}
	*mag = m;
	*sub = (unsigned)(u >> m);
}

/* Highest value that falls into bucket (mag, sub). */
static int64_t bucket_top(unsigned mag, unsigned sub)
{
	return (int64_t)((((uint64_t)sub + 1) << mag) - 1);
}

void hist_record(struct hist *h, int64_t v)
{
	unsigned mag, sub;

	if (v < 0)
		v = 0;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (h->count == 0 || v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
	locate(v, &mag, &sub);
	h->buckets[mag][sub]++;
}

int64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (unsigned m = 0; m < HIST_MAGS; m++)
		for (unsigned s = 0; s < HIST_SUB; s++) {
			seen += h->buckets[m][s];
			if (seen > rank) {
				int64_t top = bucket_top(m, s);
				return top > h->max ? h->max : top;
			}
		}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

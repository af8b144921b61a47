/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_hist.h"

#include <string.h>

#define SUB (1u << BENCH_HIST_SUB_BITS)

void
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Values below 2*SUB map to themselves; above, with s = msb(v) - SUB_BITS, v lands in
 * s*SUB + (v >> s), which continues the exact range without a gap. */
unsigned int
bench_hist_index(uint64_t v)
{
	if (v < 2 * SUB)
		return (unsigned int)v;
	unsigned int msb = 63u - (unsigned int)__builtin_clzll(v);
	if (msb >= BENCH_HIST_MAX_BITS)
		return BENCH_HIST_BUCKETS - 1;
	unsigned int s = msb - BENCH_HIST_SUB_BITS;
	return s * SUB + (unsigned int)(v >> s);
}

uint64_t
bench_hist_upper(unsigned int idx)
{
	if (idx < 2 * SUB)
		return idx;
	unsigned int s = idx / SUB - 1;
	uint64_t top = idx - s * SUB;
	return (top << s) + ((1ull << s) - 1);
}

void
bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Cost: one pass over the buckets (about 2,300). */
uint64_t
bench_hist_quantile(const struct bench_hist *h, unsigned int permille)
{
	if (h->count == 0)
		return 0;
	if (permille >= 1000)
		return h->max;
	/* rank = ceil(count * permille / 1000), at least 1 */
	uint64_t rank = (h->count * permille + 999) / 1000;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t up = bench_hist_upper(i);
			return up > h->max ? h->max : up;
		}
	}
	return h->max;
}

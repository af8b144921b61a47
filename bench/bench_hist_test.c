/* SPDX-License-Identifier: Apache-2.0
 * bench_hist: bucket arithmetic and percentiles against exact answers.
 */
#include "tap.h"

#include "bench_hist.h"

#include <stdint.h>
#include <stdlib.h>

static struct bench_hist h;

/* Every value lands in a bucket whose upper bound is >= it and within 1/64 of it, and bucket
 * indices never decrease as values grow. */
static void
buckets_bound_values(void)
{
	unsigned int last = 0;
	for (uint64_t v = 0; v < (1ull << 39); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
		unsigned int i = bench_hist_index(v);
		CHECK(i < BENCH_HIST_BUCKETS);
		CHECK(i >= last);
		last = i;
		uint64_t up = bench_hist_upper(i);
		CHECK(up >= v);
		CHECK(up - v <= v / 64);
		if (up < v || up - v > v / 64) {
			printf("#   v=%llu idx=%u up=%llu\n", (unsigned long long)v, i,
			       (unsigned long long)up);
			break;
		}
	}
	CHECK_EQ(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
}

static void
exact_below_128(void)
{
	bench_hist_init(&h);
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_record(&h, v);
	CHECK_EQ(h.count, 100);
	CHECK_EQ(bench_hist_quantile(&h, 500), 50);
	CHECK_EQ(bench_hist_quantile(&h, 900), 90);
	CHECK_EQ(bench_hist_quantile(&h, 990), 99);
	CHECK_EQ(bench_hist_quantile(&h, 1000), 100);
	CHECK_EQ(h.min, 1);
}

/* Uniform 1..1,000,000: percentiles within the 1/64 bucket precision of the true rank. */
static void
uniform_million(void)
{
	bench_hist_init(&h);
	for (uint64_t v = 1; v <= 1000000; v++)
		bench_hist_record(&h, v);
	static const unsigned int pm[] = {500, 900, 990, 999};
	for (unsigned int k = 0; k < 4; k++) {
		uint64_t want = 1000ull * pm[k];
		uint64_t got = bench_hist_quantile(&h, pm[k]);
		CHECK(got >= want);
		CHECK(got - want <= want / 64);
	}
	CHECK_EQ(bench_hist_quantile(&h, 1000), 1000000);
}

static void
merge_adds(void)
{
	struct bench_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	bench_hist_init(a);
	bench_hist_init(b);
	for (int i = 0; i < 10; i++)
		bench_hist_record(a, 5);
	bench_hist_record(b, 1000000);
	bench_hist_merge(a, b);
	CHECK_EQ(a->count, 11);
	CHECK_EQ(a->max, 1000000);
	CHECK_EQ(a->min, 5);
	CHECK_EQ(bench_hist_quantile(a, 900), 5);
	CHECK_EQ(bench_hist_quantile(a, 1000), 1000000);
	free(a);
	free(b);
}

static void
empty_is_zero(void)
{
	bench_hist_init(&h);
	CHECK_EQ(bench_hist_quantile(&h, 500), 0);
	CHECK_EQ(bench_hist_quantile(&h, 1000), 0);
}

int
main(void)
{
	TEST(buckets_bound_values);
	TEST(exact_below_128);
	TEST(uniform_million);
	TEST(merge_adds);
	TEST(empty_is_zero);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * bench_hist: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values (nanoseconds) below 128 are counted exactly; above, each power of two is cut into 64
 * linear sub-buckets, so any recorded value is reported within 1/64 (1.6 %) of its true value.
 * Values up to 2^40 ns (18 minutes) fit; larger ones are clamped into the last bucket. Recording
 * is O(1) with no allocation: a count-leading-zeros and an increment. Histograms from several
 * workers merge by adding counts.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 6 /* 64 linear sub-buckets per power of two */
#define BENCH_HIST_MAX_BITS 40
#define BENCH_HIST_BUCKETS                                                                         \
	((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 1) * (1u << BENCH_HIST_SUB_BITS))

struct bench_hist {
	uint64_t count;
	uint64_t min, max;
	uint64_t sum;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t v);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The smallest recorded-bucket upper bound at or below which `permille` of the values lie
 * (500 = p50, 999 = p99.9, 1000 = max). 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, unsigned int permille);

/* Bucket arithmetic, exposed for tests and the microbenchmark. */
unsigned int bench_hist_index(uint64_t v);
uint64_t bench_hist_upper(unsigned int idx);

#endif /* BENCH_HIST_H */

// SPDX-License-Identifier: Apache-2.0
// Microbenchmark: the latency histogram tachyon-bench records on every delivered message, so
// its cost per sample is known to be negligible next to a receive.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

extern "C" {
#include "bench_hist.h"
}

static void
BM_hist_record(benchmark::State &state)
{
	auto h = std::make_unique<bench_hist>();
	bench_hist_init(h.get());
	uint64_t v = 12345;
	for (auto _ : state) {
		// A cheap LCG spreads values over many buckets, as real latencies do.
		v = v * 6364136223846793005ull + 1442695040888963407ull;
		bench_hist_record(h.get(), (v >> 40) + 1000);
	}
	benchmark::DoNotOptimize(h->count);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_hist_record);

static void
BM_hist_quantile(benchmark::State &state)
{
	auto h = std::make_unique<bench_hist>();
	bench_hist_init(h.get());
	for (uint64_t v = 1; v < 1000000; v += 7)
		bench_hist_record(h.get(), v * 1000);
	for (auto _ : state)
		benchmark::DoNotOptimize(bench_hist_quantile(h.get(), 990));
}
BENCHMARK(BM_hist_quantile);

BENCHMARK_MAIN();

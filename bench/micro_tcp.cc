// SPDX-License-Identifier: Apache-2.0
// Microbenchmark: tcpstack's input path per segment, on DPDK mbufs (issue 7). A stack instance
// with 1 or 1,000 established connections receives in-order data segments in bursts of 32
// (Ethernet -> IPv4 -> TCP checksum -> connection lookup -> in-order queue -> the app consumes
// -> ACKs built and handed to the tx hook), as an lcore's RX loop feeds it. The frames are
// built outside the timed region (256 per batch, round-robin over the connections); the EAL
// runs without hugepages or devices. s_per_segment is the figure: time per segment.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>

#include "micro_main.h"

extern "C" {
#include "micro_net_glue.h"
}

namespace
{

constexpr unsigned int kBatch = 256;

bench_tcpin *
bed_of(uint32_t nconns)
{
	static std::map<uint32_t, bench_tcpin *> cache;
	auto it = cache.find(nconns);
	if (it != cache.end())
		return it->second;
	bench_tcpin *b = bench_tcpin_new(nconns);
	if (b)
		cache[nconns] = b;
	return b;
}

// Arguments: payload bytes, connections.
void
BM_tcp_input(benchmark::State &state)
{
	const uint16_t len = static_cast<uint16_t>(state.range(0));
	bench_tcpin *b = bed_of(static_cast<uint32_t>(state.range(1)));
	uint64_t rx0, tx0, drop0, rx1, tx1, drop1, segs = 0;

	if (!b) {
		state.SkipWithError("stack set-up failed (handshakes)");
		return;
	}
	bench_tcpin_counts(b, &rx0, &tx0, &drop0);
	for (auto _ : state) {
		state.PauseTiming();
		if (bench_tcpin_prepare(b, len, kBatch) < 0) {
			state.SkipWithError("out of mbufs");
			break;
		}
		state.ResumeTiming();
		segs += bench_tcpin_run(b);
	}
	bench_tcpin_counts(b, &rx1, &tx1, &drop1);
	// Every byte must have been taken in order: a dropped or out-of-order segment would make
	// the figure meaningless.
	if (rx1 - rx0 != segs * len || drop1 != drop0)
		state.SkipWithError("segments dropped or not in order");
	state.counters["s_per_segment"] =
	        benchmark::Counter(static_cast<double>(segs),
	                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
	state.counters["acks_per_segment"] =
	        segs ? static_cast<double>(tx1 - tx0) / static_cast<double>(segs) : 0;
	state.SetItemsProcessed(static_cast<int64_t>(segs));
	state.SetBytesProcessed(static_cast<int64_t>(segs * len));
}
BENCHMARK(BM_tcp_input)->ArgNames({"payload", "conns"})->ArgsProduct({{64, 1460}, {1, 1000}});

} // namespace

int
main(int argc, char **argv)
{
	return micro_main(
	        argc, argv,
	        [](const char *prog) {
		        int rc = bench_eal_init(prog);
		        if (rc < 0)
			        fprintf(stderr, "micro_tcp: EAL initialisation failed (%d)\n", rc);
		        return rc;
	        },
	        bench_eal_fini);
}

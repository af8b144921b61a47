// SPDX-License-Identifier: Apache-2.0
// Microbenchmark: the hand-off of one message descriptor between shards on an rte_ring, as
// dataplane/dp_route.c does it (issue 7): single producer, single consumer, 1024 entries,
// pointer-sized descriptors with a tag in the low bits, burst enqueue of what a loop iteration
// staged and burst dequeue of up to 32 (DP_RX_BURST) by the other side.
//
//   BM_ring_same_core/B   enqueue a burst of B, dequeue it, on one thread: the instructions
//                         the two ends cost, caches warm
//   BM_ring_cross_core/B  a producer thread on another core enqueues bursts of B while this
//                         thread dequeues: adds the cache-line transfers a real hand-off pays.
//                         The two threads are pinned to the first and the last CPU whatever
//                         the process's affinity (run-micro.sh pins the rest to one core),
//                         and the benchmark is skipped on one CPU. On a machine whose cores are
//                         shared with other work this one is noisy; the producer spins when the
//                         ring is full (bounded by the run).
// Time per message: s_per_msg. No EAL needed: the ring lives in ordinary memory
// (rte_ring_init).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <rte_ring.h>

namespace
{

constexpr unsigned int kRingSize = 1024; // DP_SHARD_RING_SIZE
constexpr unsigned int kDeqBurst = 32;   // DP_RX_BURST

struct Ring {
	rte_ring *r;
	Ring()
	{
		ssize_t sz = rte_ring_get_memsize(kRingSize);
		r = static_cast<rte_ring *>(
		        aligned_alloc(RTE_CACHE_LINE_SIZE, static_cast<size_t>(sz)));
		if (r && rte_ring_init(r, "bench", kRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ) < 0) {
			free(r);
			r = nullptr;
		}
	}
	~Ring()
	{
		free(r);
	}
};

// Descriptors as dp_route tags them: an 8-byte aligned address | tag 1 (DP_RING_PUB).
void
fill(std::vector<void *> &d)
{
	static uint64_t slots[256];
	for (size_t i = 0; i < d.size(); i++)
		d[i] = reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(&slots[i % 256]) | 1u);
}

void
per_msg_counter(benchmark::State &state, uint64_t msgs)
{
	state.counters["s_per_msg"] =
	        benchmark::Counter(static_cast<double>(msgs),
	                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
	state.SetItemsProcessed(static_cast<int64_t>(msgs));
}

void
BM_ring_same_core(benchmark::State &state)
{
	const unsigned int burst = static_cast<unsigned int>(state.range(0));
	Ring ring;
	std::vector<void *> in(burst), out(kDeqBurst);
	uint64_t msgs = 0;

	if (!ring.r) {
		state.SkipWithError("ring init failed");
		return;
	}
	fill(in);
	for (auto _ : state) {
		unsigned int k = rte_ring_sp_enqueue_burst(ring.r, in.data(), burst, nullptr);
		unsigned int got = 0;
		while (got < k)
			got += rte_ring_sc_dequeue_burst(ring.r, out.data(), kDeqBurst, nullptr);
		benchmark::DoNotOptimize(out[0]);
		msgs += got;
	}
	per_msg_counter(state, msgs);
}
BENCHMARK(BM_ring_same_core)->Arg(1)->Arg(8)->Arg(32);

void
BM_ring_cross_core(benchmark::State &state)
{
	const unsigned int burst = static_cast<unsigned int>(state.range(0));
	Ring ring;
	std::vector<void *> out(kDeqBurst);
	std::atomic<bool> stop{false};
	uint64_t msgs = 0;

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t saved, one;

	if (!ring.r || ncpu < 2) {
		state.SkipWithError(ring.r ? "needs two CPUs" : "ring init failed");
		return;
	}
	pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved);
	CPU_ZERO(&one);
	CPU_SET(static_cast<int>(ncpu - 1), &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	std::thread producer([&] {
		cpu_set_t first;
		CPU_ZERO(&first);
		CPU_SET(0, &first);
		pthread_setaffinity_np(pthread_self(), sizeof(first), &first);
		std::vector<void *> in(burst);
		fill(in);
		while (!stop.load(std::memory_order_relaxed))
			rte_ring_sp_enqueue_burst(ring.r, in.data(), burst, nullptr);
	});
	// One iteration = one dequeue burst of up to 32 that found something (an empty poll is
	// retried, as the consumer's loop would).
	for (auto _ : state) {
		unsigned int n;
		while ((n = rte_ring_sc_dequeue_burst(ring.r, out.data(), kDeqBurst, nullptr)) == 0)
			;
		benchmark::DoNotOptimize(out[0]);
		msgs += n;
	}
	stop.store(true);
	producer.join();
	pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	per_msg_counter(state, msgs);
}
BENCHMARK(BM_ring_cross_core)->Arg(8)->Arg(32)->UseRealTime();

} // namespace

BENCHMARK_MAIN();

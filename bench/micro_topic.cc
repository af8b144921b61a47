// SPDX-License-Identifier: Apache-2.0
// Microbenchmarks of the broker core's topic trie: matching one PUBLISH topic against 1, 1K and
// 1M subscriptions (O(levels) whatever the count), and subscribe + unsubscribe of one filter.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>

extern "C" {
#include "micro_topic_glue.h"
}

// Google Benchmark calls each function several times while it sizes the run: build each trie
// once (a million subscriptions take a while) and keep it until exit.
static micro_trie *
trie_of(uint32_t n)
{
	static std::map<uint32_t, micro_trie *> cache;
	auto it = cache.find(n);
	if (it != cache.end())
		return it->second;
	micro_trie *m = micro_trie_new(n);
	if (m)
		cache[n] = m;
	return m;
}

static void
BM_trie_match(benchmark::State &state)
{
	const uint32_t n = static_cast<uint32_t>(state.range(0));
	micro_trie *m = trie_of(n);
	if (!m) {
		state.SkipWithError("out of memory");
		return;
	}
	// The last subscription's own topic: one exact match plus the wildcard.
	char topic[64];
	snprintf(topic, sizeof(topic), "dev/%u/temp/%u", (n - 1) % 1000, n - 1);
	uint32_t found = 0;
	for (auto _ : state) {
		found = micro_trie_match(m, topic);
		benchmark::DoNotOptimize(found);
	}
	if (found != 2)
		state.SkipWithError("wrong match count");
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_trie_match)->Arg(1)->Arg(1000)->Arg(1000000)->Unit(benchmark::kNanosecond);

static void
BM_trie_insert_remove(benchmark::State &state)
{
	micro_trie *m = trie_of(static_cast<uint32_t>(state.range(0)));
	if (!m) {
		state.SkipWithError("out of memory");
		return;
	}
	int rc = 0;
	for (auto _ : state) {
		// A new leaf under an existing level: creates and prunes one node each time.
		rc |= micro_trie_insert_remove(m, "dev/7/temp/new/leaf");
	}
	if (rc)
		state.SkipWithError("insert failed");
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_trie_insert_remove)->Arg(1000)->Arg(1000000);

BENCHMARK_MAIN();

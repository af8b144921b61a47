// SPDX-License-Identifier: Apache-2.0
// Microbenchmarks of the route replica: which shards need a publish, with 10, 1K and 100K
// remote filters, asked of the linear list dp_route.c keeps today (tests/unit/mqtt_rtab/
// rtab_ref.h: O(filters)) and of the mqtt_rtab trie (O(levels x matching branches)); and one
// route change (set + clear of a new filter) on the trie. 8 shards, IoT-shaped filters:
// "dev/<i>/#", "dev/<i>/temp", "site/<i mod 100>/dev/<i>/+", "dev/+/alarm/<i>".
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>

extern "C" {
#include "mqtt/mqtt_rtab.h"
#include "tests/unit/mqtt_rtab/rtab_ref.h"
}

struct tables {
	mqtt_rtab *trie;
	rtab_ref list;
};

static size_t
filter_of(char *buf, size_t cap, uint32_t i)
{
	int n = 0;

	switch (i % 4) {
	case 0:
		n = snprintf(buf, cap, "dev/%u/#", i);
		break;
	case 1:
		n = snprintf(buf, cap, "dev/%u/temp", i);
		break;
	case 2:
		n = snprintf(buf, cap, "site/%u/dev/%u/+", i % 100, i);
		break;
	default:
		n = snprintf(buf, cap, "dev/+/alarm/%u", i);
		break;
	}
	return static_cast<size_t>(n);
}

// Built once per size and kept until exit (Google Benchmark calls each function several times).
static tables *
tables_of(uint32_t n)
{
	static std::map<uint32_t, tables *> cache;
	auto it = cache.find(n);
	if (it != cache.end())
		return it->second;
	tables *t = new tables();
	t->trie = mqtt_rtab_create();
	if (t->trie == nullptr)
		return nullptr;
	for (uint32_t i = 0; i < n; i++) {
		char f[64];
		size_t len = filter_of(f, sizeof(f), i);
		const uint8_t *p = reinterpret_cast<const uint8_t *>(f);
		// (distinct filters: appended, as an O(n^2) set-up would take minutes at 100K)
		if (mqtt_rtab_set(t->trie, p, len, i % 8, 1) != 0 ||
		    rtab_ref_append(&t->list, p, len, uint64_t{1} << (i % 8)) != 0)
			return nullptr;
	}
	cache[n] = t;
	return t;
}

// 256 topics spread over the filters, each matched by one "dev/<i>/#".
struct topics {
	char s[256][48];
	size_t len[256];
};

static void
topics_of(topics *tp, uint32_t n)
{
	for (uint32_t k = 0; k < 256; k++) {
		uint32_t i = static_cast<uint32_t>(static_cast<uint64_t>(k) * n / 256) & ~3u;
		tp->len[k] =
		        static_cast<size_t>(snprintf(tp->s[k], sizeof(tp->s[k]), "dev/%u/temp", i));
	}
}

template <bool Trie>
static void
BM_route_match(benchmark::State &state)
{
	const uint32_t n = static_cast<uint32_t>(state.range(0));
	tables *t = tables_of(n);
	static topics tp;
	if (t == nullptr) {
		state.SkipWithError("out of memory");
		return;
	}
	static std::map<uint32_t, bool> checked;
	topics_of(&tp, n);
	// both answer the same, or the comparison means nothing (16 topics, once per size: the list
	// takes milliseconds per topic at 100K, and this function runs several times per benchmark)
	for (uint32_t k = 0; !checked[n] && k < 256; k += 16) {
		const uint8_t *p = reinterpret_cast<const uint8_t *>(tp.s[k]);
		uint64_t a = mqtt_rtab_match(t->trie, p, tp.len[k]);
		if (a == 0 || a != rtab_ref_match(&t->list, p, tp.len[k])) {
			state.SkipWithError("trie and list disagree");
			return;
		}
	}
	checked[n] = true;
	uint32_t k = 0;
	for (auto _ : state) {
		const uint8_t *p = reinterpret_cast<const uint8_t *>(tp.s[k]);
		uint64_t m = Trie ? mqtt_rtab_match(t->trie, p, tp.len[k])
		                  : rtab_ref_match(&t->list, p, tp.len[k]);
		benchmark::DoNotOptimize(m);
		k = (k + 1) & 255;
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(BM_route_match, false)->Arg(10)->Arg(1000)->Arg(100000)->Name("BM_list_match");
BENCHMARK_TEMPLATE(BM_route_match, true)->Arg(10)->Arg(1000)->Arg(100000)->Name("BM_rtab_match");

static void
BM_rtab_set_clear(benchmark::State &state)
{
	tables *t = tables_of(static_cast<uint32_t>(state.range(0)));
	if (t == nullptr) {
		state.SkipWithError("out of memory");
		return;
	}
	static const char f[] = "dev/7/new/leaf";
	const uint8_t *p = reinterpret_cast<const uint8_t *>(f);
	int rc = 0;
	for (auto _ : state) {
		// two new nodes under an existing level: created, then pruned
		rc |= mqtt_rtab_set(t->trie, p, sizeof(f) - 1, 3, 1);
		rc |= mqtt_rtab_set(t->trie, p, sizeof(f) - 1, 3, 0);
	}
	if (rc)
		state.SkipWithError("set failed");
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_rtab_set_clear)->Arg(100000);

BENCHMARK_MAIN();

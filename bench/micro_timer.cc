// SPDX-License-Identifier: Apache-2.0
// Microbenchmarks of tcpstack's timer wheel (tcpstack/tcp_timer.h) at 1K and 1M armed
// keepalive-style timers, each embedded in a TCB-sized block laid out like struct tcp_conn, so
// the memory a million connections touch is the real one (issue 3: 1M connections must cost no
// more per tick than 1K).
//
//   BM_wheel_tick_idle      one 1 ms tick with N timers armed 2-4 h ahead (none due): the wheel's
//                           own bookkeeping per tick
//   BM_wheel_tick_keepalive one 1 ms tick with N timers each due once per 60 s period (the lazy
//                           keepalive: fire, find the connection was active, re-arm a period
//                           later); counters give timers fired per tick and time per fired timer
//   BM_timer_rearm          re-arm one random timer (an RTO or keepalive deadline moving)
//   BM_timer_cancel_arm     cancel one random timer and arm it again
//
// The TCB size (sizeof(struct tcp_conn)) is printed at start, kept in the JSON context
// ("tcb_bytes") and as a counter of every benchmark.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "micro_main.h"

extern "C" {
#include "micro_tcp_glue.h"
#include "tcpstack/tcp_timer.h"
}

namespace
{

constexpr uint64_t kT0 = 1000000;            // wheel's tick 0, us
constexpr uint64_t kTickUs = TCP_TW_TICK_US; // 1 ms
constexpr uint64_t kPeriodUs = 60000000;     // keepalive period: 60 s

uint64_t
lcg(uint64_t &s)
{
	s = s * 6364136223846793005ull + 1442695040888963407ull;
	return s >> 33;
}

// N timers inside TCB-sized blocks, and a wheel. Built once per (N, kind) and kept until exit:
// arming a million timers takes a while and Google Benchmark calls each function repeatedly.
struct Bed {
	tcp_wheel wheel;
	std::vector<uint8_t> tcbs;
	size_t stride, off;
	uint32_t n;
	uint64_t now_us;
	uint64_t rearm_us; // the callback re-arms at now + rearm_us (+ jitter below)
	uint64_t fired;
	uint64_t seed;

	tcp_timer *at(uint32_t i)
	{
		return reinterpret_cast<tcp_timer *>(&tcbs[i * stride + off]);
	}
};

void
rearm_cb(void *arg, tcp_timer *t)
{
	Bed *b = static_cast<Bed *>(arg);

	b->fired++;
	tcp_timer_arm(&b->wheel, t, b->now_us + b->rearm_us);
}

enum Kind { kIdle, kKeepalive };

Bed *
bed_of(uint32_t n, Kind kind)
{
	static std::map<std::pair<uint32_t, int>, std::unique_ptr<Bed>> cache;
	auto key = std::make_pair(n, static_cast<int>(kind));
	auto it = cache.find(key);
	if (it != cache.end())
		return it->second.get();

	auto b = std::make_unique<Bed>();
	b->stride = bench_tcb_size();
	b->off = bench_tcb_timer_off();
	b->n = n;
	b->tcbs.assign(static_cast<size_t>(n) * b->stride, 0);
	b->now_us = kT0;
	b->seed = 42;
	b->fired = 0;
	tcp_wheel_init(&b->wheel, kT0);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t exp;
		if (kind == kIdle) // 2-4 h ahead: level 2, none due within a run
			exp = kT0 + 7200000000ull + lcg(b->seed) % 7200000000ull;
		else // due uniformly over the next period, as connections opened at random times
			exp = kT0 + lcg(b->seed) % kPeriodUs;
		tcp_timer_arm(&b->wheel, b->at(i), exp);
	}
	b->rearm_us = kind == kIdle ? 7200000000ull : kPeriodUs;
	Bed *raw = b.get();
	cache[key] = std::move(b);
	return raw;
}

void
common_counters(benchmark::State &state, const Bed *b)
{
	state.counters["timers"] = b->n;
	state.counters["tcb_bytes"] = static_cast<double>(bench_tcb_size());
	// Every run must carry the same counters (the CSV reporter insists): 0 = not measured.
	state.counters["fired_per_tick"] = 0;
	state.counters["s_per_fired"] = 0;
}

// One 1 ms tick per iteration; returns the timers fired.
uint64_t
run_ticks(benchmark::State &state, Bed *b)
{
	uint64_t fired0 = b->fired;
	for (auto _ : state) {
		b->now_us += kTickUs;
		benchmark::DoNotOptimize(tcp_wheel_run(&b->wheel, b->now_us, 1 << 30, rearm_cb, b));
	}
	common_counters(state, b);
	return b->fired - fired0;
}

// Ticks with nothing due: the per-tick cost the wheel pays whatever N is. 1M iterations = 1,000 s
// of simulated time, well short of the 2 h before the first timer is due.
void
BM_wheel_tick_idle(benchmark::State &state)
{
	Bed *b = bed_of(static_cast<uint32_t>(state.range(0)), kIdle);
	if (run_ticks(state, b) != 0)
		state.SkipWithError("a timer fired: the idle bed is not idle");
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_wheel_tick_idle)->Arg(1000)->Arg(1000000)->Iterations(1000000);

// Steady keepalive load: each timer fires once per 60 s of simulated time and is re-armed a
// period later, so a tick fires N / 60,000 timers on average (0.017 at 1K, 16.7 at 1M). The
// cost per fired timer (s_per_fired) is the figure that must not grow with N; the bed keeps its
// clock across runs, so every run continues the same steady state.
void
BM_wheel_tick_keepalive(benchmark::State &state)
{
	Bed *b = bed_of(static_cast<uint32_t>(state.range(0)), kKeepalive);
	double fired = static_cast<double>(run_ticks(state, b));
	state.counters["fired_per_tick"] =
	        benchmark::Counter(fired, benchmark::Counter::kAvgIterations);
	state.counters["s_per_fired"] = benchmark::Counter(
	        fired, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_wheel_tick_keepalive)->Arg(1000)->Arg(1000000);

// A deadline moving (an ACK re-arming the RTO, a segment pushing the keepalive back): unlink and
// relink, O(1); with `cancel`, an explicit cancel first (a connection closing, a new one taking
// the TCB). Random TCBs: at 1M the TCB array (hundreds of MB) is far beyond the caches, so the
// difference from 1K is cache misses, not list length.
void
rearm_random(benchmark::State &state, bool cancel)
{
	Bed *b = bed_of(static_cast<uint32_t>(state.range(0)), kKeepalive);
	for (auto _ : state) {
		tcp_timer *t = b->at(static_cast<uint32_t>(lcg(b->seed) % b->n));
		if (cancel)
			tcp_timer_cancel(&b->wheel, t);
		tcp_timer_arm(&b->wheel, t, b->now_us + kPeriodUs - lcg(b->seed) % 1000000);
	}
	common_counters(state, b);
	state.SetItemsProcessed(state.iterations());
}

void
BM_timer_rearm(benchmark::State &state)
{
	rearm_random(state, false);
}
BENCHMARK(BM_timer_rearm)->Arg(1000)->Arg(1000000);

void
BM_timer_cancel_arm(benchmark::State &state)
{
	rearm_random(state, true);
}
BENCHMARK(BM_timer_cancel_arm)->Arg(1000)->Arg(1000000);

} // namespace

int
main(int argc, char **argv)
{
	return micro_main(
	        argc, argv,
	        [](const char *) {
		        // stderr: --benchmark_list_tests output on stdout must stay a list of
		        // names.
		        fprintf(stderr,
		                "TCB (struct tcp_conn): %zu bytes; timer entry at offset %zu\n",
		                bench_tcb_size(), bench_tcb_timer_off());
		        benchmark::AddCustomContext("tcb_bytes", std::to_string(bench_tcb_size()));
		        return 0;
	        },
	        [] {});
}

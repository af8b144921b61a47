/* SPDX-License-Identifier: Apache-2.0
 * Timer wheel properties (suite 'tcp'): against a brute-force reference, every timer fires
 * exactly once, never before its expiry and at most one tick after it, across all three levels
 * and their cascades, with random re-arms and cancels; the callback budget defers work without
 * losing it; an empty wheel skips idle time in O(1).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tcpstack/tcp_timer.h"

#define N 2000

struct ent {
	struct tcp_timer t;
	uint64_t due_us;   /* 0 = not armed */
	uint64_t arm_tick; /* the wheel's tick when armed: an overdue timer fires then */
	int fired;
};

static struct ent ents[N];
static uint64_t now_us;
static int late, early, stray;

static void
fire(void *arg, struct tcp_timer *t)
{
	struct ent *e = (struct ent *)((char *)t - offsetof(struct ent, t));
	const struct tcp_wheel *w = arg;
	uint64_t want = (e->due_us + TCP_TW_TICK_US - 1) / TCP_TW_TICK_US;

	if (e->due_us == 0) {
		stray++;
		return;
	}
	/* The wheel runs tick w->now: it must be the expiry tick (or the arming tick if the
	 * timer was already due then). */
	if (w->now * TCP_TW_TICK_US < e->due_us)
		early++;
	if (w->now > (want > e->arm_tick ? want : e->arm_tick))
		late++;
	e->fired++;
	e->due_us = 0;
}

static uint64_t
rnd(uint64_t n)
{
	return ((uint64_t)rand() << 31 ^ (uint64_t)rand()) % n;
}

static void
random_arm_cancel(void)
{
	struct tcp_wheel w;
	int armed = 0;

	srand(12345);
	memset(ents, 0, sizeof(ents));
	now_us = 777;
	tcp_wheel_init(&w, 0);
	late = early = stray = 0;
	for (int step = 0; step < 20000; step++) {
		struct ent *e = &ents[rnd(N)];
		int op = (int)rnd(10);

		if (op < 6) {
			/* delays spanning level 0 (< 256 ms), 1 (< 65 s) and 2 */
			static const uint64_t span[] = {300000, 70000000, 3000000000ull};
			uint64_t d = rnd(span[rnd(3)]);

			if (e->due_us == 0)
				armed++;
			e->due_us = now_us + d;
			e->arm_tick = w.now;
			tcp_timer_arm(&w, &e->t, e->due_us);
		} else if (op < 7) {
			if (e->due_us)
				armed--;
			e->due_us = 0;
			tcp_timer_cancel(&w, &e->t);
		}
		now_us += rnd(op == 9 ? 5000000 : 3000);
		tcp_wheel_run(&w, now_us, 1 << 30, fire, &w);
		CHECK(tcp_wheel_next(&w) >= now_us || w.pending == 0);
	}
	/* Run everything out. */
	now_us += 4000000000ull;
	tcp_wheel_run(&w, now_us, 1 << 30, fire, &w);
	for (int i = 0; i < N; i++)
		CHECK_EQ(ents[i].due_us, 0);
	CHECK_EQ(w.pending, 0);
	CHECK_EQ(early, 0);
	CHECK_EQ(stray, 0);
	CHECK_EQ(late, 0);
	(void)armed;
}

static void
budget_defers(void)
{
	struct tcp_wheel w;
	int fired = 0;

	memset(ents, 0, sizeof(ents));
	tcp_wheel_init(&w, 0);
	now_us = 0;
	stray = early = late = 0;
	for (int i = 0; i < 100; i++) {
		ents[i].due_us = 5000;
		tcp_timer_arm(&w, &ents[i].t, 5000);
	}
	now_us = 5000;
	fired += tcp_wheel_run(&w, now_us, 30, fire, &w);
	CHECK_EQ(fired, 30);
	fired += tcp_wheel_run(&w, now_us, 30, fire, &w);
	fired += tcp_wheel_run(&w, now_us, 100, fire, &w);
	CHECK_EQ(fired, 100);
	CHECK_EQ(w.pending, 0);
	CHECK_EQ(early + stray, 0);
	CHECK(tcp_wheel_next(&w) == UINT64_MAX);
}

static void
next_is_exact_at_level0(void)
{
	struct tcp_wheel w;

	memset(ents, 0, sizeof(ents));
	tcp_wheel_init(&w, 0);
	tcp_wheel_run(&w, 10000, 10, fire, &w);
	tcp_timer_arm(&w, &ents[0].t, 10000 + 42000);
	CHECK_EQ(tcp_wheel_next(&w), 52000);
	tcp_timer_cancel(&w, &ents[0].t);
	CHECK(tcp_wheel_next(&w) == UINT64_MAX);
	/* An empty wheel jumps over a long idle period without visiting each tick. */
	CHECK_EQ(tcp_wheel_run(&w, 3600ull * 1000000, 10, fire, &w), 0);
	CHECK(w.now > 3600ull * 1000);
}

int
main(void)
{
	TEST(random_arm_cancel);
	TEST(budget_defers);
	TEST(next_is_exact_at_level0);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * Unit test of the keep-alive timer wheel: never early, on time to the tick, rounds beyond the
 * span, re-arm from a handler, cancel, the per-call budget, and a stall longer than the span.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "dataplane/dp_timer.h"

#define TICK DP_WHEEL_TICK_US
#define SPAN ((uint64_t)DP_WHEEL_SLOTS * TICK)

struct ent {
	struct dp_timer t;
	uint64_t fired_at; /* 0 = not fired */
	int fires;
	uint64_t rearm_to; /* nonzero: re-arm here from the handler (once) */
};

static struct dp_wheel wheel;

static void
on_fire(struct dp_timer *t, uint64_t now_us)
{
	struct ent *e = (struct ent *)t; /* t is the first member */

	e->fired_at = now_us;
	e->fires++;
	if (e->rearm_to != 0) {
		uint64_t to = e->rearm_to;

		e->rearm_to = 0;
		dp_timer_arm(&wheel, t, to);
	}
}

/* Advance the clock in `step` increments up to `until`, running the wheel at each. */
static void
run_until(uint64_t *now, uint64_t until, uint64_t step)
{
	while (*now < until) {
		*now += step;
		if (*now > until)
			*now = until;
		dp_wheel_run(&wheel, *now, on_fire, UINT32_MAX);
	}
}

static void
test_never_early_and_on_time(void)
{
	uint64_t now = 1000000;
	struct ent e[64];

	memset(e, 0, sizeof(e));
	dp_wheel_init(&wheel, now);
	for (int i = 0; i < 64; i++)
		dp_timer_arm(&wheel, &e[i].t, now + 1 + (uint64_t)i * 7919 * 13);
	run_until(&now, now + 10 * 1000000, 997);
	for (int i = 0; i < 64; i++) {
		uint64_t want = e[i].t.expire_us;

		CHECK_EQ(e[i].fires, 1);
		CHECK(e[i].fired_at >= want);
		/* at most one tick plus one clock step late */
		CHECK(e[i].fired_at <= want + TICK + 997);
		CHECK(!dp_timer_armed(&e[i].t));
	}
}

static void
test_beyond_span(void)
{
	uint64_t now = 5, start = 5;
	struct ent e = {0};

	dp_wheel_init(&wheel, now);
	dp_timer_arm(&wheel, &e.t, start + 3 * SPAN + 12345);
	run_until(&now, start + 3 * SPAN, TICK / 2);
	CHECK_EQ(e.fires, 0);
	run_until(&now, start + 3 * SPAN + 12345 + TICK, TICK / 2);
	CHECK_EQ(e.fires, 1);
	CHECK(e.fired_at >= start + 3 * SPAN + 12345);
}

static void
test_cancel_and_rearm(void)
{
	uint64_t now = 0;
	struct ent a = {0}, b = {0}, c = {0};

	dp_wheel_init(&wheel, now);
	dp_timer_arm(&wheel, &a.t, 100000);
	dp_timer_arm(&wheel, &b.t, 100000);
	dp_timer_arm(&wheel, &c.t, 100000);
	dp_timer_cancel(&b.t);
	CHECK(!dp_timer_armed(&b.t));
	dp_timer_cancel(&b.t);               /* twice is harmless */
	dp_timer_arm(&wheel, &c.t, 5000000); /* moved later */
	a.rearm_to = 2000000;                /* handler re-arms itself */
	run_until(&now, 1000000, 1000);
	CHECK_EQ(a.fires, 1);
	CHECK_EQ(b.fires, 0);
	CHECK_EQ(c.fires, 0);
	CHECK(dp_timer_armed(&a.t));
	run_until(&now, 6000000, 1000);
	CHECK_EQ(a.fires, 2);
	CHECK(a.fired_at >= 2000000);
	CHECK_EQ(c.fires, 1);
	CHECK(c.fired_at >= 5000000);
}

static void
test_rearm_in_the_past_fires_next_call(void)
{
	uint64_t now = 10 * TICK;
	struct ent a = {0};

	dp_wheel_init(&wheel, now);
	dp_timer_arm(&wheel, &a.t, now);
	a.rearm_to = 1; /* long past */
	CHECK_EQ(dp_wheel_run(&wheel, now, on_fire, UINT32_MAX), 1);
	CHECK_EQ(a.fires, 1);
	CHECK(dp_timer_armed(&a.t));
	CHECK_EQ(dp_wheel_run(&wheel, now + TICK, on_fire, UINT32_MAX), 1);
	CHECK_EQ(a.fires, 2);
}

static void
test_budget(void)
{
	enum { N = 1000 };
	struct ent *e = calloc(N, sizeof(*e));
	uint64_t now = 0;
	unsigned int total = 0, calls = 0, n;

	dp_wheel_init(&wheel, now);
	for (int i = 0; i < N; i++)
		dp_timer_arm(&wheel, &e[i].t, 50000);
	now = 200000;
	while ((n = dp_wheel_run(&wheel, now, on_fire, 64)) > 0) {
		CHECK(n <= 64);
		total += n;
		calls++;
		now += TICK;
		if (calls > 100)
			break;
	}
	CHECK_EQ(total, N);
	CHECK_EQ(calls, (N + 63) / 64);
	for (int i = 0; i < N; i++)
		CHECK_EQ(e[i].fires, 1);
	free(e);
}

static void
test_long_stall(void)
{
	uint64_t now = 0;
	struct ent a = {0}, b = {0};

	dp_wheel_init(&wheel, now);
	dp_timer_arm(&wheel, &a.t, 3 * TICK);
	dp_timer_arm(&wheel, &b.t, 5 * SPAN);
	now = 2 * SPAN + 17; /* one call after a stall of two spans */
	CHECK_EQ(dp_wheel_run(&wheel, now, on_fire, UINT32_MAX), 1);
	CHECK_EQ(a.fires, 1);
	CHECK_EQ(b.fires, 0);
	run_until(&now, 5 * SPAN + TICK, TICK);
	CHECK_EQ(b.fires, 1);
}

int
main(void)
{
	TEST(test_never_early_and_on_time);
	TEST(test_beyond_span);
	TEST(test_cancel_and_rearm);
	TEST(test_rearm_in_the_past_fires_next_call);
	TEST(test_budget);
	TEST(test_long_stall);
	return tap_done();
}

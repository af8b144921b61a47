/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the tachyon-impair decision engine and delay queue, without sockets: seeded
 * determinism (the property failure reproduction relies on), the rates the knobs promise, and the
 * queue's release order under delay, jitter, reordering and the rate cap.
 */
#include "impair_core.h"
#include "tap.h"

#include <math.h>
#include <string.h>

#define N_DRAW 20000

static const struct imp_params all_on = {
        .loss = 0.05,
        .dup = 0.01,
        .corrupt = 0.01,
        .reorder = 0.25,
        .reorder_gap = 2,
        .reorder_max_us = 20000,
        .delay_us = 50000,
        .jitter_us = 10000,
};

static int
same_decision(const struct imp_decision *a, const struct imp_decision *b)
{
	return a->drop == b->drop && a->dup == b->dup && a->corrupt == b->corrupt &&
	       a->reorder == b->reorder && a->corrupt_off == b->corrupt_off &&
	       a->corrupt_mask == b->corrupt_mask && a->delay_us == b->delay_us &&
	       a->dup_delay_us == b->dup_delay_us;
}

/* Decisions of n frames under (seed, stream); returns how many kept frames were decided exactly as
 * under (seed2, stream2). */
static int
count_equal(uint64_t seed, uint64_t stream, uint64_t seed2, uint64_t stream2, int n)
{
	struct imp_rng r1, r2;
	int eq = 0;

	imp_rng_seed(&r1, seed, stream);
	imp_rng_seed(&r2, seed2, stream2);
	for (int i = 0; i < n; i++) {
		struct imp_decision a, b;

		imp_decide(&r1, &all_on, 1514, &a);
		imp_decide(&r2, &all_on, 1514, &b);
		/* A frame dropped by both streams carries no other draw: compare kept ones. */
		eq += !a.drop && same_decision(&a, &b);
	}
	return eq;
}

static void
same_seed_same_decisions(void)
{
	struct imp_rng r1, r2;
	int eq = 0, kept = 0;

	imp_rng_seed(&r1, 42, 1);
	imp_rng_seed(&r2, 42, 1);
	for (int i = 0; i < N_DRAW; i++) {
		struct imp_decision a, b;

		imp_decide(&r1, &all_on, 1514, &a);
		imp_decide(&r2, &all_on, 1514, &b);
		eq += same_decision(&a, &b);
		kept += !a.drop;
	}
	CHECK_EQ(eq, N_DRAW);
	CHECK_EQ(count_equal(42, 1, 42, 1, N_DRAW), kept);
}

static void
different_seed_different_decisions(void)
{
	/* Delays alone take 20001 values: two independent streams agree on a frame's whole
	 * decision about 1 time in 20000. */
	CHECK(count_equal(42, 0, 43, 0, N_DRAW) < 20);
	CHECK(count_equal(1, 0, 2, 0, N_DRAW) < 20);
}

static void
directions_are_independent_streams(void)
{
	CHECK(count_equal(42, 0, 42, 1, N_DRAW) < 20);
}

/* The i-th decision must not depend on frame lengths seen before (or on the frame's own length,
 * except for where a corruption lands). */
static void
decision_independent_of_frame_length(void)
{
	struct imp_rng r1, r2;
	int eq = 0;

	imp_rng_seed(&r1, 7, 0);
	imp_rng_seed(&r2, 7, 0);
	for (int i = 0; i < N_DRAW; i++) {
		struct imp_decision a, b;

		imp_decide(&r1, &all_on, 60, &a);
		imp_decide(&r2, &all_on, 60 + (uint32_t)(i % 1400), &b);
		eq += a.drop == b.drop && a.dup == b.dup && a.corrupt == b.corrupt &&
		      a.reorder == b.reorder && a.delay_us == b.delay_us;
	}
	CHECK_EQ(eq, N_DRAW);
}

static int
within(double observed, double p, int n)
{
	double sd = sqrt(p * (1 - p) / n);

	return fabs(observed - p) < 5 * sd;
}

static void
rates_match_probabilities(void)
{
	struct imp_rng r;
	int drop = 0, dup = 0, corrupt = 0, reorder = 0, kept = 0, n = 200000;

	imp_rng_seed(&r, 1, 0);
	for (int i = 0; i < n; i++) {
		struct imp_decision d;

		imp_decide(&r, &all_on, 1514, &d);
		drop += d.drop;
		if (d.drop)
			continue;
		kept++;
		dup += d.dup;
		corrupt += d.corrupt;
		reorder += d.reorder;
	}
	CHECK(within((double)drop / n, all_on.loss, n));
	CHECK(within((double)dup / kept, all_on.dup, kept));
	CHECK(within((double)corrupt / kept, all_on.corrupt, kept));
	CHECK(within((double)reorder / kept, all_on.reorder, kept));
}

static void
zero_params_never_impair(void)
{
	struct imp_params none = {0};
	struct imp_rng r;
	int bad = 0;

	imp_rng_seed(&r, 3, 0);
	for (int i = 0; i < N_DRAW; i++) {
		struct imp_decision d;

		imp_decide(&r, &none, 1514, &d);
		bad += d.drop || d.dup || d.corrupt || d.reorder || d.delay_us || d.dup_delay_us;
	}
	CHECK_EQ(bad, 0);
}

static void
corruption_flips_one_bit_past_ethernet_header(void)
{
	struct imp_params p = {.corrupt = 1};
	struct imp_rng r;
	int bad = 0, lo_seen = 0, hi_seen = 0;

	imp_rng_seed(&r, 5, 0);
	for (int i = 0; i < N_DRAW; i++) {
		struct imp_decision d;
		uint32_t len = 15 + (uint32_t)(i % 100);

		imp_decide(&r, &p, len, &d);
		bad += !d.corrupt || d.corrupt_off < IMP_ETH_HLEN || d.corrupt_off >= len ||
		       __builtin_popcount(d.corrupt_mask) != 1;
		lo_seen |= d.corrupt_off == IMP_ETH_HLEN;
		hi_seen |= d.corrupt_off == len - 1;
		imp_decide(&r, &p, IMP_ETH_HLEN, &d);
		bad += d.corrupt;
	}
	CHECK_EQ(bad, 0);
	CHECK(lo_seen && hi_seen);
}

static void
jitter_stays_in_bounds(void)
{
	struct imp_params p = {.delay_us = 50000, .jitter_us = 10000};
	struct imp_params floor0 = {.delay_us = 1000, .jitter_us = 5000};
	struct imp_rng r;
	uint64_t lo = UINT64_MAX, hi = 0;
	int zero = 0;

	imp_rng_seed(&r, 9, 0);
	for (int i = 0; i < N_DRAW; i++) {
		struct imp_decision d;

		imp_decide(&r, &p, 100, &d);
		lo = d.delay_us < lo ? d.delay_us : lo;
		hi = d.delay_us > hi ? d.delay_us : hi;
		imp_decide(&r, &floor0, 100, &d);
		zero += d.delay_us == 0;
		CHECK(d.delay_us <= 6000);
	}
	CHECK(lo >= 40000 && lo < 40100);
	CHECK(hi <= 60000 && hi > 59900);
	CHECK(zero > N_DRAW / 3); /* the part of [-4 ms, 6 ms] below zero is floored to 0 */
}

/* Push one frame numbered by its first byte at now_us. */
static void
push(struct imp_queue *q, uint8_t id, uint64_t now_us)
{
	struct imp_frame *f = imp_queue_slot(q);

	if (!f)
		return;
	memset(f->data, 0, 64);
	f->data[0] = id;
	f->len = 64;
	imp_queue_input(q, f, now_us, NULL);
}

/* Pop everything due at now_us into out[]; returns how many. */
static int
drain(struct imp_queue *q, uint64_t now_us, uint8_t *out, int max)
{
	struct imp_frame *f;
	int n = 0;

	while ((f = imp_queue_pop(q, now_us)) != NULL) {
		if (n < max)
			out[n] = f->data[0];
		n++;
		imp_queue_release(q, f);
	}
	return n;
}

static void
fixed_delay_keeps_order(void)
{
	struct imp_params p = {.delay_us = 10000};
	struct imp_queue q;
	uint8_t out[16];

	CHECK_EQ(imp_queue_init(&q, 16, &p, 1, 0), 0);
	for (int i = 0; i < 10; i++)
		push(&q, (uint8_t)i, 1000 + (uint64_t)i * 100);
	CHECK_EQ(imp_queue_next_us(&q), 11000);
	CHECK_EQ(drain(&q, 10999, out, 16), 0);
	CHECK_EQ(drain(&q, 11450, out, 16), 5);
	CHECK_EQ(drain(&q, 20000, out + 5, 11), 5);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(out[i], i);
	CHECK_EQ(q.c.delayed, 10);
	CHECK_EQ(q.c.ooo, 0);
	CHECK_EQ(imp_queue_next_us(&q), UINT64_MAX);
	imp_queue_fini(&q);
}

static void
reorder_releases_after_gap(void)
{
	struct imp_params p = {.reorder = 1, .reorder_gap = 2, .reorder_max_us = 1000000};
	struct imp_params none = {.reorder_gap = 2, .reorder_max_us = 1000000};
	struct imp_queue q;
	uint8_t out[8];

	CHECK_EQ(imp_queue_init(&q, 8, &p, 1, 0), 0);
	push(&q, 0, 0); /* held */
	q.p = none;     /* the next frames pass straight through */
	push(&q, 1, 0);
	push(&q, 2, 0);
	push(&q, 3, 0);
	CHECK_EQ(drain(&q, 0, out, 8), 4);
	CHECK_EQ(out[0], 1);
	CHECK_EQ(out[1], 2);
	CHECK_EQ(out[2], 0);
	CHECK_EQ(out[3], 3);
	CHECK_EQ(q.c.reordered, 1);
	CHECK_EQ(q.c.ooo, 1);
	imp_queue_fini(&q);
}

static void
reorder_releases_after_deadline(void)
{
	struct imp_params p = {.reorder = 1, .reorder_gap = 3, .reorder_max_us = 20000};
	struct imp_queue q;
	uint8_t out[4];

	CHECK_EQ(imp_queue_init(&q, 4, &p, 1, 0), 0);
	push(&q, 7, 100);
	CHECK_EQ(drain(&q, 100, out, 4), 0);
	CHECK_EQ(imp_queue_next_us(&q), 20100);
	CHECK_EQ(drain(&q, 20099, out, 4), 0);
	CHECK_EQ(drain(&q, 20100, out, 4), 1);
	CHECK_EQ(out[0], 7);
	imp_queue_fini(&q);
}

static void
jitter_reorders_like_netem(void)
{
	struct imp_params p = {.delay_us = 50000, .jitter_us = 10000};
	struct imp_queue q;
	uint8_t out[64];

	CHECK_EQ(imp_queue_init(&q, 64, &p, 11, 0), 0);
	for (int i = 0; i < 50; i++)
		push(&q, (uint8_t)i, (uint64_t)i * 1000);
	CHECK_EQ(drain(&q, 39999, out, 64), 0);
	CHECK_EQ(drain(&q, 200000, out, 64), 50);
	CHECK(q.c.ooo > 0);
	CHECK_EQ(q.c.out, 50);
	imp_queue_fini(&q);
}

static void
rate_cap_spaces_frames(void)
{
	struct imp_params p = {.rate_bps = 512000}; /* a 64-byte frame takes 1 ms */
	struct imp_queue q;
	uint8_t out[8];

	CHECK_EQ(imp_queue_init(&q, 8, &p, 1, 0), 0);
	for (int i = 0; i < 5; i++)
		push(&q, (uint8_t)i, 0);
	CHECK_EQ(drain(&q, 999, out, 8), 0);
	CHECK_EQ(drain(&q, 1000, out, 8), 1);
	CHECK_EQ(drain(&q, 4999, out, 8), 3);
	CHECK_EQ(drain(&q, 5000, out, 8), 1);
	imp_queue_fini(&q);
}

static void
pool_overflow_is_counted(void)
{
	struct imp_params p = {.delay_us = 1000, .dup = 1};
	struct imp_queue q;
	uint8_t out[8];

	CHECK_EQ(imp_queue_init(&q, 4, &p, 1, 0), 0);
	push(&q, 0, 0); /* frame + duplicate: 2 slots */
	push(&q, 1, 0); /* 2 more: pool empty */
	CHECK(imp_queue_slot(&q) == NULL);
	CHECK_EQ(q.c.duplicated, 2);
	q.p.dup = 0;
	push(&q, 2, 0); /* no slot: the caller cannot even receive it */
	CHECK_EQ(drain(&q, 1000, out, 8), 4);
	push(&q, 3, 1000);
	CHECK_EQ(q.nfree, 3);
	/* frames in = out + dropped + overflow - duplicated + pending */
	CHECK_EQ(q.c.in, 3);
	CHECK_EQ(q.c.out + imp_queue_pending(&q), 5);
	imp_queue_fini(&q);
}

static void
seeded_queue_replays_exactly(void)
{
	uint8_t out1[512], out2[512];
	int n1 = 0, n2 = 0;

	for (int run = 0; run < 2; run++) {
		struct imp_queue q;
		uint8_t *out = run ? out2 : out1;
		int n = 0;

		CHECK_EQ(imp_queue_init(&q, 256, &all_on, 1234, 1), 0);
		for (int i = 0; i < 200; i++) {
			push(&q, (uint8_t)i, (uint64_t)i * 500);
			n += drain(&q, (uint64_t)i * 500, out + n, 512 - n);
		}
		n += drain(&q, UINT64_MAX / 2, out + n, 512 - n);
		*(run ? &n2 : &n1) = n;
		imp_queue_fini(&q);
	}
	CHECK_EQ(n1, n2);
	CHECK(memcmp(out1, out2, (size_t)n1) == 0);
}

int
main(void)
{
	TEST(same_seed_same_decisions);
	TEST(different_seed_different_decisions);
	TEST(directions_are_independent_streams);
	TEST(decision_independent_of_frame_length);
	TEST(rates_match_probabilities);
	TEST(zero_params_never_impair);
	TEST(corruption_flips_one_bit_past_ethernet_header);
	TEST(jitter_stays_in_bounds);
	TEST(fixed_delay_keeps_order);
	TEST(reorder_releases_after_gap);
	TEST(reorder_releases_after_deadline);
	TEST(jitter_reorders_like_netem);
	TEST(rate_cap_spaces_frames);
	TEST(pool_overflow_is_counted);
	TEST(seeded_queue_replays_exactly);
	return tap_done();
}

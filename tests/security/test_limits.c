/* SPDX-License-Identifier: Apache-2.0
 * The token buckets behind max_connection_rate and max_publish_rate (dataplane/dp_sec.h):
 * GCRA burst and refill to the microsecond, and the per-lcore source-address table: one
 * bucket per address, addresses independent, a full window evicting the bucket closest to
 * full (counted), stale buckets reused without eviction. No EAL: the code is inline.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/dp_sec.h"
#include "tap.h"

#define SEED 0x5eed1234u

static struct dp_rate_slot tab[DP_RATE_SLOTS];

static void
gcra_burst_and_refill(void)
{
	uint64_t tat = 0;

	/* burst 3, one token per 100 us */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(dp_gcra(&tat, 1000, 100, 3), 0);
	CHECK(dp_gcra(&tat, 1000, 100, 3) != 0);
	CHECK(dp_gcra(&tat, 1099, 100, 3) != 0); /* the next token is due at 1100 */
	CHECK_EQ(dp_gcra(&tat, 1100, 100, 3), 0);
	CHECK(dp_gcra(&tat, 1100, 100, 3) != 0);
	/* a long idle period refills the bucket, but not beyond its burst */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(dp_gcra(&tat, 1000000, 100, 3), 0);
	CHECK(dp_gcra(&tat, 1000000, 100, 3) != 0);
}

static void
gcra_burst_one(void)
{
	uint64_t tat = 0;
	int ok = 0;

	/* burst 1 at 1000/s over one simulated second, asked every 10 us: exactly 1000 */
	for (uint64_t now = 5000000; now < 6000000; now += 10)
		ok += dp_gcra(&tat, now, 1000, 1) == 0;
	CHECK_EQ(ok, 1000);
}

static void
per_address(void)
{
	uint64_t ev = 0;
	uint32_t a = 0x0201a8c6, b = 0x0301a8c6; /* network order */

	memset(tab, 0, sizeof(tab));
	for (int i = 0; i < 5; i++)
		CHECK_EQ(dp_rate_take(tab, SEED, a, 100, 1000, 5, &ev), 0);
	CHECK(dp_rate_take(tab, SEED, a, 100, 1000, 5, &ev) != 0);
	/* another address: its own bucket */
	CHECK_EQ(dp_rate_take(tab, SEED, b, 100, 1000, 5, &ev), 0);
	CHECK(dp_rate_take(tab, SEED, a, 1099, 1000, 5, &ev) != 0);
	CHECK_EQ(dp_rate_take(tab, SEED, a, 1100, 1000, 5, &ev), 0);
	CHECK_EQ(ev, 0);
}

/* n addresses whose probe windows start at the same slot. Cost: about n * DP_RATE_SLOTS hashes. */
static int
colliding(uint32_t *out, int n)
{
	uint32_t want = rte_jhash_1word(1, SEED) & (DP_RATE_SLOTS - 1);
	int k = 0;

	for (uint32_t ip = 1; ip < 100000000 && k < n; ip++)
		if ((rte_jhash_1word(ip, SEED) & (DP_RATE_SLOTS - 1)) == want)
			out[k++] = ip;
	return k;
}

static void
eviction(void)
{
	uint32_t ip[DP_RATE_PROBE + 2];
	uint64_t ev = 0;
	int n = colliding(ip, DP_RATE_PROBE + 2);

	CHECK_EQ(n, DP_RATE_PROBE + 2);
	if (n != DP_RATE_PROBE + 2)
		return;
	memset(tab, 0, sizeof(tab));
	/* DP_RATE_PROBE live buckets (burst 2, 1 token per second), taken at times 1..8: the
	 * first is the closest to full */
	for (int i = 0; i < DP_RATE_PROBE; i++)
		CHECK_EQ(dp_rate_take(tab, SEED, ip[i], 1 + i, 1000000, 2, &ev), 0);
	CHECK_EQ(ev, 0);
	/* one more address: the window is full of live buckets, ip[0]'s goes */
	CHECK_EQ(dp_rate_take(tab, SEED, ip[DP_RATE_PROBE], 20, 1000000, 2, &ev), 0);
	CHECK_EQ(ev, 1);
	int has0 = 0, hasn = 0;
	for (int i = 0; i < DP_RATE_SLOTS; i++) {
		has0 |= tab[i].ip == ip[0];
		hasn |= tab[i].ip == ip[DP_RATE_PROBE];
	}
	CHECK(!has0 && hasn);
	/* the others kept their buckets: ip[1] has one token left, then none */
	CHECK_EQ(dp_rate_take(tab, SEED, ip[1], 21, 1000000, 2, &ev), 0);
	CHECK(dp_rate_take(tab, SEED, ip[1], 21, 1000000, 2, &ev) != 0);
	CHECK_EQ(ev, 1);
	/* ten seconds later every bucket is full again: a new address reuses a slot, no eviction */
	CHECK_EQ(dp_rate_take(tab, SEED, ip[DP_RATE_PROBE + 1], 10000000, 1000000, 2, &ev), 0);
	CHECK_EQ(ev, 1);
}

int
main(void)
{
	TEST(gcra_burst_and_refill);
	TEST(gcra_burst_one);
	TEST(per_address);
	TEST(eviction);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * tachyon-bench helpers: source ranges, topic naming and fan-out arithmetic.
 */
#include "tap.h"

#include "bench.h"

#include <stdint.h>
#include <string.h>

static void
src_ranges(void)
{
	uint32_t first = 0, count = 0;
	CHECK_EQ(bench_parse_src("198.18.0.10-198.18.0.200", &first, &count), 0);
	CHECK_EQ(first, (198u << 24) | (18u << 16) | 10u);
	CHECK_EQ(count, 191);
	CHECK_EQ(bench_parse_src("198.18.1.7", &first, &count), 0);
	CHECK_EQ(count, 1);
	/* across an octet boundary */
	CHECK_EQ(bench_parse_src("198.18.0.250-198.18.1.4", &first, &count), 0);
	CHECK_EQ(count, 11);
	CHECK(bench_parse_src("198.18.0.9-198.18.0.1", &first, &count) < 0); /* reversed */
	CHECK(bench_parse_src("198.18.0.1-198.20.0.1", &first, &count) < 0); /* > 65536 */
	CHECK(bench_parse_src("198.18.0.x", &first, &count) < 0);
	CHECK(bench_parse_src("-198.18.0.1", &first, &count) < 0);
	CHECK(bench_parse_src("", &first, &count) < 0);
}

/* fanout: subscribers spread over the topics so the fans add up to the subscriber count, and
 * subscriber s listens on the topic its publisher s % topics sends to. */
static void
fanout_fans(void)
{
	struct bench_conf c = {.wl = BENCH_FANOUT, .clients = 1003, .topics = 10, .run_id = 7};
	uint32_t sum = 0;
	for (uint32_t p = 0; p < c.topics; p++)
		sum += bench_pub_fan(&c, p);
	CHECK_EQ(sum, c.clients);
	char t[64], f[64];
	for (uint32_t s = 0; s < c.clients; s += 97) {
		bench_sub_filter(&c, s, f, sizeof(f));
		bench_pub_topic(&c, s % c.topics, t, sizeof(t));
		CHECK(strcmp(t, f) == 0);
	}
}

static void
pairs_and_fanin_topics(void)
{
	struct bench_conf c = {.wl = BENCH_PAIRS, .clients = 5, .run_id = 9};
	char t[64], f[64];
	bench_pub_topic(&c, 3, t, sizeof(t));
	bench_sub_filter(&c, 3, f, sizeof(f));
	CHECK(strcmp(t, f) == 0);
	bench_pub_topic(&c, 4, t, sizeof(t));
	CHECK(strcmp(t, f) != 0);
	CHECK_EQ(bench_pub_fan(&c, 3), 1);
	c.wl = BENCH_FANIN;
	bench_sub_filter(&c, 0, f, sizeof(f));
	CHECK(strcmp(f, "tb/9/in/#") == 0);
	bench_pub_topic(&c, 4, t, sizeof(t));
	CHECK(strncmp(t, f, strlen(f) - 1) == 0); /* the wildcard covers every publisher */
}

int
main(void)
{
	TEST(src_ranges);
	TEST(fanout_fans);
	TEST(pairs_and_fanin_topics);
	return tap_done();
}

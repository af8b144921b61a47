/* SPDX-License-Identifier: Apache-2.0
 * mqtt_rtab: every wildcard and '$' rule, set/unset idempotence, node freeing (also on ENOMEM),
 * and differential runs against the linear replica it replaces (rtab_ref.h, a copy of
 * dp_route_filter_match) and the broker's reference matcher, over seeded random filters and
 * topics.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt_pvt.h" /* mqtt_topic_match_ref, the broker trie's reference matcher */
#include "mqtt/mqtt_rtab.h"
#include "rtab_ref.h"
#include "tap.h"

#define S(s) (const uint8_t *)(s), strlen(s)

static uint64_t
match(const struct mqtt_rtab *t, const char *topic)
{
	return mqtt_rtab_match(t, S(topic));
}

static size_t
nodes(const struct mqtt_rtab *t)
{
	struct mqtt_rtab_stats st;

	mqtt_rtab_stats(t, &st);
	return st.nodes;
}

static uint64_t
t_shards(const struct mqtt_rtab *t)
{
	struct mqtt_rtab_stats st;

	mqtt_rtab_stats(t, &st);
	return st.shards;
}

/* One filter on shard 0, then each topic: 1 when it should match, 0 when not. */
struct rule {
	const char *filter, *topic;
	int match;
};

static void
check_rules(const struct rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct mqtt_rtab *t = mqtt_rtab_create();
		uint64_t got;

		CHECK(t != NULL);
		if (t == NULL)
			return;
		CHECK_EQ(mqtt_rtab_set(t, S(r[i].filter), 0, 1), 0);
		got = match(t, r[i].topic);
		if (got != (uint64_t)r[i].match)
			printf("#   filter '%s' topic '%s': got %d, want %d\n", r[i].filter,
			       r[i].topic, (int)got, r[i].match);
		CHECK_EQ(got, r[i].match);
		/* the reference agrees: the table below is the linear replica's semantics */
		CHECK_EQ(rtab_ref_filter_match(S(r[i].filter), S(r[i].topic)), r[i].match);
		CHECK_EQ(mqtt_topic_match_ref(S(r[i].filter), S(r[i].topic)), r[i].match);
		mqtt_rtab_destroy(t);
	}
}

static void
test_empty(void)
{
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct mqtt_rtab_stats st;

	CHECK(t != NULL);
	CHECK_EQ(match(t, "a"), 0);
	CHECK_EQ(match(t, ""), 0);
	CHECK_EQ(mqtt_rtab_count(t), 0);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.nodes, 1);
	CHECK_EQ(st.shards, 0);
	CHECK(st.bytes > 0);
	mqtt_rtab_destroy(t);
	mqtt_rtab_destroy(NULL);
}

static void
test_literal(void)
{
	static const struct rule r[] = {
	        {"a/b", "a/b", 1},
	        {"a/b", "a", 0},
	        {"a/b", "a/b/c", 0},
	        {"a/b", "a/bc", 0},
	        {"a/b", "ab", 0},
	        {"a/b", "a/", 0},
	        {"a", "a", 1},
	        {"a", "A", 0},
	        {"abc", "ab", 0},
	        {"ab", "abc", 0},
	        {"a/b", "b/a", 0},
	        {"a/b/c", "a/b/c", 1},
	        {"x y/\xc3\xa9", "x y/\xc3\xa9", 1},
	};
	check_rules(r, sizeof(r) / sizeof(r[0]));
}

static void
test_plus(void)
{
	static const struct rule r[] = {
	        {"a/+/c", "a/b/c", 1}, {"a/+/c", "a//c", 1},
	        {"a/+/c", "a/b", 0},   {"a/+/c", "a/b/c/d", 0},
	        {"a/+/c", "a/b/d", 0}, {"+", "a", 1},
	        {"+", "", 1},          {"+", "a/b", 0},
	        {"+", "/", 0},         {"+/+", "/", 1},
	        {"+/+", "a/b", 1},     {"+/+", "a", 0},
	        {"a/+", "a", 0},       {"a/+", "a/", 1},
	        {"+/b", "a/b", 1},     {"+/b", "/b", 1},
	        {"+/+/+", "a/b/c", 1}, {"+/+/+", "a/b/c/d", 0},
	};
	check_rules(r, sizeof(r) / sizeof(r[0]));
}

static void
test_hash(void)
{
	static const struct rule r[] = {
	        {"#", "a", 1},       {"#", "a/b/c", 1}, {"#", "/", 1},       {"#", "", 1},
	        {"a/#", "a", 1},     {"a/#", "a/", 1},  {"a/#", "a/b/c", 1}, {"a/#", "ab", 0},
	        {"a/#", "b", 0},     {"a/#", "b/a", 0}, {"+/#", "a", 1},     {"+/#", "a/b", 1},
	        {"a/+/#", "a/b", 1}, {"a/+/#", "a", 0}, {"a/b/#", "a", 0},   {"/#", "/", 1},
	        {"/#", "", 1},       {"/#", "a", 0},
	};
	check_rules(r, sizeof(r) / sizeof(r[0]));
}

static void
test_dollar(void)
{
	static const struct rule r[] = {
	        {"#", "$SYS/x", 0},      {"+/x", "$SYS/x", 0},    {"+", "$SYS", 0},
	        {"+/#", "$SYS/x", 0},    {"$SYS/#", "$SYS/x", 1}, {"$SYS/#", "$SYS", 1},
	        {"$SYS/+", "$SYS/x", 1}, {"$SYS/x", "$SYS/x", 1}, {"a/+", "a/$x", 1},
	        {"#", "a/$x", 1},        {"+/+", "$a/b", 0},      {"+/+", "a/$b", 1},
	        {"#", "x$", 1},          {"$", "$", 1},           {"+", "$", 0},
	};
	check_rules(r, sizeof(r) / sizeof(r[0]));
}

static void
test_empty_levels(void)
{
	static const struct rule r[] = {
	        {"a//b", "a//b", 1}, {"a//b", "a/b", 0}, {"/a", "/a", 1},     {"/a", "a", 0},
	        {"a/", "a/", 1},     {"a/", "a", 0},     {"/", "/", 1},       {"/", "", 0},
	        {"//", "//", 1},     {"//", "/", 0},     {"+//+", "a//b", 1}, {"+//+", "a/b", 0},
	        {"/+", "/", 1},      {"a//#", "a/", 1},  {"a//#", "a//x", 1}, {"a//#", "a", 0},
	};
	check_rules(r, sizeof(r) / sizeof(r[0]));
}

static void
test_invalid(void)
{
	static const char *const bad[] = {
	        "",   "a+",   "+a", "a/b+", "a/#/b", "#/a", "#a",
	        "a#", "a/b#", "++", "##",   "a/#/",  "+#",  "#+",
	};
	struct mqtt_rtab *t = mqtt_rtab_create();

	CHECK(t != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(mqtt_rtab_set(t, S(bad[i]), 0, 1), -EINVAL);
		CHECK_EQ(rtab_ref_filter_valid(S(bad[i])), 0);
	}
	CHECK_EQ(mqtt_rtab_set(t, S("a"), 64, 1), -EINVAL);
	CHECK_EQ(mqtt_rtab_set(t, S("a"), 1000, 0), -EINVAL);
	CHECK_EQ(nodes(t), 1);
	CHECK_EQ(mqtt_rtab_count(t), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a"), 63, 1), 0);
	CHECK_EQ(match(t, "a"), (uint64_t)1 << 63);
	mqtt_rtab_destroy(t);
}

static void
test_idempotence(void)
{
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct mqtt_rtab_stats st;

	CHECK(t != NULL);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 3, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 3, 1), 0);
	CHECK_EQ(mqtt_rtab_count(t), 1);
	CHECK_EQ(mqtt_rtab_get(t, S("a/+")), 8);
	CHECK_EQ(mqtt_rtab_get(t, S("a")), 0);
	CHECK_EQ(mqtt_rtab_get(t, S("a/b")), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 5, 1), 0);
	CHECK_EQ(mqtt_rtab_count(t), 1);
	CHECK_EQ(match(t, "a/x"), 8 | 32);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.shards, 8 | 32);
	/* shard 3 leaves: shard 5 stays */
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 3, 0), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 3, 0), 0);
	CHECK_EQ(match(t, "a/x"), 32);
	CHECK_EQ(mqtt_rtab_count(t), 1);
	/* clearing what is not there */
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 7, 0), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("nope/x"), 5, 0), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a"), 5, 0), 0);
	CHECK_EQ(match(t, "a/x"), 32);
	CHECK_EQ(nodes(t), 3);
	/* two filters, one shard: the shard stays in the table until both are gone */
	CHECK_EQ(mqtt_rtab_set(t, S("b"), 5, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+"), 5, 0), 0);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.shards, 32);
	CHECK_EQ(st.filters, 1);
	CHECK_EQ(match(t, "a/x"), 0);
	CHECK_EQ(match(t, "b"), 32);
	CHECK_EQ(mqtt_rtab_set(t, S("b"), 5, 0), 0);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.shards, 0);
	CHECK_EQ(st.filters, 0);
	CHECK_EQ(st.nodes, 1);
	mqtt_rtab_destroy(t);
}

/* Removing a filter's last shard frees its nodes up to the nearest node still in use; the
 * byte count returns exactly to the empty table's. */
static void
test_freeing(void)
{
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct mqtt_rtab_stats st0, st;

	CHECK(t != NULL);
	mqtt_rtab_stats(t, &st0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/b"), 1, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/b/c/d"), 1, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+/#"), 2, 1), 0);
	CHECK_EQ(nodes(t), 1 + 2 + 2 + 2);
	CHECK_EQ(mqtt_rtab_set(t, S("a/b/c/d"), 1, 0), 0);
	CHECK_EQ(nodes(t), 1 + 2 + 2);
	CHECK_EQ(match(t, "a/b"), 2 | 4);
	CHECK_EQ(match(t, "a/b/c/d"), 4);
	CHECK_EQ(mqtt_rtab_set(t, S("a/b"), 1, 0), 0);
	CHECK_EQ(nodes(t), 1 + 1 + 2);
	CHECK_EQ(mqtt_rtab_set(t, S("a/+/#"), 2, 0), 0);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.nodes, 1);
	CHECK_EQ(st.bytes, st0.bytes);
	CHECK_EQ(match(t, "a/b"), 0);
	/* an interior node with a mask of its own is kept when its subtree goes */
	CHECK_EQ(mqtt_rtab_set(t, S("x"), 0, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("x/y"), 0, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("x/y"), 0, 0), 0);
	CHECK_EQ(nodes(t), 2);
	CHECK_EQ(match(t, "x"), 1);
	mqtt_rtab_destroy(t); /* with filters left: valgrind/ASan see it free everything */
}

/* Deep filters (recursion as deep as their levels) and a topic level longer than any filter
 * can hold. */
static void
test_deep(void)
{
	enum { LEVELS = 3000 };
	static char f[2 * LEVELS + 2], big[70001];
	struct mqtt_rtab *t = mqtt_rtab_create();
	size_t n = 0;

	CHECK(t != NULL);
	for (int i = 0; i < LEVELS; i++) {
		f[n++] = i % 7 == 3 ? '+' : 'a';
		f[n++] = '/';
	}
	f[n++] = '#';
	CHECK_EQ(mqtt_rtab_set(t, (const uint8_t *)f, n, 9, 1), 0);
	CHECK_EQ(mqtt_rtab_set(t, S("#"), 2, 1), 0);
	for (size_t i = 0; i < n; i++)
		if (f[i] == '+')
			f[i] = 'x';
	CHECK_EQ(mqtt_rtab_match(t, (const uint8_t *)f, n - 2), 4 | 512); /* "a/#" matches "a" */
	CHECK_EQ(mqtt_rtab_match(t, (const uint8_t *)f, n - 4), 4);
	CHECK_EQ(nodes(t), 1 + LEVELS + 1 + 1);
	memset(big, 'a', sizeof(big));
	CHECK_EQ(mqtt_rtab_match(t, (const uint8_t *)big, sizeof(big)), 4);
	big[1] = '/';
	CHECK_EQ(mqtt_rtab_match(t, (const uint8_t *)big, sizeof(big)), 4);
	CHECK_EQ(mqtt_rtab_set(t, (const uint8_t *)big, sizeof(big), 1, 1), -EINVAL);
	CHECK_EQ(mqtt_rtab_set(t, (const uint8_t *)big, 65535, 1, 1), 0);
	CHECK_EQ(mqtt_rtab_match(t, (const uint8_t *)big, 65535), 2 | 4);
	mqtt_rtab_destroy(t);
}

/* A deterministic generator, so a failure replays. */
static uint64_t rng_state;

static uint32_t
rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/* Thousands of children under one level (the child table grows, then shrinks as they go, with
 * backward-shift deletions in random order), checked against the reference as they go. */
static void
test_fanout(void)
{
	enum { N = 4000 };
	static uint16_t order[N];
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct rtab_ref ref = {0};
	struct mqtt_rtab_stats st0, st;
	char f[64];
	int bad = 0;

	CHECK(t != NULL);
	mqtt_rtab_stats(t, &st0);
	rng_state = 42;
	for (unsigned int i = 0; i < N; i++) {
		snprintf(f, sizeof(f), "dev/%u/%s", i, i % 3 ? "#" : "temp");
		CHECK_EQ(mqtt_rtab_set(t, S(f), i % 64, 1), 0);
		CHECK_EQ(rtab_ref_set(&ref, S(f), i % 64, 1), 0);
		order[i] = (uint16_t)i;
	}
	CHECK_EQ(mqtt_rtab_count(t), N);
	for (unsigned int i = N - 1; i > 0; i--) {
		unsigned int j = rng() % (i + 1);
		uint16_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (unsigned int k = 0; k < N; k++) {
		unsigned int i = order[k];

		snprintf(f, sizeof(f), "dev/%u/%s", i, i % 3 ? "#" : "temp");
		CHECK_EQ(mqtt_rtab_set(t, S(f), i % 64, 0), 0);
		CHECK_EQ(rtab_ref_set(&ref, S(f), i % 64, 0), 0);
		if (k % 97 == 0) {
			for (unsigned int d = 0; d < N; d += 37) {
				snprintf(f, sizeof(f), "dev/%u/temp", d);
				bad += mqtt_rtab_match(t, S(f)) != rtab_ref_match(&ref, S(f));
			}
		}
	}
	CHECK_EQ(bad, 0);
	mqtt_rtab_stats(t, &st);
	CHECK_EQ(st.nodes, 1);
	CHECK_EQ(st.filters, 0);
	CHECK_EQ(st.bytes, st0.bytes);
	rtab_ref_free(&ref);
	mqtt_rtab_destroy(t);
}

/* Random filters and topics: levels from a small alphabet (so that they meet often, and with
 * the '$' and empty-level cases) or one of 24 numbered ones (so that not every topic matches). */
static const char *const lv[] = {"a", "b", "", "$x", "$", "x y", "+", "#"};

static size_t
gen(char *out, int filter)
{
	unsigned int levels = 1 + rng() % 5;
	size_t n = 0;

	for (unsigned int i = 0; i < levels; i++) {
		/* topics: no wildcards; filters: '+' one level in 16, '#' only last */
		unsigned int k = rng() % 32;

		if (i)
			out[n++] = '/';
		if (k == 7 && (!filter || i + 1 < levels || i == 0))
			k = 6; /* (not "#" alone: it would match nearly every topic) */
		if (k == 6 && !filter)
			k = 8;
		if (k < 8) {
			size_t l = strlen(lv[k]);

			memcpy(out + n, lv[k], l);
			n += l;
		} else {
			n += (size_t)sprintf(out + n, "n%u", k - 8);
		}
	}
	out[n] = 0;
	return n;
}

/* 6000 random sets (two in three add), 12000 random topics matched against both tables on the
 * way. With few shards most results are every shard of the table (the early exit); with 64
 * they are not. */
static void
differential(unsigned int n_shards, uint64_t seed)
{
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct rtab_ref ref = {0};
	char f[64], tp[64];
	long full = 0;
	int bad_match = 0, bad_ref = 0, bad_set = 0;
	long matched = 0;

	CHECK(t != NULL);
	rng_state = seed;
	for (int round = 0; round < 6000; round++) {
		size_t fl = gen(f, 1);
		unsigned int shard = rng() % n_shards;
		int on = rng() % 3 != 0; /* grows, with removals */

		bad_set += mqtt_rtab_set(t, (const uint8_t *)f, fl, shard, on) !=
		           rtab_ref_set(&ref, (const uint8_t *)f, fl, shard, on);
		if (round % 10 == 0) {
			for (int q = 0; q < 20; q++) {
				size_t tl = gen(tp, 0);
				uint64_t want = rtab_ref_match(&ref, (const uint8_t *)tp, tl);

				matched += want != 0;
				full += want != 0 && want == t_shards(t);
				bad_match += mqtt_rtab_match(t, (const uint8_t *)tp, tl) != want;
			}
		}
		/* the copy of dp_route's matcher and the broker's agree on this pair */
		fl = gen(f, 1);
		{
			size_t tl = gen(tp, 0);

			bad_ref += rtab_ref_filter_match((const uint8_t *)f, fl,
			                                 (const uint8_t *)tp, tl) !=
			           mqtt_topic_match_ref((const uint8_t *)f, fl, (const uint8_t *)tp,
			                                tl);
		}
	}
	CHECK_EQ(bad_set, 0);
	CHECK_EQ(bad_match, 0);
	CHECK_EQ(bad_ref, 0);
	CHECK_EQ(mqtt_rtab_count(t), ref.n);
	/* the run tested matches and misses */
	CHECK(matched > 1000);
	CHECK(matched < 11000);
	printf("# %u filters, %ld matching topics of 12000, %ld of them on every shard\n", ref.n,
	       matched, full);
	/* all gone: back to the root */
	while (ref.n > 0) {
		struct rtab_ref_route r = ref.r[ref.n - 1];

		for (unsigned int s = 0; s < 64; s++) {
			if (!(r.shards & ((uint64_t)1 << s)))
				continue;
			CHECK_EQ(mqtt_rtab_set(t, r.filter, r.len, s, 0), 0);
			CHECK_EQ(rtab_ref_set(&ref, r.filter, r.len, s, 0), 0);
		}
	}
	CHECK_EQ(nodes(t), 1);
	CHECK_EQ(mqtt_rtab_count(t), 0);
	rtab_ref_free(&ref);
	mqtt_rtab_destroy(t);
}

static void
test_differential_64(void)
{
	differential(64, 20261125);
}

static void
test_differential_4(void)
{
	differential(4, 7);
}

/* An allocator that fails after a budget: a set that meets ENOMEM changes no route (the levels
 * it made are pruned) and every allocation is freed. */
static long fail_budget, n_alloc, n_free;

static void *
fail_alloc(void *ctx, size_t size, int zero)
{
	(void)ctx;
	if (fail_budget-- <= 0)
		return NULL;
	n_alloc++;
	return zero ? calloc(1, size) : malloc(size);
}

static void *
fail_realloc(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)p;
	(void)size;
	return NULL; /* mqtt_rtab does not realloc */
}

static void
fail_free(void *ctx, void *p)
{
	(void)ctx;
	n_free += p != NULL;
	free(p);
}

static void
test_enomem(void)
{
	static const struct mqtt_allocator a = {fail_alloc, fail_realloc, fail_free, NULL};
	int succeeded = 0, failed = 0;

	mqtt_set_thread_allocator(&a);
	for (long budget = 0; budget < 40; budget++) {
		struct mqtt_rtab *t;
		struct mqtt_rtab_stats before, after;
		int rc;

		fail_budget = 1000;
		t = mqtt_rtab_create();
		CHECK(t != NULL);
		if (t == NULL)
			break;
		CHECK_EQ(mqtt_rtab_set(t, S("a/b"), 1, 1), 0);
		CHECK_EQ(mqtt_rtab_set(t, S("a/c"), 1, 1), 0);
		mqtt_rtab_stats(t, &before);
		fail_budget = budget;
		rc = mqtt_rtab_set(t, S("a/d/e/+/#"), 2, 1);
		fail_budget = 1000;
		mqtt_rtab_stats(t, &after);
		if (rc == -ENOMEM) {
			failed++;
			/* (a child table may keep a capacity it grew to) */
			CHECK_EQ(after.nodes, before.nodes);
			CHECK_EQ(after.filters, before.filters);
			CHECK_EQ(match(t, "a/d/e/f/g"), 0);
		} else {
			succeeded++;
			CHECK_EQ(rc, 0);
			CHECK_EQ(match(t, "a/d/e/f/g"), 4);
		}
		CHECK_EQ(match(t, "a/c"), 2);
		mqtt_rtab_destroy(t);
	}
	fail_budget = 0;
	CHECK_EQ(mqtt_rtab_create() == NULL && errno == ENOMEM, 1);
	mqtt_set_thread_allocator(NULL);
	CHECK(failed >= 4); /* each level, and the child table growing */
	CHECK(succeeded > 0);
	CHECK_EQ(n_alloc, n_free);
}

int
main(void)
{
	TEST(test_empty);
	TEST(test_literal);
	TEST(test_plus);
	TEST(test_hash);
	TEST(test_dollar);
	TEST(test_empty_levels);
	TEST(test_invalid);
	TEST(test_idempotence);
	TEST(test_freeing);
	TEST(test_deep);
	TEST(test_fanout);
	TEST(test_differential_64);
	TEST(test_differential_4);
	TEST(test_enomem);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the broker's building blocks: the dict (incremental rehash) and the topic trie
 * (matching table, '$' topics, shared groups, retained lookups), cross-checked against the
 * reference matcher mqtt_topic_match_ref().
 */
#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt_pvt.h"
#include "tap.h"

#define S(x) (const uint8_t *)(x), strlen(x)

static void
test_dict_grow_shrink(void)
{
	struct mqtt_dict d;
	static char keys[20000][12];
	int n = 20000;

	mqtt_dict_init(&d);
	for (int i = 0; i < n; i++) {
		int l = snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		CHECK_EQ(mqtt_dict_put(&d, keys[i], (uint32_t)l, keys[i]), 0);
		/* lookups succeed while the table is mid-rehash */
		CHECK(mqtt_dict_get(&d, keys[i / 2], (uint32_t)strlen(keys[i / 2])) == keys[i / 2]);
	}
	CHECK_EQ(mqtt_dict_count(&d), n);
	CHECK(mqtt_dict_get(&d, "nope", 4) == NULL);
	for (int i = 0; i < n; i += 2)
		CHECK(mqtt_dict_del(&d, keys[i], (uint32_t)strlen(keys[i])) == keys[i]);
	CHECK_EQ(mqtt_dict_count(&d), n / 2);
	for (int i = 0; i < n; i++) {
		void *v = mqtt_dict_get(&d, keys[i], (uint32_t)strlen(keys[i]));
		CHECK(v == (i % 2 ? keys[i] : NULL));
	}
	/* replace keeps the count */
	CHECK_EQ(mqtt_dict_put(&d, keys[1], (uint32_t)strlen(keys[1]), keys[3]), 0);
	CHECK(mqtt_dict_get(&d, keys[1], (uint32_t)strlen(keys[1])) == keys[3]);
	CHECK_EQ(mqtt_dict_count(&d), n / 2);
	mqtt_dict_free(&d);
}

struct collect {
	const struct mqtt_sub *got[64];
	int n;
};

static void
collect_cb(struct mqtt_sub *s, void *arg)
{
	struct collect *c = arg;
	if (c->n < 64)
		c->got[c->n++] = s;
}

static const char *filters[] = {
        "#",     "+",     "a",  "a/#",   "a/+",     "a/b",   "a/b/c",  "+/b",
        "+/+",   "a/+/c", "/+", "/#",    "+/#",     "a/b/#", "$SYS/#", "$SYS/+",
        "+/+/+", "a//c",  "a/", "+/b/#", "#/never", "$x",    "x/$y",   "a/b/c/d/e/f/#",
};
static const char *topics[] = {
        "a",   "a/b", "a/b/c", "b",  "/a",   "/",       "a/", "$SYS/x",      "$SYS",
        "a/c", "b/b", "a//c",  "$x", "x/$y", "a/b/c/d", "//", "a/b/c/d/e/f", "c/b/d",
};

/* Every topic against every filter: the trie must agree with the reference matcher, which the
 * spec examples (4.7.1.2, 4.7.1.3, 4.7.2) pin down. */
static void
test_trie_match_table(void)
{
	struct mqtt_trie t;
	struct mqtt_sub *subs[64];
	size_t nf = sizeof(filters) / sizeof(filters[0]);

	CHECK_EQ(mqtt_trie_init(&t), 0);
	for (size_t i = 0; i < nf; i++) {
		if (!strcmp(filters[i], "#/never"))
			continue; /* invalid filter: never stored by the broker */
		struct mqtt_tnode *n = mqtt_trie_node(&t, S(filters[i]));
		CHECK(n != NULL);
		subs[i] = mqtt_zalloc(sizeof(struct mqtt_sub) + strlen(filters[i]));
		subs[i]->node = n;
		subs[i]->filter_len = (uint16_t)strlen(filters[i]);
		memcpy(subs[i]->filter, filters[i], strlen(filters[i]));
		mqtt_list_add_tail(&n->subs, &subs[i]->node_link);
	}
	for (size_t j = 0; j < sizeof(topics) / sizeof(topics[0]); j++) {
		struct collect c = {.n = 0};
		int want = 0;
		mqtt_trie_match(&t, S(topics[j]), collect_cb, &c);
		for (size_t i = 0; i < nf; i++) {
			if (!strcmp(filters[i], "#/never"))
				continue;
			bool m = mqtt_topic_match_ref(S(filters[i]), S(topics[j]));
			bool found = false;
			for (int k = 0; k < c.n; k++)
				found |= c.got[k] == subs[i];
			want += m;
			if (m != found)
				printf("#   topic '%s' filter '%s': ref %d trie %d\n", topics[j],
				       filters[i], m, found);
			CHECK(m == found);
		}
		CHECK_EQ(c.n, want);
	}
	for (size_t i = 0; i < nf; i++) {
		if (!strcmp(filters[i], "#/never"))
			continue;
		struct mqtt_tnode *n = subs[i]->node;
		mqtt_list_del(&subs[i]->node_link);
		mqtt_trie_prune(&t, n);
		mqtt_free(subs[i]);
	}
	/* everything pruned back to the root */
	CHECK(t.root->plus == NULL && t.root->hash == NULL);
	CHECK_EQ(mqtt_dict_count(&t.root->children), 0);
	mqtt_trie_free(&t);
}

/* Spot checks of the reference matcher itself against the spec's examples. */
static void
test_reference_matcher(void)
{
	struct {
		const char *f, *t;
		bool m;
	} v[] = {
	        {"sport/tennis/player1/#", "sport/tennis/player1", true},
	        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	        {"sport/#", "sport", true},
	        {"sport/tennis/+", "sport/tennis/player1", true},
	        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
	        {"sport/+", "sport", false},
	        {"sport/+", "sport/", true},
	        {"+/+", "/finance", true},
	        {"/+", "/finance", true},
	        {"+", "/finance", false},
	        {"#", "$SYS/x", false},
	        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
	        {"$SYS/#", "$SYS/monitor/Clients", true},
	        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	        {"a/b", "a/b/", false},
	        {"a/b/", "a/b/", true},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bool m = mqtt_topic_match_ref(S(v[i].f), S(v[i].t));
		if (m != v[i].m)
			printf("#   '%s' vs '%s'\n", v[i].f, v[i].t);
		CHECK(m == v[i].m);
	}
}

static void
test_trie_shared_round_robin(void)
{
	struct mqtt_trie t;
	struct mqtt_share *g = mqtt_zalloc(sizeof(*g) + 1);
	struct mqtt_sub m[3];
	int hits[3] = {0};

	CHECK_EQ(mqtt_trie_init(&t), 0);
	struct mqtt_tnode *n = mqtt_trie_node(&t, S("s/+"));
	mqtt_list_init(&g->members);
	g->next = &g->members;
	mqtt_list_add_tail(&n->shares, &g->link);
	for (int i = 0; i < 3; i++)
		mqtt_list_add_tail(&g->members, &m[i].node_link);
	for (int k = 0; k < 30; k++) {
		struct collect c = {.n = 0};
		mqtt_trie_match(&t, S("s/x"), collect_cb, &c);
		CHECK_EQ(c.n, 1);
		for (int i = 0; i < 3; i++)
			hits[i] += c.n && c.got[0] == &m[i];
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(hits[i], 10);
	mqtt_list_del(&g->link);
	mqtt_free(g);
	mqtt_trie_prune(&t, n);
	mqtt_trie_free(&t);
}

struct rcollect {
	int n;
	char seen[256];
};

static void
retained_cb(struct mqtt_msg *m, void *arg)
{
	struct rcollect *r = arg;
	r->n++;
	strncat(r->seen, (const char *)m->topic, m->topic_len);
	strcat(r->seen, " ");
}

static void
test_trie_retained_lookup(void)
{
	struct mqtt_trie t;
	const char *tp[] = {"a", "a/b", "a/b/c", "a/c", "b", "$SYS/x", "/x"};
	size_t nt = sizeof(tp) / sizeof(tp[0]);

	CHECK_EQ(mqtt_trie_init(&t), 0);
	for (size_t i = 0; i < nt; i++) {
		struct mqtt_tnode *n = mqtt_trie_node(&t, S(tp[i]));
		n->retained = mqtt_msg_new(S(tp[i]), (const uint8_t *)"x", 1);
	}
	const char *fl[] = {"#", "a/#", "+", "a/+", "+/+", "$SYS/#", "a/b/c", "+/b/#", "/+", "x"};
	for (size_t f = 0; f < sizeof(fl) / sizeof(fl[0]); f++) {
		struct rcollect r = {0};
		int want = 0;
		mqtt_trie_retained(&t, S(fl[f]), retained_cb, &r);
		for (size_t i = 0; i < nt; i++)
			want += mqtt_topic_match_ref(S(fl[f]), S(tp[i]));
		if (r.n != want)
			printf("#   filter '%s': got [%s], want %d\n", fl[f], r.seen, want);
		CHECK_EQ(r.n, want);
	}
	mqtt_trie_free(&t);
}

/* 100,000 subscriptions on distinct topics plus wildcards: a match still finds exactly its
 * own, which is what O(levels) promises. */
static void
test_trie_many(void)
{
	struct mqtt_trie t;
	static struct mqtt_sub subs[100000];
	char buf[64];

	CHECK_EQ(mqtt_trie_init(&t), 0);
	for (int i = 0; i < 100000; i++) {
		int l = snprintf(buf, sizeof(buf), "dev/%d/temp/%d", i % 1000, i);
		struct mqtt_tnode *n = mqtt_trie_node(&t, (const uint8_t *)buf, (size_t)l);
		mqtt_list_add_tail(&n->subs, &subs[i].node_link);
	}
	struct mqtt_sub w;
	mqtt_list_add_tail(&mqtt_trie_node(&t, S("dev/+/temp/#"))->subs, &w.node_link);
	struct collect c = {.n = 0};
	mqtt_trie_match(&t, S("dev/7/temp/12007"), collect_cb, &c);
	CHECK_EQ(c.n, 2);
	c.n = 0;
	mqtt_trie_match(&t, S("dev/8/temp/12007"), collect_cb, &c);
	CHECK_EQ(c.n, 1);
	/* the trie frees nodes but not subscriptions (owned by sessions) */
	mqtt_trie_free(&t);
}

int
main(void)
{
	TEST(test_dict_grow_shrink);
	TEST(test_reference_matcher);
	TEST(test_trie_match_table);
	TEST(test_trie_shared_round_robin);
	TEST(test_trie_retained_lookup);
	TEST(test_trie_many);
	return tap_done();
}

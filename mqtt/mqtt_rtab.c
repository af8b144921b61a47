/* SPDX-License-Identifier: Apache-2.0
 * Route table replica (mqtt_rtab.h): a trie of topic levels whose nodes carry the shard mask
 * of the filter ending there.
 *
 * Level conventions are those of the broker's trie (mqtt_topic.c): levels are split on '/',
 * a level may be empty ("a//b", "/a", "a/" has a last, empty level), '+' and '#' children have
 * their own pointers so that matching never looks them up by name, "a/#" also matches "a", and
 * a topic whose first level starts with '$' skips the root's wildcard children.
 *
 * Literal children: a per-node open-addressing table (linear probing, at most half full,
 * backward-shift deletion, so no tombstones) of child pointers, each child keeping the hash of
 * its name. Why not small sorted arrays: a level's fan-out is unbounded ("dev/<id>/#" for 100K
 * devices puts 100K children under "dev"), and a sorted array costs O(children) of memmove per
 * insert, O(n^2) to load a large table after a restart; a probe costs one hash of the level
 * (bytes the match reads anyway) and about one cache line. Why not mqtt_dict (the broker's):
 * its lookups perform incremental rehash steps, so a match would write to the table, and each
 * entry is a separate allocation, one more cache miss per level. The hash is mqtt_hash(), the
 * broker trie's: filters come from clients, so the replica is no easier to flood than the
 * broker's own trie, and the load factor bound keeps probe runs short otherwise.
 *
 * Memory comes from mqtt_alloc() (the lcore's jemalloc arena in tachyond); route changes are
 * control-rate, so nodes are allocated one by one and freed as soon as no filter needs them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mqtt/mqtt_pvt.h"
#include "mqtt/mqtt_rtab.h"

struct rt_node {
	struct rt_node *parent;
	struct rt_node *plus, *hash; /* the '+' and '#' children */
	struct rt_node **kids;       /* literal children by name: cap slots, NULL when free */
	uint32_t nkids, cap;         /* cap: 0, or a power of two >= 2 * nkids */
	uint64_t mask;               /* shards subscribed to the filter ending at this node */
	uint32_t h;                  /* mqtt_hash(name) */
	uint16_t len;
	uint8_t name[];
};

struct mqtt_rtab {
	struct rt_node *root;
	size_t filters, nodes, bytes;
	uint64_t shards;                          /* bit s: per_shard[s] != 0 */
	uint32_t per_shard[MQTT_RTAB_MAX_SHARDS]; /* filters per shard */
};

/* The level at s: up to its '/' or the end (the broker trie's split, mqtt_topic.c). */
static inline size_t
level_len(const uint8_t *s, size_t len)
{
	const uint8_t *e = memchr(s, '/', len);
	return e != NULL ? (size_t)(e - s) : len;
}

/* '+' and '#' whole levels only, '#' last; 1..65535 bytes. O(len). */
static bool
filter_valid(const uint8_t *f, size_t len)
{
	size_t pos = 0;

	if (len == 0 || len > UINT16_MAX)
		return false;
	for (;;) {
		size_t l = level_len(f + pos, len - pos);
		bool wild = memchr(f + pos, '+', l) || memchr(f + pos, '#', l);

		if (wild && l != 1)
			return false;
		if (l == 1 && f[pos] == '#' && pos + l != len)
			return false;
		pos += l + 1;
		if (pos > len)
			return true;
	}
}

static struct rt_node *
node_new(struct mqtt_rtab *t, struct rt_node *parent, const uint8_t *name, size_t len, uint32_t h)
{
	struct rt_node *n = mqtt_alloc(sizeof(*n) + len);

	if (n == NULL)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->h = h;
	n->len = (uint16_t)len;
	memcpy(n->name, name, len);
	t->nodes++;
	t->bytes += sizeof(*n) + len;
	return n;
}

static void
node_free(struct mqtt_rtab *t, struct rt_node *n)
{
	t->nodes--;
	t->bytes -= sizeof(*n) + n->len + (size_t)n->cap * sizeof(*n->kids);
	mqtt_free(n->kids);
	mqtt_free(n);
}

/* ---- literal children: open addressing ---- */

static struct rt_node *
kids_find(const struct rt_node *n, const uint8_t *s, size_t l, uint32_t h)
{
	uint32_t m = n->cap - 1;

	/* at most half full: the run ends at a free slot within a few probes */
	for (uint32_t i = h & m;; i = (i + 1) & m) {
		struct rt_node *c = n->kids[i];

		if (c == NULL)
			return NULL;
		if (c->h == h && c->len == l && memcmp(c->name, s, l) == 0)
			return c;
	}
}

static void
kids_place(struct rt_node **kids, uint32_t cap, struct rt_node *c)
{
	uint32_t i = c->h & (cap - 1);

	while (kids[i] != NULL)
		i = (i + 1) & (cap - 1);
	kids[i] = c;
}

/* Rehash into `cap` slots (a power of two > nkids, or 0 when empty). O(old cap). */
static int
kids_resize(struct mqtt_rtab *t, struct rt_node *n, uint32_t cap)
{
	struct rt_node **kids = NULL;

	if (cap != 0) {
		kids = mqtt_zalloc((size_t)cap * sizeof(*kids));
		if (kids == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < n->cap; i++)
			if (n->kids[i] != NULL)
				kids_place(kids, cap, n->kids[i]);
	}
	mqtt_free(n->kids);
	t->bytes += ((size_t)cap - n->cap) * sizeof(*kids);
	n->kids = kids;
	n->cap = cap;
	return 0;
}

static int
kids_add(struct mqtt_rtab *t, struct rt_node *n, struct rt_node *c)
{
	if (2 * (n->nkids + 1) > n->cap) {
		int rc = kids_resize(t, n, n->cap ? 2 * n->cap : 2);

		if (rc < 0)
			return rc;
	}
	kids_place(n->kids, n->cap, c);
	n->nkids++;
	return 0;
}

/* Backward-shift deletion: every entry after the hole that may move into it does, so lookups
 * never need tombstones. O(length of the probe run). */
static void
kids_del(struct mqtt_rtab *t, struct rt_node *n, struct rt_node *c)
{
	uint32_t m = n->cap - 1, i = c->h & m, j;

	while (n->kids[i] != c)
		i = (i + 1) & m;
	n->kids[i] = NULL;
	for (j = (i + 1) & m; n->kids[j] != NULL; j = (j + 1) & m) {
		uint32_t home = n->kids[j]->h & m;

		/* n->kids[j] stays when its home lies cyclically in (i, j] */
		if (((j - home) & m) < ((j - i) & m))
			continue;
		n->kids[i] = n->kids[j];
		n->kids[j] = NULL;
		i = j;
	}
	n->nkids--;
	/* shrink below an eighth full (a failed shrink only keeps the larger table) */
	if (n->nkids == 0)
		(void)kids_resize(t, n, 0);
	else if (n->cap > 8 && 8 * n->nkids < n->cap)
		(void)kids_resize(t, n, n->cap / 2);
}

/* ---- paths ---- */

static bool
node_unused(const struct rt_node *n)
{
	return n->mask == 0 && n->nkids == 0 && n->plus == NULL && n->hash == NULL;
}

/* Free n and its ancestors while they serve no filter. O(depth). */
static void
prune(struct mqtt_rtab *t, struct rt_node *n)
{
	while (n != t->root && node_unused(n)) {
		struct rt_node *p = n->parent;

		if (p->plus == n)
			p->plus = NULL;
		else if (p->hash == n)
			p->hash = NULL;
		else
			kids_del(t, p, n);
		node_free(t, n);
		n = p;
	}
}

/* The child of n for level s[0..l), created when `create`; NULL when absent or on ENOMEM. */
static struct rt_node *
child(struct mqtt_rtab *t, struct rt_node *n, const uint8_t *s, size_t l, bool create)
{
	struct rt_node **slot = NULL, *c;
	uint32_t h = mqtt_hash(s, (uint32_t)l);

	if (l == 1 && s[0] == '+')
		slot = &n->plus;
	else if (l == 1 && s[0] == '#')
		slot = &n->hash;
	if (slot != NULL)
		c = *slot;
	else
		c = n->nkids ? kids_find(n, s, l, h) : NULL;
	if (c != NULL || !create)
		return c;
	c = node_new(t, n, s, l, h);
	if (c == NULL)
		return NULL;
	if (slot != NULL) {
		*slot = c;
	} else if (kids_add(t, n, c) < 0) {
		node_free(t, c);
		return NULL;
	}
	return c;
}

/* The node of a valid filter; with `create`, its missing levels are made (on ENOMEM what was
 * made is pruned and NULL returned). O(filter length). */
static struct rt_node *
path(struct mqtt_rtab *t, const uint8_t *f, size_t len, bool create)
{
	struct rt_node *n = t->root;
	size_t pos = 0;

	for (;;) {
		size_t l = level_len(f + pos, len - pos);
		struct rt_node *c = child(t, n, f + pos, l, create);

		if (c == NULL) {
			if (create)
				prune(t, n);
			return NULL;
		}
		n = c;
		pos += l + 1;
		if (pos > len)
			return n;
	}
}

/* ---- public ---- */

struct mqtt_rtab *
mqtt_rtab_create(void)
{
	struct mqtt_rtab *t = mqtt_zalloc(sizeof(*t));

	if (t == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	t->root = node_new(t, NULL, (const uint8_t *)"", 0, 0);
	if (t->root == NULL) {
		mqtt_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

/* Recursion depth: the deepest filter's levels. */
static void
free_tree(struct mqtt_rtab *t, struct rt_node *n)
{
	for (uint32_t i = 0; i < n->cap; i++)
		if (n->kids[i] != NULL)
			free_tree(t, n->kids[i]);
	if (n->plus != NULL)
		free_tree(t, n->plus);
	if (n->hash != NULL)
		free_tree(t, n->hash);
	node_free(t, n);
}

void
mqtt_rtab_destroy(struct mqtt_rtab *t)
{
	if (t == NULL)
		return;
	free_tree(t, t->root);
	mqtt_free(t);
}

int
mqtt_rtab_set(struct mqtt_rtab *t, const uint8_t *filter, size_t len, unsigned int shard, int on)
{
	uint64_t bit = (uint64_t)1 << (shard & (MQTT_RTAB_MAX_SHARDS - 1));
	struct rt_node *n;

	if (shard >= MQTT_RTAB_MAX_SHARDS || !filter_valid(filter, len))
		return -EINVAL;
	n = path(t, filter, len, on != 0);
	if (on) {
		if (n == NULL)
			return -ENOMEM;
		if (n->mask & bit)
			return 0;
		t->filters += n->mask == 0;
		n->mask |= bit;
		if (t->per_shard[shard]++ == 0)
			t->shards |= bit;
		return 0;
	}
	if (n == NULL || !(n->mask & bit))
		return 0;
	n->mask &= ~bit;
	t->filters -= n->mask == 0;
	if (--t->per_shard[shard] == 0)
		t->shards &= ~bit;
	prune(t, n);
	return 0;
}

uint64_t
mqtt_rtab_get(const struct mqtt_rtab *t, const uint8_t *filter, size_t len)
{
	const struct rt_node *n;

	if (!filter_valid(filter, len))
		return 0;
	/* create == false: path() writes nothing */
	n = path((struct mqtt_rtab *)(uintptr_t)t, filter, len, false);
	return n ? n->mask : 0;
}

struct rt_match {
	uint64_t acc, all;
};

static void match_level(const struct rt_node *n, const uint8_t *s, size_t len, bool first,
                        struct rt_match *m);

/* c matched the level s[0..l): the topic ends there, or go one level deeper. */
static void
match_child(const struct rt_node *c, const uint8_t *s, size_t len, size_t l, struct rt_match *m)
{
	if (l == len) {
		m->acc |= c->mask;
		if (c->hash != NULL) /* "a/#" matches "a" */
			m->acc |= c->hash->mask;
	} else {
		match_level(c, s + l + 1, len - l - 1, false, m);
	}
}

/* s[0..len) is the rest of the topic, starting a level, matched against n's children. Each
 * call recurses into at most the literal and the '+' child. */
static void
match_level(const struct rt_node *n, const uint8_t *s, size_t len, bool first, struct rt_match *m)
{
	size_t l;

	if (m->acc == m->all) /* every shard with a filter is in already */
		return;
	l = level_len(s, len);
	if (!(first && len > 0 && s[0] == '$')) { /* MQTT-4.7.2-1 */
		if (n->hash != NULL)
			m->acc |= n->hash->mask;
		if (n->plus != NULL)
			match_child(n->plus, s, len, l, m);
	}
	if (n->nkids != 0 && l <= UINT16_MAX) {
		const struct rt_node *c = kids_find(n, s, l, mqtt_hash(s, (uint32_t)l));

		if (c != NULL)
			match_child(c, s, len, l, m);
	}
}

uint64_t
mqtt_rtab_match(const struct mqtt_rtab *t, const uint8_t *topic, size_t len)
{
	struct rt_match m = {0, t->shards};

	match_level(t->root, topic, len, true, &m);
	return m.acc;
}

size_t
mqtt_rtab_count(const struct mqtt_rtab *t)
{
	return t->filters;
}

void
mqtt_rtab_stats(const struct mqtt_rtab *t, struct mqtt_rtab_stats *st)
{
	st->filters = t->filters;
	st->nodes = t->nodes;
	st->bytes = t->bytes + sizeof(*t);
	st->shards = t->shards;
}

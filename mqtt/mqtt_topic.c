/* SPDX-License-Identifier: Apache-2.0
 * Topic trie: subscriptions (filters) and retained messages (topics), one node per level.
 *
 * Literal children are found through a per-node dict; '+' and '#' children have their own
 * pointers, so matching a topic of L levels costs O(L) node visits per live wildcard branch and
 * allocates nothing. Retained lookups walk the filter over the retained trie: a literal level
 * is one dict lookup, '+' visits the children, '#' a subtree.
 */
#include <errno.h>
#include <stdint.h>

#include "mqtt/mqtt_pvt.h"

static struct mqtt_tnode *
tnode_new(struct mqtt_tnode *parent, const uint8_t *name, size_t len)
{
	struct mqtt_tnode *n = mqtt_alloc(sizeof(*n) + len);

	if (!n)
		return NULL;
	n->parent = parent;
	mqtt_dict_init(&n->children);
	n->plus = n->hash = NULL;
	mqtt_list_init(&n->subs);
	mqtt_list_init(&n->shares);
	n->retained = NULL;
	n->name_len = (uint16_t)len;
	memcpy(n->name, name, len);
	return n;
}

int
mqtt_trie_init(struct mqtt_trie *t)
{
	t->count = 0;
	t->share_policy = MQTT_SHARE_ROUND_ROBIN;
	t->share_hash = 0;
	t->self_shard = 0;
	t->share_skip = false;
	t->share_remote = NULL;
	t->root = tnode_new(NULL, (const uint8_t *)"", 0);
	return t->root ? 0 : -ENOMEM;
}

static void tnode_free_tree(void *v, void *arg);

static void
tnode_free_tree(void *v, void *arg)
{
	struct mqtt_tnode *n = v;

	mqtt_dict_each(&n->children, tnode_free_tree, arg);
	mqtt_dict_free(&n->children);
	if (n->plus)
		tnode_free_tree(n->plus, arg);
	if (n->hash)
		tnode_free_tree(n->hash, arg);
	if (n->retained)
		mqtt_msg_put(n->retained);
	/* groups left are other shards' only (members here went with their sessions) */
	while (!mqtt_list_empty(&n->shares)) {
		struct mqtt_list *g = n->shares.next;

		mqtt_list_del(g);
		mqtt_free(mqtt_container_of(g, struct mqtt_share, link));
	}
	mqtt_free(n);
}

/* Subscriptions are owned by sessions and must be gone before this; retained messages are
 * released here. */
void
mqtt_trie_free(struct mqtt_trie *t)
{
	if (t->root)
		tnode_free_tree(t->root, NULL);
	t->root = NULL;
}

static size_t
level_len(const uint8_t *s, size_t len)
{
	const uint8_t *slash = memchr(s, '/', len);
	return slash ? (size_t)(slash - s) : len;
}

static bool
is_wild(const uint8_t *s, size_t l, uint8_t c)
{
	return l == 1 && s[0] == c;
}

struct mqtt_tnode *
mqtt_trie_node(struct mqtt_trie *t, const uint8_t *s, size_t len)
{
	struct mqtt_tnode *n = t->root;
	size_t pos = 0;

	for (;;) {
		size_t l = level_len(s + pos, len - pos);
		const uint8_t *lv = s + pos;
		struct mqtt_tnode **slot = NULL, *c;

		if (is_wild(lv, l, '+'))
			slot = &n->plus;
		else if (is_wild(lv, l, '#'))
			slot = &n->hash;
		c = slot ? *slot : mqtt_dict_get(&n->children, lv, (uint32_t)l);
		if (!c) {
			c = tnode_new(n, lv, l);
			if (!c)
				return NULL;
			if (slot) {
				*slot = c;
			} else if (mqtt_dict_put(&n->children, c->name, c->name_len, c)) {
				mqtt_free(c);
				return NULL;
			}
		}
		n = c;
		pos += l;
		if (pos >= len)
			return n;
		pos++; /* the '/' */
		if (pos == len) {
			/* trailing '/': one more, empty level */
			s = (const uint8_t *)"";
			len = pos = 0;
		}
	}
}

static bool
tnode_empty(const struct mqtt_tnode *n)
{
	return !n->plus && !n->hash && !n->retained && mqtt_list_empty(&n->subs) &&
	       mqtt_list_empty(&n->shares) && mqtt_dict_count(&n->children) == 0;
}

void
mqtt_trie_prune(struct mqtt_trie *t, struct mqtt_tnode *n)
{
	while (n && n != t->root && tnode_empty(n)) {
		struct mqtt_tnode *p = n->parent;
		if (p->plus == n)
			p->plus = NULL;
		else if (p->hash == n)
			p->hash = NULL;
		else
			mqtt_dict_del(&p->children, n->name, n->name_len);
		mqtt_dict_free(&n->children);
		mqtt_free(n);
		n = p;
	}
}

struct match_ctx {
	const struct mqtt_trie *t;
	mqtt_match_fn fn;
	void *arg;
};

/* The member of a shared group that gets this message. Cost O(1), or O(members) for the
 * hash policy. */
struct mqtt_list *
mqtt_share_pick(const struct mqtt_trie *t, struct mqtt_share *g)
{
	struct mqtt_list *m = g->next;

	if (m == &g->members)
		m = m->next;
	switch (t->share_policy) {
	case MQTT_SHARE_HASH_CLIENT:
		m = g->members.next;
		for (uint32_t i = t->share_hash % (g->n ? g->n : 1); i; i--)
			m = m->next;
		break;
	case MQTT_SHARE_STICKY:
		g->next = m;
		break;
	default:
		g->next = m->next;
		break;
	}
	return m;
}

/* The shard whose member gets this message, among the shards holding members (the same
 * policies as share_pick, over shards). O(1): a 64-bit mask. */
static unsigned int
share_shard(const struct mqtt_trie *t, struct mqtt_share *g)
{
	uint64_t mask = g->remote;
	uint64_t later;
	unsigned int s;

	if (!mqtt_list_empty(&g->members))
		mask |= (uint64_t)1 << t->self_shard;
	if (t->share_policy == MQTT_SHARE_HASH_CLIENT) {
		for (uint32_t k = t->share_hash % (uint32_t)__builtin_popcountll(mask); k; k--)
			mask &= mask - 1;
		return (unsigned int)__builtin_ctzll(mask);
	}
	later = g->shard_next < 64 ? mask & ~(((uint64_t)1 << g->shard_next) - 1) : 0;
	s = (unsigned int)__builtin_ctzll(later ? later : mask);
	/* sticky: stay on the shard while it holds members; round robin: the next one after */
	g->shard_next = t->share_policy == MQTT_SHARE_STICKY ? s : s + 1;
	return s;
}

static void
node_deliver(struct mqtt_tnode *n, const struct match_ctx *mc)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &n->subs)
	{
		mc->fn(mqtt_container_of(pos, struct mqtt_sub, node_link), mc->arg);
	}
	if (mc->t->share_skip)
		return; /* another shard's message: its shard chose for the groups */
	mqtt_list_for_each_safe(pos, tmp, &n->shares)
	{
		struct mqtt_share *g = mqtt_container_of(pos, struct mqtt_share, link);

		if (g->remote && mc->t->share_remote) {
			unsigned int s = share_shard(mc->t, g);

			if (s != mc->t->self_shard) {
				mc->t->share_remote(g, s, mc->arg);
				continue;
			}
		}
		if (!mqtt_list_empty(&g->members))
			mc->fn(mqtt_container_of(mqtt_share_pick(mc->t, g), struct mqtt_sub,
			                         node_link),
			       mc->arg);
	}
}

static void match_level(struct mqtt_tnode *n, const uint8_t *s, size_t len, bool first,
                        const struct match_ctx *mc);

/* c matched the level of s[0..l): deliver it when that was the last level, else go deeper. */
static void
match_child(struct mqtt_tnode *c, const uint8_t *s, size_t len, size_t l,
            const struct match_ctx *mc)
{
	if (l == len) {
		node_deliver(c, mc);
		if (c->hash) /* "a/#" matches "a" */
			node_deliver(c->hash, mc);
	} else {
		match_level(c, s + l + 1, len - l - 1, false, mc);
	}
}

/* Recursion depth is bounded by the topic's levels (at most 32768 for a 65535-byte topic, in
 * practice a handful); each level recurses into at most the literal and '+' children. */
static void
match_level(struct mqtt_tnode *n, const uint8_t *s, size_t len, bool first,
            const struct match_ctx *mc)
{
	size_t l = level_len(s, len);
	bool dollar = first && len > 0 && s[0] == '$'; /* MQTT-4.7.2-1 */
	struct mqtt_tnode *c;

	if (n->hash && !dollar)
		node_deliver(n->hash, mc);
	c = mqtt_dict_get(&n->children, s, (uint32_t)l);
	if (c)
		match_child(c, s, len, l, mc);
	if (n->plus && !dollar)
		match_child(n->plus, s, len, l, mc);
}

void
mqtt_trie_match(struct mqtt_trie *t, const uint8_t *topic, size_t len, mqtt_match_fn fn, void *arg)
{
	struct match_ctx mc = {t, fn, arg};
	match_level(t->root, topic, len, true, &mc);
}

struct each_ctx {
	mqtt_retained_fn fn;
	void *arg;
	const uint8_t *s;
	size_t len;
	bool first;
};

static void retained_level(struct mqtt_tnode *n, const uint8_t *s, size_t len, bool first,
                           mqtt_retained_fn fn, void *arg);

static void
retained_subtree(void *v, void *a)
{
	struct mqtt_tnode *n = v;
	struct each_ctx *ctx = a;

	if (n->retained)
		ctx->fn(n->retained, ctx->arg);
	mqtt_dict_each(&n->children, retained_subtree, ctx);
}

static void
retained_subtree_nodollar(void *v, void *a)
{
	struct mqtt_tnode *n = v;

	if (n->name_len && n->name[0] == '$')
		return;
	retained_subtree(v, a);
}

static void
retained_child(void *v, void *a)
{
	struct mqtt_tnode *n = v;
	struct each_ctx *ctx = a;

	if (ctx->first && n->name_len && n->name[0] == '$')
		return;
	retained_level(n, ctx->s, ctx->len, false, ctx->fn, ctx->arg);
}

/* n is the node reached so far; s the remaining filter, or NULL when the filter ended at n. */
static void
retained_level(struct mqtt_tnode *n, const uint8_t *s, size_t len, bool first, mqtt_retained_fn fn,
               void *arg)
{
	struct each_ctx ctx = {fn, arg, NULL, 0, first};
	size_t l;

	if (!s) {
		if (n->retained)
			fn(n->retained, arg);
		return;
	}
	l = level_len(s, len);
	ctx.s = l == len ? NULL : s + l + 1;
	ctx.len = l == len ? 0 : len - l - 1;
	if (is_wild(s, l, '#')) {
		/* "a/#" matches "a" itself and everything below. */
		if (!first && n->retained)
			fn(n->retained, arg);
		mqtt_dict_each(&n->children, first ? retained_subtree_nodollar : retained_subtree,
		               &ctx);
		return;
	}
	if (is_wild(s, l, '+')) {
		mqtt_dict_each(&n->children, retained_child, &ctx);
		return;
	}
	struct mqtt_tnode *c = mqtt_dict_get(&n->children, s, (uint32_t)l);
	if (c)
		retained_level(c, ctx.s, ctx.len, false, fn, arg);
}

void
mqtt_trie_retained(struct mqtt_trie *t, const uint8_t *filter, size_t len, mqtt_retained_fn fn,
                   void *arg)
{
	retained_level(t->root, filter, len, true, fn, arg);
}

/* Reference matcher (no trie), used by tests to cross-check the trie. O(len). */
bool
mqtt_topic_match_ref(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
	size_t i = 0, j = 0;

	if (tlen && t[0] == '$' && flen && (f[0] == '+' || f[0] == '#'))
		return false;
	while (i < flen) {
		if (f[i] == '#')
			return true;
		if (f[i] == '+') {
			while (j < tlen && t[j] != '/')
				j++;
			i++;
		} else {
			while (i < flen && f[i] != '/') {
				if (j >= tlen || t[j] != f[i])
					return false;
				i++, j++;
			}
			if (j < tlen && t[j] != '/')
				return false;
		}
		/* both at a '/' or at their end */
		if (i == flen)
			return j == tlen;
		/* f[i] == '/' */
		if (j == tlen) {
			/* "a/#" matches "a" */
			return i + 2 == flen && f[i + 1] == '#';
		}
		i++, j++;
		if (i == flen)
			return j == tlen;
	}
	return j == tlen;
}

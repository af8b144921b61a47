/* SPDX-License-Identifier: Apache-2.0
 * mqtt broker core: private structures shared by mqtt_broker.c, mqtt_topic.c, mqtt_dict.c.
 * Nothing here is visible to the dataplane; mqtt.h is the contract.
 */
#ifndef MQTT_PVT_H
#define MQTT_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqtt/mqtt.h"

/* ---- memory: every broker allocation goes through these, to the calling thread's allocator
 * (mqtt_set_thread_allocator(): a per-lcore jemalloc arena in tachyond) or malloc. */
void *mqtt_alloc(size_t size);
void *mqtt_zalloc(size_t size);
void *mqtt_realloc(void *p, size_t size);
void mqtt_free(void *p);

#define mqtt_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- intrusive doubly linked list (Linux list_head style). */
struct mqtt_list {
	struct mqtt_list *next, *prev;
};

static inline void
mqtt_list_init(struct mqtt_list *l)
{
	l->next = l->prev = l;
}

static inline bool
mqtt_list_empty(const struct mqtt_list *l)
{
	return l->next == l;
}

static inline void
mqtt_list_add_tail(struct mqtt_list *head, struct mqtt_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void
mqtt_list_del(struct mqtt_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

#define mqtt_list_for_each_safe(pos, tmp, head)                                                    \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
	     (pos) = (tmp), (tmp) = (pos)->next)

/* ---- dict: byte-string keys owned by the values, chained buckets, incremental rehash. */
struct mqtt_dict_entry {
	struct mqtt_dict_entry *next;
	const uint8_t *key;
	uint32_t klen;
	uint32_t hash;
	void *val;
};

struct mqtt_dict {
	struct mqtt_dict_entry **table[2];
	uint32_t size[2]; /* power of two, or 0 */
	uint32_t used[2];
	int64_t rehash_idx; /* -1: not rehashing */
};

void mqtt_dict_init(struct mqtt_dict *d);
void mqtt_dict_free(struct mqtt_dict *d);
void *mqtt_dict_get(struct mqtt_dict *d, const void *key, uint32_t klen);
int mqtt_dict_put(struct mqtt_dict *d, const void *key, uint32_t klen, void *val);
void *mqtt_dict_del(struct mqtt_dict *d, const void *key, uint32_t klen);
uint32_t mqtt_dict_count(const struct mqtt_dict *d);
/* Calls fn on every value; fn must not modify the dict. Cost O(buckets + entries). */
void mqtt_dict_each(struct mqtt_dict *d, void (*fn)(void *val, void *arg), void *arg);
uint32_t mqtt_hash(const void *key, uint32_t len);

/* ---- a message: topic, payload and v5 properties to forward, stored once whatever the number
 * of subscribers it reaches. Deliveries hold references. */
struct mqtt_props;

#define MQTT_MSG_PROXY 1u /* a proxy of another shard's message (struct mqtt_msg_proxy) */

struct mqtt_msg {
	uint32_t refcnt;
	uint8_t qos;
	uint8_t retain;
	uint16_t topic_len;
	uint32_t payload_len;
	uint32_t flags;        /* MQTT_MSG_*; in what was padding */
	uint64_t expire_us;    /* UINT64_MAX: never */
	uint64_t publisher_id; /* session serial of the publisher, for no-local */
	const uint8_t *topic;
	const uint8_t *payload;
	/* v5 properties forwarded as received (never the topic alias or subscription ids: those
	 * are per connection and per delivery), or NULL */
	struct mqtt_props *props;
	uint8_t data[]; /* properties, topic, payload when owned; struct mqtt_msg_proxy */
};

/* A destination shard's stand-in for another shard's message (issue 5, zero-copy cross-shard
 * publish): its own header and plain refcount, topic/payload/props pointing at the owner's
 * immutable bytes. It holds the one reference the owner forwarded; when its own count reaches
 * 0 it hands that reference back through ret (to shard `from`, the owner) and is freed. The
 * owner's count is never touched here: no atomics. */
struct mqtt_msg_proxy {
	struct mqtt_msg *origin;
	void (*ret)(void *ctx, unsigned int to, struct mqtt_msg *m);
	void *ctx;
	unsigned int from;
};

static inline struct mqtt_msg_proxy *
mqtt_msg_proxy(struct mqtt_msg *m)
{
	return (struct mqtt_msg_proxy *)(void *)m->data;
}

struct mqtt_msg *mqtt_msg_new(const uint8_t *topic, size_t tlen, const uint8_t *payload,
                              size_t plen);
/* Copy a message view (topic, payload and properties pointing anywhere) into one allocation
 * with refcnt 1. Properties keep only what a PUBLISH forwards. NULL on ENOMEM. */
struct mqtt_msg *mqtt_msg_clone(const struct mqtt_msg *view);
/* A proxy of `origin` (another shard's message; `view` is its header as this shard delivers
 * it) with refcnt 1 and nothing copied: one small allocation. NULL on ENOMEM. */
struct mqtt_msg *mqtt_msg_proxy_new(const struct mqtt_msg *view, struct mqtt_msg *origin,
                                    void (*ret)(void *ctx, unsigned int to, struct mqtt_msg *m),
                                    void *ctx, unsigned int from);
static inline struct mqtt_msg *
mqtt_msg_get(struct mqtt_msg *m)
{
	m->refcnt++;
	return m;
}
void mqtt_msg_put(struct mqtt_msg *m);

/* ---- topic trie. One node per level; wildcard children kept apart so matching a topic of L
 * levels visits at most 3 nodes per level: the literal child, '+' and '#'. */
struct mqtt_session;

struct mqtt_sub {
	struct mqtt_list node_link;    /* in node->subs or group->members */
	struct mqtt_list session_link; /* in session->subs */
	struct mqtt_session *session;
	struct mqtt_tnode *node;
	struct mqtt_share *share; /* NULL unless $share */
	uint8_t qos;
	uint8_t no_local;
	uint8_t rap; /* retain as published */
	uint8_t rh;  /* retain handling */
	uint32_t sub_id;
	uint16_t filter_len;
	uint8_t filter[]; /* the filter as subscribed, including $share/g/ */
};

struct mqtt_share {
	struct mqtt_list link;    /* in node->shares */
	struct mqtt_list members; /* mqtt_sub.node_link */
	struct mqtt_list *next;   /* cursor: the member served next (round robin, sticky) */
	uint32_t n;               /* members */
	/* Shards (issue 5): bit i, other shard i has members of this group too (the publisher's
	 * shard picks a shard first, then that shard a member); shard_next is the cursor over
	 * shards. A group stays while it has members here or elsewhere. */
	uint64_t remote;
	uint32_t shard_next;
	uint16_t name_len, filter_len;
	uint8_t name[]; /* the group's name, then the filter it shares */
};

struct mqtt_tnode {
	struct mqtt_tnode *parent;
	struct mqtt_dict children;
	struct mqtt_tnode *plus, *hash; /* '+' and '#' children */
	struct mqtt_list subs;          /* mqtt_sub.node_link */
	struct mqtt_list shares;        /* mqtt_share.link */
	struct mqtt_msg *retained;      /* retained tree only */
	uint16_t name_len;
	uint8_t name[];
};

/* How a shared subscription group picks the member that gets a message. */
enum mqtt_share_policy {
	MQTT_SHARE_ROUND_ROBIN = 0,
	MQTT_SHARE_HASH_CLIENT = 1, /* by the publisher's client id: one publisher, one member */
	MQTT_SHARE_STICKY = 2,      /* the same member until it leaves */
};

struct mqtt_trie {
	struct mqtt_tnode *root;
	uint64_t count;       /* subscriptions or retained messages */
	uint8_t share_policy; /* enum mqtt_share_policy */
	uint32_t share_hash;  /* MQTT_SHARE_HASH_CLIENT: the current publisher's hash */
	/* Shards: this shard's index; share_skip while matching another shard's message (its
	 * shard chose for the groups); share_remote is told when a group's turn is another
	 * shard's (instead of fn). */
	uint32_t self_shard;
	bool share_skip;
	void (*share_remote)(struct mqtt_share *g, unsigned int shard, void *arg);
};

int mqtt_trie_init(struct mqtt_trie *t);
void mqtt_trie_free(struct mqtt_trie *t);
/* Find or create the node of a filter/topic (levels split on '/'). NULL on ENOMEM. */
struct mqtt_tnode *mqtt_trie_node(struct mqtt_trie *t, const uint8_t *s, size_t len);
/* Remove empty nodes from n upwards. */
void mqtt_trie_prune(struct mqtt_trie *t, struct mqtt_tnode *n);

/* Calls fn for each subscription matching topic ('$' topics skip leading wildcards).
 * Shared groups call fn once with the member chosen round robin (or share_remote with the
 * shard chosen, when members are on other shards too). Cost: O(levels) nodes plus
 * the matching subscriptions. */
typedef void (*mqtt_match_fn)(struct mqtt_sub *s, void *arg);
void mqtt_trie_match(struct mqtt_trie *t, const uint8_t *topic, size_t len, mqtt_match_fn fn,
                     void *arg);
/* The member of a shared group that gets the next message (the trie's policy); the group must
 * have members. */
struct mqtt_list *mqtt_share_pick(const struct mqtt_trie *t, struct mqtt_share *g);
/* Calls fn for each retained message whose topic matches filter. Cost: the nodes the filter
 * reaches (a subtree for '#'). */
typedef void (*mqtt_retained_fn)(struct mqtt_msg *m, void *arg);
void mqtt_trie_retained(struct mqtt_trie *t, const uint8_t *filter, size_t len, mqtt_retained_fn fn,
                        void *arg);

/* Test support (mqtt_broker.c): recount lists and counters; 0 or -EFAULT. */
int mqtt_broker_verify(struct mqtt_broker *b);

/* Pure helpers for topic names and filters, used by the trie and its tests. */
bool mqtt_topic_match_ref(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

#endif /* MQTT_PVT_H */

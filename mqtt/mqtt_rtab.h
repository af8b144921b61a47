/* SPDX-License-Identifier: Apache-2.0
 * Route table replica: topic filter -> 64-bit mask of the shards with a subscriber to it.
 *
 * Each dataplane shard keeps one, fed by the ROUTE ring messages of the other shards (first
 * subscription to a filter on a shard, last one gone), and asks it, per publish, which shards
 * need the message. A trie of topic levels: matching costs O(levels x matching branches),
 * whatever the number of filters. No DPDK. Memory comes from the calling thread's mqtt allocator
 * (mqtt_set_thread_allocator(): the lcore's jemalloc arena in tachyond, else malloc): set routes
 * on the owning lcore, and destroy the table where the same allocator family is set (mqtt.h).
 * One owner, no locks: match() only reads, set() writes.
 */
#ifndef MQTT_RTAB_H
#define MQTT_RTAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MQTT_RTAB_MAX_SHARDS 64

struct mqtt_rtab;

/* An empty table; NULL and errno ENOMEM. */
struct mqtt_rtab *mqtt_rtab_create(void);
/* Frees every node. NULL is a no-op. Cost O(nodes). */
void mqtt_rtab_destroy(struct mqtt_rtab *t);

/* Shard `shard` has (on != 0) or no longer has (on == 0) a subscriber to `filter`: the ROUTE
 * message. Idempotent: setting a bit already set, or clearing one not set (or a filter not in
 * the table), changes nothing and returns 0. Clearing a filter's last shard frees its nodes
 * back to the nearest one still in use. The filter must be a valid MQTT filter ('+' and '#'
 * whole levels only, '#' last, 1..65535 bytes); '$share/g/f' is stored as the literal filter it
 * is (the caller routes shared groups elsewhere). Returns 0, -EINVAL (bad filter or shard) or
 * -ENOMEM (no route changed). Cost O(filter length), plus, on a level whose child table grows
 * or shrinks, O(children of that level) (amortised O(1)).
 */
int mqtt_rtab_set(struct mqtt_rtab *t, const uint8_t *filter, size_t len, unsigned int shard,
                  int on);

/* The union of the masks of every filter that matches `topic`: '+' matches one level, '#' the
 * rest ("a/#" also matches "a"), and a topic starting with '$' is not matched by a filter
 * starting with a wildcard (MQTT-4.7.2-1). Allocates nothing, writes nothing. Cost O(topic
 * length) per trie branch that matches the topic so far (the literal, '+' and '#' children of
 * each level), stopping as soon as every shard in the table is in the result. Recursion depth:
 * the matched filters' levels. */
uint64_t mqtt_rtab_match(const struct mqtt_rtab *t, const uint8_t *topic, size_t len);

/* The mask stored for exactly `filter` (no wildcard matching), 0 when absent. O(length). */
uint64_t mqtt_rtab_get(const struct mqtt_rtab *t, const uint8_t *filter, size_t len);

/* Number of filters with at least one shard. O(1). */
size_t mqtt_rtab_count(const struct mqtt_rtab *t);

struct mqtt_rtab_stats {
	size_t filters;  /* with at least one shard */
	size_t nodes;    /* trie nodes, the root included (1 when empty) */
	size_t bytes;    /* nodes and child tables, as requested from the allocator */
	uint64_t shards; /* shards with at least one filter */
};

void mqtt_rtab_stats(const struct mqtt_rtab *t, struct mqtt_rtab_stats *st);

#ifdef __cplusplus
}
#endif

#endif

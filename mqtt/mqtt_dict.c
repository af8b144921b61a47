/* SPDX-License-Identifier: Apache-2.0
 * A chained hash table with incremental rehash, in the style of Redis dict.c.
 *
 * Hand-rolled because mqtt/ must build without DPDK (so rte_hash is not available) and because
 * the keys are variable-length byte strings owned by the values (client ids, topic levels), so
 * the table stores pointers only. Growing never stops the world: while a rehash is in
 * progress every operation moves one bucket from the old table to the new one, so a table of
 * a million client ids grows with O(1) work per call. Lookups consult both tables meanwhile.
 */
#include <errno.h>
#include <stdlib.h>

#include "mqtt/mqtt_pvt.h"

#define DICT_INIT_SIZE 4

/* FNV-1a mixed with a per-process seed: keys come from clients, so the seed makes collision
 * flooding depend on a value they cannot see. Cost O(len). */
static uint32_t dict_seed = 0x9e3779b9u;

uint32_t
mqtt_hash(const void *key, uint32_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull ^ dict_seed;

	for (uint32_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	return (uint32_t)(h ^ (h >> 32));
}

void
mqtt_dict_init(struct mqtt_dict *d)
{
	memset(d, 0, sizeof(*d));
	d->rehash_idx = -1;
}

void
mqtt_dict_free(struct mqtt_dict *d)
{
	for (int t = 0; t < 2; t++) {
		for (uint32_t i = 0; i < d->size[t]; i++) {
			struct mqtt_dict_entry *e = d->table[t][i], *n;
			for (; e; e = n) {
				n = e->next;
				mqtt_free(e);
			}
		}
		mqtt_free(d->table[t]);
	}
	mqtt_dict_init(d);
}

uint32_t
mqtt_dict_count(const struct mqtt_dict *d)
{
	return d->used[0] + d->used[1];
}

/* Move one non-empty bucket (visiting at most 10 empty ones) from table 0 to table 1. */
static void
dict_rehash_step(struct mqtt_dict *d)
{
	int empty = 10;

	if (d->rehash_idx < 0)
		return;
	while (d->used[0] && (uint32_t)d->rehash_idx < d->size[0]) {
		struct mqtt_dict_entry *e = d->table[0][d->rehash_idx];
		if (!e) {
			d->rehash_idx++;
			if (--empty == 0)
				return;
			continue;
		}
		while (e) {
			struct mqtt_dict_entry *n = e->next;
			uint32_t i = e->hash & (d->size[1] - 1);
			e->next = d->table[1][i];
			d->table[1][i] = e;
			d->used[0]--;
			d->used[1]++;
			e = n;
		}
		d->table[0][d->rehash_idx++] = NULL;
		break;
	}
	if (d->used[0] == 0) {
		mqtt_free(d->table[0]);
		d->table[0] = d->table[1];
		d->size[0] = d->size[1];
		d->used[0] = d->used[1];
		d->table[1] = NULL;
		d->size[1] = d->used[1] = 0;
		d->rehash_idx = -1;
	}
}

static int
dict_expand(struct mqtt_dict *d, uint32_t size)
{
	struct mqtt_dict_entry **t = mqtt_zalloc(sizeof(*t) * size);

	if (!t)
		return -ENOMEM;
	if (d->size[0] == 0) {
		d->table[0] = t;
		d->size[0] = size;
		return 0;
	}
	d->table[1] = t;
	d->size[1] = size;
	d->rehash_idx = 0;
	return 0;
}

static struct mqtt_dict_entry **
dict_find(struct mqtt_dict *d, const void *key, uint32_t klen, uint32_t h, int *tp)
{
	for (int t = 0; t < 2; t++) {
		if (d->size[t] == 0)
			continue;
		struct mqtt_dict_entry **pp = &d->table[t][h & (d->size[t] - 1)];
		for (; *pp; pp = &(*pp)->next)
			if ((*pp)->hash == h && (*pp)->klen == klen &&
			    !memcmp((*pp)->key, key, klen)) {
				*tp = t;
				return pp;
			}
		if (d->rehash_idx < 0)
			break;
	}
	return NULL;
}

void *
mqtt_dict_get(struct mqtt_dict *d, const void *key, uint32_t klen)
{
	struct mqtt_dict_entry **pp;
	int t;

	if (mqtt_dict_count(d) == 0)
		return NULL;
	dict_rehash_step(d);
	pp = dict_find(d, key, klen, mqtt_hash(key, klen), &t);
	return pp ? (*pp)->val : NULL;
}

/* Insert or replace. The key memory must live as long as the entry. */
int
mqtt_dict_put(struct mqtt_dict *d, const void *key, uint32_t klen, void *val)
{
	uint32_t h = mqtt_hash(key, klen);
	struct mqtt_dict_entry **pp, *e;
	int t;

	dict_rehash_step(d);
	pp = dict_find(d, key, klen, h, &t);
	if (pp) {
		(*pp)->key = key;
		(*pp)->val = val;
		return 0;
	}
	if (d->size[0] == 0) {
		if (dict_expand(d, DICT_INIT_SIZE))
			return -ENOMEM;
	} else if (d->rehash_idx < 0 && d->used[0] >= d->size[0]) {
		/* Failure to grow only lengthens chains. */
		(void)dict_expand(d, d->size[0] * 2);
	}
	e = mqtt_alloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	t = d->rehash_idx >= 0 ? 1 : 0;
	e->key = key;
	e->klen = klen;
	e->hash = h;
	e->val = val;
	e->next = d->table[t][h & (d->size[t] - 1)];
	d->table[t][h & (d->size[t] - 1)] = e;
	d->used[t]++;
	return 0;
}

void *
mqtt_dict_del(struct mqtt_dict *d, const void *key, uint32_t klen)
{
	struct mqtt_dict_entry **pp, *e;
	void *val;
	int t;

	if (mqtt_dict_count(d) == 0)
		return NULL;
	dict_rehash_step(d);
	pp = dict_find(d, key, klen, mqtt_hash(key, klen), &t);
	if (!pp)
		return NULL;
	e = *pp;
	*pp = e->next;
	d->used[t]--;
	val = e->val;
	mqtt_free(e);
	return val;
}

void
mqtt_dict_each(struct mqtt_dict *d, void (*fn)(void *val, void *arg), void *arg)
{
	for (int t = 0; t < 2; t++)
		for (uint32_t i = 0; i < d->size[t]; i++)
			for (struct mqtt_dict_entry *e = d->table[t][i]; e; e = e->next)
				fn(e->val, arg);
}

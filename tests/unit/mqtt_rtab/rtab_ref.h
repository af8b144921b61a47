/* SPDX-License-Identifier: Apache-2.0
 * The linear route replica mqtt_rtab replaces, as a reference: a list of (filter, shard mask)
 * and dataplane/dp_route.c's dp_route_filter_match(), copied verbatim in semantics. Shared by the
 * unit test, the fuzz driver and bench/micro_rtab.cc (C and C++). Cost: O(filters) per match,
 * O(filters) per set.
 */
#ifndef RTAB_REF_H
#define RTAB_REF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rtab_ref_route {
	uint64_t shards;
	uint16_t len;
	uint8_t *filter;
};

struct rtab_ref {
	struct rtab_ref_route *r;
	uint32_t n, cap;
};

/* dp_route_filter_match(): '/'-level filter match (wildcards; '$' topics skip leading ones). */
static inline int
rtab_ref_filter_match(const uint8_t *f, size_t fl, const uint8_t *t, size_t tl)
{
	size_t i = 0, j = 0;

	if (tl > 0 && t[0] == '$' && fl > 0 && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (;;) {
		if (i < fl && f[i] == '#')
			return 1;
		if (i < fl && f[i] == '+') {
			i++;
			while (j < tl && t[j] != '/')
				j++;
		} else {
			while (i < fl && f[i] != '/' && j < tl && t[j] != '/' && f[i] == t[j])
				i++, j++;
			if ((i < fl && f[i] != '/') || (j < tl && t[j] != '/'))
				return 0;
		}
		if (i == fl || j == tl)
			break;
		i++, j++;
	}
	if (i == fl && j == tl)
		return 1;
	return j == tl && i + 2 == fl && f[i] == '/' && f[i + 1] == '#';
}

/* An MQTT filter, checked character by character (independently of mqtt_rtab's level split). */
static inline int
rtab_ref_filter_valid(const uint8_t *f, size_t len)
{
	if (len == 0 || len > UINT16_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		int starts = i == 0 || f[i - 1] == '/';
		int ends = i + 1 == len || f[i + 1] == '/';

		if (f[i] == '+' && !(starts && ends))
			return 0;
		if (f[i] == '#' && !(starts && i + 1 == len))
			return 0;
	}
	return 1;
}

/* A filter known to be new, appended without the O(filters) lookup (bench set-up). */
static inline int
rtab_ref_append(struct rtab_ref *ref, const uint8_t *f, size_t len, uint64_t shards)
{
	struct rtab_ref_route *r;

	if (ref->n == ref->cap) {
		uint32_t cap = ref->cap ? 2 * ref->cap : 64;
		struct rtab_ref_route *nr =
		        (struct rtab_ref_route *)realloc(ref->r, cap * sizeof(*nr));

		if (nr == NULL)
			return -ENOMEM;
		ref->r = nr;
		ref->cap = cap;
	}
	r = &ref->r[ref->n];
	r->filter = (uint8_t *)malloc(len ? len : 1);
	if (r->filter == NULL)
		return -ENOMEM;
	memcpy(r->filter, f, len);
	r->len = (uint16_t)len;
	r->shards = shards;
	ref->n++;
	return 0;
}

/* mqtt_rtab_set()'s contract on the list: 0, -EINVAL or -ENOMEM. */
static inline int
rtab_ref_set(struct rtab_ref *ref, const uint8_t *f, size_t len, unsigned int shard, int on)
{
	uint64_t bit;
	uint32_t i;

	if (shard >= 64 || !rtab_ref_filter_valid(f, len))
		return -EINVAL;
	bit = (uint64_t)1 << shard;
	for (i = 0; i < ref->n; i++)
		if (ref->r[i].len == len && memcmp(ref->r[i].filter, f, len) == 0)
			break;
	if (!on) {
		if (i < ref->n && (ref->r[i].shards &= ~bit) == 0) {
			free(ref->r[i].filter);
			ref->r[i] = ref->r[--ref->n];
		}
		return 0;
	}
	if (i < ref->n) {
		ref->r[i].shards |= bit;
		return 0;
	}
	return rtab_ref_append(ref, f, len, bit);
}

/* dp_route_match() without the retain shortcut: skips a route whose shards are all in. */
static inline uint64_t
rtab_ref_match(const struct rtab_ref *ref, const uint8_t *t, size_t len)
{
	uint64_t shards = 0;

	for (uint32_t i = 0; i < ref->n; i++) {
		const struct rtab_ref_route *r = &ref->r[i];

		if ((shards | r->shards) != shards &&
		    rtab_ref_filter_match(r->filter, r->len, t, len))
			shards |= r->shards;
	}
	return shards;
}

static inline void
rtab_ref_free(struct rtab_ref *ref)
{
	for (uint32_t i = 0; i < ref->n; i++)
		free(ref->r[i].filter);
	free(ref->r);
	ref->r = NULL;
	ref->n = ref->cap = 0;
}

#endif

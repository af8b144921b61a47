/* SPDX-License-Identifier: Apache-2.0
 * mqtt_rtab fuzzer: a byte stream of route changes and matches, each checked against the linear
 * replica (tests/unit/mqtt_rtab/rtab_ref.h, dp_route_filter_match's semantics). Pure function of
 * its input; any disagreement aborts.
 *
 * Input: a sequence of operations, each
 *   op byte: bits 0-1 the operation, bits 2-7 a shard (0..63)
 *   len byte: bits 0-5 a length n (0..63)
 *   n bytes: a filter or topic, raw (the dictionary supplies '/', '+', '#', '$')
 * operations: 0 set (shard on), 1 unset (shard off), 2 match the topic, 3 checks: the exact mask
 * of the filter, the filter count, an out-of-range shard (-EINVAL from both). A truncated last
 * operation is ignored. At the end every remaining route is cleared, which must leave the bare
 * root, and the table is destroyed (ASan's leak check: nothing left).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_rtab.h"
#include "tests/unit/mqtt_rtab/rtab_ref.h"

static uint64_t
ref_get(const struct rtab_ref *ref, const uint8_t *f, size_t len)
{
	for (uint32_t i = 0; i < ref->n; i++)
		if (ref->r[i].len == len && memcmp(ref->r[i].filter, f, len) == 0)
			return ref->r[i].shards;
	return 0;
}

static void
expect(int cond)
{
	if (!cond)
		abort();
}

/* Clear every route left, through both tables. O(routes x shards). */
static void
clear_all(struct mqtt_rtab *t, struct rtab_ref *ref)
{
	while (ref->n > 0) {
		struct rtab_ref_route *r = &ref->r[ref->n - 1];
		unsigned int s = (unsigned int)__builtin_ctzll(r->shards);

		expect(mqtt_rtab_set(t, r->filter, r->len, s, 0) == 0);
		expect(rtab_ref_set(ref, r->filter, r->len, s, 0) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqtt_rtab *t = mqtt_rtab_create();
	struct rtab_ref ref = {0};
	struct mqtt_rtab_stats st;
	size_t pos = 0;

	if (t == NULL)
		return 0;
	while (pos + 2 <= size) {
		unsigned int op = data[pos] & 3, shard = data[pos] >> 2;
		size_t n = data[pos + 1] & 0x3f;
		const uint8_t *s = data + pos + 2;
		int a, b;

		if (pos + 2 + n > size)
			break;
		pos += 2 + n;
		switch (op) {
		case 0:
		case 1:
			a = mqtt_rtab_set(t, s, n, shard, op == 0);
			b = rtab_ref_set(&ref, s, n, shard, op == 0);
			expect(a == b || a == -ENOMEM || b == -ENOMEM);
			if (a != b) { /* ENOMEM on one side only: bring the two back together */
				(void)mqtt_rtab_set(t, s, n, shard, 0);
				(void)rtab_ref_set(&ref, s, n, shard, 0);
			}
			break;
		case 2:
			expect(mqtt_rtab_match(t, s, n) == rtab_ref_match(&ref, s, n));
			break;
		default:
			expect(mqtt_rtab_get(t, s, n) == ref_get(&ref, s, n));
			expect(mqtt_rtab_count(t) == ref.n);
			expect(mqtt_rtab_set(t, s, n, 64 + shard, 1) == -EINVAL);
			break;
		}
	}
	mqtt_rtab_stats(t, &st);
	expect(st.filters == ref.n);
	clear_all(t, &ref);
	mqtt_rtab_stats(t, &st);
	expect(st.nodes == 1 && st.filters == 0 && st.shards == 0);
	rtab_ref_free(&ref);
	mqtt_rtab_destroy(t);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0
 * Hierarchical timer wheel; see tcp_timer.h for the design and its costs.
 */
#include "tcpstack/tcp_timer.h"

#include <string.h>

#define TW_MASK (TCP_TW_SLOTS - 1)

void
tcp_wheel_init(struct tcp_wheel *w, uint64_t now_us)
{
	memset(w, 0, sizeof(*w));
	w->base_us = now_us;
}

static void
wheel_place(struct tcp_wheel *w, struct tcp_timer *t)
{
	uint32_t now = (uint32_t)w->now;
	int32_t delta = (int32_t)(t->expire - now);
	struct tcp_timer **head;

	if (delta < 0) /* overdue: run at the current tick */
		t->expire = now, delta = 0;
	if (delta < (int32_t)TCP_TW_SLOTS) {
		head = &w->slot[0][t->expire & TW_MASK];
		w->bm0[(t->expire & TW_MASK) >> 6] |= 1ull << (t->expire & 63);
	} else if (delta < (int32_t)(1u << (2 * TCP_TW_BITS))) {
		head = &w->slot[1][(t->expire >> TCP_TW_BITS) & TW_MASK];
	} else {
		if (delta >= (int32_t)(1u << (3 * TCP_TW_BITS)))
			t->expire = now + (1u << (3 * TCP_TW_BITS)) - 1;
		head = &w->slot[2][(t->expire >> (2 * TCP_TW_BITS)) & TW_MASK];
	}
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	*head = t;
	t->pprev = head;
}

static void
wheel_unlink(struct tcp_timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void
tcp_timer_arm(struct tcp_wheel *w, struct tcp_timer *t, uint64_t expire_us)
{
	if (t->pprev)
		wheel_unlink(t);
	else
		w->pending++;
	t->expire = expire_us <= w->base_us ? 0 : tcp_wheel_tick(w, expire_us);
	wheel_place(w, t);
}

void
tcp_timer_cancel(struct tcp_wheel *w, struct tcp_timer *t)
{
	if (!t->pprev)
		return;
	wheel_unlink(t);
	w->pending--;
}

/* Move every entry of one upper-level slot down; they all expire within the next span. */
static void
wheel_cascade(struct tcp_wheel *w, int level, unsigned int idx)
{
	struct tcp_timer *t = w->slot[level][idx];

	w->slot[level][idx] = NULL;
	while (t) {
		struct tcp_timer *next = t->next;

		t->next = NULL;
		t->pprev = NULL;
		wheel_place(w, t);
		t = next;
	}
}

/* First level-0 slot at or after idx that may hold timers, or TCP_TW_SLOTS. */
static unsigned int
bm_next(const uint64_t *bm, unsigned int idx)
{
	for (unsigned int wd = idx >> 6; wd < TCP_TW_SLOTS / 64; wd++) {
		uint64_t m = bm[wd];

		if (wd == idx >> 6)
			m &= ~0ull << (idx & 63);
		if (m)
			return wd * 64 + (unsigned int)__builtin_ctzll(m);
	}
	return TCP_TW_SLOTS;
}

int
tcp_wheel_run(struct tcp_wheel *w, uint64_t now_us, int budget, tcp_timer_cb cb, void *arg)
{
	uint64_t target = now_us < w->base_us ? 0 : (now_us - w->base_us) / TCP_TW_TICK_US;
	int fired = 0;

	while (w->now <= target) {
		unsigned int idx = (unsigned int)(w->now & TW_MASK), nx;
		struct tcp_timer **head;

		if (w->pending == 0) {
			w->now = target + 1;
			break;
		}
		if (idx == 0) {
			unsigned int i1 = (unsigned int)((w->now >> TCP_TW_BITS) & TW_MASK);

			if (i1 == 0)
				wheel_cascade(
				        w, 2,
				        (unsigned int)((w->now >> (2 * TCP_TW_BITS)) & TW_MASK));
			wheel_cascade(w, 1, i1);
		}
		/* Skip empty ticks up to the next occupied slot or the next cascade. */
		nx = bm_next(w->bm0, idx);
		if (nx != idx) {
			uint64_t cand = w->now - idx + nx;

			if (cand > target) {
				w->now = target + 1;
				break;
			}
			w->now = cand;
			if (nx == TCP_TW_SLOTS)
				continue; /* block end: cascade first */
			idx = nx;
		}
		head = &w->slot[0][idx];
		while (*head) {
			struct tcp_timer *t = *head;

			if (fired >= budget)
				return fired;
			wheel_unlink(t);
			w->pending--;
			fired++;
			cb(arg, t);
		}
		w->bm0[idx >> 6] &= ~(1ull << (idx & 63));
		w->now++;
	}
	return fired;
}

uint64_t
tcp_wheel_next(const struct tcp_wheel *w)
{
	unsigned int idx = (unsigned int)(w->now & TW_MASK);

	if (w->pending == 0)
		return UINT64_MAX;
	return w->base_us + (w->now - idx + bm_next(w->bm0, idx)) * TCP_TW_TICK_US;
}

/* SPDX-License-Identifier: Apache-2.0
 * Hashed timer wheel with rounds; see dp_timer.h for why not rte_timer.
 */
#include "dp_timer.h"

#define DP_WHEEL_MASK (DP_WHEEL_SLOTS - 1)

_Static_assert((DP_WHEEL_SLOTS & DP_WHEEL_MASK) == 0, "slot count must be a power of two");

/* Round up so that a timer never fires before its deadline. */
static inline uint64_t
dp_tick_of(uint64_t us)
{
	return us / DP_WHEEL_TICK_US + (us % DP_WHEEL_TICK_US != 0);
}

void
dp_wheel_init(struct dp_wheel *w, uint64_t now_us)
{
	w->cur_tick = now_us / DP_WHEEL_TICK_US;
	for (unsigned int i = 0; i < DP_WHEEL_SLOTS; i++)
		LIST_INIT(&w->slot[i]);
}

void
dp_timer_cancel(struct dp_timer *t)
{
	if (!dp_timer_armed(t))
		return;
	LIST_REMOVE(t, link);
	t->link.le_prev = NULL;
}

void
dp_timer_arm(struct dp_wheel *w, struct dp_timer *t, uint64_t expire_us)
{
	uint64_t tick = dp_tick_of(expire_us);

	dp_timer_cancel(t);
	if (tick < w->cur_tick)
		tick = w->cur_tick; /* already due: the next visit fires it */
	t->expire_us = expire_us;
	LIST_INSERT_HEAD(&w->slot[tick & DP_WHEEL_MASK], t, link);
}

unsigned int
dp_wheel_run(struct dp_wheel *w, uint64_t now_us, dp_timer_fn fn, unsigned int budget)
{
	uint64_t now_tick = now_us / DP_WHEEL_TICK_US;
	unsigned int fired = 0;

	/* After a stall longer than the span every slot is visited once, which is enough: a slot's
	 * due timers all fire on any visit. */
	if (now_tick >= w->cur_tick + DP_WHEEL_SLOTS)
		w->cur_tick = now_tick - DP_WHEEL_SLOTS + 1;

	while (w->cur_tick <= now_tick) {
		uint64_t tick = w->cur_tick;
		struct dp_timer_list *slot = &w->slot[tick & DP_WHEEL_MASK];
		struct dp_timer_list due;
		struct dp_timer *t;

		/* Detach the slot first: a handler re-arming for "now" lands in the next tick's
		 * slot instead of the list being walked. */
		LIST_INIT(&due);
		if (!LIST_EMPTY(slot)) {
			due.lh_first = slot->lh_first;
			due.lh_first->link.le_prev = &due.lh_first;
			LIST_INIT(slot);
		}
		w->cur_tick++;
		while ((t = LIST_FIRST(&due)) != NULL) {
			LIST_REMOVE(t, link);
			t->link.le_prev = NULL;
			if (dp_tick_of(t->expire_us) > tick) {
				/* a later round of this slot */
				LIST_INSERT_HEAD(slot, t, link);
			} else if (fired < budget) {
				fired++;
				fn(t, now_us);
			} else {
				dp_timer_arm(w, t, t->expire_us); /* next call */
			}
		}
		if (fired >= budget)
			break;
	}
	return fired;
}

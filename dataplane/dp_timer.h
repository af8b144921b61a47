/* SPDX-License-Identifier: Apache-2.0
 * A per-lcore hashed timer wheel for coarse, per-connection deadlines (MQTT keep-alive).
 *
 * Why not rte_timer: it keeps a skip list (O(log n) per arm), reads the TSC itself instead of
 * taking the loop's clock, and guards every timer's state with an atomic compare-and-set so that
 * other lcores may arm it; our timers are touched only by their owning lcore. Keep-alive
 * deadlines are seconds long and tolerate tens of milliseconds of lateness, so a single-level
 * wheel with rounds is enough: arming and cancelling are O(1) list operations on a timer embedded
 * in the connection (no allocation), and each tick visits one slot. A deadline beyond the wheel's
 * span stays in its slot and is skipped until its round comes (one compare per visit).
 */
#ifndef DP_TIMER_H
#define DP_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* 2048 slots of 32 ms: a 65 s span, so the default MQTT keep-alives (60 s, deadline 90 s) wait
 * at most one extra round; 16 KiB of list heads per lcore. */
#define DP_WHEEL_TICK_US 32768u
#define DP_WHEEL_SLOTS   2048u

struct dp_timer {
	LIST_ENTRY(dp_timer) link; /* le_prev == NULL: not armed */
	uint64_t expire_us;
};

LIST_HEAD(dp_timer_list, dp_timer);

struct dp_wheel {
	uint64_t cur_tick; /* next tick to visit */
	struct dp_timer_list slot[DP_WHEEL_SLOTS];
};

/* Called for each expired timer, already disarmed; it may re-arm or free the timer. */
typedef void (*dp_timer_fn)(struct dp_timer *t, uint64_t now_us);

void dp_wheel_init(struct dp_wheel *w, uint64_t now_us);

/* Arm (or move) `t` to fire at or after expire_us (rounded up to the next tick). O(1). */
void dp_timer_arm(struct dp_wheel *w, struct dp_timer *t, uint64_t expire_us);

/* Disarm; harmless on a timer that is not armed. O(1). */
void dp_timer_cancel(struct dp_timer *t);

static inline int
dp_timer_armed(const struct dp_timer *t)
{
	return t->link.le_prev != NULL;
}

/* Fire every timer due at now_us, at most `budget` of them (the rest fire on the next call).
 * Cost: one visit per elapsed tick (at most DP_WHEEL_SLOTS) plus one compare per timer in the
 * visited slots. Returns the number fired. */
unsigned int dp_wheel_run(struct dp_wheel *w, uint64_t now_us, dp_timer_fn fn, unsigned int budget);

#endif /* DP_TIMER_H */

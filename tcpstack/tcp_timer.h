/* SPDX-License-Identifier: Apache-2.0
 * tcp_timer: a per-lcore hierarchical timer wheel (3 levels x 256 slots, 1 ms tick).
 *
 * Why not rte_timer: rte_timer keeps a skiplist per lcore (O(log n) per arm/cancel) and uses
 * atomics so that other lcores may arm timers; a stack instance is touched by one lcore only, and
 * with a million connections every RTO/delayed-ACK re-arm would pay the skiplist walk. Here arm
 * and cancel are O(1) list splices on an entry embedded in the TCB, and expiry costs O(1) per
 * timer plus one cascade per 256 ticks (Linux's classic wheel, IX's per-core wheel).
 *
 * Resolution: level 0 holds the next 256 ms at 1 ms, level 1 the next 65.5 s at 256 ms, level 2
 * the next 4.6 h at 65.5 s; longer delays are clamped to the wheel's span. A timer fires at or
 * after its expiry, never before, and at most one tick late.
 */
#ifndef TCP_TIMER_H
#define TCP_TIMER_H

#include <stdint.h>

#define TCP_TW_BITS    8
#define TCP_TW_SLOTS   (1u << TCP_TW_BITS)
#define TCP_TW_LEVELS  3
#define TCP_TW_TICK_US 1000u

struct tcp_timer {
	struct tcp_timer *next;
	struct tcp_timer **pprev; /* NULL when not armed */
	uint32_t expire;          /* absolute tick; wraps after 49 days, compared modulo 2^32 */
};

typedef void (*tcp_timer_cb)(void *arg, struct tcp_timer *t);

struct tcp_wheel {
	uint64_t now;     /* current tick: every tick before it has been run */
	uint32_t pending; /* armed timers; lets an empty wheel skip idle ticks in O(1) */
	uint64_t base_us; /* time of tick 0 */
	/* Level-0 slots that may be non-empty (set on insert, cleared when a run finds the slot
	 * empty): the run skips empty ticks a 64-bit word at a time. */
	uint64_t bm0[TCP_TW_SLOTS / 64];
	struct tcp_timer *slot[TCP_TW_LEVELS][TCP_TW_SLOTS];
};

void tcp_wheel_init(struct tcp_wheel *w, uint64_t now_us);

static inline int
tcp_timer_armed(const struct tcp_timer *t)
{
	return t->pprev != 0;
}

static inline uint32_t
tcp_wheel_tick(const struct tcp_wheel *w, uint64_t us)
{
	/* Round up: a timer never fires early. */
	return (uint32_t)((us - w->base_us + TCP_TW_TICK_US - 1) / TCP_TW_TICK_US);
}

/* Time (us) of the start of the wheel's current tick: what "now" is to the wheel. */
static inline uint64_t
tcp_wheel_now_us(const struct tcp_wheel *w)
{
	return w->base_us + w->now * TCP_TW_TICK_US;
}

/* Arm (or re-arm) `t` to fire at `expire_us`. O(1). */
void tcp_timer_arm(struct tcp_wheel *w, struct tcp_timer *t, uint64_t expire_us);
/* Disarm if armed. O(1). */
void tcp_timer_cancel(struct tcp_wheel *w, struct tcp_timer *t);
/* Advance to `now_us`, calling cb for each expired timer (disarmed before the call, so cb may
 * re-arm it). Stops after `budget` callbacks, leaving the rest for the next call. Returns the
 * number fired. Cost: O(fired) plus, per 256 ticks elapsed, one cascade and a scan of the
 * 4-word level-0 occupancy map; O(1) when the wheel is empty. */
int tcp_wheel_run(struct tcp_wheel *w, uint64_t now_us, int budget, tcp_timer_cb cb, void *arg);
/* A lower bound on the next expiry (UINT64_MAX when empty): exact for level 0, else the next
 * cascade. Cost: a scan of the 4-word occupancy map. */
uint64_t tcp_wheel_next(const struct tcp_wheel *w);

#endif

/* SPDX-License-Identifier: Apache-2.0
 * tachyon-impair decision engine, frame pool and per-direction delay queue.
 *
 * Pure code: no sockets, no clock (callers pass "now" in microseconds), so the unit test replays
 * it exactly. One engine instance per direction; each direction has its own PRNG stream, so the
 * decisions for the i-th frame of a direction depend only on (seed, direction, i): traffic in the
 * other direction, frame lengths and earlier outcomes never shift them.
 */
#ifndef IMPAIR_CORE_H
#define IMPAIR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMP_ETH_HLEN 14
/* Largest frame held: an MTU 1500 frame plus a re-inserted VLAN tag fits with room to spare. */
#define IMP_FRAME_MAX 2048
/* Random numbers drawn per frame, whatever the outcome (see imp_decide). */
#define IMP_DRAWS 8

/* xoshiro256** (Blackman/Vigna), seeded through splitmix64. Hand-rolled rather than rand_r() or
 * random_r(): those differ across libcs, while a reproduction recipe must give the same
 * decisions everywhere. */
struct imp_rng {
	uint64_t s[4];
};

void imp_rng_seed(struct imp_rng *r, uint64_t seed, uint64_t stream);
uint64_t imp_rng_next(struct imp_rng *r);

/* Impairment of one direction. Probabilities are in [0, 1]. */
struct imp_params {
	double loss;
	double dup;
	double corrupt;
	double reorder;
	uint32_t reorder_gap;    /* a held frame leaves after this many later frames left ... */
	uint64_t reorder_max_us; /* ... or after this long held, whichever comes first */
	uint64_t delay_us;
	uint64_t jitter_us; /* delay is uniform in [delay - jitter, delay + jitter], floored at 0 */
	uint64_t rate_bps;  /* 0: no rate cap */
};

struct imp_decision {
	bool drop;
	bool dup;
	bool corrupt;
	bool reorder;
	uint32_t corrupt_off; /* byte offset, >= IMP_ETH_HLEN, < frame length */
	uint8_t corrupt_mask; /* exactly one bit set */
	uint64_t delay_us;
	uint64_t dup_delay_us; /* the duplicate's own delay draw */
};

/* Decide the fate of one frame of frame_len bytes. Always draws IMP_DRAWS numbers. A frame too
 * short to have a byte past the Ethernet header is never corrupted. */
void imp_decide(struct imp_rng *r, const struct imp_params *p, uint32_t frame_len,
                struct imp_decision *d);

struct imp_frame {
	uint64_t release_us;  /* when the delay (and rate cap) lets it go */
	uint64_t seq;         /* arrival order in this direction, for ties and the ooo counter */
	uint64_t after;       /* held for reorder: leaves once the queue's 'passed' reaches this */
	uint64_t deadline_us; /* held for reorder: leaves at this time at the latest */
	uint32_t len;
	bool reorder;
	uint8_t data[IMP_FRAME_MAX];
};

struct imp_counters {
	uint64_t in, out, dropped, duplicated, corrupted, reordered, delayed;
	uint64_t overflow;     /* no free slot: frame (or duplicate) dropped */
	uint64_t ooo;          /* frames that left after a frame that arrived later */
	uint64_t oversize;     /* longer than IMP_FRAME_MAX: dropped */
	uint64_t partial_csum; /* kernel said the checksum was not filled in (offload still on) */
	uint64_t tx_errors;    /* send failed: frame lost */
	uint64_t kdrops;       /* dropped by the kernel before we read them (PACKET_STATISTICS) */
};

/* Frames of one direction: a fixed pool of slots, a binary heap ordered by (release_us, seq) and
 * a FIFO of frames held back for reordering. Memory is bounded by the slot count. */
struct imp_queue {
	struct imp_params p;
	struct imp_rng rng;
	struct imp_counters c;
	struct imp_frame *slots;
	struct imp_frame **free;
	uint32_t nfree;
	struct imp_frame **heap;
	uint32_t nheap;
	struct imp_frame *
	        *held; /* ring of cap entries: never overflows, frames come from the pool */
	uint32_t held_head, nheld;
	uint32_t cap;
	uint64_t next_seq;
	uint64_t decided;      /* decisions drawn: the PRNG position, for replaying a seed */
	uint64_t passed;       /* frames that left from the heap (held frames excluded) */
	uint64_t max_seq_out;  /* largest seq sent so far, +1 (0: none) */
	uint64_t link_free_us; /* rate cap: when the virtual link is idle again */
};

/* Returns 0 or -errno. */
int imp_queue_init(struct imp_queue *q, uint32_t cap, const struct imp_params *p, uint64_t seed,
                   uint64_t stream);
void imp_queue_fini(struct imp_queue *q);

/* A free slot to receive into, or NULL when all are held. */
struct imp_frame *imp_queue_slot(struct imp_queue *q);
void imp_queue_release(struct imp_queue *q, struct imp_frame *f);

/* Apply the direction's impairment to a frame just received into a slot from imp_queue_slot()
 * (f->data, f->len set). Takes ownership of f: it is dropped or queued. The decision is copied
 * to *d when d is not NULL (for tracing); it was decision number q->decided - 1. */
void imp_queue_input(struct imp_queue *q, struct imp_frame *f, uint64_t now_us,
                     struct imp_decision *d);

/* The next frame to send at now_us, or NULL. The caller sends it and calls imp_queue_release().
 * Counts out and ooo; a send failure is the caller's to count (tx_errors, and out-- ). */
struct imp_frame *imp_queue_pop(struct imp_queue *q, uint64_t now_us);

/* Earliest time imp_queue_pop() may return a frame; UINT64_MAX when nothing is queued. */
uint64_t imp_queue_next_us(const struct imp_queue *q);

/* Frames still queued or held. */
static inline uint32_t
imp_queue_pending(const struct imp_queue *q)
{
	return q->nheap + q->nheld;
}

/* One line "in=.. out=.. ..." of the counters, the format the self-tests parse. */
int imp_counters_format(const struct imp_counters *c, uint32_t pending, char *buf, size_t len);

#endif

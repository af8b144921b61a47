/* SPDX-License-Identifier: Apache-2.0
 * tachyon-impair: decisions, frame pool and delay queue (see impair_core.h). No I/O here.
 */
#include "impair_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
imp_rng_seed(struct imp_rng *r, uint64_t seed, uint64_t stream)
{
	/* Mixing the stream in through splitmix64 gives unrelated states for neighbouring seeds and
	 * streams, so direction b2a is not direction a2b shifted by one. */
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
imp_rng_next(struct imp_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1) with 53 bits: p = 0 never fires, p = 1 always does. */
static inline double
unit(uint64_t x)
{
	return (double)(x >> 11) * 0x1.0p-53;
}

static uint64_t
jittered(const struct imp_params *p, uint64_t r)
{
	int64_t v;

	if (p->jitter_us == 0)
		return p->delay_us;
	v = (int64_t)p->delay_us - (int64_t)p->jitter_us + (int64_t)(r % (2 * p->jitter_us + 1));
	return v < 0 ? 0 : (uint64_t)v;
}

void
imp_decide(struct imp_rng *r, const struct imp_params *p, uint32_t frame_len,
           struct imp_decision *d)
{
	uint64_t x[IMP_DRAWS];

	/* Draw everything first: the stream advances the same way whatever the outcome. */
	for (int i = 0; i < IMP_DRAWS; i++)
		x[i] = imp_rng_next(r);
	memset(d, 0, sizeof(*d));
	d->drop = unit(x[0]) < p->loss;
	if (d->drop)
		return;
	d->dup = unit(x[1]) < p->dup;
	if (frame_len > IMP_ETH_HLEN && unit(x[2]) < p->corrupt) {
		d->corrupt = true;
		d->corrupt_off = IMP_ETH_HLEN + (uint32_t)(x[3] % (frame_len - IMP_ETH_HLEN));
		d->corrupt_mask = (uint8_t)(1u << (x[4] & 7));
	}
	d->reorder = p->reorder_gap > 0 && unit(x[5]) < p->reorder;
	d->delay_us = jittered(p, x[6]);
	d->dup_delay_us = jittered(p, x[7]);
}

int
imp_queue_init(struct imp_queue *q, uint32_t cap, const struct imp_params *p, uint64_t seed,
               uint64_t stream)
{
	memset(q, 0, sizeof(*q));
	if (cap == 0)
		return -EINVAL;
	q->p = *p;
	q->cap = cap;
	imp_rng_seed(&q->rng, seed, stream);
	q->slots = calloc(cap, sizeof(*q->slots));
	q->free = calloc(cap, sizeof(*q->free));
	q->heap = calloc(cap, sizeof(*q->heap));
	q->held = calloc(cap, sizeof(*q->held));
	if (!q->slots || !q->free || !q->heap || !q->held) {
		imp_queue_fini(q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cap; i++)
		q->free[q->nfree++] = &q->slots[cap - 1 - i];
	return 0;
}

void
imp_queue_fini(struct imp_queue *q)
{
	free(q->slots);
	free(q->free);
	free(q->heap);
	free(q->held);
	q->slots = NULL;
	q->free = q->heap = q->held = NULL;
}

struct imp_frame *
imp_queue_slot(struct imp_queue *q)
{
	return q->nfree ? q->free[--q->nfree] : NULL;
}

void
imp_queue_release(struct imp_queue *q, struct imp_frame *f)
{
	q->free[q->nfree++] = f;
}

static inline bool
before(const struct imp_frame *a, const struct imp_frame *b)
{
	return a->release_us < b->release_us || (a->release_us == b->release_us && a->seq < b->seq);
}

/* Binary heap: O(log n) per push and pop, n <= cap. */
static void
heap_push(struct imp_queue *q, struct imp_frame *f)
{
	uint32_t i = q->nheap++;

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!before(f, q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
		i = parent;
	}
	q->heap[i] = f;
}

static struct imp_frame *
heap_pop(struct imp_queue *q)
{
	struct imp_frame *top = q->heap[0];
	struct imp_frame *last = q->heap[--q->nheap];
	uint32_t i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= q->nheap)
			break;
		if (c + 1 < q->nheap && before(q->heap[c + 1], q->heap[c]))
			c++;
		if (!before(q->heap[c], last))
			break;
		q->heap[i] = q->heap[c];
		i = c;
	}
	if (q->nheap)
		q->heap[i] = last;
	return top;
}

static void
enqueue(struct imp_queue *q, struct imp_frame *f, uint64_t now_us, uint64_t delay_us, bool reorder)
{
	uint64_t release = now_us + delay_us;

	if (delay_us)
		q->c.delayed++;
	if (q->p.rate_bps) {
		/* Serialise on a virtual link after the delay: the frame starts when the link is
		 * free and leaves when its last bit would have. */
		uint64_t start = release > q->link_free_us ? release : q->link_free_us;

		release = start + (uint64_t)f->len * 8 * 1000000 / q->p.rate_bps;
		q->link_free_us = release;
	}
	f->release_us = release;
	f->seq = q->next_seq++;
	f->reorder = reorder;
	heap_push(q, f);
}

void
imp_queue_input(struct imp_queue *q, struct imp_frame *f, uint64_t now_us, struct imp_decision *out)
{
	struct imp_decision d;
	struct imp_frame *dup = NULL;

	q->c.in++;
	q->decided++;
	imp_decide(&q->rng, &q->p, f->len, &d);
	if (out)
		*out = d;
	if (d.drop) {
		q->c.dropped++;
		imp_queue_release(q, f);
		return;
	}
	if (d.dup) {
		/* The copy is taken before corruption and gets its own delay but no reordering. */
		dup = imp_queue_slot(q);
		if (dup) {
			memcpy(dup->data, f->data, f->len);
			dup->len = f->len;
			q->c.duplicated++;
		} else {
			q->c.overflow++;
		}
	}
	if (d.corrupt) {
		f->data[d.corrupt_off] ^= d.corrupt_mask;
		q->c.corrupted++;
	}
	enqueue(q, f, now_us, d.delay_us, d.reorder);
	if (dup)
		enqueue(q, dup, now_us, d.dup_delay_us, false);
}

static struct imp_frame *
depart(struct imp_queue *q, struct imp_frame *f)
{
	q->c.out++;
	if (q->max_seq_out > f->seq)
		q->c.ooo++;
	else
		q->max_seq_out = f->seq + 1;
	return f;
}

struct imp_frame *
imp_queue_pop(struct imp_queue *q, uint64_t now_us)
{
	struct imp_frame *f;

	for (;;) {
		/* The held ring is in hold order, and both 'after' and 'deadline' grow with it, so
		 * only its head can be due. */
		if (q->nheld) {
			f = q->held[q->held_head];
			if (q->passed >= f->after || now_us >= f->deadline_us) {
				q->held_head = (q->held_head + 1) % q->cap;
				q->nheld--;
				return depart(q, f);
			}
		}
		if (q->nheap == 0 || q->heap[0]->release_us > now_us)
			return NULL;
		f = heap_pop(q);
		if (!f->reorder) {
			q->passed++;
			return depart(q, f);
		}
		f->reorder = false;
		f->after = q->passed + q->p.reorder_gap;
		f->deadline_us = now_us + q->p.reorder_max_us;
		q->held[(q->held_head + q->nheld) % q->cap] = f;
		q->nheld++;
		q->c.reordered++;
	}
}

uint64_t
imp_queue_next_us(const struct imp_queue *q)
{
	uint64_t t = UINT64_MAX;

	if (q->nheap)
		t = q->heap[0]->release_us;
	if (q->nheld && q->held[q->held_head]->deadline_us < t)
		t = q->held[q->held_head]->deadline_us;
	return t;
}

int
imp_counters_format(const struct imp_counters *c, uint32_t pending, char *buf, size_t len)
{
	return snprintf(buf, len,
	                "in=%llu out=%llu dropped=%llu duplicated=%llu corrupted=%llu "
	                "reordered=%llu delayed=%llu overflow=%llu ooo=%llu oversize=%llu "
	                "partial_csum=%llu tx_errors=%llu kdrops=%llu pending=%u",
	                (unsigned long long)c->in, (unsigned long long)c->out,
	                (unsigned long long)c->dropped, (unsigned long long)c->duplicated,
	                (unsigned long long)c->corrupted, (unsigned long long)c->reordered,
	                (unsigned long long)c->delayed, (unsigned long long)c->overflow,
	                (unsigned long long)c->ooo, (unsigned long long)c->oversize,
	                (unsigned long long)c->partial_csum, (unsigned long long)c->tx_errors,
	                (unsigned long long)c->kdrops, pending);
}

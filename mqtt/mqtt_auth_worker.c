/* SPDX-License-Identifier: Apache-2.0
 * Login verification off the data path: per-lcore SPSC rings to one hashing thread.
 *
 * The rings are hand-rolled because mqtt/ builds without DPDK (no rte_ring); they are the
 * classic Lamport single-producer/single-consumer queue with C11 acquire/release indices.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt/mqtt_auth.h"
#include "mqtt/mqtt_auth_hmac.h"
#include "mqtt/mqtt_auth_pvt.h"

#define BATCH 16

struct req {
	uint64_t cookie;
	uint16_t userlen;
	uint16_t passlen;
	char user[MQTT_PASSWD_MAX_USER + 1];
	uint8_t pass[MQTT_AUTH_REQ_MAX_PASS];
};

struct ring_idx {
	_Atomic uint32_t head __attribute__((aligned(64))); /* written by the producer */
	_Atomic uint32_t tail __attribute__((aligned(64))); /* written by the consumer */
};

struct queue {
	struct ring_idx rq; /* lcore -> worker */
	struct ring_idx aq; /* worker -> lcore */
	struct req *reqs;
	struct mqtt_auth_result *ans;
};

struct mqtt_auth_worker {
	pthread_t thread;
	_Atomic bool stop;
	_Atomic(struct mqtt_passwd *) pw;
	_Atomic uint64_t epoch; /* batches started: set_passwd waits for it to move */
	unsigned nq;
	uint32_t mask;
	struct queue *q;
};

static bool
ring_full(const struct ring_idx *r, uint32_t mask)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) -
	               atomic_load_explicit(&r->tail, memory_order_acquire) >
	       mask;
}

static bool
ring_empty(const struct ring_idx *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) ==
	       atomic_load_explicit(&r->tail, memory_order_relaxed);
}

static void
ring_push(struct ring_idx *r)
{
	atomic_fetch_add_explicit(&r->head, 1, memory_order_release);
}

static void
ring_pop(struct ring_idx *r)
{
	atomic_fetch_add_explicit(&r->tail, 1, memory_order_release);
}

int
mqtt_auth_worker_submit(struct mqtt_auth_worker *w, unsigned q, uint64_t cookie, const char *user,
                        const void *pass, size_t passlen)
{
	if (w == NULL || q >= w->nq || (pass == NULL && passlen != 0))
		return -EINVAL;
	size_t ul = user ? strlen(user) : 0;
	if (ul > MQTT_PASSWD_MAX_USER || passlen > MQTT_AUTH_REQ_MAX_PASS)
		return -E2BIG;
	struct queue *qq = &w->q[q];
	if (ring_full(&qq->rq, w->mask))
		return -EAGAIN;
	struct req *r =
	        &qq->reqs[atomic_load_explicit(&qq->rq.head, memory_order_relaxed) & w->mask];
	r->cookie = cookie;
	r->userlen = (uint16_t)ul;
	r->passlen = (uint16_t)passlen;
	memcpy(r->user, user ? user : "", ul + 1);
	if (passlen)
		memcpy(r->pass, pass, passlen);
	ring_push(&qq->rq);
	return 0;
}

unsigned
mqtt_auth_worker_poll(struct mqtt_auth_worker *w, unsigned q, struct mqtt_auth_result *out,
                      unsigned n)
{
	struct queue *qq = &w->q[q];
	unsigned k = 0;

	while (k < n && !ring_empty(&qq->aq)) {
		uint32_t t = atomic_load_explicit(&qq->aq.tail, memory_order_relaxed);
		out[k++] = qq->ans[t & w->mask];
		ring_pop(&qq->aq);
	}
	return k;
}

/* One batch: take up to BATCH requests across the queues whose answer ring has room, hash them
 * together, answer. Returns how many were handled. */
static unsigned
worker_batch(struct mqtt_auth_worker *w, const struct mqtt_passwd *pw)
{
	struct mqtt_pbkdf2_req pr[BATCH];
	const uint8_t *want[BATCH];
	unsigned from[BATCH];
	int known[BATCH];
	struct req *src[BATCH];
	unsigned n = 0;

	/* Fair: one request per queue per round until the batch is full. */
	for (bool more = true; more && n < BATCH;) {
		more = false;
		for (unsigned q = 0; q < w->nq && n < BATCH; q++) {
			struct queue *qq = &w->q[q];
			uint32_t taken = 0;
			for (unsigned i = 0; i < n; i++)
				taken += from[i] == q;
			uint32_t t =
			        atomic_load_explicit(&qq->rq.tail, memory_order_relaxed) + taken;
			uint32_t h = atomic_load_explicit(&qq->rq.head, memory_order_acquire);
			uint32_t ah = atomic_load_explicit(&qq->aq.head, memory_order_relaxed);
			uint32_t at = atomic_load_explicit(&qq->aq.tail, memory_order_acquire);
			if (t == h || ah + taken - at > w->mask)
				continue;
			struct req *r = &qq->reqs[t & w->mask];
			size_t saltlen;
			uint32_t iter;
			const uint8_t *salt;
			known[n] = mqtt_passwd_entry(pw, r->user, &salt, &saltlen, &iter, &want[n]);
			pr[n] = (struct mqtt_pbkdf2_req){.pw = r->pass,
			                                 .pwlen = r->passlen,
			                                 .salt = salt,
			                                 .saltlen = saltlen,
			                                 .iter = iter};
			src[n] = r;
			from[n++] = q;
			more = true;
		}
	}
	if (n == 0)
		return 0;
	int rc = mqtt_pbkdf2_sha512_batch(pr, n);
	for (unsigned i = 0; i < n; i++) {
		struct queue *qq = &w->q[from[i]];
		uint32_t ah = atomic_load_explicit(&qq->aq.head, memory_order_relaxed);
		struct mqtt_auth_result *a = &qq->ans[ah & w->mask];
		a->cookie = src[i]->cookie;
		a->generation = mqtt_passwd_generation(pw);
		a->rc = rc == 0 && known[i] && pw != NULL &&
		                        mqtt_ct_memcmp(pr[i].out, want[i], MQTT_PASSWD_HASH_LEN) ==
		                                0
		                ? 0
		                : -EACCES;
		explicit_bzero(src[i]->pass, src[i]->passlen);
		explicit_bzero(pr[i].out, sizeof(pr[i].out));
		ring_push(&qq->aq);
		ring_pop(&qq->rq);
	}
	return n;
}

static void *
worker_main(void *arg)
{
	struct mqtt_auth_worker *w = arg;

	while (!atomic_load(&w->stop)) {
		struct mqtt_passwd *pw = atomic_load(&w->pw);
		atomic_fetch_add(&w->epoch, 1);
		if (worker_batch(w, pw) == 0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	mqtt_auth_imb_release();
	return NULL;
}

struct mqtt_auth_worker *
mqtt_auth_worker_new(unsigned nq, unsigned depth)
{
	struct mqtt_auth_worker *w;
	uint32_t size = 2;

	if (nq == 0 || depth == 0 || depth > (1u << 20)) {
		errno = EINVAL;
		return NULL;
	}
	while (size < depth)
		size <<= 1;
	w = aligned_alloc(64, (sizeof(*w) + 63) & ~(size_t)63);
	if (w == NULL)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->nq = nq;
	w->mask = size - 1;
	w->q = aligned_alloc(64, ((sizeof(*w->q) * nq) + 63) & ~(size_t)63);
	if (w->q == NULL)
		goto fail;
	memset(w->q, 0, sizeof(*w->q) * nq);
	for (unsigned i = 0; i < nq; i++) {
		w->q[i].reqs = calloc(size, sizeof(struct req));
		w->q[i].ans = calloc(size, sizeof(struct mqtt_auth_result));
		if (w->q[i].reqs == NULL || w->q[i].ans == NULL)
			goto fail;
	}
	int e = pthread_create(&w->thread, NULL, worker_main, w);
	if (e != 0) {
		errno = e;
		goto fail;
	}
	return w;
fail:;
	int saved = errno;
	for (unsigned i = 0; w->q != NULL && i < nq; i++) {
		free(w->q[i].reqs);
		free(w->q[i].ans);
	}
	free(w->q);
	free(w);
	errno = saved ? saved : ENOMEM;
	return NULL;
}

void
mqtt_auth_worker_free(struct mqtt_auth_worker *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	for (unsigned i = 0; i < w->nq; i++) {
		explicit_bzero(w->q[i].reqs, (w->mask + 1) * sizeof(struct req));
		free(w->q[i].reqs);
		free(w->q[i].ans);
	}
	free(w->q);
	free(w);
}

struct mqtt_passwd *
mqtt_auth_worker_set_passwd(struct mqtt_auth_worker *w, struct mqtt_passwd *pw)
{
	struct mqtt_passwd *old = atomic_exchange(&w->pw, pw);
	/* Two epoch steps: the batch that may have loaded old has finished. */
	uint64_t e = atomic_load(&w->epoch);
	while (atomic_load(&w->epoch) < e + 2 && !atomic_load(&w->stop)) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return old;
}

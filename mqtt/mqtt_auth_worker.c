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

/* An answer: the public result, plus the login's cache key when the queue has a cache. */
struct ans {
	struct mqtt_auth_result r;
	uint8_t mac[32];
	uint8_t has_mac;
};

struct queue {
	struct ring_idx rq; /* lcore -> worker */
	struct ring_idx aq; /* worker -> lcore */
	struct req *reqs;
	struct ans *ans;
	const struct mqtt_cred_cache *cache; /* set before the first submit; read-only here */
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

/* Up to n answers of queue q; accepted logins enter cache when one is given. */
static unsigned
poll_answers(struct mqtt_auth_worker *w, unsigned q, struct mqtt_auth_result *out, unsigned n,
             struct mqtt_cred_cache *cache)
{
	struct queue *qq = &w->q[q];
	unsigned k = 0;

	while (k < n && !ring_empty(&qq->aq)) {
		uint32_t t = atomic_load_explicit(&qq->aq.tail, memory_order_relaxed);
		struct ans *a = &qq->ans[t & w->mask];
		out[k++] = a->r;
		if (cache != NULL && a->has_mac && a->r.rc == 0)
			mqtt_cred_cache_insert_mac(cache, a->mac);
		ring_pop(&qq->aq);
	}
	return k;
}

unsigned
mqtt_auth_worker_poll(struct mqtt_auth_worker *w, unsigned q, struct mqtt_auth_result *out,
                      unsigned n)
{
	return poll_answers(w, q, out, n, NULL);
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
		struct ans *a = &qq->ans[ah & w->mask];
		int ok = rc == 0 && known[i] && pw != NULL &&
		         mqtt_ct_memcmp(pr[i].out, want[i], MQTT_PASSWD_HASH_LEN) == 0;
		a->r.cookie = src[i]->cookie;
		a->r.generation = mqtt_passwd_generation(pw);
		a->r.rc = ok ? 0 : -EACCES;
		/* The lcore's cache key, computed here so the lcore never keeps the password. */
		a->has_mac = ok && qq->cache != NULL &&
		             mqtt_cred_cache_mac(qq->cache, a->r.generation, src[i]->user,
		                                 src[i]->pass, src[i]->passlen, a->mac) == 0;
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
		w->q[i].ans = calloc(size, sizeof(struct ans));
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

/* ---- per-lcore front end ----------------------------------------------------------------- */

struct mqtt_auth_lcore {
	struct mqtt_auth_worker *w;
	unsigned q;
	struct mqtt_cred_cache *cache;
};

struct mqtt_auth_lcore *
mqtt_auth_lcore_new(struct mqtt_auth_worker *w, unsigned q, unsigned cache_capacity)
{
	if (w == NULL || q >= w->nq) {
		errno = EINVAL;
		return NULL;
	}
	struct mqtt_auth_lcore *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->w = w;
	a->q = q;
	a->cache = mqtt_cred_cache_new(cache_capacity);
	if (a->cache == NULL) {
		free(a);
		return NULL;
	}
	w->q[q].cache = a->cache;
	return a;
}

void
mqtt_auth_lcore_free(struct mqtt_auth_lcore *a)
{
	if (a == NULL)
		return;
	a->w->q[a->q].cache = NULL;
	mqtt_cred_cache_free(a->cache);
	free(a);
}

int
mqtt_auth_lcore_login(struct mqtt_auth_lcore *a, const struct mqtt_passwd *pw, int allow_anonymous,
                      uint64_t cookie, const char *user, const void *pass, size_t passlen)
{
	/* No user name, or no password file: the listener's anonymous policy decides. */
	if (user == NULL || pw == NULL)
		return allow_anonymous ? 0 : -EACCES;
	if (mqtt_cred_cache_lookup(a->cache, mqtt_passwd_generation(pw), user, pass, passlen) == 1)
		return 0;
	int rc = mqtt_auth_worker_submit(a->w, a->q, cookie, user, pass, passlen);
	return rc == 0 ? -EINPROGRESS : rc;
}

unsigned
mqtt_auth_lcore_poll(struct mqtt_auth_lcore *a, struct mqtt_auth_result *out, unsigned n)
{
	return poll_answers(a->w, a->q, out, n, a->cache);
}

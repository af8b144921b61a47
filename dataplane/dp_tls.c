/* SPDX-License-Identifier: Apache-2.0
 * TLS listeners in tachyond: the dataplane side of dataplane/tls (docs/security.md, "TLS").
 *
 *   TCP readable -> tls_conn_feed (ciphertext queued, TCP window reopened) -> dirty list
 *   dp_tls_poll, once per loop iteration:
 *     tls_decrypt_burst over the dirty connections (handshakes bounded by the budget)
 *       -> handshake output and plaintext -> mqtt_conn_input (may produce MQTT output)
 *     tls_encrypt_burst over the connections with plaintext queued -> tcp_send
 *   MQTT output -> tls_conn_write (copied), connection marked dirty
 *
 * A connection stays on the dirty list while it has unopened records, unsealed plaintext or
 * ciphertext TCP has not taken yet. Cost per poll: O(dirty connections + bytes).
 */
#include <errno.h>
#include <string.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp_sec.h"

/* Handshakes advanced per poll cycle: ~0.5 ms of ECDHE+signature each, so a storm costs an
 * established connection at most ~2 ms of extra latency per cycle. */
#define DP_TLS_HANDSHAKE_BUDGET 4
/* Ciphertext + unsealed plaintext held per connection before the broker sees back-pressure. */
#define DP_TLS_MAX_PENDING (256u * 1024)

int
dp_tls_active(const struct dp_sec_conn *s)
{
	return s != NULL && s->tls != NULL;
}

int
dp_tls_lcore_init(struct dp_sec_lcore *sl)
{
	int socket = (int)rte_lcore_to_socket_id(sl->ls->lcore_id);
	int any = 0;

	for (unsigned int i = 0; i < DP_MAX_LISTENERS; i++)
		any |= dp_sec_listener_tls(i) != NULL;
	if (!any)
		return 0;
	sl->eng = tls_engine_new();
	if (sl->eng == NULL)
		return -errno;
	tls_engine_set_handshake_budget(sl->eng, DP_TLS_HANDSHAKE_BUDGET);
	sl->dirty = rte_malloc_socket("dp_tls_dirty", sizeof(*sl->dirty) * sl->n_conns, 0, socket);
	sl->burst = rte_malloc_socket("dp_tls_burst", sizeof(*sl->burst) * sl->n_conns, 0, socket);
	return sl->dirty && sl->burst ? 0 : -ENOMEM;
}

void
dp_tls_lcore_fini(struct dp_sec_lcore *sl)
{
	if (sl->eng != NULL)
		tls_engine_free(sl->eng);
	sl->eng = NULL;
	rte_free(sl->dirty);
	rte_free(sl->burst);
	sl->dirty = NULL;
	sl->burst = NULL;
}

static void
dp_tls_mark(struct dp_sec_conn *s)
{
	struct dp_sec_lcore *sl = s->sl;

	if (s->dirty)
		return;
	s->dirty = 1;
	s->dirty_idx = sl->n_dirty;
	sl->dirty[sl->n_dirty++] = s;
}

static void
dp_tls_unmark(struct dp_sec_conn *s)
{
	struct dp_sec_lcore *sl = s->sl;
	struct dp_sec_conn *last;

	if (!s->dirty)
		return;
	last = sl->dirty[--sl->n_dirty];
	sl->dirty[s->dirty_idx] = last;
	last->dirty_idx = s->dirty_idx;
	s->dirty = 0;
}

void
dp_tls_forget(struct dp_sec_conn *s)
{
	dp_tls_unmark(s);
}

/* Ciphertext to TCP, as much as it takes. Returns bytes still pending. */
static size_t
dp_tls_push(struct dp_sec_conn *s)
{
	const uint8_t *p;
	size_t len;

	while ((len = tls_conn_output(s->tls, &p)) > 0) {
		ssize_t n = tcp_send(s->tcp, p, len);

		/* -EAGAIN: TCP reports writable later; closed: dropped when the conn is freed */
		if (n <= 0)
			return len;
		tls_conn_output_consume(s->tls, (size_t)n);
	}
	return 0;
}

void
dp_tls_readable(struct dp_sec_conn *s)
{
	struct iovec iov[16];
	int n;

	/* Feed what TCP holds; -ENOBUFS (256 KiB unprocessed) leaves the rest in TCP's window,
	 * so a client that outruns the decrypt bursts is throttled by TCP flow control. */
	while ((n = tcp_recv_peek(s->tcp, iov, RTE_DIM(iov))) > 0) {
		size_t done = 0;
		int stop = 0;

		for (int i = 0; i < n && !stop; i++) {
			if (tls_conn_feed(s->tls, iov[i].iov_base, iov[i].iov_len) < 0)
				stop = 1;
			else
				done += iov[i].iov_len;
		}
		tcp_recv_consume(s->tcp, done);
		if (stop)
			break;
	}
	dp_tls_mark(s);
}

ssize_t
dp_tls_send(struct dp_sec_conn *s, const void *buf, size_t len)
{
	const uint8_t *p;
	size_t pending = tls_conn_unsealed(s->tls) + tls_conn_output(s->tls, &p);

	if (tls_conn_state(s->tls) != TLS_OPEN)
		return -EPIPE;
	if (pending >= DP_TLS_MAX_PENDING) {
		s->blocked = 1;
		return 0;
	}
	if (len > DP_TLS_MAX_PENDING - pending) {
		len = DP_TLS_MAX_PENDING - pending;
		s->blocked = 1;
	}
	if (tls_conn_write(s->tls, buf, len) < 0)
		return -EPIPE;
	dp_tls_mark(s);
	return (ssize_t)len;
}

void
dp_tls_writable(struct dp_sec_conn *s)
{
	dp_tls_push(s); /* what TCP still refuses waits for its next writable event */
}

void
dp_tls_shutdown(struct dp_sec_conn *s)
{
	struct tls_conn *t = s->tls;

	if (tls_conn_state(t) == TLS_OPEN) {
		tls_conn_close(t);
		tls_encrypt_burst(s->sl->eng, &t, 1);
	}
	dp_tls_push(s);
}

/* Plaintext to the broker; returns 0 when the connection is closing. */
static int
dp_tls_deliver(struct dp_sec_conn *s)
{
	const uint8_t *p;
	size_t len;

	while ((len = tls_conn_input(s->tls, &p)) > 0) {
		if (dp_conn_deliver(s->dc, p, len) < 0) {
			tls_conn_input_consume(s->tls, len);
			return 0;
		}
		tls_conn_input_consume(s->tls, len);
	}
	return 1;
}

int
dp_tls_poll(struct dp_sec_lcore *sl)
{
	uint32_t n = sl->n_dirty, m = 0;
	int work = n > 0;

	if (n == 0)
		return 0;
	/* The list may grow while we deliver (fan-out to other TLS subscribers): work on a copy
	 * of this cycle's connections; later additions wait for the next cycle. */
	for (uint32_t i = 0; i < n; i++)
		sl->burst[i] = sl->dirty[i]->tls;
	tls_decrypt_burst(sl->eng, sl->burst, n);
	for (uint32_t i = 0; i < n; i++) {
		struct dp_sec_conn *s = sl->dirty[i];
		enum tls_state st = tls_conn_state(s->tls);

		if (st == TLS_FAILED) {
			/* The alert goes out, then the FIN; the last loop drops it. */
			sl->st.tls_failed++;
			dp_tls_push(s);
			dp_conn_shutdown(s->dc);
			continue;
		}
		if (st != TLS_HANDSHAKE && !s->opened) {
			s->opened = 1;
			sl->st.tls_open++;
		}
		/* A FIN (or close_notify) closes once everything before it reached the broker. */
		if (dp_tls_deliver(s) && (st == TLS_PEER_CLOSED ||
		                          (tcp_recv_eof(s->tcp) && tcp_recv_avail(s->tcp) == 0 &&
		                           !tls_conn_has_records(s->tls))))
			dp_conn_shutdown(s->dc);
	}
	/* Seal what the broker wrote (this cycle's deliveries and earlier output). */
	n = sl->n_dirty;
	for (uint32_t i = 0; i < n; i++)
		if (tls_conn_unsealed(sl->dirty[i]->tls) > 0)
			sl->burst[m++] = sl->dirty[i]->tls;
	if (m > 0)
		tls_encrypt_burst(sl->eng, sl->burst, m);
	for (uint32_t i = 0; i < sl->n_dirty;) {
		struct dp_sec_conn *s = sl->dirty[i];
		size_t left = dp_tls_push(s);

		if (s->blocked && left + tls_conn_unsealed(s->tls) < DP_TLS_MAX_PENDING / 2) {
			s->blocked = 0;
			dp_conn_resume(s->dc);
		}
		/* Ciphertext TCP did not take waits for TCP's writable event (dp_tls_writable), not
		 * on this list: a slow reader must not keep the lcore from idling. */
		if (tls_conn_state(s->tls) == TLS_FAILED ||
		    (!tls_conn_has_records(s->tls) && !tls_conn_unsealed(s->tls))) {
			dp_tls_unmark(s); /* moves the last entry to i */
			continue;
		}
		i++;
	}
	return work;
}

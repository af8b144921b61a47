/* SPDX-License-Identifier: Apache-2.0
 * The glue between a TCP connection (tcpstack events) and an MQTT connection (broker core).
 *
 * One struct dp_conn per accepted connection, taken from a per-lcore mempool sized at start, so
 * accepting never calls malloc and a connection flood ends at max_conns with a refusal instead
 * of memory exhaustion. Every handler runs on the owning lcore inside tcp_stack_input/timers/
 * flush, which never call back from inside our own tcp_* calls: so a handler may close its
 * connection and the dp_conn stays valid until ops->closed.
 *
 * Keep-alive timers live on a per-lcore instance of tcpstack's timer wheel (O(1) arm and cancel
 * on a timer embedded here, no allocation), separate from the stack's own so that expiring
 * keep-alives never compete with retransmissions for the stack's per-call budget.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "dp_pvt.h"
#include "dp_sec.h"
#include "dp_ws.h"

/* A graceful close waits this long for the broker's held-back bytes to drain before the FIN;
 * a peer that stops reading gets a reset instead of pinning the connection forever. */
#define DP_CONN_LINGER_US (10 * 1000000u)

struct dp_conn {
	struct tcp_timer ka; /* keep-alive (or linger); re-armed lazily */
	uint64_t ka_expire_us;
	TAILQ_ENTRY(dp_conn) link;
	struct tcp_conn *tcp;
	struct mqtt_conn *mqtt;
	struct dp_lcore *ls;
	struct dp_sec_conn *sec; /* identity, parked login, TLS (dp_sec.h) */
	struct dp_ws_conn *ws;   /* WebSocket listeners only (dp_ws.h), else NULL */
	uint8_t closing;     /* close requested (broker, peer FIN, shutdown): input is dropped */
	uint8_t fin_pending; /* graceful close waiting for mqtt_conn_pending() to reach 0 */
	uint8_t tcp_closed;  /* tcp_close/tcp_abort called: no more sends */
};

static void dp_mqtt_close(void *io, int abortive);

/* Bytes held back above TCP: the broker's, and the WebSocket layer's own (frame header tails,
 * pongs, the close frame; pushed to TCP by this call). A graceful close waits for both. */
static size_t
dp_conn_pending(struct dp_conn *dc)
{
	return mqtt_conn_pending(dc->mqtt) + (dc->ws != NULL ? dp_ws_writable(dc->ws) : 0);
}

int
dp_conn_pool_create(struct dp_lcore *ls, uint32_t max_conns)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "dp_conns_%u", ls->lcore_id);
	/* Single producer and consumer: only the owning lcore gets and puts. */
	ls->conn_pool = rte_mempool_create(name, max_conns, sizeof(struct dp_conn), 0, 0, NULL,
	                                   NULL, NULL, NULL, rte_lcore_to_socket_id(ls->lcore_id),
	                                   RTE_MEMPOOL_F_SP_PUT | RTE_MEMPOOL_F_SC_GET);
	return ls->conn_pool ? 0 : -rte_errno;
}

static void
dp_conn_arm(struct dp_conn *dc, uint64_t expire_us)
{
	dc->ka_expire_us = expire_us;
	tcp_timer_arm(dc->ls->wheel, &dc->ka, expire_us);
}

/* Arm the keep-alive timer if the broker now wants one earlier than what is armed. Called after
 * input, so the common case (deadline moved later) costs two loads and a compare: the timer
 * keeps its old, earlier expiry and re-arms itself when it fires. */
static void
dp_conn_rearm(struct dp_conn *dc)
{
	uint64_t d = mqtt_conn_deadline(dc->mqtt);

	if (d == UINT64_MAX)
		return;
	if (!tcp_timer_armed(&dc->ka) || d < dc->ka_expire_us)
		dp_conn_arm(dc, d);
}

/* Once our side has sent FIN or RST the MQTT connection is over, whatever the peer does next: a
 * dead peer must not hold back a will (or a session's detach) for the minutes TCP may spend
 * retransmitting the FIN. The broker is told on the next timer tick rather than here, because
 * these paths run inside the broker's own close op (mqtt.h: never call mqtt_conn_closed from
 * there). The keep-alive timer is free by now, so this costs no allocation. */
static void
dp_conn_detach_soon(struct dp_conn *dc)
{
	dp_conn_arm(dc, dc->ls->now_us);
}

static void
dp_conn_detach(struct dp_conn *dc)
{
	if (dc->mqtt == NULL)
		return;
	dp_sec_conn_set_mqtt(dc->sec, NULL);
	mqtt_conn_closed(dc->mqtt, dc->ls->now_us);
	dc->mqtt = NULL;
}

/* Both ends are done: FIN after the queued data. */
static void
dp_conn_fin(struct dp_conn *dc)
{
	dc->fin_pending = 0;
	dc->tcp_closed = 1;
	dp_conn_detach_soon(dc);
	if (dp_tls_active(dc->sec))
		dp_tls_shutdown(dc->sec); /* close_notify after the sealed data */
	if (dc->ws != NULL)
		dp_ws_shutdown(dc->ws); /* a close frame (1000) unless one went out */
	tcp_close(dc->tcp);
}

static void
dp_conn_reset(struct dp_conn *dc)
{
	dc->closing = 1;
	dc->fin_pending = 0;
	dc->tcp_closed = 1;
	dp_conn_detach_soon(dc);
	tcp_abort(dc->tcp);
}

static void
dp_conn_ka_fire(void *arg, struct tcp_timer *t)
{
	struct dp_conn *dc = container_of(t, struct dp_conn, ka);
	struct dp_lcore *ls = arg;

	if (dc->tcp_closed) {
		dp_conn_detach(dc);
		return;
	}
	if (dc->fin_pending) {
		dp_conn_reset(dc); /* linger expired */
		return;
	}
	if (dc->closing)
		return;
	if (mqtt_conn_deadline(dc->mqtt) <= ls->now_us)
		mqtt_conn_timeout(dc->mqtt, ls->now_us);
	if (!dc->closing)
		dp_conn_rearm(dc);
}

int
dp_conn_timers_run(struct dp_lcore *ls)
{
	/* 4096 expiries per iteration bound the pause a mass timeout can cause (each one may
	 * publish a will); the rest follow on the next iterations. */
	return tcp_wheel_run(ls->wheel, ls->now_us, 4096, dp_conn_ka_fire, ls);
}

static void *
dp_tcp_accepted(void *listener_ctx, struct tcp_conn *c)
{
	const struct dp_listen_ctx *lc = listener_ctx;
	struct dp_lcore *ls = lc->ls;
	struct dp_conn *dc;

	if (rte_mempool_get(ls->conn_pool, (void **)&dc) < 0)
		return NULL; /* at max_conns: the stack resets the connection */
	*dc = (struct dp_conn){.tcp = c, .ls = ls};
	dc->sec = dp_sec_conn_open(ls, dc, lc->idx, c);
	if (dc->sec == NULL) {
		rte_mempool_put(ls->conn_pool, dc);
		return NULL;
	}
	if (dp_ws_listener(lc->idx) &&
	    (dc->ws = dp_ws_open(dc, c, (int)rte_lcore_to_socket_id(ls->lcore_id))) == NULL) {
		dp_sec_conn_close(dc->sec);
		rte_mempool_put(ls->conn_pool, dc);
		return NULL;
	}
	dc->mqtt = mqtt_conn_open(ls->broker, dc, ls->now_us);
	if (dc->mqtt == NULL) {
		dp_ws_close(dc->ws);
		dp_sec_conn_close(dc->sec);
		rte_mempool_put(ls->conn_pool, dc);
		return NULL;
	}
	dp_sec_conn_set_mqtt(dc->sec, dc->mqtt);
	TAILQ_INSERT_TAIL(&ls->conns, dc, link);
	dp_conn_rearm(dc);
	return dc;
}

static void
dp_tcp_connected(void *conn_ctx, struct tcp_conn *c)
{
	/* Active opens are dp_connect.c's (dp_stack_ops hands their events to their dp_peer);
	 * a dp_conn is only ever accepted, so this cannot happen: refuse the connection. */
	RTE_SET_USED(conn_ctx);
	tcp_abort(c);
}

static void
dp_tcp_readable(void *conn_ctx, struct tcp_conn *c)
{
	struct dp_conn *dc = conn_ctx;
	struct iovec iov[16];
	int n;

	if (dp_tls_active(dc->sec)) {
		/* Ciphertext goes to the record layer; dp_tls_poll hands the plaintext to the
		 * broker, and closes once a peer's FIN has been decrypted up to its end. */
		if (dc->closing)
			tcp_recv_consume(c, tcp_recv_avail(c));
		else
			dp_tls_readable(dc->sec);
		return;
	}
	if (dc->ws != NULL) {
		/* Upgrade request, then frames unmasked into the broker's stream (dp_ws.c). */
		if (dc->closing)
			tcp_recv_consume(c, tcp_recv_avail(c));
		else
			dp_ws_readable(dc->ws);
		if (!dc->closing && tcp_recv_eof(c) && tcp_recv_avail(c) == 0)
			dp_mqtt_close(dc, 0); /* no close frame from the peer: the will is due */
		return;
	}
	/* Each pass hands the broker up to 16 contiguous runs (one per queued segment) and
	 * releases them, which reopens the window; bounded by what is queued. */
	while ((n = tcp_recv_peek(c, iov, RTE_DIM(iov))) > 0) {
		size_t done = 0;

		for (int i = 0; i < n && !dc->closing; i++) {
			if (mqtt_conn_input(dc->mqtt, iov[i].iov_base, iov[i].iov_len,
			                    dc->ls->now_us) < 0)
				break; /* the broker has called close */
			done += iov[i].iov_len;
		}
		if (dc->closing) {
			/* DISCONNECT or a violation: what follows is discarded with the connection
			 * (consumed, so a graceful close is not turned into a reset). */
			tcp_recv_consume(c, tcp_recv_avail(c));
			return;
		}
		tcp_recv_consume(c, done);
	}
	if (tcp_recv_eof(c)) {
		/* Peer half-closed. MQTT has no half-open use: finish our side too; the broker
		 * learns of it in ops->closed (and publishes the will if the peer had not sent
		 * DISCONNECT). */
		dp_mqtt_close(dc, 0);
		return;
	}
	dp_conn_rearm(dc);
}

static void
dp_tcp_writable(void *conn_ctx, struct tcp_conn *c)
{
	struct dp_conn *dc = conn_ctx;

	RTE_SET_USED(c);
	if (dc->tcp_closed)
		return;
	if (dp_tls_active(dc->sec))
		dp_tls_writable(dc->sec);
	if (dc->ws != NULL && dp_ws_writable(dc->ws) > 0)
		return; /* our own bytes first; TCP reports writable again */
	mqtt_conn_writable(dc->mqtt, dc->ls->now_us);
	if (dc->fin_pending && dp_conn_pending(dc) == 0)
		dp_conn_fin(dc);
}

static void
dp_conn_free(struct dp_conn *dc)
{
	struct dp_lcore *ls = dc->ls;

	tcp_timer_cancel(ls->wheel, &dc->ka);
	TAILQ_REMOVE(&ls->conns, dc, link);
	dp_conn_detach(dc);
	dp_ws_close(dc->ws);
	dp_sec_conn_close(dc->sec);
	rte_mempool_put(ls->conn_pool, dc);
}

static void
dp_tcp_closed(void *conn_ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
	RTE_SET_USED(c);
	RTE_SET_USED(why);
	dp_conn_free(conn_ctx);
}

const struct tcp_app_ops dp_tcp_ops = {
        .accepted = dp_tcp_accepted,
        .connected = dp_tcp_connected,
        .readable = dp_tcp_readable,
        .writable = dp_tcp_writable,
        .closed = dp_tcp_closed,
};

static ssize_t
dp_mqtt_send(void *io, const void *buf, size_t len)
{
	struct dp_conn *dc = io;
	ssize_t n;

	if (dc->tcp_closed)
		return -EPIPE;
	if (dp_tls_active(dc->sec))
		return dp_tls_send(dc->sec, buf, len);
	if (dc->ws != NULL)
		return dp_ws_send(dc->ws, buf, len);
	n = tcp_send(dc->tcp, buf, len);
	/* -EAGAIN: the send queue is full; tcpstack will report writable. */
	return n == -EAGAIN ? 0 : n;
}

/* The broker's close. Graceful: its held-back bytes (mqtt_conn_pending) go out first, then the
 * FIN; tcp_close itself sends what tcp_send already queued. */
static void
dp_mqtt_close(void *io, int abortive)
{
	struct dp_conn *dc = io;

	if (dc->tcp_closed)
		return;
	if (abortive) {
		dp_conn_reset(dc);
		return;
	}
	if (dc->fin_pending)
		return;
	dc->closing = 1;
	if (dp_conn_pending(dc) == 0) {
		dp_conn_fin(dc);
	} else {
		dc->fin_pending = 1;
		dp_conn_arm(dc, dc->ls->now_us + DP_CONN_LINGER_US);
	}
}

/* ---- for dp_tls.c and dp_auth.c (dp_sec.h) ---- */

int
dp_conn_deliver(struct dp_conn *dc, const void *data, size_t len)
{
	if (dc->closing || mqtt_conn_input(dc->mqtt, data, len, dc->ls->now_us) < 0 || dc->closing)
		return -1;
	dp_conn_rearm(dc);
	return 0;
}

void
dp_conn_resume(struct dp_conn *dc)
{
	dp_tcp_writable(dc, dc->tcp);
}

void
dp_conn_shutdown(struct dp_conn *dc)
{
	dp_mqtt_close(dc, 0);
}

struct dp_sec_conn *
dp_conn_sec(const struct dp_conn *dc)
{
	return dc->sec;
}

const struct mqtt_transport_ops dp_mqtt_ops = {
        .send = dp_mqtt_send,
        .close = dp_mqtt_close,
};

void
dp_conn_close_all(struct dp_lcore *ls, int abortive)
{
	struct dp_conn *dc;

	TAILQ_FOREACH(dc, &ls->conns, link)
	{
		if (abortive) {
			if (!dc->tcp_closed)
				dp_conn_reset(dc);
		} else {
			dp_mqtt_close(dc, 0);
		}
	}
}

unsigned int
dp_conn_forget_all(struct dp_lcore *ls)
{
	struct dp_conn *dc;
	unsigned int n = 0;

	while ((dc = TAILQ_FIRST(&ls->conns)) != NULL) {
		dp_conn_free(dc);
		n++;
	}
	return n;
}

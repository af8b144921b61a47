/* SPDX-License-Identifier: Apache-2.0
 * Active open from a polling lcore (dp_connect.h): the source-port choice that keeps a flow on
 * its opening shard, and the demultiplexing of tcpstack events between active opens and the
 * MQTT connections dp_conn.c accepts.
 *
 * One stack has one ops table (tcp.h), so both kinds of connection share it: the context an
 * active open hands tcpstack is its struct dp_peer with the low bit set (a dp_peer holds
 * pointers, so its address is at least 8-byte aligned, and dp_conn.c's contexts come from a
 * mempool, cache-line aligned, so their low bit is clear). One test and branch per event.
 */
#include <errno.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#include "dp_connect.h"
#include "dp_pvt.h"

#define DP_PEER_TAG ((uintptr_t)1)

static inline void *
dp_peer_ctx(struct dp_peer *p)
{
	return (void *)((uintptr_t)p | DP_PEER_TAG);
}

/* The dp_peer behind a tcpstack context, or NULL for a dp_conn. */
static inline struct dp_peer *
dp_peer_of(void *ctx)
{
	if (((uintptr_t)ctx & DP_PEER_TAG) == 0)
		return NULL;
	return (struct dp_peer *)((uintptr_t)ctx & ~DP_PEER_TAG);
}

/* tcp_connect_opts' port filter: ports arrive in host order, the owner hash takes them as they
 * are on the wire. The last port accepted is the one tcp_connect takes (it allocates the TCB
 * right after), so it is recorded for the caller. */
static int
dp_connect_port_owned(void *arg, uint32_t raddr, uint16_t rport, uint16_t lport)
{
	struct dp_peer *p = arg;

	if (dp_shard_owner(raddr, rte_cpu_to_be_16(rport), rte_cpu_to_be_16(lport)) != p->ls->shard)
		return 0;
	p->lport = lport;
	return 1;
}

static int
dp_connect_port_any(void *arg, uint32_t raddr, uint16_t rport, uint16_t lport)
{
	struct dp_peer *p = arg;

	RTE_SET_USED(raddr);
	RTE_SET_USED(rport);
	p->lport = lport;
	return 1;
}

int
dp_connect(struct dp_lcore *ls, struct dp_peer *p, uint32_t ip, uint16_t port,
           const struct dp_peer_ops *ops, unsigned int flags)
{
	struct tcp_connect_opts o = {
	        .cc = TCP_CC_NEWRENO,
	        .port_ok =
	                (flags & DP_CONNECT_ANY_PORT) ? dp_connect_port_any : dp_connect_port_owned,
	        .port_arg = p,
	};

	if (ls == NULL || p == NULL || ops == NULL || ops->closed == NULL)
		return -EINVAL;
	*p = (struct dp_peer){.ops = ops, .ls = ls};
	p->tcp = tcp_connect_opts(ls->stack, ip, port, dp_peer_ctx(p), ls->now_us, &o);
	if (p->tcp == NULL)
		return -errno;
	TAILQ_INSERT_TAIL(&ls->peers, p, link);
	return 0;
}

void
dp_connect_close_all(struct dp_lcore *ls, int abortive)
{
	struct dp_peer *p;

	/* The events come later, from the stack, so the list does not change under the walk. */
	TAILQ_FOREACH(p, &ls->peers, link)
	{
		if (abortive)
			tcp_abort(p->tcp);
		else
			tcp_close(p->tcp);
	}
}

/* ---- tcpstack events ---- */

static void *
dp_stack_accepted(void *listener_ctx, struct tcp_conn *c)
{
	return dp_tcp_ops.accepted(listener_ctx, c);
}

static void
dp_stack_connected(void *ctx, struct tcp_conn *c)
{
	struct dp_peer *p = dp_peer_of(ctx);

	if (p == NULL) {
		dp_tcp_ops.connected(ctx, c);
		return;
	}
	p->established = 1;
	if (p->ops->connected != NULL)
		p->ops->connected(p);
}

static void
dp_stack_readable(void *ctx, struct tcp_conn *c)
{
	struct dp_peer *p = dp_peer_of(ctx);

	if (p == NULL)
		dp_tcp_ops.readable(ctx, c);
	else if (p->ops->readable != NULL)
		p->ops->readable(p);
	else
		tcp_recv_consume(c, tcp_recv_avail(c)); /* nobody reads: keep the window open */
}

static void
dp_stack_writable(void *ctx, struct tcp_conn *c)
{
	struct dp_peer *p = dp_peer_of(ctx);

	if (p == NULL)
		dp_tcp_ops.writable(ctx, c);
	else if (p->ops->writable != NULL)
		p->ops->writable(p);
}

static int
dp_connect_errno(const struct dp_peer *p, enum tcp_close_reason why)
{
	switch (why) {
	case TCP_CLOSE_NORMAL: /* before ESTABLISHED: tcp_close on a SYN_SENT connection */
		return p->established ? 0 : -ECONNABORTED;
	case TCP_CLOSE_RESET:
		return p->established ? -ECONNRESET : -ECONNREFUSED;
	case TCP_CLOSE_TIMEOUT:
		return -ETIMEDOUT;
	case TCP_CLOSE_ABORT:
		return -ECONNABORTED;
	case TCP_CLOSE_NOMEM:
		return -ENOMEM;
	}
	return -EIO;
}

static void
dp_stack_closed(void *ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
	struct dp_peer *p = dp_peer_of(ctx);

	if (p == NULL) {
		dp_tcp_ops.closed(ctx, c, why);
		return;
	}
	p->tcp = NULL;
	TAILQ_REMOVE(&p->ls->peers, p, link);
	p->ops->closed(p, dp_connect_errno(p, why));
}

const struct tcp_app_ops dp_stack_ops = {
        .accepted = dp_stack_accepted,
        .connected = dp_stack_connected,
        .readable = dp_stack_readable,
        .writable = dp_stack_writable,
        .closed = dp_stack_closed,
};

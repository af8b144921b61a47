/* SPDX-License-Identifier: Apache-2.0
 * Cross-shard publishes and the replicated route table (issue 5, first version).
 *
 * Routes. Each shard keeps a replica of "topic filter -> other shards with a subscriber". The
 * broker reports its shard's first subscription to a filter and its last one gone
 * (mqtt_shard_ops.route_update); the shard sends a DP_RING_ROUTE message to every other shard,
 * which updates its replica. Own subscriptions are not in the replica: the broker's trie serves
 * them. A subscription made on shard B is seen by a publisher on shard A one ring hop after its
 * SUBACK (microseconds; up to the idle back-off of 1 ms when A naps).
 *
 * Publishes. After local delivery the broker asks route_match() for the shards that need a
 * message (every other shard for a retained publish, so that each shard's retained store stays
 * a full replica and wildcard subscribes find retained messages locally) and hands one reference
 * per shard to forward(). Each becomes a DP_RING_PUB entry; the destination injects the message
 * into its broker (mqtt_broker_inject) and sends the reference back as DP_RING_RET; the owner
 * releases it. Why return it instead of an atomic refcount or an mbuf: mqtt_msg's refcount is a
 * plain integer touched only by its owner, so no atomic read-modify-write is needed anywhere on
 * the message path, and the payload is never copied to cross: the destination reads the owner's
 * bytes in place. Deliveries that outlive the inject call (queued or inflight QoS 1/2, the
 * retained store) hold a proxy made there at most once per inject (mqtt_msg_proxy: its own
 * plain refcount, pointers to the owner's bytes); the inject then keeps the reference, and the
 * broker's ret op (dp_route_ret) stages the RET when the proxy's last delivery ends. No copy,
 * and no RET delayed when nothing was kept. $share deliveries (SPUB) the same way.
 *
 * Back-pressure. Entries for another shard are staged per destination and pushed with one burst
 * enqueue per destination per loop iteration; what the ring does not take stays staged, in
 * order, for the next iteration: nothing blocks, and QoS 1/2 publishes, returned references and
 * route updates are never dropped (the stage grows). QoS 0 publishes are dropped, and counted,
 * once a destination's stage holds DP_ROUTE_STAGE_QOS0_MAX entries.
 *
 * Cost: route_match() is one mqtt_rtab_match() on the replica, a trie of topic levels with a
 * shard mask per filter (mqtt/mqtt_rtab.h): O(levels x branches that can match) per publish,
 * whatever the number of filters other shards subscribe to.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "mqtt/mqtt_rtab.h"

#include "dp_pvt.h"

#define DP_ROUTE_STAGE_QOS0_MAX 4096

enum dp_route_op {
	DP_ROUTE_DEL = 0,
	DP_ROUTE_ADD = 1,
};

struct dp_route_msg {
	uint32_t shard;
	uint8_t add; /* enum dp_route_op */
	uint16_t len;
	uint8_t filter[];
} __rte_aligned(8);

/* A publish for one member of a shared group on the destination shard (the publisher's shard
 * chose that shard for the group: round robin over shards with members). */
struct dp_spub {
	struct mqtt_msg *m; /* the publisher's shard's reference */
	uint16_t glen, flen;
	uint8_t data[]; /* group name, then filter */
} __rte_aligned(8);

struct dp_stage {
	void **e;
	uint32_t n, cap;
};

/* One per shard, touched only by its lcore (until exit). */
struct dp_route_shard {
	/* filter -> other shards with a subscriber; made by the first ROUTE, on this lcore */
	struct mqtt_rtab *rtab;
	struct dp_stage out[DP_MAX_SHARDS];
	uint64_t pub_out, pub_in, pub_dropped_qos0, pub_dropped_nomem, route_msgs;
	uint64_t xfer_out, xfer_in, xfer_lost;
	uint64_t spub_out, spub_in;
} __rte_cache_aligned;

static struct dp_route_shard dp_rs[DP_MAX_SHARDS];

static inline void *
dp_tag(const void *p, enum dp_ring_tag t)
{
	return (void *)((uintptr_t)p | t);
}

static inline void *
dp_untag(void *e)
{
	return (void *)((uintptr_t)e & ~(uintptr_t)7);
}

/* Stage an entry for shard `to`; returns 0, or -ENOBUFS when it was not staged. */
static int
dp_stage_push(struct dp_route_shard *rs, unsigned int to, void *e)
{
	struct dp_stage *st = &rs->out[to];

	if (st->n == st->cap) {
		uint32_t cap = st->cap ? st->cap * 2 : 256;
		void **ne = realloc(st->e, cap * sizeof(*ne));

		if (ne == NULL)
			return -ENOBUFS;
		st->e = ne;
		st->cap = cap;
	}
	st->e[st->n++] = e;
	return 0;
}

/* ---- the broker's shard hooks ---- */

static uint64_t
dp_route_match(void *ctx, const uint8_t *topic, size_t len, int retain)
{
	struct dp_lcore *ls = ctx;
	const struct dp_route_shard *rs = &dp_rs[ls->shard];

	if (retain)
		return (((uint64_t)1 << dp_n_shards) - 1) & ~((uint64_t)1 << ls->shard);
	return rs->rtab != NULL ? mqtt_rtab_match(rs->rtab, topic, len) : 0;
}

static void
dp_route_forward(void *ctx, uint64_t shards, struct mqtt_msg *m, uint8_t qos)
{
	struct dp_lcore *ls = ctx;
	struct dp_route_shard *rs = &dp_rs[ls->shard];

	for (unsigned int s = 0; s < dp_n_shards; s++) {
		if (!(shards & ((uint64_t)1 << s)))
			continue;
		if (qos == 0 && rs->out[s].n >= DP_ROUTE_STAGE_QOS0_MAX) {
			rs->pub_dropped_qos0++;
			mqtt_msg_release(m);
			continue;
		}
		if (dp_stage_push(rs, s, dp_tag(m, DP_RING_PUB)) < 0) {
			rs->pub_dropped_nomem++;
			mqtt_msg_release(m);
			continue;
		}
		rs->pub_out++;
	}
}

/* A reference to another shard's message goes home (DP_RING_RET): at once after an inject
 * that kept nothing, or when the last delivery of a proxy ends (the broker's ret op, on this
 * lcore; at exit, from mqtt_broker_destroy() on the main thread, before dp_route_fini()
 * discards the stage, which then releases it: no lcore runs any more). */
static void
dp_route_ret(void *ctx, unsigned int to, struct mqtt_msg *m)
{
	struct dp_lcore *ls = ctx;
	struct dp_route_shard *rs = &dp_rs[ls->shard];

	if (dp_stage_push(rs, to, dp_tag(m, DP_RING_RET)) < 0)
		/* cannot happen short of ENOMEM: the message then leaks rather than being freed
		 * by the wrong thread */
		rs->pub_dropped_nomem++;
}

/* To every other shard: a route change. */
static void
dp_route_broadcast(struct dp_lcore *ls, const uint8_t *filter, size_t len, enum dp_route_op op)
{
	struct dp_route_shard *rs = &dp_rs[ls->shard];

	for (unsigned int s = 0; s < dp_n_shards; s++) {
		struct dp_route_msg *rm;

		if (s == ls->shard)
			continue;
		rm = malloc(sizeof(*rm) + len);
		if (rm == NULL || dp_stage_push(rs, s, dp_tag(rm, DP_RING_ROUTE)) < 0) {
			/* the replica on s misses this filter: publishes here may not reach it */
			fprintf(stderr, "tachyond: shard %u: route to shard %u lost (ENOMEM)\n",
			        ls->shard, s);
			free(rm);
			continue;
		}
		rm->shard = ls->shard;
		rm->add = (uint8_t)op;
		rm->len = (uint16_t)len;
		memcpy(rm->filter, filter, len);
	}
}

static void
dp_route_update(void *ctx, const uint8_t *filter, size_t len, int add)
{
	dp_route_broadcast(ctx, filter, len, add ? DP_ROUTE_ADD : DP_ROUTE_DEL);
}

/* Sessions across shards: the broker's transfer messages (mqtt/mqtt_xfer.c: claims, pulls,
 * moves of whole sessions) ride the same rings, staged like everything else so that the FIFO
 * order between two shards, which the protocol relies on, holds. Rare (one or two per connect
 * of a client whose session lives elsewhere), so the stage may grow. */
static void
dp_route_xfer_send(void *ctx, unsigned int to, struct mqtt_xfer *x)
{
	struct dp_lcore *ls = ctx;
	struct dp_route_shard *rs = &dp_rs[ls->shard];

	if (dp_stage_push(rs, to, dp_tag(x, DP_RING_XFER)) < 0) {
		/* the claimant times out (its CONNECT deadline) and the client retries */
		rs->xfer_lost++;
		mqtt_xfer_free(x);
		return;
	}
	rs->xfer_out++;
}

static void
dp_route_forward_shared(void *ctx, unsigned int shard, struct mqtt_msg *m, const uint8_t *group,
                        size_t glen, const uint8_t *filter, size_t flen)
{
	struct dp_lcore *ls = ctx;
	struct dp_route_shard *rs = &dp_rs[ls->shard];
	/* control-size allocation per shared delivery that crosses: the group and filter must
	 * travel with the reference (a per-group id table would avoid it: a next step) */
	struct dp_spub *sp = malloc(sizeof(*sp) + glen + flen);

	if (sp == NULL || dp_stage_push(rs, shard, dp_tag(sp, DP_RING_SPUB)) < 0) {
		free(sp);
		rs->pub_dropped_nomem++;
		mqtt_msg_release(m);
		return;
	}
	sp->m = m;
	sp->glen = (uint16_t)glen;
	sp->flen = (uint16_t)flen;
	memcpy(sp->data, group, glen);
	memcpy(sp->data + glen, filter, flen);
	rs->spub_out++;
}

static const struct mqtt_shard_ops dp_route_ops_tmpl = {
        .route_match = dp_route_match,
        .forward = dp_route_forward,
        .route_update = dp_route_update,
        .xfer_send = dp_route_xfer_send,
        .forward_shared = dp_route_forward_shared,
        .ret = dp_route_ret,
};

int
dp_route_init(struct dp_lcore *ls)
{
	struct mqtt_shard_ops ops = dp_route_ops_tmpl;

	memset(&dp_rs[ls->shard], 0, sizeof(dp_rs[ls->shard]));
	if (dp_n_shards < 2)
		return 0;
	ops.ctx = ls;
	ops.n_shards = dp_n_shards;
	mqtt_broker_set_shard_ops(ls->broker, &ops);
	return 0;
}

/* ---- the replica ---- */

/* A ROUTE message into the replica. The table is made by the first one, here on the lcore's
 * thread, so that its nodes come from this lcore's arena. Cost O(filter length). */
static void
dp_route_apply(struct dp_route_shard *rs, const struct dp_route_msg *rm)
{
	int ret = -ENOMEM;

	if (rs->rtab == NULL && !rm->add)
		return;
	if (rs->rtab != NULL || (rs->rtab = mqtt_rtab_create()) != NULL)
		ret = mqtt_rtab_set(rs->rtab, rm->filter, rm->len, rm->shard, rm->add);
	if (ret < 0)
		/* publishes here may not reach that shard's subscribers to this filter */
		fprintf(stderr, "tachyond: route to shard %u lost (%s)\n", rm->shard,
		        strerror(-ret));
}

void
dp_route_input(struct dp_lcore *ls, unsigned int from, void *e)
{
	struct dp_route_shard *rs = &dp_rs[ls->shard];
	void *p = dp_untag(e);

	switch (DP_RING_TAG(e)) {
	case DP_RING_PUB:
		rs->pub_in++;
		/* the origin tells a session in a move cut which path carries it (mqtt_xfer.c);
		 * 1: a proxy keeps the reference, dp_route_ret() sends it back later */
		if (mqtt_broker_inject_from(ls->broker, p, from, ls->now_us) == 0)
			dp_route_ret(ls, from, p);
		break;
	case DP_RING_RET:
		mqtt_msg_release(p);
		break;
	case DP_RING_ROUTE:
		rs->route_msgs++;
		if (((struct dp_route_msg *)p)->len > 7 &&
		    memcmp(((struct dp_route_msg *)p)->filter, "$share/", 7) == 0)
			/* shared groups: the broker keeps which shards hold members */
			mqtt_broker_share_update(ls->broker, ((struct dp_route_msg *)p)->filter,
			                         ((struct dp_route_msg *)p)->len,
			                         ((struct dp_route_msg *)p)->shard,
			                         ((struct dp_route_msg *)p)->add);
		else
			dp_route_apply(rs, p);
		free(p); /* allocated by the sender: a control-path cross-thread free */
		break;
	case DP_RING_XFER: {
		unsigned int owner = mqtt_xfer_owner(p);

		rs->xfer_in++;
		mqtt_broker_xfer_input(ls->broker, p, ls->now_us);
		/* back to the allocating shard's arena (its rings are FIFO, so no reordering) */
		if (owner == ls->shard)
			mqtt_xfer_free(p);
		else if (dp_stage_push(rs, owner, dp_tag(p, DP_RING_XRET)) < 0)
			rs->xfer_lost++; /* leaks rather than freeing into another arena */
		break;
	}
	case DP_RING_XRET:
		mqtt_xfer_free(p);
		break;
	case DP_RING_SPUB: {
		struct dp_spub *sp = p;

		rs->spub_in++;
		if (mqtt_broker_inject_shared(ls->broker, sp->m, from, sp->data, sp->glen,
		                              sp->data + sp->glen, sp->flen, ls->now_us)) {
			/* a proxy keeps the reference (a RET later); the descriptor is libc's:
			 * a cross-thread free, as ROUTE's */
			free(sp);
		} else if (dp_stage_push(rs, from, dp_tag(sp, DP_RING_SRET)) < 0) {
			rs->pub_dropped_nomem++; /* leaks rather than freeing another's message */
		}
		break;
	}
	case DP_RING_SRET:
		mqtt_msg_release(((struct dp_spub *)p)->m);
		free(p);
		break;
	default:
		break;
	}
}

int
dp_route_flush(struct dp_lcore *ls)
{
	struct dp_route_shard *rs = &dp_rs[ls->shard];
	int work = 0;

	for (unsigned int s = 0; s < dp_n_shards; s++) {
		struct dp_stage *st = &rs->out[s];
		unsigned int k;

		if (st->n == 0)
			continue;
		k = rte_ring_sp_enqueue_burst(ls->to[s], st->e, st->n, NULL);
		if (k < st->n)
			memmove(st->e, st->e + k, (st->n - k) * sizeof(*st->e));
		st->n -= k;
		work += (int)k;
	}
	return work;
}

/* At exit only (every lcore stopped): what a ring or a stage still holds. References go back
 * to their owner's count directly: no other thread runs any more. */
void
dp_route_discard(void *e)
{
	switch (DP_RING_TAG(e)) {
	case DP_RING_PUB:
	case DP_RING_RET:
		mqtt_msg_release(dp_untag(e));
		break;
	case DP_RING_ROUTE:
		free(dp_untag(e));
		break;
	case DP_RING_XFER:
	case DP_RING_XRET:
		mqtt_xfer_free(dp_untag(e));
		break;
	case DP_RING_SPUB:
	case DP_RING_SRET:
		mqtt_msg_release(((struct dp_spub *)dp_untag(e))->m);
		free(dp_untag(e));
		break;
	default:
		break;
	}
}

void
dp_route_fini(struct dp_lcore *ls)
{
	struct dp_route_shard *rs = &dp_rs[ls->shard];

	for (unsigned int s = 0; s < DP_MAX_SHARDS; s++) {
		struct dp_stage *st = &rs->out[s];

		for (uint32_t i = 0; i < st->n; i++)
			dp_route_discard(st->e[i]);
		free(st->e);
		*st = (struct dp_stage){0};
	}
	mqtt_rtab_destroy(rs->rtab);
	rs->rtab = NULL;
}

void
dp_route_summary(const struct dp_lcore *ls)
{
	const struct dp_route_shard *rs = &dp_rs[ls->shard];
	struct mqtt_rtab_stats rt = {0};

	if (rs->rtab != NULL)
		mqtt_rtab_stats(rs->rtab, &rt);
	printf("tachyond: shard %u: frames steered out/in/dropped %" PRIu64 "/%" PRIu64 "/%" PRIu64
	       " | cross-shard publishes out %" PRIu64 " in %" PRIu64 " dropped qos0/nomem %" PRIu64
	       "/%" PRIu64 " | routes %zu (%zu B), route messages %" PRIu64
	       " | session transfer messages out %" PRIu64 " in %" PRIu64 " lost %" PRIu64
	       " | shared deliveries out %" PRIu64 " in %" PRIu64 "\n",
	       ls->shard, ls->steered, ls->rx_steered, ls->steer_dropped, rs->pub_out, rs->pub_in,
	       rs->pub_dropped_qos0, rs->pub_dropped_nomem, rt.filters, rt.bytes, rs->route_msgs,
	       rs->xfer_out, rs->xfer_in, rs->xfer_lost, rs->spub_out, rs->spub_in);
}

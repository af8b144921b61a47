/* SPDX-License-Identifier: Apache-2.0
 * Shards: the rings between polling lcores and the software steering of frames to the lcore that
 * owns them.
 *
 * Ownership. A TCP flow belongs to shard dp_shard_owner(peer ip, peer port, local port): a hash
 * of the 4-tuple (our IP is fixed) mod N. It is computed by us, not by the NIC or the kernel,
 * because net_af_packet in DPDK 22.11 joins its qpairs sockets to a fanout group with
 * PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_ROLLOVER (no devarg to
 * change it): the kernel's flow hash keeps a flow on one queue, but ROLLOVER moves frames to
 * another socket whenever one socket's ring is full, and the kernel's hash seed is not ours to
 * know. So an lcore looks at every TCP frame it receives and passes those of flows it does not
 * own to their owner on a ring; the owner feeds them to its tcpstack as if it had received them.
 * On a NIC with symmetric RSS the owner function would be the RETA's (mbuf->hash.rss), so that
 * nothing crosses in the common case (docs/ARCHITECTURE.md).
 *
 * ARP. Every shard's tcpstack keeps its own ARP cache and answers requests for our IP itself.
 * An ARP frame lands on one queue; the receiving lcore processes it and gives every other
 * shard a copy (rte_pktmbuf_copy, ARP frames are 42-60 bytes) so all caches learn the peer.
 * A request is then answered once per shard: duplicate identical replies, harmless to a peer.
 *
 * Rings. One single-producer/single-consumer rte_ring per ordered pair of shards, so an enqueue
 * is a plain store plus a release barrier, never a lock nor an atomic read-modify-write. An
 * entry is a tagged pointer (low bits: enum dp_ring_tag): mbufs and cache-aligned descriptors
 * leave the low 3 bits free. A full ring is back-pressure: frames are then dropped and counted
 * (steer_dropped): TCP retransmits them, and a ring of DP_SHARD_RING_SIZE frames only fills when
 * the owner is far behind.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "dp_pvt.h"

unsigned int dp_n_shards = 1;
struct dp_lcore *dp_shards[DP_MAX_SHARDS];

int
dp_shard_rings_create(void)
{
	char name[RTE_RING_NAMESIZE];

	for (unsigned int a = 0; a < dp_n_shards; a++) {
		for (unsigned int b = 0; b < dp_n_shards; b++) {
			struct rte_ring *r;

			if (a == b)
				continue;
			snprintf(name, sizeof(name), "dp_ring_%u_%u", a & 0xffu, b & 0xffu);
			r = rte_ring_create(name, DP_SHARD_RING_SIZE,
			                    rte_lcore_to_socket_id(dp_shards[b]->lcore_id),
			                    RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (r == NULL)
				return -rte_errno;
			dp_shards[a]->to[b] = r;
			dp_shards[b]->from[a] = r;
		}
	}
	for (unsigned int a = 0; a < dp_n_shards; a++) {
		int ret = dp_route_init(dp_shards[a]);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Frees what is still queued (frames, descriptors) and the rings; only after every lcore has
 * stopped. */
void
dp_shard_rings_free(void)
{
	for (unsigned int b = 0; b < dp_n_shards; b++) {
		struct dp_lcore *ls = dp_shards[b];

		if (ls == NULL)
			continue;
		if (dp_n_shards > 1)
			dp_route_summary(ls);
		dp_route_fini(ls);
		for (unsigned int a = 0; a < dp_n_shards; a++) {
			void *e;

			if (ls->from[a] == NULL)
				continue;
			while (rte_ring_sc_dequeue(ls->from[a], &e) == 0)
				dp_shard_entry_discard(ls, e);
			rte_ring_free(ls->from[a]);
			ls->from[a] = NULL;
			dp_shards[a]->to[b] = NULL;
		}
	}
}

/* Shard of a flow: the same for both directions' view of it, since our address is fixed. */
unsigned int
dp_shard_owner(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port)
{
	return rte_jhash_2words(peer_ip, ((uint32_t)peer_port << 16) | local_port, 0x7ac4f00d) %
	       dp_n_shards;
}

/* The shard that must process this frame: a TCP flow's owner, DP_SHARD_ALL for ARP, or the
 * receiving shard for the rest (ICMP, frames the stack will reject). Reads at most the first
 * 54 bytes, which af_packet puts in the first segment. */
static unsigned int
dp_shard_classify(const struct dp_lcore *ls, const struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eh;
	const struct rte_ipv4_hdr *ip;
	const struct rte_tcp_hdr *th;
	uint32_t ihl;

	if (m->data_len < sizeof(*eh))
		return ls->shard;
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP))
		return DP_SHARD_ALL;
	if (eh->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    m->data_len < sizeof(*eh) + sizeof(*ip))
		return ls->shard;
	ip = (const struct rte_ipv4_hdr *)(eh + 1);
	ihl = (uint32_t)(ip->version_ihl & 0xf) * 4;
	if (ip->next_proto_id != IPPROTO_TCP || ihl < sizeof(*ip) ||
	    m->data_len < sizeof(*eh) + ihl + 4 ||
	    (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return ls->shard;
	th = (const struct rte_tcp_hdr *)((const uint8_t *)ip + ihl);
	return dp_shard_owner(ip->src_addr, th->src_port, th->dst_port);
}

/* Hand one entry to shard `to`; on a full ring the entry is freed and counted. */
static void
dp_shard_send(struct dp_lcore *ls, unsigned int to, void *e)
{
	if (unlikely(rte_ring_sp_enqueue(ls->to[to], e) != 0)) {
		ls->steer_dropped++;
		dp_shard_entry_discard(ls, e);
		return;
	}
	ls->steered++;
}

uint16_t
dp_shard_steer(struct dp_lcore *ls, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t keep = 0;

	if (dp_n_shards == 1)
		return n;
	/* O(n) plus one small copy per other shard for each ARP frame (rare). */
	for (uint16_t i = 0; i < n; i++) {
		unsigned int to = dp_shard_classify(ls, pkts[i]);

		if (to == DP_SHARD_ALL) {
			for (unsigned int s = 0; s < dp_n_shards; s++) {
				struct rte_mbuf *c;

				if (s == ls->shard)
					continue;
				c = rte_pktmbuf_copy(pkts[i], ls->pool, 0, UINT32_MAX);
				if (c == NULL) {
					ls->steer_dropped++;
					continue;
				}
				dp_shard_send(ls, s, c);
			}
			to = ls->shard;
		}
		if (to == ls->shard)
			pkts[keep++] = pkts[i];
		else
			dp_shard_send(ls, to, pkts[i]);
	}
	return keep;
}

void
dp_shard_entry_discard(struct dp_lcore *ls, void *e)
{
	RTE_SET_USED(ls);
	switch (DP_RING_TAG(e)) {
	case DP_RING_MBUF:
		rte_pktmbuf_free(e);
		break;
	default:
		dp_route_discard(e);
		break;
	}
}

int
dp_shard_poll(struct dp_lcore *ls)
{
	struct rte_mbuf *pkts[DP_RX_BURST];
	void *e[DP_RX_BURST];
	int work = 0;

	/* At most DP_RX_BURST entries per inbound ring per iteration: bounded, and no peer can
	 * starve the NIC queue. */
	for (unsigned int a = 0; a < dp_n_shards; a++) {
		unsigned int n;
		uint16_t np = 0;

		if (ls->from[a] == NULL)
			continue;
		n = rte_ring_sc_dequeue_burst(ls->from[a], e, DP_RX_BURST, NULL);
		for (unsigned int i = 0; i < n; i++) {
			if (DP_RING_TAG(e[i]) == DP_RING_MBUF)
				pkts[np++] = e[i];
			else
				dp_route_input(ls, a, e[i]);
		}
		if (np > 0) {
			ls->rx_steered += np;
			tcp_stack_input(ls->stack, pkts, np, ls->now_us);
		}
		work += (int)n;
	}
	/* What this iteration's input and the entries above produced for other shards. */
	if (dp_n_shards > 1)
		work += dp_route_flush(ls);
	return work;
}

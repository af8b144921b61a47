/* SPDX-License-Identifier: Apache-2.0
 * Shards: the rings between polling lcores and the software steering of frames to the lcore that
 * owns them.
 *
 * Ownership. A TCP flow belongs to shard dp_shard_owner(peer ip, peer port, local port). Which
 * function that is is chosen once, at port setup, as an ops pointer (nginx style):
 *
 * - jhash (af_packet, or any port without usable RSS): a hash of the 4-tuple (our IP is fixed)
 *   mod N, computed by us. net_af_packet in DPDK 22.11 joins its qpairs sockets to a fanout
 *   group with PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_ROLLOVER (no
 *   devarg to change it): the kernel's flow hash keeps a flow on one queue, but ROLLOVER moves
 *   frames to another socket whenever one socket's ring is full, and the kernel's hash seed is
 *   not ours to know. About (N-1)/N of the flows cross a ring.
 * - rss (a NIC with RSS and more than one queue): dp_port.c programs a symmetric Toeplitz key
 *   and a RETA that sends entry j to queue j mod N (queue i is shard i); the owner is the RETA
 *   entry of the frame's RSS hash, from the NIC (mbuf->hash.rss) when it gives one, else
 *   computed with rte_softrss and the same key. Software and NIC agree, so nothing crosses in
 *   the common case, and dp_connect's port choice (dp_connect.c) picks ports whose replies the
 *   NIC itself delivers to the opening lcore.
 *
 * Either way an lcore looks at every TCP frame it receives and passes those of flows it does
 * not own to their owner on a ring; the owner feeds them to its tcpstack as if it had received
 * them.
 *
 * ARP. Every shard's tcpstack keeps its own ARP cache and answers requests for our IP itself.
 * An ARP frame lands on one queue (queue 0 by a flow rule where the NIC takes one: dp_port.c);
 * the receiving lcore processes it and gives every other shard a copy (rte_pktmbuf_copy, ARP
 * frames are 42-60 bytes) so all caches learn the peer. A request is then answered once per
 * shard: duplicate identical replies, harmless to a peer.
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
#include <string.h>

#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_thash.h>

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

/* ---- who owns a flow ---- */

struct dp_owner_ops {
	const char *name;
	/* the owner of a flow: peer address and ports as on the wire */
	unsigned int (*flow)(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port);
	/* the owner of a received frame of that flow (may use what the NIC computed) */
	unsigned int (*frame)(const struct rte_mbuf *m, uint32_t peer_ip, uint16_t peer_port,
	                      uint16_t local_port);
};

static const struct dp_owner_ops dp_owner_jhash; /* the default */

static struct {
	const struct dp_owner_ops *ops;
	uint32_t local_ip;  /* host order: rte_softrss takes the tuple so */
	uint32_t reta_mask; /* RETA size - 1 (a power of two on every NIC DPDK drives) */
	uint8_t key[DP_RSS_KEY_MAX];
	uint8_t reta[DP_RETA_MAX]; /* RETA entry -> shard */
} dp_own = {.ops = &dp_owner_jhash};

static unsigned int
dp_owner_jhash_flow(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port)
{
	return rte_jhash_2words(peer_ip, ((uint32_t)peer_port << 16) | local_port, 0x7ac4f00d) %
	       dp_n_shards;
}

static unsigned int
dp_owner_jhash_frame(const struct rte_mbuf *m, uint32_t peer_ip, uint16_t peer_port,
                     uint16_t local_port)
{
	RTE_SET_USED(m);
	return dp_owner_jhash_flow(peer_ip, peer_port, local_port);
}

/* The NIC's Toeplitz hash of a frame from the peer to us, looked up in the RETA. Cost:
 * rte_softrss walks the 96 input bits (a few hundred cycles); only dp_connect and frames
 * without a hash from the NIC pay it. */
static unsigned int
dp_owner_rss_flow(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port)
{
	struct rte_ipv4_tuple t = {
	        .src_addr = rte_be_to_cpu_32(peer_ip),
	        .dst_addr = dp_own.local_ip,
	        .sport = rte_be_to_cpu_16(peer_port),
	        .dport = rte_be_to_cpu_16(local_port),
	};

	return dp_own.reta[rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, dp_own.key) &
	                   dp_own.reta_mask];
}

static unsigned int
dp_owner_rss_frame(const struct rte_mbuf *m, uint32_t peer_ip, uint16_t peer_port,
                   uint16_t local_port)
{
	if (likely(m->ol_flags & RTE_MBUF_F_RX_RSS_HASH))
		return dp_own.reta[m->hash.rss & dp_own.reta_mask];
	return dp_owner_rss_flow(peer_ip, peer_port, local_port);
}

static const struct dp_owner_ops dp_owner_jhash = {"jhash", dp_owner_jhash_flow,
                                                   dp_owner_jhash_frame};
static const struct dp_owner_ops dp_owner_rss = {"rss", dp_owner_rss_flow, dp_owner_rss_frame};

void
dp_shard_rss_key(uint8_t *key, unsigned int len)
{
	/* 0x6d5a repeated (Woo and Park, "Scalable TCP Session Monitoring with Symmetric
	 * Receive-side Scaling"): the key has a period of 16 bits, so the Toeplitz hash of the
	 * tuple is a function of the XOR of its six 16-bit words, and swapping source and
	 * destination (addresses and ports) leaves it unchanged. The price is a 16-bit hash
	 * space, plenty for a RETA of at most 512 entries. */
	for (unsigned int i = 0; i < len; i++)
		key[i] = (i & 1) ? 0x5a : 0x6d;
}

void
dp_shard_owner_use_jhash(void)
{
	dp_own.ops = &dp_owner_jhash;
}

int
dp_shard_owner_use_rss(uint32_t local_ip, const uint8_t *key, unsigned int key_len,
                       const uint16_t *reta, unsigned int reta_size)
{
	if (key_len < 16 || key_len > DP_RSS_KEY_MAX || reta_size == 0 || reta_size > DP_RETA_MAX ||
	    (reta_size & (reta_size - 1)) != 0)
		return -EINVAL;
	for (unsigned int i = 0; i < reta_size; i++)
		if (reta[i] >= dp_n_shards)
			return -EINVAL; /* a queue no lcore serves */
	memset(dp_own.key, 0, sizeof(dp_own.key));
	memcpy(dp_own.key, key, key_len);
	for (unsigned int i = 0; i < reta_size; i++)
		dp_own.reta[i] = (uint8_t)reta[i];
	dp_own.reta_mask = reta_size - 1;
	dp_own.local_ip = rte_be_to_cpu_32(local_ip);
	dp_own.ops = &dp_owner_rss;
	return 0;
}

const char *
dp_shard_owner_name(void)
{
	return dp_own.ops->name;
}

/* Shard of a flow: the same for both directions' view of it, since our address is fixed. */
unsigned int
dp_shard_owner(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port)
{
	return dp_own.ops->flow(peer_ip, peer_port, local_port);
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
	return dp_own.ops->frame(m, ip->src_addr, th->src_port, th->dst_port);
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

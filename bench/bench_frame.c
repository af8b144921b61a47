/* SPDX-License-Identifier: Apache-2.0
 * See bench_frame.h.
 */
#include "bench_frame.h"

#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ip.h>

#define BF_MSS 1460

static struct rte_ether_hdr *
bf_eth(struct rte_mbuf *m, const struct bench_flow *f, uint16_t type, uint16_t len)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);

	if (eh == NULL)
		return NULL;
	memset(eh, 0, len);
	rte_ether_addr_copy(&f->cmac, &eh->src_addr);
	rte_ether_addr_copy(&f->smac, &eh->dst_addr);
	eh->ether_type = rte_cpu_to_be_16(type);
	return eh;
}

struct rte_mbuf *
bench_frame_tcp(struct rte_mempool *mp, const struct bench_flow *f, uint8_t flags, const void *data,
                uint16_t len)
{
	uint16_t optlen = (flags & RTE_TCP_SYN_FLAG) ? 4 : 0;
	uint16_t l4 = (uint16_t)(sizeof(struct rte_tcp_hdr) + optlen);
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eh;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;

	if (m == NULL)
		return NULL;
	eh = bf_eth(m, f, RTE_ETHER_TYPE_IPV4, (uint16_t)(sizeof(*eh) + sizeof(*ip) + l4 + len));
	if (eh == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	ip = (struct rte_ipv4_hdr *)(eh + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + l4 + len));
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = f->cip;
	ip->dst_addr = f->sip;
	th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = rte_cpu_to_be_16(f->cport);
	th->dst_port = rte_cpu_to_be_16(f->sport);
	th->sent_seq = rte_cpu_to_be_32(f->snd_nxt);
	th->recv_ack = (flags & RTE_TCP_ACK_FLAG) ? rte_cpu_to_be_32(f->rcv_nxt) : 0;
	th->data_off = (uint8_t)((l4 / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(65535);
	if (optlen) {
		uint8_t *o = (uint8_t *)(th + 1);

		o[0] = 2; /* MSS */
		o[1] = 4;
		o[2] = BF_MSS >> 8;
		o[3] = BF_MSS & 0xff;
	}
	if (len && data)
		memcpy((uint8_t *)th + l4, data, len);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return m;
}

struct rte_mbuf *
bench_frame_arp(struct rte_mempool *mp, const struct bench_flow *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *ah;

	if (m == NULL)
		return NULL;
	eh = bf_eth(m, f, RTE_ETHER_TYPE_ARP, sizeof(*eh) + sizeof(*ah));
	if (eh == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	ah = (struct rte_arp_hdr *)(eh + 1);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(&f->cmac, &ah->arp_data.arp_sha);
	ah->arp_data.arp_sip = f->cip;
	ah->arp_data.arp_tip = f->sip;
	return m;
}

int
bench_frame_parse(const struct rte_mbuf *m, struct bench_seg *s)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eh + 1);
	const struct rte_tcp_hdr *th;
	uint16_t ihl, thl, tot;

	if (m->data_len < sizeof(*eh) + sizeof(*ip) + sizeof(*th) ||
	    eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ip->next_proto_id != IPPROTO_TCP)
		return -ENOENT;
	ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	th = (const struct rte_tcp_hdr *)((const uint8_t *)ip + ihl);
	thl = (uint16_t)((th->data_off >> 4) * 4);
	tot = rte_be_to_cpu_16(ip->total_length);
	s->dip = ip->dst_addr;
	s->sport = rte_be_to_cpu_16(th->src_port);
	s->dport = rte_be_to_cpu_16(th->dst_port);
	s->flags = th->tcp_flags;
	s->seq = rte_be_to_cpu_32(th->sent_seq);
	s->ack = rte_be_to_cpu_32(th->recv_ack);
	s->win = rte_be_to_cpu_16(th->rx_win);
	s->data = (const uint8_t *)th + thl;
	s->len = (uint16_t)(tot - ihl - thl);
	return 0;
}

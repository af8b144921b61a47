/* SPDX-License-Identifier: Apache-2.0
 * tcpstack L2/L3: Ethernet, ARP (cache + resolution queue), IPv4 input/output, ICMP echo, the
 * TX queue, application event dispatch and the stack's lifecycle.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_icmp.h>
#include <rte_jhash.h>
#include <rte_malloc.h>

#include "tcpstack/tcp_pvt.h"

/* ---------------------------------------------------------------- TX queue */

void
tcp_xmit(struct tcp_stack *st, struct rte_mbuf *m)
{
	if (st->txq_len == TCP_TXQ_MAX)
		tcp_stack_flush_tx(st);
	st->txq[st->txq_len++] = m;
}

void
tcp_stack_flush_tx(struct tcp_stack *st)
{
	uint16_t n = st->txq_len, sent;

	if (n == 0)
		return;
	st->txq_len = 0;
	sent = st->conf.tx(st->conf.tx_ctx, st->txq, n);
	st->stats.tx_frames += sent;
}

struct rte_mbuf *
tcp_alloc(struct tcp_stack *st)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(st->conf.pool);

	if (m == NULL)
		st->stats.drop_nomem++;
	return m;
}

/* ---------------------------------------------------------------- ARP */

static uint32_t
arp_slot(uint32_t ip)
{
	return rte_jhash_1word(ip, 0x7ac4) & (TCP_ARP_SLOTS - 1);
}

static struct tcp_arp_entry *
arp_find(struct tcp_stack *st, uint32_t ip)
{
	uint32_t h = arp_slot(ip);

	for (int i = 0; i < TCP_ARP_PROBE; i++) {
		struct tcp_arp_entry *e = &st->arp[(h + i) & (TCP_ARP_SLOTS - 1)];

		if (e->state != ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

static void
arp_drop_queue(struct tcp_stack *st, struct tcp_arp_entry *e)
{
	for (int i = 0; i < e->qlen; i++)
		rte_pktmbuf_free(e->q[i]);
	st->stats.arp_dropped += e->qlen;
	e->qlen = 0;
}

/* A free slot in ip's probe window, else the entry that expires first (evicted). */
static struct tcp_arp_entry *
arp_new(struct tcp_stack *st, uint32_t ip)
{
	uint32_t h = arp_slot(ip);
	struct tcp_arp_entry *victim = NULL;

	for (int i = 0; i < TCP_ARP_PROBE; i++) {
		struct tcp_arp_entry *e = &st->arp[(h + i) & (TCP_ARP_SLOTS - 1)];

		if (e->state == ARP_FREE) {
			victim = e;
			break;
		}
		if (victim == NULL || e->expire_us < victim->expire_us)
			victim = e;
	}
	arp_drop_queue(st, victim);
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	return victim;
}

static void
arp_send(struct tcp_stack *st, uint16_t op, const struct rte_ether_addr *dmac, uint32_t tip)
{
	struct rte_mbuf *m = tcp_alloc(st);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *ah;

	if (m == NULL)
		return;
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ah));
	ah = (struct rte_arp_hdr *)(eh + 1);
	if (dmac)
		rte_ether_addr_copy(dmac, &eh->dst_addr);
	else
		memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	rte_ether_addr_copy(&st->conf.mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(&st->conf.mac, &ah->arp_data.arp_sha);
	ah->arp_data.arp_sip = st->conf.ip;
	if (dmac)
		rte_ether_addr_copy(dmac, &ah->arp_data.arp_tha);
	else
		memset(&ah->arp_data.arp_tha, 0, sizeof(ah->arp_data.arp_tha));
	ah->arp_data.arp_tip = tip;
	st->stats.arp_tx++;
	tcp_xmit(st, m);
}

static void
arp_sched(struct tcp_stack *st, uint64_t at)
{
	if (at < st->arp_next_us)
		st->arp_next_us = at;
}

/* Entry resolved: fill in the MAC of every frame that waited for it and send them. */
static void
arp_resolved(struct tcp_stack *st, struct tcp_arp_entry *e, const struct rte_ether_addr *mac)
{
	rte_ether_addr_copy(mac, &e->mac);
	e->state = ARP_VALID;
	e->expire_us = st->now_us + st->conf.arp_timeout_us;
	arp_sched(st, e->expire_us);
	for (int i = 0; i < e->qlen; i++) {
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(e->q[i], struct rte_ether_hdr *);

		rte_ether_addr_copy(mac, &eh->dst_addr);
		tcp_xmit(st, e->q[i]);
	}
	e->qlen = 0;
}

static void
arp_input(struct tcp_stack *st, struct rte_mbuf *m)
{
	struct rte_arp_hdr *ah;
	struct tcp_arp_entry *e;
	uint32_t sip, tip;

	st->stats.arp_rx++;
	if (m->data_len < sizeof(struct rte_ether_hdr) + sizeof(*ah))
		goto bad;
	ah = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ah->arp_hlen != RTE_ETHER_ADDR_LEN || ah->arp_plen != 4)
		goto bad;
	sip = ah->arp_data.arp_sip;
	tip = ah->arp_data.arp_tip;
	if (!rte_is_unicast_ether_addr(&ah->arp_data.arp_sha) || sip == 0 || sip == st->conf.ip)
		goto bad;
	/* RFC 826 merge: refresh an entry we already have, whatever the packet (this is how
	 * gratuitous ARP updates a moved address); create one only when the sender asks for us. */
	e = arp_find(st, sip);
	if (e)
		arp_resolved(st, e, &ah->arp_data.arp_sha);
	if (tip != st->conf.ip) {
		rte_pktmbuf_free(m);
		return;
	}
	if (e == NULL) {
		e = arp_new(st, sip);
		arp_resolved(st, e, &ah->arp_data.arp_sha);
	}
	if (ah->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST))
		arp_send(st, RTE_ARP_OP_REPLY, &ah->arp_data.arp_sha, sip);
	rte_pktmbuf_free(m);
	return;
bad:
	st->stats.drop_eth++;
	rte_pktmbuf_free(m);
}

/* Retries of pending entries and expiry of valid ones. Cost: one pass over the table, at most
 * every 100 ms and only while some entry has a deadline. */
static void
arp_timers(struct tcp_stack *st)
{
	uint64_t now = st->now_us, next = UINT64_MAX;

	if (now < st->arp_next_us)
		return;
	for (int i = 0; i < TCP_ARP_SLOTS; i++) {
		struct tcp_arp_entry *e = &st->arp[i];

		if (e->state == ARP_FREE)
			continue;
		if (e->expire_us <= now) {
			if (e->state == ARP_VALID || e->tries >= TCP_ARP_TRIES) {
				arp_drop_queue(st, e);
				e->state = ARP_FREE;
				continue;
			}
			e->tries++;
			e->expire_us = now + TCP_ARP_RETRY_US;
			arp_send(st, RTE_ARP_OP_REQUEST, NULL, e->ip);
		}
		if (e->expire_us < next)
			next = e->expire_us;
	}
	if (next != UINT64_MAX && next < now + 100000)
		next = now + 100000;
	st->arp_next_us = next;
}

/* ---------------------------------------------------------------- IPv4 output */

/* `m` holds a complete frame whose Ethernet destination is still to be filled in. Sends it now
 * if the next hop is resolved, else parks it on the next hop's ARP entry (bounded). */
int
tcp_ip_output(struct tcp_stack *st, struct rte_mbuf *m, uint32_t dst)
{
	uint32_t nh = dst;
	struct tcp_arp_entry *e;
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (((dst ^ st->conf.ip) & st->conf.netmask) != 0 && st->conf.gateway != 0)
		nh = st->conf.gateway;
	rte_ether_addr_copy(&st->conf.mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	e = arp_find(st, nh);
	if (e && e->state == ARP_VALID && e->expire_us > st->now_us) {
		rte_ether_addr_copy(&e->mac, &eh->dst_addr);
		tcp_xmit(st, m);
		return 0;
	}
	if (e == NULL || e->state == ARP_VALID) {
		/* Unknown or expired: start (re)resolution. */
		if (e == NULL)
			e = arp_new(st, nh);
		e->state = ARP_PENDING;
		e->tries = 1;
		e->expire_us = st->now_us + TCP_ARP_RETRY_US;
		arp_sched(st, e->expire_us);
		arp_send(st, RTE_ARP_OP_REQUEST, NULL, nh);
	}
	if (e->qlen == TCP_ARP_QLEN) {
		/* Keep the newest: retransmissions supersede older copies of the same data. */
		rte_pktmbuf_free(e->q[0]);
		memmove(&e->q[0], &e->q[1], sizeof(e->q[0]) * (TCP_ARP_QLEN - 1));
		e->qlen--;
		st->stats.arp_dropped++;
	}
	e->q[e->qlen++] = m;
	st->stats.arp_queued++;
	return -EAGAIN;
}

/* ---------------------------------------------------------------- ICMP */

static void
icmp_input(struct tcp_stack *st, struct rte_mbuf *m, struct rte_ipv4_hdr *ip, uint16_t off)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t len = rte_be_to_cpu_16(ip->total_length) - (uint16_t)rte_ipv4_hdr_len(ip);
	struct rte_icmp_hdr *ic;
	uint16_t sum;

	/* Echo with IP options would need the options reflected; nobody needs that. */
	if (len < sizeof(*ic) || m->nb_segs != 1 || rte_ipv4_hdr_len(ip) != sizeof(*ip))
		goto drop;
	ic = rte_pktmbuf_mtod_offset(m, struct rte_icmp_hdr *, off);
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
		goto drop;
	if (rte_raw_cksum(ic, len) != 0xffff)
		goto drop;
	/* Reply in place: swap the addresses, keep identifier, sequence and payload. */
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	sum = rte_raw_cksum(ic, len);
	ic->icmp_cksum = (sum == 0xffff) ? sum : (uint16_t)~sum;
	ip->dst_addr = ip->src_addr;
	ip->src_addr = st->conf.ip;
	ip->time_to_live = 64;
	ip->packet_id = rte_cpu_to_be_16(st->ip_id++);
	ip->fragment_offset = 0;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	rte_ether_addr_copy(&eh->src_addr, &eh->dst_addr);
	rte_ether_addr_copy(&st->conf.mac, &eh->src_addr);
	st->stats.icmp_echo++;
	tcp_xmit(st, m);
	return;
drop:
	st->stats.drop_icmp++;
	rte_pktmbuf_free(m);
}

/* ---------------------------------------------------------------- IPv4 input */

static void
ip_input(struct tcp_stack *st, struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip;
	uint32_t hlen, tlen, avail = m->pkt_len - RTE_ETHER_HDR_LEN;

	if (m->data_len < RTE_ETHER_HDR_LEN + sizeof(*ip))
		goto bad_hdr;
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	hlen = rte_ipv4_hdr_len(ip);
	tlen = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || hlen < sizeof(*ip) || tlen < hlen || tlen > avail ||
	    m->data_len < RTE_ETHER_HDR_LEN + hlen)
		goto bad_hdr;
	if (rte_raw_cksum(ip, hlen) != 0xffff) {
		st->stats.drop_ip_csum++;
		goto drop;
	}
	if (ip->dst_addr != st->conf.ip) {
		st->stats.drop_not_ours++;
		goto drop;
	}
	if (ip->fragment_offset &
	    rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		st->stats.drop_ip_frag++;
		goto drop;
	}
	if (tlen < avail) /* Ethernet padding */
		rte_pktmbuf_trim(m, (uint16_t)(avail - tlen));
	switch (ip->next_proto_id) {
	case IPPROTO_TCP:
		tcp_input(st, m, ip, (uint16_t)(RTE_ETHER_HDR_LEN + hlen));
		return;
	case IPPROTO_ICMP:
		icmp_input(st, m, ip, (uint16_t)(RTE_ETHER_HDR_LEN + hlen));
		return;
	default:
		st->stats.drop_not_ours++;
		goto drop;
	}
bad_hdr:
	st->stats.drop_ip_hdr++;
drop:
	rte_pktmbuf_free(m);
}

void
tcp_stack_input(struct tcp_stack *st, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us)
{
	if (now_us > st->now_us)
		st->now_us = now_us;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_ether_hdr *eh;

		st->stats.rx_frames++;
		if (m->data_len < RTE_ETHER_HDR_LEN) {
			st->stats.drop_eth++;
			rte_pktmbuf_free(m);
			continue;
		}
		eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		if (!rte_is_same_ether_addr(&eh->dst_addr, &st->conf.mac) &&
		    !rte_is_broadcast_ether_addr(&eh->dst_addr)) {
			st->stats.drop_eth++;
			rte_pktmbuf_free(m);
			continue;
		}
		if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
			ip_input(st, m);
		else if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
			arp_input(st, m);
		else {
			st->stats.drop_eth++;
			rte_pktmbuf_free(m);
		}
	}
	tcp_dispatch(st);
}

/* ---------------------------------------------------------------- events and output lists */

void
tcp_ev_post(struct tcp_conn *c, uint8_t ev)
{
	struct tcp_stack *st = c->st;
	uint32_t idx = tcp_conn_idx(st, c);

	c->ev |= ev;
	if (c->flags & TF_ON_EVQ)
		return;
	c->flags |= TF_ON_EVQ;
	c->ev_next = TCP_NIL;
	if (st->evq_tail == TCP_NIL)
		st->evq_head = idx;
	else
		st->conns[st->evq_tail].ev_next = idx;
	st->evq_tail = idx;
}

void
tcp_out_post(struct tcp_conn *c)
{
	struct tcp_stack *st = c->st;
	uint32_t idx = tcp_conn_idx(st, c);

	if (c->flags & TF_ON_OUTQ)
		return;
	c->flags |= TF_ON_OUTQ;
	c->out_next = TCP_NIL;
	if (st->outq_tail == TCP_NIL)
		st->outq_head = idx;
	else
		st->conns[st->outq_tail].out_next = idx;
	st->outq_tail = idx;
}

static void
run_outq(struct tcp_stack *st)
{
	while (st->outq_head != TCP_NIL) {
		struct tcp_conn *c = &st->conns[st->outq_head];

		st->outq_head = c->out_next;
		if (st->outq_head == TCP_NIL)
			st->outq_tail = TCP_NIL;
		c->flags &= ~TF_ON_OUTQ;
		tcp_output(c);
	}
}

/* Deliver pending events. Handlers may call any tcp_* function, which may post more events or
 * output; the loop runs until both lists are empty. A connection is freed only here, after its
 * final event, so nothing the app holds is freed under its feet. */
void
tcp_dispatch(struct tcp_stack *st)
{
	const struct tcp_app_ops *ops = st->conf.ops;

	if (st->in_dispatch)
		return;
	st->in_dispatch = 1;
	while (st->evq_head != TCP_NIL) {
		struct tcp_conn *c = &st->conns[st->evq_head];
		uint8_t ev;

		st->evq_head = c->ev_next;
		if (st->evq_head == TCP_NIL)
			st->evq_tail = TCP_NIL;
		c->flags &= ~TF_ON_EVQ;
		ev = c->ev;
		c->ev = 0;
		if ((ev & TEV_OPEN) && !(c->flags & TF_APP_GONE)) {
			if (c->flags & TF_ACTIVE) {
				/* Counted in conns_current since tcp_connect. */
				if (ops->connected)
					ops->connected(c->ctx, c);
			} else {
				void *ctx = ops->accepted(st->listeners[c->listener].ctx, c);

				if (ctx == NULL) {
					/* Refused: reset, and no events ever (the app never had
					 * it). */
					c->flags |= TF_APP_GONE;
					tcp_abort(c);
					ev = 0;
				} else {
					c->ctx = ctx;
					c->flags |= TF_APP;
					st->stats.conns_current++;
				}
			}
		}
		if ((c->flags & (TF_APP | TF_APP_GONE)) == TF_APP) {
			if ((ev & TEV_READABLE) && !(ev & TEV_CLOSED) && ops->readable)
				ops->readable(c->ctx, c);
			if ((ev & TEV_WRITABLE) && !(ev & TEV_CLOSED) && ops->writable)
				ops->writable(c->ctx, c);
			if (ev & TEV_CLOSED) {
				c->flags |= TF_APP_GONE;
				st->stats.conns_current--;
				st->stats.conns_closed++;
				if (ops->closed)
					ops->closed(c->ctx, c, (enum tcp_close_reason)c->why);
				c->ctx = NULL;
				/* Unread data dies with the app's view (TIME_WAIT keeps the TCB).
				 */
				tcp_mq_free(&c->rcvq);
				c->rcv_len = 0;
			}
		}
		if ((c->flags & TF_FREE_PEND) && !(c->flags & TF_ON_EVQ))
			tcp_conn_free(c);
		if (st->evq_head == TCP_NIL)
			run_outq(st);
	}
	st->in_dispatch = 0;
}

void
tcp_stack_flush(struct tcp_stack *st)
{
	run_outq(st);
	tcp_dispatch(st);
	tcp_stack_flush_tx(st);
}

int
tcp_stack_timers(struct tcp_stack *st, uint64_t now_us)
{
	int n;

	if (now_us > st->now_us)
		st->now_us = now_us;
	n = tcp_wheel_run(&st->wheel, now_us, TCP_TIMER_BUDGET, tcp_timer_fire, st);
	arp_timers(st);
	tcp_dispatch(st);
	return n;
}

uint64_t
tcp_stack_next_timer(const struct tcp_stack *st)
{
	uint64_t t = tcp_wheel_next(&st->wheel);

	return t < st->arp_next_us ? t : st->arp_next_us;
}

const struct tcp_stats *
tcp_stack_stats(const struct tcp_stack *st)
{
	return &st->stats;
}

int
tcp_listen(struct tcp_stack *st, uint16_t port, void *ctx)
{
	return tcp_listen_cc(st, port, ctx, TCP_CC_NEWRENO);
}

int
tcp_listen_cc(struct tcp_stack *st, uint16_t port, void *ctx, enum tcp_cc cc)
{
	if (port == 0 || (unsigned int)cc >= TCP_CC_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < st->n_listeners; i++)
		if (st->listeners[i].port == port)
			return -EADDRINUSE;
	if (st->n_listeners == TCP_MAX_LISTENERS)
		return -ENOSPC;
	st->listeners[st->n_listeners].port = port;
	st->listeners[st->n_listeners].ctx = ctx;
	st->listeners[st->n_listeners].cc = (uint8_t)cc;
	st->n_listeners++;
	return 0;
}

/* ---------------------------------------------------------------- ISN (RFC 6528) */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

/* SipHash-2-4 of n 64-bit words, hand-rolled because neither DPDK nor ipsec-mb has a keyed
 * PRF this small; rte_jhash is not one (its output is predictable without the seed). */
static uint64_t
siphash_words(const uint64_t key[2], const uint64_t *w, unsigned int n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t last = (uint64_t)(n * 8) << 56;

	for (unsigned int i = 0; i < n; i++) {
		v3 ^= w[i];
		SIPROUND;
		SIPROUND;
		v0 ^= w[i];
	}
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t
tcp_siphash_isn(const struct tcp_stack *st, const struct tcp_key *k)
{
	uint64_t w[2] = {((uint64_t)k->faddr << 32) | st->conf.ip,
	                 ((uint64_t)k->fport << 16) | k->lport};

	/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 us clock. */
	return (uint32_t)siphash_words(st->isn_key, w, 2) + (uint32_t)(st->now_us >> 2);
}

uint32_t
tcp_cookie_mac(const struct tcp_stack *st, const struct tcp_key *k, uint32_t irs, uint32_t t,
               uint32_t mss_idx)
{
	/* The third word keeps cookies and ISNs apart (domain separation). */
	uint64_t w[3] = {((uint64_t)k->faddr << 32) | st->conf.ip,
	                 ((uint64_t)k->fport << 48) | ((uint64_t)k->lport << 32) | irs,
	                 ((uint64_t)t << 8) | mss_idx | (0xc00c1eULL << 40)};

	return (uint32_t)siphash_words(st->isn_key, w, 3);
}

/* ---------------------------------------------------------------- lifecycle */

struct tcp_stack *
tcp_stack_create(const struct tcp_stack_conf *conf)
{
	struct rte_hash_parameters hp = {0};
	struct tcp_stack *st;
	char name[RTE_HASH_NAMESIZE];
	static unsigned int seq;

	if (conf == NULL || conf->pool == NULL || conf->tx == NULL || conf->ops == NULL ||
	    conf->ops->accepted == NULL || conf->max_conns == 0 || conf->max_conns >= TCP_NIL ||
	    conf->mtu < 576) {
		errno = EINVAL;
		return NULL;
	}
	st = rte_zmalloc_socket("tcp_stack", sizeof(*st), RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY);
	if (st == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	st->conf = *conf;
	if (st->conf.arp_timeout_us == 0)
		st->conf.arp_timeout_us = TCP_DEFAULT_ARP_US;
	if (st->conf.rcvbuf == 0)
		st->conf.rcvbuf = 65535;
	if (st->conf.rcvbuf > (65535u << TCP_WS_MAX))
		st->conf.rcvbuf = 65535u << TCP_WS_MAX;
	if (st->conf.sndbuf == 0)
		st->conf.sndbuf = 65536;
	/* Autotuning's budget; with it on, our window shift leaves room for rcvbuf's growth (a
	 * shift is fixed at the handshake). */
	if (conf->buf_budget == UINT32_MAX)
		st->buf_budget = 0;
	else if (conf->buf_budget)
		st->buf_budget = conf->buf_budget;
	else
		st->buf_budget = (uint64_t)conf->pool->size / 4 * 1024;
	while (((uint64_t)st->conf.rcvbuf << (st->buf_budget ? TCP_BUF_GROW_MAX : 0) >>
	        st->ws_local) > 65535 &&
	       st->ws_local < TCP_WS_MAX)
		st->ws_local++;
	st->msl_us = conf->msl_us ? conf->msl_us : TCP_MSL_DEFAULT_US;
	if (st->msl_us > 600000000u) /* deadlines are 32-bit µs offsets (35 min each way) */
		st->msl_us = 600000000u;
	st->mss_local = (uint16_t)(conf->mtu - 40);
	/* Half-open connections beyond this are answered with SYN cookies, not TCBs. */
	st->syn_backlog = conf->max_conns / 2 ? conf->max_conns / 2 : 1;
	/* A transmitted segment is copied into one mbuf with its headers (see tcp_proto.c). */
	{
		uint16_t room = rte_pktmbuf_data_room_size(conf->pool) - RTE_PKTMBUF_HEADROOM;

		if (room < TCP_HDRS_LEN + 64) {
			rte_free(st);
			errno = EINVAL;
			return NULL;
		}
		if (st->mss_local > room - TCP_HDRS_LEN)
			st->mss_local = (uint16_t)(room - TCP_HDRS_LEN);
	}
	st->evq_head = st->evq_tail = TCP_NIL;
	st->outq_head = st->outq_tail = TCP_NIL;
	st->tw_head = st->tw_tail = TCP_NIL;
	st->arp_next_us = UINT64_MAX;
	tcp_wheel_init(&st->wheel, 0);
	if (getrandom(st->isn_key, sizeof(st->isn_key), 0) != sizeof(st->isn_key)) {
		st->isn_key[0] = rte_rand();
		st->isn_key[1] = rte_rand();
	}
	st->next_port = (uint16_t)(32768 + (rte_rand() % 28000));

	st->conns = rte_zmalloc_socket("tcp_conns", sizeof(struct tcp_conn) * conf->max_conns,
	                               RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY);
	if (st->conns == NULL)
		goto nomem;
	for (uint32_t i = 0; i < conf->max_conns; i++) {
		st->conns[i].st = st;
		st->conns[i].ev_next = i + 1 < conf->max_conns ? i + 1 : TCP_NIL;
	}
	st->free_head = 0;

	st->n_sbs =
	        conf->sack_boards ? conf->sack_boards : RTE_MIN(conf->max_conns, TCP_SB_DEFAULT);
	st->sbs = rte_zmalloc_socket("tcp_sack", sizeof(struct tcp_sackboard) * st->n_sbs,
	                             RTE_CACHE_LINE_SIZE, SOCKET_ID_ANY);
	if (st->sbs == NULL)
		goto nomem;
	for (uint32_t i = 0; i < st->n_sbs; i++)
		st->sbs[i].next = i + 1 < st->n_sbs ? i + 1 : TCP_NIL;
	st->sb_free = 0;

	snprintf(name, sizeof(name), "tcp%u_%u", conf->lcore,
	         __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	hp.name = name;
	hp.entries = conf->max_conns < 8 ? 8 : conf->max_conns;
	hp.key_len = sizeof(struct tcp_key);
	hp.hash_func = rte_jhash;
	hp.socket_id = (int)rte_socket_id();
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE; /* never fail an insert below max_conns */
	st->hash = rte_hash_create(&hp);
	if (st->hash == NULL)
		goto nomem;
	return st;
nomem:
	rte_free(st->sbs);
	rte_free(st->conns);
	rte_free(st);
	errno = ENOMEM;
	return NULL;
}

void
tcp_stack_destroy(struct tcp_stack *st)
{
	if (st == NULL)
		return;
	/* No events: the app tears itself down separately. */
	for (uint32_t i = 0; i < st->conf.max_conns; i++) {
		struct tcp_conn *c = &st->conns[i];

		if (c->state == TCPS_CLOSED)
			continue;
		tcp_mq_free(&c->sndq);
		tcp_mq_free(&c->rcvq);
		while (c->ooo) {
			struct rte_mbuf *m = c->ooo;

			c->ooo = m->next;
			m->next = NULL;
			rte_pktmbuf_free(m);
		}
	}
	for (int i = 0; i < TCP_ARP_SLOTS; i++)
		arp_drop_queue(st, &st->arp[i]);
	for (uint16_t i = 0; i < st->txq_len; i++)
		rte_pktmbuf_free(st->txq[i]);
	rte_hash_free(st->hash);
	rte_free(st->sbs);
	rte_free(st->conns);
	rte_free(st);
}

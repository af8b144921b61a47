/* SPDX-License-Identifier: Apache-2.0
 * Segment-level harness: see tcp_harness.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>

#include "tcp_harness.h"

#pragma GCC diagnostic ignored "-Woverride-init"

struct harness H;
uint64_t h_next_keepalive_us;
uint32_t h_next_buf_budget;
struct rte_mempool *test_pool;

#define T0_US    5000000ull
#define MAX_CAPT 1024

static struct rte_mbuf *capt[MAX_CAPT];
static unsigned int capt_head, capt_len;
static uint32_t peer_nxt; /* peer's next sequence, relative */

/* Our ISS differs per connection (RFC 6528), so it is learned per peer port. */
static struct {
	uint16_t port;
	uint32_t iss;
} iss_tab[16];
static unsigned int n_iss;

static uint32_t
iss_get(uint16_t peer_port)
{
	for (unsigned int i = 0; i < n_iss; i++)
		if (iss_tab[i].port == peer_port)
			return iss_tab[i].iss;
	return H.iss;
}

static void
iss_set(uint16_t peer_port, uint32_t iss)
{
	unsigned int i;

	H.iss = iss;
	for (i = 0; i < n_iss; i++)
		if (iss_tab[i].port == peer_port)
			break;
	if (i == RTE_DIM(iss_tab))
		return;
	if (i == n_iss)
		n_iss++;
	iss_tab[i].port = peer_port;
	iss_tab[i].iss = iss;
}
static uint32_t our_nxt; /* our highest next sequence seen, relative */

static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0, 0x01}};
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0x02}};

void
h_fail(int line, const char *fmt, ...)
{
	va_list ap;

	printf("#   %s: line %d: ", H.name, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	H.failed = 1;
}

static uint16_t
cap_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		if (capt_len == MAX_CAPT) {
			rte_pktmbuf_free(pkts[i]);
			H.failed = 1;
			continue;
		}
		capt[(capt_head + capt_len++) % MAX_CAPT] = pkts[i];
	}
	return n;
}

/* ---------------------------------------------------------------- test application */

/* Payload bytes are a function of their relative sequence number, both directions. */
static uint8_t
pattern(uint32_t seq)
{
	return (uint8_t)(seq * 7 + 3);
}

static void
app_drain(struct app_conn *a)
{
	char buf[4096];
	ssize_t n;

	while ((n = tcp_recv(a->c, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if ((uint8_t)buf[i] != pattern((uint32_t)(a->consumed + (size_t)i))) {
				h_fail(0, "received byte %zu differs", a->consumed + (size_t)i);
				break;
			}
		a->consumed += (size_t)n;
	}
}

static void *
app_accepted(void *lctx, struct tcp_conn *c)
{
	struct app_conn *a;

	if (H.refuse || H.n_conns == (int)RTE_DIM(H.conns))
		return NULL;
	a = &H.conns[H.n_conns++];
	memset(a, 0, sizeof(*a));
	a->c = c;
	a->accepted = 1;
	a->consume = H.auto_consume;
	return a;
}

static void
app_connected(void *ctx, struct tcp_conn *c)
{
	((struct app_conn *)ctx)->connected++;
}

static void
app_readable(void *ctx, struct tcp_conn *c)
{
	struct app_conn *a = ctx;

	a->readable++;
	if (a->consume)
		app_drain(a);
	if (tcp_recv_eof(c))
		a->eof_seen = 1;
}

static void
app_writable(void *ctx, struct tcp_conn *c)
{
	((struct app_conn *)ctx)->writable++;
}

static void
app_closed(void *ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
	struct app_conn *a = ctx;

	a->closed++;
	a->why = why;
	a->c = NULL;
}

static const struct tcp_app_ops app_ops = {
        .accepted = app_accepted,
        .connected = app_connected,
        .readable = app_readable,
        .writable = app_writable,
        .closed = app_closed,
};

/* ---------------------------------------------------------------- script steps */

void
h_begin(const char *name, uint32_t rcvbuf)
{
	memset(&H, 0, sizeof(H));
	H.name = name;
	H.in_use_start = rte_mempool_in_use_count(test_pool);
	H.now_us = T0_US;
	H.auto_consume = 1;
	H.conf.ip = rte_cpu_to_be_32(OUR_IP);
	H.conf.netmask = rte_cpu_to_be_32(IP4(255, 255, 255, 0));
	H.conf.gateway = rte_cpu_to_be_32(IP4(198, 18, 0, 254));
	H.conf.mac = our_mac;
	H.conf.mtu = 1500;
	H.conf.pool = test_pool;
	H.conf.tx = cap_tx;
	H.conf.ops = &app_ops;
	H.conf.max_conns = 4;
	H.conf.rcvbuf = rcvbuf;
	H.conf.sndbuf = 16384;
	H.conf.arp_timeout_us = 600 * 1000000u;
	H.conf.msl_us = 1000000u; /* TIME_WAIT = 2 s */
	H.conf.keepalive_us = h_next_keepalive_us;
	h_next_keepalive_us = 0;
	/* Autotuning off unless a script asks: windows and send space stay exactly rcvbuf and
	 * sndbuf, as most scripts' expectations are written. */
	H.conf.buf_budget = h_next_buf_budget ? h_next_buf_budget : UINT32_MAX;
	h_next_buf_budget = 0;
	capt_head = capt_len = 0;
	n_iss = 0;
	peer_nxt = 0;
	our_nxt = 0;
	H.st = tcp_stack_create(&H.conf);
	if (H.st == NULL) {
		h_fail(0, "tcp_stack_create failed");
		return;
	}
	tcp_listen(H.st, OUR_PORT, NULL);
}

void
h_end(void)
{
	unsigned int in_use;

	h_none(-1);
	tcp_stack_destroy(H.st);
	while (capt_len) {
		rte_pktmbuf_free(capt[capt_head]);
		capt_head = (capt_head + 1) % MAX_CAPT;
		capt_len--;
	}
	in_use = rte_mempool_in_use_count(test_pool);
	if (in_use != H.in_use_start)
		h_fail(-1, "mbuf leak: %u in use, %u at start", in_use, H.in_use_start);
}

void
h_at_us(uint64_t us)
{
	H.now_us = T0_US + us;
	tcp_stack_timers(H.st, H.now_us);
	tcp_stack_flush(H.st);
}

void
h_at(uint64_t ms)
{
	h_at_us(ms * 1000);
}

static struct rte_mbuf *burst[32];
static int burst_on, burst_n;

void
h_in_burst_begin(void)
{
	burst_on = 1;
	burst_n = 0;
}

void
h_in_burst_end(void)
{
	burst_on = 0;
	tcp_stack_input(H.st, burst, (uint16_t)burst_n, H.now_us);
	tcp_stack_flush(H.st);
}

void
h_in_frame(const void *frame, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(test_pool);

	if (m == NULL) {
		h_fail(0, "pool empty");
		return;
	}
	memcpy(rte_pktmbuf_append(m, len), frame, len);
	if (burst_on && burst_n < (int)RTE_DIM(burst)) {
		burst[burst_n++] = m;
		return;
	}
	tcp_stack_input(H.st, &m, 1, H.now_us);
	tcp_stack_flush(H.st);
}

void
h_in(const struct seg_spec *s, int line)
{
	uint8_t f[2048];
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	uint8_t flags = s->flags == ANY ? ACK : (uint8_t)s->flags;
	uint32_t seq = s->seq == ANY ? peer_nxt : (uint32_t)s->seq;
	uint32_t ack = s->ack == ANY ? our_nxt : (uint32_t)s->ack;
	uint32_t len = s->len == ANY ? 0 : (uint32_t)s->len;
	unsigned int nsack = 0;
	uint16_t optlen;

	while (nsack < 4 && s->sack[nsack][1] != 0)
		nsack++;
	optlen = (uint16_t)((s->mss == ANY ? 0 : 4) + (s->wscale == ANY ? 0 : 4) +
	                    (s->tsval == ANY ? 0 : 12) + (s->sackok ? 4 : 0) +
	                    (nsack ? 4 + 8 * nsack : 0));
	uint16_t sport = s->sport == ANY ? PEER_PORT : (uint16_t)s->sport;
	uint32_t iss = iss_get(sport);
	uint8_t *pl;

	pl = (uint8_t *)(th + 1) + optlen;
	memset(f, 0, sizeof(f));
	eh->dst_addr = our_mac;
	eh->src_addr = peer_mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(40 + optlen + len));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(s->src_ip ? s->src_ip : PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->src_port = rte_cpu_to_be_16(sport);
	th->dst_port = rte_cpu_to_be_16(s->dport == ANY ? OUR_PORT : (uint16_t)s->dport);
	th->sent_seq = rte_cpu_to_be_32(PEER_ISN + seq);
	th->recv_ack = (flags & ACK) ? rte_cpu_to_be_32(s->abs_ack ? ack : iss + ack) : 0;
	th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(s->win == ANY ? 65535 : (uint16_t)s->win);
	if (optlen) {
		uint8_t *o = (uint8_t *)(th + 1);

		if (s->mss != ANY) {
			*o++ = 2;
			*o++ = 4;
			*o++ = (uint8_t)(s->mss >> 8);
			*o++ = (uint8_t)s->mss;
		}
		if (s->wscale != ANY) {
			*o++ = 1;
			*o++ = 3;
			*o++ = 3;
			*o++ = (uint8_t)s->wscale;
		}
		if (s->tsval != ANY) {
			uint32_t v = rte_cpu_to_be_32((uint32_t)s->tsval);
			uint32_t e = rte_cpu_to_be_32(s->tsecr == ANY ? 0 : (uint32_t)s->tsecr);

			*o++ = 1;
			*o++ = 1;
			*o++ = 8;
			*o++ = 10;
			memcpy(o, &v, 4);
			memcpy(o + 4, &e, 4);
			o += 8;
		}
		if (s->sackok) {
			*o++ = 1;
			*o++ = 1;
			*o++ = 4;
			*o++ = 2;
		}
		if (nsack) {
			*o++ = 1;
			*o++ = 1;
			*o++ = 5;
			*o++ = (uint8_t)(2 + 8 * nsack);
			for (unsigned int i = 0; i < nsack; i++, o += 8) {
				uint32_t l = rte_cpu_to_be_32(iss + s->sack[i][0]);
				uint32_t r = rte_cpu_to_be_32(iss + s->sack[i][1]);

				memcpy(o, &l, 4);
				memcpy(o + 4, &r, 4);
			}
		}
	}
	for (uint32_t i = 0; i < len; i++)
		pl[i] = s->data ? ((const uint8_t *)s->data)[i] : pattern(seq - 1 + i);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	if (s->bad_csum)
		th->cksum ^= 0x5a5a;
	if (SEQ_GT_U(seq + len + !!(flags & SYN) + !!(flags & FIN), peer_nxt))
		peer_nxt = seq + len + !!(flags & SYN) + !!(flags & FIN);
	(void)line;
	h_in_frame(f, (uint16_t)(RTE_ETHER_HDR_LEN + 40 + optlen + len));
}

int
h_pop_frame(void *buf, uint16_t cap, int line)
{
	struct rte_mbuf *m;
	int len;

	if (capt_len == 0)
		return -1;
	m = capt[capt_head];
	capt_head = (capt_head + 1) % MAX_CAPT;
	capt_len--;
	len = (int)m->pkt_len;
	if (len > cap) {
		h_fail(line, "frame too long (%d)", len);
		len = cap;
	}
	{
		const void *p = rte_pktmbuf_read(m, 0, (uint32_t)len, buf);

		if (p != buf)
			memcpy(buf, p, (size_t)len);
	}
	rte_pktmbuf_free(m);
	return len;
}

static const char *
flag_str(uint8_t f, char *b)
{
	snprintf(b, 32, "%s%s%s%s%s", f & SYN ? "S" : "", f & FIN ? "F" : "", f & RST ? "R" : "",
	         f & PSH ? "P" : "", f & ACK ? "." : "");
	return b;
}

void
h_out(const struct seg_spec *s, int line)
{
	uint8_t f[2048];
	int len = h_pop_frame(f, sizeof(f), line);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	uint32_t doff, plen, seq, ack;
	int64_t mss = ANY, ws = ANY, tsecr = ANY, sack_n = 0, sack_l = ANY, sack_r = ANY;
	int sackok = 0;
	char b1[32], b2[32];

	if (len < 0) {
		h_fail(line, "expected a segment, none sent");
		return;
	}
	if (len < 54 || eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ip->next_proto_id != IPPROTO_TCP) {
		h_fail(line, "expected a TCP segment, got a %d-byte frame type %04x", len,
		       rte_be_to_cpu_16(eh->ether_type));
		return;
	}
	if (!rte_is_same_ether_addr(&eh->dst_addr, &peer_mac) ||
	    !rte_is_same_ether_addr(&eh->src_addr, &our_mac))
		h_fail(line, "wrong MAC addresses");
	if (rte_raw_cksum(ip, 20) != 0xffff)
		h_fail(line, "bad IP checksum");
	if (rte_ipv4_udptcp_cksum_verify(ip, th) != 0)
		h_fail(line, "bad TCP checksum");
	if (ip->src_addr != rte_cpu_to_be_32(OUR_IP) || ip->dst_addr != rte_cpu_to_be_32(PEER_IP))
		h_fail(line, "wrong IP addresses");
	doff = (uint32_t)(th->data_off >> 4) * 4;
	plen = rte_be_to_cpu_16(ip->total_length) - 20 - doff;
	if (th->tcp_flags & SYN)
		iss_set(rte_be_to_cpu_16(th->dst_port),
		        rte_be_to_cpu_32(th->sent_seq) - (s->seq == ANY ? 0 : (uint32_t)s->seq));
	seq = rte_be_to_cpu_32(th->sent_seq) - iss_get(rte_be_to_cpu_16(th->dst_port));
	ack = rte_be_to_cpu_32(th->recv_ack) - PEER_ISN;
	for (const uint8_t *o = (const uint8_t *)(th + 1); o < (const uint8_t *)th + doff;) {
		if (o[0] == 0)
			break;
		if (o[0] == 1) {
			o++;
			continue;
		}
		if (o[1] < 2)
			break;
		if (o[0] == 2 && o[1] == 4)
			mss = (o[2] << 8) | o[3];
		if (o[0] == 3 && o[1] == 3)
			ws = o[2];
		if (o[0] == 8 && o[1] == 10)
			tsecr = (uint32_t)o[6] << 24 | (uint32_t)o[7] << 16 | (uint32_t)o[8] << 8 |
			        o[9];
		if (o[0] == 4 && o[1] == 2)
			sackok = 1;
		if (o[0] == 5 && o[1] >= 10) {
			sack_n = (o[1] - 2) / 8;
			sack_l = (uint32_t)((uint32_t)o[2] << 24 | (uint32_t)o[3] << 16 |
			                    (uint32_t)o[4] << 8 | o[5]) - PEER_ISN;
			sack_r = (uint32_t)((uint32_t)o[6] << 24 | (uint32_t)o[7] << 16 |
			                    (uint32_t)o[8] << 8 | o[9]) - PEER_ISN;
		}
		o += o[1];
	}
	if (s->flags != ANY && th->tcp_flags != s->flags)
		h_fail(line, "flags %s, expected %s", flag_str(th->tcp_flags, b1),
		       flag_str((uint8_t)s->flags, b2));
	if (s->seq != ANY && seq != (uint32_t)s->seq)
		h_fail(line, "seq %u, expected %u", seq, (uint32_t)s->seq);
	if (s->ack != ANY && rte_be_to_cpu_32(th->recv_ack) !=
	                             (s->abs_ack ? (uint32_t)s->ack : PEER_ISN + (uint32_t)s->ack))
		h_fail(line, "ack %u, expected %u", ack, (uint32_t)s->ack);
	if (s->win != ANY && rte_be_to_cpu_16(th->rx_win) != s->win)
		h_fail(line, "win %u, expected %u", rte_be_to_cpu_16(th->rx_win), (unsigned)s->win);
	if (s->len != ANY && plen != s->len)
		h_fail(line, "len %u, expected %u", plen, (unsigned)s->len);
	if (s->mss != ANY && mss != s->mss)
		h_fail(line, "mss %lld, expected %lld", (long long)mss, (long long)s->mss);
	if (s->wscale != ANY && ws != (s->wscale < 0 ? ANY : s->wscale))
		h_fail(line, "wscale %lld, expected %lld", (long long)ws, (long long)s->wscale);
	if (s->sackok && !sackok)
		h_fail(line, "SACK-permitted absent");
	if (s->sack_n != ANY && sack_n != s->sack_n)
		h_fail(line, "%lld SACK blocks, expected %lld", (long long)sack_n, (long long)s->sack_n);
	if (s->sack_l != ANY && (sack_l != s->sack_l || sack_r != s->sack_r))
		h_fail(line, "first SACK block %lld-%lld, expected %lld-%lld", (long long)sack_l,
		       (long long)sack_r, (long long)s->sack_l, (long long)s->sack_r);
	if (s->tsval == -1 && tsecr != ANY)
		h_fail(line, "timestamps present, expected none");
	if (s->tsecr != ANY && tsecr != s->tsecr)
		h_fail(line, "tsecr %lld, expected %lld", (long long)tsecr, (long long)s->tsecr);
	if (s->data && memcmp((uint8_t *)th + doff, s->data, plen) != 0)
		h_fail(line, "payload differs");
	if (!s->data && plen && !(th->tcp_flags & RST)) {
		/* Our data is what the script sent with tcp_send: the same pattern, by our seq. */
		for (uint32_t i = 0; i < plen; i++)
			if (((uint8_t *)th + doff)[i] != pattern(seq - 1 + i)) {
				h_fail(line, "payload byte %u differs", i);
				break;
			}
	}
	if (SEQ_GT_U(seq + plen + !!(th->tcp_flags & SYN) + !!(th->tcp_flags & FIN), our_nxt) ||
	    (th->tcp_flags & SYN))
		our_nxt = seq + plen + !!(th->tcp_flags & SYN) + !!(th->tcp_flags & FIN);
}

void
h_none(int line)
{
	uint8_t f[2048];
	int len;

	while ((len = h_pop_frame(f, sizeof(f), line)) >= 0) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
		char b[32];

		if (len >= 54 && ip->next_proto_id == IPPROTO_TCP)
			h_fail(line, "unexpected segment %s seq %u ack %u len %u",
			       flag_str(th->tcp_flags, b), rte_be_to_cpu_32(th->sent_seq) - H.iss,
			       rte_be_to_cpu_32(th->recv_ack) - PEER_ISN,
			       rte_be_to_cpu_16(ip->total_length) - 20 - (th->data_off >> 4) * 4);
		else
			h_fail(line, "unexpected %d-byte frame", len);
	}
}

/* ---------------------------------------------------------------- helpers */

void
h_build_arp(uint8_t *f, uint16_t op, uint8_t sha_last, uint32_t sip, uint32_t tip, int bcast)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)f;
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
	struct rte_ether_addr sha = {{0x02, 0, 0, 0, 0, sha_last}};

	memset(f, 0, 42);
	if (bcast)
		memset(&eh->dst_addr, 0xff, 6);
	else
		eh->dst_addr = our_mac;
	eh->src_addr = sha;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = 6;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = sha;
	ah->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	ah->arp_data.arp_tip = rte_cpu_to_be_32(tip);
}

void
h_peer_arp(void)
{
	uint8_t f[42], r[64];

	h_build_arp(f, RTE_ARP_OP_REQUEST, 2, PEER_IP, OUR_IP, 1);
	h_in_frame(f, sizeof(f));
	if (h_pop_frame(r, sizeof(r), __LINE__) < 42)
		h_fail(__LINE__, "no ARP reply");
}

ssize_t
h_send(struct app_conn *a, size_t n)
{
	uint8_t buf[65536];
	ssize_t r;

	for (size_t i = 0; i < n && i < sizeof(buf); i++)
		buf[i] = pattern((uint32_t)(H.sent + i));
	r = tcp_send(a->c, buf, n);
	if (r > 0)
		H.sent += (size_t)r;
	return r;
}

static struct app_conn *
handshake(uint16_t win, uint16_t mss, int sackok)
{
	h_peer_arp();
	IN(.flags = SYN, .seq = 0, .win = win, .mss = mss, .sackok = sackok);
	OUT(.flags = SYN | ACK, .seq = 0, .ack = 1, .mss = 1460, .sackok = sackok);
	IN(.flags = ACK, .seq = 1, .ack = 1, .win = win);
	if (H.n_conns != 1) {
		h_fail(__LINE__, "handshake: accepted %d", H.n_conns);
		return &H.conns[RTE_DIM(H.conns) - 1];
	}
	return &H.conns[0];
}

struct app_conn *
h_handshake(uint16_t win, uint16_t mss)
{
	return handshake(win, mss, 0);
}

struct app_conn *
h_handshake_sack(uint16_t win, uint16_t mss)
{
	return handshake(win, mss, 1);
}

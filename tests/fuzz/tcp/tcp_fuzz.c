/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for tcpstack's input path (Ethernet/ARP/IPv4/ICMP/TCP).
 *
 * Each input is a fresh stack fed a little program, so that random bytes get past the checksums
 * and deep into the TCP state machine instead of dying at the first header check:
 *   0 len bytes...            a raw frame, as is (L2/L3 parsers, ARP, ICMP, garbage)
 *   1 flags sd(2) ad(2) win(2) port pay optlen opts...
 *                             a TCP segment from the peer with valid checksums; seq/ack are the
 *                             peer's/our next sequence plus the signed deltas sd/ad; in a SACK
 *                             option each edge's high 16 bits are a signed delta from our next
 *                             sequence (so blocks land in the flight and reach the scoreboard)
 *   2 ms                      advance the clock (timers run)
 *   3 conn action n           app action on accepted connection `conn`: send n bytes, consume,
 *                             close, abort, connect
 * Every input must leave the pool as it found it (checked after tcp_stack_destroy: a leak
 * aborts), and must not crash. The app echoes like the interop host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "tcpstack/tcp.h"

/* RTE_IPV4 shifts an int into the sign bit (UBSan); this does not. */
#define IP4(a, b, c, d)                                                                            \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define NPORTS 4

static struct rte_mempool *pool;
static struct tcp_stack *st;
static struct tcp_conn *conns[8];
static int nconns;
static uint32_t our_nxt[NPORTS], peer_nxt[NPORTS];
static uint16_t our_port[NPORTS]; /* our port toward each peer port, learned from our frames */
static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0, 1}};
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 2}};
#define OUR_IP  IP4(198, 18, 0, 1)
#define PEER_IP IP4(198, 18, 0, 2)

static uint16_t
fz_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rte_ipv4_hdr *ip;
		struct rte_tcp_hdr *th;

		if (m->data_len >= 54) {
			ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
			th = (struct rte_tcp_hdr *)(ip + 1);
			if (ip->next_proto_id == IPPROTO_TCP) {
				uint16_t p = rte_be_to_cpu_16(th->dst_port) % NPORTS;
				uint32_t len = rte_be_to_cpu_16(ip->total_length) - 20 -
				               (uint32_t)(th->data_off >> 4) * 4;

				our_port[p] = rte_be_to_cpu_16(th->src_port);
				our_nxt[p] = rte_be_to_cpu_32(th->sent_seq) + len +
				             !!(th->tcp_flags & RTE_TCP_SYN_FLAG) +
				             !!(th->tcp_flags & RTE_TCP_FIN_FLAG);
			}
		}
		rte_pktmbuf_free(m);
	}
	return n;
}

static void
fz_pump(struct tcp_conn *c)
{
	struct iovec iov[8];
	int n = tcp_recv_peek(c, iov, 8);
	size_t done = 0;

	for (int i = 0; i < n; i++) {
		ssize_t s = tcp_send(c, iov[i].iov_base, iov[i].iov_len);

		if (s <= 0)
			break;
		done += (size_t)s;
		if ((size_t)s < iov[i].iov_len)
			break;
	}
	tcp_recv_consume(c, done);
	if (tcp_recv_eof(c))
		tcp_close(c);
}

static void *
fz_accepted(void *l, struct tcp_conn *c)
{
	if (nconns == 8)
		return NULL;
	conns[nconns] = c;
	return &conns[nconns++];
}

static void
fz_connected(void *ctx, struct tcp_conn *c)
{
}

static void
fz_readable(void *ctx, struct tcp_conn *c)
{
	fz_pump(c);
}

static void
fz_closed(void *ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
	struct tcp_conn **slot = ctx;

	if (*slot != c)
		abort(); /* closed twice, or for a connection the app never had */
	*slot = NULL;
}

static const struct tcp_app_ops fz_ops = {
        .accepted = fz_accepted,
        .connected = fz_connected,
        .readable = fz_readable,
        .writable = fz_readable,
        .closed = fz_closed,
};

/* The fuzzer exits from inside libFuzzer, so the (empty, --no-shconf) runtime directory DPDK
 * leaves behind goes at exit. */
static void
fz_rm_runtime_dir(void)
{
	rmdir(rte_eal_get_runtime_dir());
}

static void
fz_init(void)
{
	static char prefix[64];
	char *eal[] = {"tcp_fuzz",
	               "--no-huge",
	               "-m",
	               "128",
	               "--no-pci",
	               "--no-shconf",
	               "--no-telemetry",
	               "-l",
	               "0",
	               "--log-level=error",
	               prefix,
	               NULL};

	snprintf(prefix, sizeof(prefix), "--file-prefix=fuzztcp%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
		abort();
	atexit(fz_rm_runtime_dir);
	pool = rte_pktmbuf_pool_create("fuzz", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                               SOCKET_ID_ANY);
	if (pool == NULL)
		abort();
}

static void
fz_frame(const uint8_t *f, uint16_t len, uint64_t now)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	if (m == NULL)
		return;
	memcpy(rte_pktmbuf_append(m, len), f, len);
	tcp_stack_input(st, &m, 1, now);
	tcp_stack_flush(st);
}

/* Returns bytes consumed from p. */
static size_t
fz_segment(const uint8_t *p, size_t n, uint64_t now)
{
	uint8_t f[1600];
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	uint8_t flags, port, pay, optlen;
	int16_t sd, ad;
	uint16_t win;
	size_t used = 11;

	if (n < 11)
		return n;
	flags = p[0];
	sd = (int16_t)(p[1] | p[2] << 8);
	ad = (int16_t)(p[3] | p[4] << 8);
	win = (uint16_t)(p[5] | p[6] << 8);
	port = p[7] % NPORTS;
	pay = p[8];
	optlen = (uint8_t)((p[9] % 11) * 4);
	if (used + optlen > n)
		optlen = 0;
	memset(f, 0, 14 + 20 + 20);
	eh->dst_addr = our_mac;
	eh->src_addr = peer_mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(40 + optlen + pay));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->src_port = rte_cpu_to_be_16((uint16_t)(40000 + port));
	/* Our port: the listener (p[10] odd), else the one we last used toward this peer port
	 * (active opens pick a random ephemeral port), else an arbitrary one. */
	th->dst_port = rte_cpu_to_be_16((p[10] & 1)      ? 1883
	                                : our_port[port] ? our_port[port]
	                                                 : (uint16_t)(32768 + p[10]));
	th->sent_seq = rte_cpu_to_be_32(peer_nxt[port] + (uint32_t)(int32_t)sd);
	th->recv_ack = rte_cpu_to_be_32(our_nxt[port] + (uint32_t)(int32_t)ad);
	th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(win);
	memcpy(th + 1, p + used, optlen);
	used += optlen;
	for (uint8_t *o = (uint8_t *)(th + 1), *end = o + optlen; o + 1 < end;) {
		if (*o <= 1) {
			o++;
			continue;
		}
		if (o[1] < 2 || o + o[1] > end)
			break;
		for (int e = 0; o[0] == 5 && 2 + 4 * e + 4 <= o[1]; e++) {
			uint8_t *v = o + 2 + 4 * e;
			uint32_t edge = rte_cpu_to_be_32(our_nxt[port] + (uint32_t)(int32_t)(int16_t)(
			                                                      v[0] << 8 | v[1]));

			memcpy(v, &edge, 4);
		}
		o += o[1];
	}
	for (int i = 0; i < pay; i++)
		((uint8_t *)(th + 1))[optlen + i] = (uint8_t)i;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	if (sd >= 0 || (flags & RTE_TCP_SYN_FLAG))
		peer_nxt[port] += (uint32_t)(int32_t)sd + pay + !!(flags & RTE_TCP_SYN_FLAG) +
		                  !!(flags & RTE_TCP_FIN_FLAG);
	fz_frame(f, (uint16_t)(14 + 40 + optlen + pay), now);
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	struct tcp_stack_conf conf = {0};
	uint64_t now = 1000000;
	size_t i = 0;
	unsigned int in_use;

	if (!inited) {
		fz_init();
		inited = 1;
	}
	conf.ip = rte_cpu_to_be_32(OUR_IP);
	conf.netmask = rte_cpu_to_be_32(0xffffff00u);
	conf.gateway = rte_cpu_to_be_32(IP4(198, 18, 0, 254));
	conf.mac = our_mac;
	conf.mtu = 1500;
	conf.pool = pool;
	conf.tx = fz_tx;
	conf.ops = &fz_ops;
	conf.max_conns = 6; /* syn_backlog 3: a fourth peer port gets SYN cookies */
	conf.rcvbuf = 8192;
	conf.sndbuf = 8192;
	conf.msl_us = 100000;
	conf.keepalive_us = 300000; /* exercise keepalive within a few clock steps */
	st = tcp_stack_create(&conf);
	if (st == NULL)
		abort();
	tcp_listen(st, 1883, NULL);
	memset(conns, 0, sizeof(conns));
	nconns = 0;
	memset(our_nxt, 0, sizeof(our_nxt));
	memset(peer_nxt, 0, sizeof(peer_nxt));
	memset(our_port, 0, sizeof(our_port));
	{
		/* Teach the stack the peer's MAC so replies leave at once. */
		uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2,   0,  0, 0, 0,
		                   2,    0x08, 0x06, 0,    1,    0x08, 0,   6,  4, 0, 1,
		                   2,    0,    0,    0,    0,    2,    198, 18, 0, 2, 0,
		                   0,    0,    0,    0,    0,    198,  18,  0,  1};

		fz_frame(arp, sizeof(arp), now);
	}
	while (i < size) {
		uint8_t op = data[i++] % 4;

		switch (op) {
		case 0: {
			uint16_t len = i < size ? data[i++] : 0;

			if (len > size - i)
				len = (uint16_t)(size - i);
			fz_frame(data + i, len, now);
			i += len;
			break;
		}
		case 1:
			i += fz_segment(data + i, size - i, now);
			break;
		case 2:
			now += (uint64_t)(i < size ? data[i++] : 1) * 7919; /* ~8 ms steps */
			tcp_stack_timers(st, now);
			tcp_stack_flush(st);
			break;
		case 3: {
			uint8_t who = i < size ? data[i++] : 0, n = i < size ? data[i++] : 0;
			struct tcp_conn *c = conns[who % 8];
			static const uint8_t junk[256];

			if ((who >> 3) % 5 == 4) {
				if (nconns < 8 &&
				    (conns[nconns] = tcp_connect(st, rte_cpu_to_be_32(PEER_IP),
				                                 (uint16_t)(40000 + n % NPORTS),
				                                 &conns[nconns], now)) != NULL)
					nconns++;
				tcp_stack_flush(st);
				break;
			}
			if (c == NULL)
				break;
			switch ((who >> 3) % 5) {
			case 0:
				tcp_send(c, junk, n);
				break;
			case 1:
				tcp_recv_consume(c, RTE_MIN((size_t)n, tcp_recv_avail(c)));
				break;
			case 2:
				tcp_close(c);
				break;
			case 3:
				tcp_abort(c);
				break;
			}
			tcp_stack_flush(st);
			break;
		}
		}
	}
	tcp_stack_destroy(st);
	st = NULL;
	in_use = rte_mempool_in_use_count(pool);
	if (in_use != 0) {
		fprintf(stderr, "mbuf leak: %u in use\n", in_use);
		abort();
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0
 * See micro_net_glue.h.
 */
#include "micro_net_glue.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "bench_frame.h"
#include "tcpstack/tcp.h"

#define TI_PORT     1883
#define TI_BURST    32u
#define TI_MAX_PREP 4096

static char eal_rundir[PATH_MAX];

int
bench_eal_init(const char *prog)
{
	char prefix[64];
	char *argv[] = {
	        (char *)prog,     "--no-huge",           "-m",   "256", "--no-pci", "--no-shconf",
	        "--no-telemetry", "--log-level=warning", prefix, NULL};

	snprintf(prefix, sizeof(prefix), "--file-prefix=tbmicro%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0)
		return -rte_errno;
	snprintf(eal_rundir, sizeof(eal_rundir), "%s", rte_eal_get_runtime_dir());
	return 0;
}

/* What tachyond does at exit: nothing is left in /var/run/dpdk. The directory holds only the
 * EAL's own files (lock files, config), so one level of unlink is enough. */
void
bench_eal_fini(void)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX + 256];

	rte_eal_cleanup();
	if (eal_rundir[0] == '\0' || (d = opendir(eal_rundir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", eal_rundir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(eal_rundir);
}

struct bench_tcpin {
	struct rte_mempool *pool;
	struct tcp_stack *st;
	uint64_t now_us;
	uint32_t n;
	struct bench_flow *flows;
	int capture; /* set-up: keep sent frames in cap[] to read SYN-ACKs */
	struct rte_mbuf *cap[TI_BURST * 4];
	unsigned int ncap;
	uint64_t tx_frames;
	unsigned int nprep, next;
	struct rte_mbuf *prep[TI_MAX_PREP];
};

static uint16_t
ti_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	struct bench_tcpin *b = ctx;

	b->tx_frames += n;
	for (uint16_t i = 0; i < n; i++) {
		if (b->capture && b->ncap < RTE_DIM(b->cap))
			b->cap[b->ncap++] = pkts[i];
		else
			rte_pktmbuf_free(pkts[i]);
	}
	return n;
}

static void *
ti_accepted(void *lctx, struct tcp_conn *c)
{
	(void)c;
	return lctx;
}

static void
ti_readable(void *ctx, struct tcp_conn *c)
{
	(void)ctx;
	tcp_recv_consume(c, tcp_recv_avail(c));
}

static void
ti_closed(void *ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
	(void)ctx, (void)c, (void)why;
}

static const struct tcp_app_ops ti_ops = {
        .accepted = ti_accepted,
        .readable = ti_readable,
        .closed = ti_closed,
};

static void
ti_input1(struct bench_tcpin *b, struct rte_mbuf *m)
{
	if (m != NULL)
		tcp_stack_input(b->st, &m, 1, b->now_us);
	tcp_stack_flush(b->st);
}

static void
ti_drop_captured(struct bench_tcpin *b)
{
	rte_pktmbuf_free_bulk(b->cap, b->ncap);
	b->ncap = 0;
}

/* SYN in, SYN-ACK out (its sequence number is the ISS to acknowledge), ACK in. */
static int
ti_handshake(struct bench_tcpin *b, struct bench_flow *f)
{
	struct bench_seg s;

	ti_input1(b, bench_frame_tcp(b->pool, f, RTE_TCP_SYN_FLAG, NULL, 0));
	f->snd_nxt++;
	if (b->ncap != 1 || bench_frame_parse(b->cap[0], &s) != 0 ||
	    s.flags != (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) {
		ti_drop_captured(b);
		return -EPROTO;
	}
	f->rcv_nxt = s.seq + 1;
	ti_drop_captured(b);
	ti_input1(b, bench_frame_tcp(b->pool, f, RTE_TCP_ACK_FLAG, NULL, 0));
	ti_drop_captured(b);
	return 0;
}

struct bench_tcpin *
bench_tcpin_new(uint32_t nconns)
{
	struct bench_tcpin *b = calloc(1, sizeof(*b));
	char name[32];
	static unsigned int seq;

	if (b == NULL)
		return NULL;
	b->n = nconns;
	b->flows = calloc(nconns, sizeof(*b->flows));
	snprintf(name, sizeof(name), "tbin%u", seq++);
	b->pool = rte_pktmbuf_pool_create(name, 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                                  SOCKET_ID_ANY);
	if (b->flows == NULL || b->pool == NULL)
		goto fail;
	b->now_us = 1000000;
	struct tcp_stack_conf sc = {
	        .ip = rte_cpu_to_be_32(RTE_IPV4(198, 18, 0, 1)),
	        .netmask = rte_cpu_to_be_32(0xffffff00u),
	        .mac = {{0x02, 0, 0, 0, 0, 0x01}},
	        .mtu = 1500,
	        .pool = b->pool,
	        .tx = ti_tx,
	        .tx_ctx = b,
	        .ops = &ti_ops,
	        .max_conns = nconns + 16,
	        .rcvbuf = 256 * 1024,
	        .sndbuf = 64 * 1024,
	        .arp_timeout_us = 3600u * 1000000u,
	};
	b->st = tcp_stack_create(&sc);
	if (b->st == NULL || tcp_listen(b->st, TI_PORT, b) < 0)
		goto fail;
	b->capture = 1;
	for (uint32_t i = 0; i < nconns; i++) {
		struct bench_flow *f = &b->flows[i];

		*f = (struct bench_flow){
		        .cmac = {{0x02, 0, 0, 0, 0, 0x02}},
		        .smac = sc.mac,
		        .cip = rte_cpu_to_be_32(RTE_IPV4(198, 18, 0, 2)),
		        .sip = sc.ip,
		        .cport = (uint16_t)(10000 + i),
		        .sport = TI_PORT,
		        .snd_nxt = 1000000u * (i + 1),
		};
		if (i == 0) { /* one client address: one ARP entry */
			ti_input1(b, bench_frame_arp(b->pool, f));
			ti_drop_captured(b);
		}
		if (ti_handshake(b, f) < 0) {
			errno = EPROTO;
			goto fail;
		}
	}
	b->capture = 0;
	return b;
fail:
	bench_tcpin_free(b);
	return NULL;
}

void
bench_tcpin_free(struct bench_tcpin *b)
{
	if (b == NULL)
		return;
	rte_pktmbuf_free_bulk(b->prep + b->next, b->nprep - b->next);
	if (b->st)
		tcp_stack_destroy(b->st);
	rte_mempool_free(b->pool);
	free(b->flows);
	free(b);
}

int
bench_tcpin_prepare(struct bench_tcpin *b, uint16_t len, unsigned int n)
{
	static const uint8_t zeros[1500];

	if (n > TI_MAX_PREP || len > sizeof(zeros))
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct bench_flow *f = &b->flows[i % b->n];

		b->prep[i] = bench_frame_tcp(b->pool, f, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, zeros,
		                             len);
		if (b->prep[i] == NULL) {
			rte_pktmbuf_free_bulk(b->prep, i);
			return -ENOMEM;
		}
		f->snd_nxt += len;
	}
	b->nprep = n;
	b->next = 0;
	return 0;
}

unsigned int
bench_tcpin_run(struct bench_tcpin *b)
{
	unsigned int fed = 0;

	while (b->next < b->nprep) {
		uint16_t k = (uint16_t)RTE_MIN(TI_BURST, b->nprep - b->next);

		/* 1 us per burst: time moves as on a busy lcore, so delayed ACKs come due. */
		b->now_us++;
		tcp_stack_input(b->st, b->prep + b->next, k, b->now_us);
		tcp_stack_timers(b->st, b->now_us);
		tcp_stack_flush(b->st);
		b->next += k;
		fed += k;
	}
	b->nprep = b->next = 0;
	return fed;
}

void
bench_tcpin_counts(const struct bench_tcpin *b, uint64_t *rx_bytes, uint64_t *tx_frames,
                   uint64_t *dropped)
{
	const struct tcp_stats *s = tcp_stack_stats(b->st);

	*rx_bytes = s->rx_bytes;
	*tx_frames = b->tx_frames;
	*dropped = s->drop_eth + s->drop_ip_hdr + s->drop_ip_csum + s->drop_tcp_csum +
	           s->drop_tcp_hdr + s->drop_no_conn + s->drop_nomem + s->ooo_segments;
}

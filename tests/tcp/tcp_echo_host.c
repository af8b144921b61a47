/* SPDX-License-Identifier: Apache-2.0
 * tcp_echo_host: tcpstack on a DPDK port (net_af_packet on a veth in the tests) serving an echo
 * application on port 7, for interop tests against the Linux TCP stack.
 *
 *   tcp_echo_host <EAL args> -- --ip A.B.C.D [--mask 255.255.255.0] [--gw A.B.C.D] [--port 7]
 *
 * Runs until SIGINT/SIGTERM, then prints the stack's counters and exits non-zero if any mbuf
 * is still out of the pool after the stack is destroyed (a leak).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "tcpstack/tcp.h"

static volatile sig_atomic_t stop;
static uint16_t port_id;
static uint64_t echoed, conns, tx_dropped;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint16_t
port_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t sent = 0;

	/* af_packet may refuse a burst while its ring is full; retry briefly, then drop. */
	for (int tries = 0; sent < n && tries < 64; tries++)
		sent += rte_eth_tx_burst(port_id, 0, pkts + sent, (uint16_t)(n - sent));
	tx_dropped += (uint64_t)(n - sent);
	rte_pktmbuf_free_bulk(pkts + sent, (unsigned int)(n - sent));
	return sent;
}

/* Echo: send back what can be sent, consume exactly that, leave the rest queued (its window
 * then pushes back on the client) until writable. Cost: O(queued segments). */
static void
echo_pump(struct tcp_conn *c)
{
	struct iovec iov[16];
	int n;

	while ((n = tcp_recv_peek(c, iov, 16)) > 0) {
		size_t done = 0;
		int blocked = 0;

		for (int i = 0; i < n; i++) {
			ssize_t s = tcp_send(c, iov[i].iov_base, iov[i].iov_len);

			if (s <= 0) {
				blocked = 1;
				break;
			}
			done += (size_t)s;
			if ((size_t)s < iov[i].iov_len) {
				blocked = 1;
				break;
			}
		}
		tcp_recv_consume(c, done);
		echoed += done;
		if (blocked)
			return;
	}
	if (tcp_recv_eof(c))
		tcp_close(c);
}

static void *
on_accepted(void *lctx, struct tcp_conn *c)
{
	conns++;
	return c; /* the connection is its own context */
}

static void
on_readable(void *ctx, struct tcp_conn *c)
{
	echo_pump(c);
}

static void
on_writable(void *ctx, struct tcp_conn *c)
{
	echo_pump(c);
}

static void
on_closed(void *ctx, struct tcp_conn *c, enum tcp_close_reason why)
{
}

static const struct tcp_app_ops echo_ops = {
        .accepted = on_accepted,
        .readable = on_readable,
        .writable = on_writable,
        .closed = on_closed,
};

static int
port_init(struct rte_mempool *pool)
{
	struct rte_eth_conf pconf = {0};
	int rc;

	if (rte_eth_dev_count_avail() == 0)
		return -ENODEV;
	port_id = 0;
	rc = rte_eth_dev_configure(port_id, 1, 1, &pconf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port_id, 0, 1024, rte_eth_dev_socket_id(port_id), NULL,
		                            pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port_id, 0, 1024, rte_eth_dev_socket_id(port_id), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port_id);
	return rc;
}

int
main(int argc, char **argv)
{
	struct tcp_stack_conf conf = {0};
	struct rte_mempool *pool;
	struct tcp_stack *st;
	const struct tcp_stats *s;
	uint16_t lport = 7;
	unsigned int in_use;
	int opt, n;

	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	argc -= n;
	argv += n;
	conf.netmask = htonl(0xffffff00u);
	static const struct option lopts[] = {{"ip", 1, NULL, 'i'},
	                                      {"mask", 1, NULL, 'm'},
	                                      {"gw", 1, NULL, 'g'},
	                                      {"port", 1, NULL, 'p'},
	                                      {NULL, 0, NULL, 0}};
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			inet_pton(AF_INET, optarg, &conf.ip);
			break;
		case 'm':
			inet_pton(AF_INET, optarg, &conf.netmask);
			break;
		case 'g':
			inet_pton(AF_INET, optarg, &conf.gateway);
			break;
		case 'p':
			lport = (uint16_t)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (conf.ip == 0) {
		fprintf(stderr, "--ip is required\n");
		return 2;
	}
	pool = rte_pktmbuf_pool_create("echo_pool", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                               (int)rte_socket_id());
	if (pool == NULL || port_init(pool) != 0) {
		fprintf(stderr, "port setup failed\n");
		return 1;
	}
	rte_eth_macaddr_get(port_id, &conf.mac);
	conf.mtu = 1500;
	conf.pool = pool;
	conf.tx = port_tx;
	conf.ops = &echo_ops;
	conf.max_conns = 1024;
	conf.rcvbuf = 262144; /* window scaling (shift 3) against Linux */
	conf.sndbuf = 65536;
	conf.msl_us = 1000000; /* short TIME_WAIT: the test opens hundreds of connections */
	st = tcp_stack_create(&conf);
	if (st == NULL || tcp_listen(st, lport, NULL) != 0) {
		fprintf(stderr, "stack setup failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct rte_mbuf *pkts[32];
		uint16_t nb = rte_eth_rx_burst(port_id, 0, pkts, 32);
		uint64_t t = now_us();

		if (nb)
			tcp_stack_input(st, pkts, nb, t);
		tcp_stack_timers(st, t);
		tcp_stack_flush(st);
		if (nb == 0) {
			/* Idle: sleep a little (this is a test tool on a shared 2-core box). */
			struct timespec ts = {0, 50000};

			nanosleep(&ts, NULL);
		}
	}
	s = tcp_stack_stats(st);
	printf("conns %lu echoed %lu rx %lu tx %lu retrans %lu rto %lu fast_retrans %lu dupacks "
	       "%lu "
	       "ooo %lu paws %lu csum_drops %lu hdr_drops %lu nomem %lu tx_dropped %lu\n",
	       (unsigned long)conns, (unsigned long)echoed, (unsigned long)s->rx_frames,
	       (unsigned long)s->tx_frames, (unsigned long)s->retransmits,
	       (unsigned long)s->rto_expired, (unsigned long)s->fast_retransmits,
	       (unsigned long)s->dup_acks, (unsigned long)s->ooo_segments,
	       (unsigned long)s->paws_dropped, (unsigned long)(s->drop_tcp_csum + s->drop_ip_csum),
	       (unsigned long)(s->drop_tcp_hdr + s->drop_ip_hdr), (unsigned long)s->drop_nomem,
	       (unsigned long)tx_dropped);
	tcp_stack_destroy(st);
	rte_eth_dev_stop(port_id);
	/* Drain frames the port still holds before counting. */
	rte_eth_dev_close(port_id);
	in_use = rte_mempool_in_use_count(pool);
	printf("mbufs in use after destroy: %u\n", in_use);
	{
		/* DPDK never removes its runtime directory; --no-shconf leaves it empty. */
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		rmdir(dir);
	}
	return in_use == 0 ? 0 : 3;
}

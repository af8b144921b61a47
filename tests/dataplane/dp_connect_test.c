/* SPDX-License-Identifier: Apache-2.0
 * dp_connect end to end: tachyond's own lcores (dataplane/: port, per-lcore tcpstack, the rings
 * and steering between shards) run in process on an af_packet port with one queue per lcore;
 * each lcore opens `n` connections with dp_connect() to a Linux TCP echo server, sends
 * TC_BYTES, checks that the same bytes come back, and closes. connect.sh runs it in a namespace
 * of its own.
 *
 *   dp_connect_test EAL-OPTIONS -- OUR_IP PEER_IP PORT N steer|any|drain TIMEOUT_MS
 *
 * `any` opens with DP_CONNECT_ANY_PORT: source ports are no longer chosen for the opening
 * shard, so about (N-1)/N of the flows belong to another shard, whose stack has no TCB for
 * them and resets them; that run must show failures, or the test could not fail.
 *
 * Output, one line per lcore, for connect.sh to check:
 *   lcore L shard S opened O ok K failed F wrong_lcore W not_owned X rx_steered R
 *   steer_dropped D rst_tx T drop_no_conn Z refused C clean K still_open S
 * and "mbufs_leaked M". Exit status 0 unless the harness itself failed (EAL, port, pools).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dataplane/dp_connect.h"
#include "dataplane/dp_pvt.h"
#include "dp_test_util.h"
#include "dataplane/dp_sec.h"

#define TC_MAX_CONNS 256
#define TC_BYTES     6000     /* a few segments each way */
#define TC_GRACE_US  2000000u /* after the deadline: aborts reported, then stop regardless */

struct tc_conn {
	struct dp_peer p;
	uint32_t idx;
	size_t sent, got;
	int done, bad_data;
};

struct tc_lcore {
	struct tc_conn conns[TC_MAX_CONNS];
	unsigned int opened, ok, failed, wrong_lcore, not_owned, done;
	unsigned int refused;   /* closed with -ECONNREFUSED */
	unsigned int connected; /* reached ESTABLISHED */
	unsigned int clean;     /* closed with 0 (an orderly close) */
	int finished;
};

static struct {
	uint32_t peer_ip;
	uint16_t port;
	unsigned int n, flags;
	int drain; /* mode drain: once all are connected, tachyond's exit drain closes them */
	uint64_t timeout_us;
	unsigned int busy; /* lcores not finished */
	struct tc_lcore lc[DP_MAX_SHARDS];
} T;

static uint8_t
tc_byte(uint32_t idx, size_t off)
{
	return (uint8_t)(idx * 31u + off * 7u + (off >> 8));
}

static struct tc_lcore *
tc_lcore_of(const struct dp_peer *p)
{
	return &T.lc[p->ls->shard];
}

static void
tc_send_more(struct dp_peer *p)
{
	struct tc_conn *c = container_of(p, struct tc_conn, p);
	uint8_t buf[1024];

	while (c->sent < TC_BYTES) {
		size_t k = RTE_MIN(sizeof(buf), (size_t)TC_BYTES - c->sent);
		ssize_t n;

		for (size_t i = 0; i < k; i++)
			buf[i] = tc_byte(c->idx, c->sent + i);
		n = tcp_send(p->tcp, buf, k);
		if (n <= 0)
			return; /* -EAGAIN: writable follows */
		c->sent += (size_t)n;
	}
}

static void
tc_connected(struct dp_peer *p)
{
	tc_lcore_of(p)->connected++;
	if (!T.drain)
		tc_send_more(p);
}

static void
tc_readable(struct dp_peer *p)
{
	struct tc_conn *c = container_of(p, struct tc_conn, p);
	uint8_t buf[2048];
	ssize_t n;

	while ((n = tcp_recv(p->tcp, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (c->got + (size_t)i >= TC_BYTES || buf[i] != tc_byte(c->idx, c->got + i))
				c->bad_data = 1;
		c->got += (size_t)n;
	}
	if (c->got >= TC_BYTES || tcp_recv_eof(p->tcp))
		tcp_close(p->tcp);
}

static void
tc_closed(struct dp_peer *p, int err)
{
	struct tc_conn *c = container_of(p, struct tc_conn, p);
	struct tc_lcore *l = tc_lcore_of(p);

	if (rte_lcore_id() != p->ls->lcore_id)
		l->wrong_lcore++;
	l->clean += err == 0;
	if (err == 0 && c->got == TC_BYTES && !c->bad_data) {
		l->ok++;
	} else {
		l->failed++;
		l->refused += err == -ECONNREFUSED;
		if (l->failed <= 3)
			printf("# lcore %u conn %u (port %u): %s, %zu of %u bytes back%s\n",
			       p->ls->lcore_id, c->idx, p->lport, err ? strerror(-err) : "closed",
			       c->got, TC_BYTES, c->bad_data ? ", corrupted" : "");
	}
	c->done = 1;
	l->done++;
}

static const struct dp_peer_ops tc_ops = {
        .connected = tc_connected,
        .readable = tc_readable,
        .writable = tc_send_more,
        .closed = tc_closed,
};

static void
tc_open_all(struct dp_lcore *ls, struct tc_lcore *l)
{
	for (unsigned int i = 0; i < T.n; i++) {
		struct tc_conn *c = &l->conns[i];
		int ret;

		c->idx = ls->shard * TC_MAX_CONNS + i;
		ret = dp_connect(ls, &c->p, T.peer_ip, T.port, &tc_ops, T.flags);
		if (ret < 0) {
			printf("# lcore %u: dp_connect: %s\n", ls->lcore_id, strerror(-ret));
			l->failed++;
			l->done++;
			c->done = 1;
			continue;
		}
		l->opened++;
		if (dp_shard_owner(T.peer_ip, rte_cpu_to_be_16(T.port),
		                   rte_cpu_to_be_16(c->p.lport)) != ls->shard)
			l->not_owned++;
	}
}

static void
tc_abort_all(struct tc_lcore *l)
{
	for (unsigned int i = 0; i < T.n; i++)
		if (!l->conns[i].done && l->conns[i].p.tcp != NULL)
			tcp_abort(l->conns[i].p.tcp);
}

/* Every lcore polls until all of them are finished: a peer's frames for this lcore's flows may
 * arrive on the other's queue and need its steering. */
static int
tc_lcore_main(void *arg)
{
	struct dp_lcore *ls = arg;
	struct tc_lcore *l = &T.lc[ls->shard];
	struct timespec nap = {0, 50000};
	uint64_t deadline;
	int aborted = 0, drained = 0;

	ls->now_us = dp_clock_us();
	deadline = ls->now_us + T.timeout_us;
	tc_open_all(ls, l);
	for (;;) {
		int work = dp_lcore_poll(ls);

		if (T.drain && !drained && l->connected == l->opened) {
			dp_lcore_drain(ls); /* as at tachyond's exit: every peer closed */
			drained = 1;
		}
		if (!l->finished && l->done == T.n) {
			l->finished = 1;
			__atomic_fetch_sub(&T.busy, 1, __ATOMIC_RELEASE);
		}
		if (__atomic_load_n(&T.busy, __ATOMIC_ACQUIRE) == 0)
			break;
		if (!aborted && ls->now_us > deadline) {
			tc_abort_all(l);
			aborted = 1;
		}
		if (ls->now_us > deadline + TC_GRACE_US)
			break;
		if (!work)
			nanosleep(&nap, NULL);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char rundir[PATH_MAX];
	struct rte_mempool *pool = NULL;
	struct dp_conf conf;
	uint16_t port_id = 0;
	unsigned int lc, n_init = 0, leaked;
	int ret, status = 0, eal_n;

	eal_n = rte_eal_init(argc, argv);
	if (eal_n < 0) {
		fprintf(stderr, "dp_connect_test: EAL initialisation failed\n");
		return 2;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	argc -= eal_n;
	argv += eal_n;
	if (argc != 7) {
		fprintf(stderr, "usage: dp_connect_test EAL -- OUR_IP PEER_IP PORT N steer|any "
		                "TIMEOUT_MS\n");
		status = 2;
		goto eal_done;
	}
	char *dargv[] = {"dp_connect_test", "--ip", argv[1],       "--netmask", "255.255.255.0",
	                 "--mbufs",         "8191", "--max-conns", "1024",      NULL};
	T.n = (unsigned int)strtoul(argv[4], NULL, 10);
	T.port = (uint16_t)strtoul(argv[3], NULL, 10);
	T.flags = strcmp(argv[5], "any") == 0 ? DP_CONNECT_ANY_PORT : 0;
	T.drain = strcmp(argv[5], "drain") == 0;
	T.timeout_us = strtoull(argv[6], NULL, 10) * 1000;
	if (inet_pton(AF_INET, argv[2], &T.peer_ip) != 1 || T.n == 0 || T.n > TC_MAX_CONNS) {
		fprintf(stderr, "dp_connect_test: bad PEER_IP or N\n");
		status = 2;
		goto eal_done;
	}
	dp_conf_defaults(&conf);
	if (dp_conf_parse_args(&conf, (int)RTE_DIM(dargv) - 1, dargv, &status) != 0) {
		status = 2;
		goto eal_done;
	}

	/* tachyond's start-up (dataplane/dp_main.c), minus the control socket */
	dp_n_shards = rte_lcore_count();
	if (dp_n_shards > DP_MAX_SHARDS || dp_sec_init(&conf) < 0) {
		status = 2;
		goto eal_done;
	}
	if (dp_port_init(&conf, (uint16_t)dp_n_shards, &port_id, &pool) < 0) {
		status = 2;
		goto sec_done;
	}
	ret = 0;
	RTE_LCORE_FOREACH(lc)
	{
		dp_shards[n_init] = &dp_lcores[lc];
		ret = dp_lcore_init(&dp_lcores[lc], &conf, lc, port_id, (uint16_t)n_init, pool);
		n_init++;
		if (ret < 0)
			break;
	}
	if (ret == 0)
		ret = dp_shard_rings_create();
	if (ret < 0) {
		fprintf(stderr, "dp_connect_test: lcore set-up: %s\n", strerror(-ret));
		status = 2;
	} else {
		T.busy = dp_n_shards;
		dp_lcore_drain_prepare();
		RTE_LCORE_FOREACH_WORKER(lc)
		rte_eal_remote_launch(tc_lcore_main, &dp_lcores[lc], lc);
		tc_lcore_main(&dp_lcores[rte_lcore_id()]);
		rte_eal_mp_wait_lcore();
	}

	for (unsigned int i = 0; i < n_init; i++) {
		struct dp_lcore *ls = dp_shards[i];
		struct tc_lcore *l = &T.lc[i];
		const struct tcp_stats *ts = tcp_stack_stats(ls->stack);

		printf("lcore %u shard %u opened %u ok %u failed %u wrong_lcore %u not_owned %u "
		       "rx_steered %" PRIu64 " steer_dropped %" PRIu64 " rst_tx %" PRIu64
		       " drop_no_conn %" PRIu64 " refused %u clean %u still_open %u\n",
		       ls->lcore_id, ls->shard, l->opened, l->ok, l->failed + (T.n - l->done),
		       l->wrong_lcore, l->not_owned, ls->rx_steered, ls->steer_dropped, ts->rst_tx,
		       ts->drop_no_conn, l->refused, l->clean, T.n - l->done);
	}
	for (unsigned int i = 0; i < n_init; i++)
		dp_lcore_fini(dp_shards[i]);
	dp_shard_rings_free();
	leaked = dp_port_close(port_id, pool);
	printf("mbufs_leaked %u\n", leaked);
sec_done:
	dp_sec_fini();
eal_done:
	rte_eal_cleanup();
	dpt_remove_runtime_dir(rundir);
	return status;
}

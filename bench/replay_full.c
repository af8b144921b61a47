/* SPDX-License-Identifier: Apache-2.0
 * replay-full: a generated MQTT workload fed as Ethernet frames through tachyond's own lcore
 * (dataplane/: tcpstack + dp_conn glue + the MQTT shard) in process, with no network. The port
 * is a DPDK ring PMD (rte_eth_from_rings): the clients, simulated here, put their frames on its
 * RX ring and read the broker's frames from its TX ring.
 *
 *   replay-full fanout|pairs [--shards S] [--clients N] [--msgs M] [--payload B] [--batch K]
 *
 * Same workloads as replay-mqtt: fanout is one publisher and N subscribers on one topic, pairs
 * is N publishers each with its own subscriber; M QoS 0 PUBLISH packets in all, K back to back
 * per TCP segment (split at the MSS when longer). Set-up, not measured: ARP, the three-way
 * handshakes, CONNECT/CONNACK, SUBSCRIBE/SUBACK. Then the clients send the PUBLISH segments;
 * subscribers reassemble their byte streams, count the PUBLISH packets they decode and ACK what
 * they received once per drain of the TX ring (a delayed-ACK client: at most one ACK per
 * batch of segments).
 *
 * The measured function is replay_poll(), called in the publish phase only: one iteration of
 * the lcore loop as dp_lcore_poll() runs it (RX burst -> tcp_stack_input -> dp_conn -> MQTT ->
 * tcp_send; timers; keep-alive wheel; security poll; broker tick; tcp_stack_flush -> TX
 * burst), minus the control-socket poll.
 *
 * --shards S (default 1) runs S shards, as tachyond's S lcores, in this one thread, round
 * robin: a port of S queue pairs, the rings between shards, steering, cross-shard publishes.
 * A client's first frames go to queue 0 and are steered to the flow's owner; the queue its
 * SYN-ACK leaves on is then the one its frames arrive on, as with symmetric RSS on a NIC, so
 * steering costs nothing after the handshake. Each shard's iteration is its own function,
 * replay_poll_s<i>: `callgrind.sh --fn replay_poll_s1` counts what lcore 1 would execute, and
 * the busiest shard's instructions per message bound what S cores deliver next to one.
 * The clock is virtual (5 us per poll), so runs are repeatable. Output, one item a line:
 * "published M", "messages D" (PUBLISH packets the subscribers decoded: deliveries),
 * "expected E"; exit status 1 when D != E, a segment arrived out of order, or a counter shows
 * a drop or a retransmission. `bench/callgrind.sh --fn replay_poll` gives instructions per
 * delivered message for the whole packet path (TCP + MQTT).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "bench_frame.h"
#include "bench_mqtt.h"
#include "dataplane/dp_pvt.h"
#include "dataplane/dp_sec.h"
#include "micro_net_glue.h"
#include "replay_args.h"

#define RF_RING     16384 /* frames each way: a fan-out burst to 1,000 subscribers fits */
#define RF_MSS      1460
#define RF_STREAM   8192 /* a subscriber's reassembly buffer */
#define RF_POLL_US  5
#define RF_MAX_IDLE 64 /* idle rounds before set-up counts as settled (2 while measuring) */
#define RF_SHARDS   4  /* one replay_poll_s<i> each */

struct rf_client {
	struct bench_flow f;
	int established, need_ack;
	uint16_t q; /* the queue its frames go to: 0, then the one its SYN-ACK came from */
	uint64_t publishes, connacks, subacks;
	size_t have;
	uint8_t stream[RF_STREAM];
};

static struct {
	struct rte_ring *rx[RF_SHARDS], *tx[RF_SHARDS]; /* per queue: clients -> broker, back */
	struct rte_mempool *cpool;                      /* the clients' frames */
	struct dp_lcore *ls[RF_SHARDS];
	unsigned int ns;
	struct rf_client *cl;
	uint32_t n;
	uint64_t errors, drops;
	uint16_t cport0;
	int (*poll)(void); /* setup_poll, or replay_poll while measuring: every shard once */
	int eal;           /* the EAL is up: die() cleans its runtime directory */
} R;

static void
die(const char *msg)
{
	fprintf(stderr, "replay-full: %s\n", msg);
	if (R.eal)
		bench_eal_fini();
	exit(2);
}

/* One lcore loop iteration, as dp_lcore_poll() with a virtual clock. */
static inline int
lcore_poll(struct dp_lcore *ls)
{
	struct rte_mbuf *pkts[DP_RX_BURST];
	uint64_t tx_before = ls->tx_pkts;
	uint16_t n;
	int work;

	/* S shards share this thread: each allocates from its own arena (dp_mem_use in dp_lcore.c)
	 */
	mqtt_set_thread_allocator(ls->mem.alloc ? &ls->mem : NULL);
	ls->now_us += RF_POLL_US;
	n = rte_eth_rx_burst(ls->port_id, ls->queue_id, pkts, DP_RX_BURST);
	work = n;
	if (n > 0) {
		ls->rx_pkts += n;
		n = dp_shard_steer(ls, pkts, n);
		if (n > 0)
			tcp_stack_input(ls->stack, pkts, n, ls->now_us);
	}
	work += dp_shard_poll(ls);
	work += tcp_stack_timers(ls->stack, ls->now_us);
	work += dp_conn_timers_run(ls);
	work += dp_sec_poll(ls);
	mqtt_broker_tick(ls->broker, ls->now_us);
	tcp_stack_flush(ls->stack);
	return work || ls->tx_pkts != tx_before;
}

/* The measured part (callgrind --toggle-collect=replay_poll): the iterations of the publish
 * phase, each shard's in a function of its own. Set-up and shutdown poll through setup_poll(),
 * which callgrind does not count (noipa: GCC's identical-code folding must not merge them). */
#define RF_SHARD_POLL(i)                                                                           \
	__attribute__((noipa)) static int replay_poll_s##i(void)                                   \
	{                                                                                          \
		return lcore_poll(R.ls[i]);                                                        \
	}
RF_SHARD_POLL(0)
RF_SHARD_POLL(1)
RF_SHARD_POLL(2)
RF_SHARD_POLL(3)

static int (*const rf_shard_poll[RF_SHARDS])(void) = {replay_poll_s0, replay_poll_s1,
                                                      replay_poll_s2, replay_poll_s3};

__attribute__((noipa)) static int
replay_poll(void)
{
	int work = 0;

	for (unsigned int i = 0; i < R.ns; i++)
		work += rf_shard_poll[i]();
	return work;
}

__attribute__((noipa)) static int
setup_poll(void)
{
	int work = 0;

	for (unsigned int i = 0; i < R.ns; i++)
		work += lcore_poll(R.ls[i]);
	return work;
}

static unsigned int
rf_rx_pending(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < R.ns; i++)
		n += rte_ring_count(R.rx[i]);
	return n;
}

static void
rf_send(uint16_t q, struct rte_mbuf *m)
{
	if (m == NULL)
		die("client mbuf pool empty");
	/* The RX ring is drained between sends; full means a phase sent more than it holds. */
	while (rte_ring_enqueue(R.rx[q], m) != 0)
		R.poll();
}

static void
rf_send_bytes(struct rf_client *c, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		uint16_t k = (uint16_t)(len < RF_MSS ? len : RF_MSS);

		rf_send(c->q, bench_frame_tcp(R.cpool, &c->f, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		                              buf, k));
		c->f.snd_nxt += k;
		buf += k;
		len -= k;
	}
}

/* A subscriber's bytes, in order: decode whole packets, keep the tail for the next segment. */
static void
rf_stream(struct rf_client *c, const uint8_t *data, uint16_t len)
{
	struct bench_mqtt_pkt p;
	size_t off = 0;
	int k;

	if (c->have + len > sizeof(c->stream)) {
		R.errors++;
		return;
	}
	memcpy(c->stream + c->have, data, len);
	c->have += len;
	while ((k = bench_mqtt_decode(c->stream + off, c->have - off, 4, &p)) > 0) {
		off += (size_t)k;
		c->publishes += p.type == BENCH_MQTT_PUBLISH;
		c->connacks += p.type == BENCH_MQTT_CONNACK && p.rc == 0;
		c->subacks += p.type == BENCH_MQTT_SUBACK && p.rc < 0x80;
	}
	if (k < 0)
		R.errors++;
	memmove(c->stream, c->stream + off, c->have - off);
	c->have -= off;
}

/* What the broker sent on queue q: SYN-ACKs complete handshakes (and tell the client its
 * queue), data goes to the client's stream. */
static unsigned int
rf_drain_queue(uint16_t q)
{
	struct rte_mbuf *m[64];
	unsigned int n, total = 0;

	while ((n = rte_ring_dequeue_burst(R.tx[q], (void **)m, RTE_DIM(m), NULL)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct bench_seg s;
			struct rf_client *c;
			uint32_t idx;

			if (bench_frame_parse(m[i], &s) != 0) /* ARP reply */
				goto next;
			idx = (uint32_t)(s.dport - R.cport0);
			if (idx >= R.n) {
				R.errors++;
				goto next;
			}
			c = &R.cl[idx];
			if (s.flags & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) {
				R.errors++;
			} else if (s.flags & RTE_TCP_SYN_FLAG) {
				c->f.rcv_nxt = s.seq + 1;
				c->established = 1;
				c->q = q;
				c->need_ack = 1;
			} else if (s.len > 0) {
				if (s.seq != c->f.rcv_nxt) {
					R.errors++; /* no loss here: nothing may arrive out of order
					             */
				} else {
					c->f.rcv_nxt += s.len;
					rf_stream(c, s.data, s.len);
					c->need_ack = 1;
				}
			}
		next:
			rte_pktmbuf_free(m[i]);
		}
		total += n;
	}
	return total;
}

static unsigned int
rf_drain(void)
{
	unsigned int total = 0;

	for (uint16_t q = 0; q < R.ns; q++)
		total += rf_drain_queue(q);
	for (uint32_t i = 0; i < R.n; i++) {
		struct rf_client *c = &R.cl[i];

		if (c->need_ack) {
			c->need_ack = 0;
			rf_send(c->q, bench_frame_tcp(R.cpool, &c->f, RTE_TCP_ACK_FLAG, NULL, 0));
		}
	}
	return total;
}

/* Run the lcore and the clients until `quiet` rounds in a row found nothing to do. Bounded. */
static void
rf_settle(unsigned int quiet)
{
	unsigned int idle = 0;

	for (uint64_t i = 0; idle < quiet; i++) {
		int work = R.poll();

		work += (int)rf_drain();
		idle = (work || rf_rx_pending()) ? 0 : idle + 1;
		if (i > 100000000)
			die("the lcore never settled");
	}
}

static void
rf_setup(int fanout, const struct rte_ether_addr *smac, uint32_t sip, uint16_t sport)
{
	uint8_t buf[512];
	char id[32], topic[32];
	int len;

	for (uint32_t i = 0; i < R.n; i++) {
		R.cl[i].f = (struct bench_flow){
		        .cmac = {{0x02, 0, 0, 0, 0, 0x02}},
		        .smac = *smac,
		        .cip = rte_cpu_to_be_32(RTE_IPV4(198, 18, 0, 2)),
		        .sip = sip,
		        .cport = (uint16_t)(R.cport0 + i),
		        .sport = sport,
		        .snd_nxt = 1000000u * (i + 1),
		};
	}
	/* one client address: one ARP entry per shard (shard 0 copies it to the others) */
	rf_send(0, bench_frame_arp(R.cpool, &R.cl[0].f));
	for (uint32_t i = 0; i < R.n; i++) {
		rf_send(0, bench_frame_tcp(R.cpool, &R.cl[i].f, RTE_TCP_SYN_FLAG, NULL, 0));
		R.cl[i].f.snd_nxt++;
		if (i % 256 == 255)
			rf_settle(RF_MAX_IDLE);
	}
	rf_settle(RF_MAX_IDLE);
	for (uint32_t i = 0; i < R.n; i++) {
		if (!R.cl[i].established)
			die("a handshake did not complete");
		snprintf(id, sizeof(id), "rf-%u", i);
		len = bench_mqtt_connect(buf, sizeof(buf), 4, id, 60);
		if (len < 0)
			die("encode failed");
		rf_send_bytes(&R.cl[i], buf, (size_t)len);
	}
	rf_settle(RF_MAX_IDLE);
	/* fanout: client 0 publishes, 1..N-1 subscribe; pairs: 2i publishes to 2i+1. */
	for (uint32_t i = 0; i < R.n; i++) {
		if (fanout ? i == 0 : i % 2 == 0)
			continue;
		snprintf(topic, sizeof(topic), "replay/%u", fanout ? 0 : i / 2);
		len = bench_mqtt_subscribe(buf, sizeof(buf), 4, 1, topic, 0);
		if (len < 0)
			die("encode failed");
		rf_send_bytes(&R.cl[i], buf, (size_t)len);
	}
	rf_settle(RF_MAX_IDLE);
	for (uint32_t i = 0; i < R.n; i++)
		if (R.cl[i].connacks != 1 || R.cl[i].subacks != (fanout ? i != 0 : i % 2 == 1))
			die("CONNECT or SUBSCRIBE not acknowledged");
}

/* The workload: `msgs` QoS 0 PUBLISH packets, `batch` back to back per publisher per round;
 * the lcore and the clients settle after each round (the broker's deliveries drained and
 * ACKed). Returns the packets published; drops and retransmissions go to R.drops. */
/* Drops and retransmissions of every shard so far (steer_dropped: a full ring between shards). */
static uint64_t
rf_drops(void)
{
	uint64_t d = 0;

	for (unsigned int i = 0; i < R.ns; i++) {
		const struct dp_lcore *ls = R.ls[i];
		const struct mqtt_stats *ms = mqtt_broker_stats(ls->broker);
		const struct tcp_stats *ts = tcp_stack_stats(ls->stack);

		d += ms->dropped_outbuf_full + ms->dropped_queue_full + ts->drop_nomem +
		     ts->ooo_segments + ts->retransmits + ls->tx_dropped + ls->steer_dropped;
	}
	return d;
}

static uint64_t
replay_publish(uint32_t npubs, uint64_t msgs, size_t payload, uint32_t batch)
{
	uint64_t drops0 = rf_drops();
	uint8_t *body = calloc(1, payload + 1), **stream = calloc(npubs, sizeof(*stream));
	size_t *slen = calloc(npubs, sizeof(*slen));
	uint64_t sent = 0;
	char topic[32];

	if (!body || !stream || !slen)
		die("out of memory");
	for (uint32_t p = 0; p < npubs; p++) {
		snprintf(topic, sizeof(topic), "replay/%u", p);
		stream[p] = malloc((payload + 64) * batch);
		if (!stream[p])
			die("out of memory");
		for (uint32_t k = 0; k < batch; k++) {
			int len = bench_mqtt_publish(stream[p] + slen[p], payload + 64, 4, topic, 0,
			                             0, body, payload);
			if (len < 0)
				die("encode failed");
			slen[p] += (size_t)len;
		}
	}
	R.poll = replay_poll;
	while (sent < msgs) {
		for (uint32_t p = 0; p < npubs && sent < msgs; p++) {
			/* fanout: client 0 publishes; pairs: client 2p */
			rf_send_bytes(&R.cl[npubs == 1 ? 0 : 2 * p], stream[p], slen[p]);
			sent += batch;
		}
		rf_settle(2);
	}
	rf_settle(RF_MAX_IDLE);
	R.poll = setup_poll;
	R.drops = rf_drops() - drops0;
	for (uint32_t p = 0; p < npubs; p++)
		free(stream[p]);
	free(stream);
	free(slen);
	free(body);
	return sent;
}

int
main(int argc, char **argv)
{
	unsigned long clients, msgs, payload, batch;
	struct replay_args ra;
	const char *err;
	struct dp_conf conf;
	struct rte_ether_addr smac;
	struct rte_mempool *pool = NULL;
	uint16_t port_id;
	int fanout, status = 0;
	char *dargv[] = {"replay-full", "--mbufs", "16383", "--max-conns", "4096", NULL};
	char rname[32];

	/* --shards is ours; the rest is the command line replay-mqtt shares */
	R.ns = 1;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--shards") != 0)
			continue;
		R.ns = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		if (R.ns < 1 || R.ns > RF_SHARDS)
			die("--shards: 1 to 4");
		memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
		argc -= 2;
		break;
	}
	err = replay_args_parse(argc, argv, &ra, 2000, 10000000, 4000);
	if (err)
		die(err);
	fanout = ra.fanout;
	clients = ra.clients, msgs = ra.msgs, payload = ra.payload, batch = ra.batch;
	/* fanout: the publisher plus `clients` subscribers; pairs: a publisher per subscriber. */
	R.n = (uint32_t)(fanout ? clients + 1 : clients * 2);
	R.cport0 = 20000;
	R.poll = setup_poll;

	if (bench_eal_init(argv[0]) < 0)
		die("EAL initialisation failed");
	R.eal = 1;
	dp_conf_defaults(&conf);
	if (dp_conf_parse_args(&conf, (int)RTE_DIM(dargv) - 1, dargv, &status) != 0)
		die("dataplane configuration refused");
	for (unsigned int q = 0; q < R.ns; q++) {
		snprintf(rname, sizeof(rname), "rf_rx%u", q);
		R.rx[q] = rte_ring_create(rname, RF_RING, SOCKET_ID_ANY,
		                          RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(rname, sizeof(rname), "rf_tx%u", q);
		R.tx[q] = rte_ring_create(rname, RF_RING, SOCKET_ID_ANY,
		                          RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!R.rx[q] || !R.tx[q])
			die("out of memory");
	}
	R.cpool = rte_pktmbuf_pool_create("rf_clients", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                                  SOCKET_ID_ANY);
	R.cl = calloc(R.n, sizeof(*R.cl));
	if (!R.cpool || !R.cl)
		die("out of memory");
	if (rte_eth_from_rings("net_replay", R.rx, R.ns, R.tx, R.ns,
	                       (unsigned int)rte_socket_id()) < 0)
		die("rte_eth_from_rings failed");

	/* tachyond's start-up (dataplane/dp_main.c): shard i is the i-th EAL lcore and serves
	 * queue pair i, but every shard's loop runs in this one thread. */
	dp_n_shards = R.ns;
	if (dp_sec_init(&conf) < 0 || dp_port_init(&conf, (uint16_t)R.ns, &port_id, &pool) < 0)
		die("port set-up failed");
	if (R.ns > rte_lcore_count())
		die("--shards: more than this machine's lcores");
	for (unsigned int i = 0, lc = rte_get_next_lcore(-1, 0, 0); i < R.ns;
	     i++, lc = rte_get_next_lcore(lc, 0, 0)) {
		R.ls[i] = dp_shards[i] = &dp_lcores[lc];
		if (dp_lcore_init(R.ls[i], &conf, lc, port_id, (uint16_t)i, pool) < 0)
			die("lcore set-up failed");
	}
	if (dp_shard_rings_create() < 0)
		die("rings between shards: set-up failed");
	rte_eth_macaddr_get(port_id, &smac);
	rf_setup(fanout, &smac, conf.ip, conf.listen_port[0]);

	uint64_t sent = replay_publish(fanout ? 1 : (uint32_t)clients, msgs, payload, batch);
	uint64_t delivered = 0, want = fanout ? sent * clients : sent;

	for (uint32_t i = 0; i < R.n; i++)
		delivered += R.cl[i].publishes;
	printf("published %" PRIu64 "\nmessages %" PRIu64 "\nexpected %" PRIu64 "\n", sent,
	       delivered, want);
	for (unsigned int i = 0; i < R.ns; i++) {
		uint32_t k = 0;

		for (uint32_t c = 0; c < R.n; c++)
			k += R.cl[c].q == i;
		printf("shard %u clients %" PRIu32 "\n", i, k);
	}
	if (delivered != want || R.errors || R.drops) {
		fprintf(stderr,
		        "replay-full: %" PRIu64 " deliveries, expected %" PRIu64 "; %" PRIu64
		        " stream errors, %" PRIu64 " drops or retransmissions\n",
		        delivered, want, R.errors, R.drops);
		status = 1;
	}

	/* tachyond's shutdown: close every connection, drain, free; nothing may leak. */
	for (unsigned int i = 0; i < R.ns; i++)
		dp_conn_close_all(R.ls[i], 1);
	rf_settle(RF_MAX_IDLE);
	for (unsigned int i = 0; i < R.ns; i++)
		dp_lcore_fini(R.ls[i]);
	dp_shard_rings_free();
	if (dp_port_close(port_id, pool) != 0) {
		fprintf(stderr, "replay-full: mbufs leaked\n");
		status = 1;
	}
	dp_sec_fini();
	rte_mempool_free(R.cpool);
	for (unsigned int q = 0; q < R.ns; q++) {
		rte_ring_free(R.rx[q]);
		rte_ring_free(R.tx[q]);
	}
	free(R.cl);
	bench_eal_fini();
	return status;
}

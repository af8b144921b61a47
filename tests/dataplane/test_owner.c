/* SPDX-License-Identifier: Apache-2.0
 * Flow ownership without a NIC (dataplane/dp_shard.c, dp_connect.c):
 * - the symmetric key hashes both directions of random flows alike (rte_softrss);
 * - the RSS owner function agrees with a RETA lookup of rte_softrss computed here, on either
 *   direction of the flow, for several RETA layouts and shard counts;
 * - dp_connect's source-port choice gives a flow the opening shard owns under both owner
 *   functions (jhash and rss), with a real tcpstack instance per shard; without the choice
 *   (DP_CONNECT_ANY_PORT) some flows belong to another shard, so the check can fail; a shard
 *   that owns no RETA entry gets -EADDRNOTAVAIL;
 * - a received frame is steered to reta[the NIC's hash] (mbuf hash.rss), or to the same shard by
 *   rte_softrss when the NIC gave no hash.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_thash.h>

#include "dataplane/dp_connect.h"
#include "dataplane/dp_pvt.h"
#include "dp_test_util.h"
#include "tap.h"

/* RTE_IPV4 shifts an int: 198 << 24 overflows (UBSan) */
#define OUR_IP     ((198u << 24) | (18u << 16) | (9u << 8) | 1u)
#define PEER_IP    ((198u << 24) | (18u << 16) | (9u << 8) | 2u)
#define FLOWS      20000
#define CONNS      48
#define RETA_SMALL 128

static struct rte_mempool *pool;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* The NIC's hash of a frame src -> dst (host-order fields), as rte_thash.h defines it. */
static uint32_t
nic_hash(const uint8_t *key, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct rte_ipv4_tuple t = {
	        .src_addr = src, .dst_addr = dst, .sport = sport, .dport = dport};

	return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
}

static void
symmetric_key_both_directions(void)
{
	static const unsigned int lens[] = {40, 52};

	for (unsigned int l = 0; l < RTE_DIM(lens); l++) {
		uint8_t key[DP_RSS_KEY_MAX];
		unsigned int bad = 0, distinct = 0;
		uint32_t first = 0;

		dp_shard_rss_key(key, lens[l]);
		for (int i = 0; i < FLOWS; i++) {
			uint32_t a = rnd(), b = rnd();
			uint16_t pa = (uint16_t)rnd(), pb = (uint16_t)rnd();
			uint32_t h = nic_hash(key, a, b, pa, pb);

			bad += h != nic_hash(key, b, a, pb, pa);
			if (i == 0)
				first = h;
			distinct += h != first;
		}
		CHECK_EQ(bad, 0);
		CHECK(distinct > FLOWS / 2); /* a hash, not a constant */
	}
	/* the check can fail: a non-symmetric key (Microsoft's default starts 6d 5a 56 da ...) */
	{
		uint8_t key[40];
		unsigned int bad = 0;

		dp_shard_rss_key(key, sizeof(key));
		key[2] = 0x56;
		key[3] = 0xda;
		for (int i = 0; i < 1000; i++) {
			uint32_t a = rnd(), b = rnd();
			uint16_t pa = (uint16_t)rnd(), pb = (uint16_t)rnd();

			bad += nic_hash(key, a, b, pa, pb) != nic_hash(key, b, a, pb, pa);
		}
		CHECK(bad > 0);
	}
}

/* RETA layouts: j mod n (what dp_port.c programs), and a shuffled one (what a driver may
 * report if it refuses ours). */
static void
make_reta(uint16_t *reta, unsigned int size, unsigned int n, int shuffled)
{
	for (unsigned int j = 0; j < size; j++)
		reta[j] = (uint16_t)(shuffled ? rnd() % n : j % n);
}

static void
rss_owner_agrees_with_reta_lookup(void)
{
	static const unsigned int shards[] = {2, 3, 4};
	static const unsigned int sizes[] = {RETA_SMALL, DP_RETA_MAX};
	uint8_t key[DP_RSS_KEY_MAX];
	uint16_t reta[DP_RETA_MAX];

	dp_shard_rss_key(key, 40);
	for (unsigned int s = 0; s < RTE_DIM(shards); s++) {
		for (unsigned int z = 0; z < RTE_DIM(sizes); z++) {
			unsigned int bad = 0, per[DP_MAX_SHARDS] = {0};

			dp_n_shards = shards[s];
			make_reta(reta, sizes[z], shards[s], z == 1);
			CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta,
			                                sizes[z]),
			         0);
			CHECK(strcmp(dp_shard_owner_name(), "rss") == 0);
			for (int i = 0; i < FLOWS; i++) {
				uint32_t peer = rnd();
				uint16_t pp = (uint16_t)rnd(), lp = (uint16_t)rnd();
				unsigned int o =
				        dp_shard_owner(rte_cpu_to_be_32(peer), rte_cpu_to_be_16(pp),
				                       rte_cpu_to_be_16(lp));
				/* the frame the NIC receives (peer -> us), and our own SYN (us ->
				 * peer): the symmetric key makes them one lookup */
				uint32_t in = nic_hash(key, peer, OUR_IP, pp, lp);
				uint32_t out = nic_hash(key, OUR_IP, peer, lp, pp);

				bad += o != reta[in & (sizes[z] - 1)];
				bad += o != reta[out & (sizes[z] - 1)];
				per[o]++;
			}
			CHECK_EQ(bad, 0);
			for (unsigned int k = 0; k < shards[s]; k++)
				CHECK(per[k] > FLOWS / shards[s] / 2); /* spread over every shard */
		}
	}
	/* refused: a RETA entry for a queue no lcore serves, a size not a power of two */
	dp_n_shards = 2;
	make_reta(reta, RETA_SMALL, 3, 0);
	CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta, RETA_SMALL),
	         -EINVAL);
	make_reta(reta, RETA_SMALL, 2, 0);
	CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta, 100), -EINVAL);
	dp_shard_owner_use_jhash();
	CHECK(strcmp(dp_shard_owner_name(), "jhash") == 0);
}

/* ---- dp_connect's port choice on real tcpstack instances ---- */

static uint16_t
drop_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	RTE_SET_USED(ctx);
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static void
peer_closed(struct dp_peer *p, int err)
{
	RTE_SET_USED(p);
	RTE_SET_USED(err);
}

static const struct dp_peer_ops peer_ops = {.closed = peer_closed};

static struct tcp_stack *
stack_new(unsigned int lcore)
{
	struct tcp_stack_conf tc = {
	        .ip = rte_cpu_to_be_32(OUR_IP),
	        .netmask = rte_cpu_to_be_32(0xffffff00),
	        .mac = {{0x02, 0, 0, 0, 0, 1}},
	        .mtu = 1500,
	        .pool = pool,
	        .tx = drop_tx,
	        .ops = &dp_stack_ops,
	        .max_conns = 4 * CONNS,
	        .rcvbuf = 65535,
	        .sndbuf = 65536,
	        .arp_timeout_us = 60000000,
	        .lcore = lcore,
	};

	return tcp_stack_create(&tc);
}

/* Open CONNS connections from each of n shards; returns how many flows were not owned by their
 * opener (0 expected with the port choice). */
static unsigned int
open_from_every_shard(unsigned int n, unsigned int flags, const uint8_t *key, const uint16_t *reta)
{
	static struct dp_peer peers[DP_MAX_SHARDS][CONNS];
	static struct dp_lcore ls[DP_MAX_SHARDS];
	unsigned int not_owned = 0;

	for (unsigned int s = 0; s < n; s++) {
		memset(&ls[s], 0, sizeof(ls[s]));
		ls[s].shard = s;
		ls[s].lcore_id = s;
		ls[s].now_us = 1000000;
		TAILQ_INIT(&ls[s].peers); /* what dp_lcore_init does */
		ls[s].stack = stack_new(s);
		CHECK(ls[s].stack != NULL);
		if (ls[s].stack == NULL)
			return CONNS;
		for (unsigned int i = 0; i < CONNS; i++) {
			uint16_t pport = (uint16_t)(1883 + i % 3);
			struct dp_peer *p = &peers[s][i];
			unsigned int o;

			CHECK_EQ(dp_connect(&ls[s], p, rte_cpu_to_be_32(PEER_IP), pport, &peer_ops,
			                    flags),
			         0);
			CHECK(p->tcp != NULL && p->ls == &ls[s] && p->lport >= 32768);
			o = dp_shard_owner(rte_cpu_to_be_32(PEER_IP), rte_cpu_to_be_16(pport),
			                   rte_cpu_to_be_16(p->lport));
			not_owned += o != s;
			/* and the NIC would agree: its hash of the reply, through the RETA */
			if (reta != NULL)
				CHECK_EQ(o, reta[nic_hash(key, PEER_IP, OUR_IP, pport, p->lport) &
				                 (RETA_SMALL - 1)]);
		}
	}
	for (unsigned int s = 0; s < n; s++)
		tcp_stack_destroy(ls[s].stack);
	return not_owned;
}

static void
connect_port_choice_jhash(void)
{
	dp_n_shards = 3;
	dp_shard_owner_use_jhash();
	CHECK_EQ(open_from_every_shard(3, 0, NULL, NULL), 0);
	CHECK(open_from_every_shard(3, DP_CONNECT_ANY_PORT, NULL, NULL) > 0);
}

static void
connect_port_choice_rss(void)
{
	uint8_t key[DP_RSS_KEY_MAX];
	uint16_t reta[RETA_SMALL];

	dp_n_shards = 3;
	dp_shard_rss_key(key, 40);
	make_reta(reta, RETA_SMALL, 3, 0);
	CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta, RETA_SMALL), 0);
	CHECK_EQ(open_from_every_shard(3, 0, key, reta), 0);
	CHECK(open_from_every_shard(3, DP_CONNECT_ANY_PORT, key, reta) > 0);
	dp_shard_owner_use_jhash();
}

/* A RETA that gives shard 1 nothing: shard 1 cannot open a connection it would own. */
static void
connect_no_port_fits(void)
{
	static struct dp_lcore ls;
	struct dp_peer p;
	uint8_t key[DP_RSS_KEY_MAX];
	uint16_t reta[RETA_SMALL] = {0};

	dp_n_shards = 2;
	dp_shard_rss_key(key, 40);
	CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta, RETA_SMALL), 0);
	memset(&ls, 0, sizeof(ls));
	TAILQ_INIT(&ls.peers);
	ls.shard = 1;
	ls.stack = stack_new(1);
	CHECK(ls.stack != NULL);
	if (ls.stack != NULL) {
		CHECK_EQ(dp_connect(&ls, &p, rte_cpu_to_be_32(PEER_IP), 1883, &peer_ops, 0),
		         -EADDRNOTAVAIL);
		CHECK(p.tcp == NULL);
		CHECK_EQ(dp_connect(&ls, &p, rte_cpu_to_be_32(PEER_IP), 1883, NULL, 0), -EINVAL);
		tcp_stack_destroy(ls.stack);
	}
	dp_shard_owner_use_jhash();
}

/* ---- steering a received frame: the NIC's hash when it gives one, else rte_softrss ---- */

static struct rte_mbuf *
tcp_frame(uint32_t peer, uint16_t pport, uint16_t lport, int flag, uint32_t rss)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eh;
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;

	if (m == NULL)
		return NULL;
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ip) + sizeof(*th));
	memset(eh, 0, sizeof(*eh) + sizeof(*ip) + sizeof(*th));
	eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(peer);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = rte_cpu_to_be_16(pport);
	th->dst_port = rte_cpu_to_be_16(lport);
	if (flag) {
		m->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
		m->hash.rss = rss;
	}
	return m;
}

/* Shard 0 steers `n` frames of random flows; returns how many went where they should not (the
 * owner being reta[what the NIC computed]). `lie`: the mbuf carries another hash than the
 * frame's, which steering must follow (it is what the NIC acted on). */
static unsigned int
steer_round(struct dp_lcore *ls, const uint8_t *key, const uint16_t *reta, int flag, int lie)
{
	struct rte_mbuf *pkts[DP_RX_BURST];
	unsigned int want_kept = 0, want_sent = 0, bad = 0;
	uint16_t kept;
	void *e;

	for (unsigned int i = 0; i < DP_RX_BURST; i++) {
		uint32_t peer = rnd();
		uint16_t pp = (uint16_t)rnd(), lp = (uint16_t)rnd();
		uint32_t h = nic_hash(key, peer, OUR_IP, pp, lp) + (lie ? rnd() : 0);

		pkts[i] = tcp_frame(peer, pp, lp, flag, h);
		if (pkts[i] == NULL)
			return DP_RX_BURST;
		if (reta[h & (RETA_SMALL - 1)] == 0)
			want_kept++;
		else
			want_sent++;
	}
	kept = dp_shard_steer(ls, pkts, DP_RX_BURST);
	bad += kept != want_kept;
	bad += rte_ring_count(ls->to[1]) != want_sent;
	rte_pktmbuf_free_bulk(pkts, kept);
	while (rte_ring_sc_dequeue(ls->to[1], &e) == 0)
		rte_pktmbuf_free(e);
	return bad;
}

static void
steer_follows_the_nic(void)
{
	static struct dp_lcore ls;
	uint8_t key[DP_RSS_KEY_MAX];
	uint16_t reta[RETA_SMALL];
	unsigned int bad = 0;

	dp_n_shards = 2;
	dp_shard_rss_key(key, 40);
	make_reta(reta, RETA_SMALL, 2, 1);
	CHECK_EQ(dp_shard_owner_use_rss(rte_cpu_to_be_32(OUR_IP), key, 40, reta, RETA_SMALL), 0);
	memset(&ls, 0, sizeof(ls));
	ls.pool = pool;
	ls.to[1] = rte_ring_create("own_01", 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	CHECK(ls.to[1] != NULL);
	if (ls.to[1] == NULL)
		return;
	for (int r = 0; r < 50; r++) {
		bad += steer_round(&ls, key, reta, 1, 0); /* the NIC's hash */
		bad += steer_round(&ls, key, reta, 0, 0); /* none: rte_softrss */
		bad += steer_round(&ls, key, reta, 1, 1); /* the NIC's hash wins */
	}
	CHECK_EQ(bad, 0);
	CHECK(ls.steered > 0);
	CHECK_EQ(ls.steer_dropped, 0);
	rte_ring_free(ls.to[1]);
	dp_shard_owner_use_jhash();
}

int
main(void)
{
	char prefix[64], rundir[PATH_MAX];
	char *eal[] = {"test_owner",
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
	int rc;

	snprintf(prefix, sizeof(prefix), "--file-prefix=dpown%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0) {
		printf("not ok 1 - EAL init\n1..1\n");
		return 1;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	pool = rte_pktmbuf_pool_create("dpown", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                               SOCKET_ID_ANY);
	if (pool == NULL) {
		printf("not ok 1 - mbuf pool\n1..1\n");
		return 1;
	}
	TEST(symmetric_key_both_directions);
	TEST(rss_owner_agrees_with_reta_lookup);
	TEST(connect_port_choice_jhash);
	TEST(connect_port_choice_rss);
	TEST(connect_no_port_fits);
	TEST(steer_follows_the_nic);
	rc = tap_done();
	rte_mempool_free(pool);
	rte_eal_cleanup();
	dpt_remove_runtime_dir(rundir);
	return rc;
}

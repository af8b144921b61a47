/* SPDX-License-Identifier: Apache-2.0
 * The port tachyond serves: whatever single ethdev the EAL arguments produced (an af_packet vdev
 * on a veth for the demo and the tests, a vfio-pci NIC on a server), one RX/TX queue pair per
 * polling lcore, and the mbuf pool the RX queues fill. One pool for all queues: each lcore gets
 * and puts through its own mempool cache (no shared cache line on the fast path), and a frame
 * steered to another shard (dp_shard.c) is freed there into the same pool.
 *
 * Spreading flows over the queues. On a NIC with RSS and more than one queue we program the
 * hash ourselves: a symmetric Toeplitz key (dp_shard_rss_key) over IPv4 and TCP ports, and a
 * RETA that sends entry j to queue j mod N, then tell dp_shard.c to compute flow owners the same
 * way, so that the NIC delivers each flow to its owner and nothing crosses between lcores
 * (dp_connect picks its source ports by the same function). ARP goes to queue 0 by an rte_flow
 * rule where the driver accepts one; either way the receiving lcore copies it to the others. On
 * af_packet (no RSS: the kernel's fanout spreads the flows) the owner stays dp_shard.c's jhash.
 * docs/nic.md has the set-up of a real NIC.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_packet.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dp_pvt.h"
#include "dp_stats.h"

/* Drop counters on af_packet. net_af_packet in DPDK 22.11 reports no imissed: a frame the
 * kernel could not put in a queue's full ring is counted only in that socket's
 * PACKET_STATISTICS (tp_drops), which the driver never reads. So we read it ourselves: the
 * driver's sockets are the process's AF_PACKET sockets bound to the port's interface, created
 * for queues 0..n-1 in that order while its probe socket stays open (so their descriptors
 * ascend with the queue). PACKET_STATISTICS resets on read, hence the running sums; each is
 * touched only by the lcore of its queue. */
static struct {
	int n;                         /* sockets found (0: none, or not af_packet) */
	int fd[DP_MAX_SHARDS];         /* by queue */
	uint64_t drops[DP_MAX_SHARDS]; /* tp_drops summed since start */
} dp_pkt;

static int
dp_fd_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static uint64_t
dp_pkt_drops(int fd)
{
	struct tpacket_stats ts;
	socklen_t len = sizeof(ts);

	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &ts, &len) != 0)
		return 0;
	return ts.tp_drops;
}

/* Cost: one pass over the process's descriptors, at start only. */
static void
dp_port_find_packet_sockets(uint16_t pid, const struct rte_eth_dev_info *info, uint16_t n_queues)
{
	int fds[DP_MAX_SHARDS + 1], n = 0;
	struct dirent *de;
	DIR *d;

	dp_pkt.n = 0;
	if (info->driver_name == NULL || strcmp(info->driver_name, "net_af_packet") != 0 ||
	    (d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(d)) != NULL && n <= DP_MAX_SHARDS) {
		struct sockaddr_ll sll;
		socklen_t len = sizeof(int), slen = sizeof(sll);
		int fd = atoi(de->d_name), dom;

		if (de->d_name[0] == '.' || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) != 0 || dom != AF_PACKET ||
		    getsockname(fd, (struct sockaddr *)&sll, &slen) != 0 ||
		    sll.sll_ifindex != (int)info->if_index)
			continue;
		fds[n++] = fd;
	}
	closedir(d);
	if (n != n_queues) {
		fprintf(stderr,
		        "tachyond: port %u: %d AF_PACKET sockets for %u queues: kernel ring drops "
		        "not counted\n",
		        pid, n, n_queues);
		return;
	}
	qsort(fds, (size_t)n, sizeof(fds[0]), dp_fd_cmp);
	for (int q = 0; q < n; q++) {
		dp_pkt.fd[q] = fds[q];
		dp_pkt.drops[q] = 0;
		dp_pkt_drops(fds[q]); /* what was dropped before we started polling */
	}
	dp_pkt.n = n;
}

void
dp_port_drops_read(uint16_t port_id, uint16_t queue, struct dp_port_drops *d)
{
	struct rte_eth_stats st;

	if (queue < dp_pkt.n) {
		dp_pkt.drops[queue] += dp_pkt_drops(dp_pkt.fd[queue]);
		d->rx_missed = dp_pkt.drops[queue];
	}
	/* Port-wide counters from one lcore only: some drivers accumulate clear-on-read
	 * registers inside stats_get, which two lcores must not race on. */
	if (queue == 0 && rte_eth_stats_get(port_id, &st) == 0) {
		d->rx_missed = (dp_pkt.n > 0 ? dp_pkt.drops[0] : 0) + st.imissed;
		d->rx_errors = st.ierrors;
		d->rx_nombuf = st.rx_nombuf;
		d->tx_errors = st.oerrors;
	}
}

/* RSS of our own making: only with several queues, a TCP/IPv4 hash, a RETA we can index and a
 * key we can hold. */
static int
dp_port_rss_usable(const struct rte_eth_dev_info *info, uint16_t n_queues)
{
	return n_queues > 1 && (info->flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) &&
	       info->reta_size > 0 && info->reta_size <= DP_RETA_MAX &&
	       (info->reta_size & (info->reta_size - 1)) == 0 &&
	       info->hash_key_size <= DP_RSS_KEY_MAX;
}

/* After the port started: the RETA (entry j -> queue j mod N), the key as the NIC reports it,
 * the ARP rule, then the owner function to match. Anything the driver refuses falls back to
 * what it reports, or to jhash: steering stays correct, only the crossing comes back. */
static void
dp_port_rss_setup(uint16_t pid, const struct rte_eth_dev_info *info, uint16_t n_queues,
                  uint32_t local_ip, uint8_t *key, uint8_t key_len)
{
	struct rte_eth_rss_reta_entry64 rc[DP_RETA_MAX / RTE_ETH_RETA_GROUP_SIZE];
	/* a driver that reports no key size took its default key: read whatever it holds */
	struct rte_eth_rss_conf hc = {.rss_key = key,
	                              .rss_key_len = key_len ? key_len : DP_RSS_KEY_MAX};
	uint16_t reta[DP_RETA_MAX], size = info->reta_size;
	const char *arp = "copied from whichever queue receives it";
	uint8_t sym[DP_RSS_KEY_MAX];
	struct rte_flow_error ferr;
	int ret;

	memset(rc, 0, sizeof(rc));
	for (uint16_t j = 0; j < size; j++) {
		rc[j / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (j % RTE_ETH_RETA_GROUP_SIZE);
		rc[j / RTE_ETH_RETA_GROUP_SIZE].reta[j % RTE_ETH_RETA_GROUP_SIZE] = j % n_queues;
	}
	ret = rte_eth_dev_rss_reta_update(pid, rc, size);
	if (ret < 0)
		fprintf(stderr, "tachyond: port %u: RETA update refused (%s): using the driver's\n",
		        pid, rte_strerror(-ret));
	if (rte_eth_dev_rss_reta_query(pid, rc, size) < 0 ||
	    rte_eth_dev_rss_hash_conf_get(pid, &hc) < 0) {
		fprintf(stderr, "tachyond: port %u: RSS state unreadable: flow owner by jhash\n",
		        pid);
		return;
	}
	for (uint16_t j = 0; j < size; j++)
		reta[j] = rc[j / RTE_ETH_RETA_GROUP_SIZE].reta[j % RTE_ETH_RETA_GROUP_SIZE];
	key_len = hc.rss_key_len && hc.rss_key_len <= DP_RSS_KEY_MAX ? hc.rss_key_len : 40;
	if (dp_shard_owner_use_rss(local_ip, key, key_len, reta, size) < 0) {
		fprintf(stderr,
		        "tachyond: port %u: RSS key or RETA unusable: flow owner by jhash\n", pid);
		return;
	}
	/* ARP hashes on nothing and usually lands on queue 0 anyway; the rule makes it certain. */
	{
		const struct rte_flow_attr attr = {.ingress = 1};
		const struct rte_flow_item_eth spec = {.type = RTE_BE16(RTE_ETHER_TYPE_ARP)};
		const struct rte_flow_item_eth mask = {.type = RTE_BE16(0xffff)};
		const struct rte_flow_item pattern[] = {
		        {.type = RTE_FLOW_ITEM_TYPE_ETH, .spec = &spec, .mask = &mask},
		        {.type = RTE_FLOW_ITEM_TYPE_END},
		};
		const struct rte_flow_action_queue q0 = {.index = 0};
		const struct rte_flow_action actions[] = {
		        {.type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &q0},
		        {.type = RTE_FLOW_ACTION_TYPE_END},
		};

		if (rte_flow_validate(pid, &attr, pattern, actions, &ferr) == 0 &&
		    rte_flow_create(pid, &attr, pattern, actions, &ferr) != NULL)
			arp = "flow rule to queue 0, copied to the others";
	}
	dp_shard_rss_key(sym, key_len);
	printf("tachyond: port %u: RSS over %u queues, %s Toeplitz key (%u bytes), RETA %u entries "
	       "-> queue j mod %u%s; flow owner: rss; ARP: %s\n",
	       pid, n_queues, memcmp(sym, key, key_len) == 0 ? "symmetric" : "the driver's",
	       key_len, size, n_queues, ret < 0 ? " (the driver's table)" : "", arp);
}

int
dp_port_init(const struct dp_conf *conf, uint16_t n_queues, uint16_t *port_id,
             struct rte_mempool **pool)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf pc = {0};
	uint16_t pid = RTE_MAX_ETHPORTS, p;
	uint16_t rxd = conf->rxd, txd = conf->txd;
	uint8_t key[DP_RSS_KEY_MAX];
	uint8_t key_len = 0;
	unsigned int cache;
	int socket, ret, rss;

	RTE_ETH_FOREACH_DEV(p)
	{
		if (pid == RTE_MAX_ETHPORTS)
			pid = p;
	}
	if (pid == RTE_MAX_ETHPORTS) {
		fprintf(stderr, "tachyond: no port: give the EAL one, e.g. "
		                "--vdev=net_af_packet0,iface=IFNAME, or bind a NIC to vfio-pci\n");
		return -ENODEV;
	}
	if (rte_eth_dev_count_avail() > 1)
		fprintf(stderr, "tachyond: %u ports, serving only the first (port %u)\n",
		        rte_eth_dev_count_avail(), pid);

	ret = rte_eth_dev_info_get(pid, &info);
	if (ret < 0)
		return ret;
	if (info.max_rx_queues < n_queues || info.max_tx_queues < n_queues) {
		fprintf(stderr,
		        "tachyond: port %u has %u RX / %u TX queues for %u lcores (af_packet: add "
		        "qpairs=%u to the --vdev)\n",
		        pid, info.max_rx_queues, info.max_tx_queues, n_queues, n_queues);
		return -EINVAL;
	}
	dp_shard_owner_use_jhash();
	rss = dp_port_rss_usable(&info, n_queues);
	if (rss) {
		/* the key must have the NIC's length; with none reported, the driver keeps its own
		 */
		key_len = info.hash_key_size;
		dp_shard_rss_key(key, key_len);
		pc.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		pc.rx_adv_conf.rss_conf = (struct rte_eth_rss_conf){
		        .rss_key = key_len ? key : NULL,
		        .rss_key_len = key_len,
		        .rss_hf = (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP) &
		                  info.flow_type_rss_offloads,
		};
		/* the NIC's hash in each mbuf: steering then costs a table lookup per frame */
		if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH)
			pc.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
	} else if (n_queues > 1) {
		printf("tachyond: port %u (%s): %u queues, no RSS of ours (the driver's or the "
		       "kernel's spreading); flow owner: jhash, frames re-steered to their owner\n",
		       pid, info.driver_name, n_queues);
	}

	socket = rte_eth_dev_socket_id(pid);
	if (socket < 0)
		socket = (int)rte_socket_id();
	/* The per-lcore cache makes get/put a local array operation; the mempool library wants it
	 * no larger than n / 1.5. */
	cache = RTE_MIN(256u, conf->mbufs * 2 / 3);
	*pool = rte_pktmbuf_pool_create("dp_mbufs_0", conf->mbufs * n_queues, cache, 0,
	                                RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (*pool == NULL) {
		fprintf(stderr, "tachyond: cannot create a pool of %u mbufs: %s\n",
		        conf->mbufs * n_queues, rte_strerror(rte_errno));
		return -rte_errno;
	}

	ret = rte_eth_dev_configure(pid, n_queues, n_queues, &pc);
	if (ret == 0 && conf->mtu != 0)
		ret = rte_eth_dev_set_mtu(pid, conf->mtu);
	if (ret == 0 && conf->mac_given)
		ret = rte_eth_dev_default_mac_addr_set(pid, (struct rte_ether_addr *)&conf->mac);
	if (ret == 0)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
	for (uint16_t q = 0; q < n_queues && ret == 0; q++) {
		ret = rte_eth_rx_queue_setup(pid, q, rxd, socket, NULL, *pool);
		if (ret == 0)
			ret = rte_eth_tx_queue_setup(pid, q, txd, socket, NULL);
	}
	if (ret == 0)
		ret = rte_eth_dev_start(pid);
	if (ret < 0) {
		fprintf(stderr, "tachyond: port %u setup failed: %s\n", pid, rte_strerror(-ret));
		rte_eth_dev_close(pid);
		rte_mempool_free(*pool);
		*pool = NULL;
		return ret;
	}
	if (rss)
		dp_port_rss_setup(pid, &info, n_queues, conf->ip, key, key_len);
	dp_port_find_packet_sockets(pid, &info, n_queues);
	*port_id = pid;
	return 0;
}

unsigned int
dp_port_close(uint16_t port_id, struct rte_mempool *pool)
{
	unsigned int in_use = 0;

	struct rte_flow_error ferr;

	dp_pkt.n = 0;                   /* the driver closes its sockets */
	rte_flow_flush(port_id, &ferr); /* the ARP rule, if any */
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
	if (pool != NULL) {
		in_use = rte_mempool_in_use_count(pool);
		rte_mempool_free(pool);
	}
	return in_use;
}

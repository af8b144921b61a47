/* SPDX-License-Identifier: Apache-2.0
 * The port tachyond serves: whatever single ethdev the EAL arguments produced (an af_packet vdev
 * on a veth for the demo and the tests, a vfio-pci NIC on a server), one RX/TX queue pair per
 * polling lcore, and the mbuf pool the RX queues fill. One pool for all queues: each lcore gets
 * and puts through its own mempool cache (no shared cache line on the fast path), and a frame
 * steered to another shard (dp_shard.c) is freed there into the same pool.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dp_pvt.h"

int
dp_port_init(const struct dp_conf *conf, uint16_t n_queues, uint16_t *port_id,
             struct rte_mempool **pool)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf pc = {0};
	uint16_t pid = RTE_MAX_ETHPORTS, p;
	uint16_t rxd = conf->rxd, txd = conf->txd;
	unsigned int cache;
	int socket, ret;

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
	/* A NIC spreads flows by RSS; tachyond re-steers by its flow hash anyway (dp_shard.c). */
	if (n_queues > 1 && info.flow_type_rss_offloads != 0) {
		pc.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		pc.rx_adv_conf.rss_conf.rss_hf =
		        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
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
	*port_id = pid;
	return 0;
}

unsigned int
dp_port_close(uint16_t port_id, struct rte_mempool *pool)
{
	unsigned int in_use = 0;

	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
	if (pool != NULL) {
		in_use = rte_mempool_in_use_count(pool);
		rte_mempool_free(pool);
	}
	return in_use;
}

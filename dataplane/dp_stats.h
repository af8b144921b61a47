/* SPDX-License-Identifier: Apache-2.0
 * Per-lcore counters of the dataplane, the one contract between the polling lcores (writers)
 * and the control thread that answers the control process (reader).
 *
 * Each polling lcore owns one cache-aligned slot and is its only writer: plain stores, no
 * atomics, no locks. The lcore refreshes its tcp/mqtt snapshots at most every
 * DP_STATS_PERIOD_US, so reading costs the data path nothing per packet. Readers see each
 * 64-bit counter whole (aligned x86 stores) and tolerate counters from slightly different
 * instants.
 */
#ifndef DP_STATS_H
#define DP_STATS_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "mqtt/mqtt.h"
#include "tcpstack/tcp.h"

#define DP_STATS_PERIOD_US 100000

struct dp_lcore_stats {
	uint64_t updated_us;          /* when this slot was last refreshed; 0 = lcore not running */
	uint64_t loops;               /* poll-loop iterations */
	uint64_t busy_loops;          /* iterations that did work (rx, tx or timers) */
	uint64_t busy_tsc, total_tsc; /* busy share = busy_tsc / total_tsc */
	uint64_t rx_pkts, tx_pkts, tx_dropped;
	uint64_t mempool_in_use; /* mbufs of the pool in use (one pool shared by the lcores) */
	uint64_t heap_bytes;     /* broker heap held by this lcore (its jemalloc thread counters) */
	/* frames handed to the shard owning their flow / received from other shards / dropped
	 * on a full ring (dp_shard.c) */
	uint64_t steered, rx_steered, steer_dropped;
	/* The port's own drop counters (dp_port_drops_read): what the NIC or the kernel dropped
	 * before a burst could take it. Each lcore reports its queue's where the driver gives
	 * them per queue (af_packet: its socket's ring); port-wide ones (a NIC's imissed,
	 * ierrors, rx_nombuf, oerrors) go to the first lcore only, so the sum is the port's. */
	struct dp_port_drops {
		uint64_t rx_missed; /* no room in the RX ring (imissed, af_packet tp_drops) */
		uint64_t rx_errors; /* erroneous frames (ierrors) */
		uint64_t rx_nombuf; /* no mbuf to receive into */
		uint64_t tx_errors; /* frames the port failed to send (oerrors) */
	} port;
	/* Filled by the control thread in its copy (dp_ctl_stats_extra), never by the lcore:
	 * entries waiting on the lcore's inbound rings from the other shards, right now, and
	 * the lcore's security counters (dp_sec.h struct dp_sec_stats, same fields and meaning;
	 * copied here so that this header needs nothing of dp_sec.h). */
	uint64_t ring_in_use;
	struct {
		uint64_t logins_ok, logins_refused, logins_parked;
		uint64_t acl_denied_pub, acl_denied_sub;
		uint64_t tls_open, tls_failed;
		uint64_t conn_limit_refused, listener_limit_refused, conn_rate_refused;
		uint64_t pub_rate_exceeded, rate_evictions, closed_before_connect;
	} sec;
	struct tcp_stats tcp;
	struct mqtt_stats mqtt;
} __rte_cache_aligned;

/* Indexed by lcore id. Defined in dp_main.c. */
extern struct dp_lcore_stats dp_stats[RTE_MAX_LCORE];

#endif /* DP_STATS_H */

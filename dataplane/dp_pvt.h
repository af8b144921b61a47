/* SPDX-License-Identifier: Apache-2.0
 * tachyond internals shared by the dp_*.c files: the run-time configuration, the per-lcore
 * state and the functions that build and drive it.
 */
#ifndef DP_PVT_H
#define DP_PVT_H

#include <signal.h>
#include <stdint.h>
#include <sys/queue.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "control/ctl_config.h"
#include "mqtt/mqtt.h"
#include "tcpstack/tcp.h"

#include "tcpstack/tcp_timer.h"

#define DP_MAX_LISTENERS   CTL_MAX_LISTENERS
#define DP_RX_BURST        32
#define DP_MAX_SHARDS      16   /* polling lcores (queue pairs, tcpstacks, broker shards) */
#define DP_SHARD_RING_SIZE 1024 /* entries per ring between two shards (dp_shard.c) */
#define DP_SHARD_ALL       UINT32_MAX

/* What a ring entry between shards is: the tag sits in the low bits of the pointer (mbufs and
 * descriptors are at least 8-byte aligned). */
enum dp_ring_tag {
	DP_RING_MBUF = 0,  /* a frame for the owner of its flow, or a copy of an ARP frame */
	DP_RING_PUB = 1,   /* a reference to a published struct mqtt_msg, to inject (dp_route.c) */
	DP_RING_RET = 2,   /* that reference coming back to the shard that owns the message */
	DP_RING_ROUTE = 3, /* struct dp_route_msg: a shard's first/last subscription to a filter */
	DP_RING_XFER = 4,  /* struct mqtt_xfer: sessions across shards (mqtt/mqtt_xfer.c) */
	DP_RING_XRET = 5,  /* that message coming back to the shard that allocated it */
	DP_RING_SPUB = 6,  /* struct dp_spub: a publish for one member of a shared group here */
	DP_RING_SRET = 7,  /* that descriptor (and its reference) back to the publisher's shard */
};
#define DP_RING_TAG(e) ((unsigned int)((uintptr_t)(e)&7u))

enum dp_idle {
	DP_IDLE_BUSY,     /* spin: a dedicated, isolated core */
	DP_IDLE_ADAPTIVE, /* back off with short sleeps after empty polls */
};

/* Everything tachyond is told at start: the config file with the command line on top (cfg),
 * and what is derived from it for the dataplane. */
struct dp_conf {
	struct ctl_config cfg;   /* effective configuration, as the control socket reports it */
	const char *config_path; /* --config, or NULL */
	const char *ctl_socket;  /* --ctl-socket, or NULL: cfg.dataplane_socket */
	int ports_given;         /* a --port replaced the file's listeners */
	/* derived from cfg */
	uint32_t ip, netmask, gateway; /* network byte order; gateway 0 = none */
	uint16_t listen_port[DP_MAX_LISTENERS];
	unsigned int n_listen;
	enum dp_idle idle;
	uint32_t mbufs; /* per lcore pool */
	struct mqtt_broker_conf mqtt;
	/* command line only */
	uint32_t max_conns; /* per lcore */
	uint32_t rcvbuf, sndbuf;
	uint16_t mtu; /* 0: the port's */
	int mac_given;
	struct rte_ether_addr mac; /* --mac: set on the port; else the port's own */
	uint16_t rxd, txd;
	uint32_t arp_timeout_us;
};

/* What tcp_listen() is given per listener, so that the accept handler knows which listener (TLS
 * context, anonymous policy: dp_auth.c) a connection came in on. */
struct dp_listen_ctx {
	struct dp_lcore *ls;
	unsigned int idx; /* in conf->cfg.listeners[] */
};

struct dp_conn;
TAILQ_HEAD(dp_conn_list, dp_conn);
struct dp_peer;
TAILQ_HEAD(dp_peer_list, dp_peer); /* active opens (dp_connect.h) */

/* One polling lcore's world. Only its lcore touches it, except dp_stats[] which it publishes. */
struct dp_lcore {
	unsigned int lcore_id;
	unsigned int shard; /* 0..dp_n_shards-1: its queue pair and its broker shard */
	uint16_t port_id, queue_id;
	int running;
	enum dp_idle idle;
	struct rte_mempool *pool;      /* packet mbufs */
	struct rte_mempool *conn_pool; /* struct dp_conn */
	struct tcp_stack *stack;
	struct mqtt_broker *broker;
	struct tcp_wheel *wheel; /* keep-alive timers (dp_conn.c) */
	struct dp_conn_list conns;
	struct dp_peer_list peers; /* open dp_connect connections: closed by the drain at exit */
	uint64_t now_us;      /* the loop's clock, read once per iteration */
	uint32_t empty_polls; /* consecutive iterations without work */
	uint32_t sleep_us;    /* current adaptive back-off */
	uint64_t next_stats_us;
	uint64_t rx_pkts, tx_pkts, tx_dropped;
	uint64_t loops, busy_loops, busy_tsc, total_tsc;
	uint64_t cfg_generation;  /* last dp_ctl config applied */
	struct dp_sec_lcore *sec; /* logins, ACLs, TLS (dp_sec.h) */
	struct dp_listen_ctx listen_ctx[DP_MAX_LISTENERS];
	/* rings to and from the other shards (dp_shard.c); NULL for itself */
	struct rte_ring *to[DP_MAX_SHARDS], *from[DP_MAX_SHARDS];
	uint64_t steered, rx_steered, steer_dropped; /* frames sent to / received from owners */
	/* broker memory: this lcore's jemalloc arena and tcache (dp_lcore.c) */
	unsigned int mem_arena, mem_tcache;
	uint64_t *mem_allocp, *mem_deallocp; /* jemalloc thread counters (dp_mem_held) */
	struct mqtt_allocator mem;
} __rte_cache_aligned;

extern struct dp_lcore dp_lcores[RTE_MAX_LCORE];
extern volatile sig_atomic_t dp_quit;
extern unsigned int dp_n_shards;                  /* polling lcores */
extern struct dp_lcore *dp_shards[DP_MAX_SHARDS]; /* by shard index */

/* dp_conf.c: defaults, the config file and the command line (our part, after the EAL's "--"). */
void dp_conf_defaults(struct dp_conf *conf);
/* Returns 0 to run; 1 to exit now with *status (--help, --check-config, a bad config file);
 * -EINVAL after printing a usage error (*status = 2). */
int dp_conf_parse_args(struct dp_conf *conf, int argc, char **argv, int *status);
void dp_usage(const char *prog);

/* dp_port.c: the one port, its n_queues queue pairs and the mbuf pool they share. */
int dp_port_init(const struct dp_conf *conf, uint16_t n_queues, uint16_t *port_id,
                 struct rte_mempool **pool);
/* The port's drop counters for queue `queue` (dp_stats.h struct dp_port_drops), cumulative;
 * called by the lcore that owns the queue, at the stats period (a syscall on af_packet, register
 * reads on a NIC for queue 0). */
struct dp_port_drops;
void dp_port_drops_read(uint16_t port_id, uint16_t queue, struct dp_port_drops *d);
/* Stops and closes the port, frees the pool; returns the mbufs still in use (leaks). */
unsigned int dp_port_close(uint16_t port_id, struct rte_mempool *pool);

/* dp_lcore.c: per-lcore stack + broker, the poll loop, the drain at exit. */
uint64_t dp_clock_us(void);
int dp_lcore_init(struct dp_lcore *ls, const struct dp_conf *conf, unsigned int lcore_id,
                  uint16_t port_id, uint16_t queue_id, struct rte_mempool *pool);
/* The poll loop until dp_quit, then the drain of its connections (in step with the other
 * lcores, whose queues may carry its flows' frames). */
int dp_lcore_main(void *arg);
void dp_lcore_drain_prepare(void); /* before the lcores are launched */
/* One loop iteration (no control poll); returns nonzero when it did work. For in-process
 * drivers of the lcore (tests/dataplane) as well as dp_lcore_main. */
int dp_lcore_poll(struct dp_lcore *ls);
void dp_lcore_drain(struct dp_lcore *ls);
void dp_lcore_fini(struct dp_lcore *ls);

/* dp_shard.c: rings between shards and the steering of frames to their owner. */
int dp_shard_rings_create(void);
void dp_shard_rings_free(void);
/* Pass the frames of flows other shards own to them (and ARP copies to all); returns how many
 * of pkts[] (compacted) this shard processes itself. */
uint16_t dp_shard_steer(struct dp_lcore *ls, struct rte_mbuf **pkts, uint16_t n);
/* The shard that owns a TCP flow (peer address and both ports as on the wire). */
unsigned int dp_shard_owner(uint32_t peer_ip, uint16_t peer_port, uint16_t local_port);
/* The owner function, chosen once at port setup (dp_port.c): jhash (the default), or the NIC's
 * RSS: Toeplitz with `key` over (peer, us, peer port, local port), RETA entry -> queue = shard.
 * local_ip in network order; reta_size a power of two <= DP_RETA_MAX. */
#define DP_RSS_KEY_MAX 64
#define DP_RETA_MAX    512
void dp_shard_rss_key(uint8_t *key, unsigned int len); /* the symmetric key (0x6d5a...) */
void dp_shard_owner_use_jhash(void);
int dp_shard_owner_use_rss(uint32_t local_ip, const uint8_t *key, unsigned int key_len,
                           const uint16_t *reta, unsigned int reta_size);
const char *dp_shard_owner_name(void);
/* Drain the inbound rings (bounded); returns the entries handled. */
int dp_shard_poll(struct dp_lcore *ls);
void dp_shard_entry_discard(struct dp_lcore *ls, void *e);

/* dp_route.c: cross-shard publishes and the replicated route table. */
int dp_route_init(struct dp_lcore *ls);  /* after the rings; installs the broker's shard hooks */
void dp_route_fini(struct dp_lcore *ls); /* after every lcore stopped: staged entries, replica */
/* One entry from ring `from` (anything but MBUF). */
void dp_route_input(struct dp_lcore *ls, unsigned int from, void *e);
/* Push staged entries to the rings; what does not fit stays staged for the next iteration. */
int dp_route_flush(struct dp_lcore *ls);
void dp_route_discard(void *e); /* an entry left on a ring at exit */
void dp_route_summary(const struct dp_lcore *ls);

/* dp_conn.c: the TCP <-> MQTT glue and per-connection keep-alive timers. */
extern const struct tcp_app_ops dp_tcp_ops;
extern const struct mqtt_transport_ops dp_mqtt_ops;
int dp_conn_pool_create(struct dp_lcore *ls, uint32_t max_conns);
int dp_conn_timers_run(struct dp_lcore *ls);
void dp_conn_close_all(struct dp_lcore *ls, int abortive);
/* Forget connections the stack never reported closed (only at exit); returns how many. */
unsigned int dp_conn_forget_all(struct dp_lcore *ls);

#endif /* DP_PVT_H */

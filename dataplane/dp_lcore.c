/* SPDX-License-Identifier: Apache-2.0
 * One polling lcore: its tcpstack instance, its MQTT shard, and the run-to-completion loop
 *
 *   dp_ctl poll (RCU quiescent state, config) -> rx burst -> steer other shards' frames to
 *   their rings (dp_shard.c) -> tcp_stack_input (-> dp_conn handlers -> mqtt) -> inbound rings
 *   -> tcp_stack_timers -> keep-alive wheel -> mqtt_broker_tick
 *   -> tcp_stack_flush (-> dp_lcore_tx -> tx burst)
 *
 * No lock, no allocation and no syscall on this path; the adaptive idle policy sleeps only
 * after the loop has found nothing to do for a while.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#ifdef DP_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "dataplane/dp_ctl.h"
#include "dp_connect.h"
#include "dp_pvt.h"
#include "dp_sec.h"
#include "dp_stats.h"

struct dp_lcore dp_lcores[RTE_MAX_LCORE];
struct dp_lcore_stats dp_stats[RTE_MAX_LCORE];
volatile sig_atomic_t dp_quit;

/* Adaptive idle policy. An empty af_packet/PMD poll costs well under a microsecond, so 512 empty
 * iterations are a few hundred microseconds of spinning: short enough that an idle broker stops
 * burning its core almost at once, long enough that the gaps inside a burst of traffic (a few
 * microseconds between a client's segments, or between our ACK and its next send) never reach
 * a sleep. The sleep then doubles from 16 us to 1 ms: 1 ms caps the latency the first packet
 * after a quiet spell can see, and costs about a thousand wakeups per second (the whole idle
 * process measured 1.4% of a core on the test VM). Any work resets to pure polling. */
#define DP_IDLE_SPIN_POLLS   512
#define DP_IDLE_SLEEP_MIN_US 16
#define DP_IDLE_SLEEP_MAX_US 1000

/* Microseconds since boot from the TSC: the 64x64->128 multiply by a 32.32 fixed-point
 * factor never overflows, unlike cycles * 1e6 / hz, and costs a few cycles per iteration. */
static uint64_t dp_tsc_mult;

uint64_t
dp_clock_us(void)
{
	if (unlikely(dp_tsc_mult == 0))
		dp_tsc_mult = ((uint64_t)1000000 << 32) / rte_get_tsc_hz();
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() * dp_tsc_mult) >> 32);
}

/* Broker memory from per-lcore jemalloc arenas (issue 5). Each lcore gets its own arena
 * (arenas.create) and tcache (tcache.create) at start, installed as the broker's allocator
 * (mqtt_set_thread_allocator) on its thread and around its broker's creation and destruction on
 * the main thread: no two lcores contend on an arena lock, and what one lcore frees stays in its
 * own tcache. Memory another lcore owns comes back to it through the rings (message references,
 * session transfer messages), so the fast path never frees into another arena; dallocx would
 * still be correct if it did (jemalloc finds a pointer's arena), it is only slower.
 *
 * tachyond links jemalloc, so it is also the process's malloc (DPDK's packet memory is its own
 * heap either way). Sanitizer builds leave it out (DP_JEMALLOC unset) so that ASan sees every
 * broker allocation: the broker then allocates with malloc. */
#ifdef DP_JEMALLOC
static int
dp_mem_flags(const struct dp_lcore *ls)
{
	return MALLOCX_ARENA(ls->mem_arena) | MALLOCX_TCACHE(ls->mem_tcache);
}

static void *
dp_mem_alloc(void *ctx, size_t size, int zero)
{
	/* mallocx(0) is undefined */
	return mallocx(size ? size : 1, dp_mem_flags(ctx) | (zero ? MALLOCX_ZERO : 0));
}

static void *
dp_mem_realloc(void *ctx, void *p, size_t size)
{
	if (p == NULL)
		return dp_mem_alloc(ctx, size, 0);
	return rallocx(p, size ? size : 1, dp_mem_flags(ctx));
}

static void
dp_mem_free(void *ctx, void *p)
{
	if (p != NULL)
		dallocx(p, dp_mem_flags(ctx));
}

/* After an lcore's tcache is gone (exit): frees of what is still referenced, from any thread. */
static void *
dp_mem_exit_alloc(void *ctx, size_t size, int zero)
{
	RTE_SET_USED(ctx);
	return mallocx(size ? size : 1, MALLOCX_TCACHE_NONE | (zero ? MALLOCX_ZERO : 0));
}

static void *
dp_mem_exit_realloc(void *ctx, void *p, size_t size)
{
	if (p == NULL)
		return dp_mem_exit_alloc(ctx, size, 0);
	return rallocx(p, size ? size : 1, MALLOCX_TCACHE_NONE);
}

static void
dp_mem_exit_free(void *ctx, void *p)
{
	RTE_SET_USED(ctx);
	if (p != NULL)
		dallocx(p, MALLOCX_TCACHE_NONE);
}

static const struct mqtt_allocator dp_mem_exit = {dp_mem_exit_alloc, dp_mem_exit_realloc,
                                                  dp_mem_exit_free, NULL};

/* This lcore's arena and tcache. */
static int
dp_mem_lcore_init(struct dp_lcore *ls)
{
	size_t sz = sizeof(unsigned int);

	if (mallctl("arenas.create", &ls->mem_arena, &sz, NULL, 0) != 0)
		return -ENOMEM;
	sz = sizeof(unsigned int);
	if (mallctl("tcache.create", &ls->mem_tcache, &sz, NULL, 0) != 0)
		return -ENOMEM;
	ls->mem = (struct mqtt_allocator){dp_mem_alloc, dp_mem_realloc, dp_mem_free, ls};
	printf("tachyond: lcore %u: broker memory from jemalloc arena %u\n", ls->lcore_id,
	       ls->mem_arena);
	return 0;
}

static void
dp_mem_lcore_fini(struct dp_lcore *ls)
{
	if (ls->mem.alloc == NULL)
		return;
	/* flush its cached objects back to the arenas; later frees bypass every tcache */
	mallctl("tcache.destroy", NULL, NULL, &ls->mem_tcache, sizeof(ls->mem_tcache));
	ls->mem.alloc = NULL;
	mqtt_set_thread_allocator(&dp_mem_exit);
}

/* Heap this lcore's thread allocated and has not freed: jemalloc's per-thread counters, two
 * thread-local loads once the pointers are known (no arena lock, no stats epoch). Memory is
 * freed by the lcore that allocated it (the rings bring it back), so the difference is what the
 * lcore's broker holds, plus its share of what the main thread made at start. */
static uint64_t
dp_mem_held(struct dp_lcore *ls)
{
	size_t sz = sizeof(uint64_t *);

	if (ls->mem_allocp == NULL &&
	    (mallctl("thread.allocatedp", &ls->mem_allocp, &sz, NULL, 0) != 0 ||
	     mallctl("thread.deallocatedp", &ls->mem_deallocp, &sz, NULL, 0) != 0)) {
		ls->mem_allocp = NULL;
		return 0;
	}
	return *ls->mem_allocp - *ls->mem_deallocp;
}
#else
static uint64_t
dp_mem_held(struct dp_lcore *ls)
{
	RTE_SET_USED(ls);
	return 0;
}

static int
dp_mem_lcore_init(struct dp_lcore *ls)
{
	RTE_SET_USED(ls); /* ls->mem.alloc stays NULL: malloc */
	return 0;
}

static void
dp_mem_lcore_fini(struct dp_lcore *ls)
{
	RTE_SET_USED(ls);
}
#endif

/* The calling thread allocates for ls's broker (NULL allocator when jemalloc is absent). */
static void
dp_mem_use(struct dp_lcore *ls)
{
	mqtt_set_thread_allocator(ls->mem.alloc ? &ls->mem : NULL);
}

/* tcpstack's transmit hook. af_packet may take fewer frames than offered when its kernel ring is
 * full; a few immediate retries usually let the kernel drain it, after which the rest are freed
 * and counted (TCP retransmits what mattered). */
static uint16_t
dp_lcore_tx(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	struct dp_lcore *ls = ctx;
	uint16_t sent = 0;

	for (int tries = 0; sent < n && tries < 8; tries++)
		sent += rte_eth_tx_burst(ls->port_id, ls->queue_id, pkts + sent, n - sent);
	if (unlikely(sent < n)) {
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
		ls->tx_dropped += n - sent;
	}
	ls->tx_pkts += sent;
	return sent;
}

int
dp_lcore_init(struct dp_lcore *ls, const struct dp_conf *conf, unsigned int lcore_id,
              uint16_t port_id, uint16_t queue_id, struct rte_mempool *pool)
{
	struct mqtt_broker_conf mc = conf->mqtt;
	struct tcp_stack_conf tc;
	uint16_t mtu = conf->mtu;
	int ret;

	memset(ls, 0, sizeof(*ls));
	ls->lcore_id = lcore_id;
	ls->shard = queue_id;
	ls->port_id = port_id;
	ls->queue_id = queue_id;
	ls->idle = conf->idle;
	ls->pool = pool;
	ls->now_us = dp_clock_us();
	TAILQ_INIT(&ls->conns);
	TAILQ_INIT(&ls->peers);

	ls->wheel = rte_malloc_socket("dp_wheel", sizeof(*ls->wheel), RTE_CACHE_LINE_SIZE,
	                              rte_lcore_to_socket_id(lcore_id));
	if (ls->wheel == NULL)
		return -ENOMEM;
	tcp_wheel_init(ls->wheel, ls->now_us);

	ret = dp_conn_pool_create(ls, conf->max_conns);
	if (ret < 0)
		return ret;

	mc.shard = queue_id;
	ret = dp_mem_lcore_init(ls);
	if (ret < 0)
		return ret;
	dp_mem_use(ls); /* the broker's memory from this lcore's arena from the start */
	ls->broker = mqtt_broker_create(&mc, &dp_mqtt_ops);
	if (ls->broker == NULL)
		return -errno;

	if (mtu == 0 && rte_eth_dev_get_mtu(port_id, &mtu) < 0)
		mtu = RTE_ETHER_MTU;
	tc = (struct tcp_stack_conf){
	        .ip = conf->ip,
	        .netmask = conf->netmask,
	        .gateway = conf->gateway,
	        .mtu = mtu,
	        .pool = pool,
	        .tx = dp_lcore_tx,
	        .tx_ctx = ls,
	        .ops = &dp_stack_ops, /* active opens and accepted connections */
	        .max_conns = conf->max_conns,
	        .rcvbuf = conf->rcvbuf,
	        .sndbuf = conf->sndbuf,
	        .arp_timeout_us = conf->arp_timeout_us,
	        .lcore = lcore_id,
	};
	ret = rte_eth_macaddr_get(port_id, &tc.mac);
	if (ret < 0)
		return ret;
	ls->stack = tcp_stack_create(&tc);
	if (ls->stack == NULL)
		return -errno;
	for (unsigned int i = 0; i < conf->n_listen; i++) {
		ls->listen_ctx[i] = (struct dp_listen_ctx){.ls = ls, .idx = i};
		ret = tcp_listen_cc(ls->stack, conf->listen_port[i], &ls->listen_ctx[i],
		                    (enum tcp_cc)conf->cfg.listeners[i].cc);
		if (ret < 0)
			return ret;
	}
	return dp_sec_lcore_init(ls, conf);
}

/* Publish this lcore's counters for the control thread: plain stores, one writer. Called at most
 * every DP_STATS_PERIOD_US, so the copies and the mempool walk cost nothing per packet. */
static void
dp_lcore_publish_stats(struct dp_lcore *ls)
{
	struct dp_lcore_stats *s = &dp_stats[ls->lcore_id];

	s->loops = ls->loops;
	s->busy_loops = ls->busy_loops;
	s->busy_tsc = ls->busy_tsc;
	s->total_tsc = ls->total_tsc;
	s->rx_pkts = ls->rx_pkts;
	s->tx_pkts = ls->tx_pkts;
	s->tx_dropped = ls->tx_dropped;
	s->steered = ls->steered;
	s->rx_steered = ls->rx_steered;
	s->steer_dropped = ls->steer_dropped;
	dp_port_drops_read(ls->port_id, ls->queue_id, &s->port);
	s->mempool_in_use = rte_mempool_in_use_count(ls->pool);
	s->heap_bytes = dp_mem_held(ls);
	s->tcp = *tcp_stack_stats(ls->stack);
	s->mqtt = *mqtt_broker_stats(ls->broker);
	s->updated_us = ls->now_us;
	ls->next_stats_us = ls->now_us + DP_STATS_PERIOD_US;
}

/* The adaptive back-off: sleep no longer than until the stack's next timer (retransmission,
 * delayed ACK) so idling never delays TCP. Keep-alive timers need no such bound: a keep-alive
 * deadline is seconds long and a nap adds at most 1 ms to it. */
static void
dp_lcore_idle(struct dp_lcore *ls)
{
	uint64_t next, us = ls->sleep_us;
	struct timespec ts;

	if (++ls->empty_polls < DP_IDLE_SPIN_POLLS)
		return;
	next = tcp_stack_next_timer(ls->stack); /* only once spinning is over: it probes a wheel */
	if (next <= ls->now_us)
		return;
	if (next - ls->now_us < us)
		us = next - ls->now_us;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000;
	nanosleep(&ts, NULL); /* EINTR (a signal) just ends the nap early */
	if (ls->sleep_us < DP_IDLE_SLEEP_MAX_US)
		ls->sleep_us = RTE_MIN(ls->sleep_us * 2, (uint32_t)DP_IDLE_SLEEP_MAX_US);
}

int
dp_lcore_poll(struct dp_lcore *ls)
{
	struct rte_mbuf *pkts[DP_RX_BURST];
	uint64_t tx_before = ls->tx_pkts;
	uint16_t n;
	int work;

	ls->now_us = dp_clock_us();
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
	work += dp_sec_poll(ls); /* parked logins, TLS bursts */
	mqtt_broker_tick(ls->broker, ls->now_us);
	tcp_stack_flush(ls->stack);
	return work || ls->tx_pkts != tx_before;
}

/* A new configuration generation: apply what can change live (the idle policy, the broker's
 * limits, the security settings). Runs on the lcore, between two loop iterations, so the shard
 * never sees half a configuration. */
static void
dp_lcore_apply_cfg(struct dp_lcore *ls, const struct dp_ctl_cfg *cfg)
{
	struct mqtt_broker_conf m;

	mqtt_broker_conf_defaults(&m);
	dp_ctl_mqtt_conf(&cfg->cfg, &m);
	mqtt_broker_set_limits(ls->broker, &m);
	ls->cfg_generation = cfg->generation;
	dp_sec_apply_cfg(ls, &cfg->cfg);
	ls->idle = cfg->cfg.idle_policy == CTL_IDLE_BUSY ? DP_IDLE_BUSY : DP_IDLE_ADAPTIVE;
}

int
dp_lcore_main(void *arg)
{
	struct dp_lcore *ls = arg;
	uint64_t t0 = rte_get_tsc_cycles();

	ls->running = 1;
	ls->sleep_us = DP_IDLE_SLEEP_MIN_US;
	dp_mem_use(ls);
	/* busy_tsc / total_tsc is the share of wall time spent on work: total includes naps. */
	while (!dp_quit) {
		/* The control thread's news: a quiescent-state report, pending shard requests, and
		 * the current config (two loads and a store when nothing changed). */
		const struct dp_ctl_cfg *cfg = dp_ctl_lcore_poll(ls->lcore_id);
		int work;
		uint64_t t1;

		if (unlikely(cfg != NULL && cfg->generation != ls->cfg_generation))
			dp_lcore_apply_cfg(ls, cfg);
		work = dp_lcore_poll(ls);
		t1 = rte_get_tsc_cycles();

		ls->loops++;
		if (work) {
			ls->busy_loops++;
			ls->busy_tsc += t1 - t0;
			ls->empty_polls = 0;
			ls->sleep_us = DP_IDLE_SLEEP_MIN_US;
		} else if (ls->idle == DP_IDLE_ADAPTIVE) {
			dp_lcore_idle(ls);
			t1 = rte_get_tsc_cycles();
		}
		ls->total_tsc += t1 - t0;
		t0 = t1;
		if (ls->now_us >= ls->next_stats_us)
			dp_lcore_publish_stats(ls);
	}
	dp_ctl_lcore_exit(ls->lcore_id);
	dp_lcore_drain(ls);
	ls->running = 0;
	return 0;
}

/* Close every connection and give the peers a bounded time to finish the exchange: graceful
 * first (FIN after queued data), then abortive for what is left, so exit never hangs on a peer
 * that stopped answering. Every lcore drains at once and keeps polling until all are done (or
 * the time is up): a peer's FIN or ACK for one shard may arrive on another's queue. The shared
 * counter is touched once per lcore per phase, at exit only. */
static unsigned int dp_drain_busy[2];

static void
dp_lcore_drain_phase(struct dp_lcore *ls, unsigned int phase, uint64_t budget_us)
{
	uint64_t start = dp_clock_us();
	struct timespec nap = {0, 100000};
	int counted = 1;

	while (dp_clock_us() - start < budget_us) {
		if (counted && TAILQ_EMPTY(&ls->conns) && TAILQ_EMPTY(&ls->peers)) {
			__atomic_fetch_sub(&dp_drain_busy[phase], 1, __ATOMIC_RELEASE);
			counted = 0;
		}
		if (__atomic_load_n(&dp_drain_busy[phase], __ATOMIC_ACQUIRE) == 0)
			break;
		if (!dp_lcore_poll(ls))
			nanosleep(&nap, NULL);
	}
	if (counted)
		__atomic_fetch_sub(&dp_drain_busy[phase], 1, __ATOMIC_RELEASE);
}

void
dp_lcore_drain_prepare(void)
{
	dp_drain_busy[0] = dp_drain_busy[1] = dp_n_shards;
}

void
dp_lcore_drain(struct dp_lcore *ls)
{
	dp_conn_close_all(ls, 0);
	dp_connect_close_all(ls, 0);
	dp_lcore_drain_phase(ls, 0, 300000);
	if (!TAILQ_EMPTY(&ls->conns))
		dp_conn_close_all(ls, 1);
	dp_connect_close_all(ls, 1);
	dp_lcore_drain_phase(ls, 1, 20000);
}

/* Forget what never reported closed; after every lcore has stopped. */
static void
dp_lcore_forget(struct dp_lcore *ls)
{
	unsigned int n = dp_conn_forget_all(ls);
	if (n > 0)
		fprintf(stderr, "tachyond: lcore %u: %u connection(s) never reported closed\n",
		        ls->lcore_id, n);
}

void
dp_lcore_fini(struct dp_lcore *ls)
{
	if (ls->stack != NULL) {
		const struct dp_lcore_stats *s = &dp_stats[ls->lcore_id];

		dp_lcore_forget(ls);
		dp_lcore_publish_stats(ls);
		/* One summary per lcore at exit: what a test or an operator checks first. */
		printf("tachyond: lcore %u: rx %" PRIu64 " tx %" PRIu64 " tx_dropped %" PRIu64
		       " busy %.1f%% | tcp accepted %" PRIu64 " retransmits %" PRIu64
		       " drop_nomem %" PRIu64 " | mqtt in %" PRIu64 " out %" PRIu64
		       " dropped queue/outbuf %" PRIu64 "/%" PRIu64 " malformed %" PRIu64
		       " | shard %u steered out/in/dropped %" PRIu64 "/%" PRIu64 "/%" PRIu64
		       " | sessions moved in/out/dropped %" PRIu64 "/%" PRIu64 "/%" PRIu64
		       " | port missed/errors/nombuf %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
		       ls->lcore_id, s->rx_pkts, s->tx_pkts, s->tx_dropped,
		       s->total_tsc ? 100.0 * (double)s->busy_tsc / (double)s->total_tsc : 0.0,
		       s->tcp.conns_accepted, s->tcp.retransmits, s->tcp.drop_nomem,
		       s->mqtt.messages_in, s->mqtt.messages_out, s->mqtt.dropped_queue_full,
		       s->mqtt.dropped_outbuf_full, s->mqtt.malformed_packets, ls->shard,
		       s->steered, s->rx_steered, s->steer_dropped, s->mqtt.sessions_moved_in,
		       s->mqtt.sessions_moved_out, s->mqtt.sessions_move_dropped, s->port.rx_missed,
		       s->port.rx_errors, s->port.rx_nombuf);
		tcp_stack_destroy(ls->stack);
		ls->stack = NULL;
	}
	dp_sec_lcore_fini(ls);
	if (ls->broker != NULL) {
		dp_mem_use(ls);
		mqtt_broker_destroy(ls->broker);
		ls->broker = NULL;
	}
	dp_mem_lcore_fini(ls);
	rte_mempool_free(ls->conn_pool);
	ls->conn_pool = NULL;
	rte_free(ls->wheel);
	ls->wheel = NULL;
}

/* SPDX-License-Identifier: Apache-2.0
 * dp_ctl: tachyond's control server. A control thread (rte_ctrl_thread_create, off the polling
 * cores) answers tachyon-control, and tachyonctl as a fallback, on a unix socket with the
 * JSON-lines protocol of control/ctl_wire.h: stats (from dp_stats[]), status, config get/apply,
 * log level, and the per-shard requests (clients, sessions, subscriptions, retained) that it
 * forwards to the lcores through rings.
 *
 * Configuration reaches the lcores atomically: the control thread builds a new immutable
 * struct dp_ctl_cfg, swaps the published pointer, and frees the old object only once every
 * polling lcore has passed a quiescent state (rte_rcu_qsbr, one reader thread id per lcore).
 * A shard therefore never sees half a config, and never a freed one.
 *
 * What dp_main.c calls (four calls; the first and last on the main thread):
 *
 *   1. dp_ctl_start(&conf)            after rte_eal_init(), before the lcores are launched.
 *                                     Links: dataplane/meson.build adds 'dp_ctl.c',
 *                                     '../control/ctl_config.c', '../control/ctl_wire.c'
 *                                     and dependency('jansson').
 *   2. c = dp_ctl_lcore_poll(lcore)   once per poll-loop iteration on every polling lcore,
 *                                     outside any use of the previous `c`. Reports the
 *                                     quiescent state, answers pending shard requests (calls
 *                                     the shard handler) and returns the current config,
 *                                     valid until the next call. When c->generation differs
 *                                     from the one the lcore last applied, apply the live
 *                                     subset (limits, idle policy) to the shard.
 *                                     Cost when nothing is pending: two loads and a store.
 *   3. dp_ctl_lcore_exit(lcore)       when the lcore leaves its loop (or before it sleeps for
 *                                     long, e.g. blocks in epoll: call dp_ctl_lcore_poll
 *                                     again to come back).
 *   4. dp_ctl_stop()                  after rte_eal_mp_wait_lcore(), before rte_eal_cleanup().
 *
 * The shard requests (clients/sessions/subscriptions/retained/$SYS) are answered by
 * dp_ctl_shard_default() on each lcore; dp_ctl_set_shard_handler() replaces it (tests).
 *
 * tachyond's command line (dp_conf.c), suggested:
 *   --config FILE        ctl_config_load(FILE, &cfg, err, sizeof(err)); map cfg.address,
 *                        netmask, gateway (HOST byte order in struct ctl_config), mbufs,
 *                        idle_policy, listeners[].port into struct dp_conf and the MQTT limits
 *                        with dp_ctl_mqtt_conf(); pass &cfg as dp_ctl_conf.config. Without
 *                        --config, ctl_config_defaults() then the existing options on top.
 *   --check-config FILE  ctl_config_load(); on error print err (it names file, line and
 *                        problem) and exit 5 (the exit code tachyonctl and tachyon-control use),
 *                        else print "FILE: OK" and exit 0.
 *   --ctl-socket PATH    dp_ctl_conf.socket_path (else cfg.dataplane_socket,
 *                        default /run/tachyon/tachyond.sock).
 */
#ifndef DP_CTL_H
#define DP_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl_config.h"
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_admin.h"

/* The immutable config object an lcore sees. */
struct dp_ctl_cfg {
	uint64_t generation; /* 1 for the start-up config, +1 per applied change */
	struct ctl_config cfg;
};

struct dp_ctl_conf {
	const struct ctl_config *config; /* start-up config; copied */
	const char *config_path;         /* shown by `status`; may be NULL */
	const char *socket_path;         /* NULL: config->dataplane_socket */
};

/* Returns 0 or -errno (socket in use, no memory...). */
int dp_ctl_start(const struct dp_ctl_conf *conf);
void dp_ctl_stop(void);

const struct dp_ctl_cfg *dp_ctl_lcore_poll(unsigned int lcore_id);
void dp_ctl_lcore_exit(unsigned int lcore_id);

/* The MQTT limits of `c` into `m` (max_packet_size, max_inflight, max_queued); the other
 * fields of `m` are left alone. For start-up (before mqtt_broker_create) and, once the MQTT core
 * can change limits of a running shard, on each new generation seen by the lcore. */
void dp_ctl_mqtt_conf(const struct ctl_config *c, struct mqtt_broker_conf *m);

/* --- shard requests --- */

enum dp_ctl_op {
	DP_CTL_CLIENTS_LIST,
	DP_CTL_CLIENT_SHOW,
	DP_CTL_CLIENT_KICK,
	DP_CTL_SESSIONS_LIST,
	DP_CTL_SESSION_SHOW,
	DP_CTL_SESSION_DROP,
	DP_CTL_SUBSCRIPTIONS_LIST,
	DP_CTL_RETAINED_LIST,
	DP_CTL_RETAINED_DELETE,
	/* Publish retained $SYS messages (tachyon-control computes them every sys_interval).
	 * Sent to one lcore only (the lowest online); q->out holds the messages, read them with
	 * dp_ctl_sys_next(). The shard publishes each as a retained QoS 0 message from the
	 * broker itself, so route replication carries it to subscribers on every shard. */
	DP_CTL_SYS_PUBLISH,
};

/* One request to one shard. The control thread allocates it and sends it to every polling
 * lcore's request ring; the lcore calls the shard handler from dp_ctl_lcore_poll() and sends
 * it back. The handler writes its answer into `out` as JSON objects separated by ',' (list
 * ops: one per item; show: one object; kick/drop/delete: nothing) with dp_ctl_out_printf()
 * and dp_ctl_out_string(), which never allocate. Work is bounded by `limit` items.
 *
 * The item objects (docs/operations.md; tachyonctl prints them as they come, so a field may be
 * added, never renamed). Times are seconds, sizes bytes, peers "a.b.c.d:port":
 *   client:       {"client_id","lcore","peer","protocol":3|4|5,"state","keepalive",
 *                  "session_expiry_s","inflight","queued","subscriptions","username"?}
 *   session:      {"client_id","lcore","online","expiry_s","expires_in_s","inflight","queued",
 *                  "subscriptions","peer"?}
 *   subscription: {"client_id","lcore","filter","qos","no_local","retain_as_published",
 *                  "retain_handling","subscription_id"?}
 *   retained:     {"topic","bytes","qos","expires_in_s"}
 * (session_expiry_s/expiry_s: -1 never; expires_in_s: -1 online or never.)
 * A show answers the same object as a list item; -ENOENT when this shard does not have it (the
 * request goes to every shard: one answers, the others say -ENOENT).
 *
 * Bounded work per poll-loop iteration: a handler that has more to do returns -EAGAIN after at
 * most one batch (mqtt_admin.h: 256 items), keeping its position in q->cursor; the lcore keeps
 * the query and calls the handler again on its next iteration, answering only when it returns
 * anything else. Retained stores are full replicas on every shard (dp_route.c): retained.list
 * asks one lcore, retained.delete and sys.publish every lcore. */
struct dp_ctl_query {
	enum dp_ctl_op op;
	char arg[256];       /* client id (clients, sessions, subscriptions of one client),
	                      * topic filter (subscriptions, retained.list), topic (delete);
	                      * "" = none */
	char client_id[256]; /* subscriptions.list: only this client's ("" = every client's) */
	uint32_t limit;      /* list ops: at most this many items */
	uint32_t count;      /* items written */
	uint32_t total;      /* items that matched (count < total: truncated) */
	int status;          /* handler's return value: 0, -ENOENT, -ENOTSUP, -ENOSPC... */
	unsigned int lcore;  /* lcore that answered */
	struct mqtt_admin_cursor cursor; /* the handler's resume position; zero at first */
	uint64_t batch;                  /* private to dp_ctl */
	size_t out_len, out_cap;
	char *out;
};

/* Runs on the polling lcore `lcore_id`; returns 0 or -errno (-ENOENT: not on this shard). */
typedef int (*dp_ctl_shard_fn)(void *arg, unsigned int lcore_id, struct dp_ctl_query *q);

/* tachyond's shard handler (dp_ctl_shard.c: mqtt_admin.h walks over the lcore's broker, peer
 * and user from its connection), installed by dp_ctl_start() unless another one was set first
 * (tests set a fake; dp_ctl_test.c defines a stub of this symbol). */
int dp_ctl_shard_default(void *arg, unsigned int lcore_id, struct dp_ctl_query *q);

/* Counters the lcore does not publish itself, read by the control thread from the lcore's
 * state (ring occupancy) into a copy of its dp_stats slot. Also dp_ctl_shard.c. */
struct dp_lcore_stats;
void dp_ctl_stats_extra(unsigned int lcore_id, struct dp_lcore_stats *s);

/* Install (or remove, fn = NULL) the shard handler. Call before dp_ctl_start() or while no
 * request is in flight (from the main thread at start-up, typically). */
void dp_ctl_set_shard_handler(dp_ctl_shard_fn fn, void *arg);

/* Iterate the messages of a DP_CTL_SYS_PUBLISH query: start with *off = 0; returns 1 and
 * points at the next topic and payload (not NUL-terminated), or 0 at the end. */
int dp_ctl_sys_next(const struct dp_ctl_query *q, size_t *off, const char **topic,
                    uint16_t *topic_len, const char **payload, uint32_t *payload_len);

/* Append to q->out; -ENOSPC (and nothing written) when it does not fit. */
int dp_ctl_out_printf(struct dp_ctl_query *q, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Append s[0..len) as a quoted, escaped JSON string. */
int dp_ctl_out_string(struct dp_ctl_query *q, const char *s, size_t len);

#endif /* DP_CTL_H */

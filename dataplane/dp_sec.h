/* SPDX-License-Identifier: Apache-2.0
 * dp_sec: authentication, ACLs and TLS wired into tachyond (issue 8; design in docs/security.md).
 *
 * dp_auth.c: the password set and ACL as immutable snapshots (loaded off the lcores by a
 * control thread, re-read live when their files or paths change, swapped by pointer and freed
 * once every lcore has moved on), the login worker, and the broker's connect/acl hooks.
 * dp_tls.c: TLS listeners: per poll cycle one decrypt burst over the connections that received
 * ciphertext and one encrypt burst over those with plaintext to seal.
 *
 * Every accepted connection gets a struct dp_sec_conn (from a per-lcore array, no malloc): its
 * listener, client id and user name for ACL checks, its parked login and its TLS state.
 * dp_conn.c and dp_lcore.c call the hooks below; nothing here is called per byte except the
 * TLS paths of TLS connections.
 */
#ifndef DP_SEC_H
#define DP_SEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dp_pvt.h"

struct dp_sec_conn;
struct dp_sec_lcore;

/* Main thread, before the lcores: TLS contexts, the worker, the first load of the password
 * file and ACL (errors printed, -errno). */
int dp_sec_init(const struct dp_conf *conf);
void dp_sec_fini(void);

/* The lcore's front end; installs the broker hooks. 0 or -errno. */
int dp_sec_lcore_init(struct dp_lcore *ls, const struct dp_conf *conf);
void dp_sec_lcore_fini(struct dp_lcore *ls);
/* Once per loop iteration: adopt new snapshots, finish parked logins, run the TLS bursts.
 * Returns nonzero when it did work. */
int dp_sec_poll(struct dp_lcore *ls);
/* A new config generation (password_file/acl_file paths). */
void dp_sec_apply_cfg(struct dp_lcore *ls, const struct ctl_config *cfg);

/* Counters of one lcore: plain stores by that lcore only, as in dp_stats.h (a reader loads
 * each 64-bit field whole and tolerates fields from slightly different instants). */
struct dp_sec_stats {
	uint64_t logins_ok, logins_refused, logins_parked;
	uint64_t acl_denied_pub, acl_denied_sub;
	uint64_t tls_open, tls_failed;
	/* limits (docs/security.md, "Limits") */
	uint64_t connections;            /* current: past the connect hook, as max_connections
	                                  * counts them (this lcore's share) */
	uint64_t conn_limit_refused;     /* CONNACK 0x97 (3.x 0x03): global max_connections */
	uint64_t listener_limit_refused; /* CONNACK 0x97 (3.x 0x03): a listener's max_connections */
	uint64_t conn_rate_refused;      /* CONNACK 0x9F (3.x 0x03): max_connection_rate */
	uint64_t pub_rate_exceeded;      /* DISCONNECT 0x96 (3.x closed): max_publish_rate */
	uint64_t rate_evictions;         /* source-address buckets evicted while not yet full */
	uint64_t closed_before_connect;  /* gone before the connect hook ran: connect_timeout
	                                  * (slowloris), a failed TLS handshake, a peer that left */
};

/* This lcore's counters (for its stats refresh: dp_stats[id].sec = *dp_sec_lcore_stats(ls)). */
const struct dp_sec_stats *dp_sec_lcore_stats(const struct dp_lcore *ls);

/* Connection life: open on accept (NULL: refuse it), the MQTT side once it exists, close when
 * the transport is gone (after mqtt_conn_closed). */
struct dp_sec_conn *dp_sec_conn_open(struct dp_lcore *ls, struct dp_conn *dc, unsigned int listener,
                                     struct tcp_conn *tcp);
void dp_sec_conn_set_mqtt(struct dp_sec_conn *s, struct mqtt_conn *m);
void dp_sec_conn_close(struct dp_sec_conn *s);

/* dp_tls.c. dp_tls_active: 1 when the connection is TLS (the other calls apply). */
int dp_tls_active(const struct dp_sec_conn *s);
void dp_tls_readable(struct dp_sec_conn *s);                             /* TCP has ciphertext */
ssize_t dp_tls_send(struct dp_sec_conn *s, const void *buf, size_t len); /* MQTT output */
void dp_tls_writable(struct dp_sec_conn *s); /* TCP has room: push ciphertext */
void dp_tls_shutdown(struct dp_sec_conn *s); /* before the FIN: close_notify, flush */

/* dp_conn.c, for dp_tls.c: hand plaintext to the broker (returns 0, or -1 once the connection
 * is closing), resume the broker's output, close gracefully. */
int dp_conn_deliver(struct dp_conn *dc, const void *data, size_t len);
void dp_conn_resume(struct dp_conn *dc);
void dp_conn_shutdown(struct dp_conn *dc);
struct dp_sec_conn *dp_conn_sec(const struct dp_conn *dc);

/* ---- Private to dp_auth.c and dp_tls.c (the buckets also to tests/security/test_limits.c) */

#include <rte_jhash.h>

#include "dataplane/tls/tls.h"
#include "mqtt/mqtt_auth.h"

#define DP_SEC_ID_MAX 256 /* client id / user name bytes kept for ACL checks */

struct dp_sec_conn {
	struct dp_conn *dc;
	struct mqtt_conn *mqtt;
	struct tcp_conn *tcp;
	struct dp_sec_lcore *sl;
	struct tls_conn *tls; /* NULL: plain MQTT */
	uint32_t login_seq;   /* cookie check for parked logins; kept across reuse */
	uint32_t dirty_idx;   /* position in sl->dirty while dirty */
	uint8_t in_use, parked, dirty, blocked, listener, id_long, opened;
	uint8_t connect_seen;       /* the connect hook ran: user and client id are known */
	uint16_t user_len, cid_len; /* user_len 0 = anonymous */
	uint16_t will_len;          /* will topic stashed before the connect hook */
	uint8_t will, will_long;
	uint8_t rate_over; /* max_connection_rate tripped at accept: CONNECT gets 0x9F */
	uint8_t counted;   /* holds a max_connections slot (released on close) */
	uint64_t pub_tat;  /* publish-rate bucket (GCRA: when it is full again, us) */
	char user[DP_SEC_ID_MAX + 1];
	char cid[DP_SEC_ID_MAX + 1];
	char will_topic[DP_SEC_ID_MAX + 1];
};

/* Limits as this lcore applies them (from the config at start and on each new generation). */
struct dp_sec_limits {
	uint32_t max_conns;                      /* 0: none */
	uint32_t listener_max[DP_MAX_LISTENERS]; /* 0: none */
	uint32_t conn_interval, conn_burst;      /* us per token, bucket depth; 0: off */
	uint32_t pub_interval, pub_burst;
};

/* A source address's connection-rate bucket; ip 0 (never a TCP peer) marks a free slot. */
struct dp_rate_slot {
	uint32_t ip;
	uint32_t pad;
	uint64_t tat; /* GCRA: when the bucket is full again (us); <= now: as good as free */
};

#define DP_RATE_SLOTS 4096 /* source-address buckets per lcore (64 KiB), a power of two */
#define DP_RATE_PROBE 8    /* slots looked at per lookup: two cache lines */

/* A token bucket as one timestamp (GCRA): *tat is when the bucket is full again. A request
 * conforms when the bucket holds a token, i.e. *tat - now <= (burst - 1) * interval; it then
 * takes one (*tat advances by interval). Returns 0 when it conforms. */
static inline int
dp_gcra(uint64_t *tat, uint64_t now, uint32_t interval, uint32_t burst)
{
	uint64_t t = *tat > now ? *tat : now;

	if (t - now > (uint64_t)(burst - 1) * interval)
		return -1;
	*tat = t + interval;
	return 0;
}

/* Take a connection token for source `ip` (network order) from the table `tab`
 * (DP_RATE_SLOTS); 0 when there was one.
 *
 * Hand-rolled rather than rte_hash: rte_hash neither expires nor evicts, so a full table
 * would refuse new addresses (or need a sweep) and a flood from many sources would fill it.
 * Here a bucket whose tat has passed is full, which is what a missing entry means, so
 * expiry costs nothing; a lookup probes DP_RATE_PROBE slots from a keyed hash (per-boot
 * random seed: sources cannot be chosen to collide) and, when the address is absent, takes
 * a free or full slot, else evicts the bucket closest to full (counted in *evictions: that
 * address starts again with a full bucket, the slack of a bounded table). Cost:
 * DP_RATE_PROBE compares. */
static inline int
dp_rate_take(struct dp_rate_slot *tab, uint32_t seed, uint32_t ip, uint64_t now, uint32_t interval,
             uint32_t burst, uint64_t *evictions)
{
	uint32_t h = rte_jhash_1word(ip, seed);
	struct dp_rate_slot *victim = NULL, *e;

	for (unsigned int k = 0; k < DP_RATE_PROBE; k++) {
		e = &tab[(h + k) & (DP_RATE_SLOTS - 1)];
		if (e->ip == ip)
			return dp_gcra(&e->tat, now, interval, burst);
		if (victim == NULL ||
		    (victim->ip != 0 && victim->tat > now && (e->ip == 0 || e->tat < victim->tat)))
			victim = e;
	}
	if (victim->ip != 0 && victim->tat > now)
		(*evictions)++;
	victim->ip = ip;
	victim->tat = 0;
	return dp_gcra(&victim->tat, now, interval, burst);
}

struct dp_sec_lcore {
	struct dp_lcore *ls;
	struct mqtt_auth_lcore *auth;
	const struct mqtt_passwd *pw; /* snapshots adopted by this lcore */
	const struct mqtt_acl *acl;
	uint64_t seq;
	struct tls_engine *eng;
	struct dp_sec_conn *conns; /* max_conns, free list in free_idx */
	uint32_t *free_idx, n_free, n_conns;
	struct dp_sec_conn **dirty; /* TLS connections with work for the next bursts */
	struct tls_conn **burst;
	uint32_t n_dirty;
	struct dp_sec_limits lim;
	struct dp_rate_slot *rate; /* DP_RATE_SLOTS buckets by source address */
	uint32_t rate_seed;
	struct dp_sec_stats st;
	char topic[65536];
};

/* dp_tls.c */
int dp_tls_lcore_init(struct dp_sec_lcore *sl);
void dp_tls_lcore_fini(struct dp_sec_lcore *sl);
int dp_tls_poll(struct dp_sec_lcore *sl);
void dp_tls_forget(struct dp_sec_conn *s); /* connection gone: leave the dirty list */
/* The TLS context of a listener, or NULL for plain MQTT. */
struct tls_ctx *dp_sec_listener_tls(unsigned int listener);

#endif /* DP_SEC_H */

/* SPDX-License-Identifier: Apache-2.0
 * The shard side of tachyond's control requests (dp_ctl.h): runs on a polling lcore, walks its
 * broker through mqtt_admin.h and writes JSON items into the query's buffer. The connection's
 * peer address and user come from the dataplane's own connection data (mqtt_conn_io() is the
 * struct dp_conn; its dp_sec_conn knows the TCB and the login).
 *
 * Cost per call: at most one walker batch (MQTT_ADMIN_BATCH items, MQTT_ADMIN_SCAN entries
 * examined); a longer list returns -EAGAIN and continues on the next loop iteration.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rte_ring.h>

#include "dataplane/dp_ctl.h"
#include "dataplane/dp_sec.h"
#include "dataplane/dp_stats.h"
#include "mqtt/mqtt_admin.h"

struct walk {
	struct dp_ctl_query *q;
	unsigned int lcore;
};

/* Open one item: the separator, then `{"key":"<value>"`, the first member every listing has
 * (client id or topic). item_end() keeps the item whole or drops all of it. */
static int
item_begin(struct dp_ctl_query *q, size_t *mark, const char *key, const uint8_t *v, size_t len)
{
	int rc;

	*mark = q->out_len;
	rc = q->count ? dp_ctl_out_printf(q, ",") : 0;
	rc = rc ?: dp_ctl_out_printf(q, "{\"%s\":", key);
	return rc ?: dp_ctl_out_string(q, (const char *)v, len);
}

static int
item_end(struct dp_ctl_query *q, size_t mark, int rc)
{
	if (rc < 0) {
		q->out_len = mark;
		q->out[mark] = 0;
		return rc;
	}
	q->count++;
	return 0;
}

static int
out_peer(struct dp_ctl_query *q, void *io)
{
	const struct dp_sec_conn *sc = io ? dp_conn_sec(io) : NULL;
	uint32_t ip;
	uint16_t port;
	int rc;

	if (!sc || !sc->tcp)
		return 0;
	tcp_peer(sc->tcp, &ip, &port);
	/* tcp_peer: the address in network byte order, the port in host order */
	ip = rte_be_to_cpu_32(ip);
	rc = dp_ctl_out_printf(q, ",\"peer\":\"%u.%u.%u.%u:%u\"", ip >> 24, (ip >> 16) & 255,
	                       (ip >> 8) & 255, ip & 255, port);
	if (!rc && sc->user_len)
		rc = dp_ctl_out_printf(q, ",\"username\":")
		             ?: dp_ctl_out_string(q, sc->user, sc->user_len);
	return rc;
}

static int64_t
never_neg(uint32_t s)
{
	return s == UINT32_MAX ? -1 : (int64_t)s;
}

static int
on_client(void *arg, const struct mqtt_admin_client *c)
{
	struct walk *w = arg;
	struct dp_ctl_query *q = w->q;
	size_t mark;
	int rc = item_begin(q, &mark, "client_id", c->client_id, c->client_id_len);

	rc = rc
	             ?: dp_ctl_out_printf(
	                        q,
	                        ",\"lcore\":%u,\"protocol\":%u,\"state\":\"%s\",\"keepalive\":%u,"
	                        "\"session_expiry_s\":%" PRId64 ",\"inflight\":%u,\"queued\":%u,"
	                        "\"subscriptions\":%u",
	                        w->lcore, c->protocol, mqtt_admin_state_name(c->state),
	                        c->keepalive, never_neg(c->session_expiry_s), c->inflight,
	                        c->queued, c->subscriptions);
	rc = rc ?: out_peer(q, c->io);
	rc = rc ?: dp_ctl_out_printf(q, "}");
	return item_end(q, mark, rc);
}

static int
on_session(void *arg, const struct mqtt_admin_session *s)
{
	struct walk *w = arg;
	struct dp_ctl_query *q = w->q;
	size_t mark;
	int rc = item_begin(q, &mark, "client_id", s->client_id, s->client_id_len);

	rc = rc
	             ?: dp_ctl_out_printf(q,
	                                  ",\"lcore\":%u,\"online\":%s,\"expiry_s\":%" PRId64
	                                  ",\"expires_in_s\":%" PRId64
	                                  ",\"inflight\":%u,\"queued\":%u,\"subscriptions\":%u",
	                                  w->lcore, s->online ? "true" : "false",
	                                  never_neg(s->expiry_s), s->expires_in_s, s->inflight,
	                                  s->queued, s->subscriptions);
	rc = rc ?: out_peer(q, s->io);
	rc = rc ?: dp_ctl_out_printf(q, "}");
	return item_end(q, mark, rc);
}

static int
on_sub(void *arg, const struct mqtt_admin_sub *s)
{
	struct walk *w = arg;
	struct dp_ctl_query *q = w->q;
	size_t mark;
	int rc = item_begin(q, &mark, "client_id", s->client_id, s->client_id_len);

	rc = rc ?: dp_ctl_out_printf(q, ",\"lcore\":%u,\"filter\":", w->lcore);
	rc = rc ?: dp_ctl_out_string(q, (const char *)s->filter, s->filter_len);
	rc = rc
	             ?: dp_ctl_out_printf(q,
	                                  ",\"qos\":%u,\"no_local\":%s,\"retain_as_published\":%s,"
	                                  "\"retain_handling\":%u",
	                                  s->qos, s->no_local ? "true" : "false",
	                                  s->retain_as_published ? "true" : "false",
	                                  s->retain_handling);
	if (s->subscription_id)
		rc = rc ?: dp_ctl_out_printf(q, ",\"subscription_id\":%u", s->subscription_id);
	rc = rc ?: dp_ctl_out_printf(q, "}");
	return item_end(q, mark, rc);
}

static int
on_retained(void *arg, const struct mqtt_admin_retained *r)
{
	struct walk *w = arg;
	struct dp_ctl_query *q = w->q;
	size_t mark;
	int rc = item_begin(q, &mark, "topic", r->topic, r->topic_len);

	rc = rc
	             ?: dp_ctl_out_printf(q,
	                                  ",\"bytes\":%u,\"qos\":%u,\"expires_in_s\":%" PRId64 "}",
	                                  r->payload_len, r->qos, r->expires_in_s);
	return item_end(q, mark, rc);
}

/* After one batch of a list walk: finished, truncated at q->limit, or -EAGAIN for more. */
static int
list_step(struct dp_ctl_query *q, int rc, const struct mqtt_admin_cursor *cur)
{
	if (rc < 0)
		return rc; /* -ENOSPC: the buffer is full, the list is truncated */
	q->total = q->count;
	if (cur->done)
		return 0;
	if (q->count >= q->limit) {
		q->total = q->count + 1; /* more exist: truncated */
		return 0;
	}
	return -EAGAIN;
}

static int
sys_publish(struct mqtt_broker *b, const struct dp_ctl_query *q, uint64_t now_us)
{
	const char *topic, *payload;
	uint16_t tl;
	uint32_t pl;
	size_t off = 0;
	int rc = 0;

	/* Bounded by the query buffer (64 KiB of messages, a few dozen in practice). */
	while (dp_ctl_sys_next(q, &off, &topic, &tl, &payload, &pl))
		rc = mqtt_admin_publish(b, (const uint8_t *)topic, tl, (const uint8_t *)payload, pl,
		                        1, now_us)
		             ?: rc;
	return rc;
}

int
dp_ctl_shard_default(void *arg, unsigned int lcore, struct dp_ctl_query *q)
{
	struct dp_lcore *ls = &dp_lcores[lcore];
	struct mqtt_broker *b = ls->broker;
	struct mqtt_admin_cursor *cur = &q->cursor;
	struct walk w = {q, lcore};
	const uint8_t *a = (const uint8_t *)q->arg;
	size_t alen = strlen(q->arg);
	uint32_t room = q->limit > q->count ? q->limit - q->count : 0;
	uint64_t now = ls->now_us;

	if (!b)
		return -ENOTSUP;
	switch (q->op) {
	case DP_CTL_CLIENTS_LIST:
		return list_step(q, mqtt_admin_clients(b, cur, room, on_client, &w), cur);
	case DP_CTL_SESSIONS_LIST:
		return list_step(q, mqtt_admin_sessions(b, cur, room, now, on_session, &w), cur);
	case DP_CTL_SUBSCRIPTIONS_LIST:
		return list_step(
		        q,
		        mqtt_admin_subscriptions(b, cur, room, (const uint8_t *)q->client_id,
		                                 strlen(q->client_id), a, alen, on_sub, &w),
		        cur);
	case DP_CTL_RETAINED_LIST:
		return list_step(
		        q, mqtt_admin_retained(b, cur, room, a, alen, now, on_retained, &w), cur);
	case DP_CTL_CLIENT_SHOW:
		return mqtt_admin_client_get(b, a, alen, on_client, &w);
	case DP_CTL_SESSION_SHOW:
		return mqtt_admin_session_get(b, a, alen, now, on_session, &w);
	case DP_CTL_CLIENT_KICK:
		return mqtt_admin_kick(b, a, alen, 0, now);
	case DP_CTL_SESSION_DROP:
		return mqtt_admin_session_drop(b, a, alen, now);
	case DP_CTL_RETAINED_DELETE:
		return mqtt_admin_retained_delete(b, a, alen);
	case DP_CTL_SYS_PUBLISH:
		return sys_publish(b, q, now);
	}
	return -ENOTSUP;
}

/* The members of dp_stats.h's `sec`, copied from struct dp_sec_stats by name. */
/* clang-format off */
#define DP_SEC_FIELDS(X)                                                                           \
	X(logins_ok) X(logins_refused) X(logins_parked) X(acl_denied_pub) X(acl_denied_sub)         \
	X(tls_open) X(tls_failed) X(conn_limit_refused) X(listener_limit_refused)                  \
	X(conn_rate_refused) X(pub_rate_exceeded) X(rate_evictions) X(closed_before_connect)
/* clang-format on */

void
dp_ctl_stats_extra(unsigned int lcore, struct dp_lcore_stats *s)
{
	const struct dp_lcore *ls = &dp_lcores[lcore];
	uint64_t n = 0;

	/* rte_ring_count reads the producer and consumer tails: safe from any thread. Cost:
	 * DP_MAX_SHARDS loads. */
	for (unsigned int i = 0; i < DP_MAX_SHARDS; i++)
		if (ls->from[i])
			n += rte_ring_count(ls->from[i]);
	s->ring_in_use = n;
	if (ls->sec) {
		/* Plain loads of counters the lcore keeps writing (dp_sec.h: tolerated). */
		const struct dp_sec_stats *st = dp_sec_lcore_stats(ls);

#define DP_SEC_COPY(f) s->sec.f = st->f;
		DP_SEC_FIELDS(DP_SEC_COPY)
#undef DP_SEC_COPY
	}
}

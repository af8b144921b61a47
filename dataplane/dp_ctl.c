/* SPDX-License-Identifier: Apache-2.0
 * tachyond's control thread: see dp_ctl.h for the contract with dp_main.c.
 *
 * Threads: the control thread (everything below except the dp_ctl_lcore_* functions, which
 * run on polling lcores) and the telemetry thread (tel_stats, read-only on dp_stats[]).
 * Shared state between control thread and lcores: the published config pointer (release
 * store / acquire load, reclaimed through rte_rcu_qsbr), and two single-producer
 * single-consumer rings per lcore for shard requests. No lock anywhere.
 */
#include "dataplane/dp_ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "control/ctl_stats.h"
#include "control/ctl_wire.h"
#include "dataplane/dp_stats.h"

RTE_LOG_REGISTER(dp_ctl_logtype, tachyon.ctl, INFO);
#define CTL_LOG(level, fmt, ...)                                                                   \
	rte_log(RTE_LOG_##level, dp_ctl_logtype, "dp_ctl: " fmt "\n", ##__VA_ARGS__)

#define RING_SIZE          16   /* requests in flight per lcore: one batch at a time */
#define QUERY_TIMEOUT_MS   2000 /* an lcore that does not answer by then is stuck */
#define RCU_WAIT_MS        1000 /* wait for lcores to see a new config before replying */
#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX     10000
#define OUT_LIST           (1u << 20)  /* answer buffer of one shard, list ops */
#define OUT_ITEM           (64u << 10) /* show/kick/... */
#define MAX_RETIRED        64          /* config objects waiting for a grace period */

struct dp_ctl_lcore {
	struct rte_ring *req, *rep;
	struct dp_ctl_query *cur; /* lcore only: a walk the handler has not finished (-EAGAIN) */
	int online;               /* written by the lcore, read by the control thread */
} __rte_cache_aligned;

struct retired {
	struct dp_ctl_cfg *cfg;
	uint64_t token;
};

static struct {
	struct dp_ctl_cfg *cur; /* published config; lcores load it with acquire */
	struct rte_rcu_qsbr *qsv;
	struct dp_ctl_lcore lc[RTE_MAX_LCORE];
	struct ctl_server *srv;
	pthread_t tid;
	volatile int stop;
	int started;
	char path[108];
	char config_path[CTL_PATH_MAX];
	uint64_t start_us;
	uint64_t batch; /* id of the shard batch being collected */
	struct retired retired[MAX_RETIRED];
	unsigned int n_retired;
	dp_ctl_shard_fn shard_fn;
	void *shard_arg;
} g;

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------- lcore side ---------- */

/* One handler call per loop iteration at most: a walk that returns -EAGAIN stays in l->cur
 * and continues next time, so an operator's listing costs the lcore one bounded batch
 * (mqtt_admin.h) per iteration, whatever its length. Returns 1 while work remains. */
static int
lcore_answer(unsigned int lcore, struct dp_ctl_lcore *l)
{
	struct dp_ctl_query *q = l->cur;
	dp_ctl_shard_fn fn;

	if (!q) {
		if (rte_ring_sc_dequeue(l->req, (void **)&q))
			return 0;
		q->lcore = lcore;
	}
	fn = __atomic_load_n(&g.shard_fn, __ATOMIC_ACQUIRE);
	q->status = fn ? fn(g.shard_arg, lcore, q) : -ENOTSUP;
	if (q->status == -EAGAIN) {
		l->cur = q;
		return 1;
	}
	l->cur = NULL;
	/* The reply ring is as large as the request ring: this cannot fail. */
	rte_ring_sp_enqueue(l->rep, q);
	return !rte_ring_empty(l->req);
}

const struct dp_ctl_cfg *
dp_ctl_lcore_poll(unsigned int lcore)
{
	struct dp_ctl_lcore *l = &g.lc[lcore];

	if (unlikely(!l->online)) {
		rte_rcu_qsbr_thread_register(g.qsv, lcore);
		rte_rcu_qsbr_thread_online(g.qsv, lcore);
		__atomic_store_n(&l->online, 1, __ATOMIC_RELEASE);
	} else {
		rte_rcu_qsbr_quiescent(g.qsv, lcore);
	}
	if (unlikely(l->cur != NULL || !rte_ring_empty(l->req)))
		lcore_answer(lcore, l);
	return __atomic_load_n(&g.cur, __ATOMIC_ACQUIRE);
}

void
dp_ctl_lcore_exit(unsigned int lcore)
{
	struct dp_ctl_lcore *l = &g.lc[lcore];

	if (!l->online)
		return;
	/* Nobody would answer them later. Bounded: RING_SIZE requests, each a finite walk. */
	while (lcore_answer(lcore, l))
		;
	__atomic_store_n(&l->online, 0, __ATOMIC_RELEASE);
	rte_rcu_qsbr_thread_offline(g.qsv, lcore);
	rte_rcu_qsbr_thread_unregister(g.qsv, lcore);
}

int
dp_ctl_out_printf(struct dp_ctl_query *q, const char *fmt, ...)
{
	size_t room = q->out_cap - q->out_len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(q->out + q->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		q->out[q->out_len] = 0;
		return -ENOSPC;
	}
	q->out_len += n;
	return 0;
}

int
dp_ctl_out_string(struct dp_ctl_query *q, const char *s, size_t len)
{
	/* Worst case 6 bytes per input byte (\u00XX), plus quotes and NUL. */
	if (q->out_cap - q->out_len < 6 * len + 3)
		return -ENOSPC;
	q->out[q->out_len++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			q->out[q->out_len++] = '\\';
			q->out[q->out_len++] = (char)c;
		} else if (c < 0x20) {
			q->out_len += snprintf(q->out + q->out_len, 7, "\\u%04x", c);
		} else {
			q->out[q->out_len++] = (char)c;
		}
	}
	q->out[q->out_len++] = '"';
	q->out[q->out_len] = 0;
	return 0;
}

/* Records of a DP_CTL_SYS_PUBLISH query: u16 topic length, topic, u32 payload length,
 * payload; lengths in host order (same process). */
int
dp_ctl_sys_next(const struct dp_ctl_query *q, size_t *off, const char **topic, uint16_t *topic_len,
                const char **payload, uint32_t *payload_len)
{
	uint16_t tl;
	uint32_t pl;

	if (*off + sizeof(tl) > q->out_len)
		return 0;
	memcpy(&tl, q->out + *off, sizeof(tl));
	if (*off + sizeof(tl) + tl + sizeof(pl) > q->out_len)
		return 0;
	memcpy(&pl, q->out + *off + sizeof(tl) + tl, sizeof(pl));
	if (*off + sizeof(tl) + tl + sizeof(pl) + pl > q->out_len)
		return 0;
	*topic = q->out + *off + sizeof(tl);
	*topic_len = tl;
	*payload = *topic + tl + sizeof(pl);
	*payload_len = pl;
	*off += sizeof(tl) + tl + sizeof(pl) + pl;
	return 1;
}

void
dp_ctl_mqtt_conf(const struct ctl_config *c, struct mqtt_broker_conf *m)
{
	m->max_packet_size = c->max_packet_size;
	m->max_inflight = c->max_inflight_messages;
	m->max_queued = c->max_queued_messages;
	/* 65535 (the default) and 0 mean no bound: the broker's 0 */
	m->max_keepalive = c->max_keepalive >= 65535 ? 0 : (uint16_t)c->max_keepalive;
	m->min_keepalive = (uint16_t)c->min_keepalive;
	m->max_subscriptions = c->max_subscriptions;
	m->max_topic_length = c->max_topic_length;
	m->max_topic_levels = c->max_topic_levels;
	m->connect_timeout_us = c->connect_timeout * 1000000u;
}

/* ---------- config publication ---------- */

/* Free retired configs whose grace period is over. Cost: O(retired), at most MAX_RETIRED. */
static void
reclaim(void)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < g.n_retired; i++) {
		if (rte_rcu_qsbr_check(g.qsv, g.retired[i].token, false) == 1)
			free(g.retired[i].cfg);
		else
			g.retired[k++] = g.retired[i];
	}
	g.n_retired = k;
}

static void
apply_log_level(const struct ctl_config *c)
{
	/* rte_log levels are syslog's plus one (RTE_LOG_EMERG = 1). */
	rte_log_set_global_level(c->log_level + 1);
}

/* Publish `c` as the next generation; returns 1 when every lcore has seen it within
 * RCU_WAIT_MS, 0 when some has not yet (the old object is then freed later), -errno. */
static int
publish(const struct ctl_config *c, uint64_t *generation)
{
	struct dp_ctl_cfg *n, *old;
	uint64_t token, deadline;
	int done;

	reclaim();
	if (g.n_retired == MAX_RETIRED)
		return -EBUSY; /* an lcore has been stuck through 64 reloads */
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cfg = *c;
	old = g.cur;
	n->generation = old ? old->generation + 1 : 1;
	__atomic_store_n(&g.cur, n, __ATOMIC_RELEASE);
	apply_log_level(c);
	*generation = n->generation;
	if (!old)
		return 1;
	token = rte_rcu_qsbr_start(g.qsv);
	deadline = mono_us() + RCU_WAIT_MS * 1000;
	while (!(done = rte_rcu_qsbr_check(g.qsv, token, false)) && mono_us() < deadline)
		usleep(200);
	if (done) {
		free(old);
		return 1;
	}
	g.retired[g.n_retired++] = (struct retired){old, token};
	return 0;
}

/* ---------- requests ---------- */

static json_t *
cmd_hello(json_t *req)
{
	json_t *r = ctl_wire_ok();

	json_object_set_new(r, "server", json_string("tachyond"));
	json_object_set_new(r, "pid", json_integer(getpid()));
	return r;
}

static json_t *
online_lcores(void)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++)
		if (__atomic_load_n(&g.lc[i].online, __ATOMIC_ACQUIRE))
			json_array_append_new(a, json_integer(i));
	return a;
}

static json_t *
cmd_status(json_t *req)
{
	json_t *r = ctl_wire_ok();

	json_object_set_new(r, "server", json_string("tachyond"));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "uptime_s", json_integer((mono_us() - g.start_us) / 1000000));
	json_object_set_new(r, "config_path", json_string(g.config_path));
	json_object_set_new(r, "config_generation", json_integer(g.cur->generation));
	json_object_set_new(r, "log_level", json_string(ctl_log_level_name(g.cur->cfg.log_level)));
	json_object_set_new(r, "lcores", online_lcores());
	json_object_set_new(r, "shard_handler", json_boolean(g.shard_fn != NULL));
	json_object_set_new(r, "config_pending_free", json_integer(g.n_retired));
	return r;
}

static json_t *
lcore_counters(const struct dp_lcore_stats *s)
{
	json_t *c = json_object();

#define DP_X_EMIT(id, path, key, kind, metric, label, help)                                        \
	json_object_set_new(c, key, json_integer((json_int_t)s->path));
	CTL_STATS_FIELDS(DP_X_EMIT)
#undef DP_X_EMIT
	return c;
}

static json_t *
cmd_stats(json_t *req)
{
	json_t *r = ctl_wire_ok(), *a = json_array();

	json_object_set_new(r, "tsc_hz", json_integer((json_int_t)rte_get_tsc_hz()));
	json_object_set_new(r, "uptime_s", json_integer((mono_us() - g.start_us) / 1000000));
	json_object_set_new(r, "config_generation", json_integer((json_int_t)g.cur->generation));
	/* A slot with updated_us == 0 belongs to no running lcore (dp_stats.h). Cost: one
	 * cache-line read per lcore id, RTE_MAX_LCORE of them. */
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		struct dp_lcore_stats s;
		json_t *e;

		if (!__atomic_load_n(&dp_stats[i].updated_us, __ATOMIC_RELAXED))
			continue;
		/* Plain copy of a slot its lcore keeps writing: each aligned 64-bit word is read
		 * whole; words may come from slightly different instants (dp_stats.h). */
		memcpy(&s, (const void *)&dp_stats[i], sizeof(s));
		dp_ctl_stats_extra(i, &s);
		e = json_object();
		json_object_set_new(e, "lcore", json_integer(i));
		json_object_set_new(e, "updated_us", json_integer((json_int_t)s.updated_us));
		json_object_set_new(e, "counters", lcore_counters(&s));
		json_array_append_new(a, e);
	}
	json_object_set_new(r, "lcores", a);
	return r;
}

static json_t *
cmd_config_get(json_t *req)
{
	char *buf = malloc(CTL_REQ_MAX);
	json_t *r;
	int n;

	if (!buf)
		return ctl_wire_error(CTL_E_INTERNAL, "out of memory");
	n = ctl_config_format(&g.cur->cfg, buf, CTL_REQ_MAX);
	if (n < 0) {
		free(buf);
		return ctl_wire_error(CTL_E_INTERNAL, "config too large to format");
	}
	r = ctl_wire_ok();
	json_object_set_new(r, "generation", json_integer(g.cur->generation));
	json_object_set_new(r, "text", json_stringn(buf, n));
	free(buf);
	return r;
}

/* Apply a new config, or refuse it whole when an option that needs a tachyond restart
 * changed. Options of class CTL_RELOAD_CONTROL concern tachyon-control only: stored as is. */
static json_t *
apply_config(const struct ctl_config *n)
{
	struct ctl_config_change ch[64];
	int nch = ctl_config_diff(&g.cur->cfg, n, ch, 64);
	json_t *changed = json_array(), *restart = json_array(), *r;
	uint64_t gen = g.cur->generation;
	int rc = 1;

	for (int i = 0; i < nch && i < 64; i++)
		json_array_append_new(ch[i].reload == CTL_RELOAD_RESTART ? restart : changed,
		                      json_string(ch[i].option));
	if (json_array_size(restart)) {
		char names[512] = "";
		size_t k = 0, i;
		json_t *v;

		json_array_foreach(restart, i, v) k +=
		        snprintf(names + k, k < sizeof(names) ? sizeof(names) - k : 0, "%s%s",
		                 i ? ", " : "", json_string_value(v));
		r = ctl_wire_error(CTL_E_RESTART,
		                   "not applied: %s only take%s effect when tachyond restarts",
		                   names, json_array_size(restart) == 1 ? "s" : "");
		json_object_set_new(r, "restart_required", restart);
		json_object_set_new(r, "changed", changed);
		return r;
	}
	json_decref(restart);
	if (nch)
		rc = publish(n, &gen);
	if (rc < 0) {
		json_decref(changed);
		return ctl_wire_error(CTL_E_INTERNAL, "cannot publish config: %s", strerror(-rc));
	}
	if (nch)
		CTL_LOG(INFO, "config generation %" PRIu64 " applied (%d option(s) changed)", gen,
		        nch);
	r = ctl_wire_ok();
	json_object_set_new(r, "generation", json_integer(gen));
	json_object_set_new(r, "changed", changed);
	json_object_set_new(r, "acknowledged", json_boolean(rc == 1));
	return r;
}

static json_t *
cmd_config_apply(json_t *req)
{
	const char *text = json_string_value(json_object_get(req, "text"));
	const char *name = json_string_value(json_object_get(req, "name"));
	char err[CTL_ERR_MAX];
	struct ctl_config *n;
	json_t *r;

	if (!text)
		return ctl_wire_error(CTL_E_INVALID, "config.apply needs \"text\"");
	n = malloc(sizeof(*n));
	if (!n)
		return ctl_wire_error(CTL_E_INTERNAL, "out of memory");
	if (ctl_config_parse(text, json_string_length(json_object_get(req, "text")),
	                     name ? name : "config.apply", n, err, sizeof(err)))
		r = ctl_wire_error(CTL_E_CONFIG, "%s", err);
	else
		r = apply_config(n);
	free(n);
	return r;
}

static json_t *
cmd_log_level(json_t *req)
{
	const char *lv = json_string_value(json_object_get(req, "level"));
	struct ctl_config *n;
	json_t *r;
	int level;

	if (!lv) {
		r = ctl_wire_ok();
		json_object_set_new(r, "level",
		                    json_string(ctl_log_level_name(g.cur->cfg.log_level)));
		return r;
	}
	level = ctl_log_level_parse(lv);
	if (level < 0)
		return ctl_wire_error(CTL_E_INVALID,
		                      "'%s' is not one of emerg, alert, crit, err, warning, "
		                      "notice, info, debug",
		                      lv);
	n = malloc(sizeof(*n));
	if (!n)
		return ctl_wire_error(CTL_E_INTERNAL, "out of memory");
	*n = g.cur->cfg;
	n->log_level = level;
	r = apply_config(n);
	free(n);
	if (!ctl_wire_errcode(r))
		json_object_set_new(r, "level", json_string(lv));
	return r;
}

/* Shard requests: name, op, argument key on the wire, argument required, list op, asked of
 * one lcore only (retained stores are replicas: dp_ctl.h). */
static const struct shard_cmd {
	const char *name;
	enum dp_ctl_op op;
	const char *argkey;
	int arg_required, list, one;
} shard_cmds[] = {
        {"clients.list", DP_CTL_CLIENTS_LIST, NULL, 0, 1, 0},
        {"clients.show", DP_CTL_CLIENT_SHOW, "client_id", 1, 0, 0},
        {"clients.kick", DP_CTL_CLIENT_KICK, "client_id", 1, 0, 0},
        {"sessions.list", DP_CTL_SESSIONS_LIST, NULL, 0, 1, 0},
        {"sessions.show", DP_CTL_SESSION_SHOW, "client_id", 1, 0, 0},
        {"sessions.drop", DP_CTL_SESSION_DROP, "client_id", 1, 0, 0},
        {"subscriptions.list", DP_CTL_SUBSCRIPTIONS_LIST, "filter", 0, 1, 0},
        {"retained.list", DP_CTL_RETAINED_LIST, "filter", 0, 1, 1},
        {"retained.delete", DP_CTL_RETAINED_DELETE, "topic", 1, 0, 0},
};

/* Collect replies from every lcore's reply ring. Replies of an older batch (an lcore that
 * was too slow then) are freed here. Returns how many of batch `batch` arrived. */
static unsigned int
collect(struct dp_ctl_query **got, unsigned int max, uint64_t batch)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		struct dp_ctl_query *q;

		if (!g.lc[i].rep)
			continue;
		while (rte_ring_sc_dequeue(g.lc[i].rep, (void **)&q) == 0) {
			if (q->batch == batch && n < max) {
				got[n++] = q;
			} else {
				free(q->out);
				free(q);
			}
		}
	}
	return n;
}

/* Merge the lcores' answers. A show or mutation needs one shard that had `key` = `arg`; so does
 * a list of one client's items (key "client_id"). */
static json_t *
shard_result(const struct shard_cmd *sc, struct dp_ctl_query **got, unsigned int n, const char *key,
             const char *arg)
{
	json_t *items = json_array(), *r;
	int found = 0, unsupported = 0, failed = 0, truncated = 0;
	unsigned int answered_by = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct dp_ctl_query *q = got[i];
		json_error_t jerr;
		json_t *part;
		char *wrapped;

		if (q->status == -ENOTSUP) {
			unsupported++;
			continue;
		}
		if (q->status == -ENOENT)
			continue;
		if (q->status && q->status != -ENOSPC) {
			failed = q->status;
			continue;
		}
		found++;
		answered_by = q->lcore;
		if (q->status == -ENOSPC || q->count < q->total)
			truncated = 1;
		if (!q->out_len)
			continue;
		wrapped = malloc(q->out_len + 3);
		if (!wrapped) {
			failed = -ENOMEM;
			continue;
		}
		wrapped[0] = '[';
		memcpy(wrapped + 1, q->out, q->out_len);
		wrapped[q->out_len + 1] = ']';
		part = json_loadb(wrapped, q->out_len + 2, 0, &jerr);
		free(wrapped);
		if (!json_is_array(part)) {
			json_decref(part);
			json_decref(items);
			return ctl_wire_error(CTL_E_INTERNAL,
			                      "lcore %u answered malformed JSON: %s", q->lcore,
			                      jerr.text);
		}
		json_array_extend(items, part);
		json_decref(part);
	}
	if (unsupported == (int)n) {
		json_decref(items);
		return ctl_wire_error(CTL_E_NOT_SUPPORTED,
		                      "%s is not supported yet by the MQTT core", sc->name);
	}
	if (failed) {
		json_decref(items);
		return ctl_wire_error(CTL_E_INTERNAL, "%s failed: %s", sc->name, strerror(-failed));
	}
	if (!found && (!sc->list || (key && !strcmp(key, "client_id")))) {
		json_decref(items);
		return ctl_wire_error(CTL_E_NOT_FOUND, "%s: no %s '%s'", sc->name, key, arg);
	}
	r = ctl_wire_ok();
	if (sc->list) {
		json_object_set_new(r, "count", json_integer(json_array_size(items)));
		json_object_set_new(r, "truncated", json_boolean(truncated));
		json_object_set_new(r, "items", items);
	} else {
		json_object_set_new(r, "lcore", json_integer(answered_by));
		if (json_array_size(items))
			json_object_set(r, "item", json_array_get(items, 0));
		json_decref(items);
	}
	return r;
}

/* Send one query per online lcore (only the lowest when `one`), its buffer of `cap` bytes
 * holding `len` bytes of `data`. Returns how many were sent. */
static unsigned int
batch_send(enum dp_ctl_op op, const char *arg, const char *cid, uint32_t limit, size_t cap,
           const void *data, size_t len, int one)
{
	unsigned int sent = 0;

	g.batch++;
	for (unsigned int i = 0; i < RTE_MAX_LCORE && !(one && sent); i++) {
		struct dp_ctl_query *q;

		if (!__atomic_load_n(&g.lc[i].online, __ATOMIC_ACQUIRE))
			continue;
		q = calloc(1, sizeof(*q));
		if (!q)
			break;
		q->out_cap = cap;
		q->out = malloc(cap);
		if (!q->out) {
			free(q);
			break;
		}
		q->out[0] = 0;
		if (len)
			memcpy(q->out, data, len);
		q->out_len = len;
		q->op = op;
		q->limit = limit;
		q->batch = g.batch;
		if (arg)
			snprintf(q->arg, sizeof(q->arg), "%s", arg);
		if (cid)
			snprintf(q->client_id, sizeof(q->client_id), "%s", cid);
		if (rte_ring_sp_enqueue(g.lc[i].req, q)) {
			free(q->out);
			free(q);
			continue;
		}
		sent++;
	}
	return sent;
}

/* Wait for the `sent` answers of the current batch; NULL when all arrived, else an error. */
static json_t *
batch_wait(unsigned int sent, struct dp_ctl_query **got, unsigned int *n)
{
	uint64_t deadline = mono_us() + QUERY_TIMEOUT_MS * 1000ull;

	*n = 0;
	if (!sent)
		return ctl_wire_error(CTL_E_UNAVAILABLE, "no polling lcore is running");
	while (*n < sent && mono_us() < deadline) {
		*n += collect(got + *n, sent - *n, g.batch);
		if (*n < sent)
			usleep(200);
	}
	if (*n < sent)
		return ctl_wire_error(CTL_E_TIMEOUT, "%u of %u lcores did not answer within %d ms",
		                      sent - *n, sent, QUERY_TIMEOUT_MS);
	return NULL;
}

static void
batch_free(struct dp_ctl_query **got, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(got[i]->out);
		free(got[i]);
	}
}

static json_t *
cmd_shard(const struct shard_cmd *sc, json_t *req)
{
	const char *arg = sc->argkey ? json_string_value(json_object_get(req, sc->argkey)) : NULL;
	/* subscriptions.list only: the subscriptions of one client */
	const char *cid = sc->op == DP_CTL_SUBSCRIPTIONS_LIST
	                          ? json_string_value(json_object_get(req, "client_id"))
	                          : NULL;
	json_t *lim = json_object_get(req, "limit");
	struct dp_ctl_query *got[RTE_MAX_LCORE];
	uint64_t limit = LIST_LIMIT_DEFAULT;
	unsigned int sent, n;
	json_t *r;

	if (sc->arg_required && (!arg || !*arg))
		return ctl_wire_error(CTL_E_INVALID, "%s needs \"%s\"", sc->name, sc->argkey);
	if (arg && strlen(arg) >= sizeof(((struct dp_ctl_query *)0)->arg))
		return ctl_wire_error(CTL_E_INVALID, "%s: \"%s\" longer than 255 bytes", sc->name,
		                      sc->argkey);
	if (cid && (!*cid || strlen(cid) >= sizeof(((struct dp_ctl_query *)0)->client_id)))
		return ctl_wire_error(CTL_E_INVALID,
		                      "%s: \"client_id\" empty or longer than 255 bytes", sc->name);
	if (lim) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > LIST_LIMIT_MAX)
			return ctl_wire_error(CTL_E_INVALID, "limit must be 1..%d", LIST_LIMIT_MAX);
		limit = json_integer_value(lim);
	}
	if (!__atomic_load_n(&g.shard_fn, __ATOMIC_ACQUIRE))
		return ctl_wire_error(CTL_E_NOT_SUPPORTED,
		                      "%s is not supported yet by the MQTT core", sc->name);
	sent = batch_send(sc->op, arg, cid, (uint32_t)limit, sc->list ? OUT_LIST : OUT_ITEM, NULL,
	                  0, sc->one);
	r = batch_wait(sent, got, &n);
	if (!r)
		r = shard_result(sc, got, n, cid ? "client_id" : sc->argkey,
		                 cid   ? cid
		                 : arg ? arg
		                       : "");
	batch_free(got, n);
	return r;
}

/* {"cmd":"sys.publish","messages":[{"topic":"$SYS/broker/uptime","payload":"12 seconds"}]} */
static json_t *
cmd_sys_publish(json_t *req)
{
	json_t *msgs = json_object_get(req, "messages"), *m, *r;
	struct dp_ctl_query *got[RTE_MAX_LCORE];
	size_t i, len = 0;
	unsigned int sent, n;
	char *buf;

	if (!json_is_array(msgs))
		return ctl_wire_error(CTL_E_INVALID, "sys.publish needs \"messages\"");
	if (!__atomic_load_n(&g.shard_fn, __ATOMIC_ACQUIRE))
		return ctl_wire_error(CTL_E_NOT_SUPPORTED,
		                      "sys.publish is not supported yet by the MQTT core");
	buf = malloc(OUT_ITEM);
	if (!buf)
		return ctl_wire_error(CTL_E_INTERNAL, "out of memory");
	json_array_foreach(msgs, i, m)
	{
		const char *t = json_string_value(json_object_get(m, "topic"));
		const char *p = json_string_value(json_object_get(m, "payload"));
		uint16_t tl;
		uint32_t pl;

		if (!t || !p || strncmp(t, "$SYS/", 5)) {
			free(buf);
			return ctl_wire_error(CTL_E_INVALID,
			                      "message %zu: needs a \"topic\" under $SYS/ and a "
			                      "\"payload\"",
			                      i);
		}
		tl = (uint16_t)strlen(t);
		pl = (uint32_t)strlen(p);
		if (strlen(t) > 1024 || len + sizeof(tl) + tl + sizeof(pl) + pl > OUT_ITEM) {
			free(buf);
			return ctl_wire_error(CTL_E_INVALID, "messages exceed %u bytes", OUT_ITEM);
		}
		memcpy(buf + len, &tl, sizeof(tl));
		memcpy(buf + len + sizeof(tl), t, tl);
		memcpy(buf + len + sizeof(tl) + tl, &pl, sizeof(pl));
		memcpy(buf + len + sizeof(tl) + tl + sizeof(pl), p, pl);
		len += sizeof(tl) + tl + sizeof(pl) + pl;
	}
	/* Every lcore publishes to its own subscribers and retained replica (never forwarded:
	 * mqtt_admin_publish), so a $SYS subscriber on any shard sees each message once. */
	sent = batch_send(DP_CTL_SYS_PUBLISH, NULL, NULL, 0, OUT_ITEM, buf, len, 0);
	free(buf);
	r = batch_wait(sent, got, &n);
	for (unsigned int k = 0; !r && k < n; k++) {
		if (got[k]->status == -ENOTSUP)
			r = ctl_wire_error(CTL_E_NOT_SUPPORTED,
			                   "sys.publish is not supported yet by the MQTT core");
		else if (got[k]->status)
			r = ctl_wire_error(CTL_E_INTERNAL, "sys.publish failed on lcore %u: %s",
			                   got[k]->lcore, strerror(-got[k]->status));
	}
	if (!r)
		r = ctl_wire_ok();
	if (!ctl_wire_errcode(r))
		json_object_set_new(r, "published", json_integer(json_array_size(msgs)));
	batch_free(got, n);
	return r;
}

static json_t *
handle(void *arg, json_t *req)
{
	static const struct {
		const char *name;
		json_t *(*fn)(json_t *req);
	} cmds[] = {
	        {"hello", cmd_hello},
	        {"status", cmd_status},
	        {"stats", cmd_stats},
	        {"config.get", cmd_config_get},
	        {"config.apply", cmd_config_apply},
	        {"log.level", cmd_log_level},
	        {"sys.publish", cmd_sys_publish},
	};
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	for (size_t i = 0; i < RTE_DIM(cmds); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(req);
	for (size_t i = 0; i < RTE_DIM(shard_cmds); i++)
		if (!strcmp(cmd, shard_cmds[i].name))
			return cmd_shard(&shard_cmds[i], req);
	return ctl_wire_error(CTL_E_INVALID, "unknown command '%s'", cmd);
}

/* ---------- thread and telemetry ---------- */

static void *
ctl_thread(void *arg)
{
	struct pollfd pfd[1 + CTL_SERVER_MAX_CLIENTS];

	while (!g.stop) {
		int n = ctl_server_pollfds(g.srv, pfd, RTE_DIM(pfd));

		/* 100 ms: how quickly dp_ctl_stop() is noticed and retired configs are freed. */
		if (poll(pfd, n, 100) > 0)
			ctl_server_handle(g.srv, pfd, n);
		if (g.n_retired)
			reclaim();
		collect(NULL, 0, 0); /* late replies of timed-out batches */
	}
	return NULL;
}

/* Telemetry (its own thread): /tachyon/stats sums every lcore reporting; /tachyon/lcore,N is
 * one lcore; /tachyon/lcores lists them. Keys are the wire keys with '.' as '_' (telemetry
 * names are letters, digits and '_'). Cost: RTE_MAX_LCORE slot reads. */
static int
tel_counters(const char *params, struct rte_tel_data *d, int one)
{
	uint64_t total[CTL_STAT_N] = {0};
	static const char *const keys[CTL_STAT_N] = {
#define DP_X_KEY(id, path, key, kind, metric, label, help) [CTL_STAT_##id] = key,
	        CTL_STATS_FIELDS(DP_X_KEY)
#undef DP_X_KEY
	};
	unsigned long want = 0;
	uint64_t retained_max = 0;

	if (one) {
		char *end;

		if (!params || !*params)
			return -EINVAL;
		want = strtoul(params, &end, 10);
		if (*end || want >= RTE_MAX_LCORE || !dp_stats[want].updated_us)
			return -EINVAL;
	}
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		struct dp_lcore_stats copy;
		const struct dp_lcore_stats *s = &copy;

		if (!dp_stats[i].updated_us || (one && i != want))
			continue;
		memcpy(&copy, (const void *)&dp_stats[i], sizeof(copy));
		dp_ctl_stats_extra(i, &copy);
#define DP_X_SUM(id, path, key, kind, metric, label, help) total[CTL_STAT_##id] += s->path;
		CTL_STATS_FIELDS(DP_X_SUM)
#undef DP_X_SUM
		/* retained stores are replicas (ctl_stats_sum): the largest, not the sum */
		total[CTL_STAT_RETAINED] -= s->mqtt.retained;
		if (s->mqtt.retained > retained_max)
			retained_max = s->mqtt.retained;
	}
	total[CTL_STAT_RETAINED] = retained_max;
	rte_tel_data_start_dict(d);
	for (int f = 0; f < CTL_STAT_N; f++) {
		char name[64];

		snprintf(name, sizeof(name), "%s", keys[f]);
		for (char *p = name; *p; p++)
			if (*p == '.')
				*p = '_';
		rte_tel_data_add_dict_u64(d, name, total[f]);
	}
	return 0;
}

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return tel_counters(params, d, 0);
}

static int
tel_lcore(const char *cmd, const char *params, struct rte_tel_data *d)
{
	return tel_counters(params, d, 1);
}

static int
tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++)
		if (dp_stats[i].updated_us)
			rte_tel_data_add_array_int(d, (int)i);
	return 0;
}

void
dp_ctl_set_shard_handler(dp_ctl_shard_fn fn, void *arg)
{
	g.shard_arg = arg;
	__atomic_store_n(&g.shard_fn, fn, __ATOMIC_RELEASE);
}

int
dp_ctl_start(const struct dp_ctl_conf *conf)
{
	const char *path = conf->socket_path ? conf->socket_path : conf->config->dataplane_socket;
	size_t sz;
	uint64_t gen;
	int rc;

	if (g.started)
		return -EALREADY;
	snprintf(g.path, sizeof(g.path), "%s", path);
	snprintf(g.config_path, sizeof(g.config_path), "%s",
	         conf->config_path ? conf->config_path : "");
	g.start_us = mono_us();
	if (!g.shard_fn)
		dp_ctl_set_shard_handler(dp_ctl_shard_default, NULL);
	sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	g.qsv = rte_zmalloc("dp_ctl_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (!g.qsv)
		return -ENOMEM;
	rte_rcu_qsbr_init(g.qsv, RTE_MAX_LCORE);
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		char name[RTE_RING_NAMESIZE];

		if (!rte_lcore_is_enabled(i))
			continue;
		snprintf(name, sizeof(name), "dpctl_req%u", i);
		g.lc[i].req = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
		                              RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "dpctl_rep%u", i);
		g.lc[i].rep = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
		                              RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!g.lc[i].req || !g.lc[i].rep) {
			rc = -rte_errno;
			goto fail;
		}
	}
	{
		/* The running config names the socket actually served, so that a control process
		 * started with the same override sees no difference. */
		struct ctl_config *c0 = malloc(sizeof(*c0));

		if (!c0) {
			rc = -ENOMEM;
			goto fail;
		}
		*c0 = *conf->config;
		snprintf(c0->dataplane_socket, sizeof(c0->dataplane_socket), "%s", path);
		rc = publish(c0, &gen);
		free(c0);
		if (rc < 0)
			goto fail;
	}
	g.srv = ctl_server_create(path, handle, NULL);
	if (!g.srv) {
		rc = -errno;
		CTL_LOG(ERR, "cannot serve on %s: %s", path, strerror(errno));
		goto fail;
	}
	g.stop = 0;
	rc = rte_ctrl_thread_create(&g.tid, "dp-ctl", NULL, ctl_thread, NULL);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	/* Telemetry is optional (EAL --no-telemetry): ignore a failure to register. */
	rte_telemetry_register_cmd("/tachyon/stats", tel_stats,
	                           "Tachyon counters summed over lcores. No parameters");
	rte_telemetry_register_cmd("/tachyon/lcore", tel_lcore,
	                           "One lcore's Tachyon counters. Parameters: int lcore_id");
	rte_telemetry_register_cmd("/tachyon/lcores", tel_lcores,
	                           "Lcores reporting Tachyon counters. No parameters");
	g.started = 1;
	CTL_LOG(INFO, "serving control requests on %s", path);
	return 0;
fail:
	g.started = 1; /* let dp_ctl_stop() release what exists */
	dp_ctl_stop();
	return rc;
}

void
dp_ctl_stop(void)
{
	if (!g.started)
		return;
	if (g.tid) {
		g.stop = 1;
		pthread_join(g.tid, NULL);
		g.tid = 0;
	}
	if (g.srv) {
		ctl_server_destroy(g.srv);
		unlink(g.path);
		g.srv = NULL;
	}
	collect(NULL, 0, ~0ull);
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		struct dp_ctl_query *q;

		/* Requests no lcore will take any more (lcores have exited). */
		while (g.lc[i].req && rte_ring_sc_dequeue(g.lc[i].req, (void **)&q) == 0) {
			free(q->out);
			free(q);
		}
		rte_ring_free(g.lc[i].req);
		rte_ring_free(g.lc[i].rep);
		g.lc[i].req = g.lc[i].rep = NULL;
	}
	/* Every lcore has exited (contract): no grace period left to wait for. */
	for (unsigned int i = 0; i < g.n_retired; i++)
		free(g.retired[i].cfg);
	g.n_retired = 0;
	free(g.cur);
	g.cur = NULL;
	rte_free(g.qsv);
	g.qsv = NULL;
	g.started = 0;
}

/* SPDX-License-Identifier: Apache-2.0
 * Authentication and ACLs in tachyond: snapshots of the password set and the ACL, the login
 * worker, and the broker hooks (docs/security.md).
 *
 * Snapshots: a control thread ("tachyon-auth", off the polling cores) loads the files at start,
 * then every DP_AUTH_RELOAD_MS checks their paths (from the newest config an lcore saw) and
 * stat() identity; on a change it parses the new file (a bad file is reported and the running
 * set stays), publishes the pointer, hands the password set to the worker and frees the old
 * objects once every lcore has reported the new sequence number from its loop (a QSBR of our
 * own: one relaxed load per loop iteration when nothing changed). So `tachyonctl passwd add`
 * and an edited ACL take effect within a fraction of a second, without `config reload`.
 *
 * The worker is created from that control thread so it inherits its CPU set (the EAL's control
 * cores), not the polling lcore's: PBKDF2 never competes with a poll loop for its core.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_thread.h>

#include "dp_sec.h"

#define DP_AUTH_RELOAD_MS  250  /* file change detection period */
#define DP_AUTH_QUEUE      256  /* parked logins per lcore before "server unavailable" */
#define DP_AUTH_CACHE      4096 /* verified-credential cache entries per lcore */
#define DP_AUTH_POLL_BURST 32

/* MQTT v5 reason codes (3.1.1 clients get the matching CONNACK return code from the broker). */
#define RC_BAD_CREDENTIALS 0x86
#define RC_NOT_AUTHORIZED  0x87
#define RC_UNAVAILABLE     0x88
#define RC_RATE_TOO_HIGH   0x96
#define RC_QUOTA_EXCEEDED  0x97
#define RC_CONN_RATE       0x9F

struct dp_auth_file {
	char path[CTL_PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
};

static struct {
	struct mqtt_auth_worker *worker;
	struct tls_ctx *tls[DP_MAX_LISTENERS];
	uint8_t allow_anon[DP_MAX_LISTENERS], use_identity[DP_MAX_LISTENERS];
	unsigned int n_listeners;
	/* published snapshots: pointers first, then seq (release) */
	_Atomic(struct mqtt_passwd *) pw;
	_Atomic(struct mqtt_acl *) acl;
	_Atomic uint64_t seq;
	_Atomic uint64_t seen[RTE_MAX_LCORE]; /* per lcore: last seq adopted; UINT64_MAX: gone */
	uint8_t registered[RTE_MAX_LCORE];
	/* paths the reload thread watches, written by lcores on a config change */
	pthread_mutex_t lock;
	char want_pw[CTL_PATH_MAX], want_acl[CTL_PATH_MAX];
	struct dp_auth_file f_pw, f_acl;
	pthread_t tid;
	_Atomic int state; /* 0 starting, 1 running, -errno failed; stop: 2 */
	int started;
	/* lcores whose connection counts make up the global one (every EAL lcore: an lcore
	 * that polls nothing keeps zeros) */
	unsigned int count_lcore[RTE_MAX_LCORE], n_count_lcores;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Connections past the connect hook, per lcore and listener ([DP_MAX_LISTENERS]: all). Each
 * row has one writer, its lcore (relaxed stores: plain movs); the others read it relaxed at
 * CONNECT. No lock and no shared atomic read-modify-write: the cost of a global limit is one
 * cache line per lcore per CONNECT. Slack: lcores deciding CONNECTs at the same instant each see
 * the others' counts without the slot being taken, so the total can pass a limit by at most
 * (lcores - 1) until those connections go. */
static struct dp_sec_count {
	uint32_t n[DP_MAX_LISTENERS + 1];
} __rte_cache_aligned counts[RTE_MAX_LCORE];

struct tls_ctx *
dp_sec_listener_tls(unsigned int listener)
{
	return listener < DP_MAX_LISTENERS ? g.tls[listener] : NULL;
}

/* 1 when the file (or its path) differs from what f describes; fills *st. */
static int
dp_auth_file_changed(const struct dp_auth_file *f, const char *path, struct stat *st)
{
	if (strcmp(f->path, path) != 0)
		return 1;
	if (path[0] == '\0')
		return 0;
	if (stat(path, st) < 0)
		return 0; /* vanished: keep the running set (a rename in progress, or an error) */
	return st->st_dev != f->dev || st->st_ino != f->ino || st->st_size != f->size ||
	       st->st_mtim.tv_sec != f->mtime.tv_sec || st->st_mtim.tv_nsec != f->mtime.tv_nsec;
}

static void
dp_auth_file_note(struct dp_auth_file *f, const char *path)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", path);
	if (path[0] != '\0' && stat(path, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->size = st.st_size;
		f->mtime = st.st_mtim;
	}
}

/* Wait until every running lcore adopted `seq` (bounded: lcores poll continuously; an lcore
 * that left its loop reports UINT64_MAX). */
static void
dp_auth_wait_lcores(uint64_t seq)
{
	struct timespec nap = {0, 1000000};

	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		if (!g.registered[i])
			continue;
		while (atomic_load_explicit(&g.seen[i], memory_order_acquire) < seq &&
		       atomic_load(&g.state) == 1)
			nanosleep(&nap, NULL);
	}
}

/* Load what changed; returns -errno when a file is bad (the running set stays). */
static int
dp_auth_reload(int verbose)
{
	char pwp[CTL_PATH_MAX], aclp[CTL_PATH_MAX], err[512];
	struct mqtt_passwd *pw = NULL, *old_pw = NULL;
	struct mqtt_acl *acl = NULL, *old_acl = NULL;
	int ch_pw, ch_acl, rc = 0;
	struct stat st;

	pthread_mutex_lock(&g.lock);
	memcpy(pwp, g.want_pw, sizeof(pwp));
	memcpy(aclp, g.want_acl, sizeof(aclp));
	pthread_mutex_unlock(&g.lock);

	ch_pw = dp_auth_file_changed(&g.f_pw, pwp, &st);
	ch_acl = dp_auth_file_changed(&g.f_acl, aclp, &st);
	if (!ch_pw && !ch_acl)
		return 0;
	if (ch_pw && pwp[0] != '\0') {
		pw = mqtt_passwd_load(pwp, err, sizeof(err));
		if (pw == NULL) {
			fprintf(stderr, "tachyond: password file: %s (previous set kept)\n", err);
			dp_auth_file_note(&g.f_pw, pwp); /* report once per change */
			ch_pw = 0;
			rc = -EINVAL;
		}
	}
	if (ch_acl && aclp[0] != '\0') {
		acl = mqtt_acl_load(aclp, err, sizeof(err));
		if (acl == NULL) {
			fprintf(stderr, "tachyond: acl file: %s (previous ACL kept)\n", err);
			dp_auth_file_note(&g.f_acl, aclp);
			ch_acl = 0;
			rc = -EINVAL;
		}
	}
	if (ch_pw) {
		old_pw = atomic_exchange(&g.pw, pw);
		dp_auth_file_note(&g.f_pw, pwp);
	}
	if (ch_acl) {
		old_acl = atomic_exchange(&g.acl, acl);
		dp_auth_file_note(&g.f_acl, aclp);
	}
	if (!ch_pw && !ch_acl)
		return rc;
	uint64_t seq = atomic_fetch_add_explicit(&g.seq, 1, memory_order_release) + 1;
	if (ch_pw && g.worker != NULL)
		mqtt_auth_worker_set_passwd(g.worker, pw); /* returns old_pw once unused there */
	dp_auth_wait_lcores(seq);
	mqtt_passwd_free(old_pw);
	mqtt_acl_free(old_acl);
	if (verbose)
		printf("tachyond: reloaded%s%s%s%s\n", ch_pw ? " password file " : "",
		       ch_pw ? (pwp[0] ? pwp : "(none)") : "", ch_acl ? " acl file " : "",
		       ch_acl ? (aclp[0] ? aclp : "(none)") : "");
	fflush(stdout);
	return rc;
}

static void *
dp_auth_thread(void *arg)
{
	struct timespec nap = {0, DP_AUTH_RELOAD_MS * 1000000L};
	unsigned int nq = *(unsigned int *)arg;

	/* Created here so the hashing thread inherits this control thread's CPU set. */
	g.worker = mqtt_auth_worker_new(nq, DP_AUTH_QUEUE);
	if (g.worker == NULL) {
		atomic_store(&g.state, -errno);
		return NULL;
	}
	mqtt_auth_worker_set_passwd(g.worker, atomic_load(&g.pw));
	atomic_store(&g.state, 1);
	while (atomic_load(&g.state) == 1) {
		nanosleep(&nap, NULL);
		dp_auth_reload(1);
	}
	return NULL;
}

int
dp_sec_init(const struct dp_conf *conf)
{
	const struct ctl_config *c = &conf->cfg;
	static unsigned int nq;
	char err[512];
	int rc;

	g.n_listeners = c->n_listeners;
	for (unsigned int i = 0; i < c->n_listeners && i < DP_MAX_LISTENERS; i++) {
		const struct ctl_listener *l = &c->listeners[i];

		g.allow_anon[i] = (uint8_t)l->allow_anonymous;
		g.use_identity[i] = (uint8_t)l->use_identity_as_username;
		if (l->proto != CTL_PROTO_TLS)
			continue;
		struct tls_ctx_conf tc = {
		        .cert_file = l->certfile,
		        .key_file = l->keyfile,
		        .ca_file = l->cafile[0] ? l->cafile : NULL,
		        .verify_client = l->cafile[0] ? (l->require_certificate ? 2 : 1) : 0,
		        .ciphersuites = l->ciphersuites[0] ? l->ciphersuites : NULL,
		        .min_version =
		                l->tls_version == CTL_TLS_13 ? TLS1_3_VERSION : TLS1_2_VERSION,
		};
		g.tls[i] = tls_ctx_new(&tc, err, sizeof(err));
		if (g.tls[i] == NULL) {
			fprintf(stderr, "tachyond: listener %u: %s\n", l->port, err);
			return -EINVAL;
		}
		printf("tachyond: TLS on port %u (certificate %s%s%s)\n", l->port, l->certfile,
		       l->cafile[0] ? (l->require_certificate ? ", client certificate required"
		                                              : ", client certificate optional")
		                    : "",
		       l->use_identity_as_username ? ", CN as user name" : "");
	}
	unsigned int lc;

	for (lc = rte_get_next_lcore(-1, 0, 0); lc < RTE_MAX_LCORE;
	     lc = rte_get_next_lcore(lc, 0, 0))
		g.count_lcore[g.n_count_lcores++] = lc;
	if (!c->password_file[0] && !c->acl_file[0])
		printf("tachyond: no password_file and no acl_file: anonymous clients are accepted "
		       "on every listener\n");
	snprintf(g.want_pw, sizeof(g.want_pw), "%s", c->password_file);
	snprintf(g.want_acl, sizeof(g.want_acl), "%s", c->acl_file);
	if (dp_auth_reload(0) < 0)
		return -EINVAL;
	nq = rte_lcore_count();
	atomic_store(&g.state, 0);
	rc = rte_ctrl_thread_create(&g.tid, "tachyon-auth", NULL, dp_auth_thread, &nq);
	if (rc != 0)
		return -rc;
	g.started = 1;
	while (atomic_load(&g.state) == 0) {
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
	}
	rc = atomic_load(&g.state);
	return rc < 0 ? rc : 0;
}

void
dp_sec_fini(void)
{
	if (g.started) {
		atomic_store(&g.state, 2);
		pthread_join(g.tid, NULL);
		g.started = 0;
	}
	if (g.worker != NULL) {
		mqtt_auth_worker_free(g.worker);
		g.worker = NULL;
	}
	mqtt_passwd_free(atomic_exchange(&g.pw, NULL));
	mqtt_acl_free(atomic_exchange(&g.acl, NULL));
	for (unsigned int i = 0; i < DP_MAX_LISTENERS; i++) {
		tls_ctx_free(g.tls[i]);
		g.tls[i] = NULL;
	}
}

/* ---- limits ---- */

static uint32_t
dp_rate_interval(uint32_t per_s)
{
	return per_s ? RTE_MAX(1000000u / per_s, 1u) : 0;
}

static void
dp_limits_set(struct dp_sec_limits *lim, const struct ctl_config *cfg)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_conns = cfg->max_connections;
	for (unsigned int i = 0; i < cfg->n_listeners && i < DP_MAX_LISTENERS; i++)
		lim->listener_max[i] = cfg->listeners[i].max_connections;
	lim->conn_interval = dp_rate_interval(cfg->max_connection_rate);
	lim->conn_burst = RTE_MAX(cfg->connection_rate_burst, 1u);
	lim->pub_interval = dp_rate_interval(cfg->max_publish_rate);
	lim->pub_burst = RTE_MAX(cfg->publish_rate_burst, 1u);
}

/* Connections counted against `row` over every lcore (relaxed loads; see struct
 * dp_sec_count). Cost: one load per EAL lcore. */
static uint64_t
dp_conn_count(unsigned int row)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < g.n_count_lcores; i++)
		sum += __atomic_load_n(&counts[g.count_lcore[i]].n[row], __ATOMIC_RELAXED);
	return sum;
}

static void
dp_conn_count_add(struct dp_sec_lcore *sl, unsigned int listener, int d)
{
	struct dp_sec_count *mine = &counts[sl->ls->lcore_id];

	__atomic_store_n(&mine->n[listener], mine->n[listener] + d, __ATOMIC_RELAXED);
	__atomic_store_n(&mine->n[DP_MAX_LISTENERS], mine->n[DP_MAX_LISTENERS] + d,
	                 __ATOMIC_RELAXED);
	sl->st.connections = mine->n[DP_MAX_LISTENERS];
}

/* The connect-time limits: 0, or the reason code to refuse with (counted). */
static int
dp_limits_connect(struct dp_sec_lcore *sl, const struct dp_sec_conn *s)
{
	unsigned int li = s->listener;

	if (s->rate_over) {
		sl->st.conn_rate_refused++;
		return RC_CONN_RATE;
	}
	if (sl->lim.listener_max[li] && dp_conn_count(li) >= sl->lim.listener_max[li]) {
		sl->st.listener_limit_refused++;
		return RC_QUOTA_EXCEEDED;
	}
	if (sl->lim.max_conns && dp_conn_count(DP_MAX_LISTENERS) >= sl->lim.max_conns) {
		sl->st.conn_limit_refused++;
		return RC_QUOTA_EXCEEDED;
	}
	return 0;
}

const struct dp_sec_stats *
dp_sec_lcore_stats(const struct dp_lcore *ls)
{
	return &ls->sec->st;
}

void
dp_sec_apply_cfg(struct dp_lcore *ls, const struct ctl_config *cfg)
{
	dp_limits_set(&ls->sec->lim, cfg);
	/* Rare (a config generation): the lock is held by the reload thread only for two copies. */
	pthread_mutex_lock(&g.lock);
	snprintf(g.want_pw, sizeof(g.want_pw), "%s", cfg->password_file);
	snprintf(g.want_acl, sizeof(g.want_acl), "%s", cfg->acl_file);
	pthread_mutex_unlock(&g.lock);
}

/* ---- hooks ---- */

static struct dp_sec_conn *
dp_auth_conn(struct mqtt_conn *c)
{
	return dp_conn_sec(mqtt_conn_io(c));
}

/* Keep a copy of an identifier for ACL checks; longer than DP_SEC_ID_MAX marks it (fail
 * closed). */
static uint16_t
dp_auth_keep(char *dst, const uint8_t *src, size_t len, uint8_t *too_long)
{
	if (len > DP_SEC_ID_MAX) {
		*too_long = 1;
		len = DP_SEC_ID_MAX;
	}
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
	return (uint16_t)len;
}

/* The broker checks the will topic before its connect hook (mqtt_broker.c), when the user and
 * client id are not known yet: dp_auth_acl stashes it and this decides it once they are. */
static int
dp_auth_will_denied(struct dp_sec_lcore *sl, struct dp_sec_conn *s)
{
	if (!s->will || sl->acl == NULL)
		return 0;
	if (s->will_long || s->id_long ||
	    mqtt_acl_check_publish(sl->acl, s->user_len ? s->user : NULL, s->cid, s->will_topic)) {
		sl->st.acl_denied_pub++;
		return 1;
	}
	return 0;
}

static int
dp_auth_login(struct dp_sec_lcore *sl, struct dp_sec_conn *s, const uint8_t *client_id,
              size_t cid_len, const uint8_t *user, size_t user_len, const uint8_t *pass,
              size_t pass_len)
{
	unsigned int li = s->listener;
	/* No users and no rules (neither file configured, now): nothing to authenticate against. */
	int anon = g.allow_anon[li] || (sl->pw == NULL && sl->acl == NULL);
	const char *cn = NULL;
	uint64_t cookie;
	int rc;

	s->id_long = 0;
	s->cid_len = dp_auth_keep(s->cid, client_id, cid_len, &s->id_long);
	if (g.use_identity[li]) {
		/* The verified certificate is the credential; the CONNECT's user is ignored. */
		cn = s->tls ? tls_conn_peer_cn(s->tls) : NULL;
		if (cn == NULL || cn[0] == '\0') {
			sl->st.logins_refused++;
			return RC_NOT_AUTHORIZED;
		}
		s->user_len = dp_auth_keep(s->user, (const uint8_t *)cn, strlen(cn), &s->id_long);
	} else if (user == NULL) {
		s->user_len = 0;
	} else if (user_len == 0 || user_len > MQTT_PASSWD_MAX_USER || memchr(user, 0, user_len)) {
		sl->st.logins_refused++;
		return RC_BAD_CREDENTIALS;
	} else {
		s->user_len = dp_auth_keep(s->user, user, user_len, &s->id_long);
	}
	if (dp_auth_will_denied(sl, s)) {
		sl->st.logins_refused++;
		return RC_NOT_AUTHORIZED;
	}
	if (cn != NULL || (user == NULL && anon)) {
		sl->st.logins_ok++;
		return 0;
	}
	if (user == NULL) {
		sl->st.logins_refused++;
		return RC_NOT_AUTHORIZED;
	}
	cookie = ((uint64_t)(s - sl->conns) << 32) | ++s->login_seq;
	rc = mqtt_auth_lcore_login(sl->auth, sl->pw, anon, cookie, s->user, pass,
	                           pass ? pass_len : 0);
	switch (rc) {
	case 0:
		sl->st.logins_ok++;
		return 0;
	case -EINPROGRESS:
		s->parked = 1;
		sl->st.logins_parked++;
		return -EINPROGRESS;
	case -EAGAIN:
		sl->st.logins_refused++;
		return RC_UNAVAILABLE;
	default:
		sl->st.logins_refused++;
		return RC_BAD_CREDENTIALS;
	}
}

/* Limits first (cheap, and a full broker hashes no passwords), then the login; a connection
 * accepted or parked holds its max_connections slot until it closes. The broker may run the
 * hook again for the same CONNECT (a client id whose home is another shard is answered once
 * that shard has replied): a connection admitted by the first run is admitted again without
 * a second count, limit check or login. */
static int
dp_auth_connect(void *ctx, struct mqtt_conn *c, const uint8_t *client_id, size_t cid_len,
                const uint8_t *user, size_t user_len, const uint8_t *pass, size_t pass_len)
{
	struct dp_sec_lcore *sl = ctx;
	struct dp_sec_conn *s = dp_auth_conn(c);
	int rc;

	if (s->counted && !s->parked)
		return 0;
	s->connect_seen = 1;
	rc = s->counted ? 0 : dp_limits_connect(sl, s);
	if (rc == 0)
		rc = dp_auth_login(sl, s, client_id, cid_len, user, user_len, pass, pass_len);
	if ((rc == 0 || rc == -EINPROGRESS) && !s->counted) {
		s->counted = 1;
		dp_conn_count_add(sl, s->listener, 1);
	}
	return rc;
}

static int
dp_auth_acl(void *ctx, struct mqtt_conn *c, int write, const uint8_t *topic, size_t len)
{
	struct dp_sec_lcore *sl = ctx;
	struct dp_sec_conn *s = dp_auth_conn(c);
	int rc;

	/* Publish rate: one timestamp per connection, so nothing allocated per message. */
	if (write && s->connect_seen && sl->lim.pub_interval &&
	    dp_gcra(&s->pub_tat, sl->ls->now_us, sl->lim.pub_interval, sl->lim.pub_burst)) {
		sl->st.pub_rate_exceeded++;
		return RC_RATE_TOO_HIGH;
	}
	if (sl->acl == NULL)
		return 0;
	if (!s->connect_seen) {
		/* The will topic, checked before the connect hook: decided there. */
		s->will = 1;
		s->will_long = len > DP_SEC_ID_MAX;
		s->will_len = s->will_long ? 0 : (uint16_t)len;
		memcpy(s->will_topic, topic, s->will_len);
		s->will_topic[s->will_len] = '\0';
		return 0;
	}
	if (s->id_long || len >= sizeof(sl->topic)) {
		rc = -EACCES;
	} else {
		memcpy(sl->topic, topic, len);
		sl->topic[len] = '\0';
		const char *user = s->user_len ? s->user : NULL;
		rc = write ? mqtt_acl_check_publish(sl->acl, user, s->cid, sl->topic)
		           : mqtt_acl_check_subscribe(sl->acl, user, s->cid, sl->topic);
	}
	if (rc != 0) {
		if (write)
			sl->st.acl_denied_pub++;
		else
			sl->st.acl_denied_sub++;
	}
	return rc;
}

/* ---- per lcore ---- */

int
dp_sec_lcore_init(struct dp_lcore *ls, const struct dp_conf *conf)
{
	int socket = (int)rte_lcore_to_socket_id(ls->lcore_id);
	struct dp_sec_lcore *sl;
	int rc;

	sl = rte_zmalloc_socket("dp_sec", sizeof(*sl), RTE_CACHE_LINE_SIZE, socket);
	if (sl == NULL)
		return -ENOMEM;
	ls->sec = sl;
	sl->ls = ls;
	sl->n_conns = conf->max_conns;
	sl->conns = rte_zmalloc_socket("dp_sec_conns", sizeof(*sl->conns) * sl->n_conns,
	                               RTE_CACHE_LINE_SIZE, socket);
	sl->free_idx = rte_malloc_socket("dp_sec_free", sizeof(uint32_t) * sl->n_conns, 0, socket);
	if (sl->conns == NULL || sl->free_idx == NULL)
		return -ENOMEM;
	sl->rate = rte_zmalloc_socket("dp_sec_rate", sizeof(*sl->rate) * DP_RATE_SLOTS,
	                              RTE_CACHE_LINE_SIZE, socket);
	if (sl->rate == NULL)
		return -ENOMEM;
	sl->rate_seed = (uint32_t)rte_rand();
	dp_limits_set(&sl->lim, &conf->cfg);
	for (uint32_t i = 0; i < sl->n_conns; i++)
		sl->free_idx[i] = sl->n_conns - 1 - i;
	sl->n_free = sl->n_conns;
	sl->auth = mqtt_auth_lcore_new(g.worker, (unsigned int)rte_lcore_index((int)ls->lcore_id),
	                               DP_AUTH_CACHE);
	if (sl->auth == NULL)
		return -errno;
	g.registered[ls->lcore_id] = 1;
	sl->seq = atomic_load_explicit(&g.seq, memory_order_acquire);
	sl->pw = atomic_load(&g.pw);
	sl->acl = atomic_load(&g.acl);
	atomic_store_explicit(&g.seen[ls->lcore_id], sl->seq, memory_order_release);
	rc = dp_tls_lcore_init(sl);
	if (rc < 0)
		return rc;
	mqtt_broker_set_hooks(
	        ls->broker,
	        &(struct mqtt_hooks){.connect = dp_auth_connect, .acl = dp_auth_acl, .ctx = sl});
	return 0;
}

void
dp_sec_lcore_fini(struct dp_lcore *ls)
{
	struct dp_sec_lcore *sl = ls->sec;

	if (sl == NULL)
		return;
	printf("tachyond: lcore %u: security: logins ok %" PRIu64 " refused %" PRIu64
	       " parked %" PRIu64 " | acl denied publish %" PRIu64 " subscribe %" PRIu64
	       " | tls open %" PRIu64 " failed %" PRIu64 "\n",
	       ls->lcore_id, sl->st.logins_ok, sl->st.logins_refused, sl->st.logins_parked,
	       sl->st.acl_denied_pub, sl->st.acl_denied_sub, sl->st.tls_open, sl->st.tls_failed);
	printf("tachyond: lcore %u: limits: max_connections refused %" PRIu64
	       " listener max_connections refused %" PRIu64 " connection rate refused %" PRIu64
	       " publish rate exceeded %" PRIu64 " rate evictions %" PRIu64
	       " closed before CONNECT %" PRIu64 "\n",
	       ls->lcore_id, sl->st.conn_limit_refused, sl->st.listener_limit_refused,
	       sl->st.conn_rate_refused, sl->st.pub_rate_exceeded, sl->st.rate_evictions,
	       sl->st.closed_before_connect);
	atomic_store_explicit(&g.seen[ls->lcore_id], UINT64_MAX, memory_order_release);
	dp_tls_lcore_fini(sl);
	if (sl->auth != NULL)
		mqtt_auth_lcore_free(sl->auth);
	rte_free(sl->conns);
	rte_free(sl->free_idx);
	rte_free(sl->rate);
	rte_free(sl);
	ls->sec = NULL;
}

int
dp_sec_poll(struct dp_lcore *ls)
{
	struct dp_sec_lcore *sl = ls->sec;
	struct mqtt_auth_result res[DP_AUTH_POLL_BURST];
	uint64_t seq = atomic_load_explicit(&g.seq, memory_order_acquire);
	unsigned int n;
	int work;

	if (unlikely(seq != sl->seq)) {
		sl->pw = atomic_load(&g.pw);
		sl->acl = atomic_load(&g.acl);
		sl->seq = seq;
		atomic_store_explicit(&g.seen[ls->lcore_id], seq, memory_order_release);
	}
	n = mqtt_auth_lcore_poll(sl->auth, res, RTE_DIM(res));
	work = (int)n;
	for (unsigned int i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)(res[i].cookie >> 32);
		struct dp_sec_conn *s;

		if (idx >= sl->n_conns)
			continue;
		s = &sl->conns[idx];
		/* A connection that went while parked (closed, detached from the broker, or a slot
		 * reused since) is skipped. */
		if (!s->in_use || !s->parked || s->mqtt == NULL ||
		    s->login_seq != (uint32_t)res[i].cookie)
			continue;
		s->parked = 0;
		if (res[i].rc == 0)
			sl->st.logins_ok++;
		else
			sl->st.logins_refused++;
		mqtt_conn_auth_done(s->mqtt, res[i].rc == 0 ? 0 : RC_BAD_CREDENTIALS, ls->now_us);
	}
	return work + dp_tls_poll(sl);
}

struct dp_sec_conn *
dp_sec_conn_open(struct dp_lcore *ls, struct dp_conn *dc, unsigned int listener,
                 struct tcp_conn *tcp)
{
	struct dp_sec_lcore *sl = ls->sec;
	struct dp_sec_conn *s;
	struct tls_ctx *ctx = dp_sec_listener_tls(listener);
	struct tls_conn *t = NULL;
	uint32_t seq;

	if (sl->n_free == 0)
		return NULL;
	if (ctx != NULL && (t = tls_conn_new(ctx)) == NULL)
		return NULL;
	s = &sl->conns[sl->free_idx[--sl->n_free]];
	seq = s->login_seq;
	memset(s, 0, offsetof(struct dp_sec_conn, user));
	s->login_seq = seq;
	s->dc = dc;
	s->tcp = tcp;
	s->sl = sl;
	s->tls = t;
	s->listener = (uint8_t)listener;
	s->in_use = 1;
	s->user[0] = s->cid[0] = '\0';
	/* Charged at the handshake, not at CONNECT, so connections that never send one (the
	 * slowloris pattern) count too; the refusal waits for CONNECT to carry its reason code. */
	if (sl->lim.conn_interval) {
		uint32_t ip;
		uint16_t port;

		tcp_peer(tcp, &ip, &port);
		s->rate_over =
		        dp_rate_take(sl->rate, sl->rate_seed, ip, ls->now_us, sl->lim.conn_interval,
		                     sl->lim.conn_burst, &sl->st.rate_evictions) != 0;
	}
	return s;
}

/* The max_connections slot goes when the broker lets go of the connection (our FIN or RST is
 * out), as mqtt.connections_current counts it, not when TCP is done: the last ACK of a passive
 * close can take a FIN retransmission or more. */
static void
dp_sec_conn_release(struct dp_sec_conn *s)
{
	if (s->counted) {
		dp_conn_count_add(s->sl, s->listener, -1);
		s->counted = 0;
	}
}

void
dp_sec_conn_set_mqtt(struct dp_sec_conn *s, struct mqtt_conn *m)
{
	s->mqtt = m;
	if (m == NULL)
		dp_sec_conn_release(s);
}

void
dp_sec_conn_close(struct dp_sec_conn *s)
{
	struct dp_sec_lcore *sl = s->sl;

	if (s->tls != NULL) {
		dp_tls_forget(s);
		tls_conn_free(s->tls);
		s->tls = NULL;
	}
	dp_sec_conn_release(s);
	if (!s->connect_seen)
		sl->st.closed_before_connect++;
	s->in_use = 0;
	s->parked = 0;
	s->mqtt = NULL;
	sl->free_idx[sl->n_free++] = (uint32_t)(s - sl->conns);
}

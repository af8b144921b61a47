/* SPDX-License-Identifier: Apache-2.0
 * mqtt_admin: the read-only walkers over one shard's broker (mqtt_admin.h). The mutations
 * (kick, drop, delete) live in mqtt_broker.c with every other write to the broker's structures;
 * this file only reads them, on the shard's own thread.
 */
#include "mqtt/mqtt_admin.h"

#include <errno.h>

#include "mqtt/mqtt_broker_pvt.h"

const char *
mqtt_admin_state_name(enum mqtt_admin_conn_state st)
{
	static const char *const names[] = {
	        [MQTT_ADMIN_CONNECTING] = "connecting",
	        [MQTT_ADMIN_AUTHENTICATING] = "authenticating",
	        [MQTT_ADMIN_CONNECTED] = "connected",
	        [MQTT_ADMIN_CLOSING] = "closing",
	};

	return (unsigned int)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

static uint32_t
batch(uint32_t max)
{
	return max == 0 || max > MQTT_ADMIN_BATCH ? MQTT_ADMIN_BATCH : max;
}

/* Remember the entry just passed, for a resume by id (mqtt_admin.h). */
static void
remember(struct mqtt_admin_cursor *cur, const void *obj, const struct mqtt_session *s)
{
	cur->pos++;
	cur->last = obj;
	cur->last_len = 0;
	if (s && s->cid_len && s->cid_len <= MQTT_ADMIN_KEY_MAX) {
		memcpy(cur->last_id, s->cid, s->cid_len);
		cur->last_len = s->cid_len;
	}
}

/* The session of the last entry passed, when it still exists; NULL: resume by ordinal. */
static struct mqtt_session *
resume_session(struct mqtt_broker *b, const struct mqtt_admin_cursor *cur)
{
	if (!cur->pos || !cur->last_len)
		return NULL;
	return mqtt_dict_get(&b->sessions, cur->last_id, cur->last_len);
}

/* ---- clients ---- */

static void
client_record(const struct mqtt_conn *c, struct mqtt_admin_client *r)
{
	const struct mqtt_session *s = c->s;

	memset(r, 0, sizeof(*r));
	r->io = c->io;
	switch (c->state) {
	case CONN_NEW:
		r->state = MQTT_ADMIN_CONNECTING;
		break;
	case CONN_AUTH:
	case CONN_AUTH_EXCH:
		r->state = MQTT_ADMIN_AUTHENTICATING;
		break;
	case CONN_CONNECTED:
		r->state = MQTT_ADMIN_CONNECTED;
		break;
	default:
		r->state = MQTT_ADMIN_CLOSING;
		break;
	}
	r->protocol = c->version;
	r->keepalive = c->keepalive;
	if (s) {
		r->client_id = s->cid;
		r->client_id_len = s->cid_len;
		r->session_expiry_s = s->expiry_s;
		r->inflight = s->n_inflight;
		r->queued = s->n_queued;
		r->subscriptions = s->n_subs;
	}
}

int
mqtt_admin_clients(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                   mqtt_admin_client_fn fn, void *arg)
{
	uint32_t n = 0, lim = batch(max), scanned = 0;
	struct mqtt_list *pos = b->conns.next;
	struct mqtt_session *rs = resume_session(b, cur);

	if (rs && rs->conn && rs->conn == cur->last) {
		pos = rs->conn->link.next;
	} else {
		/* Resume by ordinal: cur->pos hops, no formatting. */
		for (uint64_t i = 0; i < cur->pos && pos != &b->conns; i++)
			pos = pos->next;
	}
	for (; pos != &b->conns && n < lim && scanned < MQTT_ADMIN_SCAN; pos = pos->next) {
		const struct mqtt_conn *c = mqtt_container_of(pos, struct mqtt_conn, link);
		struct mqtt_admin_client r;
		int rc;

		scanned++;
		if (c->s) {
			client_record(c, &r);
			rc = fn(arg, &r);
			if (rc < 0)
				return rc;
			n++;
		}
		remember(cur, c, c->s);
	}
	cur->done = pos == &b->conns;
	return (int)n;
}

int
mqtt_admin_client_get(struct mqtt_broker *b, const uint8_t *cid, size_t len,
                      mqtt_admin_client_fn fn, void *arg)
{
	struct mqtt_session *s;
	struct mqtt_admin_client r;

	if (len == 0 || len > UINT16_MAX)
		return -ENOENT;
	s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);
	if (!s || !s->conn)
		return -ENOENT;
	client_record(s->conn, &r);
	return fn(arg, &r);
}

/* ---- sessions ---- */

static void
session_record(const struct mqtt_session *s, uint64_t now_us, struct mqtt_admin_session *r)
{
	memset(r, 0, sizeof(*r));
	r->client_id = s->cid;
	r->client_id_len = s->cid_len;
	r->online = s->conn != NULL;
	r->io = s->conn ? s->conn->io : NULL;
	r->expiry_s = s->expiry_s;
	r->expires_in_s = -1;
	if (!s->conn && s->expire_at != UINT64_MAX)
		r->expires_in_s =
		        s->expire_at > now_us ? (int64_t)((s->expire_at - now_us) / US_PER_S) : 0;
	r->inflight = s->n_inflight;
	r->queued = s->n_queued;
	r->subscriptions = s->n_subs;
}

int
mqtt_admin_sessions(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                    uint64_t now_us, mqtt_admin_session_fn fn, void *arg)
{
	uint32_t n = 0, lim = batch(max);
	struct mqtt_list *pos = b->sessions_all.next;
	struct mqtt_session *rs = resume_session(b, cur);

	if (rs && rs == cur->last) {
		pos = rs->all_link.next;
	} else {
		for (uint64_t i = 0; i < cur->pos && pos != &b->sessions_all; i++)
			pos = pos->next;
	}
	for (; pos != &b->sessions_all && n < lim; pos = pos->next) {
		const struct mqtt_session *s =
		        mqtt_container_of(pos, struct mqtt_session, all_link);
		struct mqtt_admin_session r;
		int rc;

		session_record(s, now_us, &r);
		rc = fn(arg, &r);
		if (rc < 0)
			return rc;
		n++;
		remember(cur, s, s);
	}
	cur->done = pos == &b->sessions_all;
	return (int)n;
}

int
mqtt_admin_session_get(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now_us,
                       mqtt_admin_session_fn fn, void *arg)
{
	struct mqtt_session *s;
	struct mqtt_admin_session r;

	if (len == 0 || len > UINT16_MAX)
		return -ENOENT;
	s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);
	if (!s)
		return -ENOENT;
	session_record(s, now_us, &r);
	return fn(arg, &r);
}

/* ---- subscriptions ---- */

static int
sub_matches(const struct mqtt_sub *sub, const uint8_t *match, size_t match_len)
{
	if (!match_len)
		return 1;
	if (sub->filter_len == match_len && !memcmp(sub->filter, match, match_len))
		return 1;
	return mqtt_topic_match_ref(match, match_len, sub->filter, sub->filter_len);
}

/* The subscriptions of one session from its index `skip`; *n items reported, *scanned
 * examined, both bounded by their limits. Returns 1 when the session is finished, 0 when a
 * limit stopped it, or a negative errno from fn. */
static int
session_subs(const struct mqtt_session *s, uint64_t skip, struct mqtt_admin_cursor *cur,
             uint32_t lim, uint32_t *n, uint32_t *scanned, const uint8_t *match, size_t match_len,
             mqtt_admin_sub_fn fn, void *arg)
{
	const struct mqtt_list *pos = s->subs.next;

	for (uint64_t i = 0; i < skip && pos != &s->subs; i++)
		pos = pos->next;
	for (; pos != &s->subs; pos = pos->next) {
		const struct mqtt_sub *sub = mqtt_container_of(pos, struct mqtt_sub, session_link);

		if (*n >= lim || *scanned >= MQTT_ADMIN_SCAN)
			return 0;
		(*scanned)++;
		if (sub_matches(sub, match, match_len)) {
			struct mqtt_admin_sub r = {
			        .client_id = s->cid,
			        .client_id_len = s->cid_len,
			        .filter = sub->filter,
			        .filter_len = sub->filter_len,
			        .qos = sub->qos,
			        .no_local = sub->no_local,
			        .retain_as_published = sub->rap,
			        .retain_handling = sub->rh,
			        .subscription_id = sub->sub_id,
			};
			int rc = fn(arg, &r);

			if (rc < 0)
				return rc;
			(*n)++;
		}
		cur->pos++;
	}
	return 1;
}

int
mqtt_admin_subscriptions(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                         const uint8_t *cid, size_t cid_len, const uint8_t *match, size_t match_len,
                         mqtt_admin_sub_fn fn, void *arg)
{
	uint32_t n = 0, scanned = 0, lim = batch(max);
	struct mqtt_list *pos;
	uint64_t skip = cur->pos;
	int rc;

	if (cid_len) {
		struct mqtt_session *s =
		        cid_len <= UINT16_MAX ? mqtt_dict_get(&b->sessions, cid, (uint32_t)cid_len)
		                              : NULL;

		if (!s)
			return -ENOENT;
		rc = session_subs(s, skip, cur, lim, &n, &scanned, match, match_len, fn, arg);
		if (rc < 0)
			return rc;
		cur->done = rc;
		return (int)n;
	}
	/* Whole sessions are skipped by their n_subs: resuming costs O(sessions), not O(subs). */
	for (pos = b->sessions_all.next; pos != &b->sessions_all; pos = pos->next) {
		const struct mqtt_session *s =
		        mqtt_container_of(pos, struct mqtt_session, all_link);

		if (skip >= s->n_subs) {
			skip -= s->n_subs;
			continue;
		}
		rc = session_subs(s, skip, cur, lim, &n, &scanned, match, match_len, fn, arg);
		if (rc < 0)
			return rc;
		if (!rc)
			break;
		skip = 0;
	}
	cur->done = pos == &b->sessions_all;
	return (int)n;
}

/* ---- retained ---- */

/* The topic tree is walked depth first without recursion or a stack (topics may have
 * thousands of levels): a node's next sibling is found from its parent's child dict (the
 * entry after its own, table 0 then table 1 while the dict rehashes), then '+' and '#'
 * (never holding retained messages, but walked alike). O(bucket chain) per step. */
static struct mqtt_tnode *
dict_first_from(const struct mqtt_dict *d, int t, uint32_t idx)
{
	for (; t < 2; t++, idx = 0)
		for (uint32_t i = idx; i < d->size[t]; i++)
			if (d->table[t][i])
				return d->table[t][i]->val;
	return NULL;
}

static struct mqtt_tnode *
first_child(const struct mqtt_tnode *n)
{
	struct mqtt_tnode *c = dict_first_from(&n->children, 0, 0);

	if (c)
		return c;
	return n->plus ? n->plus : n->hash;
}

static struct mqtt_tnode *
next_sibling(const struct mqtt_tnode *n)
{
	const struct mqtt_tnode *p = n->parent;

	if (!p || n == p->hash)
		return NULL;
	if (n == p->plus)
		return p->hash;
	{
		const struct mqtt_dict *d = &p->children;
		uint32_t h = mqtt_hash(n->name, n->name_len);

		for (int t = 0; t < 2; t++) {
			uint32_t idx;

			if (!d->size[t])
				continue;
			idx = h & (d->size[t] - 1);
			for (const struct mqtt_dict_entry *e = d->table[t][idx]; e; e = e->next) {
				struct mqtt_tnode *c;

				if (e->val != n)
					continue;
				c = e->next ? e->next->val : dict_first_from(d, t, idx + 1);
				if (c)
					return c;
				return p->plus ? p->plus : p->hash;
			}
		}
	}
	return p->plus ? p->plus : p->hash;
}

static struct mqtt_tnode *
next_preorder(const struct mqtt_tnode *n)
{
	struct mqtt_tnode *c = first_child(n);

	if (c)
		return c;
	for (; n; n = n->parent) {
		struct mqtt_tnode *s = next_sibling(n);

		if (s)
			return s;
	}
	return NULL;
}

int
mqtt_admin_retained(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                    const uint8_t *match, size_t match_len, uint64_t now_us,
                    mqtt_admin_retained_fn fn, void *arg)
{
	uint32_t n = 0, scanned = 0, lim = batch(max);
	struct mqtt_tnode *node = b->retained.root;
	uint64_t skip = cur->pos;

	/* Resume: cur->pos counts retained messages passed; nodes without one are free. */
	for (; node && skip; node = next_preorder(node))
		if (node->retained)
			skip--;
	for (; node && n < lim && scanned < MQTT_ADMIN_SCAN; node = next_preorder(node)) {
		const struct mqtt_msg *m = node->retained;

		if (!m)
			continue;
		scanned++;
		if (!match_len || mqtt_topic_match_ref(match, match_len, m->topic, m->topic_len)) {
			struct mqtt_admin_retained r = {
			        .topic = m->topic,
			        .topic_len = m->topic_len,
			        .payload_len = m->payload_len,
			        .qos = m->qos,
			        .expires_in_s = -1,
			};
			int rc;

			if (m->expire_us != UINT64_MAX)
				r.expires_in_s =
				        m->expire_us > now_us
				                ? (int64_t)((m->expire_us - now_us) / US_PER_S)
				                : 0;
			rc = fn(arg, &r);
			if (rc < 0)
				return rc;
			n++;
		}
		cur->pos++;
	}
	cur->done = node == NULL;
	return (int)n;
}

/* ---- publish ---- */

int
mqtt_admin_publish(struct mqtt_broker *b, const uint8_t *topic, size_t tlen, const uint8_t *payload,
                   size_t plen, int retain, uint64_t now_us)
{
	struct mqtt_msg m;

	if (tlen == 0 || tlen > UINT16_MAX || plen > UINT32_MAX || memchr(topic, '+', tlen) ||
	    memchr(topic, '#', tlen))
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.qos = 0;
	m.retain = retain ? 1 : 0;
	m.topic_len = (uint16_t)tlen;
	m.payload_len = (uint32_t)plen;
	m.expire_us = UINT64_MAX;
	m.topic = topic;
	m.payload = payload;
	mqtt_broker_inject(b, &m, now_us);
	return 0;
}

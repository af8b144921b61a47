/* SPDX-License-Identifier: Apache-2.0
 * Sessions across shards: a client that connects on one shard gets its whole session from
 * wherever it lives (subscriptions with their options and ids, queued and inflight QoS 1/2
 * deliveries, inbound QoS 2 ids, the delayed will, the expiry), while its CONNECT is parked.
 *
 * Home. The home shard of a client id, mqtt_client_home(), arbitrates: it orders the claims of
 * an id, keeps the id's offline session, and remembers in xfer_dir where the session lives when
 * that is another shard. A shard that is not the home holds a session only while a connection
 * uses it: when it goes offline it is shipped home (HOME), when it ends the home hears of it
 * (GONE).
 *
 * Messages (struct mqtt_xfer, one allocation, carried by the host between shards; the host
 * returns each to the shard that allocated it, which frees it):
 *   CLAIM c->h   client id cid connected on c and the session is not there
 *   PULL  h->s   send the session of cid to shard `to` (s: where h last knew it)
 *   MOVE  s->c   the session (or none) for the claim of c
 *   MISS  s->h   s no longer has the session the PULL asked for: the home answers instead
 *   HOME  s->h   an offline persistent session going home
 *   GONE  s->h   the session ended on s
 *   CUT_REQ, CUT, FWD, DONE, READY: the move cut, which carries the publishes that reach a
 *   session between its export and its import (below, "the move cut")
 * Rings are FIFO per pair of shards, which is what makes MISS safe: whatever s sent home before
 * it answered MISS (the session itself, or its end) has reached the home first.
 *
 * Races. A shard with a claim in flight (struct xfer_wait) attaches a newer connection of the
 * same id to it (the older one is closed: the later connection wins, MQTT-3.1.4-2); a PULL that
 * meets a claim in flight is remembered (pull_to) and honoured when the session arrives, so
 * the session always follows the order of claims the home saw. Claims are numbered by their
 * shard and a PULL names the claim it follows: one that follows an older claim of ours
 * (answered already; a newer one waits) is answered at once, or two shards could each hold
 * the other's PULL for ever (the stress test's lost subscribers).
 *
 * Cost: a move is O(session size) on both sides and copies the queued messages once (they are
 * this shard's objects with a non-atomic refcount; they cannot be shared). On the per-message
 * path only mqtt_xfer_cut_match(), for a matched session with a cut in progress (s->cut).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_broker_pvt.h"

enum xfer_type {
	XFER_CLAIM = 1,
	XFER_PULL,
	XFER_MOVE,
	XFER_MISS,
	XFER_HOME,
	XFER_GONE,
	XFER_CUT_REQ, /* the move cut (below) */
	XFER_CUT,
	XFER_FWD,
	XFER_DONE,
	XFER_READY,
};

struct mqtt_xfer {
	uint8_t type;        /* enum xfer_type */
	uint8_t has_session; /* MOVE, HOME: data[] holds a session after the client id */
	uint8_t ready;       /* MOVE, HOME with a cut: the cut may start (else on READY) */
	uint16_t cid_len;
	uint32_t from; /* the shard that sent it */
	uint32_t to;   /* PULL, MISS: the claimant the session must reach */
	uint32_t
	        claim; /* CLAIM: the claimant's number for it; PULL: that of the claim it follows */
	uint32_t owner; /* whose allocation this is */
	uint32_t len;   /* bytes of data[] */
	uint64_t id; /* MOVE, HOME: the move's cut (0: none); CUT_REQ, CUT, FWD, DONE: that cut */
	uint8_t data[]; /* client id, then the session */
};

/* A claim of this shard in flight, by client id. */
struct xfer_wait {
	struct mqtt_conn *c; /* the connection waiting (the latest), or NULL when it went */
	int32_t pull_to;     /* >= 0: a later claim wants the session: pass it on */
	uint32_t claim;      /* this shard's number for the claim (b->xfer_claims) */
	uint16_t cid_len;
	uint8_t cid[];
};

/* On the home shard: the shard where a session lives, when not here. */
struct xfer_dir {
	uint32_t shard;
	uint32_t claim; /* that shard's number for its claim */
	uint16_t cid_len;
	uint8_t cid[];
};

unsigned int
mqtt_client_home(const uint8_t *cid, size_t len, unsigned int n_shards)
{
	return n_shards > 1 ? mqtt_hash(cid, (uint32_t)len) % n_shards : 0;
}

unsigned int
mqtt_xfer_owner(const struct mqtt_xfer *x)
{
	return x->owner;
}

void
mqtt_xfer_free(struct mqtt_xfer *x)
{
	mqtt_free(x);
}

static unsigned int
home_of(const struct mqtt_broker *b, const uint8_t *cid, size_t len)
{
	return mqtt_client_home(cid, len, b->shard.n_shards);
}

/* ---- serialization: a growable buffer that starts with the struct mqtt_xfer header ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void
w_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->err || n == 0)
		return; /* n == 0: p may be NULL (an empty array) */
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *np;

		while (cap < w->len + n)
			cap *= 2;
		np = mqtt_realloc(w->p, cap);
		if (!np) {
			w->err = -ENOMEM;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

#define W_VAL(w, v) w_put((w), &(v), sizeof(v))

struct rbuf {
	const uint8_t *p;
	size_t off, len;
	int err;
};

static const void *
r_get(struct rbuf *r, size_t n)
{
	const void *p = r->p + r->off;

	if (r->err || r->len - r->off < n) {
		r->err = -EBADMSG;
		return NULL;
	}
	r->off += n;
	return p;
}

#define R_VAL(r, v)                                                                                \
	do {                                                                                       \
		const void *q_ = r_get((r), sizeof(v));                                            \
		if (q_)                                                                            \
			memcpy(&(v), q_, sizeof(v));                                               \
	} while (0)

static struct wbuf
xfer_begin(const struct mqtt_broker *b, enum xfer_type type, const uint8_t *cid, size_t len,
           uint32_t to)
{
	struct mqtt_xfer h = {
	        .type = (uint8_t)type,
	        .cid_len = (uint16_t)len,
	        .from = b->conf.shard,
	        .to = to,
	        .owner = b->conf.shard,
	};
	struct wbuf w = {0};

	w_put(&w, &h, sizeof(h));
	w_put(&w, cid, len);
	return w;
}

/* The buffer as a message, or NULL (counted by the caller as lost) on ENOMEM. */
static struct mqtt_xfer *
xfer_end(struct wbuf *w)
{
	struct mqtt_xfer *x;

	if (w->err) {
		mqtt_free(w->p);
		return NULL;
	}
	x = (struct mqtt_xfer *)(void *)w->p;
	x->len = (uint32_t)(w->len - sizeof(*x));
	return x;
}

/* Stored messages keep their property strings as pointers into their own bytes (mqtt_msg_clone):
 * they travel as offsets from `raw`. */
static struct mqtt_str *const *
props_strs(struct mqtt_props *p, struct mqtt_str *v[4])
{
	v[0] = &p->content_type;
	v[1] = &p->response_topic;
	v[2] = &p->correlation_data;
	v[3] = &p->raw;
	return v;
}

/* Fixed parts of the serialized records (host byte order: both ends are one process). */
struct xfer_msg {
	uint64_t expire_us;
	uint32_t payload_len;
	uint16_t topic_len;
	uint8_t qos, retain, has_props;
};

struct xfer_sub {
	uint32_t sub_id;
	uint16_t filter_len;
	uint8_t qos, no_local, rap, rh;
};

struct xfer_dlv {
	uint16_t pid;
	uint8_t state, qos, retain, dup, nsub, has_msg;
};

static void
w_msg(struct wbuf *w, const struct mqtt_msg *m)
{
	struct xfer_msg h = {
	        .expire_us = m->expire_us,
	        .payload_len = m->payload_len,
	        .topic_len = m->topic_len,
	        .qos = m->qos,
	        .retain = m->retain,
	        .has_props = m->props != NULL,
	};

	W_VAL(w, h);
	if (h.has_props) {
		struct mqtt_props p = *m->props;
		struct mqtt_str *v[4];
		const uint8_t *base = m->props->raw.p;

		props_strs(&p, v);
		for (int i = 0; i < 4; i++)
			v[i]->p = v[i]->len ? (const uint8_t *)(uintptr_t)(v[i]->p - base) : NULL;
		W_VAL(w, p);
		w_put(w, base, m->props->raw.len);
	}
	w_put(w, m->topic, m->topic_len);
	w_put(w, m->payload, m->payload_len);
}

/* A view of the message in r (its props in *p), or NULL. */
static struct mqtt_msg *
r_msg_view(struct rbuf *r, struct mqtt_msg *vp, struct mqtt_props *pp)
{
	struct mqtt_msg v;
	struct mqtt_props p;
	struct xfer_msg h;

	memset(&v, 0, sizeof(v));
	memset(&h, 0, sizeof(h));
	R_VAL(r, h);
	v.qos = h.qos;
	v.retain = h.retain;
	v.topic_len = h.topic_len;
	v.payload_len = h.payload_len;
	v.expire_us = h.expire_us;
	if (h.has_props) {
		struct mqtt_str *s[4];
		const uint8_t *base;

		R_VAL(r, p);
		base = r_get(r, p.raw.len);
		if (!base)
			return NULL;
		props_strs(&p, s);
		for (int i = 0; i < 4; i++)
			s[i]->p = s[i]->len ? base + (uintptr_t)s[i]->p : NULL;
		p.raw.p = base;
		*pp = p;
		v.props = pp;
	}
	v.topic = r_get(r, v.topic_len);
	v.payload = r_get(r, v.payload_len);
	if (r->err)
		return NULL;
	*vp = v;
	return vp;
}

static struct mqtt_msg *
r_msg(struct rbuf *r)
{
	struct mqtt_msg v;
	struct mqtt_props p;

	return r_msg_view(r, &v, &p) ? mqtt_msg_clone(&v) : NULL;
}

static bool cut_stub(struct mqtt_broker *b, struct mqtt_session *s, unsigned int to, struct wbuf *w,
                     uint64_t now);

/* The session's state into w, for shard `to`; the session is then freed here, quietly (it lives
 * on), or kept as a stub (the move cut). */
static void
session_export(struct wbuf *w, struct mqtt_session *s, unsigned int to, uint64_t now)
{
	struct mqtt_broker *b = s->b;
	struct mqtt_list *pos, *tmp, *lists[2] = {&s->inflight, &s->queue};
	uint8_t has_will = s->will != NULL;
	uint32_t n;

	W_VAL(w, s->expiry_s);
	W_VAL(w, s->expire_at);
	W_VAL(w, s->next_pid);
	W_VAL(w, s->n_rx_qos2);
	w_put(w, s->rx_qos2, s->n_rx_qos2 * sizeof(*s->rx_qos2));
	W_VAL(w, has_will);
	if (has_will) {
		W_VAL(w, s->will_qos);
		W_VAL(w, s->will_retain);
		W_VAL(w, s->will_at);
		w_msg(w, s->will);
	}
	W_VAL(w, s->n_subs);
	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		const struct mqtt_sub *sub = mqtt_container_of(pos, struct mqtt_sub, session_link);
		struct xfer_sub h = {
		        .sub_id = sub->sub_id,
		        .filter_len = sub->filter_len,
		        .qos = sub->qos,
		        .no_local = sub->no_local,
		        .rap = sub->rap,
		        .rh = sub->rh,
		};

		W_VAL(w, h);
		w_put(w, sub->filter, sub->filter_len);
	}
	/* inflight first, then the queue: the order they are sent in */
	n = s->n_inflight + s->n_queued;
	W_VAL(w, n);
	for (int l = 0; l < 2; l++) {
		mqtt_list_for_each_safe(pos, tmp, lists[l])
		{
			const struct mqtt_delivery *d =
			        mqtt_container_of(pos, struct mqtt_delivery, link);
			struct xfer_dlv h = {
			        .pid = d->pid,
			        .state = d->state,
			        .qos = d->qos,
			        .retain = d->retain,
			        .dup = d->dup,
			        .nsub = d->nsub,
			        .has_msg = d->msg != NULL,
			};

			W_VAL(w, h);
			w_put(w, d->subids, d->nsub * sizeof(uint32_t));
			if (h.has_msg)
				w_msg(w, d->msg);
		}
	}
	if (w->err)
		return; /* the session stays here: the caller sends nothing */
	/* moves with the session: neither published nor cancelled here */
	mqtt_msg_put(s->will);
	s->will = NULL;
	b->stats.sessions_moved_out++;
	if (cut_stub(b, s, to, w, now))
		return;
	b->xfer_quiet = true;
	mqtt_session_free(s, now);
	b->xfer_quiet = false;
}

static void
session_import_fail(struct mqtt_session *s)
{
	struct mqtt_broker *b = s->b;

	b->xfer_quiet = true;
	mqtt_session_free(s, 0);
	b->xfer_quiet = false;
}

/* A session from r into this broker, offline (on b->offline). 0, -EEXIST when one of that id is
 * already here (kept; the moved one is dropped and counted), -errno. */
static int
session_import(struct mqtt_broker *b, const uint8_t *cid, size_t len, struct rbuf *r)
{
	struct mqtt_session *s;
	uint8_t has_will = 0;
	uint32_t n = 0;

	if (mqtt_dict_get(&b->sessions, cid, (uint32_t)len)) {
		b->stats.sessions_move_dropped++;
		return -EEXIST;
	}
	s = mqtt_session_new(b, cid, len);
	if (!s)
		return -ENOMEM;
	R_VAL(r, s->expiry_s);
	R_VAL(r, s->expire_at);
	R_VAL(r, s->next_pid);
	R_VAL(r, n);
	if (n && !r->err) {
		const void *ids = r_get(r, n * sizeof(*s->rx_qos2));

		s->rx_qos2 = ids ? mqtt_alloc(n * sizeof(*s->rx_qos2)) : NULL;
		if (!s->rx_qos2)
			goto fail;
		memcpy(s->rx_qos2, ids, n * sizeof(*s->rx_qos2));
		s->n_rx_qos2 = s->cap_rx_qos2 = n;
	}
	R_VAL(r, has_will);
	if (has_will) {
		R_VAL(r, s->will_qos);
		R_VAL(r, s->will_retain);
		R_VAL(r, s->will_at);
		s->will = r_msg(r);
		if (!s->will)
			goto fail;
	}
	R_VAL(r, n);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct mqtt_sub_entry e;
		struct xfer_sub h;
		bool existed;

		memset(&h, 0, sizeof(h));
		R_VAL(r, h);
		e = (struct mqtt_sub_entry){
		        .filter = {.p = r_get(r, h.filter_len), .len = h.filter_len},
		        .qos = h.qos,
		        .no_local = h.no_local,
		        .retain_as_published = h.rap,
		        .retain_handling = h.rh,
		};
		if (r->err || !mqtt_sub_add(b, s, &e, h.sub_id, &existed))
			goto fail;
	}
	R_VAL(r, n);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct mqtt_delivery *d;
		struct xfer_dlv h;
		const void *ids;

		memset(&h, 0, sizeof(h));
		R_VAL(r, h);
		ids = r_get(r, h.nsub * sizeof(uint32_t));
		if (r->err)
			goto fail;
		d = mqtt_alloc(sizeof(*d) + h.nsub * sizeof(uint32_t));
		if (!d)
			goto fail;
		memset(d, 0, sizeof(*d));
		d->pid = h.pid;
		d->state = h.state;
		d->qos = h.qos;
		d->retain = h.retain;
		d->dup = h.dup;
		d->nsub = h.nsub;
		memcpy(d->subids, ids, h.nsub * sizeof(uint32_t));
		d->msg = h.has_msg ? r_msg(r) : NULL;
		if (h.has_msg && !d->msg) {
			mqtt_free(d);
			goto fail;
		}
		if (d->state == DLV_QUEUED) {
			mqtt_list_add_tail(&s->queue, &d->link);
			s->n_queued++;
		} else {
			mqtt_list_add_tail(&s->inflight, &d->link);
			s->n_inflight++;
			s->n_pending += d->state == DLV_SEND || d->state == DLV_REL;
		}
	}
	if (r->err)
		goto fail;
	if (s->expiry_s)
		b->stats.sessions_persistent++;
	mqtt_list_add_tail(&b->offline, &s->offline_link);
	b->stats.sessions_moved_in++;
	return 0;
fail:
	session_import_fail(s);
	return r->err ? r->err : -ENOMEM;
}

/* ---- the protocol ---- */

static void xfer_input(struct mqtt_broker *b, const struct mqtt_xfer *x, struct rbuf *r,
                       uint64_t now);

/* Hand x to shard `to` (this one: handled at once). ENOMEM loses the message: the claimant
 * then times out (its CONNECT deadline) and the client retries. */
static void
xfer_send(struct mqtt_broker *b, unsigned int to, struct mqtt_xfer *x, uint64_t now)
{
	if (!x)
		return;
	if (to == b->conf.shard) {
		struct rbuf r = {.p = x->data, .len = x->len};

		r.off = x->cid_len;
		xfer_input(b, x, &r, now);
		mqtt_free(x);
		return;
	}
	b->shard.xfer_send(b->shard.ctx, to, x);
}

/* A message of the header only: `claim` for CLAIM and PULL, `id` for the cut's messages. */
static void
xfer_simple(struct mqtt_broker *b, enum xfer_type type, unsigned int dest, const uint8_t *cid,
            size_t len, uint32_t to, uint32_t claim, uint64_t id, uint64_t now)
{
	struct wbuf w = xfer_begin(b, type, cid, len, to);

	if (!w.err) {
		((struct mqtt_xfer *)(void *)w.p)->claim = claim;
		((struct mqtt_xfer *)(void *)w.p)->id = id;
	}
	xfer_send(b, dest, xfer_end(&w), now);
}

/* Send the session of cid held here (none: an empty MOVE) to shard `to`. */
static void
xfer_move(struct mqtt_broker *b, const uint8_t *cid, size_t len, unsigned int to, uint64_t now)
{
	struct mqtt_session *s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);
	struct wbuf w = xfer_begin(b, XFER_MOVE, cid, len, to);

	if (s) {
		mqtt_session_takeover(s, now); /* connected here: MQTT-3.1.4-2 */
		if (s->expiry_s == 0) {
			/* a clean session ends with its connection: nothing to move */
			mqtt_session_free(s, now);
		} else {
			size_t mark = w.len;
			uint8_t one = 1;

			session_export(&w, s, to, now);
			if (w.err) {
				/* no memory for the copy: the claimant gets no session, this one
				 * stays (lost to the client; counted) */
				b->stats.sessions_move_dropped++;
				w.err = 0;
				w.len = mark;
			} else {
				w.p[offsetof(struct mqtt_xfer, has_session)] = one;
			}
		}
	}
	xfer_send(b, to, xfer_end(&w), now);
}

/* The session of cid is here (or there is none) and nobody waits for it: a shard that is not
 * its home sends it home or, when it does not outlive its connection, ends it. */
static void
xfer_settle(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now)
{
	struct mqtt_session *s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);

	if (!s || s->conn || home_of(b, cid, len) == b->conf.shard)
		return;
	mqtt_list_del(&s->offline_link);
	if (s->expiry_s == 0 || !mqtt_xfer_offline(s, now)) {
		if (s->expiry_s == 0)
			mqtt_session_free(s, now);
		else
			mqtt_list_add_tail(&b->offline, &s->offline_link);
	}
}

static struct xfer_wait *
wait_get(struct mqtt_broker *b, const uint8_t *cid, size_t len)
{
	return mqtt_dict_get(&b->xfer_wait, cid, (uint32_t)len);
}

static void
wait_end(struct mqtt_broker *b, struct xfer_wait *wt)
{
	mqtt_dict_del(&b->xfer_wait, wt->cid, wt->cid_len);
	if (wt->c)
		wt->c->xfer = NULL;
	mqtt_free(wt);
}

/* A session for our claim arrived (imported already, or none). */
static void
on_move(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now)
{
	struct xfer_wait *wt = wait_get(b, cid, len);
	struct mqtt_conn *c;

	if (!wt) {
		xfer_settle(b, cid, len, now); /* the connection gave up meanwhile */
		return;
	}
	c = wt->c;
	if (wt->pull_to >= 0 && (unsigned int)wt->pull_to != b->conf.shard) {
		/* a later claim won: pass the session on, the waiting connection lost */
		unsigned int to = (unsigned int)wt->pull_to;

		wait_end(b, wt);
		if (c)
			mqtt_conn_abandon(c);
		xfer_move(b, cid, len, to, now);
		return;
	}
	wait_end(b, wt);
	if (c) {
		c->xfer_ok = 1;
		mqtt_conn_resume(c, now);
	}
	xfer_settle(b, cid, len, now); /* refused after all, or gone */
}

/* PULL: give the session to `to`. It follows our claim number *claim (NULL: the home's own
 * claim, handled in place, which is always the pending one). */
static void
on_pull(struct mqtt_broker *b, const uint8_t *cid, size_t len, unsigned int to,
        const uint32_t *claim, uint64_t now)
{
	struct xfer_wait *wt = wait_get(b, cid, len);
	bool here = mqtt_dict_get(&b->sessions, cid, (uint32_t)len) != NULL;

	if (wt && (!claim || wt->claim == *claim)) {
		wt->pull_to = (int32_t)to; /* ours is still coming: on_move passes it on */
		return;
	}
	/* Not the pending claim: the one it follows was answered already, and whatever we did
	 * with that session since (used it, sent it home, ended it) reached the home before
	 * this answer will. A newer claim of ours waits for its own answer, which may be this
	 * very PULL (to == us), so we never hold a PULL for the wrong claim: that deadlocked two
	 * shards each holding the other's PULL. */
	if (here && to == b->conf.shard)
		return; /* asks us for what we hold */
	if (here)
		xfer_move(b, cid, len, to, now);
	else
		xfer_simple(b, XFER_MISS, home_of(b, cid, len), cid, len, to, 0, 0, now);
}

/* On the home shard: claim number `claim` of cid by shard `from` (this one included). */
static void
on_claim(struct mqtt_broker *b, const uint8_t *cid, size_t len, unsigned int from, uint32_t claim,
         uint64_t now)
{
	struct xfer_dir *d = mqtt_dict_get(&b->xfer_dir, cid, (uint32_t)len);
	unsigned int loc = d ? d->shard : b->conf.shard;
	uint32_t loc_claim = d ? d->claim : 0;

	/* from now on the session is the claimant's */
	if (from == b->conf.shard) {
		if (d) {
			mqtt_dict_del(&b->xfer_dir, cid, (uint32_t)len);
			mqtt_free(d);
		}
	} else if (d) {
		d->shard = from;
		d->claim = claim;
	} else {
		d = mqtt_alloc(sizeof(*d) + len);
		if (d) {
			d->shard = from;
			d->claim = claim;
			d->cid_len = (uint16_t)len;
			memcpy(d->cid, cid, len);
			if (mqtt_dict_put(&b->xfer_dir, d->cid, d->cid_len, d)) {
				mqtt_free(d);
				d = NULL;
			}
		}
		/* without the record a later claim finds the session here, not on `from`:
		 * only that later claim loses it */
	}
	if (loc == b->conf.shard)
		on_pull(b, cid, len, from, NULL, now);
	else
		xfer_simple(b, XFER_PULL, loc, cid, len, from, loc_claim, 0, now);
}

/* On the home shard: a session arrived (HOME) or ended (GONE) on `from`. */
static void
on_left(struct mqtt_broker *b, const uint8_t *cid, size_t len, unsigned int from)
{
	struct xfer_dir *d = mqtt_dict_get(&b->xfer_dir, cid, (uint32_t)len);

	if (d && d->shard == from) {
		mqtt_dict_del(&b->xfer_dir, cid, (uint32_t)len);
		mqtt_free(d);
	}
	/* else a claim moved it on meanwhile: a PULL is on its way to `from`, which will answer
	 * MISS, and we answer with what we hold */
}

/* ---- the move cut ----
 *
 * While a session travels from shard A to shard B, publishes are routed by replicas that learn of
 * the move one ring hop at a time. The cut makes every publish reach the session exactly once:
 * through A until the publisher's shard has seen B's routes, directly after. A keeps the
 * exported session as a stub (its plain subscriptions stay in A's trie, so A's routes stay
 * announced; no queues) that forwards every publish matching it to B (FWD, a copy). B imports
 * with `skip` = every other shard and drops direct deliveries to the session from those origins.
 * After its route announcements, B sends CUT_REQ to every other shard C on the same B->C ring,
 * so C has applied them when it answers CUT to A and to B (C = A: A cuts itself). Rings are FIFO
 * per pair: A forwards exactly what C sent it before its CUT, B drops exactly what C sent it
 * before that same CUT. B's own publishes are direct from the import on (CUT to A at import).
 * Once A has every CUT it sends DONE to B after its last FWD, frees the stub and its routes
 * are withdrawn; B's cut ends with every CUT and the DONE. FWDs are delivered by matching the
 * session's current subscriptions on B (an unsubscribe there wins). A session exported again
 * before its cut ended (a chain of moves) becomes a stub that keeps its `skip` and its upstream:
 * FWDs from upstream pass on, and it ends only after the upstream's DONE. Every cut has a
 * deadline (a lost ring message must not keep a stub for ever), swept by the tick. Cost: one
 * plain load per matched session on the publish path (s->cut), O(cuts in progress) per cut
 * message, a copy per forwarded publish while a move is in progress; no lock, no atomic. */

#define CUT_MAX_US 5000000ull /* a ring hop takes microseconds; far beyond any of them */

struct xfer_cut {
	struct mqtt_list link;  /* b->xfer_cuts, oldest first */
	struct mqtt_session *s; /* the session (or stub) moving */
	uint64_t deadline;
	uint64_t in_id;  /* the move that brought it here (0: none) */
	uint64_t skip;   /* origins whose direct deliveries here are dropped (upstream forwards) */
	int32_t up;      /* the upstream stub's shard until its DONE, or -1 */
	uint32_t to;     /* stub: the shard it forwards to */
	uint64_t out_id; /* stub: the move out */
	uint64_t fwd;    /* stub: origins whose publishes are still forwarded */
	bool stub;
	bool asked;      /* the CUT_REQs of the move in went out (after the upstream's READY) */
	bool ready_sent; /* stub: READY went downstream (our own move in is over) */
};

static uint64_t
shards_all(const struct mqtt_broker *b)
{
	unsigned int n = b->shard.n_shards;

	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

static void
cut_arm(struct mqtt_broker *b, struct xfer_cut *c, uint64_t now)
{
	c->deadline = now + CUT_MAX_US;
	mqtt_list_del(&c->link);
	mqtt_list_add_tail(&b->xfer_cuts, &c->link);
}

static struct xfer_cut *
cut_new(struct mqtt_broker *b, struct mqtt_session *s, uint64_t now)
{
	struct xfer_cut *c = mqtt_zalloc(sizeof(*c));

	if (!c)
		return NULL;
	c->s = s;
	c->up = -1;
	mqtt_list_init(&c->link);
	cut_arm(b, c, now);
	s->cut = c;
	return c;
}

void
mqtt_xfer_cut_free(struct mqtt_broker *b, struct xfer_cut *c)
{
	(void)b;
	mqtt_list_del(&c->link);
	c->s->cut = NULL;
	mqtt_free(c);
}

/* The cut ends when nothing can arrive any more that it must drop or forward. */
static void
cut_settle(struct mqtt_broker *b, struct xfer_cut *c, uint64_t now)
{
	struct mqtt_session *s = c->s;

	if (c->stub && !c->ready_sent && c->up < 0 && !c->skip) {
		/* the move that brought it here is over: the next one's cut may start */
		c->ready_sent = true;
		xfer_simple(b, XFER_READY, c->to, s->cid, s->cid_len, 0, 0, c->out_id, now);
	}
	if (c->up >= 0 || (c->stub ? c->fwd : c->skip))
		return;
	if (!c->stub) {
		mqtt_xfer_cut_free(b, c);
		return;
	}
	/* after the last FWD on the same ring */
	xfer_simple(b, XFER_DONE, c->to, s->cid, s->cid_len, 0, 0, c->out_id, now);
	mqtt_list_del(&c->link);
	mqtt_free(c);
	mqtt_stub_free(s);
}

/* Export of s to `to`: keep a stub when it has plain subscriptions (nothing to forward else),
 * and name the move in w's header. */
static bool
cut_stub(struct mqtt_broker *b, struct mqtt_session *s, unsigned int to, struct wbuf *w,
         uint64_t now)
{
	struct xfer_cut *c = s->cut;
	struct mqtt_list *pos, *tmp;
	bool plain = false;

	if (!mqtt_xfer_on(b) || to == b->conf.shard)
		return false;
	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		plain |= mqtt_container_of(pos, struct mqtt_sub, session_link)->share == NULL;
	}
	if (!plain || (!c && !(c = cut_new(b, s, now))))
		return false; /* ENOMEM: moved without a cut (the window stays open) */
	c->stub = true;
	c->to = to;
	c->out_id = (uint64_t)b->conf.shard << 32 | ++b->xfer_moves;
	c->fwd = shards_all(b);
	/* Cuts of one session run one after the other: while the move that brought it here is
	 * not over, a shard could answer the next move's CUT_REQ before this one's, and take a
	 * publish through both (found by the random schedules of test_cut_model). */
	c->ready_sent = c->up < 0 && !c->skip;
	cut_arm(b, c, now);
	((struct mqtt_xfer *)(void *)w->p)->id = c->out_id;
	((struct mqtt_xfer *)(void *)w->p)->ready = c->ready_sent;
	mqtt_session_stub(s, now);
	return true;
}

static void on_cut(struct mqtt_broker *b, uint64_t id, unsigned int origin, uint64_t now);

/* Ask every other shard for its CUT of move `id` from shard `from` (each after this shard's route
 * announcements on the same ring), and cut this shard's own publishes: CUT to `from`, and direct
 * from now on here. */
static void
cut_ask(struct mqtt_broker *b, const uint8_t *cid, size_t len, unsigned int from, uint64_t id,
        uint64_t now)
{
	for (unsigned int k = 0; k < b->shard.n_shards; k++)
		if (k != b->conf.shard)
			xfer_simple(b, XFER_CUT_REQ, k, cid, len, from, 0, id, now);
	xfer_simple(b, XFER_CUT, from, cid, len, 0, 0, id, now);
	on_cut(b, id, b->conf.shard, now);
}

/* A session arrived with a cut (x->id), imported (ok) or not: skip direct deliveries from every
 * other shard until its CUT, and ask each for it (once the upstream is READY). */
static void
cut_import(struct mqtt_broker *b, const struct mqtt_xfer *x, bool ok, uint64_t now)
{
	const uint8_t *cid = x->data;
	struct mqtt_session *s;
	struct xfer_cut *c = NULL;

	if (!x->id)
		return;
	s = ok ? mqtt_dict_get(&b->sessions, cid, x->cid_len) : NULL;
	if (s && (c = cut_new(b, s, now)) != NULL) {
		c->in_id = x->id;
		c->skip = shards_all(b); /* this shard's too, until the cut starts */
		c->up = (int32_t)x->from;
		c->asked = x->ready;
	}
	if (x->ready || !c)
		cut_ask(b, cid, x->cid_len, x->from, x->id, now);
}

/* CUT_REQ from the importer: our CUT to the stub's shard (x->to) and to the importer. */
static void
on_cut_req(struct mqtt_broker *b, const struct mqtt_xfer *x, uint64_t now)
{
	unsigned int dest[2] = {x->to, x->from};

	for (int i = 0; i < 2; i++)
		xfer_simple(b, XFER_CUT, dest[i], x->data, x->cid_len, 0, 0, x->id, now);
}

/* CUT of cut `id` from `origin`. O(cuts in progress here). */
static void
on_cut(struct mqtt_broker *b, uint64_t id, unsigned int origin, uint64_t now)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &b->xfer_cuts)
	{
		struct xfer_cut *c = mqtt_container_of(pos, struct xfer_cut, link);

		if (c->stub && c->out_id == id)
			c->fwd &= ~(1ull << origin);
		else if (c->in_id == id)
			c->skip &= ~(1ull << origin);
		else
			continue;
		cut_settle(b, c, now);
		return; /* one cut per id here */
	}
}

static struct xfer_cut *
cut_in(struct mqtt_broker *b, uint64_t id)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &b->xfer_cuts)
	{
		struct xfer_cut *c = mqtt_container_of(pos, struct xfer_cut, link);

		if (c->in_id == id)
			return c;
	}
	return NULL;
}

/* The upstream's own move in is over: this move's cut starts. */
static void
on_ready(struct mqtt_broker *b, const struct mqtt_xfer *x, uint64_t now)
{
	struct xfer_cut *c = cut_in(b, x->id);

	/* no cut: the session ended or left without one meanwhile; the upstream stub still
	 * needs the CUTs to end */
	if (!c || !c->asked) {
		if (c)
			c->asked = true;
		cut_ask(b, x->data, x->cid_len, x->from, x->id, now);
	}
}

static void
on_done(struct mqtt_broker *b, uint64_t id, uint64_t now)
{
	struct xfer_cut *c = cut_in(b, id);

	if (c) {
		c->up = -1;
		cut_settle(b, c, now);
	}
}

static void
fwd_send(struct mqtt_broker *b, struct xfer_cut *c, const struct mqtt_msg *m, uint64_t now)
{
	struct mqtt_session *s = c->s;
	struct wbuf w = xfer_begin(b, XFER_FWD, s->cid, s->cid_len, c->to);

	if (!w.err)
		((struct mqtt_xfer *)(void *)w.p)->id = c->out_id;
	w_msg(&w, m);
	xfer_send(b, c->to, xfer_end(&w), now);
}

/* A publish forwarded by the upstream stub: to the session as it subscribes now, or on. */
static void
on_fwd(struct mqtt_broker *b, const struct mqtt_xfer *x, struct rbuf *r, uint64_t now)
{
	struct xfer_cut *c = cut_in(b, x->id);
	struct mqtt_props p;
	struct mqtt_msg v;

	if (!c || !r_msg_view(r, &v, &p))
		return; /* the session ended here meanwhile */
	if (c->stub)
		fwd_send(b, c, &v, now);
	else
		mqtt_session_offer(c->s, &v, now);
}

bool
mqtt_xfer_cut_match(struct mqtt_broker *b, struct mqtt_session *s, const struct mqtt_msg *m,
                    uint64_t now)
{
	struct xfer_cut *c = s->cut;
	uint64_t bit = 1ull << (b->injecting ? b->inject_from : b->conf.shard);

	if (c->skip & bit)
		return true; /* the upstream stub forwards it */
	if (!c->stub)
		return false;
	if (c->fwd & bit)
		fwd_send(b, c, m, now);
	return true;
}

void
mqtt_xfer_tick(struct mqtt_broker *b, uint64_t now)
{
	for (int i = 0; i < TICK_SCAN && !mqtt_list_empty(&b->xfer_cuts); i++) {
		struct xfer_cut *c = mqtt_container_of(b->xfer_cuts.next, struct xfer_cut, link);

		if (c->deadline > now)
			return;
		b->stats.xfer_cuts_expired++;
		c->skip = c->fwd = 0;
		c->up = -1;
		cut_settle(b, c, now);
	}
}

uint64_t
mqtt_xfer_stub_subs(const struct mqtt_broker *b)
{
	const struct mqtt_list *pos;
	uint64_t n = 0;

	for (pos = b->xfer_cuts.next; pos != &b->xfer_cuts; pos = pos->next) {
		const struct xfer_cut *c = mqtt_container_of(pos, struct xfer_cut, link);

		n += c->stub ? c->s->n_subs : 0;
	}
	return n;
}

static void
xfer_input(struct mqtt_broker *b, const struct mqtt_xfer *x, struct rbuf *r, uint64_t now)
{
	const uint8_t *cid = x->data;
	size_t len = x->cid_len;

	switch (x->type) {
	case XFER_CLAIM:
		on_claim(b, cid, len, x->from, x->claim, now);
		break;
	case XFER_PULL:
		on_pull(b, cid, len, x->to, &x->claim, now);
		break;
	case XFER_MISS:
		/* home: what we hold (or nothing) to the claimant; for ourselves, it is here */
		if (x->to == b->conf.shard)
			on_move(b, cid, len, now);
		else
			xfer_move(b, cid, len, x->to, now);
		break;
	case XFER_MOVE:
		if (x->has_session)
			cut_import(b, x, session_import(b, cid, len, r) == 0, now);
		on_move(b, cid, len, now);
		break;
	case XFER_HOME:
		if (x->has_session)
			cut_import(b, x, session_import(b, cid, len, r) == 0, now);
		on_left(b, cid, len, x->from);
		break;
	case XFER_GONE:
		on_left(b, cid, len, x->from);
		break;
	case XFER_CUT_REQ:
		on_cut_req(b, x, now);
		break;
	case XFER_CUT:
		on_cut(b, x->id, x->from, now);
		break;
	case XFER_FWD:
		on_fwd(b, x, r, now);
		break;
	case XFER_DONE:
		on_done(b, x->id, now);
		break;
	case XFER_READY:
		on_ready(b, x, now);
		break;
	default:
		break;
	}
}

void
mqtt_broker_xfer_input(struct mqtt_broker *b, const struct mqtt_xfer *x, uint64_t now_us)
{
	struct rbuf r = {.p = x->data, .len = x->len};

	if (x->cid_len > x->len)
		return;
	r.off = x->cid_len;
	xfer_input(b, x, &r, now_us);
}

/* ---- the broker's calls ---- */

int
mqtt_xfer_connect(struct mqtt_conn *c, const uint8_t *cid, size_t len, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	unsigned int home = home_of(b, cid, len);
	struct xfer_wait *wt;

	if (mqtt_dict_get(&b->sessions, cid, (uint32_t)len))
		return 0; /* here already (a reconnect to the same shard): a local takeover */
	wt = wait_get(b, cid, len);
	if (wt) {
		/* a claim of ours is in flight: this later connection replaces the waiting one */
		if (wt->c) {
			wt->c->xfer = NULL;
			mqtt_conn_abandon(wt->c);
		}
		wt->c = c;
		c->xfer = wt;
		return 1;
	}
	if (home == b->conf.shard && !mqtt_dict_get(&b->xfer_dir, cid, (uint32_t)len))
		return 0; /* its home, and it lives nowhere else */
	wt = mqtt_alloc(sizeof(*wt) + len);
	if (!wt)
		return -ENOMEM;
	wt->c = c;
	wt->pull_to = -1;
	wt->claim = ++b->xfer_claims;
	wt->cid_len = (uint16_t)len;
	memcpy(wt->cid, cid, len);
	if (mqtt_dict_put(&b->xfer_wait, wt->cid, wt->cid_len, wt)) {
		mqtt_free(wt);
		return -ENOMEM;
	}
	c->xfer = wt;
	if (home == b->conf.shard)
		on_claim(b, cid, len, home, wt->claim, now);
	else
		xfer_simple(b, XFER_CLAIM, home, cid, len, 0, wt->claim, 0, now);
	/* on_claim may have answered at once (a MISS to ourselves): then c is resumed already */
	return c->xfer || c->xfer_ok ? 1 : 0;
}

bool
mqtt_xfer_offline(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_broker *b = s->b;
	unsigned int home = home_of(b, s->cid, s->cid_len);
	struct wbuf w;

	if (home == b->conf.shard)
		return false;
	w = xfer_begin(b, XFER_HOME, s->cid, s->cid_len, 0);
	if (!w.err)
		w.p[offsetof(struct mqtt_xfer, has_session)] = 1;
	session_export(&w, s, home, now);
	if (w.err) {
		mqtt_free(w.p);
		return false; /* stays here offline: its home learns nothing (a reconnect on
		               * another shard will not find it) */
	}
	xfer_send(b, home, xfer_end(&w), now);
	return true;
}

void
mqtt_xfer_gone(struct mqtt_session *s)
{
	struct mqtt_broker *b = s->b;
	unsigned int home;

	if (!mqtt_xfer_on(b))
		return;
	home = home_of(b, s->cid, s->cid_len);
	if (home != b->conf.shard)
		xfer_simple(b, XFER_GONE, home, s->cid, s->cid_len, 0, 0, 0, 0);
}

void
mqtt_xfer_conn_free(struct mqtt_conn *c)
{
	if (c->xfer)
		c->xfer->c = NULL; /* the claim stays: its answer must still be settled */
	c->xfer = NULL;
}

static void
free_val(void *v, void *arg)
{
	(void)arg;
	mqtt_free(v);
}

void
mqtt_xfer_fini(struct mqtt_broker *b)
{
	mqtt_dict_each(&b->xfer_dir, free_val, NULL);
	mqtt_dict_free(&b->xfer_dir);
	mqtt_dict_each(&b->xfer_wait, free_val, NULL);
	mqtt_dict_free(&b->xfer_wait);
	while (!mqtt_list_empty(&b->xfer_cuts)) {
		struct xfer_cut *c = mqtt_container_of(b->xfer_cuts.next, struct xfer_cut, link);
		struct mqtt_session *s = c->s;
		bool stub = c->stub;

		mqtt_list_del(&c->link);
		s->cut = NULL;
		mqtt_free(c);
		if (stub)
			mqtt_stub_free(s);
	}
}

/* SPDX-License-Identifier: Apache-2.0
 * mqtt broker core of one shard: connections, sessions, subscriptions, QoS flows, retained
 * messages and wills, on top of mqtt_codec (decode into views, encode headers).
 *
 * Data flow of a PUBLISH: the bytes are framed in place (or, when split across inputs,
 * accumulated into one buffer the size of the packet), decoded into views, matched against the
 * subscription trie into a per-broker scratch array (one entry per session, deduplicated by a
 * generation mark), then delivered. A QoS 0 delivery to a connection whose transport takes the
 * bytes costs no allocation: the message stays a view of the input. The first delivery that must
 * keep the message (a queue, the retained store, an output buffer) copies topic, properties
 * and payload once into a refcounted struct mqtt_msg shared by every later delivery; only the
 * per-subscriber PUBLISH header is encoded per delivery.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mqtt/mqtt_broker_pvt.h"

static void session_pump(struct mqtt_session *s, uint64_t now);
static void conn_will(struct mqtt_conn *c, uint64_t now);
static void match_collect(struct mqtt_sub *sub, void *arg);
static struct mqtt_share *share_find(struct mqtt_tnode *n, struct mqtt_str name);
static struct mqtt_share *share_get(struct mqtt_tnode *n, struct mqtt_str name, struct mqtt_str f);
static void deliver(struct mqtt_broker *b, struct mqtt_session *s, struct pubctx *pc, uint8_t qos,
                    uint8_t retain, const uint32_t *subids, uint8_t nsub, uint64_t now);
static void session_congestion(struct mqtt_session *s, uint64_t now);
static void publish_msg(struct mqtt_broker *b, struct pubctx *pc, uint64_t now);

/* ------------------------------------------------------------------------------------------ */
/* Messages */

/* The first delivery that keeps the message: a copy out of the input, or, for another shard's
 * message, a proxy of the owner's bytes (a copy only without one). Once per publish: kept out
 * of line so that deliver(), which runs per subscriber, stays small. */
static __attribute__((noinline)) struct mqtt_msg *
pub_keep(struct pubctx *pc)
{
	struct mqtt_msg *h = NULL;

	if (pc->origin)
		h = mqtt_msg_proxy_new(&pc->view, pc->origin, pc->inj->shard.ret,
		                       pc->inj->shard.ctx, pc->from);
	if (h) {
		pc->inj->stats.inject_proxies++;
		return h;
	}
	h = mqtt_msg_clone(&pc->view);
	if (h && pc->inj) {
		pc->inj->stats.inject_copies++;
		pc->inj->stats.inject_copy_bytes += pc->view.topic_len + pc->view.payload_len;
	}
	return h;
}

/* A reference the caller owns. */
static struct mqtt_msg *
pub_hold(struct pubctx *pc)
{
	if (!pc->heap && !(pc->heap = pub_keep(pc)))
		return NULL;
	return mqtt_msg_get(pc->heap);
}

static const struct mqtt_msg *
pub_msg(const struct pubctx *pc)
{
	return pc->heap ? pc->heap : &pc->view;
}

/* ------------------------------------------------------------------------------------------ */
/* Output */

static void
count_reason(struct mqtt_broker *b, uint8_t reason)
{
	if (reason >= 0x80)
		b->stats.errors_by_reason[reason - 0x80]++;
}

static void
conn_close(struct mqtt_conn *c, int abortive)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->abortive = (uint8_t)abortive;
	c->b->ops->close(c->io, abortive);
}

static bool
conn_room(const struct mqtt_conn *c, size_t n)
{
	return c->out_len == 0 || c->out_len + n <= c->b->conf.max_outbuf;
}

static int
outbuf_append(struct mqtt_conn *c, const uint8_t *p, size_t n)
{
	if (c->out_off + c->out_len + n > c->out_cap) {
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len);
			c->out_off = 0;
		}
		if (c->out_len + n > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 1024;
			while (cap < c->out_len + n)
				cap *= 2;
			uint8_t *o = mqtt_realloc(c->out, cap);
			if (!o)
				return -ENOMEM;
			c->out = o;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_off + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* Send or hold back n bytes. A failing transport closes the connection. */
static int
conn_write(struct mqtt_conn *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	struct mqtt_broker *b = c->b;

	if (c->state == CONN_CLOSING)
		return -EPIPE;
	if (c->out_len == 0) {
		ssize_t w = b->ops->send(c->io, p, n);
		if (w < 0) {
			conn_close(c, 1);
			return (int)w;
		}
		b->stats.bytes_out += (uint64_t)w;
		if ((size_t)w == n)
			return 0;
		p += w;
		n -= (size_t)w;
	}
	if (outbuf_append(c, p, n)) {
		conn_close(c, 1);
		return -ENOMEM;
	}
	return 0;
}

/* Control packets (acks, CONNACK, ...) are never dropped; a peer that sends requests without
 * reading the answers is cut off once it holds back this much. */
static int
conn_write_ctrl(struct mqtt_conn *c, const uint8_t *p, ssize_t n)
{
	if (n < 0)
		return (int)n;
	if (c->out_len + (size_t)n > c->b->conf.max_outbuf + OUTBUF_CTRL_SLACK) {
		c->b->stats.dropped_outbuf_full++;
		conn_close(c, 1);
		return -ENOBUFS;
	}
	return conn_write(c, p, (size_t)n);
}

static int
send_ack(struct mqtt_conn *c, enum mqtt_type type, uint16_t pid, uint8_t reason)
{
	uint8_t buf[8];
	return conn_write_ctrl(
	        c, buf, mqtt_encode_ack(type, pid, reason, NULL, c->version, buf, sizeof(buf)));
}

static void
send_disconnect(struct mqtt_conn *c, uint8_t reason)
{
	uint8_t buf[8];

	if (c->version == MQTT_V5 && c->state == CONN_CONNECTED)
		conn_write_ctrl(c, buf,
		                mqtt_encode_disconnect(MQTT_DISCONNECT, reason, NULL, MQTT_V5, buf,
		                                       sizeof(buf)));
}

/* The client now knows this alias (the PUBLISH that set it is on its way). */
static void
out_alias_add(struct mqtt_conn *c, const struct mqtt_msg *m, uint16_t alias)
{
	struct out_alias *oa = mqtt_alloc(sizeof(*oa) + m->topic_len);

	if (!oa)
		return;
	oa->alias = alias;
	oa->len = m->topic_len;
	memcpy(oa->topic, m->topic, m->topic_len);
	if (mqtt_dict_put(&c->out_aliases, oa->topic, oa->len, oa)) {
		mqtt_free(oa);
		return;
	}
	c->out_alias_n++;
}

static void
out_alias_free(void *v, void *arg)
{
	mqtt_free(v);
}

/* Encode and send one PUBLISH to c. Returns 0, -ENOBUFS (no room: nothing written),
 * -EMSGSIZE (over the peer's maximum packet size: dropped per spec) or another -errno. */
static int
conn_send_publish(struct mqtt_conn *c, const struct mqtt_msg *m, uint8_t qos, uint8_t retain,
                  uint8_t dup, uint16_t pid, const uint32_t *subids, uint8_t nsub, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	struct mqtt_publish pub;
	uint8_t stack[PUB_HDR_STACK], *hb = stack;
	size_t cap = sizeof(stack);
	uint16_t new_alias = 0;
	ssize_t hl;
	int r;

	/* the properties (most of the struct) are read by the encoder for v5 only */
	memset(&pub, 0, offsetof(struct mqtt_publish, props));
	pub.qos = qos;
	pub.retain = retain;
	pub.dup = dup;
	pub.packet_id = pid;
	pub.topic.p = m->topic;
	pub.topic.len = m->topic_len;
	pub.payload.p = NULL;
	pub.payload.len = m->payload_len;
	if (c->version == MQTT_V5) {
		if (m->props)
			pub.props = *m->props;
		else
			memset(&pub.props, 0, sizeof(pub.props));
		if (c->out_alias_max) {
			/* MQTT-3.1.2-26/27: only up to the client's topic alias maximum */
			struct out_alias *oa =
			        mqtt_dict_get(&c->out_aliases, m->topic, m->topic_len);
			if (oa) {
				pub.topic.len = 0;
				new_alias = 0;
			} else if (c->out_alias_n < c->out_alias_max) {
				new_alias = (uint16_t)(c->out_alias_n + 1);
			}
			if (oa || new_alias) {
				pub.props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
				pub.props.topic_alias = oa ? oa->alias : new_alias;
			}
		}
		pub.props.sub_id_count = nsub;
		pub.props.sub_id_array = nsub ? subids : NULL;
		if (m->expire_us != UINT64_MAX) {
			uint64_t left = m->expire_us > now ? m->expire_us - now : 0;
			pub.props.present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL);
			pub.props.message_expiry_interval =
			        (uint32_t)((left + US_PER_S - 1) / US_PER_S);
		}
		cap = m->topic_len + 32 + (m->props ? m->props->raw.len + 64 : 0) + 8 * MAX_SUBIDS;
		if (cap > sizeof(stack)) {
			hb = mqtt_alloc(cap);
			if (!hb)
				return -ENOMEM;
		} else {
			cap = sizeof(stack);
		}
	} else if ((size_t)m->topic_len + 16 > cap) {
		cap = (size_t)m->topic_len + 16;
		hb = mqtt_alloc(cap);
		if (!hb)
			return -ENOMEM;
	}
	hl = mqtt_encode_publish_header(&pub, c->version, hb, cap);
	if (hl < 0) {
		r = (int)hl;
	} else if ((uint64_t)hl + m->payload_len > c->peer_max_packet) {
		r = -EMSGSIZE;
	} else if (!conn_room(c, (size_t)hl + m->payload_len)) {
		r = -ENOBUFS;
	} else {
		r = conn_write(c, hb, (size_t)hl);
		if (!r && m->payload_len)
			r = conn_write(c, m->payload, m->payload_len);
		if (!r) {
			b->stats.messages_out++;
			b->stats.messages_out_qos[qos]++;
			if (new_alias)
				out_alias_add(c, m, new_alias);
		}
	}
	if (hb != stack)
		mqtt_free(hb);
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Shard hooks (issue 5, the dataplane's; see mqtt.h). Cost when no hooks are installed: a
 * NULL test per publish and per subscription change. */

/* This shard's first plain subscription to a filter appeared (add) or its last one went; or,
 * for a $share filter, the first or last member here of that group. */
static void
shard_route(struct mqtt_broker *b, const uint8_t *filter, size_t len, int add)
{
	if (b->shard.route_update)
		b->shard.route_update(b->shard.ctx, filter, len, add);
}

/* After local delivery: one reference per other shard that needs the message. */
static void
shard_forward(struct mqtt_broker *b, struct pubctx *pc)
{
	const struct mqtt_msg *m = pub_msg(pc);
	struct mqtt_msg *h;
	uint64_t shards;

	if (!b->shard.forward || b->injecting)
		return;
	shards = b->shard.route_match(b->shard.ctx, m->topic, m->topic_len, m->retain);
	if (!shards)
		return;
	h = pub_hold(pc);
	if (!h)
		return;
	for (int i = __builtin_popcountll(shards); i > 1; i--)
		mqtt_msg_get(h);
	b->shard.forward(b->shard.ctx, shards, h, h->qos);
}

/* The trie's share_remote: a group's turn is another shard's; forwarded after local delivery. */
static void
share_turn(struct mqtt_share *g, unsigned int shard, void *arg)
{
	struct mqtt_broker *b = arg;

	if (b->n_turns == b->cap_turns) {
		uint32_t cap = b->cap_turns ? b->cap_turns * 2 : 8;
		struct share_turn *t = mqtt_realloc(b->turns, cap * sizeof(*t));

		if (!t) {
			b->stats.dropped_queue_full++;
			return;
		}
		b->turns = t;
		b->cap_turns = cap;
	}
	b->turns[b->n_turns++] = (struct share_turn){g, shard};
}

static void
shard_forward_shared(struct mqtt_broker *b, struct pubctx *pc)
{
	for (uint32_t i = 0; i < b->n_turns && b->shard.forward_shared; i++) {
		struct mqtt_share *g = b->turns[i].g;
		struct mqtt_msg *h = pub_hold(pc);

		if (!h) {
			b->stats.dropped_queue_full++;
			continue;
		}
		b->shard.forward_shared(b->shard.ctx, b->turns[i].shard, h, g->name, g->name_len,
		                        g->name + g->name_len, g->filter_len);
	}
	b->n_turns = 0;
}

void
mqtt_broker_share_update(struct mqtt_broker *b, const uint8_t *filter, size_t len,
                         unsigned int shard, int add)
{
	struct mqtt_str name, f, full = {.p = filter, .len = (uint32_t)len};
	struct mqtt_tnode *n;
	struct mqtt_share *g;
	uint64_t bit = (uint64_t)1 << shard;

	if (shard >= 64 || !mqtt_filter_shared(full, &name, &f))
		return;
	n = mqtt_trie_node(&b->subs, f.p, f.len);
	if (!n)
		return; /* ENOMEM: this shard's publishes skip that shard's members */
	g = add ? share_get(n, name, f) : share_find(n, name);
	if (g && add)
		g->remote |= bit;
	else if (g)
		g->remote &= ~bit;
	if (g && !g->remote && mqtt_list_empty(&g->members)) {
		mqtt_list_del(&g->link);
		mqtt_free(g);
	}
	mqtt_trie_prune(&b->subs, n);
}

void
mqtt_broker_set_shard_ops(struct mqtt_broker *b, const struct mqtt_shard_ops *ops)
{
	if (ops)
		b->shard = *ops;
	else
		memset(&b->shard, 0, sizeof(b->shard));
}

/* A view of another shard's message: what a delivery keeps is a proxy of it (origin set: the
 * host gave its reference and takes ret) or a copy. */
static void
inject_view(struct mqtt_broker *b, struct pubctx *pc, const struct mqtt_msg *m,
            struct mqtt_msg *origin, unsigned int from)
{
	memset(pc, 0, sizeof(*pc));
	pc->view = *m;
	pc->view.refcnt = 0; /* never put: pc->heap stays NULL until a delivery holds it */
	pc->view.flags = 0;
	/* publisher ids are per shard: 0 is no session here, so no-local never misfires */
	pc->view.publisher_id = 0;
	pc->inj = b;
	if (origin && b->shard.ret && from != b->conf.shard) {
		pc->origin = origin;
		pc->from = from;
	}
}

/* The end of an inject: 1 when a proxy outlives it (its ret returns the reference), 0 when the
 * caller returns it now (no proxy, or none kept: that proxy goes without a ret). */
static int
inject_end(struct pubctx *pc)
{
	struct mqtt_msg *h = pc->heap;

	if (h && (h->flags & MQTT_MSG_PROXY) && h->refcnt == 1) {
		mqtt_free(h);
		return 0;
	}
	mqtt_msg_put(h);
	return h && (h->flags & MQTT_MSG_PROXY);
}

static int
inject_run(struct mqtt_broker *b, const struct mqtt_msg *m, struct mqtt_msg *origin,
           unsigned int from, uint64_t now_us)
{
	struct pubctx pc;

	inject_view(b, &pc, m, origin, from);
	b->injecting = true;
	b->inject_from = from;
	b->subs.share_skip = true; /* the publisher's shard chose for the shared groups */
	b->hit_congested = false;
	publish_msg(b, &pc, now_us);
	b->subs.share_skip = false;
	b->injecting = false;
	return inject_end(&pc);
}

void
mqtt_broker_inject(struct mqtt_broker *b, const struct mqtt_msg *m, uint64_t now_us)
{
	inject_run(b, m, NULL, b->conf.shard, now_us);
}

int
mqtt_broker_inject_from(struct mqtt_broker *b, struct mqtt_msg *m, unsigned int from,
                        uint64_t now_us)
{
	return inject_run(b, m, m, from, now_us);
}

int
mqtt_broker_inject_shared(struct mqtt_broker *b, struct mqtt_msg *m, unsigned int from,
                          const uint8_t *group, size_t glen, const uint8_t *filter, size_t flen,
                          uint64_t now_us)
{
	struct mqtt_str name = {.p = group, .len = (uint32_t)glen};
	struct mqtt_tnode *n = mqtt_trie_node(&b->subs, filter, flen);
	struct mqtt_share *g = n ? share_find(n, name) : NULL;
	struct pubctx pc;
	struct match *mt;

	if (!g || mqtt_list_empty(&g->members)) {
		/* its last member here left while the message travelled */
		b->stats.shared_no_member++;
		if (n)
			mqtt_trie_prune(&b->subs, n);
		return 0;
	}
	inject_view(b, &pc, m, m, from);
	b->injecting = true;
	b->hit_congested = false;
	b->match_gen++;
	b->n_match = 0;
	b->cur = &pc;
	b->subs.share_hash = 0;
	match_collect(mqtt_container_of(mqtt_share_pick(&b->subs, g), struct mqtt_sub, node_link),
	              b);
	b->cur = NULL;
	if (b->n_match) {
		mt = &b->matches[0];
		deliver(b, mt->s, &pc, mt->qos, mt->retain, mt->subids, mt->nsub, now_us);
	}
	b->n_match = 0;
	b->injecting = false;
	return inject_end(&pc);
}

void
mqtt_msg_release(struct mqtt_msg *m)
{
	mqtt_msg_put(m);
}

/* ---- end of shard hooks ---- */

/* ------------------------------------------------------------------------------------------ */
/* Sessions */

static void
dlv_free(struct mqtt_delivery *d)
{
	mqtt_msg_put(d->msg);
	mqtt_free(d);
}

static void
sub_remove(struct mqtt_broker *b, struct mqtt_sub *sub)
{
	struct mqtt_share *g = sub->share;
	struct mqtt_tnode *n = sub->node;

	if (g && g->next == &sub->node_link)
		g->next = sub->node_link.next;
	if (g)
		g->n--;
	mqtt_list_del(&sub->node_link);
	mqtt_list_del(&sub->session_link);
	sub->session->n_subs--;
	if (g && mqtt_list_empty(&g->members)) {
		shard_route(b, sub->filter, sub->filter_len, 0); /* shard hook: last member here */
		if (!g->remote) {
			mqtt_list_del(&g->link);
			mqtt_free(g);
		}
	} else if (!g && mqtt_list_empty(&n->subs)) {
		shard_route(b, sub->filter, sub->filter_len, 0); /* shard hook */
	}
	mqtt_trie_prune(&b->subs, n);
	mqtt_free(sub);
	b->subs.count--;
	b->stats.subscriptions--;
}

static struct mqtt_sub *
sub_find(struct mqtt_session *s, const uint8_t *f, size_t len)
{
	struct mqtt_list *pos, *tmp;

	/* O(subscriptions of this session) */
	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		struct mqtt_sub *sub = mqtt_container_of(pos, struct mqtt_sub, session_link);
		if (sub->filter_len == len && !memcmp(sub->filter, f, len))
			return sub;
	}
	return NULL;
}

static struct mqtt_share *
share_find(struct mqtt_tnode *n, struct mqtt_str name)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &n->shares)
	{
		struct mqtt_share *g = mqtt_container_of(pos, struct mqtt_share, link);
		if (g->name_len == name.len && !memcmp(g->name, name.p, name.len))
			return g;
	}
	return NULL;
}

static struct mqtt_share *
share_get(struct mqtt_tnode *n, struct mqtt_str name, struct mqtt_str f)
{
	struct mqtt_share *g = share_find(n, name);

	if (g)
		return g;
	g = mqtt_zalloc(sizeof(*g) + name.len + f.len);
	if (!g)
		return NULL;
	mqtt_list_init(&g->members);
	g->next = &g->members;
	g->name_len = (uint16_t)name.len;
	g->filter_len = (uint16_t)f.len;
	memcpy(g->name, name.p, name.len);
	memcpy(g->name + name.len, f.p, f.len);
	mqtt_list_add_tail(&n->shares, &g->link);
	return g;
}

/* Add or replace the subscription to e->filter. *existed tells which. */
struct mqtt_sub *
mqtt_sub_add(struct mqtt_broker *b, struct mqtt_session *s, const struct mqtt_sub_entry *e,
             uint32_t subid, bool *existed)
{
	struct mqtt_str share_name, f = e->filter;
	struct mqtt_sub *sub = sub_find(s, e->filter.p, e->filter.len);
	bool shared = mqtt_filter_shared(e->filter, &share_name, &f);
	struct mqtt_tnode *n;
	bool first;

	if (!shared)
		f = e->filter;

	*existed = sub != NULL;
	if (!sub) {
		n = mqtt_trie_node(&b->subs, f.p, f.len);
		if (!n)
			return NULL;
		first = mqtt_list_empty(&n->subs); /* shard hook */
		sub = mqtt_alloc(sizeof(*sub) + e->filter.len);
		if (!sub) {
			mqtt_trie_prune(&b->subs, n);
			return NULL;
		}
		sub->share = NULL;
		if (shared) {
			sub->share = share_get(n, share_name, f);
			if (!sub->share) {
				mqtt_free(sub);
				mqtt_trie_prune(&b->subs, n);
				return NULL;
			}
			first = sub->share->n == 0; /* the group's first member here */
			mqtt_list_add_tail(&sub->share->members, &sub->node_link);
			sub->share->n++;
		} else {
			mqtt_list_add_tail(&n->subs, &sub->node_link);
		}
		sub->node = n;
		sub->session = s;
		sub->filter_len = (uint16_t)e->filter.len;
		memcpy(sub->filter, e->filter.p, e->filter.len);
		mqtt_list_add_tail(&s->subs, &sub->session_link);
		s->n_subs++;
		b->subs.count++;
		b->stats.subscriptions++;
		if (first)
			shard_route(b, e->filter.p, e->filter.len, 1); /* shard hook */
	}
	sub->qos = e->qos;
	sub->no_local = e->no_local;
	sub->rap = e->retain_as_published;
	sub->rh = e->retain_handling;
	sub->sub_id = subid;
	return sub;
}

static void
session_drop_deliveries(struct mqtt_session *s)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &s->inflight)
	{
		mqtt_list_del(pos);
		dlv_free(mqtt_container_of(pos, struct mqtt_delivery, link));
	}
	mqtt_list_for_each_safe(pos, tmp, &s->queue)
	{
		mqtt_list_del(pos);
		dlv_free(mqtt_container_of(pos, struct mqtt_delivery, link));
	}
	s->n_inflight = s->n_queued = s->n_pending = 0;
}

/* The move cut (mqtt_xfer.c): an exported session becomes a stub that keeps only its plain
 * subscriptions, in the trie, so that this shard's routes stay announced and publishes matching
 * them still reach it (to be forwarded). Out of every list and dict but the trie. */
void
mqtt_session_stub(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_broker *b = s->b;
	struct mqtt_list *pos, *tmp;

	mqtt_msg_put(s->will);
	s->will = NULL;
	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		struct mqtt_sub *sub = mqtt_container_of(pos, struct mqtt_sub, session_link);

		if (sub->share) /* a group delivers to one member: not forwarded */
			sub_remove(b, sub);
	}
	session_drop_deliveries(s);
	s->conn = NULL;
	session_congestion(s, now);
	mqtt_list_del(&s->offline_link);
	mqtt_list_del(&s->all_link);
	mqtt_list_init(&s->all_link);
	mqtt_dict_del(&b->sessions, s->cid, s->cid_len);
	if (s->expiry_s)
		b->stats.sessions_persistent--;
	s->expiry_s = 0;
	mqtt_free(s->rx_qos2);
	s->rx_qos2 = NULL;
	s->n_rx_qos2 = s->cap_rx_qos2 = 0;
}

/* A stub's end: its subscriptions leave the trie (the routes are withdrawn if they were the
 * last here). */
void
mqtt_stub_free(struct mqtt_session *s)
{
	struct mqtt_list *pos, *tmp;

	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		sub_remove(s->b, mqtt_container_of(pos, struct mqtt_sub, session_link));
	}
	mqtt_free(s);
}

/* A message a stub forwarded: delivered as its subscriptions here match it now (an
 * unsubscribe made here since wins). O(subscriptions of the session). */
void
mqtt_session_offer(struct mqtt_session *s, const struct mqtt_msg *m, uint64_t now)
{
	struct mqtt_list *pos, *tmp;
	uint32_t subids[MAX_SUBIDS];
	uint8_t qos = 0, retain = 0, nsub = 0;
	bool hit = false;
	struct pubctx pc;

	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		const struct mqtt_sub *sub = mqtt_container_of(pos, struct mqtt_sub, session_link);

		if (sub->share ||
		    !mqtt_topic_match_ref(sub->filter, sub->filter_len, m->topic, m->topic_len))
			continue;
		if (!hit || (sub->qos < m->qos ? sub->qos : m->qos) > qos)
			qos = sub->qos < m->qos ? sub->qos : m->qos;
		hit = true;
		retain |= sub->rap ? m->retain : 0;
		if (sub->sub_id && nsub < MAX_SUBIDS)
			subids[nsub++] = sub->sub_id;
	}
	if (!hit)
		return;
	/* the bytes of a FWD, which its host frees after the call: copied if kept */
	inject_view(s->b, &pc, m, NULL, s->b->conf.shard);
	s->b->injecting = true; /* not forwarded to other shards again */
	deliver(s->b, s, &pc, qos, retain, subids, nsub, now);
	s->b->injecting = false;
	mqtt_msg_put(pc.heap);
}

/* Publish a will (the caller's reference is consumed). Its message expiry starts now. */
static void
publish_stored(struct mqtt_broker *b, struct mqtt_msg *m, uint64_t now)
{
	struct pubctx pc;

	if (m->props && MQTT_PROP_HAS(m->props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL))
		m->expire_us = now + m->props->message_expiry_interval * US_PER_S;

	memset(&pc, 0, sizeof(pc));
	pc.view = *m;
	pc.heap = m; /* the caller's reference */
	publish_msg(b, &pc, now);
	mqtt_msg_put(m);
}

static void
session_will_fire(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_msg *w = s->will;

	if (!w)
		return;
	s->will = NULL;
	s->b->stats.wills_published++;
	publish_stored(s->b, w, now);
}

struct mqtt_session *
mqtt_session_new(struct mqtt_broker *b, const uint8_t *cid, size_t len)
{
	struct mqtt_session *s = mqtt_zalloc(sizeof(*s) + len);

	if (!s)
		return NULL;
	s->b = b;
	mqtt_list_init(&s->offline_link);
	mqtt_list_add_tail(&b->sessions_all, &s->all_link);
	mqtt_list_init(&s->subs);
	mqtt_list_init(&s->inflight);
	mqtt_list_init(&s->queue);
	s->serial = ++b->serial;
	s->next_pid = 1;
	s->cid_len = (uint16_t)len;
	memcpy(s->cid, cid, len);
	if (mqtt_dict_put(&b->sessions, s->cid, s->cid_len, s)) {
		mqtt_list_del(&s->all_link);
		mqtt_free(s);
		return NULL;
	}
	return s;
}

void
mqtt_session_free(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_broker *b = s->b;
	struct mqtt_list *pos, *tmp;

	if (!b->xfer_quiet)
		mqtt_xfer_gone(s); /* its home shard forgets where it lived */
	if (s->cut)
		mqtt_xfer_cut_free(b, s->cut);

	/* v5 3.1.3.2.2: a delayed will is sent when the session ends first. */
	session_will_fire(s, now);
	mqtt_list_for_each_safe(pos, tmp, &s->subs)
	{
		sub_remove(b, mqtt_container_of(pos, struct mqtt_sub, session_link));
	}
	session_drop_deliveries(s);
	s->conn = NULL;
	session_congestion(s, now); /* offline now: no longer holds publishers */
	mqtt_list_del(&s->offline_link);
	mqtt_list_del(&s->all_link);
	mqtt_dict_del(&b->sessions, s->cid, s->cid_len);
	if (s->expiry_s)
		b->stats.sessions_persistent--;
	mqtt_free(s->rx_qos2);
	mqtt_free(s);
}

static uint16_t
session_pid(struct mqtt_session *s)
{
	/* O(inflight) per id: the window is small (max_inflight), so a scan beats a bitmap. */
	for (;;) {
		uint16_t pid = s->next_pid++;
		struct mqtt_list *pos, *tmp;
		bool used = false;

		if (s->next_pid == 0)
			s->next_pid = 1;
		mqtt_list_for_each_safe(pos, tmp, &s->inflight)
		{
			if (mqtt_container_of(pos, struct mqtt_delivery, link)->pid == pid) {
				used = true;
				break;
			}
		}
		if (!used)
			return pid;
	}
}

/* Receive maximum we advertise to v5 clients: QoS 1/2 publishes not yet acknowledged. */
static uint32_t
session_window_in(const struct mqtt_broker *b)
{
	uint32_t w = b->conf.max_inflight ? b->conf.max_inflight : 1;
	return w > UINT16_MAX ? UINT16_MAX : w;
}

static uint32_t
session_window(const struct mqtt_session *s)
{
	uint32_t w = s->b->conf.max_inflight ? s->b->conf.max_inflight : 1;

	if (s->conn && s->conn->peer_recv_max < w)
		w = s->conn->peer_recv_max;
	return w;
}

static void
release_held(struct mqtt_broker *b)
{
	struct mqtt_list *pos, *tmp;

	/* O(held acks): each is sent once */
	mqtt_list_for_each_safe(pos, tmp, &b->held_conns)
	{
		struct mqtt_conn *c = mqtt_container_of(pos, struct mqtt_conn, held_link);
		for (uint32_t i = 0; i < c->n_held; i++)
			send_ack(c, c->held[i].type, c->held[i].pid, 0);
		c->n_held = c->n_held_puback = 0;
		mqtt_list_del(&c->held_link);
	}
}

/* Watermarks: congested at half of max_queued, relieved at a quarter. */
static void
session_congestion(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_broker *b = s->b;
	bool online = s->conn && s->conn->state == CONN_CONNECTED;
	uint32_t hi = b->conf.max_queued / 2, lo = b->conf.max_queued / 4;

	if (!s->congested && online && hi && s->n_queued >= hi) {
		s->congested = 1;
		if (b->congested++ == 0)
			b->congested_since = now;
	} else if (s->congested && (!online || s->n_queued <= lo)) {
		s->congested = 0;
		if (--b->congested == 0)
			release_held(b);
	}
}

/* Acknowledge a publish now, or hold the ack while it waits behind a congested subscriber
 * (and keep later acks behind held ones, in order). */
static int
pub_ack(struct mqtt_conn *c, enum mqtt_type type, uint16_t pid)
{
	struct mqtt_broker *b = c->b;

	if ((!b->hit_congested && !c->n_held) || c->n_held >= HELD_ACKS_MAX)
		return send_ack(c, type, pid,
		                c->version == MQTT_V5 && !b->last_matched
		                        ? MQTT_RC_NO_MATCHING_SUBSCRIBERS
		                        : MQTT_RC_SUCCESS);
	if (c->n_held == c->cap_held) {
		uint32_t cap = c->cap_held ? c->cap_held * 2 : 16;
		struct held_ack *h = mqtt_realloc(c->held, cap * sizeof(*h));
		if (!h)
			return send_ack(c, type, pid, 0);
		c->held = h;
		c->cap_held = cap;
	}
	if (c->n_held == 0)
		mqtt_list_add_tail(&b->held_conns, &c->held_link);
	c->n_held_puback += type == MQTT_PUBACK;
	b->stats.acks_held++;
	c->held[c->n_held].type = (uint8_t)type;
	c->held[c->n_held++].pid = pid;
	return 0;
}

/* Send one inflight delivery's pending packet. Returns false when the transport is full. */
static bool
dlv_send(struct mqtt_session *s, struct mqtt_delivery *d, uint64_t now)
{
	struct mqtt_conn *c = s->conn;
	int r;

	if (d->state == DLV_REL) {
		if (send_ack(c, MQTT_PUBREL, d->pid, 0))
			return false;
		d->state = DLV_WAIT_COMP;
		s->n_pending--;
		return true;
	}
	r = conn_send_publish(c, d->msg, d->qos, d->retain, d->dup, d->pid, d->subids, d->nsub,
	                      now);
	if (r < 0 && r != -EMSGSIZE)
		return false;
	s->n_pending--;
	if (r == -EMSGSIZE) {
		/* v5 3.1.2.11.4: too large for this client: discarded as if delivered. */
		s->b->stats.dropped_outbuf_full++;
		mqtt_list_del(&d->link);
		s->n_inflight--;
		dlv_free(d);
		return true;
	}
	d->state = DLV_WAIT_ACK;
	d->dup = 1;
	return true;
}

/* Move deliveries onto the wire as far as the window and the transport allow.
 * Cost: O(inflight) when resends are pending, else O(messages sent). */
static void
session_pump(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_conn *c = s->conn;
	struct mqtt_list *pos, *tmp;

	if (!c || c->state != CONN_CONNECTED)
		return;
	if (s->n_pending) {
		mqtt_list_for_each_safe(pos, tmp, &s->inflight)
		{
			struct mqtt_delivery *d =
			        mqtt_container_of(pos, struct mqtt_delivery, link);
			if ((d->state == DLV_SEND || d->state == DLV_REL) && !dlv_send(s, d, now))
				goto out;
		}
	}
	while (!mqtt_list_empty(&s->queue) && s->n_inflight < session_window(s)) {
		struct mqtt_delivery *d =
		        mqtt_container_of(s->queue.next, struct mqtt_delivery, link);
		if (d->msg->expire_us <= now) {
			mqtt_list_del(&d->link);
			s->n_queued--;
			s->b->stats.dropped_expired++;
			dlv_free(d);
			continue;
		}
		mqtt_list_del(&d->link);
		s->n_queued--;
		mqtt_list_add_tail(&s->inflight, &d->link);
		s->n_inflight++;
		d->pid = session_pid(s);
		d->state = DLV_SEND;
		s->n_pending++;
		if (!dlv_send(s, d, now))
			break;
	}
out:
	if (s->congested)
		session_congestion(s, now);
}

/* QoS 0 with the header shared by all subscribers of slot k (see struct pubctx), then the
 * payload: the per-delivery cost is two writes. */
static int
send_qos0_shared(struct mqtt_conn *c, struct pubctx *pc, const struct mqtt_msg *m, int k)
{
	int16_t *hl = &pc->hdr_len[k];
	uint8_t retain = k & 1;
	int r;

	if (*hl == 0) {
		struct mqtt_publish pub;
		memset(&pub, 0, sizeof(pub));
		pub.retain = retain;
		pub.topic.p = m->topic;
		pub.topic.len = m->topic_len;
		pub.payload.len = m->payload_len;
		if (k >= 2 && m->props)
			pub.props = *m->props;
		ssize_t n = mqtt_encode_publish_header(&pub, k >= 2 ? MQTT_V5 : MQTT_V311,
		                                       pc->hdr[k], sizeof(pc->hdr[k]));
		*hl = n > 0 ? (int16_t)n : -1;
		if (n <= 0)
			return conn_send_publish(c, m, 0, retain, 0, 0, NULL, 0, 0);
	}
	if (!conn_room(c, (size_t)*hl + m->payload_len))
		return -ENOBUFS;
	r = conn_write(c, pc->hdr[k], (size_t)*hl);
	if (!r && m->payload_len)
		r = conn_write(c, m->payload, m->payload_len);
	if (!r) {
		c->b->stats.messages_out++;
		c->b->stats.messages_out_qos[0]++;
	}
	return r;
}

/* Deliver a message to one session at the given QoS. */
static void
deliver(struct mqtt_broker *b, struct mqtt_session *s, struct pubctx *pc, uint8_t qos,
        uint8_t retain, const uint32_t *subids, uint8_t nsub, uint64_t now)
{
	struct mqtt_conn *c = s->conn;
	struct mqtt_delivery *d;
	bool online = c && c->state == CONN_CONNECTED;

	if (qos == 0) {
		if (!online)
			return; /* QoS 0 is not queued for offline sessions (as Mosquitto) */
		const struct mqtt_msg *m = pub_msg(pc);
		int r;
		int k = retain + (c->version == MQTT_V5 ? 2 : 0);
		if (pc->hdr_len[k] >= 0 &&
		    (k < 2 || (!nsub && !c->out_alias_max && m->expire_us == UINT64_MAX &&
		               c->peer_max_packet == UINT32_MAX)))
			r = send_qos0_shared(c, pc, m, k);
		else
			r = conn_send_publish(c, m, 0, retain, 0, 0, subids, nsub, now);
		if (r == -ENOBUFS || r == -EMSGSIZE)
			b->stats.dropped_outbuf_full++;
		return;
	}
	if (s->n_queued >= b->conf.max_queued) {
		b->stats.dropped_queue_full++;
		if (!b->conf.queue_drop_oldest || mqtt_list_empty(&s->queue))
			return;
		d = mqtt_container_of(s->queue.next, struct mqtt_delivery, link);
		mqtt_list_del(&d->link);
		s->n_queued--;
		dlv_free(d);
	}
	d = mqtt_alloc(sizeof(*d) + nsub * sizeof(uint32_t));
	if (!d)
		return;
	d->msg = pub_hold(pc);
	if (!d->msg) {
		mqtt_free(d);
		return;
	}
	d->qos = qos;
	d->retain = retain;
	d->state = DLV_QUEUED;
	d->dup = 0;
	d->pid = 0;
	d->nsub = nsub;
	memcpy(d->subids, subids, nsub * sizeof(uint32_t));
	mqtt_list_add_tail(&s->queue, &d->link);
	s->n_queued++;
	if (online) {
		session_pump(s, now);
		session_congestion(s, now);
		b->hit_congested |= s->congested;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Routing */

static struct match *
match_slot(struct mqtt_broker *b)
{
	if (b->n_match == b->cap_match) {
		uint32_t cap = b->cap_match ? b->cap_match * 2 : 64;
		struct match *m = mqtt_realloc(b->matches, cap * sizeof(*m));
		if (!m)
			return NULL;
		b->matches = m;
		b->cap_match = cap;
	}
	return &b->matches[b->n_match++];
}

static void
match_collect(struct mqtt_sub *sub, void *arg)
{
	struct mqtt_broker *b = arg;
	const struct mqtt_msg *m = pub_msg(b->cur);
	struct mqtt_session *s = sub->session;
	uint8_t qos = sub->qos < m->qos ? sub->qos : m->qos;
	uint8_t retain = sub->rap ? m->retain : 0;
	struct match *mt;

	if (sub->no_local && s->serial == m->publisher_id)
		return;
	if (!sub->share && s->match_gen == b->match_gen) {
		/* overlapping subscriptions: one delivery at the highest QoS, every id */
		mt = &b->matches[s->match_idx];
		if (qos > mt->qos)
			mt->qos = qos;
		mt->retain |= retain;
		if (sub->sub_id && mt->nsub < MAX_SUBIDS)
			mt->subids[mt->nsub++] = sub->sub_id;
		return;
	}
	mt = match_slot(b);
	if (!mt) {
		b->stats.dropped_queue_full++;
		return;
	}
	if (!sub->share) {
		s->match_gen = b->match_gen;
		s->match_idx = (uint32_t)(mt - b->matches);
	}
	mt->s = s;
	mt->qos = qos;
	mt->retain = retain;
	mt->nsub = 0;
	if (sub->sub_id)
		mt->subids[mt->nsub++] = sub->sub_id;
}

static void
retain_store(struct mqtt_broker *b, struct pubctx *pc)
{
	const struct mqtt_msg *m = pub_msg(pc);
	struct mqtt_tnode *n = mqtt_trie_node(&b->retained, m->topic, m->topic_len);

	if (!n)
		return;
	if (n->retained) {
		mqtt_msg_put(n->retained);
		n->retained = NULL;
		b->retained.count--;
	}
	if (m->payload_len) {
		n->retained = pub_hold(pc);
		if (n->retained)
			b->retained.count++;
	}
	if (!n->retained)
		mqtt_trie_prune(&b->retained, n);
	b->stats.retained = b->retained.count;
}

/* Route a message to every matching subscription (and the retained store). Cost: O(topic levels)
 * trie nodes + O(matching subscriptions). Matches are collected first so that deliveries (which
 * may close connections) never run while the trie is being walked. */
static void
publish_msg(struct mqtt_broker *b, struct pubctx *pc, uint64_t now)
{
	const struct mqtt_msg *m = pub_msg(pc);
	uint32_t n;

	if (m->retain)
		retain_store(b, pc);
	b->match_gen++;
	b->n_match = 0;
	b->cur = pc;
	b->subs.share_hash = (uint32_t)(m->publisher_id * 0x9e3779b97f4a7c15ull >> 32);
	b->n_turns = 0;
	mqtt_trie_match(&b->subs, m->topic, m->topic_len, match_collect, b);
	b->cur = NULL;
	n = b->n_match;
	for (uint32_t i = 0; i < n; i++) {
		struct match *mt = &b->matches[i];

		/* a session moving between shards (the move cut, mqtt_xfer.c): one plain load */
		if (mt->s->cut && mqtt_xfer_cut_match(b, mt->s, pub_msg(pc), now))
			continue;
		deliver(b, mt->s, pc, mt->qos, mt->retain, mt->subids, mt->nsub, now);
	}
	b->last_matched = n + b->n_turns;
	b->n_match = 0;
	shard_forward(b, pc);        /* shard hook */
	shard_forward_shared(b, pc); /* shard hook */
}

/* ------------------------------------------------------------------------------------------ */
/* Broker */

void
mqtt_broker_conf_defaults(struct mqtt_broker_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_packet_size = 16u << 20;
	conf->max_inflight = 32;
	conf->max_queued = 1000;
	conf->max_outbuf = 256u << 10;
	conf->retry_interval_us = 0;
	conf->shard = 0;
	conf->connect_timeout_us = 10 * US_PER_S;
	conf->topic_alias_max = 16;
	conf->queue_drop_oldest = 0;
	conf->max_keepalive = 0;
	conf->max_topic_length = 65535;
	strcpy(conf->response_info, "$response/");
}

static void
clamp_limits(struct mqtt_broker_conf *c)
{
	if (c->max_packet_size == 0 || c->max_packet_size > MQTT_MAX_REMAINING_LEN + 5)
		c->max_packet_size = MQTT_MAX_REMAINING_LEN + 5;
}

void
mqtt_broker_set_limits(struct mqtt_broker *b, const struct mqtt_broker_conf *conf)
{
	b->conf.max_packet_size = conf->max_packet_size;
	b->conf.max_inflight = conf->max_inflight;
	b->conf.max_queued = conf->max_queued;
	b->conf.connect_timeout_us = conf->connect_timeout_us;
	b->conf.max_keepalive = conf->max_keepalive;
	b->conf.min_keepalive = conf->min_keepalive;
	b->conf.max_subscriptions = conf->max_subscriptions;
	b->conf.max_topic_length = conf->max_topic_length;
	b->conf.max_topic_levels = conf->max_topic_levels;
	clamp_limits(&b->conf);
}

struct mqtt_broker *
mqtt_broker_create(const struct mqtt_broker_conf *conf, const struct mqtt_transport_ops *ops)
{
	struct mqtt_broker *b;

	if (!conf || !ops || !ops->send || !ops->close) {
		errno = EINVAL;
		return NULL;
	}
	b = mqtt_zalloc(sizeof(*b));
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	b->conf = *conf;
	clamp_limits(&b->conf);
	b->ops = ops;
	mqtt_dict_init(&b->sessions);
	mqtt_dict_init(&b->xfer_dir);
	mqtt_dict_init(&b->xfer_wait);
	mqtt_list_init(&b->xfer_cuts);
	mqtt_list_init(&b->conns);
	mqtt_list_init(&b->offline);
	mqtt_list_init(&b->sessions_all);
	mqtt_list_init(&b->held_conns);
	if (mqtt_trie_init(&b->subs) || mqtt_trie_init(&b->retained)) {
		mqtt_trie_free(&b->retained);
		mqtt_trie_free(&b->subs);
		mqtt_free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->subs.share_policy = b->conf.share_policy;
	b->subs.self_shard = b->conf.shard;
	b->subs.share_remote = share_turn;
	return b;
}

static void conn_free(struct mqtt_conn *c);

void
mqtt_broker_destroy(struct mqtt_broker *b)
{
	struct mqtt_list *pos, *tmp;

	if (!b)
		return;
	/* nothing is sent to other shards from here on */
	memset(&b->shard, 0, sizeof(b->shard));
	mqtt_list_for_each_safe(pos, tmp, &b->conns)
	{
		struct mqtt_conn *c = mqtt_container_of(pos, struct mqtt_conn, link);
		if (c->s)
			c->s->conn = NULL;
		conn_free(c);
	}
	mqtt_list_for_each_safe(pos, tmp, &b->sessions_all)
	{
		struct mqtt_session *s = mqtt_container_of(pos, struct mqtt_session, all_link);
		/* no wills at teardown: nobody is left to receive them */
		mqtt_msg_put(s->will);
		s->will = NULL;
		mqtt_session_free(s, 0);
	}
	mqtt_xfer_fini(b);
	mqtt_dict_free(&b->sessions);
	mqtt_trie_free(&b->subs);
	mqtt_trie_free(&b->retained);
	mqtt_free(b->matches);
	mqtt_free(b->turns);
	mqtt_free(b);
}

const struct mqtt_stats *
mqtt_broker_stats(const struct mqtt_broker *b)
{
	return &b->stats;
}

/* Examine at most TICK_SCAN offline sessions, rotating through the list: each is seen once
 * every (offline / TICK_SCAN) ticks. */
void
mqtt_broker_tick(struct mqtt_broker *b, uint64_t now_us)
{
	/* A subscriber that stays congested must not stall publishers for ever: after a while
	 * their acks go out and its queue overflows (counted) instead. */
	if (b->congested && now_us - b->congested_since > HELD_ACKS_MAX_US) {
		release_held(b);
		b->congested_since = now_us;
	}
	mqtt_xfer_tick(b, now_us);
	for (int i = 0; i < TICK_SCAN && !mqtt_list_empty(&b->offline); i++) {
		struct mqtt_session *s =
		        mqtt_container_of(b->offline.next, struct mqtt_session, offline_link);
		if (s->will && s->will_at <= now_us)
			session_will_fire(s, now_us);
		if (s->expire_at <= now_us) {
			b->stats.sessions_expired++;
			mqtt_session_free(s, now_us);
			continue;
		}
		mqtt_list_del(&s->offline_link);
		mqtt_list_add_tail(&b->offline, &s->offline_link);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

static void
conn_touch(struct mqtt_conn *c, uint64_t now)
{
	if (c->state == CONN_CONNECTED)
		c->deadline =
		        c->keepalive ? now + (uint64_t)c->keepalive * US_PER_S * 3 / 2 : UINT64_MAX;
}

struct mqtt_conn *
mqtt_conn_open(struct mqtt_broker *b, void *io, uint64_t now_us)
{
	struct mqtt_conn *c = mqtt_zalloc(sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->b = b;
	c->io = io;
	c->state = CONN_NEW;
	c->version = MQTT_V311;
	c->peer_recv_max = UINT16_MAX;
	c->peer_max_packet = UINT32_MAX;
	c->max_packet_in = b->conf.max_packet_size;
	c->recv_max_in = (uint16_t)session_window_in(b);
	c->deadline = b->conf.connect_timeout_us ? now_us + b->conf.connect_timeout_us : UINT64_MAX;
	mqtt_list_init(&c->held_link);
	mqtt_dict_init(&c->out_aliases);
	mqtt_list_add_tail(&b->conns, &c->link);
	return c;
}

static void
conn_free(struct mqtt_conn *c)
{
	mqtt_xfer_conn_free(c);
	mqtt_list_del(&c->link);
	mqtt_list_del(&c->held_link);
	mqtt_free(c->held);
	mqtt_dict_each(&c->out_aliases, out_alias_free, NULL);
	mqtt_dict_free(&c->out_aliases);
	if (c->aliases) {
		for (uint32_t i = 0; i < c->b->conf.topic_alias_max; i++)
			mqtt_free(c->aliases[i].p);
		mqtt_free(c->aliases);
	}
	mqtt_msg_put(c->will);
	mqtt_free(c->in);
	mqtt_free(c->out);
	mqtt_free(c->parked);
	mqtt_free(c->auth_method);
	mqtt_free(c->auth_data);
	mqtt_free(c);
}

/* A protocol violation: answer per the spec, close, count. Returns err for the caller. */
static int
conn_fail(struct mqtt_conn *c, uint8_t reason, int err)
{
	struct mqtt_broker *b = c->b;

	if (reason == MQTT_RC_MALFORMED_PACKET)
		b->stats.malformed_packets++;
	else if (reason != MQTT_RC_MESSAGE_RATE_TOO_HIGH && reason != MQTT_RC_QUOTA_EXCEEDED)
		b->stats.protocol_errors++; /* host limits are counted by reason only */
	count_reason(b, reason);
	if (c->state == CONN_CONNECTED) {
		send_disconnect(c, reason);
	} else if ((c->state == CONN_NEW || c->state == CONN_AUTH_EXCH) && c->version == MQTT_V5) {
		uint8_t buf[8];
		conn_write_ctrl(c, buf,
		                mqtt_encode_connack(0, reason, NULL, MQTT_V5, buf, sizeof(buf)));
	}
	conn_close(c, 0);
	return err;
}

/* The session has no connection any more: unacknowledged packets are resent, with DUP, on the
 * next one. */
static void
session_unbind(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_list *pos, *tmp;

	s->conn = NULL;
	session_congestion(s, now);
	/* Unacknowledged packets are resent, with DUP, on the next connection. */
	mqtt_list_for_each_safe(pos, tmp, &s->inflight)
	{
		struct mqtt_delivery *d = mqtt_container_of(pos, struct mqtt_delivery, link);
		if (d->state == DLV_WAIT_ACK) {
			d->state = DLV_SEND;
			s->n_pending++;
		} else if (d->state == DLV_WAIT_COMP) {
			d->state = DLV_REL;
			s->n_pending++;
		}
	}
}

static void
session_detach(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_broker *b = s->b;

	session_unbind(s, now);
	if (s->expiry_s == 0) {
		mqtt_session_free(s, now);
		return;
	}
	s->expire_at = s->expiry_s == UINT32_MAX ? UINT64_MAX : now + s->expiry_s * US_PER_S;
	if (mqtt_xfer_on(b) && mqtt_xfer_offline(s, now))
		return; /* shipped to its home shard */
	mqtt_list_add_tail(&b->offline, &s->offline_link);
}

/* End the session's connection with `reason` (its will due); the session stays, unbound. */
static void
session_kick(struct mqtt_session *s, uint8_t reason, uint64_t now)
{
	struct mqtt_conn *old = s->conn;

	if (!old)
		return;
	count_reason(s->b, reason);
	if (old->state == CONN_CONNECTED)
		send_disconnect(old, reason);
	conn_close(old, 0);
	conn_will(old, now);
	old->s = NULL;
	session_unbind(s, now);
}

void
mqtt_session_takeover(struct mqtt_session *s, uint64_t now)
{
	if (s->conn)
		s->b->stats.takeovers++;
	session_kick(s, MQTT_RC_SESSION_TAKEN_OVER, now);
}

/* The connection's will becomes due: published now, or parked in the session (v5 delay). */
static void
conn_will(struct mqtt_conn *c, uint64_t now)
{
	struct mqtt_msg *w = c->will;
	struct mqtt_session *s = c->s;

	if (!w || !c->will_due)
		return;
	c->will = NULL;
	if (c->will_delay_s && s && s->expiry_s) {
		mqtt_msg_put(s->will);
		s->will = w;
		s->will_at = now + c->will_delay_s * US_PER_S;
		return;
	}
	c->b->stats.wills_published++;
	publish_stored(c->b, w, now);
}

void
mqtt_conn_closed(struct mqtt_conn *c, uint64_t now_us)
{
	struct mqtt_broker *b = c->b;

	if (c->counted)
		b->stats.connections_current--;
	conn_will(c, now_us);
	if (c->s)
		session_detach(c->s, now_us);
	c->s = NULL;
	conn_free(c);
}

uint64_t
mqtt_conn_deadline(const struct mqtt_conn *c)
{
	return c->state == CONN_CLOSING ? UINT64_MAX : c->deadline;
}

void
mqtt_conn_timeout(struct mqtt_conn *c, uint64_t now_us)
{
	if (c->state == CONN_CLOSING || now_us < c->deadline)
		return;
	if (c->state == CONN_CONNECTED) {
		c->b->stats.keepalive_timeouts++;
		count_reason(c->b, MQTT_RC_KEEP_ALIVE_TIMEOUT);
		send_disconnect(c, MQTT_RC_KEEP_ALIVE_TIMEOUT);
	}
	conn_close(c, 0);
}

void
mqtt_conn_writable(struct mqtt_conn *c, uint64_t now_us)
{
	struct mqtt_broker *b = c->b;

	/* after a graceful close the held bytes still go out (a DISCONNECT with its reason) */
	while (c->out_len && !(c->state == CONN_CLOSING && c->abortive)) {
		ssize_t w = b->ops->send(c->io, c->out + c->out_off, c->out_len);
		if (w < 0) {
			conn_close(c, 1);
			return;
		}
		if (w == 0)
			return;
		b->stats.bytes_out += (uint64_t)w;
		c->out_off += (size_t)w;
		c->out_len -= (size_t)w;
	}
	if (c->out_len == 0 && c->out) {
		/* buffers exist only while data is in flight */
		mqtt_free(c->out);
		c->out = NULL;
		c->out_cap = c->out_off = 0;
	}
	if (c->s)
		session_pump(c->s, now_us);
}

void
mqtt_broker_set_hooks(struct mqtt_broker *b, const struct mqtt_hooks *hooks)
{
	if (hooks)
		b->hooks = *hooks;
	else
		memset(&b->hooks, 0, sizeof(b->hooks));
}

void *
mqtt_conn_io(const struct mqtt_conn *c)
{
	return c->io;
}

static int conn_packet(struct mqtt_conn *c, const uint8_t *buf, size_t len, uint64_t now);
static int connack_refuse(struct mqtt_conn *c, uint8_t v5_reason, int err);
static int conn_fail(struct mqtt_conn *c, uint8_t reason, int err);
static int auth_step(struct mqtt_conn *c, int step, struct mqtt_str method, struct mqtt_str data);

void
mqtt_conn_resume(struct mqtt_conn *c, uint64_t now_us)
{
	uint8_t *parked = c->parked;
	uint32_t n = c->parked_connect, total = c->parked_len;

	if (c->state != CONN_AUTH)
		return;
	c->parked = NULL;
	c->parked_connect = c->parked_len = 0;
	c->state = CONN_NEW;
	/* CONN_NEW with state kept: on_connect skips what was settled (auth_ok, xfer_ok) */
	if (conn_packet(c, parked, n, now_us) == 0 && total > n) {
		c->b->stats.bytes_in -= total - n; /* counted when they arrived */
		mqtt_conn_input(c, parked + n, total - n, now_us);
	}
	mqtt_free(parked);
}

void
mqtt_conn_abandon(struct mqtt_conn *c)
{
	if (c->state != CONN_CLOSING)
		conn_close(c, 0);
}

void
mqtt_conn_auth_done(struct mqtt_conn *c, uint8_t reason, uint64_t now_us)
{
	if (c->state != CONN_AUTH || c->auth_ok || c->xfer)
		return; /* not waiting for a login (maybe for its session: mqtt_xfer.c) */
	if (reason) {
		mqtt_free(c->parked);
		c->parked = NULL;
		c->parked_connect = c->parked_len = 0;
		c->state = CONN_NEW;
		connack_refuse(c, reason, -EACCES);
		return;
	}
	c->auth_ok = 1;
	mqtt_conn_resume(c, now_us);
}

/* Test support: recount every session's lists and the trie against the counters kept on the
 * fast path. O(everything); never called by a host. */
int
mqtt_broker_verify(struct mqtt_broker *b)
{
	struct mqtt_list *pos, *tmp, *p2, *t2;
	uint64_t subs = 0, persistent = 0;
	uint32_t congested = 0;

	mqtt_list_for_each_safe(pos, tmp, &b->sessions_all)
	{
		struct mqtt_session *s = mqtt_container_of(pos, struct mqtt_session, all_link);
		uint32_t inflight = 0, queued = 0, pending = 0;
		mqtt_list_for_each_safe(p2, t2, &s->inflight)
		{
			struct mqtt_delivery *d = mqtt_container_of(p2, struct mqtt_delivery, link);
			inflight++;
			pending += d->state == DLV_SEND || d->state == DLV_REL;
			if (d->state == DLV_QUEUED || (!d->msg && d->state <= DLV_WAIT_ACK))
				return -EFAULT;
		}
		mqtt_list_for_each_safe(p2, t2, &s->queue)
		{
			queued++;
		}
		mqtt_list_for_each_safe(p2, t2, &s->subs)
		{
			subs++;
		}
		if (inflight != s->n_inflight || queued != s->n_queued || pending != s->n_pending)
			return -EFAULT;
		if (s->conn && s->conn->s != s)
			return -EFAULT;
		if (mqtt_dict_get(&b->sessions, s->cid, s->cid_len) != s)
			return -EFAULT;
		persistent += s->expiry_s != 0;
		congested += s->congested;
	}
	subs += mqtt_xfer_stub_subs(b);
	if (subs != b->stats.subscriptions || subs != b->subs.count ||
	    persistent != b->stats.sessions_persistent || congested != b->congested ||
	    b->retained.count != b->stats.retained)
		return -EFAULT;
	return 0;
}

size_t
mqtt_conn_pending(const struct mqtt_conn *c)
{
	return c->out_len;
}

/* ------------------------------------------------------------------------------------------ */
/* Packets */

/* Keep the CONNECT (the decoded views point into input we do not own) until the host answers
 * through mqtt_conn_auth_done(). */
static int
conn_park(struct mqtt_conn *c, const struct mqtt_connect *cp)
{
	(void)cp;
	c->parked = mqtt_alloc(c->b->cur_pkt_len);
	if (!c->parked)
		return connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, -ENOMEM);
	memcpy(c->parked, c->b->cur_pkt, c->b->cur_pkt_len);
	c->parked_connect = c->parked_len = c->b->cur_pkt_len;
	c->state = CONN_AUTH;
	return 0;
}

static int
send_auth(struct mqtt_conn *c, uint8_t reason, const uint8_t *data, size_t dlen)
{
	struct mqtt_props p;
	uint8_t buf[512];

	memset(&p, 0, sizeof(p));
	p.present = MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_METHOD);
	p.authentication_method.p = c->auth_method;
	p.authentication_method.len = c->auth_method_len;
	if (dlen) {
		p.present |= MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_DATA);
		p.authentication_data.p = data;
		p.authentication_data.len = (uint32_t)dlen;
	}
	return conn_write_ctrl(
	        c, buf, mqtt_encode_disconnect(MQTT_AUTH, reason, &p, MQTT_V5, buf, sizeof(buf)));
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = mqtt_alloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* One step of the v5 AUTH exchange (step 0 CONNECT, 1 AUTH 0x18, 2 AUTH 0x19). On success of
 * step 0 returns 0 with c->auth_ok set (the CONNECT goes on); a challenge parks the CONNECT in
 * CONN_AUTH_EXCH; step 1 success resumes the parked CONNECT. */
static int
auth_step(struct mqtt_conn *c, int step, struct mqtt_str method, struct mqtt_str data)
{
	struct mqtt_broker *b = c->b;
	uint8_t out[256];
	size_t olen = sizeof(out);
	int r;

	if (step == 0) {
		mqtt_free(c->auth_method);
		c->auth_method = dup_bytes(method.p, method.len);
		c->auth_method_len = (uint16_t)method.len;
		if (!c->auth_method)
			return connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, -ENOMEM);
	} else if (method.len != c->auth_method_len ||
	           memcmp(method.p, c->auth_method, method.len)) {
		return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG); /* MQTT-4.12.0-5 */
	}
	r = b->hooks.auth(b->hooks.ctx, c, step, method.p, method.len, data.p, data.len, out,
	                  &olen);
	if (olen > sizeof(out))
		olen = 0;
	if (r == MQTT_RC_CONTINUE_AUTHENTICATION) {
		if (step == 0) {
			int pr = conn_park(c, NULL);
			if (pr)
				return pr;
			c->state = CONN_AUTH_EXCH;
		}
		return send_auth(c, MQTT_RC_CONTINUE_AUTHENTICATION, out, olen);
	}
	if (r) {
		uint8_t reason = r >= 0x80 && r < 0x100 ? (uint8_t)r : MQTT_RC_NOT_AUTHORIZED;
		if (step == 2)
			return conn_fail(c, reason, -EACCES);
		c->state = CONN_NEW; /* CONNACK, not DISCONNECT */
		return connack_refuse(c, reason, -EACCES);
	}
	if (step == 2)
		return send_auth(c, MQTT_RC_SUCCESS, out, olen);
	mqtt_free(c->auth_data);
	c->auth_data = olen ? dup_bytes(out, olen) : NULL;
	c->auth_data_len = c->auth_data ? (uint16_t)olen : 0;
	c->auth_ok = 1;
	if (step == 1) {
		/* resume the CONNECT kept at step 0 */
		uint8_t *parked = c->parked;
		uint32_t n = c->parked_connect;
		c->parked = NULL;
		c->parked_connect = c->parked_len = 0;
		c->state = CONN_NEW;
		r = conn_packet(c, parked, n, b->now_hint);
		mqtt_free(parked);
		return r;
	}
	return 0;
}

/* Refuse a CONNECT: CONNACK with the reason (3.x: the matching return code), session present 0
 * (MQTT-3.2.2-4), then close (MQTT-3.2.2-5). */
static int
connack_refuse(struct mqtt_conn *c, uint8_t v5_reason, int err)
{
	/* A reason a host hook passed that CONNACK cannot carry (v5 3.2.2.2) becomes 0x80, so the
	 * client always gets a CONNACK it can decode. */
	static const uint8_t connack_ok[] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
	                                     0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95,
	                                     0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f};
	uint8_t buf[8];
	uint8_t code;

	if (!memchr(connack_ok, v5_reason, sizeof(connack_ok)))
		v5_reason = MQTT_RC_UNSPECIFIED_ERROR;
	code = c->version == MQTT_V5 ? v5_reason : mqtt_connack_v3_code(v5_reason);

	c->b->stats.protocol_errors++;
	count_reason(c->b, v5_reason);
	conn_write_ctrl(c, buf, mqtt_encode_connack(0, code, NULL, c->version, buf, sizeof(buf)));
	conn_close(c, 0);
	return err;
}

static int
on_connect(struct mqtt_conn *c, const struct mqtt_connect *cp, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	struct mqtt_str cid = cp->client_id;
	struct mqtt_session *s;
	struct mqtt_props ack;
	char assigned[48];
	uint8_t buf[512];
	char rinfo[192];
	bool present = false;
	uint32_t expiry;

	c->version = cp->protocol_level;
	memset(&ack, 0, sizeof(ack));
	if (c->version == MQTT_V5 && MQTT_PROP_HAS(&cp->props, MQTT_PROP_AUTHENTICATION_METHOD) &&
	    !c->auth_ok) {
		int r;
		if (!b->hooks.auth) /* MQTT-4.12.0-1 */
			return connack_refuse(c, MQTT_RC_BAD_AUTHENTICATION_METHOD, -EACCES);
		r = auth_step(c, 0, cp->props.authentication_method, cp->props.authentication_data);
		if (r || !c->auth_ok)
			return r; /* refused, or an AUTH challenge is on its way */
	}
	if ((cid.len == 0 &&
	     (c->version == MQTT_V31 || (c->version == MQTT_V311 && !cp->clean_start))) ||
	    (c->version == MQTT_V31 && cid.len > V31_MAX_CLIENT_ID)) {
		/* MQTT-3.1.3-8: an empty id needs clean session; 3.1 allows 1..23 bytes */
		return connack_refuse(c, MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID, -EINVAL);
	}
	if (cp->will_flag && b->hooks.acl &&
	    b->hooks.acl(b->hooks.ctx, c, 1, cp->will_topic.p, cp->will_topic.len))
		return connack_refuse(c, MQTT_RC_NOT_AUTHORIZED, -EACCES);
	if (b->hooks.connect && !c->auth_ok) {
		int r = b->hooks.connect(
		        b->hooks.ctx, c, cid.p, cid.len, cp->username_flag ? cp->username.p : NULL,
		        cp->username.len, cp->password_flag ? cp->password.p : NULL,
		        cp->password.len);
		if (r == -EINPROGRESS)
			return conn_park(c, cp);
		if (r)
			return connack_refuse(
			        c, r > 0 && r < 0x100 ? (uint8_t)r : MQTT_RC_NOT_AUTHORIZED,
			        -EACCES);
		c->auth_ok =
		        1; /* a CONNECT resumed later (session transfer) is not checked twice */
	}
	if (cid.len == 0) {
		/* MQTT-3.1.3-6 / v5 3.2.2.3.7: a unique id assigned by the server */
		int n;
		/* with shards, an id whose home is this shard: no claim to make, and its session
		 * stays here (N tries expected) */
		do
			n = snprintf(assigned, sizeof(assigned), "tachyon-%u-%llu", b->conf.shard,
			             (unsigned long long)++b->assigned);
		while (mqtt_xfer_on(b) && mqtt_client_home((const uint8_t *)assigned, (size_t)n,
		                                           b->shard.n_shards) != b->conf.shard);
		cid.p = (const uint8_t *)assigned;
		cid.len = (uint32_t)n;
		if (c->version == MQTT_V5) {
			ack.present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER);
			ack.assigned_client_identifier = cid;
		}
	}
	if (mqtt_xfer_on(b) && !c->xfer_ok) {
		/* the session may live on another shard: park until it is here (mqtt_xfer.c) */
		int r = mqtt_xfer_connect(c, cid.p, cid.len, now);
		if (r < 0)
			return connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, r);
		if (r > 0)
			return conn_park(c, cp);
	}
	if (c->version == MQTT_V5) {
		expiry = cp->props.session_expiry_interval; /* 0 when absent */
		if (MQTT_PROP_HAS(&cp->props, MQTT_PROP_RECEIVE_MAXIMUM))
			c->peer_recv_max = cp->props.receive_maximum;
		if (MQTT_PROP_HAS(&cp->props, MQTT_PROP_MAXIMUM_PACKET_SIZE))
			c->peer_max_packet = cp->props.maximum_packet_size;
		/* our aliases towards the client: its maximum, capped by ours */
		c->out_alias_max = cp->props.topic_alias_maximum < b->conf.topic_alias_max
		                           ? cp->props.topic_alias_maximum
		                           : b->conf.topic_alias_max;
	} else {
		expiry = cp->clean_start ? 0 : UINT32_MAX;
	}
	c->keepalive = cp->keep_alive;
	if ((b->conf.max_keepalive && (c->keepalive > b->conf.max_keepalive || !c->keepalive)) ||
	    (c->keepalive && c->keepalive < b->conf.min_keepalive)) {
		/* Outside the bounds (0 is unbounded, so above any maximum). v5: MQTT-3.2.2-21/22,
		 * the client uses our Server Keep Alive. 3.1.1 cannot tell the client another
		 * value: refused as Mosquitto 2 does (CONNACK 0x02). */
		if (c->version != MQTT_V5)
			return connack_refuse(c, MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID, -EINVAL);
		c->keepalive = c->keepalive && c->keepalive < b->conf.min_keepalive
		                       ? b->conf.min_keepalive
		                       : b->conf.max_keepalive;
		ack.present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE);
		ack.server_keep_alive = c->keepalive;
		b->stats.keepalive_adjusted++;
	}

	s = mqtt_dict_get(&b->sessions, cid.p, cid.len);
	if (s && s->conn) {
		/* MQTT-3.1.4-2 takeover: the old connection goes (its will is due), v5 with 0x8E;
		 * its unacknowledged deliveries are resent to the new connection */
		mqtt_session_takeover(s, now);
		if (s->expiry_s == 0) {
			b->xfer_quiet = true; /* replaced at once */
			mqtt_session_free(s, now);
			b->xfer_quiet = false;
			s = NULL;
		} else {
			mqtt_list_add_tail(&b->offline, &s->offline_link);
		}
	}
	if (s && cp->clean_start) {
		b->xfer_quiet = true; /* replaced at once: its home shard's record stays right */
		mqtt_session_free(s, now);
		b->xfer_quiet = false;
		s = NULL;
	}
	if (s) {
		present = true;
		mqtt_list_del(&s->offline_link);
		/* v5 3.1.3.2.2: reconnecting before the will delay cancels the will */
		mqtt_msg_put(s->will);
		s->will = NULL;
		if (s->expiry_s)
			b->stats.sessions_persistent--;
	} else {
		s = mqtt_session_new(b, cid.p, cid.len);
		if (!s)
			return connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, -ENOMEM);
	}
	s->expiry_s = expiry;
	if (expiry)
		b->stats.sessions_persistent++;
	s->conn = c;
	c->s = s;

	if (cp->will_flag) {
		struct mqtt_msg v = {
		        .qos = cp->will_qos,
		        .retain = cp->will_retain,
		        .topic = cp->will_topic.p,
		        .topic_len = (uint16_t)cp->will_topic.len,
		        .payload = cp->will_payload.p,
		        .payload_len = cp->will_payload.len,
		        .expire_us = UINT64_MAX,
		        .publisher_id = s->serial,
		};
		if (c->version == MQTT_V5) {
			if (cp->will_props.present || cp->will_props.user_count)
				v.props = (struct mqtt_props *)&cp->will_props;
			c->will_delay_s = cp->will_props.will_delay_interval;
		}
		c->will = mqtt_msg_clone(&v);
		c->will_due = 1;
	}

	c->state = CONN_CONNECTED;
	c->counted = 1;
	b->stats.connections_current++;
	b->stats.connections_total++;
	conn_touch(c, now);
	if (c->version == MQTT_V5) {
		ack.present |= MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
		               MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
		               MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
		ack.maximum_packet_size = c->max_packet_in;
		if (c->auth_method) { /* MQTT-4.12.0-5 */
			ack.present |= MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_METHOD);
			ack.authentication_method.p = c->auth_method;
			ack.authentication_method.len = c->auth_method_len;
			if (c->auth_data_len) {
				ack.present |= MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_DATA);
				ack.authentication_data.p = c->auth_data;
				ack.authentication_data.len = c->auth_data_len;
			}
		}
		/* the same window as ours towards the client; it is what makes held acks
		 * throttle a v5 publisher */
		ack.receive_maximum = c->recv_max_in;
		ack.topic_alias_maximum = b->conf.topic_alias_max;
		if (!ack.topic_alias_maximum)
			ack.present &= ~MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
		if (cp->props.request_response_information == 1 && b->conf.response_info[0]) {
			/* MQTT-3.1.2-28 permits it only when asked; too long an id: none (allowed,
			 * the Server MAY send it) */
			int n = snprintf(rinfo, sizeof(rinfo), "%.*s%.*s/",
			                 (int)sizeof(b->conf.response_info), b->conf.response_info,
			                 (int)s->cid_len, (const char *)s->cid);
			if (n > 0 && (size_t)n < sizeof(rinfo)) {
				ack.present |= MQTT_PROP_BIT(MQTT_PROP_RESPONSE_INFORMATION);
				ack.response_information.p = (const uint8_t *)rinfo;
				ack.response_information.len = (uint32_t)n;
			}
		}
	}
	if (conn_write_ctrl(c, buf,
	                    mqtt_encode_connack(present, 0, &ack, c->version, buf, sizeof(buf))))
		return 0;
	session_pump(s, now);
	return 0;
}

static bool
rx_qos2_has(struct mqtt_session *s, uint16_t pid, bool remove)
{
	/* O(ids awaiting PUBREL): a client keeps few QoS 2 messages open at once */
	for (uint32_t i = 0; i < s->n_rx_qos2; i++) {
		if (s->rx_qos2[i] == pid) {
			if (remove)
				s->rx_qos2[i] = s->rx_qos2[--s->n_rx_qos2];
			return true;
		}
	}
	return false;
}

static int
rx_qos2_add(struct mqtt_session *s, uint16_t pid)
{
	if (s->n_rx_qos2 == s->cap_rx_qos2) {
		uint32_t cap = s->cap_rx_qos2 ? s->cap_rx_qos2 * 2 : 8;
		uint16_t *a = mqtt_realloc(s->rx_qos2, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->rx_qos2 = a;
		s->cap_rx_qos2 = cap;
	}
	s->rx_qos2[s->n_rx_qos2++] = pid;
	return 0;
}

/* v5 topic alias: resolve or record. Returns 0 or a reason code. */
static uint8_t
conn_alias(struct mqtt_conn *c, struct mqtt_publish *p)
{
	uint16_t a = p->props.topic_alias;
	struct topic_alias *ta;

	if (!MQTT_PROP_HAS(&p->props, MQTT_PROP_TOPIC_ALIAS))
		return p->topic.len ? 0 : MQTT_RC_PROTOCOL_ERROR;
	if (a == 0 || a > c->b->conf.topic_alias_max)
		return MQTT_RC_TOPIC_ALIAS_INVALID;
	if (!c->aliases) {
		c->aliases = mqtt_zalloc(c->b->conf.topic_alias_max * sizeof(*c->aliases));
		if (!c->aliases)
			return MQTT_RC_UNSPECIFIED_ERROR;
	}
	ta = &c->aliases[a - 1];
	if (p->topic.len == 0) {
		if (!ta->p)
			return MQTT_RC_PROTOCOL_ERROR;
		p->topic.p = ta->p;
		p->topic.len = ta->len;
		return 0;
	}
	uint8_t *t = mqtt_realloc(ta->p, p->topic.len);
	if (!t)
		return MQTT_RC_UNSPECIFIED_ERROR;
	memcpy(t, p->topic.p, p->topic.len);
	ta->p = t;
	ta->len = (uint16_t)p->topic.len;
	return 0;
}

/* Topic name or filter over max_topic_length / max_topic_levels (counted). O(len). */
static bool
topic_over_limits(struct mqtt_broker *b, struct mqtt_str t)
{
	uint32_t levels = 1;

	if (b->conf.max_topic_length && t.len > b->conf.max_topic_length)
		goto over;
	if (!b->conf.max_topic_levels)
		return false;
	for (uint32_t i = 0; i < t.len; i++)
		levels += t.p[i] == '/';
	if (levels <= b->conf.max_topic_levels)
		return false;
over:
	b->stats.topics_refused++;
	return true;
}

static int
on_publish(struct mqtt_conn *c, struct mqtt_publish *p, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	struct mqtt_session *s = c->s;
	enum mqtt_type ack = p->qos == 2 ? MQTT_PUBREC : MQTT_PUBACK;
	struct pubctx pc;
	uint8_t rc = 0;

	b->stats.messages_in++;
	b->stats.messages_in_qos[p->qos]++;
	if (c->version == MQTT_V5) {
		rc = conn_alias(c, p);
		if (rc)
			return conn_fail(c, rc, -EBADMSG);
		if (p->props.payload_format_indicator == 1 &&
		    !mqtt_utf8_valid(p->payload.p, p->payload.len))
			rc = MQTT_RC_PAYLOAD_FORMAT_INVALID;
	}
	if (!rc && topic_over_limits(b, p->topic)) {
		/* v5 3.3.4: "Topic Name invalid" (acknowledged and dropped at QoS 1/2, DISCONNECT
		 * at QoS 0); 3.1.1 has no way to refuse a PUBLISH but closing (4.8) */
		if (c->version != MQTT_V5)
			return conn_fail(c, MQTT_RC_TOPIC_NAME_INVALID, -EBADMSG);
		rc = MQTT_RC_TOPIC_NAME_INVALID;
	}
	if (c->version == MQTT_V5 && p->qos && c->n_held_puback + s->n_rx_qos2 >= c->recv_max_in &&
	    !(p->qos == 2 && rx_qos2_has(s, p->packet_id, false)))
		return conn_fail(c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED, -EBADMSG); /* v5 3.3.4 */
	if (p->qos == 2 && rx_qos2_has(s, p->packet_id, false)) {
		/* a resend of a message already routed: acknowledge only (exactly once) */
		return send_ack(c, MQTT_PUBREC, p->packet_id, 0);
	}
	if (rc) {
		if (p->qos)
			return send_ack(c, ack, p->packet_id, rc);
		return conn_fail(c, rc, -EBADMSG);
	}
	if (b->hooks.acl &&
	    (rc = (uint8_t)b->hooks.acl(b->hooks.ctx, c, 1, p->topic.p, p->topic.len))) {
		/* A host limit (publish rate 0x96, quota 0x97) ends the connection (v5 3.14.2.1;
		 * 3.x: closed), before the message is routed. */
		if (rc == MQTT_RC_MESSAGE_RATE_TOO_HIGH || rc == MQTT_RC_QUOTA_EXCEEDED)
			return conn_fail(c, rc, -EDQUOT);
		/* MQTT-3.3.5-2: not authorised: acknowledged (v5 with 0x87) and dropped */
		count_reason(b, MQTT_RC_NOT_AUTHORIZED);
		if (!p->qos)
			return 0;
		return send_ack(c, ack, p->packet_id,
		                c->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0);
	}
	memset(&pc, 0, sizeof(pc));
	pc.view.qos = p->qos;
	pc.view.retain = p->retain;
	pc.view.topic = p->topic.p;
	pc.view.topic_len = (uint16_t)p->topic.len;
	pc.view.payload = p->payload.p;
	pc.view.payload_len = p->payload.len;
	pc.view.expire_us = UINT64_MAX;
	pc.view.publisher_id = s->serial;
	if (c->version == MQTT_V5 && (p->props.present || p->props.user_count)) {
		pc.props = p->props;
		pc.props.present &= ~MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
		pc.view.props = &pc.props;
		if (MQTT_PROP_HAS(&p->props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL))
			pc.view.expire_us = now + p->props.message_expiry_interval * US_PER_S;
	}
	if (p->qos == 2 && rx_qos2_add(s, p->packet_id))
		return send_ack(c, ack, p->packet_id, MQTT_RC_UNSPECIFIED_ERROR);
	b->hit_congested = false;
	publish_msg(b, &pc, now);
	mqtt_msg_put(pc.heap);
	if (p->qos && c->state == CONN_CONNECTED)
		return pub_ack(c, ack, p->packet_id);
	return 0;
}

static struct mqtt_delivery *
inflight_find(struct mqtt_session *s, uint16_t pid)
{
	struct mqtt_list *pos, *tmp;

	/* O(inflight window) */
	mqtt_list_for_each_safe(pos, tmp, &s->inflight)
	{
		struct mqtt_delivery *d = mqtt_container_of(pos, struct mqtt_delivery, link);
		if (d->pid == pid)
			return d;
	}
	return NULL;
}

static void
inflight_done(struct mqtt_session *s, struct mqtt_delivery *d, uint64_t now)
{
	if (d->state == DLV_SEND || d->state == DLV_REL)
		s->n_pending--;
	mqtt_list_del(&d->link);
	s->n_inflight--;
	dlv_free(d);
	session_pump(s, now);
}

static int
on_ack(struct mqtt_conn *c, uint8_t type, const struct mqtt_ack *a, uint64_t now)
{
	struct mqtt_session *s = c->s;
	struct mqtt_delivery *d;

	if (type == MQTT_PUBREL) {
		bool had = rx_qos2_has(s, a->packet_id, true);
		return send_ack(c, MQTT_PUBCOMP, a->packet_id,
		                had ? 0 : MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND);
	}
	d = inflight_find(s, a->packet_id);
	if (type == MQTT_PUBREC) {
		if (!d || d->qos != 2) {
			return send_ack(c, MQTT_PUBREL, a->packet_id,
			                MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND);
		}
		if (a->reason >= 0x80) {
			inflight_done(s, d, now); /* v5: the receiver refused it; done */
			return 0;
		}
		if (d->state == DLV_SEND || d->state == DLV_WAIT_ACK) {
			if (d->state == DLV_SEND)
				s->n_pending--;
			mqtt_msg_put(d->msg); /* MQTT-4.3.3-6: never resent from here on */
			d->msg = NULL;
			d->state = DLV_REL;
			s->n_pending++;
		} else if (d->state == DLV_WAIT_COMP) {
			d->state = DLV_REL; /* a repeated PUBREC: PUBREL again */
			s->n_pending++;
		}
		dlv_send(s, d, now); /* else resent by session_pump() when writable */
		return 0;
	}
	/* PUBACK or PUBCOMP: unknown ids are ignored (nothing to acknowledge back) */
	if (d && ((type == MQTT_PUBACK && d->qos == 1) ||
	          (type == MQTT_PUBCOMP && d->qos == 2 && d->state >= DLV_REL)))
		inflight_done(s, d, now);
	return 0;
}

static void
retained_cb(struct mqtt_msg *m, void *arg)
{
	struct mqtt_broker *b = arg;
	struct match *mt = match_slot(b);

	if (!mt)
		return;
	mt->retained = mqtt_msg_get(m); /* delivered after the walk */
}

/* An expired retained message found by a lookup leaves the store (v5 3.3.2-5). */
static void
retained_expire(struct mqtt_broker *b, struct mqtt_msg *m)
{
	struct mqtt_tnode *n = mqtt_trie_node(&b->retained, m->topic, m->topic_len);

	if (n && n->retained == m) {
		n->retained = NULL;
		mqtt_msg_put(m);
		b->retained.count--;
		b->stats.retained = b->retained.count;
		b->stats.dropped_expired++;
		mqtt_trie_prune(&b->retained, n);
	}
}

static void
send_retained(struct mqtt_conn *c, const struct mqtt_sub *sub, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	uint32_t subid = sub->sub_id;
	uint8_t nsub = subid ? 1 : 0;

	b->n_match = 0;
	mqtt_trie_retained(&b->retained, sub->filter, sub->filter_len, retained_cb, b);
	for (uint32_t i = 0; i < b->n_match; i++) {
		struct mqtt_msg *m = b->matches[i].retained;
		struct pubctx pc;
		memset(&pc, 0, sizeof(pc));
		pc.view = *m;
		pc.heap = m;
		if (m->expire_us <= now)
			retained_expire(b, m);
		else if (c->s)
			deliver(b, c->s, &pc, sub->qos < m->qos ? sub->qos : m->qos, 1, &subid,
			        nsub, now);
		mqtt_msg_put(m);
	}
	b->n_match = 0;
}

/* SUBACK or UNSUBACK with n reason codes. */
static int
send_suback(struct mqtt_conn *c, enum mqtt_type type, uint16_t pid, const uint8_t *rc, uint32_t n)
{
	uint8_t stack[96], *pkt = stack;
	size_t cap = n + 16;
	int r;

	if (cap > sizeof(stack) && !(pkt = mqtt_alloc(cap)))
		return conn_fail(c, MQTT_RC_UNSPECIFIED_ERROR, -ENOMEM);
	if (cap < sizeof(stack))
		cap = sizeof(stack);
	r = conn_write_ctrl(c, pkt,
	                    mqtt_encode_suback(type, pid, rc, n, NULL, c->version, pkt, cap));
	if (pkt != stack)
		mqtt_free(pkt);
	return r;
}

static int
on_subscribe(struct mqtt_conn *c, const struct mqtt_subscribe *sp, uint64_t now)
{
	struct mqtt_broker *b = c->b;
	uint8_t stack[128], *rc = stack, *isnew;
	struct mqtt_sub_entry e;
	struct mqtt_iter it;
	uint32_t subid = sp->props.sub_id_count ? sp->props.sub_id : 0;
	uint32_t i = 0;
	int r;

	if (2 * sp->count > sizeof(stack)) {
		rc = mqtt_alloc(2 * sp->count);
		if (!rc)
			return conn_fail(c, MQTT_RC_UNSPECIFIED_ERROR, -ENOMEM);
	}
	isnew = rc + sp->count;
	mqtt_iter_init(&it, sp->list, c->version);
	while (mqtt_sub_next(&it, &e)) {
		struct mqtt_str name, f;
		bool existed, shared = mqtt_filter_shared(e.filter, &name, &f);
		if (!mqtt_filter_valid(e.filter) || topic_over_limits(b, e.filter)) {
			rc[i++] = c->version == MQTT_V5 ? MQTT_RC_TOPIC_FILTER_INVALID
			                                : MQTT_SUBACK_FAILURE;
			continue;
		}
		if (shared && e.no_local && c->version == MQTT_V5) {
			/* MQTT-3.8.3-4 */
			if (rc != stack)
				mqtt_free(rc);
			return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
		}
		if (b->hooks.acl && b->hooks.acl(b->hooks.ctx, c, 0, e.filter.p, e.filter.len)) {
			count_reason(b, MQTT_RC_NOT_AUTHORIZED);
			rc[i++] = c->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED
			                                : MQTT_SUBACK_FAILURE;
			continue;
		}
		if (b->conf.max_subscriptions && c->s->n_subs >= b->conf.max_subscriptions &&
		    !sub_find(c->s, e.filter.p, e.filter.len)) {
			/* replacing an existing subscription stays allowed */
			b->stats.subscriptions_refused++;
			count_reason(b, MQTT_RC_QUOTA_EXCEEDED);
			rc[i++] = c->version == MQTT_V5 ? MQTT_RC_QUOTA_EXCEEDED
			                                : MQTT_SUBACK_FAILURE;
			continue;
		}
		existed = true;
		rc[i] = mqtt_sub_add(b, c->s, &e, subid, &existed)
		                ? e.qos
		                : (c->version == MQTT_V5 ? MQTT_RC_UNSPECIFIED_ERROR
		                                         : MQTT_SUBACK_FAILURE);
		isnew[i++] = !existed;
	}
	r = send_suback(c, MQTT_SUBACK, sp->packet_id, rc, i);
	/* MQTT-3.3.1-6 / v5 retain handling: retained messages after the SUBACK */
	mqtt_iter_init(&it, sp->list, c->version);
	for (uint32_t j = 0; !r && mqtt_sub_next(&it, &e); j++) {
		struct mqtt_str name, f;
		struct mqtt_sub *sub;
		if (rc[j] >= 0x80 || mqtt_filter_shared(e.filter, &name, &f) ||
		    e.retain_handling == 2 || !c->s)
			continue;
		sub = sub_find(c->s, e.filter.p, e.filter.len);
		if (sub && (e.retain_handling == 0 || isnew[j])) /* rh 1: new subscriptions only */
			send_retained(c, sub, now);
	}
	if (rc != stack)
		mqtt_free(rc);
	return r;
}

static int
on_unsubscribe(struct mqtt_conn *c, const struct mqtt_unsubscribe *up)
{
	uint8_t stack[64], *rc = stack;
	struct mqtt_str f;
	struct mqtt_iter it;
	uint32_t i = 0;
	int r;

	if (up->count > sizeof(stack)) {
		rc = mqtt_alloc(up->count);
		if (!rc)
			return conn_fail(c, MQTT_RC_UNSPECIFIED_ERROR, -ENOMEM);
	}
	mqtt_iter_init(&it, up->list, c->version);
	while (mqtt_unsub_next(&it, &f)) {
		struct mqtt_sub *sub = sub_find(c->s, f.p, f.len);
		if (sub)
			sub_remove(c->b, sub);
		rc[i++] = sub ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
	}
	r = send_suback(c, MQTT_UNSUBACK, up->packet_id, rc, i);
	if (rc != stack)
		mqtt_free(rc);
	return r;
}

static int
on_disconnect(struct mqtt_conn *c, const struct mqtt_disconnect *d)
{
	struct mqtt_session *s = c->s;

	if (c->version == MQTT_V5) {
		if (MQTT_PROP_HAS(&d->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL)) {
			/* MQTT-3.14.2-2: cannot turn a 0 expiry into a non-zero one */
			if (s->expiry_s == 0 && d->props.session_expiry_interval)
				return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
			if (s->expiry_s && !d->props.session_expiry_interval)
				c->b->stats.sessions_persistent--;
			s->expiry_s = d->props.session_expiry_interval;
		}
		/* 0x04: disconnect with will message */
		c->will_due = d->reason == MQTT_RC_DISCONNECT_WITH_WILL;
	} else {
		c->will_due = 0; /* MQTT-3.14.4-3: the will is discarded */
	}
	conn_close(c, 0);
	return 0;
}

static int
conn_packet(struct mqtt_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct mqtt_packet pk;
	int r = mqtt_decode(buf, len, c->version, &pk);

	c->b->cur_pkt = buf;
	c->b->cur_pkt_len = (uint32_t)len;
	c->b->now_hint = now;
	if (r == -EPROTONOSUPPORT) {
		/* MQTT-3.1.2-2: CONNACK 0x01 (v5: 0x84), then close */
		uint8_t ack[8];
		int v5 = len > 8 && buf[8] == MQTT_V5;
		c->b->stats.protocol_errors++;
		count_reason(c->b, MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION);
		if (c->state == CONN_NEW)
			conn_write_ctrl(c, ack,
			                mqtt_encode_connack(
			                        0,
			                        v5 ? MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION
			                           : MQTT_CONNACK_UNACCEPTABLE_PROTOCOL,
			                        NULL, v5 ? MQTT_V5 : MQTT_V311, ack, sizeof(ack)));
		conn_close(c, 0);
		return r;
	}
	if (r < 0)
		return conn_fail(c, pk.err_reason ? pk.err_reason : MQTT_RC_MALFORMED_PACKET, r);
	if (c->state == CONN_NEW && pk.type != MQTT_CONNECT) /* MQTT-3.1.0-1 */
		return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
	if (c->state == CONN_AUTH_EXCH) {
		/* MQTT-3.1.2-30: only AUTH or DISCONNECT until CONNACK */
		if (pk.type == MQTT_AUTH && pk.auth.reason == MQTT_RC_CONTINUE_AUTHENTICATION)
			return auth_step(c, 1, pk.auth.props.authentication_method,
			                 pk.auth.props.authentication_data);
		if (pk.type != MQTT_DISCONNECT)
			return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
		conn_close(c, 0);
		return 0;
	}
	conn_touch(c, now);
	switch (pk.type) {
	case MQTT_CONNECT:
		if (c->state != CONN_NEW) /* MQTT-3.1.0-2 */
			return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
		return on_connect(c, &pk.connect, now);
	case MQTT_PUBLISH:
		return on_publish(c, &pk.publish, now);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return on_ack(c, pk.type, &pk.ack, now);
	case MQTT_SUBSCRIBE:
		return on_subscribe(c, &pk.subscribe, now);
	case MQTT_UNSUBSCRIBE:
		return on_unsubscribe(c, &pk.unsubscribe);
	case MQTT_PINGREQ: {
		uint8_t p[2];
		return conn_write_ctrl(c, p, mqtt_encode_ping(MQTT_PINGRESP, p, sizeof(p)));
	}
	case MQTT_DISCONNECT:
		return on_disconnect(c, &pk.disconnect);
	case MQTT_AUTH:
		/* re-authentication (4.12.1): only after an enhanced-authentication CONNECT */
		if (c->auth_method && c->b->hooks.auth && pk.auth.reason == MQTT_RC_REAUTHENTICATE)
			return auth_step(c, 2, pk.auth.props.authentication_method,
			                 pk.auth.props.authentication_data);
		return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
	default:
		/* CONNACK, SUBACK, UNSUBACK, PINGRESP, AUTH are not for a server (AUTH: no
		 * enhanced authentication without a method) */
		return conn_fail(c, MQTT_RC_PROTOCOL_ERROR, -EBADMSG);
	}
}

/* Input behind a parked CONNECT waits for its verdict; bounded (64 KiB). */
static int
park_input(struct mqtt_conn *c, const uint8_t *p, size_t len)
{
	uint8_t *p2;

	if ((uint64_t)c->parked_len + len > (uint64_t)c->parked_connect + 65536)
		return conn_fail(c, MQTT_RC_QUOTA_EXCEEDED, -ENOBUFS);
	p2 = mqtt_realloc(c->parked, c->parked_len + len);
	if (!p2)
		return conn_fail(c, MQTT_RC_UNSPECIFIED_ERROR, -ENOMEM);
	memcpy(p2 + c->parked_len, p, len);
	c->parked = p2;
	c->parked_len += (uint32_t)len;
	return 0;
}

/* Frame the stream: complete packets are decoded where they lie; a packet split across calls
 * is accumulated in one buffer of exactly its size (allocated once its fixed header is known,
 * freed once decoded). Cost: O(len) plus the packets' handling. */
int
mqtt_conn_input(struct mqtt_conn *c, const void *data, size_t len, uint64_t now_us)
{
	struct mqtt_broker *b = c->b;
	const uint8_t *p = data;
	uint8_t type, flags;
	uint32_t rem, hl;
	int r;

	if (c->state == CONN_CLOSING)
		return 0;
	b->stats.bytes_in += len;
	while (len && c->state != CONN_CLOSING) {
		if (c->state == CONN_AUTH)
			return park_input(c, p, len);
		if (c->in_need) {
			/* filling a packet body */
			size_t n = c->in_need - c->in_len;
			if (n > len)
				n = len;
			memcpy(c->in + c->in_len, p, n);
			c->in_len += (uint32_t)n;
			p += n;
			len -= n;
			if (c->in_len < c->in_need)
				return 0;
			r = conn_packet(c, c->in, c->in_need, now_us);
			mqtt_free(c->in);
			c->in = NULL;
			c->in_len = c->in_need = 0;
			if (r < 0)
				return r;
			continue;
		}
		const uint8_t *h = p;
		size_t hlen = len;
		if (c->hdr_len) {
			/* a fixed header split across calls: add one byte at a time */
			c->hdr[c->hdr_len++] = *p++;
			len--;
			h = c->hdr;
			hlen = c->hdr_len;
		}
		r = mqtt_fixed_header(h, hlen, &type, &flags, &rem, &hl);
		if (r == -EAGAIN) {
			if (!c->hdr_len) {
				memcpy(c->hdr, p, len);
				c->hdr_len = (uint8_t)len;
				len = 0;
			}
			continue;
		}
		if (r < 0)
			return conn_fail(c, MQTT_RC_MALFORMED_PACKET, r);
		if ((uint64_t)hl + rem > c->max_packet_in)
			return conn_fail(c, MQTT_RC_PACKET_TOO_LARGE, -EMSGSIZE);
		if (!c->hdr_len && hl + rem <= len) {
			/* the common case: the whole packet is here, decode it in place */
			r = conn_packet(c, p, hl + rem, now_us);
			p += hl + rem;
			len -= hl + rem;
			if (r < 0)
				return r;
			continue;
		}
		c->in = mqtt_alloc(hl + rem);
		if (!c->in)
			return conn_fail(c, MQTT_RC_UNSPECIFIED_ERROR, -ENOMEM);
		c->in_need = hl + rem;
		if (c->hdr_len) {
			memcpy(c->in, c->hdr, hl);
			c->in_len = hl;
			c->hdr_len = 0;
		} else {
			memcpy(c->in, p, len);
			c->in_len = (uint32_t)len;
			p += len;
			len = 0;
		}
		if (c->in_len == c->in_need) {
			/* a packet with an empty body whose header was split */
			r = conn_packet(c, c->in, c->in_need, now_us);
			mqtt_free(c->in);
			c->in = NULL;
			c->in_len = c->in_need = 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- shard hooks, part 2 (issue 5, the dataplane's; see mqtt.h) ---- */

/* Disconnect the session's connection with `reason` (its will published), then end the
 * session. Shared by takeovers from another shard and operator drops. */
static int
session_end(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint8_t reason, uint64_t now_us)
{
	struct mqtt_session *s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);

	if (!s)
		return -ENOENT;
	session_kick(s, reason, now_us);
	mqtt_session_free(s, now_us);
	return 0;
}

void
mqtt_broker_session_release(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now_us)
{
	struct mqtt_session *s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);

	/* as a takeover on this shard (on_connect), then the session ends here */
	if (s && s->conn)
		b->stats.takeovers++;
	session_end(b, cid, len, MQTT_RC_SESSION_TAKEN_OVER, now_us);
}

/* ---- end of shard hooks, part 2 ---- */

/* ---- operator requests (mqtt_admin.h): mutations stay in this file ---- */

int
mqtt_admin_kick(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint8_t reason,
                uint64_t now_us)
{
	struct mqtt_session *s = mqtt_dict_get(&b->sessions, cid, (uint32_t)len);
	struct mqtt_conn *c;

	if (!s || !s->conn || s->conn->state == CONN_CLOSING)
		return -ENOENT;
	c = s->conn;
	count_reason(b, reason ? reason : MQTT_RC_ADMINISTRATIVE_ACTION);
	if (c->state == CONN_CONNECTED)
		send_disconnect(c, reason ? reason : MQTT_RC_ADMINISTRATIVE_ACTION);
	/* the will is published when the host reports the transport gone (will_due stays) */
	conn_close(c, 0);
	(void)now_us;
	return 0;
}

int
mqtt_admin_session_drop(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now_us)
{
	return session_end(b, cid, len, MQTT_RC_ADMINISTRATIVE_ACTION, now_us);
}

int
mqtt_admin_retained_delete(struct mqtt_broker *b, const uint8_t *topic, size_t len)
{
	struct mqtt_tnode *n;

	if (len == 0 || len > UINT16_MAX)
		return -EINVAL;
	n = mqtt_trie_node(&b->retained, topic, len);
	if (!n)
		return -ENOMEM;
	if (!n->retained) {
		mqtt_trie_prune(&b->retained, n);
		return -ENOENT;
	}
	mqtt_msg_put(n->retained);
	n->retained = NULL;
	b->retained.count--;
	mqtt_trie_prune(&b->retained, n);
	b->stats.retained = b->retained.count;
	return 0;
}

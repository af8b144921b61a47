/* SPDX-License-Identifier: Apache-2.0
 * Sessions across shards (mqtt_xfer.c): three brokers in one process, the "rings" one FIFO of
 * transfer messages (FIFO per pair of shards, as the dataplane's rings). A client moved between
 * shards gets its whole session back: subscriptions with options and ids, queued and inflight
 * QoS 1/2 deliveries, inbound QoS 2 ids, the delayed will, the expiry.
 */
#include "broker_harness.h"
#include "mqtt/mqtt_broker_pvt.h"

#define NS 3

static struct mqtt_broker *br[NS];
static unsigned int ctx_id[NS];

/* The rings: one FIFO per ordered pair of shards, as the dataplane's. Every entry carries a
 * global sequence number: pump() delivers in the global order (one FIFO for all, the simplest
 * schedule), ring_step() one entry of a chosen pair (the schedules the model test explores). */
#define RCAP 4096
enum qkind { Q_XFER, Q_PUB, Q_ROUTE, Q_RET };
struct qroute {
	int add;
	size_t len;
	uint8_t filter[64];
};
struct qent {
	uint64_t seq;
	enum qkind kind;
	void *p; /* struct mqtt_xfer, struct mqtt_msg (a reference of the sender's), struct qroute
	          */
};
static struct ring {
	struct qent e[RCAP];
	unsigned int head, tail;
} rings[NS][NS];
static uint64_t q_seq;
static unsigned int sent_by[NS], returned_to[NS];
static unsigned int rets_to[NS]; /* references a proxy sent home (Q_RET) */

static void
q_push(unsigned int from, unsigned int to, enum qkind kind, void *p)
{
	struct ring *r = &rings[from][to];

	CHECK(to != from && to < NS && r->tail - r->head < RCAP);
	r->e[r->tail++ % RCAP] = (struct qent){q_seq++, kind, p};
}

static void
q_send(void *ctx, unsigned int to, struct mqtt_xfer *x)
{
	unsigned int from = *(unsigned int *)ctx;

	sent_by[from]++;
	q_push(from, to, Q_XFER, x);
}

/* With routes (the move cut tests): plain filters' route updates and publishes ride the rings
 * too, and each shard keeps a replica "filter -> shards", as the dataplane (dp_route.c). */
static bool routes_on;
static struct replica {
	struct qroute r[32];
	uint64_t mask[32];
	unsigned int n;
} replica[NS];

static uint64_t
q_route_match(void *ctx, const uint8_t *topic, size_t len, int retain)
{
	unsigned int self = *(unsigned int *)ctx;
	struct replica *rp = &replica[self];
	uint64_t m = 0;

	if (retain)
		return ((1ull << NS) - 1) & ~(1ull << self);
	for (unsigned int i = 0; i < rp->n; i++)
		if (mqtt_topic_match_ref(rp->r[i].filter, rp->r[i].len, topic, len))
			m |= rp->mask[i];
	return m;
}

static struct mqtt_msg *last_fwd; /* the owner's message last forwarded */

static void
q_forward(void *ctx, uint64_t shards, struct mqtt_msg *m, uint8_t qos)
{
	(void)qos;
	last_fwd = m;
	for (unsigned int i = 0; i < NS; i++)
		if (shards & (1ull << i))
			q_push(*(unsigned int *)ctx, i, Q_PUB, m);
}

static void
replica_apply(unsigned int self, unsigned int from, const struct qroute *q)
{
	struct replica *rp = &replica[self];
	unsigned int i;

	for (i = 0; i < rp->n; i++)
		if (rp->r[i].len == q->len && !memcmp(rp->r[i].filter, q->filter, q->len))
			break;
	if (i == rp->n) {
		CHECK(rp->n < 32);
		rp->r[rp->n] = *q;
		rp->mask[rp->n++] = 0;
	}
	if (q->add)
		rp->mask[i] |= 1ull << from;
	else
		rp->mask[i] &= ~(1ull << from);
}

static unsigned int
ring_len(unsigned int from, unsigned int to)
{
	return rings[from][to].tail - rings[from][to].head;
}

/* Deliver the oldest entry of ring from -> to (there must be one). */
static void
ring_step(unsigned int from, unsigned int to)
{
	struct ring *r = &rings[from][to];
	struct qent e = r->e[r->head++ % RCAP];

	switch (e.kind) {
	case Q_XFER:
		mqtt_broker_xfer_input(br[to], e.p, now_us);
		returned_to[mqtt_xfer_owner(e.p)]++;
		mqtt_xfer_free(e.p);
		break;
	case Q_PUB:
		/* 0: nothing kept, the owner's reference is released at once (one thread here:
		 * no RET needed); 1: a proxy on `to` sends it home later (Q_RET) */
		if (mqtt_broker_inject_from(br[to], e.p, from, now_us) == 0)
			mqtt_msg_release(e.p);
		break;
	case Q_RET:
		rets_to[to]++;
		mqtt_msg_release(e.p);
		break;
	case Q_ROUTE:
		replica_apply(to, from, e.p);
		free(e.p);
		break;
	}
}

/* Deliver every message in flight (and what they cause) in the order they were sent; returns
 * how many. */
static bool
step_oldest(void)
{
	unsigned int bf = NS, bt = NS;
	uint64_t best = UINT64_MAX;

	for (unsigned int f = 0; f < NS; f++)
		for (unsigned int t = 0; t < NS; t++)
			if (ring_len(f, t) && rings[f][t].e[rings[f][t].head % RCAP].seq < best)
				best = rings[f][t].e[rings[f][t].head % RCAP].seq, bf = f, bt = t;
	if (bf == NS)
		return false;
	ring_step(bf, bt);
	return true;
}

static unsigned int
pump(void)
{
	unsigned int n = 0;

	while (step_oldest())
		n++;
	return n;
}

/* Shared groups: route updates of $share filters reach the other brokers at once, and a shared
 * delivery runs there at once (the reference back at once too). */
static unsigned int shared_fwd[NS];

static void
q_route(void *ctx, const uint8_t *filter, size_t len, int add)
{
	unsigned int from = *(unsigned int *)ctx;

	if (len > 7 && !memcmp(filter, "$share/", 7)) {
		for (unsigned int i = 0; i < NS; i++)
			if (i != from)
				mqtt_broker_share_update(br[i], filter, len, from, add);
		return;
	}
	for (unsigned int i = 0; routes_on && i < NS; i++) {
		struct qroute *q;

		if (i == from)
			continue;
		q = calloc(1, sizeof(*q));
		CHECK(q && len <= sizeof(q->filter));
		q->add = add;
		q->len = len;
		memcpy(q->filter, filter, len);
		q_push(from, i, Q_ROUTE, q);
	}
}

static void
q_forward_shared(void *ctx, unsigned int shard, struct mqtt_msg *m, const uint8_t *group,
                 size_t glen, const uint8_t *filter, size_t flen)
{
	shared_fwd[shard]++;
	if (mqtt_broker_inject_shared(br[shard], m, *(unsigned int *)ctx, group, glen, filter, flen,
	                              now_us) == 0)
		mqtt_msg_release(m);
}

/* A proxy's last delivery ended: its reference rides the ring home. */
static void
q_ret(void *ctx, unsigned int to, struct mqtt_msg *m)
{
	q_push(*(unsigned int *)ctx, to, Q_RET, m);
}

static void
brokers_new(void)
{
	for (unsigned int i = 0; i < NS; i++) {
		struct mqtt_broker_conf conf;
		struct mqtt_shard_ops ops;

		mqtt_broker_conf_defaults(&conf);
		conf.shard = i;
		br[i] = mqtt_broker_create(&conf, &fake_ops);
		ctx_id[i] = i;
		memset(&ops, 0, sizeof(ops));
		ops.ctx = &ctx_id[i];
		ops.n_shards = NS;
		ops.xfer_send = q_send;
		ops.route_update = q_route;
		ops.forward_shared = q_forward_shared;
		ops.ret = q_ret;
		if (routes_on) {
			ops.route_match = q_route_match;
			ops.forward = q_forward;
		}
		replica[i].n = 0;
		mqtt_broker_set_shard_ops(br[i], &ops);
	}
}

static void
brokers_free(void)
{
	pump();
	for (unsigned int i = 0; i < NS; i++) {
		CHECK_EQ(mqtt_broker_verify(br[i]), 0);
		mqtt_broker_destroy(br[i]);
	}
	/* what the destroys sent home: proxies of the others' messages (the owners' brokers may
	 * be gone already, their messages not: the proxies held them, as tachyond's exit) */
	for (unsigned int f = 0; f < NS; f++)
		for (unsigned int t = 0; t < NS; t++)
			while (ring_len(f, t)) {
				struct qent e = rings[f][t].e[rings[f][t].head++ % RCAP];

				CHECK_EQ(e.kind, Q_RET);
				if (e.kind == Q_RET)
					mqtt_msg_release(e.p);
			}
}

static unsigned int
waits_total(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < NS; i++)
		n += br[i]->xfer_wait.used[0] + br[i]->xfer_wait.used[1];
	return n;
}

/* A client id (prefix + number) whose home is shard `home`. */
static const char *
cid_home(const char *prefix, unsigned int home)
{
	static char buf[4][64];
	static int k;
	char *s = buf[k++ % 4];

	for (int i = 0;; i++) {
		snprintf(s, 64, "%s%d", prefix, i);
		if (mqtt_client_home((const uint8_t *)s, strlen(s), NS) == home)
			return s;
	}
}

static size_t
pkt_connect5(uint8_t *buf, const char *cid, int clean, uint32_t expiry, const char *will_topic,
             uint32_t will_delay)
{
	struct mqtt_packet p;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	p.connect.protocol_level = MQTT_V5;
	p.connect.clean_start = (uint8_t)clean;
	p.connect.client_id = str(cid);
	if (expiry) {
		p.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY_INTERVAL);
		p.connect.props.session_expiry_interval = expiry;
	}
	if (will_topic) {
		p.connect.will_flag = 1;
		p.connect.will_qos = 1;
		p.connect.will_topic = str(will_topic);
		p.connect.will_payload = str("gone");
		p.connect.will_props.present = MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY_INTERVAL);
		p.connect.will_props.will_delay_interval = will_delay;
	}
	return enc(&p, MQTT_V5, buf, 512);
}

/* The CONNACK's session-present flag, consumed (what follows it stays), or -1 when the first
 * packet is not an accepting CONNACK. */
static int
take_connack(struct fake *f)
{
	size_t n;
	int present;

	if (f->len < 4 || f->out[0] != 0x20 || f->out[3] != 0)
		return -1;
	present = f->out[2];
	n = 2u + f->out[1];
	memmove(f->out, f->out + n, f->len - n);
	f->len -= n;
	return present;
}

/* Connect on shard `sh` and let the transfer run; returns the CONNACK's session-present flag,
 * or -1 when no CONNACK (accepted) came. */
static int
connect_on(unsigned int sh, struct fake *f, int v, const char *cid, int clean, uint32_t expiry)
{
	uint8_t buf[512];
	size_t n = v == MQTT_V5 ? pkt_connect5(buf, cid, clean, expiry, NULL, 0)
	                        : pkt_connect(buf, v, cid, clean, 0, NULL, NULL, 0);

	fake_open(br[sh], f);
	CHECK_EQ(feed(f, buf, n), 0);
	pump();
	return take_connack(f);
}

/* A persistent 3.1.1 client moves 1 -> home 0 -> 2: its subscription, an unacknowledged QoS 1
 * message (resent with DUP) and QoS 1/2 messages queued while offline arrive exactly once, in
 * order, with the session present flag set. */
static void
test_move_v311(void)
{
	const char *cid = cid_home("m", 0);
	struct fake sub, pub;
	uint8_t buf[256];

	brokers_new();
	CHECK_EQ(connect_on(1, &sub, MQTT_V311, cid, 0, 0), 0); /* claimed at home: none yet */
	subscribe(&sub, MQTT_V311, "t/+", 2);
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 1);
	/* a QoS 1 message on shard 1, not acknowledged before the connection goes */
	CHECK_EQ(connect_on(1, &pub, MQTT_V311, "p1", 1, 0), 0);
	pub.len = 0;
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "t/a", "A", 1, 1, 1, 0)),
	         0);
	CHECK(expect_hex(&sub, "32 08 00 03 74 2f 61 00 01 41"));
	fake_gone(&pub);
	fake_gone(&sub);
	pump();
	/* home now: nothing left on shard 1 */
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->sessions_persistent, 0);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->sessions_persistent, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->sessions_moved_out, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->sessions_moved_in, 1);
	/* queued at home while offline: QoS 2 and QoS 1 */
	CHECK_EQ(connect_on(0, &pub, MQTT_V311, "p0", 1, 0), 0);
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "t/b", "B", 1, 2, 2, 0)),
	         0);
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "t/c", "C", 1, 1, 3, 0)),
	         0);
	fake_gone(&pub);
	/* back on shard 2 */
	CHECK_EQ(connect_on(2, &sub, MQTT_V311, cid, 0, 0), 1);
	CHECK(expect_hex(&sub, "3a 08 00 03 74 2f 61 00 01 41 " /* DUP resend, id 1 */
	                       "34 08 00 03 74 2f 62 00 02 42 " /* QoS 2, id 2 */
	                       "32 08 00 03 74 2f 63 00 03 43"));
	CHECK_EQ(mqtt_broker_stats(br[2])->subscriptions, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions, 0);
	/* the QoS 2 flow completes on the new shard */
	CHECK_EQ(feed_hex(&sub, "40 02 00 01 50 02 00 02 40 02 00 03"), 0);
	CHECK(expect_hex(&sub, "62 02 00 02"));
	CHECK_EQ(feed_hex(&sub, "70 02 00 02"), 0);
	CHECK_EQ(mqtt_broker_verify(br[2]), 0);
	fake_gone(&sub);
	/* a clean session ends it everywhere */
	pump();
	CHECK_EQ(connect_on(1, &sub, MQTT_V311, cid, 1, 0), 0);
	fake_gone(&sub);
	pump();
	for (int i = 0; i < NS; i++)
		CHECK_EQ(mqtt_broker_stats(br[i])->sessions_persistent, 0);
	brokers_free();
}

/* v5: subscription options and identifier travel; an inbound QoS 2 id stays exactly once across
 * the move; the delayed will goes home and fires there when the delay ends. */
static void
test_move_v5(void)
{
	const char *cid = cid_home("v", 2);
	struct mqtt_packet p;
	struct mqtt_sub_entry e;
	struct fake c, pub;
	uint8_t buf[512];
	size_t n;

	brokers_new();
	fake_open(br[1], &c);
	CHECK_EQ(feed(&c, buf, pkt_connect5(buf, cid, 1, 60, "w/x", 5)), 0);
	pump();
	CHECK_EQ(take_connack(&c), 0);
	/* SUBSCRIBE id 42, no local, retain as published, QoS 1 */
	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	e.filter = str("s/#");
	e.qos = 1;
	e.no_local = 1;
	e.retain_as_published = 1;
	p.type = MQTT_SUBSCRIBE;
	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	p.subscribe.props.present = 0;
	p.subscribe.props.sub_id_count = 1;
	p.subscribe.props.sub_id = 42;
	CHECK_EQ(feed(&c, buf, enc(&p, MQTT_V5, buf, sizeof(buf))), 0);
	c.len = 0;
	/* an inbound QoS 2 publish, PUBREC sent, PUBREL not yet */
	n = pkt_publish(buf, sizeof(buf), MQTT_V5, "s/in", "X", 1, 2, 9, 0);
	CHECK_EQ(feed(&c, buf, n), 0);
	CHECK(expect_hex(&c, "50 04 00 09 10 00")); /* no matching subscribers */
	fake_gone(&c);                              /* abrupt: the will is due after 5 s */
	pump();
	CHECK_EQ(mqtt_broker_stats(br[2])->sessions_persistent, 1);
	CHECK_EQ(mqtt_broker_stats(br[2])->wills_published, 0);
	/* reconnect on shard 0 within the delay: will cancelled, session present */
	CHECK_EQ(connect_on(0, &c, MQTT_V5, cid, 0, 60), 1);
	c.len = 0;
	/* the client resends its QoS 2 publish (DUP): not delivered twice, PUBREC again */
	CHECK_EQ(connect_on(0, &pub, MQTT_V311, "obs", 1, 0), 0);
	subscribe(&pub, MQTT_V311, "s/in", 0);
	buf[0] |= 0x08;
	CHECK_EQ(feed(&c, buf, n), 0);
	CHECK(expect_hex(&c, "50 02 00 09"));
	CHECK_EQ(pub.len, 0);
	CHECK_EQ(feed_hex(&c, "62 02 00 09"), 0);
	CHECK(expect_hex(&c, "70 02 00 09"));
	/* the subscription kept its id and options: a publish from another client carries id 42 */
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "s/y", "Y", 1, 1, 5, 1)),
	         0);
	CHECK(expect_hex(&c, "33 0b 00 03 73 2f 79 00 01 02 0b 2a 59"));
	now_us += 10 * 1000000ull; /* past the old will delay: cancelled by the reconnect */
	for (int i = 0; i < NS; i++)
		mqtt_broker_tick(br[i], now_us);
	CHECK_EQ(mqtt_broker_stats(br[0])->wills_published +
	                 mqtt_broker_stats(br[2])->wills_published,
	         0);
	fake_gone(&pub);
	fake_gone(&c);
	pump();
	brokers_free();
}

/* The delayed will of a session that went home fires at home once the delay is over. */
static void
test_will_home(void)
{
	const char *cid = cid_home("w", 0);
	struct fake c, obs;
	uint8_t buf[512];

	brokers_new();
	CHECK_EQ(connect_on(0, &obs, MQTT_V311, "o", 1, 0), 0);
	subscribe(&obs, MQTT_V311, "w/x", 1);
	fake_open(br[2], &c);
	CHECK_EQ(feed(&c, buf, pkt_connect5(buf, cid, 1, 60, "w/x", 2)), 0);
	pump();
	fake_gone(&c);
	pump();
	mqtt_broker_tick(br[0], now_us + 1000000);
	CHECK_EQ(obs.len, 0);
	mqtt_broker_tick(br[0], now_us + 2000001);
	CHECK_EQ(mqtt_broker_stats(br[0])->wills_published, 1);
	CHECK(expect_hex(&obs, "32 0b 00 03 77 2f 78 00 01 67 6f 6e 65"));
	fake_gone(&obs);
	brokers_free();
}

/* Takeover across shards: the connection on shard 1 is ended (v5 0x8E) when the id connects on
 * shard 2; the session (subscriptions) follows. Two connects racing on shards 1 and 2 before the
 * rings run: the later one wins, the earlier is closed without CONNACK. */
static void
test_takeover(void)
{
	const char *cid = cid_home("t", 0);
	struct fake a, b2, c3;
	uint8_t buf[512];

	brokers_new();
	CHECK_EQ(connect_on(1, &a, MQTT_V5, cid, 1, 30), 0);
	a.len = 0;
	subscribe(&a, MQTT_V5, "k", 1);
	CHECK_EQ(connect_on(2, &b2, MQTT_V5, cid, 0, 30), 1);
	CHECK_EQ(a.closed, 1);
	CHECK(a.len >= 3 && a.out[0] == 0xe0 && a.out[2] == 0x8e);
	CHECK_EQ(mqtt_broker_stats(br[2])->subscriptions, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->takeovers, 1);
	fake_gone(&a);
	pump();
	/* race: connects on 1 then on 0 (the home) before any message moves. The home orders
	 * the claims: its own first (at once), then shard 1's when it arrives, which wins */
	fake_open(br[1], &a);
	CHECK_EQ(feed(&a, buf, pkt_connect5(buf, cid, 0, 30, NULL, 0)), 0);
	fake_open(br[0], &c3);
	CHECK_EQ(feed(&c3, buf, pkt_connect5(buf, cid, 0, 30, NULL, 0)), 0);
	CHECK_EQ(a.len + c3.len, 0);
	pump();
	CHECK_EQ(c3.closed, 1);
	CHECK_EQ(c3.len, 0);
	CHECK_EQ(b2.closed, 1);
	CHECK_EQ(take_connack(&a), 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions + mqtt_broker_stats(br[2])->subscriptions,
	         0);
	fake_gone(&a);
	fake_gone(&b2);
	fake_gone(&c3);
	pump();
	CHECK_EQ(mqtt_broker_stats(br[0])->sessions_persistent, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions, 1);
	brokers_free();
	for (int i = 0; i < NS; i++)
		CHECK_EQ(sent_by[i], returned_to[i]);
}

/* A parked connection that goes before its session arrives: the session is not lost, it goes
 * home; a reconnect on the home shard finds it. */
static void
test_claimant_gone(void)
{
	const char *cid = cid_home("g", 1);
	struct fake a;
	uint8_t buf[512];

	brokers_new();
	CHECK_EQ(connect_on(0, &a, MQTT_V311, cid, 0, 0), 0);
	subscribe(&a, MQTT_V311, "g", 1);
	fake_gone(&a);
	pump();
	fake_open(br[2], &a);
	CHECK_EQ(feed(&a, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	fake_gone(&a); /* before the rings run */
	pump();
	CHECK_EQ(mqtt_broker_stats(br[2])->subscriptions, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 1);
	CHECK_EQ(connect_on(1, &a, MQTT_V311, cid, 0, 0), 1);
	fake_gone(&a);
	brokers_free();
}

/* A $share group with members on shards 0 (one) and 1 (two), published to on shard 2 (no
 * member) and on shard 0: shards alternate, then members within a shard; each message once. */
static void
test_shared_across(void)
{
	struct fake m0, m1a, m1b, pub;
	uint8_t buf[256];
	size_t got[3];

	brokers_new();
	CHECK_EQ(connect_on(0, &m0, MQTT_V311, cid_home("a", 0), 1, 0), 0);
	CHECK_EQ(connect_on(1, &m1a, MQTT_V311, cid_home("b", 1), 1, 0), 0);
	CHECK_EQ(connect_on(1, &m1b, MQTT_V311, cid_home("c", 1), 1, 0), 0);
	subscribe(&m0, MQTT_V311, "$share/g/s/+", 0);
	subscribe(&m1a, MQTT_V311, "$share/g/s/+", 0);
	subscribe(&m1b, MQTT_V311, "$share/g/s/+", 0);
	CHECK_EQ(connect_on(2, &pub, MQTT_V311, cid_home("p", 2), 1, 0), 0);
	for (int i = 0; i < 40; i++)
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "s/x", "Z", 1, 0, 0, 0)),
		         0);
	/* 8-byte QoS 0 PUBLISH each: 20 per shard, 10 per member on shard 1 */
	got[0] = m0.len / 8, got[1] = m1a.len / 8, got[2] = m1b.len / 8;
	CHECK_EQ(got[0], 20);
	CHECK_EQ(got[1], 10);
	CHECK_EQ(got[2], 10);
	CHECK_EQ(shared_fwd[0], 20);
	CHECK_EQ(shared_fwd[1], 20);
	/* the last member on shard 1 leaves: shard 0 alone gets them */
	fake_gone(&m1a);
	fake_gone(&m1b);
	m0.len = 0;
	for (int i = 0; i < 4; i++)
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "s/x", "Z", 1, 0, 0, 0)),
		         0);
	CHECK_EQ(m0.len / 8, 4);
	fake_gone(&m0);
	fake_gone(&pub);
	brokers_free();
}

/* mqtt_set_thread_allocator: every broker allocation goes through the thread's allocator and
 * comes back to it (a moved session included). */
static long n_alloc, n_free;

static void *
count_alloc(void *ctx, size_t size, int zero)
{
	(void)ctx;
	n_alloc++;
	return zero ? calloc(1, size) : malloc(size);
}

static void *
count_realloc(void *ctx, void *p, size_t size)
{
	(void)ctx;
	n_alloc += p == NULL;
	return realloc(p, size);
}

static void
count_free(void *ctx, void *p)
{
	(void)ctx;
	n_free += p != NULL;
	free(p);
}

static void
test_allocator(void)
{
	static const struct mqtt_allocator a = {count_alloc, count_realloc, count_free, NULL};
	const char *cid = cid_home("al", 0);
	struct fake c;

	mqtt_set_thread_allocator(&a);
	brokers_new();
	CHECK_EQ(connect_on(1, &c, MQTT_V311, cid, 0, 0), 0);
	subscribe(&c, MQTT_V311, "al/#", 1);
	fake_gone(&c);
	pump();
	CHECK_EQ(connect_on(2, &c, MQTT_V311, cid, 0, 0), 1);
	fake_gone(&c);
	brokers_free();
	mqtt_set_thread_allocator(NULL);
	CHECK(n_alloc > 20);
	CHECK_EQ(n_alloc, n_free);
}

/* The connect hook (logins) runs once for a CONNECT that waits for its session. */
static int n_logins;

static int
count_login(void *ctx, struct mqtt_conn *c, const uint8_t *cid, size_t cid_len, const uint8_t *user,
            size_t user_len, const uint8_t *pass, size_t pass_len)
{
	(void)ctx, (void)c, (void)cid, (void)cid_len, (void)user, (void)user_len, (void)pass;
	(void)pass_len;
	n_logins++;
	return 0;
}

static void
test_login_once(void)
{
	const struct mqtt_hooks h = {.connect = count_login};
	struct fake c;

	brokers_new();
	for (int i = 0; i < NS; i++)
		mqtt_broker_set_hooks(br[i], &h);
	CHECK_EQ(connect_on(1, &c, MQTT_V311, cid_home("lg", 2), 0, 0), 0);
	CHECK_EQ(n_logins, 1);
	fake_gone(&c);
	brokers_free();
}

/* The interleaving behind the stress test's lost subscribers (two shards, home 0): the client
 * leaves shard 1 (its session goes home), reconnects on the home before the session gets there
 * (the home claims it: PULL to shard 1), and, while that connection waits, again on shard 1
 * (a new claim of shard 1). The PULL reaches shard 1 while its new claim waits; it belongs to
 * the old claim, already answered. Taken for the new one (as it was), each shard held the
 * other's PULL: both connections parked for ever and every later connection of that id parked
 * behind them, so the subscriber got nothing more. Now the last claim wins with the session. */
static void
test_pull_crossing(void)
{
	const char *cid = cid_home("x", 0);
	struct fake a, b, c, pub;
	uint8_t buf[256];

	brokers_new();
	CHECK_EQ(connect_on(1, &a, MQTT_V311, cid, 0, 0), 0);
	subscribe(&a, MQTT_V311, "x/#", 1);
	fake_gone(&a); /* HOME 1 -> 0 in flight */
	fake_open(br[0], &b);
	CHECK_EQ(feed(&b, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	fake_open(br[1], &c);
	CHECK_EQ(feed(&c, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	CHECK_EQ(ring_len(1, 0), 2); /* HOME, CLAIM */
	CHECK_EQ(ring_len(0, 1), 1); /* PULL for shard 1's first claim */
	pump();
	CHECK_EQ(b.closed, 1);
	CHECK_EQ(b.len, 0);
	CHECK_EQ(take_connack(&c), 1);
	CHECK_EQ(waits_total(), 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 1);
	/* and it still gets what is published to it */
	CHECK_EQ(connect_on(1, &pub, MQTT_V311, "xp", 1, 0), 0);
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "x/1", "A", 1, 1, 1, 0)),
	         0);
	CHECK(expect_hex(&c, "32 08 00 03 78 2f 31 00 01 41"));
	fake_gone(&b);
	fake_gone(&c);
	fake_gone(&pub);
	brokers_free();
}

/* A claim answered with no session while its connection was gone leaves the home pointing at
 * the claimant, which holds nothing. The next connection there claims again; the home's PULL
 * comes back to the claimant itself, for the old claim: it must not wait on it. */
static void
test_claim_after_empty(void)
{
	const char *cid = cid_home("e", 0);
	struct fake a, b;
	uint8_t buf[256];

	brokers_new();
	fake_open(br[1], &a);
	CHECK_EQ(feed(&a, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	fake_gone(&a); /* before the (empty) answer */
	pump();
	CHECK_EQ(waits_total(), 0);
	CHECK_EQ(connect_on(1, &b, MQTT_V311, cid, 0, 0), 0);
	CHECK_EQ(waits_total(), 0);
	fake_gone(&b);
	brokers_free();
}

/* ---- a model of one client's life across shards, under every ring schedule ---- */

static uint64_t rnd_state;

static unsigned int
rnd(unsigned int n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned int)(rnd_state % n);
}

/* A persistent client (one subscription) whose connections open on random shards, overlap,
 * drop and get taken over, while the rings deliver in a random order that keeps each pair
 * FIFO. Whatever the schedule: every CONNACK after the first says session present, once the
 * rings are quiet every connection is answered (CONNACK or closed), and at the end one session
 * with its one subscription remains, at home, with no claim left anywhere. 500 seeds of 60 steps
 * per configuration (MODEL_SEEDS, MODEL_STEPS for a longer search: 20,000 x 200 pass). */
#define MODEL_CONNS 4

/* Deliver the oldest message of a random non-empty ring among the first nsh shards. */
static void
step_random(unsigned int nsh)
{
	unsigned int p = rnd(nsh * nsh);

	for (unsigned int t = 0; t < nsh * nsh; t++, p = (p + 1) % (nsh * nsh))
		if (ring_len(p / nsh, p % nsh)) {
			ring_step(p / nsh, p % nsh);
			return;
		}
}

/* One model run: `nsh` shards of the NS in use (2 or 3); `seq`: one client that opens a new
 * connection only after it closed the last (the broker may notice later), else overlapping
 * connections of the same id (a client and its zombie, two devices). */
static int
model_run(uint64_t seed, unsigned int steps, unsigned int nsh, bool seq)
{
	unsigned int home = (unsigned int)(seed % nsh);
	const char *cid = cid_home("model", home);
	static struct fake f[MODEL_CONNS];
	bool client_done[MODEL_CONNS] = {0};
	uint8_t buf[512];
	int bad = 0;

	rnd_state = seed * 0x9e3779b97f4a7c15ull + 1;
	brokers_new();
	CHECK_EQ(connect_on(rnd(nsh), &f[0], MQTT_V311, cid, 0, 0), 0);
	subscribe(&f[0], MQTT_V311, "m/#", 1);
	for (unsigned int i = 1; i < MODEL_CONNS; i++)
		f[i].c = NULL;
	for (unsigned int step = 0; step < steps; step++) {
		unsigned int k = rnd(MODEL_CONNS), a = rnd(10), live = 0;

		for (unsigned int i = 0; i < MODEL_CONNS; i++)
			live += f[i].c && !client_done[i];
		if (a < 2 && !f[k].c && (!seq || live == 0)) {
			unsigned int sh = rnd(nsh);

			fake_open(br[sh], &f[k]);
			client_done[k] = false;
			CHECK_EQ(feed(&f[k], buf,
			              pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)),
			         0);
		} else if (a < 3 && f[k].c && !client_done[k]) {
			client_done[k] = true; /* the broker notices later */
		} else if (a < 4 && f[k].c && (client_done[k] || !seq)) {
			fake_gone(&f[k]); /* the broker noticed the client went, or closed it */
		} else {
			step_random(nsh);
		}
		for (unsigned int i = 0; i < MODEL_CONNS; i++)
			if (f[i].c && f[i].len >= 4 && !f[i].closed && take_connack(&f[i]) != 1)
				bad |= 1; /* a CONNACK without the session */
	}
	pump();
	for (unsigned int i = 0; i < MODEL_CONNS; i++) {
		if (f[i].c && !f[i].closed && f[i].len == 0 && f[i].c->state != CONN_CONNECTED)
			bad |= 2; /* parked for ever */
		fake_gone(&f[i]);
	}
	pump();
	{
		uint64_t subs = 0, pers = 0;

		for (unsigned int i = 0; i < NS; i++) {
			subs += mqtt_broker_stats(br[i])->subscriptions;
			pers += mqtt_broker_stats(br[i])->sessions_persistent;
		}
		if (subs != 1 || pers != 1 || mqtt_broker_stats(br[home])->subscriptions != 1)
			bad |= 4; /* lost, or split between shards, or not home */
		if (waits_total())
			bad |= 8; /* a claim nobody will answer */
	}
	if (!bad) {
		/* and the client finds it from anywhere */
		if (connect_on(rnd(nsh), &f[0], MQTT_V311, cid, 0, 0) != 1)
			bad |= 16;
		fake_gone(&f[0]);
	}
	brokers_free();
	if (bad)
		printf("#   model seed %llu (%u shards%s): failure bits 0x%x\n",
		       (unsigned long long)seed, nsh, seq ? ", one client" : "", bad);
	return bad;
}

static void
test_model(void)
{
	unsigned int fails = 0;

	unsigned int nseeds = getenv("MODEL_SEEDS") ? (unsigned)atoi(getenv("MODEL_SEEDS")) : 500;
	unsigned int nsteps = getenv("MODEL_STEPS") ? (unsigned)atoi(getenv("MODEL_STEPS")) : 60;
	for (uint64_t seed = 1; seed <= nseeds; seed++) {
		fails += model_run(seed, nsteps, 2, true) != 0;
		fails += model_run(seed, nsteps, 2, false) != 0;
		fails += model_run(seed, nsteps, 3, true) != 0;
		fails += model_run(seed, nsteps, 3, false) != 0;
	}
	CHECK_EQ(fails, 0);
}

/* ---- the move cut: a publish routed to a session between export and import ---- */

/* What a subscriber received: payload -> deliveries (dup: resends marked DUP). */
static struct got {
	char p[24];
	int n, dup;
} got[256];
static unsigned int n_got;

static struct got *
got_find(const char *p)
{
	for (unsigned int i = 0; i < n_got; i++)
		if (!strcmp(got[i].p, p))
			return &got[i];
	return NULL;
}

static void
ack(struct fake *f, uint8_t type, uint16_t pid)
{
	uint8_t b[4] = {type, 2, (uint8_t)(pid >> 8), (uint8_t)pid};

	CHECK_EQ(feed(f, b, 4), 0);
}

/* The subscriber's client: records every PUBLISH and acknowledges it (QoS 1 and 2 flows), until
 * the broker has nothing more to say. A CONNACK is skipped. */
static void
client_run(struct fake *f, int v)
{
	while (f->c && f->len) {
		uint8_t buf[4096];
		size_t n = f->len < sizeof(buf) ? f->len : sizeof(buf), off = 0;

		memcpy(buf, f->out, n);
		memmove(f->out, f->out + n, f->len - n);
		f->len -= n;
		while (off < n) {
			struct mqtt_packet p;
			uint8_t type, flags;
			uint32_t rem, hl;

			if (mqtt_fixed_header(buf + off, n - off, &type, &flags, &rem, &hl) ||
			    off + hl + rem > n || mqtt_decode(buf + off, hl + rem, v, &p)) {
				CHECK(0);
				return;
			}
			off += hl + rem;
			if (type == MQTT_PUBLISH) {
				char pl[24] = {0};
				struct got *g;

				memcpy(pl, p.publish.payload.p,
				       p.publish.payload.len < 23 ? p.publish.payload.len : 23);
				g = got_find(pl);
				if (!g) {
					CHECK(n_got < 256);
					g = &got[n_got++];
					memset(g, 0, sizeof(*g));
					snprintf(g->p, sizeof(g->p), "%s", pl);
				}
				if (p.publish.dup)
					g->dup++;
				else
					g->n++;
				if (p.publish.qos == 1)
					ack(f, 0x40, p.publish.packet_id);
				else if (p.publish.qos == 2)
					ack(f, 0x50, p.publish.packet_id);
			} else if (type == MQTT_PUBREL) {
				ack(f, 0x70, p.ack.packet_id);
			}
		}
	}
}

/* Publish payload `pl` on topic c/<pl> at QoS 2 from publisher f (its PUBREC answered). */
static void
pub2(struct fake *f, const char *pl)
{
	uint8_t buf[128];
	char topic[32];
	static uint16_t pid;

	snprintf(topic, sizeof(topic), "c/%s", pl);
	pid = (uint16_t)(pid % 60000 + 1);
	CHECK_EQ(feed(f, buf,
	              pkt_publish(buf, sizeof(buf), MQTT_V311, topic, pl, strlen(pl), 2, pid, 0)),
	         0);
	ack(f, 0x62, pid); /* PUBREL */
	f->len = 0;
}

static unsigned int
cuts_total(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < NS; i++)
		n += !mqtt_list_empty(&br[i]->xfer_cuts);
	return n;
}

/* Every payload in `want` (space separated) arrived exactly once (QoS 2: no repeat at all), and
 * nothing else. */
static bool
got_exactly(const char *want)
{
	char w[512], *save = NULL;
	unsigned int n = 0;
	bool ok = true;

	snprintf(w, sizeof(w), "%s", want);
	for (char *t = strtok_r(w, " ", &save); t; t = strtok_r(NULL, " ", &save), n++) {
		struct got *g = got_find(t);

		if (!g || g->n != 1 || g->dup) {
			printf("#   %s: %d deliveries, %d DUP\n", t, g ? g->n : 0, g ? g->dup : 0);
			ok = false;
		}
	}
	if (n != n_got) {
		printf("#   %u payloads expected, %u received\n", n, n_got);
		ok = false;
	}
	return ok;
}

/* Subscriber s (QoS 2, c/#) offline at home 0; publishers on every shard; routes known. */
static const char *
cut_setup(struct fake *s, struct fake pub[NS])
{
	const char *cid = cid_home("cut", 0);

	routes_on = true;
	brokers_new();
	n_got = 0;
	CHECK_EQ(connect_on(0, s, MQTT_V311, cid, 0, 0), 0);
	subscribe(s, MQTT_V311, "c/#", 2);
	fake_gone(s);
	for (unsigned int i = 0; i < NS; i++)
		CHECK_EQ(connect_on(i, &pub[i], MQTT_V311, cid_home("cp", i), 1, 0), 0);
	pump();
	return cid;
}

static void
cut_teardown(struct fake *s, struct fake pub[NS])
{
	pump();
	CHECK_EQ(cuts_total(), 0); /* every stub and cut ended */
	fake_gone(s);
	for (unsigned int i = 0; i < NS; i++)
		fake_gone(&pub[i]);
	brokers_free();
	routes_on = false;
}

/* The session moves 0 -> 1 (its client connects on shard 1); publishes from the old shard (0),
 * the new one (1) and a third (2) at every stage of the cut: each arrives exactly once. Without
 * the cut, b0 b1 b2 c2 d2 (published between the export and the publisher's shard learning the
 * new route) were lost. */
static void
test_cut_publishers(void)
{
	struct fake s, pub[NS];
	uint8_t buf[128];
	const char *cid = cut_setup(&s, pub);

	pub2(&pub[2], "a2"); /* queued at home while offline */
	pump();
	fake_open(br[1], &s);
	CHECK_EQ(feed(&s, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	ring_step(1, 0); /* CLAIM: shard 0 exports (MOVE), keeps a stub */
	CHECK_EQ(mqtt_broker_stats(br[0])->sessions_persistent, 0);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions, 1); /* the stub's */
	pub2(&pub[0], "b0");                                  /* the stub forwards it */
	pub2(&pub[1], "b1"); /* to shard 0 by the route: forwarded */
	pub2(&pub[2], "b2"); /* likewise */
	ring_step(0, 1);     /* MOVE: imported, CONNACK, then a2 */
	CHECK_EQ(take_connack(&s), 1);
	pub2(&pub[1], "c1"); /* local now; shard 0's copy is dropped (1's CUT is ahead of it) */
	pub2(&pub[2], "c2"); /* shard 2 knows no route to 1 yet: via the stub */
	ring_step(1, 2);     /* ROUTE c/# at shard 2 */
	pub2(&pub[2], "d2"); /* to 0 and 1: 1 drops it (before 2's CUT), the stub forwards */
	ring_step(1, 2);     /* CUT_REQ at shard 2: CUT to 0 and 1 */
	pub2(&pub[2], "e2"); /* direct from now on; the stub drops its copy */
	pub2(&pub[0], "e0"); /* shard 0 before its own cut: forwarded */
	pump();
	pub2(&pub[0], "f0"); /* after every cut: direct (the stub is gone) */
	pub2(&pub[2], "f2");
	pump();
	client_run(&s, MQTT_V311);
	CHECK(got_exactly("a2 b0 b1 b2 c1 c2 d2 e2 e0 f0 f2"));
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions, 0); /* the stub's routes withdrawn */
	CHECK_EQ(mqtt_broker_stats(br[1])->subscriptions, 1);
	cut_teardown(&s, pub);
}

/* A forwarded publish meets the session after it unsubscribed on the new shard: not delivered
 * (the subscription it has now decides). */
static void
test_cut_unsubscribe(void)
{
	struct fake s, pub[NS];
	uint8_t buf[128];
	const char *cid = cut_setup(&s, pub);

	fake_open(br[1], &s);
	CHECK_EQ(feed(&s, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	ring_step(1, 0);     /* exported, stub on 0 */
	pub2(&pub[0], "x0"); /* FWD behind the MOVE */
	ring_step(0, 1);     /* MOVE */
	CHECK_EQ(take_connack(&s), 1);
	CHECK_EQ(feed_hex(&s, "a2 07 00 09 00 03 63 2f 23"), 0); /* UNSUBSCRIBE c/# */
	s.len = 0;
	pump();
	client_run(&s, MQTT_V311);
	CHECK(got_exactly(""));
	cut_teardown(&s, pub);
}

/* A chain of two moves: 0 -> 1, then 1 -> 2 before the first cut ended (shard 1 becomes a
 * stub that still waits for its upstream). Publishes from every shard at each stage arrive
 * exactly once, at the last connection. */
static void
test_cut_chain(void)
{
	struct fake s, s2, pub[NS];
	uint8_t buf[128];
	const char *cid = cut_setup(&s, pub);

	fake_open(br[1], &s);
	CHECK_EQ(feed(&s, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	ring_step(1, 0); /* CLAIM of 1: stub on 0, MOVE 0 -> 1 */
	pub2(&pub[0], "a0");
	pub2(&pub[2], "a2");
	ring_step(0, 1); /* MOVE: on 1, CONNACK; CUT_REQs out */
	CHECK_EQ(take_connack(&s), 1);
	client_run(&s, MQTT_V311);
	pub2(&pub[1], "b1");
	fake_open(br[2], &s2); /* the client again, on shard 2 */
	CHECK_EQ(feed(&s2, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	ring_step(2, 0); /* its CLAIM: PULL 0 -> 1 */
	pub2(&pub[2], "c2");
	pub2(&pub[0], "c0");
	while (ring_len(2, 0))
		ring_step(2, 0); /* c2 to the stub, then the CLAIM: PULL 0 -> 1 */
	while (ring_len(0, 1) && !s.closed) {
		ring_step(0, 1); /* the FWDs (a0 a2 c0 c2), then the PULL: 1 exports to 2 */
		client_run(&s, MQTT_V311);
	}
	CHECK_EQ(s.closed, 1);     /* taken over */
	client_run(&s, MQTT_V311); /* what reached the first connection (acknowledged) */
	pub2(&pub[1], "d1");
	pub2(&pub[2], "d2");
	pump();
	CHECK_EQ(take_connack(&s2), 1);
	pub2(&pub[0], "e0");
	pub2(&pub[1], "e1");
	pub2(&pub[2], "e2");
	pump();
	client_run(&s2, MQTT_V311);
	CHECK(got_exactly("a0 a2 b1 c2 c0 d1 d2 e0 e1 e2"));
	CHECK_EQ(mqtt_broker_stats(br[2])->subscriptions, 1);
	CHECK_EQ(mqtt_broker_stats(br[0])->subscriptions + mqtt_broker_stats(br[1])->subscriptions,
	         0);
	fake_gone(&s2);
	cut_teardown(&s, pub);
}

/* pump(), the client answering after every ring message */
static void
pump_client(struct fake *f)
{
	do
		client_run(f, MQTT_V311);
	while (step_oldest());
}

/* Random schedules: the subscriber (QoS 2) reconnects on random shards, publishers on every
 * shard publish at random moments, the rings deliver in a random order (FIFO per pair):
 * every publish arrives exactly once, however the moves and the cuts interleave. */
static int
cut_model_run(uint64_t seed, unsigned int steps)
{
	struct fake s, pub[NS];
	const char *cid;
	uint8_t buf[128];
	char want[4096] = "", pl[16];
	unsigned int np = 0;
	int bad = 0;

	rnd_state = seed * 0x9e3779b97f4a7c15ull + 7;
	cid = cut_setup(&s, pub);
	fake_open(br[rnd(NS)], &s);
	CHECK_EQ(feed(&s, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	for (unsigned int step = 0; step < steps; step++) {
		unsigned int a = rnd(10);

		if (a < 1) {
			client_run(&s, MQTT_V311);
			fake_gone(&s);
			fake_open(br[rnd(NS)], &s);
			CHECK_EQ(feed(&s, buf,
			              pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)),
			         0);
		} else if (a < 4 && np < 200) {
			snprintf(pl, sizeof(pl), "m%u", np++);
			pub2(&pub[rnd(NS)], pl);
			strcat(want, pl);
			strcat(want, " ");
		} else {
			step_random(NS);
		}
		client_run(&s, MQTT_V311);
	}
	/* the client comes back once more, as a client kicked by a takeover would; it answers
	 * every delivery at once (an unanswered one is resent with DUP, as it may) */
	pump_client(&s);
	fake_gone(&s);
	fake_open(br[rnd(NS)], &s);
	CHECK_EQ(feed(&s, buf, pkt_connect(buf, MQTT_V311, cid, 0, 0, NULL, NULL, 0)), 0);
	pump_client(&s);
	if (!got_exactly(want))
		bad = 1;
	if (cuts_total())
		bad |= 2;
	cut_teardown(&s, pub);
	if (bad)
		printf("#   cut model seed %llu: failure bits 0x%x\n", (unsigned long long)seed,
		       bad);
	return bad;
}

static void
test_cut_model(void)
{
	unsigned int fails = 0;
	unsigned int nseeds = getenv("MODEL_SEEDS") ? (unsigned)atoi(getenv("MODEL_SEEDS")) : 300;

	for (uint64_t seed = 1; seed <= nseeds; seed++)
		fails += cut_model_run(seed, 120) != 0;
	CHECK_EQ(fails, 0);
}

/* Zero-copy cross-shard publish: a QoS 1 message from shard 0 reaches 50 QoS 1 subscribers on
 * shard 1 (10 offline: queued; one whose transport takes nothing: its PUBLISH waits in the
 * output buffer; the rest online). Every delivery kept on shard 1 holds the one proxy of the
 * owner's message (its payload pointer is the owner's bytes, nothing copied), and the
 * reference goes home (RET) only after the last subscriber acknowledged. */
#define ZC_SUBS 50

static bool
zc_holds(struct mqtt_session *s, const struct mqtt_msg *owner, const struct mqtt_msg **proxy)
{
	struct mqtt_list *l = !mqtt_list_empty(&s->inflight) ? s->inflight.next : s->queue.next;
	const struct mqtt_delivery *d;

	if (l == &s->queue)
		return false;
	d = mqtt_container_of(l, struct mqtt_delivery, link);
	if (!d->msg || d->msg->payload != owner->payload || d->msg->topic != owner->topic ||
	    !(d->msg->flags & MQTT_MSG_PROXY))
		return false;
	if (*proxy == NULL)
		*proxy = d->msg;
	return d->msg == *proxy;
}

/* Publish from f and let the rings run. */
static void
zc_pub(struct fake *f, const char *topic, const char *pl, uint8_t qos, uint16_t pid, uint8_t retain)
{
	uint8_t buf[256];

	CHECK_EQ(feed(f, buf,
	              pkt_publish(buf, sizeof(buf), MQTT_V311, topic, pl, strlen(pl), qos, pid,
	                          retain)),
	         0);
	pump();
}

static void
test_zero_copy(void)
{
	static struct fake f[ZC_SUBS];
	static char cid[ZC_SUBS][64];
	struct fake pub;
	const struct mqtt_msg *proxy = NULL;
	struct mqtt_msg *owner;
	unsigned int held = 0, rets0;

	routes_on = true;
	brokers_new();
	for (unsigned int i = 0; i < ZC_SUBS; i++) {
		char pre[16];

		snprintf(pre, sizeof(pre), "zc%u_", i);
		snprintf(cid[i], sizeof(cid[i]), "%s", cid_home(pre, 1));
		CHECK_EQ(connect_on(1, &f[i], MQTT_V311, cid[i], 0, 0), 0);
		subscribe(&f[i], MQTT_V311, "zc/+", 1);
		if (i % 5 == 0)
			fake_gone(&f[i]); /* offline: the message is queued */
	}
	f[1].window = 0; /* a full transport: the PUBLISH waits in the output buffer */
	CHECK_EQ(connect_on(0, &pub, MQTT_V311, cid_home("zcp", 0), 1, 0), 0);
	pump(); /* the routes reach shard 0 */
	rets0 = rets_to[0];
	last_fwd = NULL;
	zc_pub(&pub, "zc/a", "ZERO", 1, 1, 0);
	owner = last_fwd;
	CHECK(owner != NULL);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_copies, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_copy_bytes, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_proxies, 1);
	for (unsigned int i = 0; owner && i < ZC_SUBS; i++) {
		struct mqtt_session *s = mqtt_dict_get(&br[1]->sessions, cid[i], strlen(cid[i]));

		held += s && zc_holds(s, owner, &proxy);
	}
	CHECK_EQ(held, ZC_SUBS);
	CHECK(proxy != NULL && proxy->payload_len == 4 && proxy->refcnt == ZC_SUBS);
	/* online subscribers acknowledge; the reference stays on shard 1 */
	n_got = 0;
	for (unsigned int i = 0; i < ZC_SUBS; i++)
		if (i % 5 && i != 1)
			client_run(&f[i], MQTT_V311);
	pump();
	CHECK_EQ(n_got, 1);
	CHECK_EQ(got[0].n, ZC_SUBS - ZC_SUBS / 5 - 1);
	CHECK_EQ(rets_to[0], rets0);
	CHECK_EQ(proxy->refcnt, ZC_SUBS / 5 + 1);
	/* the full transport drains */
	f[1].window = SIZE_MAX;
	mqtt_conn_writable(f[1].c, now_us);
	client_run(&f[1], MQTT_V311);
	pump();
	CHECK_EQ(rets_to[0], rets0);
	/* the offline ones come back for it, the last acknowledgement sends the RET */
	for (unsigned int i = 0; i < ZC_SUBS; i += 5) {
		CHECK_EQ(connect_on(1, &f[i], MQTT_V311, cid[i], 0, 0), 1);
		client_run(&f[i], MQTT_V311);
		CHECK_EQ(ring_len(1, 0), i + 5 < ZC_SUBS ? 0u : 1u);
		pump();
	}
	CHECK_EQ(got[0].n, ZC_SUBS);
	CHECK_EQ(got[0].dup, 0);
	CHECK_EQ(rets_to[0], rets0 + 1);
	/* a QoS 0 publish to online subscribers keeps nothing: no proxy, no RET */
	zc_pub(&pub, "zc/b", "Q0", 0, 0, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_proxies, 1);
	CHECK_EQ(rets_to[0], rets0 + 1);
	/* a retained message: every other shard's store holds a proxy until it is replaced */
	zc_pub(&pub, "zr/a", "R", 1, 2, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->retained, 1);
	CHECK_EQ(mqtt_broker_stats(br[2])->inject_proxies, 1);
	CHECK_EQ(rets_to[0], rets0 + 1);
	zc_pub(&pub, "zr/a", "", 1, 3, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->retained, 0);
	CHECK_EQ(rets_to[0], rets0 + 3);
	for (unsigned int i = 0; i < NS; i++)
		CHECK_EQ(mqtt_broker_stats(br[i])->inject_copies, 0);
	/* one left in a session at teardown: the destroy sends it home (brokers_free) */
	fake_gone(&f[0]);
	zc_pub(&pub, "zc/c", "END", 1, 4, 0);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_proxies, 3);
	for (unsigned int i = 0; i < ZC_SUBS; i++)
		fake_gone(&f[i]);
	fake_gone(&pub);
	brokers_free();
	routes_on = false;
}

/* $share across shards at QoS 1: the chosen member's shard keeps a proxy too, and the reference
 * goes home after its PUBACK. */
static void
test_zero_copy_shared(void)
{
	struct fake m1, pub;
	unsigned int rets0 = rets_to[0];

	brokers_new();
	CHECK_EQ(connect_on(1, &m1, MQTT_V311, cid_home("zs", 1), 1, 0), 0);
	subscribe(&m1, MQTT_V311, "$share/g/zs/+", 1);
	CHECK_EQ(connect_on(0, &pub, MQTT_V311, cid_home("zsp", 0), 1, 0), 0);
	m1.window = 0; /* the member's transport takes nothing yet: the delivery stays inflight */
	zc_pub(&pub, "zs/a", "S", 1, 1, 0);
	CHECK_EQ(shared_fwd[1] > 0, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_proxies, 1);
	CHECK_EQ(mqtt_broker_stats(br[1])->inject_copies, 0);
	CHECK_EQ(rets_to[0], rets0);
	m1.window = SIZE_MAX;
	mqtt_conn_writable(m1.c, now_us);
	n_got = 0;
	client_run(&m1, MQTT_V311);
	CHECK_EQ(n_got, 1);
	CHECK_EQ(rets_to[0], rets0);
	pump();
	CHECK_EQ(rets_to[0], rets0 + 1);
	fake_gone(&m1);
	fake_gone(&pub);
	brokers_free();
}

int
main(void)
{
	TEST(test_move_v311);
	TEST(test_move_v5);
	TEST(test_will_home);
	TEST(test_takeover);
	TEST(test_claimant_gone);
	TEST(test_shared_across);
	TEST(test_allocator);
	TEST(test_login_once);
	TEST(test_pull_crossing);
	TEST(test_claim_after_empty);
	TEST(test_model);
	TEST(test_cut_publishers);
	TEST(test_cut_unsubscribe);
	TEST(test_cut_chain);
	TEST(test_cut_model);
	TEST(test_zero_copy);
	TEST(test_zero_copy_shared);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * mqtt_admin walkers over a broker in memory: every entry reported exactly once across
 * resumed calls (more entries than one batch), bounded batches, a full output buffer resumed at
 * the same item, filters, shows, mutations between calls, and the broker's own publish.
 */
#include "mqtt/broker_harness.h"
#include "mqtt/mqtt_admin.h"

#define NCLIENTS 600

/* Collected ids or topics: a bitmap over "<prefix><index>" names. */
struct seen {
	const char *prefix;
	int n, dup, foreign, calls;
	int fail_at; /* report -ENOSPC once when n reaches this (-1: never) */
	uint8_t bits[4096];
	uint8_t rec_qos, rec_proto; /* last record's fields */
	uint32_t rec_queued, rec_subs, rec_inflight;
	int64_t rec_expires;
	int rec_online;
};

static void
seen_init(struct seen *s, const char *prefix)
{
	memset(s, 0, sizeof(*s));
	s->prefix = prefix;
	s->fail_at = -1;
}

static int
seen_add(struct seen *s, const uint8_t *name, size_t len)
{
	size_t pl = strlen(s->prefix);
	char num[16];
	long i;

	if (s->fail_at >= 0 && s->n == s->fail_at) {
		s->fail_at = -1;
		return -ENOSPC;
	}
	if (len <= pl || len - pl >= sizeof(num) || memcmp(name, s->prefix, pl)) {
		s->foreign++;
		return 0;
	}
	memcpy(num, name + pl, len - pl);
	num[len - pl] = 0;
	i = strtol(num, NULL, 10);
	if (i < 0 || i >= (long)sizeof(s->bits) * 8) {
		s->foreign++;
		return 0;
	}
	if (s->bits[i / 8] & (1u << (i % 8)))
		s->dup++;
	s->bits[i / 8] |= (uint8_t)(1u << (i % 8));
	s->n++;
	return 0;
}

static int
seen_has(const struct seen *s, int i)
{
	return !!(s->bits[i / 8] & (1u << (i % 8)));
}

static int
on_client(void *arg, const struct mqtt_admin_client *c)
{
	struct seen *s = arg;

	s->rec_proto = c->protocol;
	s->rec_subs = c->subscriptions;
	return seen_add(s, c->client_id, c->client_id_len);
}

static int
on_session(void *arg, const struct mqtt_admin_session *r)
{
	struct seen *s = arg;

	s->rec_online = r->online;
	s->rec_queued = r->queued;
	s->rec_inflight = r->inflight;
	s->rec_expires = r->expires_in_s;
	return seen_add(s, r->client_id, r->client_id_len);
}

static int
on_sub(void *arg, const struct mqtt_admin_sub *r)
{
	struct seen *s = arg;

	s->rec_qos = r->qos;
	return seen_add(s, r->filter, r->filter_len);
}

static int
on_retained(void *arg, const struct mqtt_admin_retained *r)
{
	struct seen *s = arg;

	s->rec_qos = r->qos;
	return seen_add(s, r->topic, r->topic_len);
}

/* Walk to the end: every call reports at most the batch and makes progress. */
#define WALK(call, s)                                                                              \
	do {                                                                                       \
		struct mqtt_admin_cursor cur = {0};                                                \
		int guard = 0;                                                                     \
		while (!cur.done && guard++ < 1000) {                                              \
			int rc_ = (call);                                                          \
			CHECK(rc_ >= -ENOSPC && rc_ <= MQTT_ADMIN_BATCH);                          \
			(s)->calls++;                                                              \
		}                                                                                  \
		CHECK(cur.done);                                                                   \
	} while (0)

static struct fake cl[NCLIENTS];
#define VERSION_OF(i) ((i) % 2 ? MQTT_V5 : MQTT_V311)

static void
connect_many(struct mqtt_broker *b, int n, int clean)
{
	for (int i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c%d", i);
		client(b, &cl[i], VERSION_OF(i), id, clean);
	}
}

static void
gone_many(int n)
{
	for (int i = 0; i < n; i++)
		fake_gone(&cl[i]);
}

static void
test_clients_walk(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_admin_cursor cur = {0};
	struct seen s;
	int all;

	connect_many(b, NCLIENTS, 1);
	/* one batch: at most the batch size, not done */
	seen_init(&s, "c");
	CHECK_EQ(mqtt_admin_clients(b, &cur, 10000, on_client, &s), MQTT_ADMIN_BATCH);
	CHECK(!cur.done);
	CHECK_EQ(cur.pos, MQTT_ADMIN_BATCH);
	/* whole walk in batches of 100: each client exactly once */
	seen_init(&s, "c");
	WALK(mqtt_admin_clients(b, &cur, 100, on_client, &s), &s);
	CHECK_EQ(s.n, NCLIENTS);
	CHECK_EQ(s.dup, 0);
	CHECK_EQ(s.foreign, 0);
	CHECK_EQ(s.calls, 6);
	all = 1;
	for (int i = 0; i < NCLIENTS; i++)
		all &= seen_has(&s, i);
	CHECK(all);
	/* a full output buffer at item 150: the walk stops there and resumes at the same item */
	seen_init(&s, "c");
	s.fail_at = 150;
	WALK(mqtt_admin_clients(b, &cur, 200, on_client, &s), &s);
	CHECK_EQ(s.n, NCLIENTS);
	CHECK_EQ(s.dup, 0);
	/* clients leave between two calls: no crash, no client twice; those ahead of the cursor
	 * that stay are all seen; those gone behind it cost nothing (resume by id) unless the
	 * last one reported went too (resume by ordinal: each one gone makes the walk skip one) */
	seen_init(&s, "c");
	memset(&cur, 0, sizeof(cur));
	CHECK_EQ(mqtt_admin_clients(b, &cur, 100, on_client, &s), 100);
	for (int i = 200; i < NCLIENTS; i += 2)
		fake_gone(&cl[i]);
	while (!cur.done)
		CHECK(mqtt_admin_clients(b, &cur, 100, on_client, &s) >= 0);
	CHECK_EQ(s.dup, 0);
	CHECK_EQ(s.n, NCLIENTS - (NCLIENTS - 200) / 2);
	all = 1;
	for (int i = 201; i < NCLIENTS; i += 2)
		all &= seen_has(&s, i);
	CHECK(all);
	seen_init(&s, "c");
	memset(&cur, 0, sizeof(cur));
	CHECK_EQ(mqtt_admin_clients(b, &cur, 100, on_client, &s), 100);
	for (int i = 0; i < 10; i++)
		fake_gone(&cl[i]);
	while (!cur.done)
		CHECK(mqtt_admin_clients(b, &cur, 100, on_client, &s) >= 0);
	CHECK_EQ(s.dup, 0);
	CHECK_EQ(s.n, NCLIENTS - (NCLIENTS - 200) / 2);
	/* the last one reported leaves too: ordinal resume, one entry skipped per client gone */
	seen_init(&s, "c");
	memset(&cur, 0, sizeof(cur));
	CHECK_EQ(mqtt_admin_clients(b, &cur, 100, on_client, &s), 100);
	CHECK(cur.last_len > 0);
	for (int i = 100; i < 110; i++) /* c10..c109 were reported: c100..c109 leave */
		fake_gone(&cl[i]);
	while (!cur.done)
		CHECK(mqtt_admin_clients(b, &cur, 100, on_client, &s) >= 0);
	CHECK_EQ(s.dup, 0);
	CHECK_EQ(s.n, NCLIENTS - (NCLIENTS - 200) / 2 - 10 - 10);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	gone_many(NCLIENTS);
	/* empty broker: done at once */
	memset(&cur, 0, sizeof(cur));
	CHECK_EQ(mqtt_admin_clients(b, &cur, 100, on_client, &s), 0);
	CHECK(cur.done);
	mqtt_broker_destroy(b);
}

static void
test_client_get(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct seen s;

	connect_many(b, 4, 1);
	subscribe(&cl[3], MQTT_V5, "x/y", 1);
	seen_init(&s, "c");
	CHECK_EQ(mqtt_admin_client_get(b, (const uint8_t *)"c3", 2, on_client, &s), 0);
	CHECK_EQ(s.n, 1);
	CHECK(seen_has(&s, 3));
	CHECK_EQ(s.rec_proto, 5);
	CHECK_EQ(s.rec_subs, 1);
	CHECK_EQ(mqtt_admin_client_get(b, (const uint8_t *)"c2", 2, on_client, &s), 0);
	CHECK_EQ(s.rec_proto, 4);
	CHECK_EQ(mqtt_admin_client_get(b, (const uint8_t *)"zz", 2, on_client, &s), -ENOENT);
	CHECK_EQ(mqtt_admin_client_get(b, (const uint8_t *)"", 0, on_client, &s), -ENOENT);
	CHECK(!strcmp(mqtt_admin_state_name(MQTT_ADMIN_CONNECTED), "connected"));
	gone_many(4);
	mqtt_broker_destroy(b);
}

static void
test_sessions(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub;
	uint8_t buf[256];
	struct seen s;

	connect_many(b, 300, 0); /* persistent (3.1.1: never expires; v5 clean_start 0, expiry 0) */
	subscribe(&cl[0], MQTT_V311, "q", 1);
	fake_gone(&cl[0]); /* offline, keeps its subscription */
	client(b, &pub, MQTT_V311, "pub", 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "q", "m", 1, 1,
		                          (uint16_t)(i + 1), 0)),
		         0);
	seen_init(&s, "c");
	WALK(mqtt_admin_sessions(b, &cur, 0, now_us, on_session, &s), &s);
	CHECK_EQ(s.n, 300);
	CHECK_EQ(s.foreign, 1); /* "pub" */
	CHECK_EQ(s.dup, 0);
	seen_init(&s, "c");
	CHECK_EQ(mqtt_admin_session_get(b, (const uint8_t *)"c0", 2, now_us, on_session, &s), 0);
	CHECK_EQ(s.rec_online, 0);
	CHECK_EQ(s.rec_queued + s.rec_inflight, 3);
	CHECK_EQ(s.rec_expires, -1); /* 3.1.1 persistent: never expires */
	CHECK_EQ(mqtt_admin_session_get(b, (const uint8_t *)"c2", 2, now_us, on_session, &s), 0);
	CHECK_EQ(s.rec_online, 1);
	CHECK_EQ(mqtt_admin_session_get(b, (const uint8_t *)"nope", 4, now_us, on_session, &s),
	         -ENOENT);
	/* drop: gone from the walk and from get */
	CHECK_EQ(mqtt_admin_session_drop(b, (const uint8_t *)"c0", 2, now_us), 0);
	CHECK_EQ(mqtt_admin_session_get(b, (const uint8_t *)"c0", 2, now_us, on_session, &s),
	         -ENOENT);
	fake_gone(&pub);
	gone_many(300);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static void
test_subscriptions(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_admin_cursor cur = {0};
	struct seen s;

	connect_many(b, 3, 1);
	for (int i = 0; i < 400; i++) {
		char f[32];

		snprintf(f, sizeof(f), "t%d", i);
		subscribe(&cl[i % 3], VERSION_OF(i % 3), f, (uint8_t)(i % 3));
	}
	subscribe(&cl[0], MQTT_V311, "a/+/c", 1);
	subscribe(&cl[1], VERSION_OF(1), "a/b", 2);
	subscribe(&cl[2], MQTT_V311, "b/#", 0);
	/* all: 403, each once; foreign = the three non-t filters */
	seen_init(&s, "t");
	WALK(mqtt_admin_subscriptions(b, &cur, 0, NULL, 0, NULL, 0, on_sub, &s), &s);
	CHECK_EQ(s.n, 400);
	CHECK_EQ(s.foreign, 3);
	CHECK_EQ(s.dup, 0);
	/* of one client: 134 t-filters (0, 3, ... 399) + a/+/c */
	seen_init(&s, "t");
	WALK(mqtt_admin_subscriptions(b, &cur, 50, (const uint8_t *)"c0", 2, NULL, 0, on_sub, &s),
	     &s);
	CHECK_EQ(s.n, 134);
	CHECK_EQ(s.foreign, 1);
	CHECK(seen_has(&s, 399) && !seen_has(&s, 1));
	/* matching a filter: "a/#" shows a/+/c and a/b, not b/# */
	seen_init(&s, "a/");
	WALK(mqtt_admin_subscriptions(b, &cur, 0, NULL, 0, (const uint8_t *)"a/#", 3, on_sub, &s),
	     &s);
	CHECK_EQ(s.n + s.foreign, 2);
	/* an exact filter */
	seen_init(&s, "t");
	WALK(mqtt_admin_subscriptions(b, &cur, 0, NULL, 0, (const uint8_t *)"t77", 3, on_sub, &s),
	     &s);
	CHECK_EQ(s.n, 1);
	CHECK(seen_has(&s, 77));
	CHECK_EQ(s.rec_qos, 77 % 3);
	CHECK_EQ(mqtt_admin_subscriptions(b, &cur, 0, (const uint8_t *)"x", 1, NULL, 0, on_sub, &s),
	         -ENOENT);
	gone_many(3);
	mqtt_broker_destroy(b);
}

static void
test_retained(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;
	uint8_t buf[256];
	struct seen s;
	int all = 1;

	client(b, &pub, MQTT_V311, "pub", 1);
	/* 700 topics over nested levels: r/<i>, some under r/<i>/deep/er, plus $SYS/x */
	for (int i = 0; i < 700; i++) {
		char t[64];

		snprintf(t, sizeof(t), i % 7 ? "r%d" : "r%d/deep/er", i);
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, t, "v", 1, 0, 0, 1)),
		         0);
	}
	CHECK_EQ(feed(&pub, buf,
	              pkt_publish(buf, sizeof(buf), MQTT_V311, "r700/deep", "v", 1, 1, 9, 1)),
	         0);
	CHECK_EQ(mqtt_admin_publish(b, (const uint8_t *)"$SYS/broker/uptime", 18,
	                            (const uint8_t *)"5 seconds", 9, 1, now_us),
	         0);
	CHECK_EQ(mqtt_admin_publish(b, (const uint8_t *)"a/#", 3, (const uint8_t *)"x", 1, 1,
	                            now_us),
	         -EINVAL);
	CHECK_EQ(mqtt_broker_stats(b)->retained, 702);
	seen_init(&s, "r");
	WALK(mqtt_admin_retained(b, &cur, 0, NULL, 0, now_us, on_retained, &s), &s);
	CHECK_EQ(s.n, 701);
	CHECK_EQ(s.dup, 0);
	CHECK_EQ(s.foreign, 1); /* $SYS/broker/uptime */
	for (int i = 0; i < 700; i++)
		all &= seen_has(&s, i);
	CHECK(all);
	/* "#" skips '$' topics; "$SYS/#" lists them */
	seen_init(&s, "r");
	WALK(mqtt_admin_retained(b, &cur, 7, (const uint8_t *)"#", 1, now_us, on_retained, &s), &s);
	CHECK_EQ(s.n, 701);
	CHECK_EQ(s.foreign, 0);
	seen_init(&s, "$SYS/broker/");
	WALK(mqtt_admin_retained(b, &cur, 0, (const uint8_t *)"$SYS/#", 6, now_us, on_retained, &s),
	     &s);
	CHECK_EQ(s.n + s.foreign, 1);
	/* delete, then the walk misses it and a new subscriber gets nothing for it */
	CHECK_EQ(mqtt_admin_retained_delete(b, (const uint8_t *)"r3", 2), 0);
	seen_init(&s, "r");
	WALK(mqtt_admin_retained(b, &cur, 0, (const uint8_t *)"+", 1, now_us, on_retained, &s), &s);
	CHECK_EQ(s.n, 700 - 100 - 1 /* r0, r7, ... are under r<i>/deep/er; r3 deleted */);
	CHECK(!seen_has(&s, 3));
	/* the broker's own publish reaches a subscriber of $SYS/# retained */
	client(b, &sub, MQTT_V311, "sub", 1);
	CHECK_EQ(feed(&sub, buf, pkt_subscribe(buf, MQTT_V311, 7, "$SYS/#", 0)), 0);
	/* SUBACK (5 bytes), then the retained PUBLISH (retain flag set) */
	CHECK(sub.len > 25 && sub.out[0] == 0x90 && sub.out[5] == 0x31);
	fake_gone(&sub);
	fake_gone(&pub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

int
main(void)
{
	TEST(test_clients_walk);
	TEST(test_client_get);
	TEST(test_sessions);
	TEST(test_subscriptions);
	TEST(test_retained);
	return tap_done();
}

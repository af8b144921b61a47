/* SPDX-License-Identifier: Apache-2.0
 * Broker core conversations over an in-memory transport and a virtual clock: byte-exact where
 * the bytes are the point (CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH routing, acks), decoded
 * where the volume is (every split point, 10,000 messages, back-pressure).
 */
#include "broker_harness.h"
#include "mqtt/mqtt_admin.h"

static void
small_window(struct mqtt_broker_conf *c)
{
	c->max_inflight = 2;
	c->max_queued = 5;
	c->max_outbuf = 100;
}

/* CONNECT "c1" clean, keep-alive 60 -> CONNACK accepted; PINGREQ -> PINGRESP; DISCONNECT. */
static void
test_connect_connack_bytes(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;

	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 02 00 00"));
	CHECK_EQ(feed_hex(&f, "c0 00"), 0);
	CHECK(expect_hex(&f, "d0 00"));
	CHECK_EQ(mqtt_broker_stats(b)->connections_current, 1);
	CHECK_EQ(feed_hex(&f, "e0 00"), 0);
	CHECK_EQ(f.closed, 1);
	CHECK(expect_hex(&f, ""));
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_stats(b)->connections_current, 0);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* SUBSCRIBE a/# QoS 1 and a/+ QoS 0 -> SUBACK 01 00; UNSUBSCRIBE a/+ -> UNSUBACK. */
static void
test_subscribe_suback_bytes(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;

	client(b, &f, MQTT_V311, "s", 1);
	CHECK_EQ(feed_hex(&f, "82 0e 00 01 00 03 61 2f 23 01 00 03 61 2f 2b 00"), 0);
	CHECK(expect_hex(&f, "90 04 00 01 01 00"));
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 2);
	CHECK_EQ(feed_hex(&f, "a2 07 00 02 00 03 61 2f 2b"), 0);
	CHECK(expect_hex(&f, "b0 02 00 02"));
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 1);
	/* an invalid filter gets 0x80, the valid one its QoS */
	CHECK_EQ(feed_hex(&f, "82 0c 00 03 00 03 61 23 62 01 00 01 62 02"), 0);
	CHECK(expect_hex(&f, "90 04 00 03 80 02"));
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 0);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* A QoS 0 PUBLISH reaches exactly the matching subscribers, byte for byte. */
static void
test_publish_routing(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, s1, s2, s3;

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &s1, MQTT_V311, "s1", 1);
	client(b, &s2, MQTT_V311, "s2", 1);
	client(b, &s3, MQTT_V311, "s3", 1);
	subscribe(&s1, MQTT_V311, "a/+", 0);
	subscribe(&s2, MQTT_V311, "b/#", 0);
	subscribe(&s3, MQTT_V311, "#", 0);
	/* PUBLISH a/x "hi" (retain flag set: forwarded with retain 0, MQTT-3.3.1-9) */
	CHECK_EQ(feed_hex(&pub, "31 07 00 03 61 2f 78 68 69"), 0);
	CHECK(expect_hex(&pub, ""));
	CHECK(expect_hex(&s1, "30 07 00 03 61 2f 78 68 69"));
	CHECK(expect_hex(&s2, ""));
	CHECK(expect_hex(&s3, "30 07 00 03 61 2f 78 68 69"));
	/* "$SYS/x" is not matched by "#" (MQTT-4.7.2-1) */
	CHECK_EQ(feed_hex(&pub, "30 08 00 06 24 53 59 53 2f 78"), 0);
	CHECK(expect_hex(&s3, ""));
	CHECK_EQ(mqtt_broker_stats(b)->messages_in, 2);
	CHECK_EQ(mqtt_broker_stats(b)->messages_out, 2);
	fake_gone(&pub);
	fake_gone(&s1);
	fake_gone(&s2);
	fake_gone(&s3);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* QoS 1 both ways: PUBACK to the publisher, packet ids 1, 2 to the subscriber, the inflight
 * window of 2 holds the third until an ack arrives. */
static void
test_qos1_flow(void)
{
	struct mqtt_broker *b = broker_new(small_window);
	struct fake pub, sub;

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "t", 1);
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 0a 41"), 0);
	CHECK(expect_hex(&pub, "40 02 00 0a"));
	CHECK(expect_hex(&sub, "32 06 00 01 74 00 01 41"));
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 0b 42 32 06 00 01 74 00 0c 43"), 0);
	CHECK(expect_hex(&pub, "40 02 00 0b 40 02 00 0c"));
	CHECK(expect_hex(&sub, "32 06 00 01 74 00 02 42"));
	CHECK_EQ(feed_hex(&sub, "40 02 00 01"), 0);
	CHECK(expect_hex(&sub, "32 06 00 01 74 00 03 43"));
	/* QoS 0 subscription downgrades */
	subscribe(&sub, MQTT_V311, "t", 0);
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 0d 44"), 0);
	CHECK(expect_hex(&sub, "30 04 00 01 74 44"));
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Keep-alive 10 s: closed at 15 s without traffic, not before; traffic re-arms it. */
static void
test_keepalive_1_5x(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;
	uint64_t t0 = now_us;

	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 0a 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 02 00 00"));
	CHECK_EQ(mqtt_conn_deadline(f.c), t0 + 15000000);
	now_us = t0 + 10000000;
	CHECK_EQ(feed_hex(&f, "c0 00"), 0);
	CHECK(expect_hex(&f, "d0 00"));
	CHECK_EQ(mqtt_conn_deadline(f.c), now_us + 15000000);
	now_us += 14999999;
	mqtt_conn_timeout(f.c, now_us);
	CHECK_EQ(f.closed, 0);
	now_us += 1;
	mqtt_conn_timeout(f.c, now_us);
	CHECK_EQ(f.closed, 1);
	CHECK_EQ(mqtt_broker_stats(b)->keepalive_timeouts, 1);
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* A connection that never sends CONNECT is closed after connect_timeout_us. */
static void
test_connect_timeout(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;

	fake_open(b, &f);
	CHECK_EQ(mqtt_conn_deadline(f.c), now_us + 10000000);
	mqtt_conn_timeout(f.c, now_us + 10000000);
	CHECK_EQ(f.closed, 1);
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* The will goes out when the connection drops, not after DISCONNECT (MQTT-3.1.2-8/10). */
static void
test_will(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake w, s;
	uint8_t buf[256];

	client(b, &s, MQTT_V311, "s", 1);
	subscribe(&s, MQTT_V311, "will/#", 1);
	for (int graceful = 1; graceful >= 0; graceful--) {
		fake_open(b, &w);
		CHECK_EQ(feed(&w, buf, pkt_connect(buf, MQTT_V311, "w", 1, 0, "will/w", "gone", 1)),
		         0);
		CHECK(expect_hex(&w, "20 02 00 00"));
		if (graceful)
			CHECK_EQ(feed_hex(&w, "e0 00"), 0);
		fake_gone(&w);
		if (graceful)
			CHECK(expect_hex(&s, ""));
		else /* QoS min(1,1) = 1, packet id 1 */
			CHECK(expect_hex(&s, "32 0e 00 06 77 69 6c 6c 2f 77 00 01 67 6f 6e 65"));
	}
	CHECK_EQ(mqtt_broker_stats(b)->wills_published, 1);
	fake_gone(&s);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Garbage, a non-CONNECT first packet and a second CONNECT each close that connection only. */
static void
test_malformed_isolated(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake bad, ok;
	const char *bad_inputs[] = {
	        "00 00", /* reserved type 0 */
	        "82 00", /* SUBSCRIBE before CONNECT */
	        ("10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31 "
	         "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31"), /* second CONNECT */
	        "10 ff ff ff ff 01", /* remaining length over 4 bytes */
	        "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31 30 03 00 01 23", /* wildcard */
	};

	client(b, &ok, MQTT_V311, "ok", 1);
	subscribe(&ok, MQTT_V311, "t", 0);
	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		fake_open(b, &bad);
		CHECK(feed_hex(&bad, bad_inputs[i]) < 0);
		CHECK_EQ(bad.closed, 1);
		/* further input after the close is ignored */
		CHECK_EQ(feed_hex(&bad, "c0 00"), 0);
		fake_gone(&bad);
		CHECK_EQ(ok.closed, 0);
		CHECK_EQ(feed_hex(&ok, "30 04 00 01 74 5a"), 0);
		CHECK(expect_hex(&ok, "30 04 00 01 74 5a"));
	}
	CHECK(mqtt_broker_stats(b)->malformed_packets + mqtt_broker_stats(b)->protocol_errors >= 5);
	fake_gone(&ok);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static void
tiny_packets(struct mqtt_broker_conf *c)
{
	c->max_packet_size = 64;
}

static void
test_max_packet_size(void)
{
	struct mqtt_broker *b = broker_new(tiny_packets);
	struct fake f;
	uint8_t buf[256], payload[100] = {0};

	client(b, &f, MQTT_V311, "c", 1);
	/* refused from its fixed header alone, before the body arrives */
	size_t n = pkt_publish(buf, sizeof(buf), MQTT_V311, "t", payload, sizeof(payload), 0, 0, 0);
	CHECK(feed(&f, buf, 3) < 0);
	CHECK_EQ(f.closed, 1);
	(void)n;
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* The transport takes a few bytes at a time: QoS 0 beyond max_outbuf is dropped and counted,
 * QoS 1 waits in the session and flows out as mqtt_conn_writable() is called. */
static void
test_backpressure(void)
{
	struct mqtt_broker *b = broker_new(small_window);
	struct fake pub, sub;
	uint8_t buf[256];
	char payload[40];
	struct mqtt_packet p;
	int got[20] = {0}, n0 = 0;

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "q0", 0);
	subscribe(&sub, MQTT_V311, "q1", 1);
	sub.window = 10;
	for (int i = 0; i < 10; i++) {
		memset(payload, 'a' + i, sizeof(payload));
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "q0", payload,
		                          sizeof(payload), 0, 0, 0)),
		         0);
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "q1", payload,
		                          sizeof(payload), 1, (uint16_t)(i + 1), 0)),
		         0);
	}
	const struct mqtt_stats *st = mqtt_broker_stats(b);
	CHECK(st->dropped_outbuf_full > 0);
	/* 2 inflight + 5 queued of 10: the rest overflowed the session queue */
	CHECK_EQ(st->dropped_queue_full, 3);
	/* drain: the peer acks each QoS 1 message as it arrives */
	for (int round = 0; round < 100; round++) {
		sub.window = 7;
		mqtt_conn_writable(sub.c, now_us);
		fake_rd = 0;
		size_t keep = sub.len;
		uint8_t copy[4096];
		memcpy(copy, sub.out, keep);
		/* decode whole packets; leave a partial one in place */
		size_t used = 0;
		for (;;) {
			uint8_t type, flags;
			uint32_t rem, hl;
			if (mqtt_fixed_header(copy + used, keep - used, &type, &flags, &rem, &hl) ||
			    used + hl + rem > keep)
				break;
			CHECK_EQ(mqtt_decode(copy + used, hl + rem, MQTT_V311, &p), 0);
			used += hl + rem;
			if (p.publish.qos == 0) {
				n0++;
				continue;
			}
			got[p.publish.payload.p[0] - 'a']++;
			uint8_t ack[4] = {0x40, 2, (uint8_t)(p.publish.packet_id >> 8),
			                  (uint8_t)p.publish.packet_id};
			sub.len = 0;
			CHECK_EQ(feed(&sub, ack, 4), 0);
		}
		memmove(sub.out, copy + used, keep - used);
		sub.len = keep - used;
	}
	int total = 0;
	for (int i = 0; i < 10; i++)
		total += got[i];
	CHECK_EQ(total, 7);
	CHECK(got[0] == 1 && got[6] == 1 && got[7] == 0); /* order kept, newest dropped */
	CHECK(n0 >= 1);
	CHECK_EQ(sub.len, 0);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static void
tiny_queue(struct mqtt_broker_conf *c)
{
	c->max_inflight = 1;
	c->max_queued = 8;
}

/* A subscriber whose queue passes half of max_queued holds the publisher's PUBACKs (so the
 * publisher's own window stops it); they are released, in order, once the queue drains to a
 * quarter. */
static void
test_publisher_backpressure(void)
{
	struct mqtt_broker *b = broker_new(tiny_queue);
	struct fake pub, sub;
	uint8_t buf[64];

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "t", 1);
	for (uint16_t i = 1; i <= 6; i++)
		CHECK_EQ(feed(&pub, buf,
		              pkt_publish(buf, sizeof(buf), MQTT_V311, "t", "x", 1, 1, i, 0)),
		         0);
	CHECK(expect_hex(&pub, "40 02 00 01 40 02 00 02 40 02 00 03 40 02 00 04"));
	CHECK(expect_hex(&sub, "32 06 00 01 74 00 01 78"));
	CHECK_EQ(feed_hex(&sub, "40 02 00 01 40 02 00 02"), 0);
	CHECK(expect_hex(&pub, ""));
	CHECK_EQ(feed_hex(&sub, "40 02 00 03"), 0);
	CHECK(expect_hex(&pub, "40 02 00 05 40 02 00 06"));
	CHECK_EQ(mqtt_broker_stats(b)->dropped_queue_full, 0);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* CONNECT + SUBSCRIBE + PUBLISH (to itself) split at every byte boundary, and fed one byte at
 * a time: the output is always the same. */
static void
test_every_split_point(void)
{
	uint8_t stream[512], ref[512];
	size_t n = 0, reflen = 0;

	n += pkt_connect(stream + n, MQTT_V311, "split", 1, 30, NULL, NULL, 0);
	n += pkt_subscribe(stream + n, MQTT_V311, 1, "x/#", 1);
	n += pkt_publish(stream + n, sizeof(stream) - n, MQTT_V311, "x/y", "payload", 7, 1, 9, 0);
	n += pkt_publish(stream + n, sizeof(stream) - n, MQTT_V311, "x/z", "", 0, 0, 0, 0);
	stream[n++] = 0xc0;
	stream[n++] = 0x00;
	for (size_t split = 0; split <= n + 1; split++) {
		struct mqtt_broker *b = broker_new(NULL);
		struct fake f;
		fake_open(b, &f);
		if (split <= n) {
			CHECK_EQ(feed(&f, stream, split), 0);
			CHECK_EQ(feed(&f, stream + split, n - split), 0);
		} else {
			for (size_t i = 0; i < n; i++)
				CHECK_EQ(feed(&f, stream + i, 1), 0);
		}
		if (split == 0) {
			memcpy(ref, f.out, f.len);
			reflen = f.len;
			/* CONNACK, SUBACK, PUBLISH qos1 id 1, PUBACK 9, PUBLISH qos0, PINGRESP */
			CHECK(reflen > 20);
		}
		CHECK(f.len == reflen && !memcmp(f.out, ref, reflen));
		CHECK_EQ(f.closed, 0);
		fake_gone(&f);
		CHECK_EQ(mqtt_broker_verify(b), 0);
		mqtt_broker_destroy(b);
	}
}

/* 10,000 QoS 1 messages in a row, fed in 4000-byte chunks that split packets anywhere, the
 * subscriber acking what it reads: every one delivered in order, byte-identical. */
static void
test_ten_thousand(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;
	size_t cap = 10000 * 40, n = 0;
	uint8_t *stream = malloc(cap);
	struct mqtt_packet p;
	int next = 0;
	char pl[16];

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "bulk/+", 1);
	for (int i = 0; i < 10000; i++) {
		int l = snprintf(pl, sizeof(pl), "m%05d", i);
		n += pkt_publish(stream + n, cap - n, MQTT_V311, "bulk/1", pl, (size_t)l, 1,
		                 (uint16_t)(i % 60000 + 1), 0);
	}
	size_t fed = 0;
	/* the subscriber acks as it reads; the broker refills the window */
	for (int round = 0; round < 20000 && next < 10000; round++) {
		if (fed < n && sub.len == 0) {
			size_t k = n - fed < 4000 ? n - fed : 4000;
			CHECK_EQ(feed(&pub, stream + fed, k), 0);
			fed += k;
		}
		fake_rd = 0;
		size_t len = sub.len;
		uint8_t *copy = malloc(len + 1);
		memcpy(copy, sub.out, len);
		sub.len = 0;
		size_t used = 0;
		uint8_t acks[4 * 64];
		size_t na = 0;
		while (used < len) {
			uint8_t type, flags;
			uint32_t rem, hl;
			if (mqtt_fixed_header(copy + used, len - used, &type, &flags, &rem, &hl))
				break;
			CHECK_EQ(mqtt_decode(copy + used, hl + rem, MQTT_V311, &p), 0);
			used += hl + rem;
			snprintf(pl, sizeof(pl), "m%05d", next);
			if (p.publish.payload.len != 6 || memcmp(p.publish.payload.p, pl, 6)) {
				CHECK(0);
				break;
			}
			next++;
			acks[na++] = 0x40;
			acks[na++] = 2;
			acks[na++] = (uint8_t)(p.publish.packet_id >> 8);
			acks[na++] = (uint8_t)p.publish.packet_id;
		}
		free(copy);
		if (!na && fed == n)
			break;
		CHECK_EQ(feed(&sub, acks, na), 0);
	}
	CHECK_EQ(next, 10000);
	CHECK_EQ(mqtt_broker_stats(b)->messages_in, 10000);
	CHECK_EQ(mqtt_broker_stats(b)->messages_out, 10000);
	CHECK_EQ(pub.len, 10000 * 4); /* 10,000 PUBACKs */
	free(stream);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* QoS 2 both ways, and exactly once: a resent PUBLISH (DUP) before PUBREL is not routed again. */
static void
test_qos2_flow(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "t", 2);
	CHECK_EQ(feed_hex(&pub, "34 06 00 01 74 00 05 41"), 0);
	CHECK(expect_hex(&pub, "50 02 00 05"));
	CHECK(expect_hex(&sub, "34 06 00 01 74 00 01 41"));
	CHECK_EQ(feed_hex(&pub, "3c 06 00 01 74 00 05 41"), 0); /* DUP resend */
	CHECK(expect_hex(&pub, "50 02 00 05"));
	CHECK(expect_hex(&sub, ""));
	CHECK_EQ(feed_hex(&pub, "62 02 00 05"), 0);
	CHECK(expect_hex(&pub, "70 02 00 05"));
	CHECK_EQ(feed_hex(&sub, "50 02 00 01"), 0);
	CHECK(expect_hex(&sub, "62 02 00 01"));
	CHECK_EQ(feed_hex(&sub, "50 02 00 01"), 0); /* a repeated PUBREC gets PUBREL again */
	CHECK(expect_hex(&sub, "62 02 00 01"));
	CHECK_EQ(feed_hex(&sub, "70 02 00 01"), 0);
	CHECK(expect_hex(&sub, ""));
	/* the id is free again: the next message reuses the sequence */
	CHECK_EQ(feed_hex(&pub, "34 06 00 01 74 00 06 42"), 0);
	CHECK(expect_hex(&sub, "34 06 00 01 74 00 02 42"));
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Clean session 0: subscriptions survive a reconnect, QoS 1 messages are queued while offline,
 * an unacknowledged one is resent with DUP, and CONNACK says session present. */
static void
test_persistent_session(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;
	uint8_t buf[256];

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &sub, MQTT_V311, "keep", 0);
	subscribe(&sub, MQTT_V311, "t", 1);
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 01 41"), 0);
	CHECK(expect_hex(&sub, "32 06 00 01 74 00 01 41"));
	fake_gone(&sub); /* no PUBACK */
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 1);
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 02 42"), 0);
	CHECK_EQ(feed_hex(&pub, "30 04 00 01 74 43"), 0); /* QoS 0: not queued offline */
	fake_open(b, &sub);
	CHECK_EQ(feed(&sub, buf, pkt_connect(buf, MQTT_V311, "keep", 0, 0, NULL, NULL, 0)), 0);
	CHECK(expect_hex(&sub, "20 02 01 00 3a 06 00 01 74 00 01 41 32 06 00 01 74 00 02 42"));
	CHECK_EQ(feed_hex(&sub, "40 02 00 01 40 02 00 02"), 0);
	fake_gone(&sub);
	/* clean session 1 discards it: session present 0, nothing delivered */
	fake_open(b, &sub);
	CHECK_EQ(feed(&sub, buf, pkt_connect(buf, MQTT_V311, "keep", 1, 0, NULL, NULL, 0)), 0);
	CHECK(expect_hex(&sub, "20 02 00 00"));
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 0);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 0);
	fake_gone(&pub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Retained: stored, replaced, sent on subscribe with the retain flag, deleted by empty payload. */
static void
test_retained(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;

	client(b, &pub, MQTT_V311, "p", 1);
	CHECK_EQ(feed_hex(&pub, "31 04 00 01 72 41"), 0);
	CHECK_EQ(feed_hex(&pub, "31 04 00 01 72 42"), 0); /* replaces */
	CHECK_EQ(feed_hex(&pub, "31 06 00 03 72 2f 73 43"), 0);
	CHECK_EQ(mqtt_broker_stats(b)->retained, 2);
	client(b, &sub, MQTT_V311, "s", 1);
	CHECK_EQ(feed_hex(&sub, "82 06 00 01 00 01 72 00"), 0);
	CHECK(expect_hex(&sub, "90 03 00 01 00 31 04 00 01 72 42"));
	CHECK_EQ(feed_hex(&sub, "82 06 00 02 00 01 23 00"), 0); /* "#" */
	CHECK_EQ(sub.len, 5 + 6 + 8);
	sub.len = 0;
	/* delete; forwarded with retain 0, once although "r" and "#" both match */
	CHECK_EQ(feed_hex(&pub, "31 03 00 01 72"), 0);
	CHECK(expect_hex(&sub, "30 03 00 01 72"));
	CHECK_EQ(mqtt_broker_stats(b)->retained, 1);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* A second connection with the same client id takes the session over; the first is closed. */
static void
test_takeover(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake a, a2, pub;
	uint8_t buf[256];

	client(b, &pub, MQTT_V311, "p", 1);
	client(b, &a, MQTT_V311, "same", 0);
	subscribe(&a, MQTT_V311, "t", 1);
	fake_open(b, &a2);
	CHECK_EQ(feed(&a2, buf, pkt_connect(buf, MQTT_V311, "same", 0, 0, NULL, NULL, 0)), 0);
	CHECK(expect_hex(&a2, "20 02 01 00"));
	CHECK_EQ(a.closed, 1);
	fake_gone(&a); /* the old transport goes later: must not disturb the new owner */
	CHECK_EQ(feed_hex(&pub, "32 06 00 01 74 00 01 41"), 0);
	CHECK(expect_hex(&a2, "32 06 00 01 74 00 01 41"));
	fake_gone(&a2);
	fake_gone(&pub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* v5: CONNECT with properties, CONNACK with ours, an assigned client id, and a protocol error
 * answered with DISCONNECT and a reason code. */
static void
test_v5_basics(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;
	struct mqtt_packet p;

	fake_open(b, &f);
	/* CONNECT v5, clean start, ka 0, props: session expiry 0x10, empty client id */
	CHECK_EQ(feed_hex(&f, "10 12 00 04 4d 51 54 54 05 02 00 00 05 11 00 00 00 10 00 00"), 0);
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p));
	CHECK_EQ(p.type, MQTT_CONNACK);
	CHECK_EQ(p.connack.reason, 0);
	CHECK(MQTT_PROP_HAS(&p.connack.props, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER));
	CHECK(MQTT_PROP_HAS(&p.connack.props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
	f.len = 0;
	/* topic alias 0 is invalid: DISCONNECT 0x94 (or the codec's 0x82) */
	CHECK(feed_hex(&f, "30 07 00 01 74 03 23 00 00") < 0);
	CHECK(f.len >= 3 && f.out[0] == 0xe0 && f.out[2] >= 0x80);
	CHECK_EQ(f.closed, 1);
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* v5 message expiry on a retained message: delivered with the remaining interval while it
 * lives, then removed from the store by the first lookup after it expired. */
static void
test_v5_retained_expiry(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;
	uint64_t t0 = now_us;

	client(b, &pub, MQTT_V5, "p", 1);
	CHECK_EQ(feed_hex(&pub, "31 0a 00 01 72 05 02 00 00 00 02 41"), 0); /* expiry 2 s */
	CHECK_EQ(mqtt_broker_stats(b)->retained, 1);
	client(b, &sub, MQTT_V5, "s", 1);
	now_us = t0 + 1500000;
	CHECK_EQ(feed_hex(&sub, "82 07 00 01 00 00 01 72 00"), 0);
	/* SUBACK, then the retained message with 1 s left (rounded up) */
	CHECK(expect_hex(&sub, "90 04 00 01 00 00 31 0a 00 01 72 05 02 00 00 00 01 41"));
	now_us = t0 + 2000001;
	CHECK_EQ(feed_hex(&sub, "82 07 00 02 00 00 01 72 00"), 0);
	CHECK(expect_hex(&sub, "90 04 00 02 00 00"));
	CHECK_EQ(mqtt_broker_stats(b)->retained, 0);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* v5 topic alias: set with a topic, then used with an empty topic. */
static void
test_v5_topic_alias(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake pub, sub;

	client(b, &pub, MQTT_V5, "p", 1);
	client(b, &sub, MQTT_V311, "s", 1);
	subscribe(&sub, MQTT_V311, "t", 0);
	CHECK_EQ(feed_hex(&pub, "30 08 00 01 74 03 23 00 01 41"), 0);
	CHECK(expect_hex(&sub, "30 04 00 01 74 41"));
	CHECK_EQ(feed_hex(&pub, "30 07 00 00 03 23 00 01 42"), 0);
	CHECK(expect_hex(&sub, "30 04 00 01 74 42"));
	CHECK_EQ(pub.closed, 0);
	fake_gone(&pub);
	fake_gone(&sub);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* v5: session expiry (kept offline, then freed by mqtt_broker_tick after the interval) and a
 * will delay (published by the tick when the delay passes, not at the close). */
static void
test_v5_expiry_and_will_delay(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake w, s;
	uint64_t t0 = now_us;

	client(b, &s, MQTT_V311, "s", 1);
	subscribe(&s, MQTT_V311, "w", 0);
	fake_open(b, &w);
	/* CONNECT v5 "w", clean start, will flag QoS 0, session expiry 10 s; will props: delay 2 s;
	 * will topic "w", payload "x" */
	CHECK_EQ(feed_hex(&w,
	                  "10 1f 00 04 4d 51 54 54 05 06 00 00 05 11 00 00 00 0a 00 01 77 05 18 "
	                  "00 00 00 02 00 01 77 00 01 78"),
	         0);
	CHECK(w.len >= 4 && w.out[0] == 0x20 && w.out[3] == 0);
	fake_gone(&w); /* abnormal: the will waits for its delay */
	CHECK(expect_hex(&s, ""));
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 1);
	mqtt_broker_tick(b, t0 + 1000000);
	CHECK(expect_hex(&s, ""));
	mqtt_broker_tick(b, t0 + 2000001);
	CHECK(expect_hex(&s, "30 04 00 01 77 78"));
	mqtt_broker_tick(b, t0 + 9000000);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_expired, 0);
	mqtt_broker_tick(b, t0 + 10000001);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_expired, 1);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 0);
	CHECK_EQ(mqtt_broker_stats(b)->wills_published, 1);
	fake_gone(&s);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Refusals and violations are counted under their v5 reason code, for 3.x clients too. */
static void
test_reason_counters(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake f;
	const struct mqtt_stats *st = mqtt_broker_stats(b);

	fake_open(b, &f);
	CHECK(feed_hex(&f, "10 0c 00 04 4d 51 54 54 04 00 00 3c 00 00") < 0); /* empty id, cs 0 */
	CHECK(expect_hex(&f, "20 02 00 02"));
	fake_gone(&f);
	CHECK_EQ(st->errors_by_reason[MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID - 0x80], 1);
	client(b, &f, MQTT_V311, "c", 1);
	CHECK(feed_hex(&f, "30 03 00 01 2b") < 0); /* wildcard topic */
	fake_gone(&f);
	CHECK_EQ(st->errors_by_reason[MQTT_RC_TOPIC_NAME_INVALID - 0x80] +
	                 st->errors_by_reason[MQTT_RC_PROTOCOL_ERROR - 0x80] +
	                 st->errors_by_reason[MQTT_RC_MALFORMED_PACKET - 0x80],
	         1);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static uint8_t policy;
static void
share_conf(struct mqtt_broker_conf *c)
{
	c->share_policy = policy;
}

/* $share/g/t with three members: round robin spreads evenly, hash-by-client keeps each
 * publisher on one member, sticky keeps one member until it leaves. */
static void
test_shared_policies(void)
{
	for (policy = 0; policy < 3; policy++) {
		struct mqtt_broker *b = broker_new(share_conf);
		struct fake m[3], p[2];
		int got[2][3] = {{0}};
		uint8_t buf[64];

		for (int i = 0; i < 3; i++) {
			char id[4] = {'m', (char)('0' + i), 0};
			client(b, &m[i], MQTT_V5, id, 1);
			subscribe(&m[i], MQTT_V5, "$share/g/t", 0);
		}
		client(b, &p[0], MQTT_V311, "p0", 1);
		client(b, &p[1], MQTT_V311, "p1", 1);
		for (int k = 0; k < 12; k++) {
			for (int j = 0; j < 2; j++) {
				CHECK_EQ(feed(&p[j], buf,
				              pkt_publish(buf, sizeof(buf), MQTT_V311, "t", "x", 1,
				                          0, 0, 0)),
				         0);
				for (int i = 0; i < 3; i++) {
					got[j][i] += m[i].len > 0;
					m[i].len = 0;
				}
			}
		}
		int total = 0;
		for (int j = 0; j < 2; j++)
			for (int i = 0; i < 3; i++)
				total += got[j][i];
		CHECK_EQ(total, 24); /* each message to exactly one member */
		for (int i = 0; i < 3; i++) {
			int per = got[0][i] + got[1][i];
			if (policy == 0)
				CHECK_EQ(per, 8);
			if (policy == 2)
				CHECK(per == 0 || per == 24);
		}
		if (policy == 1)
			for (int j = 0; j < 2; j++)
				CHECK(got[j][0] == 12 || got[j][1] == 12 || got[j][2] == 12);
		for (int i = 0; i < 3; i++)
			fake_gone(&m[i]);
		fake_gone(&p[0]);
		fake_gone(&p[1]);
		CHECK_EQ(mqtt_broker_verify(b), 0);
		mqtt_broker_destroy(b);
	}
}

static struct mqtt_conn *parked_conn;
static int
hook_connect(void *ctx, struct mqtt_conn *c, const uint8_t *cid, size_t cid_len,
             const uint8_t *user, size_t ulen, const uint8_t *pass, size_t plen)
{
	if (!user)
		return MQTT_RC_NOT_AUTHORIZED;
	if (ulen == 4 && !memcmp(user, "slow", 4)) {
		parked_conn = c;
		return -EINPROGRESS;
	}
	return plen == 2 && !memcmp(pass, "ok", 2) ? 0 : MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
}

static int
hook_acl(void *ctx, struct mqtt_conn *c, int write, const uint8_t *t, size_t len)
{
	return len >= 6 && !memcmp(t, "secret", 6) ? -EACCES : 0;
}

/* Hooks: refused logins get the mapped CONNACK code; a parked login holds the input that
 * follows its CONNECT until mqtt_conn_auth_done(); the ACL drops publishes (acknowledged) and
 * refuses subscriptions. */
static void
test_hooks(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_hooks h = {hook_connect, hook_acl, NULL};
	struct fake f, s;

	mqtt_broker_set_hooks(b, &h);
	fake_open(b, &f); /* no user name: 3.1.1 return code 5 */
	CHECK(feed_hex(&f, "10 0d 00 04 4d 51 54 54 04 02 00 00 00 01 61") < 0);
	CHECK(expect_hex(&f, "20 02 00 05"));
	fake_gone(&f);
	fake_open(b, &f); /* user "u", password "no": return code 4 */
	CHECK(feed_hex(&f, "10 14 00 04 4d 51 54 54 04 c2 00 00 00 01 61 00 01 75 00 02 6e 6f") <
	      0);
	CHECK(expect_hex(&f, "20 02 00 04"));
	fake_gone(&f);
	fake_open(b, &s); /* user "u" password "ok" */
	CHECK_EQ(feed_hex(&s, "10 14 00 04 4d 51 54 54 04 c2 00 00 00 01 73 00 01 75 00 02 6f 6b"),
	         0);
	CHECK(expect_hex(&s, "20 02 00 00"));
	CHECK_EQ(feed_hex(&s, "82 0b 00 01 00 06 73 65 63 72 65 74 00"), 0); /* "secret": denied */
	CHECK(expect_hex(&s, "90 03 00 01 80"));
	subscribe(&s, MQTT_V311, "#", 1);
	/* user "slow": parked; a PUBLISH in the same segment waits with it */
	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 17 00 04 4d 51 54 54 04 c2 00 00 00 01 70 00 04 73 6c 6f 77 00 "
	                      "02 6f 6b 30 04 00 01 74 41"),
	         0);
	CHECK(expect_hex(&f, ""));
	CHECK(expect_hex(&s, ""));
	CHECK_EQ(feed_hex(&f, "30 04 00 01 74 42"), 0);
	mqtt_conn_auth_done(parked_conn, 0, now_us);
	CHECK(expect_hex(&f, "20 02 00 00"));
	CHECK(expect_hex(&s, "30 04 00 01 74 41 30 04 00 01 74 42"));
	/* a parked v5 login refused with a code CONNACK cannot carry gets 0x80 (fuzzer finding) */
	{
		struct fake q;
		fake_open(b, &q);
		CHECK_EQ(feed_hex(&q, "10 18 00 04 4d 51 54 54 05 c2 00 00 00 00 01 71 00 04 73 6c "
		                      "6f 77 00 02 6f 6b"),
		         0);
		mqtt_conn_auth_done(parked_conn, 0xff, now_us);
		CHECK(expect_hex(&q, "20 03 00 80 00"));
		CHECK_EQ(q.closed, 1);
		fake_gone(&q);
	}
	/* a denied QoS 1 publish is acknowledged and dropped */
	CHECK_EQ(feed_hex(&f, "32 0b 00 06 73 65 63 72 65 74 00 09 5a"), 0);
	CHECK(expect_hex(&f, "40 02 00 09"));
	CHECK(expect_hex(&s, ""));
	fake_gone(&f);
	fake_gone(&s);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* A toy SASL-like mechanism "TOY": "hello" -> challenge "nonce"; "nonce-ok" -> success with
 * "welcome"; re-authentication with "again" succeeds; anything else is refused with 0x87. */
static int auth_steps[3];
static int
hook_auth(void *ctx, struct mqtt_conn *c, int step, const uint8_t *m, size_t ml, const uint8_t *d,
          size_t dl, uint8_t *out, size_t *ol)
{
	auth_steps[step]++;
	if (step == 0 && dl == 5 && !memcmp(d, "hello", 5)) {
		memcpy(out, "nonce", 5);
		*ol = 5;
		return MQTT_RC_CONTINUE_AUTHENTICATION;
	}
	if ((step == 1 && dl == 8 && !memcmp(d, "nonce-ok", 8)) ||
	    (step == 2 && dl == 5 && !memcmp(d, "again", 5))) {
		memcpy(out, "welcome", 7);
		*ol = 7;
		return 0;
	}
	*ol = 0;
	return MQTT_RC_NOT_AUTHORIZED;
}

static size_t
pkt_auth_connect(uint8_t *buf, const char *data)
{
	struct mqtt_packet p;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	p.connect.protocol_level = MQTT_V5;
	p.connect.clean_start = 1;
	p.connect.client_id = str("sasl");
	p.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_METHOD) |
	                          MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_DATA);
	p.connect.props.authentication_method = str("TOY");
	p.connect.props.authentication_data = str(data);
	return enc(&p, MQTT_V5, buf, 512);
}

static size_t
pkt_auth(uint8_t *buf, uint8_t reason, const char *method, const char *data)
{
	struct mqtt_props pr;
	memset(&pr, 0, sizeof(pr));
	pr.present = MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_METHOD) |
	             MQTT_PROP_BIT(MQTT_PROP_AUTHENTICATION_DATA);
	pr.authentication_method = str(method);
	pr.authentication_data = str(data);
	return (size_t)mqtt_encode_disconnect(MQTT_AUTH, reason, &pr, MQTT_V5, buf, 512);
}

/* v5 enhanced authentication through hooks->auth: challenge/response before CONNACK (which
 * carries the method and the final data), re-authentication after it, and refusals. */
static void
test_enhanced_auth(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_hooks h = {NULL, NULL, NULL, hook_auth};
	struct mqtt_packet p;
	struct fake f;
	uint8_t buf[512];

	fake_open(b, &f); /* no auth hook: 0x8C */
	CHECK(feed(&f, buf, pkt_auth_connect(buf, "hello")) < 0);
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_CONNACK && p.connack.reason == 0x8C);
	fake_gone(&f);

	mqtt_broker_set_hooks(b, &h);
	fake_open(b, &f);
	CHECK_EQ(feed(&f, buf, pkt_auth_connect(buf, "hello")), 0);
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_AUTH && p.auth.reason == 0x18);
	CHECK(p.auth.props.authentication_data.len == 5 &&
	      !memcmp(p.auth.props.authentication_data.p, "nonce", 5));
	f.len = 0;
	CHECK_EQ(feed_hex(&f, "c0 00") < 0, 1); /* MQTT-3.1.2-30: only AUTH before CONNACK */
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_CONNACK && p.connack.reason == 0x82);
	fake_gone(&f);

	fake_open(b, &f);
	CHECK_EQ(feed(&f, buf, pkt_auth_connect(buf, "hello")), 0);
	f.len = 0;
	CHECK_EQ(feed(&f, buf, pkt_auth(buf, 0x18, "TOY", "nonce-ok")), 0);
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_CONNACK && p.connack.reason == 0);
	CHECK(p.connack.props.authentication_method.len == 3 &&
	      p.connack.props.authentication_data.len == 7);
	f.len = 0;
	CHECK_EQ(feed(&f, buf, pkt_auth(buf, 0x19, "TOY", "again")), 0); /* re-authentication */
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_AUTH && p.auth.reason == 0);
	f.len = 0;
	CHECK(feed(&f, buf, pkt_auth(buf, 0x19, "TOY", "wrong")) < 0);
	fake_rd = 0;
	CHECK(next_packet(&f, MQTT_V5, &p) && p.type == MQTT_DISCONNECT &&
	      p.disconnect.reason == 0x87);
	fake_gone(&f);
	CHECK_EQ(auth_steps[0], 2);
	CHECK_EQ(auth_steps[1], 1);
	CHECK_EQ(auth_steps[2], 2);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Seeded mutations of a valid conversation (bytes flipped, dropped, duplicated, split anywhere)
 * from several clients against one broker: nothing crashes or leaks (run under ASan), every
 * connection ends either open or closed by the broker, and a clean client afterwards still
 * works. 20,000 rounds. */
static void
test_mutated_streams(void)
{
	struct mqtt_broker *b = broker_new(small_window);
	uint8_t base[1024], buf[1100];
	size_t n = 0;
	uint32_t seed = 12345;

	n += pkt_connect(base + n, MQTT_V5, "mut", 0, 5, "w/x", "will", 1); /* takeovers */
	n += pkt_subscribe(base + n, MQTT_V5, 1, "#", 2);
	n += pkt_subscribe(base + n, MQTT_V5, 2, "$share/g/a/+", 1);
	n += pkt_publish(base + n, sizeof(base) - n, MQTT_V5, "a/b", "hello", 5, 1, 3, 1);
	n += pkt_publish(base + n, sizeof(base) - n, MQTT_V5, "a/c", "x", 1, 2, 4, 0);
	n += pkt_publish(base + n, sizeof(base) - n, MQTT_V5, "a/b", "", 0, 0, 0, 1);
	base[n++] = 0x62, base[n++] = 2, base[n++] = 0, base[n++] = 4; /* PUBREL 4 */
	base[n++] = 0xc0, base[n++] = 0;
	for (int round = 0; round < 20000; round++) {
		struct fake f[3];
		for (int k = 0; k < 3; k++) {
			size_t m = 0;
			seed = seed * 1103515245 + 12345;
			for (size_t i = 0; i < n && m < sizeof(buf) - 2; i++) {
				seed = seed * 1103515245 + 12345;
				uint32_t r = (seed >> 16) % 150;
				if (r == 0)
					continue; /* drop */
				buf[m++] = r == 1 ? (uint8_t)(seed >> 8) : base[i];
				if (r == 2)
					buf[m++] = base[i]; /* duplicate */
			}
			fake_open(b, &f[k]);
			size_t cut = m ? (seed >> 4) % m : 0;
			feed(&f[k], buf, cut);
			feed(&f[k], buf + cut, m - cut);
			mqtt_conn_writable(f[k].c, now_us);
		}
		now_us += 1000;
		mqtt_broker_tick(b, now_us);
		if (mqtt_broker_verify(b)) {
			CHECK(!"counters agree with the lists");
			break;
		}
		for (int k = 0; k < 3; k++)
			fake_gone(&f[k]);
		if (mqtt_broker_verify(b)) {
			CHECK(!"counters agree after the closes");
			break;
		}
	}
	struct fake ok;
	client(b, &ok, MQTT_V311, "after", 1);
	subscribe(&ok, MQTT_V311, "z", 0);
	CHECK_EQ(feed_hex(&ok, "30 04 00 01 7a 41"), 0);
	CHECK(expect_hex(&ok, "30 04 00 01 7a 41"));
	fake_gone(&ok);
	CHECK_EQ(mqtt_broker_stats(b)->connections_current, 0);
	const struct mqtt_stats *st = mqtt_broker_stats(b);
	printf("# mutated: %llu malformed, %llu protocol errors, %llu takeovers, %llu wills, "
	       "%llu messages in, %llu out\n",
	       (unsigned long long)st->malformed_packets, (unsigned long long)st->protocol_errors,
	       (unsigned long long)st->takeovers, (unsigned long long)st->wills_published,
	       (unsigned long long)st->messages_in, (unsigned long long)st->messages_out);
	CHECK(st->malformed_packets + st->protocol_errors > 1000);
	CHECK(st->takeovers > 1000 && st->messages_out > 1000);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static void
keepalive_bounds(struct mqtt_broker_conf *c)
{
	c->max_keepalive = 60;
	c->min_keepalive = 5;
}

/* Keep-alive bounds: v5 gets Server Keep Alive (MQTT-3.2.2-21/22) and the broker times out on
 * that value; 3.1.1 cannot be told, so it is refused with CONNACK 0x02 (Mosquitto 2 does so). */
static void
test_keepalive_bounds(void)
{
	struct mqtt_broker *b = broker_new(keepalive_bounds);
	struct fake f;
	uint64_t t0 = now_us;

	/* 3.1.1, keep-alive 120 > 60: identifier rejected, closed, counted under 0x85 */
	fake_open(b, &f);
	CHECK(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 78 00 02 63 31") < 0);
	CHECK(expect_hex(&f, "20 02 00 02"));
	CHECK_EQ(f.closed, 1);
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_stats(b)->errors_by_reason[0x85 - 0x80], 1);
	/* 3.1.1, keep-alive 0 (none, so above any maximum) and 3 (< 5): refused too */
	fake_open(b, &f);
	CHECK(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 00 00 02 63 31") < 0);
	CHECK(expect_hex(&f, "20 02 00 02"));
	fake_gone(&f);
	fake_open(b, &f);
	CHECK(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 03 00 02 63 31") < 0);
	CHECK(expect_hex(&f, "20 02 00 02"));
	fake_gone(&f);
	/* 3.1.1, keep-alive 60: accepted, timed at 90 s */
	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 02 00 00"));
	CHECK_EQ(mqtt_conn_deadline(f.c), t0 + 90000000);
	CHECK_EQ(feed_hex(&f, "e0 00"), 0);
	fake_gone(&f);
	/* v5, keep-alive 120: CONNACK with Server Keep Alive (0x13) 60, timed at 90 s */
	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0f 00 04 4d 51 54 54 05 02 00 78 00 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 11 00 00 0e 13 00 3c 21 00 20 22 00 10 27 01 00 00 00"));
	CHECK_EQ(mqtt_conn_deadline(f.c), t0 + 90000000);
	mqtt_conn_timeout(f.c, t0 + 90000000);
	CHECK_EQ(f.closed, 1);
	fake_gone(&f);
	/* v5, keep-alive 2 (< 5): Server Keep Alive 5; keep-alive 30: no property */
	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0f 00 04 4d 51 54 54 05 02 00 02 00 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 11 00 00 0e 13 00 05 21 00 20 22 00 10 27 01 00 00 00"));
	CHECK_EQ(mqtt_conn_deadline(f.c), t0 + 7500000);
	CHECK_EQ(feed_hex(&f, "e0 00"), 0);
	fake_gone(&f);
	fake_open(b, &f);
	CHECK_EQ(feed_hex(&f, "10 0f 00 04 4d 51 54 54 05 02 00 1e 00 00 02 63 31"), 0);
	CHECK(expect_hex(&f, "20 0e 00 00 0b 21 00 20 22 00 10 27 01 00 00 00"));
	CHECK_EQ(feed_hex(&f, "e0 00"), 0);
	fake_gone(&f);
	CHECK_EQ(mqtt_broker_stats(b)->keepalive_adjusted, 2);
	CHECK_EQ(mqtt_broker_stats(b)->errors_by_reason[0x85 - 0x80], 3);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static void
two_subscriptions(struct mqtt_broker_conf *c)
{
	c->max_subscriptions = 2;
}

/* max_subscriptions 2: a third filter gets 0x80 (3.1.1) / 0x97 Quota exceeded (v5), counted;
 * replacing an existing subscription and subscribing after an UNSUBSCRIBE stay allowed. */
static void
test_max_subscriptions(void)
{
	struct mqtt_broker *b = broker_new(two_subscriptions);
	struct fake f, v;

	client(b, &f, MQTT_V311, "s", 1);
	CHECK_EQ(feed_hex(&f, "82 0e 00 01 00 03 61 2f 23 01 00 03 61 2f 2b 00"), 0);
	CHECK(expect_hex(&f, "90 04 00 01 01 00"));
	CHECK_EQ(feed_hex(&f, "82 06 00 02 00 01 62 01"), 0);
	CHECK(expect_hex(&f, "90 03 00 02 80"));
	CHECK_EQ(feed_hex(&f, "82 08 00 03 00 03 61 2f 2b 01"), 0);
	CHECK(expect_hex(&f, "90 03 00 03 01"));
	CHECK_EQ(feed_hex(&f, "a2 07 00 04 00 03 61 2f 2b"), 0);
	CHECK(expect_hex(&f, "b0 02 00 04"));
	CHECK_EQ(feed_hex(&f, "82 06 00 05 00 01 62 01"), 0);
	CHECK(expect_hex(&f, "90 03 00 05 01"));
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 2);
	/* v5: x and y fit, z is over quota */
	client(b, &v, MQTT_V5, "v", 1);
	CHECK_EQ(feed_hex(&v, "82 0f 00 01 00 00 01 78 00 00 01 79 00 00 01 7a 00"), 0);
	CHECK(expect_hex(&v, "90 06 00 01 00 00 00 97"));
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 4);
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions_refused, 2);
	CHECK_EQ(mqtt_broker_stats(b)->errors_by_reason[0x97 - 0x80], 2);
	fake_gone(&f);
	fake_gone(&v);
	CHECK_EQ(mqtt_broker_stats(b)->subscriptions, 0);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Operator requests (mqtt_admin.h): kick keeps the session and publishes the will, drop ends
 * the session, retained delete empties the store; unknown ids and topics are -ENOENT. */
static void
test_admin(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct fake k, v, w, pub;
	uint8_t buf[256];

	client(b, &w, MQTT_V311, "watch", 1);
	subscribe(&w, MQTT_V311, "will", 0);
	fake_open(b, &k); /* 3.1.1 persistent session, will "bye" on "will" */
	CHECK_EQ(feed(&k, buf, pkt_connect(buf, MQTT_V311, "k", 0, 0, "will", "bye", 0)), 0);
	CHECK(expect_hex(&k, "20 02 00 00"));
	subscribe(&k, MQTT_V311, "t", 1);
	CHECK_EQ(mqtt_admin_kick(b, (const uint8_t *)"nobody", 6, 0, now_us), -ENOENT);
	CHECK_EQ(mqtt_admin_kick(b, (const uint8_t *)"k", 1, 0, now_us), 0);
	CHECK(expect_hex(&k, "")); /* 3.1.1 has no DISCONNECT from the server */
	CHECK_EQ(k.closed, 1);
	fake_gone(&k);
	CHECK(expect_hex(&w, "30 09 00 04 77 69 6c 6c 62 79 65"));
	client(b, &v, MQTT_V5, "v", 1); /* v5: DISCONNECT 0x98 */
	CHECK_EQ(mqtt_admin_kick(b, (const uint8_t *)"v", 1, 0, now_us), 0);
	CHECK(expect_hex(&v, "e0 02 98 00"));
	fake_gone(&v);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 1);
	CHECK_EQ(mqtt_broker_stats(b)->errors_by_reason[0x98 - 0x80], 2);
	/* the offline session still gets its QoS 1 messages; drop frees them with it */
	client(b, &pub, MQTT_V311, "p", 1);
	CHECK_EQ(feed(&pub, buf, pkt_publish(buf, sizeof(buf), MQTT_V311, "t", "x", 1, 1, 7, 0)),
	         0);
	CHECK_EQ(mqtt_admin_session_drop(b, (const uint8_t *)"k", 1, now_us), 0);
	CHECK_EQ(mqtt_admin_session_drop(b, (const uint8_t *)"k", 1, now_us), -ENOENT);
	CHECK_EQ(mqtt_broker_stats(b)->sessions_persistent, 0);
	CHECK_EQ(feed_hex(&pub, "31 04 00 01 72 41"), 0);
	CHECK_EQ(mqtt_broker_stats(b)->retained, 1);
	CHECK_EQ(mqtt_admin_retained_delete(b, (const uint8_t *)"r/x", 3), -ENOENT);
	CHECK_EQ(mqtt_admin_retained_delete(b, (const uint8_t *)"r", 1), 0);
	CHECK_EQ(mqtt_broker_stats(b)->retained, 0);
	fake_gone(&pub);
	fake_gone(&w);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

static int
hook_rate(void *ctx, struct mqtt_conn *c, int write, const uint8_t *t, size_t len)
{
	return write && len == 4 && !memcmp(t, "fast", 4) ? MQTT_RC_MESSAGE_RATE_TOO_HIGH : 0;
}

/* A host limit answered from the ACL hook (0x96) ends the connection with that reason and
 * routes nothing; it is counted by reason, not as a protocol error. */
static void
test_rate_hook(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_hooks h = {NULL, hook_rate, NULL};
	struct fake f, s;
	uint8_t buf[128];

	mqtt_broker_set_hooks(b, &h);
	client(b, &s, MQTT_V311, "s", 1);
	subscribe(&s, MQTT_V311, "#", 0);
	client(b, &f, MQTT_V5, "f", 1);
	CHECK(feed(&f, buf, pkt_publish(buf, sizeof(buf), MQTT_V5, "fast", "x", 1, 1, 3, 0)) < 0);
	CHECK(expect_hex(&f, "e0 02 96 00"));
	CHECK_EQ(f.closed, 1);
	CHECK(expect_hex(&s, ""));
	CHECK_EQ(mqtt_broker_stats(b)->errors_by_reason[0x96 - 0x80], 1);
	CHECK_EQ(mqtt_broker_stats(b)->protocol_errors, 0);
	fake_gone(&f);
	fake_gone(&s);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

/* Live limits (mqtt_broker_set_limits): a connection keeps the packet size it was promised at
 * open; connections opened after the change get the new one; a lowered max_subscriptions
 * applies to the next SUBSCRIBE of everyone. */
static void
test_set_limits(void)
{
	struct mqtt_broker *b = broker_new(NULL);
	struct mqtt_broker_conf lim;
	struct fake old, young;
	uint8_t buf[512], payload[100] = {0};

	client(b, &old, MQTT_V311, "old", 1);
	subscribe(&old, MQTT_V311, "a", 0);
	mqtt_broker_conf_defaults(&lim);
	lim.max_packet_size = 64;
	lim.max_subscriptions = 1;
	mqtt_broker_set_limits(b, &lim);
	CHECK_EQ(feed(&old, buf,
	              pkt_publish(buf, sizeof(buf), MQTT_V311, "t", payload, sizeof(payload), 0, 0,
	                          0)),
	         0); /* 106 bytes: within what "old" was promised */
	CHECK_EQ(old.closed, 0);
	CHECK_EQ(feed_hex(&old, "82 06 00 07 00 01 62 00"), 0); /* a second filter: refused */
	CHECK(expect_hex(&old, "90 03 00 07 80"));
	client(b, &young, MQTT_V311, "young", 1);
	CHECK(feed(&young, buf,
	           pkt_publish(buf, sizeof(buf), MQTT_V311, "t", payload, sizeof(payload), 0, 0,
	                       0)) < 0);
	CHECK_EQ(young.closed, 1);
	fake_gone(&young);
	fake_gone(&old);
	CHECK_EQ(mqtt_broker_verify(b), 0);
	mqtt_broker_destroy(b);
}

int
main(void)
{
	TEST(test_connect_connack_bytes);
	TEST(test_subscribe_suback_bytes);
	TEST(test_publish_routing);
	TEST(test_qos1_flow);
	TEST(test_keepalive_1_5x);
	TEST(test_connect_timeout);
	TEST(test_will);
	TEST(test_malformed_isolated);
	TEST(test_max_packet_size);
	TEST(test_backpressure);
	TEST(test_publisher_backpressure);
	TEST(test_every_split_point);
	TEST(test_ten_thousand);
	TEST(test_qos2_flow);
	TEST(test_persistent_session);
	TEST(test_retained);
	TEST(test_takeover);
	TEST(test_v5_basics);
	TEST(test_v5_topic_alias);
	TEST(test_v5_retained_expiry);
	TEST(test_v5_expiry_and_will_delay);
	TEST(test_reason_counters);
	TEST(test_shared_policies);
	TEST(test_hooks);
	TEST(test_enhanced_auth);
	TEST(test_mutated_streams);
	TEST(test_keepalive_bounds);
	TEST(test_max_subscriptions);
	TEST(test_admin);
	TEST(test_rate_hook);
	TEST(test_set_limits);
	return tap_done();
}

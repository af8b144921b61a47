/* SPDX-License-Identifier: Apache-2.0
 * Test harness for the broker core: an in-memory transport (with a settable window to simulate
 * back-pressure), a virtual clock, hex helpers and client packet builders on top of the codec.
 */
#ifndef BROKER_HARNESS_H
#define BROKER_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"
#include "mqtt/mqtt_codec.h"
#include "mqtt/mqtt_pvt.h"
#include "tap.h"

struct fake {
	struct mqtt_conn *c;
	uint8_t *out;
	size_t len, cap;
	size_t window; /* bytes the transport still accepts; SIZE_MAX: unlimited */
	int closed, abortive;
};

static uint64_t now_us = 1000000;

static inline ssize_t
fake_send(void *io, const void *buf, size_t len)
{
	struct fake *f = io;
	size_t n = len < f->window ? len : f->window;

	if (f->window != SIZE_MAX)
		f->window -= n;
	if (f->len + n > f->cap) {
		f->cap = (f->len + n) * 2 + 256;
		f->out = realloc(f->out, f->cap);
	}
	memcpy(f->out + f->len, buf, n);
	f->len += n;
	return (ssize_t)n;
}

static inline void
fake_close(void *io, int abortive)
{
	struct fake *f = io;
	f->closed++;
	f->abortive = abortive;
}

static const struct mqtt_transport_ops fake_ops = {fake_send, fake_close};

static inline struct mqtt_broker *
broker_new(void (*tune)(struct mqtt_broker_conf *))
{
	struct mqtt_broker_conf conf;
	mqtt_broker_conf_defaults(&conf);
	if (tune)
		tune(&conf);
	return mqtt_broker_create(&conf, &fake_ops);
}

static inline void
fake_open(struct mqtt_broker *b, struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->window = SIZE_MAX;
	f->c = mqtt_conn_open(b, f, now_us);
}

/* The host's side of a close: the transport is gone. */
static inline void
fake_gone(struct fake *f)
{
	if (f->c)
		mqtt_conn_closed(f->c, now_us);
	f->c = NULL;
	free(f->out);
	f->out = NULL;
	f->len = f->cap = 0;
}

static inline size_t
unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	while (*h) {
		if (*h == ' ') {
			h++;
			continue;
		}
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static inline int
feed(struct fake *f, const void *p, size_t n)
{
	return mqtt_conn_input(f->c, p, n, now_us);
}

static inline int
feed_hex(struct fake *f, const char *hex)
{
	uint8_t buf[1024];
	return feed(f, buf, unhex(hex, buf));
}

static inline void
print_hex(const char *what, const uint8_t *p, size_t n)
{
	printf("#   %s:", what);
	for (size_t i = 0; i < n && i < 64; i++)
		printf(" %02x", p[i]);
	printf("%s\n", n > 64 ? " ..." : "");
}

/* The transport received exactly these bytes since the last check. */
static inline bool
expect_hex(struct fake *f, const char *hex)
{
	uint8_t want[1024];
	size_t n = unhex(hex, want);
	bool ok = f->len == n && (n == 0 || !memcmp(f->out, want, n));
	if (!ok) {
		print_hex("want", want, n);
		print_hex("got ", f->out, f->len);
	}
	f->len = 0;
	return ok;
}

/* ---- client packet builders (through the codec's encoder) ---- */

static inline size_t
enc(const struct mqtt_packet *p, int v, uint8_t *buf, size_t cap)
{
	ssize_t n = mqtt_encode(p, v, buf, cap);
	if (n < 0) {
		printf("#   encode failed: %zd\n", n);
		exit(2);
	}
	return (size_t)n;
}

static inline struct mqtt_str
str(const char *s)
{
	struct mqtt_str r = {(const uint8_t *)s, (uint32_t)strlen(s)};
	return r;
}

static inline size_t
pkt_connect(uint8_t *buf, int v, const char *cid, int clean, uint16_t ka, const char *will_topic,
            const char *will_payload, uint8_t will_qos)
{
	struct mqtt_packet p;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	p.connect.protocol_level = (uint8_t)v;
	p.connect.clean_start = (uint8_t)clean;
	p.connect.keep_alive = ka;
	p.connect.client_id = str(cid);
	if (will_topic) {
		p.connect.will_flag = 1;
		p.connect.will_qos = will_qos;
		p.connect.will_topic = str(will_topic);
		p.connect.will_payload = str(will_payload);
	}
	return enc(&p, v, buf, 512);
}

static inline size_t
pkt_publish(uint8_t *buf, size_t cap, int v, const char *topic, const void *payload, size_t plen,
            uint8_t qos, uint16_t pid, uint8_t retain)
{
	struct mqtt_packet p;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.publish.qos = qos;
	p.publish.retain = retain;
	p.publish.packet_id = pid;
	p.publish.topic = str(topic);
	p.publish.payload.p = payload;
	p.publish.payload.len = (uint32_t)plen;
	return enc(&p, v, buf, cap);
}

static inline size_t
pkt_subscribe(uint8_t *buf, int v, uint16_t pid, const char *filter, uint8_t qos)
{
	struct mqtt_packet p;
	struct mqtt_sub_entry e;
	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	e.filter = str(filter);
	e.qos = qos;
	p.type = MQTT_SUBSCRIBE;
	p.subscribe.packet_id = pid;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	return enc(&p, v, buf, 512);
}

/* Connect a client and consume the CONNACK (checked: accepted). */
static inline void
client(struct mqtt_broker *b, struct fake *f, int v, const char *cid, int clean)
{
	uint8_t buf[512];
	fake_open(b, f);
	CHECK_EQ(feed(f, buf, pkt_connect(buf, v, cid, clean, 0, NULL, NULL, 0)), 0);
	CHECK(f->len >= 4 && f->out[0] == 0x20);
	CHECK_EQ(f->out[3], 0);
	f->len = 0;
}

static inline void
subscribe(struct fake *f, int v, const char *filter, uint8_t qos)
{
	uint8_t buf[512];
	CHECK_EQ(feed(f, buf, pkt_subscribe(buf, v, 7, filter, qos)), 0);
	CHECK(f->len >= 5 && f->out[0] == 0x90);
	f->len = 0;
}

/* Decode the next packet the broker sent to f, consuming it. Returns false when none. The
 * views point into f->out, valid until the next call. */
static size_t fake_rd;
static inline bool
next_packet(struct fake *f, int v, struct mqtt_packet *p)
{
	uint8_t type, flags;
	uint32_t rem, hl;
	if (fake_rd >= f->len) {
		f->len = fake_rd = 0;
		return false;
	}
	if (mqtt_fixed_header(f->out + fake_rd, f->len - fake_rd, &type, &flags, &rem, &hl) ||
	    fake_rd + hl + rem > f->len)
		return false;
	int r = mqtt_decode(f->out + fake_rd, hl + rem, v, p);
	fake_rd += hl + rem;
	return r == 0;
}

#endif

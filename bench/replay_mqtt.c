/* SPDX-License-Identifier: Apache-2.0
 * replay-mqtt: a generated workload fed through one broker shard (mqtt/mqtt.h) in process,
 * with no network: an in-memory transport that accepts everything and keeps nothing.
 *
 *   replay-mqtt fanout|pairs [--clients N] [--msgs M] [--payload B] [--batch K]
 *
 * fanout: one publisher, N subscribers on one topic; pairs: N publishers, each with its own
 * subscriber. Set-up (CONNECT, SUBSCRIBE) happens first; then replay_run() feeds M QoS 0
 * PUBLISH packets, K per mqtt_conn_input() call as if K arrived in one TCP segment, and the
 * broker encodes every delivery into the transport. The program prints
 *   published M
 *   messages D        (PUBLISH packets the broker sent: deliveries)
 *   expected E        (M x N for fanout, M for pairs; the exit status is 1 when D != E)
 * bench/callgrind.sh runs it under callgrind collecting only replay_run(), so instructions /
 * D is the MQTT core's cost per delivered message, repeatable on a noisy machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"
#include "mqtt/mqtt_codec.h"
#include "replay_args.h"

struct sink {
	struct mqtt_conn *c;
	uint64_t bytes;
	int closed;
};

/* The transport takes every byte at once: what is measured is the broker, not a buffer. */
static ssize_t
sink_send(void *io, const void *buf, size_t len)
{
	(void)buf;
	((struct sink *)io)->bytes += len;
	return (ssize_t)len;
}

static void
sink_close(void *io, int abortive)
{
	(void)abortive;
	((struct sink *)io)->closed = 1;
}

static const struct mqtt_transport_ops sink_ops = {sink_send, sink_close};
static uint64_t now_us = 1000000;

static void
die(const char *msg)
{
	fprintf(stderr, "replay-mqtt: %s\n", msg);
	exit(2);
}

static void
feed(struct sink *s, const uint8_t *buf, ssize_t len)
{
	if (len < 0)
		die("encode failed");
	if (mqtt_conn_input(s->c, buf, (size_t)len, now_us) < 0 || s->closed)
		die("the broker refused the set-up");
}

static void
client_setup(struct mqtt_broker *b, struct sink *s, const char *id, const char *filter)
{
	uint8_t buf[256];
	s->c = mqtt_conn_open(b, s, now_us);
	if (!s->c)
		die("mqtt_conn_open failed");
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_level = MQTT_V311;
	p.connect.clean_start = 1;
	p.connect.keep_alive = 60;
	p.connect.client_id = (struct mqtt_str){(const uint8_t *)id, (uint32_t)strlen(id)};
	feed(s, buf, mqtt_encode(&p, MQTT_V311, buf, sizeof(buf)));
	if (!filter)
		return;
	struct mqtt_sub_entry e = {.filter = {(const uint8_t *)filter, (uint32_t)strlen(filter)}};
	struct mqtt_packet sp = {.type = MQTT_SUBSCRIBE};
	sp.subscribe.packet_id = 1;
	sp.subscribe.count = 1;
	sp.subscribe.entries = &e;
	feed(s, buf, mqtt_encode(&sp, MQTT_V311, buf, sizeof(buf)));
}

struct replay {
	struct sink *pubs;
	uint32_t npubs;
	uint8_t **stream; /* per publisher: `batch` PUBLISH packets back to back */
	size_t *stream_len;
	uint32_t batch;
	uint64_t msgs;
};

/* The measured part (callgrind --toggle-collect=replay_run). Cost: msgs / batch input calls. */
__attribute__((noinline)) static uint64_t
replay_run(struct replay *r)
{
	uint64_t sent = 0;
	while (sent < r->msgs) {
		for (uint32_t p = 0; p < r->npubs && sent < r->msgs; p++) {
			if (mqtt_conn_input(r->pubs[p].c, r->stream[p], r->stream_len[p], now_us) <
			    0)
				die("publish refused");
			sent += r->batch;
		}
		now_us += 10;
	}
	return sent;
}

int
main(int argc, char **argv)
{
	struct replay_args ra;
	const char *err = replay_args_parse(argc, argv, &ra, 100000, 100000000, 65536);
	if (err)
		die(err);
	int fanout = ra.fanout;
	unsigned long clients = ra.clients, msgs = ra.msgs, payload = ra.payload, batch = ra.batch;

	struct mqtt_broker_conf conf;
	mqtt_broker_conf_defaults(&conf);
	struct mqtt_broker *b = mqtt_broker_create(&conf, &sink_ops);
	if (!b)
		die("mqtt_broker_create failed");
	struct replay r = {.npubs = fanout ? 1 : (uint32_t)clients, .batch = (uint32_t)batch};
	struct sink *subs = calloc(clients, sizeof(*subs));
	r.pubs = calloc(r.npubs, sizeof(*r.pubs));
	r.stream = calloc(r.npubs, sizeof(*r.stream));
	r.stream_len = calloc(r.npubs, sizeof(*r.stream_len));
	uint8_t *body = calloc(1, payload + 1);
	if (!subs || !r.pubs || !r.stream || !r.stream_len || !body)
		die("out of memory");
	char id[32], topic[32];
	for (unsigned long s = 0; s < clients; s++) {
		snprintf(id, sizeof(id), "sub-%lu", s);
		snprintf(topic, sizeof(topic), "replay/%lu", fanout ? 0 : s);
		client_setup(b, &subs[s], id, topic);
	}
	for (uint32_t p = 0; p < r.npubs; p++) {
		snprintf(id, sizeof(id), "pub-%u", p);
		client_setup(b, &r.pubs[p], id, NULL);
		snprintf(topic, sizeof(topic), "replay/%u", p);
		struct mqtt_packet pp = {.type = MQTT_PUBLISH};
		pp.publish.topic =
		        (struct mqtt_str){(const uint8_t *)topic, (uint32_t)strlen(topic)};
		pp.publish.payload = (struct mqtt_str){body, (uint32_t)payload};
		ssize_t one = mqtt_encoded_len(&pp, MQTT_V311);
		if (one < 0)
			die("encode failed");
		r.stream_len[p] = (size_t)one * batch;
		r.stream[p] = malloc(r.stream_len[p]);
		if (!r.stream[p])
			die("out of memory");
		for (uint32_t k = 0; k < batch; k++)
			if (mqtt_encode(&pp, MQTT_V311, r.stream[p] + (size_t)one * k,
			                (size_t)one) != one)
				die("encode failed");
	}
	r.msgs = msgs;
	const struct mqtt_stats *st = mqtt_broker_stats(b);
	uint64_t out0 = st->messages_out;
	uint64_t sent = replay_run(&r);
	uint64_t delivered = st->messages_out - out0;
	uint64_t want = fanout ? sent * clients : sent;
	printf("published %llu\nmessages %llu\nexpected %llu\n", (unsigned long long)sent,
	       (unsigned long long)delivered, (unsigned long long)want);
	if (delivered != want) {
		fprintf(stderr, "replay-mqtt: %llu deliveries, expected %llu\n",
		        (unsigned long long)delivered, (unsigned long long)want);
		return 1;
	}
	for (unsigned long s = 0; s < clients; s++)
		mqtt_conn_closed(subs[s].c, now_us);
	for (uint32_t p = 0; p < r.npubs; p++) {
		mqtt_conn_closed(r.pubs[p].c, now_us);
		free(r.stream[p]);
	}
	mqtt_broker_destroy(b);
	free(subs);
	free(r.pubs);
	free(r.stream);
	free(r.stream_len);
	free(body);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the broker core (mqtt.h only): several client byte streams and a virtual
 * clock drive one broker through an in-memory transport; at the end every connection is closed,
 * the clock runs past every expiry and the broker must hold no connection and free everything
 * (ASan's leak check in the fuzz and ASan replay builds).
 *
 * Input: one configuration byte, then records. A record starts with an op byte: client = op & 3,
 * action = (op >> 2) & 7:
 *   0..3  input: a length byte L, then L bytes for that client (its connection opens first if
 *         it has none)
 *   4     clock: a byte b, now += b*b ms; mqtt_broker_tick; due connection timeouts
 *   5     the transport is gone (mqtt_conn_closed)
 *   6     window: a byte b, the transport takes b*8 more bytes (255: no limit); writable
 *   7     a parked login is answered: a byte picks 0 (accept) or a CONNACK refusal code
 * Configuration bits: 0-1 share policy, 2 drop oldest, 3 retry interval 2 s, 4 hooks installed
 * (connect, ACL, enhanced auth), 5 small limits (inflight, queue, outbuf, packet size, aliases,
 * subscriptions, keep-alive), 6 no Response Information.
 *
 * Every byte the broker sends must frame as MQTT packets and, once the client's protocol level
 * is known from its CONNECT, decode under that level: the broker only writes what the codec
 * accepts. tests/fuzz/broker/gen_corpus.py writes the seed corpus in this format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt.h"
#include "mqtt/mqtt_codec.h"

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_broker: %s:%d: %s\n", __FILE__, __LINE__, #c);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define N_CLIENTS 4
#define OUT_CAP   (1u << 17) /* output kept per client for the framing check */
#define LEVEL_CAP 64         /* input bytes kept to find the CONNECT's protocol level */

struct client {
	struct mqtt_conn *c;
	size_t window; /* bytes the transport still takes; SIZE_MAX: no limit */
	int closed;    /* the broker called ops->close */
	int parked;    /* the connect hook answered -EINPROGRESS */
	int level;     /* protocol level of the client's CONNECT, 0 while unknown */
	size_t in_len; /* first input bytes, for level */
	uint8_t in[LEVEL_CAP];
	size_t out_len; /* undecoded tail of the broker's output; SIZE_MAX: stop checking */
	uint8_t out[OUT_CAP];
};

static struct client clients[N_CLIENTS];
static uint64_t now_us;
static int verbose; /* FUZZ_BROKER_STATS set: one line of broker counters per input */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	verbose = getenv("FUZZ_BROKER_STATS") != NULL;
	return 0;
}

/* Frame (and, with a known level, decode) what the broker wrote; keep an incomplete tail. */
static void
check_output(struct client *cl)
{
	size_t off = 0;

	while (off < cl->out_len) {
		uint8_t type, flags;
		uint32_t rem, hdr;
		struct mqtt_packet p;
		int rc = mqtt_fixed_header(cl->out + off, cl->out_len - off, &type, &flags, &rem,
		                           &hdr);

		if (rc == -EAGAIN)
			break;
		FUZZ_ASSERT(rc == 0);
		if (off + hdr + rem > cl->out_len)
			break;
		if (cl->level >= MQTT_V31 && cl->level <= MQTT_V5) {
			rc = mqtt_decode(cl->out + off, hdr + rem, cl->level, &p);
			if (rc != 0) {
				fprintf(stderr, "fuzz_broker: level %d type %u: %s:", cl->level,
				        type, p.err_msg ? p.err_msg : "?");
				for (uint32_t k = 0; k < hdr + rem && k < 32; k++)
					fprintf(stderr, " %02x", cl->out[off + k]);
				fprintf(stderr, "\n");
			}
			FUZZ_ASSERT(rc == 0);
		}
		off += hdr + rem;
	}
	memmove(cl->out, cl->out + off, cl->out_len - off);
	cl->out_len -= off;
}

static ssize_t
fake_send(void *io, const void *buf, size_t len)
{
	struct client *cl = io;
	size_t n = len < cl->window ? len : cl->window;

	if (cl->window != SIZE_MAX)
		cl->window -= n;
	if (cl->out_len == SIZE_MAX)
		return (ssize_t)n;
	if (n > OUT_CAP - cl->out_len) {
		cl->out_len = SIZE_MAX; /* more than a whole packet pending: stop checking */
		return (ssize_t)n;
	}
	memcpy(cl->out + cl->out_len, buf, n);
	cl->out_len += n;
	check_output(cl);
	return (ssize_t)n;
}

static void
fake_close(void *io, int abortive)
{
	struct client *cl = io;

	(void)abortive;
	cl->closed = 1;
}

static const struct mqtt_transport_ops fake_ops = {fake_send, fake_close};

/* ---- hooks: deterministic stand-ins for logins, ACLs and a SASL mechanism ---- */

static int
view_is(const uint8_t *p, size_t len, const char *s)
{
	return p != NULL && len == strlen(s) && memcmp(p, s, len) == 0;
}

static int
hook_connect(void *ctx, struct mqtt_conn *c, const uint8_t *cid, size_t cid_len,
             const uint8_t *user, size_t user_len, const uint8_t *pass, size_t pass_len)
{
	struct client *cl = mqtt_conn_io(c);

	(void)ctx, (void)cid, (void)cid_len, (void)pass, (void)pass_len;
	if (view_is(user, user_len, "park")) {
		cl->parked = 1;
		return -EINPROGRESS;
	}
	if (view_is(user, user_len, "bad"))
		return MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
	return 0;
}

static int
hook_acl(void *ctx, struct mqtt_conn *c, int write, const uint8_t *topic, size_t len)
{
	(void)ctx, (void)c;
	if (len >= 4 && memcmp(topic, "deny", 4) == 0)
		return MQTT_RC_NOT_AUTHORIZED;
	if (write && len >= 4 && memcmp(topic, "rate", 4) == 0)
		return 0x96;
	return 0;
}

static int
hook_auth(void *ctx, struct mqtt_conn *c, int step, const uint8_t *method, size_t mlen,
          const uint8_t *data, size_t dlen, uint8_t *out, size_t *out_len)
{
	size_t cap = *out_len;

	(void)ctx, (void)c, (void)step;
	*out_len = 0;
	if (!view_is(method, mlen, "M"))
		return MQTT_RC_BAD_AUTHENTICATION_METHOD;
	if (view_is(data, dlen, "more") && cap >= 4) {
		memcpy(out, "chal", 4);
		*out_len = 4;
		return MQTT_RC_CONTINUE_AUTHENTICATION;
	}
	if (view_is(data, dlen, "ok"))
		return 0;
	return MQTT_RC_NOT_AUTHORIZED;
}

static const struct mqtt_hooks fuzz_hooks = {
        .connect = hook_connect, .acl = hook_acl, .auth = hook_auth};

/* ---- driver ---- */

/* What a host may answer a parked login with (0 accepts; the broker sends the others as they
 * are, so a host passing any other byte would be the host's bug). */
static const uint8_t refusals[] = {0,    0x80, 0x85, 0x86, 0x87, 0x88, 0x89,
                                   0x8A, 0x8C, 0x95, 0x97, 0x9C, 0x9F};

static void
tune(struct mqtt_broker_conf *conf, uint8_t cfg)
{
	mqtt_broker_conf_defaults(conf);
	conf->share_policy = cfg & 3 ? (cfg & 3) - 1 : 0;
	conf->queue_drop_oldest = (cfg >> 2) & 1;
	conf->retry_interval_us = (cfg & 8) ? 2000000 : 0;
	conf->max_packet_size = 1u << 16;
	if (cfg & 32) {
		conf->max_inflight = 2;
		conf->max_queued = 4;
		conf->max_outbuf = 512;
		conf->max_packet_size = 256;
		conf->topic_alias_max = 2;
		conf->max_subscriptions = 4;
		conf->max_keepalive = 30;
		conf->min_keepalive = 2;
		conf->max_topic_length = 32;
		conf->max_topic_levels = 4;
	}
	if (cfg & 64)
		conf->response_info[0] = '\0';
}

/* The host's side of a transport that is gone. */
static void
gone(struct client *cl)
{
	if (cl->c != NULL)
		mqtt_conn_closed(cl->c, now_us);
	cl->c = NULL;
	cl->parked = 0;
	cl->closed = 0;
}

/* Connections the broker closed are gone now (a host may take longer; the broker must not care). */
static void
reap(void)
{
	for (int i = 0; i < N_CLIENTS; i++)
		if (clients[i].c != NULL && clients[i].closed)
			gone(&clients[i]);
}

static void
open_client(struct mqtt_broker *b, struct client *cl)
{
	memset(cl, 0, offsetof(struct client, out));
	cl->window = SIZE_MAX;
	cl->c = mqtt_conn_open(b, cl, now_us);
	FUZZ_ASSERT(cl->c != NULL);
}

static void
learn_level(struct client *cl, const uint8_t *p, size_t n)
{
	size_t take = n < LEVEL_CAP - cl->in_len ? n : LEVEL_CAP - cl->in_len;
	size_t i = 1, name;

	memcpy(cl->in + cl->in_len, p, take);
	cl->in_len += take;
	if (cl->level != 0 || cl->in_len < 2 || cl->in[0] != 0x10)
		return;
	while (i < cl->in_len && i < 5 && (cl->in[i] & 0x80))
		i++;
	i++; /* past the remaining length */
	if (i + 2 > cl->in_len)
		return;
	name = ((size_t)cl->in[i] << 8) | cl->in[i + 1];
	if (i + 2 + name < cl->in_len)
		cl->level = cl->in[i + 2 + name];
}

static void
clock_advance(struct mqtt_broker *b, uint8_t step)
{
	now_us += (uint64_t)step * step * 1000;
	mqtt_broker_tick(b, now_us);
	for (int i = 0; i < N_CLIENTS; i++) {
		struct client *cl = &clients[i];

		if (cl->c != NULL && !cl->closed && mqtt_conn_deadline(cl->c) <= now_us)
			mqtt_conn_timeout(cl->c, now_us);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqtt_broker_conf conf;
	const struct mqtt_stats *st;
	struct mqtt_broker *b;
	size_t i = 1;

	if (size < 1)
		return 0;
	memset(clients, 0, sizeof(clients));
	now_us = 1000000;
	tune(&conf, data[0]);
	b = mqtt_broker_create(&conf, &fake_ops);
	FUZZ_ASSERT(b != NULL);
	if (data[0] & 16)
		mqtt_broker_set_hooks(b, &fuzz_hooks);
	while (i < size) {
		uint8_t op = data[i++];
		struct client *cl = &clients[op & 3];
		unsigned int action = (op >> 2) & 7;
		uint8_t arg = i < size ? data[i] : 0;

		if (action <= 3) {
			size_t len = i < size ? data[i++] : 0;

			if (len > size - i)
				len = size - i;
			if (cl->c == NULL)
				open_client(b, cl);
			learn_level(cl, data + i, len);
			if (!cl->closed)
				mqtt_conn_input(cl->c, data + i, len, now_us);
			i += len;
		} else if (action == 4) {
			i++;
			clock_advance(b, arg);
		} else if (action == 5) {
			gone(cl);
		} else if (action == 6) {
			i++;
			if (cl->c != NULL) {
				cl->window = arg == 255 ? SIZE_MAX : (size_t)arg * 8;
				if (!cl->closed)
					mqtt_conn_writable(cl->c, now_us);
			}
		} else {
			i++;
			if (cl->c != NULL && cl->parked) {
				cl->parked = 0;
				mqtt_conn_auth_done(cl->c, refusals[arg % sizeof(refusals)],
				                    now_us);
			}
		}
		reap();
	}
	for (int k = 0; k < N_CLIENTS; k++)
		gone(&clients[k]);
	/* Past every will delay and session expiry the corpus uses (bounded work per tick). */
	for (int k = 0; k < 64; k++) {
		now_us += 3600ull * 1000000;
		mqtt_broker_tick(b, now_us);
	}
	st = mqtt_broker_stats(b);
	if (verbose)
		fprintf(stderr,
		        "fuzz_broker: %zu bytes: conns %" PRIu64 " in %" PRIu64 " out %" PRIu64
		        " retained %" PRIu64 " wills %" PRIu64 " errors %" PRIu64 "+%" PRIu64 "\n",
		        size, st->connections_total, st->messages_in, st->messages_out,
		        st->retained, st->wills_published, st->protocol_errors,
		        st->malformed_packets);
	FUZZ_ASSERT(st->connections_current == 0);
	mqtt_broker_destroy(b);
	return 0;
}

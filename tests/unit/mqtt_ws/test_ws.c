/* SPDX-License-Identifier: Apache-2.0
 * MQTT over WebSocket codec (mqtt/mqtt_ws.h): the RFC 6455 examples (1.3 accept key, 4.1 request,
 * 5.7 frames), MQTT section 6 rules (binary only, packets across frames, subprotocol "mqtt"),
 * every violation with its close code or HTTP status, and any split of the input.
 */
#include <errno.h>
#include <string.h>

#include "mqtt/mqtt_ws.h"
#include "tap.h"

#define REQ_HEAD                                                                                   \
	"GET /mqtt HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"                 \
	"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                   \
	"Origin: http://example.com\r\n"
#define REQ_OK REQ_HEAD "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n"

static int
parse(const char *s, struct mqtt_ws_request *r)
{
	return mqtt_ws_parse_request((const uint8_t *)s, strlen(s), r);
}

/* RFC 6455 1.3: the server's accept value for the sample nonce. */
static void
accept_key_rfc6455_1_3(void)
{
	char out[29];

	mqtt_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	mqtt_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
	CHECK(strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0); /* a second key (hashlib) */
}

static void
upgrade_101(void)
{
	static const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
	struct mqtt_ws_request r;
	char out[MQTT_WS_MAX_RESPONSE];
	ssize_t n;

	CHECK_EQ(parse(REQ_OK, &r), 0);
	CHECK_EQ(r.len, strlen(REQ_OK));
	CHECK_EQ(r.status, 101);
	n = mqtt_ws_response(&r, out, sizeof(out));
	CHECK_EQ(n, (ssize_t)strlen(want));
	CHECK(n > 0 && memcmp(out, want, (size_t)n) == 0);
	CHECK_EQ(mqtt_ws_response(&r, out, 20), -ENOSPC);
}

/* Every prefix is -EAGAIN; bytes after the empty line are not the request's. */
static void
upgrade_prefixes(void)
{
	char buf[sizeof(REQ_OK) + 8];
	struct mqtt_ws_request r;
	size_t n = strlen(REQ_OK);
	int bad = 0;

	memcpy(buf, REQ_OK, n);
	memcpy(buf + n, "\x82\x80\x01\x02\x03\x04", 6);
	for (size_t k = 0; k < n; k++)
		bad += mqtt_ws_parse_request((uint8_t *)buf, k, &r) != -EAGAIN;
	CHECK_EQ(bad, 0);
	CHECK_EQ(mqtt_ws_parse_request((uint8_t *)buf, n + 6, &r), 0);
	CHECK_EQ(r.len, n);
}

/* Header names and Upgrade/Connection tokens are case-insensitive; lists; other subprotocols. */
static void
upgrade_variants(void)
{
	struct mqtt_ws_request r;
	char out[MQTT_WS_MAX_RESPONSE];
	ssize_t n;

	CHECK_EQ(parse("GET / HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\n"
	               "connection: keep-alive, Upgrade\r\nsec-websocket-key:   "
	               "dGhlIHNhbXBsZSBub25jZQ==  \r\nSEC-WEBSOCKET-VERSION: 13\r\n"
	               "Sec-WebSocket-Protocol: foo, mqtt\r\nSec-WebSocket-Protocol: bar\r\n\r\n",
	               &r),
	         0);
	CHECK_EQ(r.subproto, 1);
	/* only the 3.1-era name: echoed (the client offered nothing else) */
	CHECK_EQ(parse(REQ_HEAD "Sec-WebSocket-Protocol: mqttv3.1\r\nSec-WebSocket-Version: "
	                        "13\r\n\r\n",
	               &r),
	         0);
	CHECK_EQ(r.subproto, 2);
	n = mqtt_ws_response(&r, out, sizeof(out));
	CHECK(n > 0 && strstr(out, "Sec-WebSocket-Protocol: mqttv3.1\r\n") != NULL);
	/* both: mqtt wins (MQTT-6.0.0-4) */
	CHECK_EQ(parse(REQ_HEAD "Sec-WebSocket-Protocol: mqttv3.1,mqtt\r\nSec-WebSocket-Version: "
	                        "13\r\n\r\n",
	               &r),
	         0);
	CHECK_EQ(r.subproto, 1);
}

static void
expect_status(const char *req, int want)
{
	struct mqtt_ws_request r;
	char out[MQTT_WS_MAX_RESPONSE];
	char line[32];
	ssize_t n;

	CHECK_EQ(parse(req, &r), -EPROTO);
	CHECK_EQ(r.status, want);
	n = mqtt_ws_response(&r, out, sizeof(out) - 1);
	CHECK(n > 0);
	out[n > 0 ? n : 0] = '\0';
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", want);
	CHECK(strncmp(out, line, strlen(line)) == 0);
	CHECK(strstr(out, "Connection: close\r\n") != NULL);
}

static void
upgrade_refusals(void)
{
	char big[MQTT_WS_MAX_REQUEST + 64];
	struct mqtt_ws_request r;
	size_t n;

	expect_status("POST /mqtt HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("\x10\x0c\x00\x04MQTT", 400); /* MQTT on the WebSocket port: at once */
	expect_status("GET /mqtt HTTP/1.0\r\nHost: a\r\n\r\n", 400);
	expect_status("GET  HTTP/1.1\r\n\r\n", 400);
	/* no subprotocol (MQTT-6.0.0-3), another one only */
	expect_status(REQ_HEAD "Sec-WebSocket-Version: 13\r\n\r\n", 400);
	expect_status(REQ_HEAD "Sec-WebSocket-Protocol: MQTT, wamp\r\nSec-WebSocket-Version: "
	                       "13\r\n\r\n",
	              400);
	/* each required header missing */
	expect_status("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	              "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	              400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	              "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	              400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: close\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	              "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	              400);
	expect_status(REQ_HEAD "Sec-WebSocket-Protocol: mqtt\r\n\r\n", 400);
	/* keys: not 16 bytes, bad character, twice */
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Version: 13\r\n"
	              "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	              400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25*ZQ==\r\nSec-WebSocket-Version: 13\r\n"
	              "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	              400);
	expect_status(REQ_HEAD "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                       "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n",
	              400);
	/* header syntax: space before the colon, obsolete fold, bare LF, control character */
	expect_status(REQ_HEAD "Sec-WebSocket-Protocol : mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n",
	              400);
	expect_status(REQ_HEAD "Sec-WebSocket-Protocol:\r\n mqtt\r\nSec-WebSocket-Version: "
	                       "13\r\n\r\n",
	              400);
	expect_status(REQ_HEAD "X: y\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: "
	                       "13\r\n\r\n",
	              400);
	expect_status(REQ_HEAD "X: a\x01"
	                       "b\r\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: "
	                       "13\r\n\r\n",
	              400);
	/* version 8: 426 naming 13 */
	expect_status(REQ_HEAD "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 8\r\n\r\n",
	              426);
	/* limits: size (no end in sight), header count */
	memset(big, 'a', sizeof(big));
	memcpy(big, REQ_HEAD "X: ", strlen(REQ_HEAD "X: "));
	CHECK_EQ(mqtt_ws_parse_request((uint8_t *)big, MQTT_WS_MAX_REQUEST - 1, &r), -EAGAIN);
	CHECK_EQ(mqtt_ws_parse_request((uint8_t *)big, sizeof(big), &r), -EPROTO);
	CHECK_EQ(r.status, 431);
	n = strlen(REQ_HEAD);
	memcpy(big, REQ_HEAD, n);
	for (int i = 0; i < MQTT_WS_MAX_HEADERS; i++) {
		memcpy(big + n, "X: y\r\n", 6);
		n += 6;
	}
	memcpy(big + n, "\r\n", 3);
	expect_status(big, 431);
}

/* ---- frames ---- */

static uint8_t out[1 << 17];

struct dec_run {
	size_t produced;
	int events[8], n_events;
	uint16_t code;
	uint8_t ctl[126];
	size_t ctl_len;
	int rc;
};

/* Decode `in` fed in pieces of `step` bytes (out space `cap` per call), collecting data and
 * events; stops at the first error. */
static void
run(struct mqtt_ws_dec *d, const uint8_t *in, size_t len, size_t step, size_t cap,
    struct dec_run *res)
{
	size_t i = 0;

	memset(res, 0, sizeof(*res));
	while (i < len) {
		size_t piece = len - i < step ? len - i : step;
		struct mqtt_ws_result r;

		res->rc = mqtt_ws_decode(d, in + i, piece, out + res->produced, cap, &r);
		res->produced += r.produced;
		i += r.consumed;
		if (r.event != MQTT_WS_EV_NONE && res->n_events < 8) {
			res->events[res->n_events++] = r.event;
			res->code = r.close_code;
			res->ctl_len = r.ctl_len;
			if (r.ctl_len > 0)
				memcpy(res->ctl, r.ctl, r.ctl_len);
		}
		if (res->rc < 0)
			return;
		if (r.consumed == 0 && r.produced == 0 && r.event == MQTT_WS_EV_NONE)
			return; /* no progress: would be a decoder bug */
	}
}

/* RFC 6455 5.7 "a single-frame masked text message" with the opcode made binary: "Hello". */
static const uint8_t masked_hello_bin[] = {0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                           0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void
frames_rfc6455_5_7(void)
{
	static const uint8_t masked_text[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                      0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t unmasked_text[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t unmasked_ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	uint8_t pong[sizeof(masked_hello_bin)], ping[sizeof(masked_hello_bin)], h[10];
	struct mqtt_ws_dec d;
	struct dec_run res;

	for (size_t step = 1; step <= sizeof(masked_hello_bin); step++) {
		mqtt_ws_dec_init(&d, 0);
		run(&d, masked_hello_bin, sizeof(masked_hello_bin), step, 1024, &res);
		CHECK_EQ(res.rc, 0);
		CHECK(res.produced == 5 && memcmp(out, "Hello", 5) == 0);
	}
	/* text: 1003 (MQTT-6.0.0-1); a client frame without mask: 1002 (RFC 6455 5.1) */
	mqtt_ws_dec_init(&d, 0);
	run(&d, masked_text, sizeof(masked_text), 64, 1024, &res);
	CHECK_EQ(res.rc, -EPROTO);
	CHECK_EQ(res.code, MQTT_WS_CLOSE_UNSUPPORTED);
	CHECK_EQ(res.produced, 0);
	mqtt_ws_dec_init(&d, 0);
	run(&d, unmasked_text, sizeof(unmasked_text), 64, 1024, &res);
	CHECK_EQ(res.code, MQTT_WS_CLOSE_PROTOCOL);
	mqtt_ws_dec_init(&d, 0);
	run(&d, unmasked_ping, sizeof(unmasked_ping), 64, 1024, &res);
	CHECK_EQ(res.code, MQTT_WS_CLOSE_PROTOCOL);
	/* the masked ping and pong of 5.7, "Hello" each */
	memcpy(ping, masked_hello_bin, sizeof(ping));
	ping[0] = 0x89;
	memcpy(pong, masked_hello_bin, sizeof(pong));
	pong[0] = 0x8a;
	mqtt_ws_dec_init(&d, 0);
	run(&d, ping, sizeof(ping), 3, 1024, &res);
	CHECK(res.rc == 0 && res.n_events == 1 && res.events[0] == MQTT_WS_EV_PING);
	CHECK(res.ctl_len == 5 && memcmp(res.ctl, "Hello", 5) == 0);
	run(&d, pong, sizeof(pong), 64, 1024, &res);
	CHECK(res.rc == 0 && res.n_events == 1 && res.events[0] == MQTT_WS_EV_PONG);
	/* server frames (unmasked) as 5.7 writes them: 5, 256 and 65536 bytes */
	CHECK_EQ(mqtt_ws_frame_header(MQTT_WS_OP_TEXT, 5, h), 2);
	CHECK(h[0] == 0x81 && h[1] == 0x05);
	CHECK_EQ(mqtt_ws_frame_header(MQTT_WS_OP_BINARY, 256, h), 4);
	CHECK(memcmp(h, "\x82\x7e\x01\x00", 4) == 0);
	CHECK_EQ(mqtt_ws_frame_header(MQTT_WS_OP_BINARY, 65536, h), 10);
	CHECK(memcmp(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);
}

/* Client frame: masked with a fixed key. */
static size_t
cframe(uint8_t *p, int fin, uint8_t op, const void *data, size_t len)
{
	static const uint8_t key[4] = {0xa1, 0x02, 0x5c, 0xf3};
	size_t h = mqtt_ws_frame_header(op, len, p);

	if (!fin)
		p[0] &= 0x7f;
	p[1] |= 0x80;
	memcpy(p + h, key, 4);
	for (size_t i = 0; i < len; i++)
		p[h + 4 + i] = ((const uint8_t *)data)[i] ^ key[i & 3];
	return h + 4 + len;
}

/* MQTT-6.0.0-2: a CONNECT over three frames of one message, with a ping between two of them,
 * then a frame holding two whole packets; any split of the input, any output room. */
static void
frames_mqtt_across(void)
{
	static const uint8_t connect[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
	                                  0x02, 0x00, 0x3c, 0x00, 0x04, 'w', 's', 'c', '1'};
	static const uint8_t two[] = {0xc0, 0x00, 0xe0, 0x00};
	uint8_t buf[256], want[sizeof(connect) + sizeof(two)];
	size_t n = 0;
	struct mqtt_ws_dec d;
	struct dec_run res;

	n += cframe(buf + n, 0, MQTT_WS_OP_BINARY, connect, 3);
	n += cframe(buf + n, 0, MQTT_WS_OP_CONT, connect + 3, 7);
	n += cframe(buf + n, 1, MQTT_WS_OP_PING, "p", 1);
	n += cframe(buf + n, 1, MQTT_WS_OP_CONT, connect + 10, sizeof(connect) - 10);
	n += cframe(buf + n, 1, MQTT_WS_OP_BINARY, two, sizeof(two));
	n += cframe(buf + n, 1, MQTT_WS_OP_BINARY, "", 0);
	memcpy(want, connect, sizeof(connect));
	memcpy(want + sizeof(connect), two, sizeof(two));
	for (size_t step = 1; step <= n; step++)
		for (size_t cap = 1; cap <= 5; cap += 4) {
			mqtt_ws_dec_init(&d, 1024);
			run(&d, buf, n, step, cap, &res);
			CHECK_EQ(res.rc, 0);
			CHECK_EQ(res.n_events, 1);
			CHECK(res.produced == sizeof(want) && memcmp(out, want, sizeof(want)) == 0);
		}
	/* in place: out == in */
	mqtt_ws_dec_init(&d, 0);
	{
		struct mqtt_ws_result r;
		size_t i = 0, o = 0;

		while (i < n) {
			CHECK_EQ(mqtt_ws_decode(&d, buf + i, n - i, buf + o, n - i, &r), 0);
			i += r.consumed;
			o += r.produced;
		}
		CHECK(o == sizeof(want) && memcmp(buf, want, sizeof(want)) == 0);
	}
}

static void
expect_close(const uint8_t *in, size_t len, uint64_t max, uint16_t code)
{
	struct mqtt_ws_dec d;
	struct dec_run res;
	struct mqtt_ws_result r;

	mqtt_ws_dec_init(&d, max);
	run(&d, in, len, 1, 64, &res);
	CHECK_EQ(res.rc, -EPROTO);
	CHECK_EQ(res.code, code);
	CHECK_EQ(mqtt_ws_decode(&d, in, len, out, 64, &r), -EPIPE);
}

static void
frames_violations(void)
{
	uint8_t b[512];
	size_t n;

	n = cframe(b, 1, MQTT_WS_OP_BINARY, "abc", 3);
	b[0] |= 0x40; /* RSV1 without an extension */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 1, 0x3, "abc", 3); /* reserved data opcode */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 1, 0xb, "", 0); /* reserved control opcode */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 1, MQTT_WS_OP_CONT, "abc", 3); /* nothing to continue */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 0, MQTT_WS_OP_BINARY, "a", 1); /* a new message inside one */
	n += cframe(b + n, 1, MQTT_WS_OP_BINARY, "b", 1);
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 0, MQTT_WS_OP_PING, "", 0); /* fragmented control frame */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	memset(b + 300, 'x', 126);
	n = cframe(b, 1, MQTT_WS_OP_PING, b + 300, 126); /* control payload over 125 */
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	/* 16-bit length for 5 bytes, 64-bit length for 300 (not minimal); top bit set; each with
	 * its mask key, so the header is complete */
	expect_close((const uint8_t *)"\x82\xfe\x00\x05\x01\x02\x03\x04", 8, 0,
	             MQTT_WS_CLOSE_PROTOCOL);
	expect_close((const uint8_t *)"\x82\xff\x00\x00\x00\x00\x00\x00\x01\x2c\x01\x02\x03\x04",
	             14, 0, MQTT_WS_CLOSE_PROTOCOL);
	expect_close((const uint8_t *)"\x82\xff\x80\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04",
	             14, 0, MQTT_WS_CLOSE_PROTOCOL);
	/* frame size limit: 1009 */
	n = cframe(b, 1, MQTT_WS_OP_BINARY, b + 300, 101);
	expect_close(b, n, 100, MQTT_WS_CLOSE_TOO_BIG);
	/* close frames: one byte; a code that must not be sent (1005, 999) */
	n = cframe(b, 1, MQTT_WS_OP_CLOSE, "\x03", 1);
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 1, MQTT_WS_OP_CLOSE, "\x03\xed", 2);
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
	n = cframe(b, 1, MQTT_WS_OP_CLOSE, "\x03\xe7", 2);
	expect_close(b, n, 0, MQTT_WS_CLOSE_PROTOCOL);
}

static void
frames_close(void)
{
	uint8_t b[64], f[64];
	struct mqtt_ws_dec d;
	struct dec_run res;
	struct mqtt_ws_result r;
	size_t n;

	/* data, then close 1000 "bye": the data is delivered, then the event; nothing after */
	n = cframe(b, 1, MQTT_WS_OP_BINARY, "\xc0\x00", 2);
	n += cframe(b + n, 1, MQTT_WS_OP_CLOSE,
	            "\x03\xe8"
	            "bye",
	            5);
	n += cframe(b + n, 1, MQTT_WS_OP_BINARY, "zz", 2);
	mqtt_ws_dec_init(&d, 0);
	run(&d, b, n, 4, 64, &res);
	CHECK_EQ(res.produced, 2);
	CHECK(res.n_events == 1 && res.events[0] == MQTT_WS_EV_CLOSE);
	CHECK_EQ(res.code, 1000);
	CHECK(res.ctl_len == 3 && memcmp(res.ctl, "bye", 3) == 0);
	CHECK_EQ(mqtt_ws_decode(&d, b, n, out, 64, &r), -EPIPE);
	/* no code: 1005 */
	n = cframe(b, 1, MQTT_WS_OP_CLOSE, "", 0);
	mqtt_ws_dec_init(&d, 0);
	run(&d, b, n, 64, 64, &res);
	CHECK(res.rc == 0 && res.n_events == 1 && res.code == MQTT_WS_CLOSE_NO_STATUS);
	/* the server's close frames */
	CHECK_EQ(mqtt_ws_close_frame(1000, NULL, f, sizeof(f)), 4);
	CHECK(memcmp(f, "\x88\x02\x03\xe8", 4) == 0);
	CHECK_EQ(mqtt_ws_close_frame(1003, "text", f, sizeof(f)), 8);
	CHECK(memcmp(f,
	             "\x88\x06\x03\xeb"
	             "text",
	             8) == 0);
	CHECK_EQ(mqtt_ws_close_frame(0, NULL, f, sizeof(f)), 2);
	CHECK(memcmp(f, "\x88\x00", 2) == 0);
	CHECK_EQ(mqtt_ws_close_frame(1000, "x", f, 3), -ENOSPC);
	CHECK_EQ(mqtt_ws_close_frame(0, "x", f, sizeof(f)), -EINVAL);
}

/* A 70,000-byte message in one frame (64-bit length) and in 16-bit-length fragments. */
static void
frames_large(void)
{
	static uint8_t data[70000], b[70000 + 4096];
	struct mqtt_ws_dec d;
	struct dec_run res;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	n = cframe(b, 1, MQTT_WS_OP_BINARY, data, sizeof(data));
	CHECK_EQ(n, sizeof(data) + 14);
	mqtt_ws_dec_init(&d, 1 << 20);
	run(&d, b, n, 1460, 4096, &res);
	CHECK(res.rc == 0 && res.produced == sizeof(data) && !memcmp(out, data, sizeof(data)));
	n = 0;
	for (size_t off = 0; off < sizeof(data); off += 1000)
		n += cframe(b + n, off + 1000 >= sizeof(data),
		            off ? MQTT_WS_OP_CONT : MQTT_WS_OP_BINARY, data + off,
		            off + 1000 > sizeof(data) ? sizeof(data) - off : 1000);
	mqtt_ws_dec_init(&d, 1000);
	run(&d, b, n, 1460, 1 << 17, &res);
	CHECK(res.rc == 0 && res.produced == sizeof(data) && !memcmp(out, data, sizeof(data)));
}

int
main(void)
{
	TEST(accept_key_rfc6455_1_3);
	TEST(upgrade_101);
	TEST(upgrade_prefixes);
	TEST(upgrade_variants);
	TEST(upgrade_refusals);
	TEST(frames_rfc6455_5_7);
	TEST(frames_mqtt_across);
	TEST(frames_violations);
	TEST(frames_close);
	TEST(frames_large);
	return tap_done();
}

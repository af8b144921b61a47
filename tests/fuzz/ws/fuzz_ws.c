/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the MQTT-over-WebSocket codec (mqtt/mqtt_ws.h). Input: a selector byte,
 * then bytes from a client.
 *   selector bit 0 clear: an upgrade request. The answer for the whole input must not change when
 *     the same bytes arrive in two parts (-EAGAIN for the first, the same verdict for both), a
 *     request accepted must end in an empty line within the input, and every answer must fit
 *     MQTT_WS_MAX_RESPONSE.
 *   bit 0 set: a frame stream, decoded three ways: in one call, in pieces of (selector >> 1) + 1
 *     bytes with little output room, and in place. The MQTT bytes, the events and the close code
 *     must agree, and nothing is decoded after a close or an error.
 * Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_ws.h"

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_ws: %s:%d: %s\n", __FILE__, __LINE__, #c);           \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_IN (1 << 16)

static uint8_t out_a[MAX_IN], out_b[MAX_IN], inplace[MAX_IN];

struct trace {
	size_t produced;
	int events[64], n_events, rc;
	uint16_t code;
};

static void
decode(const uint8_t *in, size_t len, size_t step, size_t cap, uint8_t *out, int in_place,
       struct trace *t)
{
	struct mqtt_ws_dec d;
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	mqtt_ws_dec_init(&d, 4096);
	while (i < len) {
		struct mqtt_ws_result r;
		size_t piece = len - i < step ? len - i : step;
		uint8_t *o = in_place ? out + t->produced : out + t->produced;
		size_t room = in_place ? piece : cap;

		if (in_place) /* out == in: the decoder reads at i and writes at produced <= i */
			FUZZ_ASSERT(t->produced <= i);
		t->rc = mqtt_ws_decode(&d, in_place ? out + i : in + i, piece, o, room, &r);
		FUZZ_ASSERT(r.consumed <= piece && r.produced <= room);
		FUZZ_ASSERT(t->rc == 0 || t->rc == -EPROTO);
		FUZZ_ASSERT((t->rc == -EPROTO) == (r.event == MQTT_WS_EV_ERROR));
		t->produced += r.produced;
		i += r.consumed;
		if (r.event != MQTT_WS_EV_NONE) {
			FUZZ_ASSERT(t->n_events < 64);
			t->events[t->n_events++] = r.event;
			t->code = r.close_code;
			FUZZ_ASSERT(r.ctl_len <= MQTT_WS_MAX_CONTROL);
			if (r.event == MQTT_WS_EV_ERROR || r.event == MQTT_WS_EV_CLOSE) {
				struct mqtt_ws_result r2;

				FUZZ_ASSERT(mqtt_ws_decode(&d, in, len, out_b, 16, &r2) == -EPIPE);
				return;
			}
		} else if (r.consumed == 0) {
			FUZZ_ASSERT(r.produced > 0 || room == 0); /* progress, or no room */
			if (r.produced == 0)
				return;
		}
		if (t->n_events == 64)
			return;
	}
}

static void
frames(const uint8_t *in, size_t len, size_t step)
{
	struct trace a, b, c;

	decode(in, len, len, sizeof(out_a), out_a, 0, &a);
	decode(in, len, step, step % 7 + 1, out_b, 0, &b);
	memcpy(inplace, in, len);
	decode(inplace, len, len, 0, inplace, 1, &c);
	if (a.n_events == 64 || b.n_events == 64 || c.n_events == 64)
		return; /* a ping storm cut short at different points */
	FUZZ_ASSERT(a.produced == b.produced && a.produced == c.produced);
	FUZZ_ASSERT(memcmp(out_a, out_b, a.produced) == 0);
	FUZZ_ASSERT(memcmp(out_a, inplace, a.produced) == 0);
	FUZZ_ASSERT(a.n_events == b.n_events && a.n_events == c.n_events);
	FUZZ_ASSERT(memcmp(a.events, b.events, sizeof(int) * (size_t)a.n_events) == 0);
	FUZZ_ASSERT(memcmp(a.events, c.events, sizeof(int) * (size_t)a.n_events) == 0);
	FUZZ_ASSERT(a.code == b.code && a.code == c.code && a.rc == b.rc && a.rc == c.rc);
}

static void
request(const uint8_t *in, size_t len, size_t split)
{
	struct mqtt_ws_request r, r1, r2;
	char resp[MQTT_WS_MAX_RESPONSE];
	int rc = mqtt_ws_parse_request(in, len, &r), rc1;

	FUZZ_ASSERT(rc == 0 || rc == -EAGAIN || rc == -EPROTO);
	if (rc == 0) {
		FUZZ_ASSERT(r.status == 101 && r.len >= 4 && r.len <= len);
		FUZZ_ASSERT(r.len <= MQTT_WS_MAX_REQUEST &&
		            memcmp(in + r.len - 4, "\r\n\r\n", 4) == 0);
		FUZZ_ASSERT(r.subproto == 1 || r.subproto == 2);
		/* the request alone gives the same answer */
		FUZZ_ASSERT(mqtt_ws_parse_request(in, r.len, &r2) == 0 && r2.len == r.len);
	}
	if (rc == -EAGAIN)
		FUZZ_ASSERT(len < MQTT_WS_MAX_REQUEST);
	if (rc != -EAGAIN)
		FUZZ_ASSERT(mqtt_ws_response(&r, resp, sizeof(resp)) > 0);
	/* A prefix either waits for more or already has the whole verdict. */
	if (split < len) {
		rc1 = mqtt_ws_parse_request(in, split, &r1);
		FUZZ_ASSERT(rc1 == -EAGAIN || rc1 == rc);
		if (rc1 == 0)
			FUZZ_ASSERT(r1.len == r.len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > MAX_IN)
		return 0;
	if (data[0] & 1)
		frames(data + 1, size - 1, (size_t)(data[0] >> 1) + 1);
	else
		request(data + 1, size - 1, (size - 1) * (data[0] >> 1) / 128);
	return 0;
}

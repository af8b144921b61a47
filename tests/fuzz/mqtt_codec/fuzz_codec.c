/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the MQTT codec. Input: one selector byte, then a byte stream.
 * The stream is framed with mqtt_fixed_header() exactly as a connection would; every complete
 * frame is decoded under 3.1, 3.1.1 and 5.0. Whatever decodes must re-encode (mqtt_encode,
 * mqtt_encoded_len and, for PUBLISH, mqtt_encode_publish_header + payload all agreeing) and
 * decode again to the same packet (canonical dump of codec_dump.h). Framing must give the same
 * answer for every prefix. The selector's low bits also pick how the remaining bytes are used
 * as topic / filter / UTF-8 strings for the validation helpers. Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_codec.h"
#include "codec_dump.h"

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_codec: %s:%d: %s\n", __FILE__, __LINE__, #c);        \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char d1[1 << 16], d2[1 << 16];
static uint8_t enc[1 << 17], enc2[1 << 17];

/* Encoder rules stricter than the decoder's, by design (see mqtt_codec.h): a 3.1 client id is
 * 1..23 characters and a 3.1.1 one must be present unless the session is clean. */
static int
encoder_may_refuse(const struct mqtt_packet *p)
{
	return p->type == MQTT_CONNECT && p->connect.client_id.len == 0 &&
	       (p->connect.protocol_level == MQTT_V31 ||
	        (p->connect.protocol_level == MQTT_V311 && !p->connect.clean_start));
}

/* What a broker does to a v5 PUBLISH it forwards: drop the topic alias, put in the
 * subscriber's subscription identifiers, keep user properties (from raw, then from an array
 * built with the iterator: both must give the same packet). */
static void
check_forward(const struct mqtt_packet *p)
{
	static const uint32_t sids[] = {1, 127, 128, MQTT_MAX_REMAINING_LEN};
	struct mqtt_user_prop ups[16];
	struct mqtt_packet a = *p, b;
	struct mqtt_iter it;

	a.publish.props.present &= ~MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
	a.publish.props.sub_id_array = sids;
	a.publish.props.sub_id_count = 4;
	ssize_t n = mqtt_encode(&a, MQTT_V5, enc, sizeof(enc));
	if (p->publish.topic.len == 0) {
		FUZZ_ASSERT(n == -EINVAL); /* no topic and no alias left */
		return;
	}
	FUZZ_ASSERT(n > 0);
	FUZZ_ASSERT(mqtt_decode(enc, (size_t)n, MQTT_V5, &b) == 0);
	FUZZ_ASSERT(b.publish.props.sub_id_count == 4 && b.publish.props.sub_id == 1);
	FUZZ_ASSERT(!MQTT_PROP_HAS(&b.publish.props, MQTT_PROP_TOPIC_ALIAS));
	dump_packet(&b, MQTT_V5, d1, sizeof(d1));
	if (p->publish.props.user_count > 16)
		return;
	uint32_t k = 0;
	mqtt_iter_init(&it, p->publish.props.raw, MQTT_V5);
	while (mqtt_user_prop_next(&it, &ups[k]))
		k++;
	FUZZ_ASSERT(k == p->publish.props.user_count);
	a.publish.props.user_array = ups;
	a.publish.props.raw = (struct mqtt_str){NULL, 0};
	FUZZ_ASSERT(mqtt_encode(&a, MQTT_V5, enc, sizeof(enc)) > 0);
	FUZZ_ASSERT(mqtt_decode(enc, (size_t)mqtt_encoded_len(&a, MQTT_V5), MQTT_V5, &b) == 0);
	dump_packet(&b, MQTT_V5, d2, sizeof(d2));
	FUZZ_ASSERT(strcmp(d1, d2) == 0);
}

static void
check_frame(const uint8_t *f, size_t len, int version)
{
	struct mqtt_packet p, q;

	if (mqtt_decode(f, len, version, &p) != 0) {
		FUZZ_ASSERT(p.err_msg != NULL);
		return;
	}
	int v = p.type == MQTT_CONNECT ? p.connect.protocol_level : version;
	ssize_t el = mqtt_encoded_len(&p, v);
	ssize_t n = mqtt_encode(&p, v, enc, sizeof(enc));
	if (n == -EINVAL && encoder_may_refuse(&p))
		return;
	FUZZ_ASSERT(n > 0 && el == n);
	/* One byte short must be -ENOSPC, never a partial success. */
	FUZZ_ASSERT(mqtt_encode(&p, v, enc2, (size_t)n - 1) == -ENOSPC);
	FUZZ_ASSERT(mqtt_decode(enc, (size_t)n, v, &q) == 0);
	dump_packet(&p, v, d1, sizeof(d1));
	dump_packet(&q, v, d2, sizeof(d2));
	if (strcmp(d1, d2) != 0) {
		fprintf(stderr, "first:  %s\nsecond: %s\n", d1, d2);
		FUZZ_ASSERT(0);
	}
	/* Encoding is a fixed point after one round. */
	FUZZ_ASSERT(mqtt_encode(&q, v, enc2, sizeof(enc2)) == n);
	FUZZ_ASSERT(memcmp(enc, enc2, (size_t)n) == 0);
	if (p.type == MQTT_PUBLISH) {
		ssize_t h = mqtt_encode_publish_header(&p.publish, v, enc2, sizeof(enc2));
		FUZZ_ASSERT(h > 0 && h + (ssize_t)p.publish.payload.len == n);
		FUZZ_ASSERT(memcmp(enc, enc2, (size_t)h) == 0);
		if (v == MQTT_V5)
			check_forward(&p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t sel = data[0];
	const uint8_t *s = data + 1;
	size_t len = size - 1;

	/* Validation helpers on the raw bytes. */
	struct mqtt_str str = {s, (uint32_t)(len > 70000 ? 70000 : len)};
	int u = mqtt_utf8_valid(str.p, str.len);
	int t = mqtt_topic_valid(str), fv = mqtt_filter_valid(str);
	struct mqtt_str nm, rest;
	/* A topic name is a filter too, unless it reads as a malformed shared subscription. */
	FUZZ_ASSERT(!t || (u && (fv || mqtt_filter_shared(str, &nm, &rest))));
	FUZZ_ASSERT(!fv || u);

	/* The whole rest as one packet (length mismatches, truncation). */
	check_frame(s, len, MQTT_V31 + sel % 3);

	/* Framing: a stream of packets, each decoded under every version. */
	size_t off = 0;
	while (off < len) {
		uint8_t type, flags, t2, f2;
		uint32_t rem, hlen, r2, h2;
		int rc = mqtt_fixed_header(s + off, len - off, &type, &flags, &rem, &hlen);
		/* Every prefix gives -EAGAIN until the header is complete, then the same. */
		for (size_t k = 0; k <= 5 && k <= len - off; k++) {
			int rk = mqtt_fixed_header(s + off, k, &t2, &f2, &r2, &h2);
			if (rc == 0)
				FUZZ_ASSERT(k < hlen ? rk == -EAGAIN : (rk == 0 && r2 == rem));
			else
				FUZZ_ASSERT(rk == -EAGAIN || rk == rc);
		}
		if (rc != 0 || (size_t)hlen + rem > len - off)
			break;
		for (int v = MQTT_V31; v <= MQTT_V5; v++)
			check_frame(s + off, hlen + rem, v);
		off += hlen + rem;
	}
	return 0;
}

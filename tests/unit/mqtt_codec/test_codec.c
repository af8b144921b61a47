/* SPDX-License-Identifier: Apache-2.0
 * MQTT codec unit tests: round trip of every packet type under 3.1, 3.1.1 and 5.0, every split
 * point through the streaming framing path, malformed packets with their error and v5 reason,
 * the hot-path encoders (exact bytes, -ENOSPC at every short capacity, -EINVAL), UTF-8 and
 * topic/filter validation, iterators and property forwarding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_codec.h"
#include "tap.h"
#include "codec_dump.h"

#define S(lit) ((struct mqtt_str){(const uint8_t *)(lit), sizeof(lit) - 1})
#define N(a)   (sizeof(a) / sizeof((a)[0]))

static const int versions[] = {MQTT_V31, MQTT_V311, MQTT_V5};

static size_t
unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2) {
		while (*h == ' ')
			h++;
		unsigned x;
		if (sscanf(h, "%2x", &x) != 1)
			break;
		out[n++] = (uint8_t)x;
	}
	return n;
}

/* ---- Sample packets, one or more per type, filled for `version` ---- */

static const struct mqtt_user_prop ups[] = {{S("b"), S("2")}, {S("a"), S("1")}, {S("b"), S("3")}};
static const uint32_t sids[] = {1, 128, 268435455};
static const struct mqtt_sub_entry subs[] = {
        {S("a/+/c"), 0, 0, 0, 0}, {S("x/#"), 1, 1, 1, 2}, {S("$share/g/t"), 2, 0, 1, 1}};
static const struct mqtt_str unsubs[] = {S("a/+/c"), S("x/#")};
static const uint8_t suback_v3[] = {0, 1, 2, 0x80};
static const uint8_t suback_v5[] = {0, 1, 2, 0x80, 0x87, 0xA2};
static const uint8_t unsuback_v5[] = {0, 0x11, 0x87};

static void
v5_props(struct mqtt_props *pr, int version, uint64_t bits)
{
	memset(pr, 0, sizeof(*pr));
	if (version != MQTT_V5)
		return;
	pr->present = bits;
	pr->payload_format_indicator = 1;
	pr->message_expiry_interval = 3600;
	pr->content_type = S("text/plain");
	pr->response_topic = S("reply/here");
	pr->correlation_data = S("\x00\x01\x02");
	pr->session_expiry_interval = 0xffffffff;
	pr->assigned_client_identifier = S("auto-1");
	pr->server_keep_alive = 60;
	pr->authentication_method = S("SCRAM-SHA-1");
	pr->authentication_data = S("\xff\x00");
	pr->request_problem_information = 1;
	pr->will_delay_interval = 5;
	pr->request_response_information = 1;
	pr->response_information = S("resp/");
	pr->server_reference = S("other:1883");
	pr->reason_string = S("because");
	pr->receive_maximum = 20;
	pr->topic_alias_maximum = 10;
	pr->topic_alias = 3;
	pr->maximum_qos = 1;
	pr->retain_available = 1;
	pr->maximum_packet_size = 65536;
	pr->wildcard_subscription_available = 1;
	pr->subscription_identifier_available = 0;
	pr->shared_subscription_available = 1;
	pr->user_array = ups;
	pr->user_count = N(ups);
}

#define B(id) MQTT_PROP_BIT(MQTT_PROP_##id)

static int
sample(int version, int k, struct mqtt_packet *p)
{
	memset(p, 0, sizeof(*p));
	switch (k) {
	case 0: /* minimal CONNECT */
		p->type = MQTT_CONNECT;
		p->connect.protocol_level = (uint8_t)version;
		p->connect.clean_start = 1;
		p->connect.client_id = S("c1");
		break;
	case 1: /* full CONNECT */
		p->type = MQTT_CONNECT;
		p->connect.protocol_level = (uint8_t)version;
		p->connect.keep_alive = 65535;
		p->connect.client_id = S("client-\xc3\xa9");
		p->connect.will_flag = 1;
		p->connect.will_qos = 2;
		p->connect.will_retain = 1;
		p->connect.will_topic = S("will/t");
		p->connect.will_payload = S("\x00gone");
		p->connect.username_flag = 1;
		p->connect.username = S("");
		p->connect.password_flag = 1;
		p->connect.password = S("\x00\xff");
		v5_props(&p->connect.props, version,
		         B(SESSION_EXPIRY_INTERVAL) | B(RECEIVE_MAXIMUM) | B(MAXIMUM_PACKET_SIZE) |
		                 B(TOPIC_ALIAS_MAXIMUM) | B(REQUEST_RESPONSE_INFORMATION) |
		                 B(REQUEST_PROBLEM_INFORMATION) | B(AUTHENTICATION_METHOD) |
		                 B(AUTHENTICATION_DATA));
		v5_props(&p->connect.will_props, version,
		         B(WILL_DELAY_INTERVAL) | B(PAYLOAD_FORMAT_INDICATOR) |
		                 B(MESSAGE_EXPIRY_INTERVAL) | B(CONTENT_TYPE) | B(RESPONSE_TOPIC) |
		                 B(CORRELATION_DATA));
		break;
	case 2:
		p->type = MQTT_CONNACK;
		p->connack.session_present = 1;
		v5_props(&p->connack.props, version,
		         B(SESSION_EXPIRY_INTERVAL) | B(ASSIGNED_CLIENT_IDENTIFIER) |
		                 B(SERVER_KEEP_ALIVE) | B(AUTHENTICATION_METHOD) |
		                 B(AUTHENTICATION_DATA) | B(RESPONSE_INFORMATION) |
		                 B(SERVER_REFERENCE) | B(REASON_STRING) | B(RECEIVE_MAXIMUM) |
		                 B(TOPIC_ALIAS_MAXIMUM) | B(MAXIMUM_QOS) | B(RETAIN_AVAILABLE) |
		                 B(MAXIMUM_PACKET_SIZE) | B(WILDCARD_SUBSCRIPTION_AVAILABLE) |
		                 B(SUBSCRIPTION_IDENTIFIER_AVAILABLE) |
		                 B(SHARED_SUBSCRIPTION_AVAILABLE));
		break;
	case 3:
		p->type = MQTT_CONNACK;
		p->connack.reason =
		        version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : MQTT_CONNACK_NOT_AUTHORIZED;
		break;
	case 4:
		p->type = MQTT_PUBLISH;
		p->publish.topic = S("a/b");
		p->publish.payload = S("hello");
		break;
	case 5:
		p->type = MQTT_PUBLISH;
		p->publish.qos = 2;
		p->publish.dup = 1;
		p->publish.retain = 1;
		p->publish.packet_id = 65535;
		p->publish.topic = S("sensors/\xe2\x82\xac/1");
		p->publish.payload = S("");
		v5_props(&p->publish.props, version,
		         B(PAYLOAD_FORMAT_INDICATOR) | B(MESSAGE_EXPIRY_INTERVAL) |
		                 B(CONTENT_TYPE) | B(RESPONSE_TOPIC) | B(CORRELATION_DATA) |
		                 B(TOPIC_ALIAS));
		if (version == MQTT_V5) {
			p->publish.props.sub_id_array = sids;
			p->publish.props.sub_id_count = N(sids);
		}
		break;
	case 6: /* v5: empty topic with an alias */
		if (version != MQTT_V5)
			return 0;
		p->type = MQTT_PUBLISH;
		p->publish.qos = 1;
		p->publish.packet_id = 7;
		p->publish.payload = S("x");
		v5_props(&p->publish.props, version, B(TOPIC_ALIAS));
		p->publish.props.user_count = 0;
		break;
	case 7:
	case 8:
	case 9:
	case 10:
		p->type = (uint8_t)(MQTT_PUBACK + (k - 7));
		p->ack.packet_id = (uint16_t)(k * 1000);
		break;
	case 11:
	case 12:
		p->type = k == 11 ? MQTT_PUBACK : MQTT_PUBREL;
		p->ack.packet_id = 1;
		p->ack.reason = version == MQTT_V5 ? (k == 11 ? 0x10 : 0x92) : 0;
		v5_props(&p->ack.props, version, B(REASON_STRING));
		break;
	case 13:
		p->type = MQTT_SUBSCRIBE;
		p->subscribe.packet_id = 10;
		p->subscribe.entries = subs;
		p->subscribe.count = version == MQTT_V5 ? 3 : 1;
		v5_props(&p->subscribe.props, version, 0);
		if (version == MQTT_V5)
			p->subscribe.props.sub_id_count = 1, p->subscribe.props.sub_id = 99;
		break;
	case 14:
		p->type = MQTT_UNSUBSCRIBE;
		p->unsubscribe.packet_id = 11;
		p->unsubscribe.filters = unsubs;
		p->unsubscribe.count = N(unsubs);
		v5_props(&p->unsubscribe.props, version, 0);
		break;
	case 15:
		p->type = MQTT_SUBACK;
		p->suback.packet_id = 10;
		p->suback.reasons = version == MQTT_V5
		                            ? (struct mqtt_str){suback_v5, sizeof(suback_v5)}
		                            : (struct mqtt_str){suback_v3, sizeof(suback_v3)};
		v5_props(&p->suback.props, version, B(REASON_STRING));
		break;
	case 16:
		p->type = MQTT_UNSUBACK;
		p->suback.packet_id = 11;
		if (version == MQTT_V5)
			p->suback.reasons = (struct mqtt_str){unsuback_v5, sizeof(unsuback_v5)};
		v5_props(&p->suback.props, version, B(REASON_STRING));
		break;
	case 17:
		p->type = MQTT_PINGREQ;
		break;
	case 18:
		p->type = MQTT_PINGRESP;
		break;
	case 19:
		p->type = MQTT_DISCONNECT;
		if (version == MQTT_V5)
			p->disconnect.reason = MQTT_RC_SESSION_TAKEN_OVER;
		v5_props(&p->disconnect.props, version,
		         B(SESSION_EXPIRY_INTERVAL) | B(REASON_STRING) | B(SERVER_REFERENCE));
		break;
	case 20:
		if (version != MQTT_V5)
			return 0;
		p->type = MQTT_AUTH;
		p->auth.reason = MQTT_RC_CONTINUE_AUTHENTICATION;
		v5_props(&p->auth.props, version,
		         B(AUTHENTICATION_METHOD) | B(AUTHENTICATION_DATA) | B(REASON_STRING));
		break;
	default:
		return -1;
	}
	return 1;
}

/* ---- Round trips ---- */

static char d1[16384], d2[16384];

static void
roundtrip_all_types(void)
{
	uint8_t buf[2048], buf2[2048];
	struct mqtt_packet p, q, r;
	int seen[16] = {0};

	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi], rc;
		for (int k = 0; (rc = sample(v, k, &p)) >= 0; k++) {
			if (rc == 0)
				continue;
			ssize_t n = mqtt_encode(&p, v, buf, sizeof(buf));
			CHECK(n > 0);
			CHECK_EQ(mqtt_encoded_len(&p, v), n);
			if (n <= 0) {
				printf("# v%d sample %d: encode %zd\n", v, k, n);
				continue;
			}
			rc = mqtt_decode(buf, (size_t)n, v, &q);
			CHECK_EQ(rc, 0);
			if (rc) {
				printf("# v%d sample %d: decode %d %s\n", v, k, rc, q.err_msg);
				continue;
			}
			seen[q.type] |= 1 << v;
			dump_packet(&p, v, d1, sizeof(d1));
			dump_packet(&q, v, d2, sizeof(d2));
			if (strcmp(d1, d2) != 0)
				printf("# v%d sample %d\n#  sent %s\n#  got  %s\n", v, k, d1, d2);
			CHECK(strcmp(d1, d2) == 0);
			/* Decoded views re-encode to the same bytes. */
			ssize_t n2 = mqtt_encode(&q, v, buf2, sizeof(buf2));
			CHECK_EQ(n2, n);
			CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
			CHECK_EQ(mqtt_decode(buf2, (size_t)n2, v, &r), 0);
		}
	}
	for (int t = MQTT_CONNECT; t <= MQTT_DISCONNECT; t++)
		CHECK_EQ(seen[t], (1 << 3) | (1 << 4) | (1 << 5));
	CHECK_EQ(seen[MQTT_AUTH], 1 << 5);
}

/* ---- Streaming: every split point ---- */

struct acc {
	uint8_t buf[8192];
	size_t n;
	int version;
	char log[32768];
	size_t loglen;
	int err;
};

/* Accumulate like a connection would: frame with mqtt_fixed_header(), decode each complete
 * packet, keep the remainder. */
static void
acc_feed(struct acc *a, const uint8_t *p, size_t n)
{
	memcpy(a->buf + a->n, p, n);
	a->n += n;
	for (;;) {
		uint8_t type, flags;
		uint32_t rem, hlen;
		int rc = mqtt_fixed_header(a->buf, a->n, &type, &flags, &rem, &hlen);
		if (rc == -EAGAIN || (rc == 0 && hlen + rem > a->n))
			return;
		if (rc) {
			a->err = rc;
			return;
		}
		struct mqtt_packet pk;
		rc = mqtt_decode(a->buf, hlen + rem, a->version, &pk);
		if (rc) {
			a->err = rc;
			return;
		}
		char tmp[4096];
		dump_packet(&pk, a->version, tmp, sizeof(tmp));
		a->loglen += (size_t)snprintf(a->log + a->loglen, sizeof(a->log) - a->loglen,
		                              "%s\n", tmp);
		memmove(a->buf, a->buf + hlen + rem, a->n - hlen - rem);
		a->n -= hlen + rem;
	}
}

static struct acc whole, part;

static void
split_every_offset(void)
{
	uint8_t stream[8192];
	struct mqtt_packet p;

	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi], rc;
		size_t len = 0, npk = 0;
		for (int k = 0; (rc = sample(v, k, &p)) >= 0; k++) {
			if (rc == 0)
				continue;
			ssize_t n = mqtt_encode(&p, v, stream + len, sizeof(stream) - len);
			CHECK(n > 0);
			if (n > 0) {
				/* Every prefix of one packet's fixed header: -EAGAIN, then the
				 * same answer. */
				uint8_t t0, f0, t, f;
				uint32_t r0, h0, r, h;
				CHECK_EQ(mqtt_fixed_header(stream + len, (size_t)n, &t0, &f0, &r0,
				                           &h0),
				         0);
				for (size_t cut = 0; cut < (size_t)n; cut++) {
					int frc = mqtt_fixed_header(stream + len, cut, &t, &f, &r,
					                            &h);
					CHECK_EQ(frc, cut < h0 ? -EAGAIN : 0);
					if (frc == 0)
						CHECK(t == t0 && f == f0 && r == r0 && h == h0);
				}
				len += (size_t)n;
				npk++;
			}
		}
		memset(&whole, 0, sizeof(whole));
		whole.version = v;
		acc_feed(&whole, stream, len);
		CHECK_EQ(whole.err, 0);
		CHECK_EQ(whole.n, 0);
		/* Two pieces cut at every offset of the stream of all packets. */
		for (size_t cut = 0; cut <= len; cut++) {
			memset(&part, 0, sizeof(part));
			part.version = v;
			acc_feed(&part, stream, cut);
			acc_feed(&part, stream + cut, len - cut);
			if (part.err || strcmp(part.log, whole.log) != 0) {
				CHECK(0);
				printf("# v%d cut %zu differs\n", v, cut);
				break;
			}
		}
		/* One byte at a time. */
		memset(&part, 0, sizeof(part));
		part.version = v;
		for (size_t i = 0; i < len; i++)
			acc_feed(&part, stream + i, 1);
		CHECK(part.err == 0 && strcmp(part.log, whole.log) == 0);
		printf("# v%d: %zu packets, %zu bytes, split at every offset\n", v, npk, len);
	}
}

static void
fixed_header_limits(void)
{
	uint8_t type, flags;
	uint32_t rem, hlen;
	uint8_t max[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
	uint8_t over[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};

	CHECK_EQ(mqtt_fixed_header(max, sizeof(max), &type, &flags, &rem, &hlen), 0);
	CHECK_EQ(rem, MQTT_MAX_REMAINING_LEN);
	CHECK_EQ(hlen, 5);
	for (size_t k = 0; k < sizeof(over); k++)
		CHECK_EQ(mqtt_fixed_header(over, k, &type, &flags, &rem, &hlen),
		         k < 5 ? -EAGAIN : -EPROTO);
	CHECK_EQ(mqtt_fixed_header(over, sizeof(over), &type, &flags, &rem, &hlen), -EPROTO);
	/* A bad first byte is refused before the length arrives. */
	uint8_t bad[] = {0x36};
	CHECK_EQ(mqtt_fixed_header(bad, 1, &type, &flags, &rem, &hlen), -EPROTO);
	uint8_t zero[] = {0x00};
	CHECK_EQ(mqtt_fixed_header(zero, 1, &type, &flags, &rem, &hlen), -EPROTO);
	CHECK_EQ(mqtt_fixed_header(NULL, 0, &type, &flags, &rem, &hlen), -EAGAIN);
	for (unsigned t = 1; t < 16; t++) {
		for (unsigned f = 0; f < 16; f++) {
			uint8_t b[2] = {(uint8_t)(t << 4 | f), 0};
			int want = t == MQTT_PUBLISH
			                   ? ((f & 6) == 6 ? -EPROTO : 0)
			                   : (f == ((t == 6 || t == 8 || t == 10) ? 2u : 0u)
			                              ? 0
			                              : -EPROTO);
			CHECK_EQ(mqtt_fixed_header(b, 2, &type, &flags, &rem, &hlen), want);
		}
	}
}

/* ---- Malformed packets ---- */

static const struct bad {
	const char *name;
	int version;
	const char *hex;
	int rc;
	uint8_t reason;
} bads[] = {
        {"topic with a surrogate (MQTT-1.5.4-1)", 4, "30 05 0003 eda080", -EILSEQ, 0x81},
        {"topic with U+0000 (MQTT-1.5.4-2)", 4, "30 05 0003 610062", -EILSEQ, 0x81},
        {"overlong 2-byte", 4, "30 04 0002 c0af", -EILSEQ, 0x81},
        {"overlong 3-byte", 4, "30 05 0003 e080af", -EILSEQ, 0x81},
        {"overlong 4-byte", 4, "30 06 0004 f08080af", -EILSEQ, 0x81},
        {"above U+10FFFF", 4, "30 06 0004 f4908080", -EILSEQ, 0x81},
        {"truncated sequence", 4, "30 03 0001 e2", -EILSEQ, 0x81},
        {"stray continuation", 4, "30 03 0001 80", -EILSEQ, 0x81},
        {"wildcard + in topic (MQTT-3.3.2-2)", 4, "30 05 0003 612f2b", -EBADMSG, 0x90},
        {"wildcard # in topic", 5, "30 04 0001 23 00", -EBADMSG, 0x90},
        {"empty topic 3.1.1", 4, "30 02 0000", -EBADMSG, 0x82},
        {"empty topic v5 without alias", 5, "30 03 0000 00", -EBADMSG, 0x82},
        {"QoS 1 packet id 0 (MQTT-2.3.1-1)", 4, "32 05 0001 61 0000", -EBADMSG, 0x82},
        {"DUP on QoS 0 (MQTT-3.3.1-2)", 4, "38 03 0001 61", -EPROTO, 0x81},
        {"QoS 3 (MQTT-3.3.1-4)", 4, "36 03 0001 61", -EPROTO, 0x81},
        {"duplicate property", 5, "30 08 0001 61 04 01010101", -EBADMSG, 0x82},
        {"property not allowed in PUBLISH", 5, "30 09 0001 61 05 1100000001", -EBADMSG, 0x82},
        {"topic alias 0", 5, "30 07 0001 61 03 230000", -EBADMSG, 0x94},
        {"unknown property", 5, "30 06 0001 61 02 0500", -EPROTO, 0x81},
        {"property length past the end", 5, "30 06 0001 61 05 0101", -EPROTO, 0x81},
        {"truncated property", 5, "30 06 0001 61 02 0200", -EPROTO, 0x81},
        {"subscription identifier 0", 5, "30 06 0001 61 02 0b00", -EBADMSG, 0x82},
        {"subscription id not shortest", 5, "30 07 0001 61 03 0b8100", -EPROTO, 0x81},
        {"payload format 2", 5, "30 06 0001 61 02 0102", -EBADMSG, 0x82},
        {"response topic with wildcard", 5, "30 09 0001 61 05 0800022f23", -EBADMSG, 0x82},
        {"user property bad UTF-8 key", 5, "30 0b 0001 61 07 260001c0 000178", -EILSEQ, 0x81},
        {"remaining length not shortest (v5)", 5, "e0 80 00", -EPROTO, 0x81},
        {"remaining length mismatch", 4, "c0 00 00", -EPROTO, 0x81},
        {"CONNECT reserved flag (MQTT-3.1.2-3)", 4, "10 0c 0004 4d515454 04 03 0000 0000", -EPROTO,
         0x81},
        {"CONNECT will QoS 3", 4, "10 0f 0004 4d515454 04 1c 0000 0000 0001 61", -EPROTO, 0x81},
        {"CONNECT will retain without will", 4, "10 0c 0004 4d515454 04 22 0000 0000", -EPROTO,
         0x81},
        {"CONNECT will QoS without will", 4, "10 0c 0004 4d515454 04 0a 0000 0000", -EPROTO, 0x81},
        {"CONNECT password without user (MQTT-3.1.2-22)", 4,
         "10 0f 0004 4d515454 04 42 0000 0000 0001 70", -EPROTO, 0x81},
        {"CONNECT MQTT level 6", 4, "10 0c 0004 4d515454 06 02 0000 0000", -EPROTONOSUPPORT, 0x84},
        {"CONNECT MQTT level 3", 4, "10 0c 0004 4d515454 03 02 0000 0000", -EPROTONOSUPPORT, 0x84},
        {"CONNECT MQIsdp level 4", 4, "10 0e 0006 4d5149736470 04 02 0000 0000", -EPROTONOSUPPORT,
         0x84},
        {"CONNECT unknown protocol name (MQTT-3.1.2-1)", 4, "10 0c 0004 4d515458 04 02 0000 0000",
         -EBADMSG, 0x82},
        {"CONNECT trailing byte", 4, "10 0d 0004 4d515454 04 02 0000 0000 00", -EPROTO, 0x81},
        {"CONNECT will topic wildcard", 4, "10 11 0004 4d515454 04 06 0000 0000 0001 23 0000",
         -EBADMSG, 0x90},
        {"CONNECT receive maximum 0", 5, "10 10 0004 4d515454 05 02 0000 03 210000 0000", -EBADMSG,
         0x82},
        {"CONNECT auth data without method", 5, "10 12 0004 4d515454 05 02 0000 05 1600020102 0000",
         -EBADMSG, 0x82},
        {"CONNECT bridge bit with v5", 5, "10 0d 0004 4d515454 85 02 0000 00 0000",
         -EPROTONOSUPPORT, 0x84},
        {"CONNECT will property not in will", 5,
         "10 16 0004 4d515454 05 06 0000 00 0000 03 230001 0001 61 0000", -EBADMSG, 0x82},
        {"CONNACK 3.1.1 return code 6", 4, "20 02 00 06", -EBADMSG, 0x82},
        {"CONNACK session present with error (MQTT-3.2.2-4)", 4, "20 02 01 05", -EBADMSG, 0x82},
        {"CONNACK 3.1.1 too long", 4, "20 03 00 00 00", -EPROTO, 0x81},
        {"SUBSCRIBE empty filter (MQTT-4.7.3-1)", 4, "82 05 0001 0000 00", -EBADMSG, 0x8F},
        {"SUBSCRIBE no filter (MQTT-3.8.3-3)", 4, "82 02 0001", -EBADMSG, 0x82},
        {"SUBSCRIBE packet id 0", 4, "82 06 0000 0001 61 00", -EBADMSG, 0x82},
        {"SUBSCRIBE 3.1.1 option bit 2", 4, "82 06 0001 0001 61 04", -EPROTO, 0x81},
        {"SUBSCRIBE v5 no local on shared (MQTT-3.8.3-4)", 5,
         "82 10 0001 00 000a 2473686172652f672f74 04", -EBADMSG, 0x82},
        {"SUBSCRIBE v5 QoS 3", 5, "82 07 0001 00 0001 61 03", -EBADMSG, 0x82},
        {"SUBSCRIBE v5 two subscription ids", 5, "82 0b 0001 04 0b010b02 0001 61 00", -EBADMSG,
         0x82},
        {"SUBSCRIBE missing options", 4, "82 05 0001 0001 61", -EPROTO, 0x81},
        {"UNSUBSCRIBE no filter (MQTT-3.10.3-2)", 4, "a2 02 0001", -EBADMSG, 0x82},
        {"UNSUBSCRIBE empty filter", 5, "a2 05 0001 00 0000", -EBADMSG, 0x8F},
        {"SUBACK 3.1.1 code 3", 4, "90 03 0001 03", -EBADMSG, 0x82},
        {"SUBACK no codes", 4, "90 02 0001", -EBADMSG, 0x82},
        {"UNSUBACK v5 no codes", 5, "b0 03 0001 00", -EBADMSG, 0x82},
        {"UNSUBACK v5 bad code", 5, "b0 04 0001 00 01", -EBADMSG, 0x82},
        {"PUBACK packet id 0", 4, "40 02 0000", -EBADMSG, 0x82},
        {"PUBACK 3.1.1 too long", 4, "40 03 0001 00", -EPROTO, 0x81},
        {"PUBREL v5 reason 0x10", 5, "62 03 0001 10", -EBADMSG, 0x82},
        {"PUBACK v5 reason string in wrong place", 5, "40 05 0001 00 01 00", -EPROTO, 0x81},
        {"PINGREQ with a body", 4, "c0 01 00", -EPROTO, 0x81},
        {"DISCONNECT 3.1.1 with a body", 4, "e0 01 00", -EPROTO, 0x81},
        {"DISCONNECT v5 bad reason", 5, "e0 01 03", -EBADMSG, 0x82},
        {"DISCONNECT v5 topic alias property", 5, "e0 05 00 03 230001", -EBADMSG, 0x82},
        {"AUTH in 3.1.1", 4, "f0 00", -EPROTO, 0x81},
        {"AUTH in 3.1", 3, "f0 00", -EPROTO, 0x81},
        {"AUTH bad reason", 5, "f0 02 01 00", -EBADMSG, 0x82},
        {"type 0", 4, "00 00", -EPROTO, 0x81},
};

static void
malformed_table(void)
{
	uint8_t buf[256];
	struct mqtt_packet p;

	for (size_t i = 0; i < N(bads); i++) {
		size_t n = unhex(bads[i].hex, buf);
		int rc = mqtt_decode(buf, n, bads[i].version, &p);
		int ok = rc == bads[i].rc && p.err_reason == bads[i].reason && p.err_msg;
		if (!ok)
			printf("# %s: got %d 0x%02x (%s), want %d 0x%02x\n", bads[i].name, rc,
			       p.err_reason, p.err_msg ? p.err_msg : "-", bads[i].rc,
			       bads[i].reason);
		CHECK(ok);
	}
	printf("# %zu malformed packets\n", N(bads));
}

/* Accepted edge cases (the spec allows them; a strict codec might refuse). */
static const struct good {
	const char *name;
	int version;
	const char *hex;
} goods[] = {
        {"PUBACK v5 short form", 5, "40 02 0001"},
        {"PUBACK v5 reason only", 5, "40 03 0001 10"},
        {"DISCONNECT v5 empty", 5, "e0 00"},
        {"DISCONNECT v5 reason only", 5, "e0 01 04"},
        {"AUTH v5 empty", 5, "f0 00"},
        {"CONNACK v5 in 3.1.1 form (from an old server)", 5, "20 02 00 01"},
        {"remaining length not shortest (3.1.1 has no such rule)", 4, "e0 80 00"},
        {"CONNECT v5 password without user name", 5,
         "10 10 0004 4d515454 05 42 0000 00 0000 0001 70"},
        {"CONNECT empty client id", 4, "10 0c 0004 4d515454 04 02 0000 0000"},
        {"CONNECT MQIsdp bridge level 0x83", 3, "10 0e 0006 4d5149736470 83 02 0000 0000"},
        {"PUBLISH v5 empty topic with alias", 5, "30 06 0000 03 230001"},
        {"PUBLISH control character and BOM (SHOULD NOT only)", 4, "30 07 0005 01efbbbf7f"},
        {"PUBLISH 4-byte UTF-8", 4, "30 06 0004 f09f9884"},
        {"PUBLISH several subscription ids", 5, "30 08 0001 61 04 0b010b02"},
        {"SUBSCRIBE v5 all options", 5, "82 07 0001 00 0001 61 2e"},
        {"SUBACK 3.1.1 failure code", 4, "90 03 0001 80"},
};

static void
accepted_edges(void)
{
	uint8_t buf[256];
	struct mqtt_packet p;

	for (size_t i = 0; i < N(goods); i++) {
		size_t n = unhex(goods[i].hex, buf);
		int rc = mqtt_decode(buf, n, goods[i].version, &p);
		if (rc)
			printf("# %s: %d %s\n", goods[i].name, rc, p.err_msg);
		CHECK_EQ(rc, 0);
	}
	/* The protocol level is known even when the level is refused. */
	size_t n = unhex("10 0c 0004 4d515454 06 02 0000 0000", buf);
	CHECK_EQ(mqtt_decode(buf, n, 0, &p), -EPROTONOSUPPORT);
	CHECK_EQ(p.connect.protocol_level, 6);
	CHECK_EQ(p.type, MQTT_CONNECT);
	/* A bad version argument outside CONNECT. */
	n = unhex("c0 00", buf);
	CHECK_EQ(mqtt_decode(buf, n, 6, &p), -EINVAL);
	CHECK_EQ(mqtt_decode(buf, n, MQTT_V5, NULL), -EINVAL);
}

/* ---- Encoders ---- */

static void
check_bytes(ssize_t n, const uint8_t *got, const char *want_hex)
{
	uint8_t want[256];
	size_t wl = unhex(want_hex, want);
	CHECK_EQ(n, (ssize_t)wl);
	if (n == (ssize_t)wl)
		CHECK(memcmp(got, want, wl) == 0);
}

static void
hot_path_encoders(void)
{
	uint8_t b[256];
	struct mqtt_props rs;
	static const uint8_t codes[] = {0, 1, 0x80};

	memset(&rs, 0, sizeof(rs));
	rs.present = B(REASON_STRING);
	rs.reason_string = S("no");

	check_bytes(mqtt_encode_ack(MQTT_PUBACK, 1, 0, NULL, 4, b, sizeof(b)), b, "40020001");
	check_bytes(mqtt_encode_ack(MQTT_PUBREL, 0x1234, 0, NULL, 3, b, sizeof(b)), b, "62021234");
	check_bytes(mqtt_encode_ack(MQTT_PUBREC, 1, 0, NULL, 5, b, sizeof(b)), b, "50020001");
	check_bytes(mqtt_encode_ack(MQTT_PUBCOMP, 1, 0x92, NULL, 5, b, sizeof(b)), b,
	            "7004000192 00");
	check_bytes(mqtt_encode_ack(MQTT_PUBACK, 1, 0x10, &rs, 5, b, sizeof(b)), b,
	            "40 09 0001 10 05 1f00026e6f");
	/* Reason 0 with only a reason string still carries both. */
	check_bytes(mqtt_encode_ack(MQTT_PUBACK, 1, 0, &rs, 5, b, sizeof(b)), b,
	            "40 09 0001 00 05 1f00026e6f");
	check_bytes(mqtt_encode_connack(1, 0, NULL, 4, b, sizeof(b)), b, "20020100");
	check_bytes(mqtt_encode_connack(0, 0x87, NULL, 5, b, sizeof(b)), b, "2003008700");
	check_bytes(mqtt_encode_suback(MQTT_SUBACK, 2, codes, 3, NULL, 4, b, sizeof(b)), b,
	            "9005000200 0180");
	check_bytes(mqtt_encode_suback(MQTT_SUBACK, 2, codes, 3, NULL, 5, b, sizeof(b)), b,
	            "900600020000 0180");
	check_bytes(mqtt_encode_suback(MQTT_UNSUBACK, 2, codes, 3, NULL, 4, b, sizeof(b)), b,
	            "b0020002");
	check_bytes(mqtt_encode_suback(MQTT_UNSUBACK, 2, codes, 1, NULL, 5, b, sizeof(b)), b,
	            "b00400020000");
	check_bytes(mqtt_encode_disconnect(MQTT_DISCONNECT, 0, NULL, 4, b, sizeof(b)), b, "e000");
	check_bytes(mqtt_encode_disconnect(MQTT_DISCONNECT, 0x8e, NULL, 5, b, sizeof(b)), b,
	            "e0028e00");
	check_bytes(mqtt_encode_disconnect(MQTT_AUTH, 0x18, NULL, 5, b, sizeof(b)), b, "f0021800");
	check_bytes(mqtt_encode_ping(MQTT_PINGREQ, b, sizeof(b)), b, "c000");
	check_bytes(mqtt_encode_ping(MQTT_PINGRESP, b, sizeof(b)), b, "d000");

	/* -EINVAL: wrong type, AUTH before v5, bad version. */
	CHECK_EQ(mqtt_encode_ack(MQTT_SUBACK, 1, 0, NULL, 4, b, sizeof(b)), -EINVAL);
	CHECK_EQ(mqtt_encode_disconnect(MQTT_AUTH, 0, NULL, 4, b, sizeof(b)), -EINVAL);
	CHECK_EQ(mqtt_encode_connack(0, 0, NULL, 6, b, sizeof(b)), -EINVAL);
	CHECK_EQ(mqtt_encode_ping(MQTT_PUBACK, b, sizeof(b)), -EINVAL);
	CHECK_EQ(mqtt_encode_suback(MQTT_SUBACK, 1, codes, 0, NULL, 4, b, sizeof(b)), -EINVAL);

	/* -ENOSPC at every capacity short of the packet, nothing written past cap. */
	for (size_t cap = 0; cap < 11; cap++) {
		memset(b, 0xee, sizeof(b));
		CHECK_EQ(mqtt_encode_ack(MQTT_PUBACK, 1, 0x10, &rs, 5, b, cap), -ENOSPC);
		CHECK(b[cap] == 0xee);
	}
	CHECK_EQ(mqtt_encode_ping(MQTT_PINGREQ, b, 1), -ENOSPC);
}

/* Packet id 0 is refused by every encoder that carries one (the C side of mqtt-packet's
 * "Invalid messageId" vector, whose JavaScript string id has no C form). */
static void
packet_id_zero_refused(void)
{
	uint8_t b[256];
	struct mqtt_packet p;
	static const struct mqtt_sub_entry e = {{(const uint8_t *)"a", 1}, 0, 0, 0, 0};
	static const uint8_t rc0 = 0;

	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi];
		for (int t = MQTT_PUBLISH; t <= MQTT_UNSUBACK; t++) {
			memset(&p, 0, sizeof(p));
			p.type = (uint8_t)t;
			if (t == MQTT_PUBLISH) {
				p.publish.qos = 1;
				p.publish.topic = S("a");
			} else if (t == MQTT_SUBSCRIBE) {
				p.subscribe.entries = &e;
				p.subscribe.count = 1;
			} else if (t == MQTT_UNSUBSCRIBE) {
				p.unsubscribe.filters = &e.filter;
				p.unsubscribe.count = 1;
			} else if (t == MQTT_SUBACK || t == MQTT_UNSUBACK) {
				p.suback.reasons = (struct mqtt_str){&rc0, 1};
			}
			CHECK_EQ(mqtt_encode(&p, v, b, sizeof(b)), -EINVAL);
			CHECK_EQ(mqtt_encoded_len(&p, v), -EINVAL);
		}
		CHECK_EQ(mqtt_encode_ack(MQTT_PUBACK, 0, 0, NULL, v, b, sizeof(b)), -EINVAL);
		CHECK_EQ(mqtt_encode_suback(MQTT_SUBACK, 0, &rc0, 1, NULL, v, b, sizeof(b)),
		         -EINVAL);
	}
}

static void
encode_enospc_every_cap(void)
{
	uint8_t b[2048], ref[2048];
	struct mqtt_packet p;

	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi], rc;
		for (int k = 0; (rc = sample(v, k, &p)) >= 0; k++) {
			if (rc == 0)
				continue;
			ssize_t n = mqtt_encode(&p, v, ref, sizeof(ref));
			for (ssize_t cap = 0; cap < n; cap++) {
				memset(b, 0xee, sizeof(b));
				CHECK_EQ(mqtt_encode(&p, v, b, (size_t)cap), -ENOSPC);
				CHECK(b[cap] == 0xee);
			}
			CHECK_EQ(mqtt_encode(&p, v, b, (size_t)n), n);
		}
	}
}

static void
publish_header_by_reference(void)
{
	uint8_t full[512], hdr[256];
	struct mqtt_packet p;
	static uint8_t payload[300];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi];
		sample(v, 5, &p);
		/* 300 bytes: the remaining length needs two bytes. */
		p.publish.payload = (struct mqtt_str){payload, sizeof(payload)};
		ssize_t n = mqtt_encode(&p, v, full, sizeof(full));
		ssize_t h = mqtt_encode_publish_header(&p.publish, v, hdr, sizeof(hdr));
		CHECK(h > 0 && n == h + (ssize_t)sizeof(payload));
		CHECK(h > 0 && memcmp(full, hdr, (size_t)h) == 0);
		CHECK(memcmp(full + h, payload, sizeof(payload)) == 0);
		/* The header needs only its own room, and the payload pointer is not read. */
		p.publish.payload.p = NULL;
		CHECK_EQ(mqtt_encode_publish_header(&p.publish, v, hdr, (size_t)h), h);
		CHECK_EQ(mqtt_encode_publish_header(&p.publish, v, hdr, (size_t)h - 1), -ENOSPC);
		/* Largest payload that still fits the remaining length, and one more byte. */
		p.publish.payload.len = (uint32_t)(MQTT_MAX_REMAINING_LEN - (size_t)(h - 3));
		CHECK_EQ(mqtt_encode_publish_header(&p.publish, v, hdr, sizeof(hdr)), h + 2);
		p.publish.payload.len++;
		CHECK_EQ(mqtt_encode_publish_header(&p.publish, v, hdr, sizeof(hdr)), -EINVAL);
	}
}

/* A broker forwards a v5 PUBLISH: copies the props, drops the topic alias, adds the subscriber's
 * subscription identifiers. User properties keep their order (MQTT-3.3.2-17/18). */
static void
forward_publish_props(void)
{
	uint8_t in[256], out[256];
	struct mqtt_packet p, q;
	static const uint32_t mine[] = {7, 300};

	size_t n = unhex("30 24 0003 612f62 1d 23 0005 26 0001 62 0001 32 26 0001 61 0001 31 "
	                 "02 0000003c 26 0001 62 0001 33 78",
	                 in);
	CHECK_EQ(mqtt_decode(in, n, 5, &p), 0);
	CHECK_EQ(p.publish.props.user_count, 3);
	CHECK_EQ(p.publish.props.topic_alias, 5);
	CHECK_EQ(p.publish.payload.len, 1);
	struct mqtt_publish fwd = p.publish;
	fwd.props.present &= ~B(TOPIC_ALIAS);
	fwd.props.message_expiry_interval = 50; /* time spent queued subtracted */
	fwd.props.sub_id_array = mine;
	fwd.props.sub_id_count = 2;
	ssize_t h = mqtt_encode_publish_header(&fwd, 5, out, sizeof(out));
	CHECK(h > 0);
	memcpy(out + h, fwd.payload.p, fwd.payload.len);
	CHECK_EQ(mqtt_decode(out, (size_t)h + fwd.payload.len, 5, &q), 0);
	dump_packet(&q, 5, d1, sizeof(d1));
	const char *want = "type=3 qos=0 dup=0 retain=0 pid=0 topic=612f62 payload=78 props{ "
	                   "p02=50 sid=[7,300,] up=[62:32,61:31,62:33,] }";
	if (strcmp(d1, want))
		printf("# got  %s\n# want %s\n", d1, want);
	CHECK(strcmp(d1, want) == 0);

	/* A will's properties become a PUBLISH's: the will delay is not allowed there. */
	struct mqtt_packet c;
	sample(5, 1, &c);
	uint8_t cb[1024];
	ssize_t cn = mqtt_encode(&c, 5, cb, sizeof(cb));
	CHECK_EQ(mqtt_decode(cb, (size_t)cn, 5, &c), 0);
	struct mqtt_publish w = {.qos = c.connect.will_qos,
	                         .retain = c.connect.will_retain,
	                         .packet_id = 1,
	                         .topic = c.connect.will_topic,
	                         .props = c.connect.will_props,
	                         .payload = c.connect.will_payload};
	cn = mqtt_encode_publish_header(&w, 5, out, sizeof(out));
	CHECK(cn > 0);
	memcpy(out + cn, w.payload.p, w.payload.len);
	CHECK_EQ(mqtt_decode(out, (size_t)cn + w.payload.len, 5, &q), 0);
	CHECK(!MQTT_PROP_HAS(&q.publish.props, MQTT_PROP_WILL_DELAY_INTERVAL));
	CHECK(MQTT_PROP_HAS(&q.publish.props, MQTT_PROP_CONTENT_TYPE));
	CHECK_EQ(q.publish.props.user_count, 3);
	/* Dropping user properties: user_count 0 with raw still attached. */
	w.props.user_count = 0;
	cn = mqtt_encode_publish_header(&w, 5, out, sizeof(out));
	memcpy(out + cn, w.payload.p, w.payload.len);
	CHECK_EQ(mqtt_decode(out, (size_t)cn + w.payload.len, 5, &q), 0);
	CHECK_EQ(q.publish.props.user_count, 0);
	CHECK_EQ(mqtt_props_len(&w.props, MQTT_PUBLISH) > 0, 1);
	CHECK_EQ(mqtt_props_len(NULL, MQTT_PUBLISH), 1);
}

static void
iterators(void)
{
	uint8_t b[256];
	struct mqtt_packet p;
	struct mqtt_iter it;
	struct mqtt_sub_entry e;
	struct mqtt_str f;
	uint32_t sid;
	struct mqtt_user_prop up;

	size_t n = unhex("82 14 0001 03 0b8101 0003 612f23 2e 0005 2b2f2b2f78 01", b);
	CHECK_EQ(mqtt_decode(b, n, 5, &p), 0);
	CHECK_EQ(p.subscribe.count, 2);
	CHECK_EQ(p.subscribe.props.sub_id, 129);
	mqtt_iter_init(&it, p.subscribe.list, 5);
	CHECK(mqtt_sub_next(&it, &e) && e.filter.len == 3 && e.qos == 2 && e.no_local == 1 &&
	      e.retain_as_published == 1 && e.retain_handling == 2);
	CHECK(mqtt_sub_next(&it, &e) && e.filter.len == 5 && e.qos == 1 && e.no_local == 0);
	CHECK(!mqtt_sub_next(&it, &e));
	CHECK(mqtt_filter_valid(e.filter));

	n = unhex("a2 0a 0001 0001 61 0003 622f63", b);
	CHECK_EQ(mqtt_decode(b, n, 4, &p), 0);
	mqtt_iter_init(&it, p.unsubscribe.list, 4);
	CHECK(mqtt_unsub_next(&it, &f) && f.len == 1);
	CHECK(mqtt_unsub_next(&it, &f) && f.len == 3 && memcmp(f.p, "b/c", 3) == 0);
	CHECK(!mqtt_unsub_next(&it, &f));

	n = unhex("30 12 0001 61 0d 0b05 26 0001 6b 0001 76 0101 0b06 61", b);
	CHECK_EQ(mqtt_decode(b, n, 5, &p), 0);
	CHECK_EQ(p.publish.props.sub_id_count, 2);
	mqtt_iter_init(&it, p.publish.props.raw, 5);
	CHECK(mqtt_sub_id_next(&it, &sid) && sid == 5);
	CHECK(mqtt_sub_id_next(&it, &sid) && sid == 6);
	CHECK(!mqtt_sub_id_next(&it, &sid));
	mqtt_iter_init(&it, p.publish.props.raw, 5);
	CHECK(mqtt_user_prop_next(&it, &up) && up.key.p[0] == 'k' && up.value.p[0] == 'v');
	CHECK(!mqtt_user_prop_next(&it, &up));
	/* An empty view iterates nothing. */
	mqtt_iter_init(&it, (struct mqtt_str){NULL, 0}, 5);
	CHECK(!mqtt_user_prop_next(&it, &up) && !mqtt_sub_next(&it, &e));
}

/* ---- Validation helpers ---- */

static void
utf8_cases(void)
{
	static const struct {
		const char *s;
		size_t len;
		int ok;
	} c[] = {
	        {"", 0, 1},
	        {"plain ascii, long enough for the word loop", 42, 1},
	        {"\xc2\x80", 2, 1},
	        {"\xdf\xbf", 2, 1},
	        {"\xe0\xa0\x80", 3, 1},
	        {"\xed\x9f\xbf", 3, 1}, /* U+D7FF */
	        {"\xee\x80\x80", 3, 1}, /* U+E000 */
	        {"\xef\xbf\xbf", 3, 1}, /* U+FFFF non-character: allowed */
	        {"\xf0\x90\x80\x80", 4, 1},
	        {"\xf4\x8f\xbf\xbf", 4, 1}, /* U+10FFFF */
	        {"\xed\xa0\x80", 3, 0},     /* U+D800 */
	        {"\xed\xbf\xbf", 3, 0},     /* U+DFFF */
	        {"\xc0\x80", 2, 0},         /* overlong NUL */
	        {"\xc1\xbf", 2, 0},
	        {"\xe0\x9f\xbf", 3, 0},
	        {"\xf0\x8f\xbf\xbf", 4, 0},
	        {"\xf4\x90\x80\x80", 4, 0},
	        {"\xf5\x80\x80\x80", 4, 0},
	        {"\xff", 1, 0},
	        {"\x80", 1, 0},
	        {"\xc2", 1, 0},
	        {"\xe2\x82", 2, 0},
	        {"\xe2\x28\xa1", 3, 0},
	        {"abcdefgh\x00", 9, 0},         /* NUL after the word loop */
	        {"abcdefg\x00zzzzzzzz", 16, 0}, /* NUL inside a word */
	        {"abcdefghijklmno\xc3\xa9", 17, 1},
	};
	for (size_t i = 0; i < N(c); i++) {
		int got = mqtt_utf8_valid((const uint8_t *)c[i].s, c[i].len);
		if (got != c[i].ok)
			printf("# utf8 case %zu: got %d\n", i, got);
		CHECK_EQ(got, c[i].ok);
	}
}

static void
topic_and_filter_validity(void)
{
	static const struct {
		const char *s;
		int topic, filter;
	} c[] = {
	        {"a", 1, 1},
	        {"/", 1, 1},
	        {"a/b/c", 1, 1},
	        {"$SYS/x", 1, 1},
	        {"", 0, 0},
	        {"+", 0, 1},
	        {"#", 0, 1},
	        {"a/+/c", 0, 1},
	        {"a/#", 0, 1},
	        {"+/+/#", 0, 1},
	        {"a/b#", 0, 0},
	        {"a+/b", 0, 0},
	        {"a/#/b", 0, 0},
	        {"##", 0, 0},
	        {"a/++", 0, 0},
	        {"$share/g/a/+", 0, 1},
	        {"$share/g/#", 0, 1},
	        {"$share//a", 1, 0},
	        {"$share/g", 1, 0},
	        {"$share/g/", 1, 0},
	        {"$share/g+/a", 0, 0},
	        {"$share/g#/a", 0, 0},
	        {"$sharex/a", 1, 1},
	};
	for (size_t i = 0; i < N(c); i++) {
		struct mqtt_str s = {(const uint8_t *)c[i].s, (uint32_t)strlen(c[i].s)};
		if (mqtt_topic_valid(s) != c[i].topic || mqtt_filter_valid(s) != c[i].filter)
			printf("# \"%s\": topic %d filter %d\n", c[i].s, mqtt_topic_valid(s),
			       mqtt_filter_valid(s));
		CHECK_EQ(mqtt_topic_valid(s), c[i].topic);
		CHECK_EQ(mqtt_filter_valid(s), c[i].filter);
	}
	struct mqtt_str name, f;
	CHECK(mqtt_filter_shared(S("$share/grp/a/b"), &name, &f));
	CHECK(name.len == 3 && memcmp(name.p, "grp", 3) == 0 && f.len == 3);
	CHECK(!mqtt_filter_shared(S("a/b"), &name, &f));
	/* Invalid UTF-8 and over-long names are refused too. */
	CHECK(!mqtt_topic_valid(S("a\xc0\x80")));
	CHECK(!mqtt_filter_valid(S("a\xed\xa0\x80")));
	static uint8_t big[65536];
	memset(big, 'a', sizeof(big));
	CHECK(mqtt_topic_valid((struct mqtt_str){big, 65535}));
	CHECK(!mqtt_topic_valid((struct mqtt_str){big, 65536}));
	CHECK(!mqtt_filter_valid((struct mqtt_str){big, 65536}));
}

static void
connack_v3_mapping(void)
{
	CHECK_EQ(mqtt_connack_v3_code(0x00), 0);
	CHECK_EQ(mqtt_connack_v3_code(0x84), 1);
	CHECK_EQ(mqtt_connack_v3_code(0x85), 2);
	CHECK_EQ(mqtt_connack_v3_code(0x88), 3);
	CHECK_EQ(mqtt_connack_v3_code(0x86), 4);
	CHECK_EQ(mqtt_connack_v3_code(0x87), 5);
	CHECK_EQ(mqtt_connack_v3_code(0x8a), 5);
	CHECK_EQ(mqtt_connack_v3_code(0x97), 3);
	CHECK_EQ(mqtt_vbi_len(0), 1);
	CHECK_EQ(mqtt_vbi_len(127), 1);
	CHECK_EQ(mqtt_vbi_len(128), 2);
	CHECK_EQ(mqtt_vbi_len(16383), 2);
	CHECK_EQ(mqtt_vbi_len(16384), 3);
	CHECK_EQ(mqtt_vbi_len(2097151), 3);
	CHECK_EQ(mqtt_vbi_len(2097152), 4);
	CHECK_EQ(mqtt_vbi_len(MQTT_MAX_REMAINING_LEN), 4);
	CHECK_EQ(mqtt_vbi_len(MQTT_MAX_REMAINING_LEN + 1), 0);
}

/* Encoder input checks beyond the vectors. */
static void
encode_refusals(void)
{
	uint8_t b[256];
	struct mqtt_packet p;

	sample(4, 4, &p);
	p.publish.qos = 3;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	sample(4, 4, &p);
	p.publish.dup = 1;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	sample(4, 4, &p);
	p.publish.topic.len = 0;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	sample(4, 4, &p);
	p.publish.topic.len = 65536;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	sample(5, 1, &p);
	p.connect.bridge = 1;
	CHECK_EQ(mqtt_encode(&p, 5, b, sizeof(b)), -EINVAL);
	sample(4, 13, &p);
	p.subscribe.count = 0;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	static const struct mqtt_sub_entry bad = {{(const uint8_t *)"a", 1}, 0, 0, 0, 3};
	p.subscribe.entries = &bad;
	p.subscribe.count = 1;
	CHECK_EQ(mqtt_encode(&p, 5, b, sizeof(b)), -EINVAL);
	sample(5, 5, &p);
	static const uint32_t zero_sid = 0;
	p.publish.props.sub_id_array = &zero_sid;
	p.publish.props.sub_id_count = 1;
	CHECK_EQ(mqtt_encode(&p, 5, b, sizeof(b)), -EINVAL);
	sample(4, 17, &p);
	p.type = MQTT_AUTH;
	CHECK_EQ(mqtt_encode(&p, 4, b, sizeof(b)), -EINVAL);
	p.type = 16;
	CHECK_EQ(mqtt_encode(&p, 5, b, sizeof(b)), -EINVAL);
	CHECK_EQ(mqtt_encode(&p, 5, NULL, 0), -EINVAL);
	p.type = MQTT_PINGREQ;
	CHECK_EQ(mqtt_encode(&p, 5, NULL, 0), -ENOSPC);
}

/* Seed corpus for tests/fuzz/mqtt_codec: every sample packet and every malformed one, each
 * behind the fuzz driver's selector byte (version - 3). Used once by hand:
 * test_mqtt_codec --write-corpus DIR */
static int
write_corpus(const char *dir)
{
	uint8_t b[2048];
	struct mqtt_packet p;
	char path[512];
	int files = 0;

	for (size_t vi = 0; vi < N(versions); vi++) {
		int v = versions[vi], rc;
		for (int k = 0; (rc = sample(v, k, &p)) >= 0; k++) {
			if (rc == 0)
				continue;
			b[0] = (uint8_t)(v - 3);
			ssize_t n = mqtt_encode(&p, v, b + 1, sizeof(b) - 1);
			snprintf(path, sizeof(path), "%s/v%d-sample-%02d", dir, v, k);
			FILE *f = fopen(path, "wb");
			if (n <= 0 || f == NULL || fwrite(b, 1, (size_t)n + 1, f) != (size_t)n + 1)
				return 1;
			fclose(f);
			files++;
		}
	}
	for (size_t i = 0; i < N(bads); i++) {
		b[0] = (uint8_t)(bads[i].version - 3);
		size_t n = unhex(bads[i].hex, b + 1);
		snprintf(path, sizeof(path), "%s/v%d-bad-%02zu", dir, bads[i].version, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(b, 1, n + 1, f) != n + 1)
			return 1;
		fclose(f);
		files++;
	}
	printf("%d files\n", files);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	TEST(roundtrip_all_types);
	TEST(split_every_offset);
	TEST(fixed_header_limits);
	TEST(malformed_table);
	TEST(accepted_edges);
	TEST(hot_path_encoders);
	TEST(packet_id_zero_refused);
	TEST(encode_enospc_every_cap);
	TEST(publish_header_by_reference);
	TEST(forward_publish_props);
	TEST(iterators);
	TEST(utf8_cases);
	TEST(topic_and_filter_validity);
	TEST(connack_v3_mapping);
	TEST(encode_refusals);
	return tap_done();
}

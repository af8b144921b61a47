/* SPDX-License-Identifier: Apache-2.0
 * MQTT 3.1 / 3.1.1 / 5.0 codec: framing, validation helpers, decoding, encoding.
 *
 * Hand-rolled rather than taken from a library: the available C codecs (mosquitto's, paho's)
 * allocate per packet and copy strings, and the broker needs views into the receive buffer.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "mqtt/mqtt_codec.h"

/* Wire types of property values (spec 2.2.2.2). */
enum mqtt_prop_type {
	MQTT_PT_NONE = 0,
	MQTT_PT_BYTE,
	MQTT_PT_U16,
	MQTT_PT_U32,
	MQTT_PT_VBI,
	MQTT_PT_UTF8,
	MQTT_PT_BIN,
	MQTT_PT_PAIR,
};

/* Pseudo packet type for a CONNECT's will properties (type 0 is never a packet). */
#define MQTT_PROPS_WILL 0

struct mqtt_prop_info {
	uint8_t type;     /* enum mqtt_prop_type */
	uint16_t allowed; /* bit per packet type, bit 0 for will properties */
	uint16_t off;     /* offset of the field in struct mqtt_props */
};

#define T(x)   (1u << (x))
#define OFF(f) offsetof(struct mqtt_props, f)

/* Per property: wire type, the packets it may appear in (bit MQTT_PROPS_WILL for a CONNECT's
 * will properties) and where it lands in struct mqtt_props. Spec 5.0 table 2-4. */
static const struct mqtt_prop_info mqtt_prop_table[64] = {
        [MQTT_PROP_PAYLOAD_FORMAT_INDICATOR] = {MQTT_PT_BYTE, T(MQTT_PUBLISH) | T(MQTT_PROPS_WILL),
                                                OFF(payload_format_indicator)},
        [MQTT_PROP_MESSAGE_EXPIRY_INTERVAL] = {MQTT_PT_U32, T(MQTT_PUBLISH) | T(MQTT_PROPS_WILL),
                                               OFF(message_expiry_interval)},
        [MQTT_PROP_CONTENT_TYPE] = {MQTT_PT_UTF8, T(MQTT_PUBLISH) | T(MQTT_PROPS_WILL),
                                    OFF(content_type)},
        [MQTT_PROP_RESPONSE_TOPIC] = {MQTT_PT_UTF8, T(MQTT_PUBLISH) | T(MQTT_PROPS_WILL),
                                      OFF(response_topic)},
        [MQTT_PROP_CORRELATION_DATA] = {MQTT_PT_BIN, T(MQTT_PUBLISH) | T(MQTT_PROPS_WILL),
                                        OFF(correlation_data)},
        [MQTT_PROP_SUBSCRIPTION_IDENTIFIER] = {MQTT_PT_VBI, T(MQTT_PUBLISH) | T(MQTT_SUBSCRIBE),
                                               OFF(sub_id)},
        [MQTT_PROP_SESSION_EXPIRY_INTERVAL] = {MQTT_PT_U32,
                                               T(MQTT_CONNECT) | T(MQTT_CONNACK) |
                                                       T(MQTT_DISCONNECT),
                                               OFF(session_expiry_interval)},
        [MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER] = {MQTT_PT_UTF8, T(MQTT_CONNACK),
                                                  OFF(assigned_client_identifier)},
        [MQTT_PROP_SERVER_KEEP_ALIVE] = {MQTT_PT_U16, T(MQTT_CONNACK), OFF(server_keep_alive)},
        [MQTT_PROP_AUTHENTICATION_METHOD] = {MQTT_PT_UTF8,
                                             T(MQTT_CONNECT) | T(MQTT_CONNACK) | T(MQTT_AUTH),
                                             OFF(authentication_method)},
        [MQTT_PROP_AUTHENTICATION_DATA] = {MQTT_PT_BIN,
                                           T(MQTT_CONNECT) | T(MQTT_CONNACK) | T(MQTT_AUTH),
                                           OFF(authentication_data)},
        [MQTT_PROP_REQUEST_PROBLEM_INFORMATION] = {MQTT_PT_BYTE, T(MQTT_CONNECT),
                                                   OFF(request_problem_information)},
        [MQTT_PROP_WILL_DELAY_INTERVAL] = {MQTT_PT_U32, T(MQTT_PROPS_WILL),
                                           OFF(will_delay_interval)},
        [MQTT_PROP_REQUEST_RESPONSE_INFORMATION] = {MQTT_PT_BYTE, T(MQTT_CONNECT),
                                                    OFF(request_response_information)},
        [MQTT_PROP_RESPONSE_INFORMATION] = {MQTT_PT_UTF8, T(MQTT_CONNACK),
                                            OFF(response_information)},
        [MQTT_PROP_SERVER_REFERENCE] = {MQTT_PT_UTF8, T(MQTT_CONNACK) | T(MQTT_DISCONNECT),
                                        OFF(server_reference)},
        [MQTT_PROP_REASON_STRING] = {MQTT_PT_UTF8,
                                     T(MQTT_CONNACK) | T(MQTT_PUBACK) | T(MQTT_PUBREC) |
                                             T(MQTT_PUBREL) | T(MQTT_PUBCOMP) | T(MQTT_SUBACK) |
                                             T(MQTT_UNSUBACK) | T(MQTT_DISCONNECT) | T(MQTT_AUTH),
                                     OFF(reason_string)},
        [MQTT_PROP_RECEIVE_MAXIMUM] = {MQTT_PT_U16, T(MQTT_CONNECT) | T(MQTT_CONNACK),
                                       OFF(receive_maximum)},
        [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {MQTT_PT_U16, T(MQTT_CONNECT) | T(MQTT_CONNACK),
                                           OFF(topic_alias_maximum)},
        [MQTT_PROP_TOPIC_ALIAS] = {MQTT_PT_U16, T(MQTT_PUBLISH), OFF(topic_alias)},
        [MQTT_PROP_MAXIMUM_QOS] = {MQTT_PT_BYTE, T(MQTT_CONNACK), OFF(maximum_qos)},
        [MQTT_PROP_RETAIN_AVAILABLE] = {MQTT_PT_BYTE, T(MQTT_CONNACK), OFF(retain_available)},
        [MQTT_PROP_USER_PROPERTY] = {MQTT_PT_PAIR, 0xffff & ~T(MQTT_PINGREQ) & ~T(MQTT_PINGRESP),
                                     0},
        [MQTT_PROP_MAXIMUM_PACKET_SIZE] = {MQTT_PT_U32, T(MQTT_CONNECT) | T(MQTT_CONNACK),
                                           OFF(maximum_packet_size)},
        [MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE] = {MQTT_PT_BYTE, T(MQTT_CONNACK),
                                                       OFF(wildcard_subscription_available)},
        [MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE] = {MQTT_PT_BYTE, T(MQTT_CONNACK),
                                                         OFF(subscription_identifier_available)},
        [MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE] = {MQTT_PT_BYTE, T(MQTT_CONNACK),
                                                     OFF(shared_subscription_available)},
};

/* ---- UTF-8 and topics ---- */

int
mqtt_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		/* ASCII fast path, 8 bytes at a time: no high bit and no zero byte. */
		while (i + 8 <= len) {
			uint64_t v;
			memcpy(&v, p + i, 8);
			if ((v & UINT64_C(0x8080808080808080)) ||
			    ((v - UINT64_C(0x0101010101010101)) & ~v &
			     UINT64_C(0x8080808080808080)))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		uint8_t c = p[i];
		if (c < 0x80) {
			if (c == 0)
				return 0; /* MQTT-1.5.4-2: no U+0000 */
			i++;
			continue;
		}
		unsigned n;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates U+D800..U+DFFF, MQTT-1.5.4-1 */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return 0; /* continuation byte, overlong 0xc0/0xc1, or 0xf5.. */
		}
		if (len - i <= n)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (unsigned k = 2; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

int
mqtt_topic_valid(struct mqtt_str topic)
{
	if (topic.len == 0 || topic.len > 65535)
		return 0;
	if (memchr(topic.p, '+', topic.len) || memchr(topic.p, '#', topic.len))
		return 0;
	return mqtt_utf8_valid(topic.p, topic.len);
}

int
mqtt_filter_shared(struct mqtt_str filter, struct mqtt_str *name, struct mqtt_str *f)
{
	static const char share[] = "$share/";
	const uint32_t sl = sizeof(share) - 1;

	if (filter.len < sl || memcmp(filter.p, share, sl) != 0)
		return 0;
	const uint8_t *n = filter.p + sl, *end = filter.p + filter.len;
	const uint8_t *slash = memchr(n, '/', (size_t)(end - n));
	name->p = n;
	if (slash == NULL) {
		name->len = (uint32_t)(end - n);
		f->p = end;
		f->len = 0;
	} else {
		name->len = (uint32_t)(slash - n);
		f->p = slash + 1;
		f->len = (uint32_t)(end - slash - 1);
	}
	return 1;
}

/* Wildcard placement (spec 4.7.1): '+' fills a whole level, '#' a whole level and the last one.
 * Cost: one pass. */
static int
filter_levels_valid(const uint8_t *p, uint32_t len)
{
	uint32_t start = 0;

	for (uint32_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		uint32_t ll = i - start;
		for (uint32_t k = start; k < i; k++) {
			if (p[k] == '+' && ll != 1)
				return 0;
			if (p[k] == '#' && (ll != 1 || i != len))
				return 0;
		}
		start = i + 1;
	}
	return 1;
}

int
mqtt_filter_valid(struct mqtt_str filter)
{
	struct mqtt_str name, f;

	if (filter.len == 0 || filter.len > 65535 || !mqtt_utf8_valid(filter.p, filter.len))
		return 0;
	if (mqtt_filter_shared(filter, &name, &f)) {
		if (name.len == 0 || f.len == 0)
			return 0;
		if (memchr(name.p, '+', name.len) || memchr(name.p, '#', name.len))
			return 0;
		filter = f;
	}
	return filter_levels_valid(filter.p, filter.len);
}

uint8_t
mqtt_connack_v3_code(uint8_t r)
{
	switch (r) {
	case MQTT_RC_SUCCESS:
		return MQTT_CONNACK_ACCEPTED;
	case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION:
		return MQTT_CONNACK_UNACCEPTABLE_PROTOCOL;
	case MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID:
		return MQTT_CONNACK_IDENTIFIER_REJECTED;
	case MQTT_RC_BAD_USER_NAME_OR_PASSWORD:
		return MQTT_CONNACK_BAD_USERNAME_PASSWORD;
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_BANNED:
		return MQTT_CONNACK_NOT_AUTHORIZED;
	default:
		return MQTT_CONNACK_SERVER_UNAVAILABLE;
	}
}

/* ---- Framing ---- */

/* Fixed-header flags each type must carry (PUBLISH's are free but for QoS 3). MQTT-2.2.2-1/2. */
static const uint8_t fixed_flags[16] = {
        [MQTT_PUBREL] = 2,
        [MQTT_SUBSCRIBE] = 2,
        [MQTT_UNSUBSCRIBE] = 2,
};

int
mqtt_fixed_header(const uint8_t *buf, size_t len, uint8_t *type, uint8_t *flags,
                  uint32_t *remaining_len, uint32_t *hdr_len)
{
	if (len < 1)
		return -EAGAIN;
	uint8_t t = buf[0] >> 4, f = buf[0] & 0x0f;
	/* Judge the first byte as soon as it is there, so every split of the input gives the
	 * same verdict as the whole. */
	if (t == 0)
		return -EPROTO;
	if (t == MQTT_PUBLISH ? (f & 0x06) == 0x06 : f != fixed_flags[t])
		return -EPROTO;
	uint32_t v = 0;
	for (unsigned i = 1; i <= 4; i++) {
		if (i >= len)
			return -EAGAIN;
		uint8_t b = buf[i];
		v |= (uint32_t)(b & 0x7f) << (7 * (i - 1));
		if (!(b & 0x80)) {
			*type = t;
			*flags = f;
			*remaining_len = v;
			*hdr_len = i + 1;
			return 0;
		}
	}
	return -EPROTO; /* a fifth length byte: MQTT-1.5.5 / 2.2.3 allow four */
}

unsigned
mqtt_vbi_len(uint32_t v)
{
	if (v < 128u)
		return 1;
	if (v < 16384u)
		return 2;
	if (v < 2097152u)
		return 3;
	if (v <= MQTT_MAX_REMAINING_LEN)
		return 4;
	return 0;
}

/* ---- Decoding ---- */

struct rd {
	const uint8_t *p, *end;
};

static inline size_t
rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline int
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->p >= r->end)
		return -1;
	*v = *r->p++;
	return 0;
}

/* n-byte big-endian integer (2 or 4). */
static inline int
rd_be(struct rd *r, unsigned n, uint32_t *v)
{
	if (rd_left(r) < n)
		return -1;
	uint32_t x = 0;
	for (unsigned i = 0; i < n; i++)
		x = x << 8 | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

static inline int
rd_u16(struct rd *r, uint16_t *v)
{
	uint32_t x;
	if (rd_be(r, 2, &x))
		return -1;
	*v = (uint16_t)x;
	return 0;
}

#define rd_u32(r, v) rd_be((r), 4, (v))

/* Variable byte integer, at most 4 bytes, in its shortest form (MQTT-1.5.5-1). */
static int
rd_vbi(struct rd *r, uint32_t *v)
{
	uint32_t x = 0;
	for (unsigned i = 0; i < 4; i++) {
		uint8_t b;
		if (rd_u8(r, &b))
			return -1;
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i > 0 && b == 0)
				return -1; /* not the shortest form */
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Two-byte length then that many bytes. */
static inline int
rd_bin(struct rd *r, struct mqtt_str *s)
{
	uint16_t n;
	if (rd_u16(r, &n) || rd_left(r) < n)
		return -1;
	s->p = r->p;
	s->len = n;
	r->p += n;
	return 0;
}

static int
fail(struct mqtt_packet *out, int rc, uint8_t reason, const char *msg)
{
	out->err_reason = reason;
	out->err_msg = msg;
	return rc;
}

#define MALFORMED(msg)       fail(out, -EPROTO, MQTT_RC_MALFORMED_PACKET, (msg))
#define PROTOCOL(msg)        fail(out, -EBADMSG, MQTT_RC_PROTOCOL_ERROR, (msg))
#define PROTOCOL_RC(rc, msg) fail(out, -EBADMSG, (rc), (msg))
#define BAD_UTF8(msg)        fail(out, -EILSEQ, MQTT_RC_MALFORMED_PACKET, (msg))

/* A UTF-8 string field (spec 1.5.4): well-formed or the packet is malformed. */
static int
rd_utf8(struct rd *r, struct mqtt_str *s, struct mqtt_packet *out, const char *what)
{
	if (rd_bin(r, s))
		return MALFORMED(what);
	if (!mqtt_utf8_valid(s->p, s->len))
		return BAD_UTF8("invalid UTF-8 string");
	return 0;
}

/* Properties whose byte value must be 0 or 1 (spec 3.1.2.11, 3.2.2.3). */
#define BOOL_PROPS                                                                                 \
	(MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR) |                                       \
	 MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFORMATION) |                                    \
	 MQTT_PROP_BIT(MQTT_PROP_REQUEST_RESPONSE_INFORMATION) |                                   \
	 MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_QOS) | MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE) |        \
	 MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE) |                                \
	 MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE) |                              \
	 MQTT_PROP_BIT(MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE))

/* Properties for which 0 is a protocol error (spec 3.1.2.11.3/4, 3.3.2.3.4). */
#define NONZERO_PROPS                                                                              \
	(MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) | MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) | \
	 MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS))

/* One property at r: its id, and its value in a (strings, binary, a pair's key), b (a pair's
 * value) or v (integers). Returns -1 when truncated, -2 for an unknown identifier. Cost: O(1). */
static int
rd_prop(struct rd *r, unsigned *id, struct mqtt_str *a, struct mqtt_str *b, uint32_t *v)
{
	uint8_t x8;
	uint16_t x16;

	/* Identifiers are variable byte integers, but every defined one fits in one byte. */
	if (rd_u8(r, &x8))
		return -1;
	*id = x8;
	if (x8 >= 64)
		return -2;
	switch (mqtt_prop_table[x8].type) {
	case MQTT_PT_BYTE:
		if (rd_u8(r, &x8))
			return -1;
		*v = x8;
		return 0;
	case MQTT_PT_U16:
		if (rd_u16(r, &x16))
			return -1;
		*v = x16;
		return 0;
	case MQTT_PT_U32:
		return rd_u32(r, v);
	case MQTT_PT_VBI:
		return rd_vbi(r, v);
	case MQTT_PT_UTF8:
	case MQTT_PT_BIN:
		return rd_bin(r, a);
	case MQTT_PT_PAIR:
		return rd_bin(r, a) || rd_bin(r, b) ? -1 : 0;
	default:
		return -2;
	}
}

/* Store a single-valued property in its field, with its range checked. */
static int
store_prop(unsigned id, struct mqtt_str a, uint32_t v, struct mqtt_props *pr,
           struct mqtt_packet *out)
{
	const struct mqtt_prop_info *pi = &mqtt_prop_table[id];
	char *field = (char *)pr + pi->off;

	switch (pi->type) {
	case MQTT_PT_BYTE:
		*(uint8_t *)field = (uint8_t)v;
		if ((MQTT_PROP_BIT(id) & BOOL_PROPS) && v > 1)
			return PROTOCOL("property value must be 0 or 1");
		break;
	case MQTT_PT_U16: {
		uint16_t x = (uint16_t)v;
		memcpy(field, &x, sizeof(x));
		break;
	}
	case MQTT_PT_U32:
		memcpy(field, &v, sizeof(v));
		break;
	default: /* UTF-8 strings were checked by the caller */
		memcpy(field, &a, sizeof(a));
		if (id == MQTT_PROP_RESPONSE_TOPIC && !mqtt_topic_valid(a))
			return PROTOCOL("response topic is not a valid topic name");
		return 0;
	}
	if (v == 0 && (MQTT_PROP_BIT(id) & NONZERO_PROPS)) {
		if (id == MQTT_PROP_TOPIC_ALIAS)
			return PROTOCOL_RC(MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias 0");
		return PROTOCOL("property value must not be 0");
	}
	return 0;
}

/* A v5 property block (length, then properties) for packet type `ptype` (MQTT_PROPS_WILL for
 * a CONNECT's will). Cost: one pass over the block. */
static int
decode_props(struct rd *r, struct mqtt_props *pr, unsigned ptype, struct mqtt_packet *out)
{
	uint32_t plen;

	memset(pr, 0, sizeof(*pr));
	if (rd_vbi(r, &plen))
		return MALFORMED("bad property length");
	if (plen > rd_left(r))
		return MALFORMED("property length exceeds packet");
	struct rd pr_rd = {r->p, r->p + plen};
	pr->raw.p = r->p;
	pr->raw.len = plen;
	r->p += plen;

	while (pr_rd.p < pr_rd.end) {
		struct mqtt_str a = {NULL, 0}, b = {NULL, 0};
		uint32_t v = 0;
		unsigned id;
		int rc = rd_prop(&pr_rd, &id, &a, &b, &v);
		if (rc == -2)
			return MALFORMED("unknown property");
		if (rc)
			return MALFORMED("truncated property");
		const struct mqtt_prop_info *pi = &mqtt_prop_table[id];
		if (!(pi->allowed & T(ptype)))
			return PROTOCOL("property not allowed in this packet");
		if ((pi->type == MQTT_PT_UTF8 || pi->type == MQTT_PT_PAIR) &&
		    (!mqtt_utf8_valid(a.p, a.len) || !mqtt_utf8_valid(b.p, b.len)))
			return BAD_UTF8("invalid UTF-8 string in a property");
		if (id == MQTT_PROP_USER_PROPERTY) {
			pr->user_count++;
		} else if (id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) {
			if (v == 0)
				return PROTOCOL("subscription identifier 0");
			if (ptype == MQTT_SUBSCRIBE && pr->sub_id_count)
				return PROTOCOL("duplicate subscription identifier");
			if (pr->sub_id_count++ == 0)
				pr->sub_id = v;
		} else {
			if (pr->present & MQTT_PROP_BIT(id))
				return PROTOCOL("duplicate property");
			pr->present |= MQTT_PROP_BIT(id);
			if ((rc = store_prop(id, a, v, pr, out)))
				return rc;
		}
	}
	return 0;
}

/* v5 acks, DISCONNECT and AUTH: the reason code and properties may be cut short (spec 3.4.2.1,
 * 3.14.2.1, 3.15.2.1): nothing left means reason 0, a reason alone means no properties. */
static int
decode_reason_props(struct rd *r, uint8_t *reason, struct mqtt_props *pr, unsigned ptype,
                    struct mqtt_packet *out)
{
	*reason = 0;
	if (rd_left(r) == 0) {
		memset(pr, 0, sizeof(*pr));
		return 0;
	}
	(void)rd_u8(r, reason);
	if (rd_left(r) == 0) {
		memset(pr, 0, sizeof(*pr));
		return 0;
	}
	return decode_props(r, pr, ptype, out);
}

static int
in_list(uint8_t v, const uint8_t *list, size_t n)
{
	return memchr(list, v, n) != NULL;
}

static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                        0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                        0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};
/* v5 CONNACK codes, plus 1..5: a 3.1.1 server answers a v5 CONNECT in its own format (v5
 * spec 3.1.2.2 lets it send 3.1.1's 0x01), and a v5 client must understand that. */
static const uint8_t rc_connack[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x80, 0x81, 0x82, 0x83,
                                     0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x8F, 0x90,
                                     0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};

#define IN(v, list) in_list((v), (list), sizeof(list))

static int
decode_connect(struct rd *r, struct mqtt_packet *out)
{
	struct mqtt_connect *c = &out->connect;
	uint8_t level, f;

	memset(c, 0, sizeof(*c));
	if (rd_bin(r, &c->protocol_name) || rd_u8(r, &level))
		return MALFORMED("truncated protocol name or level");
	c->bridge = (level & 0x80) != 0;
	level &= 0x7f;
	c->protocol_level = level;
	if (c->protocol_name.len == 6 && memcmp(c->protocol_name.p, "MQIsdp", 6) == 0) {
		if (level != MQTT_V31)
			return fail(out, -EPROTONOSUPPORT, MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION,
			            "MQIsdp needs protocol level 3");
	} else if (c->protocol_name.len == 4 && memcmp(c->protocol_name.p, "MQTT", 4) == 0) {
		if (level != MQTT_V311 && level != MQTT_V5)
			return fail(out, -EPROTONOSUPPORT, MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION,
			            "unsupported protocol level");
	} else {
		return PROTOCOL("unknown protocol name"); /* MQTT-3.1.2-1 */
	}
	if (c->bridge && level == MQTT_V5)
		return fail(out, -EPROTONOSUPPORT, MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION,
		            "bridge bit with level 5");

	if (rd_u8(r, &f) || rd_u16(r, &c->keep_alive))
		return MALFORMED("truncated CONNECT");
	if (f & 0x01)
		return MALFORMED("CONNECT reserved flag set"); /* MQTT-3.1.2-3 */
	c->clean_start = (f >> 1) & 1;
	c->will_flag = (f >> 2) & 1;
	c->will_qos = (f >> 3) & 3;
	c->will_retain = (f >> 5) & 1;
	c->password_flag = (f >> 6) & 1;
	c->username_flag = (f >> 7) & 1;
	if (c->will_qos == 3)
		return MALFORMED("will QoS 3"); /* MQTT-3.1.2-14 */
	if (!c->will_flag && (c->will_qos || c->will_retain))
		return MALFORMED("will QoS/retain without will flag"); /* MQTT-3.1.2-11/13/15 */
	if (level < MQTT_V5 && c->password_flag && !c->username_flag)
		return MALFORMED("password without user name"); /* MQTT-3.1.2-22 */

	int rc;
	if (level == MQTT_V5 && (rc = decode_props(r, &c->props, MQTT_CONNECT, out)))
		return rc;
	if (MQTT_PROP_HAS(&c->props, MQTT_PROP_AUTHENTICATION_DATA) &&
	    !MQTT_PROP_HAS(&c->props, MQTT_PROP_AUTHENTICATION_METHOD))
		return PROTOCOL("authentication data without a method"); /* 5.0 3.1.2.11.10 */
	if ((rc = rd_utf8(r, &c->client_id, out, "truncated client identifier")))
		return rc;
	if (c->will_flag) {
		if (level == MQTT_V5 &&
		    (rc = decode_props(r, &c->will_props, MQTT_PROPS_WILL, out)))
			return rc;
		if ((rc = rd_utf8(r, &c->will_topic, out, "truncated will topic")))
			return rc;
		if (!mqtt_topic_valid(c->will_topic))
			return PROTOCOL_RC(MQTT_RC_TOPIC_NAME_INVALID, "invalid will topic");
		if (rd_bin(r, &c->will_payload))
			return MALFORMED("truncated will payload");
	}
	if (c->username_flag && (rc = rd_utf8(r, &c->username, out, "truncated user name")))
		return rc;
	if (c->password_flag && rd_bin(r, &c->password))
		return MALFORMED("truncated password");
	return 0;
}

static int
decode_connack(struct rd *r, int version, struct mqtt_packet *out)
{
	struct mqtt_connack *a = &out->connack;
	uint8_t f;

	memset(a, 0, sizeof(*a));
	if (rd_u8(r, &f) || rd_u8(r, &a->reason))
		return MALFORMED("truncated CONNACK");
	if (f & 0xfe)
		return MALFORMED("CONNACK reserved flags set"); /* MQTT-3.2.2-1 */
	a->session_present = f;
	if (version == MQTT_V5) {
		/* A 2-byte CONNACK is what a 3.1.1 server sends; accept it as "no properties". */
		if (rd_left(r) > 0) {
			int rc = decode_props(r, &a->props, MQTT_CONNACK, out);
			if (rc)
				return rc;
		}
		if (!IN(a->reason, rc_connack))
			return PROTOCOL("invalid CONNACK reason code");
	} else if (a->reason > MQTT_CONNACK_NOT_AUTHORIZED) {
		return PROTOCOL("invalid CONNACK return code");
	}
	if (a->reason != 0 && a->session_present)
		return PROTOCOL("session present with an error code"); /* MQTT-3.2.2-4 / -6 */
	return 0;
}

static int
decode_publish(struct rd *r, int version, struct mqtt_packet *out)
{
	struct mqtt_publish *p = &out->publish;
	int rc;

	memset(p, 0, sizeof(*p));
	p->retain = out->flags & 1;
	p->qos = (out->flags >> 1) & 3;
	p->dup = (out->flags >> 3) & 1;
	if (p->qos == 0 && p->dup)
		return MALFORMED("DUP set on a QoS 0 PUBLISH"); /* MQTT-3.3.1-2 */
	if ((rc = rd_utf8(r, &p->topic, out, "truncated topic name")))
		return rc;
	if (p->qos) {
		if (rd_u16(r, &p->packet_id))
			return MALFORMED("truncated packet identifier");
		if (p->packet_id == 0)
			return PROTOCOL("packet identifier 0"); /* MQTT-2.3.1-1 */
	}
	if (version == MQTT_V5 && (rc = decode_props(r, &p->props, MQTT_PUBLISH, out)))
		return rc;
	if (p->topic.len == 0) {
		/* v5: an empty topic is fine when a topic alias names it (spec 3.3.2.3.4). */
		if (!(version == MQTT_V5 && MQTT_PROP_HAS(&p->props, MQTT_PROP_TOPIC_ALIAS)))
			return PROTOCOL("empty topic name without a topic alias");
	} else if (memchr(p->topic.p, '+', p->topic.len) || memchr(p->topic.p, '#', p->topic.len)) {
		return PROTOCOL_RC(MQTT_RC_TOPIC_NAME_INVALID, "wildcard in topic name");
	}
	p->payload.p = r->p;
	p->payload.len = (uint32_t)rd_left(r);
	r->p = r->end;
	return 0;
}

static int
decode_ack(struct rd *r, int version, struct mqtt_packet *out)
{
	struct mqtt_ack *a = &out->ack;
	int rc;

	memset(a, 0, sizeof(*a));
	if (rd_u16(r, &a->packet_id))
		return MALFORMED("truncated packet identifier");
	if (a->packet_id == 0)
		return PROTOCOL("packet identifier 0");
	if (version < MQTT_V5)
		return 0;
	if ((rc = decode_reason_props(r, &a->reason, &a->props, out->type, out)))
		return rc;
	int ok = (out->type == MQTT_PUBACK || out->type == MQTT_PUBREC) ? IN(a->reason, rc_puback)
	                                                                : IN(a->reason, rc_pubrel);
	return ok ? 0 : PROTOCOL("invalid reason code for this acknowledgement");
}

/* SUBSCRIBE or UNSUBSCRIBE payload: validates every entry and counts them. Cost: one pass. */
static int
decode_sub_list(struct rd *r, int version, int with_options, uint32_t *count,
                struct mqtt_packet *out)
{
	uint32_t n = 0;
	int rc;

	while (rd_left(r)) {
		struct mqtt_str f;
		uint8_t o = 0;
		if ((rc = rd_utf8(r, &f, out, "truncated topic filter")))
			return rc;
		if (with_options && rd_u8(r, &o))
			return MALFORMED("missing subscription options");
		if (f.len == 0)
			return PROTOCOL_RC(MQTT_RC_TOPIC_FILTER_INVALID, "empty topic filter");
		if (with_options) {
			if (version < MQTT_V5 && (o & 0xfc))
				return MALFORMED("subscription options reserved bits set");
			if (version == MQTT_V5 && (o & 0xc0))
				return MALFORMED("subscription options reserved bits set");
			/* 3.1.1 MQTT-3-8.3-4 calls QoS 3 malformed; 5.0 3.8.3.1 a protocol error.
			 */
			if ((o & 3) == 3 && version < MQTT_V5)
				return MALFORMED("subscription QoS 3");
			if ((o & 3) == 3)
				return PROTOCOL("subscription QoS 3");
			if (((o >> 4) & 3) == 3)
				return PROTOCOL("retain handling 3");
			struct mqtt_str name, sf;
			if ((o & 0x04) && mqtt_filter_shared(f, &name, &sf))
				return PROTOCOL(
				        "no local on a shared subscription"); /* MQTT-3.8.3-4 */
		}
		n++;
	}
	if (n == 0)
		return PROTOCOL("no topic filter"); /* MQTT-3.8.3-3, MQTT-3.10.3-2 */
	*count = n;
	return 0;
}

static int
decode_subscribe(struct rd *r, int version, struct mqtt_packet *out)
{
	int with_options = out->type == MQTT_SUBSCRIBE;
	/* SUBSCRIBE and UNSUBSCRIBE differ only by the options byte after each filter: point at
	 * the fields of the right struct and share the rest. */
	struct mqtt_unsubscribe *s = &out->unsubscribe;
	int rc;

	memset(&out->subscribe, 0, sizeof(out->subscribe));
	memset(&out->unsubscribe, 0, sizeof(out->unsubscribe));
	uint16_t *pid = with_options ? &out->subscribe.packet_id : &s->packet_id;
	struct mqtt_props *pr = with_options ? &out->subscribe.props : &s->props;
	struct mqtt_str *list = with_options ? &out->subscribe.list : &s->list;
	uint32_t *count = with_options ? &out->subscribe.count : &s->count;

	if (rd_u16(r, pid))
		return MALFORMED("truncated packet identifier");
	if (*pid == 0)
		return PROTOCOL("packet identifier 0");
	if (version == MQTT_V5 && (rc = decode_props(r, pr, out->type, out)))
		return rc;
	list->p = r->p;
	list->len = (uint32_t)rd_left(r);
	return decode_sub_list(r, version, with_options, count, out);
}

static int
decode_suback(struct rd *r, int version, struct mqtt_packet *out)
{
	struct mqtt_suback *a = &out->suback;
	int rc;

	memset(a, 0, sizeof(*a));
	if (rd_u16(r, &a->packet_id))
		return MALFORMED("truncated packet identifier");
	if (a->packet_id == 0)
		return PROTOCOL("packet identifier 0");
	if (version == MQTT_V5 && (rc = decode_props(r, &a->props, out->type, out)))
		return rc;
	a->reasons.p = r->p;
	a->reasons.len = (uint32_t)rd_left(r);
	r->p = r->end;
	if (out->type == MQTT_UNSUBACK && version < MQTT_V5) {
		if (a->reasons.len)
			return MALFORMED("3.1.1 UNSUBACK has no payload");
		return 0;
	}
	if (a->reasons.len == 0)
		return PROTOCOL("no reason codes");
	for (uint32_t i = 0; i < a->reasons.len; i++) {
		uint8_t c = a->reasons.p[i];
		int ok;
		if (out->type == MQTT_UNSUBACK)
			ok = IN(c, rc_unsuback);
		else if (version == MQTT_V5)
			ok = IN(c, rc_suback);
		else
			ok = c <= 2 || c == MQTT_SUBACK_FAILURE;
		if (!ok)
			return PROTOCOL("invalid reason code in SUBACK/UNSUBACK");
	}
	return 0;
}

static int
decode_disconnect(struct rd *r, int version, struct mqtt_packet *out)
{
	struct mqtt_disconnect *d = &out->disconnect;
	int rc;

	memset(d, 0, sizeof(*d));
	if (version < MQTT_V5) {
		if (rd_left(r))
			return MALFORMED("3.1.1 DISCONNECT has no body");
		return 0;
	}
	if ((rc = decode_reason_props(r, &d->reason, &d->props, out->type, out)))
		return rc;
	int ok = out->type == MQTT_AUTH ? IN(d->reason, rc_auth) : IN(d->reason, rc_disconnect);
	return ok ? 0 : PROTOCOL("invalid reason code");
}

int
mqtt_decode(const uint8_t *buf, size_t len, int version, struct mqtt_packet *out)
{
	uint32_t rem, hlen;
	uint8_t type, flags;
	int rc;

	if (out == NULL)
		return -EINVAL;
	out->err_reason = 0;
	out->err_msg = NULL;
	if (buf == NULL && len)
		return fail(out, -EINVAL, MQTT_RC_UNSPECIFIED_ERROR, "NULL buffer");
	rc = mqtt_fixed_header(buf, len, &type, &flags, &rem, &hlen);
	if (rc == -EAGAIN)
		return MALFORMED("incomplete fixed header");
	if (rc)
		return MALFORMED("invalid fixed header");
	out->type = type;
	out->flags = flags;
	if (type != MQTT_CONNECT && version != MQTT_V31 && version != MQTT_V311 &&
	    version != MQTT_V5)
		return fail(out, -EINVAL, MQTT_RC_UNSPECIFIED_ERROR, "bad version argument");
	if ((size_t)hlen + rem != len)
		return MALFORMED("remaining length does not match the packet");
	struct rd r = {buf + hlen, buf + len};
	if (type == MQTT_CONNECT) {
		/* The packet picks the version; the shortest-form rule applies to v5 below. */
		rc = decode_connect(&r, out);
		if (rc)
			return rc;
		version = out->connect.protocol_level;
	}
	if (version == MQTT_V5 && hlen - 1 != mqtt_vbi_len(rem))
		return MALFORMED("remaining length not in its shortest form"); /* MQTT-1.5.5-1 */

	switch (type) {
	case MQTT_CONNECT:
		break;
	case MQTT_CONNACK:
		rc = decode_connack(&r, version, out);
		break;
	case MQTT_PUBLISH:
		rc = decode_publish(&r, version, out);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		rc = decode_ack(&r, version, out);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		rc = decode_subscribe(&r, version, out);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		rc = decode_suback(&r, version, out);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	case MQTT_AUTH:
		if (version < MQTT_V5)
			return MALFORMED("AUTH before MQTT 5"); /* type 15 is reserved in 3.1.1 */
		                                                /* fall through */
	case MQTT_DISCONNECT:
		rc = decode_disconnect(&r, version, out);
		break;
	}
	if (rc)
		return rc;
	if (rd_left(&r))
		return MALFORMED("unexpected bytes at the end of the packet");
	return 0;
}

/* ---- Iterators ---- */

void
mqtt_iter_init(struct mqtt_iter *it, struct mqtt_str view, int version)
{
	it->p = view.p;
	it->end = view.p ? view.p + view.len : view.p;
	it->version = version;
}

int
mqtt_sub_next(struct mqtt_iter *it, struct mqtt_sub_entry *e)
{
	struct rd r = {it->p, it->end};
	uint8_t o;

	if (it->p == NULL || rd_bin(&r, &e->filter) || rd_u8(&r, &o))
		return 0;
	it->p = r.p;
	e->qos = o & 3;
	e->no_local = it->version == MQTT_V5 ? (o >> 2) & 1 : 0;
	e->retain_as_published = it->version == MQTT_V5 ? (o >> 3) & 1 : 0;
	e->retain_handling = it->version == MQTT_V5 ? (o >> 4) & 3 : 0;
	return 1;
}

int
mqtt_unsub_next(struct mqtt_iter *it, struct mqtt_str *filter)
{
	struct rd r = {it->p, it->end};

	if (it->p == NULL || rd_bin(&r, filter))
		return 0;
	it->p = r.p;
	return 1;
}

/* Step over one property at *pp (see rd_prop); returns its id, or -1 at the end or on
 * garbage. */
static int
prop_skip(const uint8_t **pp, const uint8_t *end, struct mqtt_str *a, struct mqtt_str *b,
          uint32_t *v)
{
	struct rd r = {*pp, end};
	unsigned id;

	if (*pp == NULL || rd_prop(&r, &id, a, b, v))
		return -1;
	*pp = r.p;
	return (int)id;
}

/* Advance it to the next property `want`; 1 when found. Cost: O(block) over the whole walk. */
static int
prop_find(struct mqtt_iter *it, int want, struct mqtt_str *a, struct mqtt_str *b, uint32_t *v)
{
	int id;

	while ((id = prop_skip(&it->p, it->end, a, b, v)) >= 0)
		if (id == want)
			return 1;
	it->p = it->end;
	return 0;
}

int
mqtt_user_prop_next(struct mqtt_iter *it, struct mqtt_user_prop *up)
{
	uint32_t v;

	return prop_find(it, MQTT_PROP_USER_PROPERTY, &up->key, &up->value, &v);
}

int
mqtt_sub_id_next(struct mqtt_iter *it, uint32_t *sid)
{
	struct mqtt_str a, b;

	return prop_find(it, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &a, &b, sid);
}

/* ---- Encoding ---- */

/* Output cursor. Every encoder runs its body twice: once with p NULL to count (and validate),
 * then, once the size is known to fit, to write without further bounds checks. */
struct wr {
	uint8_t *p;
	size_t n;
	int err;
};

static inline void
w_u8(struct wr *w, uint8_t v)
{
	if (w->p)
		w->p[w->n] = v;
	w->n++;
}

/* n-byte big-endian integer (2 or 4). */
static inline void
w_be(struct wr *w, uint32_t v, unsigned n)
{
	while (n--)
		w_u8(w, (uint8_t)(v >> (8 * n)));
}

#define w_u16(w, v) w_be((w), (v), 2)
#define w_u32(w, v) w_be((w), (v), 4)

static void
w_vbi(struct wr *w, uint32_t v)
{
	if (v > MQTT_MAX_REMAINING_LEN) {
		w->err = -EINVAL;
		return;
	}
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		w_u8(w, v ? b | 0x80 : b);
	} while (v);
}

static inline void
w_bytes(struct wr *w, const uint8_t *p, size_t n)
{
	if (n && p == NULL) {
		w->err = -EINVAL;
		return;
	}
	if (n && w->p)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

/* Two-byte length then the bytes (UTF-8 strings and binary data alike). */
static void
w_str(struct wr *w, struct mqtt_str s)
{
	if (s.len > 65535) {
		w->err = -EINVAL;
		return;
	}
	w_u16(w, (uint16_t)s.len);
	w_bytes(w, s.p, s.len);
}

static void
w_prop_value(struct wr *w, const struct mqtt_props *pr, unsigned id)
{
	const struct mqtt_prop_info *pi = &mqtt_prop_table[id];
	const char *field = (const char *)pr + pi->off;

	w_u8(w, (uint8_t)id);
	switch (pi->type) {
	case MQTT_PT_BYTE:
		w_u8(w, *(const uint8_t *)field);
		break;
	case MQTT_PT_U16: {
		uint16_t x;
		memcpy(&x, field, sizeof(x));
		w_u16(w, x);
		break;
	}
	case MQTT_PT_U32: {
		uint32_t x;
		memcpy(&x, field, sizeof(x));
		w_u32(w, x);
		break;
	}
	default: {
		struct mqtt_str s;
		memcpy(&s, field, sizeof(s));
		w_str(w, s);
		break;
	}
	}
}

static void
w_sub_id(struct wr *w, uint32_t v)
{
	if (v == 0)
		w->err = -EINVAL;
	w_u8(w, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
	w_vbi(w, v);
}

static void
w_user_prop(struct wr *w, struct mqtt_str k, struct mqtt_str v)
{
	w_u8(w, MQTT_PROP_USER_PROPERTY);
	w_str(w, k);
	w_str(w, v);
}

/* The properties of *pr allowed in packet type `ptype`, without the length prefix. When a
 * received block is attached (raw), its order is followed (values still come from the struct),
 * so a forwarded packet keeps the sender's order and a round trip is byte-identical; whatever
 * raw lacks follows in identifier order. Cost: one pass over raw plus one per property. */
static void
w_props_body(struct wr *w, const struct mqtt_props *pr, unsigned ptype)
{
	uint64_t todo = pr->present;
	const int sub_ok =
	        (mqtt_prop_table[MQTT_PROP_SUBSCRIPTION_IDENTIFIER].allowed >> ptype) & 1;
	const int sub_raw = pr->sub_id_array == NULL && pr->sub_id_count > 1;
	const int sub_one = pr->sub_id_array == NULL && pr->sub_id_count == 1;
	uint32_t users = 0, subs = 0;

	if (pr->raw.len) {
		const uint8_t *q = pr->raw.p, *end = pr->raw.p + pr->raw.len;
		struct mqtt_str a, b;
		uint32_t v;
		int id;
		while ((id = prop_skip(&q, end, &a, &b, &v)) >= 0) {
			if (id == MQTT_PROP_USER_PROPERTY) {
				if (pr->user_array == NULL && users < pr->user_count) {
					w_user_prop(w, a, b);
					users++;
				}
			} else if (id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER) {
				if (sub_ok && subs < pr->sub_id_count && (sub_raw || sub_one)) {
					w_sub_id(w, sub_one ? pr->sub_id : v);
					subs++;
				}
			} else if ((todo & MQTT_PROP_BIT(id)) &&
			           ((mqtt_prop_table[id].allowed >> ptype) & 1)) {
				w_prop_value(w, pr, (unsigned)id);
				todo &= ~MQTT_PROP_BIT(id);
			}
		}
	}
	while (todo) {
		unsigned id = (unsigned)__builtin_ctzll(todo);
		todo &= todo - 1;
		if (mqtt_prop_table[id].type != MQTT_PT_NONE && id != MQTT_PROP_USER_PROPERTY &&
		    id != MQTT_PROP_SUBSCRIPTION_IDENTIFIER &&
		    ((mqtt_prop_table[id].allowed >> ptype) & 1))
			w_prop_value(w, pr, id);
	}
	if (sub_ok && pr->sub_id_array) {
		for (uint32_t i = 0; i < pr->sub_id_count; i++)
			w_sub_id(w, pr->sub_id_array[i]);
	} else if (sub_ok && sub_one && subs == 0) {
		w_sub_id(w, pr->sub_id);
	}
	if (pr->user_array)
		for (uint32_t i = 0; i < pr->user_count; i++)
			w_user_prop(w, pr->user_array[i].key, pr->user_array[i].value);
}

/* Length-prefixed property block; NULL props is an empty block. */
static void
w_props(struct wr *w, const struct mqtt_props *pr, unsigned ptype)
{
	/* The common case on the hot path: nothing to say. */
	if (pr == NULL || (pr->present == 0 && pr->user_count == 0 && pr->sub_id_count == 0)) {
		w_u8(w, 0);
		return;
	}
	struct wr c = {NULL, 0, 0};
	w_props_body(&c, pr, ptype);
	if (c.err || c.n > MQTT_MAX_REMAINING_LEN) {
		w->err = c.err ? c.err : -EINVAL;
		return;
	}
	w_vbi(w, (uint32_t)c.n);
	if (w->p)
		w_props_body(w, pr, ptype);
	else
		w->n += c.n;
}

ssize_t
mqtt_props_len(const struct mqtt_props *props, enum mqtt_type type)
{
	struct wr c = {NULL, 0, 0};

	if ((unsigned)type > 15)
		return -EINVAL;
	w_props(&c, props, type);
	return c.err ? c.err : (ssize_t)c.n;
}

static void
connect_body(struct wr *w, const struct mqtt_connect *c, int level)
{
	if ((level != MQTT_V31 && level != MQTT_V311 && level != MQTT_V5) || c->will_qos > 2 ||
	    (level < MQTT_V5 && c->password_flag && !c->username_flag) ||
	    (c->bridge && level == MQTT_V5) || (c->will_flag && c->will_topic.len == 0) ||
	    (!c->will_flag && (c->will_qos || c->will_retain))) {
		w->err = -EINVAL;
		return;
	}
	/* 3.1 needs 1..23 characters (3.1 spec 3.1); 3.1.1 an id whenever the session persists
	 * (MQTT-3.1.3-7). */
	if (c->client_id.len == 0 &&
	    (level == MQTT_V31 || (level == MQTT_V311 && !c->clean_start))) {
		w->err = -EINVAL;
		return;
	}
	static const struct mqtt_str mqisdp = {(const uint8_t *)"MQIsdp", 6};
	static const struct mqtt_str mqtt = {(const uint8_t *)"MQTT", 4};
	w_str(w, level == MQTT_V31 ? mqisdp : mqtt);
	w_u8(w, (uint8_t)(level | (c->bridge ? 0x80 : 0)));
	w_u8(w, (uint8_t)((c->username_flag ? 0x80 : 0) | (c->password_flag ? 0x40 : 0) |
	                  (c->will_retain ? 0x20 : 0) | (c->will_qos << 3) |
	                  (c->will_flag ? 0x04 : 0) | (c->clean_start ? 0x02 : 0)));
	w_u16(w, c->keep_alive);
	if (level == MQTT_V5)
		w_props(w, &c->props, MQTT_CONNECT);
	w_str(w, c->client_id);
	if (c->will_flag) {
		if (level == MQTT_V5)
			w_props(w, &c->will_props, MQTT_PROPS_WILL);
		w_str(w, c->will_topic);
		w_str(w, c->will_payload);
	}
	if (c->username_flag)
		w_str(w, c->username);
	if (c->password_flag)
		w_str(w, c->password);
}

static void
connack_body(struct wr *w, uint8_t session_present, uint8_t reason, const struct mqtt_props *props,
             int version)
{
	w_u8(w, session_present ? 1 : 0);
	w_u8(w, reason);
	if (version == MQTT_V5)
		w_props(w, props, MQTT_CONNACK);
}

static int
publish_invalid(const struct mqtt_publish *p, int version)
{
	if (p->qos > 2 || (p->qos == 0 && p->dup) || (p->qos && p->packet_id == 0))
		return 1;
	return p->topic.len == 0 &&
	       !(version == MQTT_V5 && MQTT_PROP_HAS(&p->props, MQTT_PROP_TOPIC_ALIAS));
}

static void
publish_body(struct wr *w, const struct mqtt_publish *p, int version, int with_payload)
{
	if (publish_invalid(p, version)) {
		w->err = -EINVAL;
		return;
	}
	w_str(w, p->topic);
	if (p->qos)
		w_u16(w, p->packet_id);
	if (version == MQTT_V5)
		w_props(w, &p->props, MQTT_PUBLISH);
	if (with_payload)
		w_bytes(w, p->payload.p, p->payload.len);
}

static void
ack_body(struct wr *w, unsigned type, uint16_t packet_id, uint8_t reason,
         const struct mqtt_props *props, int version)
{
	if (packet_id == 0)
		w->err = -EINVAL;
	w_u16(w, packet_id);
	if (version < MQTT_V5)
		return;
	/* Shortest form when there is nothing to say (spec 3.4.2.1). */
	if (reason == 0) {
		struct wr c = {NULL, 0, 0};
		if (props)
			w_props_body(&c, props, type);
		if (c.n == 0)
			return;
	}
	w_u8(w, reason);
	w_props(w, props, type);
}

static void
sub_entries(struct wr *w, const struct mqtt_subscribe *s, int version)
{
	for (uint32_t i = 0; i < s->count; i++) {
		const struct mqtt_sub_entry *e = &s->entries[i];
		if (e->filter.len == 0 || e->qos > 2 || e->retain_handling > 2)
			w->err = -EINVAL;
		w_str(w, e->filter);
		uint8_t o = e->qos;
		if (version == MQTT_V5)
			o |= (uint8_t)((e->no_local ? 0x04 : 0) |
			               (e->retain_as_published ? 0x08 : 0) |
			               (e->retain_handling << 4));
		w_u8(w, o);
	}
}

/* SUBSCRIBE or UNSUBSCRIBE: their layouts differ only in the payload entries. */
static void
subscribe_body(struct wr *w, const struct mqtt_packet *p, int version)
{
	const int sub = p->type == MQTT_SUBSCRIBE;
	const uint16_t pid = sub ? p->subscribe.packet_id : p->unsubscribe.packet_id;
	const struct mqtt_str list = sub ? p->subscribe.list : p->unsubscribe.list;
	const uint32_t count = sub ? p->subscribe.count : p->unsubscribe.count;

	if (pid == 0)
		w->err = -EINVAL;
	w_u16(w, pid);
	if (version == MQTT_V5)
		w_props(w, sub ? &p->subscribe.props : &p->unsubscribe.props, p->type);
	if (sub && p->subscribe.entries) {
		sub_entries(w, &p->subscribe, version);
	} else if (!sub && p->unsubscribe.filters) {
		for (uint32_t i = 0; i < count; i++) {
			if (p->unsubscribe.filters[i].len == 0)
				w->err = -EINVAL;
			w_str(w, p->unsubscribe.filters[i]);
		}
	} else {
		w_bytes(w, list.p, list.len);
	}
	if ((sub ? p->subscribe.entries != NULL : p->unsubscribe.filters != NULL) ? count == 0
	                                                                          : list.len == 0)
		w->err = -EINVAL; /* at least one filter: MQTT-3.8.3-3, MQTT-3.10.3-2 */
}

static void
suback_body(struct wr *w, unsigned type, uint16_t packet_id, const uint8_t *reasons, uint32_t n,
            const struct mqtt_props *props, int version)
{
	if (packet_id == 0)
		w->err = -EINVAL;
	w_u16(w, packet_id);
	if (version == MQTT_V5)
		w_props(w, props, type);
	if (type == MQTT_UNSUBACK && version < MQTT_V5)
		return;
	if (n == 0)
		w->err = -EINVAL;
	w_bytes(w, reasons, n);
}

static void
disconnect_body(struct wr *w, unsigned type, uint8_t reason, const struct mqtt_props *props,
                int version)
{
	if (version < MQTT_V5) {
		if (type == MQTT_AUTH)
			w->err = -EINVAL;
		return;
	}
	/* Always the reason and a property length, as mosquitto and mqtt-packet write it. */
	w_u8(w, reason);
	w_props(w, props, type);
}

static void
packet_body(struct wr *w, const struct mqtt_packet *p, int version)
{
	switch (p->type) {
	case MQTT_CONNECT:
		connect_body(w, &p->connect, version);
		break;
	case MQTT_CONNACK:
		connack_body(w, p->connack.session_present, p->connack.reason, &p->connack.props,
		             version);
		break;
	case MQTT_PUBLISH:
		publish_body(w, &p->publish, version, 1);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		ack_body(w, p->type, p->ack.packet_id, p->ack.reason, &p->ack.props, version);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		subscribe_body(w, p, version);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		suback_body(w, p->type, p->suback.packet_id, p->suback.reasons.p,
		            p->suback.reasons.len, &p->suback.props, version);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		disconnect_body(w, p->type, p->disconnect.reason, &p->disconnect.props, version);
		break;
	default:
		w->err = -EINVAL;
	}
}

static uint8_t
publish_b0(const struct mqtt_publish *p)
{
	return (uint8_t)(MQTT_PUBLISH << 4 | (p->dup ? 8 : 0) | (p->qos & 3) << 1 |
	                 (p->retain ? 1 : 0));
}

/* Check the counted body and write the fixed header; `extra` counts bytes sent after the
 * buffer (a PUBLISH payload sent by reference). Returns the header length or -errno. */
static ssize_t
frame_header(const struct wr *c, uint8_t b0, size_t extra, uint8_t *buf, size_t cap)
{
	if (c->err)
		return c->err;
	if (c->n + extra > MQTT_MAX_REMAINING_LEN)
		return -EINVAL;
	uint32_t rem = (uint32_t)(c->n + extra);
	unsigned vl = mqtt_vbi_len(rem);
	if (buf == NULL || 1 + vl + c->n > cap)
		return -ENOSPC;
	struct wr w = {buf, 0, 0};
	w_u8(&w, b0);
	w_vbi(&w, rem);
	return (ssize_t)w.n;
}

/* Count BODY (an expression writing through `w`), frame it, then write it for real. */
#define ENCODE_FRAMED(b0, extra, BODY)                                                             \
	do {                                                                                       \
		struct wr w = {NULL, 0, 0};                                                        \
		BODY;                                                                              \
		ssize_t h_ = frame_header(&w, (b0), (extra), buf, cap);                            \
		if (h_ < 0)                                                                        \
			return h_;                                                                 \
		w = (struct wr){buf + h_, 0, 0};                                                   \
		BODY;                                                                              \
		return h_ + (ssize_t)w.n;                                                          \
	} while (0)

static int
version_ok(int version)
{
	return version == MQTT_V31 || version == MQTT_V311 || version == MQTT_V5;
}

/* Fixed-header first byte of *p under `version`, or -EINVAL. */
static int
packet_b0(const struct mqtt_packet *p, int *version)
{
	if (p->type == MQTT_CONNECT && p->connect.protocol_level)
		*version = p->connect.protocol_level;
	if (p->type < MQTT_CONNECT || p->type > MQTT_AUTH || !version_ok(*version) ||
	    (p->type == MQTT_AUTH && *version < MQTT_V5))
		return -EINVAL;
	if (p->type == MQTT_PUBLISH)
		return publish_b0(&p->publish);
	return p->type << 4 | fixed_flags[p->type];
}

ssize_t
mqtt_encoded_len(const struct mqtt_packet *p, int version)
{
	struct wr c = {NULL, 0, 0};
	int b0 = packet_b0(p, &version);

	if (b0 < 0)
		return b0;
	packet_body(&c, p, version);
	if (c.err)
		return c.err;
	if (c.n > MQTT_MAX_REMAINING_LEN)
		return -EINVAL;
	return (ssize_t)(1 + mqtt_vbi_len((uint32_t)c.n) + c.n);
}

ssize_t
mqtt_encode(const struct mqtt_packet *p, int version, uint8_t *buf, size_t cap)
{
	int b0 = packet_b0(p, &version);

	if (b0 < 0)
		return b0;
	ENCODE_FRAMED((uint8_t)b0, 0, packet_body(&w, p, version));
}

ssize_t
mqtt_encode_publish_header(const struct mqtt_publish *pub, int version, uint8_t *buf, size_t cap)
{
	if (!version_ok(version))
		return -EINVAL;
	ENCODE_FRAMED(publish_b0(pub), pub->payload.len, publish_body(&w, pub, version, 0));
}

ssize_t
mqtt_encode_ack(enum mqtt_type type, uint16_t packet_id, uint8_t reason,
                const struct mqtt_props *props, int version, uint8_t *buf, size_t cap)
{
	if (!version_ok(version) || type < MQTT_PUBACK || type > MQTT_PUBCOMP)
		return -EINVAL;
	ENCODE_FRAMED((uint8_t)(type << 4 | fixed_flags[type]), 0,
	              ack_body(&w, type, packet_id, reason, props, version));
}

ssize_t
mqtt_encode_connack(uint8_t session_present, uint8_t reason, const struct mqtt_props *props,
                    int version, uint8_t *buf, size_t cap)
{
	if (!version_ok(version))
		return -EINVAL;
	ENCODE_FRAMED(MQTT_CONNACK << 4, 0,
	              connack_body(&w, session_present, reason, props, version));
}

ssize_t
mqtt_encode_suback(enum mqtt_type type, uint16_t packet_id, const uint8_t *reasons, uint32_t n,
                   const struct mqtt_props *props, int version, uint8_t *buf, size_t cap)
{
	if (!version_ok(version) || (type != MQTT_SUBACK && type != MQTT_UNSUBACK))
		return -EINVAL;
	ENCODE_FRAMED((uint8_t)(type << 4), 0,
	              suback_body(&w, type, packet_id, reasons, n, props, version));
}

ssize_t
mqtt_encode_disconnect(enum mqtt_type type, uint8_t reason, const struct mqtt_props *props,
                       int version, uint8_t *buf, size_t cap)
{
	if (!version_ok(version) || (type != MQTT_DISCONNECT && type != MQTT_AUTH))
		return -EINVAL;
	ENCODE_FRAMED((uint8_t)(type << 4), 0, disconnect_body(&w, type, reason, props, version));
}

ssize_t
mqtt_encode_ping(enum mqtt_type type, uint8_t *buf, size_t cap)
{
	if (type != MQTT_PINGREQ && type != MQTT_PINGRESP)
		return -EINVAL;
	if (buf == NULL || cap < 2)
		return -ENOSPC;
	buf[0] = (uint8_t)(type << 4);
	buf[1] = 0;
	return 2;
}

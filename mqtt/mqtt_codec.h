/* SPDX-License-Identifier: Apache-2.0
 * mqtt_codec: MQTT 3.1 (protocol level 3), 3.1.1 (4) and 5.0 (5) packets to and from bytes.
 *
 * Pure functions: no allocation, no global mutable state, no I/O, no clock. Decoding never copies:
 * every string, binary field, payload, property block and topic list in a decoded packet is a view
 * (struct mqtt_str) into the caller's input buffer, valid only while that buffer is.
 *
 * Streaming use (one connection):
 *   1. mqtt_fixed_header() on the bytes accumulated so far: -EAGAIN means "need more bytes" (any
 *      split of the input works, even one byte at a time); on 0 the packet is hdr_len +
 *      remaining_len bytes long. Compare that with the maximum packet size before buffering it
 *      (v5: reason MQTT_RC_PACKET_TOO_LARGE).
 *   2. once that many bytes are contiguous, mqtt_decode() them.
 *
 * Return contract: 0 (or a byte count) on success, -errno on failure. Decode errors:
 *   -EAGAIN   mqtt_fixed_header() only: the fixed header is not complete yet.
 *   -EPROTO   Malformed Packet (v5 reason 0x81): bad lengths, reserved bits or flags, QoS 3,
 *             a bad variable byte integer, AUTH before v5, bytes left over.
 *   -EILSEQ   Malformed Packet (0x81) because a UTF-8 string is ill-formed (MQTT-1.5.4-1/2).
 *   -EBADMSG  Protocol Error: well-formed bytes that break a rule (duplicate property,
 *             property not allowed in this packet, packet id 0, no topic filter, wildcard in a
 *             PUBLISH topic, unknown protocol name, ...). The reason says which (0x82, 0x8F,
 *             0x90, 0x94).
 *   -EPROTONOSUPPORT  CONNECT with a known protocol name but an unsupported level for it
 *             (v5 0x84; 3.1.1 CONNACK return code 1).
 *   -EINVAL   bad arguments (version not 3/4/5 for a non-CONNECT packet, NULL pointer).
 * mqtt_decode() also stores the v5 reason code the broker should send in out->err_reason and a
 * static description in out->err_msg (never freed; for logs and tests).
 * Encoders return the byte count, -ENOSPC when cap is too small (nothing useful is written), or
 * -EINVAL when the packet cannot be encoded (QoS 3, length over 268,435,455, packet id 0 where
 * one is required, field over 65,535 bytes, ...).
 *
 * Versions: int version is MQTT_V31 (3), MQTT_V311 (4) or MQTT_V5 (5). Properties, reason codes in
 * acks, AUTH and subscription options beyond QoS exist only with MQTT_V5; encoders ignore them
 * for 3 and 4.
 */
#ifndef MQTT_CODEC_H
#define MQTT_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Protocol levels as carried in CONNECT. */
enum {
	MQTT_V31 = 3,
	MQTT_V311 = 4,
	MQTT_V5 = 5,
};

/* Largest Remaining Length (4-byte variable byte integer), and thus largest packet body. */
#define MQTT_MAX_REMAINING_LEN 268435455u
/* Largest fixed header: 1 type byte + 4 length bytes. */
#define MQTT_MAX_FIXED_HEADER 5

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15, /* v5 only */
};

/* MQTT 5.0 reason codes (spec 2.4). Some values have several names depending on the packet. */
enum mqtt_reason {
	MQTT_RC_SUCCESS = 0x00, /* also Normal disconnection, Granted QoS 0 */
	MQTT_RC_NORMAL_DISCONNECTION = 0x00,
	MQTT_RC_GRANTED_QOS_0 = 0x00,
	MQTT_RC_GRANTED_QOS_1 = 0x01,
	MQTT_RC_GRANTED_QOS_2 = 0x02,
	MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQTT_RC_CONTINUE_AUTHENTICATION = 0x18,
	MQTT_RC_REAUTHENTICATE = 0x19,
	MQTT_RC_UNSPECIFIED_ERROR = 0x80,
	MQTT_RC_MALFORMED_PACKET = 0x81,
	MQTT_RC_PROTOCOL_ERROR = 0x82,
	MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
	MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
	MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID = 0x85,
	MQTT_RC_BAD_USER_NAME_OR_PASSWORD = 0x86,
	MQTT_RC_NOT_AUTHORIZED = 0x87,
	MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	MQTT_RC_SERVER_BUSY = 0x89,
	MQTT_RC_BANNED = 0x8A,
	MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
	MQTT_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
	MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
	MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
	MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
	MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	MQTT_RC_PACKET_IDENTIFIER_IN_USE = 0x91,
	MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND = 0x92,
	MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
	MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	MQTT_RC_PACKET_TOO_LARGE = 0x95,
	MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	MQTT_RC_QUOTA_EXCEEDED = 0x97,
	MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
	MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
	MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
	MQTT_RC_SERVER_MOVED = 0x9D,
	MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E,
	MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	MQTT_RC_MAXIMUM_CONNECT_TIME = 0xA0,
	MQTT_RC_SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1,
	MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1 / 3.1.1 CONNACK return codes, and the 3.1.1 SUBACK failure code. */
enum mqtt_connack_v3 {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_UNACCEPTABLE_PROTOCOL = 1,
	MQTT_CONNACK_IDENTIFIER_REJECTED = 2,
	MQTT_CONNACK_SERVER_UNAVAILABLE = 3,
	MQTT_CONNACK_BAD_USERNAME_PASSWORD = 4,
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};
#define MQTT_SUBACK_FAILURE 0x80

/* MQTT 5.0 property identifiers (spec 2.2.2.2). All are below 64: see struct mqtt_props.present. */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT_INDICATOR = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY_INTERVAL = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_IDENTIFIER = 0x0B,
	MQTT_PROP_SESSION_EXPIRY_INTERVAL = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER = 0x12,
	MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
	MQTT_PROP_AUTHENTICATION_METHOD = 0x15,
	MQTT_PROP_AUTHENTICATION_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFORMATION = 0x17,
	MQTT_PROP_WILL_DELAY_INTERVAL = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFORMATION = 0x19,
	MQTT_PROP_RESPONSE_INFORMATION = 0x1A,
	MQTT_PROP_SERVER_REFERENCE = 0x1C,
	MQTT_PROP_REASON_STRING = 0x1F,
	MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAXIMUM_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER_PROPERTY = 0x26,
	MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28,
	MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE = 0x2A,
};

/* Bit of struct mqtt_props.present for property `id`. */
#define MQTT_PROP_BIT(id)        (UINT64_C(1) << (id))
#define MQTT_PROP_HAS(props, id) (((props)->present & MQTT_PROP_BIT(id)) != 0)

/* A UTF-8 string, binary data or byte range: a view, never owned. p may be NULL when len is 0. */
struct mqtt_str {
	const uint8_t *p;
	uint32_t len;
};

/* One user property (encode-side arrays; decoded ones are read with mqtt_user_prop_next()). */
struct mqtt_user_prop {
	struct mqtt_str key, value;
};

/* v5 properties of one packet (or of a CONNECT's will). Decoding fills every field whose bit is
 * set in `present` and leaves the others zero. Encoding writes every property whose bit is set
 * and that the packet type allows (others are silently left out, so will properties can be
 * copied into a PUBLISH): when `raw` is set, in the order they appear in raw (a forwarded packet
 * keeps the sender's order, a decode/encode round trip is byte-identical), the rest in
 * identifier order, then subscription identifiers and user properties from their arrays.
 * User property (0x26) and subscription identifier (0x0B) may repeat and have counts instead of
 * presence bits (their bits are never set in `present`). */
struct mqtt_props {
	uint64_t present; /* MQTT_PROP_BIT(id) for each single-valued property present */

	/* Byte properties. */
	uint8_t payload_format_indicator;     /* 0 unspecified bytes, 1 UTF-8 */
	uint8_t request_problem_information;  /* 0/1 */
	uint8_t request_response_information; /* 0/1 */
	uint8_t maximum_qos;                  /* 0/1 */
	uint8_t retain_available;             /* 0/1 */
	uint8_t wildcard_subscription_available;
	uint8_t subscription_identifier_available;
	uint8_t shared_subscription_available;
	/* Two-byte integers. */
	uint16_t server_keep_alive;
	uint16_t receive_maximum; /* 0 is a protocol error (rejected by decode) */
	uint16_t topic_alias_maximum;
	uint16_t topic_alias; /* 0 is a protocol error (reason 0x94) */
	/* Four-byte integers. */
	uint32_t message_expiry_interval;
	uint32_t session_expiry_interval;
	uint32_t will_delay_interval;
	uint32_t maximum_packet_size; /* 0 is a protocol error (rejected by decode) */
	/* UTF-8 strings and binary data. */
	struct mqtt_str content_type;
	struct mqtt_str response_topic; /* decode rejects wildcards in it (reason 0x82) */
	struct mqtt_str correlation_data;
	struct mqtt_str assigned_client_identifier;
	struct mqtt_str authentication_method;
	struct mqtt_str authentication_data;
	struct mqtt_str response_information;
	struct mqtt_str server_reference;
	struct mqtt_str reason_string;

	/* Subscription identifiers (1..268,435,455), in wire order. Decode: sub_id_count of them,
	 * the first in sub_id, all via mqtt_sub_id_next(). Encode: sub_id_array[0..sub_id_count)
	 * when sub_id_array is set; otherwise sub_id when sub_id_count is 1, otherwise the
	 * sub_id_count identifiers found in `raw`. */
	uint32_t sub_id_count;
	uint32_t sub_id;
	const uint32_t *sub_id_array;

	/* User properties, order preserved. Decode: user_count of them in `raw`, read with
	 * mqtt_user_prop_next(). Encode: user_array[0..user_count) when user_array is set,
	 * otherwise the user_count user properties found in `raw` (so a broker forwards a
	 * PUBLISH's user properties by copying its props and editing `present`). */
	uint32_t user_count;
	const struct mqtt_user_prop *user_array;

	/* Decode: the whole property block as received (after its length). Encode: read only, as
	 * the order to follow and the source of user properties / subscription identifiers
	 * described above; clear it ({NULL, 0}) to encode from the fields alone. */
	struct mqtt_str raw;
};

/* CONNECT (spec 3.1). For 3.1 the protocol name is "MQIsdp", for 3.1.1 and 5.0 "MQTT". */
struct mqtt_connect {
	uint8_t protocol_level; /* 3, 4 or 5: the connection's version from now on */
	uint8_t bridge;         /* level had 0x80 set (mosquitto bridge extension; 3/4 only) */
	uint8_t clean_start;    /* Clean Session in 3.x */
	uint8_t will_flag;
	uint8_t will_qos;
	uint8_t will_retain;
	uint8_t username_flag; /* username present (may be empty) */
	uint8_t password_flag; /* password present (may be empty) */
	uint16_t keep_alive;
	struct mqtt_str protocol_name; /* decode only; encode derives it from protocol_level */
	struct mqtt_props props;
	struct mqtt_str client_id;    /* may be empty */
	struct mqtt_props will_props; /* v5, when will_flag */
	struct mqtt_str will_topic;   /* when will_flag */
	struct mqtt_str will_payload; /* when will_flag (binary, may be empty) */
	struct mqtt_str username;     /* when username_flag */
	struct mqtt_str password;     /* when password_flag (binary) */
};

/* CONNACK: `reason` is the v5 reason code or the 3.x return code (enum mqtt_connack_v3). */
struct mqtt_connack {
	uint8_t session_present;
	uint8_t reason;
	struct mqtt_props props;
};

struct mqtt_publish {
	uint8_t qos; /* 0..2 */
	uint8_t dup;
	uint8_t retain;
	uint16_t packet_id;    /* QoS 1/2 only, never 0 */
	struct mqtt_str topic; /* v5: may be empty when props carry a topic alias */
	struct mqtt_props props;
	struct mqtt_str payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. v5: reason MQTT_RC_SUCCESS and no properties encode to the
 * short 2-byte form. */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t reason;
	struct mqtt_props props;
};

/* One SUBSCRIBE entry: the filter and its options byte split into fields. */
struct mqtt_sub_entry {
	struct mqtt_str filter;
	uint8_t qos;                 /* maximum QoS 0..2 */
	uint8_t no_local;            /* v5 */
	uint8_t retain_as_published; /* v5 */
	uint8_t retain_handling;     /* v5: 0..2 */
};

/* SUBSCRIBE. Decode: `list` is the payload (filter, options)* as received, `count` its entries,
 * read with mqtt_sub_next(). Encode: entries[0..count) when entries is set, else `list` copied
 * verbatim. */
struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_props props;
	struct mqtt_str list;
	uint32_t count;
	const struct mqtt_sub_entry *entries;
};

/* UNSUBSCRIBE. Decode: `list` holds `count` length-prefixed filters, read with
 * mqtt_unsub_next(). Encode: filters[0..count) when filters is set, else `list` verbatim. */
struct mqtt_unsubscribe {
	uint16_t packet_id;
	struct mqtt_props props;
	struct mqtt_str list;
	uint32_t count;
	const struct mqtt_str *filters;
};

/* SUBACK and UNSUBACK: one reason byte per filter of the request, in order (`reasons.len` of
 * them). 3.1.1 UNSUBACK has none (reasons.len 0); 3.1.1 SUBACK codes are 0, 1, 2 or 0x80. */
struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_props props;
	struct mqtt_str reasons;
};

/* DISCONNECT and AUTH (v5 fields; a 3.x DISCONNECT has none: reason 0, no properties). */
struct mqtt_disconnect {
	uint8_t reason;
	struct mqtt_props props;
};

struct mqtt_packet {
	uint8_t type;        /* enum mqtt_type */
	uint8_t flags;       /* decode: fixed-header low nibble; encode: ignored (derived) */
	uint8_t err_reason;  /* decode failure: v5 reason code the broker should send */
	const char *err_msg; /* decode failure: static description */
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack; /* PUBACK, PUBREC, PUBREL, PUBCOMP */
		struct mqtt_subscribe subscribe;
		struct mqtt_suback suback; /* SUBACK, UNSUBACK */
		struct mqtt_unsubscribe unsubscribe;
		struct mqtt_disconnect disconnect; /* DISCONNECT, AUTH */
		struct mqtt_disconnect auth;
	};
};

/* ---- Framing ---- */

/* Parse the fixed header at buf[0..len). Returns -EAGAIN when len is too short to tell (then the
 * outputs are not written), -EPROTO when malformed (type 0, reserved flags wrong for the type,
 * PUBLISH QoS 3, remaining length over 4 bytes), else 0 with *type, *flags (low nibble),
 * *remaining_len and *hdr_len (2..5) set. Version independent: AUTH's version rule is checked by
 * mqtt_decode(). Cost: at most 5 bytes read. */
int mqtt_fixed_header(const uint8_t *buf, size_t len, uint8_t *type, uint8_t *flags,
                      uint32_t *remaining_len, uint32_t *hdr_len);

/* ---- Decoding ---- */

/* Decode exactly one complete packet buf[0..len) (len must equal hdr_len + remaining_len; extra
 * or missing bytes are -EPROTO). `version` is the connection's negotiated level; it is ignored
 * for CONNECT, whose protocol level decides (out->connect.protocol_level). Validates every rule
 * the specs make normative at the codec layer: fixed-header flags, QoS, packet ids, UTF-8
 * well-formedness (MQTT-1.5.4-1/2/3 and v5 1.5.4), property ids allowed per packet type and not
 * repeated, property value ranges, CONNECT flags and protocol name/level pairs, SUBSCRIBE option
 * reserved bits, non-empty filters and at least one per (UN)SUBSCRIBE, no wildcards in PUBLISH
 * topics, reason codes valid for the packet type. Does NOT check filter wildcard placement (use
 * mqtt_filter_valid() per entry: v5 answers a bad filter with SUBACK 0x8F), nor anything that
 * needs connection state or direction (topic alias range, receive maximum, packet sizes, a
 * subscription identifier in a client's PUBLISH, DISCONNECT session expiry after 0), nor client
 * identifier length/characters (the broker answers "identifier rejected"), nor a v5 payload
 * format indicator against the payload (MAY: mqtt_utf8_valid()). The shortest-form rule for
 * variable byte integers (MQTT-1.5.5-1) is a v5 rule: 3.x remaining lengths may be padded.
 * Returns 0 or a negative code as described at the top; on failure out->err_reason and
 * out->err_msg are set and the rest of *out is unspecified, except that out->type is set once
 * the fixed header parsed and, for CONNECT, out->connect.protocol_level once it was read (so a
 * broker answering -EPROTONOSUPPORT knows whether to use the 3.1.1 or the v5 CONNACK format).
 * Cost: one pass over the packet. */
int mqtt_decode(const uint8_t *buf, size_t len, int version, struct mqtt_packet *out);

/* Iterators over decoded views. Initialise with the view; each _next() returns 1 and fills the
 * output, or 0 at the end. They trust that the view was validated by mqtt_decode(). */
struct mqtt_iter {
	const uint8_t *p, *end;
	int version;
};
void mqtt_iter_init(struct mqtt_iter *it, struct mqtt_str view, int version);
/* it over subscribe.list */
int mqtt_sub_next(struct mqtt_iter *it, struct mqtt_sub_entry *e);
/* it over unsubscribe.list */
int mqtt_unsub_next(struct mqtt_iter *it, struct mqtt_str *filter);
/* it over props.raw: user properties only, in order */
int mqtt_user_prop_next(struct mqtt_iter *it, struct mqtt_user_prop *up);
/* it over props.raw: subscription identifiers only, in order */
int mqtt_sub_id_next(struct mqtt_iter *it, uint32_t *id);

/* ---- Validation helpers (also used by the broker) ---- */

/* 1 when p[0..len) is well-formed UTF-8 as MQTT requires: shortest form, no surrogates
 * (U+D800..U+DFFF), no U+0000, nothing above U+10FFFF. Control characters and non-characters
 * are allowed (the spec only says SHOULD NOT). Cost: O(len). */
int mqtt_utf8_valid(const uint8_t *p, size_t len);

/* 1 when `topic` is a valid PUBLISH topic name: 1..65535 bytes, valid UTF-8, no '+' or '#'.
 * Cost: O(len). */
int mqtt_topic_valid(struct mqtt_str topic);

/* 1 when `filter` is a valid topic filter: 1..65535 bytes, valid UTF-8, '+' occupies a whole
 * level, '#' a whole level and only the last one. A shared subscription "$share/{name}/{filter}"
 * needs a non-empty name without '+', '#' or '/', and a valid non-empty filter after it. Cost:
 * O(len). */
int mqtt_filter_valid(struct mqtt_str filter);

/* When `filter` is "$share/{name}/{f}": return 1 and set *name and *f. Otherwise 0. Does not
 * validate (call mqtt_filter_valid first). */
int mqtt_filter_shared(struct mqtt_str filter, struct mqtt_str *name, struct mqtt_str *f);

/* The 3.x CONNACK return code for a v5 CONNACK reason code: 0x00 -> 0, 0x84 -> 1, 0x85 -> 2,
 * 0x86 -> 4, 0x87/0x8A -> 5, anything else -> 3 (server unavailable). */
uint8_t mqtt_connack_v3_code(uint8_t v5_reason);

/* ---- Encoding ---- */

/* Bytes needed for a variable byte integer of value v (1..4), or 0 when v > 268,435,455. */
unsigned mqtt_vbi_len(uint32_t v);

/* Size of the encoded property block, including its own length prefix, for packet type `type`
 * (v5 only; callers of 3.x never need it). Properties not allowed in `type` are not counted or
 * written; type 0 means a CONNECT's will properties. Returns -EINVAL on an impossible value
 * (string over 65,535 bytes, subscription identifier 0 or over 268,435,455, ...). */
ssize_t mqtt_props_len(const struct mqtt_props *props, enum mqtt_type type);

/* Total wire size of *p under `version` (fixed header included), or -EINVAL. */
ssize_t mqtt_encoded_len(const struct mqtt_packet *p, int version);

/* Encode *p under `version` into buf[0..cap). Returns the length, -ENOSPC or -EINVAL. For
 * PUBLISH the flags come from publish.qos/dup/retain; other types use their fixed flags. For
 * CONNECT, connect.protocol_level (when set) overrides `version`. Encoders check structure
 * (lengths, QoS, packet ids, flag consistency, a 3.1 client id, a 3.1.1 empty client id only
 * with clean session) but do not re-validate UTF-8 or topic syntax: that is the caller's job
 * (mqtt_topic_valid(), mqtt_filter_valid()). */
ssize_t mqtt_encode(const struct mqtt_packet *p, int version, uint8_t *buf, size_t cap);

/* Hot-path helpers. Each writes one complete packet (or header) and returns its length,
 * -ENOSPC or -EINVAL. `props` may be NULL (no properties); it is ignored for version < 5. */

/* PUBLISH without its payload: fixed header (whose remaining length counts pub->payload.len),
 * topic, packet id (QoS > 0) and v5 properties. The caller sends the payload bytes right after,
 * by reference; pub->payload.p is not read. */
ssize_t mqtt_encode_publish_header(const struct mqtt_publish *pub, int version, uint8_t *buf,
                                   size_t cap);

/* PUBACK, PUBREC, PUBREL, PUBCOMP. v5 omits reason and properties when reason is 0 and props is
 * NULL or empty (2-byte body). */
ssize_t mqtt_encode_ack(enum mqtt_type type, uint16_t packet_id, uint8_t reason,
                        const struct mqtt_props *props, int version, uint8_t *buf, size_t cap);

/* CONNACK. `reason` is the v5 reason code for version 5, the 3.x return code otherwise. */
ssize_t mqtt_encode_connack(uint8_t session_present, uint8_t reason, const struct mqtt_props *props,
                            int version, uint8_t *buf, size_t cap);

/* SUBACK (type MQTT_SUBACK) or UNSUBACK (MQTT_UNSUBACK): one reason byte per filter,
 * reasons[0..n). 3.x UNSUBACK ignores the reasons (no payload). */
ssize_t mqtt_encode_suback(enum mqtt_type type, uint16_t packet_id, const uint8_t *reasons,
                           uint32_t n, const struct mqtt_props *props, int version, uint8_t *buf,
                           size_t cap);

/* DISCONNECT or AUTH (type MQTT_AUTH, v5 only). v5 always writes the reason byte and a property
 * length (as mosquitto and mqtt-packet do); 3.x DISCONNECT is the 2 bytes e0 00. */
ssize_t mqtt_encode_disconnect(enum mqtt_type type, uint8_t reason, const struct mqtt_props *props,
                               int version, uint8_t *buf, size_t cap);

/* PINGREQ (MQTT_PINGREQ) or PINGRESP (MQTT_PINGRESP): 2 bytes. */
ssize_t mqtt_encode_ping(enum mqtt_type type, uint8_t *buf, size_t cap);

#endif /* MQTT_CODEC_H */

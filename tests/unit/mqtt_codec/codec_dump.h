/* SPDX-License-Identifier: Apache-2.0
 * A canonical text form of a decoded struct mqtt_packet, shared by the codec unit tests, the
 * external-vector test (vectors_gen.py writes the expected side in the same form) and the fuzz
 * driver (decode, re-encode, decode again: both dumps must be equal).
 *
 * Format: space-separated key=value tokens; strings and binary data in lowercase hex; v5
 * properties as pXX=value in identifier order, then sid=[..] and up=[key:value,..] in wire order.
 */
#ifndef CODEC_DUMP_H
#define CODEC_DUMP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mqtt/mqtt_codec.h"

struct dump {
	char *p;
	size_t cap, n;
};

static inline void
dump_f(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(d->p + d->n, d->n < d->cap ? d->cap - d->n : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		d->n += (size_t)k;
	if (d->n >= d->cap)
		d->n = d->cap - 1;
}

static inline void
dump_hex(struct dump *d, struct mqtt_str s)
{
	for (uint32_t i = 0; i < s.len && d->n + 3 < d->cap; i++)
		dump_f(d, "%02x", s.p[i]);
}

static inline void
dump_kv_hex(struct dump *d, const char *k, struct mqtt_str s)
{
	dump_f(d, " %s=", k);
	dump_hex(d, s);
}

static inline void
dump_props(struct dump *d, const struct mqtt_props *pr)
{
	struct mqtt_iter it;
	dump_f(d, " props{");
	for (unsigned id = 1; id < 64; id++) {
		if (!(pr->present & MQTT_PROP_BIT(id)))
			continue;
		struct mqtt_str s = {NULL, 0};
		long v = -1;
		switch (id) {
		case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR:
			v = pr->payload_format_indicator;
			break;
		case MQTT_PROP_MESSAGE_EXPIRY_INTERVAL:
			v = pr->message_expiry_interval;
			break;
		case MQTT_PROP_CONTENT_TYPE:
			s = pr->content_type;
			break;
		case MQTT_PROP_RESPONSE_TOPIC:
			s = pr->response_topic;
			break;
		case MQTT_PROP_CORRELATION_DATA:
			s = pr->correlation_data;
			break;
		case MQTT_PROP_SESSION_EXPIRY_INTERVAL:
			v = pr->session_expiry_interval;
			break;
		case MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER:
			s = pr->assigned_client_identifier;
			break;
		case MQTT_PROP_SERVER_KEEP_ALIVE:
			v = pr->server_keep_alive;
			break;
		case MQTT_PROP_AUTHENTICATION_METHOD:
			s = pr->authentication_method;
			break;
		case MQTT_PROP_AUTHENTICATION_DATA:
			s = pr->authentication_data;
			break;
		case MQTT_PROP_REQUEST_PROBLEM_INFORMATION:
			v = pr->request_problem_information;
			break;
		case MQTT_PROP_WILL_DELAY_INTERVAL:
			v = pr->will_delay_interval;
			break;
		case MQTT_PROP_REQUEST_RESPONSE_INFORMATION:
			v = pr->request_response_information;
			break;
		case MQTT_PROP_RESPONSE_INFORMATION:
			s = pr->response_information;
			break;
		case MQTT_PROP_SERVER_REFERENCE:
			s = pr->server_reference;
			break;
		case MQTT_PROP_REASON_STRING:
			s = pr->reason_string;
			break;
		case MQTT_PROP_RECEIVE_MAXIMUM:
			v = pr->receive_maximum;
			break;
		case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
			v = pr->topic_alias_maximum;
			break;
		case MQTT_PROP_TOPIC_ALIAS:
			v = pr->topic_alias;
			break;
		case MQTT_PROP_MAXIMUM_QOS:
			v = pr->maximum_qos;
			break;
		case MQTT_PROP_RETAIN_AVAILABLE:
			v = pr->retain_available;
			break;
		case MQTT_PROP_MAXIMUM_PACKET_SIZE:
			v = pr->maximum_packet_size;
			break;
		case MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE:
			v = pr->wildcard_subscription_available;
			break;
		case MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE:
			v = pr->subscription_identifier_available;
			break;
		case MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE:
			v = pr->shared_subscription_available;
			break;
		default:
			dump_f(d, " p%02x=?", id);
			continue;
		}
		if (v >= 0) {
			dump_f(d, " p%02x=%ld", id, v);
		} else {
			dump_f(d, " p%02x=", id);
			dump_hex(d, s);
		}
	}
	if (pr->sub_id_count) {
		uint32_t sid;
		dump_f(d, " sid=[");
		/* The same sources, in the same precedence, as the encoder's. */
		if (pr->sub_id_array) {
			for (uint32_t i = 0; i < pr->sub_id_count; i++)
				dump_f(d, "%u,", pr->sub_id_array[i]);
		} else if (pr->sub_id_count == 1) {
			dump_f(d, "%u,", pr->sub_id);
		} else {
			mqtt_iter_init(&it, pr->raw, MQTT_V5);
			while (mqtt_sub_id_next(&it, &sid))
				dump_f(d, "%u,", sid);
		}
		dump_f(d, "]");
	}
	if (pr->user_count) {
		struct mqtt_user_prop up;
		dump_f(d, " up=[");
		if (pr->user_array) {
			for (uint32_t i = 0; i < pr->user_count; i++) {
				dump_hex(d, pr->user_array[i].key);
				dump_f(d, ":");
				dump_hex(d, pr->user_array[i].value);
				dump_f(d, ",");
			}
		} else {
			mqtt_iter_init(&it, pr->raw, MQTT_V5);
			while (mqtt_user_prop_next(&it, &up)) {
				dump_hex(d, up.key);
				dump_f(d, ":");
				dump_hex(d, up.value);
				dump_f(d, ",");
			}
		}
		dump_f(d, "]");
	}
	dump_f(d, " }");
}

/* Writes the canonical form of *p (decoded under `version`) into buf; returns buf. */
static inline const char *
dump_packet(const struct mqtt_packet *p, int version, char *buf, size_t cap)
{
	struct dump d = {buf, cap, 0};
	struct mqtt_iter it;

	buf[0] = 0;
	dump_f(&d, "type=%u", p->type);
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->connect;
		dump_f(&d, " level=%u bridge=%u clean=%u keepalive=%u", c->protocol_level,
		       c->bridge, c->clean_start, c->keep_alive);
		dump_kv_hex(&d, "cid", c->client_id);
		if (c->will_flag) {
			dump_f(&d, " will qos=%u retain=%u", c->will_qos, c->will_retain);
			dump_kv_hex(&d, "topic", c->will_topic);
			dump_kv_hex(&d, "payload", c->will_payload);
			dump_props(&d, &c->will_props);
		}
		if (c->username_flag)
			dump_kv_hex(&d, "user", c->username);
		if (c->password_flag)
			dump_kv_hex(&d, "pass", c->password);
		dump_props(&d, &c->props);
		break;
	}
	case MQTT_CONNACK:
		dump_f(&d, " sp=%u rc=%u", p->connack.session_present, p->connack.reason);
		dump_props(&d, &p->connack.props);
		break;
	case MQTT_PUBLISH:
		dump_f(&d, " qos=%u dup=%u retain=%u pid=%u", p->publish.qos, p->publish.dup,
		       p->publish.retain, p->publish.packet_id);
		dump_kv_hex(&d, "topic", p->publish.topic);
		dump_kv_hex(&d, "payload", p->publish.payload);
		dump_props(&d, &p->publish.props);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		dump_f(&d, " pid=%u rc=%u", p->ack.packet_id, p->ack.reason);
		dump_props(&d, &p->ack.props);
		break;
	case MQTT_SUBSCRIBE: {
		struct mqtt_sub_entry e;
		dump_f(&d, " pid=%u subs=[", p->subscribe.packet_id);
		mqtt_iter_init(&it, p->subscribe.list, version);
		/* An encode-side packet lists its entries in an array instead. */
		for (uint32_t i = 0;
		     p->subscribe.entries ? i < p->subscribe.count : mqtt_sub_next(&it, &e); i++) {
			if (p->subscribe.entries)
				e = p->subscribe.entries[i];
			dump_hex(&d, e.filter);
			dump_f(&d, ":%u:%u:%u:%u,", e.qos, e.no_local, e.retain_as_published,
			       e.retain_handling);
		}
		dump_f(&d, "] n=%u", p->subscribe.count);
		dump_props(&d, &p->subscribe.props);
		break;
	}
	case MQTT_UNSUBSCRIBE: {
		struct mqtt_str f;
		dump_f(&d, " pid=%u unsubs=[", p->unsubscribe.packet_id);
		mqtt_iter_init(&it, p->unsubscribe.list, version);
		for (uint32_t i = 0;
		     p->unsubscribe.filters ? i < p->unsubscribe.count : mqtt_unsub_next(&it, &f);
		     i++) {
			if (p->unsubscribe.filters)
				f = p->unsubscribe.filters[i];
			dump_hex(&d, f);
			dump_f(&d, ",");
		}
		dump_f(&d, "] n=%u", p->unsubscribe.count);
		dump_props(&d, &p->unsubscribe.props);
		break;
	}
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		dump_f(&d, " pid=%u", p->suback.packet_id);
		dump_kv_hex(&d, "rcs", p->suback.reasons);
		dump_props(&d, &p->suback.props);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		dump_f(&d, " rc=%u", p->disconnect.reason);
		dump_props(&d, &p->disconnect.props);
		break;
	default:
		break;
	}
	return buf;
}

#endif /* CODEC_DUMP_H */

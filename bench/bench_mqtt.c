/* SPDX-License-Identifier: Apache-2.0
 * bench_mqtt: tachyon-bench's packets through the project codec (mqtt/mqtt_codec.h).
 */
#include "bench_mqtt.h"

#include <errno.h>
#include <string.h>

#include "mqtt/mqtt_codec.h"

static struct mqtt_str
str_of(const char *s)
{
	return (struct mqtt_str){.p = (const uint8_t *)s, .len = (uint32_t)strlen(s)};
}

/* Packets here are far below INT_MAX bytes. */
static int
ret(ssize_t n)
{
	return (int)n;
}

int
bench_mqtt_connect(uint8_t *buf, size_t cap, int version, const char *client_id,
                   uint16_t keepalive_s)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_level = (uint8_t)version;
	p.connect.clean_start = 1;
	p.connect.keep_alive = keepalive_s;
	p.connect.client_id = str_of(client_id);
	return ret(mqtt_encode(&p, version, buf, cap));
}

int
bench_mqtt_subscribe(uint8_t *buf, size_t cap, int version, uint16_t pid, const char *filter,
                     int qos)
{
	struct mqtt_sub_entry e = {.filter = str_of(filter), .qos = (uint8_t)qos};
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};
	p.subscribe.packet_id = pid;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	return ret(mqtt_encode(&p, version, buf, cap));
}

/* Header from the codec, payload copied behind it: one send per message. */
int
bench_mqtt_publish(uint8_t *buf, size_t cap, int version, const char *topic, int qos, uint16_t pid,
                   const void *payload, size_t payload_len)
{
	struct mqtt_publish pub = {.qos = (uint8_t)qos, .packet_id = pid, .topic = str_of(topic)};
	pub.payload.len = (uint32_t)payload_len;
	ssize_t h = mqtt_encode_publish_header(&pub, version, buf, cap);
	if (h < 0)
		return (int)h;
	if ((size_t)h + payload_len > cap)
		return -ENOSPC;
	memcpy(buf + h, payload, payload_len);
	return (int)((size_t)h + payload_len);
}

int
bench_mqtt_ack(uint8_t *buf, size_t cap, int version, int type, uint16_t pid)
{
	return ret(mqtt_encode_ack((enum mqtt_type)type, pid, 0, NULL, version, buf, cap));
}

int
bench_mqtt_pingreq(uint8_t *buf, size_t cap, int version)
{
	(void)version;
	return ret(mqtt_encode_ping(MQTT_PINGREQ, buf, cap));
}

int
bench_mqtt_disconnect(uint8_t *buf, size_t cap, int version)
{
	return ret(mqtt_encode_disconnect(MQTT_DISCONNECT, 0, NULL, version, buf, cap));
}

int
bench_mqtt_decode(const uint8_t *buf, size_t len, int version, struct bench_mqtt_pkt *out)
{
	uint8_t type, flags;
	uint32_t rem, hl;
	int rc = mqtt_fixed_header(buf, len, &type, &flags, &rem, &hl);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	size_t total = (size_t)hl + rem;
	if (len < total)
		return 0;
	struct mqtt_packet p;
	rc = mqtt_decode(buf, total, version, &p);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->type = p.type;
	switch (p.type) {
	case MQTT_CONNACK:
		out->rc = p.connack.reason;
		break;
	case MQTT_PUBLISH:
		out->qos = p.publish.qos;
		out->pid = p.publish.packet_id;
		out->payload = p.publish.payload.p;
		out->payload_len = p.publish.payload.len;
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		out->pid = p.ack.packet_id;
		out->rc = p.ack.reason;
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		out->pid = p.suback.packet_id;
		out->rc = p.suback.reasons.len ? p.suback.reasons.p[0] : 0;
		break;
	default:
		break;
	}
	return (int)total;
}

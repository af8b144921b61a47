/* SPDX-License-Identifier: Apache-2.0
 * bench_mqtt: the few packets tachyon-bench sends and reads, as calls into the project codec
 * (mqtt/mqtt_codec.h). This file adapts; it does not parse or build MQTT itself, so the load
 * generator exercises the same codec as the broker and the fuzzers.
 *
 * Encoders write one whole packet into buf and return its length, or -ENOSPC / -EINVAL.
 * bench_mqtt_decode() reads one packet from the front of a byte stream: it returns the bytes
 * it used, 0 when the packet is not complete yet, or -errno when the stream is malformed.
 */
#ifndef BENCH_MQTT_H
#define BENCH_MQTT_H

#include <stddef.h>
#include <stdint.h>

enum bench_mqtt_type {
	BENCH_MQTT_CONNACK = 2,
	BENCH_MQTT_PUBLISH = 3,
	BENCH_MQTT_PUBACK = 4,
	BENCH_MQTT_PUBREC = 5,
	BENCH_MQTT_PUBREL = 6,
	BENCH_MQTT_PUBCOMP = 7,
	BENCH_MQTT_SUBACK = 9,
	BENCH_MQTT_UNSUBACK = 11,
	BENCH_MQTT_PINGRESP = 13,
	BENCH_MQTT_DISCONNECT = 14,
};

/* What the load generator needs from an inbound packet; pointers alias the input buffer. */
struct bench_mqtt_pkt {
	uint8_t type; /* enum bench_mqtt_type */
	uint8_t qos;  /* PUBLISH */
	uint8_t rc;   /* CONNACK return/reason code; SUBACK first granted QoS or failure code */
	uint16_t pid; /* packet identifier where the type has one */
	const uint8_t *payload;
	size_t payload_len;
};

int bench_mqtt_connect(uint8_t *buf, size_t cap, int version, const char *client_id,
                       uint16_t keepalive_s);
int bench_mqtt_subscribe(uint8_t *buf, size_t cap, int version, uint16_t pid, const char *filter,
                         int qos);
int bench_mqtt_publish(uint8_t *buf, size_t cap, int version, const char *topic, int qos,
                       uint16_t pid, const void *payload, size_t payload_len);
/* PUBACK, PUBREC, PUBREL or PUBCOMP for packet identifier pid. */
int bench_mqtt_ack(uint8_t *buf, size_t cap, int version, int type, uint16_t pid);
int bench_mqtt_pingreq(uint8_t *buf, size_t cap, int version);
int bench_mqtt_disconnect(uint8_t *buf, size_t cap, int version);

int bench_mqtt_decode(const uint8_t *buf, size_t len, int version, struct bench_mqtt_pkt *p);

#endif /* BENCH_MQTT_H */

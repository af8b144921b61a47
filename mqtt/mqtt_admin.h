/* SPDX-License-Identifier: Apache-2.0
 * mqtt_admin: what an operator may ask of one shard's broker (tachyonctl clients, sessions,
 * subscriptions, retained). Run on the shard's own thread, like every other broker call; the
 * dataplane carries the requests there. Walks are bounded per call and resumable.
 *
 * Return contract: 0 or -errno (-ENOENT: no such client id / topic on this shard).
 */
#ifndef MQTT_ADMIN_H
#define MQTT_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt.h"

/* Disconnect the connection of client id `cid` (v5: DISCONNECT with `reason`, 0x98
 * administrative action by default; 3.x: closed). Its will is published as on any
 * server-initiated disconnect; a persistent session stays. Cost: O(len). */
int mqtt_admin_kick(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint8_t reason,
                    uint64_t now_us);

/* End the session of client id `cid` here, disconnecting its connection first (as kick, then
 * the session, its subscriptions and queued messages are freed). Cost: O(session size). */
int mqtt_admin_session_drop(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now_us);

/* Delete the retained message of `topic` from this shard's store. Cost: O(topic levels). */
int mqtt_admin_retained_delete(struct mqtt_broker *b, const uint8_t *topic, size_t len);

#endif /* MQTT_ADMIN_H */

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

/* ---- read-only walkers ------------------------------------------------------------------
 * Each walk reports items to a callback, at most `max` per call (at most MQTT_ADMIN_BATCH),
 * and examines at most MQTT_ADMIN_SCAN entries per call, so a shard answering an operator never
 * stalls its poll loop: call again with the same cursor until cur->done. The callback returns 0
 * to go on, or a negative errno to stop before that item (its output buffer is full, say): the
 * walk returns that value and the next call with the cursor resumes at the same item.
 *
 * Resuming: clients and sessions continue right after the last entry passed when it is still
 * there (found by its client id, O(len), and checked to be the same object); otherwise, and for
 * subscriptions and retained messages, the cursor is an ordinal (entries passed so far) and
 * resuming costs O(cur->pos) pointer hops (whole sessions skipped at once for subscriptions), no
 * formatting. Between calls the broker runs: entries are never reported twice within a walk (new
 * ones join at the end); an entry present during the whole walk is reported, except that with
 * an ordinal resume each entry behind the cursor that went away meanwhile makes the walk skip
 * one. Good enough for an operator's listing; exact counts come from mqtt_broker_stats().
 *
 * Records point into broker memory, valid during the callback only. Returns the number of items
 * reported, or -errno. */
#define MQTT_ADMIN_BATCH 256
#define MQTT_ADMIN_SCAN  4096

#define MQTT_ADMIN_KEY_MAX 256

struct mqtt_admin_cursor {
	uint64_t pos; /* entries passed; 0 = start */
	int done;     /* the walk reached the end */
	/* clients, sessions: the last entry passed (identity only, compared, never dereferenced)
	 * and its client id; last_len 0: none, or an id longer than the buffer */
	const void *last;
	uint16_t last_len;
	uint8_t last_id[MQTT_ADMIN_KEY_MAX];
};

enum mqtt_admin_conn_state {
	MQTT_ADMIN_CONNECTING,     /* waiting for CONNECT */
	MQTT_ADMIN_AUTHENTICATING, /* CONNECT with the login hook or in a v5 AUTH exchange */
	MQTT_ADMIN_CONNECTED,      /* CONNACK sent */
	MQTT_ADMIN_CLOSING,        /* closed by the broker, transport not gone yet */
};

const char *mqtt_admin_state_name(enum mqtt_admin_conn_state st);

struct mqtt_admin_client {
	const uint8_t *client_id; /* empty before CONNECT */
	size_t client_id_len;
	void *io; /* the host's connection (mqtt_conn_io) */
	enum mqtt_admin_conn_state state;
	uint8_t protocol;          /* 3, 4 or 5; 0 before CONNECT */
	uint16_t keepalive;        /* seconds, as granted */
	uint32_t session_expiry_s; /* 0: ends with the connection; UINT32_MAX: never */
	uint32_t inflight, queued, subscriptions;
};

struct mqtt_admin_session {
	const uint8_t *client_id;
	size_t client_id_len;
	void *io; /* online: the host's connection; offline: NULL */
	int online;
	uint32_t expiry_s;    /* session expiry interval; UINT32_MAX: never */
	int64_t expires_in_s; /* offline: seconds left; -1 online or never */
	uint32_t inflight, queued, subscriptions;
};

struct mqtt_admin_sub {
	const uint8_t *client_id;
	size_t client_id_len;
	const uint8_t *filter; /* as subscribed, with any $share/group/ prefix */
	size_t filter_len;
	uint8_t qos, no_local, retain_as_published, retain_handling;
	uint32_t subscription_id; /* 0: none */
};

struct mqtt_admin_retained {
	const uint8_t *topic;
	size_t topic_len;
	uint32_t payload_len;
	uint8_t qos;
	int64_t expires_in_s; /* -1: never */
};

typedef int (*mqtt_admin_client_fn)(void *arg, const struct mqtt_admin_client *c);
typedef int (*mqtt_admin_session_fn)(void *arg, const struct mqtt_admin_session *s);
typedef int (*mqtt_admin_sub_fn)(void *arg, const struct mqtt_admin_sub *s);
typedef int (*mqtt_admin_retained_fn)(void *arg, const struct mqtt_admin_retained *r);

/* Connections past CONNECT (those with a client id), in the order they connected. */
int mqtt_admin_clients(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                       mqtt_admin_client_fn fn, void *arg);
/* One client by id: fn called once, or -ENOENT when no connection holds that id. O(len). */
int mqtt_admin_client_get(struct mqtt_broker *b, const uint8_t *cid, size_t len,
                          mqtt_admin_client_fn fn, void *arg);

/* Sessions, online and offline (clean ones too: expiry_s 0), oldest first. */
int mqtt_admin_sessions(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                        uint64_t now_us, mqtt_admin_session_fn fn, void *arg);
int mqtt_admin_session_get(struct mqtt_broker *b, const uint8_t *cid, size_t len, uint64_t now_us,
                           mqtt_admin_session_fn fn, void *arg);

/* Subscriptions of every session, or of client id `cid` (cid_len > 0; -ENOENT: no session), and
 * only those whose filter `match` (match_len > 0) matches: equal to it, or matched by it read as
 * a filter over the subscription's filter read as a topic ("a/#" shows "a/+/c"). */
int mqtt_admin_subscriptions(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                             const uint8_t *cid, size_t cid_len, const uint8_t *match,
                             size_t match_len, mqtt_admin_sub_fn fn, void *arg);

/* Retained messages, depth first over the topic tree ('$' topics included), or only those whose
 * topic `match` matches when match_len > 0 (MQTT rules: "#" skips '$' topics, "$SYS/#" lists
 * them). */
int mqtt_admin_retained(struct mqtt_broker *b, struct mqtt_admin_cursor *cur, uint32_t max,
                        const uint8_t *match, size_t match_len, uint64_t now_us,
                        mqtt_admin_retained_fn fn, void *arg);

/* Publish a message from the broker itself to this shard only (its subscribers and, when
 * `retain`, its retained store), QoS 0: how the host publishes $SYS topics on every shard.
 * Never forwarded to other shards. 0 or -EINVAL (empty topic, or one with a wildcard). */
int mqtt_admin_publish(struct mqtt_broker *b, const uint8_t *topic, size_t tlen,
                       const uint8_t *payload, size_t plen, int retain, uint64_t now_us);

#endif /* MQTT_ADMIN_H */

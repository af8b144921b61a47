/* SPDX-License-Identifier: Apache-2.0
 * mqtt: the broker core of one shard, with no knowledge of DPDK or of the transport.
 *
 * A host (the dataplane's lcore loop, or a test harness over plain sockets) creates one
 * struct mqtt_broker per shard, opens a struct mqtt_conn per transport connection, feeds it the
 * bytes received and tells it when the transport can take more or has gone. The broker sends
 * through the transport ops chosen at creation. Nothing here allocates per byte or logs per
 * packet; nothing reads a clock: time is passed in as microseconds on a monotonic clock.
 *
 * Return contract: constructors return NULL and set errno; the rest return 0 or -errno.
 */
#ifndef MQTT_H
#define MQTT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mqtt_broker;
struct mqtt_conn;

/* How the broker talks back to its host's transport. */
struct mqtt_transport_ops {
	/* Queue up to len bytes for the peer; return how many were taken (0..len) or -errno.
	 * Taking fewer than len is back-pressure: the broker keeps the rest and resumes when the
	 * host calls mqtt_conn_writable(). */
	ssize_t (*send)(void *io, const void *buf, size_t len);
	/* Close the transport: graceful (flush queued bytes, then FIN) or abortive (RST). The host
	 * still calls mqtt_conn_closed() once the transport is gone, and never from inside this
	 * op: the broker's state must outlive the call that asked for the close. */
	void (*close)(void *io, int abortive);
};

struct mqtt_broker_conf {
	uint32_t max_packet_size;	/* largest inbound packet accepted (bytes) */
	uint32_t max_inflight;		/* QoS 1/2 messages unacknowledged per session */
	uint32_t max_queued;		/* messages queued per session behind the inflight window */
	size_t max_outbuf;		/* bytes buffered per connection when the transport pushes back */
	uint32_t retry_interval_us;	/* 0: resend unacknowledged QoS>0 only on reconnect (spec) */
	unsigned int shard;		/* this shard's index, for logging and client-id homes */
	/* Added after the first contract (defaults from mqtt_broker_conf_defaults()). */
	uint32_t connect_timeout_us;	/* a connection must send CONNECT within this */
	uint16_t topic_alias_max;	/* v5: topic aliases accepted per connection (0: none) */
	uint8_t queue_drop_oldest;	/* full offline/session queue: 0 drop the new message,
					 * 1 drop the oldest queued one (both counted) */
	uint8_t share_policy;		/* $share groups: 0 round robin, 1 by publisher client
					 * id, 2 sticky */
	/* Limits (issue 8). A zeroed field means no limit, so hosts that only memset the
	 * struct keep the old behaviour. */
	uint16_t max_keepalive;		/* v5: larger (or 0) keep-alives answered with Server Keep
					 * Alive = this; 3.x: refused with CONNACK 0x02 */
	uint16_t min_keepalive;		/* non-zero keep-alives below it: the same treatment */
	uint32_t max_subscriptions;	/* per session: SUBACK 0x80 (3.x) / 0x97 (v5) beyond it */
	uint32_t max_topic_length;	/* bytes of a topic name or filter */
	uint32_t max_topic_levels;	/* '/'-separated levels of a topic name or filter */
	/* v5 Response Information prefix: a CONNECT with Request Response Information 1 gets
	 * "<prefix><client id>/" in CONNACK; "" sends none. */
	char response_info[64];
};

/* Per-shard counters: plain stores by the one owning thread. */
struct mqtt_stats {
	uint64_t connections_current, connections_total;
	uint64_t messages_in, messages_out;		/* PUBLISH packets received / sent */
	uint64_t messages_in_qos[3], messages_out_qos[3];
	uint64_t bytes_in, bytes_out;			/* MQTT bytes on the wire */
	uint64_t subscriptions, retained;		/* current */
	uint64_t sessions_persistent;			/* current offline + online persistent */
	uint64_t dropped_queue_full, dropped_outbuf_full, dropped_expired;
	uint64_t protocol_errors, malformed_packets, keepalive_timeouts;
	uint64_t wills_published;
	/* Added after the first contract. */
	uint64_t sessions_expired, takeovers;
	uint64_t acks_held;	/* PUBACK/PUBREC delayed to slow a publisher (back-pressure) */
	/* Connections refused or ended by the broker, by the v5 reason code that applies
	 * (index reason - 0x80; 3.x connections are counted under the same codes). */
	uint64_t errors_by_reason[128];
	/* Limits (issue 8). */
	uint64_t keepalive_adjusted;	/* v5 CONNACKs with a Server Keep Alive (3.x: refused,
					 * counted under reason 0x85) */
	uint64_t subscriptions_refused; /* SUBACK 0x80/0x97: max_subscriptions reached */
	uint64_t topics_refused;	/* topic names/filters over max_topic_length/levels */
	/* Sessions across shards (mqtt_xfer.c). */
	uint64_t sessions_moved_in, sessions_moved_out; /* whole sessions received / sent */
	uint64_t sessions_move_dropped; /* a moved session met one already here (kept that) */
	uint64_t xfer_cuts_expired;	/* move cuts ended by their deadline (never, normally) */
	uint64_t shared_no_member; /* a shared delivery found no member of its group here any more */
	/* Cross-shard publishes kept here (issue 5): inject_copies/_bytes count another shard's
	 * messages copied (no ret op, a move cut's FWD, ENOMEM for a proxy): 0 normally;
	 * inject_proxies counts the proxies made instead (at most one per inject). */
	uint64_t inject_copies, inject_copy_bytes, inject_proxies;
};

/* Memory. Every broker allocation goes through the allocator set for the calling thread (none:
 * malloc). The dataplane sets one per lcore that allocates from that lcore's jemalloc arena,
 * on the lcore's thread and on the main thread around that shard's creation and destruction:
 * memory must be freed by the allocator family that gave it, so a thread that touches a
 * broker must have the same family set. Control path only; the per-call cost is one branch. */
struct mqtt_allocator {
	void *(*alloc)(void *ctx, size_t size, int zero);
	void *(*realloc)(void *ctx, void *p, size_t size);
	void (*free)(void *ctx, void *p);
	void *ctx;
};
void mqtt_set_thread_allocator(const struct mqtt_allocator *a); /* NULL: malloc */

void mqtt_broker_conf_defaults(struct mqtt_broker_conf *conf);
struct mqtt_broker *mqtt_broker_create(const struct mqtt_broker_conf *conf,
				       const struct mqtt_transport_ops *ops);
void mqtt_broker_destroy(struct mqtt_broker *b);
/* Live limits: take max_packet_size, max_inflight, max_queued, connect_timeout_us, the
 * keep-alive bounds, max_subscriptions and the topic limits from `conf` (the rest of it is
 * ignored). What a connection was promised at its CONNACK (v5 Maximum Packet Size, Receive
 * Maximum) stays; every other limit applies from the next packet or connection. */
void mqtt_broker_set_limits(struct mqtt_broker *b, const struct mqtt_broker_conf *conf);
const struct mqtt_stats *mqtt_broker_stats(const struct mqtt_broker *b);

/* Periodic broker work (session expiry, will delay, retries). Bounded work per call. */
void mqtt_broker_tick(struct mqtt_broker *b, uint64_t now_us);

/* A transport connection was accepted; `io` is passed back to every transport op. */
struct mqtt_conn *mqtt_conn_open(struct mqtt_broker *b, void *io, uint64_t now_us);

/* Bytes arrived, in order; any split of the stream is fine. Returns 0, or -errno when the
 * input was a protocol violation: the broker has then already answered per the spec and
 * called ops->close; the host still calls mqtt_conn_closed() when the transport is gone. */
int mqtt_conn_input(struct mqtt_conn *c, const void *data, size_t len, uint64_t now_us);

/* The transport can take more bytes: flush what the broker holds back. */
void mqtt_conn_writable(struct mqtt_conn *c, uint64_t now_us);

/* The transport is gone (either side closed it, reset, or timed out). Publishes the will if
 * due, keeps a persistent session, and frees `c`. */
void mqtt_conn_closed(struct mqtt_conn *c, uint64_t now_us);

/* Bytes the broker holds back for this connection (waiting for mqtt_conn_writable()). After a
 * graceful ops->close, a host that wants them on the wire keeps calling mqtt_conn_writable()
 * until this is 0 before it sends its FIN. */
size_t mqtt_conn_pending(const struct mqtt_conn *c);

/* ---- Authentication and authorisation hooks (all optional: without them everything is allowed).
 * Called on the shard's thread, never reentrantly; strings are views (not NUL-terminated)
 * valid during the call. The host finds its per-connection data with mqtt_conn_io(). */
struct mqtt_hooks {
	/* CONNECT (after protocol checks, before any session is touched): return 0 to accept,
	 * a v5 reason code (0x86 bad user name or password, 0x87 not authorized, 0x88 server
	 * unavailable, ...) to refuse (3.x clients get the matching return code), or -EINPROGRESS
	 * to park the connection until mqtt_conn_auth_done() (input meanwhile is held, bounded).
	 * user/pass are NULL when absent. */
	int (*connect)(void *ctx, struct mqtt_conn *c, const uint8_t *client_id, size_t cid_len,
		       const uint8_t *user, size_t user_len, const uint8_t *pass, size_t pass_len);
	/* ACL: 0 allows. write 1: a PUBLISH to `topic` (and a will topic, checked at CONNECT);
	 * write 0: a SUBSCRIBE to the filter `topic`. Denied publishes are acknowledged and
	 * dropped (MQTT-3.3.5-2; v5 reason 0x87), denied subscriptions get SUBACK 0x80/0x87.
	 * For a PUBLISH the hook may instead return 0x96 (message rate too high) or 0x97 (quota
	 * exceeded): the connection is then ended with that reason (3.x: closed) and the
	 * message dropped. */
	int (*acl)(void *ctx, struct mqtt_conn *c, int write, const uint8_t *topic, size_t len);
	void *ctx;
	/* v5 enhanced authentication (the AUTH exchange of spec 4.12), for SASL-style mechanisms.
	 * Called for a CONNECT carrying an Authentication Method (step 0; hooks->connect is then
	 * not called), for each AUTH 0x18 the client sends during it (step 1) and for a
	 * re-authentication AUTH 0x19 after CONNACK (step 2). `data` is the client's
	 * Authentication Data. Return 0 when authenticated, MQTT_RC_CONTINUE_AUTHENTICATION (0x18)
	 * to send the client an AUTH challenge, or a reason code >= 0x80 to refuse (CONNACK, or
	 * DISCONNECT after a failed re-authentication). Authentication Data for the answer (the
	 * challenge, or the final data in CONNACK / AUTH 0x00) goes to out, at most *out_len
	 * bytes; set *out_len to its length (0: none). Without this hook a CONNECT with an
	 * Authentication Method gets CONNACK 0x8C (bad authentication method). */
	int (*auth)(void *ctx, struct mqtt_conn *c, int step, const uint8_t *method, size_t mlen,
		    const uint8_t *data, size_t dlen, uint8_t *out, size_t *out_len);
};

/* Install hooks (copied); NULL removes them. */
void mqtt_broker_set_hooks(struct mqtt_broker *b, const struct mqtt_hooks *hooks);

/* The answer for a CONNECT parked by hooks->connect: reason 0 accepts, otherwise the v5 reason
 * code to refuse with. Ignored when the connection is no longer waiting (the broker closed it
 * meanwhile). Never call it after mqtt_conn_closed(c), which frees c: a host that parks logins
 * (by cookie) forgets the cookie when the transport goes. */
void mqtt_conn_auth_done(struct mqtt_conn *c, uint8_t reason, uint64_t now_us);

/* The io pointer given to mqtt_conn_open(). */
void *mqtt_conn_io(const struct mqtt_conn *c);

/* When this connection next needs mqtt_conn_timeout() (keep-alive at 1.5x), or UINT64_MAX.
 * Hosts re-arm lazily: fire at the old deadline, call mqtt_conn_timeout, re-arm at the new one. */
uint64_t mqtt_conn_deadline(const struct mqtt_conn *c);
void mqtt_conn_timeout(struct mqtt_conn *c, uint64_t now_us);

/* ---- Shards (issue 5; the dataplane's hooks, one broker per polling lcore) ----------------
 * A message published on one shard reaches the subscribers of the others through the host: the
 * broker asks route_match() which other shards need it, hands the host one reference per such
 * shard (forward()), and the host runs mqtt_broker_inject() on each of them. The references stay
 * the publishing shard's: the refcount is not atomic, so the host returns each one to the
 * publishing shard, which releases it with mqtt_msg_release(). The message's bytes are immutable
 * while referenced; a destination shard keeps them for deliveries that outlive the inject call
 * (a queued QoS 1/2 message, the retained store) through a proxy (ret below), or copies them
 * without one. route_update()
 * reports this shard's first subscription to a filter (add 1) and its last one gone (add 0),
 * the filter without any $share/group/ prefix. All callbacks run on the shard's thread. */
struct mqtt_msg;
struct mqtt_xfer;
struct mqtt_shard_ops {
	/* Bit i set: shard i needs a message on `topic` (retain: a retained publish). */
	uint64_t (*route_match)(void *ctx, const uint8_t *topic, size_t len, int retain);
	void (*forward)(void *ctx, uint64_t shards, struct mqtt_msg *m, uint8_t qos);
	void (*route_update)(void *ctx, const uint8_t *filter, size_t len, int add);
	void *ctx;
	/* Sessions across shards (mqtt_xfer.c). With n_shards > 1 and xfer_send set, the home
	 * shard of a client id (mqtt_client_home) arbitrates its takeovers and keeps its offline
	 * session; a client connecting elsewhere gets its whole session moved to it while its
	 * CONNECT is parked. xfer_send hands a transfer message to shard `to`, whose host runs
	 * mqtt_broker_xfer_input() with it and then gives it back to mqtt_xfer_owner() to free. */
	unsigned int n_shards;
	void (*xfer_send)(void *ctx, unsigned int to, struct mqtt_xfer *x);
	/* Shared subscriptions across shards. route_update reports $share filters whole (the
	 * group's first member here, its last gone); the host passes other shards' reports to
	 * mqtt_broker_share_update(), never into route_match()'s table. A publisher's shard picks,
	 * per group, a shard holding members (round robin over shards, then over members there)
	 * and hands the chosen shard one reference with the group: forward_shared(), which the
	 * host runs there as mqtt_broker_inject_shared() and returns like forward()'s. */
	void (*forward_shared)(void *ctx, unsigned int shard, struct mqtt_msg *m,
	                       const uint8_t *group, size_t glen, const uint8_t *filter,
	                       size_t flen);
	/* Zero-copy injects (optional; without it a destination copies what it keeps). A
	 * destination keeps another shard's message for the deliveries that outlive the inject
	 * (queued or inflight QoS 1/2, the retained store) by wrapping it in one local proxy per
	 * inject, refcounted on its own thread, that points at the owner's bytes; the inject then
	 * returns 1 and keeps the host's reference, and ret(ctx, from, m) hands it back, on the
	 * destination's thread, when the proxy's last delivery ends (PUBACK/PUBCOMP, a retained
	 * message replaced, a session freed, the broker destroyed). The host sends it to shard
	 * `to` (the owner), which releases it with mqtt_msg_release(). */
	void (*ret)(void *ctx, unsigned int to, struct mqtt_msg *m);
};
/* Install (copied) or remove (NULL) the shard hooks. */
void mqtt_broker_set_shard_ops(struct mqtt_broker *b, const struct mqtt_shard_ops *ops);
/* Deliver a message another shard forwarded to this shard's subscribers (and its retained store
 * when it is a retained publish); never forwarded again. `m` stays the caller's. */
void mqtt_broker_inject(struct mqtt_broker *b, const struct mqtt_msg *m, uint64_t now_us);
/* The same, naming the shard the message came from (the publisher's, which owns m): what a
 * session moving between shards needs to take each publish exactly once (mqtt_xfer.c, the move
 * cut). Returns 0: the caller's reference is the caller's to return now; 1 (only with
 * mqtt_shard_ops.ret and from != this shard): the broker kept it and returns it through ret. */
int mqtt_broker_inject_from(struct mqtt_broker *b, struct mqtt_msg *m, unsigned int from,
                            uint64_t now_us);
/* End client id `cid`'s connection here as a takeover does (v5 reason 0x8E, its will
 * published) and its session with it. */
void mqtt_broker_session_release(struct mqtt_broker *b, const uint8_t *cid, size_t len,
                                 uint64_t now_us);
/* Session transfer messages: handle one (the host keeps ownership of x and returns it to
 * mqtt_xfer_owner(x), whose thread frees it with mqtt_xfer_free()). */
void mqtt_broker_xfer_input(struct mqtt_broker *b, const struct mqtt_xfer *x, uint64_t now_us);
unsigned int mqtt_xfer_owner(const struct mqtt_xfer *x);
void mqtt_xfer_free(struct mqtt_xfer *x);
/* The home shard of a client id among n. */
unsigned int mqtt_client_home(const uint8_t *cid, size_t len, unsigned int n_shards);
/* Shard `shard` has its first member (add 1) or no member left (add 0) of the shared group of
 * `filter` ("$share/group/filter"). */
void mqtt_broker_share_update(struct mqtt_broker *b, const uint8_t *filter, size_t len,
                              unsigned int shard, int add);
/* Deliver a message forward_shared() chose this shard for to one member here of the group;
 * from (the owner) and the result as mqtt_broker_inject_from(). */
int mqtt_broker_inject_shared(struct mqtt_broker *b, struct mqtt_msg *m, unsigned int from,
                              const uint8_t *group, size_t glen, const uint8_t *filter,
                              size_t flen, uint64_t now_us);
/* Release a reference forward() gave; only on the shard that forwarded it. */
void mqtt_msg_release(struct mqtt_msg *m);
/* ---- end of shard hooks ---- */

#endif /* MQTT_H */

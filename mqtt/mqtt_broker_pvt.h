/* SPDX-License-Identifier: Apache-2.0
 * mqtt broker core: the structures of one shard's broker, shared by mqtt_broker.c (which owns
 * every mutation of them) and the read-only walkers of mqtt_admin.c. Nothing here is visible to
 * the dataplane; mqtt.h and mqtt_admin.h are the contracts.
 */
#ifndef MQTT_BROKER_PVT_H
#define MQTT_BROKER_PVT_H

#include "mqtt/mqtt_codec.h"
#include "mqtt/mqtt_pvt.h"

#define US_PER_S          1000000ull
#define MAX_SUBIDS        8     /* subscription identifiers carried by one delivery */
#define TICK_SCAN         64    /* offline sessions examined per mqtt_broker_tick() */
#define OUTBUF_CTRL_SLACK 65536 /* acks may exceed max_outbuf by this before we give up */
#define V31_MAX_CLIENT_ID 23
#define PUB_HDR_STACK     256
#define HELD_ACKS_MAX     1024    /* acks held back per publisher (back-pressure) */
#define HELD_ACKS_MAX_US  5000000 /* longest a congested subscriber holds publishers */

/* ------------------------------------------------------------------------------------------ */

enum conn_state {
	CONN_NEW,       /* waiting for CONNECT */
	CONN_AUTH,      /* CONNECT parked by hooks->connect; input held in `parked` */
	CONN_AUTH_EXCH, /* v5 AUTH exchange in progress; the CONNECT kept in `parked` */
	CONN_CONNECTED, /* CONNACK sent */
	CONN_CLOSING,   /* ops->close called; waiting for mqtt_conn_closed() */
};

/* A QoS 1/2 message on its way to one session. */
enum dlv_state {
	DLV_QUEUED,    /* behind the inflight window, no packet id yet */
	DLV_SEND,      /* has a packet id; PUBLISH (re)send pending */
	DLV_WAIT_ACK,  /* PUBLISH sent; waiting for PUBACK / PUBREC */
	DLV_REL,       /* PUBREC received; PUBREL (re)send pending */
	DLV_WAIT_COMP, /* PUBREL sent; waiting for PUBCOMP */
};

struct mqtt_delivery {
	struct mqtt_list link; /* session->queue or session->inflight */
	struct mqtt_msg *msg;  /* NULL once PUBREC arrived (only the id matters then) */
	uint16_t pid;
	uint8_t qos, retain, state, dup, nsub;
	uint32_t subids[];
};

struct xfer_cut;

struct mqtt_session {
	struct mqtt_list offline_link; /* broker->offline while no connection holds it */
	struct mqtt_list all_link;     /* broker->sessions_all */
	struct mqtt_broker *b;
	struct mqtt_conn *conn;
	uint64_t serial;       /* identifies the publisher for no-local */
	uint32_t expiry_s;     /* session expiry interval; UINT32_MAX never */
	uint64_t expire_at;    /* while offline */
	struct mqtt_list subs; /* mqtt_sub.session_link */
	uint32_t n_subs;       /* entries of subs, for max_subscriptions */
	struct mqtt_list inflight, queue;
	uint32_t n_inflight, n_queued, n_pending; /* n_pending: inflight in DLV_SEND or DLV_REL */
	uint16_t next_pid;
	/* Inbound QoS 2 packet ids between PUBREC and PUBREL (exactly once across reconnects). */
	uint16_t *rx_qos2;
	uint32_t n_rx_qos2, cap_rx_qos2;
	/* v5 will delay: the will waits here until will_at or the session's end. */
	struct mqtt_msg *will;
	uint8_t will_qos, will_retain;
	uint64_t will_at;
	uint8_t congested; /* online with a queue over the high watermark: publishers wait */
	/* the move cut while the session moves between shards, or is a stub (mqtt_xfer.c) */
	struct xfer_cut *cut;
	/* match dedup within one publish */
	uint64_t match_gen;
	uint32_t match_idx;
	uint16_t cid_len;
	uint8_t cid[];
};

struct held_ack {
	uint8_t type;
	uint16_t pid;
};

struct out_alias {
	uint16_t alias;
	uint16_t len;
	uint8_t topic[];
};

struct topic_alias {
	uint8_t *p;
	uint16_t len;
};

struct mqtt_conn {
	struct mqtt_list link; /* broker->conns */
	struct mqtt_broker *b;
	void *io;
	struct mqtt_session *s;
	uint8_t state;
	uint8_t version;
	uint8_t will_due; /* the will is published when the connection ends */
	uint8_t counted;  /* counted in connections_current */
	uint8_t abortive; /* closed with RST: held output is discarded */
	uint8_t auth_ok;  /* hooks->connect or hooks->auth accepted the CONNECT */
	/* v5 enhanced authentication: the method (for AUTH checks) and the data for CONNACK */
	uint8_t *auth_method, *auth_data;
	uint16_t auth_method_len, auth_data_len;
	uint16_t keepalive;
	uint16_t peer_recv_max;
	uint32_t peer_max_packet;
	/* What this connection was promised at open (v5 CONNACK Maximum Packet Size and Receive
	 * Maximum): a live limit change applies to connections opened after it. */
	uint32_t max_packet_in;
	uint16_t recv_max_in;
	uint64_t deadline;
	/* input: a fixed header in progress, then one packet being accumulated */
	uint8_t hdr[MQTT_MAX_FIXED_HEADER];
	uint8_t hdr_len;
	uint8_t *in;
	uint32_t in_len, in_need;
	/* output held back by the transport */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	/* will of this connection */
	struct mqtt_msg *will;
	uint8_t will_qos, will_retain;
	uint32_t will_delay_s;
	/* v5 inbound topic aliases, allocated on first use */
	struct topic_alias *aliases;
	/* v5 outbound topic aliases: topic -> struct out_alias, up to out_alias_max, assigned
	 * first come first served and never replaced (no eviction churn on the wire) */
	struct mqtt_dict out_aliases;
	uint16_t out_alias_max, out_alias_n;
	/* CONN_AUTH: the CONNECT packet, then the input that followed it */
	uint8_t *parked;
	uint32_t parked_connect, parked_len;
	/* PUBACK/PUBREC held back while subscribers are congested (in broker->held_conns) */
	struct held_ack *held;
	uint32_t n_held, cap_held, n_held_puback;
	struct mqtt_list held_link;
	/* Session transfer (mqtt_xfer.c): the CONNECT is parked (CONN_AUTH) while the session
	 * comes from another shard; xfer is its claim, xfer_ok once the claim is answered. */
	struct xfer_wait *xfer;
	uint8_t xfer_ok;
};

struct match {
	union {
		struct mqtt_session *s;
		struct mqtt_msg *retained; /* send_retained() scratch */
	};
	uint8_t qos, retain, nsub;
	uint32_t subids[MAX_SUBIDS];
};

/* A message being published: a view until someone keeps it. */
struct pubctx {
	struct mqtt_props props; /* view.props points here when present */
	struct mqtt_msg *heap;
	/* QoS 0 headers are the same for every subscriber of a version that gets no
	 * per-delivery property (subscription id, alias, expiry): encoded once per (version
	 * 3.x/5, RETAIN) (hdr_len 0: not yet; -1: does not fit, encode per delivery) */
	int16_t hdr_len[4];
	uint8_t hdr[4][PUB_HDR_STACK];
	/* After the hot fields. Another shard's message being injected: inj is this broker (to
	 * count copies); origin, when set, is the owner's message, which pub_keep() wraps in a
	 * proxy instead of copying it (its reference goes back to shard `from` through
	 * inj->shard.ret). */
	struct mqtt_broker *inj;
	struct mqtt_msg *origin;
	uint32_t from;
	/* Last: struct mqtt_msg ends in a flexible array, which ISO C allows only at the end. */
	struct mqtt_msg view;
};

struct mqtt_broker {
	struct mqtt_broker_conf conf;
	const struct mqtt_transport_ops *ops;
	struct mqtt_stats stats;
	struct mqtt_trie subs, retained;
	struct mqtt_dict sessions; /* client id -> struct mqtt_session */
	struct mqtt_list conns, offline, sessions_all;
	uint64_t serial, assigned;
	/* scratch of one publish */
	uint64_t match_gen;
	struct match *matches;
	uint32_t n_match, cap_match;
	struct pubctx *cur;
	bool hit_congested;     /* the current publish was queued behind a congested session */
	uint32_t last_matched;  /* sessions the last publish reached */
	const uint8_t *cur_pkt; /* the packet being handled (for conn_park) */
	uint32_t cur_pkt_len;
	uint64_t now_hint; /* the time of the input being handled */
	/* Publisher back-pressure: while any online session's queue is over its high watermark,
	 * the acks of publishes that reached one are held, so the publishers' own inflight
	 * windows stop them instead of the queue overflowing. */
	uint32_t congested;
	uint64_t congested_since;
	struct mqtt_list held_conns;
	struct mqtt_hooks hooks;
	struct mqtt_shard_ops shard; /* shard hooks (issue 5): cross-shard routes and publishes */
	bool injecting;              /* delivering another shard's message: never forward it */
	uint32_t inject_from;        /* while injecting: the shard the message came from */
	/* shared groups whose turn, for the current publish, is another shard's member */
	struct share_turn {
		struct mqtt_share *g;
		unsigned int shard;
	} *turns;
	uint32_t n_turns, cap_turns;
	/* Session transfer (mqtt_xfer.c). xfer_dir: on a client id's home shard, where its
	 * session lives when that is another shard (struct xfer_dir); xfer_wait: this shard's
	 * claims in flight (struct xfer_wait). xfer_quiet: a session freed because it moves or is
	 * replaced at once, which the home shard must not hear of. */
	struct mqtt_dict xfer_dir, xfer_wait;
	uint32_t xfer_claims; /* numbers this shard's claims (struct xfer_wait.claim) */
	uint32_t xfer_moves;  /* numbers the moves out of this shard (with the shard: a move id) */
	/* move cuts in progress here, oldest first (one lifetime: also by deadline) */
	struct mqtt_list xfer_cuts;
	bool xfer_quiet;
};

/* ---- the broker's internals mqtt_xfer.c builds on (mqtt_broker.c) ---- */
struct mqtt_session *mqtt_session_new(struct mqtt_broker *b, const uint8_t *cid, size_t len);
void mqtt_session_free(struct mqtt_session *s, uint64_t now);
struct mqtt_sub *mqtt_sub_add(struct mqtt_broker *b, struct mqtt_session *s,
                              const struct mqtt_sub_entry *e, uint32_t subid, bool *existed);
/* End the session's connection as a takeover does (v5 0x8E, will due); the session stays,
 * unbound, its unacknowledged deliveries marked for resending. */
void mqtt_session_takeover(struct mqtt_session *s, uint64_t now);
/* Run a CONNECT parked in CONN_AUTH again (and the input held behind it). */
void mqtt_conn_resume(struct mqtt_conn *c, uint64_t now);
void mqtt_conn_abandon(struct mqtt_conn *c); /* a parked connection superseded: close it */
/* The move cut: an exported session kept as a stub (its plain subscriptions stay in the trie);
 * its end; a message a stub forwarded, offered to the session as it now subscribes. */
void mqtt_session_stub(struct mqtt_session *s, uint64_t now);
void mqtt_stub_free(struct mqtt_session *s);
void mqtt_session_offer(struct mqtt_session *s, const struct mqtt_msg *m, uint64_t now);

/* ---- session transfer between shards (mqtt_xfer.c), called by mqtt_broker.c ---- */
static inline bool
mqtt_xfer_on(const struct mqtt_broker *b)
{
	return b->shard.n_shards > 1 && b->shard.xfer_send != NULL;
}
/* A CONNECT for `cid` (after its checks): 0 to go on (the session, if any, is here), 1 when
 * the connection must park until the session arrives, -errno. */
int mqtt_xfer_connect(struct mqtt_conn *c, const uint8_t *cid, size_t len, uint64_t now);
/* A persistent session lost its connection on a shard that is not its home: ship it home
 * (freed here). Returns false when it stays here (this is its home, or no memory). */
bool mqtt_xfer_offline(struct mqtt_session *s, uint64_t now);
void mqtt_xfer_gone(struct mqtt_session *s); /* a session ended here: tell its home */
void mqtt_xfer_conn_free(struct mqtt_conn *c);
void mqtt_xfer_fini(struct mqtt_broker *b);
/* A publish matched s, which has a cut (s->cut): true when it must not be delivered to s here
 * (the stub path carries it; for a stub: forwarded now, or not at all). */
bool mqtt_xfer_cut_match(struct mqtt_broker *b, struct mqtt_session *s, const struct mqtt_msg *m,
                         uint64_t now);
void mqtt_xfer_cut_free(struct mqtt_broker *b, struct xfer_cut *c); /* with its session */
void mqtt_xfer_tick(struct mqtt_broker *b, uint64_t now); /* cuts past their deadline */
uint64_t mqtt_xfer_stub_subs(const struct mqtt_broker *b); /* for mqtt_broker_verify */

#endif /* MQTT_BROKER_PVT_H */

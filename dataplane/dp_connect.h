/* SPDX-License-Identifier: Apache-2.0
 * Active open from a polling lcore: TCP connections tachyond opens itself (MQTT bridges, cluster
 * links, the load generator), through the calling lcore's tcpstack.
 *
 * Steering. Every frame of a flow is processed by the shard dp_shard_owner() names, whichever
 * queue the NIC or af_packet's fanout puts it on (dp_shard.c). A connection opened on lcore A
 * therefore works only if A owns its flow: dp_connect() offers tcp_connect_opts() a port_ok
 * filter that keeps only the local ports whose flow (peer address, peer port, local port) is
 * owned by the opening shard. With N shards about one candidate port in N fits, so the choice
 * costs about N hash computations; no two shards can ever pick the same 4-tuple.
 *
 * The caller embeds a struct dp_peer in its own object (no allocation here, nginx's
 * ngx_peer_connection style) and gets its events through a small ops table; it reads and writes
 * with the tcp_* calls on p->tcp. Events run on the opening lcore, from inside its poll loop,
 * never from inside dp_connect() or a tcp_* call. At exit tachyond's drain closes the peers
 * still open (dp_connect_close_all), so every successful dp_connect gets its closed event.
 */
#ifndef DP_CONNECT_H
#define DP_CONNECT_H

#include <stdint.h>
#include <sys/queue.h>

#include "tcpstack/tcp.h"

struct dp_lcore;
struct dp_peer;

struct dp_peer_ops {
	void (*connected)(struct dp_peer *p); /* ESTABLISHED: p->tcp is ready for tcp_send */
	void (*readable)(struct dp_peer *p);  /* data or the peer's FIN (tcp_recv_eof) */
	void (*writable)(struct dp_peer *p);  /* send space after a short tcp_send */
	/* Final event; p->tcp is NULL from here on and p may be reused or freed. `err` is 0 for an
	 * orderly close, else -ECONNREFUSED (reset before ESTABLISHED), -ECONNRESET, -ETIMEDOUT
	 * (SYN or data retransmissions, or keepalives, exhausted), -ECONNABORTED (tcp_abort, or
	 * tcp_close before ESTABLISHED), -ENOMEM (no mbuf for a required segment). */
	void (*closed)(struct dp_peer *p, int err);
};

struct dp_peer {
	TAILQ_ENTRY(dp_peer) link; /* on its lcore's open peers, until closed */
	const struct dp_peer_ops *ops;
	struct tcp_conn *tcp; /* NULL before dp_connect and after closed */
	struct dp_lcore *ls;  /* the opening lcore: every event runs there */
	uint16_t lport;       /* the local port chosen (host order) */
	uint8_t established;
};

/* dp_connect flags */
#define DP_CONNECT_ANY_PORT 1u /* any free port, owner or not (tests: why the choice matters) */

/* Open a connection to ip:port (ip in network order, port in host order) from lcore ls, which
 * must be the calling lcore. Returns 0 (events follow) or -EINVAL, -EADDRNOTAVAIL (no free port
 * this shard owns among TCP_CONNECT_PORT_TRIES candidates), -ENOBUFS (no TCB). */
int dp_connect(struct dp_lcore *ls, struct dp_peer *p, uint32_t ip, uint16_t port,
               const struct dp_peer_ops *ops, unsigned int flags);

/* Close every open peer of ls (graceful: FIN after queued data; abortive: RST); their closed
 * events follow from the stack. tachyond's drain at exit calls it (dp_lcore_drain), so a peer's
 * owner always gets its closed event before the stack goes away. */
void dp_connect_close_all(struct dp_lcore *ls, int abortive);

/* The tcpstack ops every lcore's stack is created with: active opens (dp_connect) go to their
 * dp_peer, accepted connections to dp_conn.c (dp_tcp_ops). */
extern const struct tcp_app_ops dp_stack_ops;

#endif /* DP_CONNECT_H */

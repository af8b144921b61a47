/* SPDX-License-Identifier: Apache-2.0
 * tcpstack: a per-lcore userspace Ethernet/ARP/IPv4/ICMP/TCP stack over DPDK mbufs.
 *
 * One struct tcp_stack per polling lcore; nothing in it is shared, so no call here takes a lock.
 * The stack knows nothing of the application protocol: it reports events through an ops table
 * chosen once at creation (nginx style) and moves bytes through tcp_recv_* / tcp_send.
 *
 * Time is passed in, never read: every entry point takes `now_us` (microseconds on a monotonic
 * clock), so tests drive the stack with a virtual clock and get exact, repeatable timing.
 *
 * Return contract: constructors return NULL and set errno; bursts return a count; everything
 * else returns 0 (or a byte count) on success and -errno on failure. -EAGAIN means "no room or
 * nothing now; you will get an event".
 */
#ifndef TCP_H
#define TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

struct tcp_stack;
struct tcp_conn;

/* Why a connection ended, as passed to ops->closed. */
enum tcp_close_reason {
	TCP_CLOSE_NORMAL = 0, /* both FINs exchanged, or the app closed and the peer agreed */
	TCP_CLOSE_RESET,      /* RST received */
	TCP_CLOSE_TIMEOUT,    /* retransmissions or keepalives exhausted */
	TCP_CLOSE_ABORT,      /* the app called tcp_abort() */
	TCP_CLOSE_NOMEM,      /* no mbufs for a required segment */
};

/* Application events, called only from inside tcp_stack_input(), tcp_stack_timers() and
 * tcp_stack_flush(), never from inside a call the application makes (tcp_send, tcp_close,
 * tcp_abort ...): so a handler may call any tcp_* function on its connection, and the
 * application's own state is never freed under its feet. ops->closed is called exactly once per
 * connection that was accepted or connected. */
struct tcp_app_ops {
	/* A passive open completed (ESTABLISHED). Return the app's per-connection context, or NULL
	 * to refuse (the stack resets the connection). `listener_ctx` is what tcp_listen got. */
	void *(*accepted)(void *listener_ctx, struct tcp_conn *c);
	/* An active open (tcp_connect) completed. */
	void (*connected)(void *conn_ctx, struct tcp_conn *c);
	/* In-order data was queued, or the peer sent FIN (tcp_recv_eof() becomes true). */
	void (*readable)(void *conn_ctx, struct tcp_conn *c);
	/* Send space became available after tcp_send() accepted less than it was given. */
	void (*writable)(void *conn_ctx, struct tcp_conn *c);
	/* Final event: the connection is gone for the app; `c` must not be used after return. */
	void (*closed)(void *conn_ctx, struct tcp_conn *c, enum tcp_close_reason why);
};

/* Frames leave the stack through this function, which must take ownership of all `n` mbufs
 * (transmit them or free them) and return how many it transmitted. Typically rte_eth_tx_burst
 * plus a free of the remainder; tests capture frames instead. */
typedef uint16_t (*tcp_tx_fn)(void *tx_ctx, struct rte_mbuf **pkts, uint16_t n);

struct tcp_stack_conf {
	uint32_t ip;               /* our IPv4 address, network byte order */
	uint32_t netmask;          /* network byte order */
	uint32_t gateway;          /* network byte order; 0 = none (on-link only) */
	struct rte_ether_addr mac; /* our MAC */
	uint16_t mtu;              /* IP MTU, e.g. 1500 */
	struct rte_mempool *pool;  /* mbufs for frames this stack builds */
	tcp_tx_fn tx;
	void *tx_ctx;
	const struct tcp_app_ops *ops;
	uint32_t max_conns; /* hard cap on TCBs (SYN_RCVD included) */
	uint32_t rcvbuf;    /* receive window / bytes queued per connection before window closes
	                     * (up to 1 GiB with window scaling; 65535 if the peer has none) */
	uint32_t sndbuf;    /* bytes tcp_send() queues per connection before -EAGAIN */
	uint32_t arp_timeout_us; /* ARP cache entry lifetime */
	unsigned int lcore;      /* owning lcore, for logging and per-lcore arrays */
	uint32_t msl_us;         /* TCP MSL; TIME_WAIT lasts 2*MSL. 0 = 30 s (tests shorten it) */
	uint64_t keepalive_us;   /* idle time before keepalive probes (75 s apart, 9 unanswered
	                          * ones end it with TCP_CLOSE_TIMEOUT); 0 = off */
	uint32_t sack_boards;    /* SACK scoreboards (108 B each), held by connections with SACKed
	                          * data outstanding; 0 = min(max_conns, 4096). A connection that
	                          * finds none left recovers with NewReno. */
	/* Buffer autotuning: a connection's receive window and send queue grow past rcvbuf and
	 * sndbuf (up to 8 times) while its path needs it (window-limited peer; cwnd above half the
	 * send queue). The bytes beyond rcvbuf/sndbuf that all connections together may be granted
	 * are bounded by buf_budget: 0 = a quarter of the pool's mbufs at 1 KiB each; UINT32_MAX =
	 * autotuning off. */
	uint32_t buf_budget;
};

/* Counters: plain per-lcore stores (one writer), read by whoever aggregates. */
struct tcp_stats {
	uint64_t rx_frames, tx_frames;
	uint64_t rx_bytes, tx_bytes; /* TCP payload bytes */
	uint64_t drop_eth, drop_ip_hdr, drop_ip_csum, drop_ip_frag, drop_not_ours;
	uint64_t drop_tcp_csum, drop_tcp_hdr, drop_no_conn, drop_nomem;
	uint64_t arp_rx, arp_tx, arp_queued, arp_dropped;
	uint64_t icmp_echo;
	uint64_t conns_accepted, conns_connected, conns_closed, conns_reset, conns_timeout;
	uint64_t conns_current;
	uint64_t rst_tx, retransmits, rto_expired, fast_retransmits, dup_acks;
	uint64_t ooo_segments;
	uint64_t drop_conn_full; /* SYNs dropped: max_conns TCBs in use (none in TIME_WAIT) */
	uint64_t drop_icmp;      /* ICMP that is not a valid echo request */
	uint64_t tw_recycled;    /* TIME_WAIT TCBs reused for a new SYN at max_conns */
	uint64_t keepalive_probes;
	uint64_t challenge_acks, challenge_acks_limited; /* RFC 5961, and those rate-limited */
	uint64_t syn_cookies_sent, syn_cookies_ok, syn_cookies_bad; /* RFC 4987 */
	uint64_t paws_dropped; /* RFC 7323 5: old duplicates refused by their timestamp */
	uint64_t sack_recoveries;   /* RFC 6675 loss recoveries (NewReno ones: fast_retransmits) */
	uint64_t tlp_probes;        /* RFC 8985 7 tail-loss probes sent */
	uint64_t limited_transmits; /* RFC 3042 segments sent on the first two duplicate ACKs */
	uint64_t recoveries_undone; /* RFC 3522: the retransmission proved spurious, cwnd restored */
	uint64_t rtt_samples, rtt_sum_us; /* RTT measurements (Karn) and their sum: mean RTT */
	uint64_t rcvbuf_grown; /* autotuning: receive windows doubled */
	uint64_t buf_budget_full; /* autotuning: growth refused, the stack's budget was spent */

	/* duplicate segments reported by D-SACK (RFC 2883) */
	uint64_t dsacks_sent;
};

struct tcp_stack *tcp_stack_create(const struct tcp_stack_conf *conf);
void tcp_stack_destroy(struct tcp_stack *st);

/* Take ownership of `n` received frames and process them. Cost: O(n) plus the app's handlers. */
void tcp_stack_input(struct tcp_stack *st, struct rte_mbuf **pkts, uint16_t n, uint64_t now_us);

/* Run due timers (retransmission, delayed ACK, TIME_WAIT, keepalive, ARP expiry). Work per call
 * is bounded; returns the number of timers fired. */
int tcp_stack_timers(struct tcp_stack *st, uint64_t now_us);

/* Hand queued frames to conf->tx. Call once per poll-loop iteration, after input and timers. */
void tcp_stack_flush(struct tcp_stack *st);

/* Earliest time at which tcp_stack_timers has work, or UINT64_MAX; lets an idle loop sleep. */
uint64_t tcp_stack_next_timer(const struct tcp_stack *st);

const struct tcp_stats *tcp_stack_stats(const struct tcp_stack *st);

/* Congestion controllers (chosen per listener or per active open; fixed for a connection). */
enum tcp_cc {
	TCP_CC_NEWRENO = 0, /* RFC 5681 + RFC 6582 (the default) */
	TCP_CC_CUBIC,       /* RFC 9438 */
	TCP_CC_MAX
};
/* "newreno" (or "reno") and "cubic" -> enum tcp_cc; -EINVAL for anything else. */
int tcp_cc_by_name(const char *name);
const char *tcp_cc_name(enum tcp_cc cc);

/* Passive open on our address. `ctx` is handed to ops->accepted. NewReno. */
int tcp_listen(struct tcp_stack *st, uint16_t port, void *ctx);
/* The same with a congestion controller for the listener's connections. */
int tcp_listen_cc(struct tcp_stack *st, uint16_t port, void *ctx, enum tcp_cc cc);

/* Active open; `conn_ctx` is the context ops->connected and later events get. NewReno, any
 * free ephemeral port. */
struct tcp_conn *tcp_connect(struct tcp_stack *st, uint32_t dst_ip, uint16_t dst_port,
                             void *conn_ctx, uint64_t now_us);

struct tcp_connect_opts {
	enum tcp_cc cc;
	/* Optional: consulted for each candidate ephemeral port (ports in host order, address in
	 * network order); return nonzero to take it. E.g. a dataplane keeps only ports whose RSS
	 * hash brings the replies back to the opening lcore's queue. At most
	 * TCP_CONNECT_PORT_TRIES candidates are offered, then tcp_connect fails (EADDRNOTAVAIL). */
	int (*port_ok)(void *arg, uint32_t raddr, uint16_t rport, uint16_t lport);
	void *port_arg;
};
#define TCP_CONNECT_PORT_TRIES 4096
/* tcp_connect with options (NULL = defaults). */
struct tcp_conn *tcp_connect_opts(struct tcp_stack *st, uint32_t dst_ip, uint16_t dst_port,
                                  void *conn_ctx, uint64_t now_us,
                                  const struct tcp_connect_opts *o);

/* Replace the context later events receive (e.g. after accepted returned a placeholder). */
void tcp_set_ctx(struct tcp_conn *c, void *conn_ctx);

/* Receive path. Data stays in the stack's mbufs until consumed, and the advertised window is
 * rcvbuf minus what is unconsumed, so a slow application pushes back on its peer. */
size_t tcp_recv_avail(const struct tcp_conn *c);
/* Point iov[0..ret) at unconsumed in-order data, in order, without copying. */
int tcp_recv_peek(struct tcp_conn *c, struct iovec *iov, int iovcnt);
/* Release the first n bytes (n <= avail); may send a window update. */
int tcp_recv_consume(struct tcp_conn *c, size_t n);
/* Copy out and consume up to len bytes; returns the count (0 when nothing is queued). */
ssize_t tcp_recv(struct tcp_conn *c, void *buf, size_t len);
/* True once the peer's FIN has been received and all data before it consumed. */
int tcp_recv_eof(const struct tcp_conn *c);

/* Send path: copies up to len bytes into the send queue; returns bytes accepted, or -EAGAIN if
 * none fit (ops->writable follows), -ENOTCONN / -EPIPE after close, -ENOBUFS if the mbuf pool
 * is exhausted (no writable follows: retry later or close). Data is segmented and
 * transmitted at the next tcp_stack_flush(). */
ssize_t tcp_send(struct tcp_conn *c, const void *buf, size_t len);
size_t tcp_send_space(const struct tcp_conn *c);

/* Graceful close: FIN after queued data. ops->closed follows when the connection is done.
 * Data received afterwards is acknowledged and discarded; data already queued stays valid (so
 * iovecs from tcp_recv_peek survive a close from inside a handler) until consumed or closed. */
int tcp_close(struct tcp_conn *c);
/* Abortive close: RST now, queued data dropped; ops->closed(TCP_CLOSE_ABORT) follows. */
int tcp_abort(struct tcp_conn *c);

/* Peer address, network byte order. */
void tcp_peer(const struct tcp_conn *c, uint32_t *ip, uint16_t *port);

#endif /* TCP_H */

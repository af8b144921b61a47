/* SPDX-License-Identifier: Apache-2.0
 * tcpstack internals: the stack instance, the TCB and the helpers shared by tcp_stack.c (L2/L3,
 * output, events) and tcp_proto.c (the TCP state machine).
 */
#ifndef TCP_PVT_H
#define TCP_PVT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "tcpstack/tcp.h"
#include "tcpstack/tcp_timer.h"

/* Tunables. Times in microseconds. */
#define TCP_RTO_INIT_US    1000000u    /* RFC 6298 2.1 */
#define TCP_RTO_MIN_US     200000u     /* floor of RTO - SRTT, as Linux (RFC 6298: 1 s) */
#define TCP_RTO_MAX_US     60000000u   /* RFC 6298 2.5 */
#define TCP_RTO_RETRIES    8           /* data/FIN retransmissions before TCP_CLOSE_TIMEOUT */
#define TCP_SYN_RETRIES    5           /* SYN or SYN-ACK retransmissions */
#define TCP_DELACK_US      40000u      /* delayed ACK (RFC 1122 4.2.3.2 allows up to 500 ms) */
#define TCP_MSL_DEFAULT_US 30000000u   /* 2*MSL = 60 s, like Linux's TIME_WAIT */
#define TCP_KA_INTVL_US    75000000u   /* keepalive probe interval (Linux tcp_keepalive_intvl) */
#define TCP_KA_PROBES      9           /* unanswered probes before TCP_CLOSE_TIMEOUT */
#define TCP_KA_CHUNK_US    1800000000u /* longest single wait: deadlines are 32-bit µs */
#define TCP_FIN_WAIT2_US                                                                           \
	60000000u /* FIN_WAIT_2 with no peer FIN: give up (Linux tcp_fin_timeout) */
#define TCP_OOO_MAX                                                                                \
	64                       /* out-of-order segments kept per connection: a 64 KiB window     \
	                          * of full segments (45) fits, so a loss early in a flight does   \
	                          * not also drop (and un-SACK) its tail */
#define TCP_CHALLENGE_PER_S 1000 /* RFC 5961 7 (Linux tcp_challenge_ack_limit) */
#define TCP_WS_MAX          14   /* RFC 7323 2.3 */
#define TCP_IW_SEGS         10   /* RFC 6928 initial window */
#define TCP_MAX_LISTENERS   16
#define TCP_TXQ_MAX         256
#define TCP_ARP_SLOTS       256 /* power of two */
#define TCP_ARP_PROBE       8   /* linear probe length */
#define TCP_ARP_QLEN        4   /* frames held per unresolved next hop */
#define TCP_ARP_RETRY_US    1000000u
#define TCP_ARP_TRIES       3
#define TCP_TIMER_BUDGET    4096 /* timer callbacks per tcp_stack_timers call */
#define TCP_DEFAULT_ARP_US  (300u * 1000000u)
#define TCP_HDRS_LEN        (RTE_ETHER_HDR_LEN + 20 + 20)
#define TCP_DUPTHRESH       3       /* RFC 5681 / RFC 6675 DupThresh */
#define TCP_SB_BLOCKS       8       /* SACKed ranges kept per scoreboard (the lowest go first) */
#define TCP_SB_DEFAULT      4096u   /* scoreboards per stack unless conf.sack_boards says */
#define TCP_TLP_MIN_US      10000u  /* PTO floor (Linux's tcp_rto_min for probes) */
#define TCP_WCDELACK_US     200000u /* RFC 8985 7.2 WCDelAckT */
#define TCP_BUF_GROW_MAX    3       /* autotuning: rcvbuf/sndbuf grow up to << 3 (x8) */

enum tcp_state {
	TCPS_CLOSED = 0,
	TCPS_LISTEN,
	TCPS_SYN_SENT,
	TCPS_SYN_RCVD,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSE_WAIT,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	TCPS_TIME_WAIT,
};

/* tcp_conn.flags */
#define TF_ACKNOW     0x0001 /* send an ACK at the next output */
#define TF_DELACK     0x0002 /* a delayed ACK is pending (deadline in delack_at) */
#define TF_FIN_QUEUED 0x0004 /* app closed: FIN goes after the queued data */
#define TF_FIN_SENT   0x0008 /* our FIN has a sequence number (snd_max covers it) */
#define TF_APP        0x0010 /* the app knows this connection (accepted/connected delivered) */
#define TF_APP_GONE   0x0020 /* ops->closed delivered: no more events */
#define TF_WANT_WRITE 0x0040 /* tcp_send fell short: deliver writable when space frees */
#define TF_ON_OUTQ    0x0080
#define TF_ON_EVQ     0x0100
#define TF_RTT        0x0200 /* an RTT sample is being timed (rtt_seq, rtt_ts) */
#define TF_RD_SHUT    0x0400 /* app closed: received data is discarded */
#define TF_ACTIVE     0x0800 /* active open */
#define TF_RCVD_FIN   0x1000 /* peer's FIN is consumed into rcv_nxt */
#define TF_FREE_PEND  0x2000 /* CLOSED: free after events are dispatched */
#define TF_RTO        0x4000 /* rto_at armed: RTO, persist, FIN_WAIT_2 or TIME_WAIT deadline */
#define TF_RECOVERY   0x8000 /* in fast recovery until SND.UNA reaches `recover` */

/* tcp_conn.lr: loss-recovery state beyond TF_RECOVERY */
#define LR_PTO     0x01 /* rto_at is a tail-loss probe timeout (RFC 8985 7), not an RTO */
#define LR_TLP_OUT 0x02 /* a probe is in flight: [tlp_seq, tlp_end) */
/* Bits 4-5: reordering level r, raised by each recovery proved spurious (RFC 3522); DupThresh
 * is TCP_DUPTHRESH << r (3, 6, 12, 24), as Linux raises tp->reordering. */
#define LR_REORD_SHIFT 4
#define LR_REORD_MASK  0x30
/* Bits 2-3: receive-buffer autotuning level g, the window offered is rcvbuf << g (0-3); the
 * stack's buf_used holds (rcvbuf << g) - rcvbuf for it until the connection ends. */
#define LR_RBUF_SHIFT 2
#define LR_RBUF_MASK  0x0c
#define LR_EDGE       0x40 /* a segment reached our window's right edge (rbuf_edge) */

/* tcp_conn.ev: pending application events, delivered in this order */
#define TEV_OPEN     0x01
#define TEV_READABLE 0x02
#define TEV_WRITABLE 0x04
#define TEV_CLOSED   0x08

#define TCP_NIL UINT32_MAX

/* Key of the connection hash: the remote end and our port (our address is the stack's). */
struct tcp_key {
	uint32_t faddr;
	uint16_t fport;
	uint16_t lport;
};

/* A segment queue: single-segment mbufs linked through m->next, each holding payload only. */
struct tcp_mq {
	struct rte_mbuf *head, *tail;
};

/* Sender-side SACK scoreboard (RFC 6675): the SACKed ranges above SND.UNA, sorted and
 * disjoint, and the recovery variables. Held only while SACKed data is outstanding or SACK
 * recovery runs, taken from a per-stack pool (no allocation per packet, and the idle TCB keeps
 * only a 32-bit index). */
struct tcp_sackboard {
	uint32_t next;     /* free list */
	uint8_t n;         /* ranges in blk */
	uint8_t rec;       /* RFC 6675 recovery in progress (TF_RECOVERY too) */
	uint8_t rescued;   /* the rescue retransmission (NextSeg rule 4) was sent */
	uint8_t undo;      /* 1: Eifel check pending for undo_seq; 2: the response was undone */
	uint8_t dupthresh; /* DupThresh for this connection (raised by reordering, see LR_REORD) */
	uint32_t high_rxt; /* HighRxt, exclusive: [SND.UNA, high_rxt) holes were retransmitted */
	uint32_t lost_to;  /* TLP/RACK: every unSACKed byte below this is lost */
	uint32_t rxt_mark; /* HighData when the latest retransmission left (RACK-style check) */
	uint32_t rxt_ms;   /* and when, ms */
	uint32_t undo_seq, undo_tsval;     /* the first retransmission: its sequence and TSval */
	uint32_t undo_cwnd, undo_ssthresh; /* before the recovery cut them */
	uint32_t blk[TCP_SB_BLOCKS][2];
};

/* Congestion control, chosen per listener / active open (nginx style: one ops table, one
 * indirect call per ACK that advances SND.UNA outside recovery). */
struct tcp_cc_ops {
	const char *name;
	void (*init)(struct tcp_conn *c);
	/* `acked` new bytes, outside recovery: grow cwnd. */
	void (*on_ack)(struct tcp_conn *c, uint32_t acked);
	/* A congestion event (fast retransmit, RTO): returns the new ssthresh. */
	uint32_t (*on_loss)(struct tcp_conn *c);
};
extern const struct tcp_cc_ops *const tcp_cc_table[TCP_CC_MAX];

/* The TCB. Field order groups what the fast path touches together; docs/tcp.md has the
 * measured size. Sequence variables follow RFC 9293 names. Queues hold mbufs only while data is
 * in flight, so an idle connection costs sizeof(struct tcp_conn) and nothing else. */
struct tcp_conn {
	struct tcp_stack *st;
	void *ctx;              /* app context (or listener ctx until accepted) */
	struct tcp_timer timer; /* one timer multiplexed over RTO/persist, delayed ACK, TIME_WAIT */
	struct tcp_mq sndq;     /* bytes [snd_una, snd_una + snd_len) */
	struct tcp_mq rcvq;     /* in-order, unconsumed: rcv_len bytes */
	struct rte_mbuf *ooo;   /* out-of-order segments sorted by seq (m->hash.usr = seq) */

	struct tcp_key key;
	uint32_t snd_una, snd_nxt, snd_max; /* snd_max: highest sequence sent (snd_nxt rewinds) */
	uint32_t snd_wnd, snd_wl1, snd_wl2, iss;
	uint32_t snd_len; /* bytes in sndq (unacked + unsent) */
	uint32_t cwnd, ssthresh;
	uint32_t recover;               /* RFC 6582: snd_max when loss recovery last started */
	uint32_t rcv_nxt, rcv_adv, irs; /* rcv_adv: right edge of the window we advertised */
	uint32_t rcv_len;
	uint32_t rcv_acked;         /* rcv_nxt at the last ACK we sent */
	uint32_t srtt, rttvar, rto; /* us; srtt 0 = no sample yet */
	uint32_t rtt_seq, rtt_ts;   /* timed segment: ACK of rtt_seq gives a sample; rtt_ts in us */
	uint32_t rto_at, delack_at; /* deadlines, us (low 32 bits of the clock), when armed */
	uint32_t last_rx_ms;        /* last segment received (keepalive idleness), ms */
	uint32_t ev_next, out_next; /* intrusive lists by pool index (TCP_NIL ends) */
	uint32_t tw_prev, tw_next;  /* TIME_WAIT list, oldest first (recycled at max_conns) */
	uint16_t flags;
	uint16_t mss;     /* send MSS: min(peer's option, ours) */
	uint32_t max_wnd; /* largest window the peer offered (sender SWS) */
	uint8_t state;
	uint8_t ev;
	uint8_t retries; /* consecutive RTO expiries */
	uint8_t why;     /* close reason for TEV_CLOSED */
	uint8_t n_ooo;
	uint8_t listener;
	uint8_t dupacks;
	uint8_t snd_ws, rcv_ws; /* RFC 7323 shifts: peer's windows <<= snd_ws, ours >>= rcv_ws */
	uint8_t ws_ok;          /* window scaling negotiated (or offered, before the SYN-ACK) */
	uint8_t ts_ok;      /* timestamps negotiated (or offered): every non-RST segment has one */
	uint8_t sack_ok;    /* peer sent SACK-permitted: our duplicate ACKs carry SACK blocks,
	                     * and its blocks feed our scoreboard */
	uint32_t ts_recent; /* RFC 7323 TS.Recent: the peer's TSval we echo */
	uint32_t sb;        /* scoreboard index in st->sbs, TCP_NIL = none */
	uint32_t tlp_seq;   /* tail-loss probe sent as [tlp_seq, tlp_end) (LR_TLP_OUT) */
	uint32_t tlp_end;
	uint8_t cc;         /* enum tcp_cc */
	uint8_t lr;         /* LR_* */
	uint16_t cc_k_ms;   /* CUBIC: K, ms (RFC 9438 4.2) */
	uint32_t cc_w_max;  /* CUBIC: W_max, bytes */
	uint32_t cc_w_last; /* CUBIC: W_max before the last reduction (fast convergence) */
	uint32_t cc_epoch;  /* CUBIC: congestion-avoidance epoch start, ms; 0 = none */
	uint32_t cc_w_est;  /* CUBIC: Reno-friendly estimate W_est, bytes */
};

/* Issue 3's budget for an idle connection; docs/tcp.md has the layout. */
_Static_assert(sizeof(struct tcp_conn) <= 256, "idle TCB over 256 bytes");

struct tcp_listener {
	uint16_t port; /* host order; 0 = free */
	uint8_t cc;    /* enum tcp_cc for its connections */
	void *ctx;
};

enum { ARP_FREE = 0, ARP_PENDING, ARP_VALID };

struct tcp_arp_entry {
	uint32_t ip;
	uint8_t state, tries, qlen;
	struct rte_ether_addr mac;
	uint64_t expire_us; /* VALID: entry lifetime; PENDING: next request */
	struct rte_mbuf *q[TCP_ARP_QLEN];
};

struct tcp_stack {
	struct tcp_stack_conf conf;
	struct tcp_stats stats;
	uint64_t now_us;        /* latest time seen by an entry point */
	uint64_t chal_start_us; /* challenge-ACK rate window */
	uint32_t chal_count;
	uint32_t msl_us;
	uint16_t mss_local; /* MSS we announce: mtu - 40 */
	uint8_t ws_local;   /* our window shift: smallest with rcvbuf >> shift <= 65535 */
	uint16_t ip_id;
	uint16_t next_port;
	uint32_t n_listeners;
	struct tcp_listener listeners[TCP_MAX_LISTENERS];

	struct tcp_sackboard *sbs; /* SACK scoreboard pool */
	uint32_t sb_free, n_sbs;

	/* D-SACK (RFC 2883) for the ACK of a duplicate segment: one pending report per stack, not
	 * per TCB (which has no room): the immediate ACK that follows carries it, and a report
	 * overwritten by another connection's before the flush is merely not sent. */
	const struct tcp_conn *dsack_c;
	uint32_t dsack[2];

	/* Autotuning (tcp.h conf.buf_budget): bytes granted beyond rcvbuf (receive windows grown)
	 * plus bytes queued beyond sndbuf (send queues grown), and their bound. */
	uint64_t buf_used, buf_budget;

	struct rte_hash *hash; /* tcp_key -> struct tcp_conn * */
	struct tcp_conn *conns;
	uint32_t free_head; /* free TCBs linked through ev_next */
	uint32_t n_used;
	uint32_t n_synrcvd;            /* passive opens in SYN_RCVD */
	uint32_t syn_backlog;          /* n_synrcvd limit; beyond it SYNs get cookies */
	uint32_t evq_head, evq_tail;   /* conns with pending events */
	uint32_t outq_head, outq_tail; /* conns with output to do */
	uint32_t tw_head, tw_tail;     /* TIME_WAIT list, by entry time */
	int in_dispatch;

	struct tcp_wheel wheel;

	uint64_t arp_next_us; /* next ARP table scan (retries, expiry); UINT64_MAX = nothing */
	struct tcp_arp_entry arp[TCP_ARP_SLOTS];

	uint16_t txq_len;
	struct rte_mbuf *txq[TCP_TXQ_MAX];

	uint64_t isn_key[2]; /* SipHash key for RFC 6528 ISNs, random per stack */
};

static inline uint32_t
tcp_conn_idx(const struct tcp_stack *st, const struct tcp_conn *c)
{
	return (uint32_t)(c - st->conns);
}

#define SEQ_LT(a, b)  ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)

/* tcp_stack.c */
void tcp_xmit(struct tcp_stack *st, struct rte_mbuf *m); /* queue a finished frame */
void tcp_stack_flush_tx(struct tcp_stack *st);
int tcp_ip_output(struct tcp_stack *st, struct rte_mbuf *m, uint32_t dst);
struct rte_mbuf *tcp_alloc(struct tcp_stack *st);
void tcp_ev_post(struct tcp_conn *c, uint8_t ev);
void tcp_out_post(struct tcp_conn *c);
void tcp_dispatch(struct tcp_stack *st);
uint32_t tcp_siphash_isn(const struct tcp_stack *st, const struct tcp_key *k);
uint32_t tcp_cookie_mac(const struct tcp_stack *st, const struct tcp_key *k, uint32_t irs,
                        uint32_t t, uint32_t mss_idx);

/* tcp_proto.c */
void tcp_input(struct tcp_stack *st, struct rte_mbuf *m, struct rte_ipv4_hdr *ip, uint16_t off);
void tcp_output(struct tcp_conn *c);
void tcp_timer_fire(void *arg, struct tcp_timer *t);
void tcp_conn_free(struct tcp_conn *c);
void tcp_mq_free(struct tcp_mq *q);

/* tcp_sack.c: the scoreboard as pure functions of (una, max, mss) */
uint32_t tcp_sb_update(struct tcp_sackboard *sb, uint32_t una, uint32_t max,
                       const uint32_t (*blk)[2], unsigned int n);
void tcp_sb_trim(struct tcp_sackboard *sb, uint32_t una);
uint32_t tcp_sb_lost_edge(const struct tcp_sackboard *sb, uint32_t una, uint32_t mss);
uint32_t tcp_sb_pipe(const struct tcp_sackboard *sb, uint32_t una, uint32_t max, uint32_t mss);
int tcp_sb_next_seg(struct tcp_sackboard *sb, uint32_t una, uint32_t max, uint32_t mss, int rule,
                    uint32_t *seq, uint32_t *len);
uint32_t tcp_sb_skip(const struct tcp_sackboard *sb, uint32_t seq);
int tcp_sb_covers(const struct tcp_sackboard *sb, uint32_t seq);
uint32_t tcp_sb_hole_len(const struct tcp_sackboard *sb, uint32_t seq, uint32_t max);
uint32_t tcp_sb_sacked_above(const struct tcp_sackboard *sb, uint32_t seq);

/* tcp_cc.c */
uint32_t tcp_cubic_w(uint32_t w_max, uint32_t k_ms, uint32_t t_ms, uint32_t mss);
uint32_t tcp_cubic_k_ms(uint32_t w_max, uint32_t cwnd, uint32_t mss);

#endif

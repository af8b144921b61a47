/* SPDX-License-Identifier: Apache-2.0
 * Segment-level test harness for tcpstack, in the spirit of packetdrill: a stack instance whose
 * tx captures frames, a virtual clock, crafted frames in, exact frames expected out.
 *
 * A script is a C function made of steps:
 *   AT(ms)                       advance the virtual clock (runs timers, then flush)
 *   IN(.flags = SYN, .seq = 0, .win = 65535, .mss = 1460)   inject a segment from the peer
 *   OUT(.flags = SYN | ACK, .seq = 0, .ack = 1, .mss = 1460)  expect the next frame sent
 *   NONE()                       expect that nothing more was sent
 * Sequence numbers are relative, packetdrill style: the peer's to its ISN (PEER_ISN), ours to
 * the ISS read from our SYN or SYN-ACK. Fields left out of OUT() are not checked. The harness
 * fails a script if a frame is left unexpected at its end and checks that every mbuf taken
 * from the pool during the script is back.
 */
#ifndef TCP_HARNESS_H
#define TCP_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include <rte_ether.h>
#include <rte_tcp.h>

#include "tcpstack/tcp.h"

#define SYN RTE_TCP_SYN_FLAG
#define ACK RTE_TCP_ACK_FLAG
#define FIN RTE_TCP_FIN_FLAG
#define RST RTE_TCP_RST_FLAG
#define PSH RTE_TCP_PSH_FLAG

/* RTE_IPV4 shifts an int into the sign bit (UBSan); this does not. */
#define IP4(a, b, c, d)                                                                            \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

#define ANY       INT64_MIN
#define PEER_ISN  1000000u
#define OUR_PORT  1883
#define PEER_PORT 40000

struct seg_spec {
	int64_t flags, seq, ack, win, len, mss, wscale; /* .wscale = -1 in OUT: absent */
	int64_t tsval, tsecr; /* IN: send timestamps; OUT: .tsecr checked, .tsval = -1: absent */
	int64_t sport, dport; /* IN: peer's port / our port; OUT: checked if set */
	const void *data;     /* IN payload (else a byte pattern); OUT: compared if set */
	int bad_csum;         /* IN: corrupt the TCP checksum */
	uint32_t src_ip;      /* IN: source address (host order); 0 = PEER_IP */
	int abs_ack;          /* IN: .ack is absolute, not relative to our ISS */
	int sackok;           /* IN: SYN carries SACK-permitted; OUT: 1 = must carry it */
	int64_t sack_n;       /* OUT: number of SACK blocks (0: none) */
	int64_t sack_l, sack_r; /* OUT: first SACK block, peer sequence relative to its ISN */
	uint32_t sack[4][2];    /* IN: SACK blocks, relative to our ISS ({0, 0} ends the list) */
};

/* Per-connection record the test app keeps. */
struct app_conn {
	struct tcp_conn *c;
	int accepted, connected, readable, writable, closed;
	enum tcp_close_reason why;
	int consume; /* consume everything on readable */
	size_t consumed;
	int eof_seen;
};

struct harness {
	struct tcp_stack *st;
	struct tcp_stack_conf conf;
	uint64_t now_us;
	uint32_t iss; /* our ISS, learned from our first SYN/SYN-ACK */
	struct app_conn conns[8];
	int n_conns;
	int auto_consume;
	int refuse;
	unsigned int in_use_start;
	const char *name;
	int failed;
	size_t sent; /* bytes given to tcp_send by h_send */
};

extern struct harness H;
/* Set before SCRIPT(): keepalive_us of the next stack (reset by h_begin). */
extern uint64_t h_next_keepalive_us;
/* Set before SCRIPT(): buf_budget of the next stack (0 = autotuning off, the default here). */
extern uint32_t h_next_buf_budget;
extern struct rte_mempool *test_pool;

#define PEER_IP IP4(198, 18, 0, 2)
#define OUR_IP  IP4(198, 18, 0, 1)

void h_begin(const char *name, uint32_t rcvbuf);
void h_end(void);
void h_at(uint64_t ms);
void h_at_us(uint64_t us);
void h_in(const struct seg_spec *s, int line);
void h_out(const struct seg_spec *s, int line);
void h_none(int line);
/* Raw frames for ARP/ICMP/IP-level tests. */
void h_in_frame(const void *frame, uint16_t len);
/* Frames injected between these two go to tcp_stack_input as one burst. */
void h_in_burst_begin(void);
void h_in_burst_end(void);
/* Pop the next captured frame into buf; returns its length or -1 if none. */
int h_pop_frame(void *buf, uint16_t cap, int line);
void h_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECKH(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			h_fail(__LINE__, "%s", #cond);                                             \
	} while (0)
#define CHECKH_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			h_fail(__LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b);                \
	} while (0)

/* An ARP frame from 02:00:00:00:00:<sha_last>, broadcast or to us. */
void h_build_arp(uint8_t *f, uint16_t op, uint8_t sha_last, uint32_t sip, uint32_t tip, int bcast);
/* Let the peer's ARP request teach the stack its MAC (and swallow the reply). */
void h_peer_arp(void);
/* The three-way handshake as the peer: SYN (mss), our SYN-ACK, ACK. Returns the app record. */
struct app_conn *h_handshake(uint16_t win, uint16_t mss);
/* The same with SACK-permitted in the peer's SYN (and checked in our SYN-ACK). */
struct app_conn *h_handshake_sack(uint16_t win, uint16_t mss);

/* tcp_send n bytes of the pattern OUT() checks payloads against. */
ssize_t h_send(struct app_conn *a, size_t n);

#define SEQ_GT_U(a, b) ((int32_t)((a) - (b)) > 0)

#define SPEC(...)                                                                                  \
	(&(struct seg_spec){.flags = ANY,                                                          \
	                    .seq = ANY,                                                            \
	                    .ack = ANY,                                                            \
	                    .win = ANY,                                                            \
	                    .len = ANY,                                                            \
	                    .mss = ANY,                                                            \
	                    .wscale = ANY,                                                         \
	                    .tsval = ANY,                                                          \
	                    .tsecr = ANY,                                                          \
	                    .sack_n = ANY,                                                         \
	                    .sack_l = ANY,                                                         \
	                    .sack_r = ANY,                                                         \
	                    .sport = ANY,                                                          \
	                    .dport = ANY,                                                          \
	                    __VA_ARGS__})
#define IN(...)  h_in(SPEC(__VA_ARGS__), __LINE__)
#define OUT(...) h_out(SPEC(__VA_ARGS__), __LINE__)
#define NONE()   h_none(__LINE__)
#define AT(ms)   h_at(ms)

#endif

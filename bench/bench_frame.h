/* SPDX-License-Identifier: Apache-2.0
 * bench_frame: the peer side of in-process benchmarks that drive a tcpstack instance without a
 * network (micro_tcp's TCP input per segment, replay-full's clients): build the Ethernet/ARP/
 * IPv4/TCP frames a client would send, and parse the frames the stack sends back.
 */
#ifndef BENCH_FRAME_H
#define BENCH_FRAME_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

/* One TCP connection as its client sees it. Addresses in network byte order, ports in host. */
struct bench_flow {
	struct rte_ether_addr cmac, smac; /* client, server */
	uint32_t cip, sip;
	uint16_t cport, sport;
	uint32_t snd_nxt; /* client's next sequence number */
	uint32_t rcv_nxt; /* next byte expected from the server (what the client ACKs) */
};

/* A TCP segment the stack sent, parsed. */
struct bench_seg {
	uint32_t dip;          /* network order */
	uint16_t sport, dport; /* host order */
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win;
	const uint8_t *data;
	uint16_t len;
};

/* A TCP frame from the client with `len` bytes of `data` (NULL: zeros) at flow->snd_nxt,
 * acknowledging flow->rcv_nxt (when flags has ACK); a SYN carries an MSS option of 1460.
 * Checksums are computed. Returns NULL when the pool is empty. Does not advance snd_nxt. */
struct rte_mbuf *bench_frame_tcp(struct rte_mempool *mp, const struct bench_flow *f, uint8_t flags,
                                 const void *data, uint16_t len);
/* An ARP request from the client for the server's address (teaches the stack the client's MAC). */
struct rte_mbuf *bench_frame_arp(struct rte_mempool *mp, const struct bench_flow *f);
/* Parse a frame the stack sent: 0 for an IPv4/TCP segment (s filled, data pointing into m),
 * -ENOENT for anything else (ARP replies). */
int bench_frame_parse(const struct rte_mbuf *m, struct bench_seg *s);

#endif

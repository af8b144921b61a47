/* SPDX-License-Identifier: Apache-2.0
 * C side of micro_tcp.cc: a DPDK EAL without hugepages or devices, and a tcpstack instance
 * with N established connections whose clients (bench_frame.h) send it data segments.
 */
#ifndef MICRO_NET_GLUE_H
#define MICRO_NET_GLUE_H

#include <stdint.h>

/* rte_eal_init with --no-huge -m 256 --no-pci --no-shconf --no-telemetry and a file prefix of
 * its own; 0 or -errno. bench_eal_fini() cleans up and removes the runtime directory. */
int bench_eal_init(const char *prog);
void bench_eal_fini(void);

struct bench_tcpin;
/* A stack at 198.18.0.1:1883 and `nconns` connections from 198.18.0.2 (ports 10000 + i), each
 * through ARP, SYN, SYN-ACK, ACK; the app consumes every byte as it arrives. NULL + errno. */
struct bench_tcpin *bench_tcpin_new(uint32_t nconns);
void bench_tcpin_free(struct bench_tcpin *b);
/* Build `n` in-order data segments of `len` bytes, round-robin over the connections (not
 * timed by the caller); 0 or -ENOMEM. */
int bench_tcpin_prepare(struct bench_tcpin *b, uint16_t len, unsigned int n);
/* Feed the prepared segments to tcp_stack_input in bursts of 32, as an lcore's RX loop does,
 * with a flush (the ACKs) after each burst. Returns the segments fed. */
unsigned int bench_tcpin_run(struct bench_tcpin *b);
/* Payload bytes the stack accepted in order, frames it sent, segments it dropped or held. */
void bench_tcpin_counts(const struct bench_tcpin *b, uint64_t *rx_bytes, uint64_t *tx_frames,
                        uint64_t *dropped);

#endif

/* SPDX-License-Identifier: Apache-2.0
 * C side of the tcpstack microbenchmarks (micro_timer.cc, micro_tcp.cc): what the C++ harness
 * needs from tcpstack's private headers, which pull in DPDK and C-only idioms.
 */
#ifndef MICRO_TCP_GLUE_H
#define MICRO_TCP_GLUE_H

#include <stddef.h>
#include <stdint.h>

/* sizeof(struct tcp_conn): an idle established connection's whole TCP cost (tcp_pvt.h). */
size_t bench_tcb_size(void);
/* offsetof(struct tcp_conn, timer): where the wheel's entry sits in a TCB. */
size_t bench_tcb_timer_off(void);

#endif

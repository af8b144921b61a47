/* SPDX-License-Identifier: Apache-2.0
 * See micro_tcp_glue.h.
 */
#include "micro_tcp_glue.h"

#include "tcpstack/tcp_pvt.h"

size_t
bench_tcb_size(void)
{
	return sizeof(struct tcp_conn);
}

size_t
bench_tcb_timer_off(void)
{
	return offsetof(struct tcp_conn, timer);
}

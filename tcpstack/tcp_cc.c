/* SPDX-License-Identifier: Apache-2.0
 * Congestion controllers behind struct tcp_cc_ops: NewReno (RFC 5681 growth, the RFC 6582
 * recovery lives in tcp_proto.c) and CUBIC (RFC 9438). A connection's controller is fixed at
 * tcp_listen_cc()/tcp_connect_opts() time; tcp_proto.c makes one indirect call per ACK that
 * advances SND.UNA outside recovery, and one per congestion event. The controllers touch only
 * cwnd/ssthresh and their own TCB fields (cc_*), never the send queue.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "tcpstack/tcp_pvt.h"

static uint32_t
flight(const struct tcp_conn *c)
{
	return c->snd_max - c->snd_una;
}

static uint32_t
now_ms(const struct tcp_conn *c)
{
	return (uint32_t)(c->st->now_us / 1000);
}

/* ---------------------------------------------------------------- NewReno (RFC 5681) */

static void
reno_init(struct tcp_conn *c)
{
	(void)c;
}

/* Appropriate byte counting (RFC 3465): growth follows the bytes acknowledged, not the number
 * of ACKs, so a receiver that ACKs every second segment (Linux, and RFC 5681 4.2) does not
 * halve congestion avoidance's one segment per RTT. Slow start takes at most L = 2 SMSS per
 * ACK (RFC 3465 2.3). Congestion avoidance adds acked * SMSS / cwnd: eq. (3) per SMSS acked,
 * without the RFC's bytes_acked counter (the TCB has no room for it; the rounding loses less
 * than one byte per ACK). */
static void
reno_on_ack(struct tcp_conn *c, uint32_t acked)
{
	if (c->cwnd < c->ssthresh)
		c->cwnd += RTE_MIN(acked, 2u * c->mss);
	else
		c->cwnd += RTE_MAX(1u, (uint32_t)((uint64_t)acked * c->mss / c->cwnd));
}

/* RFC 5681 eq. (4): half the flight, at least two segments. */
static uint32_t
reno_on_loss(struct tcp_conn *c)
{
	return RTE_MAX(flight(c) / 2, 2u * c->mss);
}

static const struct tcp_cc_ops reno_ops = {
	.name = "newreno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.on_loss = reno_on_loss,
};

/* ---------------------------------------------------------------- CUBIC (RFC 9438) */

#define CUBIC_C    0.4 /* 4.1, segments / s^3 */
#define CUBIC_BETA 0.7 /* 4.6 */
/* 4.3: alpha_cubic = 3 (1 - beta) / (1 + beta), so W_est tracks Reno's average rate. */
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))

/* Equation 2: K = cbrt((W_max - cwnd_epoch) / C), in ms (windows in bytes, C per segment). */
uint32_t
tcp_cubic_k_ms(uint32_t w_max, uint32_t cwnd, uint32_t mss)
{
	double k;

	if (cwnd >= w_max)
		return 0;
	k = cbrt((double)(w_max - cwnd) / mss / CUBIC_C) * 1000.0;
	return k > UINT16_MAX ? UINT16_MAX : (uint32_t)k;
}

/* Equation 1: W_cubic(t) = C (t - K)^3 + W_max, in bytes, t and K in ms. */
uint32_t
tcp_cubic_w(uint32_t w_max, uint32_t k_ms, uint32_t t_ms, uint32_t mss)
{
	double d = ((double)t_ms - (double)k_ms) / 1000.0;
	double w = (double)w_max + CUBIC_C * d * d * d * mss;

	if (w < mss)
		return mss;
	return w > (double)UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)w;
}

static void
cubic_init(struct tcp_conn *c)
{
	c->cc_w_max = c->cc_w_last = c->cc_epoch = c->cc_w_est = 0;
	c->cc_k_ms = 0;
}

static void
cubic_on_ack(struct tcp_conn *c, uint32_t acked)
{
	uint32_t now = now_ms(c), t, target, rtt_ms = c->srtt / 1000;

	if (c->cwnd < c->ssthresh) {
		c->cwnd += RTE_MIN(acked, 2u * c->mss); /* 4.10: slow start as Reno */
		return;
	}
	if (c->cc_epoch == 0) {
		/* 4.2: a new congestion-avoidance epoch; without a prior loss W_max is cwnd. */
		c->cc_epoch = now ? now : 1;
		if (c->cwnd < c->cc_w_max) {
			c->cc_k_ms = (uint16_t)tcp_cubic_k_ms(c->cc_w_max, c->cwnd, c->mss);
		} else {
			c->cc_k_ms = 0;
			c->cc_w_max = c->cwnd;
		}
		c->cc_w_est = c->cwnd;
	}
	t = now - c->cc_epoch;
	/* 4.2: aim at W_cubic one RTT ahead, kept within [cwnd, 1.5 cwnd]. */
	target = tcp_cubic_w(c->cc_w_max, c->cc_k_ms, t + rtt_ms, c->mss);
	target = RTE_MAX(target, c->cwnd);
	target = RTE_MIN(target, c->cwnd + c->cwnd / 2);
	/* 4.3: W_est += alpha * segments_acked / cwnd (here in bytes). */
	c->cc_w_est += RTE_MAX(1u, (uint32_t)(CUBIC_ALPHA * (double)acked * c->mss / c->cwnd));
	if (c->cc_w_est > target) {
		c->cwnd = c->cc_w_est; /* the Reno-friendly region */
	} else {
		/* 4.4/4.5: cwnd += (target - cwnd) / cwnd per segment acked. */
		uint64_t inc = (uint64_t)(target - c->cwnd) * acked / c->cwnd;

		c->cwnd += (uint32_t)RTE_MAX(inc, 1u);
	}
}

/* 4.6 (multiplicative decrease) and 4.7 (fast convergence): a flow whose W_max fell since the
 * last loss releases bandwidth faster by remembering only (1 + beta) / 2 of it. */
static uint32_t
cubic_on_loss(struct tcp_conn *c)
{
	uint32_t w = c->cwnd;

	c->cc_epoch = 0;
	if (w < c->cc_w_last) {
		c->cc_w_last = w;
		c->cc_w_max = (uint32_t)(w * (1.0 + CUBIC_BETA) / 2.0);
	} else {
		c->cc_w_last = w;
		c->cc_w_max = w;
	}
	return RTE_MAX((uint32_t)(w * CUBIC_BETA), 2u * c->mss);
}

static const struct tcp_cc_ops cubic_ops = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.on_loss = cubic_on_loss,
};

const struct tcp_cc_ops *const tcp_cc_table[TCP_CC_MAX] = {
	[TCP_CC_NEWRENO] = &reno_ops,
	[TCP_CC_CUBIC] = &cubic_ops,
};

int
tcp_cc_by_name(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	if (strcmp(name, "reno") == 0)
		return TCP_CC_NEWRENO;
	for (int i = 0; i < TCP_CC_MAX; i++)
		if (strcmp(name, tcp_cc_table[i]->name) == 0)
			return i;
	return -EINVAL;
}

const char *
tcp_cc_name(enum tcp_cc cc)
{
	return (unsigned int)cc < TCP_CC_MAX ? tcp_cc_table[cc]->name : NULL;
}

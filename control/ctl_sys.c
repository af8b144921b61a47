/* SPDX-License-Identifier: Apache-2.0
 * $SYS computation. The load averages follow Mosquitto's sys_tree.c: for a window of W seconds
 * and a sample interval of dt seconds, with r the counter's increase per minute over dt,
 * load = r + exp(-dt / W) * (load - r).
 */
#include "control/ctl_sys.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

static const enum ctl_stat_id load_src[CTL_SYS_LOADS] = {
        [CTL_SYS_LOAD_MSG_IN] = CTL_STAT_MSG_IN,
        [CTL_SYS_LOAD_MSG_OUT] = CTL_STAT_MSG_OUT,
        [CTL_SYS_LOAD_BYTES_IN] = CTL_STAT_BYTES_IN,
        [CTL_SYS_LOAD_BYTES_OUT] = CTL_STAT_BYTES_OUT,
        [CTL_SYS_LOAD_CONNECTIONS] = CTL_STAT_CONNECTIONS_TOTAL,
};
static const char *const load_topic[CTL_SYS_LOADS] = {
        "messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections",
};
static const int windows[3] = {60, 300, 900};
static const char *const window_name[3] = {"1min", "5min", "15min"};

static void
add(json_t *a, const char *topic, const char *payload)
{
	char t[128];

	snprintf(t, sizeof(t), "$SYS/broker/%s", topic);
	json_array_append_new(a, json_pack("{s:s,s:s}", "topic", t, "payload", payload));
}

static void
add_u64(json_t *a, const char *topic, uint64_t v)
{
	char p[24];

	snprintf(p, sizeof(p), "%" PRIu64, v);
	add(a, topic, p);
}

json_t *
ctl_sys_messages(struct ctl_sys *s, const struct ctl_stats *st, const char *version, int64_t now_ms)
{
	const uint64_t *t = st->total;
	json_t *a = json_array();
	char p[64];

	if (t[CTL_STAT_CONNECTIONS] > s->clients_max)
		s->clients_max = t[CTL_STAT_CONNECTIONS];
	if (s->primed && now_ms > s->last_ms) {
		double dt = (now_ms - s->last_ms) / 1000.0;

		for (int i = 0; i < CTL_SYS_LOADS; i++) {
			uint64_t cur = t[load_src[i]];
			/* a restarted tachyond starts its counters again: no negative rate */
			double r = cur >= s->last[i] ? (cur - s->last[i]) / dt * 60.0 : 0.0;

			for (int w = 0; w < 3; w++)
				s->load[i][w] = r + exp(-dt / windows[w]) * (s->load[i][w] - r);
		}
	}
	for (int i = 0; i < CTL_SYS_LOADS; i++)
		s->last[i] = t[load_src[i]];
	s->last_ms = now_ms;
	s->primed = 1;

	snprintf(p, sizeof(p), "tachyon version %s", version);
	add(a, "version", p);
	snprintf(p, sizeof(p), "%" PRIu64 " seconds", st->uptime_s);
	add(a, "uptime", p);
	add_u64(a, "clients/connected", t[CTL_STAT_CONNECTIONS]);
	add_u64(a, "clients/maximum", s->clients_max);
	add_u64(a, "messages/received", t[CTL_STAT_MSG_IN]);
	add_u64(a, "messages/sent", t[CTL_STAT_MSG_OUT]);
	add_u64(a, "publish/messages/received", t[CTL_STAT_MSG_IN]);
	add_u64(a, "publish/messages/sent", t[CTL_STAT_MSG_OUT]);
	add_u64(a, "publish/messages/dropped",
	        t[CTL_STAT_DROP_QFULL] + t[CTL_STAT_DROP_OUTBUF] + t[CTL_STAT_DROP_EXPIRED]);
	add_u64(a, "bytes/received", t[CTL_STAT_BYTES_IN]);
	add_u64(a, "bytes/sent", t[CTL_STAT_BYTES_OUT]);
	add_u64(a, "subscriptions/count", t[CTL_STAT_SUBSCRIPTIONS]);
	add_u64(a, "retained messages/count", t[CTL_STAT_RETAINED]);
	for (int i = 0; i < CTL_SYS_LOADS; i++) {
		for (int w = 0; w < 3; w++) {
			char topic[64];

			snprintf(topic, sizeof(topic), "load/%s/%s", load_topic[i], window_name[w]);
			snprintf(p, sizeof(p), "%.2f", s->load[i][w]);
			add(a, topic, p);
		}
	}
	return a;
}

/* SPDX-License-Identifier: Apache-2.0
 * Aggregation and rendering of the dataplane's counters. Cost: O(lcores x fields) per call,
 * a few thousand operations; runs in tachyon-control or tachyonctl, never on an lcore.
 */
#include "control/ctl_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct field {
	const char *key, *metric, *label, *help;
	char kind;
};

static const struct field fields[CTL_STAT_N] = {
#define CTL_X_FIELD(id, path, key, kind, metric, label, help)                                      \
	[CTL_STAT_##id] = {key, metric, label, help, #kind[0]},
        CTL_STATS_FIELDS(CTL_X_FIELD)
#undef CTL_X_FIELD
};

const char *
ctl_stats_key(enum ctl_stat_id id)
{
	return id < CTL_STAT_N ? fields[id].key : NULL;
}

int
ctl_stats_from_json(json_t *resp, struct ctl_stats *s)
{
	json_t *lcores = json_object_get(resp, "lcores"), *e;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (!json_is_array(lcores))
		return -EPROTO;
	s->tsc_hz = json_integer_value(json_object_get(resp, "tsc_hz"));
	s->uptime_s = json_integer_value(json_object_get(resp, "uptime_s"));
	s->config_generation = json_integer_value(json_object_get(resp, "config_generation"));
	json_array_foreach(lcores, i, e)
	{
		struct ctl_stats_lcore *l;
		json_t *c = json_object_get(e, "counters");

		if (s->n == CTL_STATS_MAX_LCORES || !json_is_object(c))
			return -EPROTO;
		l = &s->lc[s->n++];
		l->lcore = json_integer_value(json_object_get(e, "lcore"));
		l->updated_us = json_integer_value(json_object_get(e, "updated_us"));
		for (int f = 0; f < CTL_STAT_N; f++)
			l->v[f] = (uint64_t)json_integer_value(json_object_get(c, fields[f].key));
	}
	ctl_stats_sum(s);
	return 0;
}

void
ctl_stats_sum(struct ctl_stats *s)
{
	memset(s->total, 0, sizeof(s->total));
	for (unsigned int i = 0; i < s->n; i++)
		for (int f = 0; f < CTL_STAT_N; f++)
			s->total[f] += s->lc[i].v[f];
	/* Every shard keeps a full replica of the retained store (dataplane/dp_route.c): the
	 * broker holds as many retained messages as the largest replica, not their sum. */
	s->total[CTL_STAT_RETAINED] = 0;
	for (unsigned int i = 0; i < s->n; i++)
		if (s->lc[i].v[CTL_STAT_RETAINED] > s->total[CTL_STAT_RETAINED])
			s->total[CTL_STAT_RETAINED] = s->lc[i].v[CTL_STAT_RETAINED];
}

/* The headline figures, in the order `tachyonctl stats` shows them. */
static const struct {
	const char *name;
	enum ctl_stat_id id;
} headline[] = {
        {"connections", CTL_STAT_CONNECTIONS},
        {"connections_total", CTL_STAT_CONNECTIONS_TOTAL},
        {"messages_in", CTL_STAT_MSG_IN},
        {"messages_out", CTL_STAT_MSG_OUT},
        {"bytes_in", CTL_STAT_BYTES_IN},
        {"bytes_out", CTL_STAT_BYTES_OUT},
        {"subscriptions", CTL_STAT_SUBSCRIPTIONS},
        {"retained", CTL_STAT_RETAINED},
        {"sessions_persistent", CTL_STAT_SESSIONS},
        {"tcp_connections", CTL_STAT_TCP_CURRENT},
        {"rx_pkts", CTL_STAT_RX_PKTS},
        {"tx_pkts", CTL_STAT_TX_PKTS},
        {"retransmits", CTL_STAT_TCP_RETRANS},
        {"mempool_in_use", CTL_STAT_MEMPOOL},
};
#define N_HEADLINE (sizeof(headline) / sizeof(headline[0]))

static double
busy_share(const uint64_t *v)
{
	return v[CTL_STAT_TOTAL_TSC] ? (double)v[CTL_STAT_BUSY_TSC] / v[CTL_STAT_TOTAL_TSC] : 0.0;
}

static void
put_headline(json_t *o, const uint64_t *v)
{
	for (size_t h = 0; h < N_HEADLINE; h++)
		json_object_set_new(o, headline[h].name,
		                    json_integer((json_int_t)v[headline[h].id]));
	json_object_set_new(o, "busy_share", json_real(busy_share(v)));
}

static json_t *
counters_json(const uint64_t *v)
{
	json_t *o = json_object();

	for (int f = 0; f < CTL_STAT_N; f++)
		json_object_set_new(o, fields[f].key, json_integer((json_int_t)v[f]));
	return o;
}

json_t *
ctl_stats_to_json(const struct ctl_stats *s)
{
	json_t *o = json_object(), *arr = json_array();

	json_object_set_new(o, "uptime_s", json_integer((json_int_t)s->uptime_s));
	json_object_set_new(o, "config_generation", json_integer((json_int_t)s->config_generation));
	put_headline(o, s->total);
	json_object_set_new(o, "counters", counters_json(s->total));
	for (unsigned int i = 0; i < s->n; i++) {
		const struct ctl_stats_lcore *l = &s->lc[i];
		json_t *e = json_object();

		json_object_set_new(e, "lcore", json_integer(l->lcore));
		json_object_set_new(e, "updated_us", json_integer((json_int_t)l->updated_us));
		put_headline(e, l->v);
		json_object_set_new(e, "counters", counters_json(l->v));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "lcores", arr);
	return o;
}

void
ctl_stats_table(const struct ctl_stats *s, FILE *out)
{
	fprintf(out, "%-20s %15s", "", "total");
	for (unsigned int i = 0; i < s->n; i++) {
		char h[16];

		snprintf(h, sizeof(h), "lcore %u", s->lc[i].lcore);
		fprintf(out, " %15s", h);
	}
	fputc('\n', out);
	for (size_t h = 0; h < N_HEADLINE; h++) {
		fprintf(out, "%-20s %15" PRIu64, headline[h].name, s->total[headline[h].id]);
		for (unsigned int i = 0; i < s->n; i++)
			fprintf(out, " %15" PRIu64, s->lc[i].v[headline[h].id]);
		fputc('\n', out);
	}
	fprintf(out, "%-20s %14.1f%%", "busy_share", 100 * busy_share(s->total));
	for (unsigned int i = 0; i < s->n; i++)
		fprintf(out, " %14.1f%%", 100 * busy_share(s->lc[i].v));
	fputc('\n', out);
}

#define APPEND(...)                                                                                \
	do {                                                                                       \
		int _k = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__);                    \
		n += _k;                                                                           \
	} while (0)

int
ctl_stats_prometheus(const struct ctl_stats *s, char *buf, size_t len)
{
	size_t n = 0;

	/* Families are runs of entries sharing a metric name: HELP and TYPE once per family, then
	 * every member for every lcore. The table keeps members of a family adjacent. */
	for (int f = 0; f < CTL_STAT_N; f++) {
		const struct field *fd = &fields[f];

		if (f == 0 || strcmp(fields[f - 1].metric, fd->metric)) {
			APPEND("# HELP tachyon_%s %s\n", fd->metric, fd->help);
			APPEND("# TYPE tachyon_%s %s\n", fd->metric,
			       fd->kind == 'G' ? "gauge" : "counter");
		}
		for (unsigned int i = 0; i < s->n; i++) {
			uint64_t v = s->lc[i].v[f];

			APPEND("tachyon_%s{lcore=\"%u\"%s%s} ", fd->metric, s->lc[i].lcore,
			       fd->label[0] ? "," : "", fd->label);
			if (fd->kind == 'T')
				APPEND("%.6f\n", s->tsc_hz ? (double)v / s->tsc_hz : 0.0);
			else if (fd->kind == 'U')
				APPEND("%.6f\n", (double)v / 1e6);
			else
				APPEND("%" PRIu64 "\n", v);
		}
	}
	APPEND("# HELP tachyon_lcores Polling lcores reporting.\n# TYPE tachyon_lcores gauge\n");
	APPEND("tachyon_lcores %u\n", s->n);
	APPEND("# HELP tachyon_uptime_seconds Time since tachyond started.\n"
	       "# TYPE tachyon_uptime_seconds gauge\ntachyon_uptime_seconds %" PRIu64 "\n",
	       s->uptime_s);
	APPEND("# HELP tachyon_config_generation Configuration generation tachyond runs (+1 per "
	       "applied change).\n# TYPE tachyon_config_generation gauge\n"
	       "tachyon_config_generation %" PRIu64 "\n",
	       s->config_generation);
	if (n >= len)
		return -ENOSPC;
	return (int)n;
}

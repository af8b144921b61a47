/* SPDX-License-Identifier: Apache-2.0
 * dp_ctl under EAL (--no-huge --no-pci --no-shconf: this DPDK refuses --in-memory with --no-huge)
 * with a fake dp_stats[] and one fake polling lcore, queried over its unix socket.
 *
 *   dp_ctl_test                          TAP self-test
 *   dp_ctl_test --serve SOCK [--shard]   serve until SIGTERM/SIGINT (integration tests); with
 *                                        --shard a test-only shard handler answers clients.*
 *
 * Fake counters (also asserted by tests/control/control_integration.sh): lcores 1 and 3 report;
 * every 64-bit word i of slot L is L * 1000000 + i, then the headline counters are set to the
 * values in fill_stats().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "control/ctl_stats.h"
#include "control/ctl_wire.h"
#include "dataplane/dp_ctl.h"
#include "dataplane/dp_stats.h"
#include "tap.h"

struct dp_lcore_stats dp_stats[RTE_MAX_LCORE];

static volatile int quit;
static uint64_t seen_gen;
static uint32_t seen_inflight;

static void
fill_stats(void)
{
	static const unsigned int lcores[] = {1, 3};

	for (unsigned int k = 0; k < 2; k++) {
		unsigned int l = lcores[k];
		uint64_t *w = (uint64_t *)&dp_stats[l];

		for (size_t i = 0; i < sizeof(dp_stats[l]) / 8; i++)
			w[i] = (uint64_t)l * 1000000 + i;
		dp_stats[l].updated_us = 5000000 + l;
		dp_stats[l].mqtt.connections_current = l == 1 ? 3 : 4;
		dp_stats[l].mqtt.connections_total = l == 1 ? 10 : 20;
		dp_stats[l].mqtt.messages_in = l == 1 ? 100 : 200;
		dp_stats[l].mqtt.messages_out = l == 1 ? 250 : 50;
		dp_stats[l].mqtt.bytes_in = l == 1 ? 4096 : 1000;
		dp_stats[l].mqtt.bytes_out = l == 1 ? 8192 : 2000;
		dp_stats[l].mqtt.subscriptions = l == 1 ? 5 : 1;
		dp_stats[l].mqtt.retained = l == 1 ? 2 : 7;
		dp_stats[l].busy_tsc = 250;
		dp_stats[l].total_tsc = 1000;
	}
}

/* tachyond's own handler and extra counters live in dp_ctl_shard.c, over the real lcores'
 * brokers; this test runs dp_ctl.c alone, with fakes. */
int
dp_ctl_shard_default(void *arg, unsigned int lcore, struct dp_ctl_query *q)
{
	return -ENOTSUP;
}

void
dp_ctl_stats_extra(unsigned int lcore, struct dp_lcore_stats *s)
{
	s->ring_in_use = 4242 + lcore;
}

static unsigned int sys_count; /* messages of the last sys.publish, written on lcore 1 */
static char sys_last[256];

/* Test-only shard: lcore 1 holds clients "c1" and "c2"; retained is not implemented. */
static int
fake_shard(void *arg, unsigned int lcore, struct dp_ctl_query *q)
{
	static const char *const ids[] = {"c1", "c2"};

	switch (q->op) {
	case DP_CTL_CLIENTS_LIST:
		for (unsigned int i = 0; i < 2 && q->count < q->limit; i++) {
			if (dp_ctl_out_printf(q, "%s{\"client_id\":", q->count ? "," : "") ||
			    dp_ctl_out_string(q, ids[i], strlen(ids[i])) ||
			    dp_ctl_out_printf(q, ",\"lcore\":%u}", lcore))
				return -ENOSPC;
			q->count++;
		}
		q->total = 2;
		return 0;
	case DP_CTL_SESSIONS_LIST:
		/* one item per call: the lcore must call again (-EAGAIN) on its next iterations */
		if (dp_ctl_out_printf(q, "%s{\"client_id\":\"s%u\"}", q->count ? "," : "",
		                      (unsigned int)q->cursor.pos))
			return -ENOSPC;
		q->count++;
		q->total = q->count;
		return ++q->cursor.pos < 5 ? -EAGAIN : 0;
	case DP_CTL_CLIENT_SHOW:
	case DP_CTL_CLIENT_KICK:
		if (strcmp(q->arg, "c1") && strcmp(q->arg, "c2"))
			return -ENOENT;
		if (q->op == DP_CTL_CLIENT_SHOW)
			return dp_ctl_out_printf(q, "{\"client_id\":\"%s\",\"lcore\":%u}", q->arg,
			                         lcore);
		return 0;
	case DP_CTL_SYS_PUBLISH: {
		size_t off = 0;
		const char *t, *pl;
		uint16_t tl;
		uint32_t pll;

		sys_count = 0;
		while (dp_ctl_sys_next(q, &off, &t, &tl, &pl, &pll)) {
			snprintf(sys_last, sizeof(sys_last), "%.*s=%.*s", tl, t, (int)pll, pl);
			sys_count++;
		}
		/* visible in the serve log: control_integration.sh checks tachyon-control's $SYS */
		printf("# sys.publish %u messages, last %s\n", sys_count, sys_last);
		fflush(stdout);
		return 0;
	}
	default:
		return -ENOTSUP;
	}
}

static int
lcore_loop(void *arg)
{
	unsigned int lc = rte_lcore_id();

	while (!quit) {
		const struct dp_ctl_cfg *c = dp_ctl_lcore_poll(lc);

		if (c->generation != seen_gen) {
			__atomic_store_n(&seen_inflight, c->cfg.max_inflight_messages,
			                 __ATOMIC_RELAXED);
			__atomic_store_n(&seen_gen, c->generation, __ATOMIC_RELEASE);
		}
		rte_delay_us_sleep(500); /* a real lcore polls; a test must not eat a core */
	}
	dp_ctl_lcore_exit(lc);
	return 0;
}

static json_t *
call(const char *sock, const char *reqtext)
{
	json_t *req = json_loads(reqtext, 0, NULL), *resp;
	int fd = ctl_wire_connect(sock);

	if (fd < 0 || !req) {
		printf("# cannot connect to %s or bad request\n", sock);
		json_decref(req);
		if (fd >= 0)
			close(fd);
		return json_object();
	}
	resp = ctl_wire_call(fd, req, 5000);
	close(fd);
	json_decref(req);
	return resp ? resp : json_object();
}

static const char *sockpath;
static struct ctl_config base;

static int
is_err(json_t *r, const char *code)
{
	const char *c = ctl_wire_errcode(r);

	if (!c || strcmp(c, code)) {
		char *s = json_dumps(r, JSON_COMPACT);

		printf("# expected error %s, got %s\n", code, s);
		free(s);
		return 0;
	}
	return 1;
}

static void
test_hello(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"hello\"}");

	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK(!strcmp(json_string_value(json_object_get(r, "server")) ?: "", "tachyond"));
	CHECK_EQ(json_integer_value(json_object_get(r, "pid")), getpid());
	json_decref(r);
}

static void
test_stats_exact(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"stats\"}");
	json_t *lcores = json_object_get(r, "lcores");
	struct ctl_stats *s = malloc(sizeof(*s));

	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_array_size(lcores), 2);
	CHECK_EQ(json_integer_value(json_object_get(r, "tsc_hz")), rte_get_tsc_hz());
	/* Every exported counter equals the slot's field, read here by member name. */
	for (size_t k = 0; k < json_array_size(lcores); k++) {
		json_t *e = json_array_get(lcores, k), *c = json_object_get(e, "counters");
		unsigned int l = json_integer_value(json_object_get(e, "lcore"));
		struct dp_lcore_stats cp;
		const struct dp_lcore_stats *st = &cp;

		CHECK(l == 1 || l == 3);
		/* the slot as the lcore wrote it, with what the control thread adds (the stub) */
		memcpy(&cp, &dp_stats[l % RTE_MAX_LCORE], sizeof(cp));
		dp_ctl_stats_extra(l, &cp);
		CHECK_EQ(json_integer_value(json_object_get(c, "ring_in_use")), 4242 + l);
		CHECK_EQ(json_integer_value(json_object_get(e, "updated_us")), 5000000 + l);
		CHECK_EQ(json_object_size(c), CTL_STAT_N);
#define X_CHECK(id, path, key, kind, metric, label, help)                                          \
	CHECK_EQ(json_integer_value(json_object_get(c, key)), st->path);
		CTL_STATS_FIELDS(X_CHECK)
#undef X_CHECK
		/* and a few by their pattern value, independent of the field list */
		CHECK_EQ(json_integer_value(json_object_get(c, "tcp.retransmits")),
		         l * 1000000 + offsetof(struct dp_lcore_stats, tcp.retransmits) / 8);
		CHECK_EQ(json_integer_value(json_object_get(c, "mqtt.wills_published")),
		         l * 1000000 + offsetof(struct dp_lcore_stats, mqtt.wills_published) / 8);
	}
	CHECK_EQ(ctl_stats_from_json(r, s), 0);
	CHECK_EQ(s->total[CTL_STAT_CONNECTIONS], 7);
	CHECK_EQ(s->total[CTL_STAT_MSG_IN], 300);
	CHECK_EQ(s->total[CTL_STAT_MSG_OUT], 300);
	CHECK_EQ(s->total[CTL_STAT_RETAINED], 7); /* replicas: the largest, not the sum */
	free(s);
	json_decref(r);
}

static void
test_status(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"status\"}");
	json_t *lc = json_object_get(r, "lcores");

	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_array_size(lc), 1);
	CHECK_EQ(json_integer_value(json_array_get(lc, 0)), 1);
	CHECK_EQ(json_integer_value(json_object_get(r, "config_generation")), 1);
	json_decref(r);
}

static void
test_config_get_roundtrip(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"config.get\"}");
	const char *text = json_string_value(json_object_get(r, "text"));
	struct ctl_config c;
	char err[CTL_ERR_MAX];

	CHECK(text != NULL);
	CHECK_EQ(ctl_config_parse(text ?: "", text ? strlen(text) : 0, "get", &c, err, sizeof(err)),
	         0);
	CHECK(ctl_config_equal(&c, &base));
	json_decref(r);
}

/* config.apply of `c`; returns the response. */
static json_t *
apply(const struct ctl_config *c)
{
	static char text[CTL_REQ_MAX];
	json_t *req = json_object(), *resp;
	int fd = ctl_wire_connect(sockpath);

	ctl_config_format(c, text, sizeof(text));
	json_object_set_new(req, "cmd", json_string("config.apply"));
	json_object_set_new(req, "text", json_string(text));
	resp = fd >= 0 ? ctl_wire_call(fd, req, 5000) : NULL;
	if (fd >= 0)
		close(fd);
	json_decref(req);
	return resp ? resp : json_object();
}

static void
test_apply_live(void)
{
	struct ctl_config c = base;
	json_t *r;

	c.max_inflight_messages = 42;
	r = apply(&c);
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(r, "generation")), 2);
	CHECK(json_is_true(json_object_get(r, "acknowledged")));
	CHECK(!strcmp(json_string_value(json_array_get(json_object_get(r, "changed"), 0)) ?: "",
	              "max_inflight_messages"));
	/* acknowledged means the lcore has passed a quiescent state since the swap, so it has
	 * loaded the new pointer. */
	CHECK_EQ(__atomic_load_n(&seen_gen, __ATOMIC_ACQUIRE), 2);
	CHECK_EQ(__atomic_load_n(&seen_inflight, __ATOMIC_RELAXED), 42);
	base = c;
	json_decref(r);
}

static void
test_apply_restart_refused(void)
{
	struct ctl_config c = base;
	json_t *r, *st;

	c.mbufs = 4095;
	c.max_queued_messages = 5; /* a live change in the same file is not applied either */
	r = apply(&c);
	CHECK(is_err(r, CTL_E_RESTART));
	CHECK(strstr(json_string_value(json_object_get(r, "message")) ?: "", "mbufs") != NULL);
	CHECK(!strcmp(json_string_value(json_array_get(json_object_get(r, "restart_required"), 0))
	                      ?: "",
	              "mbufs"));
	json_decref(r);
	st = call(sockpath, "{\"v\":1,\"cmd\":\"status\"}");
	CHECK_EQ(json_integer_value(json_object_get(st, "config_generation")), 2);
	json_decref(st);
}

static void
test_apply_control_class(void)
{
	struct ctl_config c = base;
	json_t *r;

	c.metrics_port = 9999;
	r = apply(&c);
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(r, "generation")), 3);
	base = c;
	json_decref(r);
}

static void
test_apply_invalid(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"config.apply\",\"name\":\"x.conf\","
	                           "\"text\":\"max_inflight_messages 0\\n\"}");

	CHECK(is_err(r, CTL_E_CONFIG));
	CHECK(!strcmp(json_string_value(json_object_get(r, "message")) ?: "",
	              "x.conf:1: max_inflight_messages: 0 is out of range 1..65535"));
	json_decref(r);
}

static void
test_apply_unchanged(void)
{
	json_t *r = apply(&base);

	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(r, "generation")), 3);
	CHECK_EQ(json_array_size(json_object_get(r, "changed")), 0);
	json_decref(r);
}

static void
test_log_level(void)
{
	json_t *r = call(sockpath, "{\"v\":1,\"cmd\":\"log.level\",\"level\":\"debug\"}");

	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(rte_log_get_global_level(), RTE_LOG_DEBUG);
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"log.level\"}");
	CHECK(!strcmp(json_string_value(json_object_get(r, "level")) ?: "", "debug"));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"log.level\",\"level\":\"loud\"}");
	CHECK(is_err(r, CTL_E_INVALID));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"log.level\",\"level\":\"info\"}");
	CHECK_EQ(rte_log_get_global_level(), RTE_LOG_INFO);
	json_decref(r);
	base.log_level = CTL_LOG_INFO;
}

static void
test_shard_not_supported(void)
{
	json_t *r;

	dp_ctl_set_shard_handler(NULL, NULL);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.list\"}");
	CHECK(is_err(r, CTL_E_NOT_SUPPORTED));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"retained.delete\",\"topic\":\"a/b\"}");
	CHECK(is_err(r, CTL_E_NOT_SUPPORTED));
	json_decref(r);
}

static void
test_shard_ring_path(void)
{
	json_t *r;

	dp_ctl_set_shard_handler(fake_shard, NULL);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.list\"}");
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(r, "count")), 2);
	CHECK(!strcmp(json_string_value(json_object_get(
	                      json_array_get(json_object_get(r, "items"), 1), "client_id"))
	                      ?: "",
	              "c2"));
	CHECK(json_is_false(json_object_get(r, "truncated")));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.list\",\"limit\":1}");
	CHECK_EQ(json_integer_value(json_object_get(r, "count")), 1);
	CHECK(json_is_true(json_object_get(r, "truncated")));
	json_decref(r);
	/* a walk over five loop iterations (-EAGAIN) answers once, in order */
	r = call(sockpath, "{\"v\":1,\"cmd\":\"sessions.list\"}");
	CHECK_EQ(json_integer_value(json_object_get(r, "count")), 5);
	CHECK(!strcmp(json_string_value(json_object_get(
	                      json_array_get(json_object_get(r, "items"), 4), "client_id"))
	                      ?: "",
	              "s4"));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.show\",\"client_id\":\"c1\"}");
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(r, "item"), "lcore")), 1);
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.kick\",\"client_id\":\"nobody\"}");
	CHECK(is_err(r, CTL_E_NOT_FOUND));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"clients.kick\"}");
	CHECK(is_err(r, CTL_E_INVALID));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"retained.list\"}");
	CHECK(is_err(r, CTL_E_NOT_SUPPORTED));
	json_decref(r);
	dp_ctl_set_shard_handler(NULL, NULL);
}

static void
test_mqtt_conf(void)
{
	struct mqtt_broker_conf m;
	struct ctl_config c;

	ctl_config_defaults(&c);
	mqtt_broker_conf_defaults(&m);
	m.shard = 3;
	c.max_packet_size = 1000;
	c.max_inflight_messages = 7;
	c.max_queued_messages = 9;
	dp_ctl_mqtt_conf(&c, &m);
	CHECK_EQ(m.max_packet_size, 1000);
	CHECK_EQ(m.max_inflight, 7);
	CHECK_EQ(m.max_queued, 9);
	CHECK_EQ(m.shard, 3);
}

static void
test_sys_publish(void)
{
	static const char req[] =
	        "{\"v\":1,\"cmd\":\"sys.publish\",\"messages\":["
	        "{\"topic\":\"$SYS/broker/uptime\",\"payload\":\"5 seconds\"},"
	        "{\"topic\":\"$SYS/broker/clients/connected\",\"payload\":\"7\"}]}";
	json_t *r = call(sockpath, req);

	CHECK(is_err(r, CTL_E_NOT_SUPPORTED));
	json_decref(r);
	dp_ctl_set_shard_handler(fake_shard, NULL);
	r = call(sockpath, req);
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK_EQ(json_integer_value(json_object_get(r, "published")), 2);
	/* the reply comes after the lcore ran the handler (ring round trip) */
	CHECK_EQ(sys_count, 2);
	CHECK(!strcmp(sys_last, "$SYS/broker/clients/connected=7"));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"sys.publish\",\"messages\":[{\"topic\":\"a/b\","
	                   "\"payload\":\"x\"}]}");
	CHECK(is_err(r, CTL_E_INVALID));
	json_decref(r);
	dp_ctl_set_shard_handler(NULL, NULL);
}

/* dpdk-telemetry.py's view: /tachyon/stats sums the counters over lcores. */
static void
test_telemetry(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[16384];
	json_t *j;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/var/run/dpdk/dpctl%d/dpdk_telemetry.v2",
	         getpid());
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0); /* greeting */
	CHECK(n > 0);
	CHECK_EQ(send(fd, "/tachyon/stats", 14, 0), 14);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	j = json_loads(buf, 0, NULL);
	CHECK(j != NULL);
	json_t *d = json_object_get(j, "/tachyon/stats");

	CHECK_EQ(json_integer_value(json_object_get(d, "mqtt_messages_in")), 300);
	CHECK_EQ(json_integer_value(json_object_get(d, "mqtt_retained")), 7); /* largest replica */
	CHECK_EQ(json_integer_value(json_object_get(d, "tcp_retransmits")),
	         dp_stats[1].tcp.retransmits + dp_stats[3].tcp.retransmits);
	CHECK_EQ(json_object_size(d), CTL_STAT_N);
	json_decref(j);
	CHECK_EQ(send(fd, "/tachyon/lcore,3", 16, 0), 16);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	j = json_loads(buf, 0, NULL);
	CHECK_EQ(json_integer_value(
	                 json_object_get(json_object_get(j, "/tachyon/lcore"), "mqtt_messages_in")),
	         200);
	json_decref(j);
	CHECK_EQ(send(fd, "/tachyon/lcores", 15, 0), 15);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, "\"/tachyon/lcores\":[1,3]") != NULL);
	close(fd);
}

static void
test_bad_requests(void)
{
	json_t *r = call(sockpath, "{\"v\":2,\"cmd\":\"stats\"}");
	char *big;
	int fd;

	CHECK(is_err(r, CTL_E_VERSION));
	json_decref(r);
	r = call(sockpath, "{\"v\":1,\"cmd\":\"frobnicate\"}");
	CHECK(is_err(r, CTL_E_INVALID));
	json_decref(r);
	r = call(sockpath, "{\"v\":1}");
	CHECK(is_err(r, CTL_E_INVALID));
	json_decref(r);
	/* A request over CTL_REQ_MAX: an error, then the server hangs up. */
	fd = ctl_wire_connect(sockpath);
	big = malloc(CTL_REQ_MAX + 10);
	memset(big, 'x', CTL_REQ_MAX + 10);
	CHECK(fd >= 0);
	if (fd >= 0) {
		char buf[512];
		ssize_t n;

		CHECK_EQ(send(fd, big, CTL_REQ_MAX + 10, MSG_NOSIGNAL), CTL_REQ_MAX + 10);
		n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
		buf[n > 0 ? n : 0] = 0;
		CHECK(strstr(buf, "\"invalid_request\"") != NULL);
		close(fd);
	}
	free(big);
	/* still serving */
	r = call(sockpath, "{\"v\":1,\"cmd\":\"hello\"}");
	CHECK(ctl_wire_errcode(r) == NULL);
	json_decref(r);
}

static void
test_stop_removes_socket(void)
{
	quit = 1;
	rte_eal_mp_wait_lcore();
	dp_ctl_stop();
	CHECK(access(sockpath, F_OK) != 0);
}

/* --no-shconf still creates an (empty) runtime directory per file prefix. */
static void
rm_runtime_dir(void)
{
	char dir[128], sock[160];

	snprintf(dir, sizeof(dir), "/var/run/dpdk/dpctl%d", getpid());
	snprintf(sock, sizeof(sock), "%s/dpdk_telemetry.v2", dir);
	unlink(sock);
	rmdir(dir);
}

static void
on_signal(int sig)
{
	quit = 1;
}

int
main(int argc, char **argv)
{
	char sock[108], prefix[64];
	int serve = argc >= 3 && !strcmp(argv[1], "--serve");
	/* telemetry (tested below) in the self-test; not in serve mode, where several may run */
	char *telemetry = serve ? "--no-telemetry" : "--telemetry";
	char *eal[] = {
	        argv[0], "-l",       "0-1",         "--no-huge", "-m",
	        "256",   "--no-pci", "--no-shconf", telemetry,   "--log-level=lib.eal:warning",
	        prefix};
	struct dp_ctl_conf conf = {.config = &base};

	snprintf(prefix, sizeof(prefix), "--file-prefix=dpctl%d", getpid());
	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		printf("not ok 1 - rte_eal_init\n1..1\n");
		return 1;
	}
	fill_stats();
	ctl_config_defaults(&base);
	if (serve) {
		snprintf(sock, sizeof(sock), "%s", argv[2]);
		if (argc >= 4 && !strcmp(argv[3], "--shard"))
			dp_ctl_set_shard_handler(fake_shard, NULL);
	} else {
		snprintf(sock, sizeof(sock), "/tmp/dpctl-test-%d.sock", getpid());
	}
	sockpath = sock;
	conf.socket_path = sock;
	/* dp_ctl records the socket it serves in the running config */
	snprintf(base.dataplane_socket, sizeof(base.dataplane_socket), "%s", sock);
	conf.config_path = "(test)";
	if (dp_ctl_start(&conf)) {
		printf("not ok 1 - dp_ctl_start\n1..1\n");
		return 1;
	}
	rte_eal_remote_launch(lcore_loop, NULL, 1);
	if (serve) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		printf("serving on %s\n", sock);
		fflush(stdout);
		while (!quit)
			pause();
		rte_eal_mp_wait_lcore();
		dp_ctl_stop();
		rte_eal_cleanup();
		rm_runtime_dir();
		return 0;
	}
	/* wait until the lcore is online */
	for (int i = 0; i < 2000 && !__atomic_load_n(&seen_gen, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	TEST(test_hello);
	TEST(test_stats_exact);
	TEST(test_status);
	TEST(test_config_get_roundtrip);
	TEST(test_apply_live);
	TEST(test_apply_restart_refused);
	TEST(test_apply_control_class);
	TEST(test_apply_invalid);
	TEST(test_apply_unchanged);
	TEST(test_log_level);
	TEST(test_shard_not_supported);
	TEST(test_shard_ring_path);
	TEST(test_mqtt_conf);
	TEST(test_sys_publish);
	TEST(test_telemetry);
	TEST(test_bad_requests);
	TEST(test_stop_removes_socket);
	rte_eal_cleanup();
	rm_runtime_dir();
	return tap_done();
}

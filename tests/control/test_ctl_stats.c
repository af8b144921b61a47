/* SPDX-License-Identifier: Apache-2.0
 * Without DPDK: stats aggregation and rendering (JSON, table, Prometheus), the $SYS
 * computation (Mosquitto's load averages), and the control protocol's framing and server.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/ctl_stats.h"
#include "control/ctl_sys.h"
#include "control/ctl_wire.h"
#include "tap.h"

/* A dataplane "stats" answer: lcores 2 and 5, every counter = lcore * 1000 + field index. */
static json_t *
fake_dp_stats(uint64_t conns2, uint64_t msg_in2)
{
	json_t *r = json_pack("{s:i,s:b,s:I,s:I}", "v", 1, "ok", 1, "tsc_hz",
	                      (json_int_t)1000000000, "uptime_s", (json_int_t)77);
	json_object_set_new(r, "config_generation", json_integer(4));
	json_t *a = json_array();

	for (int l = 2; l <= 5; l += 3) {
		json_t *c = json_object();

		for (int f = 0; f < CTL_STAT_N; f++)
			json_object_set_new(c, ctl_stats_key(f), json_integer(l * 1000 + f));
		if (l == 2) {
			json_object_set_new(c, "mqtt.connections_current", json_integer(conns2));
			json_object_set_new(c, "mqtt.messages_in", json_integer(msg_in2));
			json_object_set_new(c, "busy_tsc", json_integer(2000000000));
		}
		json_object_set_new(c, "some.future_counter", json_integer(1));
		json_array_append_new(
		        a, json_pack("{s:i,s:i,s:o}", "lcore", l, "updated_us", 99, "counters", c));
	}
	json_object_set_new(r, "lcores", a);
	return r;
}

static void
test_from_json(void)
{
	struct ctl_stats *s = malloc(sizeof(*s));
	json_t *r = fake_dp_stats(3, 10), *bad = json_pack("{s:i}", "tsc_hz", 1);

	CHECK_EQ(ctl_stats_from_json(r, s), 0);
	CHECK_EQ(s->n, 2);
	CHECK_EQ(s->lc[0].lcore, 2);
	CHECK_EQ(s->lc[1].lcore, 5);
	CHECK_EQ(s->uptime_s, 77);
	CHECK_EQ(s->lc[0].v[CTL_STAT_CONNECTIONS], 3);
	CHECK_EQ(s->total[CTL_STAT_CONNECTIONS], 3 + 5000 + CTL_STAT_CONNECTIONS);
	CHECK_EQ(s->total[CTL_STAT_RETAINED], 5000 + CTL_STAT_RETAINED); /* the largest replica */
	CHECK_EQ(ctl_stats_from_json(bad, s), -EPROTO);
	/* an older dataplane: a missing counter reads 0 */
	json_object_del(
	        json_object_get(json_array_get(json_object_get(r, "lcores"), 1), "counters"),
	        "mqtt.retained");
	CHECK_EQ(ctl_stats_from_json(r, s), 0);
	CHECK_EQ(s->lc[1].v[CTL_STAT_RETAINED], 0);
	json_decref(r);
	json_decref(bad);
	free(s);
}

static void
test_to_json(void)
{
	struct ctl_stats *s = malloc(sizeof(*s));
	json_t *r = fake_dp_stats(3, 10), *j, *l0;
	static const char *const keys[] = {"connections", "messages_in", "messages_out",
	                                   "bytes_in",    "bytes_out",   "subscriptions",
	                                   "retained",    "lcores"};

	ctl_stats_from_json(r, s);
	j = ctl_stats_to_json(s);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(json_object_get(j, keys[i]) != NULL);
	CHECK_EQ(json_integer_value(json_object_get(j, "messages_in")),
	         10 + 5000 + CTL_STAT_MSG_IN);
	l0 = json_array_get(json_object_get(j, "lcores"), 0);
	CHECK_EQ(json_integer_value(json_object_get(l0, "lcore")), 2);
	CHECK_EQ(json_integer_value(json_object_get(l0, "messages_in")), 10);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(l0, "counters"), "tcp.rst_tx")),
	         2000 + CTL_STAT_TCP_RST_TX);
	json_decref(j);
	json_decref(r);
	free(s);
}

static void
test_prometheus(void)
{
	struct ctl_stats *s = malloc(sizeof(*s));
	json_t *r = fake_dp_stats(3, 10);
	char *buf = malloc(1 << 20), *line, *save;
	char families[CTL_STAT_N + 1][80];
	int nfam = 0, samples = 0, n;

	ctl_stats_from_json(r, s);
	n = ctl_stats_prometheus(s, buf, 1 << 20);
	CHECK(n > 0);
	CHECK(strstr(buf, "tachyon_connections{lcore=\"2\"} 3\n") != NULL);
	CHECK(strstr(buf, "tachyon_drops_total{lcore=\"5\",reason=\"eth\"} ") != NULL);
	/* TSC cycles become seconds: 2e9 cycles at 1 GHz */
	CHECK(strstr(buf, "tachyon_lcore_busy_seconds_total{lcore=\"2\"} 2.000000\n") != NULL);
	CHECK(strstr(buf, "# TYPE tachyon_connections gauge\n") != NULL);
	CHECK(strstr(buf, "\ntachyon_uptime_seconds 77\n") != NULL);
	CHECK(strstr(buf, "\ntachyon_config_generation 4\n") != NULL);
	CHECK(strstr(buf, "# TYPE tachyon_messages_received_total counter\n") != NULL);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			char name[80];

			sscanf(line + 7, "%79s", name);
			for (int i = 0; i < nfam; i++)
				CHECK(strcmp(families[i], name) != 0); /* each family once */
			if (nfam <= CTL_STAT_N)
				snprintf(families[nfam++], 80, "%s", name);
		} else if (line[0] != '#') {
			/* a sample belongs to the family announced last */
			CHECK(nfam > 0 &&
			      !strncmp(line, families[nfam - 1], strlen(families[nfam - 1])));
			samples++;
		}
	}
	CHECK_EQ(samples, 2 * CTL_STAT_N + 3);
	CHECK_EQ(ctl_stats_prometheus(s, buf, 100), -ENOSPC);
	json_decref(r);
	free(buf);
	free(s);
}

static void
test_table(void)
{
	struct ctl_stats *s = malloc(sizeof(*s));
	json_t *r = fake_dp_stats(3, 10);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ctl_stats_from_json(r, s);
	ctl_stats_table(s, f);
	fclose(f);
	CHECK(strstr(buf, "lcore 2") != NULL);
	CHECK(strstr(buf, "lcore 5") != NULL);
	CHECK(strstr(buf, "\nmessages_in ") != NULL);
	free(buf);
	json_decref(r);
	free(s);
}

static const char *
sys_payload(json_t *msgs, const char *topic)
{
	json_t *m;
	size_t i;

	json_array_foreach(
	        msgs, i,
	        m) if (!strcmp(json_string_value(json_object_get(m, "topic")),
	                       topic)) return json_string_value(json_object_get(m, "payload"));
	return "(missing)";
}

static void
test_sys(void)
{
	struct ctl_stats *s = malloc(sizeof(*s));
	struct ctl_sys sys = {0};
	json_t *r = fake_dp_stats(7, 100), *m;
	char want[32];

	ctl_stats_from_json(r, s);
	json_decref(r);
	m = ctl_sys_messages(&sys, s, "9.9", 1000);
	CHECK_EQ(json_array_size(m), 13 + 15);
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/version"), "tachyon version 9.9"));
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/uptime"), "77 seconds"));
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/load/messages/received/1min"), "0.00"));
	snprintf(want, sizeof(want), "%d", 7 + 5000 + CTL_STAT_CONNECTIONS);
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/clients/connected"), want));
	json_decref(m);
	/* 60 s later, 600 more PUBLISH received and fewer clients */
	r = fake_dp_stats(2, 700);
	ctl_stats_from_json(r, s);
	json_decref(r);
	m = ctl_sys_messages(&sys, s, "9.9", 61000);
	/* rate 600/min; 1-minute window: 600 * (1 - e^-1) */
	snprintf(want, sizeof(want), "%.2f", 600 * (1 - exp(-1.0)));
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/load/messages/received/1min"), want));
	snprintf(want, sizeof(want), "%.2f", 600 * (1 - exp(-60.0 / 900)));
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/load/messages/received/15min"), want));
	snprintf(want, sizeof(want), "%d", 7 + 5000 + CTL_STAT_CONNECTIONS);
	CHECK(!strcmp(sys_payload(m, "$SYS/broker/clients/maximum"), want));
	json_decref(m);
	/* a restarted tachyond (counters back to small values): no negative rate */
	r = fake_dp_stats(2, 0);
	ctl_stats_from_json(r, s);
	json_decref(r);
	m = ctl_sys_messages(&sys, s, "9.9", 121000);
	CHECK(sys_payload(m, "$SYS/broker/load/messages/received/1min")[0] != '-');
	json_decref(m);
	free(s);
}

/* --- wire --- */

static volatile int srv_stop;

static json_t *
echo(void *arg, json_t *req)
{
	json_t *r = ctl_wire_ok();

	json_object_set(r, "echo", json_object_get(req, "cmd"));
	return r;
}

static void *
serve(void *arg)
{
	struct ctl_server *s = arg;
	struct pollfd pfd[1 + CTL_SERVER_MAX_CLIENTS];

	while (!srv_stop) {
		int n = ctl_server_pollfds(s, pfd, 1 + CTL_SERVER_MAX_CLIENTS);

		if (poll(pfd, n, 20) > 0)
			ctl_server_handle(s, pfd, n);
	}
	return NULL;
}

static char wpath[64];

static json_t *
call_text(const char *text)
{
	json_t *req = json_loads(text, 0, NULL), *r;
	int fd = ctl_wire_connect(wpath);

	r = fd >= 0 && req ? ctl_wire_call(fd, req, 2000) : NULL;
	if (fd >= 0)
		close(fd);
	json_decref(req);
	return r ? r : json_object();
}

static void
test_wire(void)
{
	struct ctl_server *s;
	pthread_t t;
	json_t *r;
	int fd, fds[CTL_SERVER_MAX_CLIENTS + 1];
	char buf[4096];
	ssize_t n;

	snprintf(wpath, sizeof(wpath), "/tmp/ctl-wire-test-%d/sock", getpid());
	/* a stale socket file (nobody listening) is replaced */
	fd = ctl_wire_listen(wpath);
	CHECK(fd >= 0);
	close(fd);
	s = ctl_server_create(wpath, echo, NULL);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(ctl_wire_listen(wpath), -EADDRINUSE); /* a live one is not */
	{
		/* a file that is not a socket is never removed */
		char notsock[80];
		FILE *f;

		snprintf(notsock, sizeof(notsock), "%s.txt", wpath);
		f = fopen(notsock, "w");
		fclose(f);
		CHECK_EQ(ctl_wire_listen(notsock), -EEXIST);
		CHECK(access(notsock, F_OK) == 0);
		unlink(notsock);
	}
	pthread_create(&t, NULL, serve, s);

	r = call_text("{\"v\":1,\"cmd\":\"ping\"}");
	CHECK(ctl_wire_errcode(r) == NULL);
	CHECK(!strcmp(json_string_value(json_object_get(r, "echo")) ?: "", "ping"));
	json_decref(r);
	r = call_text("{\"v\":7,\"cmd\":\"ping\"}");
	CHECK(!strcmp(ctl_wire_errcode(r) ?: "", CTL_E_VERSION));
	json_decref(r);
	r = call_text("{\"v\":1,\"cmd\":5}");
	CHECK(!strcmp(ctl_wire_errcode(r) ?: "", CTL_E_INVALID));
	json_decref(r);

	/* two requests in one write, plus garbage: three answers in order */
	fd = ctl_wire_connect(wpath);
	CHECK(fd >= 0);
	static const char two[] = "{\"v\":1,\"cmd\":\"a\"}\n{\"v\":1,\"cmd\":\"b\"}\nnot json\n";
	CHECK_EQ(send(fd, two, strlen(two), 0), (ssize_t)strlen(two));
	size_t got = 0;
	int lines = 0;

	while (lines < 3 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0) {
		got += n;
		buf[got] = 0;
		lines = 0;
		for (char *p = buf; (p = strchr(p, '\n')); p++)
			lines++;
	}
	CHECK_EQ(lines, 3);
	CHECK(strstr(buf, "\"echo\":\"a\"") < strstr(buf, "\"echo\":\"b\""));
	CHECK(strstr(buf, "\"echo\":\"a\"") != NULL);
	CHECK(strstr(buf, "request is not a JSON object") != NULL);
	close(fd);

	/* client limit: the one over gets an error line and is closed */
	for (int i = 0; i < CTL_SERVER_MAX_CLIENTS; i++) {
		fds[i] = ctl_wire_connect(wpath);
		CHECK(fds[i] >= 0);
	}
	usleep(100000); /* let the server accept them all */
	fds[CTL_SERVER_MAX_CLIENTS] = ctl_wire_connect(wpath);
	n = recv(fds[CTL_SERVER_MAX_CLIENTS], buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, "too many control clients") != NULL);
	for (int i = 0; i <= CTL_SERVER_MAX_CLIENTS; i++)
		close(fds[i]);
	usleep(50000);
	r = call_text("{\"v\":1,\"cmd\":\"again\"}");
	CHECK(ctl_wire_errcode(r) == NULL);
	json_decref(r);

	/* a server that never answers: the call times out */
	{
		int sp[2];
		json_t *req = json_pack("{s:s}", "cmd", "x");

		socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
		r = ctl_wire_call(sp[0], req, 100);
		CHECK(r == NULL && errno == ETIMEDOUT);
		close(sp[1]);
		r = ctl_wire_call(sp[0], req, 100);
		CHECK(r == NULL);
		close(sp[0]);
		json_decref(req);
	}

	srv_stop = 1;
	pthread_join(t, NULL);
	ctl_server_destroy(s);
	unlink(wpath);
	*strrchr(wpath, '/') = 0;
	rmdir(wpath);
}

/* docs/operations.md lists every metric family (argv[1] = source root). */
static const char *srcroot = ".";

static void
test_docs_list_every_metric(void)
{
	static const char *const metrics[] = {
#define X_NAME(id, path, key, kind, metric, label, help) metric,
	        CTL_STATS_FIELDS(X_NAME)
#undef X_NAME
	};
	char path[512], *doc;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/docs/operations.md", srcroot);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	doc = calloc(1, n + 1);
	CHECK_EQ(fread(doc, 1, n, f), n);
	fclose(f);
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		char want[128];

		snprintf(want, sizeof(want), "| `tachyon_%s` |", metrics[i]);
		if (!strstr(doc, want)) {
			printf("#   docs/operations.md lacks %s\n", want);
			CHECK(0);
		}
	}
	free(doc);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		srcroot = argv[1];
	TEST(test_from_json);
	TEST(test_to_json);
	TEST(test_prometheus);
	TEST(test_table);
	TEST(test_sys);
	TEST(test_wire);
	TEST(test_docs_list_every_metric);
	return tap_done();
}

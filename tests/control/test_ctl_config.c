/* SPDX-License-Identifier: Apache-2.0
 * Configuration parser: every kind of bad line gives its exact message (table-driven), good
 * files give the expected struct, format/parse round-trips, diff classifies reloads, and
 * docs/configuration.md documents every option (argv[1] = source root).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/ctl_config.h"
#include "tap.h"

static const char *srcroot = ".";

/* Each case: file text, and the exact error (empty = must parse). */
static const struct {
	const char *text, *err;
} bad[] = {
        {"max_inflight_messages 0\n",
         "t.conf:1: max_inflight_messages: 0 is out of range 1..65535"},
        {"\n# c\nmax_inflight_messages 70000\n",
         "t.conf:3: max_inflight_messages: 70000 is out of range 1..65535"},
        {"max_inflight_messages abc\n",
         "t.conf:1: max_inflight_messages: 'abc' is not a non-negative integer"},
        {"max_inflight_messages -1\n",
         "t.conf:1: max_inflight_messages: '-1' is not a non-negative integer"},
        {"max_inflight_messages 5 6\n",
         "t.conf:1: max_inflight_messages: '5 6' is not a non-negative integer"},
        {"max_inflight_messages 99999999999999999999999\n",
         "t.conf:1: max_inflight_messages: 99999999999999999999999 is out of range 1..65535"},
        {"max_inflight_messages\n", "t.conf:1: max_inflight_messages: missing value"},
        {"max_packet_size 1T\n",
         "t.conf:1: max_packet_size: '1T' is not a size (digits, optional K/M/G)"},
        {"max_packet_size 1G\n", "t.conf:1: max_packet_size: 1G is out of range 16..268435455"},
        {"max_packet_size 8\n", "t.conf:1: max_packet_size: 8 is out of range 16..268435455"},
        {"frobnicate 1\n", "t.conf:1: unknown option 'frobnicate'"},
        {"Max_inflight_messages 1\n", "t.conf:1: unknown option 'Max_inflight_messages'"},
        {"log_level info\nlog_level debug\n",
         "t.conf:2: log_level: duplicate option, already set at line 1"},
        {"log_level loud\n", "t.conf:1: log_level: 'loud' is not one of emerg, alert, crit, err, "
                             "warning, notice, info, "
                             "debug"},
        {"idle_policy lazy\n", "t.conf:1: idle_policy: 'lazy' is not one of adaptive, busy"},
        {"address 1.2.3\n", "t.conf:1: address: '1.2.3' is not an IPv4 address"},
        {"address 198.18.0.300\n", "t.conf:1: address: '198.18.0.300' is not an IPv4 address"},
        {"netmask 255.0.255.0\n",
         "t.conf:1: netmask: '255.0.255.0' is not a contiguous IPv4 netmask"},
        {"netmask 0.0.0.0\n", "t.conf:1: netmask: '0.0.0.0' is not a contiguous IPv4 netmask"},
        {"gateway 10.0.0.1\n",
         "t.conf:1: gateway: 10.0.0.1 is outside the subnet of address/netmask"},
        {"address 198.18.0.1\ngateway 198.18.0.1\n", "t.conf:2: gateway: equals address"},
        {"lcores 1-\n", "t.conf:1: lcores: '1-' is not a CPU list (like 1 or 1-3,5)"},
        {"lcores 3-1\n", "t.conf:1: lcores: '3-1' is not a CPU list (like 1 or 1-3,5)"},
        {"lcores 1,\n", "t.conf:1: lcores: '1,' is not a CPU list (like 1 or 1-3,5)"},
        {"lcores 2048\n", "t.conf:1: lcores: '2048' is not a CPU list (like 1 or 1-3,5)"},
        {"mbufs 100\n", "t.conf:1: mbufs: 100 is out of range 1023..16777215"},
        {"metrics_listen 127.0.0.1\n", "t.conf:1: metrics_listen: '127.0.0.1' is not ADDRESS:PORT"},
        {"metrics_listen 127.0.0.1:70000\n",
         "t.conf:1: metrics_listen: port '70000' is out of range 0..65535"},
        {"metrics_listen localhost:9883\n",
         "t.conf:1: metrics_listen: 'localhost' is not an IPv4 address"},
        {"min_keepalive 100\nmax_keepalive 60\n",
         "t.conf:1: min_keepalive: 100 is greater than max_keepalive 60"},
        {"control_socket "
         "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
         "t.conf:1: control_socket: value is 128 bytes, longer than the maximum 107"},
        {"protocol mqtt\n", "t.conf:1: protocol: listener option before any 'listener' line"},
        {"listener 1883\nlog_level info\n",
         "t.conf:2: log_level: global option inside the listener block opened at line 1 (global "
         "options go before the first listener)"},
        {"listener\n", "t.conf:1: listener: missing port"},
        {"listener 0\n", "t.conf:1: listener: port '0' is out of range 1..65535"},
        {"listener 65536\n", "t.conf:1: listener: port '65536' is out of range 1..65535"},
        {"listener 1883 nowhere\n", "t.conf:1: listener: 'nowhere' is not an IPv4 address"},
        {"listener 1883 198.18.0.1 x\n", "t.conf:1: listener: unexpected 'x' after the address"},
        {"listener 1883\nlistener 1883\n",
         "t.conf:2: listener: port 1883 already used by the listener at line 1"},
        {"listener 1883\nprotocol mqtt\nprotocol tls\n",
         "t.conf:3: protocol: duplicate option, already set at line 2"},
        {"listener 1883\ncongestion_control bbr\n",
         "t.conf:2: congestion_control: 'bbr' is not one of newreno, cubic"},
        {"listener 1883\nprotocol quic\n",
         "t.conf:2: protocol: 'quic' is not one of mqtt, tls, websockets"},
        {"listener 8883\nprotocol tls\n",
         "t.conf:1: listener 8883: protocol tls needs certfile and keyfile"},
        {"listener 1883\ncertfile /x.pem\n",
         "t.conf:1: listener 1883: certfile/keyfile/cafile need protocol tls"},
        {"listener 1883 198.18.0.9\n",
         "t.conf:1: listener 1883: 198.18.0.9 is not the dataplane address"},
        {"listener 1\nlistener 2\nlistener 3\nlistener 4\nlistener 5\nlistener 6\nlistener "
         "7\nlistener 8\nlistener 9\n",
         "t.conf:9: listener: more than 8 listeners"},
        {"log_level info\x01\n", "t.conf:1: control character 0x01 in line"},
        {"password_file 5\r\r\n", "t.conf:1: control character 0x0d in line"},
        {"password_file a\rb\n", "t.conf:1: control character 0x0d in line"},
        {"log_level info\n\0\n", "t.conf:2: control character 0x00 in line"},
        /* good ones */
        {"", ""},
        {"# only a comment\n\n   \t\n", ""},
        {"  log_level   debug  \r\n", ""},
        {"max_packet_size 256K\n", ""},
        {"password_file\n", ""},
        {"listener 1883\nlistener 8883 198.18.0.1\nprotocol tls\ncertfile /c.pem\nkeyfile "
         "/k.pem\nmax_connections 10\n",
         ""},
        {"max_connections 5\nlistener 1883\nmax_connections 3\n", ""},
        /* limits (issue 8) */
        {"max_publish_rate 1000001\n",
         "t.conf:1: max_publish_rate: 1000001 is out of range 0..1000000"},
        {"connection_rate_burst 0\n",
         "t.conf:1: connection_rate_burst: 0 is out of range 1..1000000"},
        {"max_topic_levels 65536\n", "t.conf:1: max_topic_levels: 65536 is out of range 0..65535"},
        {"listener 1883\nmax_publish_rate 5\n",
         "t.conf:2: max_publish_rate: global option inside the listener block opened at line 1 "
         "(global options go before the first listener)"},
        {"max_topic_levels 8\nmax_connection_rate 20\nconnection_rate_burst 40\n"
         "max_publish_rate 1000\npublish_rate_burst 1\n",
         ""},
        {"log_level info", ""}, /* no final newline */
};

static void
table_cases(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_config c;
		char err[CTL_ERR_MAX], name[96];
		size_t len = strlen(bad[i].text);
		int rc;

		/* the NUL case: count the embedded NUL and what follows it */
		if (strstr(bad[i].err, "0x00"))
			len += 2;
		rc = ctl_config_parse(bad[i].text, len, "t.conf", &c, err, sizeof(err));
		int ok = bad[i].err[0] ? rc == -EINVAL && !strcmp(err, bad[i].err) : rc == 0;

		if (!ok)
			printf("#   text %zu: rc %d, got '%s'\n#   expected '%s'\n", i, rc, err,
			       bad[i].err);
		snprintf(name, sizeof(name), "line case %zu: %.60s", i,
		         bad[i].err[0] ? bad[i].err + 7 : "parses");
		tap_result(ok, name);
	}
}

static void
test_line_too_long(void)
{
	char *text = malloc(CTL_LINE_MAX + 64), err[CTL_ERR_MAX];
	struct ctl_config c;

	memset(text, 'a', CTL_LINE_MAX + 10);
	memcpy(text, "eal_args ", 9);
	text[CTL_LINE_MAX + 10] = '\n';
	CHECK_EQ(ctl_config_parse(text, CTL_LINE_MAX + 11, "t.conf", &c, err, sizeof(err)),
	         -EINVAL);
	CHECK(!strcmp(err, "t.conf:1: line longer than 1024 bytes"));
	free(text);
}

static void
test_values_parsed(void)
{
	static const char text[] = "address 198.18.5.2\nnetmask 255.255.0.0\ngateway 198.18.0.254\n"
	                           "lcores 1-3,5\nmax_packet_size 2M\nlog_level debug\n"
	                           "metrics_listen 127.0.0.2:9999\nidle_policy busy\n"
	                           "eal_args --vdev=net_af_packet0,iface=v0 --no-pci\n"
	                           "max_topic_levels 8\nmax_connection_rate 20\n"
	                           "max_publish_rate 1000\npublish_rate_burst 1\n"
	                           "listener 1883\nlistener 8883 198.18.5.2\nprotocol tls\n"
	                           "certfile /c.pem\nkeyfile /k.pem\nmax_connections 7\n"
	                           "congestion_control cubic\n";
	struct ctl_config c;
	char err[CTL_ERR_MAX];

	CHECK_EQ(ctl_config_parse(text, strlen(text), "t", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.address, 0xC6120502u);
	CHECK_EQ(c.netmask, 0xFFFF0000u);
	CHECK_EQ(c.gateway, 0xC61200FEu);
	CHECK(!strcmp(c.lcores, "1-3,5"));
	CHECK_EQ(c.max_packet_size, 2u << 20);
	CHECK_EQ(c.log_level, CTL_LOG_DEBUG);
	CHECK_EQ(c.metrics_ip, 0x7F000002u);
	CHECK_EQ(c.metrics_port, 9999);
	CHECK_EQ(c.idle_policy, CTL_IDLE_BUSY);
	CHECK(!strcmp(c.eal_args, "--vdev=net_af_packet0,iface=v0 --no-pci"));
	CHECK_EQ(c.n_listeners, 2);
	CHECK_EQ(c.listeners[0].port, 1883);
	CHECK_EQ(c.listeners[0].proto, CTL_PROTO_MQTT);
	CHECK_EQ(c.listeners[1].port, 8883);
	CHECK_EQ(c.listeners[1].proto, CTL_PROTO_TLS);
	CHECK_EQ(c.listeners[1].max_connections, 7);
	CHECK_EQ(c.listeners[0].cc, 0); /* newreno */
	CHECK_EQ(c.listeners[1].cc, 1); /* cubic */
	CHECK_EQ(c.listeners[1].bind_ip, 0xC6120502u);
	CHECK(!strcmp(c.listeners[1].keyfile, "/k.pem"));
	CHECK_EQ(c.max_topic_levels, 8);
	CHECK_EQ(c.max_connection_rate, 20);
	CHECK_EQ(c.max_publish_rate, 1000);
	CHECK_EQ(c.publish_rate_burst, 1);
	/* unchanged options keep their defaults */
	CHECK_EQ(c.max_inflight_messages, 20);
	CHECK_EQ(c.connection_rate_burst, 10);
	CHECK_EQ(c.sys_interval, 10);
}

static void
test_defaults(void)
{
	struct ctl_config d, e;
	char err[CTL_ERR_MAX];

	ctl_config_defaults(&d);
	CHECK_EQ(ctl_config_parse("", 0, "empty", &e, err, sizeof(err)), 0);
	CHECK(ctl_config_equal(&d, &e));
	CHECK(!memcmp(&d, &e, sizeof(d)));
	CHECK_EQ(d.n_listeners, 1);
	CHECK_EQ(d.listeners[0].port, 1883);
	CHECK_EQ(d.address, 0xC6120001u);
	CHECK_EQ(d.metrics_port, 9883);
	CHECK(!strcmp(d.dataplane_socket, "/run/tachyon/tachyond.sock"));
	CHECK(!strcmp(d.control_socket, "/run/tachyon/control.sock"));
}

static void
test_roundtrip(void)
{
	static const char text[] =
	        "log_level err\nmax_queued_messages 0\nsys_interval 0\n"
	        "password_file /etc/tachyon/passwd\n"
	        "listener 1884\nprotocol websockets\nlistener 8883\nprotocol tls\n"
	        "certfile /c\nkeyfile /k\ncafile /ca\n";
	struct ctl_config a, b;
	char buf[16384], err[CTL_ERR_MAX];
	int n;

	CHECK_EQ(ctl_config_parse(text, strlen(text), "t", &a, err, sizeof(err)), 0);
	n = ctl_config_format(&a, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ(ctl_config_parse(buf, n, "formatted", &b, err, sizeof(err)), 0);
	CHECK(ctl_config_equal(&a, &b));
	CHECK_EQ(ctl_config_format(&a, buf, 100), -ENOSPC);
}

static void
test_diff(void)
{
	struct ctl_config a, b;
	struct ctl_config_change ch[8];

	ctl_config_defaults(&a);
	b = a;
	CHECK_EQ(ctl_config_diff(&a, &b, ch, 8), 0);
	b.max_inflight_messages = 5;
	b.log_level = CTL_LOG_DEBUG;
	b.mbufs = 2047;
	b.metrics_port = 1;
	CHECK_EQ(ctl_config_diff(&a, &b, ch, 8), 4);
	CHECK(!strcmp(ch[0].option, "mbufs"));
	CHECK_EQ(ch[0].reload, CTL_RELOAD_RESTART);
	CHECK(!strcmp(ch[1].option, "metrics_listen"));
	CHECK_EQ(ch[1].reload, CTL_RELOAD_CONTROL);
	CHECK(!strcmp(ch[2].option, "log_level"));
	CHECK_EQ(ch[2].reload, CTL_RELOAD_LIVE);
	CHECK(!strcmp(ch[3].option, "max_inflight_messages"));
	CHECK_EQ(ch[3].reload, CTL_RELOAD_LIVE);
	b = a;
	b.listeners[0].line = 99; /* where it was written is not a change */
	CHECK_EQ(ctl_config_diff(&a, &b, ch, 8), 0);
	b.listeners[0].proto = CTL_PROTO_WS;
	CHECK_EQ(ctl_config_diff(&a, &b, ch, 8), 1);
	CHECK(!strcmp(ch[0].option, "listener"));
	CHECK_EQ(ch[0].reload, CTL_RELOAD_RESTART);
	CHECK_EQ(ctl_config_diff(&a, &b, NULL, 0), 1);
}

static void
test_load_errors(void)
{
	char path[64], err[CTL_ERR_MAX];
	struct ctl_config c;
	FILE *f;

	CHECK_EQ(ctl_config_load("/nonexistent/t.conf", &c, err, sizeof(err)), -ENOENT);
	CHECK(!strcmp(err, "/nonexistent/t.conf: cannot open: No such file or directory"));
	CHECK_EQ(ctl_config_load("/tmp", &c, err, sizeof(err)), -EINVAL);
	snprintf(path, sizeof(path), "/tmp/ctl-config-test-%d.conf", getpid());
	f = fopen(path, "w");
	fputs("# test\nmax_queued_messages 1000001\n", f);
	fclose(f);
	CHECK_EQ(ctl_config_load(path, &c, err, sizeof(err)), -EINVAL);
	char want[160];

	snprintf(want, sizeof(want),
	         "%s:2: max_queued_messages: 1000001 is out of range 0..1000000", path);
	CHECK(!strcmp(err, want));
	unlink(path);
}

static void
test_log_levels(void)
{
	CHECK_EQ(ctl_log_level_parse("debug"), CTL_LOG_DEBUG);
	CHECK_EQ(ctl_log_level_parse("emerg"), CTL_LOG_EMERG);
	CHECK_EQ(ctl_log_level_parse("DEBUG"), -EINVAL);
	CHECK(!strcmp(ctl_log_level_name(CTL_LOG_WARNING), "warning"));
}

/* Every option of the table appears in docs/configuration.md's reference table, verbatim. */
static void
test_docs_complete(void)
{
	char path[512], *doc, *tab, *line;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/docs/configuration.md", srcroot);
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
	tab = malloc(65536);
	CHECK(ctl_config_doc_table(tab, 65536) > 0);
	for (line = strtok(tab, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strstr(doc, line)) {
			printf("#   docs/configuration.md lacks: %s\n", line);
			CHECK(0);
		}
	}
	free(tab);
	free(doc);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		srcroot = argv[1];
	table_cases();
	TEST(test_line_too_long);
	TEST(test_values_parsed);
	TEST(test_defaults);
	TEST(test_roundtrip);
	TEST(test_diff);
	TEST(test_load_errors);
	TEST(test_log_levels);
	TEST(test_docs_complete);
	return tap_done();
}

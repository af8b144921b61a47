/* SPDX-License-Identifier: Apache-2.0
 * tachyon-control: the control process. Owns the configuration file, keeps a connection to
 * tachyond's control socket (reattaching whenever tachyond restarts), answers tachyonctl on its
 * own unix socket and serves Prometheus metrics over HTTP.
 *
 * It holds no state the broker needs: SIGKILL of this process leaves tachyond and its clients
 * untouched, and a new instance attaches to the running tachyond again. On attach it pushes
 * the live-reloadable part of its file to tachyond (restart-only differences are reported,
 * never forced).
 *
 * One thread, one poll loop; every request is answered synchronously within its timeout (an
 * admin tool, not a data path). SIGHUP reloads like `tachyonctl config reload`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl_config.h"
#include "control/ctl_exit.h"
#include "control/ctl_stats.h"
#include "control/ctl_sys.h"
#include "control/ctl_wire.h"

#define DEFAULT_CONFIG  "/etc/tachyon/tachyon.conf"
#define DP_TIMEOUT_MS   5000
#define RECONNECT_MS    1000
#define HTTP_REQ_MAX    4096
#define HTTP_TIMEOUT_MS 1000
#define METRICS_MAX     (4u << 20)

static struct {
	const char *config_path; /* NULL: running on defaults */
	struct ctl_config cfg;   /* the file as last loaded */
	char dp_path[108];
	int dp_fd;
	int dp_pid;
	uint64_t attaches; /* successful attaches since start */
	int64_t next_connect_ms;
	struct ctl_server *srv;
	int http_fd;
	unsigned int log_level;
	volatile sig_atomic_t stop, hup;
	struct ctl_config *ovr; /* command-line overrides, re-applied on every reload */
	int ovr_dp, ovr_ctl, ovr_metrics;
	struct ctl_sys sys; /* $SYS state: moving averages, maximum clients */
	int64_t next_sys_ms;
	int sys_unsupported_logged;
	time_t started;
} g = {.dp_fd = -1, .http_fd = -1, .log_level = CTL_LOG_INFO};

static void __attribute__((format(printf, 2, 3))) logmsg(unsigned int level, const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	va_list ap;

	if (level > g.log_level)
		return;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(stderr, "%s tachyon-control %s: ", ts, ctl_log_level_name(level));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- the dataplane connection ---------- */

static void
dp_close(const char *why)
{
	if (g.dp_fd < 0)
		return;
	close(g.dp_fd);
	g.dp_fd = -1;
	g.next_connect_ms = now_ms() + RECONNECT_MS;
	logmsg(CTL_LOG_WARNING, "lost tachyond (%s); retrying every %d ms", why, RECONNECT_MS);
}

static json_t *
dp_call_once(json_t *req)
{
	json_t *resp = ctl_wire_call(g.dp_fd, req, DP_TIMEOUT_MS);

	if (!resp)
		dp_close(strerror(errno));
	return resp;
}

static json_t *
cmd(const char *name)
{
	return json_pack("{s:i,s:s}", "v", CTL_WIRE_VERSION, "cmd", name);
}

static int dp_attach(void);

/* Send `req` to tachyond; on a broken connection reattach once and retry (tachyond may have
 * restarted since the last request). Returns a response, or an "unavailable" error. */
static json_t *
dp_call(json_t *req)
{
	json_t *resp = NULL;

	for (int attempt = 0; attempt < 2 && !resp; attempt++) {
		if (g.dp_fd < 0 && dp_attach() < 0)
			break;
		resp = dp_call_once(req);
	}
	if (!resp)
		return ctl_wire_error(CTL_E_UNAVAILABLE, "tachyond is not answering on %s",
		                      g.dp_path);
	return resp;
}

static int
format_cfg(const struct ctl_config *c, char **out)
{
	char *buf = malloc(CTL_REQ_MAX);
	int n;

	if (!buf)
		return -ENOMEM;
	n = ctl_config_format(c, buf, CTL_REQ_MAX);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	return n;
}

/* config.apply of `c` to tachyond. */
static json_t *
dp_apply(const struct ctl_config *c)
{
	json_t *req = cmd("config.apply"), *resp;
	char *text;
	int n = format_cfg(c, &text);

	if (n < 0) {
		json_decref(req);
		return ctl_wire_error(CTL_E_INTERNAL, "cannot format config: %s", strerror(-n));
	}
	json_object_set_new(req, "text", json_stringn(text, n));
	json_object_set_new(req, "name", json_string(g.config_path ? g.config_path : "defaults"));
	free(text);
	resp = dp_call_once(req);
	json_decref(req);
	return resp;
}

/* Connect, say hello, and bring tachyond's live options in line with the file. */
static int
dp_attach(void)
{
	json_t *req, *resp;
	int fd = ctl_wire_connect(g.dp_path);

	if (fd < 0) {
		g.next_connect_ms = now_ms() + RECONNECT_MS;
		return fd;
	}
	g.dp_fd = fd;
	req = cmd("hello");
	resp = dp_call_once(req);
	json_decref(req);
	if (!resp)
		return -ECONNRESET;
	if (ctl_wire_errcode(resp)) {
		logmsg(CTL_LOG_ERR, "tachyond refused hello: %s",
		       json_string_value(json_object_get(resp, "message")));
		json_decref(resp);
		dp_close("hello refused");
		return -EPROTO;
	}
	g.dp_pid = json_integer_value(json_object_get(resp, "pid"));
	json_decref(resp);
	g.attaches++;
	logmsg(CTL_LOG_NOTICE, "attached to tachyond pid %d on %s", g.dp_pid, g.dp_path);
	resp = dp_apply(&g.cfg);
	if (resp && ctl_wire_errcode(resp))
		logmsg(CTL_LOG_WARNING, "running tachyond differs from %s: %s",
		       g.config_path ? g.config_path : "the defaults",
		       json_string_value(json_object_get(resp, "message")));
	else if (resp && json_array_size(json_object_get(resp, "changed")))
		logmsg(CTL_LOG_NOTICE, "pushed %zu changed option(s) from %s to tachyond",
		       json_array_size(json_object_get(resp, "changed")),
		       g.config_path ? g.config_path : "the defaults");
	json_decref(resp);
	return g.dp_fd >= 0 ? 0 : -ECONNRESET;
}

/* ---------- requests from tachyonctl ---------- */

static json_t *
get_stats(struct ctl_stats **out)
{
	json_t *req = cmd("stats"), *resp = dp_call(req);
	struct ctl_stats *s;

	json_decref(req);
	if (ctl_wire_errcode(resp))
		return resp;
	s = malloc(sizeof(*s));
	if (!s || ctl_stats_from_json(resp, s)) {
		free(s);
		json_decref(resp);
		return ctl_wire_error(CTL_E_INTERNAL, "tachyond sent malformed stats");
	}
	json_decref(resp);
	*out = s;
	return NULL;
}

static json_t *
do_stats(json_t *req)
{
	struct ctl_stats *s = NULL;
	json_t *err = get_stats(&s), *r;

	if (err)
		return err;
	r = ctl_stats_to_json(s);
	free(s);
	json_object_set_new(r, "v", json_integer(CTL_WIRE_VERSION));
	json_object_set_new(r, "ok", json_true());
	return r;
}

static json_t *
do_status(json_t *req)
{
	json_t *r = ctl_wire_ok(), *q = cmd("status"), *dp;

	json_object_set_new(r, "server", json_string("tachyon-control"));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "uptime_s", json_integer(time(NULL) - g.started));
	json_object_set_new(r, "config_path", json_string(g.config_path ? g.config_path : ""));
	json_object_set_new(r, "dataplane_socket", json_string(g.dp_path));
	json_object_set_new(r, "attaches", json_integer((json_int_t)g.attaches));
	dp = dp_call(q);
	json_decref(q);
	if (ctl_wire_errcode(dp)) {
		json_object_set_new(r, "dataplane", json_null());
		json_object_set(r, "dataplane_error", json_object_get(dp, "message"));
		json_decref(dp);
	} else {
		json_object_del(dp, "v");
		json_object_del(dp, "ok");
		json_object_set_new(r, "dataplane", dp);
	}
	return r;
}

static json_t *
do_config_show(json_t *req)
{
	json_t *q, *r;
	char *text;
	int n;

	/* "source":"file": what this process loaded, canonical; default: what tachyond runs */
	if (json_is_string(json_object_get(req, "source")) &&
	    !strcmp(json_string_value(json_object_get(req, "source")), "file")) {
		n = format_cfg(&g.cfg, &text);
		if (n < 0)
			return ctl_wire_error(CTL_E_INTERNAL, "cannot format config");
		r = ctl_wire_ok();
		json_object_set_new(r, "text", json_stringn(text, n));
		free(text);
		return r;
	}
	q = cmd("config.get");
	r = dp_call(q);
	json_decref(q);
	return r;
}

static void
apply_overrides(struct ctl_config *c)
{
	if (g.ovr_dp)
		memcpy(c->dataplane_socket, g.ovr->dataplane_socket, sizeof(c->dataplane_socket));
	if (g.ovr_ctl)
		memcpy(c->control_socket, g.ovr->control_socket, sizeof(c->control_socket));
	if (g.ovr_metrics) {
		c->metrics_ip = g.ovr->metrics_ip;
		c->metrics_port = g.ovr->metrics_port;
	}
}

/* Reload the file: refuse it whole if invalid or if anything but live options changed. */
static json_t *
do_config_reload(json_t *req)
{
	struct ctl_config *n = malloc(sizeof(*n));
	struct ctl_config_change ch[64];
	char err[CTL_ERR_MAX], names[512] = "";
	size_t k = 0;
	json_t *r;
	int nch;

	if (!n)
		return ctl_wire_error(CTL_E_INTERNAL, "out of memory");
	if (!g.config_path) {
		free(n);
		return ctl_wire_error(CTL_E_CONFIG, "tachyon-control runs without a config file");
	}
	if (ctl_config_load(g.config_path, n, err, sizeof(err))) {
		free(n);
		logmsg(CTL_LOG_ERR, "reload refused: %s", err);
		return ctl_wire_error(CTL_E_CONFIG, "%s", err);
	}
	apply_overrides(n);
	/* Options only tachyon-control reads (its sockets): this process cannot rebind them. */
	nch = ctl_config_diff(&g.cfg, n, ch, 64);
	for (int i = 0; i < nch && i < 64; i++)
		if (ch[i].reload == CTL_RELOAD_CONTROL)
			k += snprintf(names + k, k < sizeof(names) ? sizeof(names) - k : 0, "%s%s",
			              k ? ", " : "", ch[i].option);
	if (k) {
		free(n);
		return ctl_wire_error(CTL_E_RESTART,
		                      "not applied: %s only take effect when tachyon-control "
		                      "restarts",
		                      names);
	}
	if (g.dp_fd < 0 && dp_attach() < 0) {
		free(n);
		return ctl_wire_error(CTL_E_UNAVAILABLE, "tachyond is not answering on %s",
		                      g.dp_path);
	}
	r = dp_apply(n);
	if (!r)
		r = ctl_wire_error(CTL_E_UNAVAILABLE, "tachyond went away during the reload");
	if (!ctl_wire_errcode(r)) {
		g.cfg = *n;
		g.log_level = n->log_level;
		logmsg(CTL_LOG_NOTICE, "reloaded %s: %zu option(s) changed", g.config_path,
		       json_array_size(json_object_get(r, "changed")));
	} else {
		logmsg(CTL_LOG_WARNING, "reload refused: %s",
		       json_string_value(json_object_get(r, "message")));
	}
	free(n);
	return r;
}

static json_t *
do_config_check(json_t *req)
{
	const char *path = json_string_value(json_object_get(req, "path"));
	struct ctl_config *n = malloc(sizeof(*n));
	char err[CTL_ERR_MAX];
	json_t *r;

	if (!path)
		path = g.config_path;
	if (!n || !path) {
		free(n);
		return ctl_wire_error(CTL_E_CONFIG, "no config file to check");
	}
	if (ctl_config_load(path, n, err, sizeof(err)))
		r = ctl_wire_error(CTL_E_CONFIG, "%s", err);
	else {
		r = ctl_wire_ok();
		json_object_set_new(r, "path", json_string(path));
	}
	free(n);
	return r;
}

/* The $SYS messages of a fresh sample. */
static json_t *
sys_sample(json_t **msgs)
{
	struct ctl_stats *s = NULL;
	json_t *err = get_stats(&s);

	if (err)
		return err;
	*msgs = ctl_sys_messages(&g.sys, s, TACHYON_VERSION, now_ms());
	free(s);
	return NULL;
}

/* Every sys_interval seconds: compute and hand the messages to tachyond to publish. */
static void
sys_tick(void)
{
	json_t *msgs = NULL, *err = sys_sample(&msgs), *req, *r;

	if (err) {
		json_decref(err);
		return;
	}
	req = cmd("sys.publish");
	json_object_set_new(req, "messages", msgs);
	r = dp_call(req);
	json_decref(req);
	if (!g.sys_unsupported_logged &&
	    ctl_exit_for(ctl_wire_errcode(r)) == CTL_EXIT_NOT_SUPPORTED) {
		logmsg(CTL_LOG_INFO, "$SYS: %s; `tachyonctl sys show` shows the values",
		       json_string_value(json_object_get(r, "message")));
		g.sys_unsupported_logged = 1;
	}
	json_decref(r);
}

static json_t *
do_sys_show(json_t *req)
{
	json_t *msgs = NULL, *err = sys_sample(&msgs), *r;

	if (err)
		return err;
	r = ctl_wire_ok();
	json_object_set_new(r, "messages", msgs);
	return r;
}

static json_t *
do_log_level(json_t *req)
{
	json_t *r = dp_call(req);
	const char *lv = json_string_value(json_object_get(req, "level"));

	if (!ctl_wire_errcode(r) && lv && ctl_log_level_parse(lv) >= 0)
		g.log_level = ctl_log_level_parse(lv);
	return r;
}

static json_t *
do_hello(json_t *req)
{
	json_t *r = ctl_wire_ok();

	json_object_set_new(r, "server", json_string("tachyon-control"));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "dataplane", json_boolean(g.dp_fd >= 0));
	return r;
}

static json_t *
handle(void *arg, json_t *req)
{
	static const struct {
		const char *name;
		json_t *(*fn)(json_t *req);
	} local[] = {
	        {"hello", do_hello},
	        {"status", do_status},
	        {"stats", do_stats},
	        {"config.show", do_config_show},
	        {"config.reload", do_config_reload},
	        {"config.check", do_config_check},
	        {"log.level", do_log_level},
	        {"sys.show", do_sys_show},
	};
	static const char *const forwarded[] = {
	        "clients.list",       "clients.show",  "clients.kick",
	        "sessions.list",      "sessions.show", "sessions.drop",
	        "subscriptions.list", "retained.list", "retained.delete",
	};
	const char *name = json_string_value(json_object_get(req, "cmd"));

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!strcmp(name, local[i].name))
			return local[i].fn(req);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (!strcmp(name, forwarded[i]))
			return dp_call(req);
	return ctl_wire_error(CTL_E_INVALID, "unknown command '%s'", name);
}

/* ---------- Prometheus over HTTP ---------- */

static int
http_listen(uint32_t ip, uint16_t port)
{
	struct sockaddr_in sa = {
	        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static void
http_reply(int fd, int head_only, const char *status, const char *ctype, const char *body,
           size_t len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
	                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, ctype, len);

	if (send(fd, hdr, n, MSG_NOSIGNAL) != n || head_only)
		return;
	for (size_t off = 0; off < len;) {
		ssize_t k = send(fd, body + off, len - off, MSG_NOSIGNAL);

		if (k <= 0)
			return; /* SO_SNDTIMEO bounds a stalled scraper */
		off += k;
	}
}

/* The scrape: tachyond's counters plus this process's view of it. */
static void
http_metrics(int fd, int head_only)
{
	struct ctl_stats *s = NULL;
	json_t *err = get_stats(&s);
	char *buf;
	int n = 0;

	if (err) {
		/* Scrapes still succeed so that tachyon_up == 0 is visible. */
		char body[256];
		int k = snprintf(body, sizeof(body),
		                 "# HELP tachyon_up Whether tachyond answered this scrape.\n"
		                 "# TYPE tachyon_up gauge\ntachyon_up 0\n");

		json_decref(err);
		http_reply(fd, head_only, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
		           body, k);
		return;
	}
	buf = malloc(METRICS_MAX);
	if (buf)
		n = ctl_stats_prometheus(s, buf, METRICS_MAX - 512);
	free(s);
	if (!buf || n < 0) {
		http_reply(fd, head_only, "500 Internal Server Error", "text/plain", "too large\n",
		           10);
		free(buf);
		return;
	}
	n += snprintf(buf + n, METRICS_MAX - n,
	              "# HELP tachyon_up Whether tachyond answered this scrape.\n"
	              "# TYPE tachyon_up gauge\ntachyon_up 1\n"
	              "# HELP tachyon_control_attaches_total Times tachyon-control attached to "
	              "tachyond.\n# TYPE tachyon_control_attaches_total counter\n"
	              "tachyon_control_attaches_total %llu\n",
	              (unsigned long long)g.attaches);
	http_reply(fd, head_only, "200 OK", "text/plain; version=0.0.4; charset=utf-8", buf, n);
	free(buf);
}

/* One request per connection, read within HTTP_TIMEOUT_MS: bounded time and memory. */
static void
http_serve(void)
{
	struct timeval tv = {.tv_sec = HTTP_TIMEOUT_MS / 1000,
	                     .tv_usec = (HTTP_TIMEOUT_MS % 1000) * 1000};
	char req[HTTP_REQ_MAX + 1], method[8], path[256];
	int64_t deadline = now_ms() + HTTP_TIMEOUT_MS;
	size_t len = 0;
	int fd = accept4(g.http_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < HTTP_REQ_MAX && now_ms() < deadline) {
		ssize_t k = recv(fd, req + len, HTTP_REQ_MAX - len, 0);

		if (k <= 0)
			break;
		len += k;
		req[len] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[len] = 0;
	if (sscanf(req, "%7s %255s HTTP/1.%*c", method, path) != 2 ||
	    (!strstr(req, "\r\n\r\n") && !strstr(req, "\n\n"))) {
		http_reply(fd, 0, "400 Bad Request", "text/plain", "bad request\n", 12);
	} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		http_reply(fd, 0, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
	} else if (!strcmp(path, "/metrics") || !strncmp(path, "/metrics?", 9)) {
		http_metrics(fd, !strcmp(method, "HEAD"));
	} else if (!strcmp(path, "/")) {
		static const char body[] = "tachyon-control: metrics at /metrics\n";

		http_reply(fd, !strcmp(method, "HEAD"), "200 OK", "text/plain", body,
		           sizeof(body) - 1);
	} else {
		http_reply(fd, !strcmp(method, "HEAD"), "404 Not Found", "text/plain",
		           "not found\n", 10);
	}
	close(fd);
}

/* ---------- main ---------- */

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		g.hup = 1;
	else
		g.stop = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: tachyon-control [-c FILE] [options]\n"
	        "       tachyon-control --check-config FILE\n"
	        "       tachyon-control --print-options\n"
	        "\n"
	        "The Tachyon control process: reads FILE (default " DEFAULT_CONFIG ", or built-in\n"
	        "defaults when that does not exist), attaches to tachyond, answers tachyonctl and\n"
	        "serves Prometheus metrics. Runs in the foreground; logs to stderr.\n"
	        "\n"
	        "  -c, --config FILE           configuration file\n"
	        "      --check-config FILE     validate FILE and exit (0 valid, 5 invalid)\n"
	        "      --dataplane-socket P    override dataplane_socket\n"
	        "      --control-socket P      override control_socket\n"
	        "      --metrics ADDR:PORT     override metrics_listen (port 0: no HTTP)\n"
	        "      --print-options         print the option reference (Markdown) and exit\n"
	        "  -h, --help                  this help\n"
	        "\n"
	        "Signals: SIGHUP reloads FILE; SIGTERM/SIGINT stop (tachyond keeps running).\n");
}

static int
check_config(const char *path)
{
	struct ctl_config *c = malloc(sizeof(*c));
	char err[CTL_ERR_MAX];
	int rc = c ? ctl_config_load(path, c, err, sizeof(err)) : -ENOMEM;

	free(c);
	if (rc) {
		fprintf(stderr, "%s\n", rc == -ENOMEM ? "out of memory" : err);
		return CTL_EXIT_CONFIG;
	}
	printf("%s: OK\n", path);
	return CTL_EXIT_OK;
}

/* A command-line override, checked by the same parser as the file; kept in g.ovr. */
static int
override(const char *key, const char *value)
{
	char text[CTL_LINE_MAX + 128], err[CTL_ERR_MAX];
	struct ctl_config *c = malloc(sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	snprintf(text, sizeof(text), "%s %s\n", key, value);
	rc = ctl_config_parse(text, strlen(text), "command line", c, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tachyon-control: %s\n", err);
		free(c);
		return rc;
	}
	if (!strcmp(key, "dataplane_socket")) {
		memcpy(g.ovr->dataplane_socket, c->dataplane_socket, sizeof(c->dataplane_socket));
		g.ovr_dp = 1;
	} else if (!strcmp(key, "control_socket")) {
		memcpy(g.ovr->control_socket, c->control_socket, sizeof(c->control_socket));
		g.ovr_ctl = 1;
	} else {
		g.ovr->metrics_ip = c->metrics_ip;
		g.ovr->metrics_port = c->metrics_port;
		g.ovr_metrics = 1;
	}
	free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check-config", required_argument, NULL, 'C'},
	        {"dataplane-socket", required_argument, NULL, 'd'},
	        {"control-socket", required_argument, NULL, 's'},
	        {"metrics", required_argument, NULL, 'm'},
	        {"print-options", no_argument, NULL, 'P'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *dp_sock = NULL, *ctl_sock = NULL, *metrics = NULL;
	char err[CTL_ERR_MAX];
	int opt;

	g.ovr = calloc(1, sizeof(*g.ovr));
	if (!g.ovr)
		return CTL_EXIT_FAILED;
	while ((opt = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'C':
			return check_config(optarg);
		case 'd':
			dp_sock = optarg;
			break;
		case 's':
			ctl_sock = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'P': {
			char *buf = malloc(65536);

			if (!buf || ctl_config_doc_table(buf, 65536) < 0)
				return CTL_EXIT_FAILED;
			fputs(buf, stdout);
			free(buf);
			return CTL_EXIT_OK;
		}
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!g.config_path && access(DEFAULT_CONFIG, F_OK) == 0)
		g.config_path = DEFAULT_CONFIG;
	if (g.config_path) {
		if (ctl_config_load(g.config_path, &g.cfg, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return CTL_EXIT_CONFIG;
		}
	} else {
		ctl_config_defaults(&g.cfg);
	}
	if ((dp_sock && override("dataplane_socket", dp_sock)) ||
	    (ctl_sock && override("control_socket", ctl_sock)) ||
	    (metrics && override("metrics_listen", metrics)))
		return CTL_EXIT_USAGE;
	apply_overrides(&g.cfg);
	g.log_level = g.cfg.log_level;
	g.started = time(NULL);
	snprintf(g.dp_path, sizeof(g.dp_path), "%s", g.cfg.dataplane_socket);

	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	g.srv = ctl_server_create(g.cfg.control_socket, handle, NULL);
	if (!g.srv) {
		logmsg(CTL_LOG_ERR, "cannot serve on %s: %s", g.cfg.control_socket,
		       errno == EADDRINUSE ? "another tachyon-control answers there"
		                           : strerror(errno));
		return CTL_EXIT_UNAVAILABLE;
	}
	if (g.cfg.metrics_port) {
		g.http_fd = http_listen(g.cfg.metrics_ip, g.cfg.metrics_port);
		if (g.http_fd < 0) {
			char ip[INET_ADDRSTRLEN];
			struct in_addr a = {.s_addr = htonl(g.cfg.metrics_ip)};

			inet_ntop(AF_INET, &a, ip, sizeof(ip));
			logmsg(CTL_LOG_ERR, "cannot listen on %s:%u: %s", ip, g.cfg.metrics_port,
			       strerror(-g.http_fd));
			ctl_server_destroy(g.srv);
			unlink(g.cfg.control_socket);
			return CTL_EXIT_UNAVAILABLE;
		}
	}
	logmsg(CTL_LOG_NOTICE, "serving tachyonctl on %s, metrics on %s; config %s",
	       g.cfg.control_socket, g.http_fd >= 0 ? "HTTP" : "(disabled)",
	       g.config_path ? g.config_path : "(defaults)");
	if (dp_attach() < 0)
		logmsg(CTL_LOG_WARNING, "tachyond not answering on %s yet; retrying every %d ms",
		       g.dp_path, RECONNECT_MS);

	while (!g.stop) {
		struct pollfd pfd[CTL_SERVER_MAX_CLIENTS + 3];
		int n = ctl_server_pollfds(g.srv, pfd, CTL_SERVER_MAX_CLIENTS + 1), extra = n;
		uint64_t attaches = g.attaches; /* a request may reattach: a new fd, same number */

		if (g.http_fd >= 0)
			pfd[extra++] = (struct pollfd){.fd = g.http_fd, .events = POLLIN};
		if (g.dp_fd >= 0)
			pfd[extra++] = (struct pollfd){.fd = g.dp_fd, .events = POLLIN};
		if (poll(pfd, extra, 250) > 0) {
			ctl_server_handle(g.srv, pfd, n);
			for (int i = n; i < extra; i++) {
				if (!pfd[i].revents)
					continue;
				if (pfd[i].fd == g.http_fd)
					http_serve();
				else if (pfd[i].fd == g.dp_fd && attaches == g.attaches)
					dp_close("connection closed"); /* it never speaks first */
			}
		}
		if (g.hup) {
			json_t *r;

			g.hup = 0;
			r = do_config_reload(NULL);
			json_decref(r);
		}
		if (g.dp_fd < 0 && now_ms() >= g.next_connect_ms)
			dp_attach();
		if (g.cfg.sys_interval && g.dp_fd >= 0 && now_ms() >= g.next_sys_ms) {
			g.next_sys_ms = now_ms() + g.cfg.sys_interval * 1000ll;
			sys_tick();
		}
	}
	logmsg(CTL_LOG_NOTICE, "stopping (tachyond keeps running)");
	ctl_server_destroy(g.srv);
	unlink(g.cfg.control_socket);
	if (g.http_fd >= 0)
		close(g.http_fd);
	if (g.dp_fd >= 0)
		close(g.dp_fd);
	return CTL_EXIT_OK;
}

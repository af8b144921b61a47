/* SPDX-License-Identifier: Apache-2.0
 * tachyonctl: the operator's CLI. Talks to tachyon-control on its unix socket. When
 * tachyon-control is not running, read-only commands (status, stats, config show, the lists
 * and shows) fall back to tachyond's own socket, with a note on stderr; commands that change
 * something (reload, log level, kick, drop, delete) go through tachyon-control only, the one
 * owner of the configuration.
 *
 * Exit codes: control/ctl_exit.h (docs/operations.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl_config.h"
#include "control/ctl_exit.h"
#include "control/ctl_stats.h"
#include "control/ctl_wire.h"
#include "mqtt/mqtt_auth.h"

#define DEFAULT_CONTROL_SOCKET   "/run/tachyon/control.sock"
#define DEFAULT_DATAPLANE_SOCKET "/run/tachyon/tachyond.sock"

static struct {
	int json;
	int timeout_ms;
	char ctl_sock[108], dp_sock[108];
} o = {.timeout_ms = 10000};

/* A command: words, what it sends, how it prints. */
struct command {
	const char *words; /* "clients kick" */
	const char *args;  /* usage of the arguments */
	const char *help;
	const char *wire;   /* request "cmd" */
	const char *argkey; /* the positional argument goes into this request key */
	int arg_required;
	int readonly; /* may fall back to tachyond */
	int list;     /* accepts --limit */
	void (*print)(const struct command *c, json_t *resp);
};

static void
print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

static void
strip(json_t *r)
{
	json_object_del(r, "v");
	json_object_del(r, "ok");
}

static void
print_kv(const struct command *c, json_t *r)
{
	const char *k;
	json_t *v;

	strip(r);
	json_object_foreach(r, k, v)
	{
		if (json_is_object(v) || json_is_array(v)) {
			char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);

			printf("%-20s %s\n", k, s ? s : "");
			free(s);
		} else if (json_is_string(v)) {
			printf("%-20s %s\n", k, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY);

			printf("%-20s %s\n", k, s ? s : "");
			free(s);
		}
	}
}

static void
print_status(const struct command *c, json_t *r)
{
	json_t *dp = json_object_get(r, "dataplane");

	if (json_is_object(dp)) {
		json_incref(dp);
		json_object_del(r, "dataplane");
		print_kv(c, r);
		printf("\ntachyond:\n");
		print_kv(c, dp);
		json_decref(dp);
	} else {
		print_kv(c, r);
	}
}

static void
print_text(const struct command *c, json_t *r)
{
	fputs(json_string_value(json_object_get(r, "text")) ?: "", stdout);
}

static void
print_stats(const struct command *c, json_t *r)
{
	struct ctl_stats *s = calloc(1, sizeof(*s));
	json_t *lcores = json_object_get(r, "lcores"), *e;
	size_t i;

	if (!s)
		return;
	/* Rebuild the table input from the user-facing JSON's per-lcore counters. */
	json_array_foreach(lcores, i, e)
	{
		json_t *cn = json_object_get(e, "counters");

		if (s->n == CTL_STATS_MAX_LCORES)
			break;
		s->lc[s->n].lcore = json_integer_value(json_object_get(e, "lcore"));
		for (int f = 0; f < CTL_STAT_N; f++)
			s->lc[s->n].v[f] =
			        json_integer_value(json_object_get(cn, ctl_stats_key(f)));
		s->n++;
	}
	ctl_stats_sum(s);
	ctl_stats_table(s, stdout);
	free(s);
}

/* Table columns of the list commands (JSON keys of their items, docs/operations.md). */
static const struct {
	const char *wire, *cols;
} tables[] = {
        {"clients.list",
         "client_id peer lcore protocol state keepalive inflight queued subscriptions username"},
        {"sessions.list",
         "client_id lcore online expiry_s expires_in_s inflight queued subscriptions peer"},
        {"subscriptions.list", "client_id lcore qos no_local retain_as_published filter"},
        {"retained.list", "topic bytes qos expires_in_s"},
};

#define TABLE_MAX_COLS 12

/* One cell: strings as they are, booleans yes/no, -1 (never, not applicable) and absent "-". */
static void
cell(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
}

/* Columns sized to their widest cell: two passes over the items, O(items x columns). */
static void
print_table(const char *spec, json_t *items)
{
	char cols[256], *key[TABLE_MAX_COLS], buf[512];
	int width[TABLE_MAX_COLS], n = 0;
	json_t *e;
	size_t i;

	snprintf(cols, sizeof(cols), "%s", spec);
	for (char *k = strtok(cols, " "); k && n < TABLE_MAX_COLS; k = strtok(NULL, " ")) {
		key[n] = k;
		width[n++] = (int)strlen(k);
	}
	json_array_foreach(items, i, e) for (int k = 0; k < n; k++)
	{
		cell(json_object_get(e, key[k]), buf, sizeof(buf));
		if ((int)strlen(buf) > width[k])
			width[k] = (int)strlen(buf);
	}
	for (int k = 0; k < n; k++) {
		for (char *p = key[k]; *p; p++)
			buf[p - key[k]] =
			        (char)(*p == '_' ? ' ' : *p - ('a' <= *p && *p <= 'z') * 32);
		buf[strlen(key[k])] = 0;
		printf("%-*s%s", k + 1 < n ? width[k] : 0, buf, k + 1 < n ? "  " : "\n");
	}
	json_array_foreach(items, i, e) for (int k = 0; k < n; k++)
	{
		cell(json_object_get(e, key[k]), buf, sizeof(buf));
		printf("%-*s%s", k + 1 < n ? width[k] : 0, buf, k + 1 < n ? "  " : "\n");
	}
}

static void
print_list(const struct command *c, json_t *r)
{
	json_t *items = json_object_get(r, "items");

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!strcmp(tables[i].wire, c->wire))
			print_table(tables[i].cols, items);
	if (json_is_true(json_object_get(r, "truncated")))
		fprintf(stderr, "tachyonctl: list truncated at %lld items (use --limit)\n",
		        json_integer_value(json_object_get(r, "count")));
}

static void
print_item(const struct command *c, json_t *r)
{
	json_t *item = json_object_get(r, "item");

	if (json_is_object(item))
		print_kv(c, item);
}

static void
print_done(const struct command *c, json_t *r)
{
	printf("%s: done\n", c->words);
}

static void
print_reload(const struct command *c, json_t *r)
{
	json_t *ch = json_object_get(r, "changed"), *v;
	size_t i;

	printf("configuration generation %lld applied",
	       json_integer_value(json_object_get(r, "generation")));
	if (json_array_size(ch)) {
		printf("; changed:");
		json_array_foreach(ch, i, v) printf(" %s", json_string_value(v));
	} else {
		printf("; nothing changed");
	}
	putchar('\n');
}

static void
print_level(const struct command *c, json_t *r)
{
	printf("%s\n", json_string_value(json_object_get(r, "level")) ?: "?");
}

static void
print_check(const struct command *c, json_t *r)
{
	printf("%s: OK\n", json_string_value(json_object_get(r, "path")) ?: "config");
}

static void
print_sys(const struct command *c, json_t *r)
{
	json_t *msgs = json_object_get(r, "messages"), *m;
	size_t i;

	json_array_foreach(msgs, i, m)
	        printf("%s %s\n", json_string_value(json_object_get(m, "topic")),
	               json_string_value(json_object_get(m, "payload")));
}

static const struct command commands[] = {
        {"status", "", "Show tachyon-control and tachyond state.", "status", NULL, 0, 1, 0,
         print_status},
        {"stats", "[--watch SECS [--count N]]",
         "Counters, total and per lcore (--json: see docs/operations.md); --watch: a line of "
         "rates every SECS seconds (N lines, or until Ctrl-C).",
         "stats", NULL, 0, 1, 0, print_stats},
        {"config show", "[--file]",
         "Print the running configuration (--file: the file tachyon-control loaded).",
         "config.show", NULL, 0, 1, 0, print_text},
        {"config reload", "",
         "Re-read the configuration file and apply it live; refused whole when invalid or when "
         "an option that needs a restart changed.",
         "config.reload", NULL, 0, 0, 0, print_reload},
        {"config check", "[FILE]",
         "Validate FILE locally, or (no FILE) the file tachyon-control would reload.",
         "config.check", "path", 0, 0, 0, print_check},
        {"log level", "[LEVEL]",
         "Show or set the log level: emerg alert crit err warning notice info debug.", "log.level",
         "level", 0, 0, 0, print_level},
        {"clients list", "[--limit N]",
         "Connected clients: id, peer address, lcore, protocol, state, keep-alive, messages in "
         "flight and queued, subscriptions.",
         "clients.list", NULL, 0, 1, 1, print_list},
        {"clients show", "CLIENT_ID", "One client's connection and session.", "clients.show",
         "client_id", 1, 1, 0, print_item},
        {"clients kick", "CLIENT_ID",
         "Disconnect a client: v5 DISCONNECT 0x98 (administrative action), 3.x closed; its will is "
         "published, its session stays.",
         "clients.kick", "client_id", 1, 0, 0, print_done},
        {"sessions list", "[--limit N]",
         "Sessions, online and offline: expiry interval, seconds left while offline, messages in "
         "flight and queued.",
         "sessions.list", NULL, 0, 1, 1, print_list},
        {"sessions show", "CLIENT_ID", "One session.", "sessions.show", "client_id", 1, 1, 0,
         print_item},
        {"sessions drop", "CLIENT_ID",
         "End a session: its client is disconnected (v5: 0x98), its subscriptions and queued "
         "messages freed.",
         "sessions.drop", "client_id", 1, 0, 0, print_done},
        {"subscriptions list", "[FILTER] [--client-id ID] [--limit N]",
         "Subscriptions (client, filter, QoS, options), optionally those whose filter FILTER "
         "matches or equals, or those of one client (exit 4: no session ID).",
         "subscriptions.list", "filter", 0, 1, 1, print_list},
        {"retained list", "[FILTER] [--limit N]",
         "Retained messages (topic, payload bytes, QoS, seconds to expiry), optionally those "
         "FILTER matches.",
         "retained.list", "filter", 0, 1, 1, print_list},
        {"retained delete", "TOPIC", "Delete the retained message of TOPIC.", "retained.delete",
         "topic", 1, 0, 0, print_done},
        {"sys show", "",
         "The $SYS/broker/... topics and values tachyon-control publishes every sys_interval.",
         "sys.show", NULL, 0, 0, 0, print_sys},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Print `text` from column `indent`, breaking between words before column `width`. */
static void
wrap(FILE *out, const char *text, int indent, int width)
{
	int col = indent;

	for (const char *p = text; *p;) {
		int wl = (int)strcspn(p, " ");

		if (col > indent && col + 1 + wl > width) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			col += fprintf(out, " ");
		}
		col += fprintf(out, "%.*s", wl, p);
		p += wl;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: tachyonctl [options] COMMAND [ARGS]\n\n"
	        "options (anywhere on the line):\n"
	        "  -s, --socket PATH            tachyon-control socket (" DEFAULT_CONTROL_SOCKET
	        ")\n"
	        "  -d, --dataplane-socket PATH  tachyond socket for read-only fallback\n"
	        "                               (" DEFAULT_DATAPLANE_SOCKET ")\n"
	        "  -c, --config FILE            take both socket paths from FILE\n"
	        "  -j, --json                   print JSON\n"
	        "  -t, --timeout MS             give up after MS milliseconds (10000)\n"
	        "  -h, --help                   help (also after any command)\n\n"
	        "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		fprintf(out, "  %-20s %-22s ", commands[i].words, commands[i].args);
		wrap(out, commands[i].help, 46, 100);
	}
	fprintf(out, "  %-20s %-22s ", "passwd add|delete", "FILE USER");
	wrap(out,
	     "Add (password from stdin, prompted on a terminal; -c: password_iterations) or "
	     "delete a user of a password file; tachyond re-reads it within a second.",
	     46, 100);
	fprintf(out, "  %-20s %-22s ", "passwd list", "FILE");
	wrap(out, "Users of a password file and their PBKDF2 iteration counts.", 46, 100);
	fprintf(out, "\nexit codes: 0 ok, 1 failed, 2 usage, 3 unreachable, 4 not found,\n"
	             "            5 invalid config, 6 restart required, 7 not supported yet\n");
}

static void
command_help(const struct command *c, FILE *out)
{
	fprintf(out, "usage: tachyonctl [--json] %s %s\n\n", c->words, c->args);
	wrap(out, c->help, 0, 100);
	if (c->list)
		fprintf(out, "\n  --limit N        at most N items per lcore (1..10000, default "
		             "1000)\n");
	if (!strcmp(c->wire, "subscriptions.list"))
		fprintf(out, "  --client-id ID   only the subscriptions of client ID\n");
	if (!c->readonly)
		fprintf(out, "\nNeeds tachyon-control running.\n");
}

/* The commands whose first word is `w`, for `tachyonctl clients --help`. */
static int
group_help(const char *w, FILE *out)
{
	int n = 0;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		size_t l = strcspn(commands[i].words, " ");

		if (strlen(w) == l && !strncmp(commands[i].words, w, l)) {
			if (!n++)
				fprintf(out, "usage:\n");
			fprintf(out, "  tachyonctl %s %s\n      %s\n", commands[i].words,
			        commands[i].args, commands[i].help);
		}
	}
	return n;
}

static int
die(int code, const char *fmt, const char *arg)
{
	fprintf(stderr, "tachyonctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return code;
}

static int
config_check_local(const char *path)
{
	struct ctl_config *c = malloc(sizeof(*c));
	char err[CTL_ERR_MAX];
	int rc = c ? ctl_config_load(path, c, err, sizeof(err)) : -ENOMEM;

	free(c);
	if (rc) {
		if (o.json) {
			json_t *r = ctl_wire_error(CTL_E_CONFIG, "%s", err);

			strip(r);
			print_json(r);
			json_decref(r);
		} else {
			fprintf(stderr, "%s\n", err);
		}
		return CTL_EXIT_CONFIG;
	}
	if (o.json)
		printf("{\n  \"path\": \"%s\"\n}\n", path);
	else
		printf("%s: OK\n", path);
	return CTL_EXIT_OK;
}

/* ---- tachyonctl passwd: the password file, locally (no broker involved; tachyond re-reads the
 * file within a second of its change). ---- */

static uint32_t passwd_iter; /* password_iterations of the -c config; 0: the default */

/* One password line from stdin; on a terminal prompted twice without echo. */
static int
passwd_read(char *buf, size_t len)
{
	int tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	char again[1024];
	int rc = 0;

	if (tty) {
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		fputs("Password: ", stderr);
	}
	if (!fgets(buf, (int)len, stdin))
		rc = -EIO;
	if (rc == 0 && tty) {
		fputs("\nPassword again: ", stderr);
		if (!fgets(again, sizeof(again), stdin) || strcmp(again, buf) != 0)
			rc = -EINVAL;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return rc;
}

static int
cmd_passwd(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "", *file = argc > 2 ? argv[2] : NULL;
	const char *user = argc > 3 ? argv[3] : NULL;
	struct mqtt_passwd *pw;
	char err[512], pass[1024];
	int rc = CTL_EXIT_OK;

	if (!file || (strcmp(op, "list") && !user) ||
	    (strcmp(op, "add") && strcmp(op, "delete") && strcmp(op, "list"))) {
		fprintf(stderr, "usage: tachyonctl [-c CONFIG] passwd add|delete FILE USER\n"
		                "       tachyonctl passwd list FILE\n"
		                "add reads the password from stdin (prompted twice on a terminal); "
		                "-c: password_iterations from CONFIG\n");
		return CTL_EXIT_USAGE;
	}
	pw = mqtt_passwd_load(file, err, sizeof(err));
	if (pw == NULL && errno == ENOENT && !strcmp(op, "add"))
		pw = mqtt_passwd_new();
	if (pw == NULL) {
		fprintf(stderr, "tachyonctl: %s\n", err);
		return CTL_EXIT_CONFIG;
	}
	if (!strcmp(op, "list")) {
		for (size_t i = 0; i < mqtt_passwd_count(pw); i++) {
			uint32_t iter;
			const char *name = mqtt_passwd_user(pw, i, &iter);

			printf("%s %u\n", name, iter);
		}
	} else if (!strcmp(op, "delete")) {
		if (mqtt_passwd_delete(pw, user) < 0) {
			fprintf(stderr, "tachyonctl: %s: no user '%s'\n", file, user);
			rc = CTL_EXIT_NOT_FOUND;
		}
	} else if (passwd_read(pass, sizeof(pass)) < 0) {
		fprintf(stderr, "tachyonctl: no password read (or the two differ)\n");
		rc = CTL_EXIT_USAGE;
	} else if (mqtt_passwd_set(pw, user, pass, strlen(pass), passwd_iter) < 0) {
		fprintf(stderr, "tachyonctl: '%s' is not a valid user name\n", user);
		rc = CTL_EXIT_USAGE;
	}
	memset(pass, 0, sizeof(pass));
	if (rc == CTL_EXIT_OK && strcmp(op, "list") && mqtt_passwd_save(pw, file) < 0) {
		fprintf(stderr, "tachyonctl: cannot write %s: %s\n", file, strerror(errno));
		rc = CTL_EXIT_FAILED;
	}
	mqtt_passwd_free(pw);
	return rc;
}

static int
sockets_from_config(const char *path)
{
	struct ctl_config *c = malloc(sizeof(*c));
	char err[CTL_ERR_MAX];
	int rc = c ? ctl_config_load(path, c, err, sizeof(err)) : -ENOMEM;

	if (rc) {
		fprintf(stderr, "%s\n", rc == -ENOMEM ? "out of memory" : err);
		free(c);
		return CTL_EXIT_CONFIG;
	}
	snprintf(o.ctl_sock, sizeof(o.ctl_sock), "%s", c->control_socket);
	snprintf(o.dp_sock, sizeof(o.dp_sock), "%s", c->dataplane_socket);
	passwd_iter = c->password_iterations;
	free(c);
	return 0;
}

/* Ask tachyon-control; for read-only commands fall back to tachyond. `via_dp` tells which. */
static json_t *
request(const struct command *c, json_t *req, int *via_dp)
{
	int fd = ctl_wire_connect(o.ctl_sock);
	json_t *r;

	*via_dp = 0;
	if (fd < 0 && c->readonly) {
		int fd2 = ctl_wire_connect(o.dp_sock);

		if (fd2 >= 0) {
			fprintf(stderr,
			        "tachyonctl: tachyon-control is not running (%s); answered by "
			        "tachyond directly\n",
			        strerror(-fd));
			*via_dp = 1;
			fd = fd2;
			/* tachyond names the running config "config.get" */
			if (!strcmp(c->wire, "config.show"))
				json_object_set_new(req, "cmd", json_string("config.get"));
		}
	}
	if (fd < 0)
		return ctl_wire_error(CTL_E_UNAVAILABLE, "cannot reach tachyon-control at %s: %s%s",
		                      o.ctl_sock, strerror(-fd),
		                      c->readonly ? " (nor tachyond)" : "");
	r = ctl_wire_call(fd, req, o.timeout_ms);
	if (!r)
		r = ctl_wire_error(errno == ETIMEDOUT ? CTL_E_TIMEOUT : CTL_E_UNAVAILABLE,
		                   "no answer: %s", strerror(errno));
	close(fd);
	return r;
}

/* One answer; tachyond's raw stats (fallback) aggregated as tachyon-control does. */
static json_t *
fetch(const struct command *c, json_t *req)
{
	int via_dp;
	json_t *resp = request(c, req, &via_dp), *agg;
	struct ctl_stats *s;

	if (ctl_wire_errcode(resp) || !via_dp || strcmp(c->wire, "stats"))
		return resp;
	s = malloc(sizeof(*s));
	if (!s || ctl_stats_from_json(resp, s)) {
		free(s);
		json_decref(resp);
		return ctl_wire_error(CTL_E_INTERNAL, "tachyond sent malformed stats");
	}
	agg = ctl_stats_to_json(s);
	json_object_set_new(agg, "ok", json_true());
	free(s);
	json_decref(resp);
	return agg;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
delta(json_t *a, json_t *b, const char *key)
{
	return (double)json_integer_value(json_object_get(b, key)) -
	       (double)json_integer_value(json_object_get(a, key));
}

/* `stats --watch SECS [--count N]`: one line of rates per interval, like vmstat. */
static int
watch(const struct command *c, json_t *req, double secs, long count)
{
	json_t *prev = NULL;
	double t_prev = 0;

	for (long i = 0; count == 0 || i <= count; i++) {
		json_t *cur = fetch(c, req);
		double t = mono_s();
		const char *err = ctl_wire_errcode(cur);

		if (err) {
			fprintf(stderr, "tachyonctl: %s\n",
			        json_string_value(json_object_get(cur, "message")) ?: "failed");
			json_decref(cur);
			json_decref(prev);
			return ctl_exit_for(err);
		}
		if (!prev && !o.json)
			printf("%-8s %11s %11s %11s %11s %11s %6s\n", "time", "connections",
			       "msg_in/s", "msg_out/s", "KiB_in/s", "KiB_out/s", "busy%");
		if (prev) {
			json_t *ca = json_object_get(prev, "counters");
			json_t *cb = json_object_get(cur, "counters");
			double dt = t - t_prev, tot = delta(ca, cb, "total_tsc");
			double busy = tot > 0 ? delta(ca, cb, "busy_tsc") / tot : 0;
			long long conns = json_integer_value(json_object_get(cur, "connections"));
			time_t now = time(NULL);
			char hms[16];

			strftime(hms, sizeof(hms), "%H:%M:%S", localtime(&now));
			if (o.json)
				printf("{\"time\":%lld,\"interval_s\":%.3f,\"connections\":%lld,"
				       "\"messages_in_per_s\":%.1f,\"messages_out_per_s\":%.1f,"
				       "\"bytes_in_per_s\":%.1f,\"bytes_out_per_s\":%.1f,"
				       "\"busy_share\":%.4f}\n",
				       (long long)now, dt, conns,
				       delta(prev, cur, "messages_in") / dt,
				       delta(prev, cur, "messages_out") / dt,
				       delta(prev, cur, "bytes_in") / dt,
				       delta(prev, cur, "bytes_out") / dt, busy);
			else
				printf("%-8s %11lld %11.1f %11.1f %11.1f %11.1f %6.1f\n", hms,
				       conns, delta(prev, cur, "messages_in") / dt,
				       delta(prev, cur, "messages_out") / dt,
				       delta(prev, cur, "bytes_in") / dt / 1024,
				       delta(prev, cur, "bytes_out") / dt / 1024, 100 * busy);
			fflush(stdout);
		}
		json_decref(prev);
		prev = cur;
		t_prev = t;
		if (count && i == count)
			break;
		usleep((useconds_t)(secs * 1e6));
	}
	json_decref(prev);
	return CTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"dataplane-socket", required_argument, NULL, 'd'},
	        {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"timeout", required_argument, NULL, 't'},
	        {"limit", required_argument, NULL, 'l'},
	        {"client-id", required_argument, NULL, 'i'},
	        {"watch", required_argument, NULL, 'w'},
	        {"count", required_argument, NULL, 'n'},
	        {"file", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *env;
	const struct command *c = NULL;
	long limit = 0;
	const char *client_id = NULL;
	int help = 0, from_file = 0, opt, rc, nwords = 0;
	double watch_s = 0;
	long count = 0;
	json_t *req, *resp;

	snprintf(o.ctl_sock, sizeof(o.ctl_sock), "%s",
	         (env = getenv("TACHYON_CONTROL_SOCKET")) ? env : DEFAULT_CONTROL_SOCKET);
	snprintf(o.dp_sock, sizeof(o.dp_sock), "%s",
	         (env = getenv("TACHYON_DATAPLANE_SOCKET")) ? env : DEFAULT_DATAPLANE_SOCKET);
	/* options anywhere: GNU getopt permutes the positional words to the end */
	while ((opt = getopt_long(argc, argv, "s:d:c:jt:h", lo, NULL)) != -1) {
		switch (opt) {
		case 's':
			snprintf(o.ctl_sock, sizeof(o.ctl_sock), "%s", optarg);
			break;
		case 'd':
			snprintf(o.dp_sock, sizeof(o.dp_sock), "%s", optarg);
			break;
		case 'c':
			if (sockets_from_config(optarg))
				return CTL_EXIT_CONFIG;
			break;
		case 'j':
			o.json = 1;
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			if (o.timeout_ms <= 0)
				return die(CTL_EXIT_USAGE,
				           "--timeout: '%s' is not a positive number", optarg);
			break;
		case 'l': {
			char *end;

			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 10000)
				return die(CTL_EXIT_USAGE, "--limit: '%s' is not in 1..10000",
				           optarg);
			break;
		}
		case 'f':
			from_file = 1;
			break;
		case 'i':
			client_id = optarg;
			break;
		case 'w': {
			char *end;

			watch_s = strtod(optarg, &end);
			if (*end || !(watch_s >= 0.1 && watch_s <= 3600))
				return die(CTL_EXIT_USAGE, "--watch: '%s' is not 0.1..3600 seconds",
				           optarg);
			break;
		}
		case 'n': {
			char *end;

			count = strtol(optarg, &end, 10);
			if (*end || count < 1 || count > 1000000)
				return die(CTL_EXIT_USAGE, "--count: '%s' is not in 1..1000000",
				           optarg);
			break;
		}
		case 'h':
			help = 1;
			break;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argv += optind;
	argc -= optind;
	if (argc == 0 || !strcmp(argv[0], "help")) {
		if (argc >= 2 && group_help(argv[1], stdout))
			return CTL_EXIT_OK;
		usage(help || argc ? stdout : stderr);
		return help || argc ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	if (!strcmp(argv[0], "passwd"))
		return cmd_passwd(argc, argv);
	/* longest match of the command words */
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char words[64];
		int n = 0, match = 1;

		snprintf(words, sizeof(words), "%s", commands[i].words);
		for (char *w = strtok(words, " "); w; w = strtok(NULL, " "), n++)
			if (n >= argc || strcmp(w, argv[n]))
				match = 0;
		if (match && n > nwords) {
			c = &commands[i];
			nwords = n;
		}
	}
	if (!c) {
		if (help && group_help(argv[0], stdout))
			return CTL_EXIT_OK;
		if (group_help(argv[0], stderr))
			return CTL_EXIT_USAGE;
		fprintf(stderr, "tachyonctl: unknown command '%s' (tachyonctl --help)\n", argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (help) {
		command_help(c, stdout);
		return CTL_EXIT_OK;
	}
	argv += nwords;
	argc -= nwords;
	if (argc > (c->argkey ? 1 : 0))
		return die(CTL_EXIT_USAGE, "unexpected argument '%s'", argv[c->argkey ? 1 : 0]);
	if (c->arg_required && argc == 0) {
		command_help(c, stderr);
		return CTL_EXIT_USAGE;
	}
	if (limit && !c->list)
		return die(CTL_EXIT_USAGE, "--limit does not apply to '%s'", c->words);
	if (client_id && strcmp(c->wire, "subscriptions.list"))
		return die(CTL_EXIT_USAGE, "--client-id does not apply to '%s'", c->words);
	if (from_file && strcmp(c->wire, "config.show"))
		return die(CTL_EXIT_USAGE, "--file does not apply to '%s'", c->words);
	if ((watch_s || count) && strcmp(c->wire, "stats"))
		return die(CTL_EXIT_USAGE, "--watch/--count apply to 'stats' only, not '%s'",
		           c->words);
	if (count && !watch_s)
		return die(CTL_EXIT_USAGE, "%s", "--count needs --watch");
	if (!strcmp(c->wire, "config.check") && argc == 1)
		return config_check_local(argv[0]);
	if (!strcmp(c->wire, "log.level") && argc == 1 && ctl_log_level_parse(argv[0]) < 0)
		return die(CTL_EXIT_USAGE,
		           "log level '%s' is not one of emerg alert crit err warning notice "
		           "info debug",
		           argv[0]);

	req = json_pack("{s:i,s:s}", "v", CTL_WIRE_VERSION, "cmd", c->wire);
	if (c->argkey && argc == 1)
		json_object_set_new(req, c->argkey, json_string(argv[0]));
	if (limit)
		json_object_set_new(req, "limit", json_integer(limit));
	if (client_id)
		json_object_set_new(req, "client_id", json_string(client_id));
	if (from_file)
		json_object_set_new(req, "source", json_string("file"));
	if (watch_s) {
		rc = watch(c, req, watch_s, count);
		json_decref(req);
		return rc;
	}
	resp = fetch(c, req);
	json_decref(req);
	rc = ctl_exit_for(ctl_wire_errcode(resp));
	if (rc != CTL_EXIT_OK) {
		if (o.json) {
			strip(resp);
			print_json(resp);
		}
		fprintf(stderr, "tachyonctl: %s\n",
		        json_string_value(json_object_get(resp, "message")) ?: "failed");
	} else if (o.json) {
		strip(resp);
		print_json(resp);
	} else {
		c->print(c, resp);
	}
	json_decref(resp);
	return rc;
}

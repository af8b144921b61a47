/* SPDX-License-Identifier: Apache-2.0
 * ACL semantics, table-driven: topic algebra, first match in the user's section, pattern rules
 * with %u/%c, deny by default, subscription coverage, parse errors naming file and line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mqtt/mqtt_auth.h"
#include "tap.h"

static void
algebra(void)
{
	static const struct {
		char op; /* m: match(filter, topic), c: covers(outer, inner), i: intersects */
		const char *a, *b;
		int want;
	} v[] = {
	        {'m', "a/b", "a/b", 1},      {'m', "a/+", "a/b", 1},
	        {'m', "a/+", "a/b/c", 0},    {'m', "a/#", "a", 1},
	        {'m', "a/#", "a/b/c", 1},    {'m', "#", "a", 1},
	        {'m', "+/+", "a/", 1},       {'m', "a/b", "a", 0},
	        {'m', "+", "/a", 0},         {'m', "#", "$SYS/x", 0},
	        {'m', "+/x", "$SYS/x", 0},   {'m', "$SYS/#", "$SYS/x", 1},
	        {'c', "a/#", "a/+", 1},      {'c', "a/#", "#", 0},
	        {'c', "a/#", "a", 1},        {'c', "a/#", "a/b/#", 1},
	        {'c', "a/+", "a/b", 1},      {'c', "a/+", "a/#", 0},
	        {'c', "a/+", "a/+/c", 0},    {'c', "+/b", "a/+", 0},
	        {'c', "#", "$SYS/#", 0},     {'c', "a/b", "a/b", 1},
	        {'c', "a/b", "a/+", 0},      {'c', "a/b/c", "a/b", 0},
	        {'i', "a/secret", "a/#", 1}, {'i', "a/+", "+/b", 1},
	        {'i', "a/b", "a/c", 0},      {'i', "a/#", "a", 1},
	        {'i', "a/+/c", "a/b", 0},    {'i', "#", "$SYS/a", 0},
	        {'i', "+/+", "a/+/c", 0},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int got = v[i].op == 'm'   ? mqtt_topic_match(v[i].a, v[i].b)
		          : v[i].op == 'c' ? mqtt_filter_covers(v[i].a, v[i].b)
		                           : mqtt_filter_intersects(v[i].a, v[i].b);
		char name[128];
		snprintf(name, sizeof(name), "%s('%s', '%s') == %d",
		         v[i].op == 'm'   ? "match"
		         : v[i].op == 'c' ? "covers"
		                          : "intersects",
		         v[i].a, v[i].b, v[i].want);
		tap_result(got == v[i].want, name);
	}
}

static const char acl_text[] = "# anonymous clients: read-only public area\n"
                               "topic read public/#\n"
                               "\n"
                               "user alice\n"
                               "topic deny alice/secret\n"
                               "topic readwrite alice/#\n"
                               "topic write sensors/+/temp\n"
                               "topic read sensors/#\n"
                               "\n"
                               "user bob\n"
                               "topic read alice/#\n"
                               "  topic   bob/inbox  \n"
                               "\n"
                               "clientid gateway-7\n"
                               "topic deny sensors/k/temp\n"
                               "topic write gw/7/#\n"
                               "\n"
                               "pattern readwrite users/%u/#\n"
                               "pattern write devices/%c/status\n"
                               "pattern deny private/%c/#\n"
                               "pattern read private/#\n";

static void
checks(void)
{
	char err[256];
	struct mqtt_acl *acl = mqtt_acl_parse(acl_text, strlen(acl_text), "acl", err, sizeof(err));
	tap_result(acl != NULL, "acl_parse_ok");
	if (acl == NULL) {
		printf("# %s\n", err);
		return;
	}
	static const struct {
		const char *user, *cid;
		char op; /* p publish, s subscribe */
		const char *topic;
		int allowed;
	} v[] = {
	        /* anonymous section */
	        {NULL, "c0", 's', "public/#", 1},
	        {NULL, "c0", 's', "public/news", 1},
	        {NULL, "c0", 'p', "public/news", 0},
	        {NULL, "c0", 's', "#", 0},
	        {NULL, "c0", 'p', "users/anon/x", 0},      /* %u needs a user */
	        {NULL, "c0", 'p', "devices/c0/status", 1}, /* patterns apply to anonymous */
	        /* first match in file order: the deny precedes the grant */
	        {"alice", "a1", 'p', "alice/secret", 0},
	        {"alice", "a1", 'p', "alice/diary", 1},
	        {"alice", "a1", 's', "alice/+", 0}, /* intersects the deny */
	        {"alice", "a1", 's', "alice/diary/#", 1},
	        {"alice", "a1", 'p', "sensors/k/temp", 1},
	        {"alice", "a1", 'p', "sensors/k/hum", 0}, /* read-only rule is not relevant */
	        {"alice", "a1", 's', "sensors/+/hum", 1},
	        {"alice", "a1", 's', "sensors/#", 1},
	        {"alice", "a1", 's', "#", 0},
	        /* bob: read of alice/# does not pass her deny (sections are per user) */
	        {"bob", "b1", 's', "alice/secret", 1},
	        {"bob", "b1", 'p', "alice/x", 0},
	        {"bob", "b1", 'p', "bob/inbox", 1}, /* default access readwrite, spaces trimmed */
	        {"bob", "b1", 's', "bob/inbox", 1},
	        /* pattern substitution */
	        {"bob", "b1", 'p', "users/bob/x/y", 1},
	        {"bob", "b1", 's', "users/bob/#", 1},
	        {"bob", "b1", 'p', "users/alice/x", 0},
	        {"carol", "cc", 'p', "devices/cc/status", 1},
	        {"carol", "cc", 'p', "devices/dd/status", 0},
	        {"carol", "cc", 's', "devices/cc/status", 0}, /* write-only */
	        {"ev+l", "cc", 'p', "users/ev+l/x", 0}, /* wildcard in user name never widens */
	        {"a/b", "cc", 'p', "users/a/b/x", 0},
	        {"carol", "cc", 's', "private/other/x", 1},
	        {"carol", "cc", 's', "private/cc/x", 0}, /* pattern deny first */
	        {"carol", "cc", 's', "private/#", 0},    /* intersects private/cc/# */
	        {"carol", "c+", 's', "private/x", 0},    /* deny with unsafe %c fails closed */
	        /* clientid section first: its deny beats alice's grant; its grant adds to hers */
	        {"alice", "gateway-7", 'p', "sensors/k/temp", 0},
	        {"alice", "gateway-7", 'p', "sensors/k2/temp", 1},
	        {"alice", "gateway-7", 'p', "gw/7/up", 1},
	        {"alice", "gateway-7", 'p', "alice/diary", 1},
	        {NULL, "gateway-7", 'p', "gw/7/up", 1},
	        {"alice", "gateway-8", 'p', "gw/7/up", 0},
	        /* unknown user: only patterns; deny by default */
	        {"dave", "d1", 'p', "public/news", 0},
	        {"dave", "d1", 's', "public/news", 0},
	        /* malformed inputs */
	        {"alice", "a1", 'p', "alice/+", 0},
	        {"alice", "a1", 'p', "", 0},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int rc = v[i].op == 'p'
		                 ? mqtt_acl_check_publish(acl, v[i].user, v[i].cid, v[i].topic)
		                 : mqtt_acl_check_subscribe(acl, v[i].user, v[i].cid, v[i].topic);
		char name[160];
		snprintf(name, sizeof(name), "%s %s/%s %s '%s' -> %s",
		         v[i].op == 'p' ? "publish" : "subscribe", v[i].user ? v[i].user : "(anon)",
		         v[i].cid, "on", v[i].topic, v[i].allowed ? "allow" : "deny");
		tap_result(rc == (v[i].allowed ? 0 : -EACCES), name);
	}
	mqtt_acl_free(acl);
}

static void
no_acl_allows_all(void)
{
	CHECK_EQ(mqtt_acl_check_publish(NULL, NULL, "c", "any/thing"), 0);
	CHECK_EQ(mqtt_acl_check_subscribe(NULL, "u", "c", "#"), 0);
	/* An empty file is an ACL: deny everything. */
	struct mqtt_acl *acl = mqtt_acl_parse("", 0, "empty", NULL, 0);
	CHECK(acl != NULL);
	CHECK_EQ(mqtt_acl_check_publish(acl, "u", "c", "a"), -EACCES);
	mqtt_acl_free(acl);
}

static void
parse_errors(void)
{
	static const struct {
		const char *text, *want;
	} v[] = {
	        {"topic read a/#\nfoo bar\n", "f:2: unknown keyword"},
	        {"clientid\n", "f:1: 'clientid' needs an id"},
	        {"user\n", "f:1: 'user' needs a name"},
	        {"user u\ntopic read a/b#\n", "f:2: wildcard must occupy a whole level"},
	        {"topic a/#/b\n", "f:1: '#' must be the last level"},
	        {"topic read\n", "f:1: wildcard"}, /* "read" alone is the filter: valid */
	        {"pattern read a/%x\n", "f:1: unknown substitution"},
	        {"\n\n\nsubscribe a/b\n", "f:4: unknown keyword"},
	};
	char err[256];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		err[0] = '\0';
		struct mqtt_acl *acl =
		        mqtt_acl_parse(v[i].text, strlen(v[i].text), "f", err, sizeof(err));
		int ok = acl == NULL && strncmp(err, v[i].want, strlen(v[i].want)) == 0;
		if (strcmp(v[i].text, "topic read\n") == 0) /* a rule on the literal topic "read" */
			ok = acl != NULL && mqtt_acl_check_publish(acl, NULL, "c", "read") == 0;
		if (!ok)
			printf("#   got '%s', want '%s'\n", err, v[i].want);
		mqtt_acl_free(acl);
		char name[128];
		snprintf(name, sizeof(name), "acl_parse_error %zu: %s", i, v[i].want);
		tap_result(ok, name);
	}
}

static void
load_file(void)
{
	char path[] = "/tmp/tachyon-acl-XXXXXX", err[256];
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "user u\ntopic write x\nbogus\n", 27) == 27);
	close(fd);
	CHECK(mqtt_acl_load(path, err, sizeof(err)) == NULL);
	char want[300];
	snprintf(want, sizeof(want), "%s:3: unknown keyword", path);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	unlink(path);
	CHECK(mqtt_acl_load(path, err, sizeof(err)) == NULL);
	CHECK_EQ(errno, ENOENT);
}

int
main(void)
{
	algebra();
	checks();
	TEST(no_acl_allows_all);
	parse_errors();
	TEST(load_file);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer driver for the auth parsers and the topic algebra (untrusted: files edited by hand,
 * topics and filters from clients). The first byte selects the target:
 *   0: ACL file text, then checks with fixed users, client ids and topics
 *   1: password file text (parsing only: hashing a fuzzed iteration count could take minutes)
 *   2: two strings split at the first newline: filter algebra with its invariants
 * Invariants abort(): covers(a, a); for a topic t without wildcard levels
 * match(f, t) == covers(f, t) == intersects(f, t); covers(a, b) implies intersects(a, b).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_auth.h"

static int
has_wild_level(const char *t)
{
	for (const char *p = t; *p; p++)
		if ((*p == '+' || *p == '#') && (p == t || p[-1] == '/') &&
		    (p[1] == '\0' || p[1] == '/'))
			return 1;
	return 0;
}

/* A valid filter (MQTT 4.7.1): '+' and '#' only as whole levels, '#' only as the last one. The
 * ACL loader refuses other filters, so the algebra is only defined on these. */
static int
valid_filter(const char *f)
{
	for (const char *p = f; *p; p++) {
		if (*p != '+' && *p != '#')
			continue;
		if ((p != f && p[-1] != '/') || (p[1] != '\0' && p[1] != '/'))
			return 0;
		if (*p == '#' && p[1] != '\0')
			return 0;
	}
	return 1;
}

static void
algebra(const char *a, const char *b)
{
	if (!mqtt_filter_covers(a, a) || !mqtt_filter_covers(b, b))
		abort();
	if (mqtt_filter_covers(a, b) && !mqtt_filter_intersects(a, b))
		abort();
	if (mqtt_filter_intersects(a, b) != mqtt_filter_intersects(b, a))
		abort();
	if (!has_wild_level(b) && valid_filter(a)) {
		int m = mqtt_topic_match(a, b);
		if (m != mqtt_filter_covers(a, b) || m != mqtt_filter_intersects(a, b))
			abort();
	}
}

static void
acl(const char *text, size_t len)
{
	static const char *const users[] = {NULL, "alice", "bob", "a/b", "+", ""};
	static const char *const topics[] = {"a/b",           "#", "+/x", "$SYS/x",
	                                     "users/alice/x", "a", "/"};
	char err[256];
	struct mqtt_acl *a = mqtt_acl_parse(text, len, "fuzz", err, sizeof(err));
	if (a == NULL)
		return;
	for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++)
		for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
			mqtt_acl_check_publish(a, users[u], "c1", topics[t]);
			mqtt_acl_check_subscribe(a, users[u], "c/1", topics[t]);
		}
	mqtt_acl_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	char *s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		acl(s, size - 1);
		break;
	case 1: {
		char err[256];
		struct mqtt_passwd *p = mqtt_passwd_parse(s, size - 1, "fuzz", err, sizeof(err));
		for (size_t i = 0; i < mqtt_passwd_count(p); i++)
			if (mqtt_passwd_user(p, i, NULL) == NULL)
				abort();
		mqtt_passwd_free(p);
		break;
	}
	default: {
		char *nl = strchr(s, '\n');
		if (nl != NULL) {
			*nl = '\0';
			algebra(s, nl + 1);
		}
		break;
	}
	}
	free(s);
	return 0;
}

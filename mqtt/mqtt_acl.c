/* SPDX-License-Identifier: Apache-2.0
 * Compiled ACLs (Mosquitto acl_file syntax) and the topic-filter algebra they need.
 * Semantics (docs/security.md): the user's section in file order, first relevant rule decides;
 * then pattern rules in file order; otherwise deny. The compiled object is immutable, so a reload
 * parses a new one and swaps a pointer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/mqtt_auth.h"
#include "mqtt/mqtt_auth_pvt.h"
#include "mqtt/mqtt_pvt.h" /* mqtt_topic_match_ref: the broker's matcher (mqtt_topic.c) */

#define ACC_READ  1
#define ACC_WRITE 2
#define ACC_DENY  4

/* Longest pattern after %u/%c substitution that is evaluated; beyond it an allow rule does not
 * match and a deny rule does (fail closed). */
#define SUBST_MAX 4096

struct acl_rule {
	char *filter;
	uint8_t access;
	bool subst; /* pattern rule containing %u or %c */
};

struct acl_section {
	char *name; /* user or client id; NULL for the anonymous and pattern sections */
	struct acl_rule *rules;
	size_t n, cap;
};

/* Named sections (users, client ids), sorted by name after parsing. */
struct acl_table {
	struct acl_section *v;
	size_t n, cap;
};

struct mqtt_acl {
	struct acl_section anon;
	struct acl_table users;
	struct acl_table clients;
	struct acl_section patterns;
};

/* ---- topic algebra ----------------------------------------------------------------------- */

/* A cursor over the '/'-separated levels of a topic or filter. */
struct lvl {
	const char *p; /* start of the next level, NULL when exhausted */
	const char *s; /* current level */
	size_t n;
};

static bool
lvl_next(struct lvl *l)
{
	if (l->p == NULL)
		return false;
	const char *slash = strchr(l->p, '/');
	l->s = l->p;
	l->n = slash ? (size_t)(slash - l->p) : strlen(l->p);
	l->p = slash ? slash + 1 : NULL;
	return true;
}

static bool
lvl_is(const struct lvl *l, char c)
{
	return l->n == 1 && l->s[0] == c;
}

static bool
lvl_eq(const struct lvl *a, const struct lvl *b)
{
	return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

/* MQTT 4.7.2: a filter starting with a wildcard does not match topics starting with '$'. */
static bool
dollar_clash(const char *a, const char *b)
{
	return (a[0] == '$' && (b[0] == '+' || b[0] == '#')) ||
	       (b[0] == '$' && (a[0] == '+' || a[0] == '#'));
}

/* The broker's own matcher, so an ACL and a subscription can never disagree on what a filter
 * matches (the '$' rule included); callers of mqtt_auth_dep that match topics link mqtt_dep
 * too. The walks here and below cost O(len(a) + len(b)). */
int
mqtt_topic_match(const char *filter, const char *topic)
{
	return mqtt_topic_match_ref((const uint8_t *)filter, strlen(filter), (const uint8_t *)topic,
	                            strlen(topic));
}

int
mqtt_filter_covers(const char *outer, const char *inner)
{
	struct lvl o = {.p = outer}, i = {.p = inner};

	if (dollar_clash(outer, inner))
		return 0;
	for (;;) {
		bool oh = lvl_next(&o), ih = lvl_next(&i);
		if (!oh)
			return !ih;
		if (lvl_is(&o, '#'))
			return 1;
		if (!ih || lvl_is(&i, '#'))
			return 0;
		if (lvl_is(&o, '+'))
			continue;
		if (lvl_is(&i, '+') || !lvl_eq(&o, &i))
			return 0;
	}
}

int
mqtt_filter_intersects(const char *a, const char *b)
{
	struct lvl x = {.p = a}, y = {.p = b};

	if (dollar_clash(a, b))
		return 0;
	for (;;) {
		bool xh = lvl_next(&x), yh = lvl_next(&y);
		if (!xh && !yh)
			return 1;
		if ((xh && lvl_is(&x, '#')) || (yh && lvl_is(&y, '#')))
			return 1;
		if (!xh || !yh)
			return 0;
		if (!lvl_is(&x, '+') && !lvl_is(&y, '+') && !lvl_eq(&x, &y))
			return 0;
	}
}

/* ---- checks ------------------------------------------------------------------------------ */

enum verdict { NOMATCH, ALLOW, DENY };

/* Substitute %u, %c, %% into buf. false when the result cannot be a safe literal: missing user,
 * a value containing '/', '+' or '#' (it would widen the rule), or too long. */
static bool
expand(const char *pat, const char *user, const char *cid, char *buf)
{
	size_t o = 0;

	for (const char *p = pat; *p; p++) {
		const char *v = NULL;
		if (p[0] == '%' && p[1] == 'u')
			v = user;
		else if (p[0] == '%' && p[1] == 'c')
			v = cid;
		if (p[0] == '%' && (p[1] == 'u' || p[1] == 'c')) {
			if (v == NULL || v[0] == '\0' || strpbrk(v, "/+#") != NULL)
				return false;
			size_t n = strlen(v);
			if (o + n >= SUBST_MAX)
				return false;
			memcpy(buf + o, v, n);
			o += n;
			p++;
			continue;
		}
		if (p[0] == '%' && p[1] == '%')
			p++;
		if (o + 1 >= SUBST_MAX)
			return false;
		buf[o++] = *p;
	}
	buf[o] = '\0';
	return true;
}

static enum verdict
rule_eval(const struct acl_rule *r, bool sub, const char *s, const char *user, const char *cid,
          char *buf)
{
	const char *f = r->filter;
	bool deny = r->access & ACC_DENY;

	if (!deny && !(r->access & (sub ? ACC_READ : ACC_WRITE)))
		return NOMATCH;
	if (r->subst) {
		if (!expand(r->filter, user, cid, buf))
			return deny ? DENY : NOMATCH;
		f = buf;
	}
	if (deny)
		return (sub ? mqtt_filter_intersects(f, s) : mqtt_topic_match(f, s)) ? DENY
		                                                                     : NOMATCH;
	return (sub ? mqtt_filter_covers(f, s) : mqtt_topic_match(f, s)) ? ALLOW : NOMATCH;
}

/* Binary search: O(log n) string compares. */
static const struct acl_section *
find_in(const struct acl_table *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].name, name);
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static enum verdict
section_eval(const struct acl_section *sec, bool sub, const char *s, const char *user,
             const char *cid, char *buf)
{
	for (size_t i = 0; sec != NULL && i < sec->n; i++) {
		enum verdict v = rule_eval(&sec->rules[i], sub, s, user, cid, buf);
		if (v != NOMATCH)
			return v;
	}
	return NOMATCH;
}

static int
check(const struct mqtt_acl *acl, const char *user, const char *cid, const char *s, bool sub)
{
	char buf[SUBST_MAX];

	if (acl == NULL)
		return 0;
	if (s == NULL || s[0] == '\0' || (!sub && strpbrk(s, "+#") != NULL))
		return -EACCES;
	enum verdict v = NOMATCH;
	if (cid != NULL)
		v = section_eval(find_in(&acl->clients, cid), sub, s, user, cid, buf);
	if (v == NOMATCH)
		v = section_eval(user ? find_in(&acl->users, user) : &acl->anon, sub, s, user, cid,
		                 buf);
	if (v == NOMATCH)
		v = section_eval(&acl->patterns, sub, s, user, cid ? cid : "", buf);
	return v == ALLOW ? 0 : -EACCES;
}

int
mqtt_acl_check_publish(const struct mqtt_acl *acl, const char *user, const char *clientid,
                       const char *topic)
{
	return check(acl, user, clientid, topic, false);
}

int
mqtt_acl_check_subscribe(const struct mqtt_acl *acl, const char *user, const char *clientid,
                         const char *filter)
{
	return check(acl, user, clientid, filter, true);
}

/* ---- parsing ----------------------------------------------------------------------------- */

static void
section_free(struct acl_section *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rules[i].filter);
	free(s->rules);
	free(s->name);
}

void
mqtt_acl_free(struct mqtt_acl *acl)
{
	if (acl == NULL)
		return;
	section_free(&acl->anon);
	section_free(&acl->patterns);
	struct acl_table *tabs[] = {&acl->users, &acl->clients};
	for (size_t t = 0; t < 2; t++) {
		for (size_t i = 0; i < tabs[t]->n; i++)
			section_free(&tabs[t]->v[i]);
		free(tabs[t]->v);
	}
	free(acl);
}

/* Wildcards must fill a whole level and '#' must be last; NULL or the problem. */
static const char *
filter_problem(const char *f, bool pattern)
{
	size_t n = strlen(f);

	if (n == 0)
		return "empty topic filter";
	if (n > 65535)
		return "topic filter longer than 65535 bytes";
	for (size_t i = 0; i < n; i++) {
		bool start = i == 0 || f[i - 1] == '/', end = i + 1 == n || f[i + 1] == '/';
		if ((f[i] == '+' || f[i] == '#') && !(start && end))
			return "wildcard must occupy a whole level";
		if (f[i] == '#' && i + 1 != n)
			return "'#' must be the last level";
		if (pattern && f[i] == '%') {
			if (f[i + 1] != 'u' && f[i + 1] != 'c' && f[i + 1] != '%')
				return "unknown substitution (expected %u, %c or %%)";
			i++;
		}
	}
	return NULL;
}

static int
section_add(struct acl_section *s, const char *filter, uint8_t access, bool pattern)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct acl_rule *r = realloc(s->rules, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		s->rules = r;
		s->cap = cap;
	}
	char *f = strdup(filter);
	if (f == NULL)
		return -ENOMEM;
	s->rules[s->n++] = (struct acl_rule){
	        .filter = f,
	        .access = access,
	        .subst = pattern && strchr(f, '%') != NULL,
	};
	return 0;
}

/* Index of the section called name in t, appended if new (sorted once parsing is done); -1 when
 * out of memory. O(sections) per "user"/"clientid" line: parsing is not a hot path. */
static ptrdiff_t
section_for(struct acl_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return (ptrdiff_t)i;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct acl_section *u = realloc(t->v, cap * sizeof(*u));
		if (u == NULL)
			return -1;
		t->v = u;
		t->cap = cap;
	}
	struct acl_section *s = &t->v[t->n];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (s->name == NULL)
		return -1;
	return (ptrdiff_t)t->n++;
}

static int
cmp_section(const void *a, const void *b)
{
	return strcmp(((const struct acl_section *)a)->name, ((const struct acl_section *)b)->name);
}

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The section rules are added to: (table, index) of the last "user"/"clientid" line. */
struct acl_cursor {
	struct acl_table *tab; /* NULL: the anonymous section */
	ptrdiff_t idx;
};

/* Parse one trimmed, NUL-terminated line; NULL or the problem. */
static const char *
parse_line(struct mqtt_acl *acl, struct acl_cursor *cur, char *line)
{
	static const struct {
		const char *word;
		uint8_t access;
	} words[] = {
	        {"read", ACC_READ},
	        {"write", ACC_WRITE},
	        {"readwrite", ACC_READ | ACC_WRITE},
	        {"deny", ACC_DENY},
	};
	char *sp = line + strcspn(line, " \t");
	const char *rest = skip_ws(sp);
	size_t kw = (size_t)(sp - line);

	bool user = kw == 4 && memcmp(line, "user", 4) == 0;
	if (user || (kw == 8 && memcmp(line, "clientid", 8) == 0)) {
		if (*rest == '\0')
			return user ? "'user' needs a name" : "'clientid' needs an id";
		if (strlen(rest) > 65535)
			return "name longer than 65535 bytes";
		cur->tab = user ? &acl->users : &acl->clients;
		cur->idx = section_for(cur->tab, rest);
		return cur->idx >= 0 ? NULL : "out of memory";
	}
	bool pattern = kw == 7 && memcmp(line, "pattern", 7) == 0;
	if (!pattern && !(kw == 5 && memcmp(line, "topic", 5) == 0))
		return "unknown keyword (expected user, clientid, topic or pattern)";
	uint8_t access = ACC_READ | ACC_WRITE;
	const char *f = rest;
	size_t wl = strcspn(rest, " \t");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		const char *after = skip_ws(rest + wl);
		if (wl == strlen(words[i].word) && memcmp(rest, words[i].word, wl) == 0 &&
		    *after != '\0') {
			access = words[i].access;
			f = after;
		}
	}
	const char *why = filter_problem(f, pattern);
	if (why != NULL)
		return why;
	struct acl_section *sec = pattern    ? &acl->patterns
	                          : cur->tab ? &cur->tab->v[cur->idx]
	                                     : &acl->anon;
	if (section_add(sec, f, access, pattern) < 0)
		return "out of memory";
	return NULL;
}

struct mqtt_acl *
mqtt_acl_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct mqtt_acl *acl = calloc(1, sizeof(*acl));
	const char *s = text, *end = text + len;
	unsigned line = 0;
	char *buf = NULL;

	if (acl == NULL)
		return NULL;
	/* Sections are addressed by index because section_for() may move the array. */
	struct acl_cursor cur = {NULL, 0};
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t l = (size_t)((nl ? nl : end) - s);
		line++;
		while (l > 0 && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
			l--;
		const char *b = s;
		while (l > 0 && (*b == ' ' || *b == '\t')) {
			b++;
			l--;
		}
		if (l > 0 && b[0] != '#') {
			const char *why;
			char *nb = realloc(buf, l + 1);
			if (nb == NULL) {
				why = "out of memory";
			} else {
				buf = nb;
				memcpy(buf, b, l);
				buf[l] = '\0';
				why = memchr(buf, '\0', l) ? "NUL byte in line"
				                           : parse_line(acl, &cur, buf);
			}
			if (why != NULL) {
				mqtt_auth_set_err(err, errlen, "%s:%u: %s", name, line, why);
				free(buf);
				mqtt_acl_free(acl);
				errno = EINVAL;
				return NULL;
			}
		}
		s = nl ? nl + 1 : end;
	}
	free(buf);
	if (acl->users.n > 1)
		qsort(acl->users.v, acl->users.n, sizeof(*acl->users.v), cmp_section);
	if (acl->clients.n > 1)
		qsort(acl->clients.v, acl->clients.n, sizeof(*acl->clients.v), cmp_section);
	return acl;
}

struct mqtt_acl *
mqtt_acl_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = mqtt_auth_read_file(path, &len, err, errlen);
	if (text == NULL)
		return NULL;
	struct mqtt_acl *acl = mqtt_acl_parse(text, len, path, err, errlen);
	int e = errno;
	free(text);
	errno = e;
	return acl;
}

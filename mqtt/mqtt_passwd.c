/* SPDX-License-Identifier: Apache-2.0
 * Password hashing (PBKDF2-HMAC-SHA512 on ipsec-mb hash bursts), the password file, and the
 * verified-credential cache. Format and threat model: docs/security.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqtt/mqtt_auth.h"
#include "mqtt/mqtt_auth_hmac.h"
#include "mqtt/mqtt_auth_pvt.h"

#define PBKDF2_LANES    16  /* jobs per hash burst; AVX2 SHA-512 has 4 lanes, AVX-512 8 */
#define PBKDF2_MAX_SALT 256 /* salt + 4-byte block index must fit the first message */
#define SALT_MIN        8
#define SALT_MAX        64
#define SCHEME          "$pbkdf2-sha512$"

/* ---- PBKDF2 ------------------------------------------------------------------------------ */

struct pbkdf2_lane {
	struct mqtt_hmac_key key;
	uint8_t u[64];
	uint8_t t[64];
	uint8_t first[PBKDF2_MAX_SALT + 4];
	size_t firstlen;
	uint32_t iter;
};

/* Run up to PBKDF2_LANES lanes to completion. Cost: max(iter) hash bursts; a burst of k lanes
 * costs about ceil(k / simd lanes) single HMACs. */
static int
pbkdf2_run(IMB_MGR *mgr, struct pbkdf2_lane *l, unsigned n)
{
	IMB_JOB jobs[PBKDF2_LANES];
	uint32_t maxiter = 0;
	unsigned idx[PBKDF2_LANES];

	for (unsigned i = 0; i < n; i++) {
		mqtt_hmac_job(&jobs[i], &l[i].key, l[i].first, l[i].firstlen, l[i].u);
		if (l[i].iter > maxiter)
			maxiter = l[i].iter;
	}
	if (IMB_SUBMIT_HASH_BURST(mgr, jobs, n, IMB_AUTH_HMAC_SHA_512) != n)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		memcpy(l[i].t, l[i].u, 64);
	for (uint32_t s = 1; s < maxiter; s++) {
		unsigned k = 0;
		for (unsigned i = 0; i < n; i++) {
			if (l[i].iter <= s)
				continue;
			/* In place: ipsec-mb reads the message before it writes the tag. */
			mqtt_hmac_job(&jobs[k], &l[i].key, l[i].u, 64, l[i].u);
			idx[k++] = i;
		}
		if (IMB_SUBMIT_HASH_BURST(mgr, jobs, k, IMB_AUTH_HMAC_SHA_512) != k)
			return -EIO;
		for (unsigned j = 0; j < k; j++) {
			uint64_t *t = (uint64_t *)(void *)l[idx[j]].t;
			const uint64_t *u = (const uint64_t *)(const void *)l[idx[j]].u;
			for (int w = 0; w < 8; w++)
				t[w] ^= u[w];
		}
	}
	return 0;
}

static int
lane_init(IMB_MGR *mgr, struct pbkdf2_lane *l, const void *pw, size_t pwlen, const void *salt,
          size_t saltlen, uint32_t iter, uint32_t block)
{
	if (iter == 0 || saltlen > PBKDF2_MAX_SALT || (salt == NULL && saltlen != 0))
		return -EINVAL;
	int rc = mqtt_hmac_key_init(mgr, &l->key, MQTT_HMAC_SHA512, pw, pwlen);
	if (rc < 0)
		return rc;
	if (saltlen != 0)
		memcpy(l->first, salt, saltlen);
	l->first[saltlen] = block >> 24;
	l->first[saltlen + 1] = block >> 16;
	l->first[saltlen + 2] = block >> 8;
	l->first[saltlen + 3] = block;
	l->firstlen = saltlen + 4;
	l->iter = iter;
	return 0;
}

int
mqtt_pbkdf2_sha512_batch(struct mqtt_pbkdf2_req *reqs, unsigned n)
{
	IMB_MGR *mgr = mqtt_auth_imb();
	struct pbkdf2_lane *l;
	int rc = 0;

	if (mgr == NULL)
		return -errno;
	l = malloc(sizeof(*l) * PBKDF2_LANES); /* malloc aligns to 16, as the key needs */
	if (l == NULL)
		return -ENOMEM;
	for (unsigned base = 0; base < n && rc == 0; base += PBKDF2_LANES) {
		unsigned m = n - base < PBKDF2_LANES ? n - base : PBKDF2_LANES;
		for (unsigned i = 0; i < m && rc == 0; i++) {
			struct mqtt_pbkdf2_req *r = &reqs[base + i];
			rc = lane_init(mgr, &l[i], r->pw, r->pwlen, r->salt, r->saltlen, r->iter,
			               1);
		}
		if (rc == 0)
			rc = pbkdf2_run(mgr, l, m);
		for (unsigned i = 0; i < m && rc == 0; i++)
			memcpy(reqs[base + i].out, l[i].t, 64);
	}
	explicit_bzero(l, sizeof(*l) * PBKDF2_LANES);
	free(l);
	return rc;
}

int
mqtt_pbkdf2_sha512(const void *pw, size_t pwlen, const void *salt, size_t saltlen, uint32_t iter,
                   void *out, size_t dklen)
{
	IMB_MGR *mgr = mqtt_auth_imb();
	struct pbkdf2_lane *l;
	size_t nblocks = (dklen + 63) / 64;
	int rc = 0;

	if (mgr == NULL)
		return -errno;
	if (out == NULL || dklen == 0)
		return -EINVAL;
	l = malloc(sizeof(*l) * PBKDF2_LANES); /* malloc aligns to 16, as the key needs */
	if (l == NULL)
		return -ENOMEM;
	/* The output blocks of one derivation are independent: run them as parallel lanes. */
	for (size_t base = 0; base < nblocks && rc == 0; base += PBKDF2_LANES) {
		unsigned m = nblocks - base < PBKDF2_LANES ? nblocks - base : PBKDF2_LANES;
		for (unsigned i = 0; i < m && rc == 0; i++)
			rc = lane_init(mgr, &l[i], pw, pwlen, salt, saltlen, iter, base + i + 1);
		if (rc == 0)
			rc = pbkdf2_run(mgr, l, m);
		for (unsigned i = 0; i < m && rc == 0; i++) {
			size_t off = (base + i) * 64;
			size_t len = dklen - off < 64 ? dklen - off : 64;
			memcpy((uint8_t *)out + off, l[i].t, len);
		}
	}
	explicit_bzero(l, sizeof(*l) * PBKDF2_LANES);
	free(l);
	return rc;
}

/* ---- base64 (RFC 4648, padded); hand-rolled because mqtt/ links no codec library ---------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64chars[(v >> 18) & 63];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64chars[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

/* Decode exactly len chars (a multiple of 4, padded); returns bytes or -1. */
static int
b64_decode(const char *in, size_t len, uint8_t *out, size_t outmax)
{
	size_t o = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64_val(in[i + j])) < 0) {
				return -1;
			}
		}
		uint32_t w =
		        (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
		uint8_t b[3] = {w >> 16, w >> 8, w};
		for (int j = 0; j < 3 - pad; j++) {
			if (o >= outmax)
				return -1;
			out[o++] = b[j];
		}
	}
	return (int)o;
}

/* ---- encoded hashes ---------------------------------------------------------------------- */

struct pw_entry {
	char *user;
	uint32_t iter;
	uint8_t saltlen;
	uint8_t salt[SALT_MAX];
	uint8_t hash[MQTT_PASSWD_HASH_LEN];
};

/* Parse "$pbkdf2-sha512$iter$salt$hash" (len bytes); NULL or the problem. */
static const char *
decode_hash(const char *s, size_t len, struct pw_entry *e)
{
	const char *end = s + len, *p, *q;
	size_t sl = strlen(SCHEME);
	uint64_t iter = 0;
	int n;

	if (len < sl || memcmp(s, SCHEME, sl) != 0)
		return "unknown hash scheme (expected $pbkdf2-sha512$)";
	p = s + sl;
	for (q = p; q < end && *q >= '0' && *q <= '9' && q - p < 10; q++)
		iter = iter * 10 + (uint64_t)(*q - '0');
	if (q == p || q == end || *q != '$')
		return "bad iteration count";
	if (iter < MQTT_PASSWD_MIN_ITER || iter > MQTT_PASSWD_MAX_ITER)
		return "iteration count out of range (1000..100000000)";
	e->iter = (uint32_t)iter;
	p = q + 1;
	q = memchr(p, '$', (size_t)(end - p));
	if (q == NULL)
		return "missing '$' before the hash";
	n = b64_decode(p, (size_t)(q - p), e->salt, SALT_MAX);
	if (n < 0)
		return "salt is not valid base64 (or longer than 64 bytes)";
	if (n < SALT_MIN)
		return "salt shorter than 8 bytes";
	e->saltlen = (uint8_t)n;
	p = q + 1;
	uint8_t h[MQTT_PASSWD_HASH_LEN + 3];
	n = b64_decode(p, (size_t)(end - p), h, sizeof(h));
	if (n != MQTT_PASSWD_HASH_LEN)
		return "hash is not 64 bytes of base64";
	memcpy(e->hash, h, MQTT_PASSWD_HASH_LEN);
	return NULL;
}

static int
encode_hash(const struct pw_entry *e, char *out, size_t outlen)
{
	char salt[SALT_MAX * 2], hash[MQTT_PASSWD_HASH_LEN * 2];

	b64_encode(e->salt, e->saltlen, salt);
	b64_encode(e->hash, MQTT_PASSWD_HASH_LEN, hash);
	int n = snprintf(out, outlen, SCHEME "%u$%s$%s", e->iter, salt, hash);
	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

static int
entry_hash(struct pw_entry *e, const void *pw, size_t pwlen, uint32_t iter)
{
	e->iter = iter ? iter : MQTT_PASSWD_DEFAULT_ITER;
	e->saltlen = MQTT_PASSWD_SALT_LEN;
	if (getrandom(e->salt, MQTT_PASSWD_SALT_LEN, 0) != MQTT_PASSWD_SALT_LEN)
		return -EIO;
	return mqtt_pbkdf2_sha512(pw, pwlen, e->salt, e->saltlen, e->iter, e->hash,
	                          MQTT_PASSWD_HASH_LEN);
}

static int
entry_verify(const struct pw_entry *e, const void *pw, size_t pwlen)
{
	uint8_t h[MQTT_PASSWD_HASH_LEN];
	int rc = mqtt_pbkdf2_sha512(pw, pwlen, e->salt, e->saltlen, e->iter, h, sizeof(h));
	if (rc < 0)
		return rc;
	rc = mqtt_ct_memcmp(h, e->hash, sizeof(h)) ? -EACCES : 0;
	explicit_bzero(h, sizeof(h));
	return rc;
}

int
mqtt_passwd_hash(const void *pw, size_t pwlen, uint32_t iter, char *out, size_t outlen)
{
	struct pw_entry e;
	int rc;

	if (iter != 0 && (iter < MQTT_PASSWD_MIN_ITER || iter > MQTT_PASSWD_MAX_ITER))
		return -EINVAL;
	rc = entry_hash(&e, pw, pwlen, iter);
	if (rc == 0)
		rc = encode_hash(&e, out, outlen);
	explicit_bzero(&e, sizeof(e));
	return rc;
}

int
mqtt_passwd_verify(const char *encoded, const void *pw, size_t pwlen)
{
	struct pw_entry e;

	if (encoded == NULL || decode_hash(encoded, strlen(encoded), &e) != NULL)
		return -EINVAL;
	return entry_verify(&e, pw, pwlen);
}

/* ---- the password set -------------------------------------------------------------------- */

struct mqtt_passwd {
	struct pw_entry *v; /* sorted by user (strcmp) */
	size_t n, cap;
	uint64_t generation;
};

static uint64_t
new_generation(void)
{
	uint64_t g = 0;
	if (getrandom(&g, sizeof(g), 0) != sizeof(g))
		g ^= (uint64_t)(uintptr_t)&g ^ (uint64_t)getpid() << 32;
	return g;
}

struct mqtt_passwd *
mqtt_passwd_new(void)
{
	struct mqtt_passwd *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->generation = new_generation();
	return p;
}

void
mqtt_passwd_free(struct mqtt_passwd *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].user);
	if (p->v != NULL)
		explicit_bzero(p->v, p->cap * sizeof(*p->v));
	free(p->v);
	free(p);
}

/* Binary search: index of user, or -(insertion point) - 1. O(log n) string compares. */
static ptrdiff_t
find(const struct mqtt_passwd *p, const char *user)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->v[mid].user, user);
		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ptrdiff_t)lo - 1;
}

static const char *
user_problem(const char *u, size_t len)
{
	if (len == 0)
		return "empty user name";
	if (len > MQTT_PASSWD_MAX_USER)
		return "user name longer than 256 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c == ':' || c < 0x20 || c == 0x7f)
			return "user name contains ':' or a control character";
	}
	return NULL;
}

/* Insert e (taking its user) at sorted position pos. O(n) move; adds are rare (tachyonctl). */
static int
insert_at(struct mqtt_passwd *p, size_t pos, const struct pw_entry *e)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct pw_entry *v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	memmove(&p->v[pos + 1], &p->v[pos], (p->n - pos) * sizeof(*p->v));
	p->v[pos] = *e;
	p->n++;
	return 0;
}

void
mqtt_auth_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Parse one non-comment line; NULL or the problem. */
static const char *
parse_line(struct mqtt_passwd *p, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	struct pw_entry e;
	const char *why;

	if (colon == NULL)
		return "missing ':' after the user name";
	if ((why = user_problem(s, (size_t)(colon - s))) != NULL)
		return why;
	if ((why = decode_hash(colon + 1, len - (size_t)(colon - s) - 1, &e)) != NULL)
		return why;
	e.user = strndup(s, (size_t)(colon - s));
	if (e.user == NULL)
		return "out of memory";
	ptrdiff_t at = find(p, e.user);
	if (at >= 0) {
		free(e.user);
		return "duplicate user";
	}
	if (insert_at(p, (size_t)(-at - 1), &e) < 0) {
		free(e.user);
		return "out of memory";
	}
	return NULL;
}

struct mqtt_passwd *
mqtt_passwd_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct mqtt_passwd *p = mqtt_passwd_new();
	const char *s = text, *end = text + len;
	unsigned line = 0;

	if (p == NULL) {
		mqtt_auth_set_err(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	/* Cost: one pass over the text; each user is a binary-search insert (O(n) move), so a
	 * sorted file loads in O(n log n). */
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		size_t l = (size_t)(le - s);
		line++;
		if (l > 0 && s[l - 1] == '\r')
			l--;
		while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t'))
			l--;
		if (l > 0 && s[0] != '#') {
			const char *why = parse_line(p, s, l);
			if (why != NULL) {
				mqtt_auth_set_err(err, errlen, "%s:%u: %s", name, line, why);
				mqtt_passwd_free(p);
				errno = EINVAL;
				return NULL;
			}
		}
		s = nl ? nl + 1 : end;
	}
	return p;
}

char *
mqtt_auth_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		goto fail;
	for (;;) {
		if (cap - n < 4096) {
			char *b = realloc(buf, cap + 65536);
			if (b == NULL) {
				errno = ENOMEM;
				goto fail;
			}
			buf = b;
			cap += 65536;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:;
	int e = errno;
	mqtt_auth_set_err(err, errlen, "%s: %s", path, strerror(e));
	if (f != NULL)
		fclose(f);
	free(buf);
	errno = e;
	return NULL;
}

struct mqtt_passwd *
mqtt_passwd_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = mqtt_auth_read_file(path, &len, err, errlen);
	if (text == NULL)
		return NULL;
	struct mqtt_passwd *p = mqtt_passwd_parse(text, len, path, err, errlen);
	int e = errno;
	free(text);
	errno = e;
	return p;
}

int
mqtt_passwd_save(const struct mqtt_passwd *p, const char *path)
{
	char tmp[4096], enc[MQTT_PASSWD_ENCODED_MAX];
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		return rc;
	}
	fputs("# tachyon password file: user:$pbkdf2-sha512$iter$salt$hash (docs/security.md)\n",
	      f);
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		rc = encode_hash(&p->v[i], enc, sizeof(enc));
		if (rc == 0 && fprintf(f, "%s:%s\n", p->v[i].user, enc) < 0)
			rc = -EIO;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc ? rc : -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
mqtt_passwd_set(struct mqtt_passwd *p, const char *user, const void *pass, size_t passlen,
                uint32_t iter)
{
	struct pw_entry e;
	int rc;

	if (p == NULL || user == NULL || user_problem(user, strlen(user)) != NULL)
		return -EINVAL;
	if (iter != 0 && (iter < MQTT_PASSWD_MIN_ITER || iter > MQTT_PASSWD_MAX_ITER))
		return -EINVAL;
	rc = entry_hash(&e, pass, passlen, iter);
	if (rc < 0)
		return rc;
	ptrdiff_t at = find(p, user);
	if (at >= 0) {
		e.user = p->v[at].user;
		p->v[at] = e;
	} else {
		e.user = strdup(user);
		if (e.user == NULL)
			return -ENOMEM;
		rc = insert_at(p, (size_t)(-at - 1), &e);
		if (rc < 0) {
			free(e.user);
			return rc;
		}
	}
	p->generation = new_generation();
	return 0;
}

int
mqtt_passwd_delete(struct mqtt_passwd *p, const char *user)
{
	ptrdiff_t at = user ? find(p, user) : -1;
	if (at < 0)
		return -ENOENT;
	free(p->v[at].user);
	memmove(&p->v[at], &p->v[at + 1], (p->n - (size_t)at - 1) * sizeof(*p->v));
	p->n--;
	p->generation = new_generation();
	return 0;
}

size_t
mqtt_passwd_count(const struct mqtt_passwd *p)
{
	return p ? p->n : 0;
}

const char *
mqtt_passwd_user(const struct mqtt_passwd *p, size_t i, uint32_t *iter)
{
	if (p == NULL || i >= p->n)
		return NULL;
	if (iter != NULL)
		*iter = p->v[i].iter;
	return p->v[i].user;
}

uint64_t
mqtt_passwd_generation(const struct mqtt_passwd *p)
{
	return p ? p->generation : 0;
}

/* Unknown users are hashed against this entry so they cost as much as known ones. */
static const struct pw_entry dummy = {
        .iter = MQTT_PASSWD_DEFAULT_ITER,
        .saltlen = MQTT_PASSWD_SALT_LEN,
};

int
mqtt_passwd_entry(const struct mqtt_passwd *p, const char *user, const uint8_t **salt,
                  size_t *saltlen, uint32_t *iter, const uint8_t **hash)
{
	ptrdiff_t at = (p && user) ? find(p, user) : -1;
	const struct pw_entry *e = at >= 0 ? &p->v[at] : &dummy;
	*salt = e->salt;
	*saltlen = e->saltlen;
	*iter = e->iter;
	*hash = e->hash;
	return at >= 0;
}

int
mqtt_passwd_check(const struct mqtt_passwd *p, const char *user, const void *pass, size_t passlen)
{
	ptrdiff_t at = (p && user) ? find(p, user) : -1;
	const struct pw_entry *e = at >= 0 ? &p->v[at] : &dummy;
	int rc = entry_verify(e, pass, passlen);
	if (rc == 0 && at < 0)
		rc = -EACCES;
	return rc;
}

/* ---- verified-credential cache ---------------------------------------------------------- */

#define CACHE_WAYS    4
#define CACHE_MSG_MAX 2048

struct cache_slot {
	uint8_t mac[32];
	uint64_t stamp; /* 0 = empty; otherwise insertion order for eviction */
};

struct mqtt_cred_cache {
	struct mqtt_hmac_key key;
	struct cache_slot *slots;
	uint64_t mask; /* bucket count - 1 */
	uint64_t clock;
};

struct mqtt_cred_cache *
mqtt_cred_cache_new(unsigned capacity)
{
	IMB_MGR *mgr = mqtt_auth_imb();
	uint8_t secret[32];
	unsigned buckets = 2;

	if (mgr == NULL)
		return NULL;
	while (buckets * CACHE_WAYS < capacity && buckets < (1u << 28))
		buckets <<= 1;
	struct mqtt_cred_cache *c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->slots = calloc((size_t)buckets * CACHE_WAYS, sizeof(*c->slots));
	if (c->slots == NULL || getrandom(secret, sizeof(secret), 0) != sizeof(secret) ||
	    mqtt_hmac_key_init(mgr, &c->key, MQTT_HMAC_SHA256, secret, sizeof(secret)) < 0) {
		free(c->slots);
		free(c);
		errno = errno ? errno : EIO;
		return NULL;
	}
	explicit_bzero(secret, sizeof(secret));
	c->mask = buckets - 1;
	return c;
}

void
mqtt_cred_cache_free(struct mqtt_cred_cache *c)
{
	if (c == NULL)
		return;
	explicit_bzero(c->slots, (c->mask + 1) * CACHE_WAYS * sizeof(*c->slots));
	free(c->slots);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

void
mqtt_cred_cache_clear(struct mqtt_cred_cache *c)
{
	memset(c->slots, 0, (c->mask + 1) * CACHE_WAYS * sizeof(*c->slots));
}

/* MAC of (generation, len(user), user, password): lengths make the encoding unambiguous. */
int
mqtt_cred_cache_mac(const struct mqtt_cred_cache *c, uint64_t gen, const char *user,
                    const void *pass, size_t passlen, uint8_t mac[32])
{
	uint8_t msg[CACHE_MSG_MAX];
	size_t ul = user ? strlen(user) : 0;
	IMB_MGR *mgr = mqtt_auth_imb();

	if (mgr == NULL)
		return -errno;
	if (ul > MQTT_PASSWD_MAX_USER || 10 + ul + passlen > sizeof(msg))
		return -E2BIG; /* not cacheable: the caller verifies in full */
	memcpy(msg, &gen, 8);
	msg[8] = (uint8_t)(ul >> 8);
	msg[9] = (uint8_t)ul;
	if (ul)
		memcpy(msg + 10, user, ul);
	if (passlen)
		memcpy(msg + 10 + ul, pass, passlen);
	int rc = mqtt_hmac(mgr, &c->key, msg, 10 + ul + passlen, mac);
	explicit_bzero(msg, 10 + ul + passlen);
	return rc;
}

static struct cache_slot *
bucket_of(struct mqtt_cred_cache *c, const uint8_t mac[32])
{
	uint64_t h;

	memcpy(&h, mac, 8);
	return &c->slots[(h & c->mask) * CACHE_WAYS];
}

/* The bucket of (gen, user, pass), its MAC in mac; NULL when not cacheable (too long) or on
 * error. */
static struct cache_slot *
cache_bucket(struct mqtt_cred_cache *c, uint64_t gen, const char *user, const void *pass,
             size_t passlen, uint8_t mac[32])
{
	if (mqtt_cred_cache_mac(c, gen, user, pass, passlen, mac) < 0)
		return NULL;
	return bucket_of(c, mac);
}

int
mqtt_cred_cache_lookup(struct mqtt_cred_cache *c, uint64_t gen, const char *user, const void *pass,
                       size_t passlen)
{
	uint8_t mac[32];
	struct cache_slot *b = cache_bucket(c, gen, user, pass, passlen, mac);
	int hit = 0;

	/* A miss is always safe: the caller falls back to the full PBKDF2. */
	for (int i = 0; b != NULL && i < CACHE_WAYS; i++)
		hit |= b[i].stamp != 0 && mqtt_ct_memcmp(b[i].mac, mac, 32) == 0;
	return hit;
}

int
mqtt_cred_cache_insert(struct mqtt_cred_cache *c, uint64_t gen, const char *user, const void *pass,
                       size_t passlen)
{
	uint8_t mac[32];

	if (cache_bucket(c, gen, user, pass, passlen, mac) != NULL)
		mqtt_cred_cache_insert_mac(c, mac);
	return 0;
}

void
mqtt_cred_cache_insert_mac(struct mqtt_cred_cache *c, const uint8_t mac[32])
{
	struct cache_slot *b = bucket_of(c, mac), *victim = &b[0];
	for (int i = 0; i < CACHE_WAYS; i++) {
		if (b[i].stamp != 0 && memcmp(b[i].mac, mac, 32) == 0)
			return;
		if (b[i].stamp < victim->stamp)
			victim = &b[i];
	}
	memcpy(victim->mac, mac, 32);
	victim->stamp = ++c->clock;
}

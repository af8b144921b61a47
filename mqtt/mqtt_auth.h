/* SPDX-License-Identifier: Apache-2.0
 * Authentication and authorisation building blocks: password hashing (PBKDF2-HMAC-SHA512 on
 * ipsec-mb), the password file, a verified-credential cache, and compiled ACLs.
 *
 * Threading: a struct mqtt_passwd or struct mqtt_acl that is no longer modified may be read from
 * any number of threads at once (the broker treats both as immutable snapshots: a reload builds a
 * new object and swaps a pointer, the old one is freed once no lcore uses it). Hashing functions
 * use a per-thread ipsec-mb manager. A struct mqtt_cred_cache belongs to one thread.
 *
 * Return contract: constructors return NULL and set errno; the rest return 0 or -errno.
 * Format and semantics: docs/security.md.
 */
#ifndef MQTT_AUTH_H
#define MQTT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PBKDF2-HMAC-SHA512 ---------------------------------------------------------------- */

#define MQTT_PASSWD_DEFAULT_ITER 210000u /* OWASP 2023 figure for PBKDF2-HMAC-SHA512 */
#define MQTT_PASSWD_MIN_ITER     1000u   /* accepted from a file; lower is a parse error */
#define MQTT_PASSWD_MAX_ITER     100000000u
#define MQTT_PASSWD_SALT_LEN     16
#define MQTT_PASSWD_HASH_LEN     64
#define MQTT_PASSWD_MAX_USER     256 /* bytes, like MQTT's practical limits */
#define MQTT_PASSWD_ENCODED_MAX  192 /* "$pbkdf2-sha512$<iter>$<b64 salt>$<b64 hash>" + NUL */

/* RFC 8018 PBKDF2 with HMAC-SHA512, any dklen. 0 or -errno. Cost: iter * ceil(dklen/64) HMACs
 * (about 1.1 us each on one lane of this machine's AVX2). */
int mqtt_pbkdf2_sha512(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                       uint32_t iter, void *out, size_t dklen);

/* Many PBKDF2 computations at once: each iteration step is one ipsec-mb hash burst across the
 * jobs, so n verifications cost about as much as max(1, n/4) on AVX2 (multi-buffer lanes). A
 * worker that verifies parked CONNECTs should collect them and call this. dklen is 64 each. */
struct mqtt_pbkdf2_req {
	const void *pw;
	size_t pwlen;
	const void *salt;
	size_t saltlen;
	uint32_t iter;
	uint8_t out[MQTT_PASSWD_HASH_LEN];
};
int mqtt_pbkdf2_sha512_batch(struct mqtt_pbkdf2_req *reqs, unsigned n);

/* Hash password with a fresh random salt (getrandom) into the encoded form
 * "$pbkdf2-sha512$<iter>$<b64salt>$<b64hash>" (NUL-terminated, < MQTT_PASSWD_ENCODED_MAX).
 * iter 0 means MQTT_PASSWD_DEFAULT_ITER. 0 or -errno (-ENOSPC if out is too small). */
int mqtt_passwd_hash(const void *pw, size_t pwlen, uint32_t iter, char *out, size_t outlen);

/* Verify pw against an encoded hash in constant time: 0 match, -EACCES mismatch, -EINVAL when
 * encoded is malformed. */
int mqtt_passwd_verify(const char *encoded, const void *pw, size_t pwlen);

/* ---- Password file ----------------------------------------------------------------------- */

/* A set of users, sorted by name. Built by load/parse or new; modified by set/delete (control
 * process, tachyonctl); read-only once handed to the broker. */
struct mqtt_passwd;

struct mqtt_passwd *mqtt_passwd_new(void);

/* Parse a password file's text. On error: NULL, errno EINVAL, and err holds
 * "<name>:<line>: <problem>". Lines: "user:$pbkdf2-sha512$iter$salt$hash", blank lines and lines
 * starting with '#' are skipped; a duplicate user is an error. */
struct mqtt_passwd *mqtt_passwd_parse(const char *text, size_t len, const char *name, char *err,
                                      size_t errlen);

/* Read and parse a file (err as above; an unreadable file reports "<path>: <strerror>"). */
struct mqtt_passwd *mqtt_passwd_load(const char *path, char *err, size_t errlen);

/* Write the file atomically (temp file, fsync, rename), mode 0600. 0 or -errno. */
int mqtt_passwd_save(const struct mqtt_passwd *pw, const char *path);

/* tachyonctl passwd add: add the user or replace its password (hashes: slow, never on an lcore).
 * iter 0 means the default. 0, -EINVAL (bad name: empty, too long, ':' or control characters),
 * -ENOMEM. */
int mqtt_passwd_set(struct mqtt_passwd *pw, const char *user, const void *pass, size_t passlen,
                    uint32_t iter);

/* tachyonctl passwd delete: 0 or -ENOENT. */
int mqtt_passwd_delete(struct mqtt_passwd *pw, const char *user);

/* tachyonctl passwd list: number of users, and the i-th (sorted) name and iteration count. */
size_t mqtt_passwd_count(const struct mqtt_passwd *pw);
const char *mqtt_passwd_user(const struct mqtt_passwd *pw, size_t i, uint32_t *iter);

/* Check a login (slow: a full PBKDF2, never on an lcore). 0 ok, -EACCES for a wrong password
 * and for an unknown user; an unknown user costs the same time (hashes against a dummy
 * entry) so timing does not reveal which names exist. */
int mqtt_passwd_check(const struct mqtt_passwd *pw, const char *user, const void *pass,
                      size_t passlen);

/* A random identity of this set's contents, new for every parse/new/set/delete; the credential
 * cache mixes it into its keys so a reload invalidates cached logins without a flush. */
uint64_t mqtt_passwd_generation(const struct mqtt_passwd *pw);

void mqtt_passwd_free(struct mqtt_passwd *pw);

/* ---- Verified-credential cache --------------------------------------------------------- */

/* Fixed-size set-associative table of HMAC-SHA256(boot secret, generation || user || password)
 * for logins that verified; a hit lets the lcore accept a reconnect without a PBKDF2. Neither
 * the password nor a fast hash of it is stored: without the per-boot secret (random, in process
 * memory only) a leaked table cannot be attacked offline. Capacity is rounded up to a power of
 * two (>= 8); a full bucket evicts its oldest entry. One cache per thread. */
struct mqtt_cred_cache;

struct mqtt_cred_cache *mqtt_cred_cache_new(unsigned capacity);

/* 1 hit, 0 miss (also when uncacheable or on error). Cost: one HMAC-SHA256 (~1 us) plus one 4-entry
 * bucket scan. */
int mqtt_cred_cache_lookup(struct mqtt_cred_cache *c, uint64_t generation, const char *user,
                           const void *pass, size_t passlen);

/* Remember a verified login (silently skipped when user+password exceed 2 KiB). 0. */
int mqtt_cred_cache_insert(struct mqtt_cred_cache *c, uint64_t generation, const char *user,
                           const void *pass, size_t passlen);

/* Forget every entry (e.g. after a user is deleted, if the generation is not used). */
void mqtt_cred_cache_clear(struct mqtt_cred_cache *c);

void mqtt_cred_cache_free(struct mqtt_cred_cache *c);

/* ---- Login verification off the data path ------------------------------------------------ */

/* One worker thread that verifies parked CONNECTs for nq producers (one per lcore). Each producer
 * has its own single-producer/single-consumer request and answer rings, so submit and poll are
 * lock-free and make no system call (the lcore rule); the worker batches what accumulated across
 * all queues into mqtt_pbkdf2_sha512_batch (up to 16 logins per burst) and sleeps 1 ms when
 * idle. */
struct mqtt_auth_worker;

#define MQTT_AUTH_REQ_MAX_PASS 1024 /* longer passwords are refused (-E2BIG from submit) */

struct mqtt_auth_result {
	uint64_t cookie;     /* as submitted: identifies the parked connection */
	uint64_t generation; /* of the password set used: for mqtt_cred_cache_insert */
	int rc;              /* 0 accepted, -EACCES wrong password or unknown user */
};

/* depth: ring slots per queue (rounded up to a power of two). NULL + errno. */
struct mqtt_auth_worker *mqtt_auth_worker_new(unsigned nq, unsigned depth);

/* Stop the thread (pending requests are dropped) and free. */
void mqtt_auth_worker_free(struct mqtt_auth_worker *w);

/* Install the password set logins are checked against (NULL: every login refused). Called by
 * the control/reload thread; returns the previous set once the worker no longer uses it, for the
 * caller to free. Blocks up to one batch (a few hundred ms). */
struct mqtt_passwd *mqtt_auth_worker_set_passwd(struct mqtt_auth_worker *w, struct mqtt_passwd *pw);

/* Producer q (its own thread only): queue a login, copied. 0, -EAGAIN (ring full: refuse or
 * retry later), -E2BIG (user or password too long), -EINVAL. */
int mqtt_auth_worker_submit(struct mqtt_auth_worker *w, unsigned q, uint64_t cookie,
                            const char *user, const void *pass, size_t passlen);

/* Producer q: up to n answers. Returns how many. */
unsigned mqtt_auth_worker_poll(struct mqtt_auth_worker *w, unsigned q, struct mqtt_auth_result *out,
                               unsigned n);

/* Per-lcore front end: the lcore's credential cache and its worker queue. A CONNECT is decided
 * at once when it can be (anonymous policy, cached login) and parked otherwise; accepted logins
 * enter the cache (the worker computes their cache key, so the lcore never keeps a password).
 * Owned by one lcore; free it before the worker. */
struct mqtt_auth_lcore;

struct mqtt_auth_lcore *mqtt_auth_lcore_new(struct mqtt_auth_worker *w, unsigned q,
                                            unsigned cache_capacity);
void mqtt_auth_lcore_free(struct mqtt_auth_lcore *a);

/* pw: the lcore's current password set (NULL: none configured); user NULL: anonymous.
 * 0 accept now (anonymous allowed, or no password set and anonymous allowed, or a cached
 * login), -EINPROGRESS parked (the answer comes from mqtt_auth_lcore_poll with cookie),
 * -EACCES refuse now, -EAGAIN worker queue full (refuse as "server unavailable"), -E2BIG.
 * Cost when not parked: one HMAC-SHA256 (~1 us). */
int mqtt_auth_lcore_login(struct mqtt_auth_lcore *a, const struct mqtt_passwd *pw,
                          int allow_anonymous, uint64_t cookie, const char *user, const void *pass,
                          size_t passlen);

/* Answers for parked logins (call once per loop iteration). Returns how many. */
unsigned mqtt_auth_lcore_poll(struct mqtt_auth_lcore *a, struct mqtt_auth_result *out, unsigned n);

/* ---- ACL ------------------------------------------------------------------------------- */

/* A compiled, immutable ACL (Mosquitto's acl_file syntax plus "clientid <id>" sections;
 * semantics in docs/security.md): the rules of the client id's section, then of the user's
 * section, then the pattern rules, each in file order; the first relevant rule decides;
 * otherwise denied. Rules before any "user"/"clientid" line form the anonymous section (clients
 * without a user name). A NULL acl (no ACL configured) allows everything. */
struct mqtt_acl;

struct mqtt_acl *mqtt_acl_parse(const char *text, size_t len, const char *name, char *err,
                                size_t errlen);
struct mqtt_acl *mqtt_acl_load(const char *path, char *err, size_t errlen);
void mqtt_acl_free(struct mqtt_acl *acl);

/* user NULL = anonymous. 0 allowed, -EACCES denied.
 * Cost: O(rules in the client id's and user's sections + pattern rules) * O(topic length); the
 * sections are found by binary search. No allocation. */
int mqtt_acl_check_publish(const struct mqtt_acl *acl, const char *user, const char *clientid,
                           const char *topic);

/* A subscription is allowed when the first relevant rule grants read and its filter covers every
 * topic the subscription can match ("a/+" under "a/#" yes, "#" under "a/#" no); a deny rule is
 * relevant as soon as it intersects the subscription. Same cost as publish. */
int mqtt_acl_check_subscribe(const struct mqtt_acl *acl, const char *user, const char *clientid,
                             const char *filter);

/* Topic-filter algebra used by the checks, exposed for the broker and tests. */
int mqtt_topic_match(const char *filter, const char *topic);  /* 1 if topic matches */
int mqtt_filter_covers(const char *outer, const char *inner); /* 1 if inner within outer */
int mqtt_filter_intersects(const char *a, const char *b);     /* 1 if some topic matches both */

#ifdef __cplusplus
}
#endif

#endif

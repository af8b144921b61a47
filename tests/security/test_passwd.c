/* SPDX-License-Identifier: Apache-2.0
 * PBKDF2-HMAC-SHA512 (published vectors, OpenSSL cross-check, batch), password hashes, the
 * password file (round trip, parse errors) and the verified-credential cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mqtt/mqtt_auth.h"
#include "tap.h"

static int
unhex(const char *h, uint8_t *out)
{
	int n = 0;
	for (; h[0] && h[1]; h += 2)
		sscanf(h, "%2hhx", &out[n++]);
	return n;
}

static void
vectors(void)
{
	/* The PBKDF2-HMAC-SHA512 vectors in RFC 6070's layout, as published with many
	 * implementations (e.g. the Go x/crypto and Python hashlib test suites). */
	static const struct {
		const char *pw, *salt;
		uint32_t iter;
		const char *hex;
	} v[] = {
	        {"password", "salt", 1,
	         "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
	         "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"},
	        {"password", "salt", 2,
	         "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
	         "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"},
	        {"password", "salt", 4096,
	         "d197b1b33db0143e018b12f3d1d1479e6cdebdcc97c5c0f87f6902e072f457b5"
	         "143f30602641b3d55cd335988cb36b84376060ecd532e039b742a239434af2d5"},
	        {"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
	         "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71"
	         "115b59f9e60cd9532fa33e0f75aefe30225c583a186cd82bd4daea9724a3d3b8"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t want[64], got[64];
		char name[96];
		unhex(v[i].hex, want);
		int rc = mqtt_pbkdf2_sha512(v[i].pw, strlen(v[i].pw), v[i].salt, strlen(v[i].salt),
		                            v[i].iter, got, 64);
		snprintf(name, sizeof(name), "pbkdf2_vector_%s_%u", v[i].pw, v[i].iter);
		tap_result(rc == 0 && memcmp(want, got, 64) == 0, name);
	}
}

/* Random passwords, salts, counts and lengths (including multi-block dklen) against OpenSSL. */
static void
openssl_crosscheck(void)
{
	srand(42);
	for (int i = 0; i < 24; i++) {
		uint8_t pw[300], salt[80], a[200], b[200];
		size_t pwlen = (size_t)rand() % sizeof(pw), saltlen = (size_t)rand() % sizeof(salt);
		uint32_t iter = 1 + (uint32_t)rand() % 300;
		size_t dk = 1 + (size_t)rand() % sizeof(a);
		for (size_t j = 0; j < pwlen; j++)
			pw[j] = (uint8_t)rand();
		for (size_t j = 0; j < saltlen; j++)
			salt[j] = (uint8_t)rand();
		CHECK_EQ(mqtt_pbkdf2_sha512(pw, pwlen, salt, saltlen, iter, a, dk), 0);
		CHECK_EQ(PKCS5_PBKDF2_HMAC((const char *)pw, (int)pwlen, salt, (int)saltlen,
		                           (int)iter, EVP_sha512(), (int)dk, b),
		         1);
		CHECK(memcmp(a, b, dk) == 0);
	}
}

/* The batch runs lanes with different counts in one burst; each must equal the single call. */
static void
batch_matches_single(void)
{
	struct mqtt_pbkdf2_req r[21];
	char pw[21][16];
	for (int i = 0; i < 21; i++) {
		snprintf(pw[i], sizeof(pw[i]), "pw%d", i);
		r[i] = (struct mqtt_pbkdf2_req){.pw = pw[i],
		                                .pwlen = strlen(pw[i]),
		                                .salt = "NaCl-salt",
		                                .saltlen = 9,
		                                .iter = 50 + 37 * (uint32_t)i};
	}
	CHECK_EQ(mqtt_pbkdf2_sha512_batch(r, 21), 0);
	for (int i = 0; i < 21; i++) {
		uint8_t one[64];
		CHECK_EQ(mqtt_pbkdf2_sha512(pw[i], strlen(pw[i]), "NaCl-salt", 9, r[i].iter, one,
		                            64),
		         0);
		CHECK(memcmp(one, r[i].out, 64) == 0);
	}
	r[3].iter = 0;
	CHECK_EQ(mqtt_pbkdf2_sha512_batch(r, 21), -EINVAL);
}

static void
hash_and_verify(void)
{
	char enc[MQTT_PASSWD_ENCODED_MAX], enc2[MQTT_PASSWD_ENCODED_MAX];
	CHECK_EQ(mqtt_passwd_hash("s3cret", 6, 1000, enc, sizeof(enc)), 0);
	CHECK(strncmp(enc, "$pbkdf2-sha512$1000$", 20) == 0);
	CHECK_EQ(mqtt_passwd_verify(enc, "s3cret", 6), 0);
	CHECK_EQ(mqtt_passwd_verify(enc, "s3creT", 6), -EACCES);
	CHECK_EQ(mqtt_passwd_verify(enc, "s3cret", 5), -EACCES);
	CHECK_EQ(mqtt_passwd_verify(enc, "", 0), -EACCES);
	/* A fresh salt each time: same password, different encodings. */
	CHECK_EQ(mqtt_passwd_hash("s3cret", 6, 1000, enc2, sizeof(enc2)), 0);
	CHECK(strcmp(enc, enc2) != 0);
	CHECK_EQ(mqtt_passwd_verify("$pbkdf2-sha512$1000$AAAA$AAAA", "x", 1), -EINVAL);
	CHECK_EQ(mqtt_passwd_hash("x", 1, 10, enc, sizeof(enc)), -EINVAL);
	CHECK_EQ(mqtt_passwd_hash("x", 1, 1000, enc, 20), -ENOSPC);
}

static void
default_iterations(void)
{
	char enc[MQTT_PASSWD_ENCODED_MAX];
	CHECK_EQ(mqtt_passwd_hash("pw", 2, 0, enc, sizeof(enc)), 0);
	CHECK(strncmp(enc, "$pbkdf2-sha512$210000$", 22) == 0);
	CHECK_EQ(mqtt_passwd_verify(enc, "pw", 2), 0);
}

static void
file_round_trip(void)
{
	char path[] = "/tmp/tachyon-passwd-XXXXXX", err[256];
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	struct mqtt_passwd *p = mqtt_passwd_new();
	CHECK_EQ(mqtt_passwd_set(p, "carol", "c-pass", 6, 1000), 0);
	CHECK_EQ(mqtt_passwd_set(p, "alice", "a-pass", 6, 1000), 0);
	CHECK_EQ(mqtt_passwd_set(p, "bob", "b-pass", 6, 2000), 0);
	uint64_t g = mqtt_passwd_generation(p);
	CHECK_EQ(mqtt_passwd_set(p, "bob", "b-pass2", 7, 1000), 0); /* replace */
	CHECK(mqtt_passwd_generation(p) != g);
	CHECK_EQ(mqtt_passwd_set(p, "bad:name", "x", 1, 1000), -EINVAL);
	CHECK_EQ(mqtt_passwd_set(p, "", "x", 1, 1000), -EINVAL);
	CHECK_EQ(mqtt_passwd_save(p, path), 0);
	mqtt_passwd_free(p);

	p = mqtt_passwd_load(path, err, sizeof(err));
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_EQ(mqtt_passwd_count(p), 3);
	uint32_t iter = 0;
	CHECK(strcmp(mqtt_passwd_user(p, 0, &iter), "alice") == 0);
	CHECK_EQ(iter, 1000);
	CHECK(strcmp(mqtt_passwd_user(p, 1, NULL), "bob") == 0);
	CHECK(strcmp(mqtt_passwd_user(p, 2, NULL), "carol") == 0);
	CHECK(mqtt_passwd_user(p, 3, NULL) == NULL);
	CHECK_EQ(mqtt_passwd_check(p, "alice", "a-pass", 6), 0);
	CHECK_EQ(mqtt_passwd_check(p, "bob", "b-pass2", 7), 0);
	CHECK_EQ(mqtt_passwd_check(p, "bob", "b-pass", 6), -EACCES);
	CHECK_EQ(mqtt_passwd_check(p, "mallory", "a-pass", 6), -EACCES);
	CHECK_EQ(mqtt_passwd_delete(p, "bob"), 0);
	CHECK_EQ(mqtt_passwd_delete(p, "bob"), -ENOENT);
	CHECK_EQ(mqtt_passwd_save(p, path), 0);
	mqtt_passwd_free(p);
	p = mqtt_passwd_load(path, err, sizeof(err));
	CHECK(p != NULL && mqtt_passwd_count(p) == 2);
	if (p != NULL)
		CHECK_EQ(mqtt_passwd_check(p, "bob", "b-pass2", 7), -EACCES);
	mqtt_passwd_free(p);
	unlink(path);
	CHECK(mqtt_passwd_load(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "No such file") != NULL);
}

static void
parse_errors(void)
{
	/* 64 zero bytes are 86 'A' and "==" in base64. */
	char h[160] = "$pbkdf2-sha512$1000$c2FsdHNhbHQ=$";
	memset(h + strlen(h), 'A', 86);
	strcat(h, "==");
	char good[256];
	snprintf(good, sizeof(good), "# comment\n\nu1:%s\r\n", h);
	static const struct {
		const char *fmt, *want;
	} v[] = {
	        {"u1:%s\nu1:%s\n", "f:2: duplicate user"},
	        {"u1:%s\nnocolon\n", "f:2: missing ':'"},
	        {":%s\n", "f:1: empty user name"},
	        {"u\001:%s\n", "f:1: user name contains"},
	        {"u1:$sha1$1000$xx$yy\n", "f:1: unknown hash scheme"},
	        {"u1:$pbkdf2-sha512$abc$c2FsdHNhbHQ=$AAAA\n", "f:1: bad iteration count"},
	        {"u1:$pbkdf2-sha512$999$c2FsdHNhbHQ=$AAAA\n", "f:1: iteration count out of range"},
	        {"\n\nu1:$pbkdf2-sha512$1000$c2Fs!HNhbHQ=$AAAA\n", "f:3: salt is not valid base64"},
	        {"u1:$pbkdf2-sha512$1000$c2FsdA==$AAAA\n", "f:1: salt shorter than 8 bytes"},
	        {"u1:$pbkdf2-sha512$1000$c2FsdHNhbHQ=$AAAA\n", "f:1: hash is not 64 bytes"},
	        {"u1:$pbkdf2-sha512$1000$c2FsdHNhbHQ=\n", "f:1: missing '$' before the hash"},
	};
	char err[256], text[1024];
	struct mqtt_passwd *p = mqtt_passwd_parse(good, strlen(good), "f", err, sizeof(err));
	tap_result(p != NULL && mqtt_passwd_count(p) == 1, "parse_good_file");
	mqtt_passwd_free(p);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(text, sizeof(text), v[i].fmt, h, h);
		err[0] = '\0';
		errno = 0;
		p = mqtt_passwd_parse(text, strlen(text), "f", err, sizeof(err));
		int ok = p == NULL && errno == EINVAL &&
		         strncmp(err, v[i].want, strlen(v[i].want)) == 0;
		if (!ok)
			printf("#   got '%s', want '%s'\n", err, v[i].want);
		mqtt_passwd_free(p);
		snprintf(text, sizeof(text), "parse_error: %s", v[i].want);
		tap_result(ok, text);
	}
}

static void
cred_cache(void)
{
	struct mqtt_cred_cache *c = mqtt_cred_cache_new(16);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "alice", "pw", 2), 0);
	CHECK_EQ(mqtt_cred_cache_insert(c, 1, "alice", "pw", 2), 0);
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "alice", "pw", 2), 1);
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "alice", "pW", 2), 0);
	CHECK_EQ(mqtt_cred_cache_lookup(c, 2, "alice", "pw", 2), 0); /* reloaded file */
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "alicep", "w", 1), 0); /* unambiguous encoding */
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, NULL, "pw", 2), 0);
	/* Bounded: 1000 inserts into 16 slots keep at most 16 hits. */
	char u[32];
	int hits = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(u, sizeof(u), "user%d", i);
		mqtt_cred_cache_insert(c, 1, u, "pw", 2);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(u, sizeof(u), "user%d", i);
		hits += mqtt_cred_cache_lookup(c, 1, u, "pw", 2);
	}
	CHECK(hits > 0 && hits <= 16);
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "user999", "pw", 2), 1); /* newest survives */
	mqtt_cred_cache_clear(c);
	CHECK_EQ(mqtt_cred_cache_lookup(c, 1, "user999", "pw", 2), 0);
	mqtt_cred_cache_free(c);
}

/* Wait for n answers from queue q (bounded: 20 s). */
static unsigned
collect(struct mqtt_auth_worker *w, unsigned q, struct mqtt_auth_result *res, unsigned n)
{
	unsigned got = 0;
	for (int i = 0; i < 20000 && got < n; i++) {
		got += mqtt_auth_worker_poll(w, q, res + got, n - got);
		if (got < n)
			usleep(1000);
	}
	return got;
}

static int
rc_of(const struct mqtt_auth_result *res, unsigned n, uint64_t cookie)
{
	for (unsigned i = 0; i < n; i++)
		if (res[i].cookie == cookie)
			return res[i].rc;
	return 1;
}

static void
auth_worker(void)
{
	struct mqtt_passwd *pw = mqtt_passwd_new(), *pw2 = mqtt_passwd_new();
	CHECK_EQ(mqtt_passwd_set(pw, "alice", "a-pass", 6, 1000), 0);
	CHECK_EQ(mqtt_passwd_set(pw, "bob", "b-pass", 6, 2000), 0);
	CHECK_EQ(mqtt_passwd_set(pw, "slow", "s", 1, 100000), 0);
	CHECK_EQ(mqtt_passwd_set(pw2, "alice", "new-pass", 8, 1000), 0);
	struct mqtt_auth_worker *w = mqtt_auth_worker_new(2, 8);
	CHECK(w != NULL);
	if (w == NULL)
		return;
	CHECK(mqtt_auth_worker_set_passwd(w, pw) == NULL);
	struct mqtt_auth_result r0[8], r1[8];
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 1, "alice", "a-pass", 6), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 2, "alice", "a-pasS", 6), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 3, "mallory", "a-pass", 6), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 1, 4, "bob", "b-pass", 6), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 1, 5, NULL, "b-pass", 6), 0);
	CHECK_EQ(collect(w, 0, r0, 3), 3);
	CHECK_EQ(collect(w, 1, r1, 2), 2);
	CHECK_EQ(rc_of(r0, 3, 1), 0);
	CHECK_EQ(rc_of(r0, 3, 2), -EACCES);
	CHECK_EQ(rc_of(r0, 3, 3), -EACCES);
	CHECK_EQ(rc_of(r1, 2, 4), 0);
	CHECK_EQ(rc_of(r1, 2, 5), -EACCES);
	CHECK(r0[0].generation == mqtt_passwd_generation(pw));
	/* A reload: the old set comes back once the worker dropped it; alice's new password. */
	CHECK(mqtt_auth_worker_set_passwd(w, pw2) == pw);
	CHECK_EQ(mqtt_auth_worker_submit(w, 1, 6, "alice", "a-pass", 6), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 1, 7, "alice", "new-pass", 8), 0);
	CHECK_EQ(collect(w, 1, r1, 2), 2);
	CHECK_EQ(rc_of(r1, 2, 6), -EACCES);
	CHECK_EQ(rc_of(r1, 2, 7), 0);
	char big[MQTT_AUTH_REQ_MAX_PASS + 1];
	memset(big, 'x', sizeof(big));
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 8, "alice", big, sizeof(big)), -E2BIG);
	CHECK_EQ(mqtt_auth_worker_submit(w, 2, 8, "alice", "x", 1), -EINVAL);
	mqtt_auth_worker_free(w);

	/* Back-pressure: slots stay taken while they hash (100,000 iterations, >= 50 ms). */
	w = mqtt_auth_worker_new(1, 2);
	CHECK(mqtt_auth_worker_set_passwd(w, pw) == NULL);
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 1, "slow", "s", 1), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 2, "slow", "s", 1), 0);
	CHECK_EQ(mqtt_auth_worker_submit(w, 0, 3, "slow", "s", 1), -EAGAIN);
	CHECK_EQ(collect(w, 0, r0, 2), 2);
	CHECK_EQ(rc_of(r0, 2, 1) | rc_of(r0, 2, 2), 0);
	mqtt_auth_worker_free(w);
	mqtt_passwd_free(pw);
	mqtt_passwd_free(pw2);
}

/* Park one login and wait for its answer (bounded by collect). */
static int
parked(struct mqtt_auth_lcore *a, const struct mqtt_passwd *pw, uint64_t cookie, const char *user,
       const char *pass)
{
	int rc = mqtt_auth_lcore_login(a, pw, 0, cookie, user, pass, strlen(pass));
	if (rc != -EINPROGRESS)
		return 1000 + rc;
	struct mqtt_auth_result r;
	for (int i = 0; i < 20000; i++) {
		if (mqtt_auth_lcore_poll(a, &r, 1) == 1)
			return r.cookie == cookie ? r.rc : 2000;
		usleep(1000);
	}
	return 3000;
}

static void
auth_lcore_front_end(void)
{
	struct mqtt_passwd *pw = mqtt_passwd_new(), *pw2 = mqtt_passwd_new();
	CHECK_EQ(mqtt_passwd_set(pw, "alice", "a-pass", 6, 1000), 0);
	CHECK_EQ(mqtt_passwd_set(pw2, "alice", "new-pass", 8, 1000), 0);
	struct mqtt_auth_worker *w = mqtt_auth_worker_new(1, 8);
	struct mqtt_auth_lcore *a = mqtt_auth_lcore_new(w, 0, 64);
	CHECK(a != NULL);
	if (a == NULL)
		return;
	mqtt_auth_worker_set_passwd(w, pw);
	/* Anonymous and "no password file" follow the listener's policy, at once. */
	CHECK_EQ(mqtt_auth_lcore_login(a, pw, 0, 1, NULL, NULL, 0), -EACCES);
	CHECK_EQ(mqtt_auth_lcore_login(a, pw, 1, 1, NULL, NULL, 0), 0);
	CHECK_EQ(mqtt_auth_lcore_login(a, NULL, 0, 2, "alice", "x", 1), -EACCES);
	CHECK_EQ(mqtt_auth_lcore_login(a, NULL, 1, 2, "alice", "x", 1), 0);
	/* First login parks; the accepted one is cached, so the reconnect is immediate. */
	CHECK_EQ(parked(a, pw, 3, "alice", "a-pass"), 0);
	CHECK_EQ(mqtt_auth_lcore_login(a, pw, 0, 4, "alice", "a-pass", 6), 0);
	/* A refused login is never cached. */
	CHECK_EQ(parked(a, pw, 5, "alice", "wrong"), -EACCES);
	CHECK_EQ(parked(a, pw, 6, "alice", "wrong"), -EACCES);
	/* Reload: the old cached login no longer hits (new generation) and is refused now. */
	CHECK(mqtt_auth_worker_set_passwd(w, pw2) == pw);
	CHECK_EQ(parked(a, pw2, 7, "alice", "a-pass"), -EACCES);
	CHECK_EQ(parked(a, pw2, 8, "alice", "new-pass"), 0);
	CHECK_EQ(mqtt_auth_lcore_login(a, pw2, 0, 9, "alice", "new-pass", 8), 0);
	CHECK(mqtt_auth_lcore_new(w, 1, 64) == NULL);
	mqtt_auth_lcore_free(a);
	mqtt_auth_worker_free(w);
	mqtt_passwd_free(pw);
	mqtt_passwd_free(pw2);
}

int
main(void)
{
	vectors();
	TEST(openssl_crosscheck);
	TEST(batch_matches_single);
	TEST(hash_and_verify);
	TEST(default_iterations);
	TEST(file_round_trip);
	parse_errors();
	TEST(cred_cache);
	TEST(auth_worker);
	TEST(auth_lcore_front_end);
	return tap_done();
}

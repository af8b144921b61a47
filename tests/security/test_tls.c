/* SPDX-License-Identifier: Apache-2.0
 * TLS record layer against an in-process OpenSSL client over memory BIOs: handshakes, data both
 * ways in many records of every size class with arbitrary segment boundaries, bursts across
 * connections, KeyUpdate both ways, resumption, close_notify, corrupted and malformed records,
 * client certificates, untrusted and expired server certificates, OpenSSL fallbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dataplane/tls/tls.h"
#include "tap.h"
#include "tls_test_util.h"

static struct certs certs;
static int g_tls12; /* run a test with clients capped at TLS 1.2 */
static struct tls_engine *eng;
static unsigned rng = 12345;

static unsigned
rnd(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

struct peer {
	SSL_CTX *cctx;
	SSL *cli;
	struct tls_conn *srv;
	int cli_alert; /* alert the client received */
	int cli_hs;    /* client handshake result */
};

static void
cli_info(const SSL *ssl, int where, int ret)
{
	struct peer *p = SSL_get_app_data(ssl);
	if ((where & SSL_CB_READ_ALERT) && p != NULL)
		p->cli_alert = ret & 0xff;
}

struct cli_opts {
	const char *ca;  /* CA file the client trusts */
	int client_cert; /* present client.crt */
	int max_version; /* 0: TLS 1.3 */
	const char *suites;
	const char *ciphers; /* TLS 1.2 */
	SSL_SESSION *resume;
};

static void
peer_init(struct peer *p, struct tls_ctx *sctx, const struct cli_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->cli_alert = -1;
	p->cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(p->cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_load_verify_locations(p->cctx, o->ca ? o->ca : cert_path(&certs, CA_CRT), NULL);
	if (o->max_version || g_tls12)
		SSL_CTX_set_max_proto_version(p->cctx,
		                              o->max_version ? o->max_version : TLS1_2_VERSION);
	if (o->ciphers)
		SSL_CTX_set_cipher_list(p->cctx, o->ciphers);
	if (o->suites)
		SSL_CTX_set_ciphersuites(p->cctx, o->suites);
	if (o->client_cert) {
		SSL_CTX_use_certificate_file(p->cctx, cert_path(&certs, CLI_CRT), SSL_FILETYPE_PEM);
		SSL_CTX_use_PrivateKey_file(p->cctx, cert_path(&certs, CLI_KEY), SSL_FILETYPE_PEM);
	}
	SSL_CTX_set_info_callback(p->cctx, cli_info);
	p->cli = SSL_new(p->cctx);
	SSL_set_app_data(p->cli, p);
	SSL_set_connect_state(p->cli);
	SSL_set1_host(p->cli, "localhost");
	SSL_set_tlsext_host_name(p->cli, "localhost");
	if (o->resume)
		SSL_set_session(p->cli, o->resume);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(p->cli, rb, wb);
	p->srv = tls_conn_new(sctx);
}

static void
peer_free(struct peer *p)
{
	SSL_free(p->cli);
	SSL_CTX_free(p->cctx);
	tls_conn_free(p->srv);
}

/* Client -> server: all pending client bytes, fed in random chunks (max_chunk 0: in one piece);
 * a decrypt burst after every chunk, so records arrive split at arbitrary points. */
static void
c2s(struct peer *p, size_t max_chunk)
{
	BIO *wb = SSL_get_wbio(p->cli);
	char *data;
	long n = BIO_get_mem_data(wb, &data);
	for (long off = 0; off < n;) {
		size_t k = max_chunk ? 1 + rnd() % max_chunk : (size_t)(n - off);
		if (k > (size_t)(n - off))
			k = (size_t)(n - off);
		CHECK_EQ(tls_conn_feed(p->srv, data + off, k), 0);
		tls_decrypt_burst(eng, &p->srv, 1);
		off += (long)k;
	}
	if (n == 0)
		tls_decrypt_burst(eng, &p->srv, 1);
	(void)BIO_reset(wb);
}

/* Server -> client: seal, then move every output byte into the client's read BIO. */
static void
s2c(struct peer *p)
{
	const uint8_t *d;
	size_t n;
	/* A burst seals at most 64 records of one connection: repeat while data is queued. */
	do {
		tls_encrypt_burst(eng, &p->srv, 1);
		while ((n = tls_conn_output(p->srv, &d)) != 0) {
			BIO_write(SSL_get_rbio(p->cli), d, (int)n);
			tls_conn_output_consume(p->srv, n);
		}
	} while (tls_conn_unsealed(p->srv) != 0 && tls_conn_state(p->srv) == TLS_OPEN);
}

static int
handshake(struct peer *p)
{
	for (int i = 0; i < 20; i++) {
		int r = SSL_do_handshake(p->cli);
		int e = SSL_get_error(p->cli, r);
		p->cli_hs = r;
		c2s(p, 0);
		s2c(p);
		if (r == 1 && tls_conn_state(p->srv) != TLS_HANDSHAKE)
			break;
		if (r <= 0 && e != SSL_ERROR_WANT_READ)
			break;
		if (tls_conn_state(p->srv) == TLS_FAILED)
			break;
	}
	return p->cli_hs == 1 && tls_conn_state(p->srv) == TLS_OPEN;
}

/* Client reads everything readable into buf; returns bytes (or -1 on error/close). */
static long
cli_read_all(struct peer *p, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		int r = SSL_read(p->cli, buf + got, (int)(cap - got > 16384 ? 16384 : cap - got));
		if (r > 0) {
			got += (size_t)r;
			if (got == cap)
				return (long)got;
			continue;
		}
		int e = SSL_get_error(p->cli, r);
		ERR_clear_error();
		return e == SSL_ERROR_WANT_READ ? (long)got : -1;
	}
}

static void
fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

/* Client sends records of the given sizes; the server must read exactly those bytes. Then the
 * server sends the same bytes back in writes of the same sizes. */
static int
exchange(struct peer *p, const size_t *sizes, int n, size_t max_chunk)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += sizes[i];
	uint8_t *src = malloc(total + 1), *dst = malloc(total + 1);
	fill(src, total, (unsigned)n);
	size_t off = 0, got = 0;
	int ok = 1;
	for (int i = 0; i < n; i++) {
		if (sizes[i] != 0)
			ok &= SSL_write(p->cli, src + off, (int)sizes[i]) == (int)sizes[i];
		off += sizes[i];
		if (i % 7 == 6 || i == n - 1) {
			c2s(p, max_chunk);
			got += tls_conn_read(p->srv, dst + got, total - got);
		}
	}
	ok &= got == total && memcmp(src, dst, total) == 0;
	off = 0;
	for (int i = 0; i < n; i++) {
		CHECK_EQ(tls_conn_write(p->srv, src + off, sizes[i]), 0);
		off += sizes[i];
	}
	s2c(p);
	memset(dst, 0, total);
	long r = cli_read_all(p, dst, total);
	ok &= r == (long)total && memcmp(src, dst, total) == 0;
	free(src);
	free(dst);
	return ok;
}

static const size_t size_mix[] = {1,    2,     15,   16,    17,   64,    255,   256,
                                  1000, 1024,  4095, 4096,  8192, 16383, 16384, 0,
                                  3,    16384, 777,  12000, 5,    16384, 1};

static void
suites(void)
{
	static const struct {
		const char *name, *suites;
		int max_version;
		int offloaded;
		uint16_t id;
	} v[] = {
	        {"tls13_aes128gcm_offloaded", "TLS_AES_128_GCM_SHA256", 0, 1, 0x1301},
	        {"tls13_aes256gcm_offloaded", "TLS_AES_256_GCM_SHA384", 0, 1, 0x1302},
	        {"tls13_chacha20_poly1305_offloaded", "TLS_CHACHA20_POLY1305_SHA256", 0, 1, 0x1303},
	        {"tls12_aes128gcm_offloaded", "ECDHE-ECDSA-AES128-GCM-SHA256", TLS1_2_VERSION, 1,
	         0xc02b},
	        {"tls12_aes256gcm_sha384_offloaded", "ECDHE-ECDSA-AES256-GCM-SHA384",
	         TLS1_2_VERSION, 1, 0xc02c},
	        {"tls12_chacha20_poly1305_offloaded", "ECDHE-ECDSA-CHACHA20-POLY1305",
	         TLS1_2_VERSION, 1, 0xcca9},
	        {"tls12_aes128_cbc_openssl_records", "ECDHE-ECDSA-AES128-SHA", TLS1_2_VERSION, 0,
	         0xc009},
	};
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	/* A CBC suite too, to reach the OpenSSL record fallback (GCM stays preferred); if this
	 * failed, the CBC row's handshake fails. */
	SSL_CTX_set_cipher_list(tls_ctx_ssl(ctx),
	                        "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE-ECDSA-AES128-SHA");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct peer p;
		struct cli_opts o = {.max_version = v[i].max_version};
		if (v[i].max_version)
			o.ciphers = v[i].suites;
		else
			o.suites = v[i].suites;
		peer_init(&p, ctx, &o);
		int ok = handshake(&p);
		ok &= tls_conn_offloaded(p.srv) == v[i].offloaded;
		ok &= v[i].id == 0 || tls_conn_suite(p.srv) == v[i].id;
		ok &= tls_conn_version(p.srv) ==
		      (v[i].max_version ? v[i].max_version : TLS1_3_VERSION);
		ok &= exchange(&p, size_mix, (int)(sizeof(size_mix) / sizeof(size_mix[0])), 0);
		ok &= exchange(&p, size_mix, (int)(sizeof(size_mix) / sizeof(size_mix[0])), 700);
		tap_result(ok, v[i].name);
		peer_free(&p);
	}
	tls_ctx_free(ctx);
}

/* Every plaintext size 0..16384 in steps, segments split at random points (1..40 bytes). */
static void
all_sizes_split_boundaries(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	struct peer p;
	struct cli_opts o = {0};
	peer_init(&p, ctx, &o);
	CHECK(handshake(&p));
	size_t sizes[200];
	int n = 0;
	for (size_t s = 0; s <= 16384; s += 83)
		sizes[n++] = s;
	sizes[n++] = 16384;
	CHECK(exchange(&p, sizes, n, 40));
	CHECK(exchange(&p, sizes, n, 1)); /* byte by byte */
	/* The server splits a large write into records of at most 16384 bytes. */
	size_t big[] = {100000};
	CHECK(exchange(&p, big, 1, 5000));
	peer_free(&p);
	tls_ctx_free(ctx);
}

/* 24 connections: one decrypt burst and one encrypt burst serve them all. */
static void
burst_across_connections(void)
{
	enum { N = 24, R = 9 };
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	static struct peer p[N];
	struct tls_conn *conns[N];
	struct cli_opts o = {0};
	size_t total = 0;
	for (int r = 0; r < R; r++)
		total += 100 + (size_t)r * 300;
	uint8_t *want = malloc(total), *got = malloc(total);
	for (int i = 0; i < N; i++) {
		peer_init(&p[i], ctx, &o);
		CHECK(handshake(&p[i]));
		conns[i] = p[i].srv;
	}
	/* Each client queues R records; all are fed first, then opened in one call. */
	for (int i = 0; i < N; i++) {
		fill(want, total, (unsigned)i);
		for (size_t r = 0, off = 0; r < R; off += 100 + r * 300, r++)
			SSL_write(p[i].cli, want + off, (int)(100 + r * 300));
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(p[i].cli), &d);
		CHECK_EQ(tls_conn_feed(p[i].srv, d, (size_t)n), 0);
		(void)BIO_reset(SSL_get_wbio(p[i].cli));
	}
	CHECK_EQ(tls_decrypt_burst(eng, conns, N), N);
	for (int i = 0; i < N; i++) {
		fill(want, total, (unsigned)i);
		CHECK_EQ(tls_conn_read(p[i].srv, got, total), total);
		CHECK(memcmp(want, got, total) == 0);
		CHECK_EQ(tls_conn_write(p[i].srv, got, total), 0);
	}
	CHECK_EQ(tls_encrypt_burst(eng, conns, N), N);
	for (int i = 0; i < N; i++) {
		const uint8_t *d;
		size_t n = tls_conn_output(p[i].srv, &d);
		BIO_write(SSL_get_rbio(p[i].cli), d, (int)n);
		tls_conn_output_consume(p[i].srv, n);
		fill(want, total, (unsigned)i);
		memset(got, 0, total);
		CHECK_EQ(cli_read_all(&p[i], got, total), (long)total);
		CHECK(memcmp(want, got, total) == 0);
		peer_free(&p[i]);
	}
	free(want);
	free(got);
	tls_ctx_free(ctx);
}

/* A handshake storm under a budget: 3 handshakes advance per call, established data in full. */
static void
handshake_budget(void)
{
	enum { N = 8 };
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	static struct peer est, hs[N];
	struct tls_conn *conns[N + 1];
	struct cli_opts o = {0};
	peer_init(&est, ctx, &o);
	CHECK(handshake(&est));
	for (int i = 0; i < N; i++) {
		peer_init(&hs[i], ctx, &o);
		SSL_do_handshake(hs[i].cli); /* ClientHello */
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(hs[i].cli), &d);
		CHECK_EQ(tls_conn_feed(hs[i].srv, d, (size_t)n), 0);
		(void)BIO_reset(SSL_get_wbio(hs[i].cli));
		conns[i] = hs[i].srv;
	}
	conns[N] = est.srv;
	tls_engine_set_handshake_budget(eng, 3);
	for (int round = 1; round <= 3; round++) {
		SSL_write(est.cli, "tick", 4);
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(est.cli), &d);
		CHECK_EQ(tls_conn_feed(est.srv, d, (size_t)n), 0);
		(void)BIO_reset(SSL_get_wbio(est.cli));
		tls_decrypt_burst(eng, conns, N + 1);
		uint8_t buf[8];
		CHECK_EQ(tls_conn_read(est.srv, buf, sizeof(buf)), 4);
		int answered = 0;
		for (int i = 0; i < N; i++) {
			const uint8_t *out;
			answered += tls_conn_output(hs[i].srv, &out) != 0;
			CHECK_EQ(tls_conn_has_records(hs[i].srv),
			         tls_conn_output(hs[i].srv, &out) == 0);
		}
		CHECK_EQ(answered, round * 3 < N ? round * 3 : N);
	}
	tls_engine_set_handshake_budget(eng, 0);
	for (int i = 0; i < N; i++) {
		s2c(&hs[i]);
		CHECK(handshake(&hs[i]));
		peer_free(&hs[i]);
	}
	peer_free(&est);
	tls_ctx_free(ctx);
}

/* KeyUpdate from the client (update_requested), then from our side, three rounds each. */
static void
key_update_both_ways(void)
{
	static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
	                                     "TLS_CHACHA20_POLY1305_SHA256"};
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		struct peer p;
		struct cli_opts o = {.suites = suites[s]};
		peer_init(&p, ctx, &o);
		CHECK(handshake(&p));
		CHECK_EQ(tls_conn_offloaded(p.srv), 1);
		size_t sizes[] = {10, 16384, 300};
		for (int round = 0; round < 3; round++) {
			CHECK_EQ(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED), 1);
			CHECK(exchange(&p, sizes, 3, round ? 100 : 0));
			CHECK_EQ(tls_conn_key_update(p.srv), 0);
			CHECK(exchange(&p, sizes, 3, 0));
			/* The client answered our request with its own KeyUpdate: data flows. */
			CHECK(exchange(&p, sizes, 3, 0));
		}
		CHECK_EQ(tls_conn_state(p.srv), TLS_OPEN);
		peer_free(&p);
	}
	tls_ctx_free(ctx);
}

/* The client's Finished and its first application records arrive in one segment; and a
 * HelloRetryRequest (server accepts X25519 only, client's first key share is P-256) with
 * middlebox-compatibility CCS records in the handshake. */
static void
handshake_edges(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	struct peer p;
	struct cli_opts o = {0};
	uint8_t buf[64];
	peer_init(&p, ctx, &o);
	int r = 0;
	for (int i = 0; i < 10 && r != 1; i++) {
		r = SSL_do_handshake(p.cli);
		if (r != 1) {
			c2s(&p, 0);
			s2c(&p);
		}
	}
	CHECK_EQ(r, 1);
	CHECK_EQ(tls_conn_state(p.srv), TLS_HANDSHAKE); /* Finished not delivered yet */
	CHECK_EQ(SSL_write(p.cli, "early-bird", 10), 10);
	c2s(&p, 0); /* Finished + data, one piece */
	CHECK_EQ(tls_conn_state(p.srv), TLS_OPEN);
	CHECK_EQ(tls_conn_offloaded(p.srv), 1);
	CHECK_EQ(tls_conn_read(p.srv, buf, sizeof(buf)), 10);
	CHECK(memcmp(buf, "early-bird", 10) == 0);
	peer_free(&p);

	CHECK_EQ(SSL_CTX_set1_groups_list(tls_ctx_ssl(ctx), "X25519"), 1);
	peer_init(&p, ctx, &o);
	SSL_set1_groups_list(p.cli, "P-256:X25519");
	CHECK(handshake(&p));
	/* X25519 although the client's first key share was P-256: the HRR round trip happened. */
	CHECK_EQ(SSL_get_negotiated_group(p.cli), NID_X25519);
	CHECK_EQ(tls_conn_offloaded(p.srv), 1);
	size_t sizes[] = {1, 16384, 2};
	CHECK(exchange(&p, sizes, 3, 50));
	peer_free(&p);
	tls_ctx_free(ctx);
}

/* A ticket from the first connection resumes the second (its tickets shift our sequence). */
static void
session_resumption(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	struct peer p, q;
	struct cli_opts o = {0};
	size_t sizes[] = {5, 5000};
	peer_init(&p, ctx, &o);
	CHECK(handshake(&p));
	CHECK(exchange(&p, sizes, 2, 0)); /* the client reads the tickets here */
	SSL_SESSION *s = SSL_get1_session(p.cli);
	CHECK(s != NULL && SSL_SESSION_is_resumable(s));
	o.resume = s;
	peer_init(&q, ctx, &o);
	CHECK(handshake(&q));
	CHECK_EQ(tls_conn_resumed(q.srv), 1);
	CHECK_EQ(SSL_session_reused(q.cli), 1);
	CHECK(exchange(&q, sizes, 2, 3));
	SSL_SESSION_free(s);
	peer_free(&p);
	peer_free(&q);
	tls_ctx_free(ctx);
}

static void
close_notify_both_ways(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	struct peer p, q;
	struct cli_opts o = {0};
	uint8_t buf[64];
	/* Client closes: we go PEER_CLOSED and answer with our close_notify. */
	peer_init(&p, ctx, &o);
	CHECK(handshake(&p));
	SSL_write(p.cli, "bye", 3);
	SSL_shutdown(p.cli);
	c2s(&p, 0);
	CHECK_EQ(tls_conn_state(p.srv), TLS_PEER_CLOSED);
	CHECK_EQ(tls_conn_read(p.srv, buf, sizeof(buf)), 3);
	CHECK_EQ(tls_conn_write(p.srv, "x", 1), -EPIPE);
	s2c(&p);
	CHECK_EQ(SSL_read(p.cli, buf, sizeof(buf)), 0);
	CHECK_EQ(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
	/* Server closes after its data. */
	peer_init(&q, ctx, &o);
	CHECK(handshake(&q));
	CHECK_EQ(tls_conn_write(q.srv, "last words", 10), 0);
	CHECK_EQ(tls_conn_close(q.srv), 0);
	s2c(&q);
	CHECK_EQ(SSL_read(q.cli, buf, sizeof(buf)), 10);
	CHECK_EQ(SSL_read(q.cli, buf, sizeof(buf)), 0);
	CHECK_EQ(SSL_get_shutdown(q.cli) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
	ERR_clear_error();
	peer_free(&p);
	peer_free(&q);
	tls_ctx_free(ctx);
}

/* A flipped bit anywhere in a record: bad_record_mac to the client, connection failed. */
static void
corrupted_record_rejected(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	static const int where[] = {0 /* header */, 5, 6, 30, -1 /* tag */};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct peer p;
		struct cli_opts o = {0};
		peer_init(&p, ctx, &o);
		CHECK(handshake(&p));
		SSL_write(p.cli, "hello, tampered world", 21);
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(p.cli), &d);
		int at = where[i] < 0 ? (int)n - 1 : where[i] == 0 ? 3 : where[i];
		d[at] ^= where[i] == 0 ? 0 : 0x01;
		if (where[i] ==
		    0) /* the header is the AAD: change the length's meaning is fatal too */
			d[2] ^= 0x01; /* legacy version 0x0302: authenticated, so the tag fails */
		c2s(&p, 0);
		uint8_t buf[64];
		CHECK_EQ(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
		CHECK_EQ(tls_conn_state(p.srv), TLS_FAILED);
		CHECK_EQ(tls_conn_alert(p.srv), 20);
		const uint8_t *out;
		size_t on = tls_conn_output(p.srv, &out);
		CHECK(on > 0);
		BIO_write(SSL_get_rbio(p.cli), out, (int)on);
		tls_conn_output_consume(p.srv, on);
		CHECK(SSL_read(p.cli, buf, sizeof(buf)) <= 0);
		CHECK_EQ(p.cli_alert, 20);
		CHECK_EQ(tls_conn_feed(p.srv, "x", 1), -EPIPE);
		ERR_clear_error();
		peer_free(&p);
	}
	tls_ctx_free(ctx);
}

/* Records that are not protected application data after the handshake are fatal. */
static void
malformed_records_rejected(void)
{
	static const struct {
		const char *name;
		uint8_t bytes[6];
		size_t n;
		int alert;
	} v[] = {
	        {"plaintext_ccs_after_handshake", {20, 3, 3, 0, 1, 1}, 6, 10},
	        {"plaintext_alert", {21, 3, 3, 0, 2, 2}, 6, 10},
	        {"record_overflow", {23, 3, 3, 0xff, 0xff, 0}, 5, 22},
	        {"record_too_short", {23, 3, 3, 0, 5, 0}, 5, 50},
	};
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct peer p;
		struct cli_opts o = {0};
		peer_init(&p, ctx, &o);
		int ok = handshake(&p);
		tls_conn_feed(p.srv, v[i].bytes, v[i].n);
		tls_decrypt_burst(eng, &p.srv, 1);
		ok &= tls_conn_state(p.srv) == TLS_FAILED && tls_conn_alert(p.srv) == v[i].alert;
		s2c(&p);
		uint8_t buf[8];
		ok &= SSL_read(p.cli, buf, sizeof(buf)) <= 0 && p.cli_alert == v[i].alert;
		ERR_clear_error();
		tap_result(ok, v[i].name);
		peer_free(&p);
	}
	tls_ctx_free(ctx);
}

static void
client_certificate(void)
{
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 2);
	struct peer p, q;
	struct cli_opts with = {.client_cert = 1}, without = {0};
	size_t sizes[] = {1, 100};
	peer_init(&p, ctx, &with);
	CHECK(handshake(&p));
	CHECK(tls_conn_peer_cn(p.srv) != NULL && strcmp(tls_conn_peer_cn(p.srv), "client-1") == 0);
	CHECK(exchange(&p, sizes, 2, 0));
	/* Required but absent: TLS 1.3 certificate_required (116) from the server. */
	peer_init(&q, ctx, &without);
	CHECK(!handshake(&q));
	CHECK_EQ(tls_conn_state(q.srv), TLS_FAILED);
	CHECK_EQ(tls_conn_alert(q.srv), 116);
	uint8_t buf[8];
	CHECK(SSL_read(q.cli, buf, sizeof(buf)) <= 0);
	CHECK_EQ(q.cli_alert, 116);
	ERR_clear_error();
	peer_free(&p);
	peer_free(&q);
	tls_ctx_free(ctx);
	/* Without client verification no identity is reported. */
	ctx = server_ctx(&certs, SRV_CRT, 0);
	peer_init(&p, ctx, &with);
	CHECK(handshake(&p));
	CHECK(tls_conn_peer_cn(p.srv) == NULL);
	peer_free(&p);
	tls_ctx_free(ctx);
}

/* A client that verifies refuses an expired or untrusted server certificate; the server sees
 * the client's alert and fails too. */
static void
bad_server_certificates_refused(void)
{
	static const struct {
		const char *name;
		int crt;
		long verify;
		int alert;
	} v[] = {
	        {"expired_server_cert_refused", EXPIRED_CRT, X509_V_ERR_CERT_HAS_EXPIRED, 45},
	        {"untrusted_server_cert_refused", UNTRUSTED_CRT,
	         X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 48},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct tls_ctx *ctx = server_ctx(&certs, v[i].crt, 0);
		struct peer p;
		struct cli_opts o = {0};
		peer_init(&p, ctx, &o);
		int ok = !handshake(&p);
		ok &= SSL_get_verify_result(p.cli) == v[i].verify;
		c2s(&p, 0); /* the client's alert */
		ok &= tls_conn_state(p.srv) == TLS_FAILED && tls_conn_alert(p.srv) == v[i].alert;
		if (!ok)
			printf("#   verify %ld alert %d state %d\n", SSL_get_verify_result(p.cli),
			       tls_conn_alert(p.srv), tls_conn_state(p.srv));
		ERR_clear_error();
		tap_result(ok, v[i].name);
		peer_free(&p);
		tls_ctx_free(ctx);
	}
}

static void
bad_config_reported(void)
{
	char err[256] = "";
	struct tls_ctx_conf conf = {.cert_file = "/nonexistent.crt",
	                            .key_file = cert_path(&certs, SRV_KEY)};
	CHECK(tls_ctx_new(&conf, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "certificate") != NULL);
	conf.cert_file = cert_path(&certs, CLI_CRT); /* key does not match */
	CHECK(tls_ctx_new(&conf, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "private key") != NULL);
}

/* The same cases with TLS 1.2 AES-GCM (records offloaded too). */
#define TLS12(fn)                                                                                  \
	static void fn##_tls12(void)                                                               \
	{                                                                                          \
		g_tls12 = 1;                                                                       \
		fn();                                                                              \
		g_tls12 = 0;                                                                       \
	}
TLS12(all_sizes_split_boundaries)
TLS12(burst_across_connections)
TLS12(session_resumption)
TLS12(close_notify_both_ways)
TLS12(corrupted_record_rejected)

int
main(void)
{
	certs_make(&certs);
	eng = tls_engine_new();
	suites();
	TEST(all_sizes_split_boundaries);
	TEST(burst_across_connections);
	TEST(handshake_budget);
	TEST(key_update_both_ways);
	TEST(handshake_edges);
	TEST(session_resumption);
	TEST(close_notify_both_ways);
	TEST(corrupted_record_rejected);
	malformed_records_rejected();
	TEST(client_certificate);
	bad_server_certificates_refused();
	TEST(all_sizes_split_boundaries_tls12);
	TEST(burst_across_connections_tls12);
	TEST(session_resumption_tls12);
	TEST(close_notify_both_ways_tls12);
	TEST(corrupted_record_rejected_tls12);
	TEST(bad_config_reported);
	tls_engine_free(eng);
	certs_remove(&certs);
	return tap_done();
}

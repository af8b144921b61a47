/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer driver for the TLS 1.3 receive path after the handshake (the bytes an attacker
 * controls). Each input gets a fresh connection (the first byte picks the TLS 1.3 suite),
 * handshaken with an in-process OpenSSL client whose write secret the harness learns from the
 * keylog callback, so it can also seal records of its own with arbitrary inner plaintext
 * (content type, padding, handshake messages). Then come operations [op][len:2 LE][data]:
 *
 * - op%4 == 0: raw bytes to tls_conn_feed, then a decrypt burst;
 * - op%4 == 1: seal data as the inner plaintext (type and padding included) and feed it split
 *   at data[0] % size; a sealed well-formed KeyUpdate rekeys the harness too;
 * - op%4 == 2: seal data as application data (the expected plaintext grows), fed whole;
 * - op%4 == 3: the server writes data (and asks for a KeyUpdate if data[0] is odd).
 *
 * Oracle (abort): while only ops 2, 3 and well-formed KeyUpdates were used, the connection stays
 * open and delivers the expected plaintext exactly; a failed connection refuses more input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "dataplane/tls/tls.h"
#include "tls_test_util.h"

static struct certs certs;
static struct tls_ctx *sctx;
static struct tls_engine *eng;
/* The three TLS 1.3 suites, chosen by the input's first byte. */
static const struct suite {
	const char *name;
	const EVP_MD *(*md)(void);
	const EVP_CIPHER *(*cipher)(void);
	size_t keylen;
} suites[] = {
        {"TLS_AES_128_GCM_SHA256", EVP_sha256, EVP_aes_128_gcm, 16},
        {"TLS_AES_256_GCM_SHA384", EVP_sha384, EVP_aes_256_gcm, 32},
        {"TLS_CHACHA20_POLY1305_SHA256", EVP_sha256, EVP_chacha20_poly1305, 32},
};
static SSL_CTX *cctx[3];

struct harness {
	const struct suite *su;
	SSL *cli;
	struct tls_conn *srv;
	uint8_t secret[48];
	int have_secret;
	uint8_t key[32], iv[12];
	uint64_t seq;
};

static struct harness *cur;

static void
keylog(const SSL *ssl, const char *line)
{
	(void)ssl;
	if (cur == NULL || strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) != 0)
		return;
	const char *h = strchr(line + 24, ' ');
	for (int i = 0; h != NULL && i < EVP_MD_get_size(cur->su->md()); i++)
		sscanf(h + 1 + 2 * i, "%2hhx", &cur->secret[i]);
	cur->have_secret = h != NULL;
}

/* HKDF-Expand-Label, one block (OpenSSL's HMAC: independent of the code under test). */
static void
expand_label(const struct suite *su, const uint8_t *secret, const char *label, uint8_t *out,
             size_t len)
{
	uint8_t info[64] = {0, (uint8_t)len}, t[64];
	unsigned tl = sizeof(t);
	/* HkdfLabel: length, "tls13 " + label, empty context; then T(1)'s counter byte. */
	int ll = snprintf((char *)info + 3, sizeof(info) - 3, "tls13 %s", label);
	info[2] = (uint8_t)ll;
	info[3 + ll] = 0;
	info[4 + ll] = 1;
	HMAC(su->md(), secret, EVP_MD_get_size(su->md()), info, (size_t)ll + 5, t, &tl);
	memcpy(out, t, len);
}

static void
install(struct harness *h)
{
	expand_label(h->su, h->secret, "key", h->key, h->su->keylen);
	expand_label(h->su, h->secret, "iv", h->iv, 12);
	h->seq = 0;
}

/* Seal inner plaintext into a TLS 1.3 record at out; returns its length. */
static size_t
seal(struct harness *h, const uint8_t *inner, size_t n, uint8_t *out)
{
	uint8_t nonce[12];
	int l;
	memcpy(nonce, h->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(h->seq >> (8 * i));
	h->seq++;
	size_t body = n + 16;
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(x, h->su->cipher(), NULL, h->key, nonce);
	EVP_EncryptUpdate(x, NULL, &l, out, 5);
	EVP_EncryptUpdate(x, out + 5, &l, inner, (int)n);
	EVP_EncryptFinal_ex(x, out + 5 + n, &l);
	EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n);
	EVP_CIPHER_CTX_free(x);
	return 5 + body;
}

static void
feed(struct harness *h, const uint8_t *d, size_t n)
{
	if (n != 0 && tls_conn_feed(h->srv, d, n) == -EPIPE && tls_conn_state(h->srv) != TLS_FAILED)
		abort();
	tls_decrypt_burst(eng, &h->srv, 1);
}

static int
handshake(struct harness *h)
{
	for (int i = 0; i < 10 && tls_conn_state(h->srv) == TLS_HANDSHAKE; i++) {
		SSL_do_handshake(h->cli);
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(h->cli), &d);
		feed(h, (const uint8_t *)d, (size_t)n);
		(void)BIO_reset(SSL_get_wbio(h->cli));
		const uint8_t *o;
		size_t on = tls_conn_output(h->srv, &o);
		BIO_write(SSL_get_rbio(h->cli), o, (int)on);
		tls_conn_output_consume(h->srv, on);
	}
	return tls_conn_state(h->srv) == TLS_OPEN && h->have_secret;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
cleanup(void)
{
	tls_ctx_free(sctx);
	tls_engine_free(eng);
	for (int i = 0; i < 3; i++)
		SSL_CTX_free(cctx[i]);
	certs_remove(&certs);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	certs_make(&certs);
	sctx = server_ctx(&certs, SRV_CRT, 0);
	eng = tls_engine_new();
	for (int i = 0; i < 3; i++) {
		cctx[i] = SSL_CTX_new(TLS_client_method());
		if (cctx[i] == NULL)
			abort();
		SSL_CTX_set_min_proto_version(cctx[i], TLS1_3_VERSION);
		SSL_CTX_set_ciphersuites(cctx[i], suites[i].name);
		SSL_CTX_set_verify(cctx[i], SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_keylog_callback(cctx[i], keylog);
	}
	if (sctx == NULL || eng == NULL)
		abort();
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[5 + 65536 + 16], got[1 << 20], want[1 << 20];
	struct harness h = {0};
	size_t nwant = 0, ngot = 0;
	int clean = 1;

	if (size == 0)
		return 0;
	h.su = &suites[data[0] % 3]; /* first byte: the suite */
	data++;
	size--;
	cur = &h;
	h.cli = SSL_new(cctx[h.su - suites]);
	SSL_set_connect_state(h.cli);
	SSL_set_bio(h.cli, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	BIO_set_mem_eof_return(SSL_get_rbio(h.cli), -1);
	h.srv = tls_conn_new(sctx);
	if (!handshake(&h))
		abort();
	install(&h);
	for (size_t off = 0; off + 3 <= size;) {
		uint8_t op = data[off] % 4;
		size_t n = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		const uint8_t *d = data + off + 3;
		if (n > size - off - 3)
			n = size - off - 3;
		off += 3 + n;
		if (op == 0) {
			clean = 0;
			feed(&h, d, n);
		} else if (op == 1) {
			/* A well-formed KeyUpdate keeps the oracle: data must flow after it. */
			int key_update = n == 6 && d[0] == 24 && d[1] == 0 && d[2] == 0 &&
			                 d[3] == 1 && d[4] <= 1 && d[5] == 22;
			clean &= key_update;
			size_t len = seal(&h, d, n, rec), cut = n ? d[0] % (len + 1) : 0;
			feed(&h, rec, cut);
			feed(&h, rec + cut, len - cut);
			if (key_update) {
				uint8_t next[48];
				size_t hl = (size_t)EVP_MD_get_size(h.su->md());
				expand_label(h.su, h.secret, "traffic upd", next, hl);
				memcpy(h.secret, next, hl);
				install(&h);
			}
		} else if (op == 2) {
			uint8_t inner[16385];
			if (n > 16384)
				n = 16384;
			if (n != 0)
				memcpy(inner, d, n);
			inner[n] = 23;
			if (nwant + n > sizeof(want))
				clean = 0; /* beyond what the oracle records */
			else if (n != 0)
				memcpy(want + nwant, d, n);
			nwant += n;
			feed(&h, rec, seal(&h, inner, n + 1, rec));
		} else {
			tls_conn_write(h.srv, d, n);
			if (n != 0 && (d[0] & 1))
				tls_conn_key_update(h.srv);
			tls_encrypt_burst(eng, &h.srv, 1);
			const uint8_t *o;
			tls_conn_output_consume(h.srv, tls_conn_output(h.srv, &o));
		}
		ngot += tls_conn_read(h.srv, got + ngot, sizeof(got) - ngot);
	}
	if (clean && (tls_conn_state(h.srv) != TLS_OPEN || ngot != nwant ||
	              (nwant && memcmp(got, want, nwant) != 0)))
		abort();
	if (tls_conn_state(h.srv) == TLS_FAILED && tls_conn_feed(h.srv, "x", 1) != -EPIPE)
		abort();
	tls_conn_free(h.srv);
	SSL_free(h.cli);
	cur = NULL;
	ERR_clear_error();
	return 0;
}

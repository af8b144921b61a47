/* SPDX-License-Identifier: Apache-2.0
 * TLS server: OpenSSL handshake over memory BIOs, records on ipsec-mb bursts.
 *
 * Life of a connection: records received during the handshake are handed to OpenSSL one whole
 * record at a time, so OpenSSL never reads past the client's Finished and everything after it is
 * ours. TLS 1.3: the keylog callback delivers CLIENT/SERVER_TRAFFIC_SECRET_0; when the handshake
 * completes, the records OpenSSL wrote in that last step (NewSessionTickets, already protected
 * with the server application key) are counted to get our first sequence number. TLS 1.2
 * AEAD suites: the key block is derived from the master secret, and the records each side sent
 * after its ChangeCipherSpec give the sequence numbers. Then the SSL object is freed (stateless
 * tickets and the context's session cache keep resumption working). From then on record protection
 * is ours: see tls_decrypt_burst() and tls_encrypt_burst().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dataplane/tls/tls.h"
#include "mqtt/mqtt_auth_hmac.h"

#define REC_HDR       5
#define TAG_LEN       16
#define IV_LEN        12
#define MAX_CT        (TLS_MAX_PLAIN + 256) /* RFC 8446 5.2 */
#define FEED_LIMIT    (256 * 1024)
#define RECS_PER_CONN 64
#define BURST         IMB_MAX_BURST_SIZE
/* RFC 8446 5.5: AES-GCM keys must be rotated before 2^24.5 records. */
#define REKEY_AT (1ull << 24)

/* TLS 1.3 cipher suites we protect ourselves (IANA ids). */
#define SUITE_AES128   0x1301
#define SUITE_AES256   0x1302
#define SUITE_CHACHA20 0x1303

#define CT_CHANGE_CIPHER_SPEC 20
#define CT_ALERT              21
#define CT_HANDSHAKE          22
#define CT_APPDATA            23
#define HS_KEY_UPDATE         24

#define AL_CLOSE_NOTIFY       0
#define AL_UNEXPECTED_MESSAGE 10
#define AL_BAD_RECORD_MAC     20
#define AL_RECORD_OVERFLOW    22
#define AL_DECODE_ERROR       50
#define AL_NO_RENEGOTIATION   100
#define AL_INTERNAL_ERROR     80

struct tls_buf {
	uint8_t *p;
	size_t off, len, cap;
};

/* One direction's record protection. */
struct tls_dir {
	union {
		struct gcm_key_data gcm; /* AES-GCM: expanded; 64-byte aligned: keep first */
		uint8_t raw[32];         /* ChaCha20-Poly1305: the key itself */
	} key;
	uint8_t secret[48];
	uint8_t iv[IV_LEN];
	uint64_t seq;
	uint8_t have_secret;
};

struct tls_ctx {
	SSL_CTX *ssl;
	unsigned max_record;
};

struct tls_conn {
	struct tls_dir rx, tx;
	struct tls_ctx *ctx;
	SSL *ssl; /* NULL once the record layer is offloaded */
	BIO *rbio, *wbio;
	struct tls_buf in, out, app_in, app_out;
	enum tls_state state;
	int alert;
	int version;
	uint16_t suite;
	uint8_t offload;
	uint8_t tls12;  /* TLS 1.2 framing (RFC 5288 AES-GCM, RFC 7905 ChaCha20-Poly1305) */
	uint8_t chacha; /* ChaCha20-Poly1305 (TLS 1.3 or 1.2), else AES-GCM */
	uint8_t keylen, hashlen;
	/* TLS 1.2: records after each side's ChangeCipherSpec give the first sequence numbers. */
	uint8_t rx_ccs, tx_ccs;
	uint8_t rx_after_ccs, tx_after_ccs;
	uint8_t resumed;
	uint8_t close_pending, close_sent;
	uint8_t update_pending; /* app asked for a KeyUpdate */
	uint8_t touched;        /* for burst return counts */
	uint8_t recs_this_call;
	char *peer_cn;
};

/* A record in flight inside a burst. */
struct rec {
	struct tls_conn *c;
	const uint8_t *src;
	uint8_t *dst;
	const uint8_t *aad;
	uint8_t *tag;
	uint32_t len;  /* bytes to cipher (without tag) */
	uint32_t wire; /* whole record on the wire */
	uint8_t aadlen;
	uint8_t type;       /* TLS 1.2: the record's content type */
	uint8_t aadbuf[13]; /* TLS 1.2: seq_num, type, version, length */
	uint8_t iv[IV_LEN];
	uint8_t tagbuf[TAG_LEN];
	int status;
};

struct tls_engine {
	IMB_MGR *mgr;
	unsigned hs_budget; /* connections whose handshake may advance per decrypt call; 0: all */
	unsigned hs_left;
	unsigned n;
	struct rec recs[BURST];
};

/* ---- buffers: memory exists only while bytes are in flight ----------------------------- */

/* Emptied buffers of the standard size go to a small per-thread cache instead of free(): a
 * connection's buffers are released after every burst, and returning megabytes to malloc per
 * poll cycle made glibc trim and fault pages back in (3x slower at 16 KiB records). Bounded:
 * BUF_CACHE_MAX blocks (2 MiB) per thread. */
#define BUF_BLOCK     (32 * 1024)
#define BUF_CACHE_MAX 64

static __thread void *buf_cache[BUF_CACHE_MAX];
static __thread unsigned buf_cached;

static void
buf_release(uint8_t *p, size_t cap)
{
	if (p != NULL && cap == BUF_BLOCK && buf_cached < BUF_CACHE_MAX)
		buf_cache[buf_cached++] = p;
	else
		free(p);
}

static int
buf_reserve(struct tls_buf *b, size_t n)
{
	if (b->cap - b->off - b->len >= n)
		return 0;
	if (b->off != 0 && b->cap - b->len >= n) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		return 0;
	}
	size_t cap = b->cap ? b->cap * 2 : BUF_BLOCK;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = cap == BUF_BLOCK && buf_cached ? buf_cache[--buf_cached] : malloc(cap);
	if (p == NULL)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->p + b->off, b->len);
	buf_release(b->p, b->cap);
	b->p = p;
	b->cap = cap;
	b->off = 0;
	return 0;
}

/* NULL for a buffer without memory (NULL + 0 is undefined behaviour in C). */
static uint8_t *
buf_data(const struct tls_buf *b)
{
	return b->p != NULL ? b->p + b->off : NULL;
}

static uint8_t *
buf_tail(const struct tls_buf *b)
{
	return b->p != NULL ? b->p + b->off + b->len : NULL;
}

static int
buf_append(struct tls_buf *b, const void *d, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(buf_tail(b), d, n);
	b->len += n;
	return 0;
}

static void
buf_consume(struct tls_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0) {
		buf_release(b->p, b->cap);
		memset(b, 0, sizeof(*b));
	}
}

static void
buf_free(struct tls_buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->cap);
	buf_release(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}

/* ---- OpenSSL glue ---------------------------------------------------------------------- */

static int
unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (; s[0] && s[1] && s[0] != ' ' && n < max; s += 2) {
		int v = 0;
		for (int i = 0; i < 2; i++) {
			char ch = s[i];
			int d = ch >= '0' && ch <= '9'   ? ch - '0'
			        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
			                                 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		out[n++] = (uint8_t)v;
	}
	return (int)n;
}

/* "LABEL <client_random> <secret>": keep the first application traffic secrets. */
static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	struct tls_dir *d = NULL;

	if (c == NULL)
		return;
	if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		d = &c->tx;
	else if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		d = &c->rx;
	if (d == NULL)
		return;
	const char *sp = strchr(line + 24, ' ');
	int n = sp ? unhex(sp + 1, d->secret, sizeof(d->secret)) : -1;
	d->have_secret = n == 32 || n == 48;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct tls_conn *c = SSL_get_app_data(ssl);

	if (c != NULL && (where & SSL_CB_ALERT) && (ret & 0xff) != AL_CLOSE_NOTIFY)
		c->alert = ret & 0xff;
}

struct tls_ctx *
tls_ctx_new(const struct tls_ctx_conf *conf, char *err, size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *why = NULL;

	if (ctx == NULL)
		return NULL;
	ctx->max_record = conf->max_record && conf->max_record < TLS_MAX_PLAIN ? conf->max_record
	                                                                       : TLS_MAX_PLAIN;
	ctx->ssl = SSL_CTX_new(TLS_server_method());
	if (ctx->ssl == NULL) {
		why = "SSL_CTX_new";
		goto fail;
	}
	SSL_CTX *s = ctx->ssl;
	SSL_CTX_set_min_proto_version(s, conf->min_version ? conf->min_version : TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                               SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_max_early_data(s, 0);
	SSL_CTX_set_session_id_context(s, (const unsigned char *)"tachyon", 7);
	SSL_CTX_set_keylog_callback(s, keylog_cb);
	SSL_CTX_set_info_callback(s, info_cb);
	if (!SSL_CTX_set_ciphersuites(s, conf->ciphersuites
	                                         ? conf->ciphersuites
	                                         : "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	                                           "TLS_CHACHA20_POLY1305_SHA256")) {
		why = "bad TLS 1.3 cipher suites";
		goto fail;
	}
	if (!SSL_CTX_set_cipher_list(s, conf->cipher_list ? conf->cipher_list
	                                                  : "ECDHE+AESGCM:ECDHE+CHACHA20")) {
		why = "bad TLS 1.2 cipher list";
		goto fail;
	}
	if (conf->cert_file == NULL || conf->key_file == NULL ||
	    SSL_CTX_use_certificate_chain_file(s, conf->cert_file) != 1) {
		why = "cannot load the certificate chain";
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(s, conf->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s) != 1) {
		why = "cannot load the private key (or it does not match the certificate)";
		goto fail;
	}
	if (conf->verify_client) {
		STACK_OF(X509_NAME) *names =
		        conf->ca_file ? SSL_load_client_CA_file(conf->ca_file) : NULL;
		if (names == NULL || SSL_CTX_load_verify_locations(s, conf->ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			why = "cannot load the client CA file";
			goto fail;
		}
		SSL_CTX_set_client_CA_list(s, names);
		SSL_CTX_set_verify(
		        s,
		        SSL_VERIFY_PEER |
		                (conf->verify_client > 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		        NULL);
	}
	return ctx;
fail:
	if (err != NULL && errlen != 0) {
		char ossl[200] = "";
		unsigned long e = ERR_peek_last_error();
		if (e != 0)
			ERR_error_string_n(e, ossl, sizeof(ossl));
		snprintf(err, errlen, "tls: %s%s%s", why, e ? ": " : "", ossl);
	}
	ERR_clear_error();
	SSL_CTX_free(ctx->ssl);
	free(ctx);
	errno = EINVAL;
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

SSL_CTX *
tls_ctx_ssl(struct tls_ctx *ctx)
{
	return ctx->ssl;
}

struct tls_engine *
tls_engine_new(void)
{
	struct tls_engine *e = aligned_alloc(64, (sizeof(*e) + 63) & ~(size_t)63);
	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->mgr = alloc_mb_mgr(0);
	if (e->mgr == NULL) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	init_mb_mgr_auto(e->mgr, NULL);
	if (imb_get_errno(e->mgr) != 0) {
		free_mb_mgr(e->mgr);
		free(e);
		errno = ENOTSUP;
		return NULL;
	}
	return e;
}

void
tls_engine_set_handshake_budget(struct tls_engine *e, unsigned max_per_call)
{
	e->hs_budget = max_per_call;
}

void
tls_engine_free(struct tls_engine *e)
{
	if (e == NULL)
		return;
	free_mb_mgr(e->mgr);
	free(e);
	/* The lcore is done with TLS: return its cached buffers. */
	while (buf_cached != 0)
		free(buf_cache[--buf_cached]);
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx)
{
	struct tls_conn *c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (c == NULL)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->ctx = ctx;
	c->alert = -1;
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	BIO_set_mem_eof_return(c->rbio, -1); /* empty means "want more", not EOF */
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	SSL_set_accept_state(c->ssl);
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->app_in);
	buf_free(&c->app_out);
	free(c->peer_cn);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

enum tls_state
tls_conn_state(const struct tls_conn *c)
{
	return c->state;
}

int
tls_conn_alert(const struct tls_conn *c)
{
	return c->alert;
}

int
tls_conn_offloaded(const struct tls_conn *c)
{
	return c->offload;
}

int
tls_conn_version(const struct tls_conn *c)
{
	return c->version;
}

uint16_t
tls_conn_suite(const struct tls_conn *c)
{
	return c->suite;
}

const char *
tls_conn_peer_cn(const struct tls_conn *c)
{
	return c->peer_cn;
}

int
tls_conn_resumed(const struct tls_conn *c)
{
	return c->resumed;
}

int
tls_conn_feed(struct tls_conn *c, const void *data, size_t len)
{
	if (c->state == TLS_FAILED)
		return -EPIPE;
	if (c->state == TLS_PEER_CLOSED)
		return 0; /* after close_notify nothing is read (RFC 8446 6.1): drop, do not store
		           */
	if (c->in.len + len > FEED_LIMIT + MAX_CT)
		return -ENOBUFS;
	return buf_append(&c->in, data, len);
}

size_t
tls_conn_output(struct tls_conn *c, const uint8_t **data)
{
	*data = buf_data(&c->out);
	return c->out.len;
}

void
tls_conn_output_consume(struct tls_conn *c, size_t n)
{
	buf_consume(&c->out, n < c->out.len ? n : c->out.len);
}

int
tls_conn_write(struct tls_conn *c, const void *data, size_t len)
{
	if (c->state == TLS_FAILED || c->state == TLS_PEER_CLOSED || c->close_pending)
		return -EPIPE;
	return buf_append(&c->app_out, data, len);
}

size_t
tls_conn_input(struct tls_conn *c, const uint8_t **data)
{
	*data = buf_data(&c->app_in);
	return c->app_in.len;
}

void
tls_conn_input_consume(struct tls_conn *c, size_t n)
{
	buf_consume(&c->app_in, n < c->app_in.len ? n : c->app_in.len);
}

size_t
tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	size_t n = c->app_in.len < len ? c->app_in.len : len;
	if (n == 0)
		return 0;
	memcpy(buf, buf_data(&c->app_in), n);
	tls_conn_input_consume(c, n);
	return n;
}

int
tls_conn_close(struct tls_conn *c)
{
	if (c->state == TLS_FAILED)
		return -EPIPE;
	c->close_pending = 1;
	return 0;
}

int
tls_conn_key_update(struct tls_conn *c)
{
	if (c->state != TLS_OPEN)
		return -ENOTCONN;
	if (!c->offload || c->tls12)
		return -ENOTSUP;
	c->update_pending = 1;
	return 0;
}

size_t
tls_conn_unsealed(const struct tls_conn *c)
{
	return c->app_out.len;
}

/* Length of the complete record at the head of in, 0 if incomplete. */
static size_t
next_record(const struct tls_conn *c)
{
	const uint8_t *p = buf_data(&c->in);
	if (c->in.len < REC_HDR)
		return 0;
	size_t n = REC_HDR + ((size_t)p[3] << 8 | p[4]);
	return c->in.len >= n ? n : 0;
}

int
tls_conn_has_records(const struct tls_conn *c)
{
	return c->state != TLS_FAILED && next_record(c) != 0;
}

/* ---- key schedule (RFC 8446 7.1, 7.2, 7.3) --------------------------------------------- */

static int
hkdf_expand_label(IMB_MGR *mgr, const struct tls_conn *c, const uint8_t *secret, const char *label,
                  uint8_t *out, size_t len)
{
	struct mqtt_hmac_key k;
	uint8_t info[64], t[MQTT_HMAC_MAX_LEN];
	size_t ll = strlen(label), n = 0;
	enum mqtt_hmac_alg alg = c->hashlen == 48 ? MQTT_HMAC_SHA384 : MQTT_HMAC_SHA256;

	/* Every label here needs one HKDF block: len <= hash length. */
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0; /* empty context */
	info[n++] = 1; /* HKDF-Expand counter T(1) */
	int rc = mqtt_hmac_key_init(mgr, &k, alg, secret, c->hashlen);
	if (rc == 0)
		rc = mqtt_hmac(mgr, &k, info, n, t);
	if (rc == 0)
		memcpy(out, t, len);
	explicit_bzero(&k, sizeof(k));
	explicit_bzero(t, sizeof(t));
	return rc;
}

/* Install d->secret: write key and IV, reset the sequence number. */
static int
dir_install(IMB_MGR *mgr, const struct tls_conn *c, struct tls_dir *d)
{
	uint8_t key[32];
	int rc = hkdf_expand_label(mgr, c, d->secret, "key", key, c->keylen);
	if (rc == 0)
		rc = hkdf_expand_label(mgr, c, d->secret, "iv", d->iv, IV_LEN);
	if (rc == 0) {
		if (c->chacha)
			memcpy(d->key.raw, key, sizeof(d->key.raw));
		else if (c->keylen == 16)
			IMB_AES128_GCM_PRE(mgr, key, &d->key.gcm);
		else
			IMB_AES256_GCM_PRE(mgr, key, &d->key.gcm);
	}
	d->seq = 0;
	explicit_bzero(key, sizeof(key));
	return rc;
}

/* application_traffic_secret_N+1 (RFC 8446 7.2) */
static int
dir_update(IMB_MGR *mgr, const struct tls_conn *c, struct tls_dir *d)
{
	uint8_t next[48];
	int rc = hkdf_expand_label(mgr, c, d->secret, "traffic upd", next, c->hashlen);
	if (rc == 0) {
		memcpy(d->secret, next, c->hashlen);
		rc = dir_install(mgr, c, d);
	}
	explicit_bzero(next, sizeof(next));
	return rc;
}

static void
nonce(const struct tls_dir *d, uint64_t seq, uint8_t out[IV_LEN])
{
	memcpy(out, d->iv, IV_LEN);
	for (int i = 0; i < 8; i++)
		out[IV_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* One AEAD job: AES-GCM or ChaCha20-Poly1305, 5-byte header as AAD, 16-byte tag. */
static void
aead_job(IMB_JOB *j, const struct tls_conn *c, const struct tls_dir *d, const struct rec *r,
         int encrypt)
{
	j->enc_keys = &d->key;
	j->dec_keys = &d->key;
	j->key_len_in_bytes = c->keylen;
	j->src = r->src;
	j->dst = r->dst;
	j->cipher_start_src_offset_in_bytes = 0;
	j->msg_len_to_cipher_in_bytes = r->len;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = r->len;
	j->iv = r->iv;
	j->iv_len_in_bytes = IV_LEN;
	j->auth_tag_output = r->tag;
	j->auth_tag_output_len_in_bytes = TAG_LEN;
	if (c->chacha) {
		j->u.CHACHA20_POLY1305.aad = r->aad;
		j->u.CHACHA20_POLY1305.aad_len_in_bytes = r->aadlen;
		j->u.CHACHA20_POLY1305.ctx = NULL;
		j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
		j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
	} else {
		j->u.GCM.aad = r->aad;
		j->u.GCM.aad_len_in_bytes = r->aadlen;
		j->u.GCM.ctx = NULL;
		j->cipher_mode = IMB_CIPHER_GCM;
		j->hash_alg = IMB_AUTH_AES_GMAC;
	}
	j->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
	j->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
	j->user_data = (void *)(uintptr_t)r;
}

/* Submit e->recs[0..n) as one ipsec-mb burst; each rec gets its job status. */
static void
run_burst(struct tls_engine *e, int encrypt)
{
	IMB_JOB *jobs[BURST];
	unsigned n = e->n, got, done;

	if (n == 0)
		return;
	got = IMB_GET_NEXT_BURST(e->mgr, n, jobs);
	if (got < n) {
		/* The queue holds leftovers of an earlier burst: drain them. */
		while (IMB_FLUSH_BURST(e->mgr, BURST, jobs) != 0)
			;
		got = IMB_GET_NEXT_BURST(e->mgr, n, jobs);
	}
	for (unsigned i = 0; i < n; i++)
		e->recs[i].status = IMB_STATUS_INVALID_ARGS;
	if (got < n) {
		e->n = 0;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rec *r = &e->recs[i];
		aead_job(jobs[i], r->c, encrypt ? &r->c->tx : &r->c->rx, r, encrypt);
	}
	done = IMB_SUBMIT_BURST(e->mgr, n, jobs);
	for (;;) {
		for (unsigned i = 0; i < done; i++)
			((struct rec *)jobs[i]->user_data)->status = jobs[i]->status;
		if (done == 0 && imb_get_errno(e->mgr) != 0)
			break;
		done = IMB_FLUSH_BURST(e->mgr, BURST, jobs);
		if (done == 0)
			break;
	}
	e->n = 0;
}

/* Bytes a record adds around its content. */
static size_t
tx_overhead(const struct tls_conn *c)
{
	/* TLS 1.3: inner type byte; TLS 1.2 AES-GCM: explicit nonce; TLS 1.2 ChaCha: nothing. */
	return REC_HDR + (c->tls12 ? (c->chacha ? 0 : 8) : 1) + TAG_LEN;
}

/* RFC 5246 6.2.3.3: seq_num || type || version || length. */
static void
tls12_aad(uint8_t aad[13], uint64_t seq, uint8_t type, size_t len)
{
	for (int i = 0; i < 8; i++)
		aad[i] = (uint8_t)(seq >> (56 - 8 * i));
	aad[8] = type;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = (uint8_t)(len >> 8);
	aad[12] = (uint8_t)len;
}

/* Frame one record at h around content (copied in) and prepare its job in r; takes the next
 * write sequence number. TLS 1.3: outer type application_data, inner type byte, nonce = iv ^
 * seq, AAD = header. TLS 1.2 (RFC 5288): real outer type, explicit nonce = seq, nonce = salt ||
 * explicit, AAD = seq || type || version || length. Returns the record's size on the wire. */
static size_t
frame_tx(struct tls_conn *c, uint8_t *h, uint8_t type, const uint8_t *content, size_t n,
         struct rec *r)
{
	size_t wire = tx_overhead(c) + n, body = wire - REC_HDR;
	uint64_t seq = c->tx.seq++;
	uint8_t *p = h + REC_HDR;

	h[0] = c->tls12 ? type : CT_APPDATA;
	h[1] = 3;
	h[2] = 3;
	h[3] = (uint8_t)(body >> 8);
	h[4] = (uint8_t)body;
	r->c = c;
	if (c->tls12) {
		tls12_aad(r->aadbuf, seq, type, n);
		if (c->chacha) {
			nonce(&c->tx, seq, r->iv); /* RFC 7905: iv ^ seq, as TLS 1.3 */
		} else {
			memcpy(p, r->aadbuf,
			       8); /* explicit nonce: the sequence number, as OpenSSL */
			memcpy(r->iv, c->tx.iv, 4);
			memcpy(r->iv + 4, p, 8);
			p += 8;
		}
		r->aad = r->aadbuf;
		r->aadlen = 13;
		r->len = (uint32_t)n;
	} else {
		nonce(&c->tx, seq, r->iv);
		p[n] = type;
		r->aad = h;
		r->aadlen = REC_HDR;
		r->len = (uint32_t)(n + 1);
	}
	if (n != 0)
		memcpy(p, content, n);
	r->src = r->dst = p;
	r->tag = p + r->len;
	r->wire = (uint32_t)wire;
	return wire;
}

/* Seal one record outside a burst (alerts, KeyUpdate: rare), through the job API: the burst
 * queue is always empty here. */
static int
seal_now(IMB_MGR *mgr, struct tls_conn *c, uint8_t type, const uint8_t *content, size_t n)
{
	struct rec r;

	if (buf_reserve(&c->out, tx_overhead(c) + n) < 0)
		return -ENOMEM;
	size_t wire = frame_tx(c, buf_tail(&c->out), type, content, n, &r);
	IMB_JOB *j = IMB_GET_NEXT_JOB(mgr);
	aead_job(j, c, &c->tx, &r, 1);
	j = IMB_SUBMIT_JOB(mgr);
	while (j == NULL && (j = IMB_FLUSH_JOB(mgr)) == NULL)
		;
	if (j->status != IMB_STATUS_COMPLETED)
		return -EIO;
	c->out.len += wire;
	c->touched = 1;
	return 0;
}

/* Fatal error: send the alert (protected once offloaded) and stop the connection. */
static void
fail(IMB_MGR *mgr, struct tls_conn *c, int alert)
{
	if (c->state == TLS_FAILED)
		return;
	if (c->offload) {
		uint8_t a[2] = {2 /* fatal */, (uint8_t)alert};
		seal_now(mgr, c, CT_ALERT, a, 2);
	}
	c->alert = alert;
	c->state = TLS_FAILED;
	c->touched = 1;
}

/* Our KeyUpdate, then switch our write key (RFC 8446 4.6.3). */
static int
send_key_update(IMB_MGR *mgr, struct tls_conn *c, int request)
{
	uint8_t m[5] = {HS_KEY_UPDATE, 0, 0, 1, (uint8_t)(request ? 1 : 0)};
	int rc = seal_now(mgr, c, CT_HANDSHAKE, m, sizeof(m));
	return rc ? rc : dir_update(mgr, c, &c->tx);
}

/* ---- OpenSSL-driven phases --------------------------------------------------------------- */

static void
drain_wbio(struct tls_conn *c)
{
	size_t pend;

	while ((pend = BIO_ctrl_pending(c->wbio)) != 0) {
		if (buf_reserve(&c->out, pend) < 0)
			return;
		int r = BIO_read(c->wbio, buf_tail(&c->out), (int)pend);
		if (r <= 0)
			return;
		c->out.len += (size_t)r;
		c->touched = 1;
	}
}

static void
peer_identity(struct tls_conn *c)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);
	char cn[256];

	if (x == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return;
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	if (n > 0 && (size_t)n == strlen(cn))
		c->peer_cn = strdup(cn);
}

/* TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label || seed) on ipsec-mb HMAC. */
static int
tls12_prf(IMB_MGR *mgr, enum mqtt_hmac_alg alg, const uint8_t *secret, size_t slen,
          const char *label, const uint8_t *seed, size_t seedlen, uint8_t *out, size_t len)
{
	struct mqtt_hmac_key k;
	uint8_t ls[96], a[MQTT_HMAC_MAX_LEN], blk[MQTT_HMAC_MAX_LEN + 96], t[MQTT_HMAC_MAX_LEN];
	size_t hl = mqtt_hmac_len(alg), ll = strlen(label), lsl = ll + seedlen;
	int rc;

	if (lsl > sizeof(ls))
		return -EINVAL;
	memcpy(ls, label, ll);
	memcpy(ls + ll, seed, seedlen);
	rc = mqtt_hmac_key_init(mgr, &k, alg, secret, slen);
	if (rc == 0)
		rc = mqtt_hmac(mgr, &k, ls, lsl, a); /* A(1) */
	/* Cost: two HMACs per hash-length block of output. */
	for (size_t off = 0; rc == 0 && off < len; off += hl) {
		memcpy(blk, a, hl);
		memcpy(blk + hl, ls, lsl);
		rc = mqtt_hmac(mgr, &k, blk, hl + lsl, t);
		if (rc == 0) {
			memcpy(out + off, t, len - off < hl ? len - off : hl);
			rc = mqtt_hmac(mgr, &k, a, hl, a); /* A(i+1) */
		}
	}
	explicit_bzero(&k, sizeof(k));
	explicit_bzero(t, sizeof(t));
	explicit_bzero(blk, sizeof(blk));
	return rc;
}

/* TLS 1.2 AES-GCM: key block from the master secret (RFC 5246 6.3, RFC 5288 3). 1 when the
 * records are ours, 0 when OpenSSL keeps them (other ciphers), -errno. */
static int
tls12_take_over(IMB_MGR *mgr, struct tls_conn *c)
{
	const SSL_CIPHER *cs = SSL_get_current_cipher(c->ssl);
	int nid = SSL_CIPHER_get_cipher_nid(cs);
	const EVP_MD *md = SSL_CIPHER_get_handshake_digest(cs);
	uint8_t master[48], rnd[64], kb[2 * 32 + 2 * IV_LEN];
	int rc;

	if ((nid != NID_aes_128_gcm && nid != NID_aes_256_gcm && nid != NID_chacha20_poly1305) ||
	    md == NULL ||
	    SSL_SESSION_get_master_key(SSL_get_session(c->ssl), master, sizeof(master)) !=
	            sizeof(master))
		return 0;
	c->keylen = nid == NID_aes_128_gcm ? 16 : 32;
	c->chacha = nid == NID_chacha20_poly1305;
	c->hashlen = (uint8_t)EVP_MD_get_size(md);
	size_t ivl = c->chacha ? IV_LEN : 4; /* fixed IV: full nonce base, or the GCM salt */
	SSL_get_server_random(c->ssl, rnd, 32);
	SSL_get_client_random(c->ssl, rnd + 32, 32);
	size_t k = c->keylen;
	rc = tls12_prf(mgr, c->hashlen == 48 ? MQTT_HMAC_SHA384 : MQTT_HMAC_SHA256, master,
	               sizeof(master), "key expansion", rnd, sizeof(rnd), kb, 2 * k + 2 * ivl);
	if (rc == 0) {
		/* client_write_key, server_write_key, client_write_IV, server_write_IV */
		if (c->chacha) {
			memcpy(c->rx.key.raw, kb, 32);
			memcpy(c->tx.key.raw, kb + 32, 32);
		} else if (k == 16) {
			IMB_AES128_GCM_PRE(mgr, kb, &c->rx.key.gcm);
			IMB_AES128_GCM_PRE(mgr, kb + k, &c->tx.key.gcm);
		} else {
			IMB_AES256_GCM_PRE(mgr, kb, &c->rx.key.gcm);
			IMB_AES256_GCM_PRE(mgr, kb + k, &c->tx.key.gcm);
		}
		memcpy(c->rx.iv, kb + 2 * k, ivl);
		memcpy(c->tx.iv, kb + 2 * k + ivl, ivl);
		/* Each side's Finished (and any record after its CCS) used sequence numbers. */
		c->rx.seq = c->rx_after_ccs;
		c->tx.seq = c->tx_after_ccs;
		c->tls12 = 1;
	}
	explicit_bzero(master, sizeof(master));
	explicit_bzero(kb, sizeof(kb));
	return rc < 0 ? rc : 1;
}

/* TLS 1.3: keys from the traffic secrets; the records OpenSSL wrote after its Finished (session
 * tickets, in the output of the last handshake step) used our write key. */
static int
tls13_take_over(IMB_MGR *mgr, struct tls_conn *c, size_t out_before)
{
	if ((c->suite != SUITE_AES128 && c->suite != SUITE_AES256 && c->suite != SUITE_CHACHA20) ||
	    !c->rx.have_secret || !c->tx.have_secret)
		return 0;
	c->keylen = c->suite == SUITE_AES128 ? 16 : 32;
	c->hashlen = c->suite == SUITE_AES256 ? 48 : 32;
	c->chacha = c->suite == SUITE_CHACHA20;
	if (dir_install(mgr, c, &c->rx) < 0 || dir_install(mgr, c, &c->tx) < 0)
		return -EIO;
	const uint8_t *p = buf_data(&c->out);
	for (size_t off = out_before; off + REC_HDR <= c->out.len;
	     off += REC_HDR + ((size_t)p[off + 3] << 8 | p[off + 4]))
		c->tx.seq++;
	return 1;
}

/* Handshake complete: take over the record layer where we can, else leave it to OpenSSL. */
static void
handshake_done(struct tls_engine *e, struct tls_conn *c, size_t out_before)
{
	int rc = 0;

	c->version = SSL_version(c->ssl);
	c->suite = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(c->ssl));
	c->resumed = (uint8_t)SSL_session_reused(c->ssl);
	peer_identity(c);
	c->state = TLS_OPEN;
	if (BIO_ctrl_pending(c->rbio) != 0)
		return; /* cannot happen: whole records are fed one at a time */
	if (c->version == TLS1_3_VERSION)
		rc = tls13_take_over(e->mgr, c, out_before);
	else if (c->version == TLS1_2_VERSION)
		rc = tls12_take_over(e->mgr, c);
	if (rc < 0) {
		fail(e->mgr, c, AL_INTERNAL_ERROR);
		return;
	}
	if (rc == 0)
		return;
	c->offload = 1;
	SSL_free(c->ssl); /* frees both BIOs; the keys stay in c->rx/tx only */
	c->ssl = NULL;
	c->rbio = c->wbio = NULL;
}

/* TLS 1.2 sequence numbers: count records each side sent after its ChangeCipherSpec. */
static void
count_after_ccs(const uint8_t *p, size_t len, uint8_t *ccs, uint8_t *after)
{
	for (size_t off = 0; off + REC_HDR <= len;
	     off += REC_HDR + ((size_t)p[off + 3] << 8 | p[off + 4])) {
		if (*ccs)
			(*after)++;
		if (p[off] == CT_CHANGE_CIPHER_SPEC)
			*ccs = 1;
	}
}

/* Feed whole records to OpenSSL until the handshake completes or needs more. */
static void
handshake_step(struct tls_engine *e, struct tls_conn *c)
{
	size_t n;

	if (c->ssl == NULL)
		return;
	while (c->state == TLS_HANDSHAKE && (n = next_record(c)) != 0) {
		if (BIO_write(c->rbio, buf_data(&c->in), (int)n) != (int)n) {
			fail(e->mgr, c, AL_INTERNAL_ERROR);
			return;
		}
		count_after_ccs(buf_data(&c->in), n, &c->rx_ccs, &c->rx_after_ccs);
		buf_consume(&c->in, n);
		size_t before = c->out.len;
		int r = SSL_do_handshake(c->ssl);
		drain_wbio(c);
		if (c->out.len > before)
			count_after_ccs(buf_data(&c->out) + before, c->out.len - before, &c->tx_ccs,
			                &c->tx_after_ccs);
		if (r == 1) {
			handshake_done(e, c, before);
		} else if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
			c->state = TLS_FAILED; /* OpenSSL wrote its alert into out */
			if (c->alert < 0)
				c->alert = AL_INTERNAL_ERROR;
			ERR_clear_error();
		}
		c->touched = 1;
	}
}

static void
ossl_read(struct tls_conn *c)
{
	if (c->in.len != 0) {
		if (BIO_write(c->rbio, buf_data(&c->in), (int)c->in.len) != (int)c->in.len) {
			c->state = TLS_FAILED;
			return;
		}
		buf_consume(&c->in, c->in.len);
		c->touched = 1;
	}
	for (;;) {
		if (buf_reserve(&c->app_in, TLS_MAX_PLAIN) < 0)
			break;
		int r = SSL_read(c->ssl, buf_tail(&c->app_in), TLS_MAX_PLAIN);
		if (r > 0) {
			c->app_in.len += (size_t)r;
			c->touched = 1;
			continue;
		}
		int err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_ZERO_RETURN) {
			c->state = TLS_PEER_CLOSED;
			SSL_shutdown(c->ssl);
			c->close_sent = 1;
			c->touched = 1;
		} else if (err != SSL_ERROR_WANT_READ) {
			c->state = TLS_FAILED;
			c->touched = 1;
			ERR_clear_error();
		}
		break;
	}
	if (c->app_in.len == 0)
		buf_consume(&c->app_in, 0);
	drain_wbio(c);
}

static void
ossl_write(struct tls_conn *c)
{
	while (c->app_out.len != 0 && c->state == TLS_OPEN) {
		size_t n =
		        c->app_out.len < c->ctx->max_record ? c->app_out.len : c->ctx->max_record;
		int r = SSL_write(c->ssl, buf_data(&c->app_out), (int)n);
		if (r <= 0) {
			c->state = TLS_FAILED;
			ERR_clear_error();
			break;
		}
		buf_consume(&c->app_out, (size_t)r);
	}
	if (c->close_pending && !c->close_sent && c->app_out.len == 0 && c->state == TLS_OPEN) {
		SSL_shutdown(c->ssl);
		c->close_sent = 1;
	}
	drain_wbio(c);
}

/* ---- offloaded records: receive ---------------------------------------------------------- */

/* Queue this connection's complete records (up to the burst room). Returns how many. */
static unsigned
gather_rx(struct tls_engine *e, struct tls_conn *c)
{
	const uint8_t *base = buf_data(&c->in);
	size_t off = 0, plain = 0;
	unsigned k = 0, room = BURST - e->n;

	if (room > (unsigned)(RECS_PER_CONN - c->recs_this_call))
		room = RECS_PER_CONN - c->recs_this_call;
	/* First pass: validate headers and size the plaintext reservation. */
	while (k < room && off + REC_HDR <= c->in.len) {
		const uint8_t *h = base + off;
		size_t len = (size_t)h[3] << 8 | h[4];
		/* TLS 1.3 protects every type inside application_data records (RFC 8446 5.2);
		 * TLS 1.2 carries alerts and handshakes under their own types. */
		bool type_ok = h[0] == CT_APPDATA ||
		               (c->tls12 && (h[0] == CT_ALERT || h[0] == CT_HANDSHAKE));
		if (!type_ok || h[1] != 3 || len > MAX_CT || len < tx_overhead(c) - REC_HDR) {
			if (k == 0)
				fail(e->mgr, c,
				     len > MAX_CT ? AL_RECORD_OVERFLOW
				     : !type_ok   ? AL_UNEXPECTED_MESSAGE
				                  : AL_DECODE_ERROR);
			break;
		}
		if (off + REC_HDR + len > c->in.len)
			break;
		plain += len - TAG_LEN;
		off += REC_HDR + len;
		k++;
	}
	if (k == 0 || buf_reserve(&c->app_in, plain) < 0)
		return 0;
	/* Second pass: one job per record, plaintext laid out after app_in's data. */
	uint8_t *dst = buf_tail(&c->app_in);
	off = 0;
	for (unsigned i = 0; i < k; i++) {
		struct rec *r = &e->recs[e->n++];
		const uint8_t *h = base + off;
		size_t len = (size_t)h[3] << 8 | h[4];
		r->c = c;
		r->wire = (uint32_t)(REC_HDR + len);
		r->dst = dst;
		r->tag = r->tagbuf;
		r->type = h[0];
		if (c->tls12) {
			uint64_t seq = c->rx.seq + i;
			size_t explicit = c->chacha ? 0 : 8;
			r->src = h + REC_HDR + explicit;
			r->len = (uint32_t)(len - explicit - TAG_LEN);
			if (c->chacha) {
				nonce(&c->rx, seq, r->iv);
			} else {
				memcpy(r->iv, c->rx.iv, 4);
				memcpy(r->iv + 4, h + REC_HDR, 8);
			}
			tls12_aad(r->aadbuf, seq, h[0], r->len);
			/* The version as received, like OpenSSL: a changed header fails the tag. */
			r->aadbuf[9] = h[1];
			r->aadbuf[10] = h[2];
			r->aad = r->aadbuf;
			r->aadlen = 13;
		} else {
			r->src = h + REC_HDR;
			r->len = (uint32_t)(len - TAG_LEN);
			nonce(&c->rx, c->rx.seq + i, r->iv);
			r->aad = h;
			r->aadlen = REC_HDR;
		}
		dst += r->len;
		off += r->wire;
	}
	c->recs_this_call = (uint8_t)(c->recs_this_call + k);
	return k;
}

/* Post-handshake handshake messages: only KeyUpdate is accepted from a client. */
static int
rx_handshake(IMB_MGR *mgr, struct tls_conn *c, const uint8_t *m, size_t n)
{
	if (n != 5 || m[0] != HS_KEY_UPDATE || m[1] != 0 || m[2] != 0 || m[3] != 1 || m[4] > 1)
		return AL_UNEXPECTED_MESSAGE;
	if (dir_update(mgr, c, &c->rx) < 0)
		return AL_INTERNAL_ERROR;
	/* update_requested: answer once with our own KeyUpdate (not requesting). */
	if (m[4] == 1 && send_key_update(mgr, c, 0) < 0)
		return AL_INTERNAL_ERROR;
	return 0;
}

/* Open the records of one connection in order: recs[first..last). Stops at a key change (the
 * records behind it were opened with the old key: they stay in c->in for the next pass). */
static void
finish_rx(struct tls_engine *e, struct rec *recs, unsigned cnt)
{
	struct tls_conn *c = recs[0].c;
	uint8_t *w = buf_tail(&c->app_in);
	size_t consumed = 0;

	for (unsigned i = 0; i < cnt && c->state == TLS_OPEN; i++) {
		struct rec *r = &recs[i];
		int alert = 0;
		if (r->status != IMB_STATUS_COMPLETED) {
			fail(e->mgr, c, AL_INTERNAL_ERROR);
			break;
		}
		if (mqtt_ct_memcmp(r->tagbuf, r->src + r->len, TAG_LEN) != 0) {
			fail(e->mgr, c, AL_BAD_RECORD_MAC);
			break;
		}
		c->rx.seq++;
		consumed += r->wire;
		/* Content type: TLS 1.2 the header's; TLS 1.3 the last non-zero byte of the inner
		 * plaintext (RFC 8446 5.4). */
		size_t n = r->len;
		uint8_t type = r->type;
		if (!c->tls12) {
			while (n > 0 && r->dst[n - 1] == 0)
				n--;
			type = n ? r->dst[--n] : 0;
		}
		if (n > TLS_MAX_PLAIN) {
			alert = AL_RECORD_OVERFLOW;
		} else if (type == CT_APPDATA) {
			if (w != r->dst) /* records after the first shift by their overhead */
				memmove(w, r->dst, n);
			w += n;
			c->app_in.len += n;
		} else if (type == CT_ALERT && n == 2) {
			if (r->dst[1] == AL_CLOSE_NOTIFY) {
				c->state = TLS_PEER_CLOSED;
				if (!c->close_sent) {
					uint8_t a[2] = {1, AL_CLOSE_NOTIFY};
					seal_now(e->mgr, c, CT_ALERT, a, 2);
					c->close_sent = 1;
				}
			} else {
				c->alert = r->dst[1];
				c->state = TLS_FAILED;
			}
		} else if (type == CT_HANDSHAKE && c->tls12) {
			alert = AL_NO_RENEGOTIATION; /* SSL_OP_NO_RENEGOTIATION, as OpenSSL would */
		} else if (type == CT_HANDSHAKE) {
			alert = rx_handshake(e->mgr, c, r->dst, n);
			if (alert == 0) {
				i = cnt; /* key changed: stop this group */
			}
		} else {
			alert = AL_UNEXPECTED_MESSAGE;
		}
		if (alert)
			fail(e->mgr, c, alert);
	}
	c->touched = 1;
	buf_consume(&c->in, consumed);
	if (c->app_in.len == 0)
		buf_consume(&c->app_in, 0);
}

static void
finish_rx_burst(struct tls_engine *e, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;
		while (j < n && e->recs[j].c == e->recs[i].c)
			j++;
		finish_rx(e, &e->recs[i], j - i);
		i = j;
	}
}

unsigned
tls_decrypt_burst(struct tls_engine *e, struct tls_conn *const *conns, unsigned n)
{
	unsigned touched = 0;

	for (unsigned i = 0; i < n; i++) {
		conns[i]->touched = 0;
		conns[i]->recs_this_call = 0;
	}
	e->hs_left = e->hs_budget;
	/* Passes repeat only for connections that rekeyed or overflowed the burst; each pass
	 * opens at least one record or stops. Cost: O(records) per call. */
	for (int pass = 0; pass < RECS_PER_CONN; pass++) {
		unsigned queued = 0;
		for (unsigned i = 0; i < n; i++) {
			struct tls_conn *c = conns[i];
			/* Handshakes cost public-key operations (~0.5 ms): a budget per call keeps
			 * a handshake storm from delaying established connections in this burst. */
			if (c->state == TLS_HANDSHAKE && next_record(c) != 0 &&
			    (e->hs_budget == 0 || e->hs_left != 0)) {
				e->hs_left -= e->hs_budget != 0;
				handshake_step(e, c);
			}
			if (c->state != TLS_OPEN)
				continue;
			if (!c->offload) {
				if (pass == 0)
					ossl_read(c);
				continue;
			}
			if (e->n == BURST) {
				unsigned m = e->n;
				run_burst(e, 0);
				finish_rx_burst(e, m);
			}
			queued += gather_rx(e, c);
		}
		unsigned m = e->n;
		run_burst(e, 0);
		finish_rx_burst(e, m);
		if (queued == 0)
			break;
	}
	for (unsigned i = 0; i < n; i++)
		touched += conns[i]->touched;
	return touched;
}

/* ---- offloaded records: send ----------------------------------------------------------- */

static unsigned
gather_tx(struct tls_engine *e, struct tls_conn *c)
{
	unsigned room = BURST - e->n, k = 0;
	size_t maxrec = c->ctx->max_record, total = 0, left = c->app_out.len;

	if (room > (unsigned)(RECS_PER_CONN - c->recs_this_call))
		room = RECS_PER_CONN - c->recs_this_call;
	for (size_t l = left; l != 0 && k < room; k++) {
		size_t m = l < maxrec ? l : maxrec;
		total += tx_overhead(c) + m;
		l -= m;
	}
	if (k == 0 || buf_reserve(&c->out, total) < 0)
		return 0;
	const uint8_t *src = buf_data(&c->app_out);
	uint8_t *h = buf_tail(&c->out);
	size_t taken = 0;
	for (unsigned i = 0; i < k; i++) {
		size_t m = left - taken < maxrec ? left - taken : maxrec;
		h += frame_tx(c, h, CT_APPDATA, src + taken, m, &e->recs[e->n++]);
		taken += m;
	}
	/* Records are committed now; a failed job fails the connection in finish_tx. */
	c->out.len += total;
	c->recs_this_call = (uint8_t)(c->recs_this_call + k);
	buf_consume(&c->app_out, taken);
	c->touched = 1;
	return k;
}

static void
finish_tx(struct tls_engine *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (e->recs[i].status != IMB_STATUS_COMPLETED)
			fail(e->mgr, e->recs[i].c, AL_INTERNAL_ERROR);
}

unsigned
tls_encrypt_burst(struct tls_engine *e, struct tls_conn *const *conns, unsigned n)
{
	unsigned touched = 0;

	for (unsigned i = 0; i < n; i++) {
		struct tls_conn *c = conns[i];
		c->touched = 0;
		c->recs_this_call = 0;
		if (c->state != TLS_OPEN)
			continue;
		if (!c->offload) {
			ossl_write(c);
			continue;
		}
		if (!c->tls12 && (c->update_pending || c->tx.seq >= REKEY_AT)) {
			c->update_pending = 0;
			if (send_key_update(e->mgr, c, 1) < 0) {
				fail(e->mgr, c, AL_INTERNAL_ERROR);
				continue;
			}
		}
		/* At most RECS_PER_CONN records per call. Jobs point into c->out, so the burst
		 * is submitted before c->out may grow again. */
		while (c->app_out.len != 0 && c->state == TLS_OPEN) {
			if (e->n == BURST) {
				unsigned m = e->n;
				run_burst(e, 1);
				finish_tx(e, m);
			}
			if (gather_tx(e, c) == 0 || c->recs_this_call >= RECS_PER_CONN)
				break;
			if (c->app_out.len != 0) {
				unsigned m = e->n;
				run_burst(e, 1);
				finish_tx(e, m);
			}
		}
	}
	unsigned m = e->n;
	run_burst(e, 1);
	finish_tx(e, m);
	/* close_notify goes after the data just sealed (it reserves out: after the burst). */
	for (unsigned i = 0; i < n; i++) {
		struct tls_conn *c = conns[i];
		if (c->offload && c->state == TLS_OPEN && c->close_pending && !c->close_sent &&
		    c->app_out.len == 0) {
			uint8_t a[2] = {1, AL_CLOSE_NOTIFY};
			seal_now(e->mgr, c, CT_ALERT, a, 2);
			c->close_sent = 1;
		}
		touched += c->touched;
	}
	return touched;
}

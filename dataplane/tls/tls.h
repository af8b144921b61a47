/* SPDX-License-Identifier: Apache-2.0
 * TLS server side for connections on our own TCP stack, transport-agnostic.
 *
 * OpenSSL runs the handshake over memory BIOs (no sockets). Then the record layer leaves OpenSSL:
 * for TLS 1.3 the traffic secrets come from the keylog callback and keys and IVs are derived with
 * HKDF-Expand-Label (HMAC on ipsec-mb); for TLS 1.2 AEAD suites the key block comes from the master
 * secret with the TLS 1.2 PRF. Records are sealed and opened with ipsec-mb AEAD jobs (AES-GCM,
 * ChaCha20-Poly1305) submitted in bursts across many connections (tls_decrypt_burst,
 * tls_encrypt_burst). Non-AEAD TLS 1.2 ciphers, if configured, keep OpenSSL's record layer
 * behind the same calls. Design notes: docs/security.md.
 *
 * Byte flow for one connection (the dataplane sits between tcpstack and mqtt):
 *   TCP payload -> tls_conn_feed()  ...tls_decrypt_burst()...  tls_conn_read()  -> MQTT parser
 *   MQTT output -> tls_conn_write() ...tls_encrypt_burst()...  tls_conn_output() -> TCP send
 * Handshake bytes appear on tls_conn_output() after tls_decrypt_burst() too. A connection, its
 * context and its engine belong to one thread (lcore); contexts are read-only after creation and
 * may be shared by all lcores.
 *
 * Return contract: constructors return NULL and set errno; bursts return a count; the rest
 * return 0 (or a byte count) or -errno.
 */
#ifndef DP_TLS_H
#define DP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TLS_MAX_PLAIN 16384 /* RFC 8446 5.1: 2^14 */

struct tls_ctx_conf {
	const char *cert_file;    /* PEM certificate chain (leaf first) */
	const char *key_file;     /* PEM private key */
	const char *ca_file;      /* PEM CAs for client certificates; NULL: none requested */
	int verify_client;        /* 0 no client cert, 1 request (optional), 2 require */
	const char *ciphersuites; /* TLS 1.3 suites (OpenSSL syntax); NULL: AES-GCM then ChaCha */
	const char *cipher_list;  /* TLS 1.2 ciphers; NULL: ECDHE with AEAD only */
	int min_version;          /* TLS1_2_VERSION (default when 0) or TLS1_3_VERSION */
	unsigned max_record;      /* plaintext bytes per record we send; 0: 16384 */
};

struct tls_ctx;
struct tls_conn;
struct tls_engine;

/* A server context (certificate, key, CA, suites). NULL + errno, err says why. */
struct tls_ctx *tls_ctx_new(const struct tls_ctx_conf *conf, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);
/* The underlying SSL_CTX, e.g. to tune session tickets; do not change the keylog callback. */
SSL_CTX *tls_ctx_ssl(struct tls_ctx *ctx);

/* Per-lcore engine: the ipsec-mb manager and the job arrays of the bursts. Freeing it also
 * frees the calling thread's cache of idle buffers. */
struct tls_engine *tls_engine_new(void);
void tls_engine_free(struct tls_engine *e);

/* At most max_per_call connections advance their handshake in one tls_decrypt_burst (0, the
 * default: no limit). The others keep their records (tls_conn_has_records() stays 1) for the
 * next call, while established connections are served in full: a handshake storm then costs each
 * poll cycle a bounded ~0.5 ms * max_per_call. */
void tls_engine_set_handshake_budget(struct tls_engine *e, unsigned max_per_call);

enum tls_state {
	TLS_HANDSHAKE,   /* handshake in progress */
	TLS_OPEN,        /* application data both ways */
	TLS_PEER_CLOSED, /* peer sent close_notify; we answered; read what is left then close */
	TLS_FAILED,      /* fatal error: an alert may be on tls_conn_output(); then close TCP */
};

struct tls_conn *tls_conn_new(struct tls_ctx *ctx);
void tls_conn_free(struct tls_conn *c);

enum tls_state tls_conn_state(const struct tls_conn *c);
/* The alert we sent or received (RFC 8446 6: e.g. 20 bad_record_mac), or -1. */
int tls_conn_alert(const struct tls_conn *c);
/* 1 when records are sealed/opened by ipsec-mb, 0 when OpenSSL keeps them. */
int tls_conn_offloaded(const struct tls_conn *c);
/* TLS version (TLS1_3_VERSION, ...) and IANA cipher suite id, valid once open. */
int tls_conn_version(const struct tls_conn *c);
uint16_t tls_conn_suite(const struct tls_conn *c);
/* Subject CN of a verified client certificate (to use as the MQTT username), else NULL. */
const char *tls_conn_peer_cn(const struct tls_conn *c);
/* 1 when the session was resumed from a ticket. */
int tls_conn_resumed(const struct tls_conn *c);

/* Ciphertext from TCP (copied). 0, -ENOBUFS when more than 256 KiB + a record is unprocessed
 * (stop reading from TCP until a burst consumed it), -EPIPE after failure. After the peer's
 * close_notify input is discarded. */
int tls_conn_feed(struct tls_conn *c, const void *data, size_t len);

/* Ciphertext for TCP: a contiguous view of pending bytes (len 0 if none), then consume what TCP
 * accepted. */
size_t tls_conn_output(struct tls_conn *c, const uint8_t **data);
void tls_conn_output_consume(struct tls_conn *c, size_t n);

/* Plaintext to send (copied); sealed by the next tls_encrypt_burst. 0 or -EPIPE/-ENOMEM. */
int tls_conn_write(struct tls_conn *c, const void *data, size_t len);

/* Plaintext received: contiguous view, then consume. */
size_t tls_conn_input(struct tls_conn *c, const uint8_t **data);
void tls_conn_input_consume(struct tls_conn *c, size_t n);

/* Copying convenience: up to len plaintext bytes into buf; returns bytes copied. */
size_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);

/* Queue close_notify after pending data (sent by the next tls_encrypt_burst). */
int tls_conn_close(struct tls_conn *c);

/* Queue a KeyUpdate (update_requested) so both directions rekey; done automatically before a
 * key's record limit. -ENOTSUP when OpenSSL keeps the record layer (it rekeys on its own). */
int tls_conn_key_update(struct tls_conn *c);

/* Process received ciphertext of n connections (each at most once in conns): handshake records go
 * to OpenSSL, TLS 1.3 application records are opened in ipsec-mb bursts (up to 128 records per
 * submission, any mix of connections). Returns the number of connections with new plaintext, a
 * state change, or new output. Cost: O(records + bytes); at most 64 records per connection per
 * call. */
unsigned tls_decrypt_burst(struct tls_engine *e, struct tls_conn *const *conns, unsigned n);

/* Seal queued plaintext (and pending KeyUpdate/close_notify) of n connections into records on
 * tls_conn_output(). Returns the number of connections with new output. At most 64 records per
 * connection per call. */
unsigned tls_encrypt_burst(struct tls_engine *e, struct tls_conn *const *conns, unsigned n);

/* Bytes of plaintext still queued for sealing (a connection needs another encrypt burst). */
size_t tls_conn_unsealed(const struct tls_conn *c);
/* Complete records still waiting to be opened (another decrypt burst is needed). */
int tls_conn_has_records(const struct tls_conn *c);

#ifdef __cplusplus
}
#endif

#endif

/* SPDX-License-Identifier: Apache-2.0
 * HMAC-SHA256/384/512 on ipsec-mb, shared by the password hasher (PBKDF2-HMAC-SHA512), the
 * credential cache (HMAC-SHA256) and the TLS record layer (HKDF-Expand-Label).
 *
 * ipsec-mb 1.3 has no imb_hmac_ipad_opad(): a key is prepared the way DPDK's aesni_mb PMD does it,
 * by running one compression block over key^ipad and key^opad (IMB_SHAxxx_ONE_BLOCK); a job then
 * needs only those two states, so one prepared key serves any number of messages.
 *
 * Not thread-safe per IMB_MGR: each thread uses its own manager (mqtt_auth_imb()).
 */
#ifndef MQTT_AUTH_HMAC_H
#define MQTT_AUTH_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include <intel-ipsec-mb.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mqtt_hmac_alg {
	MQTT_HMAC_SHA256,
	MQTT_HMAC_SHA384,
	MQTT_HMAC_SHA512,
};

#define MQTT_HMAC_MAX_LEN 64

/* A prepared HMAC key: the inner and outer hash states after one block. */
struct mqtt_hmac_key {
	uint8_t ipad[64] __attribute__((aligned(16)));
	uint8_t opad[64] __attribute__((aligned(16)));
	enum mqtt_hmac_alg alg;
};

/* The calling thread's ipsec-mb manager, created on first use (NULL + errno on failure). */
IMB_MGR *mqtt_auth_imb(void);

/* Release the calling thread's manager (optional, at thread exit). */
void mqtt_auth_imb_release(void);

/* Digest length of alg in bytes (32, 48 or 64). */
size_t mqtt_hmac_len(enum mqtt_hmac_alg alg);

/* Prepare key (any length; longer than a block is hashed first). 0 or -errno. */
int mqtt_hmac_key_init(IMB_MGR *mgr, struct mqtt_hmac_key *k, enum mqtt_hmac_alg alg,
                       const void *key, size_t keylen);

/* Fill an ipsec-mb job computing HMAC(k, msg) into out (mqtt_hmac_len(k->alg) bytes). */
void mqtt_hmac_job(IMB_JOB *job, const struct mqtt_hmac_key *k, const void *msg, size_t len,
                   uint8_t *out);

/* IMB_AUTH_HMAC_SHA_xxx of alg, for IMB_SUBMIT_HASH_BURST. */
IMB_HASH_ALG mqtt_hmac_imb_alg(enum mqtt_hmac_alg alg);

/* One HMAC now. 0 or -errno (-EIO if ipsec-mb reports a job error). */
int mqtt_hmac(IMB_MGR *mgr, const struct mqtt_hmac_key *k, const void *msg, size_t len,
              uint8_t *out);

/* Compare n bytes in time independent of their contents: 0 when equal. */
int mqtt_ct_memcmp(const void *a, const void *b, size_t n);

#ifdef __cplusplus
}
#endif

#endif

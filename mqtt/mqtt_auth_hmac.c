/* SPDX-License-Identifier: Apache-2.0
 * HMAC on ipsec-mb: key preparation, job filling, one-shot helper, thread-local manager.
 */
#include <errno.h>
#include <string.h>

#include "mqtt/mqtt_auth_hmac.h"

static __thread IMB_MGR *tl_mgr;

IMB_MGR *
mqtt_auth_imb(void)
{
	if (tl_mgr != NULL)
		return tl_mgr;
	IMB_MGR *m = alloc_mb_mgr(0);
	if (m == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	init_mb_mgr_auto(m, NULL);
	if (imb_get_errno(m) != 0) {
		free_mb_mgr(m);
		errno = ENOTSUP;
		return NULL;
	}
	tl_mgr = m;
	return m;
}

void
mqtt_auth_imb_release(void)
{
	if (tl_mgr != NULL)
		free_mb_mgr(tl_mgr);
	tl_mgr = NULL;
}

size_t
mqtt_hmac_len(enum mqtt_hmac_alg alg)
{
	switch (alg) {
	case MQTT_HMAC_SHA256:
		return 32;
	case MQTT_HMAC_SHA384:
		return 48;
	default:
		return 64;
	}
}

static size_t
block_len(enum mqtt_hmac_alg alg)
{
	return alg == MQTT_HMAC_SHA256 ? 64 : 128;
}

IMB_HASH_ALG
mqtt_hmac_imb_alg(enum mqtt_hmac_alg alg)
{
	switch (alg) {
	case MQTT_HMAC_SHA256:
		return IMB_AUTH_HMAC_SHA_256;
	case MQTT_HMAC_SHA384:
		return IMB_AUTH_HMAC_SHA_384;
	default:
		return IMB_AUTH_HMAC_SHA_512;
	}
}

static void
hash_full(IMB_MGR *mgr, enum mqtt_hmac_alg alg, const void *in, size_t len, uint8_t *out)
{
	switch (alg) {
	case MQTT_HMAC_SHA256:
		IMB_SHA256(mgr, in, len, out);
		break;
	case MQTT_HMAC_SHA384:
		IMB_SHA384(mgr, in, len, out);
		break;
	default:
		IMB_SHA512(mgr, in, len, out);
		break;
	}
}

static void
one_block(IMB_MGR *mgr, enum mqtt_hmac_alg alg, const uint8_t *blk, uint8_t *state)
{
	switch (alg) {
	case MQTT_HMAC_SHA256:
		IMB_SHA256_ONE_BLOCK(mgr, blk, state);
		break;
	case MQTT_HMAC_SHA384:
		IMB_SHA384_ONE_BLOCK(mgr, blk, state);
		break;
	default:
		IMB_SHA512_ONE_BLOCK(mgr, blk, state);
		break;
	}
}

int
mqtt_hmac_key_init(IMB_MGR *mgr, struct mqtt_hmac_key *k, enum mqtt_hmac_alg alg, const void *key,
                   size_t keylen)
{
	uint8_t kb[128] __attribute__((aligned(16)));
	uint8_t blk[128] __attribute__((aligned(16)));
	size_t bl = block_len(alg);

	if (mgr == NULL || k == NULL || (key == NULL && keylen != 0))
		return -EINVAL;
	memset(kb, 0, sizeof(kb));
	if (keylen > bl)
		hash_full(mgr, alg, key, keylen, kb);
	else if (keylen != 0)
		memcpy(kb, key, keylen);
	k->alg = alg;
	/* Cost: two compression-function calls, independent of the key length (after hashing). */
	for (size_t i = 0; i < bl; i++)
		blk[i] = kb[i] ^ 0x36;
	one_block(mgr, alg, blk, k->ipad);
	for (size_t i = 0; i < bl; i++)
		blk[i] = kb[i] ^ 0x5c;
	one_block(mgr, alg, blk, k->opad);
	/* The raw key must not linger on the stack. */
	explicit_bzero(kb, sizeof(kb));
	explicit_bzero(blk, sizeof(blk));
	return 0;
}

void
mqtt_hmac_job(IMB_JOB *job, const struct mqtt_hmac_key *k, const void *msg, size_t len,
              uint8_t *out)
{
	memset(job, 0, sizeof(*job));
	job->cipher_mode = IMB_CIPHER_NULL;
	job->cipher_direction = IMB_DIR_ENCRYPT;
	job->chain_order = IMB_ORDER_HASH_CIPHER;
	job->hash_alg = mqtt_hmac_imb_alg(k->alg);
	job->src = msg;
	job->hash_start_src_offset_in_bytes = 0;
	job->msg_len_to_hash_in_bytes = len;
	job->auth_tag_output = out;
	job->auth_tag_output_len_in_bytes = mqtt_hmac_len(k->alg);
	job->u.HMAC._hashed_auth_key_xor_ipad = k->ipad;
	job->u.HMAC._hashed_auth_key_xor_opad = k->opad;
}

int
mqtt_hmac(IMB_MGR *mgr, const struct mqtt_hmac_key *k, const void *msg, size_t len, uint8_t *out)
{
	IMB_JOB job;

	/* ipsec-mb rejects a NULL source even for an empty message. */
	static const uint8_t empty;
	mqtt_hmac_job(&job, k, len ? msg : &empty, len, out);
	if (IMB_SUBMIT_HASH_BURST(mgr, &job, 1, job.hash_alg) != 1 ||
	    job.status != IMB_STATUS_COMPLETED)
		return -EIO;
	return 0;
}

int
mqtt_ct_memcmp(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d != 0;
}

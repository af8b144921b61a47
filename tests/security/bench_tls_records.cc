// SPDX-License-Identifier: Apache-2.0
// TLS 1.3 record throughput: ipsec-mb AES-128-GCM (and ChaCha20-Poly1305) bursts vs OpenSSL EVP,
// records of 64, 1024 and 16384 bytes, 64 connections (one key each) per round.
//   raw_*   : the AEAD alone (5-byte AAD, 12-byte nonce, 16-byte tag), as each record layer does it
//   tls_*   : whole record layers: tls_encrypt_burst over 64 offloaded connections vs SSL_write
//             on 64 OpenSSL connections (memory BIOs); framing and copies included
// Run: build/tests/security/bench_tls_records [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "dataplane/tls/tls.h"
#include "mqtt/mqtt_auth_hmac.h"
#include "tls_test_util.h"

namespace
{

constexpr int kConns = 64;

struct Records {
	explicit Records(size_t size) : len(size), buf(kConns), iv(kConns), tag(kConns)
	{
		for (int i = 0; i < kConns; i++) {
			buf[i].assign(size + 16, static_cast<uint8_t>(i));
			iv[i].assign(12, static_cast<uint8_t>(i + 1));
			tag[i].assign(16, 0);
		}
	}
	size_t len;
	std::vector<std::vector<uint8_t>> buf, iv, tag;
	uint8_t aad[5] = {23, 3, 3, 0, 0};
};

void
RawIpsecMb(benchmark::State &state, IMB_CIPHER_DIRECTION dir, bool chacha)
{
	IMB_MGR *mgr = alloc_mb_mgr(0);
	init_mb_mgr_auto(mgr, nullptr);
	std::vector<gcm_key_data> keys(kConns);
	std::vector<std::vector<uint8_t>> raw(kConns);
	for (int i = 0; i < kConns; i++) {
		raw[i].assign(32, static_cast<uint8_t>(i));
		IMB_AES128_GCM_PRE(mgr, raw[i].data(), &keys[i]);
	}
	Records r(static_cast<size_t>(state.range(0)));
	IMB_JOB *jobs[kConns];
	for (auto _ : state) {
		unsigned got = IMB_GET_NEXT_BURST(mgr, kConns, jobs);
		if (got < kConns) {
			while (IMB_FLUSH_BURST(mgr, kConns, jobs) != 0)
				;
			got = IMB_GET_NEXT_BURST(mgr, kConns, jobs);
		}
		for (int i = 0; i < kConns; i++) {
			IMB_JOB *j = jobs[i];
			if (chacha)
				j->enc_keys = j->dec_keys = raw[i].data();
			else
				j->enc_keys = j->dec_keys = &keys[i];
			j->key_len_in_bytes = chacha ? 32 : 16;
			j->src = r.buf[i].data();
			j->dst = r.buf[i].data();
			j->cipher_start_src_offset_in_bytes = 0;
			j->msg_len_to_cipher_in_bytes = r.len;
			j->hash_start_src_offset_in_bytes = 0;
			j->msg_len_to_hash_in_bytes = r.len;
			j->iv = r.iv[i].data();
			j->iv_len_in_bytes = 12;
			// GCM and CHACHA20_POLY1305 share the layout of aad, aad_len and ctx.
			j->u.GCM.aad = r.aad;
			j->u.GCM.aad_len_in_bytes = 5;
			j->u.GCM.ctx = nullptr;
			j->auth_tag_output = r.tag[i].data();
			j->auth_tag_output_len_in_bytes = 16;
			j->cipher_mode = chacha ? IMB_CIPHER_CHACHA20_POLY1305 : IMB_CIPHER_GCM;
			j->hash_alg = chacha ? IMB_AUTH_CHACHA20_POLY1305 : IMB_AUTH_AES_GMAC;
			j->cipher_direction = dir;
			j->chain_order = dir == IMB_DIR_ENCRYPT ? IMB_ORDER_CIPHER_HASH
			                                        : IMB_ORDER_HASH_CIPHER;
		}
		unsigned done = IMB_SUBMIT_BURST(mgr, kConns, jobs);
		while (done < kConns) {
			unsigned f = IMB_FLUSH_BURST(mgr, kConns, jobs);
			if (f == 0)
				break;
			done += f;
		}
		benchmark::DoNotOptimize(r.tag[0][0]);
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kConns * state.range(0));
	state.counters["records/s"] = benchmark::Counter(
	        static_cast<double>(state.iterations()) * kConns, benchmark::Counter::kIsRate);
	free_mb_mgr(mgr);
}

void
RawOpenSslEvp(benchmark::State &state, bool encrypt, bool chacha)
{
	std::vector<EVP_CIPHER_CTX *> ctx(kConns);
	for (int i = 0; i < kConns; i++) {
		uint8_t k[32];
		memset(k, i, sizeof(k));
		ctx[i] = EVP_CIPHER_CTX_new();
		EVP_CipherInit_ex(ctx[i], chacha ? EVP_chacha20_poly1305() : EVP_aes_128_gcm(),
		                  nullptr, k, nullptr, encrypt);
	}
	Records r(static_cast<size_t>(state.range(0)));
	for (auto _ : state) {
		for (int i = 0; i < kConns; i++) {
			int l;
			uint8_t *b = r.buf[i].data();
			// As OpenSSL's TLS 1.3 record layer does per record: nonce, AAD, data, tag.
			EVP_CipherInit_ex(ctx[i], nullptr, nullptr, nullptr, r.iv[i].data(), -1);
			if (!encrypt)
				EVP_CIPHER_CTX_ctrl(ctx[i], EVP_CTRL_AEAD_SET_TAG, 16,
				                    r.tag[i].data());
			EVP_CipherUpdate(ctx[i], nullptr, &l, r.aad, 5);
			EVP_CipherUpdate(ctx[i], b, &l, b, static_cast<int>(r.len));
			EVP_CipherFinal_ex(ctx[i], b + l,
			                   &l); // fails the tag on decrypt: same cost
			if (encrypt)
				EVP_CIPHER_CTX_ctrl(ctx[i], EVP_CTRL_AEAD_GET_TAG, 16,
				                    r.tag[i].data());
		}
		benchmark::DoNotOptimize(r.tag[0][0]);
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kConns * state.range(0));
	state.counters["records/s"] = benchmark::Counter(
	        static_cast<double>(state.iterations()) * kConns, benchmark::Counter::kIsRate);
	for (auto *c : ctx)
		EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
}

// 64 established TLS 1.3 AES-128-GCM connections: our server side and OpenSSL clients.
struct Conns {
	Conns()
	{
		certs_make(&certs);
		ctx = server_ctx(&certs, SRV_CRT, 0);
		eng = tls_engine_new();
		cctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_ciphersuites(cctx, "TLS_AES_128_GCM_SHA256");
		SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, nullptr);
		for (int i = 0; i < kConns; i++) {
			cli[i] = SSL_new(cctx);
			SSL_set_connect_state(cli[i]);
			SSL_set_bio(cli[i], BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
			BIO_set_mem_eof_return(SSL_get_rbio(cli[i]), -1);
			srv[i] = tls_conn_new(ctx);
			for (int step = 0; step < 10 && tls_conn_state(srv[i]) == TLS_HANDSHAKE;
			     step++) {
				SSL_do_handshake(cli[i]);
				Pump(i);
			}
			ok &= tls_conn_offloaded(srv[i]) == 1;
		}
		ERR_clear_error();
	}
	~Conns()
	{
		for (int i = 0; i < kConns; i++) {
			SSL_free(cli[i]);
			tls_conn_free(srv[i]);
		}
		SSL_CTX_free(cctx);
		tls_engine_free(eng);
		tls_ctx_free(ctx);
		certs_remove(&certs);
	}
	void Pump(int i)
	{
		char *d;
		long n = BIO_get_mem_data(SSL_get_wbio(cli[i]), &d);
		tls_conn_feed(srv[i], d, static_cast<size_t>(n));
		(void)BIO_reset(SSL_get_wbio(cli[i]));
		tls_decrypt_burst(eng, &srv[i], 1);
		const uint8_t *o;
		size_t on = tls_conn_output(srv[i], &o);
		BIO_write(SSL_get_rbio(cli[i]), o, static_cast<int>(on));
		tls_conn_output_consume(srv[i], on);
	}
	struct certs certs {
	};
	struct tls_ctx *ctx;
	struct tls_engine *eng;
	SSL_CTX *cctx;
	SSL *cli[kConns];
	struct tls_conn *srv[kConns];
	bool ok = true;
};

void
TlsEncryptBurst(benchmark::State &state)
{
	Conns c;
	std::vector<uint8_t> msg(static_cast<size_t>(state.range(0)), 'x');
	if (!c.ok)
		state.SkipWithError("handshake did not offload");
	for (auto _ : state) {
		for (int i = 0; i < kConns; i++)
			tls_conn_write(c.srv[i], msg.data(), msg.size());
		tls_encrypt_burst(c.eng, c.srv, kConns);
		for (int i = 0; i < kConns; i++) {
			const uint8_t *o;
			tls_conn_output_consume(c.srv[i], tls_conn_output(c.srv[i], &o));
		}
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kConns * state.range(0));
}

void
OpenSslSslWrite(benchmark::State &state)
{
	Conns c;
	std::vector<uint8_t> msg(static_cast<size_t>(state.range(0)), 'x');
	for (auto _ : state) {
		for (int i = 0; i < kConns; i++) {
			SSL_write(c.cli[i], msg.data(), static_cast<int>(msg.size()));
			(void)BIO_reset(SSL_get_wbio(c.cli[i]));
		}
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kConns * state.range(0));
}

// Server-side CPU per full TLS 1.3 handshake (X25519 + ECDSA P-256 signature; client work is
// excluded with PauseTiming).
void
ServerHandshake(benchmark::State &state)
{
	struct certs certs {
	};
	certs_make(&certs);
	struct tls_ctx *ctx = server_ctx(&certs, SRV_CRT, 0);
	struct tls_engine *eng = tls_engine_new();
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, nullptr);
	bool ok = true;
	for (auto _ : state) {
		state.PauseTiming();
		SSL *cli = SSL_new(cctx);
		SSL_set_connect_state(cli);
		SSL_set_bio(cli, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
		BIO_set_mem_eof_return(SSL_get_rbio(cli), -1);
		struct tls_conn *srv = tls_conn_new(ctx);
		for (int step = 0; step < 10 && tls_conn_state(srv) == TLS_HANDSHAKE; step++) {
			SSL_do_handshake(cli);
			char *d;
			long n = BIO_get_mem_data(SSL_get_wbio(cli), &d);
			tls_conn_feed(srv, d, static_cast<size_t>(n));
			(void)BIO_reset(SSL_get_wbio(cli));
			state.ResumeTiming();
			tls_decrypt_burst(eng, &srv, 1);
			state.PauseTiming();
			const uint8_t *o;
			size_t on = tls_conn_output(srv, &o);
			BIO_write(SSL_get_rbio(cli), o, static_cast<int>(on));
			tls_conn_output_consume(srv, on);
		}
		ok &= tls_conn_state(srv) == TLS_OPEN;
		tls_conn_free(srv);
		SSL_free(cli);
		ERR_clear_error();
		state.ResumeTiming();
	}
	if (!ok)
		state.SkipWithError("handshake failed");
	state.counters["handshakes/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
	                                                    benchmark::Counter::kIsRate);
	SSL_CTX_free(cctx);
	tls_engine_free(eng);
	tls_ctx_free(ctx);
	certs_remove(&certs);
}

} // namespace

#define SIZES ->Arg(64)->Arg(1024)->Arg(16384)
BENCHMARK_CAPTURE(RawIpsecMb, aesgcm_encrypt_burst, IMB_DIR_ENCRYPT, false) SIZES;
BENCHMARK_CAPTURE(RawOpenSslEvp, aesgcm_encrypt, true, false) SIZES;
BENCHMARK_CAPTURE(RawIpsecMb, aesgcm_decrypt_burst, IMB_DIR_DECRYPT, false) SIZES;
BENCHMARK_CAPTURE(RawOpenSslEvp, aesgcm_decrypt, false, false) SIZES;
BENCHMARK_CAPTURE(RawIpsecMb, chacha_encrypt_burst, IMB_DIR_ENCRYPT, true) SIZES;
BENCHMARK_CAPTURE(RawOpenSslEvp, chacha_encrypt, true, true) SIZES;
BENCHMARK(TlsEncryptBurst) SIZES;
BENCHMARK(OpenSslSslWrite) SIZES;
BENCHMARK(ServerHandshake);

BENCHMARK_MAIN();

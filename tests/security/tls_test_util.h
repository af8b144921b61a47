/* SPDX-License-Identifier: Apache-2.0
 * Shared by the TLS tests: test certificates made with OpenSSL APIs at run time, and a server
 * context on them.
 */
#ifndef TLS_TEST_UTIL_H
#define TLS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dataplane/tls/tls.h"

struct certs {
	char dir[64];
	char path[16][128];
};

enum { CA_CRT, SRV_CRT, SRV_KEY, CLI_CRT, CLI_KEY, EXPIRED_CRT, UNTRUSTED_CRT, OTHER_CA_CRT };

static inline const char *
cert_path(struct certs *c, int which)
{
	return c->path[which];
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by (issuer, ikey) or self-signed; validity in seconds from now. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, int ca, long from, long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	add_ext(x, issuer ? issuer : x, NID_basic_constraints,
	        ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca)
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	else
		add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	X509_sign(x, ikey ? ikey : key, EVP_sha256());
	return x;
}

static void
write_pem(struct certs *c, int which, const char *name, X509 *x, EVP_PKEY *k)
{
	char dir[sizeof(c->dir)];
	memcpy(dir, c->dir, sizeof(dir));
	snprintf(c->path[which], sizeof(c->path[which]), "%s/%s", dir, name);
	FILE *f = fopen(c->path[which], "w");
	if (f == NULL) {
		perror(c->path[which]);
		exit(1);
	}
	if (x != NULL)
		PEM_write_X509(f, x);
	if (k != NULL)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static void
certs_make(struct certs *c)
{
	strcpy(c->dir, "/tmp/tachyon-tls-XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	EVP_PKEY *cak = EVP_EC_gen("P-256"), *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256");
	EVP_PKEY *ok = EVP_EC_gen("P-256");
	X509 *ca = make_cert(cak, "Tachyon Test CA", NULL, NULL, 1, -3600, 86400);
	X509 *other = make_cert(ok, "Other CA", NULL, NULL, 1, -3600, 86400);
	X509 *srv = make_cert(sk, "localhost", ca, cak, 0, -3600, 86400);
	X509 *cli = make_cert(ck, "client-1", ca, cak, 0, -3600, 86400);
	X509 *exp = make_cert(sk, "localhost", ca, cak, 0, -7200, -3600);
	X509 *untr = make_cert(sk, "localhost", other, ok, 0, -3600, 86400);
	write_pem(c, CA_CRT, "ca.crt", ca, NULL);
	write_pem(c, OTHER_CA_CRT, "other-ca.crt", other, NULL);
	write_pem(c, SRV_CRT, "server.crt", srv, NULL);
	write_pem(c, SRV_KEY, "server.key", NULL, sk);
	write_pem(c, CLI_CRT, "client.crt", cli, NULL);
	write_pem(c, CLI_KEY, "client.key", NULL, ck);
	write_pem(c, EXPIRED_CRT, "expired.crt", exp, NULL);
	write_pem(c, UNTRUSTED_CRT, "untrusted.crt", untr, NULL);
	X509 *all[] = {ca, other, srv, cli, exp, untr};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		X509_free(all[i]);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(ok);
}

static void
certs_remove(struct certs *c)
{
	for (int i = 0; i < 16; i++)
		if (c->path[i][0])
			unlink(c->path[i]);
	rmdir(c->dir);
}

static struct tls_ctx *
server_ctx(struct certs *c, int crt, int verify_client)
{
	char err[256];
	struct tls_ctx_conf conf;
	memset(&conf, 0, sizeof(conf)); /* also compiled as C++ by the benchmark */
	conf.cert_file = cert_path(c, crt);
	conf.key_file = cert_path(c, SRV_KEY);
	conf.ca_file = verify_client ? cert_path(c, CA_CRT) : NULL;
	conf.verify_client = verify_client;
	struct tls_ctx *ctx = tls_ctx_new(&conf, err, sizeof(err));
	if (ctx == NULL)
		printf("# %s\n", err);
	return ctx;
}

#endif

/* SPDX-License-Identifier: Apache-2.0
 * Real peer: the TLS record layer behind a tiny kernel-socket server on 127.0.0.1, with
 * `openssl s_client` as the client. The server upper-cases what it receives and closes with
 * close_notify; s_client must print exactly that. Bounded: 20 s per run.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tls_test_util.h"

static struct certs certs;
/* Set for the demo-certificate run: server chain, key and the CA clients trust. */
static const char *demo_crt, *demo_key, *demo_ca;

static double
now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
flush_out(int fd, struct tls_conn *c)
{
	const uint8_t *d;
	size_t n;
	while ((n = tls_conn_output(c, &d)) != 0) {
		ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			poll(&p, 1, 100);
			continue;
		}
		if (w <= 0)
			return -1;
		tls_conn_output_consume(c, (size_t)w);
	}
	return 0;
}

/* Serve one connection: echo upper-cased once `expect` bytes arrived, then close. */
static int
serve(int lfd, struct tls_ctx *ctx, struct tls_engine *eng, size_t expect, double deadline,
      uint16_t *suite)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	if (poll(&p, 1, 10000) != 1)
		return -1;
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct tls_conn *c = tls_conn_new(ctx);
	uint8_t *got = malloc(expect), buf[65536];
	size_t have = 0;
	int rc = -1;
	while (now() < deadline) {
		p = (struct pollfd){.fd = fd, .events = POLLIN};
		poll(&p, 1, 100);
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0)
			break;
		if (r > 0 && tls_conn_feed(c, buf, (size_t)r) < 0)
			break;
		tls_decrypt_burst(eng, &c, 1);
		have += tls_conn_read(c, got + have, expect - have);
		if (flush_out(fd, c) < 0 || tls_conn_state(c) == TLS_FAILED)
			break;
		if (have == expect) {
			for (size_t i = 0; i < have; i++)
				got[i] = (uint8_t)toupper(got[i]);
			tls_conn_write(c, got, have);
			tls_conn_close(c);
			do
				tls_encrypt_burst(eng, &c, 1);
			while (flush_out(fd, c) == 0 && tls_conn_unsealed(c) != 0);
			*suite = tls_conn_suite(c);
			rc = tls_conn_offloaded(c) ? 0 : -2;
			break;
		}
	}
	shutdown(fd, SHUT_WR);
	/* Let the client read everything before the socket goes away. */
	for (int i = 0; i < 50 && recv(fd, buf, sizeof(buf), 0) != 0; i++) {
		p = (struct pollfd){.fd = fd, .events = POLLIN};
		poll(&p, 1, 100);
	}
	close(fd);
	tls_conn_free(c);
	free(got);
	return rc;
}

static void
run(const char *name, const char *suites, uint16_t want_suite)
{
	int tls12 = want_suite > 0x1303; /* TLS 1.2 suite ids are above TLS 1.3's */
	char in[128], out[128];
	snprintf(in, sizeof(in), "%s/in.txt", certs.dir);
	snprintf(out, sizeof(out), "%s/out.txt", certs.dir);
	/* 40 KB of lines: several records each way. */
	FILE *f = fopen(in, "w");
	size_t expect = 0;
	for (int i = 0; i < 1000; i++)
		expect += (size_t)fprintf(f, "line %04d: the quick brown fox %s\n", i, name);
	fclose(f);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	bind(lfd, (struct sockaddr *)&a, sizeof(a));
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	char hostport[32];
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%u", ntohs(a.sin_port));

	pid_t pid = fork();
	if (pid == 0) {
		int i = open(in, O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int n = open("/dev/null", O_WRONLY);
		dup2(i, 0);
		dup2(o, 1);
		dup2(n, 2);
		execlp("openssl", "openssl", "s_client", "-connect", hostport, "-CAfile",
		       demo_ca ? demo_ca : cert_path(&certs, CA_CRT), "-verify_return_error",
		       "-verify_hostname", "localhost", "-servername", "localhost", "-quiet",
		       tls12 ? "-tls1_2" : "-tls1_3", tls12 ? "-cipher" : "-ciphersuites", suites,
		       (char *)NULL);
		_exit(127);
	}
	struct tls_ctx_conf conf = {.cert_file = demo_crt, .key_file = demo_key};
	struct tls_ctx *ctx =
	        demo_crt ? tls_ctx_new(&conf, NULL, 0) : server_ctx(&certs, SRV_CRT, 0);
	struct tls_engine *eng = tls_engine_new();
	uint16_t suite = 0;
	double deadline = now() + 20;
	int rc = serve(lfd, ctx, eng, expect, deadline, &suite);
	int status = -1, exited = 0;
	while (now() < deadline && !(exited = waitpid(pid, &status, WNOHANG) == pid))
		usleep(20000);
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(lfd);
	tls_engine_free(eng);
	tls_ctx_free(ctx);

	/* s_client must have printed the upper-cased input exactly. */
	int ok = rc == 0 && exited && suite == want_suite;
	FILE *fi = fopen(in, "r"), *fo = fopen(out, "r");
	int ci, co;
	do {
		ci = fgetc(fi);
		co = fgetc(fo);
		ok &= (ci == EOF ? EOF : toupper(ci)) == co;
	} while (ci != EOF && co != EOF);
	fclose(fi);
	fclose(fo);
	if (!ok)
		printf("#   serve rc %d, exited %d status %d, suite %04x\n", rc, exited, status,
		       suite);
	unlink(in);
	unlink(out);
	tap_result(ok, name);
}

/* The demo material `make run` serves (dataplane/tls/gen-demo-certs.sh): created once, reused,
 * loadable by tls_ctx_new, trusted by s_client through its ca.crt. */
static void
demo_certs(const char *script)
{
	char cmd[512], crt[128], key[128], ca[128];
	snprintf(cmd, sizeof(cmd), "%s %s/demo 198.18.0.1 localhost >%s/gen.out", script, certs.dir,
	         certs.dir);
	int first = system(cmd);
	snprintf(cmd, sizeof(cmd), "%s %s/demo 198.18.0.1 localhost", script, certs.dir);
	FILE *f = popen(cmd, "r");
	int again = f ? fgetc(f) : 0; /* the second call must create (and print) nothing */
	int second = f ? pclose(f) : -1;
	snprintf(crt, sizeof(crt), "%s/demo/server.crt", certs.dir);
	snprintf(key, sizeof(key), "%s/demo/server.key", certs.dir);
	snprintf(ca, sizeof(ca), "%s/demo/ca.crt", certs.dir);
	struct stat st;
	int ok = first == 0 && second == 0 && again == EOF && stat(key, &st) == 0 &&
	         (st.st_mode & 077) == 0;
	tap_result(ok, "demo_certs_created_once_key_private");
	demo_crt = crt;
	demo_key = key;
	demo_ca = ca;
	run("s_client_trusts_demo_ca", "TLS_AES_128_GCM_SHA256", 0x1301);
	demo_crt = demo_key = demo_ca = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/demo %s/gen.out", certs.dir, certs.dir);
	if (system(cmd) != 0)
		printf("# could not remove %s/demo\n", certs.dir);
}

int
main(int argc, char **argv)
{
	(void)tap_case_failed; /* cases here are reported with tap_result */
	if (system("openssl version >/dev/null 2>&1") != 0) {
		tap_result(0, "openssl CLI missing");
		return tap_done();
	}
	certs_make(&certs);
	run("s_client_tls13_aes128gcm", "TLS_AES_128_GCM_SHA256", 0x1301);
	run("s_client_tls13_aes256gcm", "TLS_AES_256_GCM_SHA384", 0x1302);
	run("s_client_tls13_chacha20_poly1305", "TLS_CHACHA20_POLY1305_SHA256", 0x1303);
	run("s_client_tls12_aes128gcm", "ECDHE-ECDSA-AES128-GCM-SHA256", 0xc02b);
	run("s_client_tls12_aes256gcm", "ECDHE-ECDSA-AES256-GCM-SHA384", 0xc02c);
	if (argc > 1)
		demo_certs(argv[1]);
	else
		tap_result(0, "demo_certs: script path argument missing");
	certs_remove(&certs);
	return tap_done();
}

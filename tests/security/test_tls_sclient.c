/* SPDX-License-Identifier: Apache-2.0
 * Real peers: the TLS record layer behind a tiny kernel-socket server on 127.0.0.1, with
 * `openssl s_client`, `mosquitto_pub` and paho as clients. The server upper-cases what it receives
 * and closes with close_notify; s_client must print exactly that. Bounded: 20 s per run.
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

/* What the server does with the plaintext: step() runs after every decrypt burst and returns
 * 1 when the exchange is complete (the server then closes with close_notify), 0 to go on, -1 on
 * a protocol error. */
struct app {
	int (*step)(struct app *a, struct tls_conn *c);
	size_t expect, have; /* echo: bytes to collect */
	uint8_t *buf;
	size_t cap;
	char topic[64], payload[64]; /* mqtt: the PUBLISH received */
	int connected;
};

/* Echo: once `expect` bytes arrived, send them back upper-cased. */
static int
app_echo(struct app *a, struct tls_conn *c)
{
	a->have += tls_conn_read(c, a->buf + a->have, a->expect - a->have);
	if (a->have < a->expect)
		return 0;
	for (size_t i = 0; i < a->have; i++)
		a->buf[i] = (uint8_t)toupper(a->buf[i]);
	tls_conn_write(c, a->buf, a->have);
	return 1;
}

/* Just enough MQTT 3.1.1 for a publishing client: CONNECT -> CONNACK, PUBLISH (QoS 0) kept,
 * DISCONNECT ends. */
static int
app_mqtt(struct app *a, struct tls_conn *c)
{
	a->have += tls_conn_read(c, a->buf + a->have, a->cap - a->have);
	for (;;) {
		size_t len = 0, hdr = 1;
		int shift = 0;
		do {
			if (hdr >= a->have || hdr > 4)
				return hdr > 4 ? -1 : 0;
			len |= (size_t)(a->buf[hdr] & 0x7f) << shift;
			shift += 7;
		} while (a->buf[hdr++] & 0x80);
		if (a->have < hdr + len)
			return 0;
		const uint8_t *b = a->buf + hdr;
		switch (a->buf[0] >> 4) {
		case 1: /* CONNECT */
			tls_conn_write(c, "\x20\x02\x00\x00", 4);
			a->connected = 1;
			break;
		case 3: { /* PUBLISH, QoS 0 */
			size_t tl = (size_t)b[0] << 8 | b[1];
			if (!a->connected || tl + 2 > len || tl >= sizeof(a->topic) ||
			    len - 2 - tl >= sizeof(a->payload))
				return -1;
			memcpy(a->topic, b + 2, tl);
			memcpy(a->payload, b + 2 + tl, len - 2 - tl);
			break;
		}
		case 14: /* DISCONNECT */
			return 1;
		default:
			return -1;
		}
		memmove(a->buf, a->buf + hdr + len, a->have - hdr - len);
		a->have -= hdr + len;
	}
}

/* Serve one connection until the app is done, then close with close_notify. */
static int
serve(int lfd, struct tls_ctx *ctx, struct tls_engine *eng, struct app *app, double deadline,
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
	uint8_t buf[65536];
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
		/* After the peer's close_notify, what arrived before it is still to be read. */
		int done = tls_conn_state(c) == TLS_OPEN || tls_conn_state(c) == TLS_PEER_CLOSED
		                   ? app->step(app, c)
		                   : 0;
		if (done == 1)
			tls_conn_close(c);
		do
			tls_encrypt_burst(eng, &c, 1);
		while (flush_out(fd, c) == 0 && tls_conn_unsealed(c) != 0);
		if (done < 0 || tls_conn_state(c) == TLS_FAILED)
			break;
		if (done == 1) {
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
	return rc;
}

/* Listen on 127.0.0.1, run argv (each "%PORT%" replaced by the port) with stdin from in and
 * stdout to out, serve it with app; 1 when served to the end, offloaded, with want_suite, and
 * the client exited 0. Bounded: 20 s. */
static int
run_peer(char **argv, const char *in, const char *out, struct app *app, uint16_t want_suite)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	bind(lfd, (struct sockaddr *)&a, sizeof(a));
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	char port[8];
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	pid_t pid = fork();
	if (pid == 0) {
		char *args[32], hp[32];
		for (int k = 0; argv[k] != NULL && k < 31; k++) {
			args[k] = argv[k];
			args[k + 1] = NULL;
			if (strcmp(argv[k], "%PORT%") == 0)
				args[k] = port;
			if (strcmp(argv[k], "%HOSTPORT%") == 0) {
				snprintf(hp, sizeof(hp), "127.0.0.1:%s", port);
				args[k] = hp;
			}
		}
		int i = open(in, O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int n = open("/dev/null", O_WRONLY);
		dup2(i, 0);
		dup2(o, 1);
		dup2(n, 2);
		execvp(args[0], args);
		_exit(127);
	}
	struct tls_ctx_conf conf = {.cert_file = demo_crt, .key_file = demo_key};
	struct tls_ctx *ctx =
	        demo_crt ? tls_ctx_new(&conf, NULL, 0) : server_ctx(&certs, SRV_CRT, 0);
	struct tls_engine *eng = tls_engine_new();
	uint16_t suite = 0;
	double deadline = now() + 20;
	int rc = serve(lfd, ctx, eng, app, deadline, &suite);
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
	int ok = rc == 0 && exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	         (want_suite == 0 || suite == want_suite);
	if (!ok)
		printf("#   serve rc %d, exited %d status %d, suite %04x\n", rc, exited, status,
		       suite);
	return ok;
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
	char *argv[] = {"openssl",
	                "s_client",
	                "-connect",
	                "%HOSTPORT%",
	                "-CAfile",
	                (char *)(demo_ca ? demo_ca : cert_path(&certs, CA_CRT)),
	                "-verify_return_error",
	                "-verify_hostname",
	                "localhost",
	                "-servername",
	                "localhost",
	                "-quiet",
	                tls12 ? "-tls1_2" : "-tls1_3",
	                tls12 ? "-cipher" : "-ciphersuites",
	                (char *)suites,
	                NULL};
	struct app app = {.step = app_echo, .expect = expect, .buf = malloc(expect)};
	int ok = run_peer(argv, in, out, &app, want_suite);
	free(app.buf);

	/* s_client must have printed the upper-cased input exactly. */
	FILE *fi = fopen(in, "r"), *fo = fopen(out, "r");
	int ci, co;
	do {
		ci = fgetc(fi);
		co = fgetc(fo);
		ok &= (ci == EOF ? EOF : toupper(ci)) == co;
	} while (ci != EOF && co != EOF);
	fclose(fi);
	fclose(fo);
	unlink(in);
	unlink(out);
	tap_result(ok, name);
}

/* Real MQTT clients over TLS (certificate checked against the test CA, host 127.0.0.1 by IP
 * SAN): mosquitto_pub and paho publish one message through the record layer. */
static void
mqtt_clients(void)
{
	char out[128];
	snprintf(out, sizeof(out), "%s/out.txt", certs.dir);
	const char *ca = cert_path(&certs, CA_CRT);
	char *mosq[] = {"mosquitto_pub",
	                "-h",
	                "127.0.0.1",
	                "-p",
	                "%PORT%",
	                "--cafile",
	                (char *)ca,
	                "-t",
	                "tls/mosquitto",
	                "-m",
	                "hello over tls",
	                "-q",
	                "0",
	                NULL};
	char *paho[] = {"/usr/bin/python3",
	                "-c",
	                "import sys, paho.mqtt.publish as p; p.single('tls/paho', 'hello paho', "
	                "hostname='127.0.0.1', port=int(sys.argv[1]), "
	                "tls={'ca_certs': sys.argv[2]})",
	                "%PORT%",
	                (char *)ca,
	                NULL};
	const struct {
		const char *name, *topic, *payload;
		char **argv;
	} v[] = {
	        {"mosquitto_pub_over_tls", "tls/mosquitto", "hello over tls", mosq},
	        {"paho_publish_over_tls", "tls/paho", "hello paho", paho},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t buf[4096];
		struct app app = {.step = app_mqtt, .buf = buf, .cap = sizeof(buf)};
		int ok = run_peer(v[i].argv, "/dev/null", out, &app, 0);
		ok &= strcmp(app.topic, v[i].topic) == 0 && strcmp(app.payload, v[i].payload) == 0;
		if (!ok)
			printf("#   got topic '%s' payload '%s'\n", app.topic, app.payload);
		tap_result(ok, v[i].name);
	}
	unlink(out);
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
	run("s_client_tls12_chacha20_poly1305", "ECDHE-ECDSA-CHACHA20-POLY1305", 0xcca9);
	mqtt_clients();
	if (argc > 1)
		demo_certs(argv[1]);
	else
		tap_result(0, "demo_certs: script path argument missing");
	certs_remove(&certs);
	return tap_done();
}

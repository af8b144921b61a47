/* SPDX-License-Identifier: Apache-2.0
 * Control protocol framing and the small unix-socket server shared by tachyond's control
 * thread and tachyon-control. Poll-driven, single-threaded, bounded: at most
 * CTL_SERVER_MAX_CLIENTS clients, CTL_REQ_MAX bytes buffered per client.
 */
#define _GNU_SOURCE /* accept4 */
#include "control/ctl_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

json_t *
ctl_wire_ok(void)
{
	return json_pack("{s:i,s:b}", "v", CTL_WIRE_VERSION, "ok", 1);
}

json_t *
ctl_wire_error(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:i,s:b,s:s,s:s}", "v", CTL_WIRE_VERSION, "ok", 0, "error", code,
	                 "message", msg);
}

const char *
ctl_wire_errcode(json_t *resp)
{
	const char *code;

	if (json_is_true(json_object_get(resp, "ok")))
		return NULL;
	code = json_string_value(json_object_get(resp, "error"));
	return code ? code : CTL_E_INTERNAL;
}

static int
fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* mkdir -p of the socket's directory (one level is the common case: /run/tachyon). */
static void
make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(dir, 0755);
			*p = '/';
		}
	}
	mkdir(dir, 0755);
}

int
ctl_wire_listen(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	rc = fill_addr(path, &sa);
	if (rc)
		return rc;
	make_parent(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file left by a killed process: remove it only when it is a socket and nobody
	 * answers on it (a full backlog, EAGAIN, is somebody). Never remove anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return -EEXIST;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	chmod(path, 0660);
	return fd;
}

int
ctl_wire_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = fill_addr(path, &sa);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int64_t left = deadline - now_ms();
	int rc;

	if (left <= 0)
		return -ETIMEDOUT;
	rc = poll(&p, 1, (int)left);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

static int
write_all(int fd, const char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int rc = wait_fd(fd, POLLOUT, deadline);

		if (rc)
			return rc;
	}
	return 0;
}

int
ctl_wire_send(int fd, json_t *msg, int timeout_ms)
{
	char *s;
	size_t len;
	int rc;

	if (!json_object_get(msg, "v"))
		json_object_set_new(msg, "v", json_integer(CTL_WIRE_VERSION));
	s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len] = '\n'; /* json_dumps' NUL becomes the terminator; the NUL is not sent */
	rc = len + 1 > CTL_RESP_MAX ? -EMSGSIZE : write_all(fd, s, len + 1, timeout_ms);
	free(s);
	return rc;
}

json_t *
ctl_wire_call(int fd, json_t *req, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	json_t *resp = NULL;
	int rc;

	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	rc = ctl_wire_send(fd, req, timeout_ms);
	while (rc == 0) {
		char *nl;
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= CTL_RESP_MAX) {
				rc = -EMSGSIZE;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n == 0) {
			rc = -ECONNRESET;
			break;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				rc = -errno;
				break;
			}
			rc = wait_fd(fd, POLLIN, deadline);
			continue;
		}
		nl = memchr(buf + len, '\n', n);
		len += n;
		if (!nl)
			continue;
		/* One request in flight per connection: nothing follows the newline. */
		resp = json_loadb(buf, nl - buf, 0, NULL);
		if (!resp || !json_is_object(resp)) {
			json_decref(resp);
			resp = NULL;
			rc = -EPROTO;
		}
		break;
	}
	free(buf);
	if (!resp)
		errno = -rc;
	return resp;
}

/* --- server --- */

struct ctl_client {
	int fd;
	size_t len;
	char *buf; /* CTL_REQ_MAX + 1 bytes, allocated on accept */
};

struct ctl_server {
	int lfd;
	ctl_handler_fn fn;
	void *arg;
	struct ctl_client cl[CTL_SERVER_MAX_CLIENTS];
};

struct ctl_server *
ctl_server_create(const char *path, ctl_handler_fn fn, void *arg)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	int fd;

	if (!s)
		return NULL;
	fd = ctl_wire_listen(path);
	if (fd < 0) {
		free(s);
		errno = -fd;
		return NULL;
	}
	s->lfd = fd;
	s->fn = fn;
	s->arg = arg;
	for (int i = 0; i < CTL_SERVER_MAX_CLIENTS; i++)
		s->cl[i].fd = -1;
	return s;
}

static void
client_close(struct ctl_client *c)
{
	close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
}

void
ctl_server_destroy(struct ctl_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < CTL_SERVER_MAX_CLIENTS; i++)
		if (s->cl[i].fd >= 0)
			client_close(&s->cl[i]);
	close(s->lfd);
	free(s);
}

int
ctl_server_pollfds(struct ctl_server *s, struct pollfd *pfd, int max)
{
	int n = 0;

	if (max < 1)
		return 0;
	pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
	for (int i = 0; i < CTL_SERVER_MAX_CLIENTS && n < max; i++)
		if (s->cl[i].fd >= 0)
			pfd[n++] = (struct pollfd){.fd = s->cl[i].fd, .events = POLLIN};
	return n;
}

static json_t *
dispatch(struct ctl_server *s, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr), *resp;
	json_t *v;

	if (!req || !json_is_object(req)) {
		json_decref(req);
		return ctl_wire_error(CTL_E_INVALID, "request is not a JSON object: %s", jerr.text);
	}
	v = json_object_get(req, "v");
	if (!json_is_integer(v) || json_integer_value(v) != CTL_WIRE_VERSION)
		resp = ctl_wire_error(CTL_E_VERSION, "protocol version %d expected",
		                      CTL_WIRE_VERSION);
	else if (!json_is_string(json_object_get(req, "cmd")))
		resp = ctl_wire_error(CTL_E_INVALID, "request has no \"cmd\" string");
	else
		resp = s->fn(s->arg, req);
	json_decref(req);
	return resp ? resp : ctl_wire_error(CTL_E_INTERNAL, "handler returned nothing");
}

/* Read what is there; answer every complete line. Returns -1 when the client must go. */
static int
client_input(struct ctl_server *s, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, CTL_REQ_MAX + 1 - c->len, MSG_DONTWAIT);
	char *nl;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n < 0)
		return 0;
	c->len += n;
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t line = nl - c->buf;
		json_t *resp = dispatch(s, c->buf, line);
		int rc = ctl_wire_send(c->fd, resp, 2000);

		json_decref(resp);
		if (rc)
			return -1;
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
	}
	if (c->len > CTL_REQ_MAX) {
		json_t *resp =
		        ctl_wire_error(CTL_E_INVALID, "request longer than %d bytes", CTL_REQ_MAX);

		ctl_wire_send(c->fd, resp, 100);
		json_decref(resp);
		return -1;
	}
	return 0;
}

static void
server_accept(struct ctl_server *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < CTL_SERVER_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->cl[i];

		if (c->fd >= 0)
			continue;
		c->buf = malloc(CTL_REQ_MAX + 1);
		if (!c->buf)
			break;
		c->fd = fd;
		c->len = 0;
		return;
	}
	/* Full: tell the client why rather than leaving it hanging. */
	json_t *resp = ctl_wire_error(CTL_E_UNAVAILABLE, "too many control clients (max %d)",
	                              CTL_SERVER_MAX_CLIENTS);

	ctl_wire_send(fd, resp, 100);
	json_decref(resp);
	close(fd);
}

void
ctl_server_handle(struct ctl_server *s, const struct pollfd *pfd, int n)
{
	for (int k = 0; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		if (pfd[k].fd == s->lfd) {
			server_accept(s);
			continue;
		}
		for (int i = 0; i < CTL_SERVER_MAX_CLIENTS; i++) {
			struct ctl_client *c = &s->cl[i];

			if (c->fd == pfd[k].fd) {
				if (client_input(s, c))
					client_close(c);
				break;
			}
		}
	}
}

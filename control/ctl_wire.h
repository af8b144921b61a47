/* SPDX-License-Identifier: Apache-2.0
 * ctl_wire: the control protocol spoken on Tachyon's unix sockets (tachyond's dp_ctl socket and
 * tachyon-control's CLI socket), and a small poll-driven server for it.
 *
 * Framing: one JSON object per line, UTF-8, '\n'-terminated, no '\n' inside (compact JSON).
 *   request:  {"v":1,"cmd":"stats", ...arguments}
 *   response: {"v":1,"ok":true, ...result}
 *             {"v":1,"ok":false,"error":"not_found","message":"no client 'x'"}
 * A connection carries any number of requests, answered in order, one at a time. Requests are
 * at most CTL_REQ_MAX bytes, responses at most CTL_RESP_MAX: a peer that exceeds the bound
 * gets an error and is disconnected. A server answers a request whose "v" is not
 * CTL_WIRE_VERSION with "bad_version". Error codes are in docs/operations.md.
 *
 * Why JSON lines: the CLI prints JSON to scripts anyway, every tool (socat, python) can speak
 * it for debugging, and messages are small and rare (admin traffic, never per packet).
 * Jansson is already on every DPDK host (libdpdk-dev depends on it).
 */
#ifndef CTL_WIRE_H
#define CTL_WIRE_H

#include <jansson.h>
#include <poll.h>
#include <stddef.h>

#define CTL_WIRE_VERSION       1
#define CTL_REQ_MAX            (64 * 1024)
#define CTL_RESP_MAX           (8 * 1024 * 1024)
#define CTL_SERVER_MAX_CLIENTS 16

/* Error codes ("error" member of a failed response). */
#define CTL_E_INVALID       "invalid_request"
#define CTL_E_VERSION       "bad_version"
#define CTL_E_NOT_FOUND     "not_found"
#define CTL_E_NOT_SUPPORTED "not_supported"
#define CTL_E_CONFIG        "config_invalid"
#define CTL_E_RESTART       "restart_required"
#define CTL_E_TIMEOUT       "timeout"
#define CTL_E_UNAVAILABLE   "unavailable"
#define CTL_E_INTERNAL      "internal"

/* {"v":1,"ok":true} */
json_t *ctl_wire_ok(void);
/* {"v":1,"ok":false,"error":code,"message":...} */
json_t *ctl_wire_error(const char *code, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Create the directory if missing, remove a stale socket, bind, listen; mode 0660. Returns a
 * non-blocking listening fd or -errno. */
int ctl_wire_listen(const char *path);
/* Connect (blocking) to a unix socket; returns the fd or -errno. */
int ctl_wire_connect(const char *path);

/* Write `msg` as one line; blocks at most timeout_ms in total. Returns 0 or -errno. */
int ctl_wire_send(int fd, json_t *msg, int timeout_ms);

/* Send `req` and wait for one response line (at most CTL_RESP_MAX bytes) for timeout_ms.
 * Returns the response or NULL with errno set (ETIMEDOUT, ECONNRESET, EPROTO, EMSGSIZE...). */
json_t *ctl_wire_call(int fd, json_t *req, int timeout_ms);

/* The error code of a response, or NULL when it is ok. */
const char *ctl_wire_errcode(json_t *resp);

/* Answer one request. Returns a new reference (the server sends and frees it). */
typedef json_t *(*ctl_handler_fn)(void *arg, json_t *req);

struct ctl_server;

/* Serve on `path`. NULL and errno on failure. */
struct ctl_server *ctl_server_create(const char *path, ctl_handler_fn fn, void *arg);
void ctl_server_destroy(struct ctl_server *s);
/* The fds to poll (listener and clients); returns how many were written (<= max). */
int ctl_server_pollfds(struct ctl_server *s, struct pollfd *pfd, int max);
/* Handle what poll reported on the fds ctl_server_pollfds() gave (same order, same n). */
void ctl_server_handle(struct ctl_server *s, const struct pollfd *pfd, int n);

#endif /* CTL_WIRE_H */

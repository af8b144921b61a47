/* SPDX-License-Identifier: Apache-2.0
 * MQTT over WebSocket listeners in tachyond (dp_ws.h).
 *
 * Output framing. Every dp_ws_send() writes one whole binary frame, so frames never interleave.
 * When the broker's bytes and a header do not fit in tcp_send_space(), the frame carries as many
 * bytes as TCP has room for: TCP takes all but the frame's last 2..10 bytes, which wait in `pend`
 * (pongs and the close frame queue there too). Only tcp_send() refusing bytes makes TCP report
 * writable later, so a frame that merely filled the room would leave the broker waiting for an
 * event that never comes; overfilling by the header's size is what guarantees it.
 */
#include <errno.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

#include "dp_sec.h"
#include "dp_ws.h"
#include "mqtt/mqtt_ws.h"

enum dp_ws_state {
	DP_WS_HANDSHAKE, /* collecting the upgrade request */
	DP_WS_OPEN,      /* frames */
	DP_WS_DONE,      /* refused, or a close frame sent: input is ignored */
};

struct dp_ws_conn {
	struct dp_conn *dc;
	struct tcp_conn *tcp;
	uint8_t *req; /* the upgrade request, MQTT_WS_MAX_REQUEST bytes, until the 101 */
	uint16_t req_len;
	uint16_t pend_len;
	uint8_t state;
	uint8_t close_sent;
	struct mqtt_ws_dec dec;
	/* our bytes TCP has not taken: the 101 or an error answer, a pong, a close frame, the
	 * tail of a frame header */
	uint8_t pend[MQTT_WS_MAX_RESPONSE];
};

static uint8_t ws_listener[DP_MAX_LISTENERS];
static uint64_t ws_max_frame;

void
dp_ws_configure(unsigned int listener, int websocket, uint64_t max_frame)
{
	if (listener < DP_MAX_LISTENERS)
		ws_listener[listener] = websocket != 0;
	ws_max_frame = max_frame;
}

int
dp_ws_listener(unsigned int listener)
{
	return listener < DP_MAX_LISTENERS && ws_listener[listener];
}

struct dp_ws_conn *
dp_ws_open(struct dp_conn *dc, struct tcp_conn *tcp, int socket)
{
	struct dp_ws_conn *w = rte_zmalloc_socket("dp_ws", sizeof(*w), 0, socket);

	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->req = rte_malloc_socket("dp_ws_req", MQTT_WS_MAX_REQUEST, 0, socket);
	if (w->req == NULL) {
		rte_free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->dc = dc;
	w->tcp = tcp;
	mqtt_ws_dec_init(&w->dec, ws_max_frame);
	return w;
}

void
dp_ws_close(struct dp_ws_conn *w)
{
	if (w == NULL)
		return;
	rte_free(w->req);
	rte_free(w);
}

/* Push pend to TCP. Returns what is left (TCP reports writable when it has room again). */
static size_t
ws_flush(struct dp_ws_conn *w)
{
	ssize_t n;

	if (w->pend_len == 0)
		return 0;
	n = tcp_send(w->tcp, w->pend, w->pend_len);
	if (n > 0) {
		memmove(w->pend, w->pend + n, w->pend_len - (size_t)n);
		w->pend_len -= (uint16_t)n;
	}
	return w->pend_len;
}

/* Our bytes, after any already waiting; what TCP refuses waits in pend. Returns -ENOSPC (and
 * queues nothing) when pend cannot hold the rest. */
static int
ws_out(struct dp_ws_conn *w, const void *p, size_t len)
{
	ssize_t n = 0;

	if (ws_flush(w) == 0) {
		n = tcp_send(w->tcp, p, len);
		if (n < 0)
			n = 0;
	}
	if (len - (size_t)n > sizeof(w->pend) - w->pend_len)
		return n > 0 ? -EPIPE
		             : -ENOSPC; /* n > 0: a frame cut short, the stream is broken */
	memcpy(w->pend + w->pend_len, (const uint8_t *)p + n, len - (size_t)n);
	w->pend_len += (uint16_t)(len - (size_t)n);
	return 0;
}

static void
ws_close_frame(struct dp_ws_conn *w, uint16_t code)
{
	uint8_t f[4];
	ssize_t n = mqtt_ws_close_frame(code, NULL, f, sizeof(f));

	if (!w->close_sent && n > 0)
		ws_out(w, f, (size_t)n);
	w->close_sent = 1;
	w->state = DP_WS_DONE;
}

/* Frames in buf[0..len) (writable: unmasked in place). Returns 0, or -1 once the connection is
 * closing (the rest is to be discarded). *used: bytes consumed. */
static int
ws_frames(struct dp_ws_conn *w, uint8_t *buf, size_t len, size_t *used)
{
	*used = 0;
	while (*used < len) {
		struct mqtt_ws_result r;
		uint8_t *p = buf + *used;
		uint8_t f[MQTT_WS_MAX_FRAME_HEADER + MQTT_WS_MAX_CONTROL];
		size_t h;

		mqtt_ws_decode(&w->dec, p, len - *used, p, len - *used, &r);
		*used += r.consumed;
		if (r.produced > 0 && dp_conn_deliver(w->dc, p, r.produced) < 0)
			return -1;
		switch (r.event) {
		case MQTT_WS_EV_PING:
			/* A pong that does not fit behind a stalled stream is dropped: the peer's
			 * next ping gets one (RFC 6455 5.5.3 allows answering only the last). */
			h = mqtt_ws_frame_header(MQTT_WS_OP_PONG, r.ctl_len, f);
			memcpy(f + h, r.ctl, r.ctl_len);
			ws_out(w, f, h + r.ctl_len);
			break;
		case MQTT_WS_EV_CLOSE:
			/* Echo the code (none for none) and end the connection: without an MQTT
			 * DISCONNECT first, the broker publishes the will. */
			ws_close_frame(w,
			               r.close_code == MQTT_WS_CLOSE_NO_STATUS ? 0 : r.close_code);
			dp_conn_shutdown(w->dc);
			return -1;
		case MQTT_WS_EV_ERROR:
			ws_close_frame(w, r.close_code);
			dp_conn_shutdown(w->dc);
			return -1;
		default:
			if (r.consumed == 0)
				return 0; /* cannot happen: out has the room in has */
			break;
		}
	}
	return 0;
}

/* The upgrade request. Returns 1 when frames follow (the connection is open). */
static int
ws_handshake(struct dp_ws_conn *w)
{
	struct mqtt_ws_request req;
	char resp[MQTT_WS_MAX_RESPONSE];
	struct iovec iov[16];
	ssize_t rl;
	size_t used;
	int n, rc;

	/* Copy what TCP holds, up to the request limit (the parser answers 431 there). */
	while (w->req_len < MQTT_WS_MAX_REQUEST && (n = tcp_recv_peek(w->tcp, iov, 16)) > 0) {
		size_t took = 0;

		for (int i = 0; i < n && w->req_len < MQTT_WS_MAX_REQUEST; i++) {
			size_t k =
			        RTE_MIN(iov[i].iov_len, (size_t)MQTT_WS_MAX_REQUEST - w->req_len);

			memcpy(w->req + w->req_len, iov[i].iov_base, k);
			w->req_len += (uint16_t)k;
			took += k;
		}
		tcp_recv_consume(w->tcp, took);
	}
	rc = mqtt_ws_parse_request(w->req, w->req_len, &req);
	if (rc == -EAGAIN)
		return 0;
	rl = mqtt_ws_response(&req, resp, sizeof(resp));
	if (rl > 0)
		ws_out(w, resp, (size_t)rl);
	if (rc < 0) {
		/* The HTTP error answer, then FIN; no close frame (no WebSocket yet). */
		w->state = DP_WS_DONE;
		w->close_sent = 1;
		dp_conn_shutdown(w->dc);
		return 0;
	}
	w->state = DP_WS_OPEN;
	/* Frames the client sent right behind its request. */
	rc = ws_frames(w, w->req + req.len, w->req_len - req.len, &used);
	rte_free(w->req);
	w->req = NULL;
	return rc == 0;
}

void
dp_ws_readable(struct dp_ws_conn *w)
{
	struct iovec iov[16];
	int n;

	if (w->state == DP_WS_HANDSHAKE && !ws_handshake(w))
		goto discard;
	if (w->state != DP_WS_OPEN)
		goto discard;
	/* Each pass unmasks and hands the broker up to 16 runs, then releases them; bounded by
	 * what is queued. Unmasking writes only bytes that are consumed below. */
	while ((n = tcp_recv_peek(w->tcp, iov, RTE_DIM(iov))) > 0) {
		size_t done = 0, used;

		for (int i = 0; i < n; i++) {
			int rc = ws_frames(w, iov[i].iov_base, iov[i].iov_len, &used);

			done += used;
			if (rc < 0)
				goto discard;
		}
		tcp_recv_consume(w->tcp, done);
	}
	return;
discard:
	/* A closing connection drops what follows (consumed, so the close stays graceful); a
	 * handshake still waiting for its empty line has taken what TCP had. */
	if (w->state != DP_WS_HANDSHAKE)
		tcp_recv_consume(w->tcp, tcp_recv_avail(w->tcp));
}

ssize_t
dp_ws_send(struct dp_ws_conn *w, const void *buf, size_t len)
{
	uint8_t h[MQTT_WS_MAX_FRAME_HEADER];
	size_t space, n = len, hl;
	ssize_t k;

	/* After our close frame no data frame may follow (RFC 6455 5.5.1): what the broker still
	 * holds is dropped as taken, so its graceful close completes instead of turning into a
	 * reset on a send error. */
	if (w->state == DP_WS_DONE)
		return (ssize_t)len;
	if (w->state != DP_WS_OPEN)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (ws_flush(w) > 0)
		return 0;
	space = tcp_send_space(w->tcp);
	if (space == 0) {
		k = tcp_send(w->tcp, buf, len); /* -EAGAIN: asks TCP for a writable event */
		return k == -EAGAIN ? 0 : (k < 0 ? k : -EPIPE);
	}
	hl = mqtt_ws_frame_header(MQTT_WS_OP_BINARY, n, h);
	if (hl + n > space) {
		/* A frame of `space` bytes: TCP takes all but its last hl bytes, which wait in
		 * pend; TCP refusing them is what brings the writable event (see the top). */
		n = RTE_MIN(len, space);
		hl = mqtt_ws_frame_header(MQTT_WS_OP_BINARY, n, h);
	}
	if (ws_out(w, h, hl) < 0 || ws_out(w, buf, n) < 0)
		return -EPIPE;
	return (ssize_t)n;
}

size_t
dp_ws_writable(struct dp_ws_conn *w)
{
	return ws_flush(w);
}

void
dp_ws_shutdown(struct dp_ws_conn *w)
{
	if (w->state == DP_WS_OPEN)
		ws_close_frame(w, MQTT_WS_CLOSE_NORMAL);
	ws_flush(w);
}

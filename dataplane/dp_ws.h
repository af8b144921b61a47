/* SPDX-License-Identifier: Apache-2.0
 * dp_ws: MQTT over WebSocket in tachyond (listeners with `protocol websockets`), between TCP and
 * the broker the way dp_tls.c is; the codec is mqtt/mqtt_ws.h.
 *
 *   TCP readable -> dp_ws_readable: the HTTP upgrade (request copied into a 4 KiB buffer that
 *   lives only until the 101 goes out), then frames unmasked in place in TCP's receive queue
 *   -> dp_conn_deliver (the broker's byte stream); pings answered, a close frame or a
 *   violation answered with a close frame and a graceful close
 *   MQTT output -> dp_ws_send: one binary frame per call, sized to what TCP takes
 *
 * Per connection: one struct dp_ws_conn (~460 B) allocated at accept and freed at close, plus
 * the request buffer during the handshake; nothing per packet. TLS under WebSocket (wss) needs a
 * listener protocol the config does not have yet; the layer sends through TCP only.
 */
#ifndef DP_WS_H
#define DP_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dp_conn;
struct dp_ws_conn;
struct tcp_conn;

/* dp_conf.c, before the lcores start: which listeners speak WebSocket, and the largest data
 * frame accepted (derived from the largest MQTT packet). */
void dp_ws_configure(unsigned int listener, int websocket, uint64_t max_frame);
int dp_ws_listener(unsigned int listener);

/* Accept: the state of a WebSocket connection (NULL: refuse it, errno set). Close: after the
 * broker has been told (mqtt_conn_closed). */
struct dp_ws_conn *dp_ws_open(struct dp_conn *dc, struct tcp_conn *tcp, int socket);
void dp_ws_close(struct dp_ws_conn *w);

/* TCP has bytes (handshake or frames). */
void dp_ws_readable(struct dp_ws_conn *w);
/* MQTT output: bytes taken (0..len: back-pressure, TCP's writable follows) or -errno. */
ssize_t dp_ws_send(struct dp_ws_conn *w, const void *buf, size_t len);
/* TCP has room: our own bytes (frame header tails, pongs, the close frame) go first. Returns
 * the bytes of ours still waiting. */
size_t dp_ws_writable(struct dp_ws_conn *w);
/* Before the FIN: a close frame (1000) unless one went out already. */
void dp_ws_shutdown(struct dp_ws_conn *w);

#endif /* DP_WS_H */

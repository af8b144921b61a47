/* SPDX-License-Identifier: Apache-2.0
 * mqtt_ws: the server side of MQTT over WebSocket (MQTT 5.0 and 3.1.1 section 6, RFC 6455).
 *
 * Pure and allocation-free like mqtt_codec: the caller owns every buffer, nothing reads a clock or
 * does I/O. A connection goes through two stages:
 *   1. the HTTP/1.1 Upgrade request: mqtt_ws_parse_request() on the bytes received so far
 *      (-EAGAIN: keep them and call again with more, up to MQTT_WS_MAX_REQUEST), then
 *      mqtt_ws_response() writes the answer: 101 with Sec-WebSocket-Accept and the "mqtt"
 *      subprotocol, or the error status the parser chose;
 *   2. frames: mqtt_ws_decode() turns client frames into the MQTT byte stream (unmasked, in place
 *      if the caller wishes), any split of the input, and stops at each control frame or error
 *      so the caller can answer it; server frames are written with mqtt_ws_frame_header() and
 *      mqtt_ws_close_frame() (servers never mask).
 *
 * What MQTT adds to RFC 6455: binary data frames only (a text frame closes with 1003,
 * MQTT-6.0.0-1), MQTT packets may span frames and frames may hold several packets (the decoder
 * is a byte stream, MQTT-6.0.0-2), and the subprotocol is "mqtt" (MQTT-6.0.0-3/4; the 3.1-era
 * name "mqttv3.1" is echoed to a client that offers only it, as Mosquitto does).
 *
 * Return contract: 0 or a byte count on success, -errno on failure.
 */
#ifndef MQTT_WS_H
#define MQTT_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest upgrade request accepted (request line and headers); more is answered 431. */
#define MQTT_WS_MAX_REQUEST 4096
#define MQTT_WS_MAX_HEADERS 64
/* Space for the 101 response mqtt_ws_response() writes (and for its error answers). */
#define MQTT_WS_MAX_RESPONSE 256
/* Largest server frame header (2 + 8 length bytes, no mask). */
#define MQTT_WS_MAX_FRAME_HEADER 10
#define MQTT_WS_MAX_CONTROL      125 /* payload of a ping, pong or close frame */

enum mqtt_ws_opcode {
	MQTT_WS_OP_CONT = 0x0,
	MQTT_WS_OP_TEXT = 0x1,
	MQTT_WS_OP_BINARY = 0x2,
	MQTT_WS_OP_CLOSE = 0x8,
	MQTT_WS_OP_PING = 0x9,
	MQTT_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 7.4.1) the decoder reports. */
enum {
	MQTT_WS_CLOSE_NORMAL = 1000,
	MQTT_WS_CLOSE_PROTOCOL = 1002,
	MQTT_WS_CLOSE_UNSUPPORTED = 1003, /* a text frame (MQTT-6.0.0-1) */
	MQTT_WS_CLOSE_NO_STATUS = 1005,   /* a close frame without a code: never sent */
	MQTT_WS_CLOSE_TOO_BIG = 1009,
};

struct mqtt_ws_request {
	size_t len;       /* bytes of the request, through its empty line */
	uint16_t status;  /* 101, or the HTTP error status to answer with */
	uint8_t subproto; /* 1 "mqtt", 2 "mqttv3.1" */
	char key[24];     /* Sec-WebSocket-Key (base64 of 16 bytes) */
};

/* Parse the client's opening handshake from buf[0..len). Returns 0 with *req filled (status
 * 101), -EAGAIN when the empty line that ends it has not arrived yet (and len is below
 * MQTT_WS_MAX_REQUEST), or -EPROTO with req->status set to the answer: 400 (not a GET, not
 * HTTP/1.1, a header missing or malformed: Host, Upgrade: websocket, Connection: Upgrade,
 * Sec-WebSocket-Key, or no "mqtt" subprotocol), 426 (Sec-WebSocket-Version other than 13),
 * 431 (over MQTT_WS_MAX_REQUEST bytes or MQTT_WS_MAX_HEADERS headers). Bytes after req->len
 * already belong to the frame stream. */
int mqtt_ws_parse_request(const uint8_t *buf, size_t len, struct mqtt_ws_request *req);

/* The answer to a parsed request: "101 Switching Protocols" for status 101, the error status
 * otherwise (426 names the supported version). Returns its length or -ENOSPC. */
ssize_t mqtt_ws_response(const struct mqtt_ws_request *req, char *out, size_t cap);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)),
 * 28 characters and a NUL. */
void mqtt_ws_accept_key(const char *key, size_t key_len, char out[29]);

/* ---- frames ---- */

enum mqtt_ws_event {
	MQTT_WS_EV_NONE,  /* all input consumed (data, if any, in out) */
	MQTT_WS_EV_PING,  /* a ping: answer with a pong carrying ctl/ctl_len */
	MQTT_WS_EV_PONG,  /* a pong (nothing to do) */
	MQTT_WS_EV_CLOSE, /* the peer's close frame: close_code (1005 if none), then ctl/ctl_len
	                   * is its reason; echo the code and close the connection */
	MQTT_WS_EV_ERROR, /* a violation: send a close frame with close_code, then close */
};

/* Decoder state of one connection; zero it (or mqtt_ws_dec_init) before the first frame. */
struct mqtt_ws_dec {
	uint64_t max_frame; /* largest data frame payload accepted (0: no limit): else 1009 */
	uint64_t left;      /* payload bytes left in the current frame */
	uint8_t mask[4];
	uint8_t mask_pos; /* next mask byte, 0..3 */
	uint8_t opcode;   /* of the frame being read */
	uint8_t in_frame; /* its header has been read */
	uint8_t in_msg;   /* a binary message is open (a frame without FIN was seen) */
	uint8_t fin;      /* the current frame ends its message */
	uint8_t hdr_len;  /* header bytes collected so far */
	uint8_t dead;     /* an error or close was reported: the stream is over */
	uint8_t ctl_len;
	uint8_t hdr[14];
	uint8_t ctl[MQTT_WS_MAX_CONTROL];
};

struct mqtt_ws_result {
	size_t consumed; /* input bytes used */
	size_t produced; /* MQTT bytes written to out */
	enum mqtt_ws_event event;
	uint16_t close_code;
	const uint8_t *ctl; /* ping or close payload (in the decoder), ctl_len bytes */
	size_t ctl_len;
};

void mqtt_ws_dec_init(struct mqtt_ws_dec *d, uint64_t max_frame);

/* Decode client frames from in[0..len): unmasked data bytes go to out (at most cap; out may be
 * in itself: data is only ever written at or before the position it was read from). Stops after
 * the first control frame or error (event set) or when out is full; the caller acts on the
 * event and calls again with in + consumed. Returns 0, or -EPROTO with event
 * MQTT_WS_EV_ERROR (close_code 1002 protocol error: unmasked frame, reserved bits or opcode,
 * fragmented or long control frame, continuation out of place, non-minimal length; 1003 a text
 * frame; 1009 a data frame over max_frame). After an error or a close every call returns
 * -EPIPE. Cost: O(len). */
int mqtt_ws_decode(struct mqtt_ws_dec *d, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                   struct mqtt_ws_result *r);

/* A server frame header (FIN set, unmasked) for a payload of len bytes; returns its length
 * (2, 4 or 10). */
size_t mqtt_ws_frame_header(uint8_t opcode, uint64_t len, uint8_t out[MQTT_WS_MAX_FRAME_HEADER]);

/* A whole close frame with `code` (0: none) and an optional reason (at most 123 bytes). Returns
 * its length or -EINVAL / -ENOSPC. */
ssize_t mqtt_ws_close_frame(uint16_t code, const char *reason, uint8_t *out, size_t cap);

#endif /* MQTT_WS_H */

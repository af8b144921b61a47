/* SPDX-License-Identifier: Apache-2.0
 * MQTT over WebSocket, server side: the HTTP/1.1 upgrade and the RFC 6455 frame codec (mqtt_ws.h).
 */
#include <errno.h>
#include <string.h>

#include <intel-ipsec-mb.h>

#include "mqtt_ws.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- the opening handshake ---- */

/* Neither ipsec-mb nor DPDK has base64; the accept value is 20 bytes, so a loop does. */
static void
b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

void
mqtt_ws_accept_key(const char *key, size_t key_len, char out[29])
{
	uint8_t buf[64 + sizeof(ws_guid)];
	uint8_t digest[IMB_SHA1_DIGEST_SIZE_IN_BYTES];

	if (key_len > 64) /* keys are 24 characters; longer ones are cut, not overrun */
		key_len = 64;
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, ws_guid, sizeof(ws_guid) - 1);
	/* ipsec-mb's SSE SHA-1 needs no IMB_MGR (so nothing to allocate or keep per thread);
	 * once per connection, its speed is irrelevant. */
	sha1_sse(buf, key_len + sizeof(ws_guid) - 1, digest);
	b64_encode(digest, sizeof(digest), out);
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
ieq(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != lower((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* tchar of RFC 9110 5.6.2 */
static int
is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Calls match() on each element of a comma-separated list (OWS trimmed, empty ones skipped);
 * returns the largest value match() returned. */
static int
list_each(const uint8_t *v, size_t len, int (*match)(const uint8_t *, size_t))
{
	int best = 0;
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (e > s) {
			int m = match(v + s, e - s);

			best = m > best ? m : best;
		}
	}
	return best;
}

static int
match_websocket(const uint8_t *p, size_t n)
{
	return ieq(p, n, "websocket");
}

static int
match_upgrade(const uint8_t *p, size_t n)
{
	return ieq(p, n, "upgrade");
}

/* 2: "mqtt" (MQTT-6.0.0-3), 1: the 3.1-era "mqttv3.1". Subprotocol names are case-sensitive. */
static int
match_mqtt(const uint8_t *p, size_t n)
{
	if (n == 4 && memcmp(p, "mqtt", 4) == 0)
		return 2;
	return n == 8 && memcmp(p, "mqttv3.1", 8) == 0;
}

/* A key is the base64 of 16 bytes: 22 characters (the last with its low 4 bits zero) and "==". */
static int
key_valid(const uint8_t *p, size_t n)
{
	const char *c;

	if (n != 24 || p[22] != '=' || p[23] != '=')
		return 0;
	for (size_t i = 0; i < 22; i++)
		if (p[i] == 0 || (c = strchr(b64, p[i])) == NULL ||
		    (i == 21 && ((c - b64) & 15) != 0))
			return 0;
	return 1;
}

enum { H_HOST = 1, H_UPGRADE = 2, H_CONNECTION = 4, H_KEY = 8, H_VERSION = 16 };

static int
fail(struct mqtt_ws_request *req, uint16_t status)
{
	req->status = status;
	return -EPROTO;
}

/* Request line: "GET <request-target> HTTP/1.1". */
static int
parse_request_line(const uint8_t *p, size_t n)
{
	size_t i = 4;

	if (n < 4 || memcmp(p, "GET ", 4) != 0)
		return -1;
	while (i < n && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == 4 || n - i != 9 || memcmp(p + i, " HTTP/1.1", 9) != 0)
		return -1;
	return 0;
}

int
mqtt_ws_parse_request(const uint8_t *buf, size_t len, struct mqtt_ws_request *req)
{
	size_t end = 0, pos, scan = len < MQTT_WS_MAX_REQUEST ? len : MQTT_WS_MAX_REQUEST;
	unsigned int seen = 0, headers = 0, version_ok = 0;
	int sub = 0;

	memset(req, 0, sizeof(*req));
	/* Not even the start of a GET (an MQTT client on the wrong port, say): refuse now. */
	for (size_t i = 0; i < 4 && i < len; i++)
		if (buf[i] != (uint8_t) "GET "[i])
			return fail(req, 400);
	for (size_t i = 3; i < scan; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r') {
			end = i + 1;
			break;
		}
	if (end == 0)
		return len >= MQTT_WS_MAX_REQUEST ? fail(req, 431) : -EAGAIN;
	req->len = end;
	/* Each line ends in CRLF; bare LF or CR inside a line is refused. Cost: O(end). */
	for (pos = 0;;) {
		const uint8_t *line = buf + pos, *v;
		size_t n = 0, name, vl;

		while (line[n] != '\r')
			if (line[n++] == '\n')
				return fail(req, 400);
		if (line[n + 1] != '\n')
			return fail(req, 400);
		pos += n + 2;
		if (line == buf) {
			if (parse_request_line(line, n) < 0)
				return fail(req, 400);
			continue;
		}
		if (n == 0)
			break;
		if (++headers > MQTT_WS_MAX_HEADERS)
			return fail(req, 431);
		for (name = 0; name < n && is_tchar(line[name]); name++)
			;
		/* no name, whitespace before the colon, or an obsolete line fold */
		if (name == 0 || name == n || line[name] != ':')
			return fail(req, 400);
		v = line + name + 1;
		vl = n - name - 1;
		while (vl > 0 && is_ows(v[0]))
			v++, vl--;
		while (vl > 0 && is_ows(v[vl - 1]))
			vl--;
		for (size_t i = 0; i < vl; i++)
			if ((v[i] < ' ' && v[i] != '\t') || v[i] == 0x7f)
				return fail(req, 400);
		if (ieq(line, name, "host")) {
			seen |= H_HOST;
		} else if (ieq(line, name, "upgrade")) {
			if (list_each(v, vl, match_websocket))
				seen |= H_UPGRADE;
		} else if (ieq(line, name, "connection")) {
			if (list_each(v, vl, match_upgrade))
				seen |= H_CONNECTION;
		} else if (ieq(line, name, "sec-websocket-key")) {
			if ((seen & H_KEY) || !key_valid(v, vl))
				return fail(req, 400);
			seen |= H_KEY;
			memcpy(req->key, v, sizeof(req->key));
		} else if (ieq(line, name, "sec-websocket-version")) {
			seen |= H_VERSION;
			version_ok = vl == 2 && v[0] == '1' && v[1] == '3';
		} else if (ieq(line, name, "sec-websocket-protocol")) {
			int m = list_each(v, vl, match_mqtt);

			sub = m > sub ? m : sub;
		}
	}
	if (seen != (H_HOST | H_UPGRADE | H_CONNECTION | H_KEY | H_VERSION))
		return fail(req, 400);
	if (!version_ok)
		return fail(req, 426);
	/* MQTT-6.0.0-4: the only subprotocol we may select is mqtt; a client that offers none
	 * breaks MQTT-6.0.0-3. */
	if (sub == 0)
		return fail(req, 400);
	req->subproto = sub == 2 ? 1 : 2;
	req->status = 101;
	return 0;
}

struct wbuf {
	char *p;
	size_t len, cap;
	int overflow;
};

static void
put(struct wbuf *w, const char *s, size_t n)
{
	if (n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void
puts_(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

ssize_t
mqtt_ws_response(const struct mqtt_ws_request *req, char *out, size_t cap)
{
	struct wbuf w = {out, 0, cap, 0};
	char accept[29];

	switch (req->status) {
	case 101:
		mqtt_ws_accept_key(req->key, sizeof(req->key), accept);
		puts_(&w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		          "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
		put(&w, accept, 28);
		puts_(&w, "\r\nSec-WebSocket-Protocol: ");
		puts_(&w, req->subproto == 1 ? "mqtt" : "mqttv3.1");
		puts_(&w, "\r\n\r\n");
		break;
	case 426:
		puts_(&w, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n");
		break;
	case 431:
		puts_(&w, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
		break;
	default:
		puts_(&w, "HTTP/1.1 400 Bad Request\r\n");
		break;
	}
	if (req->status != 101)
		puts_(&w, "Connection: close\r\nContent-Length: 0\r\n\r\n");
	return w.overflow ? -ENOSPC : (ssize_t)w.len;
}

/* ---- frames ---- */

void
mqtt_ws_dec_init(struct mqtt_ws_dec *d, uint64_t max_frame)
{
	memset(d, 0, sizeof(*d));
	d->max_frame = max_frame;
}

static int
dec_error(struct mqtt_ws_dec *d, struct mqtt_ws_result *r, uint16_t code)
{
	d->dead = 1;
	r->event = MQTT_WS_EV_ERROR;
	r->close_code = code;
	return -EPROTO;
}

/* Header bytes this frame needs, from the first two (2 until those are in). */
static size_t
hdr_need(const struct mqtt_ws_dec *d)
{
	uint8_t l7;

	if (d->hdr_len < 2)
		return 2;
	l7 = d->hdr[1] & 0x7f;
	return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((d->hdr[1] & 0x80) ? 4 : 0);
}

/* The first two bytes alone decide most violations: report them without waiting for more. */
static uint16_t
check_start(const struct mqtt_ws_dec *d)
{
	uint8_t op = d->hdr[0] & 0x0f, l7 = d->hdr[1] & 0x7f;

	if ((d->hdr[0] & 0x70) || !(d->hdr[1] & 0x80))
		return MQTT_WS_CLOSE_PROTOCOL; /* reserved bits; unmasked client frame (5.1) */
	if (op & 8) {
		if (op > MQTT_WS_OP_PONG || !(d->hdr[0] & 0x80) || l7 > MQTT_WS_MAX_CONTROL)
			return MQTT_WS_CLOSE_PROTOCOL;
		return 0;
	}
	if (op == MQTT_WS_OP_TEXT)
		return MQTT_WS_CLOSE_UNSUPPORTED; /* MQTT-6.0.0-1 */
	if (op > MQTT_WS_OP_BINARY || (op == MQTT_WS_OP_CONT) != (d->in_msg != 0))
		return MQTT_WS_CLOSE_PROTOCOL;
	return 0;
}

/* The header is complete: take length and mask. Returns 0 or a close code. */
static uint16_t
start_frame(struct mqtt_ws_dec *d)
{
	uint8_t l7 = d->hdr[1] & 0x7f;
	const uint8_t *m = d->hdr + 2;
	uint64_t len = l7;

	if (l7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		if (len < 126)
			return MQTT_WS_CLOSE_PROTOCOL; /* the minimal length encoding is a MUST */
		m += 2;
	} else if (l7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		if ((len >> 63) || len <= 0xffff)
			return MQTT_WS_CLOSE_PROTOCOL;
		m += 8;
	}
	d->opcode = d->hdr[0] & 0x0f;
	d->fin = d->hdr[0] >> 7;
	if (!(d->opcode & 8)) {
		if (d->max_frame && len > d->max_frame)
			return MQTT_WS_CLOSE_TOO_BIG;
		d->in_msg = !d->fin;
	}
	memcpy(d->mask, m, 4);
	d->mask_pos = 0;
	d->left = len;
	d->ctl_len = 0;
	d->hdr_len = 0;
	d->in_frame = 1;
	return 0;
}

static void
unmask(struct mqtt_ws_dec *d, const uint8_t *in, uint8_t *out, size_t n)
{
	unsigned int k = d->mask_pos;

	for (size_t i = 0; i < n; i++, k++)
		out[i] = in[i] ^ d->mask[k & 3];
	d->mask_pos = k & 3;
	d->left -= n;
}

static int
valid_close_code(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

/* A control frame's payload is complete: report it. Returns 0 or -EPROTO. */
static int
end_control(struct mqtt_ws_dec *d, struct mqtt_ws_result *r)
{
	r->ctl = d->ctl;
	r->ctl_len = d->ctl_len;
	if (d->opcode == MQTT_WS_OP_PING) {
		r->event = MQTT_WS_EV_PING;
		return 0;
	}
	if (d->opcode == MQTT_WS_OP_PONG) {
		r->event = MQTT_WS_EV_PONG;
		return 0;
	}
	r->close_code = MQTT_WS_CLOSE_NO_STATUS;
	if (d->ctl_len == 1)
		return dec_error(d, r, MQTT_WS_CLOSE_PROTOCOL);
	if (d->ctl_len >= 2) {
		r->close_code = (uint16_t)(d->ctl[0] << 8 | d->ctl[1]);
		if (!valid_close_code(r->close_code))
			return dec_error(d, r, MQTT_WS_CLOSE_PROTOCOL);
		r->ctl = d->ctl + 2;
		r->ctl_len = d->ctl_len - 2u;
	}
	d->dead = 1;
	r->event = MQTT_WS_EV_CLOSE;
	return 0;
}

int
mqtt_ws_decode(struct mqtt_ws_dec *d, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
               struct mqtt_ws_result *r)
{
	size_t i = 0, o = 0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (d->dead)
		return -EPIPE;
	while (i < len || (d->in_frame && d->left == 0)) {
		if (!d->in_frame) {
			uint16_t err;

			while (i < len && d->hdr_len < hdr_need(d)) {
				d->hdr[d->hdr_len++] = in[i++];
				if (d->hdr_len == 2 && (err = check_start(d)) != 0) {
					rc = dec_error(d, r, err);
					goto out;
				}
			}
			if (d->hdr_len < hdr_need(d))
				break;
			if ((err = start_frame(d)) != 0) {
				rc = dec_error(d, r, err);
				goto out;
			}
		}
		if (d->opcode & 8) {
			size_t n = len - i < d->left ? len - i : (size_t)d->left;

			unmask(d, in + i, d->ctl + d->ctl_len, n);
			d->ctl_len += (uint8_t)n;
			i += n;
			if (d->left > 0)
				break;
			d->in_frame = 0;
			rc = end_control(d, r);
			goto out;
		}
		{
			size_t n = len - i < d->left ? len - i : (size_t)d->left;

			if (n > cap - o)
				n = cap - o;
			unmask(d, in + i, out + o, n);
			i += n;
			o += n;
			if (d->left == 0)
				d->in_frame = 0;
			else if (o == cap)
				break;
		}
	}
out:
	r->consumed = i;
	r->produced = o;
	return rc;
}

size_t
mqtt_ws_frame_header(uint8_t opcode, uint64_t len, uint8_t out[MQTT_WS_MAX_FRAME_HEADER])
{
	out[0] = 0x80 | (opcode & 0x0f);
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

ssize_t
mqtt_ws_close_frame(uint16_t code, const char *reason, uint8_t *out, size_t cap)
{
	size_t rl = reason ? strlen(reason) : 0, pl = code ? 2 + rl : 0, h;

	if (pl > MQTT_WS_MAX_CONTROL || (code == 0 && rl > 0))
		return -EINVAL;
	if (cap < 2 + pl)
		return -ENOSPC;
	h = mqtt_ws_frame_header(MQTT_WS_OP_CLOSE, pl, out);
	if (code) {
		out[h] = (uint8_t)(code >> 8);
		out[h + 1] = (uint8_t)code;
		if (rl > 0)
			memcpy(out + h + 2, reason, rl);
	}
	return (ssize_t)(h + pl);
}

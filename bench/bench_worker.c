/* SPDX-License-Identifier: Apache-2.0
 * tachyon-bench worker: one process, one epoll loop, up to BENCH_MAX_PER_PROC MQTT clients.
 *
 * Each client walks TCP connect -> CONNECT/CONNACK -> SUBSCRIBE/SUBACK (subscribers) -> ready.
 * After the parent's go time, publishers send at the offered rate (or as fast as their delivery
 * window allows), subscribers count and time what arrives, idle clients keep their keep-alive
 * going. Buffers are per worker; a client owns heap memory only while it has a partial packet
 * in or bytes the socket would not take out.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "bench_mqtt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { ROLE_PUB, ROLE_SUB, ROLE_IDLE };
enum { ST_WAIT, ST_TCP, ST_CONNACK, ST_SUBACK, ST_READY, ST_DONE };

#define RX_CHUNK             (64u * 1024)
#define TX_MAX               (8u * 1024 * 1024) /* per-client unsent bytes before we call it stuck */
#define HANDSHAKE_TIMEOUT_NS 10000000000ull
/* A publisher whose deliveries have not moved for this long writes its window off as lost (the
 * broker may drop QoS 0): well above the queueing delay of a saturated broker, so slow is not
 * mistaken for lost. */
#define STALL_NS   1000000000ull
#define SWEEP_NS   100000000ull /* timeouts and keep-alive sweep period */
#define PUB_BURST  32u          /* publishes per publisher per loop turn */
#define BLOCKED_NS 200000ull    /* recheck period of a publisher with a full window */

struct client {
	int fd;
	uint8_t role, state;
	uint16_t next_pid;
	uint32_t gid; /* global index: publisher id, subscriber id or idle id */
	uint32_t rx_len, rx_cap, tx_len, tx_cap;
	uint8_t *rx, *tx;
	uint64_t t_state; /* when the current handshake step began */
	uint64_t t_ping;  /* next PINGREQ due */
	uint32_t events;  /* epoll interest currently registered */
};

struct pub {
	struct client *c;
	char topic[64];
	uint32_t fan;
	uint32_t inflight; /* QoS>0 awaiting the final ack */
	uint64_t sent;
	uint64_t written_off; /* deliveries given up on as lost (QoS 0) */
	uint64_t last_delivered, t_progress;
};

struct worker {
	const struct bench_conf *conf;
	uint32_t w;
	struct bench_shared *sh;
	int ep, ctl, rep;
	struct client *cl;
	uint32_t ncl;
	struct pub *pubs;
	uint32_t npub;
	uint32_t next_connect; /* index into cl of the next client to open */
	uint32_t handshaking;  /* clients between connect() and ready */
	uint32_t ready, failed;
	uint64_t t_go, t_win0, t_win1, t_end, t_hold_end;
	uint64_t t_conn0;
	double pub_rate; /* per publisher, per ns */
	int phase;       /* 0 setup, 1 running, 2 draining, 3 done */
	int reported_est;
	uint8_t *scratch, *payload;
	size_t scratch_cap;
	struct bench_result res;
};

static int
update_events(struct worker *wk, struct client *c, uint32_t ev)
{
	if (c->events == ev)
		return 0;
	struct epoll_event e = {.events = ev, .data.ptr = c};
	if (epoll_ctl(wk->ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		return -errno;
	c->events = ev;
	return 0;
}

static void
client_close(struct worker *wk, struct client *c, int failed)
{
	if (c->fd >= 0) {
		close(c->fd); /* also leaves the epoll set */
		c->fd = -1;
	}
	if (c->state != ST_READY && c->state != ST_DONE) {
		wk->handshaking--;
		if (failed) {
			wk->failed++;
			wk->res.connect_failed++;
		}
	} else if (failed && wk->phase < 2) {
		wk->res.closed_early++;
		if (c->state == ST_READY)
			wk->ready--;
	}
	c->state = ST_DONE;
	free(c->rx);
	free(c->tx);
	c->rx = c->tx = NULL;
	c->rx_len = c->rx_cap = c->tx_len = c->tx_cap = 0;
}

/* Sends now what the socket takes and keeps the rest; returns 0 or -errno (client closed). */
static int
client_send(struct worker *wk, struct client *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	if (c->tx_len == 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN) {
			client_close(wk, c, 1);
			return -EPIPE;
		}
		off = n > 0 ? (size_t)n : 0;
		wk->res.bytes_out += off;
		if (off == len)
			return 0;
	}
	size_t rest = len - off;
	if (c->tx_len + rest > TX_MAX) {
		client_close(wk, c, 1);
		return -ENOBUFS;
	}
	if (c->tx_len + rest > c->tx_cap) {
		size_t cap = c->tx_cap ? c->tx_cap : 4096;
		while (cap < c->tx_len + rest)
			cap *= 2;
		uint8_t *p = realloc(c->tx, cap);
		if (!p) {
			client_close(wk, c, 1);
			return -ENOMEM;
		}
		c->tx = p;
		c->tx_cap = (uint32_t)cap;
	}
	memcpy(c->tx + c->tx_len, buf + off, rest);
	c->tx_len += (uint32_t)rest;
	return update_events(wk, c, EPOLLIN | EPOLLOUT);
}

static void
client_flush(struct worker *wk, struct client *c)
{
	ssize_t n = send(c->fd, c->tx, c->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN)
			client_close(wk, c, 1);
		return;
	}
	wk->res.bytes_out += (uint64_t)n;
	memmove(c->tx, c->tx + n, c->tx_len - (size_t)n);
	c->tx_len -= (uint32_t)n;
	if (c->tx_len == 0) {
		free(c->tx);
		c->tx = NULL;
		c->tx_cap = 0;
		update_events(wk, c, EPOLLIN);
	}
}

/* Encodes into the worker scratch buffer with `enc`'s result length, then sends. */
static int
send_encoded(struct worker *wk, struct client *c, int len)
{
	if (len < 0) {
		wk->res.protocol_errors++;
		client_close(wk, c, 1);
		return len;
	}
	return client_send(wk, c, wk->scratch, (size_t)len);
}

static uint64_t
ping_interval_ns(const struct worker *wk, const struct client *c)
{
	/* Half to nine tenths of the keep-alive after our last send, spread per client so a
	 * million idle connections do not ping in step. */
	uint64_t ka = (uint64_t)wk->conf->keepalive * 1000000000ull;
	return ka / 2 + (ka * 2 / 5) * ((c->gid * 2654435761u) % 1000u) / 1000u;
}

static void
client_ready(struct worker *wk, struct client *c, uint64_t now)
{
	c->state = ST_READY;
	c->t_ping = now + ping_interval_ns(wk, c);
	wk->handshaking--;
	wk->ready++;
	wk->res.connected++;
	if (now > wk->res.conn_last_ns)
		wk->res.conn_last_ns = now;
}

static void
on_connected(struct worker *wk, struct client *c, uint64_t now)
{
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		client_close(wk, c, 1);
		return;
	}
	char id[48];
	snprintf(id, sizeof(id), "tb%u-%u-%u", wk->conf->run_id, c->role, c->gid);
	c->state = ST_CONNACK;
	c->t_state = now;
	update_events(wk, c, EPOLLIN);
	send_encoded(wk, c,
	             bench_mqtt_connect(wk->scratch, wk->scratch_cap, wk->conf->mqtt, id,
	                                wk->conf->keepalive));
}

static void
start_connect(struct worker *wk, struct client *c, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	uint32_t src = 0;
	if (cf->src_count)
		src = cf->src_first + (uint32_t)((c - wk->cl) * cf->procs + wk->w) % cf->src_count;
	if (wk->res.conn_first_ns == 0)
		wk->res.conn_first_ns = now;
	wk->handshaking++;
	c->t_state = now;
	int fd = bench_connect(&cf->dst, src);
	if (fd < 0) {
		c->fd = -1;
		c->state = ST_TCP;
		client_close(wk, c, 1);
		return;
	}
	c->fd = fd;
	c->state = ST_TCP;
	c->events = EPOLLOUT;
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(wk->ep, EPOLL_CTL_ADD, fd, &e) < 0)
		client_close(wk, c, 1);
}

/* Opens new connections within the handshake and rate budgets. O(new connections). */
static void
open_more(struct worker *wk, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	uint32_t budget = wk->ncl - wk->next_connect;
	if (cf->conn_rate > 0) {
		double per_ns = cf->conn_rate / cf->procs / 1e9;
		uint64_t due = (uint64_t)((double)(now - wk->t_conn0) * per_ns) + 1;
		budget = due > wk->next_connect ? (uint32_t)(due - wk->next_connect) : 0;
	}
	while (budget-- && wk->next_connect < wk->ncl && wk->handshaking < cf->pending)
		start_connect(wk, &wk->cl[wk->next_connect++], now);
}

static struct pub *
pub_of(struct worker *wk, struct client *c)
{
	/* Publishers come first in cl[], in the same order as pubs[]. */
	return &wk->pubs[c - wk->cl];
}

static void
on_publish(struct worker *wk, struct client *c, const struct bench_mqtt_pkt *p, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	wk->res.delivered++;
	if (p->qos == 1) {
		send_encoded(wk, c,
		             bench_mqtt_ack(wk->scratch, wk->scratch_cap, cf->mqtt,
		                            BENCH_MQTT_PUBACK, p->pid));
	} else if (p->qos == 2) {
		send_encoded(wk, c,
		             bench_mqtt_ack(wk->scratch, wk->scratch_cap, cf->mqtt,
		                            BENCH_MQTT_PUBREC, p->pid));
	}
	if (p->payload_len < BENCH_PAYLOAD_HDR) {
		wk->res.protocol_errors++;
		return;
	}
	uint64_t ts;
	uint32_t pid;
	memcpy(&ts, p->payload, 8);
	memcpy(&pid, p->payload + 8, 4);
	if (pid >= cf->npubs) {
		wk->res.protocol_errors++;
		return;
	}
	__atomic_fetch_add(&wk->sh->delivered[pid], 1, __ATOMIC_RELAXED);
	if (ts >= wk->t_win0 && ts < wk->t_win1) {
		wk->res.delivered_win++;
		bench_hist_record(&wk->res.lat, now > ts ? now - ts : 0);
	}
}

static void
on_packet(struct worker *wk, struct client *c, const struct bench_mqtt_pkt *p, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	switch (p->type) {
	case BENCH_MQTT_CONNACK:
		if (c->state != ST_CONNACK || p->rc != 0)
			goto bad;
		if (c->role == ROLE_SUB) {
			char f[64];
			bench_sub_filter(cf, c->gid, f, sizeof(f));
			c->state = ST_SUBACK;
			c->t_state = now;
			send_encoded(wk, c,
			             bench_mqtt_subscribe(wk->scratch, wk->scratch_cap, cf->mqtt, 1,
			                                  f, cf->qos));
		} else {
			client_ready(wk, c, now);
		}
		return;
	case BENCH_MQTT_SUBACK:
		if (c->state != ST_SUBACK || p->rc >= 0x80)
			goto bad;
		client_ready(wk, c, now);
		return;
	case BENCH_MQTT_PUBLISH:
		on_publish(wk, c, p, now);
		return;
	case BENCH_MQTT_PUBREL:
		send_encoded(wk, c,
		             bench_mqtt_ack(wk->scratch, wk->scratch_cap, cf->mqtt,
		                            BENCH_MQTT_PUBCOMP, p->pid));
		return;
	case BENCH_MQTT_PUBREC:
		if (c->role != ROLE_PUB)
			goto bad;
		send_encoded(wk, c,
		             bench_mqtt_ack(wk->scratch, wk->scratch_cap, cf->mqtt,
		                            BENCH_MQTT_PUBREL, p->pid));
		return;
	case BENCH_MQTT_PUBACK:
	case BENCH_MQTT_PUBCOMP:
		if (c->role != ROLE_PUB)
			goto bad;
		struct pub *pb = pub_of(wk, c);
		if (pb->inflight)
			pb->inflight--;
		wk->res.acks++;
		return;
	case BENCH_MQTT_PINGRESP:
		wk->res.pongs++;
		return;
	default:
		goto bad;
	}
bad:
	wk->res.protocol_errors++;
	client_close(wk, c, 1);
}

/* Parses every whole packet in [buf, buf+len); returns bytes used or -1 if c was closed. */
static ssize_t
parse_stream(struct worker *wk, struct client *c, const uint8_t *buf, size_t len, uint64_t now)
{
	size_t off = 0;
	while (off < len) {
		struct bench_mqtt_pkt p;
		int n = bench_mqtt_decode(buf + off, len - off, wk->conf->mqtt, &p);
		if (n == 0)
			break;
		if (n < 0) {
			wk->res.protocol_errors++;
			client_close(wk, c, 1);
			return -1;
		}
		off += (size_t)n;
		on_packet(wk, c, &p, now);
		if (c->fd < 0)
			return -1;
	}
	return (ssize_t)off;
}

static int
keep_rest(struct client *c, const uint8_t *src, size_t rest)
{
	if (rest > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 256;
		while (cap < rest)
			cap *= 2;
		uint8_t *p = malloc(cap);
		if (!p)
			return -ENOMEM;
		memcpy(p, src, rest); /* src may alias the old c->rx */
		free(c->rx);
		c->rx = p;
		c->rx_cap = (uint32_t)cap;
	} else {
		memmove(c->rx, src, rest);
	}
	c->rx_len = (uint32_t)rest;
	return 0;
}

/* Reads one chunk into the upper half of the scratch buffer, behind any partial packet left
 * from the last read, so parsing sees contiguous memory; replies are encoded into the lower
 * half and cannot overwrite the input. */
static void
on_readable(struct worker *wk, struct client *c, uint64_t now)
{
	uint8_t *in = wk->scratch + wk->scratch_cap / 2;
	size_t have = c->rx_len;
	if (have + RX_CHUNK > wk->scratch_cap / 2) {
		/* A packet larger than this tool ever sends itself. */
		wk->res.protocol_errors++;
		client_close(wk, c, 1);
		return;
	}
	if (have)
		memcpy(in, c->rx, have);
	ssize_t n = recv(c->fd, in + have, RX_CHUNK, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		client_close(wk, c, 1);
		return;
	}
	wk->res.bytes_in += (uint64_t)n;
	size_t len = have + (size_t)n;
	ssize_t used = parse_stream(wk, c, in, len, now);
	if (used < 0)
		return;
	size_t rest = len - (size_t)used;
	if (rest == 0) {
		free(c->rx);
		c->rx = NULL;
		c->rx_len = c->rx_cap = 0;
	} else if (keep_rest(c, in + used, rest) < 0) {
		client_close(wk, c, 1);
	}
}

static int
pub_may_send(struct worker *wk, struct pub *pb, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	if (pb->c->state != ST_READY || pb->c->tx_len)
		return 0;
	if (cf->qos && pb->inflight >= cf->inflight)
		return 0;
	uint64_t d = __atomic_load_n(&wk->sh->delivered[pb->c->gid], __ATOMIC_RELAXED);
	if (d != pb->last_delivered) {
		pb->last_delivered = d;
		pb->t_progress = now;
	}
	uint64_t owed = pb->sent * pb->fan;
	int64_t out = (int64_t)(owed - d - pb->written_off);
	if (out < (int64_t)((uint64_t)cf->window * pb->fan))
		return 1;
	if (now - pb->t_progress > STALL_NS) {
		/* Nothing arrived for a while: QoS 0 lets the broker drop, so forget them. */
		pb->written_off += (uint64_t)out;
		pb->t_progress = now;
		return 1;
	}
	return 0;
}

static void
publish_one(struct worker *wk, struct pub *pb, uint64_t stamp)
{
	const struct bench_conf *cf = wk->conf;
	uint32_t id = pb->c->gid, seq = (uint32_t)pb->sent;
	memcpy(wk->payload, &stamp, 8);
	memcpy(wk->payload + 8, &id, 4);
	memcpy(wk->payload + 12, &seq, 4);
	uint16_t pid = 0;
	if (cf->qos) {
		pid = pb->c->next_pid++;
		if (pid == 0)
			pid = pb->c->next_pid++;
		pb->inflight++;
	}
	pb->sent++;
	wk->res.sent++;
	if (stamp >= wk->t_win0 && stamp < wk->t_win1) {
		wk->res.sent_win++;
		wk->res.expected_win += pb->fan;
	}
	send_encoded(wk, pb->c,
	             bench_mqtt_publish(wk->scratch, wk->scratch_cap, cf->mqtt, pb->topic, cf->qos,
	                                pid, wk->payload, cf->payload));
}

/* Publishes what is due; returns when to look again (0: at once). O(publishers). */
static uint64_t
publish_due(struct worker *wk, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < wk->npub; i++) {
		struct pub *pb = &wk->pubs[i];
		for (uint32_t k = 0; k < PUB_BURST; k++) {
			uint64_t stamp = now;
			if (wk->pub_rate > 0) {
				/* Stamp the scheduled time, not the send time, so a backlog here
				 * counts as latency (no coordinated omission). */
				/* Publishers are spread over the period, not in step. */
				double slot =
				        (double)pb->sent + (double)pb->c->gid / wk->conf->npubs;
				uint64_t at = wk->t_go + (uint64_t)(slot / wk->pub_rate);
				if (at > now) {
					if (at < next)
						next = at;
					break;
				}
				stamp = at;
			}
			if (stamp >= wk->t_win1)
				break;
			if (!pub_may_send(wk, pb, now)) {
				/* Window or inflight full: a delivery in another worker frees it
				 * without waking us, so look again soon. */
				if (pb->c->state == ST_READY && now + BLOCKED_NS < next)
					next = now + BLOCKED_NS;
				break;
			}
			publish_one(wk, pb, stamp);
			if (wk->pub_rate <= 0)
				next = 0;
		}
	}
	return next;
}

/* Handshake timeouts and keep-alive pings. O(clients) every SWEEP_NS. */
static void
sweep(struct worker *wk, uint64_t now)
{
	const struct bench_conf *cf = wk->conf;
	for (uint32_t i = 0; i < wk->next_connect; i++) {
		struct client *c = &wk->cl[i];
		if (c->state == ST_DONE)
			continue;
		if (c->state != ST_READY) {
			if (now - c->t_state > HANDSHAKE_TIMEOUT_NS)
				client_close(wk, c, 1);
			continue;
		}
		if (now >= c->t_ping) {
			c->t_ping = now + ping_interval_ns(wk, c);
			wk->res.pings++;
			send_encoded(wk, c,
			             bench_mqtt_pingreq(wk->scratch, wk->scratch_cap, cf->mqtt));
		}
	}
}

static int
report(struct worker *wk, char tag, const void *body, size_t len)
{
	uint8_t msg[1 + sizeof(struct bench_result)];
	msg[0] = (uint8_t)tag;
	memcpy(msg + 1, body, len);
	size_t off = 0;
	while (off < 1 + len) {
		ssize_t n = write(wk->rep, msg + off, 1 + len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* The parent sends the go time, then (conns) the end of the hold. */
static void
on_control(struct worker *wk, uint64_t now)
{
	uint64_t t;
	ssize_t n = read(wk->ctl, &t, sizeof(t));
	if (n != sizeof(t)) {
		wk->phase = 3; /* parent gone */
		return;
	}
	const struct bench_conf *cf = wk->conf;
	if (wk->t_go == 0) {
		wk->t_go = t;
		wk->t_win0 = t + (uint64_t)(cf->warmup * 1e9);
		wk->t_win1 = wk->t_win0 + (uint64_t)(cf->duration * 1e9);
		wk->t_end = wk->t_win1 + (uint64_t)(cf->grace * 1e9);
		if (cf->wl == BENCH_CONNS) {
			wk->t_conn0 = now;
			wk->t_end = UINT64_MAX; /* until the parent sends the hold end */
		}
		wk->phase = 1;
	} else {
		wk->t_hold_end = t;
		wk->t_end = t;
	}
}

static int
setup(struct worker *wk)
{
	const struct bench_conf *cf = wk->conf;
	uint32_t total = cf->npubs + cf->nsubs + cf->nidle;
	/* Global index j goes to worker j % procs: publishers first, then subscribers, idle. */
	wk->ncl = total / cf->procs + (wk->w < total % cf->procs ? 1 : 0);
	wk->cl = calloc(wk->ncl ? wk->ncl : 1, sizeof(*wk->cl));
	wk->pubs = calloc(wk->ncl ? wk->ncl : 1, sizeof(*wk->pubs));
	wk->scratch_cap = 4 * RX_CHUNK + 2 * (size_t)cf->payload + 1024;
	wk->scratch = malloc(wk->scratch_cap);
	wk->payload = calloc(1, cf->payload);
	if (!wk->cl || !wk->pubs || !wk->scratch || !wk->payload)
		return -ENOMEM;
	memset(wk->payload, 'x', cf->payload);
	for (uint32_t i = 0; i < wk->ncl; i++) {
		uint32_t j = wk->w + i * cf->procs;
		struct client *c = &wk->cl[i];
		c->fd = -1;
		c->next_pid = 1;
		if (j < cf->npubs) {
			c->role = ROLE_PUB;
			c->gid = j;
			struct pub *pb = &wk->pubs[wk->npub++];
			pb->c = c;
			pb->fan = bench_pub_fan(cf, j);
			bench_pub_topic(cf, j, pb->topic, sizeof(pb->topic));
		} else if (j < cf->npubs + cf->nsubs) {
			c->role = ROLE_SUB;
			c->gid = j - cf->npubs;
		} else {
			c->role = ROLE_IDLE;
			c->gid = j - cf->npubs - cf->nsubs;
		}
	}
	if (wk->npub)
		wk->pub_rate = cf->rate / cf->npubs / 1e9;
	wk->ep = epoll_create1(EPOLL_CLOEXEC);
	if (wk->ep < 0)
		return -errno;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(wk->ep, EPOLL_CTL_ADD, wk->ctl, &e) < 0)
		return -errno;
	return 0;
}

static void
dispatch(struct worker *wk, struct epoll_event *evs, int n, uint64_t now)
{
	for (int i = 0; i < n; i++) {
		struct client *c = evs[i].data.ptr;
		if (!c) {
			on_control(wk, now);
			continue;
		}
		if (c->fd < 0)
			continue;
		if (c->state == ST_TCP) {
			on_connected(wk, c, now);
			continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(wk, c, now);
		if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->tx_len)
			client_flush(wk, c);
	}
}

static void
finish(struct worker *wk)
{
	for (uint32_t i = 0; i < wk->ncl; i++) {
		struct client *c = &wk->cl[i];
		if (c->fd < 0)
			continue;
		if (c->state == ST_READY && c->tx_len == 0) {
			int len =
			        bench_mqtt_disconnect(wk->scratch, wk->scratch_cap, wk->conf->mqtt);
			if (len > 0)
				(void)!send(c->fd, wk->scratch, (size_t)len,
				            MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		close(c->fd);
		c->fd = -1;
		free(c->rx);
		free(c->tx);
	}
}

int
bench_worker_run(const struct bench_conf *conf, uint32_t w, struct bench_shared *sh, int ctl_fd,
                 int rep_fd)
{
	struct worker *wk = calloc(1, sizeof(*wk));
	if (!wk)
		return -ENOMEM;
	wk->conf = conf;
	wk->w = w;
	wk->sh = sh;
	wk->ctl = ctl_fd;
	wk->rep = rep_fd;
	bench_hist_init(&wk->res.lat);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups at the scheduled publish time, not 50 us on */
	int rc = setup(wk);
	if (rc < 0)
		return rc;
	uint64_t now = bench_now_ns(), next_sweep = now;
	int ready_sent = 0;
	if (conf->wl != BENCH_CONNS) {
		wk->t_conn0 = now;
	} else {
		report(wk, BENCH_MSG_READY, NULL, 0);
		ready_sent = 1;
	}
	struct epoll_event evs[256];
	while (wk->phase < 3) {
		now = bench_now_ns();
		if (wk->phase == 0 || (conf->wl == BENCH_CONNS && wk->phase == 1))
			if (wk->t_conn0)
				open_more(wk, now);
		uint64_t wake = now + SWEEP_NS;
		if (wk->phase == 1 && conf->wl != BENCH_CONNS && now >= wk->t_go) {
			uint64_t nx = publish_due(wk, now);
			if (nx < wake)
				wake = nx;
		}
		if (wk->t_conn0 && wk->next_connect < wk->ncl && now + 1000000 < wake)
			wake = now + 1000000; /* paced or handshake-limited opening */
		if (now >= next_sweep) {
			sweep(wk, now);
			next_sweep = now + SWEEP_NS;
		}
		if (!ready_sent && wk->next_connect == wk->ncl && wk->handshaking == 0) {
			report(wk, BENCH_MSG_READY, NULL, 0);
			ready_sent = 1;
		}
		if (conf->wl == BENCH_CONNS && !wk->reported_est && wk->phase == 1 &&
		    wk->next_connect == wk->ncl && wk->handshaking == 0) {
			uint64_t body[2] = {wk->ready, wk->failed};
			report(wk, BENCH_MSG_ESTABLISHED, body, sizeof(body));
			wk->reported_est = 1;
		}
		if (wk->phase == 1 && now >= wk->t_end)
			break;
		if (wake > wk->t_end)
			wake = wk->t_end;
		if (wake > next_sweep)
			wake = next_sweep;
		uint64_t dt = wake > now ? wake - now : 0;
		struct timespec ts = {.tv_sec = (time_t)(dt / 1000000000ull),
		                      .tv_nsec = (long)(dt % 1000000000ull)};
		int n = epoll_pwait2(wk->ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			dispatch(wk, evs, n, bench_now_ns());
	}
	/* Counts are final here: report before closing, which takes a while for 20,000 sockets
	 * (and for a million across the workers). */
	rc = report(wk, BENCH_MSG_RESULT, &wk->res, sizeof(wk->res));
	finish(wk);
	return rc;
}

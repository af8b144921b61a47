/* SPDX-License-Identifier: Apache-2.0
 * mqtt-test-host: a TEST FIXTURE, not a product. Serves the mqtt/ broker core over kernel
 * sockets (epoll, non-blocking, 127.0.0.1 only) so that real clients (mosquitto_pub/sub, paho)
 * and the conformance suite can exercise mqtt/ before and apart from the DPDK path.
 *
 *   mqtt-test-host PORT [MAX_QUEUED]
 *
 * One thread, one broker shard. Prints "ready PORT" once listening; exits on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqtt/mqtt.h"

#define MAX_FD 20000

struct hconn {
	int fd;
	int closing; /* ops->close was called: 1 graceful, 2 abortive */
	int out;     /* EPOLLOUT armed */
	struct mqtt_conn *c;
};

static struct hconn *conns[MAX_FD];
static int ep;
static volatile sig_atomic_t stop;

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
arm(struct hconn *h, int out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.fd = h->fd};
	if (h->out != out)
		epoll_ctl(ep, EPOLL_CTL_MOD, h->fd, &ev);
	h->out = out;
}

static ssize_t
host_send(void *io, const void *buf, size_t len)
{
	struct hconn *h = io;
	ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		n = 0;
	if (n < 0)
		return -errno;
	if ((size_t)n < len)
		arm(h, 1);
	return n;
}

static void
host_close(void *io, int abortive)
{
	struct hconn *h = io;
	h->closing = abortive ? 2 : 1;
}

static const struct mqtt_transport_ops ops = {host_send, host_close};

static void
gone(struct hconn *h)
{
	if (h->closing == 2) {
		struct linger l = {1, 0};
		setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	mqtt_conn_closed(h->c, now_us());
	conns[h->fd] = NULL;
	close(h->fd);
	free(h);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct mqtt_broker_conf conf;
	struct sockaddr_in a = {.sin_family = AF_INET};
	static uint8_t buf[65536];
	struct epoll_event evs[64];
	int one = 1, lfd;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [MAX_QUEUED]\n", argv[0]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	mqtt_broker_conf_defaults(&conf);
	conf.max_packet_size = 64u << 20;
	conf.max_outbuf = 4u << 20;
	if (argc > 2)
		conf.max_queued = (uint32_t)atoi(argv[2]);
	struct mqtt_broker *b = mqtt_broker_create(&conf, &ops);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
	if (!b || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 128)) {
		perror("mqtt-test-host");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	printf("ready %s\n", argv[1]);
	fflush(stdout);

	uint64_t last_sweep = 0;
	while (!stop) {
		int n = epoll_wait(ep, evs, 64, 50);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int cfd;
				while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (cfd >= MAX_FD) {
						close(cfd);
						continue;
					}
					struct hconn *h = calloc(1, sizeof(*h));
					struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
					           sizeof(one));
					h->fd = cfd;
					h->c = mqtt_conn_open(b, h, now_us());
					conns[cfd] = h;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
				}
				continue;
			}
			struct hconn *h = conns[fd];
			if (!h)
				continue;
			if (evs[i].events & EPOLLOUT) {
				mqtt_conn_writable(h->c, now_us());
				if (!mqtt_conn_pending(h->c))
					arm(h, 0);
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				/* bounded: at most 16 reads per event so one client cannot starve
				 */
				for (int k = 0; k < 16 && !h->closing; k++) {
					ssize_t r = recv(fd, buf, sizeof(buf), 0);
					if (r > 0) {
						mqtt_conn_input(h->c, buf, (size_t)r, now_us());
						continue;
					}
					if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
						h->closing = 3; /* peer gone */
					break;
				}
			}
			if (h->closing && (h->closing != 1 || !mqtt_conn_pending(h->c)))
				gone(h);
		}
		/* keep-alive and broker timers: a sweep every 50 ms is plenty for a fixture */
		uint64_t t = now_us();
		if (t - last_sweep >= 50000) {
			last_sweep = t;
			for (int fd = 0; fd < MAX_FD; fd++) {
				struct hconn *h = conns[fd];
				if (!h)
					continue;
				if (mqtt_conn_deadline(h->c) <= t)
					mqtt_conn_timeout(h->c, t);
				if (h->closing && (h->closing != 1 || !mqtt_conn_pending(h->c)))
					gone(h);
			}
			mqtt_broker_tick(b, t);
		}
	}
	for (int fd = 0; fd < MAX_FD; fd++)
		if (conns[fd])
			gone(conns[fd]);
	const struct mqtt_stats *st = mqtt_broker_stats(b);
	fprintf(stderr,
	        "stats: in %llu out %llu dropped queue %llu outbuf %llu expired %llu protocol %llu "
	        "malformed %llu keepalive %llu wills %llu\n",
	        (unsigned long long)st->messages_in, (unsigned long long)st->messages_out,
	        (unsigned long long)st->dropped_queue_full,
	        (unsigned long long)st->dropped_outbuf_full,
	        (unsigned long long)st->dropped_expired, (unsigned long long)st->protocol_errors,
	        (unsigned long long)st->malformed_packets,
	        (unsigned long long)st->keepalive_timeouts,
	        (unsigned long long)st->wills_published);
	mqtt_broker_destroy(b);
	close(lfd);
	close(ep);
	return 0;
}

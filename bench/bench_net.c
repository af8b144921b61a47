/* SPDX-License-Identifier: Apache-2.0
 * tachyon-bench: sockets, source addresses, topic naming.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "A.B.C.D" or "A.B.C.D-E.F.G.H" (inclusive range). */
int
bench_parse_src(const char *s, uint32_t *first, uint32_t *count)
{
	char a[32], b[32];
	const char *dash = strchr(s, '-');
	size_t la = dash ? (size_t)(dash - s) : strlen(s);
	if (la == 0 || la >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, la);
	a[la] = '\0';
	snprintf(b, sizeof(b), "%s", dash ? dash + 1 : a);
	struct in_addr ia, ib;
	if (inet_pton(AF_INET, a, &ia) != 1 || inet_pton(AF_INET, b, &ib) != 1)
		return -EINVAL;
	uint32_t lo = ntohl(ia.s_addr), hi = ntohl(ib.s_addr);
	if (hi < lo || hi - lo >= 65536)
		return -EINVAL;
	*first = lo;
	*count = hi - lo + 1;
	return 0;
}

/* IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), where the kernel only needs the
 * 4-tuple to be unique: each source address then gives a full ephemeral range per broker. */
int
bench_connect(const struct sockaddr_in *dst, uint32_t src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src)};
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

void
bench_pub_topic(const struct bench_conf *c, uint32_t p, char *buf, size_t cap)
{
	switch (c->wl) {
	case BENCH_FANOUT:
		snprintf(buf, cap, "tb/%u/out/%u", c->run_id, p);
		break;
	case BENCH_FANIN:
		snprintf(buf, cap, "tb/%u/in/%u", c->run_id, p);
		break;
	default:
		snprintf(buf, cap, "tb/%u/p/%u", c->run_id, p);
		break;
	}
}

void
bench_sub_filter(const struct bench_conf *c, uint32_t s, char *buf, size_t cap)
{
	switch (c->wl) {
	case BENCH_FANOUT:
		bench_pub_topic(c, s % c->topics, buf, cap);
		break;
	case BENCH_FANIN:
		snprintf(buf, cap, "tb/%u/in/#", c->run_id);
		break;
	default:
		bench_pub_topic(c, s, buf, cap);
		break;
	}
}

uint32_t
bench_pub_fan(const struct bench_conf *c, uint32_t p)
{
	if (c->wl == BENCH_FANOUT)
		return c->clients / c->topics + (p < c->clients % c->topics ? 1 : 0);
	return 1;
}

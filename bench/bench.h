/* SPDX-License-Identifier: Apache-2.0
 * tachyon-bench internals shared by the parent (options, workers, report) and its workers
 * (event loop, client state machines). Not a public API.
 */
#ifndef BENCH_H
#define BENCH_H

#include <netinet/in.h>
#include <stdint.h>

#include "bench_hist.h"

/* A process may hold at most 20,000 descriptors here (a hard limit): each worker keeps a few
 * for epoll, its two pipes and stdio. */
#define BENCH_MAX_PER_PROC   19900u
#define BENCH_MAX_CLIENTS    4000000u
#define BENCH_MAX_PROCS      512u
#define BENCH_MAX_DURATION_S 3600.0
#define BENCH_MAX_PAYLOAD    (1u << 20)
/* Payload prefix: send time (ns, CLOCK_MONOTONIC), publisher id, sequence. */
#define BENCH_PAYLOAD_HDR 16u

enum bench_workload { BENCH_FANOUT, BENCH_FANIN, BENCH_PAIRS, BENCH_LATENCY, BENCH_CONNS };

struct bench_conf {
	enum bench_workload wl;
	const char *host;
	struct sockaddr_in dst;
	uint32_t src_first, src_count; /* host order; count 0: let the kernel choose */
	uint32_t clients, topics, payload;
	double rate;      /* offered publishes/s for the whole run; 0: as fast as delivery allows */
	double conn_rate; /* new connections/s for the whole run; 0: as fast as possible */
	double duration, warmup, grace;
	int qos, mqtt;
	uint16_t keepalive;
	uint32_t window;       /* messages a publisher may have undelivered (per subscriber) */
	uint32_t window_total; /* cap on window x subscribers over all publishers */
	uint32_t inflight;     /* QoS>0 publishes awaiting PUBACK/PUBCOMP per publisher */
	uint32_t pending;      /* connection handshakes in progress per worker */
	uint32_t procs;
	uint32_t run_id;
	int json_only;
	/* derived from the workload */
	uint32_t npubs, nsubs, nidle;
};

/* Per-worker counters, summed by the parent. */
struct bench_result {
	uint64_t sent, sent_win;           /* PUBLISH sent; of which stamped inside the window */
	uint64_t delivered, delivered_win; /* PUBLISH received; of which stamped inside */
	uint64_t expected_win;             /* sent_win times the subscribers of each topic */
	uint64_t acks;                     /* PUBACK/PUBCOMP received by publishers */
	uint64_t connected, connect_failed, closed_early, protocol_errors;
	uint64_t conn_first_ns, conn_last_ns; /* first connect() to last CONNACK */
	uint64_t pings, pongs;
	uint64_t bytes_out, bytes_in;
	struct bench_hist lat; /* publish to delivery, ns, in-window messages */
};

/* Delivery counters one per publisher, in memory shared by all workers, so a publisher can
 * bound what it has outstanding towards subscribers living in other processes. */
struct bench_shared {
	uint64_t delivered[1]; /* [npubs] */
};

/* Messages on the worker -> parent pipe: a tag byte then a fixed body. */
#define BENCH_MSG_READY       'R'
#define BENCH_MSG_ESTABLISHED 'E' /* conns: body is two uint64_t, connected and failed */
#define BENCH_MSG_RESULT      'X' /* body is struct bench_result */

uint64_t bench_now_ns(void);
int bench_parse_src(const char *s, uint32_t *first, uint32_t *count);
/* A non-blocking TCP socket bound to src (host order, 0: any) and connecting to dst.
 * Returns the descriptor (connect in progress or done) or -errno. */
int bench_connect(const struct sockaddr_in *dst, uint32_t src);
/* Topic of publisher p and the filter of subscriber s; fan-out of publisher p. */
void bench_pub_topic(const struct bench_conf *c, uint32_t p, char *buf, size_t cap);
void bench_sub_filter(const struct bench_conf *c, uint32_t s, char *buf, size_t cap);
uint32_t bench_pub_fan(const struct bench_conf *c, uint32_t p);

/* Runs worker `w` of conf->procs: ctl_fd reads go/hold times, rep_fd carries messages up. */
int bench_worker_run(const struct bench_conf *conf, uint32_t w, struct bench_shared *sh, int ctl_fd,
                     int rep_fd);

#endif /* BENCH_H */

/* SPDX-License-Identifier: Apache-2.0
 * tachyon-bench: an MQTT load generator for any broker.
 *
 *   tachyon-bench WORKLOAD [options]      WORKLOAD: fanout fanin pairs latency conns
 *
 * The parent parses options, forks --procs workers (each holds at most BENCH_MAX_PER_PROC
 * connections: a process may not have more than 20,000 descriptors here), waits until every
 * worker has its clients connected and subscribed, hands out one go time, announces the
 * measurement window on stderr ("# measure start" / "# measure end", for scripts sampling the
 * broker), then sums the workers' counters and histograms into one JSON line on stdout and a
 * human summary on stderr. Every phase has a deadline; nothing runs unbounded.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const wl_names[] = {"fanout", "fanin", "pairs", "latency", "conns"};

struct wproc {
	pid_t pid;
	int ctl, rep;
	int ready, established, done;
	uint64_t est_ok, est_fail;
	struct bench_result res;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: tachyon-bench fanout|fanin|pairs|latency|conns [options]\n"
	        "  --host ADDR        broker IPv4 address or name (127.0.0.1)\n"
	        "  --port N           broker port (1883)\n"
	        "  --src A[-B]        bind client sockets round-robin to these source addresses\n"
	        "  --clients N        fanout: subscribers; fanin: publishers; pairs/latency: "
	        "pairs;\n"
	        "                     conns: connections (fanout 100, fanin 100, pairs 100,\n"
	        "                     latency 1, conns 1000)\n"
	        "  --topics N         fanout: topics, one publisher each (1)\n"
	        "  --payload BYTES    publish payload, >= 16 (64)\n"
	        "  --qos 0|1|2        publish and subscribe QoS (0)\n"
	        "  --mqtt 4|5         protocol level: 3.1.1 or 5 (4)\n"
	        "  --rate N           offered publishes/s in all; 0 = as fast as delivered "
	        "(latency:\n"
	        "                     1000, others 0)\n"
	        "  --conn-rate N      new connections/s in all; 0 = as fast as possible (0)\n"
	        "  --duration S       measured seconds; conns: seconds to hold (10, at most 3600)\n"
	        "  --warmup S         seconds before measuring (2)\n"
	        "  --grace S          seconds to wait for late deliveries after the window (2)\n"
	        "  --keepalive S      MQTT keep-alive (60)\n"
	        "  --window N         undelivered messages per publisher and subscriber (64)\n"
	        "  --window-total N   undelivered deliveries in the whole run, at most (16384):\n"
	        "                     lowers --window when publishers x subscribers need it\n"
	        "  --inflight N       unacknowledged QoS>0 publishes per publisher (16)\n"
	        "  --pending N        concurrent connection handshakes per process (256)\n"
	        "  --procs N          worker processes (enough for %u connections each)\n"
	        "  --json             print only the JSON line\n",
	        BENCH_MAX_PER_PROC);
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("tachyon-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static double
num_arg(const char *opt, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || d < lo || d > hi)
		die("%s: '%s' is not a number in [%g, %g]", opt, v, lo, hi);
	return d;
}

static void
resolve(struct bench_conf *c, const char *host, int port)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		die("cannot resolve %s", host);
	c->dst = *(struct sockaddr_in *)ai->ai_addr;
	c->dst.sin_port = htons((uint16_t)port);
	freeaddrinfo(ai);
}

/* Numeric options, table-driven: where each one lands in struct bench_conf and its range. */
enum { NUM_U32, NUM_U16, NUM_INT, NUM_DBL };
struct num_opt {
	const char *name;
	int kind;
	size_t off;
	double lo, hi;
};
#define NUM(name, kind, field, lo, hi)                                                             \
	{                                                                                          \
		name, kind, offsetof(struct bench_conf, field), lo, hi                             \
	}
static const struct num_opt num_opts[] = {
        NUM("clients", NUM_U32, clients, 1, BENCH_MAX_CLIENTS),
        NUM("topics", NUM_U32, topics, 1, 100000),
        NUM("payload", NUM_U32, payload, BENCH_PAYLOAD_HDR, BENCH_MAX_PAYLOAD),
        NUM("qos", NUM_INT, qos, 0, 2),
        NUM("mqtt", NUM_INT, mqtt, 4, 5),
        NUM("rate", NUM_DBL, rate, 0, 1e9),
        NUM("conn-rate", NUM_DBL, conn_rate, 0, 1e8),
        NUM("duration", NUM_DBL, duration, 0.1, BENCH_MAX_DURATION_S),
        NUM("warmup", NUM_DBL, warmup, 0, 600),
        NUM("grace", NUM_DBL, grace, 0, 60),
        NUM("keepalive", NUM_U16, keepalive, 1, 65535),
        NUM("window", NUM_U32, window, 1, 1000000),
        NUM("window-total", NUM_U32, window_total, 1, 100000000),
        NUM("inflight", NUM_U32, inflight, 1, 65535),
        NUM("pending", NUM_U32, pending, 1, 100000),
        NUM("procs", NUM_U32, procs, 1, BENCH_MAX_PROCS),
};
#define N_NUM (sizeof(num_opts) / sizeof(num_opts[0]))

static void
set_num(struct bench_conf *c, const struct num_opt *o, const char *v)
{
	double d = num_arg(o->name, v, o->lo, o->hi);
	void *p = (uint8_t *)c + o->off;
	switch (o->kind) {
	case NUM_U32:
		*(uint32_t *)p = (uint32_t)d;
		break;
	case NUM_U16:
		*(uint16_t *)p = (uint16_t)d;
		break;
	case NUM_INT:
		*(int *)p = (int)d;
		break;
	default:
		*(double *)p = d;
		break;
	}
}

static int
workload_of(const char *name)
{
	for (int i = 0; i < 5; i++)
		if (!strcmp(name, wl_names[i]))
			return i;
	die("unknown workload '%s'", name);
	return -1;
}

static void
parse(int argc, char **argv, struct bench_conf *c)
{
	enum { O_HOST = 256, O_PORT, O_SRC, O_JSON, O_NUM };
	struct option lo[N_NUM + 6] = {{"host", 1, 0, O_HOST},
	                               {"port", 1, 0, O_PORT},
	                               {"src", 1, 0, O_SRC},
	                               {"json", 0, 0, O_JSON},
	                               {"help", 0, 0, 'h'}};
	for (size_t i = 0; i < N_NUM; i++)
		lo[5 + i] = (struct option){num_opts[i].name, 1, 0, O_NUM + (int)i};
	int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
	if (argc < 2 || argv[1][0] == '-') {
		usage(help ? stdout : stderr);
		exit(help ? 0 : 2);
	}
	int wl = workload_of(argv[1]);
	static const uint32_t def_clients[] = {100, 100, 100, 1, 1000};
	*c = (struct bench_conf){.wl = wl,
	                         .host = "127.0.0.1",
	                         .clients = def_clients[wl],
	                         .topics = 1,
	                         .payload = 64,
	                         .rate = wl == BENCH_LATENCY ? 1000 : 0,
	                         .duration = 10,
	                         .warmup = 2,
	                         .grace = 2,
	                         .mqtt = 4,
	                         .keepalive = 60,
	                         .window = 64,
	                         .window_total = 16384,
	                         .inflight = 16,
	                         .pending = 256};
	int port = 1883, opt;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (opt >= O_NUM && opt < O_NUM + (int)N_NUM) {
			set_num(c, &num_opts[opt - O_NUM], optarg);
			continue;
		}
		switch (opt) {
		case O_HOST:
			c->host = optarg;
			break;
		case O_PORT:
			port = (int)num_arg("--port", optarg, 1, 65535);
			break;
		case O_SRC:
			if (bench_parse_src(optarg, &c->src_first, &c->src_count) < 0)
				die("--src: expected A.B.C.D or A.B.C.D-E.F.G.H, got '%s'", optarg);
			break;
		case O_JSON:
			c->json_only = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if (c->wl == BENCH_LATENCY && c->rate <= 0)
		die("latency needs a fixed --rate");
	resolve(c, c->host, port);
	switch (c->wl) {
	case BENCH_FANOUT:
		if (c->topics > c->clients)
			die("--topics %u exceeds --clients %u", c->topics, c->clients);
		c->npubs = c->topics, c->nsubs = c->clients;
		break;
	case BENCH_FANIN:
		c->npubs = c->clients, c->nsubs = 1;
		break;
	case BENCH_PAIRS:
	case BENCH_LATENCY:
		c->npubs = c->nsubs = c->clients;
		break;
	case BENCH_CONNS:
		c->nidle = c->clients;
		break;
	}
	/* Deliveries owed at once are window x (subscribers of every publisher): with 1,000
	 * subscribers a per-subscriber window alone would queue 64,000 messages and measure
	 * queueing, not the broker. Cap the whole run at --window-total. */
	uint64_t owed = (uint64_t)c->window * (c->wl == BENCH_FANOUT ? c->clients : c->npubs);
	if (c->npubs && owed > c->window_total) {
		uint64_t fan_sum = c->wl == BENCH_FANOUT ? c->clients : c->npubs;
		c->window = (uint32_t)(c->window_total / fan_sum);
		if (c->window == 0)
			c->window = 1;
	}
	uint64_t total = (uint64_t)c->npubs + c->nsubs + c->nidle;
	uint32_t need = (uint32_t)((total + BENCH_MAX_PER_PROC - 1) / BENCH_MAX_PER_PROC);
	if (!c->procs)
		c->procs = need;
	if (c->procs < need)
		die("%llu connections need --procs >= %u (%u descriptors per process at most)",
		    (unsigned long long)total, need, BENCH_MAX_PER_PROC);
	if (c->procs > total)
		c->procs = (uint32_t)total;
	c->run_id = (uint32_t)getpid();
}

static int
read_full(int fd, void *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = read(fd, (uint8_t *)buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Reads one message from a worker. Returns the tag, or -1 when the worker is gone. */
static int
read_msg(struct wproc *p)
{
	uint8_t tag;
	if (read_full(p->rep, &tag, 1) < 0)
		return -1;
	switch (tag) {
	case BENCH_MSG_READY:
		p->ready = 1;
		break;
	case BENCH_MSG_ESTABLISHED: {
		uint64_t b[2];
		if (read_full(p->rep, b, sizeof(b)) < 0)
			return -1;
		p->established = 1;
		p->est_ok = b[0];
		p->est_fail = b[1];
		break;
	}
	case BENCH_MSG_RESULT:
		if (read_full(p->rep, &p->res, sizeof(p->res)) < 0)
			return -1;
		p->done = 1;
		break;
	default:
		return -1;
	}
	return tag;
}

/* Waits until every worker has set the flag at offset `flag` in struct wproc, or the deadline.
 * Returns the number still missing. O(workers) per message. */
static uint32_t
wait_all(struct wproc *wp, uint32_t n, size_t flag, uint64_t deadline)
{
	struct pollfd *pf = calloc(n, sizeof(*pf));
	uint32_t missing = 0;
	for (;;) {
		missing = 0;
		for (uint32_t i = 0; i < n; i++) {
			int *f = (int *)((uint8_t *)&wp[i] + flag);
			pf[i].fd = *f || wp[i].rep < 0 ? -1 : wp[i].rep;
			pf[i].events = POLLIN;
			missing += !*f && wp[i].rep >= 0;
		}
		uint64_t now = bench_now_ns();
		if (!missing || now >= deadline)
			break;
		int r = poll(pf, n, (int)((deadline - now) / 1000000 + 1));
		if (r < 0 && errno != EINTR)
			break;
		for (uint32_t i = 0; i < n && r > 0; i++) {
			if (pf[i].revents && read_msg(&wp[i]) < 0) {
				close(wp[i].rep);
				wp[i].rep = -1;
			}
		}
	}
	free(pf);
	return missing;
}

static void
send_all(struct wproc *wp, uint32_t n, uint64_t t)
{
	for (uint32_t i = 0; i < n; i++)
		if (write(wp[i].ctl, &t, sizeof(t)) != sizeof(t))
			fprintf(stderr, "tachyon-bench: worker %u: control pipe closed\n", i);
}

static void
sleep_until(uint64_t t)
{
	uint64_t now = bench_now_ns();
	if (t <= now)
		return;
	struct timespec ts = {.tv_sec = (time_t)((t - now) / 1000000000ull),
	                      .tv_nsec = (long)((t - now) % 1000000000ull)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void
sum_results(struct bench_result *t, const struct wproc *wp, uint32_t n)
{
	memset(t, 0, sizeof(*t));
	bench_hist_init(&t->lat);
	for (uint32_t i = 0; i < n; i++) {
		const struct bench_result *r = &wp[i].res;
		uint64_t *dst = (uint64_t *)t;
		const uint64_t *src = (const uint64_t *)r;
		/* Every field before the histogram is a plain counter, except the two times. */
		size_t nctr = offsetof(struct bench_result, lat) / sizeof(uint64_t);
		for (size_t k = 0; k < nctr; k++)
			dst[k] += src[k];
		bench_hist_merge(&t->lat, &r->lat);
	}
	t->conn_first_ns = UINT64_MAX;
	t->conn_last_ns = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (wp[i].res.conn_first_ns && wp[i].res.conn_first_ns < t->conn_first_ns)
			t->conn_first_ns = wp[i].res.conn_first_ns;
		if (wp[i].res.conn_last_ns > t->conn_last_ns)
			t->conn_last_ns = wp[i].res.conn_last_ns;
	}
	if (t->conn_first_ns == UINT64_MAX)
		t->conn_first_ns = 0;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void
print_report(const struct bench_conf *c, const struct bench_result *r, uint32_t lost_workers,
             double hold_s)
{
	double win = c->duration;
	double conn_s = r->conn_last_ns > r->conn_first_ns
	                        ? (double)(r->conn_last_ns - r->conn_first_ns) / 1e9
	                        : 0;
	double cps = conn_s > 0 ? (double)r->connected / conn_s : 0;
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &c->dst.sin_addr, ip, sizeof(ip));
	const struct bench_hist *h = &r->lat;
	printf("{\"tool\":\"tachyon-bench\",\"workload\":\"%s\",\"broker\":\"%s:%u\",\"mqtt\":%d,"
	       "\"qos\":%d,\"clients\":%u,\"publishers\":%u,\"subscribers\":%u,\"topics\":%u,"
	       "\"payload\":%u,\"window\":%u,\"rate\":%.0f,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
	       "\"procs\":%u,"
	       "\"sent\":%llu,\"sent_window\":%llu,\"expected_window\":%llu,"
	       "\"delivered\":%llu,\"delivered_window\":%llu,"
	       "\"msgs_per_s_sent\":%.1f,\"msgs_per_s_delivered\":%.1f,\"loss\":%.6f,"
	       "\"latency_us\":{\"n\":%llu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
	       "\"max\":%.1f},"
	       "\"conns\":{\"target\":%llu,\"established\":%llu,\"failed\":%llu,"
	       "\"closed_early\":%llu,\"setup_s\":%.3f,\"per_s\":%.1f,\"hold_s\":%.1f,"
	       "\"pings\":%llu,\"pongs\":%llu},"
	       "\"protocol_errors\":%llu,\"lost_workers\":%u,\"bytes_out\":%llu,\"bytes_in\":%llu}"
	       "\n",
	       wl_names[c->wl], ip, ntohs(c->dst.sin_port), c->mqtt, c->qos, c->clients, c->npubs,
	       c->nsubs, c->wl == BENCH_FANOUT ? c->topics : c->npubs, c->payload, c->window,
	       c->rate, c->duration, c->warmup, c->procs, (unsigned long long)r->sent,
	       (unsigned long long)r->sent_win, (unsigned long long)r->expected_win,
	       (unsigned long long)r->delivered, (unsigned long long)r->delivered_win,
	       (double)r->sent_win / win, (double)r->delivered_win / win,
	       r->expected_win ? 1.0 - (double)r->delivered_win / (double)r->expected_win : 0.0,
	       (unsigned long long)h->count, us(bench_hist_quantile(h, 500)),
	       us(bench_hist_quantile(h, 900)), us(bench_hist_quantile(h, 990)),
	       us(bench_hist_quantile(h, 999)), us(bench_hist_quantile(h, 1000)),
	       (unsigned long long)(c->npubs + c->nsubs + c->nidle),
	       (unsigned long long)r->connected, (unsigned long long)r->connect_failed,
	       (unsigned long long)r->closed_early, conn_s, cps, hold_s,
	       (unsigned long long)r->pings, (unsigned long long)r->pongs,
	       (unsigned long long)r->protocol_errors, lost_workers,
	       (unsigned long long)r->bytes_out, (unsigned long long)r->bytes_in);
	fflush(stdout);
	if (c->json_only)
		return;
	fprintf(stderr, "%s to %s:%u, MQTT %s, QoS %d, %u B payload, %u procs\n", wl_names[c->wl],
	        ip, ntohs(c->dst.sin_port), c->mqtt == 5 ? "5" : "3.1.1", c->qos, c->payload,
	        c->procs);
	fprintf(stderr,
	        "  connections  %llu of %llu in %.3f s (%.0f/s), %llu failed, %llu dropped\n",
	        (unsigned long long)r->connected,
	        (unsigned long long)(c->npubs + c->nsubs + c->nidle), conn_s, cps,
	        (unsigned long long)r->connect_failed, (unsigned long long)r->closed_early);
	if (c->wl == BENCH_CONNS) {
		fprintf(stderr, "  held         %.1f s, %llu pings, %llu answered\n", hold_s,
		        (unsigned long long)r->pings, (unsigned long long)r->pongs);
	} else {
		fprintf(stderr, "  messages     %.0f/s sent, %.0f/s delivered, loss %.4f %%\n",
		        (double)r->sent_win / win, (double)r->delivered_win / win,
		        r->expected_win
		                ? 100.0 * (1.0 - (double)r->delivered_win / (double)r->expected_win)
		                : 0.0);
		fprintf(stderr,
		        "  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  "
		        "(n=%llu)\n",
		        us(bench_hist_quantile(h, 500)), us(bench_hist_quantile(h, 900)),
		        us(bench_hist_quantile(h, 990)), us(bench_hist_quantile(h, 999)),
		        us(bench_hist_quantile(h, 1000)), (unsigned long long)h->count);
	}
	if (r->protocol_errors || lost_workers)
		fprintf(stderr, "  errors       %llu protocol, %u workers lost\n",
		        (unsigned long long)r->protocol_errors, lost_workers);
}

static void
spawn(const struct bench_conf *c, struct bench_shared *sh, struct wproc *wp)
{
	for (uint32_t i = 0; i < c->procs; i++) {
		int ctl[2], rep[2];
		if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(ctl[1]);
			close(rep[0]);
			for (uint32_t k = 0; k < i; k++) {
				close(wp[k].ctl);
				close(wp[k].rep);
			}
			int rc = bench_worker_run(c, i, sh, ctl[0], rep[1]);
			_exit(rc < 0 ? 1 : 0);
		}
		close(ctl[0]);
		close(rep[1]);
		wp[i] = (struct wproc){.pid = pid, .ctl = ctl[1], .rep = rep[0]};
	}
}

int
main(int argc, char **argv)
{
	struct bench_conf c;
	parse(argc, argv, &c);
	signal(SIGPIPE, SIG_IGN);
	/* Each worker may need up to the hard descriptor limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	size_t shsz = sizeof(uint64_t) * (c.npubs ? c.npubs : 1);
	struct bench_shared *sh =
	        mmap(NULL, shsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	struct wproc *wp = calloc(c.procs, sizeof(*wp));
	if (!wp)
		die("out of memory");
	uint64_t total = (uint64_t)c.npubs + c.nsubs + c.nidle;
	/* Setup deadline: 30 s plus 1 s per 2,000 connections, at most 10 minutes. */
	double setup_s = 30.0 + (double)total / 2000.0;
	if (setup_s > 600)
		setup_s = 600;
	/* Whatever happens below, the whole run ends by this alarm. */
	alarm((unsigned int)(2 * setup_s + c.warmup + c.duration + c.grace + 60 +
	                     (double)total / 20000));
	spawn(&c, sh, wp);

	uint64_t t0 = bench_now_ns();
	uint32_t miss = wait_all(wp, c.procs, offsetof(struct wproc, ready),
	                         t0 + (uint64_t)(setup_s * 1e9));
	if (miss)
		note("# %u workers not ready after %.0f s: going on without them\n", miss, setup_s);
	uint64_t go = bench_now_ns() + 20000000ull;
	send_all(wp, c.procs, go);
	double hold_s = 0;
	if (c.wl == BENCH_CONNS) {
		note("# measure start\n");
		wait_all(wp, c.procs, offsetof(struct wproc, established),
		         go + (uint64_t)(setup_s * 1e9));
		uint64_t ok = 0, bad = 0;
		for (uint32_t i = 0; i < c.procs; i++)
			ok += wp[i].est_ok, bad += wp[i].est_fail;
		note("# measure end\n# established %llu failed %llu\n", (unsigned long long)ok,
		     (unsigned long long)bad);
		uint64_t hs = bench_now_ns();
		uint64_t he = hs + (uint64_t)(c.duration * 1e9);
		send_all(wp, c.procs, he);
		note("# hold start\n");
		sleep_until(he);
		hold_s = (double)(bench_now_ns() - hs) / 1e9;
		note("# hold end\n");
	} else {
		sleep_until(go + (uint64_t)(c.warmup * 1e9));
		note("# measure start\n");
		sleep_until(go + (uint64_t)((c.warmup + c.duration) * 1e9));
		note("# measure end\n");
	}
	/* Results come before the workers close their sockets; still allow for a slow machine. */
	uint64_t end = bench_now_ns() + (uint64_t)((c.grace + 15 + (double)total / 20000) * 1e9);
	miss = wait_all(wp, c.procs, offsetof(struct wproc, done), end);
	for (uint32_t i = 0; i < c.procs; i++) {
		if (!wp[i].done)
			kill(wp[i].pid, SIGKILL);
		waitpid(wp[i].pid, NULL, 0);
	}
	struct bench_result r;
	sum_results(&r, wp, c.procs);
	print_report(&c, &r, miss, hold_s);
	return miss ? 1 : 0;
}

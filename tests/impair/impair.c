/* SPDX-License-Identifier: Apache-2.0
 * tachyon-impair: a seeded network impairment forwarder (this kernel has no netem).
 *
 * Bridges two interfaces over AF_PACKET raw sockets: every frame read on A is sent on B and the
 * reverse, after the direction's loss / duplication / corruption / reordering / delay / jitter /
 * rate cap decisions (impair_core.c). One thread, one ppoll loop: read bursts, then send what the
 * delay queues release, sleeping until the next release time. docs/testing-faults.md has the
 * topology, the profiles and how to replay a seed.
 */
#define _GNU_SOURCE /* ppoll */
#include "impair_core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* Frames read per socket per loop turn: bounds the time one busy side can starve the other. */
#define RX_BURST 64
#define SOCK_BUF (4 << 20)

enum { DIR_A2B, DIR_B2A, NDIR };
static const char *const dir_name[NDIR] = {"a2b", "b2a"};

/* The per-direction knobs, each accepted as --X, --a2b-X and --b2a-X. */
enum {
	P_LOSS,
	P_DUP,
	P_CORRUPT,
	P_REORDER,
	P_REORDER_GAP,
	P_REORDER_MS,
	P_DELAY_MS,
	P_JITTER_MS,
	P_RATE_KBIT,
	NPARAM
};
static const char *const param_name[NPARAM] = {
        "loss",       "dup",      "corrupt",   "reorder",   "reorder-gap",
        "reorder-ms", "delay-ms", "jitter-ms", "rate-kbit",
};
static const double param_default[NPARAM] = {0, 0, 0, 0, 2, 20, 0, 0, 0};

enum {
	OPT_A = 1,
	OPT_B,
	OPT_SEED,
	OPT_DURATION,
	OPT_LIMIT,
	OPT_HELP,
	OPT_TRACE,
	OPT_KEEP_OFFLOADS,
	OPT_PARAM = 100, /* + 3 * param + (0 both, 1 a2b, 2 b2a) */
};

struct port {
	const char *name;
	int fd;
	int ifindex;
};

struct forwarder {
	struct port port[NDIR]; /* port[d] is where direction d's frames come in */
	struct imp_queue q[NDIR];
	uint8_t scratch[IMP_FRAME_MAX];
};

/* --trace: one line per impaired frame. Formatted output per frame is acceptable only because it is
 * opt-in and limited to impaired frames (a few percent). */
static bool trace;
static uint64_t trace_t0;
static bool keep_offloads;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: tachyon-impair --a IF --b IF [--seed N] [--duration-s S] [--limit FRAMES]\n"
	        "       [--loss P] [--dup P] [--corrupt P] [--reorder P] [--reorder-gap K]\n"
	        "       [--reorder-ms MS] [--delay-ms MS] [--jitter-ms MS] [--rate-kbit R]\n"
	        "Each impairment option also exists as --a2b-X and --b2a-X for one direction.\n"
	        "Probabilities are fractions (0.05 = 5%%). Counters print on exit and on "
	        "SIGUSR1.\n");
}

/* Checksum, segmentation and GRO offloads off on our own ends (GRO and rx checksum matter: they
 * decide what we read; the rest matters only to the kernel's own sends), so we read MTU-sized
 * frames with real checksums. The peers' offloads (in other namespaces) are topology.sh's job;
 * if they are left on, partial_csum and oversize count the damage and warn_offloads() says so. */
static int
offloads_off(const struct port *pt)
{
	static const uint32_t cmds[] = {ETHTOOL_STXCSUM, ETHTOOL_SRXCSUM, ETHTOOL_STSO,
	                                ETHTOOL_SGSO, ETHTOOL_SGRO};
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pt->name);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct ethtool_value ev = {.cmd = cmds[i], .data = 0};

		ifr.ifr_data = (char *)&ev;
		/* EOPNOTSUPP: the device has no such offload, nothing to turn off. */
		if (ioctl(pt->fd, SIOCETHTOOL, &ifr) < 0 && errno != EOPNOTSUPP) {
			fprintf(stderr, "tachyon-impair: %s: turning offloads off: %s\n", pt->name,
			        strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
open_port(struct port *pt)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	struct ifreq ifr = {0};
	int one = 1, buf = SOCK_BUF;

	pt->ifindex = (int)if_nametoindex(pt->name);
	if (pt->ifindex == 0) {
		fprintf(stderr, "tachyon-impair: no interface %s\n", pt->name);
		return -1;
	}
	/* Protocol 0 until bound: an ETH_P_ALL socket would see every interface's frames before. */
	pt->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pt->fd < 0)
		goto fail;
	sll.sll_ifindex = pt->ifindex;
	if (bind(pt->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	mr.mr_ifindex = pt->ifindex;
	if (setsockopt(pt->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    setsockopt(pt->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0)
		goto fail;
	/* Not fatal on old kernels: the PACKET_OUTGOING check in rx_one() stays as the backstop. */
	(void)setsockopt(pt->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (setsockopt(pt->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(pt->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(pt->fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(pt->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pt->name);
	if (ioctl(pt->fd, SIOCGIFMTU, &ifr) < 0)
		goto fail;
	if (!keep_offloads && offloads_off(pt) < 0)
		return -1;
	if (ifr.ifr_mtu + IMP_ETH_HLEN + 4 > IMP_FRAME_MAX) {
		fprintf(stderr, "tachyon-impair: %s: MTU %d too large (max %d)\n", pt->name,
		        ifr.ifr_mtu, IMP_FRAME_MAX - IMP_ETH_HLEN - 4);
		return -1;
	}
	return 0;
fail:
	fprintf(stderr, "tachyon-impair: %s: %s\n", pt->name, strerror(errno));
	return -1;
}

static void
warn_offloads(struct forwarder *fw)
{
	static bool warned;

	for (int d = 0; d < NDIR && !warned; d++) {
		if (fw->q[d].c.partial_csum || fw->q[d].c.oversize) {
			fprintf(stderr,
			        "tachyon-impair: %s: frames with partial checksums or over the "
			        "MTU: "
			        "turn offloads off on the peer (ethtool -K IF tx off rx off tso "
			        "off "
			        "gso off gro off)\n",
			        fw->port[d].name);
			warned = true;
		}
	}
}

static void
update_kdrops(struct forwarder *fw)
{
	for (int d = 0; d < NDIR; d++) {
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		/* Reading the statistics resets them, hence the sum. */
		if (getsockopt(fw->port[d].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			fw->q[d].c.kdrops += st.tp_drops;
	}
}

static void
print_counters(struct forwarder *fw, const char *when)
{
	char line[512];

	update_kdrops(fw);
	warn_offloads(fw);
	for (int d = 0; d < NDIR; d++) {
		imp_counters_format(&fw->q[d].c, imp_queue_pending(&fw->q[d]), line, sizeof(line));
		printf("tachyon-impair %s %s %s\n", when, dir_name[d], line);
	}
	fflush(stdout);
}

static uint32_t
be(const uint8_t *p, int n)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Enough of a frame's headers to find it in a capture or a stack's log. */
static void
describe(const uint8_t *p, uint32_t len, char *buf, size_t n)
{
	static const char flag_names[] = "FSRPAU";
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN], flags[8];
	const uint8_t *ip = p + IMP_ETH_HLEN, *th;
	uint32_t ihl, type = len >= IMP_ETH_HLEN ? be(p + 12, 2) : 0;
	int k = 0;

	if (type != ETH_P_IP || len < IMP_ETH_HLEN + 20) {
		snprintf(buf, n, "%s", type == ETH_P_ARP ? "arp" : "non-ipv4");
		return;
	}
	ihl = (ip[0] & 15u) * 4;
	inet_ntop(AF_INET, ip + 12, src, sizeof(src));
	inet_ntop(AF_INET, ip + 16, dst, sizeof(dst));
	th = ip + ihl;
	if (ip[9] != IPPROTO_TCP || ihl < 20 || IMP_ETH_HLEN + ihl + 20 > len) {
		snprintf(buf, n, "ipv4 %s>%s proto=%u", src, dst, ip[9]);
		return;
	}
	for (int i = 0; i < 6; i++)
		if (th[13] & (1u << i))
			flags[k++] = flag_names[i];
	flags[k] = 0;
	snprintf(buf, n, "tcp %s:%u>%s:%u seq=%u ack=%u flags=%s payload=%d", src, be(th, 2), dst,
	         be(th + 2, 2), be(th + 4, 4), be(th + 8, 4), flags,
	         (int)be(ip + 2, 2) - (int)ihl - (int)((th[12] >> 4) * 4));
}

static void
trace_frame(int d, const struct imp_queue *q, const char *what, uint32_t len,
            const struct imp_decision *x, uint64_t now)
{
	if (!x->drop && !x->dup && !x->corrupt && !x->reorder)
		return;
	printf("trace %s #%llu t=%.6f len=%u%s%s%s delay_us=%llu", dir_name[d],
	       (unsigned long long)(q->decided - 1), (double)(now - trace_t0) / 1e6, len,
	       x->drop ? " drop" : "", x->dup ? " dup" : "", x->reorder ? " reorder" : "",
	       (unsigned long long)x->delay_us);
	if (x->corrupt)
		printf(" corrupt=%u/0x%02x", x->corrupt_off, x->corrupt_mask);
	printf(" %s\n", what);
}

/* Receive one frame of direction d into a pool slot. Returns 1 if a frame was consumed, 0 when
 * the socket is empty, -1 on error. */
static int
rx_one(struct forwarder *fw, int d, uint64_t now)
{
	struct imp_queue *q = &fw->q[d];
	struct imp_frame *f = imp_queue_slot(q);
	uint8_t *buf = f ? f->data : fw->scratch;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl;
	struct sockaddr_ll from;
	struct iovec iov = {.iov_base = buf, .iov_len = IMP_FRAME_MAX};
	struct msghdr msg = {
	        .msg_name = &from,
	        .msg_namelen = sizeof(from),
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = &ctl,
	        .msg_controllen = sizeof(ctl),
	};
	struct tpacket_auxdata *aux = NULL;
	ssize_t n = recvmsg(fw->port[d].fd, &msg, MSG_TRUNC | MSG_DONTWAIT);

	if (n < 0) {
		if (f)
			imp_queue_release(q, f);
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	if (from.sll_pkttype == PACKET_OUTGOING)
		goto drop_silently; /* our own transmissions, when PACKET_IGNORE_OUTGOING is absent
		                     */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA)
			aux = (struct tpacket_auxdata *)CMSG_DATA(c);
	if (f == NULL) {
		q->c.in++;
		q->c.overflow++;
		return 1;
	}
	if ((size_t)n > IMP_FRAME_MAX ||
	    (aux && (aux->tp_status & TP_STATUS_VLAN_VALID) && n + 4 > IMP_FRAME_MAX)) {
		q->c.in++;
		q->c.oversize++;
		goto drop_silently;
	}
	if (aux && (aux->tp_status & TP_STATUS_VLAN_VALID)) {
		/* The kernel stripped the 802.1Q tag into auxdata: put it back on the wire. */
		uint16_t tpid = htons(aux->tp_vlan_tpid ? aux->tp_vlan_tpid : ETH_P_8021Q);
		uint16_t tci = htons(aux->tp_vlan_tci);

		memmove(buf + 16, buf + 12, (size_t)n - 12);
		memcpy(buf + 12, &tpid, 2);
		memcpy(buf + 14, &tci, 2);
		n += 4;
	}
	/* Offloads left on: the checksum is only a pseudo-header sum, the receiver would drop the
	 * frame as corrupt. Counted so tests can insist on zero. */
	if (aux && (aux->tp_status & TP_STATUS_CSUMNOTREADY))
		q->c.partial_csum++;
	f->len = (uint32_t)n;
	if (trace) {
		struct imp_decision x;
		char what[128];

		describe(f->data, f->len, what, sizeof(what));
		imp_queue_input(q, f, now, &x);
		trace_frame(d, q, what, (uint32_t)n, &x, now);
	} else {
		imp_queue_input(q, f, now, NULL);
	}
	return 1;
drop_silently:
	if (f)
		imp_queue_release(q, f);
	return 1;
}

/* Send everything due in direction d; O(frames due * log queue length). */
static void
tx_due(struct forwarder *fw, int d, uint64_t now)
{
	struct imp_queue *q = &fw->q[d];
	int out = fw->port[1 - d].fd;
	struct imp_frame *f;

	while ((f = imp_queue_pop(q, now)) != NULL) {
		if (send(out, f->data, f->len, MSG_DONTWAIT) < 0) {
			q->c.out--;
			q->c.tx_errors++;
		}
		imp_queue_release(q, f);
	}
}

static int
sigfd_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Returns 1 to keep running, 0 to stop. */
static int
handle_signals(struct forwarder *fw, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			print_counters(fw, "stats");
		else
			return 0;
	}
	return 1;
}

static int
run(struct forwarder *fw, uint64_t duration_us)
{
	uint64_t start = trace_t0 = now_us();
	uint64_t end = duration_us ? start + duration_us : UINT64_MAX;
	int sfd = sigfd_open();
	struct pollfd pfd[3];

	if (sfd < 0) {
		perror("tachyon-impair: signalfd");
		return -1;
	}
	pfd[0] = (struct pollfd){.fd = fw->port[DIR_A2B].fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = fw->port[DIR_B2A].fd, .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = sfd, .events = POLLIN};
	printf("tachyon-impair ready a=%s b=%s\n", fw->port[0].name, fw->port[1].name);
	fflush(stdout);
	for (;;) {
		uint64_t now = now_us(), next = end;
		struct timespec ts;

		for (int d = 0; d < NDIR; d++) {
			uint64_t t;

			tx_due(fw, d, now);
			t = imp_queue_next_us(&fw->q[d]);
			if (t < next)
				next = t;
		}
		if (now >= end)
			break;
		next = next > now ? next - now : 0;
		ts.tv_sec = (time_t)(next / 1000000);
		ts.tv_nsec = (long)(next % 1000000) * 1000;
		if (ppoll(pfd, 3, &ts, NULL) < 0 && errno != EINTR) {
			perror("tachyon-impair: ppoll");
			break;
		}
		if ((pfd[2].revents & POLLIN) && !handle_signals(fw, sfd))
			break;
		now = now_us();
		for (int d = 0; d < NDIR; d++) {
			if (!(pfd[d].revents & POLLIN))
				continue;
			for (int i = 0; i < RX_BURST; i++) {
				int r = rx_one(fw, d, now);

				if (r < 0) {
					fprintf(stderr, "tachyon-impair: %s: %s\n",
					        fw->port[d].name, strerror(errno));
					close(sfd);
					return -1;
				}
				if (r == 0)
					break;
			}
		}
	}
	close(sfd);
	return 0;
}

static int
parse_num(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < 0 ? -1 : 0;
}

static void
to_params(const double *v, struct imp_params *p)
{
	p->loss = v[P_LOSS];
	p->dup = v[P_DUP];
	p->corrupt = v[P_CORRUPT];
	p->reorder = v[P_REORDER];
	p->reorder_gap = (uint32_t)v[P_REORDER_GAP];
	p->reorder_max_us = (uint64_t)(v[P_REORDER_MS] * 1000);
	p->delay_us = (uint64_t)(v[P_DELAY_MS] * 1000);
	p->jitter_us = (uint64_t)(v[P_JITTER_MS] * 1000);
	p->rate_bps = (uint64_t)(v[P_RATE_KBIT] * 1000);
}

int
main(int argc, char **argv)
{
	static struct forwarder fw;
	struct option opts[8 + 3 * NPARAM + 1];
	char names[3 * NPARAM][32];
	double val[NDIR][NPARAM];
	bool set[NDIR][NPARAM] = {{false}};
	double both[NPARAM];
	uint64_t seed = 1;
	double duration = 0, limit = 4096;
	int n = 0, c, rc;

	opts[n++] = (struct option){"a", required_argument, NULL, OPT_A};
	opts[n++] = (struct option){"b", required_argument, NULL, OPT_B};
	opts[n++] = (struct option){"seed", required_argument, NULL, OPT_SEED};
	opts[n++] = (struct option){"duration-s", required_argument, NULL, OPT_DURATION};
	opts[n++] = (struct option){"limit", required_argument, NULL, OPT_LIMIT};
	opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
	opts[n++] = (struct option){"trace", no_argument, NULL, OPT_TRACE};
	opts[n++] = (struct option){"keep-offloads", no_argument, NULL, OPT_KEEP_OFFLOADS};
	for (int p = 0; p < NPARAM; p++) {
		for (int w = 0; w < 3; w++) {
			char *nm = names[3 * p + w];

			snprintf(nm, sizeof(names[0]), "%s%s",
			         w == 0   ? ""
			         : w == 1 ? "a2b-"
			                  : "b2a-",
			         param_name[p]);
			opts[n++] =
			        (struct option){nm, required_argument, NULL, OPT_PARAM + 3 * p + w};
		}
		both[p] = param_default[p];
	}
	opts[n] = (struct option){0};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		double v;

		switch (c) {
		case OPT_A:
			fw.port[DIR_A2B].name = optarg;
			break;
		case OPT_B:
			fw.port[DIR_B2A].name = optarg;
			break;
		case OPT_SEED:
			seed = strtoull(optarg, NULL, 0);
			break;
		case OPT_DURATION:
		case OPT_LIMIT:
			if (parse_num(optarg, c == OPT_LIMIT ? &limit : &duration) < 0)
				goto bad;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_TRACE:
			trace = true;
			break;
		case OPT_KEEP_OFFLOADS:
			keep_offloads = true;
			break;
		default:
			if (c < OPT_PARAM || parse_num(optarg, &v) < 0)
				goto bad;
			c -= OPT_PARAM;
			if (c / 3 <= P_REORDER && v > 1)
				goto bad;
			if (c % 3 == 0) {
				both[c / 3] = v;
			} else {
				val[c % 3 - 1][c / 3] = v;
				set[c % 3 - 1][c / 3] = true;
			}
		}
	}
	if (optind != argc || !fw.port[0].name || !fw.port[1].name || limit < 1 || limit > 1e6)
		goto bad;
	for (int d = 0; d < NDIR; d++) {
		struct imp_params p;

		for (int i = 0; i < NPARAM; i++)
			if (!set[d][i])
				val[d][i] = both[i];
		to_params(val[d], &p);
		if (imp_queue_init(&fw.q[d], (uint32_t)limit, &p, seed, (uint64_t)d) < 0) {
			perror("tachyon-impair: queue");
			return 1;
		}
		printf("tachyon-impair config %s seed=%llu loss=%g dup=%g corrupt=%g reorder=%g "
		       "reorder_gap=%u reorder_ms=%g delay_ms=%g jitter_ms=%g rate_kbit=%g "
		       "limit=%u\n",
		       dir_name[d], (unsigned long long)seed, p.loss, p.dup, p.corrupt, p.reorder,
		       p.reorder_gap, val[d][P_REORDER_MS], val[d][P_DELAY_MS], val[d][P_JITTER_MS],
		       val[d][P_RATE_KBIT], (uint32_t)limit);
	}
	if (open_port(&fw.port[0]) < 0 || open_port(&fw.port[1]) < 0)
		return 1;
	rc = run(&fw, (uint64_t)(duration * 1e6));
	print_counters(&fw, "final");
	for (int d = 0; d < NDIR; d++) {
		close(fw.port[d].fd);
		imp_queue_fini(&fw.q[d]);
	}
	return rc < 0 ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}

/* SPDX-License-Identifier: Apache-2.0
 * tachyond's own command line (everything after the EAL's "--") into struct dp_conf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_pvt.h"

void
dp_conf_defaults(struct dp_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->netmask = htonl(0xffffff00);
	conf->idle = DP_IDLE_BUSY;
	conf->mbufs = 16383; /* 2^n - 1: the mempool ring's best size; ~37 MiB */
	conf->max_conns = 16384;
	conf->rcvbuf = 64 * 1024;
	conf->sndbuf = 64 * 1024;
	conf->rxd = 1024;
	conf->txd = 1024;
	conf->arp_timeout_us = 60 * 1000000u;
	mqtt_broker_conf_defaults(&conf->mqtt);
}

void
dp_usage(const char *prog)
{
	struct mqtt_broker_conf d;

	mqtt_broker_conf_defaults(&d);
	fprintf(stderr,
	        "usage: %s [EAL options] -- --ip ADDR [options]\n"
	        "  EAL options pick cores and the port, e.g.\n"
	        "    -l 1 --in-memory --vdev=net_af_packet0,iface=veth0   (af_packet on a veth)\n"
	        "    -l 2 -a 0000:03:00.0                                  (a NIC bound to "
	        "vfio-pci)\n"
	        "  options:\n"
	        "    --ip ADDR             our IPv4 address (required)\n"
	        "    --netmask MASK        default 255.255.255.0\n"
	        "    --gateway ADDR        next hop for off-link peers (default: none)\n"
	        "    --port N              MQTT listener port, repeatable (default 1883)\n"
	        "    --idle busy|adaptive  busy: spin (dedicated core, the default); adaptive: "
	        "sleep\n"
	        "                          up to 1 ms after a few hundred empty polls\n"
	        "    --mbufs N             packet buffers in the pool (default 16383)\n"
	        "    --max-conns N         TCP connections, SYN_RCVD included (default 16384)\n"
	        "    --rcvbuf BYTES        TCP receive window per connection (default 65536)\n"
	        "    --sndbuf BYTES        TCP send queue per connection (default 65536)\n"
	        "    --mtu N               IP MTU (default: the port's)\n"
	        "    --max-packet-size N   largest MQTT packet accepted, bytes (default %u)\n"
	        "    --max-inflight N      unacknowledged QoS 1/2 messages per session (default "
	        "%u)\n"
	        "    --max-queued N        messages queued per session behind those; more are\n"
	        "                          dropped and counted (default %u)\n"
	        "    --help                this text\n",
	        prog, d.max_packet_size, d.max_inflight, d.max_queued);
}

static int
dp_parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "tachyond: --%s: '%s' is not a number in %u..%u\n", opt, s, min,
		        max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
dp_parse_ip(const char *opt, const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "tachyond: --%s: '%s' is not an IPv4 address\n", opt, s);
		return -EINVAL;
	}
	*out = a.s_addr;
	return 0;
}

enum {
	OPT_IP = 256,
	OPT_NETMASK,
	OPT_GATEWAY,
	OPT_PORT,
	OPT_IDLE,
	OPT_MBUFS,
	OPT_MAX_CONNS,
	OPT_RCVBUF,
	OPT_SNDBUF,
	OPT_MTU,
	OPT_MAX_PACKET,
	OPT_MAX_INFLIGHT,
	OPT_MAX_QUEUED,
	OPT_HELP,
};

static const struct option dp_long_opts[] = {
        {"ip", required_argument, NULL, OPT_IP},
        {"netmask", required_argument, NULL, OPT_NETMASK},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"port", required_argument, NULL, OPT_PORT},
        {"idle", required_argument, NULL, OPT_IDLE},
        {"mbufs", required_argument, NULL, OPT_MBUFS},
        {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
        {"rcvbuf", required_argument, NULL, OPT_RCVBUF},
        {"sndbuf", required_argument, NULL, OPT_SNDBUF},
        {"mtu", required_argument, NULL, OPT_MTU},
        {"max-packet-size", required_argument, NULL, OPT_MAX_PACKET},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

static int
dp_conf_opt(struct dp_conf *conf, int opt, const char *arg)
{
	const char *name = dp_long_opts[opt - OPT_IP].name;
	uint32_t v;
	int ret;

	switch (opt) {
	case OPT_IP:
		return dp_parse_ip(name, arg, &conf->ip);
	case OPT_NETMASK:
		ret = dp_parse_ip(name, arg, &conf->netmask);
		v = ntohl(conf->netmask);
		if (ret == 0 && (v & (~v >> 1)) != 0) {
			fprintf(stderr, "tachyond: --netmask: '%s' is not contiguous\n", arg);
			ret = -EINVAL;
		}
		return ret;
	case OPT_GATEWAY:
		return dp_parse_ip(name, arg, &conf->gateway);
	case OPT_PORT:
		if (conf->n_listen == DP_MAX_LISTENERS) {
			fprintf(stderr, "tachyond: at most %d --port options\n", DP_MAX_LISTENERS);
			return -EINVAL;
		}
		ret = dp_parse_u32(name, arg, 1, 65535, &v);
		conf->listen_port[conf->n_listen++] = (uint16_t)v;
		return ret;
	case OPT_IDLE:
		if (strcmp(arg, "busy") == 0)
			conf->idle = DP_IDLE_BUSY;
		else if (strcmp(arg, "adaptive") == 0)
			conf->idle = DP_IDLE_ADAPTIVE;
		else {
			fprintf(stderr, "tachyond: --idle: '%s' is not busy or adaptive\n", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_MBUFS:
		return dp_parse_u32(name, arg, 1023, 1u << 24, &conf->mbufs);
	case OPT_MAX_CONNS:
		return dp_parse_u32(name, arg, 1, 1u << 24, &conf->max_conns);
	case OPT_RCVBUF:
		return dp_parse_u32(name, arg, 4096, 1u << 30, &conf->rcvbuf);
	case OPT_SNDBUF:
		return dp_parse_u32(name, arg, 4096, 1u << 30, &conf->sndbuf);
	case OPT_MTU:
		ret = dp_parse_u32(name, arg, 576, 9000, &v);
		conf->mtu = (uint16_t)v;
		return ret;
	case OPT_MAX_PACKET:
		/* 268435455: the largest MQTT remaining length plus its 5 header bytes. */
		return dp_parse_u32(name, arg, 16, 268435460u, &conf->mqtt.max_packet_size);
	case OPT_MAX_INFLIGHT:
		return dp_parse_u32(name, arg, 1, 65535, &conf->mqtt.max_inflight);
	case OPT_MAX_QUEUED:
		return dp_parse_u32(name, arg, 0, 1u << 24, &conf->mqtt.max_queued);
	}
	return -EINVAL;
}

int
dp_conf_parse_args(struct dp_conf *conf, int argc, char **argv)
{
	int opt, ret;

	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "+", dp_long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			dp_usage(argv[0]);
			return 1;
		}
		if (opt == '?' || opt == ':') {
			dp_usage(argv[0]);
			return -EINVAL;
		}
		ret = dp_conf_opt(conf, opt, optarg);
		if (ret < 0)
			return ret;
	}
	if (optind < argc) {
		fprintf(stderr, "tachyond: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (conf->ip == 0) {
		fprintf(stderr, "tachyond: --ip is required\n");
		return -EINVAL;
	}
	if (conf->gateway != 0 && (conf->gateway & conf->netmask) != (conf->ip & conf->netmask)) {
		fprintf(stderr, "tachyond: --gateway is not on the --ip/--netmask network\n");
		return -EINVAL;
	}
	if (conf->n_listen == 0)
		conf->listen_port[conf->n_listen++] = 1883;
	optind = 1;
	return 0;
}

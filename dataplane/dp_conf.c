/* SPDX-License-Identifier: Apache-2.0
 * tachyond's configuration: the config file (control/ctl_config.h, one format for tachyond and
 * tachyon-control) and, on top of it, tachyond's own command line (everything after the EAL's
 * "--"). The effective result stays in conf->cfg, so `tachyonctl config show` shows what runs;
 * dp_conf_finish() derives the dataplane's working fields from it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_ctl.h"
#include "dp_pvt.h"
#include "dp_ws.h"

/* Exit status for a configuration error, as tachyonctl and tachyon-control use. */
#define DP_EXIT_CONFIG 5

void
dp_conf_defaults(struct dp_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	ctl_config_defaults(&conf->cfg);
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
	struct ctl_config d;

	ctl_config_defaults(&d);
	fprintf(stdout, /* only for --help: errors print a hint instead */
	        "usage: %s [EAL options] -- [options]\n"
	        "       %s --check-config FILE\n"
	        "  EAL options pick cores and the port, e.g.\n"
	        "    -l 1 --in-memory --vdev=net_af_packet0,iface=veth0   (af_packet on a veth)\n"
	        "    -l 2 -a 0000:03:00.0                                  (a NIC bound to "
	        "vfio-pci)\n"
	        "  options (each overrides the config file's):\n"
	        "    --config FILE         read the configuration file (docs/configuration.md)\n"
	        "    --check-config FILE   validate FILE and exit: 0 valid, %d invalid\n"
	        "    --ctl-socket PATH     control socket (default: the config's "
	        "dataplane_socket)\n"
	        "    --ip ADDR             our IPv4 address (default %u.%u.%u.%u)\n"
	        "    --netmask MASK        default 255.255.255.0\n"
	        "    --gateway ADDR        next hop for off-link peers (default: none)\n"
	        "    --mac XX:XX:XX:XX:XX:XX  the port's MAC address (default: the port's own)\n"
	        "    --port N              MQTT listener port, repeatable (default 1883)\n"
	        "    --idle busy|adaptive  busy: spin (a dedicated core); adaptive (default): "
	        "sleep\n"
	        "                          up to 1 ms after a few hundred empty polls\n"
	        "    --mbufs N             packet buffers in the pool (default %u)\n"
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
	        prog, prog, DP_EXIT_CONFIG, d.address >> 24, (d.address >> 16) & 255,
	        (d.address >> 8) & 255, d.address & 255, d.mbufs, d.max_packet_size,
	        d.max_inflight_messages, d.max_queued_messages);
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

/* Into host byte order, as struct ctl_config keeps addresses. */
static int
dp_parse_ip(const char *opt, const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "tachyond: --%s: '%s' is not an IPv4 address\n", opt, s);
		return -EINVAL;
	}
	*out = ntohl(a.s_addr);
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
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
	OPT_CTL_SOCKET,
	OPT_MAC,
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
        {"config", required_argument, NULL, OPT_CONFIG},
        {"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
        {"ctl-socket", required_argument, NULL, OPT_CTL_SOCKET},
        {"mac", required_argument, NULL, OPT_MAC},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

/* The first --port replaces the file's listeners; later ones add to it. */
static int
dp_conf_port(struct dp_conf *conf, const char *name, const char *arg)
{
	struct ctl_config *c = &conf->cfg;
	uint32_t v;

	if (dp_parse_u32(name, arg, 1, 65535, &v) < 0)
		return -EINVAL;
	if (!conf->ports_given) {
		conf->ports_given = 1;
		c->n_listeners = 0;
	}
	if (c->n_listeners == CTL_MAX_LISTENERS) {
		fprintf(stderr, "tachyond: at most %d --port options\n", CTL_MAX_LISTENERS);
		return -EINVAL;
	}
	memset(&c->listeners[c->n_listeners], 0, sizeof(c->listeners[0]));
	c->listeners[c->n_listeners].port = (uint16_t)v;
	c->listeners[c->n_listeners].proto = CTL_PROTO_MQTT;
	c->n_listeners++;
	return 0;
}

static int
dp_conf_opt(struct dp_conf *conf, int opt, const char *arg)
{
	const char *name = dp_long_opts[opt - OPT_IP].name;
	struct ctl_config *c = &conf->cfg;
	uint32_t v;

	switch (opt) {
	case OPT_IP:
		return dp_parse_ip(name, arg, &c->address);
	case OPT_NETMASK:
		if (dp_parse_ip(name, arg, &v) < 0)
			return -EINVAL;
		if ((v & (~v >> 1)) != 0) {
			fprintf(stderr, "tachyond: --netmask: '%s' is not contiguous\n", arg);
			return -EINVAL;
		}
		c->netmask = v;
		return 0;
	case OPT_GATEWAY:
		return dp_parse_ip(name, arg, &c->gateway);
	case OPT_PORT:
		return dp_conf_port(conf, name, arg);
	case OPT_IDLE:
		if (strcmp(arg, "busy") == 0)
			c->idle_policy = CTL_IDLE_BUSY;
		else if (strcmp(arg, "adaptive") == 0)
			c->idle_policy = CTL_IDLE_ADAPTIVE;
		else {
			fprintf(stderr, "tachyond: --idle: '%s' is not busy or adaptive\n", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_MBUFS:
		return dp_parse_u32(name, arg, 1023, 16777215, &c->mbufs);
	case OPT_MAX_CONNS:
		return dp_parse_u32(name, arg, 1, 1u << 24, &conf->max_conns);
	case OPT_RCVBUF:
		return dp_parse_u32(name, arg, 4096, 1u << 30, &conf->rcvbuf);
	case OPT_SNDBUF:
		return dp_parse_u32(name, arg, 4096, 1u << 30, &conf->sndbuf);
	case OPT_MTU:
		if (dp_parse_u32(name, arg, 576, 9000, &v) < 0)
			return -EINVAL;
		conf->mtu = (uint16_t)v;
		return 0;
	case OPT_MAX_PACKET:
		/* The config file's range: the largest MQTT remaining length. */
		return dp_parse_u32(name, arg, 16, 268435455u, &c->max_packet_size);
	case OPT_MAX_INFLIGHT:
		return dp_parse_u32(name, arg, 1, 65535, &c->max_inflight_messages);
	case OPT_MAX_QUEUED:
		return dp_parse_u32(name, arg, 0, 1u << 24, &c->max_queued_messages);
	case OPT_CTL_SOCKET:
		if (strlen(arg) >= sizeof(c->dataplane_socket)) {
			fprintf(stderr, "tachyond: --ctl-socket: longer than %zu bytes\n",
			        sizeof(c->dataplane_socket) - 1);
			return -EINVAL;
		}
		conf->ctl_socket = arg;
		return 0;
	case OPT_MAC:
		if (rte_ether_unformat_addr(arg, &conf->mac) < 0 ||
		    !rte_is_valid_assigned_ether_addr(&conf->mac)) {
			fprintf(stderr, "tachyond: --mac: '%s' is not a unicast MAC address\n",
			        arg);
			return -EINVAL;
		}
		conf->mac_given = 1;
		return 0;
	case OPT_CONFIG:
	case OPT_CHECK_CONFIG:
		return 0; /* first pass */
	}
	return -EINVAL;
}

/* Derive the working fields and check what only tachyond can: it serves MQTT, MQTT over TLS and
 * MQTT over WebSocket on its own address. */
static int
dp_conf_finish(struct dp_conf *conf)
{
	const struct ctl_config *c = &conf->cfg;

	conf->ip = htonl(c->address);
	conf->netmask = htonl(c->netmask);
	conf->gateway = htonl(c->gateway);
	conf->mbufs = c->mbufs;
	conf->idle = c->idle_policy == CTL_IDLE_BUSY ? DP_IDLE_BUSY : DP_IDLE_ADAPTIVE;
	dp_ctl_mqtt_conf(c, &conf->mqtt);
	if (c->address == 0) {
		fprintf(stderr, "tachyond: no address: give --ip or `address` in the config\n");
		return -EINVAL;
	}
	if (c->gateway != 0 && (c->gateway & c->netmask) != (c->address & c->netmask)) {
		fprintf(stderr, "tachyond: --gateway is not on the --ip/--netmask network\n");
		return -EINVAL;
	}
	if (c->n_listeners == 0) {
		fprintf(stderr, "tachyond: no listener\n");
		return -EINVAL;
	}
	conf->n_listen = 0;
	for (unsigned int i = 0; i < c->n_listeners; i++) {
		const struct ctl_listener *l = &c->listeners[i];

		if (l->bind_ip != 0 && l->bind_ip != c->address) {
			fprintf(stderr, "tachyond: listener %u: address is not the dataplane's\n",
			        l->port);
			return -EINVAL;
		}
		/* A frame is one MQTT packet (or a few): past the largest packet plus 64 KiB it
		 * is refused with 1009 rather than streamed on. */
		dp_ws_configure(conf->n_listen, l->proto == CTL_PROTO_WS,
		                (uint64_t)conf->mqtt.max_packet_size + 65536);
		conf->listen_port[conf->n_listen++] = l->port;
	}
	return 0;
}

static int
dp_conf_load(struct dp_conf *conf, const char *path)
{
	char err[CTL_ERR_MAX];

	if (ctl_config_load(path, &conf->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	conf->config_path = path;
	return 0;
}

int
dp_conf_parse_args(struct dp_conf *conf, int argc, char **argv, int *status)
{
	int opt;

	/* Pass 1: what decides everything else (--help, --check-config, --config). */
	*status = 2;
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "+", dp_long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			dp_usage(argv[0]);
			*status = EXIT_SUCCESS;
			return 1;
		}
		if (opt == '?' || opt == ':')
			return -EINVAL;
		if (opt == OPT_CHECK_CONFIG) {
			*status = dp_conf_load(conf, optarg) < 0 ? DP_EXIT_CONFIG : EXIT_SUCCESS;
			if (*status == EXIT_SUCCESS)
				printf("%s: OK\n", optarg);
			return 1;
		}
		if (opt == OPT_CONFIG && dp_conf_load(conf, optarg) < 0) {
			*status = DP_EXIT_CONFIG;
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tachyond: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	/* Pass 2: the command line on top of the file. */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+", dp_long_opts, NULL)) != -1) {
		if (dp_conf_opt(conf, opt, optarg) < 0)
			return -EINVAL;
	}
	optind = 1;
	if (dp_conf_finish(conf) < 0)
		return -EINVAL;
	*status = EXIT_SUCCESS;
	return 0;
}

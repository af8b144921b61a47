/* SPDX-License-Identifier: Apache-2.0
 * Configuration file parser. One table (opts[]) describes every option; parsing, defaults,
 * formatting, diffing and the documentation table are all loops over it, so an option added
 * there is parsed, checked, documented and classified for reload at once.
 */
#include "control/ctl_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A configuration file larger than this is a mistake, not a configuration. */
#define CTL_FILE_MAX (1u << 20)

enum opt_type { T_U32, T_SIZE, T_BOOL, T_ENUM, T_IPV4, T_NETMASK, T_STR, T_CPULIST, T_HOSTPORT };
enum opt_scope { S_GLOBAL, S_LISTENER };

struct opt {
	const char *name;
	uint8_t type, scope, reload;
	uint16_t off;             /* in struct ctl_config or struct ctl_listener */
	uint16_t size;            /* of the field (strings: buffer size) */
	uint32_t min, max;        /* numbers: inclusive range */
	const char *def;          /* default, in file syntax ("" for an empty string) */
	const char *const *names; /* T_ENUM: value names, index = stored value */
	const char *doc;
};

static const char *const proto_names[] = {"mqtt", "tls", "websockets", NULL};
static const char *const tls_version_names[] = {"tlsv1.2", "tlsv1.3", NULL};
static const char *const cc_names[] = {"newreno", "cubic", NULL};
static const char *const idle_names[] = {"adaptive", "busy", NULL};
static const char *const level_names[] = {"emerg",  "alert", "crit",  "err", "warning",
                                          "notice", "info",  "debug", NULL};

#define G(f) offsetof(struct ctl_config, f), sizeof(((struct ctl_config *)0)->f)
#define L(f) offsetof(struct ctl_listener, f), sizeof(((struct ctl_listener *)0)->f)

static const struct opt opts[] = {
        /* dataplane */
        {"address", T_IPV4, S_GLOBAL, CTL_RELOAD_RESTART, G(address), 0, 0, "198.18.0.1", NULL,
         "IPv4 address of the dataplane port."},
        {"netmask", T_NETMASK, S_GLOBAL, CTL_RELOAD_RESTART, G(netmask), 0, 0, "255.255.255.0",
         NULL, "Netmask of the dataplane subnet (contiguous)."},
        {"gateway", T_IPV4, S_GLOBAL, CTL_RELOAD_RESTART, G(gateway), 0, 0, "0.0.0.0", NULL,
         "Next hop for destinations outside the subnet; 0.0.0.0 = none. Must be inside the "
         "subnet."},
        {"lcores", T_CPULIST, S_GLOBAL, CTL_RELOAD_RESTART, G(lcores), 0, 0, "1", NULL,
         "CPU list of the polling lcores (`1`, `1-3`, `1,3,5`); one RX/TX queue each."},
        {"mbufs", T_U32, S_GLOBAL, CTL_RELOAD_RESTART, G(mbufs), 1023, 16777215, "8191", NULL,
         "Mbufs per lcore pool."},
        {"idle_policy", T_ENUM, S_GLOBAL, CTL_RELOAD_LIVE, G(idle_policy), 0, 0, "adaptive",
         idle_names,
         "`busy`: poll without pause (dedicated cores); `adaptive`: short sleeps after empty "
         "polls, none under load."},
        {"eal_args", T_STR, S_GLOBAL, CTL_RELOAD_RESTART, G(eal_args), 0, 0, "", NULL,
         "Extra DPDK EAL arguments, space-separated (e.g. `--vdev=net_af_packet0,iface=veth0`)."},
        {"dataplane_socket", T_STR, S_GLOBAL, CTL_RELOAD_RESTART, G(dataplane_socket), 0, 0,
         "/run/tachyon/tachyond.sock", NULL,
         "Unix socket where tachyond answers tachyon-control (and tachyonctl as a fallback)."},
        /* control process */
        {"control_socket", T_STR, S_GLOBAL, CTL_RELOAD_CONTROL, G(control_socket), 0, 0,
         "/run/tachyon/control.sock", NULL,
         "Unix socket where tachyon-control answers tachyonctl."},
        {"metrics_listen", T_HOSTPORT, S_GLOBAL, CTL_RELOAD_CONTROL, G(metrics_ip), 0, 65535,
         "127.0.0.1:9883", NULL,
         "Address:port of the Prometheus endpoint (`/metrics`); port 0 disables it."},
        {"sys_interval", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(sys_interval), 0, 86400, "10", NULL,
         "Seconds between `$SYS/broker/...` updates; 0 disables them."},
        {"log_level", T_ENUM, S_GLOBAL, CTL_RELOAD_LIVE, G(log_level), 0, 0, "info", level_names,
         "Least severe level logged."},
        /* MQTT limits */
        {"max_packet_size", T_SIZE, S_GLOBAL, CTL_RELOAD_LIVE, G(max_packet_size), 16, 268435455,
         "16M", NULL, "Largest MQTT packet accepted, bytes (suffixes K, M: powers of 1024)."},
        {"max_inflight_messages", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_inflight_messages), 1,
         65535, "20", NULL, "QoS 1/2 messages in flight to one client."},
        {"max_queued_messages", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_queued_messages), 0,
         1000000, "1000", NULL, "Messages queued per session behind the inflight window."},
        {"max_connections", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_connections), 0, 100000000, "0",
         NULL,
         "MQTT connections (past CONNECT) of the whole broker; 0 = unlimited. Beyond it: "
         "CONNACK 0x97 (3.x: 0x03)."},
        {"max_subscriptions", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_subscriptions), 0, 1000000,
         "0", NULL, "Subscriptions per client; 0 = unlimited."},
        {"max_topic_length", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_topic_length), 1, 65535,
         "65535", NULL, "Longest topic name or filter, bytes."},
        {"max_keepalive", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_keepalive), 0, 65535, "65535",
         NULL,
         "Largest keep-alive a client may ask for, seconds (0 and 65535: no bound). Beyond "
         "it (or 0): MQTT 5 clients get a Server Keep Alive of this value, 3.x clients are "
         "refused with CONNACK 0x02 as Mosquitto 2 does."},
        {"min_keepalive", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(min_keepalive), 0, 65535, "0", NULL,
         "Smallest non-zero keep-alive accepted, seconds; at most max_keepalive. Below it: "
         "MQTT 5 clients get a Server Keep Alive of this value, 3.x clients are refused with "
         "CONNACK 0x02."},
        {"connect_timeout", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(connect_timeout), 1, 3600, "10",
         NULL, "Seconds from TCP handshake to CONNECT before the connection is closed."},
        {"max_topic_levels", T_U32, S_GLOBAL, CTL_RELOAD_RESTART, G(max_topic_levels), 0, 65535,
         "0", NULL,
         "Most `/`-separated levels of a topic name or filter; 0 = unlimited. Beyond it: "
         "PUBLISH answered 0x90 (3.x: closed), SUBSCRIBE 0x8F (3.x: 0x80)."},
        {"max_connection_rate", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_connection_rate), 0,
         1000000, "0", NULL,
         "New connections per second from one source IPv4 address (token bucket, per "
         "lcore); 0 = unlimited. Beyond it: CONNACK 0x9F (3.x: 0x03)."},
        {"connection_rate_burst", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(connection_rate_burst), 1,
         1000000, "10", NULL,
         "Connections one source address may open at once before `max_connection_rate` "
         "applies."},
        {"max_publish_rate", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(max_publish_rate), 0, 1000000, "0",
         NULL,
         "PUBLISH packets per second from one connection (token bucket); 0 = unlimited. "
         "Beyond it: DISCONNECT 0x96 (3.x: closed)."},
        {"publish_rate_burst", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(publish_rate_burst), 1, 1000000,
         "100", NULL,
         "PUBLISH packets one connection may send at once before `max_publish_rate` applies."},
        {"password_file", T_STR, S_GLOBAL, CTL_RELOAD_LIVE, G(password_file), 0, 0, "", NULL,
         "Password file (`tachyonctl passwd`); empty = none."},
        {"acl_file", T_STR, S_GLOBAL, CTL_RELOAD_LIVE, G(acl_file), 0, 0, "", NULL,
         "ACL file (docs/security.md); empty = none (everything allowed). Once set, deny by "
         "default."},
        {"password_iterations", T_U32, S_GLOBAL, CTL_RELOAD_LIVE, G(password_iterations), 1000,
         100000000, "210000", NULL,
         "PBKDF2-HMAC-SHA512 iterations of hashes `tachyonctl passwd add` writes (existing "
         "entries keep theirs)."},
        /* listener blocks */
        {"protocol", T_ENUM, S_LISTENER, CTL_RELOAD_RESTART, L(proto), 0, 0, "mqtt", proto_names,
         "What the listener speaks."},
        {"congestion_control", T_ENUM, S_LISTENER, CTL_RELOAD_RESTART, L(cc), 0, 0, "newreno",
         cc_names,
         "TCP congestion controller of the listener's connections: NewReno (RFC 5681/6582) or "
         "CUBIC (RFC 9438), both with SACK recovery (RFC 6675)."},
        {"max_connections", T_U32, S_LISTENER, CTL_RELOAD_RESTART, L(max_connections), 0, 100000000,
         "0", NULL,
         "MQTT connections (past CONNECT) on this listener; 0 = global limit only. Beyond "
         "it: CONNACK 0x97 (3.x: 0x03)."},
        {"certfile", T_STR, S_LISTENER, CTL_RELOAD_RESTART, L(certfile), 0, 0, "", NULL,
         "PEM server certificate (chain); required for `tls`."},
        {"keyfile", T_STR, S_LISTENER, CTL_RELOAD_RESTART, L(keyfile), 0, 0, "", NULL,
         "PEM private key; required for `tls`."},
        {"cafile", T_STR, S_LISTENER, CTL_RELOAD_RESTART, L(cafile), 0, 0, "", NULL,
         "PEM CA bundle to verify client certificates; empty = none asked."},
        {"allow_anonymous", T_BOOL, S_LISTENER, CTL_RELOAD_RESTART, L(allow_anonymous), 0, 0,
         "false", NULL,
         "Accept clients without a user name. With neither `password_file` nor `acl_file` "
         "set, every listener accepts them (no users exist)."},
        {"require_certificate", T_BOOL, S_LISTENER, CTL_RELOAD_RESTART, L(require_certificate), 0,
         0, "false", NULL,
         "`tls`: refuse clients without a certificate signed by `cafile` (with `false` and a "
         "`cafile`, one is asked for but optional)."},
        {"use_identity_as_username", T_BOOL, S_LISTENER, CTL_RELOAD_RESTART,
         L(use_identity_as_username), 0, 0, "false", NULL,
         "`tls`: the client certificate's subject CN is the user name (the CONNECT's is "
         "ignored; no password check); needs `require_certificate true`."},
        {"tls_version", T_ENUM, S_LISTENER, CTL_RELOAD_RESTART, L(tls_version), 0, 0, "tlsv1.2",
         tls_version_names, "`tls`: lowest TLS version accepted (`tlsv1.2` or `tlsv1.3`)."},
        {"ciphersuites", T_STR, S_LISTENER, CTL_RELOAD_RESTART, L(ciphersuites), 0, 0, "", NULL,
         "`tls`: TLS 1.3 cipher suites, OpenSSL syntax; empty = AES-128-GCM, AES-256-GCM, "
         "ChaCha20-Poly1305."},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* Error context of one parse. */
struct pctx {
	const char *name;
	unsigned int line;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3))) perr(struct pctx *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->errlen == 0)
		return -EINVAL;
	if (p->line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
parse_u32(const char *v, int sizes, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno)
		return -ERANGE;
	if (sizes && *end) {
		unsigned int shift = 0;

		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (x > (UINT64_MAX >> shift))
			return -ERANGE;
		x <<= shift;
	}
	if (*end)
		return -EINVAL;
	*out = x;
	return 0;
}

static int
parse_ipv4(const char *v, uint32_t *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, v, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}

/* "1", "1-3", "1,3,5-6": every CPU below 1024, ranges ascending. */
static int
check_cpulist(const char *v)
{
	const char *s = v;

	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		unsigned long a, b;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		a = strtoul(s, &end, 10);
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s))
				return -EINVAL;
			b = strtoul(s, &end, 10);
			s = end;
		}
		if (a > b || b >= 1024)
			return -EINVAL;
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
		if (s[-1] == ',' && !*s)
			return -EINVAL;
	}
	return 0;
}

static void
fmt_ip(uint32_t ip, char *buf, size_t len)
{
	struct in_addr a = {.s_addr = htonl(ip)};

	inet_ntop(AF_INET, &a, buf, len);
}

/* Store value `v` of option `o` into the struct at `base`. */
static int
set_opt(struct pctx *p, const struct opt *o, void *base, const char *v)
{
	uint8_t *f = (uint8_t *)base + o->off;
	uint64_t x;
	uint32_t ip;
	int rc;

	if (!*v && o->type != T_STR)
		return perr(p, "%s: missing value", o->name);
	switch (o->type) {
	case T_U32:
	case T_SIZE:
		rc = parse_u32(v, o->type == T_SIZE, &x);
		if (rc == -EINVAL)
			return perr(p, "%s: '%s' is not %s", o->name, v,
			            o->type == T_SIZE ? "a size (digits, optional K/M/G)"
			                              : "a non-negative integer");
		if (rc || x < o->min || x > o->max)
			return perr(p, "%s: %s is out of range %u..%u", o->name, v, o->min, o->max);
		*(uint32_t *)f = (uint32_t)x;
		return 0;
	case T_BOOL:
		if (!strcmp(v, "true"))
			*(uint32_t *)f = 1;
		else if (!strcmp(v, "false"))
			*(uint32_t *)f = 0;
		else
			return perr(p, "%s: '%s' is not true or false", o->name, v);
		return 0;
	case T_ENUM:
		for (unsigned int i = 0; o->names[i]; i++) {
			if (!strcmp(v, o->names[i])) {
				if (o->size == 1)
					*f = (uint8_t)i;
				else
					*(uint32_t *)f = i;
				return 0;
			}
		}
		{
			char list[160] = "";
			size_t n = 0;

			for (unsigned int i = 0; o->names[i]; i++)
				n += snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
				              o->names[i]);
			return perr(p, "%s: '%s' is not one of %s", o->name, v, list);
		}
	case T_IPV4:
		if (parse_ipv4(v, &ip))
			return perr(p, "%s: '%s' is not an IPv4 address", o->name, v);
		*(uint32_t *)f = ip;
		return 0;
	case T_NETMASK:
		if (parse_ipv4(v, &ip) || ip == 0 || (~ip & (~ip + 1)) != 0)
			return perr(p, "%s: '%s' is not a contiguous IPv4 netmask", o->name, v);
		*(uint32_t *)f = ip;
		return 0;
	case T_STR:
		if (strlen(v) >= o->size)
			return perr(p, "%s: value is %zu bytes, longer than the maximum %u",
			            o->name, strlen(v), o->size - 1);
		memset(f, 0, o->size);
		memcpy(f, v, strlen(v));
		return 0;
	case T_CPULIST:
		if (strlen(v) >= o->size || check_cpulist(v))
			return perr(p, "%s: '%s' is not a CPU list (like 1 or 1-3,5)", o->name, v);
		memset(f, 0, o->size);
		memcpy(f, v, strlen(v));
		return 0;
	case T_HOSTPORT: {
		char host[64];
		const char *colon = strrchr(v, ':');
		uint64_t port;

		if (!colon || (size_t)(colon - v) >= sizeof(host))
			return perr(p, "%s: '%s' is not ADDRESS:PORT", o->name, v);
		memcpy(host, v, colon - v);
		host[colon - v] = 0;
		if (parse_ipv4(host, &ip))
			return perr(p, "%s: '%s' is not an IPv4 address", o->name, host);
		if (parse_u32(colon + 1, 0, &port) || port > o->max)
			return perr(p, "%s: port '%s' is out of range 0..65535", o->name,
			            colon + 1);
		/* metrics_ip is followed by metrics_port in struct ctl_config */
		*(uint32_t *)f = ip;
		*(uint16_t *)(f + offsetof(struct ctl_config, metrics_port) -
		              offsetof(struct ctl_config, metrics_ip)) = (uint16_t)port;
		return 0;
	}
	}
	return perr(p, "%s: internal error: bad option type", o->name);
}

/* Value of option `o` at `base`, in file syntax. */
static void
get_opt(const struct opt *o, const void *base, char *buf, size_t len)
{
	const uint8_t *f = (const uint8_t *)base + o->off;

	switch (o->type) {
	case T_U32:
	case T_SIZE:
		snprintf(buf, len, "%u", *(const uint32_t *)f);
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const uint32_t *)f ? "true" : "false");
		break;
	case T_ENUM:
		snprintf(buf, len, "%s", o->names[o->size == 1 ? *f : *(const uint32_t *)f]);
		break;
	case T_IPV4:
	case T_NETMASK:
		fmt_ip(*(const uint32_t *)f, buf, len);
		break;
	case T_STR:
	case T_CPULIST:
		snprintf(buf, len, "%s", (const char *)f);
		break;
	case T_HOSTPORT: {
		const struct ctl_config *c = base;
		char ip[INET_ADDRSTRLEN];

		fmt_ip(c->metrics_ip, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, c->metrics_port);
		break;
	}
	}
}

static const struct opt *
find_opt(const char *name, int scope)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (opts[i].scope == scope && !strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

/* Zero the struct at `base` (padding included, for memcmp) and set every option of `scope`
 * to its default. */
static void
scope_defaults(void *base, size_t size, int scope)
{
	struct pctx p = {.name = "defaults"};

	memset(base, 0, size);
	for (size_t i = 0; i < N_OPTS; i++)
		if (opts[i].scope == scope)
			set_opt(&p, &opts[i], base, opts[i].def);
}

static void
listener_defaults(struct ctl_listener *l)
{
	scope_defaults(l, sizeof(*l), S_LISTENER);
}

void
ctl_config_defaults(struct ctl_config *cfg)
{
	scope_defaults(cfg, sizeof(*cfg), S_GLOBAL);
	cfg->n_listeners = 1;
	listener_defaults(&cfg->listeners[0]);
	cfg->listeners[0].port = 1883;
}

/* `listener PORT [ADDRESS]` */
static int
parse_listener(struct pctx *p, struct ctl_config *cfg, char *v)
{
	char *port_s = strtok(v, " \t"), *addr = strtok(NULL, " \t"), *extra = strtok(NULL, "");
	struct ctl_listener *l;
	uint64_t port;
	uint32_t ip = 0;

	if (!port_s)
		return perr(p, "listener: missing port");
	if (extra)
		return perr(p, "listener: unexpected '%s' after the address", extra);
	if (parse_u32(port_s, 0, &port) || port < 1 || port > 65535)
		return perr(p, "listener: port '%s' is out of range 1..65535", port_s);
	if (addr && parse_ipv4(addr, &ip))
		return perr(p, "listener: '%s' is not an IPv4 address", addr);
	for (unsigned int i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].port == port)
			return perr(p, "listener: port %u already used by the listener at line %u",
			            (unsigned int)port, cfg->listeners[i].line);
	if (cfg->n_listeners == CTL_MAX_LISTENERS)
		return perr(p, "listener: more than %d listeners", CTL_MAX_LISTENERS);
	l = &cfg->listeners[cfg->n_listeners++];
	listener_defaults(l);
	l->port = (uint16_t)port;
	l->bind_ip = ip;
	l->line = p->line;
	return 0;
}

/* Checks that involve several options; reported at the line of the option that broke them. */
static int
check_whole(struct pctx *p, struct ctl_config *cfg, const unsigned int *gline)
{
#define LINE_OF(name) (p->line = gline[find_opt(name, S_GLOBAL) - opts])
	if (cfg->min_keepalive > cfg->max_keepalive) {
		LINE_OF("min_keepalive");
		if (!p->line)
			LINE_OF("max_keepalive");
		return perr(p, "min_keepalive: %u is greater than max_keepalive %u",
		            cfg->min_keepalive, cfg->max_keepalive);
	}
	if (cfg->gateway && (cfg->gateway & cfg->netmask) != (cfg->address & cfg->netmask)) {
		char gw[INET_ADDRSTRLEN];

		LINE_OF("gateway");
		fmt_ip(cfg->gateway, gw, sizeof(gw));
		return perr(p, "gateway: %s is outside the subnet of address/netmask", gw);
	}
	if (cfg->gateway == cfg->address && cfg->address) {
		LINE_OF("gateway");
		return perr(p, "gateway: equals address");
	}
#undef LINE_OF
	for (unsigned int i = 0; i < cfg->n_listeners; i++) {
		struct ctl_listener *l = &cfg->listeners[i];

		p->line = l->line;
		if (l->bind_ip && l->bind_ip != cfg->address) {
			char a[INET_ADDRSTRLEN];

			fmt_ip(l->bind_ip, a, sizeof(a));
			return perr(p, "listener %u: %s is not the dataplane address", l->port, a);
		}
		if (l->proto == CTL_PROTO_TLS && (!l->certfile[0] || !l->keyfile[0]))
			return perr(p, "listener %u: protocol tls needs certfile and keyfile",
			            l->port);
		if (l->proto != CTL_PROTO_TLS && (l->certfile[0] || l->keyfile[0] || l->cafile[0]))
			return perr(p, "listener %u: certfile/keyfile/cafile need protocol tls",
			            l->port);
		if (l->require_certificate && !l->cafile[0])
			return perr(p, "listener %u: require_certificate needs cafile", l->port);
		if (l->use_identity_as_username && !l->require_certificate)
			return perr(p,
			            "listener %u: use_identity_as_username needs "
			            "require_certificate true",
			            l->port);
	}
	return 0;
}

int
ctl_config_parse(const char *text, size_t len, const char *name, struct ctl_config *out,
                 char *errbuf, size_t errlen)
{
	struct pctx p = {.name = name ? name : "config", .err = errbuf, .errlen = errlen};
	struct ctl_config *cfg = malloc(sizeof(*cfg)); /* ~3 KiB: off small thread stacks */
	unsigned int gline[N_OPTS] = {0};              /* line where each global option was set */
	unsigned int lline[N_OPTS] = {0};              /* same, in the current listener block */
	unsigned int first_listener = 0;
	size_t pos = 0;
	int rc = 0;

	if (!cfg)
		return -ENOMEM;
	if (errlen)
		errbuf[0] = 0;
	scope_defaults(cfg, sizeof(*cfg), S_GLOBAL);
	while (pos < len && rc == 0) {
		char line[CTL_LINE_MAX + 1], *key, *val, *e;
		size_t n = 0;

		p.line++;
		while (pos < len && text[pos] != '\n') {
			unsigned char c = (unsigned char)text[pos++];

			if (n == CTL_LINE_MAX) {
				rc = perr(&p, "line longer than %d bytes", CTL_LINE_MAX);
				break;
			}
			/* '\r' only as part of a "\r\n" line end */
			if ((c < 0x20 && c != '\t' &&
			     !(c == '\r' && (pos == len || text[pos] == '\n'))) ||
			    c == 0x7f) {
				rc = perr(&p, "control character 0x%02x in line", c);
				break;
			}
			line[n++] = (char)c;
		}
		if (rc)
			break;
		pos++; /* the '\n' */
		line[n] = 0;
		if (n && line[n - 1] == '\r')
			line[--n] = 0;
		key = line;
		while (*key == ' ' || *key == '\t')
			key++;
		if (!*key || *key == '#')
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = 0;
		while (*val == ' ' || *val == '\t')
			val++;
		e = val + strlen(val);
		while (e > val && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;

		if (!strcmp(key, "listener")) {
			rc = parse_listener(&p, cfg, val);
			if (!first_listener)
				first_listener = p.line;
			memset(lline, 0, sizeof(lline));
			continue;
		}
		const struct opt *g = find_opt(key, S_GLOBAL), *lo = find_opt(key, S_LISTENER);
		const struct opt *o = first_listener ? (lo ? lo : g) : (g ? g : lo);
		unsigned int *seen;

		if (!o) {
			rc = perr(&p, "unknown option '%s'", key);
			break;
		}
		if (o->scope == S_LISTENER && !first_listener) {
			rc = perr(&p, "%s: listener option before any 'listener' line", key);
			break;
		}
		if (o->scope == S_GLOBAL && first_listener) {
			rc = perr(&p,
			          "%s: global option inside the listener block opened at line %u "
			          "(global options go before the first listener)",
			          key, cfg->listeners[cfg->n_listeners - 1].line);
			break;
		}
		seen = (o->scope == S_GLOBAL ? gline : lline) + (o - opts);
		if (*seen) {
			rc = perr(&p, "%s: duplicate option, already set at line %u", key, *seen);
			break;
		}
		*seen = p.line;
		rc = set_opt(&p, o,
		             o->scope == S_GLOBAL ? (void *)cfg
		                                  : (void *)&cfg->listeners[cfg->n_listeners - 1],
		             val);
	}
	if (rc == 0 && cfg->n_listeners == 0) {
		cfg->n_listeners = 1;
		listener_defaults(&cfg->listeners[0]);
		cfg->listeners[0].port = 1883;
	}
	if (rc == 0)
		rc = check_whole(&p, cfg, gline);
	if (rc == 0)
		memcpy(out, cfg, sizeof(*cfg));
	free(cfg);
	return rc;
}

int
ctl_config_load(const char *path, struct ctl_config *cfg, char *errbuf, size_t errlen)
{
	struct pctx p = {.name = path, .err = errbuf, .errlen = errlen};
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		perr(&p, "cannot open: %s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CTL_FILE_MAX) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		close(fd);
		return perr(&p, "not a regular file of at most %u bytes", CTL_FILE_MAX), rc;
	}
	text = malloc(st.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size && (n = read(fd, text + got, st.st_size - got)) > 0)
		got += n;
	close(fd);
	rc = ctl_config_parse(text, got, path, cfg, errbuf, errlen);
	free(text);
	return rc;
}

#define APPEND(...)                                                                                \
	do {                                                                                       \
		int _k = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__);                    \
		n += _k;                                                                           \
	} while (0)

int
ctl_config_format(const struct ctl_config *cfg, char *buf, size_t len)
{
	char v[CTL_LINE_MAX + 32];
	size_t n = 0;

	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].scope != S_GLOBAL)
			continue;
		get_opt(&opts[i], cfg, v, sizeof(v));
		APPEND("%s %s\n", opts[i].name, v);
	}
	for (unsigned int l = 0; l < cfg->n_listeners; l++) {
		const struct ctl_listener *li = &cfg->listeners[l];

		APPEND("\nlistener %u", li->port);
		if (li->bind_ip) {
			fmt_ip(li->bind_ip, v, sizeof(v));
			APPEND(" %s", v);
		}
		APPEND("\n");
		for (size_t i = 0; i < N_OPTS; i++) {
			if (opts[i].scope != S_LISTENER)
				continue;
			get_opt(&opts[i], li, v, sizeof(v));
			APPEND("%s %s\n", opts[i].name, v);
		}
	}
	if (n >= len)
		return -ENOSPC;
	return (int)n;
}

/* Strings compare up to their NUL: bytes after it are not part of the value (a caller may
 * have written a shorter string over a longer one). */
static int
opt_equal(const struct opt *o, const void *a, const void *b)
{
	const char *x = (const char *)a + o->off, *y = (const char *)b + o->off;

	if (o->type == T_STR || o->type == T_CPULIST)
		return strncmp(x, y, o->size) == 0;
	return memcmp(x, y, o->type == T_HOSTPORT ? 8 : o->size) == 0;
}

static int
listeners_equal(const struct ctl_config *a, const struct ctl_config *b)
{
	if (a->n_listeners != b->n_listeners)
		return 0;
	for (unsigned int i = 0; i < a->n_listeners; i++) {
		const struct ctl_listener *x = &a->listeners[i], *y = &b->listeners[i];

		if (x->port != y->port || x->bind_ip != y->bind_ip)
			return 0;
		for (size_t k = 0; k < N_OPTS; k++)
			if (opts[k].scope == S_LISTENER && !opt_equal(&opts[k], x, y))
				return 0;
	}
	return 1;
}

int
ctl_config_diff(const struct ctl_config *old, const struct ctl_config *new,
                struct ctl_config_change *out, int max)
{
	int n = 0;

	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		if (o->scope != S_GLOBAL || opt_equal(o, old, new))
			continue;
		if (n < max)
			out[n] = (struct ctl_config_change){o->name, o->reload};
		n++;
	}
	if (!listeners_equal(old, new)) {
		if (n < max)
			out[n] = (struct ctl_config_change){"listener", CTL_RELOAD_RESTART};
		n++;
	}
	return n;
}

int
ctl_config_equal(const struct ctl_config *a, const struct ctl_config *b)
{
	return ctl_config_diff(a, b, NULL, 0) == 0;
}

const char *
ctl_reload_name(enum ctl_reload r)
{
	static const char *const names[] = {"live", "control-restart", "restart"};

	return r <= CTL_RELOAD_RESTART ? names[r] : "?";
}

const char *
ctl_log_level_name(unsigned int level)
{
	return level <= CTL_LOG_DEBUG ? level_names[level] : "?";
}

int
ctl_log_level_parse(const char *name)
{
	for (int i = 0; level_names[i]; i++)
		if (!strcmp(name, level_names[i]))
			return i;
	return -EINVAL;
}

int
ctl_config_doc_table(char *buf, size_t len)
{
	static const char *const tnames[] = {"integer", "size",   "bool",     "enum",        "IPv4",
	                                     "netmask", "string", "CPU list", "address:port"};
	size_t n = 0;

	APPEND("| option | scope | type | default | range / values | reload | description |\n");
	APPEND("| --- | --- | --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		char range[160] = "";

		if (o->type == T_U32 || o->type == T_SIZE)
			snprintf(range, sizeof(range), "%u..%u", o->min, o->max);
		else if (o->type == T_ENUM) {
			size_t k = 0;

			for (unsigned int j = 0; o->names[j]; j++)
				k += snprintf(range + k, sizeof(range) - k, "%s`%s`", j ? ", " : "",
				              o->names[j]);
		} else if (o->type == T_STR)
			snprintf(range, sizeof(range), "up to %u bytes", o->size - 1);
		else if (o->type == T_HOSTPORT)
			snprintf(range, sizeof(range), "port 0..65535");
		APPEND("| `%s` | %s | %s | `%s` | %s | %s | %s |\n", o->name,
		       o->scope == S_GLOBAL ? "global" : "listener", tnames[o->type],
		       o->def[0] ? o->def : "\"\"", range, ctl_reload_name(o->reload), o->doc);
	}
	if (n >= len)
		return -ENOSPC;
	return (int)n;
}

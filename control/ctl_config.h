/* SPDX-License-Identifier: Apache-2.0
 * ctl_config: the Tachyon configuration file, parsed into one flat, fixed-size, typed struct.
 *
 * The format (docs/configuration.md) is Mosquitto's: one `option value` per line, `#` starts a
 * comment line, global options first, then `listener PORT [ADDRESS]` lines each opening a block
 * of listener options. Every option is described once, in the table in ctl_config.c, which
 * drives parsing, defaults, range checks, formatting and the live-reload classification.
 *
 * No DPDK and no allocation: the struct holds no pointers, so it can be copied, compared
 * byte-for-byte with memcmp after ctl_config_defaults() (which zeroes padding), published to
 * lcores as an immutable object and sent over a socket as text (ctl_config_format()).
 *
 * Return contract: 0 or -errno; errors are written to errbuf as "FILE:LINE: option: problem".
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CTL_MAX_LISTENERS 8
#define CTL_PATH_MAX      256
#define CTL_LINE_MAX      1024
#define CTL_ERR_MAX       512

enum ctl_proto { CTL_PROTO_MQTT, CTL_PROTO_TLS, CTL_PROTO_WS };
enum ctl_tls_version { CTL_TLS_12, CTL_TLS_13 };
enum ctl_idle { CTL_IDLE_ADAPTIVE, CTL_IDLE_BUSY };
/* Values are syslog's (and rte_log's minus one: RTE_LOG_EMERG is 1). */
enum ctl_log_level {
	CTL_LOG_EMERG,
	CTL_LOG_ALERT,
	CTL_LOG_CRIT,
	CTL_LOG_ERR,
	CTL_LOG_WARNING,
	CTL_LOG_NOTICE,
	CTL_LOG_INFO,
	CTL_LOG_DEBUG,
};

/* When a changed option takes effect. */
enum ctl_reload {
	CTL_RELOAD_LIVE,    /* `tachyonctl config reload`, no connection dropped */
	CTL_RELOAD_CONTROL, /* restart of tachyon-control only (the broker keeps running) */
	CTL_RELOAD_RESTART, /* restart of tachyond */
};

struct ctl_listener {
	uint16_t port;
	uint8_t proto; /* enum ctl_proto */
	uint8_t cc; /* congestion controller: 0 newreno, 1 cubic (tcpstack enum tcp_cc) */
	uint32_t bind_ip;         /* host byte order; 0 = the dataplane address */
	uint32_t max_connections; /* 0 = only the global limit applies */
	uint32_t line;            /* line of the `listener` line, for messages; not compared */
	char certfile[CTL_PATH_MAX];
	char keyfile[CTL_PATH_MAX];
	char cafile[CTL_PATH_MAX];
	/* security (issue 8) */
	uint32_t allow_anonymous;          /* bool */
	uint32_t require_certificate;      /* bool: tls, needs cafile */
	uint32_t use_identity_as_username; /* bool: tls, client certificate CN as user name */
	uint8_t tls_version;               /* enum ctl_tls_version: the lowest accepted */
	uint8_t pad1[3];
	char ciphersuites[CTL_PATH_MAX]; /* TLS 1.3 suites, OpenSSL syntax; "" = default */
};

struct ctl_config {
	/* dataplane */
	uint32_t address, netmask, gateway; /* host byte order; gateway 0 = none */
	char lcores[64];                    /* CPU list, "1" or "1-3,5" */
	uint32_t mbufs;
	uint32_t idle_policy; /* enum ctl_idle */
	char eal_args[CTL_LINE_MAX];
	char dataplane_socket[108]; /* sun_path size */
	/* control process */
	char control_socket[108];
	uint32_t metrics_ip;
	uint16_t metrics_port;
	uint16_t pad0;
	uint32_t sys_interval; /* seconds, 0 = no $SYS */
	uint32_t log_level;    /* enum ctl_log_level */
	/* MQTT limits */
	uint32_t max_packet_size;
	uint32_t max_inflight_messages;
	uint32_t max_queued_messages;
	uint32_t max_connections;   /* 0 = unlimited */
	uint32_t max_subscriptions; /* per client, 0 = unlimited */
	uint32_t max_topic_length;
	uint32_t max_keepalive, min_keepalive; /* seconds */
	uint32_t connect_timeout;              /* seconds from handshake to CONNECT */
	uint32_t max_topic_levels;             /* 0 = unlimited */
	uint32_t max_connection_rate;   /* new connections/s per source IPv4, 0 = unlimited */
	uint32_t connection_rate_burst; /* bucket depth of the above */
	uint32_t max_publish_rate;      /* PUBLISH/s per connection, 0 = unlimited */
	uint32_t publish_rate_burst;    /* bucket depth of the above */
	/* security (issue 8) */
	char password_file[CTL_PATH_MAX];
	char acl_file[CTL_PATH_MAX];
	uint32_t password_iterations; /* PBKDF2 iterations of new hashes (tachyonctl passwd) */
	/* listeners */
	uint32_t n_listeners;
	struct ctl_listener listeners[CTL_MAX_LISTENERS];
};

/* One changed option, from ctl_config_diff(). */
struct ctl_config_change {
	const char *option; /* option name, or "listener" for any listener change */
	enum ctl_reload reload;
};

/* Every option at its default, one `listener 1883` (mqtt), padding zeroed. */
void ctl_config_defaults(struct ctl_config *cfg);

/* Parse a file. On error returns -errno (-EINVAL for a bad file, the open/read error
 * otherwise) and writes one message naming file, line and problem to errbuf. cfg is written
 * only on success. */
int ctl_config_load(const char *path, struct ctl_config *cfg, char *errbuf, size_t errlen);

/* Same, from a string; `name` stands for the file name in messages. */
int ctl_config_parse(const char *text, size_t len, const char *name, struct ctl_config *cfg,
                     char *errbuf, size_t errlen);

/* Canonical text of every option (defaults included) that ctl_config_parse() reads back to an
 * equal struct. Returns the length (excluding NUL) or -ENOSPC. */
int ctl_config_format(const struct ctl_config *cfg, char *buf, size_t len);

/* Which options differ between `old` and `new`; fills up to `max` changes and returns the
 * total number. Listener blocks are compared whole (reported once as "listener"). */
int ctl_config_diff(const struct ctl_config *old, const struct ctl_config *new,
                    struct ctl_config_change *out, int max);

/* True when a and b are equal (line numbers of listeners are ignored). */
int ctl_config_equal(const struct ctl_config *a, const struct ctl_config *b);

const char *ctl_reload_name(enum ctl_reload r);
const char *ctl_log_level_name(unsigned int level);
/* Level number for a name ("info"), or -EINVAL. */
int ctl_log_level_parse(const char *name);

/* Print the option reference (name, scope, type, default, range, reload, description) as a
 * Markdown table; docs/configuration.md embeds it and a test keeps the two in step. */
int ctl_config_doc_table(char *buf, size_t len);

#endif /* CTL_CONFIG_H */

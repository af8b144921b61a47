/* SPDX-License-Identifier: Apache-2.0
 * ctl_stats: the dataplane's per-lcore counters as the control side sees them, their aggregate,
 * and their three renderings (tachyonctl table, tachyonctl --json, Prometheus text).
 *
 * CTL_STATS_FIELDS is the single list of exported counters. dp_ctl.c expands it against
 * struct dp_lcore_stats (the `path` column) to emit them; this module expands it to parse,
 * sum and render them, without DPDK. A field added to dp_stats.h is exported by adding one
 * line here.
 *
 * X(id, path, key, kind, metric, label, help)
 *   path:   member of struct dp_lcore_stats
 *   key:    name on the wire and in `tachyonctl --json stats` per-lcore "counters"
 *   kind:   C counter, G gauge, T TSC-cycle counter (exported in seconds via tsc_hz)
 *   metric: Prometheus name after "tachyon_"; entries sharing a name form one family
 *   label:  extra Prometheus label ("" or `reason="eth"`)
 */
#ifndef CTL_STATS_H
#define CTL_STATS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_STATS_FIELDS(X)                                                                        \
	X(LOOPS, loops, "loops", C, "poll_loops_total", "", "Poll-loop iterations.")               \
	X(BUSY_LOOPS, busy_loops, "busy_loops", C, "poll_busy_loops_total", "",                    \
	  "Poll-loop iterations that did work.")                                                   \
	X(BUSY_TSC, busy_tsc, "busy_tsc", T, "lcore_busy_seconds_total", "",                       \
	  "Time the poll loop spent doing work.")                                                  \
	X(TOTAL_TSC, total_tsc, "total_tsc", T, "lcore_seconds_total", "",                         \
	  "Time the poll loop ran (busy share = busy / this).")                                    \
	X(RX_PKTS, rx_pkts, "rx_pkts", C, "rx_packets_total", "",                                  \
	  "Frames received from the port.")                                                        \
	X(TX_PKTS, tx_pkts, "tx_pkts", C, "tx_packets_total", "", "Frames sent to the port.")      \
	X(TX_DROPPED, tx_dropped, "tx_dropped", C, "tx_dropped_packets_total", "",                 \
	  "Frames the port did not take.")                                                         \
	X(MEMPOOL, mempool_in_use, "mempool_in_use", G, "mempool_mbufs_in_use", "",                \
	  "Mbufs of the lcore's pool in use.")                                                     \
	X(TCP_RX_FRAMES, tcp.rx_frames, "tcp.rx_frames", C, "tcp_segments_received_total", "",     \
	  "TCP segments received.")                                                                \
	X(TCP_TX_FRAMES, tcp.tx_frames, "tcp.tx_frames", C, "tcp_segments_sent_total", "",         \
	  "TCP segments sent.")                                                                    \
	X(TCP_RX_BYTES, tcp.rx_bytes, "tcp.rx_bytes", C, "tcp_received_bytes_total", "",           \
	  "TCP payload bytes received.")                                                           \
	X(TCP_TX_BYTES, tcp.tx_bytes, "tcp.tx_bytes", C, "tcp_sent_bytes_total", "",               \
	  "TCP payload bytes sent.")                                                               \
	X(DROP_ETH, tcp.drop_eth, "tcp.drop_eth", C, "drops_total", "reason=\"eth\"",              \
	  "Frames dropped, by reason.")                                                            \
	X(DROP_IP_HDR, tcp.drop_ip_hdr, "tcp.drop_ip_hdr", C, "drops_total",                       \
	  "reason=\"ip_header\"", "")                                                              \
	X(DROP_IP_CSUM, tcp.drop_ip_csum, "tcp.drop_ip_csum", C, "drops_total",                    \
	  "reason=\"ip_checksum\"", "")                                                            \
	X(DROP_IP_FRAG, tcp.drop_ip_frag, "tcp.drop_ip_frag", C, "drops_total",                    \
	  "reason=\"ip_fragment\"", "")                                                            \
	X(DROP_NOT_OURS, tcp.drop_not_ours, "tcp.drop_not_ours", C, "drops_total",                 \
	  "reason=\"not_ours\"", "")                                                               \
	X(DROP_TCP_CSUM, tcp.drop_tcp_csum, "tcp.drop_tcp_csum", C, "drops_total",                 \
	  "reason=\"tcp_checksum\"", "")                                                           \
	X(DROP_TCP_HDR, tcp.drop_tcp_hdr, "tcp.drop_tcp_hdr", C, "drops_total",                    \
	  "reason=\"tcp_header\"", "")                                                             \
	X(DROP_NO_CONN, tcp.drop_no_conn, "tcp.drop_no_conn", C, "drops_total",                    \
	  "reason=\"no_connection\"", "")                                                          \
	X(DROP_NOMEM, tcp.drop_nomem, "tcp.drop_nomem", C, "drops_total", "reason=\"no_memory\"",  \
	  "")                                                                                      \
	X(ARP_DROPPED, tcp.arp_dropped, "tcp.arp_dropped", C, "drops_total",                       \
	  "reason=\"arp_unresolved\"", "")                                                         \
	X(DROP_CONN_FULL, tcp.drop_conn_full, "tcp.drop_conn_full", C, "drops_total",              \
	  "reason=\"connection_table_full\"", "")                                                   \
	X(ARP_RX, tcp.arp_rx, "tcp.arp_rx", C, "arp_received_total", "", "ARP packets received.")  \
	X(ARP_TX, tcp.arp_tx, "tcp.arp_tx", C, "arp_sent_total", "", "ARP packets sent.")          \
	X(ARP_QUEUED, tcp.arp_queued, "tcp.arp_queued", C, "arp_queued_total", "",                 \
	  "Packets queued awaiting ARP resolution.")                                               \
	X(ICMP_ECHO, tcp.icmp_echo, "tcp.icmp_echo", C, "icmp_echo_total", "",                     \
	  "ICMP echo requests answered.")                                                          \
	X(TCP_ACCEPTED, tcp.conns_accepted, "tcp.conns_accepted", C,                               \
	  "tcp_connections_opened_total", "direction=\"passive\"", "TCP connections established.") \
	X(TCP_CONNECTED, tcp.conns_connected, "tcp.conns_connected", C,                            \
	  "tcp_connections_opened_total", "direction=\"active\"", "")                              \
	X(TCP_CLOSED, tcp.conns_closed, "tcp.conns_closed", C, "tcp_connections_closed_total",     \
	  "how=\"close\"", "TCP connections ended, by how.")                                       \
	X(TCP_RESET, tcp.conns_reset, "tcp.conns_reset", C, "tcp_connections_closed_total",        \
	  "how=\"reset\"", "")                                                                     \
	X(TCP_TIMEOUT, tcp.conns_timeout, "tcp.conns_timeout", C, "tcp_connections_closed_total",  \
	  "how=\"timeout\"", "")                                                                   \
	X(TCP_CURRENT, tcp.conns_current, "tcp.conns_current", G, "tcp_connections", "",           \
	  "TCP connections open.")                                                                 \
	X(TCP_RST_TX, tcp.rst_tx, "tcp.rst_tx", C, "tcp_resets_sent_total", "", "RSTs sent.")      \
	X(TCP_RETRANS, tcp.retransmits, "tcp.retransmits", C, "tcp_retransmits_total", "",         \
	  "Segments retransmitted.")                                                               \
	X(TCP_RTO, tcp.rto_expired, "tcp.rto_expired", C, "tcp_rto_expired_total", "",             \
	  "Retransmission timeouts.")                                                              \
	X(TCP_FAST_RETRANS, tcp.fast_retransmits, "tcp.fast_retransmits", C,                       \
	  "tcp_fast_retransmits_total", "", "Fast retransmits.")                                   \
	X(TCP_DUP_ACKS, tcp.dup_acks, "tcp.dup_acks", C, "tcp_duplicate_acks_total", "",           \
	  "Duplicate ACKs received.")                                                              \
	X(TCP_OOO, tcp.ooo_segments, "tcp.ooo_segments", C, "tcp_out_of_order_segments_total", "", \
	  "Out-of-order segments received.")                                                       \
	X(SYN_COOKIES_SENT, tcp.syn_cookies_sent, "tcp.syn_cookies_sent", C,                       \
	  "tcp_syn_cookies_total", "result=\"sent\"", "SYN cookies sent and returned, by result.") \
	X(SYN_COOKIES_OK, tcp.syn_cookies_ok, "tcp.syn_cookies_ok", C, "tcp_syn_cookies_total",    \
	  "result=\"valid\"", "")                                                                  \
	X(SYN_COOKIES_BAD, tcp.syn_cookies_bad, "tcp.syn_cookies_bad", C, "tcp_syn_cookies_total", \
	  "result=\"invalid\"", "")                                                                \
	X(CONNECTIONS, mqtt.connections_current, "mqtt.connections_current", G, "connections", "", \
	  "MQTT connections open.")                                                                \
	X(CONNECTIONS_TOTAL, mqtt.connections_total, "mqtt.connections_total", C,                  \
	  "connections_accepted_total", "", "MQTT connections accepted.")                          \
	X(MSG_IN, mqtt.messages_in, "mqtt.messages_in", C, "messages_received_total", "",          \
	  "PUBLISH packets received.")                                                             \
	X(MSG_OUT, mqtt.messages_out, "mqtt.messages_out", C, "messages_sent_total", "",           \
	  "PUBLISH packets sent.")                                                                 \
	X(MSG_IN_Q0, mqtt.messages_in_qos[0], "mqtt.messages_in_qos0", C,                          \
	  "messages_received_by_qos_total", "qos=\"0\"", "PUBLISH packets received, by QoS.")      \
	X(MSG_IN_Q1, mqtt.messages_in_qos[1], "mqtt.messages_in_qos1", C,                          \
	  "messages_received_by_qos_total", "qos=\"1\"", "")                                       \
	X(MSG_IN_Q2, mqtt.messages_in_qos[2], "mqtt.messages_in_qos2", C,                          \
	  "messages_received_by_qos_total", "qos=\"2\"", "")                                       \
	X(MSG_OUT_Q0, mqtt.messages_out_qos[0], "mqtt.messages_out_qos0", C,                       \
	  "messages_sent_by_qos_total", "qos=\"0\"", "PUBLISH packets sent, by QoS.")              \
	X(MSG_OUT_Q1, mqtt.messages_out_qos[1], "mqtt.messages_out_qos1", C,                       \
	  "messages_sent_by_qos_total", "qos=\"1\"", "")                                           \
	X(MSG_OUT_Q2, mqtt.messages_out_qos[2], "mqtt.messages_out_qos2", C,                       \
	  "messages_sent_by_qos_total", "qos=\"2\"", "")                                           \
	X(BYTES_IN, mqtt.bytes_in, "mqtt.bytes_in", C, "received_bytes_total", "",                 \
	  "MQTT bytes received.")                                                                  \
	X(BYTES_OUT, mqtt.bytes_out, "mqtt.bytes_out", C, "sent_bytes_total", "",                  \
	  "MQTT bytes sent.")                                                                      \
	X(SUBSCRIPTIONS, mqtt.subscriptions, "mqtt.subscriptions", G, "subscriptions", "",         \
	  "Subscriptions held.")                                                                   \
	X(RETAINED, mqtt.retained, "mqtt.retained", G, "retained_messages", "",                    \
	  "Retained messages held.")                                                               \
	X(SESSIONS, mqtt.sessions_persistent, "mqtt.sessions_persistent", G,                       \
	  "sessions_persistent", "", "Persistent sessions, online and offline.")                   \
	X(DROP_QFULL, mqtt.dropped_queue_full, "mqtt.dropped_queue_full", C,                       \
	  "messages_dropped_total", "reason=\"queue_full\"", "Messages dropped, by reason.")       \
	X(DROP_OUTBUF, mqtt.dropped_outbuf_full, "mqtt.dropped_outbuf_full", C,                    \
	  "messages_dropped_total", "reason=\"outbuf_full\"", "")                                  \
	X(DROP_EXPIRED, mqtt.dropped_expired, "mqtt.dropped_expired", C, "messages_dropped_total", \
	  "reason=\"expired\"", "")                                                                \
	X(PROTO_ERR, mqtt.protocol_errors, "mqtt.protocol_errors", C, "protocol_errors_total", "", \
	  "Connections closed for a protocol violation.")                                          \
	X(MALFORMED, mqtt.malformed_packets, "mqtt.malformed_packets", C,                          \
	  "malformed_packets_total", "", "Malformed packets received.")                            \
	X(KA_TIMEOUT, mqtt.keepalive_timeouts, "mqtt.keepalive_timeouts", C,                       \
	  "keepalive_timeouts_total", "", "Connections closed by keep-alive expiry.")              \
	X(WILLS, mqtt.wills_published, "mqtt.wills_published", C, "wills_published_total", "",     \
	  "Will messages published.")

enum ctl_stat_id {
#define CTL_X_ENUM(id, path, key, kind, metric, label, help) CTL_STAT_##id,
	CTL_STATS_FIELDS(CTL_X_ENUM)
#undef CTL_X_ENUM
	        CTL_STAT_N
};

#define CTL_STATS_MAX_LCORES 128

struct ctl_stats_lcore {
	unsigned int lcore;
	uint64_t updated_us;
	uint64_t v[CTL_STAT_N];
};

struct ctl_stats {
	unsigned int n;
	uint64_t tsc_hz;
	uint64_t uptime_s;          /* of tachyond */
	uint64_t config_generation; /* of tachyond's running configuration */
	uint64_t total[CTL_STAT_N];
	struct ctl_stats_lcore lc[CTL_STATS_MAX_LCORES];
};

/* Wire key of a field ("mqtt.messages_in"). */
const char *ctl_stats_key(enum ctl_stat_id id);

/* Fill `s` from the dataplane's "stats" response ({"tsc_hz":..,"lcores":[{"lcore":1,
 * "updated_us":..,"counters":{key:value}}]}) and compute totals. Unknown keys are ignored
 * (a newer dataplane), missing ones read 0 (an older one). 0 or -EPROTO. */
int ctl_stats_from_json(json_t *resp, struct ctl_stats *s);

/* The user-facing JSON of `tachyonctl --json stats` (see docs/operations.md). */
json_t *ctl_stats_to_json(const struct ctl_stats *s);

/* The `tachyonctl stats` table. */
void ctl_stats_table(const struct ctl_stats *s, FILE *out);

/* Prometheus text exposition format 0.0.4. Returns bytes written or -ENOSPC. */
int ctl_stats_prometheus(const struct ctl_stats *s, char *buf, size_t len);

#endif /* CTL_STATS_H */

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
 *   kind:   C counter, G gauge, T TSC-cycle counter (exported in seconds via tsc_hz),
 *           U microsecond counter (exported in seconds)
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
	X(HEAP_BYTES, heap_bytes, "heap_bytes", G, "heap_bytes", "",                               \
	  "Heap bytes the lcore (broker sessions, subscriptions, queued messages, buffers, TLS "   \
	  "state) "                                                                                \
	  "allocated and has not freed (jemalloc per-thread counters; 0 without jemalloc).")       \
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
	  "reason=\"connection_table_full\"", "")                                                  \
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
	  "Will messages published.")                                                              \
	X(RING_IN_USE, ring_in_use, "ring_in_use", G, "ring_entries", "",                          \
	  "Entries waiting on the lcore's inbound rings from the other shards.")                   \
	X(STEERED, steered, "steered", C, "shard_frames_total", "direction=\"out\"",               \
	  "Frames handed to the shard owning their flow, and received from other shards.")         \
	X(RX_STEERED, rx_steered, "rx_steered", C, "shard_frames_total", "direction=\"in\"", "")   \
	X(STEER_DROPPED, steer_dropped, "steer_dropped", C, "shard_frames_dropped_total", "",      \
	  "Frames for another shard dropped on its full ring.")                                    \
	X(DROP_ICMP, tcp.drop_icmp, "tcp.drop_icmp", C, "icmp_dropped_total", "",                  \
	  "ICMP packets that are not a valid echo request.")                                       \
	X(TW_RECYCLED, tcp.tw_recycled, "tcp.tw_recycled", C, "tcp_time_wait_recycled_total", "",  \
	  "TIME_WAIT connections reused for a new SYN at max_conns.")                              \
	X(TCP_KA_PROBES, tcp.keepalive_probes, "tcp.keepalive_probes", C,                          \
	  "tcp_keepalive_probes_total", "", "TCP keep-alive probes sent.")                         \
	X(CHALLENGE_ACKS, tcp.challenge_acks, "tcp.challenge_acks", C, "tcp_challenge_acks_total", \
	  "result=\"sent\"", "RFC 5961 challenge ACKs, sent and rate-limited.")                    \
	X(CHALLENGE_ACKS_LIM, tcp.challenge_acks_limited, "tcp.challenge_acks_limited", C,         \
	  "tcp_challenge_acks_total", "result=\"limited\"", "")                                    \
	X(PAWS_DROPPED, tcp.paws_dropped, "tcp.paws_dropped", C, "tcp_paws_dropped_total", "",     \
	  "Segments refused by their timestamp (RFC 7323 PAWS).")                                  \
	X(SACK_RECOVERIES, tcp.sack_recoveries, "tcp.sack_recoveries", C,                          \
	  "tcp_sack_recoveries_total", "", "SACK-based loss recoveries (RFC 6675).")               \
	X(RTT_SAMPLES, tcp.rtt_samples, "tcp.rtt_samples", C, "tcp_rtt_samples_total", "",         \
	  "Round-trip time samples (one per ACK that advances, from timestamps; else one per "     \
	  "flight).")                                                                              \
	X(RTT_SUM, tcp.rtt_sum_us, "tcp.rtt_sum_us", U, "tcp_rtt_seconds_total", "",               \
	  "Sum of the measured round-trip times (mean RTT = rate of this / rate of the samples).") \
	X(RECOVERIES_UNDONE, tcp.recoveries_undone, "tcp.recoveries_undone", C,                    \
	  "tcp_recoveries_undone_total", "",                                                       \
	  "Recoveries found spurious by their timestamps and undone (RFC 3522).")                  \
	X(TLP_PROBES, tcp.tlp_probes, "tcp.tlp_probes", C, "tcp_tail_loss_probes_total", "",       \
	  "Tail-loss probes sent (RFC 8985).")                                                     \
	X(LIMITED_TX, tcp.limited_transmits, "tcp.limited_transmits", C,                           \
	  "tcp_limited_transmits_total", "",                                                       \
	  "Segments sent on the first two duplicate ACKs (RFC 3042).")                             \
	X(RCVBUF_GROWN, tcp.rcvbuf_grown, "tcp.rcvbuf_grown", C, "tcp_rcvbuf_grown_total", "",     \
	  "Receive windows doubled by autotuning (the peer filled the window, the app read it "    \
	  "all).")                                                                                 \
	X(BUF_BUDGET_FULL, tcp.buf_budget_full, "tcp.buf_budget_full", C,                          \
	  "tcp_buf_budget_full_total", "",                                                         \
	  "Buffer growth refused because the stack's autotuning budget was spent.")                \
	X(DSACKS_SENT, tcp.dsacks_sent, "tcp.dsacks_sent", C, "tcp_dsacks_sent_total", "",         \
	  "Duplicate segments received and reported to their sender by D-SACK (RFC 2883).")        \
	X(SESS_EXPIRED, mqtt.sessions_expired, "mqtt.sessions_expired", C,                         \
	  "sessions_expired_total", "", "Offline sessions ended by their expiry interval.")        \
	X(TAKEOVERS, mqtt.takeovers, "mqtt.takeovers", C, "session_takeovers_total", "",           \
	  "Connections replaced by a new one with the same client id.")                            \
	X(SESS_MOVED_IN, mqtt.sessions_moved_in, "mqtt.sessions_moved_in", C,                      \
	  "sessions_moved_in_total", "",                                                           \
	  "Whole sessions received from another shard (a client reconnected on this lcore).")      \
	X(SESS_MOVED_OUT, mqtt.sessions_moved_out, "mqtt.sessions_moved_out", C,                   \
	  "sessions_moved_out_total", "", "Whole sessions sent to another shard.")                 \
	X(SESS_MOVE_DROP, mqtt.sessions_move_dropped, "mqtt.sessions_move_dropped", C,             \
	  "sessions_move_dropped_total", "",                                                       \
	  "Moved sessions dropped because a newer one of that client id was already here.")        \
	X(XFER_CUT_EXPIRED, mqtt.xfer_cuts_expired, "mqtt.xfer_cuts_expired", C,                   \
	  "session_move_cuts_expired_total", "",                                                   \
	  "Session-move cuts ended by their 5 s deadline, not by every CUT (0 normally).")         \
	X(INJECT_PROXIES, mqtt.inject_proxies, "mqtt.inject_proxies", C,                           \
	  "cross_shard_proxies_total", "",                                                         \
	  "Another shard's messages kept here by reference (one proxy per publish, zero-copy).")   \
	X(INJECT_COPIES, mqtt.inject_copies, "mqtt.inject_copies", C, "cross_shard_copies_total",  \
	  "", "Another shard's messages copied here (session-move forwards; 0 otherwise).")        \
	X(INJECT_COPY_BYTES, mqtt.inject_copy_bytes, "mqtt.inject_copy_bytes", C,                  \
	  "cross_shard_copy_bytes_total", "", "Bytes of those copies.")                            \
	X(SHARED_NO_MEMBER, mqtt.shared_no_member, "mqtt.shared_no_member", C,                     \
	  "shared_no_member_total", "",                                                            \
	  "Shared-subscription messages that found no member of their group on the chosen shard "  \
	  "(dropped).")                                                                            \
	X(ACKS_HELD, mqtt.acks_held, "mqtt.acks_held", C, "acks_held_total", "",                   \
	  "PUBACK/PUBREC delayed to slow a publisher (back-pressure).")                            \
	X(KA_ADJUSTED, mqtt.keepalive_adjusted, "mqtt.keepalive_adjusted", C,                      \
	  "keepalive_adjusted_total", "", "v5 CONNACKs that imposed a Server Keep Alive.")         \
	X(SUBS_REFUSED, mqtt.subscriptions_refused, "mqtt.subscriptions_refused", C,               \
	  "limit_trips_total", "limit=\"max_subscriptions\"",                                      \
	  "Requests refused by a configured limit, by limit.")                                     \
	X(TOPICS_REFUSED, mqtt.topics_refused, "mqtt.topics_refused", C, "limit_trips_total",      \
	  "limit=\"max_topic_length_or_levels\"", "")                                              \
	X(SEC_CONN_LIMIT, sec.conn_limit_refused, "sec.conn_limit_refused", C,                     \
	  "limit_trips_total", "limit=\"max_connections\"", "")                                    \
	X(SEC_LISTENER_LIMIT, sec.listener_limit_refused, "sec.listener_limit_refused", C,         \
	  "limit_trips_total", "limit=\"listener_max_connections\"", "")                           \
	X(SEC_CONN_RATE, sec.conn_rate_refused, "sec.conn_rate_refused", C, "limit_trips_total",   \
	  "limit=\"max_connection_rate\"", "")                                                     \
	X(SEC_PUB_RATE, sec.pub_rate_exceeded, "sec.pub_rate_exceeded", C, "limit_trips_total",    \
	  "limit=\"max_publish_rate\"", "")                                                        \
	X(SEC_RATE_EVICT, sec.rate_evictions, "sec.rate_evictions", C,                             \
	  "rate_bucket_evictions_total", "",                                                       \
	  "Connection-rate buckets evicted while not yet full.")                                   \
	X(SEC_EARLY_CLOSE, sec.closed_before_connect, "sec.closed_before_connect", C,              \
	  "connections_closed_before_connect_total", "",                                           \
	  "Connections gone before CONNECT was accepted (connect_timeout, TLS failure).")          \
	X(SEC_LOGIN_OK, sec.logins_ok, "sec.logins_ok", C, "auth_logins_total", "result=\"ok\"",   \
	  "Logins, by result.")                                                                    \
	X(SEC_LOGIN_REFUSED, sec.logins_refused, "sec.logins_refused", C, "auth_logins_total",     \
	  "result=\"refused\"", "")                                                                \
	X(SEC_LOGIN_PARKED, sec.logins_parked, "sec.logins_parked", C, "auth_logins_parked_total", \
	  "", "Logins handed to the password-hash worker.")                                        \
	X(SEC_ACL_PUB, sec.acl_denied_pub, "sec.acl_denied_pub", C, "acl_denials_total",           \
	  "action=\"publish\"", "ACL denials, by action.")                                         \
	X(SEC_ACL_SUB, sec.acl_denied_sub, "sec.acl_denied_sub", C, "acl_denials_total",           \
	  "action=\"subscribe\"", "")                                                              \
	X(SEC_TLS_OK, sec.tls_open, "sec.tls_open", C, "tls_handshakes_total", "result=\"ok\"",    \
	  "TLS handshakes, by result.")                                                            \
	X(SEC_TLS_FAILED, sec.tls_failed, "sec.tls_failed", C, "tls_handshakes_total",             \
	  "result=\"failed\"", "")                                                                 \
	X(REASON_81, mqtt.errors_by_reason[0x01], "mqtt.errors_0x81", C,                           \
	  "connection_errors_total", "reason=\"0x81\",name=\"malformed_packet\"",                  \
	  "Connections refused or ended by the broker, by MQTT v5 reason code.")                   \
	X(REASON_82, mqtt.errors_by_reason[0x02], "mqtt.errors_0x82", C,                           \
	  "connection_errors_total", "reason=\"0x82\",name=\"protocol_error\"", "")                \
	X(REASON_85, mqtt.errors_by_reason[0x05], "mqtt.errors_0x85", C,                           \
	  "connection_errors_total", "reason=\"0x85\",name=\"client_id_not_valid\"", "")           \
	X(REASON_86, mqtt.errors_by_reason[0x06], "mqtt.errors_0x86", C,                           \
	  "connection_errors_total", "reason=\"0x86\",name=\"bad_username_or_password\"", "")      \
	X(REASON_87, mqtt.errors_by_reason[0x07], "mqtt.errors_0x87", C,                           \
	  "connection_errors_total", "reason=\"0x87\",name=\"not_authorized\"", "")                \
	X(REASON_8D, mqtt.errors_by_reason[0x0d], "mqtt.errors_0x8d", C,                           \
	  "connection_errors_total", "reason=\"0x8d\",name=\"keep_alive_timeout\"", "")            \
	X(REASON_8E, mqtt.errors_by_reason[0x0e], "mqtt.errors_0x8e", C,                           \
	  "connection_errors_total", "reason=\"0x8e\",name=\"session_taken_over\"", "")            \
	X(REASON_93, mqtt.errors_by_reason[0x13], "mqtt.errors_0x93", C,                           \
	  "connection_errors_total", "reason=\"0x93\",name=\"receive_maximum_exceeded\"", "")      \
	X(REASON_95, mqtt.errors_by_reason[0x15], "mqtt.errors_0x95", C,                           \
	  "connection_errors_total", "reason=\"0x95\",name=\"packet_too_large\"", "")              \
	X(REASON_96, mqtt.errors_by_reason[0x16], "mqtt.errors_0x96", C,                           \
	  "connection_errors_total", "reason=\"0x96\",name=\"message_rate_too_high\"", "")         \
	X(REASON_97, mqtt.errors_by_reason[0x17], "mqtt.errors_0x97", C,                           \
	  "connection_errors_total", "reason=\"0x97\",name=\"quota_exceeded\"", "")                \
	X(REASON_98, mqtt.errors_by_reason[0x18], "mqtt.errors_0x98", C,                           \
	  "connection_errors_total", "reason=\"0x98\",name=\"administrative_action\"", "")         \
	X(REASON_9F, mqtt.errors_by_reason[0x1f], "mqtt.errors_0x9f", C,                           \
	  "connection_errors_total", "reason=\"0x9f\",name=\"connection_rate_exceeded\"", "")      \
	X(PORT_RX_MISSED, port.rx_missed, "port.rx_missed", C, "port_dropped_total",               \
	  "reason=\"rx_missed\"",                                                                  \
	  "Frames the port dropped before the lcore took them, by reason (rx_missed: RX ring "     \
	  "full; on af_packet the kernel ring of the lcore's queue).")                             \
	X(PORT_RX_ERRORS, port.rx_errors, "port.rx_errors", C, "port_dropped_total",               \
	  "reason=\"rx_errors\"", "")                                                              \
	X(PORT_RX_NOMBUF, port.rx_nombuf, "port.rx_nombuf", C, "port_dropped_total",               \
	  "reason=\"rx_nombuf\"", "")                                                              \
	X(PORT_TX_ERRORS, port.tx_errors, "port.tx_errors", C, "port_dropped_total",               \
	  "reason=\"tx_errors\"", "")

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

/* s->total from s->lc[]: sums, except retained (every shard holds a replica: the
 * largest). */
void ctl_stats_sum(struct ctl_stats *s);

/* The user-facing JSON of `tachyonctl --json stats` (see docs/operations.md). */
json_t *ctl_stats_to_json(const struct ctl_stats *s);

/* The `tachyonctl stats` table. */
void ctl_stats_table(const struct ctl_stats *s, FILE *out);

/* Prometheus text exposition format 0.0.4. Returns bytes written or -ENOSPC. */
int ctl_stats_prometheus(const struct ctl_stats *s, char *buf, size_t len);

#endif /* CTL_STATS_H */

#!/usr/bin/env bash
# mosquitto_sub receives from mosquitto_pub through tachyond (our TCP stack and MQTT broker on a
# DPDK af_packet port), in a namespace of its own: QoS 0, QoS 1, MQTT 5 at QoS 2, MQTT 3.1, a
# retained message, a 1 MiB payload, 10,000 messages in a row with every byte compared, a
# garbage-sending client cut off while another client's traffic continues, keep-alive, and
# SIGTERM with a client connected. Usage: test_pubsub.sh PATH/TO/tachyond
# Budget: about 10 s here; the timeout allows for a slow machine.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$@"

pub() { tl_ns mosquitto_pub -h "$TL_DP_IP" "$@"; }

tl_check "namespace and veth pair up" tl_net_up
# mosquitto_sub -d writes three lines per message, so it acknowledges more slowly than
# mosquitto_pub publishes; a session queue of 20,000 holds the whole run where the default 1000
# (Mosquitto's max_queued_messages too) would drop messages, legitimately but uselessly here.
tl_check "tachyond ready" tl_dp_start --max-packet-size 4194304 --max-queued 20000

# QoS 0 and QoS 1: one message each, payload compared.
for qos in 0 1; do
	msg="hello qos$qos from $$"
	if tl_sub "$TL_DIR/q$qos.out" "it/q$qos" "$qos" 1 &&
		pub -t "it/q$qos" -q "$qos" -m "$msg" &&
		tl_wait_pid "$TL_SUB_PID" 10 &&
		[ "$(tl_payloads "$TL_DIR/q$qos.out")" = "$msg" ]; then
		tl_ok "QoS $qos publish delivered intact"
	else
		tl_fail "QoS $qos publish delivered intact"
	fi
done

# The other protocol versions and QoS 2 take the same path (README claims them).
for vq in mqttv5:2 mqttv31:1; do
	v=${vq%:*} q=${vq#*:} msg="hello $vq from $$"
	if tl_sub "$TL_DIR/$v.out" "it/$v" "$q" 1 -V "$v" -F 'P:%p' &&
		pub -V "$v" -t "it/$v" -q "$q" -m "$msg" &&
		tl_wait_pid "$TL_SUB_PID" 10 &&
		[ "$(tl_payloads "$TL_DIR/$v.out")" = "$msg" ]; then
		tl_ok "$v QoS $q publish delivered intact"
	else
		tl_fail "$v QoS $q publish delivered intact"
	fi
done

# A retained message reaches a wildcard subscriber that arrives later.
if pub -t it/ret/a -q 1 -r -m "kept $$" && tl_sub "$TL_DIR/ret.out" 'it/ret/+' 1 1 &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/ret.out")" = "kept $$" ]; then
	tl_ok "retained message delivered to a later wildcard subscriber"
else
	tl_fail "retained message delivered to a later wildcard subscriber"
fi

# 1 MiB of random bytes at QoS 1, compared as hex (every byte value, NUL and newline included).
head -c 1048576 /dev/urandom >"$TL_DIR/big.bin"
if tl_sub "$TL_DIR/big.out" it/big 1 1 -F 'P:%x' &&
	pub -t it/big -q 1 -f "$TL_DIR/big.bin" &&
	tl_wait_pid "$TL_SUB_PID" 30 &&
	[ "$(tl_payloads "$TL_DIR/big.out")" = "$(od -An -v -tx1 "$TL_DIR/big.bin" | tr -d ' \n')" ]; then
	tl_ok "1 MiB payload at QoS 1 delivered byte for byte"
else
	tl_fail "1 MiB payload at QoS 1 delivered byte for byte"
fi

# 10,000 distinct messages back to back on one connection, QoS 1 so none may be lost; the
# subscriber's payloads must equal the input, line for line and in order.
n=10000
for ((i = 1; i <= n; i++)); do printf 'm%05d-%s\n' "$i" "$RANDOM$RANDOM"; done >"$TL_DIR/seq.in"
if tl_sub "$TL_DIR/seq.out" it/seq 1 "$n" &&
	pub -t it/seq -q 1 -l <"$TL_DIR/seq.in" &&
	tl_wait_pid "$TL_SUB_PID" 60 &&
	tl_payloads "$TL_DIR/seq.out" | cmp -s - "$TL_DIR/seq.in"; then
	tl_ok "$n messages in a row, every byte compared"
else
	tl_fail "$n messages in a row, every byte compared" \
		"received $(tl_payloads "$TL_DIR/seq.out" | wc -l) of $n"
fi

# A client that sends garbage (packet type 0 is reserved in every MQTT version) is disconnected;
# a subscriber connected before and after it keeps its one connection and gets both messages.
raw=$(dirname "$0")/../lib/rawmqtt.py
if tl_sub "$TL_DIR/live.out" it/live 1 2 && pub -t it/live -q 1 -m before; then
	tl_check "garbage-sending client is disconnected" tl_ns "$raw" garbage "$TL_DP_IP" 1883
	if pub -t it/live -q 1 -m after && tl_wait_pid "$TL_SUB_PID" 10 &&
		[ "$(tl_payloads "$TL_DIR/live.out" | tr '\n' ' ')" = "before after " ] &&
		[ "$(grep -c 'sending CONNECT' "$TL_DIR/live.out")" -eq 1 ]; then
		tl_ok "another client's traffic continues on its one connection"
	else
		tl_fail "another client's traffic continues on its one connection"
	fi
else
	tl_fail "garbage-sending client is disconnected" "the live subscriber did not start"
	tl_fail "another client's traffic continues on its one connection"
fi

# Keep-alive (per-connection timers in dp_conn.c, re-armed lazily): PINGREQs keep a 1 s
# keep-alive connection open, silence closes it after 1.5 s.
out=$(tl_ns "$raw" keepalive "$TL_DP_IP" 1883 2>&1)
rc=$?
[ $rc -eq 0 ] && tl_ok "keep-alive: pings keep the connection, silence ends it at 1.5x ($out)" ||
	tl_fail "keep-alive: pings keep the connection, silence ends it at 1.5x" "rc=$rc $out"

# SIGTERM while a client is connected: tachyond closes it, exits 0 (all mbufs back) and leaves
# no runtime files; the client sees its connection end.
tl_ns_bg "$raw" hold "$TL_DP_IP" 1883 15 >"$TL_DIR/hold.out" 2>&1
hold=$!
for _ in $(seq 50); do
	grep -q connected "$TL_DIR/hold.out" && break
	sleep 0.1
done
if grep -q connected "$TL_DIR/hold.out"; then
	tl_dp_stop
	rc=$?
	[ $rc -eq 0 ] && tl_ok "SIGTERM with a client connected: exit 0, every mbuf returned" ||
		tl_fail "SIGTERM with a client connected: exit 0, every mbuf returned" "rc=$rc"
	tl_wait_pid "$hold" 20 && tl_ok "the connected client sees the connection end" ||
		tl_fail "the connected client sees the connection end"
else
	tl_fail "SIGTERM with a client connected: exit 0, every mbuf returned" "client did not connect"
	tl_fail "the connected client sees the connection end"
fi
grep -q 'dropped queue/outbuf 0/0 ' "$TL_DIR/tachyond.log" &&
	tl_ok "the broker dropped no message (exit summary)" ||
	tl_fail "the broker dropped no message (exit summary)" "$(grep 'lcore 0:' "$TL_DIR/tachyond.log")"
left=$(ls -d "/var/run/dpdk/$TL_PREFIX" /dev/hugepages/"$TL_PREFIX"* 2>/dev/null)
[ -z "$left" ] && tl_ok "no runtime files left" || tl_fail "no runtime files left" "$left"

tl_done

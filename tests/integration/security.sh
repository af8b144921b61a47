#!/usr/bin/env bash
# Authentication, ACLs and TLS through tachyond (issue 8), with real clients in a namespace:
# password logins (3.1.1 and v5 reason codes), anonymous policy per listener, ACL denials of
# PUBLISH and SUBSCRIBE, live reload of the password file, TLS on 8883 with mosquitto and
# openssl s_client, client certificates (required, CN as user name), an untrusted server
# certificate refused by the client, a bounded handshake storm while a plain client's
# messages keep flowing, and every limit (connections, rates, inflight/queue, topic levels,
# keep-alive bounds, CONNECT timeout) with its reason code and counter (sec_limits.py). Usage: security.sh PATH/TO/tachyond [PATH/TO/tachyonctl]
# Budget: 10-50 s here depending on load. SEC_LCORES=2 runs it on two polling lcores.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ctl=${2:-$(dirname "$1")/../control/tachyonctl}
tl_init "$1"
# SEC_LCORES=2: the same suite on two polling lcores (two shards, af_packet qpairs=2).
if [ "${SEC_LCORES:-1}" = 2 ]; then
	tl_dp_start() {
		: >"$TL_DIR/tachyond.log"
		"$TL_DP_BIN" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
			--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,qpairs=2" -- \
			--ip "$TL_DP_IP" --netmask 255.255.255.0 --idle adaptive --mbufs 8191 \
			"$@" >>"$TL_DIR/tachyond.log" 2>&1 &
		TL_DP_PID=$!
		timeout 30 tail -n +1 --pid="$TL_DP_PID" -f "$TL_DIR/tachyond.log" |
			grep -q -m1 '^tachyond: ready.*lcores 0 1,' && return 0
		sed 's/^/#   /' "$TL_DIR/tachyond.log"
		return 1
	}
fi
raw() { tl_ns timeout 15 /usr/bin/python3 "$here/sec_client.py" "$@"; }
H=$TL_DP_IP

# --- material: certificates, config, passwords, ACL ---
tls=$TL_DIR/tls other=$TL_DIR/other
"$top/dataplane/tls/gen-demo-certs.sh" "$tls" "$H" >/dev/null &&
	"$top/dataplane/tls/gen-demo-certs.sh" "$other" "$H" >/dev/null &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$tls/client.key" 2>/dev/null &&
	openssl req -new -key "$tls/client.key" -subj "/CN=certuser" -out "$tls/client.csr" &&
	openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
		-CAcreateserial -days 2 -out "$tls/client.crt" 2>/dev/null
/usr/bin/python3 "$here/sec_expired.py" "$tls/ca.crt" "$tls/ca.key" "$tls/expired.crt" \
	"$tls/expired.key" "$H"
tl_check "certificates generated" test -s "$tls/client.crt" -a -s "$other/ca.crt" -a -s "$tls/expired.crt"

conf=$TL_DIR/tachyon.conf
cat >"$conf" <<CONF
address $H
dataplane_socket $TL_DIR/tachyond.sock
control_socket $TL_DIR/control.sock
metrics_listen 127.0.0.1:0
sys_interval 0
password_file $TL_DIR/passwd
acl_file $TL_DIR/acl
password_iterations 1000
listener 1883
listener 1884
allow_anonymous true
listener 8883
protocol tls
certfile $tls/server.crt
keyfile $tls/server.key
allow_anonymous true
listener 8884
protocol tls
certfile $tls/server.crt
keyfile $tls/server.key
cafile $tls/ca.crt
require_certificate true
use_identity_as_username true
listener 8885
protocol tls
certfile $tls/expired.crt
keyfile $tls/expired.key
allow_anonymous true
CONF
cat >"$TL_DIR/acl" <<'ACL'
# anonymous clients
topic readwrite anon/#
user alice
topic readwrite alice/#
topic write public/#
user bob
topic read public/#
user admin
topic read #
user certuser
topic readwrite cert/#
ACL
for u in alice:wonderland bob:builder admin:root; do
	printf '%s\n' "${u#*:}" | "$ctl" -c "$conf" passwd add "$TL_DIR/passwd" "${u%%:*}" ||
		tl_log "passwd add ${u%%:*} failed"
done
tl_check "tachyonctl passwd add/list (3 users, 1000 iterations from the config)" \
	bash -c "[ \"\$('$ctl' passwd list '$TL_DIR/passwd')\" = \"\$(printf 'admin 1000\nalice 1000\nbob 1000')\" ]"

tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready (listeners 1883, 1884, TLS 8883, 8884, 8885)" tl_dp_start --config "$conf"

# expect NAME WANT CMD...: the command prints WANT.
expect() {
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	if [ "$got" = "$want" ]; then tl_ok "$name"; else tl_fail "$name" "want '$want', got '$got'"; fi
}

# --- passwords and anonymous policy ---
expect "3.1.1 right password accepted (0)" 0 raw connack "$H" 1883 4 alice wonderland
expect "v5 right password accepted (0x00)" 0 raw connack "$H" 1883 5 alice wonderland
expect "3.1.1 wrong password refused (4)" 4 raw connack "$H" 1883 4 alice nope
expect "v5 wrong password refused (0x86)" 134 raw connack "$H" 1883 5 alice nope
expect "3.1.1 unknown user refused (4)" 4 raw connack "$H" 1883 4 mallory x
expect "v5 unknown user refused (0x86)" 134 raw connack "$H" 1883 5 mallory x
expect "3.1.1 anonymous refused on 1883 (5)" 5 raw connack "$H" 1883 4 -
expect "v5 anonymous refused on 1883 (0x87)" 135 raw connack "$H" 1883 5 -
expect "anonymous accepted on 1884 (allow_anonymous true)" 0 raw connack "$H" 1884 4 -
expect "cached login accepted again (0)" 0 raw connack "$H" 1883 4 alice wonderland

# Login storm: 16 CONNECTs of a user hashed with 100,000 iterations park while the worker (off
# the polling core) verifies them in batches; meanwhile a plain client's round trip completes.
sed 's/^password_iterations .*/password_iterations 100000/' "$conf" >"$TL_DIR/slow.conf"
printf 'sl0w\n' | "$ctl" -c "$TL_DIR/slow.conf" passwd add "$TL_DIR/passwd" slow
sleep 0.6 # the reload thread's period is 250 ms
pids=()
for i in $(seq 16); do
	raw connack "$H" 1883 4 slow sl0w >"$TL_DIR/slow.$i" 2>&1 &
	pids+=($!)
done
t0=$(date +%s%N)
rt=$(tl_ns timeout 10 bash -c "mosquitto_sub -h $H -p 1884 -t anon/rt -C 1 & sleep 0.3;
	mosquitto_pub -h $H -p 1884 -t anon/rt -m rt; wait")
t1=$(date +%s%N)
wait "${pids[@]}"
okn=$(cat "$TL_DIR"/slow.* | grep -c '^0$')
tl_log "login storm: $okn of 16 accepted; plain round trip meanwhile $(((t1 - t0) / 1000000)) ms (0.3 s of it a sleep)"
[ "$okn" = 16 ] && [ "$rt" = rt ] && tl_ok "login storm: 16 slow logins parked and accepted, plain round trip meanwhile" ||
	tl_fail "login storm" "accepted $okn, round trip '$rt'"

# --- ACLs ---
expect "v5 PUBLISH denied by ACL: PUBACK 0x87" 135 raw puback "$H" 1883 5 alice wonderland bob/x
expect "v5 PUBLISH allowed: PUBACK 0x00 or 0x10" 16 raw puback "$H" 1883 5 alice wonderland alice/x
expect "v5 will topic allowed by ACL: accepted" 0 raw connack "$H" 1883 5 alice wonderland alice/will
expect "v5 will topic denied by ACL: CONNACK 0x87" 135 raw connack "$H" 1883 5 alice wonderland bob/will
expect "3.1.1 will topic denied by ACL: CONNACK 5" 5 raw connack "$H" 1883 4 alice wonderland bob/will
expect "3.1.1 SUBSCRIBE denied: SUBACK 0x80" 128 raw suback "$H" 1883 4 bob builder 'alice/#'
expect "v5 SUBSCRIBE denied: SUBACK 0x87" 135 raw suback "$H" 1883 5 bob builder '#'
expect "3.1.1 SUBSCRIBE allowed: SUBACK 1" 1 raw suback "$H" 1883 4 bob builder 'public/#'
# A 3.1.1 denied publish is acknowledged and dropped: admin (read #) sees only the allowed one.
if tl_sub "$TL_DIR/adm.out" '#' 1 1 -u admin -P root -F 'P:%p' &&
	tl_ns mosquitto_pub -h "$H" -u alice -P wonderland -q 1 -t bob/secret -m denied &&
	tl_ns mosquitto_pub -h "$H" -u alice -P wonderland -q 1 -t alice/ok -m allowed &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/adm.out")" = allowed ]; then
	tl_ok "3.1.1 PUBLISH denied by ACL is dropped (subscriber to # sees only the allowed one)"
else
	tl_fail "3.1.1 PUBLISH denied by ACL is dropped" "$(cat "$TL_DIR/adm.out" 2>/dev/null | tail -3)"
fi

# --- live reload of the password file ---
printf 'c4rol\n' | "$ctl" -c "$conf" passwd add "$TL_DIR/passwd" carol
"$ctl" passwd delete "$TL_DIR/passwd" alice
ok=0
for _ in $(seq 30); do
	if [ "$(raw connack "$H" 1883 4 carol c4rol)" = 0 ] &&
		[ "$(raw connack "$H" 1883 4 alice wonderland)" = 4 ]; then
		ok=1
		break
	fi
	sleep 0.2
done
[ $ok = 1 ] && tl_ok "password file reloaded live (carol added, alice deleted, no restart)" ||
	tl_fail "password file reloaded live"

# --- live reload of the ACL file: bob gains read on alice/# ---
sed -i 's|^user bob$|user bob\ntopic read alice/#|' "$TL_DIR/acl"
ok=0
for _ in $(seq 30); do
	[ "$(raw suback "$H" 1883 4 bob builder 'alice/#')" = 1 ] && ok=1 && break
	sleep 0.2
done
[ $ok = 1 ] && tl_ok "ACL file reloaded live (bob may now subscribe to alice/#)" ||
	tl_fail "ACL file reloaded live"

# --- a new password_file path through `tachyonctl config reload` (tachyon-control applies it) ---
printf 'd4ve\n' | "$ctl" -c "$conf" passwd add "$TL_DIR/passwd2" dave
# control_start CONF LOG: tachyon-control in the background (CTL_PID), answering within 5 s.
control_start() {
	"$(dirname "$ctl")/tachyon-control" -c "$1" >"$2" 2>&1 &
	CTL_PID=$!
	TL_BG_PIDS+=($CTL_PID)
	for _ in $(seq 100); do
		"$ctl" -c "$1" -d /nonexistent status >/dev/null 2>&1 && break
		sleep 0.05
	done
}
control_start "$conf" "$TL_DIR/control.log"
ctl_pid=$CTL_PID
sed -i "s|^password_file .*|password_file $TL_DIR/passwd2|" "$conf"
ok=0
if "$ctl" -c "$conf" config reload >>"$TL_DIR/control.log" 2>&1; then
	for _ in $(seq 30); do
		if [ "$(raw connack "$H" 1883 4 dave d4ve)" = 0 ] &&
			[ "$(raw connack "$H" 1883 4 carol c4rol)" = 4 ]; then
			ok=1
			break
		fi
		sleep 0.2
	done
fi
kill "$ctl_pid" 2>/dev/null
[ $ok = 1 ] && tl_ok "password_file path changed by tachyonctl config reload (dave in, carol out)" ||
	tl_fail "password_file path changed by config reload" "$(tail -3 "$TL_DIR/control.log")"

# --- TLS ---
if tl_sub "$TL_DIR/tls.out" anon/tls 1 1 -p 8883 --cafile "$tls/ca.crt" -F 'P:%p' &&
	tl_ns mosquitto_pub -h "$H" -p 8883 --cafile "$tls/ca.crt" -q 1 -t anon/tls -m "over tls $$" &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/tls.out")" = "over tls $$" ]; then
	tl_ok "TLS: mosquitto_pub/sub --cafile deliver through 8883"
else
	tl_fail "TLS: mosquitto_pub/sub --cafile deliver through 8883"
fi
# 1 MiB both ways through TLS at QoS 1: records split across segments, back-pressure on output.
head -c 1048576 /dev/urandom >"$TL_DIR/big.bin"
if tl_sub "$TL_DIR/big.out" anon/big 1 1 -p 8883 --cafile "$tls/ca.crt" -F 'P:%x' &&
	tl_ns mosquitto_pub -h "$H" -p 8883 --cafile "$tls/ca.crt" -q 1 -t anon/big -f "$TL_DIR/big.bin" &&
	tl_wait_pid "$TL_SUB_PID" 30 &&
	[ "$(tl_payloads "$TL_DIR/big.out")" = "$(od -An -v -tx1 "$TL_DIR/big.bin" | tr -d ' \n')" ]; then
	tl_ok "TLS: 1 MiB payload at QoS 1 delivered byte for byte"
else
	tl_fail "TLS: 1 MiB payload at QoS 1 delivered byte for byte"
fi
expect "TLS: plain subscriber receives from a TLS publisher" "mixed $$" bash -c "
	ip netns exec $TL_NS timeout 10 mosquitto_sub -h $H -p 1884 -t anon/mix -C 1 & sleep 0.5
	ip netns exec $TL_NS mosquitto_pub -h $H -p 8883 --cafile $tls/ca.crt -t anon/mix -m 'mixed $$'
	wait"
cat >"$TL_DIR/tlsprobe.py" <<'PY'
import sys, paho.mqtt.client as mqtt
got = []
c = mqtt.Client(client_id="paho-tls", protocol=mqtt.MQTTv311)
c.tls_set(ca_certs=sys.argv[2])
c.on_connect = lambda c, u, f, rc: c.subscribe("anon/paho", 1)
c.on_subscribe = lambda c, u, m, q: c.publish("anon/paho", "paho over tls", qos=1)
c.on_message = lambda c, u, m: (got.append(m.payload.decode()), c.disconnect())
c.connect(sys.argv[1], 8883, 30)
c.loop_forever(timeout=1.0)
print(got[0] if got else "nothing")
PY
expect "TLS: paho (tls_set ca_certs) subscribes and receives its own publish" "paho over tls" \
	tl_ns timeout 15 /usr/bin/python3 "$TL_DIR/tlsprobe.py" "$H" "$tls/ca.crt"
if tl_ns timeout 10 openssl s_client -connect "$H:8883" -CAfile "$tls/ca.crt" \
	-verify_return_error </dev/null >"$TL_DIR/sclient.out" 2>&1 &&
	grep -q 'Verify return code: 0 (ok)' "$TL_DIR/sclient.out"; then
	tl_ok "TLS: openssl s_client handshake verified"
else
	tl_fail "TLS: openssl s_client handshake verified" "$(tail -3 "$TL_DIR/sclient.out")"
fi
for v in 1.2 1.3; do
	tl_check "TLS $v: openssl s_client handshake" bash -c "ip netns exec $TL_NS timeout 10 \
		openssl s_client -tls${v/./_} -connect $H:8883 -CAfile $tls/ca.crt </dev/null 2>&1 |
		grep -q 'New, TLSv$v, Cipher is'"
done
if tl_ns timeout 10 mosquitto_pub -h "$H" -p 8883 --cafile "$other/ca.crt" -t anon/x -m x \
	>"$TL_DIR/untrusted.out" 2>&1; then
	tl_fail "TLS: a server certificate from an untrusted CA is refused by the client"
else
	tl_ok "TLS: a server certificate from an untrusted CA is refused by the client"
fi
if tl_ns timeout 10 mosquitto_pub -h "$H" -p 8885 --cafile "$tls/ca.crt" -t anon/x -m x \
	>"$TL_DIR/expired.out" 2>&1; then
	tl_fail "TLS: an expired server certificate is refused by the client"
else
	tl_ok "TLS: an expired server certificate is refused by the client"
fi
tl_check "TLS: openssl s_client reports the expired certificate" bash -c "ip netns exec $TL_NS \
	timeout 10 openssl s_client -connect $H:8885 -CAfile $tls/ca.crt </dev/null 2>&1 |
	grep -q 'certificate has expired'"
cert=(--cafile "$tls/ca.crt" --cert "$tls/client.crt" --key "$tls/client.key")
if tl_sub "$TL_DIR/cert.out" cert/a 1 1 -p 8884 "${cert[@]}" -F 'P:%p' &&
	tl_ns mosquitto_pub -h "$H" -p 8884 "${cert[@]}" -q 1 -t cert/a -m "cn $$" &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/cert.out")" = "cn $$" ]; then
	tl_ok "TLS: client certificate accepted, its CN is the user name for the ACL"
else
	tl_fail "TLS: client certificate accepted, its CN is the user name for the ACL"
fi
if tl_ns timeout 10 mosquitto_pub -h "$H" -p 8884 --cafile "$tls/ca.crt" -t cert/a -m x \
	>"$TL_DIR/nocert.out" 2>&1; then
	tl_fail "TLS: no client certificate where required: refused"
else
	tl_ok "TLS: no client certificate where required: refused"
fi

# --- handshake storm while a plain client's messages flow ---
n=100
# Baseline first: the same n publishes (one mosquitto_pub process each) without the storm.
tl_sub "$TL_DIR/base.out" anon/base 0 $n -p 1884 -F 'P:%p'
t0=$(date +%s%N)
for i in $(seq $n); do
	tl_ns mosquitto_pub -h "$H" -p 1884 -t anon/base -m "m$i" || break
done
t1=$(date +%s%N)
tl_wait_pid "$TL_SUB_PID" 10
tl_log "baseline: $(tl_payloads "$TL_DIR/base.out" | wc -l) of $n plain messages in $(((t1 - t0) / 1000000)) ms"
tl_sub "$TL_DIR/flow.out" anon/flow 0 $n -p 1884 -F 'P:%p'
tl_ns timeout 100 /usr/bin/python3 "$here/sec_storm.py" "$H" 8883 "$tls/ca.crt" 200 16 \
	>"$TL_DIR/storm.out" 2>&1 &
storm=$!
t0=$(date +%s%N)
for i in $(seq $n); do
	tl_ns mosquitto_pub -h "$H" -p 1884 -t anon/flow -m "m$i" || break
done
t1=$(date +%s%N)
wait $storm
tl_wait_pid "$TL_SUB_PID" 10
got=$(tl_payloads "$TL_DIR/flow.out" | wc -l)
tl_log "storm: $(cat "$TL_DIR/storm.out") of 200 handshakes; $got of $n plain messages in $(((t1 - t0) / 1000000)) ms"
[ "$(cat "$TL_DIR/storm.out")" = 200 ] && tl_ok "TLS: 200-handshake storm completes" ||
	tl_fail "TLS: 200-handshake storm completes" "$(cat "$TL_DIR/storm.out")"
[ "$got" = $n ] && tl_ok "plain client's $n messages all delivered during the storm" ||
	tl_fail "plain client's messages delivered during the storm" "$got of $n"

# --- counters at exit ---
tl_check "tachyond stops cleanly" tl_dp_stop
line=$(grep 'security: logins' "$TL_DIR/tachyond.log")
printf '%s\n' "$line" | sed 's/^/# /' # one line per lcore
# summed over the lcores
den=$(sed -n 's/.*acl denied publish \([0-9]*\) subscribe \([0-9]*\).*/\1 \2/p' <<<"$line" |
	awk '{p += $1; s += $2} END {print p + 0, s + 0}')
[ "${den% *}" -ge 4 ] && [ "${den#* }" -ge 2 ] && tl_ok "denials counted (publish ${den% *}, subscribe ${den#* })" ||
	tl_fail "denials counted" "$line"

# --- the demo configuration (make run): its TLS listener with the demo certificate script ---
demo=$TL_DIR/demo-tls
"$top/dataplane/tls/gen-demo-certs.sh" "$demo" "$H" >/dev/null
sed -e "s|build/demo-tls|$demo|g" -e "s|^dataplane_socket .*|dataplane_socket $TL_DIR/demo.sock|" \
	-e "s|^control_socket .*|control_socket $TL_DIR/democtl.sock|" \
	"$top/control/tachyon.conf" >"$TL_DIR/demo.conf"
tl_check "tachyond ready with control/tachyon.conf (demo)" tl_dp_start --config "$TL_DIR/demo.conf"
if tl_sub "$TL_DIR/demo.out" '#' 0 1 -p 8883 --cafile "$demo/ca.crt" -F 'P:%p' &&
	tl_ns mosquitto_pub -h "$H" -t demo/hello -m "demo $$" &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/demo.out")" = "demo $$" ]; then
	tl_ok "demo: mosquitto_sub --cafile on 8883 receives a plain publish to 1883"
else
	tl_fail "demo: mosquitto_sub --cafile on 8883 receives a plain publish to 1883"
fi
tl_check "demo tachyond stops cleanly" tl_dp_stop

# --- limits (docs/security.md, "Limits"): each trips with its reason code and its counter ---
# Three client addresses: the usual one, A2 for the slowloris connections, A3 for the
# connection-rate burst (the rate is per source address).
A2=198.18.1.3 A3=198.18.1.4
tl_ns ip addr add "$A2/24" dev "$TL_IF_NS" && tl_ns ip addr add "$A3/24" dev "$TL_IF_NS"
lim() { LIM_RETRIES=$TL_DIR/retries tl_ns timeout 40 /usr/bin/python3 "$here/sec_limits.py" "$@"; }
# connect_timeout reaches the broker once tachyond hands it over (dp_ctl_mqtt_conf()); until
# then the broker's default applies, which is the option's default: 10 s.
ct=10
grep -q 'connect_timeout' "$top/dataplane/dp_ctl.c" && ct=3
cat >"$TL_DIR/limits.conf" <<CONF
address $H
dataplane_socket $TL_DIR/lim.sock
control_socket $TL_DIR/limctl.sock
metrics_listen 127.0.0.1:0
sys_interval 0
max_connections 6
max_packet_size 1K
max_subscriptions 3
max_topic_length 64
max_inflight_messages 4
max_queued_messages 6
max_keepalive 60
max_topic_levels 4
connect_timeout $ct
max_connection_rate 2
connection_rate_burst 30
max_publish_rate 50
publish_rate_burst 20
listener 1883
listener 1884
max_connections 2
CONF
tl_check "tachyond ready with the limits configuration" tl_dp_start --config "$TL_DIR/limits.conf"
# Slowloris: 200 connections that never send CONNECT, closed at connect_timeout while the
# tests below (legitimate clients) run. They hold no max_connections slot: that counts
# connections past CONNECT.
lim slowloris "$H" 1883 "$A2" 200 $((ct + 4)) >"$TL_DIR/slowloris.out" 2>&1 &
slow_pid=$!
t_slow=$(date +%s%N)
# The broker's limit counters, summed over the lcores (tachyonctl asks tachyond when
# tachyon-control is not running): their increase over the tests below is checked at the end.
mkeys="errors_0x93 errors_0x95 errors_0x96 subscriptions_refused topics_refused keepalive_adjusted"
mstats() {
	"$ctl" -c "$TL_DIR/limits.conf" --json stats 2>/dev/null | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(*(c.get("mqtt." + k) for k in sys.argv[1:]))' $mkeys 2>/dev/null
}
m0=$(mstats)
sleep 1
expect "keep-alive bounds: v5 keep-alive 0 -> Server Keep Alive 60, 30 kept, 3.1.1 keep-alive 0 -> CONNACK 2" \
	"60 none 2" lim keepalive "$H" 1883
# listener 1884 holds 2, the broker 6: v5 gets 0x97 (151), 3.1.1 gets 3; a slot freed is
# taken again. "!": retried while 0x97, until the slots of closed connections are free (the
# keep-alive probes' first, the dropped one's last).
expect "max_connections: listener 2 and global 6 trip with CONNACK 0x97 (v5) / 3 (3.1.1); a freed slot is reused" \
	"0 0 151 3 0 0 0 0 151 3 - 0" lim conns "$H" 1884:5! 1884:5 1884:5 1884:4 1883:5! 1883:5 \
	1883:5 1883:5 1883:5 1883:4 drop 1883:5!
got=$(lim rate "$H" 1883 "$A3" 100)
read -r r_ok r_ref r_other r_v3 <<<"$got"
tl_log "connection rate (2/s, burst 30) from one address: 100 at once: $r_ok passed, $r_ref refused 0x9F"
[ "${r_ok:-0}" -ge 30 ] && [ "${r_ref:-0}" -ge 10 ] && [ "$r_other" = 0 ] && [ "$r_v3" = 3 ] &&
	tl_ok "max_connection_rate: a burst from one address beyond 30 gets CONNACK 0x9F (v5) / 3 (3.1.1)" ||
	tl_fail "max_connection_rate" "got '$got'"
expect "max_connection_rate is per address: another address still connects" \
	"0" lim conns "$H" 1883:5
expect "max_publish_rate: v5 publisher over 50/s (burst 20) gets DISCONNECT 0x96" 150 \
	lim pubrate "$H" 1883 5 100
expect "max_publish_rate: 3.1.1 publisher over the rate is closed" closed lim pubrate "$H" 1883 4 100
expect "max_publish_rate: a publisher within the burst keeps its connection" open \
	lim pubrate "$H" 1883 5 10
expect "max_inflight_messages 4: v5 Receive Maximum 4, the 5th unreleased QoS 2 PUBLISH -> DISCONNECT 0x93" \
	"4 147 4" lim recvmax "$H" 1883
# mqtt.dropped_queue_full summed over the lcores (tachyonctl asks tachyond when tachyon-control
# is not running)
qfull() {
	"$ctl" -c "$TL_DIR/limits.conf" --json stats 2>/dev/null | /usr/bin/python3 -c \
		'import json,sys; print(json.load(sys.stdin)["counters"]["mqtt.dropped_queue_full"])' 2>/dev/null
}
q0=$(qfull)
expect "max_inflight 4 + max_queued 6: a subscriber that does not acknowledge gets 4, then 6 more" \
	"4 10" lim queue "$H" 1883 20 4
for _ in $(seq 30); do # stats are refreshed every 100 ms
	q1=$(qfull)
	[ -n "$q0" ] && [ -n "$q1" ] && [ "$((q1 - q0))" -ge 10 ] && break
	sleep 0.1
done
[ -n "$q0" ] && [ -n "$q1" ] && [ "$((q1 - q0))" = 10 ] && tl_ok "queue overflow counted: mqtt.dropped_queue_full +10 (tachyonctl --json stats)" ||
	tl_fail "queue overflow counted" "dropped_queue_full before '$q0' after '$q1'"
expect "max_packet_size 1K: v5 PUBLISH of 2000 bytes -> DISCONNECT 0x95" 149 lim bigpacket "$H" 1883 5 2000
expect "max_packet_size 1K: 3.1.1 PUBLISH of 2000 bytes -> closed" closed lim bigpacket "$H" 1883 4 2000
expect "max_packet_size 1K: a 900-byte PUBLISH passes" open lim bigpacket "$H" 1883 5 900
expect "max_subscriptions 3: v5 4th filter -> SUBACK 0x97" "1 1 1 151" lim subs "$H" 1883 5 4
expect "max_subscriptions 3: 3.1.1 4th filter -> SUBACK 0x80" "1 1 1 128" lim subs "$H" 1883 4 4
expect "max_topic_length 64: 65 bytes -> SUBACK 0x8F, PUBACK 0x90" "143 144" \
	lim levels "$H" 1883 "$(printf 'x%.0s' $(seq 65))"
# The broker enforces max_topic_levels once tachyond hands it over (dp_ctl_mqtt_conf()).
levels=0
if grep -q 'max_topic_levels' "$top/dataplane/dp_ctl.c"; then
	expect "max_topic_levels 4: 5 levels -> SUBACK 0x8F, PUBACK 0x90" "143 144" \
		lim levels "$H" 1883 a/b/c/d/e
	levels=2
else
	tl_ok "max_topic_levels 4 # SKIP dataplane/dp_ctl.c does not pass max_topic_levels to the broker yet"
fi
if tl_sub "$TL_DIR/live.out" anon/live 1 1 && tl_ns mosquitto_pub -h "$H" -q 1 -t anon/live -m "rt $$" &&
	tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/live.out")" = "rt $$" ]; then
	tl_ok "a legitimate client's round trip while 200 idle connections wait"
else
	tl_fail "a legitimate client's round trip while 200 idle connections wait"
fi
t_mid=$((($(date +%s%N) - t_slow) / 1000000))
wait "$slow_pid"
read -r s_n s_first s_last <"$TL_DIR/slowloris.out"
tl_log "slowloris: $s_n of 200 idle connections closed, after $s_first..$s_last s (the other tests took $t_mid ms meanwhile)"
[ "$s_n" = 200 ] && awk -v a="$s_first" -v b="$s_last" -v t=$ct 'BEGIN { exit !(a >= t - 0.5 && b <= t + 2.5) }' &&
	tl_ok "connect_timeout: 200 connections without CONNECT closed at $ct s (not before $ct - 0.5, all by $ct + 2.5)" ||
	tl_fail "connect_timeout closes connections without CONNECT" "$(cat "$TL_DIR/slowloris.out")"
# Live: max_connections 6 -> 1 through tachyon-control's `config reload`; one connection
# held, the next refused (no restart, no connection dropped).
control_start "$TL_DIR/limits.conf" "$TL_DIR/limctl.log"
limctl=$CTL_PID
sed -i 's/^max_connections 6$/max_connections 1/; s/^max_subscriptions 3$/max_subscriptions 1/' \
	"$TL_DIR/limits.conf"
got=none live_ref=0 # refusals seen here, for the counter checks below
if "$ctl" -c "$TL_DIR/limits.conf" config reload >>"$TL_DIR/limctl.log" 2>&1; then
	for _ in $(seq 20); do
		got=$(lim conns "$H" 1883:5 1883:5)
		live_ref=$((live_ref + $(grep -o 151 <<<"$got" | wc -l)))
		[ "$got" = "0 151" ] && break
		sleep 0.2
	done
fi
# the same reload lowered the broker's max_subscriptions 3 -> 1 (mqtt_broker_set_limits)
gots=none
for _ in $(seq 20); do
	gots=$(lim subs "$H" 1883 5 2)
	[ "$gots" = "1 151" ] && break
	sleep 0.2
done
kill "$limctl" 2>/dev/null
wait "$limctl" 2>/dev/null
[ "$got" = "0 151" ] && tl_ok "max_connections lowered live (6 -> 1 by config reload): the 2nd connection gets 0x97" ||
	tl_fail "max_connections lowered live" "got '$got'; $(tail -3 "$TL_DIR/limctl.log")"
[ "$gots" = "1 151" ] && tl_ok "max_subscriptions lowered live (3 -> 1 by the same reload): the 2nd filter gets 0x97" ||
	tl_fail "max_subscriptions lowered live" "got '$gots'"
# the broker's counters: receive maximum 1, packet size 2 (v5 and 3.1.1), publish rate 2,
# subscriptions 3 (one after the live reload), topics 2 (+2 with levels), keep-alive adjusted 1
want="1 2 2 3 $((2 + levels)) 1"
for _ in $(seq 20); do # counters reach the stats every 100 ms
	m1=$(mstats)
	[ "$(awk -v a="$m0" -v b="$m1" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), y[i] - x[i] }')" = "$want" ] && break
	sleep 0.1
done
delta=$(awk -v a="$m0" -v b="$m1" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
	for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), y[i] - x[i] }')
[ -n "$m0" ] && [ "$delta" = "$want" ] &&
	tl_ok "broker limit counters (mqtt.$(sed 's/ /, /g' <<<"$mkeys")) rose by $delta" ||
	tl_fail "broker limit counters" "$mkeys: want +$want, got +$delta (before '$m0', after '$m1')"
# the same counters through tachyonctl (tachyond's stats, summed over the lcores)
secstats() {
	"$ctl" -c "$TL_DIR/limits.conf" --json stats 2>/dev/null | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
print(c.get("sec.conn_limit_refused") + c.get("sec.listener_limit_refused"), c.get("sec.pub_rate_exceeded"))' 2>/dev/null
}
retries=$(awk '{n += $1} END {print n + 0}' "$TL_DIR/retries" 2>/dev/null || echo 0)
expect "limit trips in tachyonctl --json stats (sec.conn_limit_refused + listener_limit_refused, pub_rate_exceeded)" \
	"$((4 + live_ref + retries)) 2" secstats
tl_check "limits tachyond stops cleanly" tl_dp_stop
lines=$(grep 'limits: ' "$TL_DIR/tachyond.log")
printf '%s\n' "$lines" | sed 's/^/# /'
# summed over the lcores: global, listener, rate, publish rate
sums=$(sed -n 's/.*max_connections refused \([0-9]*\) listener max_connections refused \([0-9]*\) connection rate refused \([0-9]*\) publish rate exceeded \([0-9]*\) rate evictions [0-9]* closed before CONNECT \([0-9]*\).*/\1 \2 \3 \4 \5/p' <<<"$lines" |
	awk '{g += $1; l += $2; r += $3; p += $4; n += $5} END {print g + 0, l + 0, r + 0, p + 0, n + 0}')
read -r c_g c_l c_r c_p c_n <<<"$sums"
# 0x97 answers retried while slots were being freed are counted too (global or listener)
retries=$(awk '{n += $1} END {print n + 0}' "$TL_DIR/retries" 2>/dev/null || echo 0)
[ "$c_g" -ge $((2 + live_ref)) ] && [ "$c_l" -ge 2 ] && [ $((c_g + c_l)) = $((4 + live_ref + retries)) ] && [ "$c_r" = $((r_ref + 1)) ] && [ "$c_p" = 2 ] && [ "$c_n" -ge 200 ] &&
	tl_ok "limits counted per lcore (global $c_g, listener $c_l, rate $c_r, publish rate $c_p, closed before CONNECT $c_n)" ||
	tl_fail "limits counted" "global/listener/rate/publish/no-CONNECT: $sums (rate refusals seen: $r_ref + 1, 0x97 seen live $live_ref, retried $retries)"
tl_done

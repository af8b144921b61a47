#!/usr/bin/env bash
# tachyonctl and tachyon-control against a real tachyond in a namespace of its own: the counters
# of `tachyonctl --json stats` and of /metrics equal the traffic this test generates (exact
# deltas of PUBLISH packets and MQTT bytes), a live reload keeps connections, a restart-only one
# is refused, and SIGKILL of tachyon-control leaves a QoS 1 stream flowing, then a restart
# reattaches.
#
# Usage: broker_ctl.sh TACHYOND TACHYON_CONTROL TACHYONCTL
# tachyond runs with --config: dataplane_socket and the rest come from the same file.
set -u
DP=$1 CTLD=$2 CTL=$3
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$DP"
PY=/usr/bin/python3
# a loopback port nobody holds right now (the kernel picks it; a small race, no guessing)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl_pid=
stop_ctl() { [ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null; }
trap 'rc=$?; stop_ctl; (exit $rc); tl_cleanup' EXIT

conf=$TL_DIR/tachyon.conf
write_conf() { # write_conf MAX_INFLIGHT MBUFS
	cat >"$conf" <<EOF
address $TL_DP_IP
netmask 255.255.255.0
lcores 0
mbufs $2
idle_policy adaptive
dataplane_socket $TL_DIR/dp.sock
control_socket $TL_DIR/ctl.sock
metrics_listen 127.0.0.1:$port
sys_interval 0
max_inflight_messages $1
max_queued_messages 20000
listener 1883
EOF
}
T() { "$CTL" -c "$conf" "$@"; }
start_ctl() {
	"$CTLD" -c "$conf" >>"$TL_DIR/control.log" 2>&1 &
	ctl_pid=$!
	for _ in $(seq 100); do
		T -d /nonexistent status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
# stat KEY: a headline figure of `tachyonctl --json stats`
stat() { T --json stats 2>/dev/null | $PY -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
# Counters reach dp_stats[] every 100 ms (DP_STATS_PERIOD_US): wait until KEY reads WANT.
wait_stat() {
	local key=$1 want=$2
	for _ in $(seq 50); do
		[ "$(stat "$key")" = "$want" ] && return 0
		sleep 0.1
	done
	tl_log "$key is $(stat "$key"), expected $want"
	return 1
}

write_conf 20 8191
tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready with --config" tl_dp_start --config "$conf"
tl_check "tachyon-control attached" start_ctl
tl_check "status names tachyond's pid" bash -c "'$CTL' -c '$conf' --json status | grep -q '\"pid\": $TL_DP_PID'"

# --- exact counters: one subscriber, one publisher, N QoS 0 messages of fixed size ---
n=500 topic=ctl/exact
for ((i = 0; i < n; i++)); do printf 'payload-%05d\n' "$i"; done >"$TL_DIR/msgs"
in0=$(stat messages_in) out0=$(stat messages_out) bin0=$(stat bytes_in) bout0=$(stat bytes_out)
ct0=$(stat connections_total)
tl_check "subscriber up" tl_sub "$TL_DIR/sub.out" "$topic" 0 "$n" -i ctl-sub -F 'P:%p'
tl_ns mosquitto_pub -h "$TL_DP_IP" -i ctl-pub -t "$topic" -q 0 -l <"$TL_DIR/msgs"
tl_check "subscriber got all $n" tl_wait_pid "$TL_SUB_PID" 30
tl_check "messages_in grew by exactly $n" wait_stat messages_in $((in0 + n))
tl_check "messages_out grew by exactly $n" wait_stat messages_out $((out0 + n))
tl_check "connections_total grew by 2" wait_stat connections_total $((ct0 + 2))
tl_check "connections back to 0" wait_stat connections 0
# MQTT 3.1.1 sizes: CONNECT = 2 + 10 + 2 + len(id); SUBSCRIBE = 2 + 2 + 2 + len(filter) + 1;
# PUBLISH QoS 0 = 2 + 2 + len(topic) + len(payload) (all < 128: one length byte);
# DISCONNECT = 2; CONNACK = 4; SUBACK = 5.
pub_size=$((2 + 2 + ${#topic} + 13))
want_in=$(((14 + 7) + (14 + 7) + (6 + ${#topic} + 1) + n * pub_size + 2 + 2))
want_out=$((4 + 4 + 5 + n * pub_size))
tl_check "bytes_in grew by exactly $want_in" wait_stat bytes_in $((bin0 + want_in))
tl_check "bytes_out grew by exactly $want_out" wait_stat bytes_out $((bout0 + want_out))
tl_check "per-lcore array sums to the totals" bash -c "'$CTL' -c '$conf' --json stats | $PY -c '
import json,sys; s=json.load(sys.stdin)
assert s[\"lcores\"] and all(sum(l[k] for l in s[\"lcores\"]) == s[k] for k in (\"messages_in\",\"bytes_out\",\"connections\"))'"
tl_check "Prometheus agrees with stats" $PY - "$port" "$(stat messages_in)" <<'PY'
import re, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
tot = sum(float(v) for v in re.findall(r'^tachyon_messages_received_total\{[^}]*\} (\S+)$', body, re.M))
assert tot == float(sys.argv[2]), (tot, sys.argv[2])
assert re.search(r'^tachyon_up 1$', body, re.M)
PY

# --- live reload keeps a connection; restart-only is refused ---
tl_check "long-lived subscriber up" tl_sub "$TL_DIR/live.out" ctl/live 1 2 -i ctl-live -F 'P:%p'
tl_ns mosquitto_pub -h "$TL_DP_IP" -t ctl/live -q 1 -m before
gen0=$(stat config_generation)
write_conf 42 8191
tl_check "reload of max_inflight_messages exits 0" T config reload
tl_check "a new configuration generation" [ "$(stat config_generation)" = $((gen0 + 1)) ]
tl_check "tachyond runs the new value" bash -c "'$CTL' -c '$conf' config show | grep -qx 'max_inflight_messages 42'"
tl_ns mosquitto_pub -h "$TL_DP_IP" -t ctl/live -q 1 -m after
if tl_wait_pid "$TL_SUB_PID" 10 && [ "$(tl_payloads "$TL_DIR/live.out" | tr '\n' ' ')" = "before after " ]; then
	tl_ok "the subscriber's connection survived the reload"
else
	tl_fail "the subscriber's connection survived the reload"
fi
write_conf 42 4095
T config reload >/dev/null 2>"$TL_DIR/err"
rc=$?
if [ $rc = 6 ] && grep -q "mbufs" "$TL_DIR/err"; then tl_ok "restart-only reload refused (6)"; else tl_fail "restart-only reload refused (6)" "exit $rc"; fi
write_conf 42 8191
tl_check "log level debug" T log level debug
tl_check "log level info" T log level info

# --- clients list: the MQTT core lists them, or says it cannot yet (never made-up data) ---
tl_check "long-lived subscriber up again" tl_sub "$TL_DIR/cl.out" ctl/cl 0 1 -i ctl-listed -F 'P:%p'
T --json clients list >"$TL_DIR/cl.json" 2>"$TL_DIR/err"
rc=$?
if { [ $rc = 0 ] && grep -q '"ctl-listed"' "$TL_DIR/cl.json"; } || { [ $rc = 7 ] && grep -q "not supported yet" "$TL_DIR/err"; }; then
	tl_ok "clients list: the connected client, or not supported (exit $rc)"
else
	tl_fail "clients list: the connected client, or not supported" "exit $rc"
fi
tl_ns mosquitto_pub -h "$TL_DP_IP" -t ctl/cl -m bye
# Every other command: a real answer (0), a definite "no such" (4) or "not supported yet" (7);
# never a failure or an unreachable broker.
for c in "config check" "config show --file" "sys show" "sessions list" "subscriptions list" \
	"retained list" "clients show ctl-nobody" "clients kick ctl-nobody" "sessions show ctl-nobody" \
	"sessions drop ctl-nobody" "retained delete ctl/none"; do
	# shellcheck disable=SC2086
	T $c >/dev/null 2>"$TL_DIR/err"
	rc=$?
	case $rc in
	0 | 4 | 7) tl_ok "tachyonctl $c (exit $rc)" ;;
	*) tl_fail "tachyonctl $c" "exit $rc: $(cat "$TL_DIR/err")" ;;
	esac
done

# --- SIGKILL of tachyon-control during a QoS 1 stream ---
m=3000
for ((i = 0; i < m; i++)); do printf 'k%05d\n' "$i"; done >"$TL_DIR/kmsgs"
# so far: the $n exact ones, "before" and "after", and "bye" (counters lag up to 100 ms)
in0=$((in0 + n + 3))
tl_check "messages_in settled at $in0" wait_stat messages_in "$in0"
tl_check "stream subscriber up" tl_sub "$TL_DIR/k.out" ctl/kill 1 "$m" -i ctl-ksub -F 'P:%p'
# (not tl_ns_bg: a background command's stdin would be /dev/null, not the redirect)
tl_ns mosquitto_pub -h "$TL_DP_IP" -i ctl-kpub -t ctl/kill -q 1 -l <"$TL_DIR/kmsgs" &
TL_BG_PIDS+=($!)
sleep 0.2
tl_log "SIGKILL of tachyon-control with $(grep -c '^P:' "$TL_DIR/k.out") of $m messages delivered"
{
	kill -9 "$ctl_pid"
	wait "$ctl_pid"
} 2>/dev/null
ctl_pid=
if tl_wait_pid "$TL_SUB_PID" 60 && tl_payloads "$TL_DIR/k.out" | cmp -s - "$TL_DIR/kmsgs"; then
	tl_ok "every message of the stream delivered while tachyon-control was killed"
else
	tl_fail "every message of the stream delivered while tachyon-control was killed"
fi
tl_check "tachyond still running" kill -0 "$TL_DP_PID"
tl_check "restarted tachyon-control reattaches" start_ctl
tl_check "same tachyond after reattach" bash -c "'$CTL' -c '$conf' --json status | grep -q '\"pid\": $TL_DP_PID'"
tl_check "counts exact after reattach" wait_stat messages_in $((in0 + m))
stop_ctl
tl_done

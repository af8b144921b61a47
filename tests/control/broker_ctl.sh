#!/usr/bin/env bash
# tachyonctl and tachyon-control against a real tachyond in a namespace of its own: the counters
# of `tachyonctl --json stats` and of /metrics equal the traffic this test generates (exact
# deltas of PUBLISH packets and MQTT bytes), a live reload keeps connections, a restart-only one
# is refused, and SIGKILL of tachyon-control leaves a QoS 1 stream flowing, then a restart
# reattaches. Then every clients/sessions/subscriptions/retained command against the clients
# this test connects (exact sets of ids, filters and topics; kick seen by a v5 client as
# DISCONNECT 0x98 with its session kept; drop and delete take effect) and $SYS topics seen by
# mosquitto_sub every sys_interval: once on one lcore, once on two (the answers of both shards
# merged by tachyond).
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
write_conf() { # write_conf MAX_INFLIGHT MBUFS [SYS_INTERVAL [LCORES]]
	cat >"$conf" <<EOF
address $TL_DP_IP
netmask 255.255.255.0
lcores ${4:-0}
mbufs $2
idle_policy adaptive
dataplane_socket $TL_DIR/dp.sock
control_socket $TL_DIR/ctl.sock
metrics_listen 127.0.0.1:$port
sys_interval ${3:-0}
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

# --- operator commands over the MQTT core, against clients this test connects ---
# A v5 client on a raw socket (session expiry 3600, one QoS 1 subscription) that prints "ready"
# once subscribed and then the reason code of the DISCONNECT it receives.
cat >"$TL_DIR/v5client.py" <<'PY'
import socket, struct, sys
host, cid, topic = sys.argv[1:4]
def s16(b): return struct.pack(">H", len(b)) + b
def vint(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (128 if n else 0)])
        if not n: return out
def pkt(t, body): return bytes([t]) + vint(len(body)) + body
def read():
    h = sock.recv(1)
    if not h: return None, b""
    n, mult = 0, 1
    while True:
        d = sock.recv(1)[0]; n += (d & 127) * mult; mult *= 128
        if not d & 128: break
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c: break
        b += c
    return h[0], b
sock = socket.create_connection((host, 1883), 5)
props = b"\x11" + struct.pack(">I", 3600)
sock.sendall(pkt(0x10, s16(b"MQTT") + bytes([5, 0]) + struct.pack(">H", 60) + vint(len(props)) + props + s16(cid.encode())))
t, b = read(); assert t == 0x20 and b[1] == 0, (t, b)
sock.sendall(pkt(0x82, struct.pack(">H", 1) + b"\x00" + s16(topic.encode()) + b"\x01"))
t, b = read(); assert t == 0x90, t
print("ready", flush=True)
sock.settimeout(30)
while True:
    t, b = read()
    if t is None: print("closed without DISCONNECT", flush=True); break
    if t == 0xE0: print("DISCONNECT 0x%02x" % (b[0] if b else 0), flush=True); break
PY
# jq-like checks: `jcheck FILE PYTHON-EXPR` with the parsed JSON as `j`
jcheck() { $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
# tj NAME FILE ARGS...: tachyonctl --json ARGS into FILE, exit 0 expected
tj() { local name=$1 f=$2; shift 2; tl_check "$name" bash -c "'$CTL' -c '$conf' --json $* >'$f'"; }
# exit_is NAME CODE ARGS...: tachyonctl ARGS exits with CODE
exit_is() {
	local name=$1 want=$2 rc
	shift 2
	T "$@" >/dev/null 2>"$TL_DIR/err"
	rc=$?
	if [ $rc = "$want" ]; then tl_ok "$name"; else tl_fail "$name" "exit $rc, wanted $want: $(cat "$TL_DIR/err")"; fi
}

admin_suite() { # admin_suite TAG: the whole set of commands, ids prefixed with TAG
	local p=$1 i ids="" pids=() lcores
	lcores=$(T --json status | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["dataplane"]["lcores"]))')
	tl_log "$p: tachyond runs $lcores polling lcore(s)"
	for i in 0 1 2 3 4; do
		tl_check "$p: persistent subscriber $p-$i up" tl_sub "$TL_DIR/$p-$i.out" "$p/t/$i" 1 1000 -i "$p-$i" -c -F 'P:%p'
		pids+=("$TL_SUB_PID")
		ids="$ids $p-$i"
	done
	tl_ns_bg $PY "$TL_DIR/v5client.py" "$TL_DP_IP" "$p-v5" "$p/v5/#" >"$TL_DIR/$p-v5.out" 2>&1
	tl_check "$p: v5 client up" tl_wait_lines "$TL_DIR/$p-v5.out" 1 10
	ids="$ids $p-v5"
	tl_check "$p: stats count the 6 connections" wait_stat connections 6

	tj "$p: clients list --json" "$TL_DIR/cl.json" clients list
	tl_log "$p: clients: $($PY -c "import json; print(' '.join('%s@%s/%s' % (c['client_id'], c['lcore'], c['peer']) for c in json.load(open('$TL_DIR/cl.json'))['items']))")"
	tl_check "$p: clients list has exactly the 6 ids, one each" jcheck "$TL_DIR/cl.json" \
		"sorted(c['client_id'] for c in j['items']) == sorted('$ids'.split()) and j['count'] == 6 and not j['truncated']"
	tl_check "$p: peers are the client namespace, protocols 4 and 5" jcheck "$TL_DIR/cl.json" \
		"all(c['peer'].startswith('$TL_CLIENT_IP:') and c['state'] == 'connected' for c in j['items']) and sorted(c['protocol'] for c in j['items']) == [4]*5 + [5]"
	tl_check "$p: each client's lcore is a polling lcore" jcheck "$TL_DIR/cl.json" \
		"len(set(c['lcore'] for c in j['items'])) <= $lcores"
	tl_log "$p: clients per lcore: $($PY -c "import json,collections; print(dict(collections.Counter(c['lcore'] for c in json.load(open('$TL_DIR/cl.json'))['items'])))")"
	T clients list >"$TL_DIR/cl.txt" 2>&1
	tl_check "$p: clients list table: header and 6 rows" bash -c "head -1 '$TL_DIR/cl.txt' | grep -q '^CLIENT ID' && [ \$(grep -c '^$p-' '$TL_DIR/cl.txt') = 6 ]"
	tl_check "$p: bash completion of clients kick offers the connected ids" bash -c "source '$(dirname "$0")/../../control/tachyonctl.bash-completion'; COMP_WORDS=('$CTL' -c '$conf' clients kick '$p-'); COMP_CWORD=5; _tachyonctl; [ \"\$(printf '%s\n' \"\${COMPREPLY[@]}\" | sort | tr '\n' ' ')\" = '$p-0 $p-1 $p-2 $p-3 $p-4 $p-v5 ' ]"
	tj "$p: clients list --limit 2" "$TL_DIR/cl2.json" clients list --limit 2
	tl_check "$p: --limit 2: at most 2 per lcore, truncated" jcheck "$TL_DIR/cl2.json" \
		"j['count'] <= 2 * $lcores and j['count'] < 6 and j['truncated']"
	tj "$p: clients show $p-3" "$TL_DIR/cs.json" clients show "$p-3"
	tl_check "$p: clients show: id, 1 subscription, keep-alive 60" jcheck "$TL_DIR/cs.json" \
		"j['item']['client_id'] == '$p-3' and j['item']['subscriptions'] == 1 and j['item']['keepalive'] == 60"
	exit_is "$p: clients show of an unknown id exits 4" 4 clients show "$p-nobody"

	tj "$p: subscriptions list --json" "$TL_DIR/sl.json" subscriptions list
	tl_check "$p: subscriptions list has exactly the 6 filters with their clients" jcheck "$TL_DIR/sl.json" \
		"sorted((s['client_id'], s['filter'], s['qos']) for s in j['items'] if s['client_id'].startswith('$p-')) == sorted([('$p-%d' % i, '$p/t/%d' % i, 1) for i in range(5)] + [('$p-v5', '$p/v5/#', 1)])"
	tj "$p: subscriptions list '$p/t/#'" "$TL_DIR/sf.json" subscriptions list "'$p/t/#'"
	tl_check "$p: the filter selects exactly the 5 of $p/t/#" jcheck "$TL_DIR/sf.json" \
		"sorted(s['filter'] for s in j['items']) == ['$p/t/%d' % i for i in range(5)]"
	tj "$p: subscriptions list --client-id $p-2" "$TL_DIR/sc.json" subscriptions list --client-id "$p-2"
	tl_check "$p: --client-id: exactly its one subscription" jcheck "$TL_DIR/sc.json" \
		"[(s['client_id'], s['filter']) for s in j['items']] == [('$p-2', '$p/t/2')]"
	exit_is "$p: subscriptions list --client-id of an unknown id exits 4" 4 subscriptions list --client-id "$p-nobody"
	exit_is "$p: --client-id on clients list is a usage error (2)" 2 clients list --client-id "$p-2"

	tj "$p: sessions list --json" "$TL_DIR/ss.json" sessions list
	tl_check "$p: sessions list has the 6 sessions, online" jcheck "$TL_DIR/ss.json" \
		"sorted(s['client_id'] for s in j['items'] if s['client_id'].startswith('$p-')) == sorted('$ids'.split()) and all(s['online'] for s in j['items'])"

	# kick: DISCONNECT 0x98 to the v5 client, its session stays (offline, subscription kept)
	exit_is "$p: clients kick $p-v5 exits 0" 0 clients kick "$p-v5"
	tl_check "$p: the v5 client got DISCONNECT 0x98" bash -c "for i in \$(seq 50); do grep -q 'DISCONNECT 0x98' '$TL_DIR/$p-v5.out' && exit 0; sleep 0.1; done; cat '$TL_DIR/$p-v5.out'; exit 1"
	tl_check "$p: 5 connections after the kick" wait_stat connections 5
	# (retried: the kicked session may be moving to its home shard for a moment)
	tl_check "$p: sessions show $p-v5" bash -c "for k in \$(seq 50); do '$CTL' -c '$conf' --json sessions show '$p-v5' >'$TL_DIR/sv.json' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
	tl_check "$p: the kicked session stays: offline, expiry 3600, 1 subscription" jcheck "$TL_DIR/sv.json" \
		"j['item']['online'] is False and j['item']['expiry_s'] == 3600 and 0 < j['item']['expires_in_s'] <= 3600 and j['item']['subscriptions'] == 1"
	exit_is "$p: clients kick of an offline client exits 4" 4 clients kick "$p-v5"
	# queued for the offline session: 3 QoS 1 messages
	for i in 1 2 3; do tl_ns mosquitto_pub -h "$TL_DP_IP" -t "$p/v5/q" -q 1 -m "m$i"; done
	tl_check "$p: the offline session queued 3 messages" bash -c "for i in \$(seq 30); do '$CTL' -c '$conf' --json sessions show '$p-v5' | $PY -c 'import json,sys; i=json.load(sys.stdin)[\"item\"]; sys.exit(0 if i[\"queued\"] + i[\"inflight\"] == 3 else 1)' && exit 0; sleep 0.1; done; exit 1"
	# drop: gone from show and list
	exit_is "$p: sessions drop $p-v5 exits 0" 0 sessions drop "$p-v5"
	exit_is "$p: sessions show after drop exits 4" 4 sessions show "$p-v5"
	exit_is "$p: sessions drop again exits 4" 4 sessions drop "$p-v5"
	tj "$p: sessions list after drop" "$TL_DIR/ss2.json" sessions list
	tl_check "$p: sessions list lost exactly $p-v5" jcheck "$TL_DIR/ss2.json" \
		"sorted(s['client_id'] for s in j['items'] if s['client_id'].startswith('$p-')) == ['$p-%d' % i for i in range(5)]"
	# drop of an online client (a v5 one: mosquitto_sub would reconnect): disconnected, gone
	tl_ns_bg $PY "$TL_DIR/v5client.py" "$TL_DP_IP" "$p-v5b" "$p/v5b" >"$TL_DIR/$p-v5b.out" 2>&1
	tl_check "$p: second v5 client up" tl_wait_lines "$TL_DIR/$p-v5b.out" 1 10
	exit_is "$p: sessions drop $p-v5b (online) exits 0" 0 sessions drop "$p-v5b"
	tl_check "$p: $p-v5b got DISCONNECT 0x98" bash -c "for i in \$(seq 50); do grep -q 'DISCONNECT 0x98' '$TL_DIR/$p-v5b.out' && exit 0; sleep 0.1; done; cat '$TL_DIR/$p-v5b.out'; exit 1"
	exit_is "$p: sessions show $p-v5b exits 4" 4 sessions show "$p-v5b"

	# the refusals by reason and the security counters reach stats and Prometheus
	tl_check "$p: stats count the kick and the online drop under reason 0x98" bash -c "for i in \$(seq 30); do '$CTL' -c '$conf' --json stats | $PY -c 'import json,sys; c=json.load(sys.stdin)[\"counters\"]; sys.exit(0 if c[\"mqtt.errors_0x98\"] >= 2 and c[\"sec.logins_ok\"] >= 7 else 1)' && exit 0; sleep 0.1; done; exit 1"
	tl_check "$p: stats have RTT samples (sum > 0) and the lcores' heap in use" bash -c "'$CTL' -c '$conf' --json stats | $PY -c 'import json,sys; c=json.load(sys.stdin)[\"counters\"]; sys.exit(0 if c[\"tcp.rtt_samples\"] > 0 and c[\"tcp.rtt_sum_us\"] > 0 and c[\"heap_bytes\"] > 0 else 1)'"
	tl_check "$p: Prometheus: reason 0x98, logins, ring occupancy" $PY - "$port" <<'PY'
import re, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
def tot(pat): return sum(float(v) for v in re.findall(r'^' + pat + r' (\S+)$', body, re.M))
assert tot(r'tachyon_connection_errors_total\{[^}]*reason="0x98"[^}]*\}') >= 2
assert tot(r'tachyon_auth_logins_total\{[^}]*result="ok"[^}]*\}') >= 7
assert re.search(r'^tachyon_ring_entries\{lcore="\d+"\} \d+$', body, re.M)
assert re.search(r'^tachyon_limit_trips_total\{lcore="\d+",limit="max_connections"\} \d+$', body, re.M)
PY

	# DPDK telemetry (what dpdk-telemetry.py shows): /tachyon/stats over tachyond's socket
	tl_check "$p: DPDK telemetry /tachyon/stats has the counters (reason 0x98, ring entries)" $PY - "/var/run/dpdk/$TL_PREFIX/dpdk_telemetry.v2" "$lcores" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
json.loads(s.recv(1 << 16))  # the greeting
s.send(b"/tachyon/stats")
st = json.loads(s.recv(1 << 20))["/tachyon/stats"]
s.send(b"/tachyon/lcores")
lc = json.loads(s.recv(1 << 16))["/tachyon/lcores"]
assert len(lc) == int(sys.argv[2]), lc
assert st["mqtt_errors_0x98"] >= 2 and "ring_in_use" in st and st["sec_logins_ok"] >= 7, st
PY

	# retained: 3 topics, delete one, a new subscriber gets nothing for it
	for i in 1 2 3; do tl_ns mosquitto_pub -h "$TL_DP_IP" -t "$p/r/$i" -r -m "$(printf 'x%.0s' $(seq $((i * 10))))"; done
	tj "$p: retained list '$p/r/#'" "$TL_DIR/rl.json" retained list "'$p/r/#'"
	tl_check "$p: retained list has exactly the 3 topics and sizes" jcheck "$TL_DIR/rl.json" \
		"sorted((r['topic'], r['bytes']) for r in j['items']) == [('$p/r/%d' % i, 10 * i) for i in (1, 2, 3)]"
	exit_is "$p: retained delete $p/r/2 exits 0" 0 retained delete "$p/r/2"
	exit_is "$p: retained delete $p/r/2 again exits 4" 4 retained delete "$p/r/2"
	tj "$p: retained list after delete" "$TL_DIR/rl2.json" retained list "'$p/r/#'"
	tl_check "$p: 2 retained left" jcheck "$TL_DIR/rl2.json" \
		"sorted(r['topic'] for r in j['items']) == ['$p/r/1', '$p/r/3']"
	tl_ns mosquitto_sub -h "$TL_DP_IP" -t "$p/r/+" -C 3 -W 2 -F '%t' >"$TL_DIR/rsub.out" 2>/dev/null
	tl_check "$p: a new subscriber gets $p/r/1 and $p/r/3, not $p/r/2" bash -c "[ \"\$(sort '$TL_DIR/rsub.out' | tr '\n' ' ')\" = '$p/r/1 $p/r/3 ' ]"
	T retained list >"$TL_DIR/rl.txt" 2>&1
	tl_check "$p: retained list table" bash -c "head -1 '$TL_DIR/rl.txt' | grep -q '^TOPIC' && grep -q '^$p/r/3 ' '$TL_DIR/rl.txt'"

	# $SYS every sys_interval (1 s here), Mosquitto's names, seen by mosquitto_sub
	sed -i 's/^sys_interval .*/sys_interval 1/' "$conf"
	tl_check "$p: sys_interval 1 applied live" T config reload
	tl_ns mosquitto_sub -h "$TL_DP_IP" -t '$SYS/broker/uptime' -C 3 -W 6 -v >"$TL_DIR/sys.out" 2>&1
	tl_check "$p: \$SYS/broker/uptime 3 times within 6 s, counting up" bash -c "[ \$(grep -c '^\$SYS/broker/uptime [0-9]* seconds\$' '$TL_DIR/sys.out') = 3 ] && [ \"\$(cut -d' ' -f2 '$TL_DIR/sys.out' | sort -n | uniq | wc -l)\" -ge 2 ]"
	tl_ns mosquitto_sub -h "$TL_DP_IP" -t '$SYS/#' -W 3 -v >"$TL_DIR/sysall.out" 2>/dev/null
	for t in version uptime clients/connected messages/received messages/sent bytes/received \
		subscriptions/count 'retained messages/count' load/messages/received/1min; do
		tl_check "$p: \$SYS/broker/$t seen" grep -q "^\$SYS/broker/$t " "$TL_DIR/sysall.out"
	done
	# the 5 persistent subscribers, and the $SYS subscriber itself
	tl_check "$p: \$SYS/broker/clients/connected ends at 6" bash -c "grep '^\$SYS/broker/clients/connected ' '$TL_DIR/sysall.out' | tail -1 | grep -q ' 6\$'"
	sed -i 's/^sys_interval .*/sys_interval 0/' "$conf"
	T config reload >/dev/null

	for i in 0 1 2 3 4; do kill "${pids[$i]}" 2>/dev/null; done
	# offline sessions move to their home shard (a session in transit is on no shard for a
	# moment): wait until each shows offline, then drop it
	for i in 0 1 2 3 4; do
		tl_check "$p: $p-$i offline after its client left" bash -c "for k in \$(seq 50); do '$CTL' -c '$conf' --json sessions show '$p-$i' 2>/dev/null | grep -q '\"online\": false' && exit 0; sleep 0.1; done; exit 1"
		exit_is "$p: sessions drop $p-$i" 0 sessions drop "$p-$i"
	done
}
admin_suite adm1

# --- the same on two polling lcores: tachyond merges both shards' answers ---
stop_ctl
ctl_pid=
tl_check "tachyond (1 lcore) stops" tl_dp_stop
write_conf 20 8191 0 0-1
: >"$TL_DIR/tachyond.log"
"$DP" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
	--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,qpairs=2" -- \
	--config "$conf" >>"$TL_DIR/tachyond.log" 2>&1 &
TL_DP_PID=$!
tl_check "tachyond on lcores 0 and 1" bash -c "timeout 30 tail -n +1 --pid=$TL_DP_PID -f '$TL_DIR/tachyond.log' | grep -q -m1 '^tachyond: ready.*lcores 0 1,'"
tl_check "tachyon-control attached (2 lcores)" start_ctl
admin_suite adm2
stop_ctl
tl_done

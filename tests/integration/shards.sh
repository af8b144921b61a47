#!/usr/bin/env bash
# Two polling lcores, one broker (issue 5): tachyond on -l 0-1 with af_packet qpairs=2. Clients
# spread over both shards (per-lcore stats prove it), every QoS crosses shards with exact counts,
# a retained message is found by wildcard subscribers on both shards, a 5,000-message QoS 1
# stream reaches subscribers on both shards intact, a client id connecting on one shard takes
# over its connection on the other, persistent sessions (3.1.1 and v5) follow their client from
# lcore to lcore with the messages queued while offline, a $share group with members on both
# lcores is balanced over shards then members, and tachyond exits 0 with every mbuf back.
# Usage: shards.sh PATH/TO/tachyond [PATH/TO/tachyonctl]
# Budget: about 30 s here; the timeout allows for a slow machine.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
ctl=${2:-$(dirname "$1")/../control/tachyonctl}
N=20 # subscribers (each its own connection and source port)

. "$(dirname "$0")/stress_lib.sh"

tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready with 2 lcores (qpairs=2)" dp_start2

# N subscribers, each to its own topic at QoS 2, expecting exactly 3 messages.
pids=()
for ((i = 1; i <= N; i++)); do
	tl_sub "$TL_DIR/s$i.out" "sh/$i" 2 3 -i "sub$i-$$" -F 'P:%p' || break
	pids+=("$TL_SUB_PID")
done
[ ${#pids[@]} -eq $N ] && tl_ok "$N subscribers subscribed" || tl_fail "$N subscribers subscribed"

conns=$(lcore_counter mqtt.connections_current | tr '\n' ' ')
tl_log "connections per lcore: $conns"
if [[ "$conns" =~ ^0=([0-9]+)\ 1=([0-9]+)\ $ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] &&
	[ "${BASH_REMATCH[2]}" -gt 0 ] &&
	[ $((BASH_REMATCH[1] + BASH_REMATCH[2])) -eq $N ]; then
	tl_ok "connections on both lcores ($conns)"
else
	tl_fail "connections on both lcores" "$conns"
fi

# Routes reach the other shard one ring hop after the SUBACK: give them a moment.
sleep 0.5
# One publisher connection per message: each lands on either shard, so with N topics about
# half of the deliveries cross shards at every QoS.
for q in 0 1 2; do
	for ((i = 1; i <= N; i++)); do
		tl_ns mosquitto_pub -h "$TL_DP_IP" -t "sh/$i" -q "$q" -m "q$q-$i" || break
	done
done
bad=0
for ((i = 1; i <= N; i++)); do
	tl_wait_pid "${pids[$((i - 1))]}" 10 >/dev/null
	got=$(tl_payloads "$TL_DIR/s$i.out" | tr '\n' ' ')
	[ "$got" = "q0-$i q1-$i q2-$i " ] || { bad=$((bad + 1)); tl_log "sub$i got: $got"; }
done
[ $bad -eq 0 ] && tl_ok "every subscriber got exactly its QoS 0, 1 and 2 message, in order" ||
	tl_fail "every subscriber got exactly its QoS 0, 1 and 2 message, in order" "$bad wrong"

# A retained message, then N wildcard subscribers (spread over both shards) that must each get it.
tl_ns mosquitto_pub -h "$TL_DP_IP" -t sh/ret/x -q 1 -r -m "kept $$"
sleep 0.2
bad=0
for ((i = 1; i <= N; i++)); do
	out=$(tl_ns mosquitto_sub -h "$TL_DP_IP" -t 'sh/ret/+' -q 1 -C 1 -W 5 -i "ret$i-$$")
	[ "$out" = "kept $$" ] || bad=$((bad + 1))
done
[ $bad -eq 0 ] && tl_ok "retained message found by $N wildcard subscribers on both shards" ||
	tl_fail "retained message found by $N wildcard subscribers on both shards" "$bad missed it"

# A stream across shards: 5,000 QoS 1 messages from one connection to 4 subscribers (on either
# shard; the exit summary counts what crossed), each must get them all, in order, byte for byte.
n=5000
for ((i = 1; i <= n; i++)); do printf 'b%05d-%s\n' "$i" "$RANDOM$RANDOM"; done >"$TL_DIR/bulk.in"
pids=()
for i in 1 2 3 4; do
	tl_sub "$TL_DIR/b$i.out" sh/bulk 1 "$n" -i "bulk$i-$$" -F 'P:%p' && pids+=("$TL_SUB_PID")
done
sleep 0.5
tl_ns mosquitto_pub -h "$TL_DP_IP" -t sh/bulk -q 1 -l <"$TL_DIR/bulk.in"
bad=0
for i in 1 2 3 4; do
	tl_wait_pid "${pids[$((i - 1))]:-0}" 60 >/dev/null
	tl_payloads "$TL_DIR/b$i.out" | cmp -s - "$TL_DIR/bulk.in" || bad=$((bad + 1))
done
[ ${#pids[@]} -eq 4 ] && [ $bad -eq 0 ] && tl_ok "$n QoS 1 messages to 4 subscribers, all in order" ||
	tl_fail "$n QoS 1 messages to 4 subscribers, all in order" "$bad incomplete"

# Zero-copy across shards: what a shard keeps of another shard's message (the retained message
# above goes to every shard's store) is held by reference through one proxy, never copied.
sleep 0.3 # the lcores refresh their stats every 100 ms
read -r prox cop < <("$ctl" -d "$TL_DIR/tachyond.sock" --json stats | /usr/bin/python3 -c '
import json, sys
l = json.load(sys.stdin)["lcores"]
print(sum(e["counters"]["mqtt.inject_proxies"] for e in l), sum(e["counters"]["mqtt.inject_copies"] for e in l))')
[ "${prox:-0}" -gt 0 ] && [ "${cop:-1}" -eq 0 ] &&
	tl_ok "cross-shard messages kept by reference: $prox proxies, $cop copies" ||
	tl_fail "cross-shard messages kept by reference" "proxies ${prox:-?}, copies ${cop:-?}"

# Takeover across shards: a second connection with a client id that is connected on the other
# shard ends the first one (MQTT-3.1.4-2). Pairs of paho clients (no silent reconnect) with fresh
# ids until the two land on different lcores (per-lcore connection counts tell); 10 tries.
cat >"$TL_DIR/takeover.py" <<'PY'
import json, subprocess, sys, time
import paho.mqtt.client as mqtt
host, ctl, sock, tag = sys.argv[1:5]
def per_lcore():
    time.sleep(0.3)  # the lcores refresh their stats every 100 ms
    out = subprocess.run([ctl, "-d", sock, "--json", "stats"], capture_output=True, text=True)
    return [e["counters"]["mqtt.connections_current"] for e in json.loads(out.stdout)["lcores"]]
def client(cid):
    c = mqtt.Client(client_id=cid, clean_session=True)
    c.gone = False
    c.on_disconnect = lambda cl, u, rc: setattr(cl, "gone", True)
    c.connect(host, 1883, 60)
    c.loop_start()
    return c
for attempt in range(10):
    base = per_lcore()
    a = client("tk%d-%s" % (attempt, tag))
    time.sleep(0.2)
    la = [x - y for x, y in zip(per_lcore(), base)]
    b = client("tk%d-%s" % (attempt, tag))
    for _ in range(30):
        if a.gone:
            break
        time.sleep(0.1)
    now = per_lcore()
    lb = [x - y for x, y in zip(now, base)]
    print("# attempt %d: first on %s, after the second %s, first gone %s" % (attempt, la, lb, a.gone))
    cross = la != lb and sum(lb) == 1
    for c in (a, b):
        c.loop_stop()
        c.disconnect()
    if not a.gone or sum(lb) != 1:
        sys.exit(1)  # the first connection survived: two live connections of one id
    if cross:
        sys.exit(0)
    time.sleep(0.3)
sys.exit(2)
PY
out=$(tl_ns /usr/bin/python3 "$TL_DIR/takeover.py" "$TL_DP_IP" "$ctl" "$TL_DIR/tachyond.sock" "$$" 2>&1)
rc=$?
echo "$out" | grep '^#'
[ $rc -eq 0 ] && tl_ok "takeover across shards: the first connection of the id is ended" ||
	tl_fail "takeover across shards: the first connection of the id is ended" "rc=$rc $out"

# Sessions across shards: a persistent client (3.1.1, then v5 with a subscription identifier)
# disconnects, QoS 1 and 2 messages are published while it is offline, and it reconnects with a
# new connection (a new source port) each round until it has landed on both lcores: whichever
# lcore it lands on, the session is present and every message queued while it was offline
# arrives (QoS 2 exactly once, QoS 1 at least once and any repeat marked DUP), the v5
# subscription identifier with it. Between connections the session waits on its home shard, so
# a landing on the other lcore is a move (the exit summaries count them).
cat >"$TL_DIR/move.py" <<'PY'
import json, subprocess, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
host, ctl, sock, tag, proto = sys.argv[1:6]
v5 = proto == "5"
K = 5
def per_lcore():
    time.sleep(0.3)  # the lcores refresh their stats every 100 ms
    out = subprocess.run([ctl, "-d", sock, "--json", "stats"], capture_output=True, text=True)
    return [e["counters"]["mqtt.connections_current"] for e in json.loads(out.stdout)["lcores"]]
def client(cid, first):
    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                    **({} if v5 else {"clean_session": False}))
    c.got, c.flags = [], {}
    def on_connect(cl, u, flags, rc, *a):
        cl.flags.update(flags)
        cl.flags["rc"] = rc if isinstance(rc, int) else rc.value
    def on_message(cl, u, m):
        sid = None
        if v5 and hasattr(m, "properties") and hasattr(m.properties, "SubscriptionIdentifier"):
            sid = m.properties.SubscriptionIdentifier
        cl.got.append((m.payload.decode(), m.qos, m.dup, sid))
    c.on_connect, c.on_message = on_connect, on_message
    if v5:
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = 300
        c.connect(host, 1883, 60, clean_start=first, properties=p)
    else:
        c.connect(host, 1883, 60)
    c.loop_start()
    for _ in range(50):
        if "rc" in c.flags:
            break
        time.sleep(0.1)
    return c
def stop(c):
    c.disconnect()
    c.loop_stop()
cid = "mv%s-%s" % (proto, tag)
topic = "mv/%s/%s" % (proto, tag)
pub = mqtt.Client(client_id="mvpub%s-%s" % (proto, tag))
pub.connect(host, 1883, 60)
pub.loop_start()
base = per_lcore()
c = client(cid, True)
if v5:
    sp = Properties(PacketTypes.SUBSCRIBE)
    sp.SubscriptionIdentifier = 7
    c.subscribe(topic + "/#", 2, properties=sp)
else:
    c.subscribe(topic + "/#", 2)
time.sleep(0.3)
first = [x - y for x, y in zip(per_lcore(), base)].index(1)
stop(c)
seen, bad = {first}, 0
print("# v%s: first connection on lcore %d" % (proto, first))
for rnd in range(1, 13):
    time.sleep(0.3)  # the session is back on its home shard
    want = []
    for q in (1, 2):
        for i in range(K):
            m = "r%d-q%d-%d" % (rnd, q, i)
            pub.publish("%s/x" % topic, m, q).wait_for_publish()
            want.append((m, q))
    time.sleep(0.2)
    base = per_lcore()
    c = client(cid, False)
    for _ in range(50):
        if len(c.got) >= len(want):
            break
        time.sleep(0.1)
    lc = [x - y for x, y in zip(per_lcore(), base)]
    stop(c)
    where = lc.index(1) if lc.count(1) == 1 else -1
    seen.add(where)
    names = [g[0] for g in c.got]
    ok = c.flags.get("rc") == 0 and c.flags.get("session present") == 1
    for m, q in want:
        n = names.count(m)
        if n == 0 or (q == 2 and n > 1):
            ok = False
    for g in c.got:
        if names.count(g[0]) > 1 and not g[2] and names.index(g[0]) != c.got.index(g):
            ok = False  # a repeat without DUP
        if v5 and g[3] not in (7, [7]):
            ok = False
    print("# v%s round %d: lcore %d, session present %s, %d of %d messages%s" %
          (proto, rnd, where, c.flags.get("session present"), len(set(names)), len(want),
           "" if ok else " WRONG: %s" % c.got))
    bad += not ok
    if rnd >= 2 and {0, 1} <= seen:
        break
stop(pub)
sys.exit(1 if bad else 0 if {0, 1} <= seen else 2)
PY
for v in 4 5; do
	out=$(tl_ns /usr/bin/python3 "$TL_DIR/move.py" "$TL_DP_IP" "$ctl" "$TL_DIR/tachyond.sock" "$$" $v 2>&1)
	rc=$?
	echo "$out" | grep '^#'
	name="persistent v$v session follows its client across lcores, offline QoS 1/2 delivered"
	[ $rc -eq 0 ] && tl_ok "$name" || tl_fail "$name" "rc=$rc $(echo "$out" | grep -v '^#' | tail -3)"
done

# Shared subscriptions spanning shards: members of one $share group on both lcores; 400 QoS 1
# messages from one publisher. The publisher's shard picks a shard holding members round robin,
# then that shard a member round robin: each lcore's members get half of the messages and each
# member its equal part of its lcore's half (to within one), every message exactly once overall.
cat >"$TL_DIR/share.py" <<'PY'
import json, subprocess, sys, time
import paho.mqtt.client as mqtt
host, ctl, sock, tag = sys.argv[1:5]
M = 400
def per_lcore():
    time.sleep(0.3)
    out = subprocess.run([ctl, "-d", sock, "--json", "stats"], capture_output=True, text=True)
    return [e["counters"]["mqtt.connections_current"] for e in json.loads(out.stdout)["lcores"]]
members = []  # (client, lcore)
for i in range(16):
    base = per_lcore()
    c = mqtt.Client(client_id="grp%d-%s" % (i, tag))
    c.got = []
    c.on_message = lambda cl, u, m: cl.got.append(m.payload.decode())
    c.connect(host, 1883, 60)
    c.loop_start()
    c.subscribe("$share/g%s/grp/+" % tag, 1)
    lc = [x - y for x, y in zip(per_lcore(), base)]
    members.append((c, lc.index(1) if lc.count(1) == 1 else -1))
    k = [sum(1 for _, l in members if l == j) for j in (0, 1)]
    if len(members) >= 6 and min(k) >= 2:
        break
k = [sum(1 for _, l in members if l == j) for j in (0, 1)]
print("# members per lcore: %s" % k)
time.sleep(0.5)  # the group's members reach the other shard one ring hop after the SUBACK
pub = mqtt.Client(client_id="grppub-%s" % tag)
pub.connect(host, 1883, 60)
pub.loop_start()
for i in range(M):
    pub.publish("grp/x", "m%04d" % i, 1).wait_for_publish()
deadline = time.time() + 10
while time.time() < deadline and sum(len(c.got) for c, _ in members) < M:
    time.sleep(0.1)
time.sleep(0.3)
allgot = sorted(sum((c.got for c, _ in members), []))
per = [(l, len(c.got)) for c, l in members]
print("# deliveries per member (lcore, count): %s" % per)
tot = [sum(n for l, n in per if l == j) for j in (0, 1)]
print("# per lcore: %s" % tot)
ok = allgot == ["m%04d" % i for i in range(M)] and min(k) >= 1 and -1 not in [l for _, l in members]
ok = ok and abs(tot[0] - tot[1]) <= 1
for l, n in per:
    if abs(n - tot[l] / k[l]) > 1:
        ok = False
for c, _ in members + [(pub, 0)]:
    c.disconnect()
    c.loop_stop()
sys.exit(0 if ok else 1)
PY
out=$(tl_ns /usr/bin/python3 "$TL_DIR/share.py" "$TL_DP_IP" "$ctl" "$TL_DIR/tachyond.sock" "$$" 2>&1)
rc=$?
echo "$out" | grep '^#'
[ $rc -eq 0 ] && tl_ok "shared group across lcores: each message once, balanced over shards then members" ||
	tl_fail "shared group across lcores: balanced" "rc=$rc $(echo "$out" | grep -v '^#' | tail -3)"

tl_dp_stop
rc=$?
[ $rc -eq 0 ] && tl_ok "SIGTERM: exit 0, every mbuf returned" || tl_fail "SIGTERM: exit 0" "rc=$rc"

# The exit summaries: publishes crossed both ways, none dropped, and every reference came back.
sums=$(grep '^tachyond: shard [01]: ' "$TL_DIR/tachyond.log")
echo "$sums" | sed "s/^/# /"
read -r out0 in0 out1 in1 < <(echo "$sums" |
	sed -n 's/.*cross-shard publishes out \([0-9]*\) in \([0-9]*\) .*/\1 \2/p' | tr '\n' ' ')
if [ -n "${in1:-}" ] && [ "$out0" -gt 0 ] && [ "$out1" -gt 0 ] && [ "$out0" -eq "$in1" ] &&
	[ "$out1" -eq "$in0" ]; then
	tl_ok "publishes crossed shards both ways (0->1 $out0, 1->0 $out1), all received"
else
	tl_fail "publishes crossed shards both ways, all received" "$sums"
fi
[ "$(echo "$sums" | grep -c 'dropped qos0/nomem 0/0 ')" -eq 2 ] &&
	tl_ok "no cross-shard publish dropped" || tl_fail "no cross-shard publish dropped" "$sums"
xin=$(echo "$sums" | sed -n 's/.*session transfer messages out [0-9]* in \([0-9]*\) lost 0 .*/\1/p' |
	paste -sd+ | bc)
[ "$(echo "$sums" | grep -c ' lost 0 ')" -eq 2 ] && [ "${xin:-0}" -gt 0 ] &&
	tl_ok "session transfer messages crossed ($xin), none lost" ||
	tl_fail "session transfer messages crossed, none lost" "$sums"
[ "$(grep -c 'dropped queue/outbuf 0/0 ' "$TL_DIR/tachyond.log")" -eq 2 ] &&
	tl_ok "the broker shards dropped no message" ||
	tl_fail "the broker shards dropped no message" "$(grep 'lcore [01]: rx' "$TL_DIR/tachyond.log")"

tl_done

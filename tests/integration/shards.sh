#!/usr/bin/env bash
# Two polling lcores, one broker (issue 5): tachyond on -l 0-1 with af_packet qpairs=2. Clients
# spread over both shards (per-lcore stats prove it), every QoS crosses shards with exact counts,
# a retained message is found by wildcard subscribers on both shards, a 5,000-message QoS 1
# stream reaches subscribers on both shards intact, a client id connecting on one shard takes
# over its connection on the other, and tachyond exits 0 with every mbuf back.
# Usage: shards.sh PATH/TO/tachyond [PATH/TO/tachyonctl]
# Budget: about 15 s here; the timeout allows for a slow machine.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
ctl=${2:-$(dirname "$1")/../control/tachyonctl}
N=20 # subscribers (each its own connection and source port)

# tl_dp_start runs one lcore; this is the same start with two lcores and two queue pairs.
dp_start2() {
	: >"$TL_DIR/tachyond.log"
	"$TL_DP_BIN" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
		--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,qpairs=2" -- \
		--ip "$TL_DP_IP" --netmask 255.255.255.0 --idle adaptive --mbufs 8191 --max-queued 20000 \
		--ctl-socket "$TL_DIR/tachyond.sock" >>"$TL_DIR/tachyond.log" 2>&1 &
	TL_DP_PID=$!
	# tail exits with tachyond (--pid), grep at the ready line; 30 s at most
	timeout 30 tail -n +1 --pid="$TL_DP_PID" -f "$TL_DIR/tachyond.log" |
		grep -q -m1 '^tachyond: ready.*lcores 0 1,' && return 0
	sed 's/^/#   /' "$TL_DIR/tachyond.log"
	return 1
}

# Per-lcore value of a counter from `tachyonctl --json stats`: "lcore=value" lines.
lcore_counter() {
	"$ctl" -d "$TL_DIR/tachyond.sock" --json stats 2>/dev/null |
		/usr/bin/python3 -c '
import json, sys
key = sys.argv[1]
for e in json.load(sys.stdin)["lcores"]:
    print("%d=%d" % (e["lcore"], e["counters"][key]))' "$1"
}

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
[ "$(grep -c 'dropped queue/outbuf 0/0 ' "$TL_DIR/tachyond.log")" -eq 2 ] &&
	tl_ok "the broker shards dropped no message" ||
	tl_fail "the broker shards dropped no message" "$(grep 'lcore [01]: rx' "$TL_DIR/tachyond.log")"

tl_done

#!/bin/bash
# Interop of tcpstack with Linux TCP (suite 'integration'): tcp_echo_host runs the stack on a
# net_af_packet port bound to one end of a veth pair; from a namespace of its own, Linux pings
# it, pushes 10 MB through its echo port and checks every byte, then opens and closes 200
# connections in a row. Bounded: every step has a timeout; everything created is removed on exit.
#
#   tcp_interop.sh <path to tcp_echo_host>
set -u
BIN=${1:?usage: tcp_interop.sh tcp_echo_host}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ID=$$
NS=tcpi$ID
VA=tci${ID}a # DPDK side (root namespace)
VB=tci${ID}b # Linux side (in $NS)
NET=198.18.$((100 + ID % 100))
HOST_PID=
LOG=$(mktemp /tmp/tcp_interop.XXXXXX)
n=0
fails=0

tap() { # tap <ok:0|1> <name>
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}

cleanup() {
	if [ -n "$HOST_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; then
		kill -TERM "$HOST_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$HOST_PID" 2>/dev/null
	fi
	ip link del "$VA" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PY" ]; then
	echo "not ok 1 - needs root and $PY"
	echo "1..1"
	exit 1
fi

ip netns add "$NS" &&
	ip link add "$VA" type veth peer name "$VB" &&
	ip link set "$VB" netns "$NS" &&
	sysctl -qw "net.ipv6.conf.$VA.disable_ipv6=1" &&
	ethtool -K "$VA" tx off rx off tso off gso off gro off >/dev/null 2>&1 &&
	ip link set "$VA" up &&
	ip netns exec "$NS" ethtool -K "$VB" tx off rx off tso off gso off gro off >/dev/null 2>&1 &&
	ip netns exec "$NS" ip addr add "$NET.2/24" dev "$VB" &&
	ip netns exec "$NS" ip link set "$VB" up &&
	ip netns exec "$NS" ip link set lo up
tap $? "namespace $NS and veth $VA/$VB"

"$BIN" -l 0 --no-huge -m 256 --no-pci --no-shconf --no-telemetry --file-prefix="tcpi$ID" --log-level=error \
	--vdev="net_af_packet0,iface=$VA" -- --ip "$NET.1" >"$LOG" 2>&1 &
HOST_PID=$!
for _ in $(seq 100); do grep -q ready "$LOG" && break; sleep 0.1; done
grep -q ready "$LOG"
tap $? "tcp_echo_host started"

timeout 20 ip netns exec "$NS" ping -c 3 -i 0.2 -W 2 "$NET.1" >/dev/null
tap $? "ping $NET.1"

timeout 120 ip netns exec "$NS" "$PY" "$HERE/echo_check.py" "$NET.1" $((10 * 1024 * 1024)) 30 ""
tap $? "10 MB echoed byte-identical"

timeout 120 ip netns exec "$NS" "$PY" - "$NET.1" <<'EOF'
import socket, sys
host = sys.argv[1]
for i in range(200):
    s = socket.create_connection((host, 7), timeout=10)
    msg = b"hello %d" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != msg:
        print("# connection %d: echo %r" % (i, got))
        sys.exit(1)
    s.close()
EOF
tap $? "200 connections opened, echoed and closed in a row"

timeout 90 ip netns exec "$NS" "$PY" - "$NET.1" <<'EOF'
import os, selectors, socket, sys, time
# 300 connections at once, each echoing 20 KB, multiplexed: many TCBs, timers and queues live.
N, SZ = 300, 20000
sel = selectors.DefaultSelector()
conns = []
for i in range(N):
    s = socket.create_connection((sys.argv[1], 7), timeout=10)
    s.setblocking(False)
    c = {"s": s, "out": os.urandom(SZ), "sent": 0, "got": bytearray()}
    conns.append(c)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
left, deadline = N, time.time() + 60
while left and time.time() < deadline:
    for key, ev in sel.select(timeout=1):
        c = key.data
        if ev & selectors.EVENT_WRITE and c["sent"] < SZ:
            c["sent"] += c["s"].send(c["out"][c["sent"]:c["sent"] + 65536])
            if c["sent"] == SZ:
                sel.modify(c["s"], selectors.EVENT_READ, c)
        if ev & selectors.EVENT_READ:
            b = c["s"].recv(65536)
            c["got"] += b
            if len(c["got"]) >= SZ:
                sel.unregister(c["s"])
                c["s"].close()
                left -= 1
bad = sum(1 for c in conns if bytes(c["got"]) != c["out"])
if bad:
    print("# %d of %d connections incomplete or corrupted" % (bad, N))
    sys.exit(1)
EOF
tap $? "300 concurrent connections each echo 20 KB intact"

# Loss both ways (nftables in the namespace drops 3% of TCP frames on output and on input):
# recovery by fast retransmit, out-of-order queueing and RTO against Linux's stack.
ip netns exec "$NS" nft -f - <<'NFT' &&
table inet tcpiloss {
	chain out { type filter hook output priority 0; meta l4proto tcp numgen random mod 100 < 3 drop; }
	chain in { type filter hook input priority 0; meta l4proto tcp numgen random mod 100 < 3 drop; }
}
NFT
	timeout 120 ip netns exec "$NS" "$PY" "$HERE/echo_check.py" "$NET.1" $((2 * 1024 * 1024)) 60 " under loss"
tap $? "2 MB echoed byte-identical with 3% loss each way"
ip netns exec "$NS" nft delete table inet tcpiloss 2>/dev/null

timeout 10 ip netns exec "$NS" "$PY" - "$NET.1" <<'EOF'
import socket, sys
# A closed port answers RST: connection refused.
try:
    socket.create_connection((sys.argv[1], 9), timeout=5)
    sys.exit(1)
except ConnectionRefusedError:
    sys.exit(0)
EOF
tap $? "closed port refuses (RST)"

kill -TERM "$HOST_PID"
wait "$HOST_PID"
rc=$?
HOST_PID=
sed 's/^/# /' "$LOG"
tap $rc "tcp_echo_host exits cleanly with every mbuf back in its pool"

echo "1..$n"
[ "$fails" -eq 0 ]

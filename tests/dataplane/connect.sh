#!/bin/bash
# dp_connect end to end (dp_connect_test.c): two lcores of tachyond's dataplane, in process, on
# an af_packet port with two queues (PACKET_FANOUT) on a veth into a namespace of our own, each
# open N connections to a Linux TCP echo server there, exchange data and close.
#   1. with the source-port choice: every connection completes on its opening lcore, frames
#      that landed on the other lcore's queue were handed over (rx_steered) and none were
#      dropped or answered with a reset;
#   2. without it (DP_CONNECT_ANY_PORT): flows another shard owns fail, so 1 can fail;
#   3. to a port nothing listens on: every open ends with -ECONNREFUSED;
#   4. tachyond's exit drain (dp_lcore_drain) closes the open ones in order.
# Usage: connect.sh PATH/TO/dp_connect_test [N per lcore]
BIN=${1:?usage: connect.sh dp_connect_test [n]}
N=${2:-32}
NS="tdpc$$"
IF_DP="tc$$d"
IF_NS="tc$$n"
OUR_IP=198.18.7.1
PEER_IP=198.18.7.2
PORT=7007
PREFIX="tdpc$$"
DIR=$(mktemp -d "/tmp/tdpc.$$.XXXXXX")
T=0
FAILED=0
SRV=

ok() { T=$((T + 1)); echo "ok $T - $1"; }
fail() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $1"; [ $# -lt 2 ] || echo "# $2"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }

cleanup() {
	local rc=$?
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$IF_DP" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$DIR"
	return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok 1 - needs root (namespaces, veth, af_packet)"
	echo "1..1"
	exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
	echo "not ok 1 - needs two CPUs for two lcores"
	echo "1..1"
	exit 1
fi

ip netns add "$NS" &&
	ip link add "$IF_DP" type veth peer name "$IF_NS" netns "$NS" || {
	echo "Bail out! cannot create the namespace and veth"
	exit 1
}
sysctl -qw "net.ipv6.conf.$IF_DP.disable_ipv6=1"
ethtool -K "$IF_DP" tx off rx off tso off gso off gro off >/dev/null 2>&1
ip link set "$IF_DP" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ethtool -K "$IF_NS" tx off rx off tso off gso off gro off >/dev/null 2>&1
ip netns exec "$NS" ip addr add "$PEER_IP/24" dev "$IF_NS"
ip netns exec "$NS" ip link set "$IF_NS" up

# The echo server: a thread per connection, gone after 90 s whatever happens.
ip netns exec "$NS" /usr/bin/python3 - "$PEER_IP" "$PORT" 90 <<'PY' >"$DIR/echo.log" 2>&1 &
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1024)
s.settimeout(0.5)
end = time.time() + float(sys.argv[3])
print("listening", flush=True)
def serve(c):
    c.settimeout(20)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
SRV=$!
for _ in $(seq 50); do grep -q listening "$DIR/echo.log" && break; sleep 0.1; done

# run MODE TIMEOUT_MS [PORT [N]]: one in-process run; its output in $DIR/MODE.out
# (MODE refused opens with the port choice, like steer)
run() {
	local flag=$1
	[ "$1" = refused ] && flag=steer
	timeout 60 "$BIN" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$PREFIX" \
		--log-level=lib.eal:warning \
		--vdev="net_af_packet0,iface=$IF_DP,qpairs=2,framecnt=2048" -- \
		"$OUR_IP" "$PEER_IP" "${3:-$PORT}" "${4:-$N}" "$flag" "$2" >"$DIR/$1.out" 2>&1
	local rc=$?
	grep -E '^(lcore [0-9]+ shard|mbufs_leaked|#)' "$DIR/$1.out" | sed 's/^/# /'
	return $rc
}
# field MODE SHARD NAME: a counter from the per-lcore line
field() { awk -v s="$2" -v k="$3" '$1 == "lcore" && $4 == s { for (i = 5; i < NF; i++) if ($i == k) print $(i + 1) }' "$DIR/$1.out"; }
sum() { local a b; a=$(field "$1" 0 "$2"); b=$(field "$1" 1 "$2"); echo $((${a:-0} + ${b:-0})); }

if run steer 15000; then ok "steer: harness ran"; else fail "steer: harness ran" "exit status $?"; tail -n 5 "$DIR/steer.out" | sed 's/^/#   /'; fi
check "steer: nothing leaked" grep -q '^mbufs_leaked 0$' "$DIR/steer.out"
for s in 0 1; do
	check "steer: lcore $s opened $N and all completed with the echo intact" \
		test "$(field steer $s opened)" = "$N" -a "$(field steer $s ok)" = "$N" -a "$(field steer $s failed)" = 0
	check "steer: lcore $s: every flow owned by its opener, every event on it" \
		test "$(field steer $s not_owned)" = 0 -a "$(field steer $s wrong_lcore)" = 0
	check "steer: lcore $s received frames steered from the other queue ($(field steer $s rx_steered))" \
		test "$(field steer $s rx_steered)" -gt 0
done
check "steer: no steering drops, no resets sent, no frame without a connection" \
	test "$(sum steer steer_dropped)" = 0 -a "$(sum steer rst_tx)" = 0 -a "$(sum steer drop_no_conn)" = 0

if run any 3000; then ok "any port: harness ran"; else fail "any port: harness ran" "exit status $?"; fi
check "any port: nothing leaked" grep -q '^mbufs_leaked 0$' "$DIR/any.out"
check "any port: some flows belong to the other shard ($(sum any not_owned))" test "$(sum any not_owned)" -gt 0
check "any port: those connections fail ($(sum any failed) failed) and the wrong shard resets them ($(sum any rst_tx) RST)" \
	test "$(sum any failed)" -gt 0 -a "$(sum any rst_tx)" -gt 0

# 3. nothing listens on PORT+1: the peer's RST ends every open with -ECONNREFUSED
if run refused 8000 $((PORT + 1)) 4; then ok "refused: harness ran"; else fail "refused: harness ran" "exit status $?"; fi
check "refused: every open ends with ECONNREFUSED ($(sum refused refused) of 8)" \
	test "$(sum refused refused)" = 8 -a "$(sum refused ok)" = 0

# 4. tachyond's exit drain closes open active connections in order (FIN both ways)
if run drain 8000 "$PORT" 8; then ok "drain: harness ran"; else fail "drain: harness ran" "exit status $?"; fi
check "drain: every open connection closed cleanly by the drain ($(sum drain clean) of 16)" \
	test "$(sum drain clean)" = 16 -a "$(sum drain still_open)" = 0 -a "$(sum drain opened)" = 16

echo "1..$T"
[ "$FAILED" -eq 0 ]

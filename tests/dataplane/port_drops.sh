#!/bin/bash
# The port's drop counters reach the operator: tachyond on an af_packet port whose kernel ring
# holds 64 frames (framecnt=64) is stopped (SIGSTOP), a burst of 500 frames comes from the
# namespace, and once it runs again `tachyonctl --json stats` shows port.rx_missed grown by at
# least the 436 frames the ring could not hold (net_af_packet 22.11 reports no imissed:
# dataplane/dp_port.c reads its sockets' PACKET_STATISTICS), on lcore 0's slot and in the
# total; tachyond still serves MQTT and exits cleanly.
# Usage: port_drops.sh PATH/TO/tachyond [PATH/TO/tachyonctl]
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$@"
ctl=${2:-$(dirname "$1")/../control/tachyonctl}
RING=64
BURST=500

tl_net_up || { tl_fail "namespace and veth"; tl_done; exit 1; }

# tl_dp_start with a small ring: its --vdev is fixed, so the same start here.
: >"$TL_DIR/tachyond.log"
"$TL_DP_BIN" -l 0 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
	--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,framecnt=$RING" -- \
	--ip "$TL_DP_IP" --netmask 255.255.255.0 --idle adaptive --mbufs 8191 \
	--ctl-socket "$TL_DIR/tachyond.sock" >>"$TL_DIR/tachyond.log" 2>&1 &
TL_DP_PID=$!
for _ in $(seq 300); do
	grep -q '^tachyond: ready' "$TL_DIR/tachyond.log" && break
	kill -0 "$TL_DP_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^tachyond: ready' "$TL_DIR/tachyond.log"; then
	tl_fail "tachyond ready with framecnt=$RING"
	tl_done
	exit 1
fi
tl_ok "tachyond ready with framecnt=$RING"

# missed [LCORE]: port.rx_missed in the total, or in one lcore's slot
missed() {
	"$ctl" -s "$TL_DIR/none.sock" -d "$TL_DIR/tachyond.sock" --json stats 2>/dev/null |
		/usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
if len(sys.argv) > 1:
    s = [l for l in s["lcores"] if l["lcore"] == int(sys.argv[1])][0]
print(s["counters"].get("port.rx_missed", -1))' "$@"
}

m0=$(missed)
tl_log "port.rx_missed before the burst: $m0"
[ -n "$m0" ] && [ "$m0" -ge 0 ] && tl_ok "port.rx_missed exported by tachyonctl --json stats" ||
	tl_fail "port.rx_missed exported by tachyonctl --json stats" "got '$m0'"

# The burst: broadcast frames of a local experimental EtherType, while no lcore polls.
kill -STOP "$TL_DP_PID"
tl_ns /usr/bin/python3 - "$TL_IF_NS" "$BURST" <<'PY'
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09" + b"\x88\xb5" + bytes(46)
for _ in range(int(sys.argv[2])):
    s.send(frame)
PY
sleep 0.2
kill -CONT "$TL_DP_PID"
sleep 0.5 # the lcore refreshes its counters every 100 ms

m1=$(missed)
l0=$(missed 0)
tl_log "port.rx_missed after $BURST frames into a $RING-frame ring: $m1 (lcore 0: $l0)"
want=$((BURST - RING))
[ -n "$m1" ] && [ "$((m1 - m0))" -ge "$want" ] && [ "$((m1 - m0))" -le "$((BURST + 50))" ] &&
	tl_ok "port.rx_missed grew by the frames the ring could not hold (>= $want)" ||
	tl_fail "port.rx_missed grew by the frames the ring could not hold (>= $want)" "before $m0, after $m1"
[ -n "$l0" ] && [ "$l0" = "$m1" ] && tl_ok "counted on the lcore of the queue (lcore 0)" ||
	tl_fail "counted on the lcore of the queue (lcore 0)" "lcore 0: $l0, total $m1"

tl_check "still serving MQTT after the burst" tl_ns timeout 10 mosquitto_pub -h "$TL_DP_IP" -t t/drops -m x
tl_check "tachyond exits cleanly" tl_dp_stop
grep -q "port missed/errors/nombuf $m1/" "$TL_DIR/tachyond.log" 2>/dev/null ||
	grep -q "port missed/errors/nombuf [1-9]" "$TL_DIR/tachyond.log" &&
	tl_ok "exit summary shows the port's drops" ||
	tl_fail "exit summary shows the port's drops" "$(grep 'port missed' "$TL_DIR/tachyond.log")"
tl_done

# Helpers for the two-lcore tests (shards.sh, stress.sh); sourced after tests/lib/tachyon.sh.

# tl_dp_start runs one lcore; this is the same start with two lcores and two queue pairs.
dp_start2() {
	: >"$TL_DIR/tachyond.log"
	"$TL_DP_BIN" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
		--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,qpairs=2" -- \
		--ip "$TL_DP_IP" --netmask 255.255.255.0 --idle adaptive --mbufs 8191 --max-queued 20000 \
		--ctl-socket "$TL_DIR/tachyond.sock" "$@" >>"$TL_DIR/tachyond.log" 2>&1 &
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

# shellcheck shell=bash
# tachyond for the fault tests (sourced, not run): start it on a raw veth end with the test EAL
# options, read its counters through its control socket, stop it and keep its exit status.
# Needs: ITD_BIN (tachyond), ITD_CTL (tachyonctl), ITD_WORK (a private directory).
#
#   itd_start NAME IF IP [tachyond options...]   waits for "ready"; sets ITD_PID, ITD_SOCK
#   itd_stats_json OUT                           tachyonctl --json stats into OUT
#   itd_counter OUT KEY...                       sum of the named counters in OUT ("NA" if absent)
#   itd_stop                                     SIGTERM, wait <= 15 s; returns the exit status
#   itd_cleanup                                  EXIT-trap part: kill a leftover, EAL dir removed
ITD_PID=
ITD_PREFIX=

itd_start() {
	local name=$1 ifname=$2 ip=$3 i
	shift 3
	ITD_PREFIX="itd-$name-$$"
	ITD_SOCK="$ITD_WORK/$name.sock"
	ITD_LOG="$ITD_WORK/$name.tachyond.log"
	: >"$ITD_LOG"
	# The EAL options the project's tests use: no hugepages, no PCI scan, no shared config, a
	# file prefix of this run alone (removed by tachyond at exit, by itd_cleanup after a crash).
	"$ITD_BIN" -l 0 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$ITD_PREFIX" \
		--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$ifname" -- \
		--ip "$ip" --netmask 255.255.255.0 --idle adaptive --ctl-socket "$ITD_SOCK" \
		"$@" >>"$ITD_LOG" 2>&1 &
	ITD_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^tachyond: ready' "$ITD_LOG" && return 0
		kill -0 "$ITD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# tachyond did not become ready:"
	sed 's/^/#   /' "$ITD_LOG"
	return 1
}

itd_stats_json() {
	"$ITD_CTL" -d "$ITD_SOCK" -s "$ITD_WORK/no-control.sock" -t 3000 --json stats >"$1" 2>/dev/null
}

# Counters live under "counters" (tcp.*, mqtt.*, mempool_in_use, ...), summed over lcores.
itd_counter() {
	local f=$1
	shift
	/usr/bin/python3 - "$f" "$@" <<'EOF'
import json, sys
try:
    c = json.load(open(sys.argv[1]))['counters']
except (OSError, ValueError, KeyError):
    print('NA'); sys.exit()
keys = sys.argv[2:]
print(sum(c[k] for k in keys) if all(k in c for k in keys) else 'NA')
EOF
}

itd_stop() {
	local pid=$ITD_PID rc i
	[ -n "$pid" ] || return 1
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 124
	wait "$pid"
	rc=$?
	ITD_PID=
	rm -rf "/var/run/dpdk/$ITD_PREFIX" # tachyond removed it unless it crashed
	return "$rc"
}

itd_cleanup() {
	if [ -n "$ITD_PID" ]; then
		kill -KILL "$ITD_PID" 2>/dev/null
		wait "$ITD_PID" 2>/dev/null
		ITD_PID=
	fi
	[ -z "$ITD_PREFIX" ] || rm -rf "/var/run/dpdk/$ITD_PREFIX"
}

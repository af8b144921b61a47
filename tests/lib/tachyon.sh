# shellcheck shell=bash
# Shared helpers for the namespace integration tests; source it from a bash test script:
#
#   . "$(dirname "$0")/../lib/tachyon.sh"
#   tl_init "$@"            # args: path of tachyond; sets up TAP, temp dir and the EXIT trap
#   tl_net_up               # namespace $TL_NS + veth pair, offloads off, client at $TL_CLIENT_IP
#   tl_dp_start [opts...]   # tachyond on the root end, waits for "ready"; opts go after "--"
#   tl_ok "name" / tl_fail "name" "why" / tl_check "name" cmd args...
#   tl_done                 # prints the plan, exits non-zero on any failure
#
# Every name holds the PID, so runs never collide with each other or with `make run`, and the
# EXIT trap removes everything on every exit path (failure, timeout signal, Ctrl-C).
# Addresses are 198.18.1.0/24: tachyond .1, the client namespace .2.

TL_DP_IP=198.18.1.1
TL_CLIENT_IP=198.18.1.2
TL_NS="tachyon-t$$"
TL_IF_DP="ty$$d"      # root end, where tachyond's af_packet port sits
TL_IF_NS="ty$$n"      # namespace end, the clients' interface
TL_PREFIX="tachyon-t$$"
TL_DP_PID=
TL_N=0
TL_FAILED=0
TL_BG_PIDS=()

tl_log() { printf '# %s\n' "$*"; }

tl_ok() {
	TL_N=$((TL_N + 1))
	echo "ok $TL_N - $1"
}

tl_fail() {
	TL_N=$((TL_N + 1))
	TL_FAILED=$((TL_FAILED + 1))
	echo "not ok $TL_N - $1"
	[ $# -lt 2 ] || tl_log "$2"
}

# tl_check NAME CMD...: one TAP line from a command's status; its output goes to the log.
tl_check() {
	local name=$1
	shift
	if "$@" >>"$TL_DIR/check.log" 2>&1; then
		tl_ok "$name"
	else
		tl_fail "$name" "command failed: $*"
		tail -n 5 "$TL_DIR/check.log" | sed 's/^/#   /'
	fi
}

tl_done() {
	echo "1..$TL_N"
	[ "$TL_FAILED" -eq 0 ]
}

tl_ns() { ip netns exec "$TL_NS" "$@"; }

# Background a client in the namespace; its PID is remembered for cleanup.
tl_ns_bg() {
	ip netns exec "$TL_NS" "$@" &
	TL_BG_PIDS+=($!)
}

tl_cleanup() {
	local rc=$?
	local p
	for p in "${TL_BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	if [ -n "$TL_DP_PID" ] && kill -0 "$TL_DP_PID" 2>/dev/null; then
		kill -TERM "$TL_DP_PID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$TL_DP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TL_DP_PID" 2>/dev/null
	fi
	wait 2>/dev/null
	# A tachyond that crashed leaves its EAL runtime directory; the prefix is this run's alone.
	rm -rf "/var/run/dpdk/$TL_PREFIX" "/var/run/dpdk/${TL_PREFIX}x"
	ip netns del "$TL_NS" 2>/dev/null
	ip link del "$TL_IF_DP" 2>/dev/null
	if [ "$rc" -ne 0 ] && [ -f "$TL_DIR/tachyond.log" ]; then
		tl_log "tachyond log (last lines):"
		tail -n 20 "$TL_DIR/tachyond.log" | sed 's/^/#   /'
	fi
	rm -rf "$TL_DIR"
	return "$rc"
}

tl_init() {
	TL_DP_BIN=${1:?usage: test.sh PATH/TO/tachyond}
	if [ "$(id -u)" -ne 0 ]; then
		echo "not ok 1 - integration tests need root (namespaces, veth, af_packet)"
		echo "1..1"
		exit 1
	fi
	[ -x "$TL_DP_BIN" ] || { echo "Bail out! no tachyond at $TL_DP_BIN"; exit 1; }
	TL_DIR=$(mktemp -d "/tmp/tachyon-it.$$.XXXXXX")
	trap tl_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Offloads off on both ends: a veth hands AF_PACKET frames with partial checksums and GSO/GRO
# super-frames, which a NIC would never deliver and our stack rightly rejects.
tl_net_up() {
	ip netns add "$TL_NS" || return 1
	ip link add "$TL_IF_DP" type veth peer name "$TL_IF_NS" netns "$TL_NS" || return 1
	sysctl -qw "net.ipv6.conf.$TL_IF_DP.disable_ipv6=1"
	ethtool -K "$TL_IF_DP" tx off rx off tso off gso off gro off >/dev/null 2>&1
	ip link set "$TL_IF_DP" up
	tl_ns ip link set lo up
	tl_ns ethtool -K "$TL_IF_NS" tx off rx off tso off gso off gro off >/dev/null 2>&1
	tl_ns ip addr add "$TL_CLIENT_IP/24" dev "$TL_IF_NS"
	tl_ns ip link set "$TL_IF_NS" up
}

# Start tachyond in the background and wait (at most 30 s) for its ready line. Arguments are
# extra options after "--". The EAL runs without hugepages and without shared config files
# (--no-shconf: DPDK 22.11 refuses --in-memory together with --no-huge), so nothing goes to
# /dev/hugepages; tachyond removes its /var/run/dpdk/<prefix> directory at exit.
tl_dp_start() {
	local sock=(--ctl-socket "$TL_DIR/tachyond.sock")
	# With --config the file names the control socket (dataplane_socket), as tachyonctl reads it.
	[[ " $* " == *" --config "* ]] && sock=()
	: >"$TL_DIR/tachyond.log"
	"$TL_DP_BIN" -l 0 --no-huge -m 512 --no-pci --no-shconf --file-prefix="$TL_PREFIX" \
		--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$TL_IF_DP,framecnt=4096" -- \
		--ip "$TL_DP_IP" --netmask 255.255.255.0 --idle adaptive --mbufs 8191 \
		"${sock[@]}" "$@" >>"$TL_DIR/tachyond.log" 2>&1 &
	TL_DP_PID=$!
	for _ in $(seq 300); do
		grep -q '^tachyond: ready' "$TL_DIR/tachyond.log" && return 0
		kill -0 "$TL_DP_PID" 2>/dev/null || break
		sleep 0.1
	done
	tl_log "tachyond did not become ready:"
	sed 's/^/#   /' "$TL_DIR/tachyond.log"
	return 1
}

# SIGTERM tachyond and wait (at most 10 s). Returns its exit status (124 on timeout).
tl_dp_stop() {
	local pid=$TL_DP_PID rc
	[ -n "$pid" ] || return 1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		return 124
	fi
	wait "$pid"
	rc=$?
	TL_DP_PID=
	return "$rc"
}

# Wait until a file holds at least N lines (at most T seconds); for subscribers' output.
tl_wait_lines() {
	local file=$1 n=$2 t=${3:-10} i
	for ((i = 0; i < t * 10; i++)); do
		[ -f "$file" ] && [ "$(wc -l <"$file")" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# tl_sub OUT TOPIC QOS COUNT [mosquitto_sub options...]: a subscriber in the namespace that
# writes its debug trace and one "P:<payload>" line per message (format from the options, default
# -F 'P:%p') to OUT, exits after COUNT messages or 60 s, and is subscribed when this returns 0
# (it waits for the SUBACK, at most 10 s; stdbuf: the trace must reach OUT as it happens).
# Sets TL_SUB_PID.
tl_sub() {
	local out=$1 topic=$2 qos=$3 count=$4 i
	shift 4
	local fmt=(-F 'P:%p')
	[ $# -gt 0 ] && fmt=("$@")
	: >"$out"
	tl_ns_bg stdbuf -oL mosquitto_sub -h "$TL_DP_IP" -d -t "$topic" -q "$qos" -C "$count" -W 60 \
		"${fmt[@]}" >"$out" 2>&1
	TL_SUB_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^Subscribed (mid' "$out" && return 0
		kill -0 "$TL_SUB_PID" 2>/dev/null || break
		sleep 0.1
	done
	tl_log "subscriber to $topic not subscribed:"
	tail -n 5 "$out" | sed 's/^/#   /'
	return 1
}

# Payloads a tl_sub subscriber printed, one per line, without the "P:" marker.
tl_payloads() { grep '^P:' "$1" | cut -c3-; }

# Wait for a background PID to exit (at most T seconds); returns its status, 124 on timeout.
tl_wait_pid() {
	local pid=$1 t=${2:-10} i
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
		sleep 0.1
	done
	return 124
}

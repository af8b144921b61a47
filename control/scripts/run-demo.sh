#!/usr/bin/env bash
# `make run`: the demo broker in the foreground, reachable from network namespace tachyon-demo.
#
#   namespace tachyon-demo           root namespace
#   tdemo1 198.18.0.2/24  <--veth-->  tdemo0 (no IP) <- af_packet <- tachyond 198.18.0.1:1883
#
# Usage: run-demo.sh [BUILDDIR] [LCORES]. Ctrl-C (or SIGTERM) stops tachyond and removes the
# namespace and the veth pair; hugepages reserved for the demo stay reserved (a sysctl, no files).
set -u
build=${1:-build}
lcores=${2:-1}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

NS=tachyon-demo
IF_DP=tdemo0 # root end, tachyond's port
IF_NS=tdemo1 # namespace end, the clients'
DP_IP=198.18.0.1
NS_IP=198.18.0.2

die() {
	echo "run-demo: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, veth pair, hugepages, af_packet)"
[[ "$lcores" =~ ^[1-9][0-9]*$ ]] && [ "$lcores" -le "$(nproc)" ] ||
	die "LCORES=$lcores: 1 to $(nproc) polling lcores on this machine"
[ -x "$build/dataplane/tachyond" ] || die "no $build/dataplane/tachyond: run 'make run' (it builds)"
[ -x "$build/control/tachyon-control" ] || die "no $build/control/tachyon-control: run 'make run'"
# One configuration file for both processes: the sample, documented in docs/configuration.md.
# It puts the control sockets in /run/tachyon and metrics on 127.0.0.1:9883.
conf=control/tachyon.conf
# The TLS listener's demo CA and server certificate (created once, reused afterwards). The
# config names build/demo-tls: the demo's TLS material lives there whatever BUILDDIR is.
dataplane/tls/gen-demo-certs.sh build/demo-tls "$DP_IP" localhost ||
	die "cannot create the demo TLS certificates in build/demo-tls"
run_dir_existed=0
[ -d /run/tachyon ] && run_dir_existed=1

dp_pid=
ctl_pid=
# Runs once, on every exit path; further Ctrl-Cs (or a signal forwarded twice) are ignored so
# that they cannot cut the cleanup short.
cleanup() {
	trap '' INT TERM
	trap - EXIT
	if [ -n "$ctl_pid" ] && kill -0 "$ctl_pid" 2>/dev/null; then
		kill -TERM "$ctl_pid" 2>/dev/null
		wait "$ctl_pid" 2>/dev/null
	fi
	if [ -n "$dp_pid" ] && kill -0 "$dp_pid" 2>/dev/null; then
		kill -TERM "$dp_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$dp_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$dp_pid" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	ip link del "$IF_DP" 2>/dev/null
	[ "$run_dir_existed" -eq 1 ] || rmdir /run/tachyon 2>/dev/null
	echo "run-demo: removed namespace $NS and veth $IF_DP/$IF_NS"
}

# A demo killed with SIGKILL leaves its namespace and veth behind; the names are ours, so a new
# run takes them back.
if ip netns list | grep -qw "^$NS"; then
	echo "run-demo: removing namespace $NS left by an earlier run"
	ip netns del "$NS"
fi
ip link del "$IF_DP" 2>/dev/null

control/scripts/hugepages.sh 256 || die "cannot reserve hugepages"

trap cleanup EXIT
trap 'exit 0' INT # a requested stop, not a failure
trap 'exit 0' TERM

# Offloads off on both ends: veth would otherwise hand af_packet frames with partial checksums
# and GSO/GRO super-frames; IPv6 off on the DPDK end so the kernel sends nothing of its own.
ip netns add "$NS" || die "cannot create namespace $NS"
ip link add "$IF_DP" type veth peer name "$IF_NS" netns "$NS" || die "cannot create veth"
sysctl -qw "net.ipv6.conf.$IF_DP.disable_ipv6=1"
ethtool -K "$IF_DP" tx off rx off tso off gso off gro off >/dev/null 2>&1
ip link set "$IF_DP" up
ip -n "$NS" link set lo up
ip netns exec "$NS" ethtool -K "$IF_NS" tx off rx off tso off gso off gro off >/dev/null 2>&1
ip -n "$NS" addr add "$NS_IP/24" dev "$IF_NS"
ip -n "$NS" link set "$IF_NS" up

# The last CPU: CPU 0 takes most interrupts. --in-memory: hugepages are used, but no file is
# left in /dev/hugepages or /var/run/dpdk. --no-pci: the demo's port is the veth; the machine's
# own NICs stay with the kernel. Adaptive idle: a quiet broker sleeps, so the clients in the
# namespace get the CPU on small machines. framecnt=4096: the default 512-frame RX ring overflows
# with the clients' ACKs while a large fan-out is being sent (docs/benchmarks.md).
# LCORES=n: the last n CPUs, one polling lcore (queue pair, TCP stack, broker shard) each.
cpu=$(($(nproc) - lcores))-$(($(nproc) - 1))
"$build/dataplane/tachyond" -l "$cpu" --in-memory --no-pci --file-prefix=tachyon-demo \
	--log-level=lib.eal:warning --vdev="net_af_packet0,iface=$IF_DP,qpairs=$lcores,framecnt=4096" -- \
	--config "$conf" --ip "$DP_IP" --netmask 255.255.255.0 --idle adaptive &
dp_pid=$!

# Ready when it answers a ping from the namespace (at most ~20 s).
for _ in $(seq 20); do
	kill -0 "$dp_pid" 2>/dev/null || break
	ip netns exec "$NS" ping -c 1 -W 1 "$DP_IP" >/dev/null 2>&1 && break
done
if ! kill -0 "$dp_pid" 2>/dev/null; then
	wait "$dp_pid"
	rc=$?
	dp_pid=
	echo "run-demo: tachyond exited (status $rc)" >&2
	exit "$rc"
fi
# The control process beside the broker: configuration, metrics, the CLI's socket.
"$build/control/tachyon-control" -c "$conf" &
ctl_pid=$!

cat <<EOF

Tachyon is serving MQTT at $DP_IP:1883, MQTT over TLS at $DP_IP:8883 (demo CA
build/demo-tls/ca.crt) and MQTT over WebSocket at $DP_IP:8083 (namespace $NS). In another shell:

  ip netns exec $NS mosquitto_sub -h $DP_IP -t 'demo/#' -v
  ip netns exec $NS mosquitto_pub -h $DP_IP -t demo/hello -m 'hello, tachyon'
  ip netns exec $NS mosquitto_sub --cafile build/demo-tls/ca.crt -h $DP_IP -p 8883 -t '#'

  $build/control/tachyonctl stats       # counters; Prometheus: http://127.0.0.1:9883/metrics

Ctrl-C stops the broker and removes the namespace and the veth pair.

EOF

# Wait for tachyond; a signal interrupts `wait`, and the EXIT trap stops tachyond and cleans up.
wait "$dp_pid"
rc=$?
dp_pid=
exit "$rc"

#!/usr/bin/env bash
# Fault-test topology around tachyon-impair (docs/testing-faults.md):
#
#   netns NAME-c                root namespace                          server side
#   NAMEc0 198.18.X.2 ==veth== NAMEc1 <- tachyon-impair -> NAMEs1 ==veth== NAMEs0
#                                    (--a NAMEc1 --b NAMEs1)        --server-ns : in netns NAME-s,
#                                                                                 198.18.X.1/24
#                                                                   --server-raw: in root, no IP,
#                                                                                 for a DPDK
#                                                                                 af_packet port
# Usage:
#   topology.sh up NAME [--server-ns|--server-raw] [--subnet X]   create; prints the variables
#   topology.sh env NAME                                         print them again
#   topology.sh down NAME                                        remove all it created
#   topology.sh loss-add NS IF PCT     nftables: drop PCT% of IPv4 frames entering IF in NS
#   topology.sh loss-count NS          print "seen=N dropped=M" of that rule
#   topology.sh loss-del NS            remove it
# NAME: 1..12 characters [a-z0-9] (interface names stay <= 15). The variables (IMP_*) are printed
# as shell assignments for eval; tests call "down" from an EXIT trap.
set -Eeuo pipefail

state_dir=/run/tachyon-impair
loss_table=tachyon_loss

die() {
	echo "topology.sh: $*" >&2
	exit 1
}

check_name() {
	[[ $1 =~ ^[a-z0-9]{1,12}$ ]] || die "bad NAME '$1' (1..12 of [a-z0-9])"
}

# Run in a namespace, or in the root one when NS is empty.
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# Offloads off so AF_PACKET sees real-sized, fully checksummed frames and receivers verify
# checksums in software (a corrupted frame must be caught); no IPv6 chatter on the wire.
quiet_if() {
	local ns=$1 ifc=$2
	in_ns "$ns" ethtool -K "$ifc" tx off rx off tso off gso off gro off >/dev/null 2>&1 ||
		in_ns "$ns" ethtool -K "$ifc" tx off rx off tso off gso off >/dev/null
	in_ns "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
	in_ns "$ns" ip link set "$ifc" up
}

# A port the kernel must leave alone: no ARP answers from the root stack.
bare_if() {
	quiet_if "" "$1"
	sysctl -qw "net.ipv4.conf.$1.arp_ignore=8"
}

record() {
	echo "$1" >>"$state_dir/$name.created"
}

cmd_up() {
	local mode=ns subnet=""
	while [ $# -gt 0 ]; do
		case $1 in
		--server-ns) mode=ns ;;
		--server-raw) mode=raw ;;
		--subnet)
			subnet=$2
			shift
			;;
		*) die "unknown option $1" ;;
		esac
		shift
	done
	if [ -z "$subnet" ]; then
		# Spread concurrent topologies over 198.18.1-254.0/24 by name; any X works, each
		# topology's addresses live in its own namespaces.
		subnet=$(($(printf '%s' "$name" | cksum | cut -d' ' -f1) % 254 + 1))
	fi
	[[ $subnet =~ ^[0-9]+$ ]] && [ "$subnet" -ge 1 ] && [ "$subnet" -le 254 ] ||
		die "bad --subnet $subnet"
	[ ! -e "$state_dir/$name.env" ] || die "$name is already up (topology.sh down $name)"
	mkdir -p "$state_dir"
	: >"$state_dir/$name.created"
	trap 'echo "topology.sh: up failed, removing what was made" >&2; cmd_down' ERR

	local cns=$name-c sns="" c0=${name}c0 c1=${name}c1 s0=${name}s0 s1=${name}s1
	local cip=198.18.$subnet.2 sip=198.18.$subnet.1

	ip netns add "$cns"
	record "netns $cns"
	ip link add "$c1" type veth peer name "$c0"
	record "link $c1"
	ip link set "$c0" netns "$cns"
	ip link add "$s1" type veth peer name "$s0"
	record "link $s1"
	if [ "$mode" = ns ]; then
		sns=$name-s
		ip netns add "$sns"
		record "netns $sns"
		ip link set "$s0" netns "$sns"
	fi
	in_ns "$cns" ip link set lo up
	quiet_if "$cns" "$c0"
	in_ns "$cns" ip addr add "$cip/24" dev "$c0"
	bare_if "$c1"
	bare_if "$s1"
	if [ "$mode" = ns ]; then
		in_ns "$sns" ip link set lo up
		quiet_if "$sns" "$s0"
		in_ns "$sns" ip addr add "$sip/24" dev "$s0"
	else
		bare_if "$s0"
	fi
	cat >"$state_dir/$name.env" <<EOF
IMP_NAME=$name
IMP_MODE=$mode
IMP_SUBNET=$subnet
IMP_CLIENT_NS=$cns
IMP_CLIENT_IF=$c0
IMP_CLIENT_IP=$cip
IMP_A=$c1
IMP_B=$s1
IMP_SERVER_NS=$sns
IMP_SERVER_IF=$s0
IMP_SERVER_IP=$sip
EOF
	trap - ERR
	cat "$state_dir/$name.env"
}

cmd_down() {
	local kind obj
	if [ -f "$state_dir/$name.created" ]; then
		# Newest first; deleting a veth end or a namespace takes the peer with it.
		tac "$state_dir/$name.created" | while read -r kind obj; do
			case $kind in
			netns) ip netns del "$obj" 2>/dev/null || true ;;
			link) ip link del "$obj" 2>/dev/null || true ;;
			esac
		done
	else
		# No record (a crash between creation and recording): remove by the naming rule.
		ip netns del "$name-c" 2>/dev/null || true
		ip netns del "$name-s" 2>/dev/null || true
		ip link del "${name}c1" 2>/dev/null || true
		ip link del "${name}s1" 2>/dev/null || true
	fi
	rm -f "$state_dir/$name.created" "$state_dir/$name.env"
}

cmd_loss_add() {
	local ns=$1 ifc=$2 pct=$3
	[[ $pct =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "bad percentage $pct"
	# IPv4 only: a lost ARP costs a 1 s resolution timeout and tells nothing about TCP.
	in_ns "$ns" nft -f - <<EOF
table netdev $loss_table {
	chain ingress {
		type filter hook ingress device "$ifc" priority 0;
		meta protocol ip counter
		meta protocol ip numgen random mod 100 < $pct counter drop
	}
}
EOF
}

cmd_loss_count() {
	in_ns "$1" nft list table netdev "$loss_table" |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") v[n++] = $(i + 1) }
		     END { printf "seen=%d dropped=%d\n", v[0], v[1] }'
}

cmd_loss_del() {
	in_ns "$1" nft delete table netdev "$loss_table" 2>/dev/null || true
}

[ $# -ge 2 ] || die "usage: topology.sh up|down|env NAME ... | loss-add NS IF PCT | loss-count NS | loss-del NS"
cmd=$1
shift
case $cmd in
up | down | env)
	name=$1
	shift
	check_name "$name"
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	env) cat "$state_dir/$name.env" ;;
	esac
	;;
loss-add) cmd_loss_add "$@" ;;
loss-count) cmd_loss_count "$@" ;;
loss-del) cmd_loss_del "$@" ;;
*) die "unknown command $cmd" ;;
esac

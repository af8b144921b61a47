#!/usr/bin/env bash
# Self-test of tachyon-impair (suite integration): a Linux TCP transfer from the client namespace
# to a server namespace through the forwarder, under each issue-3 profile. Per profile: the data
# arrives intact (SHA-256 end to end), the forwarder's counters add up, and the impairment
# demonstrably happened (forwarder counters within bounds and the kernels' own counters saw it),
# so a forwarder that silently forwards unimpaired fails.
#   selftest.sh PATH/TO/tachyon-impair
# Env: IMPAIR_TEST_MB (default 2), IMPAIR_SEED (default 4: with it the first 0.1% corruptions fall
# at a2b frames 211 and 1007 and b2a frame 292, inside a 2 MB transfer; see
# docs/testing-faults.md), IMPAIR_PROFILES (default: all six).
set -u
IMP_DIR=$(cd "$(dirname "$0")" && pwd)
IMP_BIN=${1:?usage: selftest.sh PATH/TO/tachyon-impair}
# shellcheck source=lib.sh
. "$IMP_DIR/lib.sh"
MB=${IMPAIR_TEST_MB:-2}
SEED=${IMPAIR_SEED:-4}
BYTES=$((MB * 1024 * 1024))
PORT=5001
read -r -a profiles <<<"${IMPAIR_PROFILES:-${IMP_PROFILES[*]}}"
imp_begin isf
imp_tap $? "topology up" || exit 1

# Kernel counters whose growth proves an impairment reached a TCP endpoint.
kernel_counters() {
	echo "$(imp_nstat "$IMP_SERVER_NS" TcpExtTCPOFOQueue)" \
		"$(imp_nstat "$IMP_SERVER_NS" TcpExtTCPDSACKOldSent TcpExtTCPDSACKOfoSent)" \
		"$(($(imp_nstat "$IMP_SERVER_NS" IpInHdrErrors TcpInCsumErrors) + \
			$(imp_nstat "$IMP_CLIENT_NS" IpInHdrErrors TcpInCsumErrors)))"
}

# in_range V LO HI (integers; V scaled by the caller)
in_range() {
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

run_profile() {
	local prof=$1 log=$IMP_WORK/$1.fw xfer rc k0 k1 connect_ms
	local frames dropped dup corrupted reordered delayed ooo ofo dsack csumerr
	local -A fc

	read -r -a k0 <<<"$(kernel_counters)"
	# shellcheck disable=SC2046
	if ! imp_fw_start "$log" --seed "$SEED" $(imp_profile_args "$prof"); then
		imp_tap 1 "$prof: forwarder starts"
		return
	fi
	xfer=$(imp_tcp_xfer "$PORT" "$BYTES" "$SEED")
	rc=$?
	imp_fw_stop
	read -r -a k1 <<<"$(kernel_counters)"
	ofo=$((k1[0] - k0[0]))
	dsack=$((k1[1] - k0[1]))
	csumerr=$((k1[2] - k0[2]))
	echo "# profile=$prof $(imp_profile_args "$prof") seed=$SEED: $xfer"
	grep '^tachyon-impair final' "$log" | sed 's/^/#   /'
	echo "#   kernel: ofo_queued=$ofo dsack_sent=$dsack csum_errors=$csumerr"

	[ "$rc" -eq 0 ]
	imp_tap $? "$prof: $MB MB arrive intact (sha256 equal)"

	for c in in out dropped duplicated corrupted reordered delayed overflow ooo oversize \
		partial_csum tx_errors kdrops pending; do
		fc[$c]=$(imp_fw_counter "$log" all "$c")
	done
	frames=${fc[in]} dropped=${fc[dropped]} dup=${fc[duplicated]} corrupted=${fc[corrupted]}
	reordered=${fc[reordered]} delayed=${fc[delayed]} ooo=${fc[ooo]}
	# Every frame read is dropped, sent, failed or still queued; duplicates add one each.
	[ $((frames - dropped - fc[overflow] - fc[oversize] + dup)) -eq \
		$((fc[out] + fc[tx_errors] + fc[pending])) ] &&
		[ "${fc[partial_csum]}" -eq 0 ] && [ "${fc[kdrops]}" -eq 0 ] && [ "$frames" -gt 0 ]
	imp_tap $? "$prof: counters add up, full checksums, no kernel drops"

	case $prof in
	loss)
		in_range $((dropped * 1000 / frames)) 30 70 && [ "$dup$corrupted$reordered$delayed" = 0000 ]
		imp_tap $? "loss: dropped $dropped of $frames frames, between 3% and 7%, nothing else"
		;;
	reorder)
		in_range $((reordered * 1000 / frames)) 150 350 && [ "$delayed" -ge $((frames - dropped)) ] &&
			[ "$ooo" -gt 0 ] && [ "$ofo" -gt 0 ]
		imp_tap $? "reorder: held $reordered of $frames, all delayed, receiver queued $ofo out of order"
		;;
	dup)
		in_range $((dup * 1000 / frames)) 2 30 && [ "$dsack" -gt 0 ]
		imp_tap $? "dup: duplicated $dup of $frames, receiver sent $dsack D-SACKs"
		;;
	corrupt)
		[ "$corrupted" -ge 1 ] && [ "$csumerr" -ge 1 ] && [ "$csumerr" -le "$corrupted" ]
		imp_tap $? "corrupt: flipped $corrupted frames, kernels counted $csumerr checksum errors"
		;;
	delay)
		connect_ms=$(sed -n 's/.*connect_ms=\([0-9]*\).*/\1/p' <<<"$xfer")
		[ "${connect_ms:-0}" -ge 80 ] && [ "$delayed" -eq "$frames" ] && [ "$ooo" -gt 0 ]
		imp_tap $? "delay: connect took ${connect_ms:-?} ms (>= 2 x 40), jitter reordered $ooo"
		;;
	all)
		in_range $((dropped * 1000 / frames)) 30 70 && [ "$dup" -gt 0 ] && [ "$reordered" -gt 0 ] &&
			[ "$ooo" -gt 0 ] && [ "$delayed" -ge $((frames - dropped)) ]
		imp_tap $? "all: dropped $dropped, duplicated $dup, corrupted $corrupted, held $reordered of $frames"
		;;
	esac
}

# Per-direction overrides, SIGUSR1 and --duration-s: every a2b frame duplicated, no b2a frame;
# the forwarder prints its counters on SIGUSR1 and leaves by itself after 2 s.
direction_case() {
	local log=$IMP_WORK/dir.fw rc
	imp_fw_start "$log" --seed "$SEED" --dup 0.5 --a2b-dup 1 --b2a-dup 0 --duration-s 2 || return 1
	ip netns exec "$IMP_CLIENT_NS" ping -c 3 -i 0.2 -W 1 "$IMP_SERVER_IP" >/dev/null
	kill -USR1 "$IMP_FW_PID"
	wait "$IMP_FW_PID"
	rc=$?
	IMP_FW_PID=
	grep '^tachyon-impair final' "$log" | sed 's/^/#   /'
	[ "$rc" -eq 0 ] && grep -q '^tachyon-impair stats a2b' "$log" &&
		[ "$(imp_fw_counter "$log" a2b in)" -ge 3 ] &&
		[ "$(imp_fw_counter "$log" a2b duplicated)" -eq "$(imp_fw_counter "$log" a2b in)" ] &&
		[ "$(imp_fw_counter "$log" b2a in)" -ge 3 ] &&
		[ "$(imp_fw_counter "$log" b2a duplicated)" -eq 0 ]
}
# --server-raw: the server end stays in the root namespace for a DPDK port, bare and offload-free;
# down removes every piece.
raw_case() {
	local raw=${IMP_RUN_NAME}r env ok=0
	env=$("$IMP_DIR/topology.sh" up "$raw" --server-raw) || return 1
	(
		eval "$env"
		[ "$IMP_MODE" = raw ] && [ -z "$IMP_SERVER_NS" ] &&
			ip link show "$IMP_SERVER_IF" | grep -q 'state UP' &&
			[ -z "$(ip -o addr show dev "$IMP_SERVER_IF")" ] &&
			ethtool -k "$IMP_SERVER_IF" | grep -q '^tx-checksumming: off' &&
			ip netns exec "$IMP_CLIENT_NS" ip -o addr show dev "$IMP_CLIENT_IF" |
			grep -q "$IMP_CLIENT_IP/24"
	) || ok=1
	"$IMP_DIR/topology.sh" down "$raw" || ok=1
	! ip link show "${raw}s0" >/dev/null 2>&1 && ! ip link show "${raw}c1" >/dev/null 2>&1 &&
		! ip netns list | grep -q "^$raw-c" && [ "$ok" -eq 0 ]
}
raw_case
imp_tap $? "topology --server-raw: bare root-side server end, nothing left after down"

direction_case
imp_tap $? "--a2b-dup 1 --b2a-dup 0 duplicate one direction only; SIGUSR1 stats; --duration-s exit"

for prof in "${profiles[@]}"; do
	imp_profile_args "$prof" >/dev/null || {
		imp_tap 1 "unknown profile $prof"
		continue
	}
	run_profile "$prof"
done
imp_tap_done

#!/usr/bin/env bash
# tachyond (our TCP stack and broker on a DPDK af_packet port) under the issue-3 faults: the
# forwarder sits between the client namespace and the raw veth end tachyond owns
# (topology.sh --server-raw). Per profile a fresh tachyond, then qos1_transfer.py publishes
# N MB of QoS 1 messages and subscribes to them from the client namespace, so both legs
# (publisher -> tachyond, tachyond -> subscriber) cross tachyon-impair. Per profile, TAP cases:
#   tachyond ready; every message complete, intact, in order; within the stated bound;
#   duplicates counted (none without a reconnect: QoS 1 redelivers only on a new connection);
#   the forwarder's counters prove the fault happened (and no partial checksums, no kernel
#   drops); tachyond's own counters show it (retransmits under loss, out-of-order segments under
#   reordering, checksum drops under corruption); tachyond exits 0 (3 = leaked mbufs).
#   tachyond-faults.sh PATH/TO/tachyon-impair PATH/TO/tachyond PATH/TO/tachyonctl
# Env: IMPAIR_MB (default 5; `make soak` runs 50), IMPAIR_MSG_SIZE (4096), IMPAIR_SEED (1),
#      IMPAIR_PROFILES (default: the six issue-3 profiles; "none" is the unimpaired baseline),
#      IMPAIR_BOUND_S (per profile; default 30 s + 10 s per MB, as for Mosquitto),
#      IMPAIR_PCAP=DIR: capture both ends (tcpdump, at most 500000 frames each) into
#      DIR/<profile>-{client,server}.pcap, to find the segments behind a failure.
set -u
IMP_DIR=$(cd "$(dirname "$0")" && pwd)
IMP_BIN=${1:?usage: tachyond-faults.sh tachyon-impair tachyond tachyonctl}
ITD_BIN=${2:?usage: tachyond-faults.sh tachyon-impair tachyond tachyonctl}
ITD_CTL=${3:?usage: tachyond-faults.sh tachyon-impair tachyond tachyonctl}
# shellcheck source=lib.sh
. "$IMP_DIR/lib.sh"
# shellcheck source=impair_tachyond.sh
. "$IMP_DIR/impair_tachyond.sh"
MB=${IMPAIR_MB:-5}
SIZE=${IMPAIR_MSG_SIZE:-4096}
SEED=${IMPAIR_SEED:-1}
BOUND=${IMPAIR_BOUND_S:-$((30 + 10 * MB))}
read -r -a profiles <<<"${IMPAIR_PROFILES:-${IMP_PROFILES[*]}}"

imp_begin tdf --server-raw
up=$?
ITD_WORK=$IMP_WORK
trap 'pcap_stop; itd_cleanup; imp_end' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
imp_tap $up "topology up (--server-raw)" || exit 1

PCAP_PIDS=()
pcap_start() {
	[ -n "${IMPAIR_PCAP:-}" ] || return 0
	mkdir -p "$IMPAIR_PCAP"
	ip netns exec "$IMP_CLIENT_NS" tcpdump -i "$IMP_CLIENT_IF" -s 128 -c 500000 -U -w \
		"$IMPAIR_PCAP/$prof-client.pcap" 2>/dev/null &
	PCAP_PIDS+=($!)
	tcpdump -i "$IMP_SERVER_IF" -s 128 -c 500000 -U -w "$IMPAIR_PCAP/$prof-server.pcap" 2>/dev/null &
	PCAP_PIDS+=($!)
	sleep 0.5
}
pcap_stop() {
	local p
	for p in "${PCAP_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	PCAP_PIDS=()
}
nstat_csum() { imp_nstat "$IMP_CLIENT_NS" IpInHdrErrors TcpInCsumErrors; }
fw() { imp_fw_counter "$IMP_WORK/$prof.fw" all "$1"; }
td() { itd_counter "$IMP_WORK/$prof.json" "$@"; }

# The forwarder's proof that profile $prof impaired the traffic; prints what it saw.
fw_evidence() {
	local drop dup cor held ooo
	drop=$(fw dropped) dup=$(fw duplicated) cor=$(fw corrupted) held=$(fw reordered) ooo=$(fw ooo)
	echo "dropped=$drop duplicated=$dup corrupted=$cor reordered=$held ooo=$ooo" \
		"partial_csum=$(fw partial_csum) kdrops=$(fw kdrops)"
	[ "$(fw partial_csum)" -eq 0 ] && [ "$(fw kdrops)" -eq 0 ] || return 1
	case $prof in
	none) [ "$drop" -eq 0 ] && [ "$dup" -eq 0 ] && [ "$cor" -eq 0 ] && [ "$held" -eq 0 ] ;;
	loss) [ "$drop" -gt 0 ] ;;
	reorder) [ "$held" -gt 0 ] && [ "$ooo" -gt 0 ] ;;
	dup) [ "$dup" -gt 0 ] ;;
	corrupt) [ "$cor" -gt 0 ] ;;
	delay) [ "$ooo" -gt 0 ] ;; # jitter reorders; the delay itself shows in the time
	all) [ "$drop" -gt 0 ] && [ "$dup" -gt 0 ] && [ "$held" -gt 0 ] && [ "$cor" -gt 0 ] ;;
	*) return 1 ;;
	esac
}

# tachyond's own view of the fault, from its counters at the end of the transfer.
td_evidence() {
	local rtx fast ooo csum kcsum
	rtx=$(td tcp.retransmits) fast=$(td tcp.fast_retransmits) ooo=$(td tcp.ooo_segments)
	csum=$(td tcp.drop_ip_csum tcp.drop_tcp_csum tcp.drop_ip_hdr)
	kcsum=$(($(nstat_csum) - csum0))
	echo "retransmits=$rtx fast_retransmits=$fast rto_expired=$(td tcp.rto_expired)" \
		"sack_recoveries=$(td tcp.sack_recoveries) tlp_probes=$(td tcp.tlp_probes)" \
		"limited_transmits=$(td tcp.limited_transmits) ooo_segments=$ooo" \
		"csum_drops=$csum client_kernel_csum_errors=$kcsum" \
		"mempool_in_use=$(td mempool_in_use) drop_nomem=$(td tcp.drop_nomem)"
	[ "$rtx" != NA ] && [ "$ooo" != NA ] && [ "$csum" != NA ] || return 1
	case $prof in
	loss | all) [ "$rtx" -gt 0 ] ;;
	reorder) [ "$ooo" -gt 0 ] ;;
	# A flip lands in the frame of one direction: tachyond or the client kernel must catch it
	# (a flip in an ARP frame or a minimum frame's padding goes unnoticed, hence not "=").
	corrupt) [ $((csum + kcsum)) -gt 0 ] ;;
	*) return 0 ;;
	esac
}

echo "# $MB MB of QoS 1 in $SIZE-byte messages per profile, seed $SEED, bound $BOUND s each"
for prof in "${profiles[@]}"; do
	if ! args=$(imp_profile_args "$prof"); then
		imp_tap 1 "unknown profile $prof"
		continue
	fi
	echo "# profile=$prof: $args"
	itd_start "$prof" "$IMP_SERVER_IF" "$IMP_SERVER_IP"
	imp_tap $? "profile=$prof: tachyond ready on $IMP_SERVER_IF ($IMP_SERVER_IP)" || continue
	# shellcheck disable=SC2086
	if ! imp_fw_start "$IMP_WORK/$prof.fw" --seed "$SEED" $args; then
		imp_tap 1 "profile=$prof: forwarder starts"
		itd_stop
		continue
	fi
	csum0=$(nstat_csum)
	pcap_start
	out=$(timeout $((BOUND + 30)) ip netns exec "$IMP_CLIENT_NS" /usr/bin/python3 \
		"$IMP_DIR/qos1_transfer.py" --host "$IMP_SERVER_IP" --port 1883 \
		--bytes $((MB * 1024 * 1024)) --size "$SIZE" --label "$prof" --timeout "$BOUND")
	rc=$?
	itd_stats_json "$IMP_WORK/$prof.json"
	imp_fw_stop
	pcap_stop
	grep '^#' <<<"$out"
	grep '^tachyon-impair final' "$IMP_WORK/$prof.fw" | sed 's/^/#   /'
	line=$(grep '^profile=' <<<"$out" || echo "profile=$prof FAIL no result (exit $rc)")
	[ "$rc" -eq 0 ] && [[ $line == *" ok" ]]
	imp_tap $? "$line: complete, intact, in order"

	secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' <<<"$line")
	[ "$rc" -eq 0 ] && [ -n "$secs" ] && awk -v s="$secs" -v b="$BOUND" 'BEGIN { exit !(s <= b) }'
	imp_tap $? "profile=$prof: completed in ${secs:-NA} s, bound $BOUND s"

	dups=$(sed -n 's/^# dups=\([0-9]*\) .*/\1/p' <<<"$out")
	disc=$(sed -n 's/^# dups=[0-9]* disconnects=\([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$dups" ] && { [ "$dups" -eq 0 ] || [ "$disc" -gt 0 ]; }
	imp_tap $? "profile=$prof: duplicates=${dups:-NA} disconnects=${disc:-NA} (a duplicate needs a reconnect)"

	ev=$(fw_evidence)
	imp_tap $? "profile=$prof: forwarder impaired: $ev"

	ev=$(td_evidence)
	imp_tap $? "profile=$prof: tachyond counters: $ev"

	itd_stop
	rc=$?
	grep -E '^tachyond: (lcore|.*leak)' "$ITD_LOG" | sed 's/^/#   /'
	[ "$rc" -eq 0 ]
	imp_tap $? "profile=$prof: tachyond exits 0 (status $rc; 3 = leaked mbufs)" ||
		tail -n 20 "$ITD_LOG" | sed 's/^/#   /'
done
imp_tap_done

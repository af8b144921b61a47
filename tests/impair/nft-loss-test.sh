#!/usr/bin/env bash
# nftables random loss (suite integration): "numgen random mod 100 < 5 drop" on the ingress of
# both namespace ends, tachyon-impair bridging without impairment. A TCP transfer still arrives
# intact, the nft counters show between 3% and 7% of IPv4 frames dropped, and the forwarder
# dropped none (the loss came from nftables).
#   nft-loss-test.sh PATH/TO/tachyon-impair
# Env: IMPAIR_TEST_MB (default 2).
set -u
IMP_DIR=$(cd "$(dirname "$0")" && pwd)
IMP_BIN=${1:?usage: nft-loss-test.sh PATH/TO/tachyon-impair}
# shellcheck source=lib.sh
. "$IMP_DIR/lib.sh"
MB=${IMPAIR_TEST_MB:-2}
PCT=5
imp_begin inl
imp_tap $? "topology up" || exit 1
"$IMP_DIR/topology.sh" loss-add "$IMP_CLIENT_NS" "$IMP_CLIENT_IF" $PCT &&
	"$IMP_DIR/topology.sh" loss-add "$IMP_SERVER_NS" "$IMP_SERVER_IF" $PCT
imp_tap $? "nft numgen loss rules added in both namespaces"

imp_fw_start "$IMP_WORK/fw.log" --seed 1
xfer=$(imp_tcp_xfer 5002 $((MB * 1024 * 1024)) 1)
rc=$?
imp_fw_stop
echo "# $xfer"
[ "$rc" -eq 0 ]
imp_tap $? "$MB MB arrive intact through ${PCT}% nft loss each way"

seen=0
dropped=0
for ns in "$IMP_CLIENT_NS" "$IMP_SERVER_NS"; do
	counts=$("$IMP_DIR/topology.sh" loss-count "$ns") # seen=N dropped=M
	echo "# $ns: $counts"
	read -r s d <<<"${counts//[a-z=]/}"
	seen=$((seen + s)) dropped=$((dropped + d))
done
fwdrop=$(imp_fw_counter "$IMP_WORK/fw.log" all dropped)
fwin=$(imp_fw_counter "$IMP_WORK/fw.log" all in)
grep '^tachyon-impair final' "$IMP_WORK/fw.log" | sed 's/^/#   /'
[ "$seen" -gt 0 ] && [ $((dropped * 1000 / seen)) -ge 30 ] && [ $((dropped * 1000 / seen)) -le 70 ]
imp_tap $? "nft dropped $dropped of $seen frames (3%..7%)"
[ "$fwdrop" -eq 0 ] && [ "$fwin" -gt 0 ]
imp_tap $? "forwarder bridged $fwin frames and dropped none"

"$IMP_DIR/topology.sh" loss-del "$IMP_CLIENT_NS" && "$IMP_DIR/topology.sh" loss-del "$IMP_SERVER_NS" &&
	! ip netns exec "$IMP_SERVER_NS" nft list tables | grep -q tachyon_loss
imp_tap $? "nft loss rules removed"
imp_tap_done

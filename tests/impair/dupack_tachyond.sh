#!/usr/bin/env bash
# RFC 5681 4.2 through tachyond: one duplicate ACK per out-of-order segment in a burst.
# tachyond on a veth (tests/lib/tachyon.sh), dupack_tachyond.py in the client namespace with the
# namespace's own RSTs to tachyond dropped (its kernel knows nothing of the raw connection).
#   dupack_tachyond.sh PATH/TO/tachyond [SEGMENTS]
# One TAP case: SEGMENTS duplicate ACKs for SEGMENTS out-of-order segments (nothing is lost).
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
N=${2:-8}
tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready" tl_dp_start
tl_ns nft -f - <<NFT
table ip dupack {
	chain out {
		type filter hook output priority 0;
		ip daddr $TL_DP_IP tcp flags rst drop
	}
}
NFT
tl_ns ping -c 1 -W 2 "$TL_DP_IP" >/dev/null
out=$(timeout 20 ip netns exec "$TL_NS" /usr/bin/python3 "$(dirname "$0")/dupack_tachyond.py" \
	--src "$TL_CLIENT_IP" --dst "$TL_DP_IP" --segments "$N" 2>&1)
rc=$?
tl_log "$out"
if [ "$rc" -eq 0 ]; then tl_ok "$out: one duplicate ACK per out-of-order segment (RFC 5681 4.2)"
else tl_fail "$out: one duplicate ACK per out-of-order segment (RFC 5681 4.2)"; fi
tl_done

#!/usr/bin/env bash
# The MQTT conformance suite (tests/conformance/mqtt_conformance.py: one raw-socket test per
# normative statement, named after its id) run against tachyond itself, through our TCP stack
# on an af_packet port, from a client namespace. The unit suite runs the same file against the
# broker core over kernel sockets; this run proves the statements hold on the real data path.
# Usage: conformance.sh PATH/TO/tachyond
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
shift
# Optional further arguments select statements by name, for debugging one of them.
suite=${CONF_SUITE:-$(cd "$(dirname "$0")/../conformance" && pwd)/mqtt_conformance.py}

tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready" tl_dp_start

# Re-number the suite's TAP lines into this script's plan, keeping each statement's name.
while IFS= read -r line; do
	case $line in
	"ok "*) tl_ok "tachyond: ${line#* - }" ;;
	"not ok "*) tl_fail "tachyond: ${line#* - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done < <(tl_ns timeout 240 /usr/bin/python3 "$suite" "$TL_DP_IP" 1883 "$@" 2>&1)

tl_check "tachyond exits cleanly (no leaked mbufs)" tl_dp_stop
tl_done

#!/usr/bin/env bash
# MQTT over WebSocket through tachyond (MQTT 5.0 / 3.1.1 section 6, RFC 6455): a `protocol
# websockets` listener on 8083 beside plain MQTT on 1883, clients in a namespace.
#   - paho-mqtt 1.6 (transport="websockets"): QoS 0/1/2, v3.1.1 and v5, WS->TCP, TCP->WS, WS->WS
#   - raw sockets: the 101 reply's headers and accept key, MQTT across frames, ping/pong, text and
#     unmasked frames refused with close 1003/1002, HTTP 400/426 refusals, the close handshake
#     both ways, a will after a close frame without DISCONNECT
# (tests/integration/ws_client.py does the checks). Usage: websocket.sh PATH/TO/tachyond
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
here=$(cd "$(dirname "$0")" && pwd)

conf=$TL_DIR/tachyon.conf
cat >"$conf" <<CONF
address $TL_DP_IP
dataplane_socket $TL_DIR/tachyond.sock
control_socket $TL_DIR/control.sock
metrics_listen 127.0.0.1:0
sys_interval 0
listener 1883
listener 8083
protocol websockets
CONF

tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready (mqtt 1883, websockets 8083)" tl_dp_start --config "$conf"

# Re-number the helper's TAP lines into this script's plan, keeping each name.
run() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok "*) tl_ok "${line#* - }" ;;
		"not ok "*) tl_fail "${line#* - }" ;;
		"1.."*) ;;
		*) echo "$line" ;;
		esac
	done < <(tl_ns timeout "$1" /usr/bin/python3 "$here/ws_client.py" "$2" "$TL_DP_IP" 8083 1883 2>&1)
}
run 60 raw
run 240 paho

tl_check "tachyond exits cleanly (no leaked mbufs)" tl_dp_stop
tl_done

#!/usr/bin/env bash
# Integration test: tachyon-bench against a private Mosquitto on loopback, one short run per
# workload, each checked from its JSON line (all messages accounted for at QoS 1 and 2,
# latency percentiles ordered, every idle connection up and answering pings).
#   bench/bench-mosquitto-test.sh BUILD/bench/tachyon-bench
set -u
bench=$1
n=0
fail=0
result() { # ok|fail name
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
tmp=$(mktemp -d /tmp/tb-test.XXXXXX)
mpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v mosquitto >/dev/null; then
	result fail "mosquitto installed (apt-get install mosquitto)"
	echo "1..$n"
	exit 1
fi
# A free port on loopback, chosen by the kernel.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/m.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest none
max_queued_messages 10000
CONF
mosquitto -c "$tmp/m.conf" &
mpid=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

# run NAME CHECK -- ARGS: runs tachyon-bench ARGS, evaluates the Python expression CHECK
# over the JSON object j.
run() {
	local name=$1 check=$2
	shift 3
	local out
	out=$(timeout 60 "$bench" "$@" --host 127.0.0.1 --port "$port" --json 2>"$tmp/err")
	if /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
ok = eval(sys.argv[2])
if not ok:
    print("# " + sys.argv[1])
sys.exit(0 if ok else 1)' "$out" "$check"; then
		result ok "$name"
	else
		sed 's/^/# /' "$tmp/err"
		result fail "$name"
	fi
}

common=(--duration 1 --warmup 0.3 --grace 1)
run "pairs QoS 1, MQTT 3.1.1: every message delivered" \
	'j["sent_window"] > 100 and j["delivered_window"] == j["expected_window"] and j["protocol_errors"] == 0' \
	-- pairs --clients 4 --qos 1 "${common[@]}"
run "pairs QoS 2, MQTT 5: every message delivered" \
	'j["sent_window"] > 100 and j["delivered_window"] == j["expected_window"] and j["protocol_errors"] == 0' \
	-- pairs --clients 2 --qos 2 --mqtt 5 "${common[@]}"
run "fanout QoS 0 to 20 subscribers: deliveries are 20 per publish" \
	'j["delivered_window"] > 1000 and j["expected_window"] == 20 * j["sent_window"] and j["loss"] < 0.01' \
	-- fanout --clients 20 --payload 256 "${common[@]}"
# Mosquitto drops QoS 1 messages for a subscriber whose queue is full, so the many-to-one
# case runs at a rate it keeps up with.
run "fanin to a wildcard subscriber at 5000/s, 2 worker processes: every message delivered" \
	'j["sent_window"] > 4000 and j["procs"] == 2 and j["delivered_window"] == j["expected_window"]' \
	-- fanin --clients 10 --procs 2 --qos 1 --rate 5000 "${common[@]}"
run "latency at 2000/s: offered rate kept, percentiles ordered" \
	'abs(j["msgs_per_s_sent"] - 2000) < 100 and 0 < j["latency_us"]["p50"] <= j["latency_us"]["p99"] <= j["latency_us"]["max"]' \
	-- latency --rate 2000 "${common[@]}"
run "conns: 300 idle connections up, pinged and answered" \
	'j["conns"]["established"] == 300 and j["conns"]["failed"] == 0 and j["conns"]["pongs"] >= 300 and j["conns"]["per_s"] > 0' \
	-- conns --clients 300 --keepalive 2 --duration 3
echo "1..$n"
exit $fail

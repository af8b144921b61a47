#!/usr/bin/env bash
# Mosquitto (Linux TCP) under the issue-3 faults (suite soak): the baseline tachyond's impaired
# runs are compared with. Mosquitto listens in the server namespace; qos1_transfer.py publishes
# N MB of QoS 1 messages and subscribes to them from the client namespace, so both legs
# (publisher -> broker, broker -> subscriber) cross tachyon-impair. Per profile, one TAP line:
#   ok N - profile=<name> bytes=<n> seconds=<t> messages=<m> ok
# and a failure when a message is lost, corrupt or out of order, or the profile exceeds its
# stated time bound.
#   mosquitto-faults.sh PATH/TO/tachyon-impair
# Env: IMPAIR_SOAK_MB (default 50), IMPAIR_MSG_SIZE (default 4096), IMPAIR_SEED (default 1),
#      IMPAIR_PROFILES (default: none, then the six issue-3 profiles),
#      IMPAIR_BOUND_S (per profile; default 30 s + 10 s per MB).
set -u
IMP_DIR=$(cd "$(dirname "$0")" && pwd)
IMP_BIN=${1:?usage: mosquitto-faults.sh PATH/TO/tachyon-impair}
# shellcheck source=lib.sh
. "$IMP_DIR/lib.sh"
MB=${IMPAIR_SOAK_MB:-50}
SIZE=${IMPAIR_MSG_SIZE:-4096}
SEED=${IMPAIR_SEED:-1}
BOUND=${IMPAIR_BOUND_S:-$((30 + 10 * MB))}
read -r -a profiles <<<"${IMPAIR_PROFILES:-none ${IMP_PROFILES[*]}}"

imp_begin mqf
imp_tap $? "topology up" || exit 1

cat >"$IMP_WORK/mosquitto.conf" <<EOF
listener 1883 $IMP_SERVER_IP
allow_anonymous true
persistence false
EOF
# imp_end (EXIT) kills IMP_SRV_PID.
ip netns exec "$IMP_SERVER_NS" mosquitto -c "$IMP_WORK/mosquitto.conf" >"$IMP_WORK/mosquitto.log" 2>&1 &
IMP_SRV_PID=$!
for _ in $(seq 50); do
	ip netns exec "$IMP_SERVER_NS" ss -Hltn "src $IMP_SERVER_IP:1883" | grep -q . && break
	sleep 0.1
done
ip netns exec "$IMP_SERVER_NS" ss -Hltn "src $IMP_SERVER_IP:1883" | grep -q .
imp_tap $? "mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') listening on $IMP_SERVER_IP:1883" ||
	{ sed 's/^/# /' "$IMP_WORK/mosquitto.log"; exit 1; }

echo "# $MB MB of QoS 1 in $SIZE-byte messages per profile, seed $SEED, bound $BOUND s each"
for prof in "${profiles[@]}"; do
	if ! args=$(imp_profile_args "$prof"); then
		imp_tap 1 "unknown profile $prof"
		continue
	fi
	# shellcheck disable=SC2086
	imp_fw_start "$IMP_WORK/$prof.fw" --seed "$SEED" $args || {
		imp_tap 1 "profile=$prof: forwarder starts"
		continue
	}
	out=$(timeout $((BOUND + 30)) ip netns exec "$IMP_CLIENT_NS" /usr/bin/python3 \
		"$IMP_DIR/qos1_transfer.py" --host "$IMP_SERVER_IP" --port 1883 \
		--bytes $((MB * 1024 * 1024)) --size "$SIZE" --label "$prof" --timeout "$BOUND")
	rc=$?
	imp_fw_stop
	echo "# profile=$prof: $args"
	grep '^#' <<<"$out"
	grep '^tachyon-impair final' "$IMP_WORK/$prof.fw" | sed 's/^/#   /'
	line=$(grep '^profile=' <<<"$out" || echo "profile=$prof FAIL no result (exit $rc)")
	[ "$rc" -eq 0 ] && [[ $line == *" ok" ]]
	imp_tap $? "$line"
done
imp_tap_done

#!/usr/bin/env bash
# Smoke run of bench/callgrind.sh on the MQTT-core replay (meson suite `bench`): both
# workloads must count a positive number of instructions per delivered message.
#   bench/callgrind-smoke.sh BUILD/bench/replay-mqtt
set -u
replay=$1
here=$(dirname "$0")
n=0
fail=0
for args in "fanout --clients 50 --msgs 2000" "pairs --clients 20 --msgs 20000"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	out=$("$here/callgrind.sh" -- "$replay" $args 2>&1)
	if grep -Eq '"instructions_per_message":[1-9]' <<<"$out"; then
		echo "ok $n - callgrind ${args%% *}: $(grep -o '"instructions_per_message":[0-9.]*' <<<"$out")"
	else
		# shellcheck disable=SC2001 # prefix every line, not one
		sed 's/^/# /' <<<"$out"
		echo "not ok $n - callgrind ${args%% *}"
		fail=1
	fi
done
echo "1..$n"
exit $fail

#!/usr/bin/env bash
# Smoke run of bench/callgrind.sh on an in-process replay (meson suite `bench`): both
# workloads must count a positive number of instructions per delivered message, and deliver
# exactly the messages they expect (callgrind.sh fails otherwise when the replay prints
# "expected E", as replay-full does; the count is also checked here).
#   bench/callgrind-smoke.sh BUILD/bench/replay-mqtt
#   bench/callgrind-smoke.sh BUILD/bench/replay-full     (the whole lcore: --fn replay_poll)
set -u
replay=$1
here=$(dirname "$0")
fn=()
case $(basename "$replay") in
replay-full*) fn=(--fn replay_poll) ;;
esac
n=0
fail=0
for args in "fanout --clients 50 --msgs 2000" "pairs --clients 20 --msgs 20000"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	out=$("$here/callgrind.sh" "${fn[@]}" -- "$replay" $args 2>&1)
	msgs=$(grep -o '"messages":[0-9]*' <<<"$out" | cut -d: -f2)
	want=$(grep -o '"expected":[0-9]*' <<<"$out" | cut -d: -f2)
	if grep -Eq '"instructions_per_message":[1-9]' <<<"$out" &&
		{ [ "${want:-0}" -eq 0 ] || [ "$want" -eq "$msgs" ]; }; then
		echo "ok $n - callgrind $(basename "$replay") ${args%% *}: $msgs delivered" \
			"(expected ${want:-unknown}), $(grep -o '"instructions_per_message":[0-9.]*' <<<"$out")"
	else
		# shellcheck disable=SC2001 # prefix every line, not one
		sed 's/^/# /' <<<"$out"
		echo "not ok $n - callgrind ${args%% *}"
		fail=1
	fi
done
echo "1..$n"
exit $fail

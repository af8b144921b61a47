#!/usr/bin/env bash
# Instructions per delivered message, counted by callgrind: repeatable on a busy machine, since
# it counts instructions rather than time.
#
#   bench/callgrind.sh [--fn FUNCTION] [--label NAME] -- REPLAY_BINARY [ARGS...]
#
# REPLAY_BINARY is an in-process replay: it sets up a broker and its clients, then calls
# FUNCTION (default replay_run) to push the workload through without a network, and prints a
# line "messages N" with the deliveries it made (and "expected E" when it knows: N != E fails).
# Only FUNCTION and what it calls are counted (--toggle-collect), so set-up and tear-down are
# left out. Output: one JSON line on stdout
#   {"label":..., "instructions":I, "messages":N, "expected":E, "instructions_per_message":I/N}
# and a human line on stderr (E is 0 when the replay does not say). Replays:
#   BUILD/bench/replay-mqtt fanout|pairs ...                  the MQTT core alone (replay_run)
#   --fn replay_poll -- BUILD/bench/replay-full fanout|pairs ...   the whole lcore: Ethernet
#                                         frames through tcpstack, dp_conn and the broker
set -euo pipefail
fn=replay_run
label=
while [ $# -gt 0 ]; do
	case $1 in
	--fn) fn=$2; shift 2 ;;
	--label) label=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
if [ $# -lt 1 ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }
[ -n "$label" ] || label="$(basename "$1") ${*:2}"
tmp=$(mktemp -d /tmp/tb-callgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The whole run is bounded: a replay that hangs under valgrind is killed after 10 minutes.
timeout 600 valgrind --tool=callgrind --collect-atstart=no --toggle-collect="$fn" \
	--callgrind-out-file="$tmp/cg.out" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || {
	echo "callgrind.sh: the replay failed:" >&2
	tail -5 "$tmp/stderr" >&2
	exit 1
}
msgs=$(awk '$1 == "messages" { n = $2 } END { print n + 0 }' "$tmp/stdout")
# A replay that knows how many deliveries it should see prints "expected E": any difference
# makes the figure meaningless (a dropped message costs nothing), so it is an error.
want=$(awk '$1 == "expected" { n = $2 } END { print n + 0 }' "$tmp/stdout")
if [ "$want" -gt 0 ] && [ "$want" -ne "$msgs" ]; then
	echo "callgrind.sh: $msgs messages delivered, $want expected" >&2
	exit 1
fi
# "summary:" (or "totals:") holds the collected event counts; Ir comes first.
ins=$(awk '$1 == "summary:" || $1 == "totals:" { n = $2 } END { print n + 0 }' "$tmp/cg.out")
if [ "$msgs" -le 0 ] || [ "$ins" -le 0 ]; then
	echo "callgrind.sh: no messages ($msgs) or no instructions ($ins) counted in $fn" >&2
	exit 1
fi
per=$(awk -v i="$ins" -v m="$msgs" 'BEGIN { printf "%.1f", i / m }')
printf '{"label":"%s","function":"%s","instructions":%s,"messages":%s,"expected":%s,"instructions_per_message":%s}\n' \
	"$label" "$fn" "$ins" "$msgs" "$want" "$per"
echo "$label: $ins instructions / $msgs messages = $per instructions per delivered message" >&2

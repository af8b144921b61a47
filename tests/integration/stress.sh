#!/usr/bin/env bash
# Randomized stress of tachyond with two lcores (issue 5): 200 clients connecting, subscribing,
# publishing at every QoS and disconnecting for 60 s (stress.py, seeded: STRESS_SEED, default 1;
# STRESS_SECONDS), then the message ledger must balance; clients on both lcores (per-lcore
# connection totals), sessions moved between shards, and tachyond exits 0 with every mbuf back.
# Usage: stress.sh PATH/TO/tachyond [PATH/TO/tachyonctl]
# Budget: about 75 s.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$1"
ctl=${2:-$(dirname "$1")/../control/tachyonctl}
. "$(dirname "$0")/stress_lib.sh"
seed=${STRESS_SEED:-1}
secs=${STRESS_SECONDS:-60}

tl_check "namespace and veth pair up" tl_net_up
tl_check "tachyond ready with 2 lcores (qpairs=2)" dp_start2

tl_log "seed $seed, $secs s (STRESS_SEED=$seed STRESS_SECONDS=$secs to repeat)"
out=$(tl_ns /usr/bin/python3 "$(dirname "$0")/stress.py" "$TL_DP_IP" "$seed" "st$$" "$secs" 2>&1)
rc=$?
echo "$out" | grep '^#'
if [ $rc -eq 0 ]; then
	tl_ok "ledger balances: every owed QoS 1/2 delivery made, no repeat without DUP"
else
	tl_fail "ledger balances" "rc=$rc $(echo "$out" | grep -v '^#' | tail -5)"
	# evidence for a diagnosis: where every persistent session is now, the move counters
	"$ctl" -d "$TL_DIR/tachyond.sock" --json sessions list 2>&1 | sed 's/^/# sessions: /'
	for k in sessions_moved_in sessions_moved_out sessions_move_dropped takeovers; do
		tl_log "$k per lcore: $(lcore_counter mqtt.$k | tr '\n' ' ')"
	done
fi

totals=$(lcore_counter mqtt.connections_total | tr '\n' ' ')
tl_log "connections per lcore: $totals"
if [[ "$totals" =~ ^0=([0-9]+)\ 1=([0-9]+)\ $ ]] && [ "${BASH_REMATCH[1]}" -gt 100 ] &&
	[ "${BASH_REMATCH[2]}" -gt 100 ]; then
	tl_ok "connections on both lcores ($totals)"
else
	tl_fail "connections on both lcores" "$totals"
fi

tl_dp_stop
rc=$?
[ $rc -eq 0 ] && tl_ok "SIGTERM: exit 0, every mbuf returned" || tl_fail "SIGTERM: exit 0" "rc=$rc"
sums=$(grep '^tachyond: shard [01]: ' "$TL_DIR/tachyond.log")
echo "$sums" | sed "s/^/# /"
xin=$(echo "$sums" | sed -n 's/.*session transfer messages out [0-9]* in \([0-9]*\) lost 0 .*/\1/p' |
	paste -sd+ | bc)
[ "$(echo "$sums" | grep -c ' lost 0 ')" -eq 2 ] && [ "${xin:-0}" -gt 0 ] &&
	tl_ok "sessions moved between shards ($xin transfer messages), none lost" ||
	tl_fail "sessions moved between shards, none lost" "$sums"
tl_done

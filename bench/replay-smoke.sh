#!/usr/bin/env bash
# replay-full run natively (no callgrind) with one and two shards, as a test of the dataplane
# in process: every PUBLISH delivered exactly, no drop, no retransmission, no leaked mbuf
# (replay-full exits non-zero otherwise), and with two shards clients on both of them, so
# publishes and handshakes cross the rings between shards.
#   bench/replay-smoke.sh BUILD/bench/replay-full
set -u
replay=$1
n=0
fail=0
for shards in 1 2; do
	for args in "fanout --clients 60 --msgs 2000" "pairs --clients 40 --msgs 8000"; do
		n=$((n + 1))
		# shellcheck disable=SC2086
		out=$(timeout 120 "$replay" $args --shards $shards 2>&1)
		rc=$?
		msgs=$(awk '$1 == "messages" { print $2 }' <<<"$out")
		want=$(awk '$1 == "expected" { print $2 }' <<<"$out")
		busy=$(awk '$1 == "shard" && $3 == "clients" && $4 > 0 { k++ } END { print k + 0 }' <<<"$out")
		if [ $rc -eq 0 ] && [ -n "$msgs" ] && [ "$msgs" = "$want" ] && [ "$busy" -eq "$shards" ]; then
			echo "ok $n - ${args%% *} with $shards shard(s): $msgs of $want delivered, clients on $busy shard(s)"
		else
			sed 's/^/# /' <<<"$out" | tail -20
			echo "not ok $n - ${args%% *} with $shards shard(s): rc $rc, $msgs of $want, clients on $busy shard(s)"
			fail=1
		fi
	done
done
echo "1..$n"
exit $fail

#!/bin/bash
# Run a libFuzzer target for a bounded time over a scratch copy of its corpus; print TAP.
#   run_fuzz.sh <fuzzer> <scratch corpus dir> <seed corpus dir> <seconds>
set -u
FUZZER=$1 WORK=$2 SEEDS=$3 SECS=$4
mkdir -p "$WORK"
LOG=$(mktemp /tmp/tcp_fuzz.XXXXXX)
trap 'rm -f "$LOG"' EXIT
"$FUZZER" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$WORK/" "$WORK" "$SEEDS" >"$LOG" 2>&1
rc=$?
grep -E "^(stat::|Done|INFO: Seed|==[0-9]+==|SUMMARY)" "$LOG" | head -40 | sed 's/^/# /'
if [ $rc -eq 0 ]; then
	echo "ok 1 - $(basename "$FUZZER") ran ${SECS}s without a crash or leak"
else
	tail -40 "$LOG" | sed 's/^/# /'
	echo "not ok 1 - $(basename "$FUZZER") failed (rc $rc)"
fi
echo "1..1"
[ $rc -eq 0 ]

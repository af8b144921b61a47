#!/bin/bash
# Run the codec fuzzer for a bounded time over a fresh copy of its seed corpus; print TAP.
#   run_fuzz.sh <fuzzer> <scratch dir> <seed corpus dir> <dictionary> <seconds>
# A crash, sanitizer report, leak, timeout or abort from the round-trip checks is "not ok"; the
# reproducer is left in the scratch dir (artifact prefix) and its path printed.
set -u
FUZZER=$1 WORK=$2 SEEDS=$3 DICT=$4 SECS=$5
rm -rf "$WORK"
mkdir -p "$WORK/corpus" "$WORK/artifacts"
cp "$SEEDS"/* "$WORK/corpus/"
LOG="$WORK/fuzz.log"
"$FUZZER" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	-dict="$DICT" -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" >"$LOG" 2>&1
rc=$?
grep -E "^(stat::|Done|INFO: seed|==[0-9]+==|SUMMARY)" "$LOG" | head -40 | sed 's/^/# /'
if [ $rc -eq 0 ]; then
	echo "ok 1 - $(basename "$FUZZER") ran ${SECS}s without a finding"
else
	tail -40 "$LOG" | sed 's/^/# /'
	ls "$WORK/artifacts" | sed "s|^|# reproducer: $WORK/artifacts/|"
	echo "not ok 1 - $(basename "$FUZZER") failed (rc $rc)"
fi
echo "1..1"
[ $rc -eq 0 ]

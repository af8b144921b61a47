#!/usr/bin/env bash
# Runs every registered test suite and prints the one summary line CI reads:
#   N passed, M failed
# Arguments are runs, each "BUILDDIR[:SUITE,SUITE...]" (default: "build"). Every test is a meson
# test speaking TAP; each TAP case counts once, and a test program that fails without a
# "not ok" line (a crash, a timeout, a script error) counts as one failure. A skipped test counts
# as a failure too, so nothing is silently left out.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ $# -gt 0 ] || set -- build

logs=()
status=0
for run in "$@"; do
	dir=${run%%:*}
	suites=()
	if [ "$run" != "$dir" ]; then
		IFS=, read -r -a names <<<"${run#*:}"
		for s in "${names[@]}"; do suites+=(--suite "$s"); done
	fi
	echo "== meson test -C $dir ${suites[*]}"
	meson test -C "$dir" --no-rebuild --print-errorlogs "${suites[@]}" || status=1
	cp "$dir/meson-logs/testlog.json" "$dir/meson-logs/testlog-run.json" 2>/dev/null &&
		logs+=("$dir/meson-logs/testlog-run.json")
done

/usr/bin/python3 - "$status" "${logs[@]}" <<'PY'
import json, re, sys
status, paths = int(sys.argv[1]), sys.argv[2:]
passed = failed = 0
bad = []
for path in paths:
    for line in open(path).read().splitlines():
        t = json.loads(line)
        out = t.get('stdout') or ''
        ok = len(re.findall(r'^ok\b', out, re.M))
        nok = len(re.findall(r'^not ok\b', out, re.M))
        passed += ok
        failed += nok
        res = t['result']
        if res == 'SKIP':
            failed += 1
            bad.append(f"{t['name']} (skipped: counts as failed)")
        elif res not in ('OK', 'EXPECTEDFAIL') and nok == 0:
            failed += 1
            bad.append(f"{t['name']} ({res})")
        elif ok + nok == 0 and res == 'OK':
            passed += 1
if not paths:
    print('no test log: meson test did not run')
    failed += 1
for b in bad:
    print('failed without a TAP line:', b)
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed or status else 0)
PY

#!/usr/bin/env bash
# Integration test of bench/compare itself, against Mosquitto only: one short workload through
# its namespaces, veths and pinned processes, a table row with real figures, and nothing left
# behind (namespaces, processes, temporary directories).
#   bench/compare-test.sh BUILD/bench/tachyon-bench
set -u
bench=$1
build=$(cd "$(dirname "$bench")/.." && pwd)
here=$(cd "$(dirname "$0")" && pwd)
n=0
fail=0
result() { # ok|fail name
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
out=$(timeout 120 "$here/compare" --quick --only mosquitto --workloads latency --no-docs \
	--priority 0 --build "$build" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then result ok "compare exits 0"; else result fail "compare exits 0 (got $rc)"; fi
# | mosquitto | latency ... | 10000 | 0.00 | p50 | p99 | cpu | ...
row=$(grep -E '^\| mosquitto \| latency' <<<"$out")
if /usr/bin/python3 -c '
import sys
cells = [c.strip() for c in sys.argv[1].strip("|").split("|")]
rate, loss, p50, p99 = float(cells[2]), float(cells[3]), float(cells[4]), float(cells[5])
sys.exit(0 if rate > 9000 and loss < 1 and 0 < p50 <= p99 else 1)' "$row" 2>/dev/null; then
	result ok "table row with delivered rate, loss and ordered percentiles"
else
	# shellcheck disable=SC2001 # prefix every line, not one
	sed 's/^/# /' <<<"$out"
	result fail "table row with delivered rate, loss and ordered percentiles"
fi
# compare names what it creates: check exactly those, not another run's.
read -r ns1 ns2 dir < <(sed -n 's/^compare: namespaces \([^ ]*\) \([^,]*\), work directory \(.*\)$/\1 \2 \3/p' <<<"$out")
if [ -z "${dir:-}" ]; then
	result fail "compare names its namespaces and work directory"
else
	result ok "compare names its namespaces and work directory"
	if ip netns list | grep -qE "^($ns1|$ns2)( |$)"; then
		result fail "no namespaces left ($ns1 $ns2)"
	else
		result ok "no namespaces left"
	fi
	# The broker's command line names its configuration in compare's work directory.
	if pgrep -f "$dir/" >/dev/null; then
		result fail "no process left running from $dir"
	else
		result ok "no process left running"
	fi
	if [ -e "$dir" ]; then
		result fail "work directory $dir removed"
	else
		result ok "work directory removed"
	fi
fi
echo "1..$n"
exit $fail

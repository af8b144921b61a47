#!/usr/bin/env bash
# Smoke run of one Google Benchmark executable (meson suite `bench`): every benchmark runs
# briefly and must report a time. TAP: one case per benchmark, named after it.
set -u
exe=$1
out=$(timeout 100 "$exe" --benchmark_min_time=0.01 --benchmark_format=csv 2>/dev/null)
rc=$?
names=$("$exe" --benchmark_list_tests 2>/dev/null)
n=0
for name in $names; do
	n=$((n + 1))
	# A CSV row "name",iterations,real_time,... with a positive iteration count.
	if [ $rc -eq 0 ] && grep -Eq "^\"?${name}\"?,[1-9][0-9]*," <<<"$out"; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name (exit $rc)"
	fi
done
if [ $n -eq 0 ]; then
	echo "not ok 1 - $(basename "$exe") lists no benchmarks"
	n=1
fi
echo "1..$n"

#!/usr/bin/env bash
# Runs every Google Benchmark executable built in BUILD/bench (micro_*), one after another,
# pinned to the last core when taskset exists. `make bench` calls this.
#   bench/run-micro.sh [BUILD] [extra Google Benchmark flags...]
# Results go to stdout (console) and BUILD/bench/micro-results/<name>.json.
set -eu
build=${1:-build}
shift || true
dir="$build/bench"
if [ ! -d "$dir" ]; then
	echo "run-micro.sh: $dir missing (configure with -Dbench=true and build first)" >&2
	exit 1
fi
mapfile -t exes < <(find "$dir" -maxdepth 1 -type f -name 'micro_*' -perm -u+x | sort)
if [ ${#exes[@]} -eq 0 ]; then
	echo "run-micro.sh: no micro_* executables in $dir" >&2
	exit 1
fi
pin=()
if command -v taskset >/dev/null; then
	pin=(taskset -c "$(($(nproc) - 1))")
fi
mkdir -p "$dir/micro-results"
for exe in "${exes[@]}"; do
	name=$(basename "$exe")
	echo "== $name"
	"${pin[@]}" "$exe" --benchmark_out="$dir/micro-results/$name.json" \
		--benchmark_out_format=json "$@"
done

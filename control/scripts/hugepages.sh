#!/usr/bin/env bash
# Reserves N 2 MiB hugepages (default 512 = 1 GiB) unless at least that many are already there.
set -eu
want=${1:-512}
f=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
have=$(cat "$f")
if [ "$have" -lt "$want" ]; then
	echo "$want" >"$f"
	have=$(cat "$f")
	[ "$have" -ge "$want" ] || echo "hugepages: only $have of $want 2 MiB pages could be reserved" >&2
fi
mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages; }

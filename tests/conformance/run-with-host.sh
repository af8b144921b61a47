#!/usr/bin/env bash
# Runs a TAP test script against a fresh mqtt-test-host on a free loopback port:
#   run-with-host.sh HOST_BINARY SCRIPT [ARGS...]
# The script gets "127.0.0.1 PORT [ARGS...]". One more TAP case checks that the host exits
# cleanly on SIGTERM (under ASan this is where leaks show up).
set -u
host_bin=$1
script=$2
shift 2
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/mqtt-test-host.XXXXXX)
"$host_bin" "$port" >"$log" 2>&1 &
host_pid=$!
cleanup() {
	kill "$host_pid" 2>/dev/null
	wait "$host_pid" 2>/dev/null
	rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 100); do
	grep -q '^ready' "$log" && break
	sleep 0.05
done

out=$(/usr/bin/python3 "$script" 127.0.0.1 "$port" "$@")
rc=$?
printf '%s\n' "$out" | grep -v '^1\.\.'
n=$(printf '%s\n' "$out" | grep -cE '^(not )?ok ')

kill -TERM "$host_pid"
wait "$host_pid"
hrc=$?
grep "^stats:" "$log" | sed "s/^/# host /"
n=$((n + 1))
if [ "$hrc" -eq 0 ]; then
	echo "ok $n - mqtt-test-host exits cleanly"
else
	echo "not ok $n - mqtt-test-host exits cleanly (status $hrc)"
	sed 's/^/#   /' "$log" | head -40
fi
echo "1..$n"
trap - EXIT
rm -f "$log"
[ "$rc" -eq 0 ] && [ "$hrc" -eq 0 ]

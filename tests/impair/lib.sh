# shellcheck shell=bash
# Shared by the fault tests (sourced, not run): the issue-3 profiles, starting and stopping
# tachyon-impair, reading its counters and a namespace's kernel counters, TAP output.
# Needs: IMP_BIN (tachyon-impair path), IMP_DIR (this directory), a topology from topology.sh.

# shellcheck disable=SC2034 # used by the scripts that source this
IMP_PROFILES=(loss reorder dup corrupt delay all)

# The forwarder options of a profile (both directions alike).
imp_profile_args() {
	case $1 in
	none) echo "" ;;
	loss) echo "--loss 0.05" ;;
	reorder) echo "--reorder 0.25 --delay-ms 10" ;;
	dup) echo "--dup 0.01" ;;
	corrupt) echo "--corrupt 0.001" ;;
	delay) echo "--delay-ms 50 --jitter-ms 10" ;;
	all) echo "--loss 0.05 --reorder 0.25 --dup 0.01 --corrupt 0.001 --delay-ms 50 --jitter-ms 10" ;;
	*) return 1 ;;
	esac
}

# imp_fw_start LOG ARGS...: start the forwarder between IMP_A and IMP_B, wait until it is
# bridging. Sets IMP_FW_PID.
imp_fw_start() {
	local log=$1
	shift
	"$IMP_BIN" --a "$IMP_A" --b "$IMP_B" "$@" >"$log" 2>&1 &
	IMP_FW_PID=$!
	for _ in $(seq 100); do
		grep -q '^tachyon-impair ready' "$log" && return 0
		kill -0 "$IMP_FW_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# forwarder did not start:" && sed 's/^/#   /' "$log"
	return 1
}

# Stop it (SIGTERM: it prints its final counters) and wait.
imp_fw_stop() {
	[ -n "${IMP_FW_PID:-}" ] || return 0
	kill -TERM "$IMP_FW_PID" 2>/dev/null || true
	wait "$IMP_FW_PID" 2>/dev/null || true
	IMP_FW_PID=
}

# imp_fw_counter LOG DIR NAME: a final counter of one direction (a2b, b2a) or of both ("all").
imp_fw_counter() {
	awk -v dir="$2" -v key="$3" '
		$1 == "tachyon-impair" && $2 == "final" && (dir == "all" || $3 == dir) {
			for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) s += kv[2] }
		}
		END { print s + 0 }' "$1"
}

# imp_nstat NS NAME...: sum of absolute kernel counters (nstat names) in a namespace.
imp_nstat() {
	local ns=$1
	shift
	ip netns exec "$ns" nstat -saz "$@" 2>/dev/null | awk 'NR > 1 { s += $2 } END { print s + 0 }'
}

IMP_TAP_N=0
IMP_TAP_FAILED=0

# imp_tap COND-STATUS NAME: one TAP line from the exit status of the previous test expression.
imp_tap() {
	IMP_TAP_N=$((IMP_TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $IMP_TAP_N - $2"
	else
		echo "not ok $IMP_TAP_N - $2"
		IMP_TAP_FAILED=$((IMP_TAP_FAILED + 1))
	fi
	return "$1"
}

imp_tap_done() {
	echo "1..$IMP_TAP_N"
	[ "$IMP_TAP_FAILED" -eq 0 ]
}

# A unique topology name for this run (<= 12 characters).
imp_name() {
	echo "${1}$(($$ % 100000))"
}

# imp_begin PREFIX [--server-ns|--server-raw]: a topology named PREFIX+pid, a work directory
# (IMP_WORK) and an EXIT trap (imp_end) that removes both and stops what was started.
imp_begin() {
	local topo
	IMP_RUN_NAME=$(imp_name "$1")
	IMP_WORK=$(mktemp -d "/tmp/impair-$1.XXXXXX")
	IMP_SRV_PID=
	trap imp_end EXIT
	topo=$("$IMP_DIR/topology.sh" up "$IMP_RUN_NAME" "${2:---server-ns}") || return 1
	eval "$topo"
}

imp_end() {
	imp_fw_stop
	[ -z "${IMP_SRV_PID:-}" ] || kill "$IMP_SRV_PID" 2>/dev/null
	"$IMP_DIR/topology.sh" down "$IMP_RUN_NAME" >/dev/null 2>&1
	rm -rf "$IMP_WORK"
}

# imp_tcp_xfer PORT BYTES SEED: tcp_xfer.py server in the server namespace, client in the client
# namespace; prints the client's result line, returns 0 when the digests matched.
imp_tcp_xfer() {
	local rc out
	ip netns exec "$IMP_SERVER_NS" /usr/bin/python3 "$IMP_DIR/tcp_xfer.py" server \
		--bind "$IMP_SERVER_IP" --port "$1" --timeout 120 >"$IMP_WORK/server.log" 2>&1 &
	IMP_SRV_PID=$!
	out=$(timeout 130 ip netns exec "$IMP_CLIENT_NS" /usr/bin/python3 "$IMP_DIR/tcp_xfer.py" \
		client --host "$IMP_SERVER_IP" --port "$1" --bytes "$2" --seed "$3" --timeout 120)
	rc=$?
	kill "$IMP_SRV_PID" 2>/dev/null # done already unless the transfer failed
	wait "$IMP_SRV_PID" 2>/dev/null
	IMP_SRV_PID=
	echo "$out"
	[ "$rc" -eq 0 ] && [[ $out == *" ok" ]]
}

#!/usr/bin/env bash
# tachyond's life cycle on a veth in a namespace of its own: usage errors, start, ping, the
# adaptive idle policy leaving the CPU alone, and a SIGTERM that exits cleanly (status 0 also
# means every mbuf came back) leaving no runtime files. Usage: test_lifecycle.sh PATH/TO/tachyond
# Budget: about 15 s.
set -u
. "$(dirname "$0")/../lib/tachyon.sh"
tl_init "$@"

# Our options are parsed before the EAL starts, so these fail fast and touch nothing.
out=$("$TL_DP_BIN" -- --help 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q -- '--idle busy|adaptive' <<<"$out" &&
	tl_ok "--help prints usage and exits 0" || tl_fail "--help prints usage and exits 0" "rc=$rc"

out=$("$TL_DP_BIN" -- --ip 198.18.1.1 --idle sometimes 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q -- "--idle: 'sometimes'" <<<"$out" &&
	tl_ok "bad --idle value is a usage error (exit 2)" ||
	tl_fail "bad --idle value is a usage error (exit 2)" "rc=$rc out=$out"

out=$("$TL_DP_BIN" --ip 198.18.1.1 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q -- "after '--'" <<<"$out" &&
	tl_ok "our option before '--' is explained" ||
	tl_fail "our option before '--' is explained" "rc=$rc out=$out"

out=$("$TL_DP_BIN" -- --ip 198.18.1.1 --gateway 10.0.0.1 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q "not on the --ip/--netmask network" <<<"$out" &&
	tl_ok "off-link --gateway is refused" || tl_fail "off-link --gateway is refused" "rc=$rc"

# The config file: --check-config validates without starting (exit 0, or 5 with FILE:LINE).
printf 'address 198.18.1.1\nmbufs 4095\ndataplane_socket %s\nlistener 1884\ncongestion_control cubic\n' \
	"$TL_DIR/tachyond.sock" >"$TL_DIR/good.conf"
printf 'address 198.18.1.1\nmbufs 4095\nno_such_option 1\n' >"$TL_DIR/bad.conf"
out=$("$TL_DP_BIN" --check-config "$TL_DIR/good.conf" 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q "good.conf: OK" <<<"$out" && tl_ok "--check-config accepts a valid file" ||
	tl_fail "--check-config accepts a valid file" "rc=$rc out=$out"
out=$("$TL_DP_BIN" --check-config "$TL_DIR/bad.conf" 2>&1)
rc=$?
[ $rc -eq 5 ] && grep -q "bad.conf:3:" <<<"$out" &&
	tl_ok "--check-config names file and line of a bad option (exit 5)" ||
	tl_fail "--check-config names file and line of a bad option (exit 5)" "rc=$rc out=$out"
out=$("$TL_DP_BIN" -- --config "$TL_DIR/bad.conf" 2>&1)
rc=$?
[ $rc -eq 5 ] && grep -q "bad.conf:3:" <<<"$out" &&
	tl_ok "--config with a bad file refuses to start (exit 5)" ||
	tl_fail "--config with a bad file refuses to start (exit 5)" "rc=$rc out=$out"

# No port: the EAL starts, tachyond says what is missing and removes its runtime directory.
out=$("$TL_DP_BIN" -l 0 --no-huge -m 64 --no-pci --no-shconf --file-prefix="${TL_PREFIX}x" \
	--log-level=lib.eal:warning -- --ip 198.18.1.1 --ctl-socket "$TL_DIR/x.sock" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "no port" <<<"$out" && [ ! -e "/var/run/dpdk/${TL_PREFIX}x" ] &&
	tl_ok "no port: clear error, nothing left behind" ||
	tl_fail "no port: clear error, nothing left behind" "rc=$rc out=$out"

tl_check "namespace and veth pair up" tl_net_up
# The file's listener (1884) and the command line's address on top of it.
mac=02:54:41:43:48:01
tl_check "tachyond starts on af_packet with --config and reports ready" \
	tl_dp_start --config "$TL_DIR/good.conf" --mac "$mac"
grep -q "$TL_DP_IP port 0 .* MQTT on 1884 (cubic)," "$TL_DIR/tachyond.log" &&
	tl_ok "config file's listener (CUBIC) and command line's address in effect" ||
	tl_fail "config file's listener and command line's address in effect" \
		"$(grep ready "$TL_DIR/tachyond.log")"

# ARP resolution and ICMP echo through our stack.
tl_check "ping $TL_DP_IP answers" tl_ns ping -c 3 -i 0.2 -W 2 "$TL_DP_IP"

# --mac: our ARP replies carry it.
tl_ns ip neigh show "$TL_DP_IP" | grep -qi "lladdr $mac" &&
	tl_ok "ARP resolves $TL_DP_IP to the --mac address" ||
	tl_fail "ARP resolves $TL_DP_IP to the --mac address" "$(tl_ns ip neigh show "$TL_DP_IP")"

# Adaptive idle: with no traffic the broker must sleep. CPU time over 2 s of wall time, from
# /proc (utime + stime, in clock ticks); a spinning loop would use ~100%.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 1
t0=$(cpu_ticks "$TL_DP_PID")
sleep 2
t1=$(cpu_ticks "$TL_DP_PID")
hz=$(getconf CLK_TCK)
share=$(((t1 - t0) * 100 / (2 * hz)))
[ "$share" -lt 20 ] && tl_ok "adaptive idle: quiet broker uses ${share}% of a core (< 20%)" ||
	tl_fail "adaptive idle: quiet broker uses ${share}% of a core (< 20%)"

tl_dp_stop
rc=$?
[ $rc -eq 0 ] && grep -q '^tachyond: stopped' "$TL_DIR/tachyond.log" &&
	tl_ok "SIGTERM: clean exit 0, every mbuf returned" ||
	tl_fail "SIGTERM: clean exit 0, every mbuf returned" "rc=$rc"

left=$(ls -d "/var/run/dpdk/$TL_PREFIX" /dev/hugepages/"$TL_PREFIX"* 2>/dev/null)
[ -z "$left" ] && tl_ok "no runtime files left" || tl_fail "no runtime files left" "$left"

tl_done

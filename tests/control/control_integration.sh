#!/usr/bin/env bash
# tachyon-control and tachyonctl, as processes, against dp_ctl's test server (tachyond's real
# control thread over fake dp_stats[] counters: tests/control/dp_ctl_test.c --serve).
# Usage: control_integration.sh DP_CTL_TEST TACHYON_CONTROL TACHYONCTL SRCROOT
# Prints TAP. Only unix sockets in a private temporary directory and one loopback TCP port.
set -u
DPT=$1 CTLD=$2 CTL=$3 SRC=$4
PY=/usr/bin/python3
dir=$(mktemp -d /tmp/tachyon-ctl-it.XXXXXX)
# a loopback port nobody holds right now (the kernel picks it; a small race, no guessing)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dp_pid='' ctl_pid=''
n=0 failed=0

cleanup() {
	[ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null
	[ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null
	wait 2>/dev/null
	if [ "$failed" != 0 ]; then # the processes' logs, as TAP comments
		for f in "$dir"/*.log; do sed "s|^|# $(basename "$f"): |" "$f" | tail -40; done
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check NAME COMMAND...: the command's status decides
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else nok "$name"; fi
}
# expect_rc NAME RC COMMAND...: exit status must be RC; output kept in $dir/out, $dir/err
expect_rc() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$name"
	else
		nok "$name"
		echo "#   exit $got, expected $want: $*"
		sed 's/^/#   out: /' "$dir/out" | head -5
		sed 's/^/#   err: /' "$dir/err" | head -5
	fi
}
out_has() { grep -qF -- "$1" "$dir/out"; }
err_has() { grep -qF -- "$1" "$dir/err"; }

conf=$dir/tachyon.conf
write_conf() { # write_conf MAX_INFLIGHT MBUFS [extra line]
	cat >"$conf" <<EOF
# integration test configuration
dataplane_socket $dir/dp.sock
control_socket $dir/ctl.sock
metrics_listen 127.0.0.1:$port
mbufs $2
sys_interval 1
max_inflight_messages $1
${3:-}
listener 1883
EOF
}

start_dp() {
	"$DPT" --serve "$dir/dp.sock" --shard >"$dir/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do [ -S "$dir/dp.sock" ] && return 0; sleep 0.05; done
	return 1
}
start_ctl() {
	"$CTLD" -c "$conf" >>"$dir/ctl.log" 2>&1 &
	ctl_pid=$!
	for _ in $(seq 100); do
		"$CTL" -s "$dir/ctl.sock" -d /nonexistent status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
T() { "$CTL" -c "$conf" "$@"; }
status_field() { # status_field PY_EXPR: evaluated on `tachyonctl --json status` as s
	T --json status 2>/dev/null | $PY -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

# --- configuration checks ---
write_conf 20 8191
expect_rc "check-config: valid file exits 0" 0 "$CTLD" --check-config "$conf"
check "check-config: says OK" out_has "$conf: OK"
printf 'log_level info\nmax_inflight_messages 0\n' >"$dir/bad.conf"
expect_rc "check-config: invalid file exits 5" 5 "$CTLD" --check-config "$dir/bad.conf"
check "check-config: file, line and problem" \
	err_has "$dir/bad.conf:2: max_inflight_messages: 0 is out of range 1..65535"
expect_rc "check-config: missing file exits 5" 5 "$CTLD" --check-config "$dir/none.conf"
expect_rc "tachyonctl config check FILE: invalid exits 5" 5 "$CTL" config check "$dir/bad.conf"
check "tachyonctl config check FILE: same message" \
	err_has "$dir/bad.conf:2: max_inflight_messages: 0 is out of range 1..65535"
expect_rc "tachyon-control: bad option exits 2" 2 "$CTLD" --frobnicate
expect_rc "tachyon-control: invalid config refuses to start (5)" 5 "$CTLD" -c "$dir/bad.conf"

# --- start both ---
check "dp_ctl test server starts" start_dp
check "tachyon-control starts and answers" start_ctl
dp1=$(status_field 's["dataplane"]["pid"]')
check "status: attached to tachyond" [ "$dp1" = "$dp_pid" ]

# --- stats ---
expect_rc "stats --json exits 0" 0 T --json stats
check "stats --json: totals and per-lcore counts exact" $PY - "$dir/out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want = {"connections": 7, "messages_in": 300, "messages_out": 300, "bytes_in": 5096,
        "bytes_out": 10192, "subscriptions": 6, "retained": 7, "connections_total": 30}
per = {1: {"connections": 3, "messages_in": 100, "messages_out": 250, "bytes_in": 4096,
           "bytes_out": 8192, "subscriptions": 5, "retained": 2},
       3: {"connections": 4, "messages_in": 200, "messages_out": 50, "bytes_in": 1000,
           "bytes_out": 2000, "subscriptions": 1, "retained": 7}}
bad = [k for k, v in want.items() if s.get(k) != v]
lc = {e["lcore"]: e for e in s["lcores"]}
assert sorted(lc) == [1, 3], lc.keys()
for l, kv in per.items():
    bad += [f"lcore {l} {k}" for k, v in kv.items() if lc[l].get(k) != v]
# every raw counter: word i of lcore L's slot is L*1000000+i unless set above
assert lc[1]["counters"]["loops"] == 1000001, lc[1]["counters"]["loops"]
assert s["counters"]["loops"] == 1000001 + 3000001
assert abs(s["busy_share"] - 0.25) < 1e-9
if bad:
    print("# mismatched:", bad)
    sys.exit(1)
PY
expect_rc "stats table exits 0" 0 T stats
check "stats table: connections row" grep -Eq '^connections +7 +3 +4$' "$dir/out"

expect_rc "stats --watch 0.2 --count 2 exits 0" 0 T stats --watch 0.2 --count 2
check "stats --watch: header and two lines of zero rates" bash -c "[ \$(wc -l <'$dir/out') = 3 ] && [ \$(grep -Ec '^[0-9:]{8} +7 +0\.0 +0\.0 +0\.0 +0\.0 ' '$dir/out') = 2 ]"
expect_rc "stats --watch --json exits 0" 0 T --json stats --watch 0.1 --count 1
check "stats --watch --json: a JSON line of rates" $PY -c "import json,sys; d=json.loads(open('$dir/out').read()); sys.exit(not (d['connections']==7 and d['messages_in_per_s']==0))"
expect_rc "--count without --watch is a usage error" 2 T stats --count 2
expect_rc "--watch on another command is a usage error" 2 T status --watch 1

# --- Prometheus ---
check "metrics: scrape parses, families well formed, values exact" \
	$PY - "$port" <<'PY'
import re, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
ctype = None
families, seen, samples = [], set(), {}
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*)?\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')
cur = None
for line in body.splitlines():
    if line.startswith("# HELP "):
        name = line.split()[2]
        assert name not in seen, f"family {name} twice"
        seen.add(name); cur = name
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split()
        assert name == cur and typ in ("counter", "gauge"), line
        if typ == "counter": assert name.endswith("_total"), name
    else:
        m = sample_re.match(line)
        assert m, f"bad sample line: {line!r}"
        assert m.group(1) == cur, f"sample {m.group(1)} outside its family {cur}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(5))
assert all(n.startswith("tachyon_") for n in seen)
exp = {'tachyon_connections{lcore="1"}': 3, 'tachyon_connections{lcore="3"}': 4,
       'tachyon_messages_received_total{lcore="1"}': 100, 'tachyon_connections_accepted_total{lcore="3"}': 20,
       'tachyon_messages_sent_total{lcore="3"}': 50,
       'tachyon_received_bytes_total{lcore="1"}': 4096,
       'tachyon_retained_messages{lcore="3"}': 7, 'tachyon_up': 1, 'tachyon_lcores': 2,
       'tachyon_config_generation': 2}
assert 'tachyon_uptime_seconds' in samples
bad = {k: samples.get(k) for k, v in exp.items() if samples.get(k) != v}
assert not bad, bad
assert 'tachyon_drops_total{lcore="1",reason="ip_checksum"}' in samples
PY
http() { # http REQUEST -> first line of the reply
	$PY - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode())
print(s.recv(200).decode().splitlines()[0])
PY
}
check "metrics: unknown path is 404" [ "$(http 'GET /nope HTTP/1.1\r\n\r\n')" = "HTTP/1.1 404 Not Found" ]
check "metrics: POST is 405" [ "$(http 'POST /metrics HTTP/1.1\r\n\r\n')" = "HTTP/1.1 405 Method Not Allowed" ]
check "metrics: garbage is 400" [ "$(http 'hello\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]

# --- reload ---
gen0=$(status_field 's["dataplane"]["config_generation"]')
write_conf 42 8191
expect_rc "reload of a live option exits 0" 0 T config reload
check "reload: reports the change" out_has "changed: max_inflight_messages"
check "reload: tachyond runs the new value" bash -c "'$CTL' -c '$conf' config show | grep -qx 'max_inflight_messages 42'"
check "reload: a new config generation" [ "$(status_field 's["dataplane"]["config_generation"]')" = $((gen0 + 1)) ]
write_conf 42 4095
expect_rc "reload of a restart-only option exits 6" 6 T config reload
check "reload refused: names the option" err_has "not applied: mbufs only takes effect when tachyond restarts"
check "reload refused: nothing applied" bash -c "'$CTL' -c '$conf' config show | grep -qx 'mbufs 8191'"
write_conf 42 8191 "max_queued_messages lots"
expect_rc "reload of an invalid file exits 5" 5 T config reload
check "reload invalid: file, line and problem" err_has "$conf:8: max_queued_messages: 'lots' is not a non-negative integer"
sed -i "s/^metrics_listen .*/metrics_listen 127.0.0.1:$((port + 1))/" "$conf"
sed -i "/^max_queued_messages/d" "$conf"
expect_rc "reload of a control-restart option exits 6" 6 T -s "$dir/ctl.sock" config reload
check "reload refused: says tachyon-control must restart" err_has "metrics_listen only take effect when tachyon-control restarts"
write_conf 42 8191
expect_rc "config check (the file tachyon-control reloads) exits 0" 0 T config check
write_conf 43 8191
kill -HUP "$ctl_pid"
sighup_applied() {
	for _ in $(seq 50); do
		"$CTL" -c "$conf" config show | grep -qx 'max_inflight_messages 43' && return 0
		sleep 0.1
	done
	return 1
}
check "SIGHUP reloads the file like config reload" sighup_applied
write_conf 42 8191
expect_rc "and back with config reload" 0 T config reload

# --- log level ---
expect_rc "log level debug exits 0" 0 T log level debug
expect_rc "log level shows it" 0 T log level
check "log level: debug" out_has "debug"
expect_rc "log level loud: usage error 2" 2 T log level loud
T log level info >/dev/null

# --- per-shard requests (test-only shard on lcore 1) ---
expect_rc "clients list exits 0" 0 T clients list
check "clients list: a header and two clients" bash -c "head -1 '$dir/out' | grep -q '^CLIENT ID' && [ \$(grep -c '^c[12] ' '$dir/out') = 2 ] && [ \$(wc -l <'$dir/out') = 3 ]"
expect_rc "clients list --limit 1 exits 0" 0 T clients list --limit 1
check "clients list --limit 1: one, truncation noted" bash -c "[ \$(grep -c '^c[12] ' '$dir/out') = 1 ] && grep -q truncated '$dir/err'"
expect_rc "clients show c1 exits 0" 0 T --json clients show c1
check "clients show: JSON item" bash -c "$PY -c 'import json,sys; d=json.load(open(\"$dir/out\")); sys.exit(d[\"item\"][\"client_id\"]!=\"c1\")'"
expect_rc "clients kick unknown exits 4" 4 T clients kick nobody
expect_rc "clients kick without id exits 2" 2 T clients kick
expect_rc "retained list (not implemented by the shard) exits 7" 7 T retained list
check "not supported: says so" err_has "not supported yet"
expect_rc "sessions list --limit 0 exits 2" 2 T sessions list --limit 0

# --- \$SYS ---
expect_rc "sys show exits 0" 0 T sys show
for line in 'clients/connected 7' 'bytes/received 5096' 'bytes/sent 10192' \
	'publish/messages/received 300' 'subscriptions/count 6' 'retained messages/count 7' \
	'version tachyon version 0.1.0' 'load/messages/received/1min 0.00'; do
	check "sys show: \$SYS/broker/$line" grep -qx "\$SYS/broker/$line" "$dir/out"
done
for _ in $(seq 40); do grep -q '^# sys.publish 28 messages' "$dir/dp.log" && break; sleep 0.1; done
check "\$SYS published to the shard every sys_interval (28 topics)" \
	grep -q '^# sys.publish 28 messages, last \$SYS/broker/load/connections/15min=0.00' "$dir/dp.log"

# --- help and usage ---
for c in status stats "config show" "config reload" "config check" "log level" "clients list" \
	"clients show" "clients kick" "sessions list" "sessions show" "sessions drop" \
	"subscriptions list" "retained list" "retained delete" "sys show"; do
	# shellcheck disable=SC2086
	"$CTL" $c --help >"$dir/out" 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q "usage: tachyonctl \[--json\] $c" "$dir/out"; then ok "--help: $c"; else nok "--help: $c (exit $rc)"; fi
done
expect_rc "group help: tachyonctl clients --help" 0 "$CTL" clients --help
expect_rc "tachyonctl --help exits 0" 0 "$CTL" --help
expect_rc "unknown command exits 2" 2 "$CTL" frobnicate
expect_rc "incomplete command exits 2" 2 "$CTL" clients
check "bash completion completes subcommands" bash -c "source '$SRC/control/tachyonctl.bash-completion'; COMP_WORDS=(tachyonctl sessions ''); COMP_CWORD=2; _tachyonctl; [ \"\${COMPREPLY[*]}\" = 'list show drop' ]"

# --- SIGKILL of tachyon-control, then restart ---
kill -9 "$ctl_pid"
wait "$ctl_pid" 2>/dev/null
ctl_pid=''
expect_rc "control killed: stats falls back to tachyond (exit 0)" 0 T --json stats
check "fallback: warns on stderr" err_has "tachyon-control is not running"
check "fallback: same exact totals" bash -c "$PY -c 'import json,sys; s=json.load(open(\"$dir/out\")); sys.exit(not (s[\"connections\"]==7 and s[\"messages_in\"]==300 and len(s[\"lcores\"])==2))'"
expect_rc "control killed: a change is refused with 3" 3 T log level debug
expect_rc "control killed: tachyond keeps its lcore and config" 0 "$CTL" -s "$dir/none" -d "$dir/dp.sock" --json status
check "tachyond undisturbed: lcore 1 still polling, max_inflight 42" bash -c "grep -q '\"lcores\": \[' '$dir/out' && '$CTL' -s '$dir/none' -d '$dir/dp.sock' config show 2>/dev/null | grep -qx 'max_inflight_messages 42'"
check "tachyon-control restarts over the stale socket" start_ctl
check "restart reattached to the same tachyond" [ "$(status_field 's["dataplane"]["pid"]')" = "$dp1" ]
expect_rc "after reattach: stats exact again" 0 T --json stats
check "after reattach: totals" bash -c "$PY -c 'import json,sys; s=json.load(open(\"$dir/out\")); sys.exit(s[\"retained\"]!=7)'"

# --- tachyond restart: tachyon-control reattaches and pushes its live options ---
kill "$dp_pid"
wait "$dp_pid" 2>/dev/null
expect_rc "tachyond down: stats exits 3" 3 T stats
check "tachyond down: says which socket" err_has "tachyond is not answering on $dir/dp.sock"
check "tachyond down: metrics still answer, tachyon_up 0" \
	bash -c "$PY -c 'import urllib.request; b=urllib.request.urlopen(\"http://127.0.0.1:$port/metrics\", timeout=5).read().decode(); assert \"tachyon_up 0\" in b.splitlines()'"
expect_rc "tachyond down: status still answers (exit 0)" 0 T --json status
check "tachyond down: status says dataplane null" grep -q '"dataplane": null' "$dir/out"
check "new tachyond starts" start_dp
for _ in $(seq 60); do
	[ "$(status_field 's["dataplane"]["pid"]' 2>/dev/null)" = "$dp_pid" ] && break
	sleep 0.1
done
check "tachyon-control reattached to the new tachyond" [ "$(status_field 's["dataplane"]["pid"]')" = "$dp_pid" ]
check "new tachyond got the file's live options" bash -c "'$CTL' -c '$conf' config show | grep -qx 'max_inflight_messages 42'"

# --- clean stop ---
kill -TERM "$ctl_pid"
wait "$ctl_pid"
rc=$?
ctl_pid=''
check "SIGTERM: tachyon-control exits 0" [ $rc = 0 ]
check "SIGTERM: control socket removed" [ ! -e "$dir/ctl.sock" ]
expect_rc "tachyond still serving after tachyon-control stopped" 0 "$CTL" -s "$dir/none" -d "$dir/dp.sock" status

echo "1..$n"
[ $failed = 0 ]

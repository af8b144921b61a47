#!/usr/bin/env bash
# Installs what Tachyon needs to build, run and test on Debian 12, as root. Idempotent and quiet
# when everything is already there, so `make run` and `make test` can call it every time.
set -eu
pkgs=(
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
	libdpdk-dev dpdk libnuma-dev libjansson-dev libipsec-mb-dev libjemalloc-dev libssl-dev libbenchmark-dev
	mosquitto mosquitto-clients python3 python3-paho-mqtt
	iproute2 iputils-ping ethtool nftables procps psmisc kmod valgrind gnuplot-nox hping3
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the mosquitto service on install where an init system runs; the tests start
# their own Mosquitto on their own ports, so a system one only gets in the way.
if pgrep -x mosquitto >/dev/null 2>&1 && [ -x /etc/init.d/mosquitto ]; then
	/etc/init.d/mosquitto stop >/dev/null 2>&1 || true
fi

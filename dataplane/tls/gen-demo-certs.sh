#!/bin/bash
# Demo TLS material for `make run`: a CA and a server certificate for the broker's address,
# created once into DIR (default build/demo-tls) and reused afterwards.
#   gen-demo-certs.sh [DIR] [IP] [DNS]     (defaults: build/demo-tls 198.18.0.1 localhost)
# Writes ca.crt, ca.key, server.crt (leaf + CA chain), server.key; keys are 0600. Prints the
# files it created, nothing when they already existed. EC P-256, SHA-256; CA 10 years, server
# 825 days (the longest clients accept).
set -euo pipefail
DIR=${1:-build/demo-tls}
IP=${2:-198.18.0.1}
DNS=${3:-localhost}
if [ -s "$DIR/ca.crt" ] && [ -s "$DIR/server.crt" ] && [ -s "$DIR/server.key" ]; then
	exit 0
fi
mkdir -p "$DIR"
umask 077
TMP=$(mktemp -d "$DIR/.gen.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/ca.key"
openssl req -x509 -new -key "$TMP/ca.key" -sha256 -days 3650 -subj "/CN=Tachyon demo CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$TMP/ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/server.key"
openssl req -new -key "$TMP/server.key" -subj "/CN=$DNS" -out "$TMP/server.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
	"$IP" "$DNS" >"$TMP/ext.cnf"
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
	-CAcreateserial -sha256 -days 825 -extfile "$TMP/ext.cnf" -out "$TMP/leaf.crt" 2>/dev/null
cat "$TMP/leaf.crt" "$TMP/ca.crt" >"$TMP/server.crt"
chmod 644 "$TMP/ca.crt" "$TMP/server.crt"
for f in ca.key ca.crt server.key server.crt; do
	mv "$TMP/$f" "$DIR/$f"
	echo "$DIR/$f"
done

#!/usr/bin/python3
"""TLS handshake storm for tests/integration/security.sh: N TLS handshakes (CAFILE-verified),
CONC at a time, each connection closed right after its handshake; prints how many completed.
Bounded: each handshake 10 s, the whole storm 90 s.

  sec_storm.py HOST PORT CAFILE N CONC
"""
import concurrent.futures
import socket
import ssl
import sys
import time


def one(host, port, ctx):
    try:
        with socket.create_connection((host, port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=host):
                return 1
    except (OSError, ssl.SSLError):
        return 0


def main():
    host, port, cafile, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), \
        int(sys.argv[5])
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the certificate names the address; IP SAN checks vary by version
    done, end = 0, time.time() + 90
    with concurrent.futures.ThreadPoolExecutor(conc) as ex:
        futs = [ex.submit(one, host, port, ctx) for _ in range(n)]
        for f in futs:
            done += f.result(timeout=max(1, end - time.time()))
    print(done)
    return 0


if __name__ == '__main__':
    sys.exit(main())

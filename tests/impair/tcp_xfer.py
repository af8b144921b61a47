#!/usr/bin/python3
"""Bulk TCP transfer with an end-to-end SHA-256 check, for the fault self-test.

  tcp_xfer.py server --bind IP --port P [--timeout S]
      accepts one connection: reads an 8-byte length, then that many bytes, and answers with the
      hex SHA-256 of what it read; exits 0 after one transfer.
  tcp_xfer.py client --host IP --port P --bytes N [--seed S] [--timeout S]
      sends N bytes of a seeded pseudo-random stream, compares the server's digest with its own;
      prints "bytes=N seconds=T connect_ms=C sha256=H ok" and exits 0, or a FAIL line and 1.
Plain sockets, no third-party module: runs under /usr/bin/python3 in any namespace.
"""
import argparse
import hashlib
import random
import socket
import struct
import sys
import time

CHUNK = 64 * 1024


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError(f'connection closed after {len(buf)} of {n} bytes')
        buf += part
    return bytes(buf)


def server(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.bind, args.port))
    ls.listen(1)
    ls.settimeout(args.timeout)
    conn, _ = ls.accept()
    conn.settimeout(args.timeout)
    (length,) = struct.unpack('!Q', recv_exact(conn, 8))
    h = hashlib.sha256()
    left = length
    while left:
        part = conn.recv(min(CHUNK, left))
        if not part:
            raise ConnectionError(f'connection closed with {left} bytes to go')
        h.update(part)
        left -= len(part)
    conn.sendall(h.hexdigest().encode())
    conn.close()  # nothing unread is left, so this is a FIN after the digest, not a RST
    return 0


def connect(host, port, deadline):
    # The server may still be starting: retry refusals until the deadline.
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        t0 = time.monotonic()
        try:
            s.connect((host, port))
            return s, time.monotonic() - t0
        except ConnectionRefusedError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def client(args):
    start = time.monotonic()
    deadline = start + args.timeout
    s, connect_s = connect(args.host, args.port, deadline)
    rng = random.Random(args.seed)
    h = hashlib.sha256()
    s.sendall(struct.pack('!Q', args.bytes))
    left = args.bytes
    while left:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = rng.randbytes(min(CHUNK, left))
        h.update(chunk)
        s.sendall(chunk)
        left -= len(chunk)
    s.settimeout(max(0.1, deadline - time.monotonic()))
    theirs = recv_exact(s, 64).decode()
    s.close()
    took = time.monotonic() - start
    ours = h.hexdigest()
    line = f'bytes={args.bytes} seconds={took:.2f} connect_ms={connect_s * 1000:.1f} sha256={ours}'
    if theirs != ours:
        print(f'FAIL {line} server_sha256={theirs}')
        return 1
    print(f'{line} ok')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest='mode', required=True)
    sp = sub.add_parser('server')
    sp.add_argument('--bind', required=True)
    sp.add_argument('--port', type=int, required=True)
    sp.add_argument('--timeout', type=float, default=120)
    cp = sub.add_parser('client')
    cp.add_argument('--host', required=True)
    cp.add_argument('--port', type=int, required=True)
    cp.add_argument('--bytes', type=int, required=True)
    cp.add_argument('--seed', type=int, default=1)
    cp.add_argument('--timeout', type=float, default=120)
    args = ap.parse_args()
    try:
        return server(args) if args.mode == 'server' else client(args)
    except (OSError, ConnectionError) as e:
        print(f'FAIL {args.mode}: {e}')
        return 1


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""Reproduction: does a receiver send one duplicate ACK per out-of-order segment?

  dupack_tachyond.py --src IP --dst IP [--port 1883] [--segments N]

From a namespace whose kernel must not answer (run with an nftables rule dropping its own RSTs
to --dst, as dupack-repro in docs/testing-faults.md shows): a handshake by raw socket (no SACK,
no timestamps: the case of a peer that falls back to NewReno), an MQTT CONNECT so the broker
keeps the connection, then segment 1 of an MQTT PUBLISH is withheld and segments 2..N+1 are sent
back to back. RFC 5681 4.2: "a TCP receiver SHOULD send an immediate duplicate ACK when an
out-of-order segment arrives"; a NewReno sender needs three of them to fast-retransmit.
On a veth nothing is lost, so every out-of-order segment must be answered: prints
"ooo_sent=N dupacks=D" and exits 0 when D >= N, else 1.
"""
import argparse
import random
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def seg(src, dst, sport, dport, seq, ack, flags, payload=b'', opts=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags,
                      65535, 0, 0) + opts + payload
    pseudo = struct.pack('!4s4sBBH', src, dst, 0, 6, len(tcp))
    return tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--src', required=True)
    ap.add_argument('--dst', required=True)
    ap.add_argument('--port', type=int, default=1883)
    ap.add_argument('--segments', type=int, default=8)
    args = ap.parse_args()
    src, dst = socket.inet_aton(args.src), socket.inet_aton(args.dst)
    sport = random.randrange(20000, 60000)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx.settimeout(0.2)

    def send(seq, ack, flags, payload=b'', opts=b''):
        tx.sendto(seg(src, dst, sport, args.port, seq, ack, flags, payload, opts), (args.dst, 0))

    def recv_all(seconds):
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                pkt = rx.recv(65535)
            except socket.timeout:
                continue
            ihl = (pkt[0] & 15) * 4
            sp, dp, seq, ack, off, flags = struct.unpack_from('!HHIIBB', pkt, ihl)
            if pkt[12:16] == dst and sp == args.port and dp == sport:
                out.append((seq, ack, flags, len(pkt) - ihl - (off >> 4) * 4))
        return out

    iss = random.getrandbits(32)
    send(iss, 0, 0x02, opts=struct.pack('!BBH', 2, 4, 1000))  # SYN, MSS 1000 only
    synack = [s for s in recv_all(1.0) if s[2] & 0x12 == 0x12]
    if not synack:
        sys.exit('no SYN-ACK')
    irs = synack[0][0]
    snd, rcv = iss + 1, irs + 1
    send(snd, rcv, 0x10)
    cid = b'dupack-repro'
    connect = b'\x00\x04MQTT\x04\x02\x00\x3c' + struct.pack('!H', len(cid)) + cid
    connect = bytes([0x10, len(connect)]) + connect
    send(snd, rcv, 0x18, connect)
    snd += len(connect)
    got = recv_all(0.5)
    rcv = max([rcv] + [s[0] + s[3] for s in got])
    # A QoS 0 PUBLISH of (N + 1) x 1000 bytes: withhold its first 1000, send the rest at once.
    n = args.segments
    body = b'\x00\x01t' + bytes((n + 1) * 1000 - 3)
    rl, v = len(body), b''
    while True:
        b, rl = rl % 128, rl // 128
        v += bytes([b | (0x80 if rl else 0)])
        if not rl:
            break
    publish = b'\x30' + v + body
    chunks = [publish[i:i + 1000] for i in range(0, len(publish), 1000)]
    for i, c in enumerate(chunks[1:n + 1], start=1):
        send(snd + i * 1000, rcv, 0x10, c)
    acks = [s for s in recv_all(1.0) if s[3] == 0 and s[1] == snd and not s[2] & 0x07]
    print(f'ooo_sent={n} dupacks={len(acks)}', flush=True)
    # No RST at the end: the namespace's nftables rule drops ours too; tachyond's exit (or its
    # keepalive) ends the connection.
    return 0 if len(acks) >= n else 1


if __name__ == '__main__':
    sys.exit(main())

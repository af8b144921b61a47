#!/usr/bin/python3
"""Raw MQTT probes for tests/integration/security.sh: prints the broker's answer as a number so
the test can compare reason codes exactly (mosquitto clients only say "refused").

  sec_client.py connack HOST PORT VER [USER [PASS [WILLTOPIC]]]  CONNACK return/reason code
  sec_client.py puback  HOST PORT VER USER PASS TOPIC QoS 1 PUBLISH; v5: PUBACK reason code,
                                                      3.1.1: 0 when the PUBACK came
  sec_client.py suback  HOST PORT VER USER PASS FILTER SUBACK code of the one filter
VER is 4 (3.1.1) or 5. USER "-" = none. Exit 0 when an answer came, 1 otherwise (10 s bound).
"""
import socket
import sys


def varint(n):
    out = b''
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s16(b):
    return len(b).to_bytes(2, 'big') + b


def packet(ptype, body):
    return bytes([ptype]) + varint(len(body)) + body


def connect(ver, user, pw, cid, will=None):
    flags = 0x02
    payload = s16(cid.encode())
    if will is not None:
        flags |= 0x04
        payload += (b'\x00' if ver == 5 else b'') + s16(will.encode()) + s16(b'gone')
    if user is not None:
        flags |= 0x80
        payload += s16(user.encode())
        if pw is not None:
            flags |= 0x40
            payload += s16(pw.encode())
    var = s16(b'MQTT') + bytes([ver, flags]) + (30).to_bytes(2, 'big')
    if ver == 5:
        var += b'\x00'
    return packet(0x10, var + payload)


def read_packet(s):
    hdr = s.recv(1)
    if not hdr:
        raise EOFError
    n, mult = 0, 1
    while True:
        c = s.recv(1)
        if not c:
            raise EOFError
        b = c[0]
        n += (b & 0x7f) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b''
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return hdr[0], body


def main():
    op, host, port, ver = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    user = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != '-' else None
    pw = sys.argv[6] if len(sys.argv) > 6 else None
    s = socket.create_connection((host, port), timeout=10)
    will = sys.argv[7] if op == 'connack' and len(sys.argv) > 7 else None
    s.sendall(connect(ver, user, pw, 'sec-%s-%d' % (op, id(s) % 100000), will))
    t, body = read_packet(s)
    if t != 0x20:
        return 1
    if op == 'connack':
        print(body[1])
        return 0
    if body[1] != 0:
        print('connack', body[1])
        return 1
    props = b'\x00' if ver == 5 else b''
    if op == 'puback':
        topic = sys.argv[7]
        s.sendall(packet(0x32, s16(topic.encode()) + b'\x00\x07' + props + b'denied?'))
        while True:
            t, body = read_packet(s)
            if t >> 4 == 4:
                print(body[2] if ver == 5 and len(body) > 2 else 0)
                return 0
    if op == 'suback':
        filt = sys.argv[7]
        s.sendall(packet(0x82, b'\x00\x09' + props + s16(filt.encode()) + b'\x01'))
        while True:
            t, body = read_packet(s)
            if t >> 4 == 9:
                off = 2
                if ver == 5:
                    off += 1 + body[2]  # property length (small)
                print(body[off])
                return 0
    return 1


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (OSError, EOFError, IndexError):
        sys.exit(1)

#!/usr/bin/python3
"""Raw-socket probes of tachyond's limits for tests/integration/security.sh. Each prints what the
broker answered (reason codes in decimal) so the shell compares it exactly; exit 1 when the
broker did not answer at all. Every wait is bounded (sockets time out after 10 s).

  conns HOST SPEC...            SPEC PORT:VER opens a connection, sends CONNECT and keeps it
                                (PORT:VER! retries 5 s while refused 0x97: a slot being freed;
                                the retries are appended to the file $LIM_RETRIES if set);
                                SPEC drop closes the oldest accepted one.
                                Prints each CONNACK code ("-" for drop), space-separated.
  rate HOST PORT SRC N          N + 1 handshakes from source address SRC as fast as they go,
                                then N v5 CONNECTs and a 3.1.1 one on the last: prints
                                "PASSED REFUSED_0x9F OTHER V3CODE" (PASSED: 0 or 0x97)
  pubrate HOST PORT VER N       N QoS 0 PUBLISHes back to back, then a PINGREQ: prints "open"
                                (PINGRESP came), the DISCONNECT reason (v5) or "closed"
  recvmax HOST PORT             v5: reads Receive Maximum from CONNACK, sends that many QoS 2
                                PUBLISHes without PUBREL and one more: prints "RM REASON"
  queue HOST PORT N INFLIGHT    3.1.1 QoS 1 subscriber that does not acknowledge; N QoS 1
                                publishes; prints "FIRST TOTAL": messages received before any
                                PUBACK (the inflight window), and in all once it acknowledges
  keepalive HOST PORT           prints "V5_KA0 V5_KA30 V311_KA0": Server Keep Alive of a v5
                                CONNECT with keep-alive 0 and 30 ("none" when absent), and the
                                CONNACK code of a 3.1.1 CONNECT with keep-alive 0
  levels HOST PORT TOPIC        v5: SUBACK code of filter TOPIC, PUBACK code of a QoS 1 PUBLISH
                                to TOPIC: prints "SUBACK PUBACK"
  bigpacket HOST PORT VER SIZE  a QoS 0 PUBLISH with SIZE payload bytes, then a PINGREQ: prints
                                "open", the DISCONNECT reason (v5) or "closed"
  subs HOST PORT VER N          one SUBSCRIBE of N QoS 1 filters: prints the SUBACK codes
  slowloris HOST PORT SRC N SECS  N TCP connections from SRC that never send a byte: prints
                                "CLOSED FIRST LAST": how many the broker closed within SECS,
                                and the seconds after the handshake of the first and last close
"""
import os
import select
import socket
import sys
import time

from sec_client import packet, read_packet, s16


def connect_pkt(ver, cid, keepalive=30):
    var = s16(b'MQTT') + bytes([ver, 0x02]) + keepalive.to_bytes(2, 'big')
    if ver == 5:
        var += b'\x00'
    return packet(0x10, var + s16(cid.encode()))


def publish_pkt(ver, topic, qos=0, pid=0, payload=b'x'):
    body = s16(topic.encode()) + (pid.to_bytes(2, 'big') if qos else b'')
    if ver == 5:
        body += b'\x00'
    return packet(0x30 | (qos << 1), body + payload)


def props(body, off):
    """v5 properties at body[off:] as {id: raw value bytes} for the few we read."""
    n, mult, i = 0, 1, off
    while True:
        b = body[i]
        i += 1
        n += (b & 0x7f) * mult
        mult *= 128
        if not b & 0x80:
            break
    end, out = i + n, {}
    widths = {0x13: 2, 0x21: 2, 0x22: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1,
              0x2a: 1, 0x11: 4}
    while i < end:
        pid = body[i]
        i += 1
        if pid in widths:
            out[pid] = int.from_bytes(body[i:i + widths[pid]], 'big')
            i += widths[pid]
        elif pid in (0x12, 0x1a, 0x1c, 0x1f, 0x15, 0x16):
            ln = int.from_bytes(body[i:i + 2], 'big')
            i += 2 + ln
        elif pid == 0x26:
            for _ in range(2):
                ln = int.from_bytes(body[i:i + 2], 'big')
                i += 2 + ln
        else:
            break
    return out


def open_conn(host, port, ver, cid, src=None, keepalive=30):
    s = socket.create_connection((host, port), timeout=10,
                                 source_address=(src, 0) if src else None)
    s.sendall(connect_pkt(ver, cid, keepalive))
    t, body = read_packet(s)
    if t != 0x20:
        raise EOFError
    return s, body


def cmd_conns(host, specs):
    held, out, retries = [], [], 0
    for i, spec in enumerate(specs):
        if spec == 'drop':
            s = held.pop(0)
            s.close()
            out.append('-')
            continue
        # PORT:VER! retries for 5 s while refused with 0x97: the broker frees a slot when the
        # close of an earlier connection has gone through, which takes a moment.
        retry = spec.endswith('!')
        port, ver = spec.rstrip('!').split(':')
        end = time.monotonic() + 5
        while True:
            s, body = open_conn(host, int(port), int(ver),
                                'lim-%d-%d' % (i, time.monotonic_ns()))
            if not retry or body[1] != 0x97 or time.monotonic() > end:
                break
            retries += 1
            s.close()
            time.sleep(0.1)
        out.append(str(body[1]))
        if body[1] == 0:
            held.append(s)
        else:
            s.close()
    print(' '.join(out))
    for s in held:
        s.close()
    if os.environ.get('LIM_RETRIES'):  # refusals the broker counted that are not in out
        with open(os.environ['LIM_RETRIES'], 'a') as f:
            f.write('%d\n' % retries)


def cmd_rate(host, port, src, n):
    # The handshakes first (they take the tokens), the 3.1.1 one last; then each CONNECT.
    # 0x97 counts as passing the rate check: it comes after it (max_connections is reached
    # when closes lag behind).
    socks = [socket.create_connection((host, port), timeout=10, source_address=(src, 0))
             for _ in range(n + 1)]
    ok = refused = other = 0
    for i, s in enumerate(socks):
        ver = 4 if i == n else 5
        s.sendall(connect_pkt(ver, 'rate-%d' % i))
        t, body = read_packet(s)
        s.close()
        if i == n:
            v3 = body[1]
        elif body[1] in (0, 0x97):
            ok += 1
        elif body[1] == 0x9f:
            refused += 1
        else:
            other += 1
    print(ok, refused, other, v3)


def outcome(s, data):
    """Send data and a PINGREQ: "open" when the PINGRESP comes, else the DISCONNECT reason (v5)
    or "closed"."""
    try:
        s.sendall(data + b'\xc0\x00')
        while True:
            t, body = read_packet(s)
            if t == 0xd0:
                return 'open'
            if t == 0xe0:
                return body[0] if body else 0
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return 'closed'


def cmd_pubrate(host, port, ver, n):
    s, body = open_conn(host, port, ver, 'pubrate-%d' % ver)
    if body[1] != 0:
        print('refused', body[1])
        return
    print(outcome(s, b''.join(publish_pkt(ver, 'anon/rate') for _ in range(n))))


def cmd_recvmax(host, port):
    s, body = open_conn(host, port, 5, 'recvmax')
    rm = props(body, 2).get(0x21, 65535)
    s.sendall(b''.join(publish_pkt(5, 'anon/rm', 2, i + 1) for i in range(rm + 1)))
    recs = 0
    while True:
        t, body = read_packet(s)
        if t == 0x50:
            recs += 1
        elif t == 0xe0:
            print(rm, body[0], recs)
            return


def drain(s, want, wait):
    """QoS 1 PUBLISH packet ids: up to `wait` s for the first `want`, then until 0.5 s pass
    without another (so one beyond the window would be seen)."""
    ids = []
    end = time.monotonic() + wait
    try:
        while True:
            left = end - time.monotonic() if len(ids) < want else 0.5
            if left <= 0:
                break
            s.settimeout(left)
            t, body = read_packet(s)
            if t >> 4 == 3:
                tl = int.from_bytes(body[:2], 'big')
                ids.append(int.from_bytes(body[2 + tl:4 + tl], 'big'))
    except socket.timeout:
        pass
    s.settimeout(10)
    return ids


def cmd_queue(host, port, n, inflight):
    sub, _ = open_conn(host, port, 4, 'queue-sub')
    sub.sendall(packet(0x82, (1).to_bytes(2, 'big') + s16(b'anon/q') + b'\x01'))
    t, _ = read_packet(sub)
    if t != 0x90:
        raise EOFError
    pub, _ = open_conn(host, port, 4, 'queue-pub')
    # Pipelined, PUBACKs not awaited: the broker holds them back to slow a publisher whose
    # subscribers are congested (acks_held), while it routes (and drops) what arrived.
    pub.sendall(b''.join(publish_pkt(4, 'anon/q', 1, i + 1, b'%d' % i) for i in range(n)))
    time.sleep(0.5)  # all routed (and the overflow dropped) before the first acknowledgement
    first = drain(sub, inflight, 5)
    total = len(first)
    pending = first
    while pending:
        sub.sendall(b''.join(packet(0x40, p.to_bytes(2, 'big')) for p in pending))
        pending = drain(sub, inflight, 2)
        total += len(pending)
    print(len(first), total)
    pub.close()
    sub.close()


def cmd_keepalive(host, port):
    out = []
    for ka in (0, 30):
        s, body = open_conn(host, port, 5, 'ka-%d' % ka, keepalive=ka)
        out.append(str(props(body, 2).get(0x13, 'none')) if body[1] == 0 else 'refused')
        s.close()
    s, body = open_conn(host, port, 4, 'ka-v3', keepalive=0)
    out.append(str(body[1]))
    s.close()
    print(' '.join(out))


def cmd_levels(host, port, topic):
    s, body = open_conn(host, port, 5, 'levels')
    s.sendall(packet(0x82, (1).to_bytes(2, 'big') + b'\x00' + s16(topic.encode()) + b'\x01'))
    t, body = read_packet(s)
    suback = body[3] if t == 0x90 else -1
    s.sendall(publish_pkt(5, topic, 1, 7))
    t, body = read_packet(s)
    puback = (body[2] if len(body) > 2 else 0) if t == 0x40 else -1
    print(suback, puback)


def cmd_bigpacket(host, port, ver, size):
    s, body = open_conn(host, port, ver, 'big-%d' % ver)
    print(outcome(s, publish_pkt(ver, 'anon/big', 0, 0, b'x' * size)))


def cmd_subs(host, port, ver, n):
    s, body = open_conn(host, port, ver, 'subs-%d' % ver)
    filters = b''.join(s16(b'anon/s/%d' % i) + b'\x01' for i in range(n))
    s.sendall(packet(0x82, (3).to_bytes(2, 'big') + (b'\x00' if ver == 5 else b'') + filters))
    t, body = read_packet(s)
    codes = body[3 + body[2]:] if ver == 5 else body[2:]
    print(' '.join(str(c) for c in codes) if t == 0x90 else 'no suback')
    s.close()


def cmd_slowloris(host, port, src, n, secs):
    socks, opened = [], {}
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10, source_address=(src, 0))
        s.setblocking(False)
        socks.append(s)
        opened[s.fileno()] = time.monotonic()
    live, closed = {s.fileno(): s for s in socks}, []
    end = time.monotonic() + secs
    while live and time.monotonic() < end:
        r, _, _ = select.select(list(live.values()), [], [], 0.1)
        for s in r:
            try:
                data = s.recv(64)
            except ConnectionResetError:
                data = b''
            if data == b'':
                fd = s.fileno()
                closed.append(time.monotonic() - opened[fd])
                del live[fd]
    if closed:
        print(len(closed), '%.1f' % min(closed), '%.1f' % max(closed))
    else:
        print(0, '-', '-')
    for s in socks:
        s.close()


def main():
    op, host = sys.argv[1], sys.argv[2]
    a = sys.argv[3:]
    try:
        if op == 'conns':
            cmd_conns(host, a)
        elif op == 'rate':
            cmd_rate(host, int(a[0]), a[1], int(a[2]))
        elif op == 'pubrate':
            cmd_pubrate(host, int(a[0]), int(a[1]), int(a[2]))
        elif op == 'recvmax':
            cmd_recvmax(host, int(a[0]))
        elif op == 'queue':
            cmd_queue(host, int(a[0]), int(a[1]), int(a[2]))
        elif op == 'keepalive':
            cmd_keepalive(host, int(a[0]))
        elif op == 'levels':
            cmd_levels(host, int(a[0]), a[1])
        elif op == 'bigpacket':
            cmd_bigpacket(host, int(a[0]), int(a[1]), int(a[2]))
        elif op == 'subs':
            cmd_subs(host, int(a[0]), int(a[1]), int(a[2]))
        elif op == 'slowloris':
            cmd_slowloris(host, int(a[0]), a[1], int(a[2]), float(a[3]))
        else:
            print('unknown op', op)
            return 2
    except (EOFError, OSError) as e:
        print('no answer:', e)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""MQTT over WebSocket checks against a broker (tests/integration/websocket.sh runs them against
tachyond). Prints TAP lines ("ok N - name" / "not ok N - name", then "1..N").

  ws_client.py paho HOST WS_PORT TCP_PORT   paho-mqtt 1.6 (transport="websockets") publishes and
                                            subscribes at QoS 0/1/2, v3.1.1 and v5, WS->TCP,
                                            TCP->WS and WS->WS; every message arrives once, in
                                            order, at the QoS asked for
  ws_client.py raw HOST WS_PORT TCP_PORT    raw sockets: the 101 reply's headers, the accept key,
                                            MQTT across frames, ping/pong, refusals (text frame
                                            1003, unmasked 1002, no subprotocol 400, version
                                            426), the close handshake, a will after a bare close,
                                            large publishes in whole and fragmented frames
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt

N = 0
FAILED = 0


def tap(ok, name, why=''):
    global N, FAILED
    N += 1
    FAILED += 0 if ok else 1
    print('%s %d - %s' % ('ok' if ok else 'not ok', N, name), flush=True)
    if not ok and why:
        print('#   %s' % why, flush=True)


# ---- paho ----

class Sub:
    def __init__(self, host, port, ws, version, cid, topic, qos):
        self.got, self.ready, self.done = [], threading.Event(), threading.Event()
        self.c = make_client(cid, ws, version)
        self.topic, self.qos = topic, qos
        self.c.on_connect = self.on_connect
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = self.on_message
        self.c.connect(host, port, 30)
        self.c.loop_start()

    def on_connect(self, c, u, f, rc, props=None):
        c.subscribe(self.topic, self.qos)

    def on_message(self, c, u, m):
        self.got.append((m.payload, m.qos))

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def make_client(cid, ws, version):
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    kw = {} if version == 5 else {'clean_session': True}
    c = mqtt.Client(cid, protocol=proto, transport='websockets' if ws else 'tcp', **kw)
    if ws:
        c.ws_set_options(path='/mqtt')
    return c


def pubsub(host, ws_port, tcp_port, version, qos, pub_ws, sub_ws, n=20, size=50):
    tag = '%s->%s v%s qos %d' % ('ws' if pub_ws else 'tcp', 'ws' if sub_ws else 'tcp',
                                  '5' if version == 5 else '3.1.1', qos)
    if size > 50:
        tag += ', %d messages of %d KB' % (n, n * size // 1000)
    topic = 'wst/%d/%d/%d%d/%d' % (version, qos, pub_ws, sub_ws, os.getpid())
    sub = Sub(host, ws_port if sub_ws else tcp_port, sub_ws, version, 'wss%d%d%d%d' % (
        version, qos, pub_ws, sub_ws), topic, qos)
    if not sub.ready.wait(10):
        sub.stop()
        return tap(False, tag, 'subscriber got no SUBACK')
    pub = make_client('wsp%d%d%d%d' % (version, qos, pub_ws, sub_ws), pub_ws, version)
    pub.connect(host, ws_port if pub_ws else tcp_port, 30)
    pub.loop_start()
    infos = [pub.publish(topic, b'm%03d' % i + b'x' * (i * size), qos) for i in range(n)]
    end = time.time() + 15
    for i in infos:
        i.wait_for_publish(max(0.1, end - time.time()))
    while len(sub.got) < n and time.time() < end:
        time.sleep(0.05)
    time.sleep(0.2)  # a duplicate would show up here
    pub.disconnect()
    pub.loop_stop()
    sub.stop()
    want = [(b'm%03d' % i + b'x' * (i * size), qos) for i in range(n)]
    published = all(i.is_published() for i in infos)
    tap(sub.got == want and published, tag,
        'published %s, got %d of %d (first %r)' % (published, len(sub.got), n, sub.got[:1]))


def run_paho(host, ws_port, tcp_port):
    for version in (4, 5):
        for qos in (0, 1, 2):
            for pub_ws, sub_ws in ((1, 0), (0, 1), (1, 1)):
                pubsub(host, ws_port, tcp_port, version, qos, pub_ws, sub_ws)
    # Output over TCP's send space (frames sized to it). Large publishes *from* paho over
    # WebSocket are raw_large's: paho 1.6's _packet_write drops a packet whose WebSocket frame
    # the kernel took only in part (write_length 0 -> break, no appendleft), then counts the
    # frame's rest against the next packet, which it sends truncated.
    pubsub(host, ws_port, tcp_port, 5, 1, 0, 1, n=6, size=40000)


# ---- raw sockets ----

KEY = base64.b64encode(os.urandom(16)).decode()
GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


def upgrade(host, port, proto='mqtt', version='13', key=KEY, chunks=1, after=b''):
    """Send the upgrade request (in `chunks` pieces 50 ms apart, followed in the last one by
    `after`), read the reply's head: (socket, status line, headers, bytes after the head)."""
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = ('GET /mqtt HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n' % (host, port, key, version))
    if proto:
        req += 'Sec-WebSocket-Protocol: %s\r\n' % proto
    data = (req + '\r\n').encode()
    step = -(-len(data) // chunks)
    for i in range(0, len(data), step):
        if i:
            time.sleep(0.05)
        s.sendall(data[i:i + step] + (after if i + step >= len(data) else b''))
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b'\r\n\r\n')
    lines = head.decode(errors='replace').split('\r\n')
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    return s, lines[0], hdrs, rest


def frame(op, data, fin=True, masked=True):
    n = len(data)
    h = bytes([(0x80 if fin else 0) | op])
    m = 0x80 if masked else 0
    if n < 126:
        h += bytes([m | n])
    elif n < 65536:
        h += bytes([m | 126]) + struct.pack('!H', n)
    else:
        h += bytes([m | 127]) + struct.pack('!Q', n)
    if not masked:
        return h + data
    key = os.urandom(4)
    return h + key + bytes(b ^ key[i & 3] for i, b in enumerate(data))


class Frames:
    """Reads server frames (unmasked) from a socket, keeping what the handshake left over."""

    def __init__(self, s, rest=b''):
        self.s, self.buf = s, rest

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return False
            if not d:
                return False
            self.buf += d
        return True

    def next(self, timeout=5):
        """(fin, opcode, payload), or None when the connection ended or went quiet."""
        end = time.time() + timeout
        if not self._need(2, end):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, h = b1 & 0x7f, 2
        if b1 & 0x80:
            return ('masked', b0 & 0x0f, b'')  # servers must not mask
        if n == 126:
            if not self._need(4, end):
                return None
            n, h = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10, end):
                return None
            n, h = struct.unpack('!Q', self.buf[2:10])[0], 10
        if not self._need(h + n, end):
            return None
        data = self.buf[h:h + n]
        self.buf = self.buf[h + n:]
        return (b0 >> 7, b0 & 0x0f, data)

    def eof(self, timeout=5):
        """True once the server closed the TCP connection (nothing more arrives)."""
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not d:
                return True
            self.buf += d
        return False


def mqtt_connect(cid, will=None):
    cidb = cid.encode()
    flags, payload = 0x02, struct.pack('!H', len(cidb)) + cidb
    if will:
        flags |= 0x04 | 0x08  # will QoS 1
        payload += struct.pack('!H', len(will[0])) + will[0] + struct.pack('!H', len(will[1])) + \
            will[1]
    body = b'\x00\x04MQTT\x04' + bytes([flags]) + b'\x00\x3c' + payload
    return bytes([0x10, len(body)]) + body


def mqtt_stream(frames, timeout=5):
    """The MQTT bytes of the next binary frames until one packet is complete."""
    data = b''
    end = time.time() + timeout
    while True:
        f = frames.next(max(0.01, end - time.time()))
        if f is None or f[1] not in (0, 2):
            return data, f
        data += f[2]
        if len(data) >= 2 and len(data) >= 2 + data[1]:
            return data, None


def raw_upgrade_headers(host, port):
    s, status, h, _ = upgrade(host, port)
    want = base64.b64encode(hashlib.sha1((KEY + GUID).encode()).digest()).decode()
    tap(status.startswith('HTTP/1.1 101 '), 'upgrade: 101 Switching Protocols', status)
    tap(h.get('upgrade', '').lower() == 'websocket' and 'upgrade' in
        h.get('connection', '').lower(), 'upgrade: Upgrade: websocket, Connection: Upgrade', h)
    tap(h.get('sec-websocket-accept') == want, 'upgrade: Sec-WebSocket-Accept (RFC 6455 4.2.2)',
        '%s != %s' % (h.get('sec-websocket-accept'), want))
    tap(h.get('sec-websocket-protocol') == 'mqtt', 'MQTT-6.0.0-4: subprotocol mqtt selected', h)
    s.close()


def raw_handshake_pieces(host, port):
    """The request in three segments; then a request with CONNECT right behind it."""
    s, status, h, _ = upgrade(host, port, chunks=3)
    tap(status.startswith('HTTP/1.1 101 ') and h.get('sec-websocket-protocol') == 'mqtt',
        'upgrade: a request in three segments', status)
    s.close()
    s, status, _, rest = upgrade(host, port, after=frame(2, mqtt_connect('ws-raw-pipelined')))
    data, bad = mqtt_stream(Frames(s, rest))
    tap(status.startswith('HTTP/1.1 101 ') and data == b'\x20\x02\x00\x00',
        'upgrade: CONNECT in the request\'s segment gets CONNACK', '%s %r %r' % (status, data, bad))
    s.close()


def raw_across_frames(host, port):
    s, status, _, rest = upgrade(host, port, proto='foo, mqtt')
    f = Frames(s, rest)
    c = mqtt_connect('ws-raw-split')
    # CONNECT in three frames of one message with a ping between, then PINGREQ + half of
    # DISCONNECT in one frame, the other half in the next
    s.sendall(frame(2, c[:3], fin=False) + frame(0, c[3:9], fin=False) + frame(9, b'hi') +
              frame(0, c[9:]))
    got = f.next()
    tap(got is not None and got[1] == 0xA and got[2] == b'hi', 'ping answered by pong', got)
    data, bad = mqtt_stream(f)
    tap(data == b'\x20\x02\x00\x00' and bad is None,
        'MQTT-6.0.0-2: CONNECT across three frames gets CONNACK', '%r %r' % (data, bad))
    s.sendall(frame(2, b'\xc0\x00\xe0'))
    data, bad = mqtt_stream(f)
    tap(data == b'\xd0\x00', 'MQTT-6.0.0-2: PINGREQ and half a packet in one frame', data)
    s.sendall(frame(2, b'\x00'))  # the DISCONNECT's second byte
    got = f.next()
    tap(got is not None and got[1] == 8 and got[2][:2] == b'\x03\xe8' and f.eof(),
        'DISCONNECT: the server sends close 1000, then closes TCP', got)
    s.close()


def raw_refused(host, port, name, payload, code):
    s, status, _, rest = upgrade(host, port)
    f = Frames(s, rest)
    s.sendall(frame(2, mqtt_connect('ws-raw-' + name)))
    data, _ = mqtt_stream(f)
    s.sendall(payload)
    got = f.next()
    ok = got is not None and got[1] == 8 and got[2][:2] == struct.pack('!H', code)
    tap(data == b'\x20\x02\x00\x00' and ok and f.eof(), name, '%r %r' % (data, got))
    s.close()


def raw_http_refusal(host, port, name, want, **kw):
    s, status, h, _ = upgrade(host, port, **kw)
    closed = Frames(s).eof()
    tap(status.startswith('HTTP/1.1 %d ' % want) and closed, name, '%s %s' % (status, h))
    if want == 426:
        tap(h.get('sec-websocket-version') == '13', 'upgrade: 426 names version 13', h)
    s.close()


def raw_close_and_will(host, ws_port, tcp_port):
    """A client close frame is echoed; without DISCONNECT the will goes out (to a TCP client)."""
    t = socket.create_connection((host, tcp_port), timeout=5)
    t.sendall(mqtt_connect('ws-raw-willsub'))
    t.recv(4)
    topic = b'wsw/%d' % os.getpid()
    t.sendall(bytes([0x82, 5 + len(topic), 0, 1, 0, len(topic)]) + topic + b'\x01')
    suback = t.recv(5)
    s, _, _, rest = upgrade(host, ws_port)
    f = Frames(s, rest)
    s.sendall(frame(2, mqtt_connect('ws-raw-will', will=(topic, b'gone'))))
    connack, _ = mqtt_stream(f)
    s.sendall(frame(8, b'\x03\xe9bye'))  # 1001 going away
    got = f.next()
    tap(connack == b'\x20\x02\x00\x00' and got is not None and got[1] == 8 and
        got[2][:2] == b'\x03\xe9' and f.eof(), 'close frame echoed (1001), then TCP closed',
        '%r %r' % (connack, got))
    t.settimeout(5)
    data = b''
    try:
        while len(data) < 4 + len(topic) + 4:
            d = t.recv(256)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    tap(suback[:1] == b'\x90' and data[:1] == b'\x32' and data.endswith(b'gone'),
        'close without DISCONNECT: the will reaches a TCP subscriber', '%r %r' % (suback, data))
    t.close()
    s.close()


def publish_packet(topic, payload, pid):
    body = struct.pack('!H', len(topic)) + topic + struct.pack('!H', pid) + payload
    n, vbi = len(body), b''
    while True:
        vbi += bytes([(n % 128) | (0x80 if n >= 128 else 0)])
        n //= 128
        if not n:
            return b'\x32' + vbi + body


def raw_large(host, ws_port, tcp_port):
    """Six QoS 1 publishes up to 200 KB from a raw WebSocket client, each in one frame (64-bit
    length) and then in 1000-byte fragments, to a paho subscriber over TCP and one over WS."""
    topic = b'wsl/%d' % os.getpid()
    subs = [Sub(host, tcp_port, 0, 5, 'wsl-tcp', topic.decode(), 1),
            Sub(host, ws_port, 1, 5, 'wsl-ws', topic.decode(), 1)]
    ready = all(x.ready.wait(10) for x in subs)
    s, _, _, rest = upgrade(host, ws_port)
    f = Frames(s, rest)
    s.sendall(frame(2, mqtt_connect('wsl-pub')))
    connack, _ = mqtt_stream(f)
    want, acks = [], []
    for i in range(12):
        payload = b'L%03d' % i + bytes([i]) * ((i % 6) * 40000)
        p = publish_packet(topic, payload, i + 1)
        if i < 6:
            s.sendall(frame(2, p))
        else:
            parts = [p[k:k + 1000] for k in range(0, len(p), 1000)]
            s.sendall(b''.join(frame(2 if k == 0 else 0, x, fin=k == len(parts) - 1)
                               for k, x in enumerate(parts)))
        want.append((payload, 1))
        acks.append(mqtt_stream(f, 15)[0])
    end = time.time() + 20
    while any(len(x.got) < len(want) for x in subs) and time.time() < end:
        time.sleep(0.05)
    time.sleep(0.2)
    for x in subs:
        x.stop()
    s.close()
    ok_acks = acks == [b'\x40\x02' + struct.pack('!H', i + 1) for i in range(12)]
    tap(ready and connack == b'\x20\x02\x00\x00' and ok_acks and subs[0].got == want,
        'raw ws->tcp v5 qos 1, 12 messages of 1.2 MB (whole and fragmented frames)',
        'acks %s, got %d of 12' % (ok_acks, len(subs[0].got)))
    tap(ready and subs[1].got == want,
        'raw ws->ws v5 qos 1, 12 messages of 1.2 MB (whole and fragmented frames)',
        'got %d of 12' % len(subs[1].got))


def raw_close_with_backlog(host, ws_port, tcp_port):
    """A close frame from a client that stopped reading while the broker holds output: the
    backlog, then the echoed close frame, then FIN (no reset)."""
    topic = b'wsb/%d' % os.getpid()
    s, _, _, rest = upgrade(host, ws_port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    f = Frames(s, rest)
    s.sendall(frame(2, mqtt_connect('wsb-sub')))
    connack, _ = mqtt_stream(f)
    s.sendall(frame(2, bytes([0x82, 5 + len(topic), 0, 1, 0, len(topic)]) + topic + b'\x01'))
    suback, _ = mqtt_stream(f)
    t = socket.create_connection((host, tcp_port), timeout=5)
    t.sendall(mqtt_connect('wsb-pub'))
    t.recv(4)
    for i in range(40):  # 2 MB at QoS 1 towards a reader that has stopped: the broker holds some
        body = struct.pack('!H', len(topic)) + topic + struct.pack('!H', i + 1) + b'z' * 50000
        t.sendall(b'\x32' + bytes([(len(body) & 127) | 128, ((len(body) >> 7) & 127) | 128,
                                   len(body) >> 14]) + body)
    time.sleep(1)
    s.sendall(frame(8, b'\x03\xe8'))
    data_frames, close, how = 0, None, 'quiet'
    end = time.time() + 20
    while time.time() < end:
        got = f.next(max(0.1, end - time.time()))
        if got is None:
            break
        if got[1] == 8:
            close = got[2]
            break
        data_frames += 1
    if close is not None:
        s.settimeout(5)
        try:
            how = 'fin' if s.recv(4096) == b'' else 'data after close'
        except ConnectionResetError:
            how = 'reset'
        except socket.timeout:
            how = 'no fin'
    tap(connack == b'\x20\x02\x00\x00' and suback[:1] == b'\x90' and data_frames > 0 and
        close == b'\x03\xe8' and how == 'fin', 'close frame behind a backlog: data, the echoed close, then FIN',
        'data frames %d, close %r, then %s' % (data_frames, close, how))
    t.close()
    s.close()


def run_raw(host, ws_port, tcp_port):
    raw_upgrade_headers(host, ws_port)
    raw_handshake_pieces(host, ws_port)
    raw_across_frames(host, ws_port)
    raw_refused(host, ws_port, 'MQTT-6.0.0-1: a text frame closes with 1003',
                frame(1, b'\xc0\x00'), 1003)
    raw_refused(host, ws_port, 'an unmasked client frame closes with 1002 (RFC 6455 5.1)',
                frame(2, b'\xc0\x00', masked=False), 1002)
    raw_http_refusal(host, ws_port, 'MQTT-6.0.0-3: no mqtt subprotocol is refused with 400', 400,
                     proto=None)
    raw_http_refusal(host, ws_port, 'upgrade: Sec-WebSocket-Version 8 is refused with 426', 426,
                     version='8')
    raw_close_and_will(host, ws_port, tcp_port)
    raw_large(host, ws_port, tcp_port)
    raw_close_with_backlog(host, ws_port, tcp_port)


def main():
    mode, host, ws_port, tcp_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == 'paho':
        run_paho(host, ws_port, tcp_port)
    else:
        run_raw(host, ws_port, tcp_port)
    print('1..%d' % N)
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())

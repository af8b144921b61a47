# SPDX-License-Identifier: Apache-2.0
"""A raw MQTT 3.1/3.1.1/5.0 test client: Python standard library sockets only.

It writes exactly the bytes a test asks for (including malformed ones) and reads packets back
without interpreting them beyond the fixed header, so conformance tests can assert on bytes.
"""
import socket
import struct
import time


class Closed(Exception):
    """The server closed the connection."""


def vbi(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x):
    """UTF-8 string (or bytes) with its 2-byte length."""
    if isinstance(x, str):
        x = x.encode()
    return struct.pack('!H', len(x)) + x


def packet(type_flags, body):
    return bytes([type_flags]) + vbi(len(body)) + body


# v5 properties: list of (id, value); the wire type follows the id.
_U8 = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_U16 = {0x13, 0x21, 0x22, 0x23}
_U32 = {0x02, 0x11, 0x18, 0x27}
_VBI = {0x0B}
_BIN = {0x09, 0x16}


def props(items=()):
    out = bytearray()
    for pid, v in items:
        out += vbi(pid)
        if pid in _U8:
            out.append(v)
        elif pid in _U16:
            out += struct.pack('!H', v)
        elif pid in _U32:
            out += struct.pack('!I', v)
        elif pid in _VBI:
            out += vbi(v)
        elif pid == 0x26:
            out += s(v[0]) + s(v[1])
        else:
            out += s(v)
    return vbi(len(out)) + bytes(out)


def parse_props(b):
    """Decode a v5 property block (with its length) -> (dict id -> value or list, rest)."""
    n, i, mult = 0, 0, 1
    while True:
        n += (b[i] & 0x7F) * mult
        mult *= 128
        i += 1
        if not b[i - 1] & 0x80:
            break
    blk, rest = b[i:i + n], b[i + n:]
    out, j = {}, 0
    while j < len(blk):
        pid = blk[j]
        j += 1
        if pid in _U8:
            v = blk[j]
            j += 1
        elif pid in _U16:
            v = struct.unpack('!H', blk[j:j + 2])[0]
            j += 2
        elif pid in _U32:
            v = struct.unpack('!I', blk[j:j + 4])[0]
            j += 4
        elif pid in _VBI:
            v, mult = 0, 1
            while True:
                v += (blk[j] & 0x7F) * mult
                mult *= 128
                j += 1
                if not blk[j - 1] & 0x80:
                    break
        elif pid == 0x26:
            k = struct.unpack('!H', blk[j:j + 2])[0]
            key = blk[j + 2:j + 2 + k]
            j += 2 + k
            k = struct.unpack('!H', blk[j:j + 2])[0]
            v = (key, blk[j + 2:j + 2 + k])
            j += 2 + k
        else:
            k = struct.unpack('!H', blk[j:j + 2])[0]
            v = blk[j + 2:j + 2 + k]
            j += 2 + k
        if pid in (0x26, 0x0B):
            out.setdefault(pid, []).append(v)
        else:
            out[pid] = v
    return out, rest


def connect(cid, version=4, clean=True, keepalive=60, will=None, user=None, password=None,
            props_=(), will_props=(), flags_extra=0):
    """CONNECT. will = (topic, payload, qos, retain)."""
    name = b'MQIsdp' if version == 3 else b'MQTT'
    flags = (0x02 if clean else 0) | flags_extra
    payload = s(cid)
    if will:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
        if version == 5:
            payload += props(will_props)
        payload += s(will[0]) + s(will[1])
    if user is not None:
        flags |= 0x80
        payload += s(user)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    vh = s(name) + bytes([version, flags]) + struct.pack('!H', keepalive)
    if version == 5:
        vh += props(props_)
    return packet(0x10, vh + payload)


def publish(topic, payload=b'', qos=0, pid=None, retain=False, dup=False, version=4, props_=()):
    if isinstance(payload, str):
        payload = payload.encode()
    body = s(topic)
    if qos:
        body += struct.pack('!H', pid)
    if version == 5:
        body += props(props_)
    return packet(0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0), body + payload)


def subscribe(pid, filters, version=4, props_=()):
    """filters: list of (filter, options byte)."""
    body = struct.pack('!H', pid)
    if version == 5:
        body += props(props_)
    for f, o in filters:
        body += s(f) + bytes([o])
    return packet(0x82, body)


def unsubscribe(pid, filters, version=4):
    body = struct.pack('!H', pid)
    if version == 5:
        body += props()
    for f in filters:
        body += s(f)
    return packet(0xA2, body)


def ack(type_flags, pid):
    return packet(type_flags, struct.pack('!H', pid))


PUBACK, PUBREC, PUBREL, PUBCOMP = 0x40, 0x50, 0x62, 0x70
PINGREQ = b'\xc0\x00'
DISCONNECT = b'\xe0\x00'


class Publish:
    """A received PUBLISH, decoded."""

    def __init__(self, flags, body, version):
        self.dup = bool(flags & 8)
        self.qos = (flags >> 1) & 3
        self.retain = bool(flags & 1)
        n = struct.unpack('!H', body[:2])[0]
        self.topic = body[2:2 + n].decode()
        rest = body[2 + n:]
        self.pid = None
        if self.qos:
            self.pid = struct.unpack('!H', rest[:2])[0]
            rest = rest[2:]
        self.props = {}
        if version == 5:
            self.props, rest = parse_props(rest)
        self.payload = bytes(rest)


class Client:
    def __init__(self, host, port, version=4, timeout=3.0):
        self.version = version
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError
        except ConnectionResetError:
            d = b''
        if not d:
            raise Closed
        self.buf += d

    def recv(self, timeout=None):
        """The next packet as (type, flags, body); raises TimeoutError or Closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 2:
                n, i, mult = 0, 1, 1
                while i < len(self.buf):
                    n += (self.buf[i] & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not self.buf[i - 1] & 0x80:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n:
                    t = self.buf[0]
                    body, self.buf = self.buf[i:i + n], self.buf[i + n:]
                    return t >> 4, t & 15, body
            self._fill(deadline)

    def recv_publish(self, timeout=None):
        t, f, b = self.recv(timeout)
        if t != 3:
            raise AssertionError('expected PUBLISH, got type %d' % t)
        return Publish(f, b, self.version)

    def closed(self, timeout=2.0):
        """True when the server closes the connection within timeout (packets before the close
        are skipped)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.buf = b''
                self._fill(deadline)
        except Closed:
            return True
        except TimeoutError:
            return False

    def silent(self, timeout=0.3):
        """True when nothing arrives within timeout."""
        try:
            self.recv(timeout)
            return False
        except TimeoutError:
            return True

    def connack(self):
        t, f, b = self.recv()
        if t != 2:
            raise AssertionError('expected CONNACK, got type %d' % t)
        sp, rc = b[0], b[1]
        p = parse_props(b[2:])[0] if self.version == 5 else {}
        return sp, rc, p


def connected(host, port, cid, version=4, clean=True, **kw):
    """A client past CONNACK (accepted)."""
    c = Client(host, port, version)
    c.send(connect(cid, version, clean, **kw))
    sp, rc, p = c.connack()
    if rc != 0:
        raise AssertionError('CONNACK refused: %d' % rc)
    c.session_present, c.connack_props = sp, p
    return c

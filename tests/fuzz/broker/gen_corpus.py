#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the broker fuzzer's seed corpus: real conversations (3.1, 3.1.1, 5.0) in the record format
fuzz_broker.c reads. Packets come from tests/conformance/mqtt_raw.py, an independent encoder.

  gen_corpus.py OUTDIR
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'conformance'))
import mqtt_raw as m  # noqa: E402

HOOKS, SMALL, DROP_OLDEST, RETRY = 16, 32, 4, 8


class Conv:
    def __init__(self, cfg=0):
        self.b = bytearray([cfg])

    def send(self, c, data, action=0):
        data = bytes(data)
        while True:
            chunk, data = data[:255], data[255:]
            self.b += bytes([(action << 2) | c, len(chunk)]) + chunk
            if not data:
                return self

    def clock(self, step):
        self.b += bytes([4 << 2, step])
        return self

    def gone(self, c):
        self.b += bytes([(5 << 2) | c])
        return self

    def window(self, c, w):
        self.b += bytes([(6 << 2) | c, w])
        return self

    def auth_done(self, c, reason):
        self.b += bytes([(7 << 2) | c, reason])
        return self


def auth(reason, props_=()):
    return m.packet(0xF0, bytes([reason]) + m.props(props_))


def disconnect5(reason=0, props_=()):
    return m.packet(0xE0, bytes([reason]) + m.props(props_))


def ack5(tf, pid, reason=0):
    return m.packet(tf, struct.pack('!H', pid) + bytes([reason]) + m.props())


def convs():
    out = {}
    for v in (3, 4, 5):
        c = Conv()
        c.send(0, m.connect('sub%d' % v, version=v))
        c.send(0, m.subscribe(1, [('a/+', 1), ('a/#', 2), ('+/b', 0)], version=v))
        c.send(1, m.connect('pub%d' % v, version=v))
        c.send(1, m.publish('a/b', 'q0', version=v))
        c.send(1, m.publish('a/b', 'q1', qos=1, pid=1, version=v))
        c.send(1, m.publish('a/b', 'q2', qos=2, pid=2, version=v))
        c.send(1, m.ack(m.PUBREL, 2))
        c.send(0, m.ack(m.PUBACK, 1) + m.ack(m.PUBREC, 2))
        c.send(0, m.ack(m.PUBCOMP, 2))
        c.send(0, m.unsubscribe(3, ['a/+'], version=v) + m.PINGREQ)
        c.send(1, m.DISCONNECT).send(0, m.DISCONNECT)
        out['qos-flows-v%d' % v] = c
        # retained: set, replace, wildcard subscribe, delete
        c = Conv()
        c.send(1, m.connect('r%d' % v, version=v))
        c.send(1, m.publish('r/x', 'one', retain=True, version=v))
        c.send(1, m.publish('r/x/y', 'two', qos=1, pid=5, retain=True, version=v))
        c.send(1, m.publish('$SYS/r', 'sys', retain=True, version=v))
        c.send(0, m.connect('rs%d' % v, version=v))
        c.send(0, m.subscribe(2, [('r/#', 1), ('#', 0)], version=v))
        c.send(1, m.publish('r/x', '', retain=True, version=v))
        c.send(0, m.subscribe(3, [('r/+', 2)], version=v))
        out['retained-v%d' % v] = c
        # will on a transport that goes away; on keep-alive expiry
        c = Conv()
        c.send(0, m.connect('w%d' % v, version=v))
        c.send(0, m.subscribe(1, [('will/#', 2)], version=v))
        c.send(1, m.connect('wd%d' % v, version=v, will=('will/t', b'bye', 1, True),
                           will_props=[(0x18, 2), (0x01, 1), (0x03, 'text/plain')] if v == 5
                           else ()))
        c.send(2, m.connect('wk%d' % v, version=v, keepalive=1, will=('will/k', b'ka', 2, False)))
        c.gone(1).clock(40).clock(60)
        out['will-v%d' % v] = c
        # persistent session: queued while offline, delivered (DUP redelivery) on return
        c = Conv()
        ps = [(0x11, 300)] if v == 5 else ()
        c.send(0, m.connect('p%d' % v, version=v, clean=False, props_=ps))
        c.send(0, m.subscribe(1, [('q/#', 2)], version=v))
        c.send(1, m.connect('pp%d' % v, version=v))
        c.send(1, m.publish('q/1', 'x', qos=1, pid=1, version=v))
        c.gone(0)
        c.send(1, m.publish('q/2', 'y', qos=2, pid=2, version=v))
        c.send(1, m.ack(m.PUBREL, 2))
        c.send(0, m.connect('p%d' % v, version=v, clean=False, props_=ps))
        c.send(0, m.ack(m.PUBACK, 1) + m.ack(m.PUBREC, 2) + m.ack(m.PUBCOMP, 2))
        c.send(2, m.connect('p%d' % v, version=v, clean=False, props_=ps))  # takeover
        c.clock(200)
        out['session-v%d' % v] = c
        # shared subscriptions, each policy
        for pol in (0, 2, 3):
            c = Conv(pol)
            c.send(0, m.connect('s0', version=v))
            c.send(0, m.subscribe(1, [('$share/g/t/#', 1)], version=v))
            c.send(2, m.connect('s2', version=v))
            c.send(2, m.subscribe(1, [('$share/g/t/#', 1), ('$share/h/+/x', 0)], version=v))
            c.send(1, m.connect('sp', version=v))
            for i in range(4):
                c.send(1, m.publish('t/x', 'm%d' % i, qos=1, pid=10 + i, version=v))
            c.send(2, m.unsubscribe(4, ['$share/g/t/#'], version=v))
            c.gone(0)
            c.send(1, m.publish('t/x', 'last', qos=1, pid=20, version=v))
            out['share-p%d-v%d' % (pol, v)] = c
        # back-pressure: a subscriber whose transport takes little
        c = Conv(SMALL | DROP_OLDEST)
        c.send(0, m.connect('bp', version=v, clean=False, keepalive=20, props_=ps))
        c.send(0, m.subscribe(1, [('b/#', 1)], version=v))
        c.window(0, 2)
        c.send(1, m.connect('bpp', version=v, keepalive=20))
        for i in range(8):
            c.send(1, m.publish('b/%d' % i, 'x' * 40, qos=1, pid=i + 1, version=v))
        c.window(0, 255).send(0, m.ack(m.PUBACK, 1) + m.ack(m.PUBACK, 2))
        c.send(1, m.subscribe(2, [('b/1', 0), ('b/2', 0), ('b/3', 0), ('b/4', 0), ('b/5', 0)],
                              version=v))
        c.send(1, m.publish('a/' * 40, 'long topic', version=v))
        out['limits-v%d' % v] = c
        # logins through the hooks: refused, parked then accepted, ACL denials
        c = Conv(HOOKS)
        c.send(0, m.connect('h0', version=v, user='bad', password='x'))
        c.send(1, m.connect('h1', version=v, user='park', password='x'))
        c.send(1, m.subscribe(1, [('x/#', 1), ('deny/#', 1)], version=v))
        c.auth_done(1, 0)
        c.send(2, m.connect('h2', version=v, user='park'))
        c.auth_done(2, 0x87)
        c.send(3, m.connect('h3', version=v, will=('deny/w', b'', 0, False)))
        c.send(0, m.connect('h0', version=v))
        c.send(0, m.publish('x/1', 'ok', qos=1, pid=1, version=v))
        c.send(0, m.publish('deny/1', 'no', qos=1, pid=2, version=v))
        c.send(0, m.publish('rate/1', 'no', qos=1, pid=3, version=v))
        out['hooks-v%d' % v] = c
        # retry interval and a malformed packet mid-stream
        c = Conv(RETRY)
        c.send(0, m.connect('rt', version=v))
        c.send(0, m.subscribe(1, [('r', 1)], version=v))
        c.send(0, m.publish('r', 'again', qos=1, pid=1, version=v))
        c.clock(50).clock(50)
        c.send(0, b'\x30\x03\x00\x01+')
        out['retry-v%d' % v] = c

    # v5 only: properties, topic aliases both ways, AUTH, server keep alive, reasons
    c = Conv()
    c.send(0, m.connect('v5a', version=5, props_=[(0x11, 10), (0x21, 5), (0x22, 4), (0x27, 2048),
                                                 (0x19, 1), (0x17, 1), (0x26, ('k', 'v'))]))
    c.send(0, m.subscribe(1, [('t/#', 0x2E), ('t/+', 0x01)], version=5, props_=[(0x0B, 7)]))
    c.send(1, m.connect('v5b', version=5, keepalive=0))
    c.send(1, m.publish('t/a', 'p', qos=1, pid=1, version=5,
                        props_=[(0x23, 1), (0x02, 30), (0x01, 1), (0x03, 'ct'), (0x08, 'resp/t'),
                                (0x09, b'corr'), (0x26, ('a', 'b')), (0x26, ('a', 'c'))]))
    c.send(1, m.publish('', 'alias', qos=1, pid=2, version=5, props_=[(0x23, 1)]))
    c.send(1, m.publish('', 'bad alias', version=5, props_=[(0x23, 9)]))
    c.send(0, ack5(0x40, 1) + ack5(0x40, 2, 0x10))
    c.send(0, m.subscribe(2, [('t/#', 0x21)], version=5))
    c.send(1, m.publish('t/nl', 'x', qos=2, pid=3, version=5, props_=[(0x02, 1)]))
    c.clock(60)
    c.send(1, ack5(0x62, 3, 0x92))
    c.send(0, disconnect5(0x04, [(0x11, 0)]))
    out['props-v5'] = c
    c = Conv(HOOKS)
    c.send(0, m.connect('au', version=5, props_=[(0x15, 'M'), (0x16, b'more')]))
    c.send(0, auth(0x18, [(0x15, 'M'), (0x16, b'ok')]))
    c.send(0, auth(0x19, [(0x15, 'M'), (0x16, b'ok')]))
    c.send(0, auth(0x19, [(0x15, 'M'), (0x16, b'no')]))
    c.send(1, m.connect('au2', version=5, props_=[(0x15, 'X')]))
    c.send(2, m.connect('au3', version=5, props_=[(0x15, 'M'), (0x16, b'more')]))
    c.send(2, auth(0x18, [(0x15, 'M'), (0x16, b'more')]))
    c.send(2, auth(0x18, [(0x15, 'M'), (0x16, b'bad')]))
    c.send(3, m.connect('au4', version=4))
    c.send(3, auth(0x00))
    out['auth-v5'] = c
    c = Conv(SMALL)
    c.send(0, m.connect('ka', version=5, keepalive=600, props_=[(0x27, 64)]))
    c.send(1, m.connect('ka1', version=4, keepalive=2))
    c.send(0, m.subscribe(1, [('big', 1)], version=5))
    c.send(2, m.connect('kp', version=5))
    c.send(2, m.publish('big', 'z' * 100, qos=1, pid=1, version=5))
    c.send(2, m.publish('big', 'z' * 300, qos=1, pid=2, version=5))
    c.send(3, m.connect('unk', version=6))
    c.send(3, m.connect('again', version=4))
    c.clock(100)
    out['keepalive-limits-v5'] = c
    c = Conv(64)
    c.send(0, m.connect('', version=5, clean=True, props_=[(0x19, 1)]))
    c.send(1, m.connect('', version=4, clean=True))
    c.send(2, m.connect('', version=4, clean=False))
    c.send(3, m.connect('', version=3))
    c.send(0, m.publish('$share/x', 'y', version=5) + m.PINGREQ + disconnect5(0))
    out['assigned-id'] = c
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, c in sorted(convs().items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(bytes(c.b))


if __name__ == '__main__':
    main()

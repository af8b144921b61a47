#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the WebSocket fuzzer's seed corpus (format in fuzz_ws.c): upgrade requests as browsers,
paho and MQTT.js send them (and broken ones), and client frame streams carrying MQTT packets.

  gen_corpus.py OUTDIR
"""
import os
import struct
import sys

KEY = b'dGhlIHNhbXBsZSBub25jZQ=='


def request(proto=b'mqtt', version=b'13', extra=b'', path=b'/mqtt'):
    return (b'GET ' + path + b' HTTP/1.1\r\nHost: 198.18.0.1:8083\r\nUpgrade: websocket\r\n'
            b'Connection: Upgrade\r\nSec-WebSocket-Key: ' + KEY + b'\r\n'
            b'Sec-WebSocket-Version: ' + version + b'\r\n' +
            (b'Sec-WebSocket-Protocol: ' + proto + b'\r\n' if proto else b'') + extra + b'\r\n')


def frame(op, data, fin=True, mask=b'\x37\xfa\x21\x3d', masked=True):
    n = len(data)
    h = bytes([(0x80 if fin else 0) | op])
    mbit = 0x80 if masked else 0
    if n < 126:
        h += bytes([mbit | n])
    elif n < 65536:
        h += bytes([mbit | 126]) + struct.pack('!H', n)
    else:
        h += bytes([mbit | 127]) + struct.pack('!Q', n)
    if not masked:
        return h + data
    return h + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(data))


CONNECT = bytes.fromhex('101000044d5154540402003c0004777363 31'.replace(' ', ''))
PUBLISH = b'\x30\x07\x00\x03a/bhi'


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    seeds = {
        'req-paho': b'\x00' + request(extra=b'Origin: http://198.18.0.1\r\n'),
        'req-split': b'\x40' + request() + CONNECT,
        'req-browser': b'\x20' + request(proto=b'mqtt, mqttv3.1', extra=(
            b'User-Agent: Mozilla/5.0\r\nSec-WebSocket-Extensions: permessage-deflate; '
            b'client_max_window_bits\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n')),
        'req-v31': b'\x00' + request(proto=b'mqttv3.1'),
        'req-noproto': b'\x00' + request(proto=None),
        'req-version8': b'\x00' + request(version=b'8'),
        'req-post': b'\x00' + request().replace(b'GET', b'POST'),
        'req-fold': b'\x00' + request(extra=b'X-A: 1\r\n  2\r\n'),
        'req-mqtt': b'\x00' + CONNECT,
        'req-bigheaders': b'\x00' + request(extra=b''.join(b'X-%d: %s\r\n' % (i, b'v' * 60)
                                                             for i in range(70))),
    }
    msg = frame(2, CONNECT[:5], fin=False) + frame(9, b'ping') + frame(0, CONNECT[5:])
    seeds.update({
        'fr-connect': b'\x01' + frame(2, CONNECT),
        'fr-split': b'\x07' + msg + frame(2, PUBLISH + b'\xc0\x00'),
        'fr-many': b'\x03' + b''.join(frame(2, PUBLISH) for _ in range(8)) + frame(10, b''),
        'fr-close': b'\x05' + frame(2, b'\xe0\x00') + frame(8, b'\x03\xe8bye'),
        'fr-close-empty': b'\x09' + frame(8, b''),
        'fr-text': b'\x01' + frame(1, b'Hello'),
        'fr-unmasked': b'\x01' + frame(2, CONNECT, masked=False),
        'fr-16bit': b'\x0f' + frame(2, b'\x30\x81\x02\x00\x01a' + b'x' * 252),
        'fr-64bit': b'\x11' + frame(2, b'\x30\xff\xff\x03\x00\x01a' + b'y' * 70000)[:2000],
        'fr-rsv': b'\x01' + bytes([0xc2]) + frame(2, b'ab')[1:],
        'fr-ctl-long': b'\x01' + frame(9, b'z' * 126),
        'fr-cont-first': b'\x01' + frame(0, b'ab'),
        'fr-empty': b'\x01' + frame(2, b'') + frame(2, b'', fin=False) + frame(0, b'\xc0\x00'),
    })
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()

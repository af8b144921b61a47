#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Interop: mosquitto_pub/mosquitto_sub and paho-mqtt (Debian's python3-paho-mqtt 1.6) against a
broker, MQTT 3.1.1 and 5.0, QoS 0/1/2, a 1 MiB payload, 10,000 messages in a row; every byte
compared. Prints TAP.

    mqtt_interop.py HOST PORT
"""
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as paho

HOST, PORT = sys.argv[1], int(sys.argv[2])
RUN = '%d' % os.getpid()
n = failed = 0


def result(ok, name, why=''):
    global n, failed
    n += 1
    failed += not ok
    print('%s %d - %s' % ('ok' if ok else 'not ok', n, name))
    if not ok and why:
        print('#   ' + why)
    sys.stdout.flush()


def sub_proc(version, topic, qos, count, extra=()):
    cmd = ['mosquitto_sub', '-h', HOST, '-p', str(PORT), '-V', version, '-t', topic, '-q',
           str(qos), '-C', str(count), '-W', '30', '-i', 'isub-%s-%s' % (RUN, topic[-12:])]
    # output to a file, not a pipe: a full pipe would stall the subscriber (and its acks)
    out = open('/tmp/interop-sub-%s.out' % RUN, 'w+b')
    os.unlink(out.name)
    p = subprocess.Popen(cmd + list(extra), stdout=out, stderr=subprocess.DEVNULL)
    p.out = out
    time.sleep(0.3)  # subscribed before anything is published
    return p


def sub_output(p, timeout):
    p.wait(timeout=timeout)
    p.out.seek(0)
    data = p.out.read()
    p.out.close()
    return data


def pub_proc(version, topic, qos, args, stdin=None):
    cmd = ['mosquitto_pub', '-h', HOST, '-p', str(PORT), '-V', version, '-t', topic, '-q',
           str(qos)] + args
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)


def mosquitto_cases():
    for version in ('mqttv311', 'mqttv5'):
        for qos in (0, 1, 2):
            t = 'interop/%s/m/%s/%d' % (RUN, version, qos)
            s = sub_proc(version, t, qos, 1)
            pub_proc(version, t, qos, ['-m', 'hello qos %d' % qos])
            out = sub_output(s, 60)
            result(out == b'hello qos %d\n' % qos,
                   'mosquitto %s QoS %d pub -> sub' % (version, qos), repr(out[:80]))

        t = 'interop/%s/m/%s/big' % (RUN, version)
        blob = os.urandom(1 << 20)
        path = '/tmp/interop-%s.bin' % RUN
        with open(path, 'wb') as f:
            f.write(blob)
        s = sub_proc(version, t, 1, 1, ['-N'])
        pub_proc(version, t, 1, ['-f', path])
        out = sub_output(s, 60)
        os.unlink(path)
        result(out == blob, 'mosquitto %s 1 MiB payload, every byte' % version,
               'got %d bytes' % len(out))

        t = 'interop/%s/m/%s/many' % (RUN, version)
        lines = b''.join(b'msg %05d %s\n' % (i, b'x' * (i % 50)) for i in range(10000))
        s = sub_proc(version, t, 1, 10000)
        r = pub_proc(version, t, 1, ['-l'], stdin=lines)
        out = sub_output(s, 120)
        result(out == lines and r.returncode == 0,
               'mosquitto %s 10,000 QoS 1 messages in a row, in order' % version,
               'got %d of %d bytes, pub rc %d' % (len(out), len(lines), r.returncode))


class Paho:
    def __init__(self, cid, v5):
        proto = paho.MQTTv5 if v5 else paho.MQTTv311
        kw = {} if v5 else {'clean_session': True}
        self.c = paho.Client(client_id=cid, protocol=proto, **kw)
        self.got = []
        self.cv = threading.Condition()
        self.c.on_message = self.on_message
        self.c.connect(HOST, PORT, keepalive=30)
        self.c.loop_start()

    def on_message(self, c, u, m):
        with self.cv:
            self.got.append((m.topic, m.qos, bytes(m.payload)))
            self.cv.notify_all()

    def wait(self, count, timeout=60):
        end = time.time() + timeout
        with self.cv:
            while len(self.got) < count and time.time() < end:
                self.cv.wait(0.5)
        return len(self.got) >= count

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def paho_cases():
    for v5 in (False, True):
        name = 'paho %s' % ('v5' if v5 else 'v3.1.1')
        sub = Paho('psub-%s-%d' % (RUN, v5), v5)
        pub = Paho('ppub-%s-%d' % (RUN, v5), v5)
        base = 'interop/%s/p/%d' % (RUN, v5)
        sub.c.subscribe(base + '/#', qos=2)
        time.sleep(0.3)
        for qos in (0, 1, 2):
            sub.got.clear()
            pub.c.publish('%s/q%d' % (base, qos), b'paho %d' % qos, qos=qos).wait_for_publish()
            ok = sub.wait(1, 10) and sub.got[0] == ('%s/q%d' % (base, qos), qos, b'paho %d' % qos)
            result(ok, '%s QoS %d pub -> sub' % (name, qos), repr(sub.got[:1]))
        sub.got.clear()
        blob = os.urandom(1 << 20)
        pub.c.publish(base + '/big', blob, qos=1).wait_for_publish()
        ok = sub.wait(1, 30) and sub.got[0][2] == blob
        result(ok, '%s 1 MiB payload, every byte' % name)
        sub.got.clear()
        want = [b'%05d' % i + os.urandom(i % 64) for i in range(10000)]
        infos = [pub.c.publish(base + '/many', w, qos=1) for w in want]
        for i in infos:
            i.wait_for_publish()
        ok = sub.wait(10000, 90) and [g[2] for g in sub.got] == want
        result(ok, '%s 10,000 QoS 1 messages in a row, every byte, in order' % name,
               'got %d' % len(sub.got))
        sub.close()
        pub.close()


only = sys.argv[3:]
if not only or 'mosquitto' in only:
    mosquitto_cases()
if not only or 'paho' in only:
    paho_cases()
print('1..%d' % n)
sys.exit(1 if failed else 0)

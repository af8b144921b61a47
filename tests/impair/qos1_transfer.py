#!/usr/bin/python3
"""QoS 1 bulk transfer through any MQTT broker: completeness, order and integrity.

  qos1_transfer.py --host H --port P --bytes N [--size S] [--label NAME] [--timeout T]

A subscriber (QoS 1, persistent session) subscribes to a fresh topic, then a publisher sends
ceil(N / S) QoS 1 messages of S bytes, at most --window unacknowledged at a time and at most
--lead ahead of what the subscriber has received. Each payload
carries its sequence number and a body derived from it, so the subscriber checks every message
for corruption, every gap (a missing message is a failure) and the order of first deliveries.
Redeliveries of an already seen message are counted (QoS 1 allows them after a reconnect) but
are not failures. Prints one line:
  profile=NAME bytes=N seconds=T messages=M ok        (exit 0)
  profile=NAME bytes=N seconds=T messages=M FAIL why  (exit 1)
after a comment line "# dups=D disconnects=R". bytes is messages x S, what was published.
The clock runs from the first PUBLISH to the last message received. Broker-agnostic (Mosquitto,
tachyond, ...): only host and port differ. Needs python3-paho-mqtt (Debian's /usr/bin/python3).
"""
import argparse
import os
import random
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt

HDR = struct.Struct('!QQ')  # sequence number, total messages
BLOCK = random.Random(20261125).randbytes(1 << 16)


def body(seq, size):
    """Payload of message seq: header, then a window of BLOCK that depends on seq."""
    n = size - HDR.size
    off = (seq * 7919) % (len(BLOCK) - n) if n < len(BLOCK) else 0
    return BLOCK[off:off + n] if n <= len(BLOCK) else (BLOCK * (n // len(BLOCK) + 1))[:n]


class Subscriber:
    def __init__(self, total, size):
        self.total, self.size = total, size
        self.next = 0
        self.dups = self.corrupt = self.disorder = 0
        self.done = threading.Event()
        self.progress = threading.Condition()
        self.last_at = None
        self.error = None

    def on_message(self, client, userdata, msg):
        p = msg.payload
        if len(p) < HDR.size:
            self.corrupt += 1
            return
        seq, total = HDR.unpack_from(p)
        if total != self.total or len(p) != self.size or p[HDR.size:] != body(seq, self.size):
            self.corrupt += 1
        elif seq < self.next:
            self.dups += 1
        elif seq > self.next:
            # QoS 1 through one broker keeps the publisher's order: a jump is a lost message.
            self.disorder += 1
            if self.error is None:
                self.error = f'expected message {self.next}, got {seq}'
            self.next = seq + 1
        else:
            self.next += 1
        with self.progress:
            self.progress.notify()
        if self.next >= self.total:
            self.last_at = time.monotonic()
            self.done.set()


def connect(cid, args, **callbacks):
    c = mqtt.Client(client_id=cid, clean_session=False, protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(args.window)
    c.reconnect_delay_set(min_delay=1, max_delay=4)
    for name, fn in callbacks.items():
        setattr(c, name, fn)
    state = {'disconnects': 0}

    def on_disconnect(client, userdata, rc):
        state['disconnects'] += 1

    c.on_disconnect = on_disconnect
    c.connect(args.host, args.port, keepalive=args.keepalive)
    c.loop_start()
    return c, state


def run(args):
    size = max(args.size, HDR.size)
    total = max(1, -(-args.bytes // size))
    tag = f'{os.getpid()}-{int(time.time() * 1000) % 100000000}'
    topic = f'{args.topic}/{tag}'
    sub = Subscriber(total, size)
    subscribed = threading.Event()
    window = threading.Semaphore(args.window)
    deadline = time.monotonic() + args.timeout

    def on_connect(client, userdata, flags, rc):
        if rc == 0:
            client.subscribe(topic, qos=1)  # again after a reconnect: harmless

    sc, sstate = connect(f'q1s-{tag}', args, on_message=sub.on_message, on_connect=on_connect,
                         on_subscribe=lambda *a: subscribed.set())
    pc, pstate = connect(f'q1p-{tag}', args, on_publish=lambda *a: window.release())
    try:
        if not subscribed.wait(max(0.1, deadline - time.monotonic())):
            return None, total, 'no SUBACK before the deadline'
        start = time.monotonic()
        for seq in range(total):
            if not window.acquire(timeout=max(0.1, deadline - time.monotonic())):
                return time.monotonic() - start, total, f'publish window stuck at message {seq}'
            with sub.progress:
                if not sub.progress.wait_for(lambda: seq - sub.next < args.lead,
                                             max(0.1, deadline - time.monotonic())):
                    return (time.monotonic() - start, total,
                            f'subscriber stuck at {sub.next}, publisher at {seq}')
            info = pc.publish(topic, HDR.pack(seq, total) + body(seq, size), qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                return time.monotonic() - start, total, f'publish {seq}: {mqtt.error_string(info.rc)}'
        if not sub.done.wait(max(0.1, deadline - time.monotonic())):
            return (time.monotonic() - start, total,
                    f'timeout after {args.timeout}s: received {sub.next} of {total}')
        took = sub.last_at - start
        extra = (f'dups={sub.dups} disconnects={sstate["disconnects"] + pstate["disconnects"]}')
        if sub.corrupt or sub.disorder:
            return took, total, f'corrupt={sub.corrupt} gaps={sub.disorder} ({sub.error}) {extra}'
        return took, total, extra
    finally:
        for c in (pc, sc):
            c.disconnect()
            c.loop_stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--host', required=True)
    ap.add_argument('--port', type=int, default=1883)
    ap.add_argument('--bytes', type=int, required=True, help='payload bytes to publish in all')
    ap.add_argument('--size', type=int, default=4096, help='bytes per message (default 4096)')
    ap.add_argument('--window', type=int, default=64, help='unacknowledged publishes at most')
    ap.add_argument('--lead', type=int, default=512,
                    help='publish at most this far ahead of the subscriber, so a broker\'s '
                         'per-client queue limit (Mosquitto: max_queued_messages 1000) never '
                         'drops messages')
    ap.add_argument('--topic', default='tachyon/qos1')
    ap.add_argument('--label', default='none', help='profile name for the result line')
    ap.add_argument('--keepalive', type=int, default=60)
    ap.add_argument('--timeout', type=float, default=600)
    args = ap.parse_args()
    try:
        took, total, note = run(args)
    except (OSError, ValueError) as e:
        took, total, note = None, 0, f'FAIL {e}'
    secs = f'{took:.2f}' if took is not None else 'NA'
    line = f'profile={args.label} bytes={total * max(args.size, HDR.size)} seconds={secs} ' \
           f'messages={total}'
    if note.startswith('dups='):
        print(f'# {note}\n{line} ok', flush=True)
        return 0
    print(f'{line} FAIL {note.removeprefix("FAIL ")}', flush=True)
    return 1


if __name__ == '__main__':
    sys.exit(main())

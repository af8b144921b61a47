#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""MQTT conformance tests, one per normative statement, named after its id.

    mqtt_conformance.py HOST PORT [ID-SUBSTRING ...]

Runs against any broker (the mqtt-test-host fixture today, tachyond later) and prints TAP.
Ids are the specs' own: "3.1.1 MQTT-x" for MQTT 3.1.1 (Appendix B), "5.0 MQTT-x" for MQTT 5.0.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqtt_raw import (Client, Closed, connect, connected, publish, subscribe,  # noqa: E402
                      unsubscribe, ack, packet, props, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ,
                      DISCONNECT)

HOST, PORT = sys.argv[1], int(sys.argv[2])
RUN = '%d-%d' % (os.getpid(), int(time.time()) % 100000)
TESTS = []


def test(name):
    def reg(fn):
        TESTS.append((name, fn))
        return fn
    return reg


def cid(tag):
    return 'cf-%s-%s' % (tag, RUN)


def topic(tag):
    return 'cf/%s/%s' % (RUN, tag)


def conn(tag, version=4, clean=True, **kw):
    return connected(HOST, PORT, cid(tag), version, clean, **kw)


def raw(version=4):
    return Client(HOST, PORT, version)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def sub_ok(c, filt, qos=0, pid=1, version=4):
    c.send(subscribe(pid, [(filt, qos)], version))
    t, f, b = c.recv()
    expect(t == 9 and struct.unpack('!H', b[:2])[0] == pid, 'SUBACK with the same id')
    return b


# ---- MQTT 3.1.1 -------------------------------------------------------------------------------

@test('3.1.1 MQTT-1.5.3-1 ill-formed UTF-8 closes the connection')
def t_utf8():
    c = conn('utf8')
    c.send(publish(b'a/\xc3\x28'.decode('latin-1').encode('latin-1'), 'x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-1.5.3-2 U+0000 in a string closes the connection')
def t_nul():
    c = conn('nul')
    c.send(packet(0x30, b'\x00\x03a\x00b' + b'x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-2.2.2-2 invalid fixed-header flags close the connection')
def t_flags():
    c = conn('flags')
    c.send(b'\xc1\x00')  # PINGREQ with a reserved flag set
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-2.3.1-1 QoS 1 PUBLISH with packet id 0 is a violation')
def t_pid0():
    c = conn('pid0')
    c.send(publish(topic('pid0'), 'x', qos=1, pid=0))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-2.3.1-6 PUBACK carries the PUBLISH packet id')
def t_puback_id():
    c = conn('pubackid')
    c.send(publish(topic('p'), 'x', qos=1, pid=0x1234))
    t, f, b = c.recv()
    expect(t == 4 and b == b'\x12\x34', 'PUBACK 0x1234')


@test('3.1.1 MQTT-2.3.1-7 SUBACK and UNSUBACK carry the request packet id')
def t_suback_id():
    c = conn('subackid')
    sub_ok(c, topic('x'), 0, pid=0x4321)
    c.send(unsubscribe(0x4322, [topic('x')]))
    t, f, b = c.recv()
    expect(t == 11 and b == b'\x43\x22', 'UNSUBACK 0x4322')


@test('3.1.1 MQTT-3.1.0-1 the first packet must be CONNECT')
def t_first_connect():
    c = raw()
    c.send(PINGREQ)
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.1.0-2 a second CONNECT is a protocol violation')
def t_second_connect():
    c = conn('second')
    c.send(connect(cid('second')))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.1.2-1 an incorrect protocol name is refused')
def t_proto_name():
    c = raw()
    c.send(packet(0x10, b'\x00\x04MQTX\x04\x02\x00\x3c\x00\x01x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.1.2-2 unsupported protocol level: CONNACK 0x01 then close')
def t_proto_level():
    c = raw()
    c.send(packet(0x10, b'\x00\x04MQTT\x07\x02\x00\x3c\x00\x01x'))
    t, f, b = c.recv()
    expect(t == 2 and b[1] == 1, 'CONNACK 0x01')
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.1.2-3 the reserved CONNECT flag must be zero')
def t_reserved_flag():
    c = raw()
    c.send(connect(cid('rsv'), flags_extra=0x01))
    expect(c.closed(), 'closed')


def persistent_roundtrip(tag):
    """A clean-session-0 subscriber goes away; a QoS 1 message published meanwhile arrives when
    it comes back with session present."""
    s = conn(tag, clean=False)
    sub_ok(s, topic(tag), 1)
    s.send(DISCONNECT)
    s.close()
    p = conn(tag + 'p')
    p.send(publish(topic(tag), 'queued', qos=1, pid=1))
    p.recv()
    s = conn(tag, clean=False)
    expect(s.session_present == 1, 'session present')
    m = s.recv_publish()
    expect(m.payload == b'queued' and m.qos == 1, 'queued message delivered')
    s.send(ack(PUBACK, m.pid))
    s.send(DISCONNECT)
    conn(tag, clean=True).send(DISCONNECT)  # discard
    return True


@test('3.1.1 MQTT-3.1.2-4 clean session 0 resumes the stored session')
def t_resume():
    persistent_roundtrip('resume')


@test('3.1.1 MQTT-3.1.2-5 QoS 1 messages are stored for a disconnected session')
def t_store_offline():
    persistent_roundtrip('store')


@test('3.1.1 MQTT-3.1.2-6 clean session 1 discards the previous session')
def t_clean_discard():
    s = conn('discard', clean=False)
    sub_ok(s, topic('discard'), 1)
    s.send(DISCONNECT)
    s = conn('discard', clean=True)
    expect(s.session_present == 0, 'no session present')
    p = conn('discardp')
    p.send(publish(topic('discard'), 'x', qos=1, pid=1))
    p.recv()
    expect(s.silent(), 'old subscription gone')


@test('3.1.1 MQTT-3.1.2-7 retained messages survive the end of a session')
def t_retained_survive():
    p = conn('rs', clean=False)
    p.send(publish(topic('rs'), 'kept', retain=True))
    p.send(DISCONNECT)
    conn('rs', clean=True).send(DISCONNECT)
    s = conn('rss')
    sub_ok(s, topic('rs'))
    m = s.recv_publish()
    expect(m.payload == b'kept' and m.retain, 'retained survives')
    s.send(publish(topic('rs'), '', retain=True))


def will_client(tag, qos=0, retain=False):
    return conn(tag, will=(topic(tag), 'bye-' + tag, qos, retain))


@test('3.1.1 MQTT-3.1.2-8 the will is published when the connection closes abnormally')
def t_will():
    s = conn('wills')
    sub_ok(s, topic('will'))
    w = will_client('will')
    w.close()
    m = s.recv_publish()
    expect(m.topic == topic('will') and m.payload == b'bye-will', 'will delivered')


@test('3.1.1 MQTT-3.1.2-10 the will is removed after DISCONNECT')
def t_will_disconnect():
    s = conn('willds')
    sub_ok(s, topic('willd'))
    w = will_client('willd')
    w.send(DISCONNECT)
    w.close()
    expect(s.silent(0.5), 'no will')


@test('3.1.1 MQTT-3.1.2-12 no will flag, no will message')
def t_no_will():
    s = conn('nowills')
    sub_ok(s, '#')
    w = conn('nowill')
    w.close()
    expect(s.silent(0.5), 'nothing published')


@test('3.1.1 MQTT-3.1.2-16 will retain 0 publishes a non-retained will')
def t_will_noretain():
    w = will_client('wnr', retain=False)
    w.close()
    time.sleep(0.2)
    s = conn('wnrs')
    sub_ok(s, topic('wnr'))
    expect(s.silent(), 'nothing retained')


@test('3.1.1 MQTT-3.1.2-17 will retain 1 publishes a retained will')
def t_will_retain():
    w = will_client('wr', retain=True)
    w.close()
    time.sleep(0.2)
    s = conn('wrs')
    sub_ok(s, topic('wr'))
    m = s.recv_publish()
    expect(m.retain and m.payload == b'bye-wr', 'retained will')
    s.send(publish(topic('wr'), '', retain=True))


@test('3.1.1 MQTT-3.1.2-24 keep-alive: disconnected after 1.5 x keep alive without packets')
def t_keepalive():
    c = conn('ka', keepalive=1)
    t0 = time.monotonic()
    expect(c.closed(4.0), 'closed')
    dt = time.monotonic() - t0
    expect(1.4 <= dt <= 2.5, 'closed after %.2fs, want 1.5s' % dt)


@test('3.1.1 MQTT-3.1.3-6 a zero-length client id gets a unique id (clean session 1)')
def t_empty_cid():
    a = connected(HOST, PORT, '', 4, True)
    b = connected(HOST, PORT, '', 4, True)
    a.send(PINGREQ)
    expect(a.recv()[0] == 13, 'first still connected')
    b.send(PINGREQ)
    expect(b.recv()[0] == 13, 'second connected too')


@test('3.1.1 MQTT-3.1.3-8 zero-length client id with clean session 0: CONNACK 0x02, close')
def t_empty_cid_persistent():
    c = raw()
    c.send(connect('', clean=False))
    sp, rc, p = c.connack()
    expect(rc == 2 and sp == 0, 'CONNACK 0x02')
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.1.4-2 a second connection with the same client id takes over')
def t_takeover():
    a = conn('take')
    b = conn('take')
    expect(a.closed(), 'first closed')
    b.send(PINGREQ)
    expect(b.recv()[0] == 13, 'second alive')


@test('3.1.1 MQTT-3.1.4-4 CONNACK with return code 0 accepts the connection')
def t_connack_zero():
    c = raw()
    c.send(connect(cid('c0')))
    t, f, b = c.recv()
    expect(t == 2 and b == b'\x00\x00', 'CONNACK 00 00')


@test('3.1.1 MQTT-3.2.0-1 the first packet from the server is CONNACK')
def t_connack_first():
    c = raw()
    c.send(connect(cid('cf')) + PINGREQ)
    expect(c.recv()[0] == 2, 'CONNACK first')
    expect(c.recv()[0] == 13, 'then PINGRESP')


@test('3.1.1 MQTT-3.2.2-1 clean session 1: session present 0')
def t_sp_clean():
    expect(conn('sp1').session_present == 0, 'sp 0')


@test('3.1.1 MQTT-3.2.2-2 clean session 0 with stored state: session present 1')
def t_sp_stored():
    a = conn('sp2', clean=False)
    a.send(DISCONNECT)
    b = conn('sp2', clean=False)
    expect(b.session_present == 1, 'sp 1')
    b.send(DISCONNECT)
    conn('sp2').send(DISCONNECT)


@test('3.1.1 MQTT-3.2.2-3 clean session 0 without stored state: session present 0')
def t_sp_new():
    a = conn('sp3', clean=False)
    expect(a.session_present == 0, 'sp 0')
    a.send(DISCONNECT)
    conn('sp3').send(DISCONNECT)


@test('3.1.1 MQTT-3.2.2-4 a refused CONNACK has session present 0')
def t_sp_refused():
    c = raw()
    c.send(connect('', clean=False))
    sp, rc, p = c.connack()
    expect(rc != 0 and sp == 0, 'sp 0 on refusal')


@test('3.1.1 MQTT-3.3.1-1 redelivery on reconnect sets DUP')
def t_dup():
    s = conn('dup', clean=False)
    sub_ok(s, topic('dup'), 1)
    p = conn('dupp')
    p.send(publish(topic('dup'), 'once', qos=1, pid=1))
    m = s.recv_publish()
    expect(not m.dup, 'first delivery without DUP')
    s.close()  # no PUBACK
    time.sleep(0.1)
    s = conn('dup', clean=False)
    m2 = s.recv_publish()
    expect(m2.dup and m2.pid == m.pid and m2.payload == b'once', 'resent with DUP, same id')
    s.send(ack(PUBACK, m2.pid))
    s.send(DISCONNECT)
    conn('dup').send(DISCONNECT)


@test('3.1.1 MQTT-3.3.1-2 QoS 0 messages have DUP 0')
def t_dup_qos0():
    s = conn('dq0')
    sub_ok(s, topic('dq0'))
    p = conn('dq0p')
    p.send(publish(topic('dq0'), 'x', dup=False))
    m = s.recv_publish()
    expect(not m.dup and m.qos == 0, 'DUP 0')


@test('3.1.1 MQTT-3.3.1-3 outgoing DUP does not copy the incoming DUP')
def t_dup_independent():
    s = conn('dind')
    sub_ok(s, topic('dind'), 1)
    p = conn('dindp')
    p.send(publish(topic('dind'), 'x', qos=1, pid=3, dup=True))
    m = s.recv_publish()
    expect(not m.dup, 'first transmission has DUP 0')


@test('3.1.1 MQTT-3.3.1-4 QoS 3 closes the connection')
def t_qos3():
    c = conn('q3')
    c.send(packet(0x36, b'\x00\x01a\x00\x01x'))
    expect(c.closed(), 'closed')


def retained_get(tag, filt=None):
    s = conn(tag + 'g')
    sub_ok(s, filt or topic(tag), 1)
    try:
        return s.recv_publish(0.5)
    except TimeoutError:
        return None


@test('3.1.1 MQTT-3.3.1-5 a retained message is stored with its QoS')
def t_retain_store():
    p = conn('rst')
    p.send(publish(topic('rst'), 'r1', qos=1, pid=1, retain=True))
    p.recv()
    m = retained_get('rst')
    expect(m and m.payload == b'r1' and m.qos == 1, 'stored with QoS 1')
    p.send(publish(topic('rst'), '', retain=True))


@test('3.1.1 MQTT-3.3.1-6 a new subscription receives the matching retained messages')
def t_retain_on_sub():
    p = conn('ros')
    p.send(publish(topic('ros/a'), 'A', retain=True) + publish(topic('ros/b'), 'B', retain=True))
    time.sleep(0.1)
    s = conn('rosg')
    sub_ok(s, topic('ros/+'))
    got = sorted([s.recv_publish().payload, s.recv_publish().payload])
    expect(got == [b'A', b'B'], 'both retained')
    p.send(publish(topic('ros/a'), '', retain=True) + publish(topic('ros/b'), '', retain=True))


@test('3.1.1 MQTT-3.3.1-7 a QoS 0 retained message replaces the previous one')
def t_retain_replace():
    p = conn('rrep')
    p.send(publish(topic('rrep'), 'old', qos=1, pid=1, retain=True))
    p.recv()
    p.send(publish(topic('rrep'), 'new', retain=True))
    time.sleep(0.1)
    m = retained_get('rrep')
    expect(m and m.payload == b'new', 'replaced')
    p.send(publish(topic('rrep'), '', retain=True))


@test('3.1.1 MQTT-3.3.1-8 retained messages sent on subscribe have RETAIN 1')
def t_retain_flag_on_sub():
    p = conn('rf1')
    p.send(publish(topic('rf1'), 'x', retain=True))
    time.sleep(0.1)
    m = retained_get('rf1')
    expect(m and m.retain, 'RETAIN 1')
    p.send(publish(topic('rf1'), '', retain=True))


@test('3.1.1 MQTT-3.3.1-9 messages to established subscriptions have RETAIN 0')
def t_retain_flag_live():
    s = conn('rf0')
    sub_ok(s, topic('rf0'))
    p = conn('rf0p')
    p.send(publish(topic('rf0'), 'x', retain=True))
    m = s.recv_publish()
    expect(not m.retain, 'RETAIN 0')
    p.send(publish(topic('rf0'), '', retain=True))


@test('3.1.1 MQTT-3.3.1-10 an empty retained message is forwarded and deletes the retained one')
def t_retain_delete():
    p = conn('rdel')
    p.send(publish(topic('rdel'), 'x', retain=True))
    s = conn('rdels')
    sub_ok(s, topic('rdel'))
    s.recv_publish()
    p.send(publish(topic('rdel'), '', retain=True))
    m = s.recv_publish()
    expect(m.payload == b'', 'forwarded')
    expect(retained_get('rdel') is None, 'deleted')


@test('3.1.1 MQTT-3.3.1-11 a zero-byte retained message is not stored')
def t_retain_zero():
    p = conn('rz')
    p.send(publish(topic('rz'), '', retain=True))
    time.sleep(0.1)
    expect(retained_get('rz') is None, 'nothing stored')


@test('3.1.1 MQTT-3.3.1-12 RETAIN 0 neither stores nor replaces')
def t_retain_zero_flag():
    p = conn('rnf')
    p.send(publish(topic('rnf'), 'kept', retain=True) + publish(topic('rnf'), 'live'))
    time.sleep(0.1)
    m = retained_get('rnf')
    expect(m and m.payload == b'kept', 'kept the retained one')
    p.send(publish(topic('rnf'), '', retain=True))


@test('3.1.1 MQTT-3.3.2-2 a wildcard in a PUBLISH topic closes the connection')
def t_pub_wildcard():
    c = conn('pw')
    c.send(publish('a/+', 'x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.3.2-3 the forwarded topic name is the published one, matching the filter')
def t_topic_forwarded():
    s = conn('tf')
    sub_ok(s, topic('tf/+/z'))
    p = conn('tfp')
    p.send(publish(topic('tf/y/z'), 'x'))
    expect(s.recv_publish().topic == topic('tf/y/z'), 'topic name')


@test('3.1.1 MQTT-3.3.4-1 PUBLISH is answered according to its QoS (PUBACK, PUBREC)')
def t_pub_ack():
    c = conn('pa')
    c.send(publish(topic('pa'), 'x', qos=1, pid=5))
    expect(c.recv()[0] == 4, 'PUBACK')
    c.send(publish(topic('pa'), 'x', qos=2, pid=6))
    expect(c.recv()[0] == 5, 'PUBREC')
    c.send(ack(PUBREL, 6))
    expect(c.recv()[0] == 7, 'PUBCOMP')


@test('3.1.1 MQTT-3.3.5-1 overlapping subscriptions: delivered at the maximum QoS')
def t_overlap():
    s = conn('ov')
    c = s
    c.send(subscribe(1, [(topic('ov/#'), 0), (topic('ov/+'), 1)]))
    c.recv()
    p = conn('ovp')
    p.send(publish(topic('ov/x'), 'x', qos=1, pid=1))
    m = s.recv_publish()
    expect(m.qos == 1, 'QoS 1')
    s.send(ack(PUBACK, m.pid))
    expect(s.silent(), 'delivered once')


@test('3.1.1 MQTT-3.6.1-1 PUBREL with wrong flags is malformed')
def t_pubrel_flags():
    c = conn('prf')
    c.send(ack(0x60, 1))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.8.1-1 SUBSCRIBE with wrong flags is malformed')
def t_sub_flags():
    c = conn('sf')
    c.send(packet(0x80, b'\x00\x01\x00\x01a\x00'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.8.3-3 SUBSCRIBE without a filter is a violation')
def t_sub_empty():
    c = conn('se')
    c.send(packet(0x82, b'\x00\x01'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.8.3-4 reserved bits in the requested QoS byte are malformed')
def t_sub_reserved():
    c = conn('sr')
    c.send(subscribe(1, [(topic('sr'), 0x04)]))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.8.4-1 SUBSCRIBE is answered with SUBACK')
def t_suback():
    sub_ok(conn('sa'), topic('sa'))


@test('3.1.1 MQTT-3.8.4-3 an identical filter replaces the subscription and resends retained')
def t_sub_replace():
    p = conn('srp')
    p.send(publish(topic('srp'), 'r', retain=True))
    s = conn('srps')
    sub_ok(s, topic('srp'), 0)
    s.recv_publish()
    sub_ok(s, topic('srp'), 1, pid=2)
    m = s.recv_publish()
    expect(m.retain and m.qos == 0, 'retained resent')  # stored at QoS 0
    p.send(publish(topic('srp'), 'live', qos=1, pid=1))
    m = s.recv_publish()
    expect(m.qos == 1 and m.payload == b'live', 'new QoS applies, one subscription')
    s.send(ack(PUBACK, m.pid))
    expect(s.silent(), 'once')
    # Read the publisher's PUBACK before the retained delete: a socket closed with unread data
    # sends RST, which may discard the delete before the broker reads it, leaving a retained
    # message that later '#' subscribers would receive.
    expect(p.recv()[0] == 4, 'PUBACK to the publisher')
    p.send(publish(topic('srp'), '', retain=True))
    p.send(bytes([0xE0, 0]))


@test('3.1.1 MQTT-3.8.4-4 several filters are handled like several SUBSCRIBEs')
def t_sub_multi():
    s = conn('sm')
    s.send(subscribe(9, [(topic('sm/a'), 0), (topic('sm/b'), 1)]))
    t, f, b = s.recv()
    expect(t == 9 and b == b'\x00\x09\x00\x01', 'SUBACK 0, 1')
    p = conn('smp')
    p.send(publish(topic('sm/b'), 'x'))
    expect(s.recv_publish().payload == b'x', 'second filter active')


@test('3.1.1 MQTT-3.8.4-5 SUBACK has one return code per filter (0x80 for a bad one)')
def t_suback_codes():
    s = conn('sc')
    s.send(subscribe(3, [(topic('sc'), 2), ('a/#/b', 0), (topic('sc2'), 1)]))
    t, f, b = s.recv()
    expect(t == 9 and b == b'\x00\x03\x02\x80\x01', 'codes 2, 0x80, 1')


@test('3.1.1 MQTT-3.10.1-1 UNSUBSCRIBE with wrong flags is malformed')
def t_unsub_flags():
    c = conn('uf')
    c.send(packet(0xA0, b'\x00\x01\x00\x01a'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.10.3-2 UNSUBSCRIBE without a filter is a violation')
def t_unsub_empty():
    c = conn('ue')
    c.send(packet(0xA2, b'\x00\x01'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.10.4-2 after UNSUBSCRIBE no new messages are delivered')
def t_unsub():
    s = conn('us')
    sub_ok(s, topic('us'))
    s.send(unsubscribe(2, [topic('us')]))
    expect(s.recv()[0] == 11, 'UNSUBACK')
    p = conn('usp')
    p.send(publish(topic('us'), 'x'))
    expect(s.silent(), 'no longer delivered')


@test('3.1.1 MQTT-3.10.4-5 UNSUBACK even when nothing matched')
def t_unsub_nomatch():
    s = conn('un')
    s.send(unsubscribe(2, [topic('never')]))
    t, f, b = s.recv()
    expect(t == 11 and b == b'\x00\x02', 'UNSUBACK')


@test('3.1.1 MQTT-3.10.4-1 filters compare character by character (no wildcard matching)')
def t_unsub_literal():
    s = conn('ul')
    sub_ok(s, topic('ul/x'))
    s.send(unsubscribe(2, [topic('ul/+')]))
    s.recv()
    p = conn('ulp')
    p.send(publish(topic('ul/x'), 'x'))
    expect(s.recv_publish().payload == b'x', 'still subscribed')


@test('3.1.1 MQTT-3.10.4-4 UNSUBSCRIBE is answered with UNSUBACK')
def t_unsuback():
    s = conn('usa')
    s.send(unsubscribe(0x0102, [topic('usa/a'), topic('usa/b')]))
    t, f, b = s.recv()
    expect(t == 11 and b == b'\x01\x02', 'UNSUBACK with the id')


@test('3.1.1 MQTT-4.7.1-1 wildcards are not allowed in topic names ("#")')
def t_pub_hash():
    c = conn('ph')
    c.send(publish('a/#', 'x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-3.8.4-6 delivered QoS is the minimum of published and granted')
def t_min_qos():
    s = conn('mq')
    sub_ok(s, topic('mq'), 1)
    p = conn('mqp')
    p.send(publish(topic('mq'), 'x', qos=2, pid=1))
    p.recv()
    p.send(ack(PUBREL, 1))
    m = s.recv_publish()
    expect(m.qos == 1, 'QoS 1')
    s.send(ack(PUBACK, m.pid))
    p.send(publish(topic('mq'), 'y', qos=0))
    expect(s.recv_publish().qos == 0, 'QoS 0')


@test('3.1.1 MQTT-3.9.3-1 SUBACK return codes in the order of the filters')
def t_suback_order():
    s = conn('so')
    s.send(subscribe(4, [(topic('so/a'), 1), (topic('so/b'), 0), (topic('so/c'), 2)]))
    t, f, b = s.recv()
    expect(b == b'\x00\x04\x01\x00\x02', 'codes in order')


@test('3.1.1 MQTT-3.12.4-1 PINGREQ is answered with PINGRESP')
def t_ping():
    c = conn('ping')
    c.send(PINGREQ)
    t, f, b = c.recv()
    expect(t == 13 and b == b'', 'PINGRESP')


@test('3.1.1 MQTT-3.14.4-3 on DISCONNECT the will is discarded')
def t_disconnect_will():
    s = conn('dws')
    sub_ok(s, topic('dw'))
    w = will_client('dw')
    w.send(DISCONNECT)
    time.sleep(0.1)
    w.close()
    expect(s.silent(0.5), 'no will')


@test('3.1.1 MQTT-4.3.3-2 QoS 2: delivered once although the PUBLISH is resent before PUBREL')
def t_qos2_once():
    s = conn('q2s')
    sub_ok(s, topic('q2'), 2)
    p = conn('q2p')
    p.send(publish(topic('q2'), 'x', qos=2, pid=7))
    expect(p.recv()[0] == 5, 'PUBREC')
    p.send(publish(topic('q2'), 'x', qos=2, pid=7, dup=True))
    expect(p.recv()[0] == 5, 'PUBREC again')
    p.send(ack(PUBREL, 7))
    expect(p.recv()[0] == 7, 'PUBCOMP')
    m = s.recv_publish()
    expect(m.qos == 2, 'QoS 2')
    s.send(ack(PUBREC, m.pid))
    t, f, b = s.recv()
    expect(t == 6 and f == 2, 'PUBREL from the server')
    s.send(ack(PUBCOMP, m.pid))
    expect(s.silent(), 'exactly once')


@test('3.1.1 MQTT-4.4.0-1 unacknowledged PUBREL is resent on reconnect')
def t_resend_pubrel():
    s = conn('rrel', clean=False)
    sub_ok(s, topic('rrel'), 2)
    p = conn('rrelp')
    p.send(publish(topic('rrel'), 'x', qos=2, pid=1))
    m = s.recv_publish()
    s.send(ack(PUBREC, m.pid))
    t, f, b = s.recv()
    expect(t == 6, 'PUBREL')
    s.close()
    time.sleep(0.1)
    s = conn('rrel', clean=False)
    t, f, b = s.recv()
    expect(t == 6 and struct.unpack('!H', b[:2])[0] == m.pid, 'PUBREL resent')
    s.send(ack(PUBCOMP, m.pid))
    s.send(DISCONNECT)
    conn('rrel').send(DISCONNECT)


@test('3.1.1 MQTT-4.6.0-6 messages of one topic and QoS arrive in the order sent')
def t_order():
    s = conn('ord')
    sub_ok(s, topic('ord'), 1)
    p = conn('ordp')
    data = b''.join(publish(topic('ord'), str(i), qos=1, pid=i + 1) for i in range(50))
    p.send(data)
    got = []
    for _ in range(50):
        m = s.recv_publish()
        got.append(int(m.payload))
        if m.qos:
            s.send(ack(PUBACK, m.pid))
    expect(got == list(range(50)), 'in order')


@test('3.1.1 MQTT-4.7.1-2 "#" not last is an invalid filter')
def t_hash_last():
    s = conn('hl')
    s.send(subscribe(1, [('a/#/b', 0)]))
    t, f, b = s.recv()
    expect(b[2] == 0x80, 'refused')


@test('3.1.1 MQTT-4.7.1-3 "+" must occupy a whole level')
def t_plus_level():
    s = conn('pl')
    s.send(subscribe(1, [('a/b+', 0)]))
    t, f, b = s.recv()
    expect(b[2] == 0x80, 'refused')


@test('3.1.1 MQTT-4.7.2-1 filters starting with a wildcard do not match "$" topics')
def t_dollar():
    s = conn('dl')
    s.send(subscribe(1, [('#', 0), ('+/x', 0)]))
    s.recv()
    p = conn('dlp')
    p.send(publish('$cf%s/x' % RUN, 'x'))
    expect(s.silent(0.5), 'not matched')
    s2 = conn('dl2')
    sub_ok(s2, '$cf%s/+' % RUN)
    p.send(publish('$cf%s/x' % RUN, 'y'))
    expect(s2.recv_publish().payload == b'y', 'explicit $ filter matches')


@test('3.1.1 MQTT-4.7.3-1 an empty topic name is a violation')
def t_empty_topic():
    c = conn('et')
    c.send(publish('', 'x'))
    expect(c.closed(), 'closed')


@test('3.1.1 MQTT-4.8.0-1 a protocol violation closes only that connection')
def t_violation_isolated():
    ok = conn('iso')
    sub_ok(ok, topic('iso'))
    bad = conn('isobad')
    bad.send(b'\xf0\x00')  # AUTH is not a 3.1.1 packet
    expect(bad.closed(), 'violator closed')
    p = conn('isop')
    p.send(publish(topic('iso'), 'still'))
    expect(ok.recv_publish().payload == b'still', 'others unaffected')


# ---- MQTT 3.1 (protocol level 3) --------------------------------------------------------------

@test('3.1 CONNECT MQIsdp level 3 is accepted and works')
def t_v31():
    c = connected(HOST, PORT, cid('v31'), 3, True)
    sub_ok(c, topic('v31'))
    c.send(publish(topic('v31'), 'x'))
    expect(c.recv_publish().payload == b'x', 'pub/sub')


@test('3.1 client id over 23 bytes: CONNACK 0x02')
def t_v31_long_id():
    c = Client(HOST, PORT, 3)
    c.send(connect('x' * 24, 3))
    sp, rc, p = c.connack()
    expect(rc == 2, 'identifier rejected')


# ---- MQTT 5.0 ---------------------------------------------------------------------------------

def conn5(tag, **kw):
    return connected(HOST, PORT, cid(tag), 5, kw.pop('clean', True), **kw)


@test('5.0 MQTT-3.1.2-2 unsupported protocol version: CONNACK 0x84')
def t5_level():
    c = Client(HOST, PORT, 5)
    c.send(packet(0x10, b'\x00\x04MQTT\x07\x02\x00\x3c\x00\x00\x01x'))
    t, f, b = c.recv()
    expect(t == 2 and b[1] in (0x01, 0x84), 'refused')
    expect(c.closed(), 'closed')


@test('5.0 MQTT-3.1.3-7 empty client id: the assigned client identifier is in CONNACK')
def t5_assigned():
    c = connected(HOST, PORT, '', 5, True)
    expect(0x12 in c.connack_props and len(c.connack_props[0x12]) > 0, 'assigned id')


@test('5.0 MQTT-3.1.4-3 takeover: the old connection gets DISCONNECT 0x8E')
def t5_takeover():
    a = conn5('take5')
    conn5('take5')
    t, f, b = a.recv()
    expect(t == 14 and b[0] == 0x8E, 'DISCONNECT 0x8E')
    expect(a.closed(), 'closed')


@test('5.0 MQTT-3.1.2-23 session expiry > 0 keeps the session (session present, queued QoS 1)')
def t5_expiry():
    a = conn5('exp', clean=True, props_=[(0x11, 60)])
    sub_ok(a, topic('exp'), 1, version=5)
    a.send(DISCONNECT)
    p = conn5('expp')
    p.send(publish(topic('exp'), 'kept', qos=1, pid=1, version=5))
    p.recv()
    b = conn5('exp', clean=False, props_=[(0x11, 0)])
    expect(b.session_present == 1, 'session present')
    m = b.recv_publish()
    expect(m.payload == b'kept', 'queued delivered')
    b.send(ack(PUBACK, m.pid))


@test('5.0 MQTT-3.3.2-12 topic alias: a later PUBLISH may carry only the alias')
def t5_alias():
    s = conn5('al')
    sub_ok(s, topic('al'), version=5)
    p = conn5('alp')
    p.send(publish(topic('al'), 'a', version=5, props_=[(0x23, 1)]))
    p.send(publish('', 'b', version=5, props_=[(0x23, 1)]))
    expect(s.recv_publish().payload == b'a', 'first')
    m = s.recv_publish()
    expect(m.payload == b'b' and m.topic == topic('al'), 'alias resolved')


@test('5.0 MQTT-3.3.2-9 topic alias over the maximum: DISCONNECT 0x94')
def t5_alias_bad():
    p = conn5('alb')
    p.send(publish(topic('alb'), 'a', version=5, props_=[(0x23, 60000)]))
    t, f, b = p.recv()
    expect(t == 14 and b[0] == 0x94, 'DISCONNECT 0x94')


@test('5.0 MQTT-3.3.2-18 user properties (in order), content type, response topic, correlation data forwarded unaltered')
def t5_props_forwarded():
    s = conn5('pf')
    sub_ok(s, topic('pf'), version=5)
    p = conn5('pfp')
    up = [(0x26, ('k1', 'v1')), (0x26, ('k2', 'v2')), (0x26, ('k1', 'v3'))]
    p.send(publish(topic('pf'), 'x', version=5,
                   props_=[(0x03, 'text/plain'), (0x09, b'\x01\x02'), (0x08, 'reply/here')] + up))
    m = s.recv_publish()
    expect(m.props.get(0x03) == b'text/plain', 'content type')
    expect(m.props.get(0x09) == b'\x01\x02', 'correlation data')
    expect(m.props.get(0x08) == b'reply/here', 'response topic')
    expect(m.props.get(0x26) == [(b'k1', b'v1'), (b'k2', b'v2'), (b'k1', b'v3')], 'user props')


@test('5.0 MQTT-3.3.4-3 subscription identifiers are sent with matching messages')
def t5_subid():
    s = conn5('sid')
    s.send(subscribe(1, [(topic('sid/+'), 0)], 5, props_=[(0x0B, 42)]))
    s.recv()
    p = conn5('sidp')
    p.send(publish(topic('sid/x'), 'x', version=5))
    m = s.recv_publish()
    expect(m.props.get(0x0B) == [42], 'subscription id 42')


@test('5.0 MQTT-3.3.2-6 message expiry: the remaining interval is forwarded')
def t5_expiry_fwd():
    s = conn5('mex', clean=False, props_=[(0x11, 60)])
    sub_ok(s, topic('mex'), 1, version=5)
    s.send(DISCONNECT)
    p = conn5('mexp')
    p.send(publish(topic('mex'), 'x', qos=1, pid=1, version=5, props_=[(0x02, 100)]))
    p.recv()
    time.sleep(1.1)
    s = conn5('mex', clean=False, props_=[(0x11, 0)])
    m = s.recv_publish()
    expect(0 < m.props.get(0x02, 0) < 100, 'expiry reduced: %r' % m.props.get(0x02))
    s.send(ack(PUBACK, m.pid))


@test('5.0 MQTT-3.8.3-3 no local: own messages are not received')
def t5_nolocal():
    s = conn5('nl')
    s.send(subscribe(1, [(topic('nl'), 0x04)], 5))
    s.recv()
    s.send(publish(topic('nl'), 'mine', version=5))
    expect(s.silent(), 'not delivered to itself')


@test('5.0 MQTT-3.3.1-13 retain as published keeps RETAIN on live messages')
def t5_rap():
    s = conn5('rap')
    s.send(subscribe(1, [(topic('rap'), 0x08)], 5))
    s.recv()
    p = conn5('rapp')
    p.send(publish(topic('rap'), 'x', retain=True, version=5))
    expect(s.recv_publish().retain, 'RETAIN kept')
    p.send(publish(topic('rap'), '', retain=True, version=5))


@test('5.0 MQTT-3.3.1-11 retain handling 2: no retained messages on subscribe')
def t5_rh2():
    p = conn5('rh2')
    p.send(publish(topic('rh2'), 'x', retain=True, version=5))
    time.sleep(0.1)
    s = conn5('rh2s')
    s.send(subscribe(1, [(topic('rh2'), 0x20)], 5))
    s.recv()
    expect(s.silent(), 'nothing')
    p.send(publish(topic('rh2'), '', retain=True, version=5))


@test('5.0 MQTT-3.3.1-10 retain handling 1: retained only for a new subscription')
def t5_rh1():
    p = conn5('rh1')
    p.send(publish(topic('rh1'), 'x', retain=True, version=5))
    time.sleep(0.1)
    s = conn5('rh1s')
    s.send(subscribe(1, [(topic('rh1'), 0x10)], 5))
    s.recv()
    expect(s.recv_publish().retain, 'first time')
    s.send(subscribe(2, [(topic('rh1'), 0x10)], 5))
    s.recv()
    expect(s.silent(), 'not again')
    p.send(publish(topic('rh1'), '', retain=True, version=5))


@test('5.0 MQTT-4.8.2-1 shared subscription $share/name/filter: each message to one member')
def t5_shared():
    a = conn5('sha')
    b = conn5('shb')
    for c in (a, b):
        c.send(subscribe(1, [('$share/g%s/%s' % (RUN, topic('sh')), 0)], 5))
        c.recv()
    p = conn5('shp')
    for i in range(10):
        p.send(publish(topic('sh'), str(i), version=5))
    got = []
    for c in (a, b):
        try:
            while True:
                got.append(int(c.recv_publish(0.3).payload))
        except TimeoutError:
            pass
    expect(sorted(got) == list(range(10)), 'each once: %r' % got)
    expect(len(got) == 10, 'not duplicated')


@test('5.0 MQTT-3.1.2-8 DISCONNECT 0x04 (with will) still publishes the will')
def t5_disconnect_with_will():
    s = conn5('d4s')
    sub_ok(s, topic('d4'), version=5)
    w = conn5('d4', will=(topic('d4'), 'w', 0, False))
    w.send(packet(0xE0, b'\x04\x00'))
    expect(s.recv_publish().payload == b'w', 'will published')


@test('5.0 MQTT-3.1.3-9 will delay: a reconnect within the delay cancels the will')
def t5_will_delay():
    s = conn5('wds')
    sub_ok(s, topic('wd'), version=5)
    w = conn5('wd', props_=[(0x11, 30)], will=(topic('wd'), 'late', 0, False),
              will_props=[(0x18, 2)])
    w.close()
    time.sleep(0.3)
    conn5('wd', clean=False, props_=[(0x11, 0)])
    expect(s.silent(2.5), 'cancelled')


@test('5.0 MQTT-4.13.1-1 malformed packet after CONNACK: DISCONNECT 0x81 and close')
def t5_malformed():
    c = conn5('mal')
    c.send(b'\x60\x02\x00\x01')  # PUBREL with bad flags
    t, f, b = c.recv()
    expect(t == 14 and b[0] == 0x81, 'DISCONNECT 0x81, got %r' % b)
    expect(c.closed(), 'closed')


@test('5.0 MQTT-3.3.4-9 receive maximum: no more unacknowledged QoS 1 than the client allows')
def t5_receive_max():
    s = conn5('rm', props_=[(0x21, 2)])
    sub_ok(s, topic('rm'), 1, version=5)
    p = conn5('rmp')
    for i in range(5):
        p.send(publish(topic('rm'), str(i), qos=1, pid=i + 1, version=5))
    a, b = s.recv_publish(), s.recv_publish()
    expect(s.silent(), 'window of 2')
    s.send(ack(PUBACK, a.pid))
    expect(int(s.recv_publish().payload) == 2, 'next after an ack')
    expect(s.silent(), 'window still 2')


@test('5.0 MQTT-3.1.2-25 a packet over the client maximum packet size is discarded')
def t5_max_packet():
    s = conn5('mp', props_=[(0x27, 64)])
    sub_ok(s, topic('mp'), 1, version=5)
    p = conn5('mpp')
    p.send(publish(topic('mp'), 'x' * 100, qos=1, pid=1, version=5))
    p.send(publish(topic('mp'), 'small', qos=1, pid=2, version=5))
    m = s.recv_publish()
    expect(m.payload == b'small', 'large one skipped, small one delivered')


@test('5.0 MQTT-3.1.2-26 topic aliases to the client stay within its topic alias maximum')
def t5_out_alias():
    s = conn5('oal', props_=[(0x22, 1)])
    s.send(subscribe(1, [(topic('oal/+'), 0)], 5))
    s.recv()
    p = conn5('oalp')
    for t in ('a', 'a', 'b', 'a', 'b'):
        p.send(publish(topic('oal/' + t), t, version=5))
    got = [s.recv_publish() for _ in range(5)]
    expect(got[0].topic == topic('oal/a') and got[0].props.get(0x23) == 1, 'alias 1 set')
    expect(got[1].topic == '' and got[1].props.get(0x23) == 1, 'alias 1 used')
    expect(got[2].topic == topic('oal/b') and 0x23 not in got[2].props, 'no second alias')
    expect(got[3].topic == '' and got[4].topic == topic('oal/b'), 'as before')
    expect([m.payload for m in got] == [b'a', b'a', b'b', b'a', b'b'], 'payloads')


@test('5.0 MQTT-3.1.2-27 no topic alias maximum: no topic aliases to the client')
def t5_no_out_alias():
    s = conn5('noal')
    s.send(subscribe(1, [(topic('noal'), 0)], 5))
    s.recv()
    p = conn5('noalp')
    p.send(publish(topic('noal'), 'x', version=5) + publish(topic('noal'), 'y', version=5))
    for _ in range(2):
        m = s.recv_publish()
        expect(m.topic == topic('noal') and 0x23 not in m.props, 'full topic, no alias')


@test('5.0 MQTT-4.12.0-1 unsupported authentication method: CONNACK 0x8C, close')
def t5_auth_method():
    c = Client(HOST, PORT, 5)
    c.send(connect(cid('am'), 5, props_=[(0x15, 'NO-SUCH-MECH')]))
    sp, rc, p = c.connack()
    expect(rc in (0x8C, 0x87) and sp == 0, 'CONNACK 0x%02x' % rc)
    expect(c.closed(), 'closed')


@test('5.0 MQTT-3.4.2-1 PUBACK reason codes: 0x10 without subscribers, 0x00 with one')
def t5_puback_reason():
    p = conn5('prc')
    p.send(publish(topic('prc'), 'x', qos=1, pid=1, version=5))
    t, f, b = p.recv()
    expect(t == 4 and b[:2] == b'\x00\x01' and b[2:3] == b'\x10', 'PUBACK 0x10: %r' % b)
    s = conn5('prcs')
    sub_ok(s, topic('prc'), version=5)
    p.send(publish(topic('prc'), 'y', qos=1, pid=2, version=5))
    t, f, b = p.recv()
    expect(t == 4 and b[:2] == b'\x00\x02' and b[2:3] in (b'', b'\x00'), 'PUBACK 0x00: %r' % b)


@test('5.0 MQTT-3.2.2-22 without a keep-alive bound: no Server Keep Alive, the client\'s stands')
def t5_no_server_keepalive():
    c = conn5('ska', keepalive=300)
    expect(0x13 not in c.connack_props, 'no Server Keep Alive: %r' % c.connack_props)


def main():
    want = sys.argv[3:]
    n = failed = 0
    for name, fn in TESTS:
        if want and not any(w in name for w in want):
            continue
        n += 1
        try:
            fn()
            print('ok %d - %s' % (n, name))
        except (AssertionError, TimeoutError, Closed, OSError) as e:
            failed += 1
            print('not ok %d - %s' % (n, name))
            print('#   %s: %r' % (type(e).__name__, e))
        sys.stdout.flush()
    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

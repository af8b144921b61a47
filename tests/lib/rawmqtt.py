#!/usr/bin/python3
"""Raw-socket MQTT probes for the integration tests, where mosquitto clients cannot tell us what
we need (they reconnect silently). Exit status 0 = the expectation held.

  rawmqtt.py garbage HOST PORT   send bytes that are no MQTT packet (type 0 is reserved in every
                                 version); expect the broker to close within 5 s
  rawmqtt.py hold HOST PORT SECS connect (MQTT 3.1.1), print "connected" once CONNACK arrives,
                                 then expect the broker to close the connection within SECS
  rawmqtt.py keepalive HOST PORT connect with keep-alive 1 s; while sending PINGREQ every 0.5 s
                                 for 3 s the connection must stay (PINGRESP each time); then
                                 silent, the broker must close it after 1.5 s (MQTT-3.1.2-24)
                                 and before 3.5 s; prints the measured silence
"""
import socket
import sys
import time


def wait_closed(s, secs):
    s.settimeout(0.2)
    end = time.time() + secs
    while time.time() < end:
        try:
            if s.recv(4096) == b'':
                return True  # FIN
        except ConnectionResetError:
            return True  # RST
        except socket.timeout:
            pass
    return False


def connect_packet(client_id, keepalive=60):
    cid = client_id.encode()
    # protocol name, level 4, clean session, keep-alive
    var = b'\x00\x04MQTT\x04\x02' + keepalive.to_bytes(2, 'big')
    payload = len(cid).to_bytes(2, 'big') + cid
    body = var + payload
    return bytes([0x10, len(body)]) + body


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((host, port), timeout=5)
    if cmd == 'garbage':
        s.sendall(b'\x00\x05hello, garbage')
        return 0 if wait_closed(s, 5) else 1
    if cmd == 'hold':
        s.sendall(connect_packet('rawmqtt-hold'))
        if s.recv(4) != b'\x20\x02\x00\x00':
            return 2
        print('connected', flush=True)
        return 0 if wait_closed(s, float(sys.argv[4])) else 1
    if cmd == 'keepalive':
        s.sendall(connect_packet('rawmqtt-ka', keepalive=1))
        if s.recv(4) != b'\x20\x02\x00\x00':
            return 2
        for _ in range(6):
            time.sleep(0.5)
            s.sendall(b'\xc0\x00')  # PINGREQ
            if s.recv(2) != b'\xd0\x00':  # PINGRESP
                return 4
        start = time.time()
        closed = wait_closed(s, 5)
        silence = time.time() - start
        print(f'closed after {silence:.2f} s of silence', flush=True)
        return 0 if closed and 1.5 <= silence < 3.5 else 1
    return 3


if __name__ == '__main__':
    sys.exit(main())

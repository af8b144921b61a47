"""Send SIZE random bytes to HOST's echo port (7) from one thread while reading them back,
then half-close; exit 1 unless every byte returns unchanged. Used by tcp_interop.sh.
Usage: echo_check.py HOST SIZE TIMEOUT_S LABEL"""
import os
import socket
import sys
import threading

host, size, timeout, label = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
data = os.urandom(size)
s = socket.create_connection((host, 7), timeout=timeout)


def sender():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)


t = threading.Thread(target=sender)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
t.join()
s.close()
if bytes(got) != data:
    print("# echo mismatch%s: got %d bytes of %d" % (label, len(got), size))
    sys.exit(1)

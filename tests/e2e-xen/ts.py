"""Copies stdin to stdout, each line prefixed with seconds since start."""
import sys
import time

t0 = time.time()
buf = b''
inp, out = sys.stdin.buffer, sys.stdout.buffer


def emit(line):
    out.write(b'[%7.2f] ' % (time.time() - t0) + line.rstrip(b'\r') + b'\n')
    out.flush()


while True:
    chunk = inp.read1(4096)
    if not chunk:
        break
    buf += chunk
    while b'\n' in buf:
        line, buf = buf.split(b'\n', 1)
        emit(line)
if buf:
    emit(buf)

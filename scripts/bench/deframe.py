#!/usr/bin/env python3
"""Read streamctl pipe frames on stdin, write each payload as one line.

A frame is b"SC", a codec byte, a reserved byte and a 32-bit big-endian
payload length.  JSON payloads hold no newline, so the output is what
kcat -P, mosquitto_pub -l and the plain-Python peers read.  msgpack
payloads are written hex-encoded (--hex) since they may contain newlines.
"""
import struct
import sys


def main():
    hexout = "--hex" in sys.argv[1:]
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    i = 0
    n = 0
    while i + 8 <= len(data):
        if data[i:i + 2] != b"SC":
            sys.exit("deframe: bad frame magic at byte %d" % i)
        (length,) = struct.unpack(">I", data[i + 4:i + 8])
        payload = data[i + 8:i + 8 + length]
        if len(payload) != length:
            sys.exit("deframe: truncated frame at byte %d" % i)
        if not hexout and b"\n" in payload:
            sys.exit("deframe: payload %d contains a newline (use --hex)" % n)
        out.write(payload.hex().encode() if hexout else payload)
        out.write(b"\n")
        i += 8 + length
        n += 1
    if i != len(data):
        sys.exit("deframe: %d trailing bytes" % (len(data) - i))


if __name__ == "__main__":
    main()

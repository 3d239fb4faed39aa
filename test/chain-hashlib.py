#!/usr/bin/env python3
"""chain-hashlib - the sidecar a file log should have (evt(7), THE CHAIN),
computed with Python's hashlib alone: h(seq) of each stored line of the
log given, one line of 64 hex digits each. For test/evt-verify.bats.

usage: test/chain-hashlib.py LOG
"""
import hashlib
import struct
import sys

h = bytes(32)
out = []
with open(sys.argv[1], "rb") as f:
    for seq, line in enumerate(f, 1):
        leaf = hashlib.sha256(b"\0" + struct.pack(">Q", seq) +
                              line.rstrip(b"\n")).digest()
        h = hashlib.sha256(b"\1" + h + leaf).digest()
        out.append(h.hex() + "\n")
sys.stdout.write("".join(out))

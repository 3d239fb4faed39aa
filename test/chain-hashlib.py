#!/usr/bin/env python3
"""chain-hashlib - evt's hashes of a file log (evt(7), THE CHAIN and THE
TREE), computed with Python's hashlib alone, from the definitions (RFC
6962 §2.1), for test/evt-verify.bats.

usage: test/chain-hashlib.py LOG
           the sidecar a file log should have: h(seq) of each stored
           line, one line of 64 hex digits each
       test/chain-hashlib.py --root LOG [N]
           base64 of the tree hash MTH of the first N leaves (all)
       test/chain-hashlib.py --prove LOG SEQ N
           the inclusion proof of event SEQ in the tree of N leaves,
           RFC 6962 PATH, one base64 hash a line
       test/chain-hashlib.py --prove-consistency LOG M N
           the consistency proof from M leaves to N, RFC 6962 PROOF
       test/chain-hashlib.py --tile LOG L K [W]
           the tile tile/L/K (its first W hashes), as bytes, per
           c2sp.org/tlog-tiles: hashes at height 8L
"""
import base64
import hashlib
import struct
import sys


def H(b):
    return hashlib.sha256(b).digest()


def lines(path):
    with open(path, "rb") as f:
        return [l.rstrip(b"\n") for l in f]


def leaves(path):
    return [H(b"\0" + struct.pack(">Q", seq) + line)
            for seq, line in enumerate(lines(path), 1)]


def split(n):
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def mth(d):
    if len(d) == 0:
        return H(b"")
    if len(d) == 1:
        return d[0]
    k = split(len(d))
    return H(b"\1" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    if len(d) <= 1:
        return []
    k = split(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = split(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def out(hs):
    sys.stdout.write("".join(base64.b64encode(h).decode() + "\n" for h in hs))


a = sys.argv[1:]
if a[0] == "--root":
    d = leaves(a[1])
    n = int(a[2]) if len(a) > 2 else len(d)
    out([mth(d[:n])])
elif a[0] == "--prove":
    d = leaves(a[1])
    out(path(int(a[2]) - 1, d[:int(a[3])]))
elif a[0] == "--prove-consistency":
    d = leaves(a[1])
    out(subproof(int(a[2]), d[:int(a[3])], True))
elif a[0] == "--tile":
    d = leaves(a[1])
    level, k = int(a[2]), int(a[3])
    h = 8 * level
    n = len(d) >> h
    hs = [mth(d[i << h:(i + 1) << h]) for i in range(256 * k, min(256 * (k + 1), n))]
    if len(a) > 4:
        hs = hs[:int(a[4])]
    sys.stdout.buffer.write(b"".join(hs))
else:
    h = bytes(32)
    res = []
    for seq, line in enumerate(lines(a[0]), 1):
        leaf = H(b"\0" + struct.pack(">Q", seq) + line)
        h = H(b"\1" + h + leaf)
        res.append(h.hex() + "\n")
    sys.stdout.write("".join(res))

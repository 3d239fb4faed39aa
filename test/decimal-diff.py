#!/usr/bin/env python3
"""decimal-diff.py - generate numbers and expected results with Python's
decimal module, for lib/decimal.c (test/decimal.bats).

usage: decimal-diff.py gen SEED N > cases   (lines "OP A [B]")
       decimal-diff.py want < cases > want  (the results lib/decimal.c owes)

The rules, from lib/decimal.h: a JSON number (RFC 8259) with at most 38
significant digits and an integer part of at most 38 digits is held
exactly, trailing zeros dropped; otherwise "range" (or "syntax" when it is
not a JSON number). A sum that needs more than 38 digits is "range".
Printing: plain notation, never an exponent, with as many decimals as the
value needs (at least the minimum asked).
"""
import decimal
import random
import re
import sys

D = decimal.Decimal
decimal.getcontext().prec = 200
JSON_NUM = re.compile(r'-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z')
DIGITS = 38


def held(s):
    """The Decimal s holds, normalised, or 'syntax' / 'range'."""
    if not JSON_NUM.match(s):
        return 'syntax'
    v = D(s)
    if v == 0:
        return D(0)
    v = v.normalize()
    sign, digits, exp = v.as_tuple()
    # Significant digits once trailing zeros are gone; with a positive
    # exponent the zeros it stands for are digits of the integer part.
    ndig = len(digits) + (exp if exp > 0 else 0)
    if ndig > DIGITS or max(-exp, 0) > DIGITS:
        return 'range'
    return v


def fits(v):
    sign, digits, exp = v.normalize().as_tuple()
    if v == 0:
        return True
    ndig = len(digits) + (exp if exp > 0 else 0)
    return ndig <= DIGITS and max(-exp, 0) <= DIGITS


def fmt(v, min_scale):
    if v == 0:
        v = D(0)
    s = format(v.normalize() if v != 0 else D(0), 'f')
    if '.' in s:
        s = s.rstrip('0').rstrip('.')
    if min_scale:
        ip, _, fp = s.partition('.')
        s = ip + '.' + fp.ljust(min_scale, '0')
    if s.startswith('-') and D(s) == 0:
        s = s[1:]
    return s


def gen_number(rng):
    k = rng.random()
    if k < 0.05:
        return rng.choice(['0', '-0', '0.0', '1e0', '0e5', '-0.000', '1E+2', '1e-2',
                           '01', '1.', '.5', '+1', '1e', '--1', 'abc', '1.5e3.2'])
    sign = '-' if rng.random() < 0.3 else ''
    ilen = rng.choice([1, 1, 2, 3, 5, 10, 19, 20, 30, 37, 38, 39, 40])
    ip = str(rng.randint(1, 9)) + ''.join(rng.choice('0123456789') for _ in range(ilen - 1))
    if rng.random() < 0.2:
        ip = '0'
    s = sign + ip
    if rng.random() < 0.6:
        flen = rng.choice([1, 2, 2, 3, 6, 10, 20, 37, 38, 39])
        fp = ''.join(rng.choice('0123456789') for _ in range(flen))
        if rng.random() < 0.3:
            fp += '0' * rng.randint(1, 5)      # trailing zeros
        s += '.' + fp
    if rng.random() < 0.15:
        s += rng.choice('eE') + rng.choice(['', '+', '-']) + str(rng.randint(0, 45))
    return s


def main():
    if sys.argv[1] == 'gen':
        rng = random.Random(int(sys.argv[2]))
        for _ in range(int(sys.argv[3])):
            op = rng.choice(['parse', 'fmt2', 'add', 'cmp', 'add'])
            a = gen_number(rng)
            if op in ('add', 'cmp'):
                b = a if rng.random() < 0.05 else gen_number(rng)
                if rng.random() < 0.1:
                    b = '-' + a.lstrip('-')
                print(op, a, b)
            else:
                print(op, a)
        return
    for line in sys.stdin:
        parts = line.split()
        op, args = parts[0], parts[1:]
        vals = [held(x) for x in args]
        bad = [v for v in vals if isinstance(v, str)]
        if bad:
            print(bad[0])
        elif op == 'parse':
            print(fmt(vals[0], 0))
        elif op == 'fmt2':
            print(fmt(vals[0], 2))
        elif op == 'cmp':
            a, b = vals
            print((a > b) - (a < b))
        elif op == 'add':
            r = vals[0] + vals[1]
            print(fmt(r, 0) if fits(r) else 'range')


main()

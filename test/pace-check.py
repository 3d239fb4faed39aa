#!/usr/bin/env python3
"""pace-check STEP - read lines from stdin; print how far the worst one
arrived from a schedule of one line every STEP seconds (anchored at the
median offset, so the reader's own start does not count), the span, and
how far the 95th percentile of them arrived (a loaded machine delays a
few lines of any program now and then; a pace that is wrong delays
most)."""
import sys, time
step = float(sys.argv[1])
arr = []
f = sys.stdin.buffer
while True:
    l = f.readline()
    if not l: break
    arr.append(time.monotonic())
off = sorted(a - i * step for i, a in enumerate(arr))
med = off[len(off) // 2]
dev = sorted(abs(a - i * step - med) for i, a in enumerate(arr[5:], 5))
worst, p95 = dev[-1], dev[len(dev) * 95 // 100]
print("%d events, worst %.1f ms from the schedule, span %.3f s, p95 %.1f ms" % (len(arr), worst * 1000, arr[-1] - arr[5] + 5 * step, p95 * 1000))

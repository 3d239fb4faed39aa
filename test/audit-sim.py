#!/usr/bin/env python3
"""audit-sim.py SEED DIR - a generated multi-day run of scripts/audit-daily.

Days of sales are appended to a log in DIR, a share of them late (an
offline till that uploads a day or three later, a till whose clock says
1970), some with critical findings (a card number, a second charge, a
wrong amount). The cron job runs each morning; some mornings it is
missed, some runs are killed (SIGKILL to the whole process group) at a
random moment and run again, at once or the next morning. At the end,
after a last run, every critical finding of a full scan must be in
exactly one day's findings file, and the reports must count as many.
Exits 0 when that holds, 1 with what differs.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAILY = os.path.join(ROOT, "scripts", "audit-daily")
ENV = dict(os.environ, PATH=os.path.join(ROOT, "bin") + ":" + os.environ["PATH"])
ENV.pop("EVT_NOW", None)


def sale(rng, tx, t, kind):
    """The events of one sale at time prefix t (YYYY-MM-DDTHH:MM)."""
    note = {}
    if kind == "pan":
        note = {"note": "card 4111 1111 1111 1111"}
    total = rng.choice(["10", "25.50", "99.99", "120"])
    order = {"id": "o-" + tx, "source": "transaction", "type": "TransactionCreated",
             "subject": "transaction-" + tx, "time": t + ":00.000Z",
             "data": dict({"transaction_id": tx, "store_id": "S1"}, **note,
                          items=[{"sku": "A", "qty": 1, "unit_price": total}],
                          total=total, currency="EUR",
                          payment={"method": "card", "token": "tok_ok"})}
    # Amounts as JSON numbers, exactly as written.
    order["data"]["total"] = "@" + total
    order["data"]["items"][0]["unit_price"] = "@" + total
    pays = [total]
    if kind == "double":
        pays = [total, total]
    elif kind == "mismatch":
        pays = [total + "1"]
    evs = [order]
    for i, amount in enumerate(pays):
        evs.append({"id": "p%d-%s" % (i, tx), "source": "payment",
                    "type": "PaymentProcessed", "subject": "payment-" + tx,
                    "time": t + ":%02d.000Z" % (1 + i), "causationid": "o-" + tx,
                    "data": {"transaction_id": tx, "payment_id": "pay-" + tx,
                             "amount": "@" + amount, "currency": "EUR"}})
    evs.append({"id": "c-" + tx, "source": "transaction", "type": "TransactionCompleted",
                "subject": "transaction-" + tx, "time": t + ":05.000Z",
                "causationid": "o-" + tx, "data": {"transaction_id": tx, "total": "@" + total}})
    return evs


def line(ev):
    s = json.dumps(ev, separators=(",", ":"))
    # "@1.50" stands for the number 1.50, written exactly.
    return re.sub(r'"@([0-9.]+)"', r"\1", s)


def append(log, evs):
    if not evs:
        return
    data = "".join(line(e) + "\n" for e in evs)
    subprocess.run(["evt-append", "-q", "-l", log], input=data.encode(), env=ENV, check=True)


def daily(log, out, now, kill_after=None):
    """Run audit-daily at now; with kill_after, SIGKILL it (and what it
    started) after that many seconds. Returns the exit status."""
    env = dict(ENV, EVT_NOW=now)
    p = subprocess.Popen([DAILY, log, out], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    if kill_after is None:
        return p.wait()
    try:
        return p.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return -9


def main():
    seed, work = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(seed)
    os.makedirs(work, exist_ok=True)
    log, out = os.path.join(work, "log.db"), os.path.join(work, "out")
    start = date(2026, 11, 20)
    ndays = 6
    pending = {}       # day index -> events that arrive then (late)
    n = 0
    kills = missed = 0
    for d in range(ndays + 3):
        day = start + timedelta(days=d)
        early, rest = [], []
        if d < ndays:
            for i in range(25):
                n += 1
                tx = "T%d-%d" % (seed, n)
                hour = rng.randint(0, 23)
                t = "%sT%02d:%02d" % (day.isoformat(), hour, rng.randint(0, 59))
                kind = rng.choices(["ok", "pan", "double", "mismatch"], [85, 5, 5, 5])[0]
                if rng.random() < 0.02:
                    t = "1970-01-01T00:%02d" % rng.randint(0, 59)
                evs = sale(rng, tx, t, kind)
                r = rng.random()
                if r < 0.12:     # the whole sale uploaded days later
                    pending.setdefault(d + rng.randint(1, 3), []).extend(evs)
                elif r < 0.18:   # its last events later
                    pending.setdefault(d + 1, []).extend(evs[-2:])
                    (early if hour < 6 else rest).extend(evs[:-2])
                else:
                    (early if hour < 6 else rest).extend(evs)
        # The night: the day's first hours and what arrives late; then
        # the cron job at 06:15; then the rest of the day.
        append(log, early + pending.pop(d, []))
        now = "%sT06:15:00Z" % day.isoformat()
        if d > 0 and rng.random() < 0.2:
            missed += 1
        elif d > 0:
            while rng.random() < 0.4:
                # A run takes some tens of milliseconds a day.
                kills += daily(log, out, now, kill_after=rng.uniform(0.0, 0.15)) == -9
                if rng.random() < 0.3:
                    break  # rerun only the next morning
            else:
                st = daily(log, out, now)
                if st not in (0, 1):
                    print("audit-daily at %s: exit %d" % (now, st))
                    return 1
        append(log, rest)
    # Everything has arrived; a last morning, after the last event's day.
    for p in sorted(pending):
        append(log, pending[p])
    final = start + timedelta(days=ndays + 4)
    st = daily(log, out, "%sT06:15:00Z" % final.isoformat())
    if st not in (0, 1):
        print("last audit-daily: exit %d" % st)
        return 1

    full = subprocess.run(["audit-scan", "-q", "-l", log], env=ENV,
                          stdout=subprocess.PIPE).stdout.decode().splitlines()
    want = sorted(l for l in full if '"severity":"critical"' in l)
    got = []
    for f in sorted(os.listdir(out)):
        if f.endswith(".tmp"):
            print("left over: " + f)
            return 1
        if f.startswith("findings-"):
            with open(os.path.join(out, f)) as fp:
                for l in fp:
                    x = json.loads(l)
                    if x["severity"] == "critical":
                        x.pop("late", None)
                        got.append(json.dumps(x, separators=(",", ":")))
    got.sort()
    reported = 0
    for f in os.listdir(out):
        if f.startswith("audit-") and f.endswith(".txt"):
            with open(os.path.join(out, f)) as fp:
                for l in fp:
                    if l.startswith("Findings: "):
                        reported += int(l.split()[1])
    print("seed %d: %d sales, %d critical findings, %d kills, %d missed mornings"
          % (seed, n, len(want), kills, missed))
    if got != want or reported != len(want):
        import difflib
        sys.stdout.writelines(difflib.unified_diff([w + "\n" for w in want],
                                                   [g + "\n" for g in got],
                                                   "full scan", "daily findings"))
        print("reports count %d critical findings, the full scan %d" % (reported, len(want)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

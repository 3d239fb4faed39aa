#!/usr/bin/env python3
"""saga-prop - the saga promises over many generated histories.

usage: saga-prop.py SEEDS [FIRST]
       saga-prop.py --check-log FILE

For each seed, generate a small store (stock that arrives early or late,
orders with repeated skus, declined cards, deliveries) and run it through a
random schedule of the documented ways to run the sagas, on one SQLite log:

  - a pipeline over the whole log:  evt-replay | saga-step S --only-new | evt-append
  - a pipeline lagging behind:      evt-replay --to K | saga-step S ... | evt-append
  - a service round:                saga-step S -l LOG
  - two service rounds at once, perhaps with different settings
  - a policy change: --decline-over, --fail-rate, --timeout vary per run

then finish with `saga-step all -l LOG` and check the invariants on the log:
stock never below zero at any position; per transaction at most one payment
outcome, one stock outcome, one terminal state, and exactly one at the end;
a paid cancelled transaction refunded exactly once and a cancelled
reservation released exactly once, unless it was fulfilled; nothing
fulfilled refunded or released; nothing reserved without a payment, nothing
fulfilled without a reservation, completed exactly when fulfilled; every
causation id names an event of the log; seq and versions gap-free; and
replaying the whole log through `saga-step all` adds nothing.

Exits 1 at the first seed that breaks one, naming it and the schedule.

--check-log FILE checks the same invariants over a log that something else
produced: FILE holds its stored events as NDJSON in seq order (evt-replay
-l LOG > FILE; - reads standard input). Exits 1 when one is broken.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

SERVICES = ["payment", "inventory", "store", "transaction", "all"]
POLICIES = [[], [], ["--decline-over", "100"], ["--decline-over", "1000"],
            ["--fail-rate", "0.3", "--seed", "7"], ["--timeout", "15m"],
            ["--timeout", "2h"]]


def t(minute):
    return "2026-11-24T%02d:%02d:00.000Z" % (10 + minute // 60, minute % 60)


def generate(rng):
    """The producer events, in the order they reach the log."""
    stores, skus = ["S1", "S2"], ["A", "B", "C"]
    events, minute, n_adj = [], 0, 0

    def adjust(store, sku, delta):
        nonlocal n_adj
        n_adj += 1
        events.append({"id": "adj-%d" % n_adj, "source": "inventory",
                       "type": "InventoryAdjusted",
                       "subject": "inventory-" + store, "time": t(minute),
                       "data": {"store_id": store, "sku": sku,
                                "delta": delta, "reason": "delivery"}})

    for store in stores:
        for sku in skus:
            if rng.random() < 0.6:
                adjust(store, sku, rng.randint(1, 3))
    for n in range(1, rng.randint(3, 9)):
        minute += rng.randint(1, 20)
        items = [{"sku": rng.choice(skus), "qty": rng.randint(1, 2),
                  "unit_price": 10} for _ in range(rng.randint(1, 3))]
        order = {"transaction_id": "T%d" % n, "store_id": rng.choice(stores),
                 "customer_id": "C%d" % n, "items": items,
                 "total": rng.choice([5, 19.90, 150, 500.5, 1200]),
                 "currency": "EUR",
                 "payment": {"method": "card", "token": "tok_decline_x"
                             if rng.random() < 0.15 else "tok_ok"}}
        if rng.random() < 0.3:
            order["delivery"] = {"address": "somewhere"}
        events.append({"id": "order-T%d" % n, "source": "transaction",
                       "type": "TransactionCreated",
                       "subject": "transaction-T%d" % n, "time": t(minute),
                       "data": order})
        if rng.random() < 0.3:	# late stock
            adjust(rng.choice(stores), rng.choice(skus), rng.randint(1, 2))
    return events


def sh(cmd, env, check=True):
    r = subprocess.run(["bash", "-c", cmd], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode not in (0,):
        raise RuntimeError("%s: exit %d: %s" % (cmd, r.returncode, r.stderr))
    return r


def run_schedule(rng, events, log, env, steps):
    """Append the events in chunks, with random runs between them."""
    pending = list(events)
    clock = 0
    while pending or rng.random() < 0.5:
        if pending:
            k = rng.randint(1, max(1, len(pending) // 2))
            chunk, pending = pending[:k], pending[k:]
            data = "".join(json.dumps(e) + "\n" for e in chunk)
            subprocess.run(["evt-append", "-l", log], input=data, text=True,
                           env=env, check=True)
            steps.append("append %d" % k)
        for _ in range(rng.randint(0, 3)):
            clock += rng.randint(1, 40)
            e = dict(env, EVT_NOW=t(clock))
            svc = rng.choice(SERVICES)
            pol = rng.choice(POLICIES)
            opts = " ".join(pol)
            how = rng.random()
            if how < 0.3:
                cmd = ("evt-replay -l %s | saga-step %s --only-new %s | "
                       "evt-append -q -l %s" % (log, svc, opts, log))
            elif how < 0.45:
                n = int(sh("evt-replay -l %s --count" % log, e).stdout)
                cmd = ("evt-replay -l %s --to %d | saga-step %s --only-new "
                       "%s | evt-append -q -l %s" %
                       (log, max(1, rng.randint(0, n)), svc, opts, log))
            elif how < 0.8:
                cmd = "saga-step %s -l %s %s" % (svc, log, opts)
            else:
                svc2, pol2 = rng.choice(SERVICES), rng.choice(POLICIES)
                cmd = ("saga-step %s -l %s %s & saga-step %s -l %s %s; wait"
                       % (svc, log, opts, svc2, log, " ".join(pol2)))
            r = sh("set -o pipefail; " + cmd, e, check=False)
            # 75: another outcome of a decision was stored first (a lagging
            # or racing run); 74: saga-step's reader went away then.
            if r.returncode not in (0, 74, 75) or (
                    r.returncode == 74 and "stored already" not in r.stderr):
                raise RuntimeError("%s: exit %d: %s" %
                                   (cmd, r.returncode, r.stderr))
            steps.append("%s [%s] -> %d" % (cmd.replace(log, "LOG"),
                                            t(clock), r.returncode))
        if not pending and rng.random() < 0.5:
            break
    e = dict(env, EVT_NOW="2026-11-25T12:00:00.000Z")
    sh("saga-step all -l %s" % log, e)
    steps.append("saga-step all -l LOG")


def check(log, env):
    """The invariants over the final log; returns a list of broken ones."""
    return check_stored(sh("evt-replay -l %s" % log, env).stdout, env)


def check_stored(out, env, strict=False):
    """The invariants over a log's stored events, as evt-replay writes
    them (NDJSON, in seq order); returns a list of broken ones. strict:
    a replay through saga-step all that fails is one too."""
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    bad = []
    ids = {e["id"] for e in evs}
    if len(ids) != len(evs):
        bad.append("an id stored twice")
    if [e["seq"] for e in evs] != list(range(1, len(evs) + 1)):
        bad.append("seq not gap-free")
    vers = {}
    for e in evs:
        vers[e["subject"]] = vers.get(e["subject"], 0) + 1
        if e["version"] != vers[e["subject"]]:
            bad.append("version gap in %s" % e["subject"])
        if e.get("causationid") not in ids:
            bad.append("causation of seq %d not in the log" % e["seq"])
    # Stock at every position: adjustments, less what reservations hold.
    stock, held = {}, {}
    tx = {}
    for e in evs:
        d = e.get("data", {})
        ty = e["type"]
        if ty == "InventoryAdjusted":
            k = (d["store_id"], d["sku"])
            stock[k] = stock.get(k, 0) + d["delta"]
            continue
        if "transaction_id" not in d:
            continue
        x = tx.setdefault(d["transaction_id"], {})
        x.setdefault(ty, []).append(e)
        if ty == "InventoryReserved":
            for it in d["items"]:
                k = (d["store_id"], it["sku"])
                stock[k] = stock.get(k, 0) - it["qty"]
                if stock[k] < 0:
                    bad.append("stock of %s below zero at seq %d" %
                               (k, e["seq"]))
        if ty == "InventoryReleased":
            for it in d["items"]:
                k = (d["store_id"], it["sku"])
                stock[k] = stock.get(k, 0) + it["qty"]
    for tid, x in sorted(tx.items()):
        def n(*types):
            return sum(len(x.get(ty, [])) for ty in types)
        if n("TransactionCreated") != 1:
            continue
        if n("PaymentProcessed", "PaymentFailed") > 1:
            bad.append("%s: two payment outcomes" % tid)
        if n("InventoryReserved", "InventoryUnavailable") > 1:
            bad.append("%s: two stock outcomes" % tid)
        if n("TransactionCompleted", "TransactionCancelled") != 1:
            bad.append("%s: %d terminal states" % (tid, n(
                "TransactionCompleted", "TransactionCancelled")))
        paid, fulfilled = n("PaymentProcessed"), n("OrderFulfilled")
        cancelled = n("TransactionCancelled")
        if n("PaymentRefunded") > 1:
            bad.append("%s: refunded twice" % tid)
        if n("InventoryReleased") > 1:
            bad.append("%s: released twice" % tid)
        if fulfilled and (n("PaymentRefunded") or n("InventoryReleased")):
            bad.append("%s: fulfilled, then refunded or released" % tid)
        if cancelled and paid and not fulfilled and n("PaymentRefunded") != 1:
            bad.append("%s: cancelled after payment, not refunded" % tid)
        if (cancelled and n("InventoryReserved") and not fulfilled
                and n("InventoryReleased") != 1):
            bad.append("%s: cancelled after reservation, not released" % tid)
        if n("InventoryReserved", "InventoryUnavailable") and not paid:
            bad.append("%s: stock decided without a payment" % tid)
        if fulfilled and not n("InventoryReserved"):
            bad.append("%s: fulfilled without a reservation" % tid)
        if fulfilled and not paid:
            bad.append("%s: fulfilled without a payment" % tid)
        if bool(n("TransactionCompleted")) != bool(fulfilled):
            bad.append("%s: completed and fulfilled disagree" % tid)
    r = subprocess.run(["saga-step", "all", "--only-new"], input=out,
                       env=dict(env, EVT_NOW="2026-11-25T12:00:00.000Z"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if strict and r.returncode != 0:
        bad.append("replaying the log through saga-step all: exit %d: %s" %
                   (r.returncode, r.stderr.strip()[-300:]))
    more = str(len(r.stdout.splitlines()))
    if more != "0":
        bad.append("replaying the log through saga-step all adds %s" % more)
    return bad


def check_log(path):
    """--check-log FILE: the invariants over FILE, a log's stored events
    as NDJSON in seq order (evt-replay's output; - for standard input).
    Prints each broken one; exits 1 when one is, else 0."""
    env = dict(os.environ)
    env.pop("EVT_LOG", None)
    if path == "-":
        out = sys.stdin.read()
    else:
        with open(path) as f:
            out = f.read()
    try:
        bad = check_stored(out, env, strict=True)
    except RuntimeError as e:
        bad = [str(e)]
    n = sum(1 for line in out.splitlines() if line.strip())
    for b in sorted(set(bad)):
        print("  " + b)
    print("%s: %d events: %s" % (path, n, "%d invariants broken" %
                                 len(set(bad)) if bad else "all hold"))
    return 1 if bad else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-log":
        return check_log(sys.argv[2])
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    env = dict(os.environ)
    env.pop("EVT_LOG", None)
    failed = 0
    keep = os.environ.get("SAGA_PROP_KEEP")	# a directory to keep the logs in
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        for seed in range(first, first + seeds):
            rng = random.Random(seed)
            log = os.path.join(tmp, "s%d.db" % seed)
            steps = []
            try:
                run_schedule(rng, generate(rng), log, env, steps)
                bad = check(log, env)
            except RuntimeError as e:
                bad = [str(e)]
            if bad:
                failed += 1
                print("seed %d breaks:\n  %s\nschedule:\n  %s" %
                      (seed, "\n  ".join(sorted(set(bad))),
                       "\n  ".join(steps)))
                if keep:
                    os.rename(log, os.path.join(keep, "s%d.db" % seed))
                break
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
    print("%d seeds from %d: %s" % (seeds, first,
                                    "a seed failed" if failed else "all hold"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

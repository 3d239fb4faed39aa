#!/usr/bin/env python3
"""saga-live - the saga promises of the live services, under load.

usage: saga-live.py SEEDS [FIRST] [--backend sqlite|pg|both]
       saga-live.py --check LOG|FILE.ndjson

The sibling of saga-prop.py for the services as they run for real. For each
seed, on a fresh log (a SQLite file, or a PostgreSQL log in a schema of its
own on the server of $PG_URL; with no $PG_URL, a throwaway server is started
with scripts/pg for the run and stopped at its end):

  - eight services follow the log: `saga-step S -l LOG --follow --timeout 1h`
    for S in transaction, payment, inventory, store, two instances each (the
    second one perhaps with other settings: --decline-over, --fail-rate,
    --timeout 2h);
  - producers stream into `evt-append -q -l LOG` in small batches for a few
    seconds: orders, stock deliveries (positive only), re-sent orders (same
    transaction id, a new id, no id or the same id), bad events (orders with
    a negative or string total, no items, qty 0 or 1e19, no currency, a
    transaction id with a control character, not a string or missing; a
    PaymentProcessed without an amount from another producer; a fractional
    stock delta; a TransactionCancelled without data), customers' requests
    to cancel (TransactionCancelRequested), and a skewed clock: events of an
    unrelated store stamped a day ahead;
  - service instances are killed with SIGKILL at random and restarted;
  - then the services settle (the log stops growing for 2 s and they use
    no CPU; bounded by SAGA_LIVE_SETTLE_MAX), are stopped with SIGTERM
    (each must exit 0; one that exited by itself is a failure), and the
    invariants are checked on the log (see check()).

Timing makes a run differ from the next with the same seed: the seed fixes
what is produced and when kills happen, not how the processes interleave.

Binaries from PATH. Exits 1 at the first seed that breaks an invariant,
naming the seed, the backend and what broke (and keeping the log under
$SAGA_LIVE_KEEP, if set). --check runs the invariants alone over a log, or
over an NDJSON file of stored events (e.g. a doctored copy of a log).

Environment (all optional): SAGA_LIVE_SECONDS how long producers stream (8),
SAGA_LIVE_RATE batches per second per producer (20), SAGA_LIVE_SETTLE_MAX
the bound on settling, in seconds (60), SAGA_LIVE_MIX what the chaos
producer writes besides orders and stock, a comma-separated subset of
resend,cancel,bad,skew (all; empty for none: to tell which breaks a run),
SAGA_LIVE_KEEP a directory to keep
the log of a failing seed in, PG_URL the PostgreSQL server to use.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from datetime import datetime, timedelta, timezone

SERVICES = ["transaction", "payment", "inventory", "store"]
STORES, SKUS = ["S1", "S2", "S3"], ["A", "B", "C", "D"]
SKEW_STORE = "S9"		# the store whose clock is a day ahead
SECONDS = float(os.environ.get("SAGA_LIVE_SECONDS", "8"))
RATE = float(os.environ.get("SAGA_LIVE_RATE", "20"))
MIX = set(os.environ.get("SAGA_LIVE_MIX", "resend,cancel,bad,skew").split(","))
SETTLE_QUIET = 2.0
SETTLE_MAX = float(os.environ.get("SAGA_LIVE_SETTLE_MAX", "60"))
STOP_WAIT = 20.0		# for one service to exit on SIGTERM
CMD_WAIT = 120.0		# for one evt-append, evt-replay or check
HERE = os.path.dirname(os.path.abspath(__file__))

# Every process this script starts, so that it can be killed by PID at the
# end, whatever happens.
_procs = set()
_procs_lock = threading.Lock()


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    with _procs_lock:
        _procs.add(p)
    return p


def reap(p):
    with _procs_lock:
        _procs.discard(p)


def kill_all():
    with _procs_lock:
        procs = list(_procs)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        reap(p)


def run(argv, input=None, timeout=CMD_WAIT, env=None):
    """Run argv to its end (bounded); (exit status, stdout, stderr)."""
    p = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += "\n(killed after %gs)" % timeout
        return -9, out, err
    finally:
        reap(p)
    return p.returncode, out, err


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond //
                                                          1000)


# ---------------------------------------------------------------- the log

class PgServer:
    """$PG_URL, or a throwaway server of scripts/pg for this run."""

    def __init__(self):
        self.url = os.environ.get("PG_URL")
        self.dir = None
        if not self.url:
            self.dir = tempfile.mkdtemp(prefix="saga-live-pg.")
            rc, _, err = run([os.path.join(HERE, "..", "scripts", "pg"),
                              "start", self.dir], timeout=180)
            if rc != 0:
                raise SystemExit("saga-live: scripts/pg start: %s" % err)
            with open(os.path.join(self.dir, "url")) as f:
                self.url = f.read().strip()

    def new_log(self, name):
        """A fresh, empty log: a schema of its own. (url, schema)"""
        schema = "live_%s_%d_%d" % (name, os.getpid(),
                                    random.randrange(1 << 30))
        rc, _, err = run(["psql", "-qAtX", self.url, "-c",
                          "CREATE SCHEMA " + schema], timeout=60)
        if rc != 0:
            raise RuntimeError("psql: CREATE SCHEMA: " + err.strip())
        sep = "&" if "?" in self.url else "?"
        return "%s%soptions=-csearch_path%%3D%s" % (self.url, sep,
                                                     schema), schema

    def drop(self, schema):
        run(["psql", "-qAtX", self.url, "-c",
             "DROP SCHEMA IF EXISTS %s CASCADE" % schema], timeout=60)

    def stop(self):
        if self.dir:
            run([os.path.join(HERE, "..", "scripts", "pg"), "stop",
                 self.dir], timeout=120)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def count(log):
    rc, out, err = run(["evt-replay", "-l", log, "--count"], timeout=60)
    if rc != 0:
        raise RuntimeError("evt-replay --count: exit %d: %s" %
                           (rc, err.strip()))
    return int(out)


def read_events(src):
    """The stored events of a log, or of an NDJSON file, in seq order."""
    if os.path.isfile(src) and src.endswith((".ndjson", ".jsonl")):
        with open(src) as f:
            text = f.read()
    else:
        rc, text, err = run(["evt-replay", "-l", src])
        if rc != 0:
            raise RuntimeError("evt-replay -l LOG: exit %d: %s" %
                               (rc, err.strip()))
    return text, [json.loads(line) for line in text.splitlines()
                  if line.strip()]


# ------------------------------------------------------------- producers

class Producers:
    """What producers write, the state they share, and how they write it."""

    def __init__(self, seed, log, stop):
        self.seed, self.log, self.stop = seed, log, stop
        self.lock = threading.Lock()
        self.orders = []	# (id, subject, data) of appended good orders
        self.n = 0
        self.appended = 0
        self.batches = 0
        self.slowest = 0.0
        self.errors = []

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def append(self, events):
        """One batch into evt-append; 75 (busy) is retried, a bounded
        number of times: a producer must not be kept out of the log."""
        data = "".join(json.dumps(e) + "\n" for e in events)
        for attempt in range(3):
            t0 = time.monotonic()
            rc, _, err = run(["evt-append", "-q", "-l", self.log],
                             input=data, timeout=60)
            took = time.monotonic() - t0
            with self.lock:
                self.slowest = max(self.slowest, took)
            if rc == 0:
                with self.lock:
                    self.appended += len(events)
                    self.batches += 1
                return True
            if rc != 75 or self.stop.is_set():
                break
            time.sleep(0.05 * (attempt + 1))
        with self.lock:
            self.errors.append("producer: evt-append exit %d after %.1fs "
                               "(attempt %d): %s" % (rc, took, attempt + 1,
                                                     err.strip()[-300:]))
        return False

    def order(self, rng, store=None, when=None):
        n = self.next_n()
        tid = "T%d-%d" % (self.seed, n)
        items = [{"sku": rng.choice(SKUS), "qty": rng.randint(1, 3),
                  "unit_price": rng.choice([2, 5, 9.5, 20, 60])}
                 for _ in range(rng.randint(1, 3))]
        total = round(sum(i["qty"] * i["unit_price"] for i in items), 2)
        data = {"transaction_id": tid,
                "store_id": store or rng.choice(STORES),
                "customer_id": "C%d" % rng.randint(1, 50), "items": items,
                "total": total, "currency": "EUR",
                "payment": {"method": "card", "token": "tok_decline_x"
                            if rng.random() < 0.1 else "tok_ok"}}
        if rng.random() < 0.3:
            data["delivery"] = {"address": "somewhere %d" % n}
        e = {"id": "order-%s" % tid, "source": "transaction",
             "type": "TransactionCreated", "subject": "transaction-" + tid,
             "data": data}
        if when:
            e["time"] = when
        return e

    def stock(self, rng, store=None, sku=None, delta=None, when=None):
        store = store or rng.choice(STORES)
        e = {"id": "adj-%d-%d" % (self.seed, self.next_n()),
             "source": "inventory", "type": "InventoryAdjusted",
             "subject": "inventory-" + store,
             "data": {"store_id": store, "sku": sku or rng.choice(SKUS),
                      "delta": delta if delta is not None
                      else rng.randint(2, 8), "reason": "delivery"}}
        if when:
            e["time"] = when
        return e

    def remember(self, orders):
        """Good orders only: re-sends, cancellation requests and reactions
        of other producers are about real transactions."""
        with self.lock:
            self.orders.extend(orders)

    def some_order(self, rng, recent=False):
        with self.lock:
            if not self.orders:
                return None
            pool = self.orders[-8:] if recent else self.orders
            return rng.choice(pool)

    def bad_events(self, rng):
        """One of each kind of bad event, in a random order."""
        out = []
        n = self.next_n()

        def bad_order(field, change):
            e = self.order(rng)
            tid = e["data"]["transaction_id"]
            e["id"] = "bad-%s-%s" % (field, tid)
            change(e["data"])
            return e
        out.append(bad_order("total", lambda d: d.update(total=-5)))
        out.append(bad_order("total", lambda d: d.update(total="12.50")))
        out.append(bad_order("items", lambda d: d.update(items=[])))
        out.append(bad_order("qty", lambda d: d["items"][0].update(qty=0)))
        out.append(bad_order("qty", lambda d: d["items"][0].update(qty=1e19)))
        out.append(bad_order("currency", lambda d: d.pop("currency")))
        out.append(bad_order("transaction_id", lambda d: d.update(
            transaction_id="X%d\u0007-%d" % (self.seed, n))))
        out.append(bad_order("transaction_id", lambda d: d.update(
            transaction_id=self.seed * 100000 + n)))
        out.append(bad_order("transaction_id",
                             lambda d: d.pop("transaction_id")))
        store = rng.choice(STORES)
        out.append({"id": "bad-delta-%d-%d" % (self.seed, n),
                    "source": "inventory", "type": "InventoryAdjusted",
                    "subject": "inventory-" + store,
                    "data": {"store_id": store, "sku": rng.choice(SKUS),
                             "delta": 0.5, "reason": "delivery"}})
        # Reactions about real orders, written by another producer: bad,
        # and to be set aside (the order is decided as if they were absent).
        o = self.some_order(rng, recent=True)
        if o:
            tid = o["data"]["transaction_id"]
            out.append({"id": "bad-payment-%d-%d" % (self.seed, n),
                        "source": "legacy-billing",
                        "type": "PaymentProcessed",
                        "subject": "payment-" + tid,
                        "data": {"transaction_id": tid,
                                 "payment_id": "legacy-%d" % n,
                                 "currency": "EUR"}})
        o = self.some_order(rng, recent=True)
        if o:
            out.append({"id": "bad-cancel-%d-%d" % (self.seed, n),
                        "source": "ops-tool",
                        "type": "TransactionCancelled",
                        "subject": o["subject"]})
        rng.shuffle(out)
        return out

    # Each producer is a thread appending small batches until stop is set.

    def thread(self, loop, rng):
        try:
            loop(rng)
        except Exception as e:	# a bug here must not pass for a success
            with self.lock:
                self.errors.append("producer %s: %s: %s" % (
                    loop.__name__, type(e).__name__, e))

    def cancel_request(self, tid):
        return {"source": "frontend", "type": "TransactionCancelRequested",
                "subject": "transaction-" + tid,
                "data": {"transaction_id": tid}}

    def orders_loop(self, rng):
        while not self.stop.is_set():
            batch = [self.order(rng) for _ in range(rng.randint(1, 4))]
            if self.append(batch):
                self.remember(batch)
                # A customer who changes their mind at once: the request
                # races the payment, the reservation and the fulfilment.
                if "cancel" in MIX and rng.random() < 0.25:
                    self.stop.wait(rng.choice([0, 0.01, 0.05, 0.1]))
                    tid = rng.choice(batch)["data"]["transaction_id"]
                    self.append([self.cancel_request(tid)])
            self.stop.wait(rng.expovariate(RATE))

    def stock_loop(self, rng):
        while not self.stop.is_set():
            batch = [self.stock(rng) for _ in range(rng.randint(1, 3))]
            self.append(batch)
            self.stop.wait(rng.expovariate(RATE / 3))

    def chaos_loop(self, rng):
        """Re-sends, bad events, cancellation requests, a skewed clock."""
        bad, made = [], False
        tomorrow = lambda: iso(datetime.now(timezone.utc) + timedelta(days=1))
        while not self.stop.is_set():
            batch, fresh = [], []
            for _ in range(rng.randint(1, 3)):
                r = rng.random()
                o = self.some_order(rng, recent=rng.random() < 0.7)
                kind = ("resend" if r < 0.3 else "cancel" if r < 0.55 else
                        "bad" if r < 0.8 else "skew")
                if kind not in MIX or (kind in ("resend", "cancel")
                                       and not o):
                    continue
                if kind == "resend":
                    e = json.loads(json.dumps(o))	# a copy
                    how = rng.random()
                    if how < 0.4:
                        e["id"] = "%s-again-%d" % (o["id"], self.next_n())
                    elif how < 0.8:
                        del e["id"]
                    batch.append(e)	# else the same id: stored once
                elif kind == "cancel":
                    tid = o["data"]["transaction_id"]
                    for _ in range(2 if rng.random() < 0.2 else 1):
                        batch.append(self.cancel_request(tid))
                elif kind == "bad":
                    if not bad:
                        bad, made = self.bad_events(rng), True
                    batch.append(bad.pop())
                else:
                    when = tomorrow()
                    batch.append(self.stock(rng, SKEW_STORE, delta=5,
                                            when=when))
                    fresh.append(self.order(rng, SKEW_STORE, when))
                    batch.append(fresh[-1])
            if batch and self.append(batch):
                self.remember(fresh)
            self.stop.wait(rng.expovariate(RATE / 2))
        # Whatever bad events are left still go in: each kind once a seed.
        if "bad" in MIX and not made:
            bad = self.bad_events(rng)
        if bad:
            self.append(bad)


# ------------------------------------------------------------- services

class Service:
    """One instance: `saga-step NAME -l LOG --follow ...`, restartable."""

    def __init__(self, name, i, opts, log, tmp):
        self.name, self.i, self.opts, self.log = name, i, opts, log
        self.label = "%s#%d" % (name, i)
        self.errpath = os.path.join(tmp, "%s-%d.err" % (name, i))
        self.p = None
        self.starts = 0
        self.died = []		# (exit status) of exits nobody asked for

    def argv(self):
        return ["saga-step", self.name, "-l", self.log, "--follow"] + \
            self.opts

    def start(self):
        self.starts += 1
        with open(self.errpath, "a") as f:
            # Not the log: a PostgreSQL URL holds a password.
            f.write("--- start %d: saga-step %s %s\n" % (
                self.starts, self.name, " ".join(self.opts)))
            f.flush()
            self.p = spawn(self.argv(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=f)

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def check_died(self):
        """True when the instance exited by itself since the last look."""
        if self.p is not None and self.p.poll() is not None:
            self.died.append(self.p.returncode)
            reap(self.p)
            self.p = None
            return True
        return False

    def kill9(self):
        if self.alive():
            self.p.kill()
            self.p.wait(timeout=10)
        if self.p is not None:
            reap(self.p)
        self.p = None

    def stop(self):
        """SIGTERM; its exit status, or None when it would not stop."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)
            rc = None
        reap(self.p)
        self.p = None
        return rc

    def stderr_tail(self, n=15):
        try:
            with open(self.errpath, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "\n      ".join(lines[-n:])


def cpu_ticks(services):
    """The CPU time the running instances have used, in clock ticks."""
    n = 0
    for s in services:
        if s.alive():
            try:
                with open("/proc/%d/stat" % s.p.pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                n += int(st[11]) + int(st[12])	# utime, stime
            except (OSError, IndexError, ValueError):
                pass
    return n


def services_for(seed, rng, log, tmp):
    base = ["--timeout", "1h"]
    second = {
        "transaction": rng.choice([base, ["--timeout", "2h"]]),
        "payment": base + rng.choice([[], ["--decline-over", "150"],
                                      ["--fail-rate", "0.2", "--seed",
                                       str(seed)]]),
        "inventory": base + rng.choice([[], ["-q"]]),
        "store": base,
    }
    return [Service(name, i, base if i == 1 else second[name], log, tmp)
            for name in SERVICES for i in (1, 2)]


# ------------------------------------------------------------ invariants

def usable_tid(tid):
    return isinstance(tid, str) and tid != "" and not any(
        unicodedata.category(c) == "Cc" for c in tid)


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def bad_field(d):
    """The field that makes an order's data unusable, or None. Strict only
    where the generator is: a good order is clearly good, a bad one has one
    clear defect."""
    if not isinstance(d, dict):
        return "data"
    if not usable_tid(d.get("transaction_id")):
        return "transaction_id"
    if not is_num(d.get("total")) or d["total"] < 0:
        return "total"
    if not isinstance(d.get("currency"), str) or not d["currency"]:
        return "currency"
    items = d.get("items")
    if not isinstance(items, list) or not items:
        return "items"
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("sku"), str):
            return "sku"
        q = it.get("qty")
        if not is_int(q) or q <= 0 or q > 10 ** 9:
            return "qty"
    return None


def valid_payment(e):
    d = e.get("data")
    return (isinstance(d, dict) and usable_tid(d.get("transaction_id"))
            and is_num(d.get("amount")))


def tid_of(e):
    d = e.get("data")
    if isinstance(d, dict) and usable_tid(d.get("transaction_id")):
        return d["transaction_id"]
    return None


class Broken(list):
    """What broke: (invariant, instance) pairs, in the order found."""

    def add(self, kind, msg):
        self.append((kind, msg))

    def report(self, examples=3):
        """One line per broken invariant: how often, and a few instances."""
        kinds = {}
        for kind, msg in self:
            kinds.setdefault(kind, [])
            if msg not in kinds[kind]:
                kinds[kind].append(msg)
        out = []
        for kind, msgs in kinds.items():
            out.append("%s: broken %d times" % (kind, len(msgs)))
            out.extend("    " + m for m in msgs[:examples])
            if len(msgs) > examples:
                out.append("    ...")
        return out


def check(evs):
    """The invariants over a log's stored events: a Broken."""
    bad = Broken()
    by_id = {}
    for e in evs:
        if e.get("id") in by_id:
            bad.add("ids unique", "id %s stored twice" % e.get("id"))
        by_id[e.get("id")] = e
    seqs = [e.get("seq") for e in evs]
    if seqs != list(range(1, len(evs) + 1)):
        gap = next((i + 1 for i, s in enumerate(seqs) if s != i + 1), None)
        bad.add("seq gap-free",
                "seq not gap-free (first break at position %s)" % gap)
    vers = {}
    for e in evs:
        vers[e["subject"]] = vers.get(e["subject"], 0) + 1
        if e.get("version") != vers[e["subject"]]:
            bad.add("versions gap-free", "version gap in %s at seq %s" %
                    (e["subject"], e.get("seq")))
        if e.get("causationid") not in by_id:
            bad.add("causation in the log",
                    "causation %s of seq %s (%s) not in the log" %
                    (e.get("causationid"), e.get("seq"), e["type"]))

    # Orders: the first of a transaction id is the order, later ones are
    # re-sends; an unusable one is judged by its own id.
    first = {}		# tid -> its first TransactionCreated
    resent = []		# later TransactionCreated of a known tid
    invalid = []		# (order, field)
    caused = {}		# causation id -> events it caused
    for e in evs:
        if e.get("causationid") != e.get("id"):
            caused.setdefault(e.get("causationid"), []).append(e)
    tx = {}		# tid -> type -> [events]
    for e in evs:
        ty = e["type"]
        if ty == "TransactionCreated":
            f = bad_field(e.get("data"))
            tid = tid_of(e)
            if tid is not None and tid in first:
                resent.append(e)
                continue
            if tid is not None:
                first[tid] = e
            if f:
                invalid.append((e, f))
        tid = tid_of(e)
        if tid is not None:
            tx.setdefault(tid, {}).setdefault(ty, []).append(e)

    def reject_reason(e):
        d = e.get("data")
        return d.get("reason") if isinstance(d, dict) else None

    # Rejections: each names a TransactionCreated, and the right one.
    for e in evs:
        if e["type"] != "TransactionRejected":
            continue
        cause = by_id.get(e.get("causationid"))
        why = reject_reason(e)
        if not cause or cause["type"] != "TransactionCreated":
            bad.add("a rejection names an order",
                    "TransactionRejected seq %s is not caused by an "
                    "order" % e["seq"])
        elif why == "duplicate_transaction":
            if cause not in resent:
                bad.add("duplicate rejection only for a re-send",
                        "order %s (seq %s), not a re-send, rejected as "
                        "a duplicate" % (cause["id"], cause["seq"]))
        elif why == "invalid_order":
            if not bad_field(cause.get("data")):
                bad.add("a good order is not rejected",
                        "good order %s (seq %s) rejected as invalid "
                        "(field %s)" % (cause["id"], cause["seq"],
                        e.get("data", {}).get("field")))
        else:
            bad.add("rejection reason known",
                    "TransactionRejected seq %s: unknown reason %r" %
                    (e["seq"], why))
    for o in resent:
        rej = [r for r in caused.get(o["id"], [])
               if r["type"] == "TransactionRejected"
               and reject_reason(r) == "duplicate_transaction"]
        other = [r["type"] for r in caused.get(o["id"], []) if r not in rej]
        if len(rej) != 1:
            bad.add("one duplicate rejection per re-send",
                    "re-sent order %s of %s (seq %d): %d duplicate "
                    "rejections" % (o["id"], tid_of(o), o["seq"],
                    len(rej)))
        if other:
            bad.add("a re-send is not acted on",
                    "re-sent order %s of %s (seq %d) acted on: %s" %
                    (o["id"], tid_of(o), o["seq"], ", ".join(other)))
    for o, field in invalid:
        rej = [r for r in caused.get(o["id"], [])
               if r["type"] == "TransactionRejected"
               and reject_reason(r) == "invalid_order"]
        other = [r["type"] for r in caused.get(o["id"], []) if r not in rej]
        if len(rej) != 1:
            bad.add("one invalid_order rejection per invalid order",
                    "invalid order %s (bad %s, seq %d): %d invalid_order "
                    "rejections" % (o["id"], field, o["seq"], len(rej)))
        elif field not in str(rej[0].get("data", {}).get("field")):
            bad.add("the rejection names the bad field",
                    "invalid order %s (bad %s): rejected naming field "
                    "%r" % (o["id"], field,
                    rej[0].get("data", {}).get("field")))
        if other:
            bad.add("an invalid order is not acted on",
                    "invalid order %s (bad %s) acted on: %s" %
                    (o["id"], field, ", ".join(other)))
        tid = tid_of(o)
        if tid and [p for p in tx[tid].get("PaymentProcessed", [])
                    if valid_payment(p)]:
            bad.add("an invalid order is not charged",
                    "invalid order %s (bad %s) charged" % (o["id"],
                    field))

    # Stock at every position, per store and sku.
    stock = {}
    for e in evs:
        d = e.get("data")
        if not isinstance(d, dict):
            continue
        ty = e["type"]
        if ty == "InventoryAdjusted":
            if is_int(d.get("delta")):
                k = (d.get("store_id"), d.get("sku"))
                stock[k] = stock.get(k, 0) + d["delta"]
        elif ty in ("InventoryReserved", "InventoryReleased"):
            sign = -1 if ty == "InventoryReserved" else 1
            for it in d.get("items") or []:
                k = (d.get("store_id"), it.get("sku"))
                stock[k] = stock.get(k, 0) + sign * it.get("qty", 0)
                if stock[k] < 0:
                    bad.add("stock never negative",
                            "stock of %s/%s is %d at seq %d" %
                            (k[0], k[1], stock[k], e["seq"]))

    for e in evs:
        if (e["type"] == "TransactionCancelled"
                and isinstance(e.get("data"), dict)
                and e["data"].get("reason") == "timeout"):
            bad.add("no timeout",
                    "%s cancelled with reason timeout at seq %d (%s)" %
                    (tid_of(e), e["seq"], e.get("time")))

    # Per transaction id that has an order.
    for tid in sorted(first):
        x = tx.get(tid, {})

        def ev(*types):
            return [e for ty in types for e in x.get(ty, [])]
        terminal = ev("TransactionCompleted", "TransactionCancelled") + [
            r for r in ev("TransactionRejected")
            if reject_reason(r) == "invalid_order"]
        terminal.sort(key=lambda e: e["seq"])
        if len(terminal) != 1:
            bad.add("one terminal state", "%s: %d terminal states (%s)" % (
                    tid, len(terminal), ", ".join(
                    "%s@%d" % (e["type"], e["seq"]) for e in terminal)
                    or "open"))
        paid = [p for p in ev("PaymentProcessed") if valid_payment(p)]
        refunds, fulfilled = ev("PaymentRefunded"), ev("OrderFulfilled")
        reserved, released = ev("InventoryReserved"), ev("InventoryReleased")
        cancelled = ev("TransactionCancelled")
        if len(paid) > 1:
            bad.add("charged at most once", "%s: charged %d times (seq %s)" % (
                    tid, len(paid), ", ".join(str(p["seq"]) for p in paid)))
        want = 1 if paid and not fulfilled else 0
        if len(refunds) != want:
            bad.add("refunded exactly when charged and not fulfilled",
                    "%s: refunded %d times, %s" % (
                    tid, len(refunds), "charged and not fulfilled" if want else
                    "fulfilled" if fulfilled else "not charged"))
        if len(fulfilled) > 1:
            bad.add("fulfilled at most once",
                    "%s: fulfilled %d times" % (tid, len(fulfilled)))
        if len(reserved) > 1:
            bad.add("reserved at most once",
                    "%s: reserved %d times" % (tid, len(reserved)))
        if fulfilled and released:
            bad.add("nothing fulfilled released",
                    "%s: fulfilled and released" % tid)
        if released and not reserved:
            bad.add("released only after a reservation",
                    "%s: released without a reservation" % tid)
        if reserved and cancelled and not fulfilled and len(released) != 1:
            bad.add("a cancelled reservation released once",
                    "%s: cancelled after a reservation, released %d "
                    "times" % (tid, len(released)))
        elif len(released) > 1:
            bad.add("released at most once",
                    "%s: released %d times" % (tid, len(released)))
        if fulfilled and cancelled:
            bad.add("never fulfilled and cancelled",
                    "%s: fulfilled (seq %d) and cancelled (seq %d)" % (
                    tid, fulfilled[0]["seq"], cancelled[0]["seq"]))
        if fulfilled and not ev("TransactionCompleted"):
            bad.add("fulfilled means completed",
                    "%s: fulfilled, not completed" % tid)
        # A customer's request is decided by the transaction service
        # under the fate's id, the store's fulfilment under the same: the
        # log keeps whichever came first. So a request the store raced
        # (its decision taken on a state read before the request) ends
        # completed; one it did not race ends cancelled (for the
        # customer, or for a reason already under way). Never both.
        reqs = ev("TransactionCancelRequested")
        if reqs and terminal and not fulfilled:
            r = reqs[0]["seq"]
            end = terminal[0]
            if end["seq"] > r and end["type"] != "TransactionCancelled":
                bad.add("a cancel request the store did not race cancels",
                        "%s: cancel requested at seq %d, ended %s at seq %d"
                        % (tid, r, end["type"], end["seq"]))
    return bad


def summary(evs):
    """What the seed's log holds, for its line."""
    n = {}
    for e in evs:
        ty = e["type"]
        if ty in ("TransactionCancelled", "TransactionRejected"):
            ty += "/%s" % (e.get("data") or {}).get("reason")
        n[ty] = n.get(ty, 0) + 1
    return ("%d events: %d orders, %d completed, %d cancelled "
            "(%d by customers), %d rejected (%d duplicates)" % (
                len(evs), n.get("TransactionCreated", 0),
                n.get("TransactionCompleted", 0),
                sum(v for k, v in n.items()
                    if k.startswith("TransactionCancelled/")),
                n.get("TransactionCancelled/customer_request", 0),
                sum(v for k, v in n.items()
                    if k.startswith("TransactionRejected/")),
                n.get("TransactionRejected/duplicate_transaction", 0)))


def check_replay(text):
    """Replaying the whole log through saga-step all adds nothing: it
    outputs nothing, not even an outcome whose id is stored already."""
    bad = Broken()
    rc, out, err = run(["saga-step", "all", "--only-new", "--timeout", "1h"],
                       input=text)
    if rc != 0:
        bad.add("replay adds nothing", "evt-replay | saga-step all "
                "--only-new: exit %d: %s" % (rc, err.strip()[-400:]))
    elif out.strip():
        lines = out.splitlines()
        ids = {json.loads(line).get("id") for line in text.splitlines()
               if line.strip()}
        known = sum(1 for line in lines if json.loads(line).get("id") in ids)
        bad.add("replay adds nothing", "replaying the log through saga-step "
                "all outputs %d events (%d of them with an id stored "
                "already), first: %s" % (len(lines), known, lines[0][:300]))
    return bad


# ------------------------------------------------------------- one seed

def run_seed(seed, backend, tmp, pg):
    rng = random.Random(seed)
    t0 = time.monotonic()
    schema = None
    if backend == "pg":
        log, schema = pg.new_log("s%d" % seed)
    else:
        log = os.path.join(tmp, "s%d.db" % seed)
    stop = threading.Event()
    prod = Producers(seed, log, stop)
    bad = Broken()
    services = []
    threads = []
    kills = 0
    settled = -1.0
    evs = []
    try:
        # Opening stock, so that the log exists before the services start.
        first = [prod.stock(rng, store, sku, rng.randint(0, 4))
                 for store in STORES for sku in SKUS]
        if not prod.append(first):
            raise RuntimeError("; ".join(prod.errors))
        services = services_for(seed, rng, log, tmp)
        for s in services:
            s.start()
        for k, loop in enumerate([prod.orders_loop, prod.stock_loop,
                                  prod.chaos_loop]):
            th = threading.Thread(target=prod.thread, daemon=True,
                                  args=(loop, random.Random(seed * 10 + k)))
            th.start()
            threads.append(th)

        # Kill and restart while the producers stream.
        down = {}	# service -> when to restart it
        end = time.monotonic() + SECONDS
        next_kill = time.monotonic() + rng.uniform(0.2, 0.8)
        while time.monotonic() < end:
            now = time.monotonic()
            for s in services:
                if s in down:
                    if now >= down[s]:
                        del down[s]
                        s.start()
                elif s.check_died():
                    bad.add("services alive",
                            "%s exited by itself (status %d)" %
                            (s.label, s.died[-1]))
            if now >= next_kill:
                victims = [s for s in services if s.alive()]
                if victims:
                    pick = [rng.choice(victims)]
                    if rng.random() < 0.2:	# both instances at once
                        pick = [s for s in victims
                                if s.name == pick[0].name]
                    for s in pick:
                        s.kill9()
                        kills += 1
                        down[s] = now + rng.uniform(0, 0.6)
                next_kill = now + rng.uniform(0.2, 0.9)
            time.sleep(0.05)
        stop.set()
        for th in threads:
            th.join(timeout=CMD_WAIT)
            if th.is_alive():
                bad.add("bounded",
                        "a producer did not finish within %ds" % CMD_WAIT)
        for err in prod.errors:
            bad.add("producers append", err)
        for s in list(down):
            s.start()

        # Settle: the log stops growing for SETTLE_QUIET seconds, and the
        # services are idle (a slow fold after a restart, under ASan, may
        # not append for a while and still be at work).
        last, since = count(log), time.monotonic()
        settle0 = time.monotonic()
        busy = [(since, cpu_ticks(services))]
        while (time.monotonic() - since < SETTLE_QUIET
               or busy[-1][1] - busy[0][1] > 2):
            if time.monotonic() - settle0 > SETTLE_MAX:
                bad.add("settles",
                        "the log still grows after %gs" % SETTLE_MAX)
                break
            time.sleep(0.25)
            for s in services:
                if s.check_died():
                    bad.add("services alive",
                            "%s exited by itself (status %d)" %
                            (s.label, s.died[-1]))
            n = count(log)
            if n != last:
                last, since = n, time.monotonic()
            now = time.monotonic()
            busy = [b for b in busy if now - b[0] <= 1.0]
            busy.append((now, cpu_ticks(services)))
        settled = time.monotonic() - settle0

        for s in services:
            if s.check_died():
                bad.add("services alive", "%s exited by itself (status %d)" %
                        (s.label, s.died[-1]))
            elif s.p is not None:
                rc = s.stop()
                if rc is None:
                    bad.add("exit 0 on SIGTERM",
                            "%s did not stop within %gs of SIGTERM" %
                            (s.label, STOP_WAIT))
                elif rc != 0:
                    bad.add("exit 0 on SIGTERM",
                            "%s exited %d on SIGTERM" % (s.label, rc))

        text, evs = read_events(log)
        bad.extend(check(evs))
        bad.extend(check_replay(text))
    except (RuntimeError, OSError) as e:
        bad.add("the run", str(e))
    finally:
        stop.set()
        for s in services:
            s.kill9()
        for th in threads:
            th.join(timeout=CMD_WAIT)

    stats = ("%s; producers appended %d in %d batches (slowest "
             "%.2fs), %d kills, settled in %.1fs, %.1fs in all" % (
                 summary(evs), prod.appended, prod.batches, prod.slowest,
                 kills,
                 settled,
                 time.monotonic() - t0))
    if bad:
        keep = os.environ.get("SAGA_LIVE_KEEP")
        print("seed %d [%s] breaks:" % (seed, backend))
        for line in bad.report():
            print("  " + line)
        shown = {}
        for s in services:
            if s.died or any(m.startswith(s.label + " ") for _, m in bad):
                tail = s.stderr_tail()
                last = tail.split("\n")[-1]
                if last in shown:
                    print("  stderr of %s: ends as %s's" % (s.label,
                                                           shown[last]))
                else:
                    shown[last] = s.label
                    print("  stderr of %s:\n      %s" % (s.label, tail))
        print("  (%s)" % stats)
        if keep:
            if schema:
                print("  log kept: schema %s on $PG_URL" % schema)
            else:
                dst = os.path.join(keep, "saga-live-s%d.db" % seed)
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(log + suffix):
                        shutil.copy(log + suffix, dst + suffix)
                print("  log kept: " + dst)
        elif schema:
            pg.drop(schema)
        return False
    print("seed %d [%s]: ok: %s" % (seed, backend, stats))
    if schema:
        pg.drop(schema)
    else:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(log + suffix):
                os.unlink(log + suffix)
    return True


def usage():
    sys.stderr.write("usage: saga-live.py SEEDS [FIRST] "
                     "[--backend sqlite|pg|both]\n"
                     "       saga-live.py --check LOG|FILE.ndjson\n")
    return 64


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main(argv):
    sys.stdout.reconfigure(line_buffering=True)	# a line per seed, now
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if len(argv) == 2 and argv[0] == "--check":
        text, evs = read_events(argv[1])
        bad = check(evs)
        bad.extend(check_replay(text))
        for line in bad.report(examples=10):
            print("  " + line)
        kinds = len({k for k, _ in bad})
        print("%s: %d events: %s" % (argv[1], len(evs), "%d invariants "
                                     "broken" % kinds if bad else "all hold"))
        return 1 if bad else 0
    backend, args = "sqlite", []
    it = iter(argv)
    for a in it:
        if a == "--backend":
            backend = next(it, None)
        elif a.startswith("--backend="):
            backend = a.split("=", 1)[1]
        else:
            args.append(a)
    if backend not in ("sqlite", "pg", "both") or not 1 <= len(args) <= 2:
        return usage()
    try:
        seeds = int(args[0])
        first = int(args[1]) if len(args) > 1 else 1
    except ValueError:
        return usage()
    backends = ["sqlite", "pg"] if backend == "both" else [backend]
    os.environ.pop("EVT_LOG", None)
    os.environ.pop("EVT_NOW", None)	# live: the services' own clocks
    pg = None
    tmp = tempfile.mkdtemp(prefix="saga-live.")
    ok = True
    try:
        if "pg" in backends:
            pg = PgServer()
        for seed in range(first, first + seeds):
            for b in backends:
                sys.stdout.flush()
                try:
                    ok = run_seed(seed, b, tmp, pg)
                except RuntimeError as e:	# no log to run on
                    print("seed %d [%s]: %s" % (seed, b, e))
                    ok = False
                if not ok:
                    break
            if not ok:
                break
    finally:
        kill_all()
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d seeds from %d on %s: %s" % (
        seeds, first, "+".join(backends),
        "all hold" if ok else "a seed failed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

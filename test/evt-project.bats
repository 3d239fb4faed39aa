#!/usr/bin/env bats
# evt-project: a golden file per projection over the store data set, then
# point-in-time states checked by hand, and the read-model store.

load helper

@test "golden: inventory over the store data set" { golden project-inventory; }
@test "golden: transactions over the store data set" { golden project-transactions; }
@test "golden: sales over the store data set" { golden project-sales; }
@test "golden: sagas over the store data set" { golden project-sagas; }
@test "golden: streams over the store data set" { golden project-streams; }
@test "golden: output formats" { golden project-formats; }
@test "golden: -o prom, numeric columns as Prometheus gauges by key" {
	golden project-prom
	if command -v promtool >/dev/null; then
		grep -v '^##' "$TESTDATA/golden/project-prom/stdout" | promtool check metrics
	fi
}
@test "golden: --spec examples and bad specs" { golden project-spec; }
@test "golden: usage errors" { golden project-usage; }
@test "golden: bad input" { golden project-bad-input; }
@test "golden: money exact at any size, and one outcome per transaction" { golden project-money; }
@test "golden: currencies never added together, in sales and in specs (issue 23, 07)" { golden project-currencies; }

@test "testdata/store-log.ndjson is what the store's pipeline writes" {
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" \
		| EVT_NOW=2026-11-24T18:00:00Z saga-step all \
		| EVT_NOW=2026-11-24T18:00:00Z evt-append -l log.ndjson
	cmp log.ndjson "$TESTDATA/store-log.ndjson"
}

# The four basic orders, each run through the sagas at its own time, so
# that --at has moments to look at: stock at seq 1-6, then T1001 (happy) at
# 10:00 with reactions at 10:00:30, T1002 (declined) at 10:01, T1003 (short
# stock) at 10:02, T1004 (delivery) at 10:03.
basic_log() {
	evt-append -l shop.db <"$TESTDATA/stock.ndjson"
	local i=0
	while IFS= read -r order; do
		echo "$order" | evt-append -l shop.db
		evt-replay -l shop.db | EVT_NOW="2026-11-24T10:0$i:30Z" \
			saga-step all --only-new | evt-append -l shop.db
		i=$((i + 1))
	done <"$TESTDATA/orders.ndjson"
}

@test "--until SEQ: the state after that event, checked by hand" {
	basic_log
	evt-replay -l shop.db | jq -r '"\(.seq) \(.type) \(.data.transaction_id // "")"' >seqs
	# 7 T1001 created, 8 paid, 9 reserved, 10 fulfilled, 11 completed
	grep -qx '9 InventoryReserved T1001' seqs
	grep -qx '10 OrderFulfilled T1001' seqs
	run evt-project -l shop.db inventory --until 8
	assert_line '{"store_id":"S01","sku":"SKU-1001","on_hand":10,"reserved":0,"available":10}'
	run evt-project -l shop.db inventory --until 9
	assert_line '{"store_id":"S01","sku":"SKU-1001","on_hand":10,"reserved":2,"available":8}'
	run evt-project -l shop.db inventory --until 10
	assert_line '{"store_id":"S01","sku":"SKU-1001","on_hand":8,"reserved":0,"available":8}'
	run evt-project -l shop.db transactions --until 8 -o csv
	assert_output "$(printf '%s\r\n' 'transaction_id,store_id,status,total,currency,created_at,updated_at,reason' \
		'T1001,S01,paid,39.80,EUR,2026-11-24T10:00:00.000Z,2026-11-24T10:00:30.000Z,')"
	# The same answer from standard input.
	[ "$(evt-replay -l shop.db | evt-project inventory --until 9)" = "$(evt-project -l shop.db inventory --until 9)" ]
}

@test "--at TIME: the state at that moment, checked by hand" {
	basic_log
	run evt-project -l shop.db transactions --at 2026-11-24T10:00:00Z -o csv
	assert_line --index 1 "$(printf 'T1001,S01,pending,39.80,EUR,2026-11-24T10:00:00.000Z,2026-11-24T10:00:00.000Z,\r')"
	assert_equal "${#lines[@]}" 2
	run evt-project -l shop.db transactions --at 2026-11-24T10:02:59Z
	assert_line '{"transaction_id":"T1001","store_id":"S01","status":"completed","total":39.80,"currency":"EUR","created_at":"2026-11-24T10:00:00.000Z","updated_at":"2026-11-24T10:00:30.000Z","reason":null}'
	assert_line '{"transaction_id":"T1002","store_id":"S01","status":"cancelled","total":125.50,"currency":"EUR","created_at":"2026-11-24T10:01:00.000Z","updated_at":"2026-11-24T10:01:30.000Z","reason":"payment_declined"}'
	assert_line '{"transaction_id":"T1003","store_id":"S02","status":"cancelled","total":360.00,"currency":"EUR","created_at":"2026-11-24T10:02:00.000Z","updated_at":"2026-11-24T10:02:30.000Z","reason":"inventory_unavailable"}'
	refute_output --partial T1004
	# "What was the stock of SKU-1001 in S01 at 10:00:15?" Not yet sold.
	run bash -c "evt-project -l shop.db inventory --at 2026-11-24T10:00:15Z | jq -c 'select(.store_id == \"S01\" and .sku == \"SKU-1001\") | .available'"
	assert_output 10
	run bash -c "evt-project -l shop.db inventory --at 2026-11-24T10:00:30Z | jq -c 'select(.store_id == \"S01\" and .sku == \"SKU-1001\") | .available'"
	assert_output 8
	run evt-project -l shop.db sagas --at 2026-11-24T10:02:30Z -o csv
	assert_line "$(printf 'order-T1003,T1003,cancelled,5,2026-11-24T10:02:00.000Z,2026-11-24T10:02:30.000Z,30000,true\r')"
}

@test "standard input and -l give the same bytes, for every projection" {
	for p in inventory transactions sales sagas streams; do
		cmp <(evt-project -l "$TESTDATA/store-log.ndjson" $p) \
			<(evt-project $p <"$TESTDATA/store-log.ndjson")
		cmp <(evt-project -l "$TESTDATA/store-log.ndjson" $p) \
			<(evt-project $p "$TESTDATA/store-log.ndjson")
	done
	evt-append -l shop.db <"$TESTDATA/store-log.ndjson"
	cmp <(evt-project -l shop.db --spec "$TESTDATA/specs/store-orders.json") \
		<(evt-project --spec "$TESTDATA/specs/store-orders.json" <"$TESTDATA/store-log.ndjson")
}

@test "money is summed exactly, not in floating point" {
	for i in $(seq 1 10); do
		echo "{\"type\":\"TransactionCreated\",\"subject\":\"transaction-T$i\",\"time\":\"2026-11-24T10:00:00Z\",\"data\":{\"transaction_id\":\"T$i\",\"store_id\":\"S1\",\"total\":0.1,\"currency\":\"EUR\"}}"
		echo "{\"type\":\"TransactionCompleted\",\"subject\":\"transaction-T$i\",\"time\":\"2026-11-24T10:00:01Z\",\"data\":{\"transaction_id\":\"T$i\",\"total\":0.1}}"
	done >in
	run evt-project sales in
	assert_output '{"store_id":"S1","day":"2026-11-24","currency":"EUR","completed":10,"cancelled":0,"revenue":1.00,"refunded":0.00}'
	# jq, in binary floating point, does not get 1.
	[ "$(jq -s 'map(select(.type == "TransactionCompleted") | .data.total) | add' in)" != 1 ]
}

# Dump every table of a read model, sorted, for comparing two of them.
dump() {
	for t in $(sqlite3 "$1" "select name from sqlite_master where type = 'table' and name != 'evt_projection' order by 1"); do
		echo "## $t"
		sqlite3 "$1" "select * from \"$t\" order by 1, 2"
	done
}

@test "--into: incremental runs equal a full rebuild, and a re-run adds nothing" {
	evt-append -l shop.db <"$TESTDATA/store-log.ndjson"
	for p in inventory transactions sales sagas streams; do
		evt-project -l shop.db $p --into full.db
		for cut in 10 400 401 900 1300 1579; do
			evt-replay -l shop.db --to $cut | evt-project $p --into steps.db
		done
		evt-project -l shop.db $p --into steps.db
	done
	evt-project -l shop.db --spec "$TESTDATA/specs/store-orders.json" --into full.db
	evt-replay -l shop.db --to 500 | evt-project --spec "$TESTDATA/specs/store-orders.json" --into steps.db
	evt-project -l shop.db --spec "$TESTDATA/specs/store-orders.json" --into steps.db
	cmp <(dump full.db) <(dump steps.db)
	run sqlite3 steps.db 'select name, seq, events from evt_projection order by 1'
	assert_output "$(printf '%s\n' inventory transactions sales sagas streams store_orders | sort | sed 's/$/|1579|1579/')"
	# The read model answers SQL: the same sales as printed.
	[ "$(sqlite3 full.db 'select sum(completed) from sales')" = "$(evt-project -l shop.db sales | jq -s 'map(.completed) | add')" ]
}

@test "--into: a bad line keeps what came before it; a crash loses nothing" {
	head -500 "$TESTDATA/store-log.ndjson" >part
	echo 'not json' >>part
	run evt-project transactions --into rm.db part
	assert_failure 65
	assert_output --partial 'part:501: not JSON'
	[ "$(sqlite3 rm.db "select seq from evt_projection")" = 500 ]
	evt-project transactions --into rm.db "$TESTDATA/store-log.ndjson"
	evt-project transactions --into full.db "$TESTDATA/store-log.ndjson"
	cmp <(dump rm.db) <(dump full.db)
	# kill -9 in the middle of a big fold, then run again.
	gen-events 200000 5 | evt-append -l big.db --no-sync
	evt-project -l big.db streams --into big-full.db
	evt-project -l big.db streams --into big-crash.db &
	pid=$!
	sleep 0.3
	kill -9 $pid
	wait $pid || true
	evt-project -l big.db streams --into big-crash.db
	cmp <(dump big-full.db) <(dump big-crash.db)
}

@test "--into --follow keeps the read model current, and stops cleanly" {
	evt-append -l live.db <"$TESTDATA/stock.ndjson"
	evt-project -l live.db transactions --into rm.db --follow &
	pid=$!
	evt-append -l live.db <"$TESTDATA/orders.ndjson"
	wait_for '[ "$(sqlite3 rm.db "select count(*) from transactions" 2>/dev/null)" = 4 ]'
	evt-replay -l live.db | saga-step all --only-new | evt-append -l live.db
	wait_for '[ "$(sqlite3 rm.db "select group_concat(status) from (select status from transactions order by transaction_id)" 2>/dev/null)" = "completed,cancelled,cancelled,delivered" ]'
	kill -TERM $pid
	wait $pid
	[ "$(sqlite3 rm.db 'select seq from evt_projection')" = "$(evt-replay -l live.db --count)" ]
}

@test "a read model made for another spec is refused, not misread" {
	evt-project --spec "$TESTDATA/specs/notes.json" --into rm.db </dev/null
	echo '{"name":"notes","group":"subject","columns":[{"name":"n","count":true}]}' >other.json
	run evt-project --spec other.json --into rm.db </dev/null
	assert_failure 65
	assert_output --partial 'table notes has other columns'
}

@test "a closed stdout: exit 74, quietly" {
	run bash -c 'evt-project streams "$TESTDATA/store-log.ndjson" | head -1 >/dev/null; echo ${PIPESTATUS[0]}'
	assert_output 74
}

@test "--help and --version" {
	run evt-project --help
	assert_success
	assert_output --partial 'usage: evt-project'
	run evt-project --version
	assert_success
}

@test "a read model that cannot be written: 74, and it is left as it was" {
	d=$(mktemp -d /tmp/evt-ro.XXXXXX)
	chmod 755 "$d"
	evt-project streams --into "$d/rm.db" <"$TESTDATA/store-log.ndjson"
	before=$(sqlite3 "$d/rm.db" 'select * from streams' | md5sum)
	chmod 444 "$d/rm.db"
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-project streams --into "$d/rm.db" <"$TESTDATA/store-log.ndjson"
	assert_failure 74
	assert_output --partial 'readonly database'
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-project streams --into "$d/new.db" </dev/null
	assert_failure 74
	[ "$(sqlite3 "$d/rm.db" 'select * from streams' | md5sum)" = "$before" ]
	rm -rf "$d"
}

@test "--into: SIGTERM mid-fold commits what was folded, exits 0, and a re-run finishes the job" {
	gen-events 200000 6 | evt-append -l big.db --no-sync
	evt-project -l big.db sagas --into full.db
	evt-project -l big.db sagas --into part.db &
	pid=$!
	# Mid-fold: once its first commit is made (a signal at start-up,
	# before the handler is in place, would end it as any program; under
	# valgrind start-up alone takes more than a second).
	wait_for "[ -e part.db ] && [ -n \"\$(sqlite3 part.db 'select seq from evt_projection' 2>/dev/null)\" ]" 120
	kill -TERM $pid
	wait $pid
	[ "$(sqlite3 part.db 'select seq from evt_projection')" -le 200000 ]
	evt-project -l big.db sagas --into part.db
	cmp <(dump full.db) <(dump part.db)
}

order() { printf '{"id":"o-%s","type":"TransactionCreated","subject":"transaction-%s","time":"2026-11-24T10:00:00.000Z","data":{"transaction_id":"%s","store_id":"S1","total":%s,"currency":"EUR"}}\n' "$1" "$1" "$1" "$2"; }

@test "--into keeps money exact, as TEXT: commit by commit equals a full rebuild" {
	echo '{"name":"tot6","group":"data.store_id","columns":[{"name":"sum","sum":"data.total","decimals":6}]}' >spec.json
	{ order T0 100000000000; for i in $(seq 1 10); do order T$i 0.00001; done; } | evt-append -l l.db
	evt-project -l l.db --spec spec.json --into full.db
	for c in $(seq 1 11); do evt-replay -l l.db --to $c | evt-project --spec spec.json --into inc.db; done
	[ "$(sqlite3 full.db 'select sum, typeof(sum) from tot6')" = "100000000000.000100|text" ]
	[ "$(sqlite3 inc.db 'select sum, typeof(sum) from tot6')" = "100000000000.000100|text" ]
	evt-project -l l.db transactions --into inc.db
	[ "$(sqlite3 inc.db "select total from transactions where transaction_id = 'T3'")" = "0.00001" ]
	# A read model that kept money as REAL has drifted: refused, not
	# folded on. So is one of an older evt-project, with money as TEXT
	# compared as text and no integer beside it.
	sqlite3 real.db 'create table tot6(store_id TEXT NOT NULL, sum REAL, sum_x1000000 INTEGER, sum_currency TEXT, PRIMARY KEY(store_id)) WITHOUT ROWID'
	run evt-project -l l.db --spec spec.json --into real.db
	assert_failure 65
	assert_output --partial 'keeps money in column sum as REAL'
	sqlite3 old.db 'create table tot6(store_id TEXT NOT NULL, sum TEXT, PRIMARY KEY(store_id)) WITHOUT ROWID'
	run evt-project -l l.db --spec spec.json --into old.db
	assert_failure 65
	assert_output --partial 'table tot6 has other columns than this projection (another spec, or an older evt-project)'
}

# Issue 23, 08: in SQL, money compares, sorts and sums by value and exactly.
@test "--into: money compares, sorts and sums right in SQL, as decimal text and as an integer of hundredths" {
	{ order T1 19.90; order T2 250.00; order T3 1000.50; order T4 9.99; order T5 0.1; order T6 0.2; } | evt-append -q -l l.db
	evt-project -l l.db transactions --into rm.db
	[ "$(sqlite3 rm.db "select group_concat(transaction_id, ' ') from transactions where total > 100")" = "T2 T3" ]
	[ "$(sqlite3 rm.db "select group_concat(transaction_id, ' ') from (select transaction_id from transactions order by total desc)")" = "T3 T2 T1 T4 T6 T5" ]
	[ "$(sqlite3 rm.db "select min(total) || ' ' || max(total) from transactions")" = "0.10 1000.50" ]
	# The exact sums: decimal_sum of the text, sum of the integers.
	[ "$(sqlite3 rm.db "select decimal_sum(total) from transactions")" = "1280.69" ]
	[ "$(sqlite3 rm.db "select sum(total_x100), typeof(sum(total_x100)) from transactions")" = "128069|integer" ]
	[ "$(sqlite3 rm.db "select total_x100 from transactions where transaction_id = 'T4'")" = 999 ]
	# A client without sqlite3's decimal extension sums the integers.
	python3 -c 'import sqlite3; c = sqlite3.connect("rm.db"); assert c.execute("select sum(total_x100) from transactions where total_x100 > 10000").fetchone() == (125050,)'
	# An amount with more decimals than the integer's scale: the text
	# keeps it exactly, the integer is NULL, and a warning says so.
	order T7 0.005 | evt-append -q -l l.db
	run evt-project -l l.db transactions --into rm.db
	assert_success
	assert_output --partial 'rm.db: transactions.total: 0.005 has more decimals than its integer column'"'"'s scale: total_x100 is NULL there'
	[ "$(sqlite3 rm.db "select total, quote(total_x100) from transactions where transaction_id = 'T7'")" = "0.005|NULL" ]
	[ "$(sqlite3 rm.db "select decimal_sum(total), count(total_x100), count(*) from transactions")" = "1280.695|6|7" ]
	run evt-project -q -l l.db transactions --into rm.db
	assert_output ''
	# Sales: revenue per currency, exact, folded run by run.
	evt-append -q -l s.db <"$TESTDATA/store-log.ndjson"
	evt-replay -l s.db --to 700 | evt-project sales --into sales.db
	evt-project -l s.db sales --into sales.db
	[ "$(sqlite3 sales.db "select currency, decimal_sum(revenue), sum(revenue_x100) from sales group by 1")" = "EUR|63915.54|6391554" ]
	[ "$(evt-project -l s.db sales | jq -r '.revenue' | paste -sd+ | sed 's/\.//g' | bc)" = 6391554 ]
}

@test "--into: the read model is created mode 0600" {
	umask 022
	evt-project transactions --into rm.db <"$TESTDATA/store-log.ndjson"
	[ "$(stat -c %a rm.db)" = 600 ]
}

@test "spec: two group paths with the same last name are refused, or named apart" {
	ev='{"id":"e1","type":"Transfer","subject":"x-1","data":{"from":{"id":"A"},"to":{"id":"B"}}}'
	echo '{"name":"pairs","group":["data.from.id","data.to.id"],"columns":[{"name":"n","count":true}]}' >s.json
	run evt-project --spec s.json <<<"$ev"
	assert_failure 65
	assert_output --partial 'two key columns named id'
	echo '{"name":"pairs","group":[{"path":"data.from.id","name":"from_id"},{"path":"data.to.id","name":"to_id"}],"columns":[{"name":"n","count":true}]}' >s.json
	run evt-project --spec s.json <<<"$ev"
	assert_success
	assert_output '{"from_id":"A","to_id":"B","n":1}'
	echo "$ev" | evt-append -l l.db
	evt-project -l l.db --spec s.json --into rm.db
	[ "$(sqlite3 rm.db 'select from_id, to_id, n from pairs')" = "A|B|1" ]
	echo '{"name":"pairs","group":[{"path":"data.from.id"}],"columns":[{"name":"n","count":true}]}' >s.json
	run evt-project --spec s.json <<<"$ev"
	assert_failure 65
}

@test "composite keys: a U+001F inside a value does not merge two rows" {
	run evt-project inventory <<'IN'
{"id":"a1","type":"InventoryAdjusted","subject":"inventory-S1","data":{"store_id":"S1\u001fA","sku":"B","delta":5}}
{"id":"a2","type":"InventoryAdjusted","subject":"inventory-S1","data":{"store_id":"S1","sku":"A\u001fB","delta":7}}
{"id":"a3","type":"InventoryAdjusted","subject":"inventory-S1","data":{"store_id":"S1","sku":"A\u001fB","delta":1}}
IN
	assert_success
	assert_output "$(printf '%s\n' \
		'{"store_id":"S1","sku":"A\u001fB","on_hand":8,"reserved":0,"available":8}' \
		'{"store_id":"S1\u001fA","sku":"B","on_hand":5,"reserved":0,"available":5}')"
}

@test "exact decimals against Python's decimal module: 3000 amounts of every shape, summed, min and max" {
	python3 - <<'PY'
import decimal, json, random, subprocess
decimal.getcontext().prec = 200
rng = random.Random(12)
def amount():
    k = rng.random()
    if k < 0.3:
        s = str(rng.randint(0, 10**rng.randint(1, 15)))
        if rng.random() < 0.7:
            s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    elif k < 0.5:
        s = "%de%d" % (rng.randint(1, 999), rng.randint(-12, 12))
    elif k < 0.6:
        s = "0.%s%d" % ("0" * rng.randint(0, 20), rng.randint(1, 9))
    elif k < 0.7:
        s = "%d.%dE+%d" % (rng.randint(1, 9), rng.randint(0, 99), rng.randint(0, 10))
    else:
        s = "%d.%02d" % (rng.randint(0, 10**6), rng.randint(0, 99))
    return ("-" if rng.random() < 0.2 else "") + s
groups = {}
lines = []
for i in range(3000):
    g = "g%d" % (i % 7)
    a = amount()
    groups.setdefault(g, []).append(decimal.Decimal(a))
    lines.append('{"type":"X","subject":"x-%d","data":{"g":"%s","a":%s}}' % (i, g, a))
spec = '{"name":"t","group":"data.g","columns":[{"name":"s","sum":"data.a","decimals":2},{"name":"lo","min":"data.a"},{"name":"hi","max":"data.a"}]}'
open("spec.json", "w").write(spec)
out = subprocess.run(["evt-project", "--spec", "spec.json", "-o", "csv"], input="\n".join(lines) + "\n",
                     capture_output=True, text=True, check=True).stdout
def fmt(d, scale):
    d = d.normalize() if d != 0 else decimal.Decimal(0)
    e = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    return format(d, "f") if e >= scale else format(d.quantize(decimal.Decimal(1).scaleb(-scale)), "f")
rows = [r.split(",") for r in out.splitlines()[1:]]
assert len(rows) == 7, out
for g, s, lo, hi in rows:
    v = groups[g]
    want = (fmt(sum(v), 2), fmt(min(v), 0), fmt(max(v), 0))
    assert (s, lo, hi) == want, (g, (s, lo, hi), want)
PY
}
@test "golden: orchestrations: orchestrated sagas, stalest first, with state, step, attempt and due" { golden project-orchestrations; }

# The names a user is offered (no projection, an unknown one) are the
# projections there are: each of them runs, and --help and the man page
# describe the same ones, in the same order.
@test "every projection is named when none or an unknown one is given, and each runs" {
	run evt-project </dev/null
	[ "$status" -eq 64 ]
	local which unknown
	which=$(printf '%s\n' "$output" | sed -n 's/^evt-project: which projection? \(.*\), or --spec FILE$/\1/p')
	run evt-project nosuch </dev/null
	[ "$status" -eq 64 ]
	unknown=$(printf '%s\n' "$output" | sed -n 's/^evt-project: unknown projection: nosuch (\(.*\), or --spec FILE)$/\1/p')
	[ -n "$which" ]
	[ "$which" = "$unknown" ]
	local names; names=$(printf '%s\n' "$which" | sed 's/, /\n/g')
	[ "$(printf '%s\n' "$names" | wc -l)" -ge 6 ]
	echo "$names" | grep -qx orchestrations
	# --help: the names at the start of its lines, up to the options.
	run bash -c "evt-project --help | sed -n '/^Fold/,/^\$/p' | sed -n 's/^  \([a-z][a-z]*\).*/\1/p'"
	[ "$output" = "$names" ]
	run sed -n 's/^\.It Cm \([a-z][a-z]*\)$/\1/p' "$BATS_TEST_DIRNAME/../man/evt-project.1"
	[ "$output" = "$names" ]
	local n
	for n in $names; do
		evt-project -l "$TESTDATA/store-log.ndjson" "$n" >out.$n ||
			{ echo "$n failed"; return 1; }
	done
}

#!/usr/bin/env bats
# saga-step: a golden file per scenario and service, then the properties.

load helper

@test "golden: all participants over the four basic scenarios" { golden saga-all; }
@test "golden: --only-new writes reactions only" { golden saga-all-only-new; }
@test "golden: payment alone" { golden saga-payment; }
@test "golden: inventory alone" { golden saga-inventory; }
@test "golden: store alone" { golden saga-store; }
@test "golden: transaction alone" { golden saga-transaction; }
@test "golden: timeout by event time, with refund and release" { golden saga-timeout; }
@test "golden: timeout judged at the end of input" { golden saga-timeout-at-end; }
@test "golden: --decline-over" { golden saga-decline-over; }
@test "golden: --fail-rate is a reproducible draw per transaction" { golden saga-fail-rate; }
@test "golden: bad input" { golden saga-bad-input; }
@test "golden: usage errors" { golden saga-usage; }
@test "golden: the store data set through all participants" { golden saga-store-data; }

# Issue 10's cases, each once broken: recorded outcomes are facts.
@test "golden: one sku on two lines is not oversold" { golden saga-r1-dup-sku; }
@test "golden: a replay neither refunds a completed order nor oversells" { golden saga-r2-replay-order; }
@test "golden: a policy change does not charge a declined order" { golden saga-r3-policy-change; }
@test "golden: causes without ids are refused, then run once from the log" { golden saga-r4-idless; }
@test "golden: a restarted service has its state back" { golden saga-r5-restart; }
@test "golden: a timeout never refunds what was fulfilled" { golden saga-r6-fulfilled-wins; }
@test "golden: timeouts in deadline order, whatever the input order" { golden saga-r7-timeout-order; }
@test "golden: timeouts stamped at their due time, before what they cause" { golden saga-r8-timeout-stamp; }
@test "golden: output the same however the input is cut into reads" { golden saga-r9-batches; }
@test "golden: amounts compared exactly at any size" { golden saga-r10-amounts; }

@test "a linear chain of single services produces exactly what all produces" {
	export EVT_NOW=2026-11-24T18:00:00Z
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" >in
	saga-step all <in >all.out
	saga-step payment <in | saga-step inventory | saga-step payment \
		| saga-step store | saga-step transaction | saga-step payment \
		| saga-step inventory >chain.out
	# The same events; the order differs, as each step decides at the
	# end of its input.
	cmp <(sort all.out) <(sort chain.out)
	# Each service alone, over the input and the reactions of the others
	# that come before its own in the chain, draws exactly its own.
	saga-step payment --only-new <in >pay.out
	cat in pay.out | saga-step inventory --only-new >inv.out
	cat in pay.out inv.out | saga-step payment --only-new >refund.out
	cat in pay.out inv.out refund.out | saga-step store --only-new >store.out
	cat in pay.out inv.out refund.out store.out | saga-step transaction --only-new >tx.out
	cat pay.out inv.out refund.out store.out tx.out | sort | cmp - <(grep -v -F -x -f in all.out | sort)
}

@test "same input and EVT_NOW: byte-identical output" {
	export EVT_NOW=2026-11-24T18:00:00Z
	saga-step all "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" >a
	saga-step all "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" >b
	cmp a b
}

@test "replaying the whole log through a step adds nothing; a lost reaction is restored" {
	export EVT_NOW=2026-11-24T18:00:00Z
	evt-append -l shop.db "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	evt-replay -l shop.db | saga-step all --only-new | evt-append -l shop.db
	local n; n=$(evt-replay -l shop.db --count)
	[ "$n" -gt 1000 ]
	for svc in all payment inventory store transaction; do
		run bash -c "evt-replay -l shop.db | saga-step $svc --only-new | evt-append -v -l shop.db"
		assert_output --regexp "^evt-append: 0 appended"
	done
	[ "$(evt-replay -l shop.db --count)" = "$n" ]
	# From a file (one batch), every reaction is seen ahead: none is
	# even emitted. (Through a pipe the look-ahead is what the pipe has
	# ready, and evt-append's id check does the rest.)
	evt-replay -l shop.db >log.ndjson
	run bash -c "saga-step all --only-new log.ndjson | wc -l"
	assert_output 0
	# Lose the reactions of one saga (a copy of the log without them):
	# replaying the copy puts back exactly those.
	evt-replay -l shop.db | jq -c 'select(.data.transaction_id != "T1007" or .type == "TransactionCreated")' \
		| evt-append -l copy.db
	evt-replay -l copy.db | saga-step all --only-new | evt-append -l copy.db
	cmp <(evt-replay -l shop.db | jq -c 'del(.seq, .version)' | sort) \
		<(evt-replay -l copy.db | jq -c 'del(.seq, .version)' | sort)
	assert_log_consistent shop.db
}

@test "a cause seen twice gets one reaction" {
	export EVT_NOW=2026-11-24T18:00:00Z
	cat "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" "$TESTDATA/orders.ndjson" \
		| saga-step all --only-new >twice
	cat "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" | saga-step all --only-new >once
	cmp once twice
}

@test "two orders racing for the last units: exactly one reservation" {
	export EVT_NOW=2026-11-24T18:00:00Z
	{
		echo '{"id":"s1","type":"InventoryAdjusted","subject":"inventory-S09","data":{"store_id":"S09","sku":"LAST","delta":2}}'
		for t in A B C; do
			echo "{\"id\":\"o-$t\",\"type\":\"TransactionCreated\",\"subject\":\"transaction-$t\",\"data\":{\"transaction_id\":\"$t\",\"store_id\":\"S09\",\"items\":[{\"sku\":\"LAST\",\"qty\":2,\"unit_price\":5}],\"total\":10,\"currency\":\"EUR\",\"payment\":{\"method\":\"card\",\"token\":\"tok_ok\"}}}"
		done
	} >race
	run bash -c 'saga-step all --only-new <race | jq -r "select(.type | startswith(\"Inventory\")) | .type + \" \" + .data.transaction_id"'
	assert_output "$(printf 'InventoryReserved A\nInventoryUnavailable B\nInventoryUnavailable C')"
	# Through the log, with the services as separate steps, the same.
	evt-append -l race.db <race
	evt-replay -l race.db | saga-step payment --only-new | evt-append -l race.db
	evt-replay -l race.db | saga-step inventory --only-new | evt-append -l race.db
	run evt-replay -l race.db -t InventoryReserved --count
	assert_output 1
}

@test "memory follows open sagas, not input length" {
	export EVT_NOW=2026-11-24T18:00:00Z
	gen-store stock.ndjson orders.ndjson 3000 5
	run bash -c 'cat stock.ndjson orders.ndjson | saga-step all -v --only-new >/dev/null'
	assert_output --regexp "3096 events in, [0-9]+ reactions, 0 sagas open"
}

@test "a closed stdout: exit 74, quietly" {
	run bash -c 'cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" "$TESTDATA/store-orders.ndjson" | saga-step all | head -1 >/dev/null; echo "${PIPESTATUS[1]}"'
	assert_output 74
}

@test "--help and --version" {
	run saga-step --help
	assert_success
	assert_output --partial "usage: saga-step"
	run saga-step --version
	assert_output --regexp '^saga-step \(evt\) [0-9]'
}

@test "live services following one log take 50 orders to their outcomes" {
	evt-append -l live.db "$TESTDATA/store-stock.ndjson"
	services start live.db svc
	# 50 orders, appended while the services run, in a few bursts.
	head -50 "$TESTDATA/store-orders.ndjson" >orders
	for part in 1 2 3 4 5; do
		sed -n "$(( (part - 1) * 10 + 1 )),$(( part * 10 ))p" orders | evt-append -l live.db
		sleep 0.1
	done
	wait_for '[ "$(evt-replay -l live.db -t TransactionCompleted -t TransactionCancelled --count)" = 50 ]' 10
	services stop svc
	# One outcome, one payment decision, one stock decision per order;
	# nothing stored twice, and exactly what `all` draws from the same input.
	run bash -c "evt-replay -l live.db -t 'Transaction[CC][oa]*' | jq -r .data.transaction_id | sort | uniq -d"
	assert_output ""
	run bash -c "evt-replay -l live.db -t 'Payment[PF]*' | jq -r .data.transaction_id | sort | uniq -d"
	assert_output ""
	assert_log_consistent live.db
	cmp <(evt-replay -l live.db | jq -c 'select(.causationid != .id) | {id, type, data}' | sort) \
		<(cat "$TESTDATA/store-stock.ndjson" orders | saga-step all --only-new | jq -c '{id, type, data}' | sort)
	[ ! -s svc/payment.err ]
}

@test "SIGTERM mid-stream: what was written is whole events, nothing is decided" {
	mkfifo in
	saga-step all <in >out &
	local pid=$!
	exec 7>in
	cat "$TESTDATA/stock.ndjson" >&7
	sed -n 1p "$TESTDATA/orders.ndjson" >&7
	wait_for '[ "$(wc -l <out)" -ge 7 ]'
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	exec 7>&-
	[ "$rc" = 143 ]
	jq -c . out >/dev/null
	run jq -r .type out
	assert_line --index 6 TransactionCreated
	[ "$(wc -l <out)" = 7 ]
}

@test "causes straight from a producer, without ids, are refused: their outcomes could not be named" {
	export EVT_NOW=2026-11-24T18:00:00Z
	jq -c 'del(.id)' "$TESTDATA/orders.ndjson" >noid
	run bash -c 'cat "$TESTDATA/stock.ndjson" noid | saga-step all --only-new'
	[ "$status" -eq 65 ]
	assert_output --partial "stdin:7: TransactionCreated: id is missing"
	# Appended first, they get ids, and then their sagas run once.
	evt-append -l shop.db "$TESTDATA/stock.ndjson" noid
	evt-replay -l shop.db | saga-step all --only-new | evt-append -l shop.db
	run bash -c 'evt-replay -l shop.db | saga-step all --only-new | wc -l'
	assert_output 0
	run evt-replay -l shop.db -t 'Transaction[CC][oa]*' --count
	assert_output 4
}

@test "payloads are read as JSON, not as bytes: escapes, spacing, amounts as written" {
	export EVT_NOW=2026-11-24T18:00:00Z
	# The same order twice over: once plain, once with escapes in the
	# strings and spaces between the tokens. Amounts keep their digits.
	{
		echo '{"id":"a1","type":"InventoryAdjusted","subject":"inventory-S1","data":{"store_id":"S1","sku":"AB","delta":5}}'
		echo '{"id":"o1","type":"TransactionCreated","subject":"transaction-T1","data":{"transaction_id":"T1","store_id":"S1","items":[{"sku":"AB","qty":2}],"total":19.90,"currency":"EUR","payment":{"token":"tok_ok"}}}'
		echo '{ "id" : "o2" , "type" : "TransactionCreated" , "subject" : "transaction-T2" , "data" : { "transaction_id" : "T\u0032" , "store_id" : "\u00531" , "items" : [ { "sku" : "A\u0042" , "qty" : 3 } ] , "total" : 1.50E1 , "currency" : "EUR" , "payment" : { "token" : "tok_\u0064ecline" } } }'
		echo '{"id":"o3","type":"TransactionCreated","subject":"transaction-T3","data":{"transaction_id":"T3","store_id":"S1","items":[ {"sku":"A\u0042","qty":3} ],"total":30,"currency":"EUR","payment":{"token":"tok_ok"}}}'
	} >in
	run saga-step all --only-new in
	[ "$status" -eq 0 ]
	# T1 paid 19.90 and reserved 2 of AB; T2 declined (an escaped token);
	# T3 finds 3 left of the same (escaped) sku and reserves them.
	run jq -rc '[.type, .data.transaction_id, (.data.amount // .data.total // ""), (.data.items // "")] | @text' <<<"$(saga-step all --only-new in)"
	[ "${lines[0]}" = '["PaymentProcessed","T1",19.9,""]' ]
	saga-step all --only-new in | grep -q '"amount":19.90,'
	saga-step all --only-new in | grep -q '"reason":"card_declined","amount":1.50E1}'
	[ "$(saga-step all --only-new in | jq -r 'select(.type == "InventoryReserved") | .data.transaction_id + " " + .data.store_id + " " + .data.items[0].sku' | tr '\n' ,)" = "T1 S1 AB,T3 S1 AB," ]
	# The second order's reactions name T2, decoded.
	[ "$(saga-step all --only-new in | jq -r 'select(.data.transaction_id == "T2") | .type' | tr '\n' ,)" = "PaymentFailed,TransactionCancelled," ]
}

@test "properties: generated stores through random schedules of runs, replays, lagging and racing instances, policy changes" {
	# Each seed is a store and a schedule (see test/saga-prop.py for the
	# invariants checked on the final log); `make soak` runs thousands.
	run python3 "$BATS_TEST_DIRNAME/saga-prop.py" "${SAGA_PROP_SEEDS:-150}"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output --partial "all hold"
}

@test "a stored id with another type is a conflict, not a repeat, on every backend" {
	for log in a.db a.ndjson; do
		echo '{"id":"X","type":"PaymentFailed","subject":"payment-T1","data":{"transaction_id":"T1"}}' | evt-append -l $log
		run bash -c "echo '{\"id\":\"X\",\"type\":\"PaymentFailed\",\"subject\":\"payment-T1\",\"data\":{}}' | evt-append -v -l $log"
		assert_output "evt-append: 0 appended (1 duplicate skipped)"
		run bash -c "printf '%s\n' '{\"id\":\"Y\",\"type\":\"Noted\",\"subject\":\"x-1\"}' '{\"id\":\"X\",\"type\":\"PaymentProcessed\",\"subject\":\"payment-T1\",\"data\":{}}' | evt-append --atomic -l $log"
		[ "$status" -eq 75 ]
		assert_output --partial "id X is stored already as an event of another type than PaymentProcessed"
		[ "$(evt-replay -l $log --count)" = 1 ]
	done
}

@test "a stock decision expects the stock stream it read: a producer's adjustment meanwhile is a conflict" {
	export EVT_NOW=2026-11-24T18:00:00Z
	evt-append -l shop.db "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson"
	saga-step payment -l shop.db
	evt-replay -l shop.db | saga-step inventory --only-new >decided
	grep -q '"expectedversion":' decided
	# Stock written off while the decisions were in flight.
	echo '{"id":"loss","type":"InventoryAdjusted","subject":"inventory-S01","data":{"store_id":"S01","sku":"SKU-1001","delta":-10}}' | evt-append -l shop.db
	run evt-append -l shop.db decided
	[ "$status" -eq 75 ]
	assert_output --partial "version conflict on inventory-S01"
	# Decided again on the stock as it is now.
	saga-step all -l shop.db
	[ "$(evt-project -l shop.db inventory | jq -s 'map(select(.available < 0)) | length')" = 0 ]
	assert_log_consistent shop.db
}

@test "two service instances at once, with other settings: one outcome each, no second charge" {
	export EVT_NOW=2026-11-24T18:00:00Z
	evt-append -l shop.db "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	saga-step payment -l shop.db --decline-over 50 & saga-step payment -l shop.db & wait
	run bash -c "evt-replay -l shop.db -t 'Payment*' | jq -r .data.transaction_id | sort | uniq -d"
	assert_output ""
	[ "$(evt-replay -l shop.db -t 'Payment*' --count)" = 300 ]
	saga-step all -l shop.db & saga-step all -l shop.db & wait
	[ "$(evt-replay -l shop.db -t 'Transaction[CC][oa]*' --count)" = 300 ]
	assert_log_consistent shop.db
}

@test "a service on a log: missing log 66, --follow needs -l, a bad stored event set aside with its seq, SIGTERM stops it cleanly" {
	run saga-step all -l nosuch.db
	[ "$status" -eq 66 ]
	run saga-step all --follow
	[ "$status" -eq 64 ]
	echo '{"id":"p","type":"PaymentFailed","subject":"payment-T1","data":{"reason":"x"}}' | evt-append -l bad.db
	run saga-step all -l bad.db
	[ "$status" -eq 0 ]
	assert_output "saga-step: bad.db: seq 1: PaymentFailed: data.transaction_id is missing or not a string: set aside"
	run saga-step all -q -l bad.db
	[ "$status" -eq 0 ]
	assert_output ""
	evt-append -l live.db "$TESTDATA/stock.ndjson"
	saga-step all -l live.db --follow &
	local pid=$!
	evt-append -l live.db "$TESTDATA/orders.ndjson"
	wait_for '[ "$(evt-replay -l live.db -t "Transaction[CC][oa]*" --count)" = 4 ]'
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	[ "$rc" = 0 ]
	assert_log_consistent live.db
}

@test "a service wakes for a deadline with no event to wake it" {
	export EVT_NOW=
	local created; created=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%S.000Z)
	evt-append -l t.db <<-IN
	{"id":"o1","type":"TransactionCreated","subject":"transaction-T1","time":"$created","data":{"transaction_id":"T1","store_id":"S1","items":[{"sku":"A","qty":1}],"total":5,"currency":"EUR","payment":{"token":"tok_ok"}}}
	IN
	unset EVT_NOW
	saga-step transaction -l t.db --follow --timeout 61s &
	local pid=$!
	wait_for '[ "$(evt-replay -l t.db -t TransactionCancelled --count)" = 1 ]' 8
	kill -TERM $pid; wait $pid
}

@test "the table of finished sagas keeps the last ones, cancelled or not, once it evicts" {
	# Against the library of the build the tests run (a sanitizer build's
	# objects need its runtime).
	local lib=$ROOT/build/libevt.a san=
	if nm "$ROOT/bin/saga-step" 2>/dev/null | grep -q __asan_init; then
		lib=$ROOT/build-san/libevt.a san=-fsanitize=address,undefined
	fi
	cc -std=c11 -D_GNU_SOURCE $san -I"$ROOT/lib" -o done-table \
		"$BATS_TEST_DIRNAME/done-table.c" "$lib" -lcrypto
	run ./done-table
	echo "$output"
	[ "$status" -eq 0 ]
	assert_output "lost 0 of the last 1024, kept 0 of the 300 evicted"
}

@test "a payment recorded after its saga ended cancelled is refunded; one without an amount is set aside" {
	export EVT_NOW=2026-11-24T18:00:00Z
	o='{"id":"o1","type":"TransactionCreated","subject":"transaction-T1","data":{"transaction_id":"T1","store_id":"S1","items":[{"sku":"A","qty":1}],"total":5,"currency":"EUR","payment":{"token":"tok_ok"}}}'
	c='{"id":"c1","type":"TransactionCancelled","subject":"transaction-T1","data":{"transaction_id":"T1","reason":"timeout"}}'
	p='{"id":"p1","type":"PaymentProcessed","subject":"payment-T1","data":{"transaction_id":"T1","amount":5,"currency":"EUR"}}'
	run bash -c "printf '%s\n' '$o' '$c' '$p' | saga-step all --only-new | jq -r '[.type, .data.amount, .causationid] | @tsv'"
	assert_output "$(printf 'PaymentRefunded\t5\tp1')"
	run bash -c "printf '%s\n' '$o' '$c' '${p/,\"amount\":5/}' | saga-step all --only-new"
	[ "$status" -eq 0 ]
	assert_output "saga-step: stdin:3: PaymentProcessed: data.amount is missing or not a number: set aside"
}

#!/usr/bin/env bats
# saga-orch: golden cases per scenario, then the properties: restart at
# every prefix, two orchestrators, the service.

load helper
bats_require_minimum_version 1.5.0

@test "golden: an order through its three steps" { golden saga-orch-happy; }
@test "golden: a declined payment fails the saga, not retried" { golden saga-orch-fail-payment; }
@test "golden: no stock: the payment is refunded" { golden saga-orch-fail-inventory; }
@test "golden: fulfilment fails: release, then refund, one at a time" { golden saga-orch-fail-fulfilment; }
@test "golden: timeouts on both sides of the due time" { golden saga-orch-timeout-boundary; }
@test "golden: retry schedule, then the timed-out step is undone" { golden saga-orch-retry; }
@test "golden: duplicate, stale, unknown and out-of-order replies" { golden saga-orch-duplicates; }
@test "golden: a late success after a timeout settles the step" { golden saga-orch-late-success; }
@test "golden: an undo that keeps failing leaves the saga stuck" { golden saga-orch-undo-stuck; }

# Every prefix of a run's output, appended, then a run again: the log
# ends as the uninterrupted run's, event for event, byte for byte.
@test "restart at every prefix of the output ends with the uninterrupted log" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	. "$TESTDATA/sagas/rounds.sh"
	local def="$TESTDATA/sagas/order.json"
	for t in T1 T2 T3 T4; do
		jq -c --arg t $t '.id = "order-" + $t | .subject = "transaction-" + $t
			| .data.transaction_id = $t' "$TESTDATA/sagas/order-T1.ndjson"
	done >orders.ndjson
	orch_log orders.ndjson
	orch_round
	# T1 paid, T2 declined, T3 unanswered, T4 paid and out of stock.
	evt-replay -l log.ndjson -t ChargePayment >charges.ndjson
	grep -e '"T1"' -e '"T4"' charges.ndjson | "$TESTDATA/../test/orch-reply" \
		ChargePayment PaymentProcessed '{"payment_id":"pay"}' | evt-append -l log.ndjson
	grep '"T2"' charges.ndjson | "$TESTDATA/../test/orch-reply" \
		ChargePayment PaymentFailed | evt-append -l log.ndjson
	orch_round
	evt-replay -l log.ndjson -t ReserveInventory | grep '"T4"' | \
		"$TESTDATA/../test/orch-reply" ReserveInventory InventoryUnavailable \
		| evt-append -l log.ndjson
	evt-replay -l log.ndjson >base.ndjson
	# The run under test: at 12:05 every timer of T3 falls due.
	export EVT_NOW=2026-11-24T12:05:00.000Z
	saga-orch -d "$def" --only-new base.ndjson >full.ndjson
	local n; n=$(wc -l <full.ndjson)
	[ "$n" -ge 20 ]
	evt-append -l whole.ndjson base.ndjson full.ndjson
	evt-replay -l whole.ndjson >want
	for k in $(seq 0 "$n"); do
		rm -f p.ndjson*
		head -n "$k" full.ndjson | cat base.ndjson - | evt-append -l p.ndjson
		evt-replay -l p.ndjson | saga-orch -d "$def" --only-new | evt-append -l p.ndjson
		evt-replay -l p.ndjson >got
		cmp want got || { echo "prefix $k differs"; diff want got | head; return 1; }
	done
	# And the service, from any prefix, the same.
	rm -f p.db*
	head -n 7 full.ndjson | cat base.ndjson - | evt-append -l p.db
	saga-orch -d "$def" -l p.db
	evt-replay -l p.db | cmp want -
}

@test "two orchestrators deciding differently: one gets 75, the log holds one" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	. "$TESTDATA/sagas/rounds.sh"
	orch_log "$TESTDATA/sagas/order-T1.ndjson"
	orch_round
	evt-replay -l log.ndjson >before.ndjson
	# A: at 12:01 no reply was in: the payment timed out.
	EVT_NOW=2026-11-24T12:01:00.000Z saga-orch -d "$TESTDATA/sagas/order.json" \
		--only-new before.ndjson >a.ndjson
	# B: read the log after the payment service's reply came: the
	# payment succeeded.
	evt-replay -l log.ndjson | saga-step payment --only-new >reply.ndjson
	cat before.ndjson reply.ndjson | saga-orch -d "$TESTDATA/sagas/order.json" \
		--only-new >b.ndjson
	evt-append -l log.ndjson <reply.ndjson
	evt-append -l log.ndjson <a.ndjson
	run evt-append -l log.ndjson <b.ndjson
	[ "$status" -eq 75 ]
	# The next run follows what A decided.
	run bash -c "evt-replay -l log.ndjson | EVT_NOW=2026-11-24T12:01:00.000Z saga-orch -d $TESTDATA/sagas/order.json --only-new | jq -r .type"
	assert_output "SagaStepSucceeded
SagaStepStarted
ReserveInventory"
	run bash -c "evt-replay -l log.ndjson | jq -r 'select(.subject == \"saga-T1\") | .type' | sort | uniq -c | awk '{print \$1, \$2}'"
	assert_output "1 SagaStarted
2 SagaStepStarted
1 SagaStepTimedOut"
}

@test "the service on a SQLite log decides as the filter does" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	evt-append -l shop.db "$TESTDATA/sagas/order-T1.ndjson"
	evt-append -l shop.ndjson "$TESTDATA/sagas/order-T1.ndjson"
	saga-orch -d "$TESTDATA/sagas/order.json" -l shop.db
	evt-replay -l shop.ndjson | saga-orch -d "$TESTDATA/sagas/order.json" --only-new \
		| evt-append -l shop.ndjson
	cmp <(evt-replay -l shop.db) <(evt-replay -l shop.ndjson)
	# Again: nothing to add.
	saga-orch -v -d "$TESTDATA/sagas/order.json" -l shop.db 2>err
	grep -q ", 0 out," err
}

@test "--follow: a step times out on time with no input arriving" {
	local def="$BATS_TEST_TMPDIR/fast.json"
	jq '.steps[0].timeout = "300ms" | .steps[0].retry = {"count": 0}' \
		"$TESTDATA/sagas/order.json" >"$def"
	jq -c '.time = (now | strftime("%Y-%m-%dT%H:%M:%S.000Z"))' \
		"$TESTDATA/sagas/order-T1.ndjson" | evt-append -l shop.db
	saga-orch -d "$def" -l shop.db --follow 3>&- &
	local pid=$!
	# Its refund (it may have charged) goes out at once.
	wait_for "evt-replay -l shop.db -t RefundPayment --count | grep -qx 1" 5 \
		|| { kill -TERM $pid; return 1; }
	kill -TERM $pid
	wait $pid
	evt-replay -l shop.db -t SagaStepTimedOut --count | grep -qx 1
	# On time: stamped with its due time, 300ms after the start.
	evt-replay -l shop.db | jq -s -e '
		(map(select(.type == "SagaStepStarted"))[0].data.due) as $due
		| map(select(.type == "SagaStepTimedOut"))[0].time == $due'
}
@test "golden: definition errors: FILE:LINE:COL, JSON paths, exit codes" { golden saga-orch-def-errors; }
@test "golden: bad input: 65 with the line" { golden saga-orch-bad-input; }
@test "golden: definition versions: a saga keeps the one it started on" { golden saga-orch-versions; }
@test "golden: a group waits for its sibling in flight before undoing" { golden saga-orch-group; }
@test "golden: the stock transfer, through and undone" { golden saga-orch-transfer; }

# Coexistence: the participants answer the orchestrator's commands with
# replies marked as orchestrated, which the choreography leaves alone.
# Every third order of the store's data set carries "orchestration":
# "order" (order.json's start.match): saga-orch drives it; the others are
# choreographed. One pipeline, run until nothing more happens.
@test "coexistence: saga-step all and saga-orch in one pipeline over mixed orders: one payment, one reservation, one outcome each" {
	export EVT_NOW=2026-11-24T18:00:00.000Z
	gen-store stock.ndjson orders.ndjson 200 11
	jq -c 'if (.data.transaction_id[1:] | tonumber) % 3 == 0
		then .orchestration = "order" else . end' orders.ndjson >mixed.ndjson
	cat stock.ndjson mixed.ndjson | evt-append -l mixed.db
	local n=0 m i
	for i in $(seq 1 15); do
		evt-replay -l mixed.db | saga-step all |
			saga-orch -d "$TESTDATA/sagas/order.json" | evt-append -l mixed.db
		m=$(evt-replay -l mixed.db --count)
		[ "$m" = "$n" ] && break
		n=$m
	done
	[ "$i" -lt 15 ]
	assert_log_consistent mixed.db
	# 67 orchestrated, each ended; no saga for a choreographed order.
	run evt-replay -l mixed.db -t SagaStarted --count
	assert_output 67
	run evt-replay -l mixed.db -t SagaCompleted -t SagaFailed --count
	assert_output 67
	# Per transaction: exactly one payment decision, one reservation
	# decision when paid, one outcome; the orchestrated ones all marked.
	run bash -c "evt-replay -l mixed.db | jq -s -c '
		[.[] | select(.data.transaction_id)] | group_by(.data.transaction_id)
		| map({pay: map(select(.type == \"PaymentProcessed\" or .type == \"PaymentFailed\")) | length,
		       paid: map(select(.type == \"PaymentProcessed\")) | length,
		       res: map(select(.type == \"InventoryReserved\" or .type == \"InventoryUnavailable\")) | length,
		       out: map(select(.type == \"TransactionCompleted\" or .type == \"TransactionCancelled\")) | length,
		       orch: (map(select(.orchestration)) | length > 0)})
		| [length, (map(select(.pay != 1 or .res != .paid or .out != 1)) | length),
		   (map(select(.orch)) | length)]'"
	assert_output "[200,0,67]"
	# And the store ends as the choreography alone leaves it.
	cat stock.ndjson orders.ndjson | evt-append -l chor.db
	saga-step all -l chor.db
	for model in transactions inventory sales; do
		cmp <(evt-project -l chor.db $model) <(evt-project -l mixed.db $model)
	done
}

# Differential: the whole data set as orchestrated orders, the services
# taking turns on one log, ends with the read models the choreography
# gives, column for column: the same payments, stock decisions in the
# same order, the same outcomes and reasons, the same times (EVT_NOW).
@test "differential: the store data set orchestrated ends with the choreography's transactions, inventory and sales" {
	export EVT_NOW=2026-11-24T18:00:00.000Z
	gen-store stock.ndjson orders.ndjson 300 2026
	cat stock.ndjson orders.ndjson | evt-append -l chor.db
	saga-step all -l chor.db
	jq -c '.orchestration = "order"' orders.ndjson | cat stock.ndjson - |
		evt-append -l orch.db
	local n=0 m i
	for i in $(seq 1 15); do
		saga-orch -d "$TESTDATA/sagas/order.json" -l orch.db
		saga-step all -l orch.db
		m=$(evt-replay -l orch.db --count)
		[ "$m" = "$n" ] && break
		n=$m
	done
	[ "$i" -lt 15 ]
	run evt-replay -l orch.db -t SagaStarted --count
	assert_output 300
	# Some of each outcome, so the comparison means something.
	run bash -c "evt-project -l orch.db transactions | jq -r '.status + \" \" + (.reason // \"\")' | sort | uniq -c | awk '{print \$2, \$3}'"
	assert_output "cancelled inventory_unavailable
cancelled payment_declined
completed 
delivered "
	for model in transactions inventory sales; do
		evt-project -l chor.db $model >want.$model
		evt-project -l orch.db $model >got.$model
		diff -u want.$model got.$model
	done
	# Nobody owes anything more, and every saga is over.
	evt-replay -l orch.db | saga-step all -v --only-new 2>err
	grep -q " 0 reactions, 0 sagas open" err
}

@test "the transfer end to end with the services: stock moves between stores, saga-step's and evt-project's stock agree" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	evt-append -l shop.db "$TESTDATA/sagas/stock.ndjson"
	for x in X1:4 X2:3; do
		printf '{"id":"req-%s","source":"backoffice","type":"StockTransferRequested","subject":"transfer-%s","data":{"transfer_id":"%s","from_store":"S01","to_store":"S02","items":[{"sku":"SKU-1001","qty":%s}]}}\n' \
			${x%:*} ${x%:*} ${x%:*} ${x#*:}
	done | evt-append -l shop.db
	local i
	for i in 1 2 3 4 5; do
		saga-orch -d "$TESTDATA/sagas/transfer.json" -l shop.db
		saga-step all -l shop.db
	done
	run bash -c "evt-replay -l shop.db -t SagaCompleted -t SagaFailed | jq -r '.subject + \" \" + .type'"
	assert_output "saga-X2 SagaFailed
saga-X1 SagaCompleted"
	run bash -c "evt-project -l shop.db inventory | jq -c '[.store_id, .on_hand, .reserved]'"
	assert_output '["S01",1,0]
["S02",9,0]'
	# saga-step counts the same stock: an order for the 9 at S02 is
	# taken whole, one more unit is not there.
	printf '{"id":"o-%s","type":"TransactionCreated","subject":"transaction-%s","data":{"transaction_id":"%s","store_id":"S02","items":[{"sku":"SKU-1001","qty":%s,"unit_price":1}],"total":%s,"currency":"EUR","payment":{"method":"card","token":"tok_ok"}}}\n' \
		A A A 9 9 B B B 1 1 | evt-append -l shop.db
	saga-step all -l shop.db
	run bash -c "evt-replay -l shop.db -t 'Inventory[RU]*' | jq -r 'select(.data.transaction_id) | .data.transaction_id + \" \" + .type'"
	assert_output "A InventoryReserved
B InventoryUnavailable"
}

@test "an orchestrated and a choreographed order compete for the last units: one is reserved, the other finds none" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	jq -c '.data.delta = 2' "$TESTDATA/sagas/stock.ndjson" | evt-append -l shop.db
	# A (choreographed) and B (orchestrated) each want the 2 at S01.
	for t in A B; do
		jq -c --arg t $t '.id = "order-" + $t | .subject = "transaction-" + $t
			| .data.transaction_id = $t
			| if $t == "A" then del(.orchestration) else . end' \
			"$TESTDATA/sagas/order-T1.ndjson"
	done | evt-append -l shop.db
	local i
	for i in 1 2 3 4 5; do
		saga-orch -d "$TESTDATA/sagas/order.json" -l shop.db
		saga-step all -l shop.db
	done
	run bash -c "evt-replay -l shop.db -t 'Inventory[RU]*' | jq -r '.data.transaction_id + \" \" + .type + \" \" + (.orchestration // \"-\")'"
	assert_output "A InventoryReserved -
B InventoryUnavailable order"
	run bash -c "evt-project -l shop.db transactions | jq -r '.transaction_id + \" \" + .status + \" \" + (.reason // \"\")'"
	assert_output "A completed 
B cancelled inventory_unavailable"
	run bash -c "evt-project -l shop.db inventory | jq -c 'select(.store_id == \"S01\") | [.on_hand, .reserved]'"
	assert_output "[0,0]"
}

# A saga over is remembered by a hash of its key, the last DONE_MAX of
# them (so that memory follows the open sagas): within them a trigger read
# again starts nothing; beyond them it starts the saga again, whose
# decisions have ids the log holds already, so the log gains nothing.
@test "a saga over is forgotten as its end is read, by the service too; a trigger read again adds nothing, within the table of sagas over and beyond it" {
	# saga-orch with a table of 16, against the library of the build the
	# tests run (as saga-step's done-table test).
	local lib=$ROOT/build/libevt.a san=
	if nm "$ROOT/bin/saga-orch" 2>/dev/null | grep -q __asan_init; then
		lib=$ROOT/build-san/libevt.a san=-fsanitize=address,undefined
	fi
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE $san -DDONE_MAX=16 -I"$ROOT/lib" -o saga-orch-small \
		"$ROOT/cmd/saga-orch.c" "$ROOT/lib/orch.c" "$lib" \
		$(pkg-config --cflags --libs jansson sqlite3 libpq libcrypto) -pthread -lm
	export EVT_NOW=2026-11-24T12:00:00.000Z
	local def="$TESTDATA/sagas/order.json" x i n m
	jq -c '.data.delta = 1000' "$TESTDATA/sagas/stock.ndjson" >orders
	for x in T1 $(seq -f 'X%g' 1 40); do
		jq -c --arg t "$x" '.id = "order-" + $t | .subject = "transaction-" + $t
			| .data.transaction_id = $t' "$TESTDATA/sagas/order-T1.ndjson"
	done >>orders
	for x in small big; do
		local orch=saga-orch
		[ $x = big ] || orch=./saga-orch-small
		rm -f a.db*
		evt-append -q -l a.db <orders
		n=0
		for i in $(seq 1 10); do
			$orch -d "$def" -l a.db
			saga-step all -l a.db
			m=$(evt-replay -l a.db --count)
			[ "$m" = "$n" ] && break
			n=$m
		done
		[ "$(evt-replay -l a.db -t SagaCompleted --count)" = 41 ]
		# The service forgets a saga as it reads its end, as the filter
		# does: none held open.
		$orch -v -d "$def" -l a.db 2>err
		grep -q " 0 out, 0 sagas open, 41 started, 41 completed," err
		# T1's order again, under another id: its saga is long over.
		jq -c 'select(.id == "order-T1") | .id = "order-T1-again"' orders |
			evt-append -q -l a.db
		evt-replay -l a.db >before
		# The filter: what it writes, appended, adds nothing.
		evt-replay -l a.db | $orch -d "$def" --only-new >out
		evt-append -q -l a.db <out
		# The service: nothing, and it stops.
		run timeout 20 $orch -d "$def" -l a.db
		assert_success
		evt-replay -l a.db | cmp before -
		# Within the table, nothing is even written; beyond it, the
		# saga's first decisions again, every one of them stored.
		if [ $x = big ]; then
			[ ! -s out ]
		else
			[ -s out ]
			jq -r .id out | while read -r i; do
				grep -q "\"id\":\"$i\"" before
			done
		fi
	done
}

# Why a saga failed is a code the transaction service reads back from its
# SagaFailed: a step that timed out, or the deadline, cancels the order
# with the choreography's reason for it (timeout); an undo spent, with
# saga_failed.
@test "the transaction service gives an orchestrated order that timed out the reason timeout" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	. "$TESTDATA/sagas/rounds.sh"
	orch_log "$TESTDATA/sagas/order-T1.ndjson"
	orch_round
	# Nobody answers the charge: by 12:05 its three attempts timed out.
	orch_round 2026-11-24T12:05:00.000Z
	orch_reply RefundPayment PaymentRefunded
	orch_round 2026-11-24T12:05:00.000Z
	orch_step transaction
	run bash -c "evt-replay -l log.ndjson -t SagaFailed -t TransactionCancelled | jq -r '.type + \" \" + .data.reason'"
	assert_output "SagaFailed step payment timed out
TransactionCancelled timeout"
	# The saga's deadline (here 1m, the charge unanswered): the same.
	rm -f log.ndjson*
	local def="$BATS_TEST_TMPDIR/deadline.json"
	jq '.deadline = "1m" | .steps[0].timeout = "10m"' "$TESTDATA/sagas/order.json" >"$def"
	orch_log "$TESTDATA/sagas/order-T1.ndjson"
	orch_round 2026-11-24T12:00:00.000Z -d "$def"
	orch_round 2026-11-24T12:02:00.000Z -d "$def"
	orch_reply RefundPayment PaymentRefunded
	orch_round 2026-11-24T12:02:00.000Z -d "$def"
	orch_step transaction
	run bash -c "evt-replay -l log.ndjson -t SagaFailed -t TransactionCancelled | jq -r '.type + \" \" + .data.reason'"
	assert_output "SagaFailed deadline passed
TransactionCancelled timeout"
}

# Found by fuzzing (fuzz/saga.c; testdata/fuzz/saga/regress-subject-*):
# a control character reaching a command's subject made saga-orch write a
# line that is not an event and abort, at every restart too.
@test "a control character from the trigger becomes _ in a command's subject; one in a definition's subject is refused" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	run --separate-stderr saga-orch -d "$TESTDATA/fuzz/saga/regress-subject-from-trigger" \
		"$TESTDATA/orch-control-subject.ndjson"
	assert_success
	echo "$output" | grep -q '"subject":"payment-S_"'
	# Every line it wrote is an event the log takes.
	echo "$output" | evt-append -q -l "$BATS_TEST_TMPDIR/log.db"
	run --separate-stderr saga-orch --check -d "$TESTDATA/fuzz/saga/regress-subject-control"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"command.subject: holds a control character"* ]]
}

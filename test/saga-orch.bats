#!/usr/bin/env bats
# saga-orch: golden cases per scenario, then the properties: restart at
# every prefix, two orchestrators, the service.

load helper

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
	# B: read the log after the reply came: the payment succeeded.
	evt-replay -l log.ndjson -t ChargePayment | "$TESTDATA/../test/orch-reply" \
		ChargePayment PaymentProcessed '{"payment_id":"p"}' >reply.ndjson
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

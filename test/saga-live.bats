#!/usr/bin/env bats
# The live services under load (test/saga-live.py): eight saga-step
# services following one log, producers streaming orders, stock, re-sends,
# bad events, customers' cancellations and a skewed clock, kill -9 and
# restarts; then the saga invariants over the log. A few seeds on each
# backend here; `make soak` runs many. EVT_TEST_SEED picks the first seed.

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

live() {
	SAGA_LIVE_KEEP="$BATS_TEST_TMPDIR" timeout -k 10 150 \
		python3 "$BATS_TEST_DIRNAME/saga-live.py" "$@"
}

@test "live services on a SQLite log: every invariant holds" {
	run live 2 "${EVT_TEST_SEED:-1}" --backend sqlite
	grep '^seed' <<<"$output" | cut -c1-160 | sed 's/^/# /' >&3
	assert_success
	assert_output --partial 'all hold'
}

@test "live services on a PostgreSQL log: every invariant holds" {
	run live 2 "${EVT_TEST_SEED:-1}" --backend pg
	grep '^seed' <<<"$output" | cut -c1-160 | sed 's/^/# /' >&3
	assert_success
	assert_output --partial 'all hold'
}

@test "a live service rides out a PostgreSQL crash: it waits, reads on after what it folded, decides every order once" {
	local log; log=$(pg_log crash)
	evt-append -q -l "$log" <"$TESTDATA/store-stock.ndjson"
	saga-step all -l "$log" --follow 2>svc.err &
	local pid=$!
	head -100 "$TESTDATA/store-orders.ndjson" | evt-append -q -l "$log"
	wait_for '[ "$(evt-replay -l "$log" -t "Transaction[CC][oa]*" --count)" = 100 ]' 30
	pg crash "$PG_DIR"
	sleep 1
	pg start "$PG_DIR"
	tail -n +101 "$TESTDATA/store-orders.ndjson" | evt-append -q -l "$log"
	wait_for '[ "$(evt-replay -l "$log" -t "Transaction[CC][oa]*" --count)" = 300 ]' 30
	kill -0 $pid
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	[ "$rc" = 0 ]
	grep -q 'trying again' svc.err
	# One outcome each, whatever the crash cut.
	[ "$(evt-replay -l "$log" -t PaymentProcessed | jq -r .data.transaction_id | sort | uniq -d | wc -l)" = 0 ]
	[ "$(evt-replay -l "$log" -t 'Transaction[CC][oa]*' | jq -r .data.transaction_id | sort -u | wc -l)" = 300 ]
}

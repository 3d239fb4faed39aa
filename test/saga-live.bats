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

# The PIDs a test starts in the background, stopped by PID whatever
# happens to the test (a follower outlives its server).
teardown() {
	local pid
	for pid in $(cat "$BATS_TEST_TMPDIR/pids" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

@test "two members of each service on one PostgreSQL log, fed the store data set: saga-step all's read models" {
	# Frozen, so that reaction times (and the read models) are saga-step
	# all's to the byte; no timeout fires (the orders are of 2026-11-24).
	export EVT_NOW=2026-11-24T18:00:00.000Z
	local log s m pid pids=()
	log=$(pg_log members)
	evt-append -q -l "$log" <"$TESTDATA/store-stock.ndjson"
	for s in transaction payment inventory store; do
		for m in 0 1; do
			saga-step "$s" -l "$log" --follow --member "$m/2" --timeout 30d \
				2>>"$s-$m.err" 3>&- &
			pids+=($!)
			echo $! >>"$BATS_TEST_TMPDIR/pids"
		done
	done
	# The orders come as from a till, one at a time, each once the one
	# before it is charged or declined. Stock goes to orders in the order
	# their payments are stored: two payment members appending a burst of
	# orders each in its own transaction would store them in another
	# order than saga-step all decides them, and the last units of a
	# scarce sku could go to another order (as correct, not the same).
	coproc PAID { evt-replay -l "$log" -t PaymentProcessed -t PaymentFailed --follow 3>&-; }
	echo "$PAID_PID" >>"$BATS_TEST_TMPDIR/pids"
	local line n=0
	while IFS= read -r line; do
		printf '%s\n' "$line" | evt-append -q -l "$log"
		n=$((n + 1))
		IFS= read -r -t 30 _ <&"${PAID[0]}" || {
			echo "order $n: no payment outcome in 30 s" >&2
			return 1
		}
	done <"$TESTDATA/store-orders.ndjson"
	kill -TERM "$PAID_PID"
	# Every order ended, and nothing more is owed (deliveries, refunds).
	wait_for '[ "$(evt-replay -l "$log" -t "Transaction[CC][oa]*" --count)" = 300 ] &&
		[ -z "$(evt-replay -l "$log" | saga-step all --only-new --timeout 30d)" ]' 60
	for pid in "${pids[@]}"; do
		kill -TERM "$pid"
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	# Nothing went wrong on the way: no member said anything.
	run cat ./*-[01].err
	assert_output ''
	# The same causes, decided by one process over one log.
	evt-append -q -l one.db "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	saga-step all -l one.db --timeout 30d
	for m in transactions inventory sales; do
		evt-project -l one.db "$m" >"want.$m"
		evt-project -l "$log" "$m" >"got.$m"
		diff -u "want.$m" "got.$m"
	done
	[ "$(evt-replay -l "$log" --count)" = "$(evt-replay -l one.db --count)" ]
}

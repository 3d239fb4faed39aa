#!/usr/bin/env bats
# Memory: valgrind finds no leak and no error on the main paths, the error
# paths included. Skipped on a sanitizer build (the two do not mix).

load helper

teardown_file() { pg_stop; }

vg() {
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
}

setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	skip_under_valgrind "make check-valgrind runs every program under valgrind already"
	if nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init; then
		skip "sanitizer build"
	fi
}

@test "valgrind: evt-append and evt-replay on both backends" {
	for log in v.db v.ndjson; do
		vg evt-append --echo -l $log "$TESTDATA/stock.ndjson" "$TESTDATA/sagas.ndjson" >/dev/null
		vg evt-replay -l $log -c payment -t 'Payment*' --since 2026-01-01 >/dev/null
		vg evt-replay -l $log --reverse -n 3 --checkpoint x >/dev/null || true
		vg evt-replay -l $log --checkpoint x --count >/dev/null
	done
}

@test "valgrind: evt-append and evt-replay on PostgreSQL, errors and a follower too" {
	pg_start
	local log; log=$(pg_log v)
	vg evt-append --echo -l "$log" "$TESTDATA/stock.ndjson" "$TESTDATA/sagas.ndjson" >/dev/null
	vg evt-append -l "$log" "$TESTDATA/sagas.ndjson"
	vg evt-replay -l "$log" -c payment -t 'Payment*' --since 2026-01-01 >/dev/null
	vg evt-replay -l "$log" --reverse -n 3 >/dev/null
	vg evt-replay -l "$log" --checkpoint x --count >/dev/null
	run vg evt-append -l "$log" --expect 9 <"$TESTDATA/orders.ndjson"
	assert_failure 75
	# The chain: verified; hashes missing: a writer refuses, the
	# operator's --rechain repairs and records it; an edit found (the read
	# stops early).
	local s=${log##*%3D}
	vg evt-verify -l "$log" >/dev/null
	psql -qX "$PG_URL" -c "UPDATE $s.evt_events SET hash = NULL WHERE seq > 3"
	run vg evt-append -l "$log" <"$TESTDATA/orders.ndjson"
	assert_failure 74
	vg evt-verify -q -l "$log" --rechain "valgrind" >/dev/null
	vg evt-append -l "$log" <"$TESTDATA/orders.ndjson"
	vg evt-verify -l "$log" >/dev/null
	psql -qX "$PG_URL" -c "UPDATE $s.evt_events SET body = body || ' ' WHERE seq = 2"
	run vg evt-verify -l "$log"
	assert_failure 1
	run vg evt-replay -l postgres://127.0.0.1:1/x
	assert_failure 69
	run vg evt-replay -l "${log/search_path%3D/search_path%3Dnosuch}"
	assert_failure 66
	# exec: the PID is valgrind's, which hands SIGTERM to the program.
	(exec valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		evt-replay -l "$log" --follow >out 2>err) &
	local pid=$!
	wait_for '[ -s out ]' 20
	echo '{"type":"A","subject":"s-1"}' | evt-append -l "$log"
	local n; n=$(evt-replay -l "$log" --count)
	wait_for "[ \$(wc -l <out) -ge $n ]" 20
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	pg_stop
	cat err
	[ "$rc" = 0 ]
}

@test "valgrind: checkpoints, moved by evt-replay and by evt-append" {
	for log in k.db k.ndjson; do
		evt-append -l $log "$TESTDATA/stock.ndjson"
		vg evt-replay -l $log --checkpoint c --until 2026-11-18T11:00:00.0005Z >/dev/null
		evt-replay -l $log | vg evt-append -l $log --checkpoint k
		vg evt-append -l $log --checkpoint k --at 2 </dev/null
		vg evt-replay -l $log --resume k >/dev/null
	done
	: >empty.db
	vg evt-replay -l empty.db --count >/dev/null
}

@test "valgrind: the error paths" {
	run vg evt-append -l v.db <<<'not json'
	assert_failure 65
	run vg evt-append -l v.db --reject r <<<'not json'
	assert_success
	run vg evt-append -l v.db --expect 9 <"$TESTDATA/orders.ndjson"
	assert_failure 75
	run vg evt-replay -l nope.db
	assert_failure 66
	run vg evt-replay -l v.db --from 0
	assert_failure 64
}

@test "valgrind: a follower stopped by SIGTERM" {
	evt-append -l f.db <"$TESTDATA/stock.ndjson"
	# valgrind itself in the background, so that $! is the process.
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		evt-replay -l f.db --follow >out 2>err &
	local pid=$!
	wait_for '[ $(wc -l <out) = 6 ]' 30
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	cat err
	[ "$rc" = 0 ]
}

@test "valgrind: saga-step, its error paths included" {
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" >in
	EVT_NOW=2026-11-24T12:00:00Z vg saga-step all --timeout 15m in >/dev/null
	vg saga-step payment --fail-rate 0.5 --seed 3 in >/dev/null
	{ head -5 in; echo 'oops'; } >bad
	run vg saga-step all --only-new bad
	assert_failure 65
	run vg saga-step all --only-new --reject rej bad
	assert_success
	[ "$(wc -l <rej)" = 1 ]
	run vg saga-step nosuch
	assert_failure 64
	# As a service on a log: rounds, a late pipeline refused by the log,
	# a bad stored event, a follower stopped.
	evt-append -l shop.db in
	EVT_NOW=2026-11-24T12:00:00Z vg saga-step payment -l shop.db --decline-over 50
	EVT_NOW=2026-11-24T12:00:00Z evt-replay -l shop.db --to 150 | saga-step all --only-new >late
	EVT_NOW=2026-11-24T12:00:00Z vg saga-step all -l shop.db --timeout 15m
	run vg evt-append -l shop.db late
	assert_failure 75
	# Bad stored events: one set aside, one order rejected, a re-sent
	# order refused as a duplicate; none stops the service.
	{ echo '{"id":"p","type":"PaymentFailed","subject":"payment-T1","data":{}}'
	  echo '{"id":"o9","type":"TransactionCreated","subject":"transaction-T9","data":{"transaction_id":"T9","store_id":"S1","items":[],"total":-1,"currency":"EUR"}}'
	  grep -m1 TransactionCreated in | jq -c '.id = "resent"'; } | evt-append -l bad.db
	evt-append -l bad.db in
	run vg saga-step all -l bad.db --timeout 15m
	assert_success
	assert_output --partial "set aside"
	[ "$(evt-replay -l bad.db -t TransactionRejected --count)" = 2 ]
	evt-append -l f.db in
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		saga-step all -l f.db --follow --timeout 1h 2>err &
	local pid=$!
	wait_for '[ "$(evt-replay -l f.db -t "Transaction[CC][oa]*" --count)" = 300 ]' 60
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	cat err
	[ "$rc" = 0 ]
}

@test "valgrind: evt-project, in memory and into SQLite, its error paths included" {
	L=$TESTDATA/store-log.ndjson
	for p in inventory transactions sales sagas streams; do
		vg evt-project -l "$L" $p -o table >/dev/null
		vg evt-project $p --into rm.db <"$L"
	done
	vg evt-project -l "$L" --spec "$TESTDATA/specs/store-orders.json" -o csv >/dev/null
	vg evt-project --spec "$TESTDATA/specs/store-orders.json" --into rm.db "$L"
	vg evt-project -l "$L" inventory --until 700 -o json >/dev/null
	run vg evt-project inventory <<<'not json'
	assert_failure 65
	run vg evt-project --spec /nonexistent.json
	assert_failure 66
	echo '{"name":"x","group":"type","columns":[{"name":"n","sum":"a","min":"a"}]}' >bad.json
	run vg evt-project --spec bad.json
	assert_failure 65
	run vg evt-project nosuch
	assert_failure 64
}

@test "valgrind: audit-scan, its reports, rules and error paths" {
	L=$TESTDATA/store-log.ndjson
	vg audit-scan -l "$L" --fail-on critical >/dev/null
	vg audit-scan --tag "$L" >/dev/null
	for f in text json csv; do vg audit-scan --report -o $f --metrics m.prom "$L" >/dev/null; done
	echo '{"rules":{"pii_present":{"enabled":false}},"refund_over":10,"pii_fields":["iban"]}' >r.json
	vg audit-scan --rules r.json --until 2026-11-25 "$L" >/dev/null
	printf '%s\n' '{"type":"PaymentProcessed","subject":"p-1","data":{"card":"4111111111111111","cvv":"1"}}' >bad
	run vg audit-scan --alertmanager http://127.0.0.1:9 bad
	assert_failure 69
	run vg audit-scan <<<'not json'
	assert_failure 65
	echo '{"rules":{"x":{}}}' >r2.json
	run vg audit-scan --rules r2.json
	assert_failure 65
	# --state: a first run, an incremental one (late events in it), a
	# period run again, the checkpoint shown.
	head -900 "$L" >part
	vg audit-scan --state st.db --until 2026-11-24T18:00:00Z --findings f.ndjson --report part >/dev/null
	vg audit-scan -l "$L" --state st.db --since 2026-11-24T18:00:00Z --report >/dev/null
	run vg audit-scan -l "$L" --state st.db --since 2026-11-24T10:00:00Z
	assert_success
	vg audit-scan --state st.db --show-state >/dev/null
	run vg audit-scan --state st.db <<<'{"type":"A","subject":"a-1"}'
	assert_failure 65
	# The money rules and card masking.
	printf '%s\n' '{"type":"TransactionCreated","subject":"transaction-T1","data":{"transaction_id":"T1","total":1e25,"currency":"EUR-LONG-CODE"}}' \
		'{"type":"PaymentProcessed","subject":"payment-4111111111111111","data":{"transaction_id":"T1","amount":-1e14,"currency":"USD","k":{"5105105105105100":1}}}' >money
	run vg audit-scan --report money
	assert_failure 1
}

@test "valgrind: the CloudEvents attribute checks and audit-scan --tag" {
	local p='{"type":"A","subject":"s-1"' many
	many=$(seq 1 100 | sed 's/.*/"a&":1/' | paste -sd,)
	printf '%s\n' "$p,\"ok\":\"caf\\u00e9\",\"n\":-1,\"b\":true}" "$p,\"x-y\":1}" \
		"$p,\"\\u0072\":1,\"r\":2}" "$p,\"meta\":{}}" "$p,\"r\":1.5}" \
		"$p,\"r\":99999999999999999999}" "$p,\"r\":\"a\\u0085\"}" \
		"$p,\"source\":\"a b\"}" "$p,\"dataschema\":\"x\"}" "$p,$many,\"a7\":1}" \
		"$p,\"\\u0061bcdefghij0123456789k\":1}" >in
	run vg evt-append --reject r -l v.ndjson <in
	assert_success
	[ "$(wc -l <r)" -eq 10 ]
	printf '%s\n' "$p,\"\\u0061udittags\":\"x\",\"data\":{\"amount\":1}}" | evt-append -l v.ndjson
	sed -i 's/}$/,"audit":{"tags":[]}}/' v.ndjson
	rm v.ndjson.chain	# as an earlier evt made it: no chain
	vg audit-scan -l v.ndjson --tag >out
	[ "$(grep -c audittags out)" -eq 2 ]
	! grep -q 'u0061udittags\|"audit":' out
}

@test "valgrind: evt-top, a frame with findings, and its error paths" {
	"$ROOT/scripts/gen-store" s.ndjson o.ndjson 30 5
	cat s.ndjson o.ndjson | EVT_NOW=2026-11-24T18:00:00Z saga-step all | evt-append -q -l v.db
	printf '%s\n' '{"finding":"pan_unmasked","severity":"critical","seq":3,"subject":"payment-T1","detail":"card number 411111******1111 in data.card"}' 'not json' >f.ndjson
	EVT_NOW=2026-11-24T18:00:00Z COLUMNS=100 LINES=40 vg evt-top -l v.db --once --low 20 --findings f.ndjson >frame
	grep -q 'pan_unmasked' frame
	run vg evt-top -l nowhere/v.db --once
	[ "$status" -eq 66 ]
	# Plain frames until the reader goes away.
	{ vg evt-top -l v.db -n 1; echo "rc=$?" >rc; } | head -1 >first
	grep -q '^evt-top' first
	[ "$(cat rc)" = rc=0 ]
}

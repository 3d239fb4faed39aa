#!/usr/bin/env bats
# The recipes of evt(7) RECOVERY and INCIDENT ANALYSIS, run as the man page
# writes them: each literal block after a `.\" recipe: NAME` comment is
# taken from man/evt.7 and run here, in the log's directory, with evt's
# scripts/ beside it.

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
	ln -s "$ROOT/scripts" scripts
	set -o pipefail
}

teardown() {
	# Whatever a recipe left running: the services it started, by their
	# PID files, and its own background jobs.
	local d
	for d in run scratch-run; do
		[ -d "$d" ] && scripts/services stop "$d" || true
	done
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
}

# recipe NAME: the commands of recipe NAME in man/evt.7, as a reader
# would type them (\e is a backslash).
recipe() {
	awk -v name="$1" '
		$0 == ".\\\" recipe: " name { on = 1; next }
		on && /^\.Bd/ { next }
		on && /^\.Ed/ { exit }
		on { gsub(/\\e/, "\\"); gsub(/\\&/, ""); print }' "$ROOT/man/evt.7"
}

# run_recipe NAME: run it in this shell (its background jobs stay ours),
# stopping at the first command that fails.
run_recipe() {
	local cmds; cmds=$(recipe "$1")
	[ -n "$cmds" ] || { echo "no recipe $1 in man/evt.7" >&2; return 1; }
	printf '## recipe %s\n%s\n' "$1" "$cmds" >&2
	eval "set -e; $cmds"
}

# The store's data set (scripts/gen-store) with its sagas decided, each
# reaction stamped at its order's time (the clock, EVT_NOW, is earlier).
store_log() {
	gen-store stock.ndjson orders.ndjson 300 2026
	cat stock.ndjson orders.ndjson |
		EVT_NOW=2026-11-24T00:00:00.000Z saga-step all | evt-append -q -l "$1"
}

running() { evt-project -l "$1" sagas -o csv | awk -F, '$3 == "running"' | wc -l; }

@test "recipe: rebuild a read model from the log" {
	store_log shop.db
	evt-project -l shop.db sales --into reports.db
	evt-project -l shop.db inventory --into reports.db
	# Damaged: a row changed behind its back, another lost.
	sqlite3 reports.db "UPDATE sales SET revenue = '0.00', revenue_x100 = 0;
		DELETE FROM inventory WHERE sku = 'SKU-1001'"
	evt-project -l shop.db sales --into fresh.db
	evt-project -l shop.db inventory --into fresh.db
	local q="SELECT * FROM sales ORDER BY 1, 2, 3; SELECT * FROM inventory ORDER BY 1, 2"
	! diff <(sqlite3 reports.db "$q") <(sqlite3 fresh.db "$q") >/dev/null
	run_recipe rebuild
	local follower=$!
	[ "$(stat -c %a reports.db)" = 600 ]
	diff <(sqlite3 reports.db "$q") <(sqlite3 fresh.db "$q")
	# The follower goes on from the rebuilt read model.
	sed -n 1p orders.ndjson | sed 's/T1001/T9001/g' | evt-append -q -l shop.db
	saga-step all -l shop.db
	evt-project -l shop.db sales --into fresh.db
	wait_for "diff <(sqlite3 reports.db 'SELECT * FROM sales ORDER BY 1, 2, 3') \
		<(sqlite3 fresh.db 'SELECT * FROM sales ORDER BY 1, 2, 3') >/dev/null" 10
	kill -TERM "$follower"
	wait "$follower"
}

@test "recipe: re-drive stuck sagas with the live services" {
	gen-store stock.ndjson orders.ndjson 120 5
	cat stock.ndjson orders.ndjson | evt-append -q -l shop.db
	# Only the payment service ran: every saga waits for the others.
	saga-step payment -l shop.db
	[ "$(running shop.db)" = 120 ]
	local payments; payments=$(evt-replay -l shop.db -t PaymentProcessed -t PaymentFailed --count)
	[ "$payments" = 120 ]
	run_recipe redrive >out
	# The recipe listed them, by the read model and by the trace.
	[ "$(awk -F, '$3 == "running"' out | wc -l)" = 120 ]
	[ "$(grep -c '"outcome":"stuck"' out)" = 120 ]
	wait_for '[ "$(running shop.db)" = 0 ]' 20
	scripts/services stop run/
	# Every saga ended once; no payment was decided again.
	[ "$(evt-replay -l shop.db -t TransactionCompleted -t TransactionCancelled |
		jq -r .data.transaction_id | sort | uniq -d | wc -l)" = 0 ]
	[ "$(evt-replay -l shop.db -t TransactionCompleted -t TransactionCancelled --count)" = 120 ]
	[ "$(evt-replay -l shop.db -t PaymentProcessed -t PaymentFailed --count)" = "$payments" ]
	assert_log_consistent shop.db
}

keys() {
	mkdir -p keys safe backup
	openssl genpkey -algorithm ed25519 -out keys/evt.pem 2>/dev/null
	openssl pkey -in keys/evt.pem -pubout -out keys/evt.pub
}

@test "recipe: restore the log from a copy, checked against the last signed checkpoint" {
	keys
	store_log all.ndjson
	head -1000 all.ndjson | evt-append -q -l shop.db
	run_recipe keep
	# The next day: more events, kept again; the copy takes what is new.
	evt-replay -l all.ndjson --from 1001 | evt-append -q -l shop.db
	run_recipe keep
	cmp <(evt-replay -l shop.db) <(evt-replay -l backup/shop.ndjson)
	[ "$(sed -n 2p safe/shop.ckpt)" = "$(evt-replay -l shop.db --count)" ]
	# The log is damaged: an order's total changed.
	sqlite3 shop.db "UPDATE events SET body = replace(body, '\"total\":', '\"total\":1')
		WHERE seq = (SELECT min(seq) FROM events WHERE seq > 300
		  AND type = 'TransactionCreated'); SELECT changes()" >changed
	[ "$(cat changed)" = 1 ]
	run evt-verify -l shop.db
	assert_failure 1
	run_recipe restore
	[ -e damaged/shop.db ]
	cmp <(evt-replay -l shop.db) <(evt-replay -l all.ndjson)
	[ "$(stat -c %a shop.db)" = 600 ]

	# The check can fail: a copy that was changed, and one that is short.
	cp backup/shop.ndjson good.ndjson
	evt-replay -l good.ndjson | sed '1200s/"id":"/"id":"x/' |
		evt-append -q -l changed.ndjson
	rm -f backup/shop.ndjson*
	evt-replay -l changed.ndjson | evt-append -q -l backup/shop.ndjson
	run run_recipe restore
	assert_failure 1
	assert_output --partial "does not extend the checkpoint"
	rm -f backup/shop.ndjson*
	evt-replay -l good.ndjson --to 1500 | evt-append -q -l backup/shop.ndjson
	run run_recipe restore
	assert_failure 1
	assert_output --partial "truncated"
}

@test "recipe: restore a PostgreSQL log from its archive and what the log still holds" {
	keys
	store_log all.ndjson
	local OLD NEW; OLD=$(pg_log old)
	EVT_PG_PARTITION_SIZE=200 evt-append -q -l "$OLD" <all.ndjson
	EVT_LOG=$OLD evt-verify -s keys/evt.pem -o safe/shop.ckpt
	run pg-archive "$OLD" 1000 archive
	assert_success
	[ "$(ls archive | wc -l)" = 5 ]
	run evt-replay -q -l "$OLD" -n 1
	assert_output --partial '"seq":1001,'
	NEW=$(pg_log new)
	export OLD NEW
	run_recipe pg-restore
	cmp <(evt-replay -l "$NEW") <(evt-replay -l all.ndjson)
	# Without the archive the check says what is missing.
	NEW=$(pg_log short)
	rm archive/evt_events_201.ndjson
	run run_recipe pg-restore
	assert_failure 1
	assert_output --partial "log truncated"
}

@test "recipes: incident analysis, a trace, a paced replay into a scratch log, a what-if" {
	store_log shop.db
	local window
	window=$(jq -r 'select(.time >= "2026-11-24T10:00" and .time < "2026-11-24T10:02")
		| .id' orders.ndjson)
	[ -n "$window" ]
	run_recipe trace >out
	# A summary line per saga of the window, then one saga's tree.
	for c in $window; do grep -q "^$c " out; done
	grep -q 'TransactionCreated' out
	grep -q 'TransactionCompleted\|TransactionCancelled' out

	local t0 t1 span
	span=$(jq -rs 'map(select(.time >= "2026-11-24T10:00" and .time < "2026-11-24T10:02")
		| .time[0:19] + "Z" | fromdate) | (max - min) * 1000 / 120 | floor' orders.ndjson)
	t0=$(date +%s%N)
	run_recipe paced
	t1=$(date +%s%N)
	# The window's causes took their time: their span at 120 times.
	echo "paced: $(( (t1 - t0) / 1000000 )) ms for a schedule of $span ms" >&3
	[ $(( (t1 - t0) / 1000000 )) -ge "$span" ]
	wait_for '[ "$(running scratch.db)" = 0 ]' 20
	run_recipe paced-end >out
	for c in $window; do grep -q "^$c " out; done
	# The services decided the window's orders as history did.
	local q='.data | select(.transaction_id) | [.transaction_id, .reason // ""] | @tsv'
	for c in $window; do
		diff <(evt-replay -l scratch.db --correlation "$c" -t 'Transaction*' | jq -r "$q") \
			<(evt-replay -l shop.db --correlation "$c" -t 'Transaction*' | jq -r "$q")
	done

	EVT_NOW=2026-11-24T20:00:00.000Z run_recipe what-if >out
	cat out
	tail -1 out | grep -q '^with --decline-over 500: [0-9]* more orders declined, .*revenue -'
}

#!/usr/bin/env bats
# evt-append: golden cases, then the properties a golden file cannot show.

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

@test "golden: round trip on SQLite" { golden append-roundtrip-sqlite; }
@test "golden: round trip on an NDJSON file" { golden append-roundtrip-file; }
@test "golden: defaults filled, deterministic ids under EVT_NOW" { golden append-defaults; }
@test "golden: payload bytes, unknown fields and escapes preserved" { golden append-preserves-bytes; }
@test "golden: duplicate ids are skipped and counted" { golden append-duplicates; }
@test "golden: expected versions on SQLite" { golden expect-db; }
@test "golden: expected versions on a file" { golden expect-ndjson; }
@test "golden: bad input catalogue" { golden append-bad-input; }
@test "golden: --reject sets bad lines aside" { golden append-reject; }
@test "golden: --atomic is all or nothing" { golden append-atomic; }
@test "golden: usage errors and missing inputs" { golden append-usage; }

# The golden cases written for SQLite, on the file and PostgreSQL logs:
# the same output, byte for byte.
golden_backends() { golden_on file "$1" && golden_on pg "$1"; }
@test "every backend: round trip" { golden_backends append-roundtrip-sqlite; }
@test "every backend: defaults and deterministic ids" { golden_backends append-defaults; }
@test "every backend: duplicate ids are skipped and counted" { golden_backends append-duplicates; }
@test "every backend: expected versions" { golden_backends expect-db; }
@test "every backend: bad input catalogue" { golden_backends append-bad-input; }
@test "every backend: --reject" { golden_backends append-reject; }
@test "every backend: --atomic is all or nothing" { golden_backends append-atomic; }

@test "both backends store byte-identical events" {
	evt-append -l a.db "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" "$TESTDATA/sagas.ndjson"
	evt-append -l a.ndjson "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" "$TESTDATA/sagas.ndjson"
	cmp <(evt-replay -l a.db) <(evt-replay -l a.ndjson)
	cmp <(evt-replay -l a.db) a.ndjson
	local pg; pg=$(pg_log a)
	evt-append -l "$pg" "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" "$TESTDATA/sagas.ndjson"
	cmp <(evt-replay -l a.db) <(evt-replay -l "$pg")
}

@test "EVT_NOW makes generated ids and times byte-identical across runs" {
	for i in 1 2; do
		EVT_NOW=2026-11-24T10:00:00Z evt-append --echo -l run$i.db \
			<"$TESTDATA/golden/append-defaults/stdin" >echo$i
		EVT_NOW=2026-11-24T10:00:00Z evt-append -l run$i.ndjson \
			<"$TESTDATA/golden/append-defaults/stdin"
	done
	cmp echo1 echo2
	cmp run1.ndjson run2.ndjson
	cmp echo1 run1.ndjson
	# Without EVT_NOW, ids are fresh UUIDv7s, different each run.
	evt-append --echo -l v7a.db <"$TESTDATA/golden/append-defaults/stdin" >v7a
	evt-append --echo -l v7b.db <"$TESTDATA/golden/append-defaults/stdin" >v7b
	! cmp -s v7a v7b
	jq -e -s 'all(.[0:2][]; .id | test("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))' v7a
}

# Four writers at once, each 500 events in small commits (a pause after
# every line makes each its own group), into 5 shared streams.
concurrent_appenders() {
	local log=$1 w
	for w in 1 2 3 4 5; do
		( for i in $(seq 1 400); do
			echo "{\"type\":\"Tick\",\"subject\":\"c-$((i % 5))\",\"data\":{\"w\":$w,\"i\":$i}}"
			[ $((i % 50)) -eq 0 ] && sleep 0.01
		done | evt-append -l "$log" ) &
	done
	wait
	run evt-replay -l "$log" --count
	assert_output 2000
	assert_log_consistent "$log"
	# Every writer's events are all there, in its own order.
	for w in 1 2 3 4 5; do
		evt-replay -l "$log" | jq -c "select(.data.w == $w) | .data.i" >got
		seq 1 400 | cmp - got
	done
}

@test "5 concurrent appenders on SQLite: gap-free, nothing lost" { concurrent_appenders c.db; }
@test "5 concurrent appenders on a file: gap-free, nothing lost" { concurrent_appenders c.ndjson; }
@test "5 concurrent appenders on PostgreSQL: gap-free, nothing lost" { concurrent_appenders "$(pg_log c)"; }

# kill -9 in the middle of a large append: what is visible is whole
# groups, seq and versions are gap-free, and the log takes more appends.
kill_mid_append() {
	local log=$1 n
	gen-events 300000 3 >big.ndjson
	# Fed by the generator itself, so the append is surely mid-stream.
	gen-events 300000 3 | evt-append -l "$log" &
	local pid=$!
	wait_for "[ -s '$log' ] && [ \$(evt-replay -l '$log' --count 2>/dev/null || echo 0) -gt 0 ]" 20
	kill -9 $pid
	wait $pid || true
	n=$(evt-replay -l "$log" --count)
	[ "$n" -gt 0 ]
	[ "$n" -lt 300000 ]
	assert_log_consistent "$log"
	# Writable again; re-running the whole input adds just what is missing.
	evt-append -l "$log" <big.ndjson
	run evt-replay -l "$log" --count
	assert_output 300000
	cmp <(evt-replay -l "$log" | jq -r .id | sort) <(jq -r .id big.ndjson | sort)
	assert_log_consistent "$log"
}

@test "kill -9 mid-append on SQLite leaves a consistent, writable log" { kill_mid_append k.db; }
@test "kill -9 mid-append on a file leaves a consistent, writable log" { kill_mid_append k.ndjson; }

@test "a torn last line is ignored by readers and cut by the next writer" {
	evt-append -l t.ndjson <"$TESTDATA/stock.ndjson"
	printf '{"specversion":"1.0","id":"torn","source":"x","ty' >>t.ndjson
	run evt-replay -l t.ndjson --count
	assert_output 6
	echo '{"type":"A","subject":"s-1"}' | evt-append -l t.ndjson
	run evt-replay -l t.ndjson --count
	assert_output 7
	assert_log_consistent t.ndjson
	! grep -q torn t.ndjson
}

@test "a corrupt line inside a file log is an I/O error naming the byte" {
	evt-append -l t.ndjson <"$TESTDATA/stock.ndjson"
	sed -i '3s/.*/garbage/' t.ndjson
	run evt-replay -l t.ndjson
	assert_failure 74
	assert_output --partial "corrupt log at byte"
	run evt-append -l t.ndjson <"$TESTDATA/orders.ndjson"
	assert_failure 74
}

@test "huge lines: over 16 MiB is bad input; a 4 MiB event is fine" {
	python3 -c 'import json; print(json.dumps({"type":"Big","subject":"b-1","data":{"blob":"x"*(4<<20)}}))' >big4.ndjson
	python3 -c 'print("{\"type\":\"A\",\"subject\":\"s-1\"}"); print("{\"blob\":\"" + "y"*(17<<20) + "\"}"); print("{\"type\":\"A\",\"subject\":\"s-1\"}")' >big17.ndjson
	evt-append -l h.db <big4.ndjson
	run evt-replay -l h.db -s b-1
	[ "${#output}" -gt $((4 << 20)) ]
	run evt-append -l h.db <big17.ndjson
	assert_failure 65
	assert_output "evt-append: stdin:2: line longer than 16 MiB; 1 appended before it"
	run evt-append -l h.db --reject rej <big17.ndjson
	assert_success
	run jq -r '[.line, .error] | @tsv' rej
	assert_output "$(printf '2\tline longer than 16 MiB')"
	run evt-replay -l h.db --count
	assert_output 4
}

@test "a read-only log: exit 74, nothing changed" {
	# An unprivileged user must reach the directory (bats' own is 0700).
	local d; d=$(mktemp -d /tmp/evt-ro.XXXXXX)
	chmod 755 "$d" && cd "$d"
	evt-append -l ro.db <"$TESTDATA/stock.ndjson"
	evt-append -l ro.ndjson <"$TESTDATA/stock.ndjson"
	chmod 755 . && chmod 644 ro.db* ro.ndjson
	cp ro.ndjson before.ndjson
	local before; before=$(sqlite3 ro.db 'select count(*) from events')
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-append -l ro.db <"$TESTDATA/orders.ndjson"
	assert_failure 74
	assert_output "evt-append: ro.db: log is read-only"
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-append -l ro.ndjson <"$TESTDATA/orders.ndjson"
	assert_failure 74
	assert_output "evt-append: ro.ndjson: log is read-only"
	cmp ro.ndjson before.ndjson
	[ "$(sqlite3 ro.db 'select count(*) from events')" = "$before" ]
	# Reading a read-only log works.
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-replay -l ro.ndjson --count
	assert_output 6
	run setpriv --reuid=65534 --regid=65534 --clear-groups evt-replay -l ro.db --count
	assert_output 6
	cd / && rm -rf "$d"
}

@test "a missing directory for the log: exit 66 on both backends" {
	run evt-append -l nodir/x.db </dev/null
	assert_failure 66
	run evt-append -l nodir/x.ndjson </dev/null
	assert_failure 66
}

@test "a closed stdout with --echo: exit 74, the events are stored" {
	run bash -c 'evt-append --echo -l e.db <"$TESTDATA/orders.ndjson" >&-'
	assert_failure 74
	run evt-replay -l e.db --count
	assert_output 4
}

@test "SIGTERM mid-stream commits what was taken and exits 75" {
	mkfifo in
	evt-append -l s.db <in 2>err &
	local pid=$!
	exec 7>in
	head -3 "$TESTDATA/orders.ndjson" >&7
	wait_for '[ "$(evt-replay -l s.db --count 2>/dev/null)" = 3 ]'
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	exec 7>&-
	[ "$rc" = 75 ]
	grep -q "interrupted; 3 appended" err
	assert_log_consistent s.db
}

# sigterm_bulk LOG: SIGTERM while a big input streams in: 75, and the log
# holds exactly the input's first events, as many as the message says.
sigterm_bulk() {
	local log=$1
	gen-events 100000 7 >big.ndjson
	mkfifo in
	evt-append -l "$log" <in 2>err &
	local pid=$!
	exec 7>in
	cat big.ndjson >&7 &
	wait_for "[ \"\$(evt-replay -l $log --count 2>/dev/null)\" -gt 0 ] 2>/dev/null" 10
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	exec 7>&-
	[ "$rc" = 75 ]
	local n; n=$(sed -n 's/.*interrupted; \([0-9]*\) appended.*/\1/p' err)
	[ -n "$n" ] && [ "$n" -gt 0 ]
	[ "$(evt-replay -l "$log" --count)" = "$n" ]
	cmp <(evt-replay -l "$log" | jq -r .id) <(head -"$n" big.ndjson | jq -r .id)
	evt-verify -l "$log" >/dev/null
}
@test "SIGTERM mid-way through a big input on SQLite: a prefix is stored, as said" { sigterm_bulk b.db; }
@test "SIGTERM mid-way through a big input on a file: a prefix is stored, as said" { sigterm_bulk b.ndjson; }

@test "SIGTERM with --atomic rolls everything back" {
	mkfifo in
	evt-append --atomic -l s.db <in 2>err &
	local pid=$!
	exec 7>in
	head -3 "$TESTDATA/orders.ndjson" >&7
	# Past start-up (the handler is installed once the log is open).
	wait_for '[ -e s.db ]'
	sleep 0.5
	kill -TERM $pid
	local rc=0; wait $pid || rc=$?
	exec 7>&-
	[ "$rc" = 75 ]
	grep -q "nothing appended" err
	run evt-replay -l s.db --count
	assert_output 0
}

@test "a slow producer sees each event committed at once" {
	mkfifo in
	evt-append -l slow.db <in &
	local pid=$!
	exec 7>in
	sed -n 1p "$TESTDATA/orders.ndjson" >&7
	wait_for '[ "$(evt-replay -l slow.db --count 2>/dev/null)" = 1 ]' 2
	sed -n 2p "$TESTDATA/orders.ndjson" >&7
	wait_for '[ "$(evt-replay -l slow.db --count 2>/dev/null)" = 2 ]' 2
	exec 7>&-
	wait $pid
}

@test "--help and --version" {
	run evt-append --help
	assert_success
	assert_output --partial "usage: evt-append"
	run evt-append --version
	assert_output --regexp '^evt-append \(evt\) [0-9]'
}

@test "a file log's transaction cut short by a crash is invisible, then cut off" {
	evt-append -l t.ndjson <"$TESTDATA/stock.ndjson"
	local start; start=$(stat -c %s t.ndjson)
	# What a writer killed mid-way through a 4-event transaction leaves:
	# its extent recorded in t.ndjson.txn and only two whole lines written.
	evt-append -l other.ndjson <"$TESTDATA/orders.ndjson"
	local len; len=$(sed -n 1,4p other.ndjson | wc -c)
	printf '%020d %020d\n' "$start" $((start + len)) >t.ndjson.txn
	sed -n 1,2p other.ndjson >>t.ndjson
	run evt-replay -l t.ndjson --count
	assert_output 6
	echo '{"type":"A","subject":"s-1"}' | evt-append -l t.ndjson
	run evt-replay -l t.ndjson --count
	assert_output 7
	assert_log_consistent t.ndjson
	! grep -q order-T1001 t.ndjson
	# A finished transaction leaves a record that no longer matters.
	evt-append -l t.ndjson <"$TESTDATA/orders.ndjson"
	run evt-replay -l t.ndjson --count
	assert_output 11
}

@test "--no-sync appends the same events, on both backends" {
	for log in n.db n.ndjson; do
		evt-append --no-sync -l $log "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson"
		evt-append -l ref-$log "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson"
		cmp <(evt-replay -l $log) <(evt-replay -l ref-$log)
	done
}

# id_key ID: the key the SQLite log indexes ID by (62 bits of SHA-256).
id_key() {
	python3 -c 'import hashlib, sys
print(int.from_bytes(hashlib.sha256(sys.argv[1].encode()).digest()[:8], "big") >> 2)' "$1"
}

@test "SQLite: ids that share a key are both stored, found and skipped" {
	local k; k=$(id_key x-1)
	echo '{"id":"a-1","type":"A","subject":"s-1"}' | evt-append -l k.db
	# a-1 takes the key of x-1, as a colliding id would (a-1 itself is
	# not found by its id any more: no real id is both).
	sqlite3 k.db "update events set idh = $k where id = 'a-1'"
	echo '{"id":"x-1","type":"X","subject":"s-2"}' | evt-append -l k.db
	[ "$(sqlite3 k.db "select idh - $k from events where id = 'x-1'")" = 1 ]
	run evt-append -v -l k.db <<<'{"id":"x-1","type":"X","subject":"s-2"}'
	assert_success
	assert_output --partial "0 appended (1 duplicate skipped)"
	run evt-append -l k.db <<<'{"id":"x-1","type":"Y","subject":"s-2"}'
	assert_failure 75
	echo '{"id":"y-1","type":"Y","subject":"s-3","correlationid":"x-1"}' |
		evt-append -l k.db
	run evt-replay -l k.db --correlation x-1
	assert_success
	[ "$(jq -r .id <<<"$output" | paste -sd,)" = "x-1,y-1" ]
	# A full window of keys is no evt log's: an error, nothing stored.
	sqlite3 k.db "update events set idh = $(id_key z-1) + seq - 1"
	for i in $(seq 4 64); do echo "{\"id\":\"f-$i\",\"type\":\"F\",\"subject\":\"f-$i\"}"; done |
		evt-append -l k.db
	sqlite3 k.db "update events set idh = $(id_key z-1) + seq - 1"
	run evt-append -l k.db <<<'{"id":"z-1","type":"Z","subject":"s-9"}'
	assert_failure 74
	assert_output --partial "64 stored ids share the key of z-1"
	run evt-replay -l k.db --count
	assert_output 64
}

@test "SQLite: a running appender goes on from the versions another writer took meanwhile" {
	mkfifo in
	evt-append -l v.db <in &
	local pid=$!
	exec 7>in
	echo '{"type":"A","subject":"s-1"}' >&7
	wait_for '[ "$(evt-replay -l v.db --count 2>/dev/null)" = 1 ]'
	echo '{"type":"B","subject":"s-1"}' | evt-append -l v.db
	echo '{"type":"C","subject":"s-1"}' >&7
	exec 7>&-
	wait $pid
	run evt-replay -l v.db -s s-1
	[ "$(jq -r '"\(.type)\(.version)"' <<<"$output" | paste -sd,)" = "A1,B2,C3" ]
}

@test "expectedversion beyond 64 bits: bad input (65, its line) in every program that reads events, never a conflict" {
	line='{"id":"a","type":"TransactionCreated","subject":"transaction-T1","expectedversion":123456789012345678901234567890,"data":{}}'
	for p in "evt-append -l log.db" "saga-step all" "evt-project transactions" "audit-scan" "evt-trace"; do
		{ echo '{"id":"z","type":"TransactionNoted","subject":"transaction-T0"}'; echo "$line"; } >in
		run $p <in
		[ "$status" -eq 65 ] || { echo "$p: $status $output"; false; }
		[[ "$output" == *"stdin:2: field \"expectedversion\""* ]]
	done
	# As a string too, and one past the largest: 9223372036854775808.
	run evt-append -l log.db <<<'{"id":"b","type":"T","subject":"s-1","expectedversion":9223372036854775808}'
	[ "$status" -eq 65 ]
	run evt-append -l log.db <<<'{"id":"c","type":"T","subject":"s-1","expectedversion":9223372036854775807}'
	[ "$status" -eq 75 ]
	[ "$(evt-replay -l log.db --count)" = 1 ]   # the line before it
}

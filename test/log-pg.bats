#!/usr/bin/env bats
# The PostgreSQL log: what only a shared server can get wrong. Writers
# racing, conflicts, backends killed mid-transaction, server crashes and
# restarts under a follower, hung writers, archiving, secrets in URLs.

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

sql() { psql -qAtX "$PG_URL" -c "$1"; }
# The schema of a log URL from pg_log.
schema_of() { echo "${1##*%3D}" | sed 's/%20.*//'; }

ev() { echo "{\"id\":\"$1\",\"type\":\"${3:-Tick}\",\"subject\":\"$2\"${4:+,$4}}"; }

@test "N writers, random batches, conflicts and killed backends: seq 1..count, a follower sees each once" {
	local log w seed=${EVT_TEST_SEED:-$RANDOM}
	echo "seed $seed" >&3
	log=$(pg_log w)
	echo '{"type":"Start","subject":"s-0"}' | evt-append -l "$log"
	evt-replay -l "$log" --follow >follow.out 2>follow.err &
	local fpid=$!
	for w in 1 2 3 4; do
		(
			RANDOM=$((seed + w))
			export PGAPPNAME=evt-writer
			i=0
			for b in $(seq 1 12); do
				n=$((RANDOM % 20 + 1))
				: >batch$w
				for _ in $(seq 1 $n); do
					i=$((i + 1))
					ev "w$w-$i" "s-$((RANDOM % 5))" >>batch$w
				done
				# A batch retried until it is in: a killed backend
				# (75) wrote nothing, ids make a retry harmless.
				until evt-append --atomic -l "$log" <batch$w 2>>err$w; do
					rc=$?
					[ $rc = 75 ] || { echo "writer $w: exit $rc" >>fail; break; }
				done
				# A forced conflict: nothing of its batch is written.
				if [ $((b % 4)) = 0 ]; then
					{ ev "x$w-$b-1" "s-1"; ev "x$w-$b-2" "s-2" '"expectedversion":100000'; } |
						evt-append -l "$log" --atomic 2>/dev/null && echo "writer $w: conflict passed" >>fail
				fi
			done
			echo $i >count$w
		) &
	done
	# A slow writer, whose transactions stay open long enough to be hit.
	(
		export PGAPPNAME=evt-writer
		for b in 1 2 3; do
			until { for j in 1 2 3; do ev "slow-$b-$j" "s-$j"; sleep 0.1; done; } |
				evt-append --atomic -l "$log" 2>>err5; do
				[ $? = 75 ] || { echo "slow writer: exit $?" >>fail; break; }
			done
		done
		echo 9 >count5
	) &
	# Kill the writers' backends while they are in a transaction.
	local kills=0
	for _ in $(seq 1 40); do
		k=$(sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'evt-writer' AND xact_start IS NOT NULL")
		kills=$((kills + k))
		sleep 0.05
	done
	wait $(jobs -p | grep -v "^$fpid$") 2>/dev/null || true
	while [ "$(ls count* 2>/dev/null | wc -l)" -lt 5 ]; do sleep 0.1; done
	echo "backends killed: $kills" >&3
	[ ! -e fail ] || { cat fail; return 1; }
	[ "$kills" -ge 1 ]
	grep -q 'connection lost' err5
	local total=1
	for w in 1 2 3 4 5; do total=$((total + $(cat count$w))); done
	run evt-replay -l "$log" --count
	assert_output "$total"
	assert_log_consistent "$log"
	[ "$(evt-replay -l "$log" | jq -r .id | grep -c '^x')" = 0 ]
	# Every writer's events, in its own order.
	for w in 1 2 3 4; do
		evt-replay -l "$log" | jq -r "select(.id | startswith(\"w$w-\")) | .id" >got
		seq 1 "$(cat count$w)" | sed "s/^/w$w-/" | cmp - got
	done
	wait_for "[ \$(wc -l <follow.out) -ge $total ]" 10
	kill -TERM $fpid; wait $fpid
	cmp follow.out <(evt-replay -l "$log")
	# One chain across every writer, killed backends and all: the same
	# head as the SQLite backend's over the same stored lines.
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp "^$total [0-9a-f]{64}\$"
	evt-replay -l "$log" | evt-append -l copy.db
	[ "$output" = "$(evt-verify -l copy.db)" ]
}

@test "two writers with the same expected version: exactly one wins" {
	local log; log=$(pg_log e)
	ev a-0 acct-1 | evt-append -l "$log"
	for round in 1 2 3 4 5; do
		local v=$round
		for w in 1 2; do
			( rc=0; ev "a-$round-$w" acct-1 Debit "\"expectedversion\":$v" |
				evt-append -l "$log" 2>e$w || rc=$?; echo $rc >rc$w ) &
		done
		wait
		run sort rc1 rc2
		assert_output "$(printf '0\n75\n')"
		cat e1 e2 | grep -q "version conflict on acct-1: expected $v, actual $((v + 1))"
	done
	run evt-replay -l "$log" --count
	assert_output 6
	assert_log_consistent "$log"
}

@test "writers racing with the same ids: each id stored once" {
	local log; log=$(pg_log i)
	evt-append -l "$log" </dev/null
	gen-events 300 5 >in
	for w in 1 2 3 4; do
		evt-append -v -l "$log" <in 2>err$w &
	done
	wait
	run evt-replay -l "$log" --count
	assert_output 300
	assert_log_consistent "$log"
	# Every event was stored by one writer and skipped by the others.
	local stored=0 dups=0 e
	for w in 1 2 3 4; do
		e=$(cat err$w)
		stored=$((stored + $(echo "$e" | sed -n 's/.*: \([0-9]*\) appended.*/\1/p')))
		dups=$((dups + $(echo "$e" | sed -n 's/.*(\([0-9]*\) duplicates\{0,1\} skipped).*/\1/p' | grep . || echo 0)))
	done
	[ "$stored" = 300 ]
	[ "$dups" = 900 ]
}

@test "an acknowledged append survives an immediate server stop" {
	local log; log=$(pg_log d)
	evt-append -l "$log" <"$TESTDATA/orders.ndjson"
	evt-replay -l "$log" >before
	pg crash "$PG_DIR"
	run evt-replay -l "$log" --count
	assert_failure 69
	pg start "$PG_DIR"
	cmp before <(evt-replay -l "$log")
}

@test "a follower survives a server restart without loss or repeat" {
	local log; log=$(pg_log r)
	evt-append -l "$log" <"$TESTDATA/stock.ndjson"
	evt-replay -l "$log" --follow --checkpoint f >out 2>err &
	local pid=$!
	wait_for '[ $(wc -l <out) -ge 6 ]'
	pg crash "$PG_DIR"
	sleep 0.5
	pg start "$PG_DIR"
	evt-append -l "$log" <"$TESTDATA/orders.ndjson"
	local n; n=$(evt-replay -l "$log" --count)
	wait_for "[ \$(wc -l <out) -ge $n ]" 10
	kill -TERM $pid
	wait $pid
	cmp out <(evt-replay -l "$log")
	cat err
	grep -q 'trying again' err
	[ "$(sql "SELECT seq FROM $(schema_of "$log").evt_checkpoints WHERE name = 'f'")" = "$n" ]
}

@test "a writer that hangs holding the lock does not stop the others" {
	local log; log="$(pg_log h)%20-cidle_in_transaction_session_timeout%3D1000"
	mkfifo in
	evt-append --atomic -l "$log" <in 2>hung.err &
	local pid=$!
	exec 7>in
	ev h-1 h-1 >&7
	wait_for "[ \"\$(sql \"SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'\")\" -ge 1 ]"
	# Waits for the head row, then gets it when the server ends the
	# idle transaction.
	run timeout 20 bash -c "$(declare -f ev); ev o-1 o-1 | evt-append -l '$log'"
	assert_success
	ev h-2 h-1 >&7
	exec 7>&-
	local rc=0; wait $pid || rc=$?
	[ "$rc" = 75 ]
	run evt-replay -l "$log" --count
	assert_output 1
}

@test "the password in a URL is never printed" {
	local log; log=$(pg_log p)
	local bad=${log/@/x@}
	run evt-append -l "$bad" </dev/null
	assert_failure 69
	assert_output --partial "password authentication failed"
	local pw=${PG_URL#*://evt:}; pw=${pw%%@*}
	refute_output --partial "$pw"
	echo '{"type":"A","subject":"s-1","expectedversion":3}' >in
	run evt-append -l "$log" <in
	assert_failure 75
	refute_output --partial "$pw"
	run evt-replay -l "${log/search_path%3D/search_path%3Dnosuch}&password=$pw"
	assert_failure 66
	assert_output --partial "postgres://evt@127.0.0.1"
	refute_output --partial "$pw"
	evt-append -l "$log" <"$TESTDATA/orders.ndjson"
	run audit-scan -l "$log" --report
	assert_output --partial "Audit of postgres://evt@127.0.0.1"
	refute_output --partial "$pw"
	run evt-project -l "$log" nosuch
	refute_output --partial "$pw"
}

@test "the password: never printed however the URL spells it, hidden from ps, and never needed on a command line" {
	local log; log=$(pg_log q)
	local pw=${PG_URL#*://evt:}; pw=${pw%%@*}
	local u
	# repro log-3/01: what defeated the old masking; nothing listens on port 1.
	for u in 'postgres://evt:S3CRET@127.0.0.1:1/evt' 'postgres://evt:S3CRET?x@127.0.0.1:1/evt' \
	    'postgres://evt:S3CRET#x@127.0.0.1:1/evt' 'postgres://evt@127.0.0.1:1/evt?pass%77ord=S3CRET' \
	    'postgres://evt:S3CRET%zz@127.0.0.1:1/evt' 'postgresql://evt:S3CRET@[::1:1/evt'; do
		for p in evt-replay evt-append evt-verify evt-project; do
			run $p -l "$u" </dev/null
			[ "$status" -ne 0 ]
			refute_output --partial S3CRET
		done
	done
	run evt-replay -l 'postgres://evt:S3CRET@127.0.0.1:1/evt' -n 1
	assert_failure 69
	assert_output "evt-replay: postgres://evt@127.0.0.1:1/evt: cannot connect: Connection refused"
	run evt-replay -l 'postgres://evt:S3CRET%zz@127.0.0.1:1/evt'
	assert_failure 64
	assert_output --partial "postgres://...: not a PostgreSQL URL that libpq can parse: a bad percent-encoding"
	run evt-replay -l 'postgresql://evt:S3CRET@[::1:1/evt'
	assert_failure 64
	assert_output --partial "an IPv6 host whose [ is not closed"
	# ps: the argument is overwritten while the program runs. (Not
	# under valgrind: ps shows valgrind's own arguments there, which
	# the program cannot reach.)
	echo '{"type":"A","subject":"s-1"}' | evt-append -l "$log"
	if ! under_valgrind; then
		evt-replay -l "$log" --follow >out &
		local pid=$!
		wait_for "[ -s out ]"
		run cat /proc/$pid/cmdline
		kill $pid; wait $pid || true
		refute_output --partial "$pw"
		assert_output --partial "postgres://evt@127.0.0.1"
	fi
	# No password on a command line: $EVT_LOG, PGPASSWORD, PGPASSFILE.
	[ "$(EVT_LOG=$log evt-replay --count)" = 1 ]
	local nopw=${log/:$pw@/@}
	[ "$nopw" != "$log" ]
	[ "$(PGPASSWORD=$pw evt-replay -l "$nopw" --count)" = 1 ]
	local hp=${PG_URL#*@}; hp=${hp%%/*}
	printf '%s:%s:*:evt:%s\n' "${hp%:*}" "${hp#*:}" "$pw" >pgpass
	chmod 600 pgpass
	[ "$(PGPASSFILE=$PWD/pgpass evt-replay -l "$nopw" --count)" = 1 ]
	run env PGPASSFILE=/nonexistent evt-replay -l "$nopw" --count
	assert_failure 69
	refute_output --partial "$pw"
	# scripts/pg-archive hands psql the URL without its password, and
	# takes the URL from EVT_LOG.
	mkdir shim
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>%s/psql.args\nexec %s "$@"\n' "$PWD" "$(command -v psql)" >shim/psql
	chmod +x shim/psql
	PATH=$PWD/shim:$PATH pg-archive "$log" 1 arch
	PATH=$PWD/shim:$PATH EVT_LOG=$log pg-archive 1 arch
	[ -s psql.args ]
	run cat psql.args
	refute_output --partial "$pw"
	run pg-archive 1
	assert_failure 64
}

@test "the server's notices and warnings: PROGRAM: where: what under -v, never raw" {
	local log s; log=$(pg_log n)
	s=$(schema_of "$log")
	echo '{"type":"A","subject":"s-1"}' | evt-append -l "$log"
	sql "CREATE FUNCTION $s.warn() RETURNS trigger LANGUAGE plpgsql AS
		\$\$BEGIN RAISE WARNING 'audit trigger fired'; RAISE NOTICE 'and a notice'; RETURN NULL; END\$\$;
		CREATE TRIGGER w AFTER UPDATE ON $s.evt_head FOR EACH STATEMENT EXECUTE FUNCTION $s.warn()"
	run evt-append -l "$log" <<<'{"type":"A","subject":"s-1"}'
	assert_success
	assert_output ""
	run evt-append -v -l "$log" <<<'{"type":"A","subject":"s-1"}'
	assert_success
	assert_line "evt-append: postgres://evt@127.0.0.1:${PG_URL##*:}: warning: audit trigger fired"
	refute_output --partial "WARNING:"
	run evt-append -v -q -l "$log" <<<'{"type":"A","subject":"s-1"}'
	refute_output --partial "audit trigger"
	[ "$(evt-replay -l "$log" --count)" = 4 ]
}

@test "the first writer of a new log analyses its partition as it grows: no scans that grow with the log" {
	local log s; log=$(pg_log f)
	s=$(schema_of "$log")
	echo '{"type":"Init","subject":"init-1"}' | evt-append -l "$log"
	for ((i = 0; i < 20000; i++)); do
		printf '{"id":"a-%d","type":"T","subject":"acct-%d","data":{"i":%d}}\n' $i $((i % 50)) $i
	done >in
	evt-append -l "$log" <in
	# Analysed in the writer's transactions, not left to autovacuum.
	local tuples; tuples=$(sql "SELECT reltuples::bigint FROM pg_class WHERE oid = '$s.evt_events_1'::regclass")
	[ "$tuples" -ge 16384 ]
	# A generic plan made on the empty partition read it whole for each
	# batch: about N^2/512 rows (780,000 here); now a few thousand.
	local read; read=$(sql "SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE schemaname = '$s' AND relname = 'evt_events_1'")
	echo "seq_tup_read $read" >&3
	[ "$read" -lt 100000 ]
	[ "$(evt-replay -l "$log" --count)" = 20001 ]
}

@test "sslmode works as libpq defines it" {
	local log; log=$(pg_log s)
	evt-append -l "$log" </dev/null
	run evt-replay -l "$log&sslmode=require" --count
	assert_failure 69
	assert_output --partial "server does not support SSL, but SSL was required"
	run evt-replay -l "$log&sslmode=prefer" --count
	assert_success
	run evt-replay -l "$log&sslmode=bogus" --count
	assert_failure 69
	assert_output --partial 'invalid sslmode value: "bogus"'
}

@test "moving a log between backends is a pipeline that keeps everything" {
	local pg; pg=$(pg_log m)
	evt-append -l shop.db "$TESTDATA/stock.ndjson" "$TESTDATA/orders.ndjson" "$TESTDATA/sagas.ndjson"
	evt-replay -l shop.db | evt-append -l "$pg"
	cmp <(evt-replay -l shop.db) <(evt-replay -l "$pg")
	# ...and back, to a file.
	evt-replay -l "$pg" | evt-append -l shop.ndjson
	cmp <(evt-replay -l shop.db) shop.ndjson
	# Again: every id known, nothing added.
	run bash -c "evt-replay -l shop.db | evt-append -v -l '$pg'"
	assert_output --partial "0 appended ("
}

@test "the schema is made on first use, with a version; partitions are made ahead" {
	local log s; log=$(pg_log v)
	s=$(schema_of "$log")
	run evt-replay -l "$log"
	assert_failure 66
	assert_output --partial "no such log"
	gen-events 460 3 >in
	EVT_PG_PARTITION_SIZE=100 evt-append -l "$log" <in
	[ "$(sql "SELECT value FROM $s.evt_meta WHERE key = 'schema'")" = 2 ]
	# The head is at 460, in the second half of the last partition:
	# one more is made ahead.
	run sql "SELECT relname FROM pg_inherits JOIN pg_class ON oid = inhrelid
		WHERE inhparent = '$s.evt_events'::regclass ORDER BY relname::text COLLATE \"C\""
	assert_output "$(printf '%s\n' evt_events_1 evt_events_101 evt_events_201 evt_events_301 evt_events_401 evt_events_501 | sort)"
	assert_log_consistent "$log"
	cmp <(evt-replay -l "$log" | jq -r .id) <(jq -r .id in)
	sql "UPDATE $s.evt_meta SET value = '9' WHERE key = 'schema'"
	run evt-replay -l "$log" --count
	assert_failure 74
	assert_output --partial "schema version 9"
}

@test "archiving a range: NDJSON out, count checked, detached, and replay says where the log starts" {
	local log s; log=$(pg_log a)
	s=$(schema_of "$log")
	gen-events 250 3 >in
	EVT_PG_PARTITION_SIZE=100 evt-append -l "$log" <in
	evt-replay -l "$log" --checkpoint old -n 5 >/dev/null
	run pg-archive "$log" 150 arch
	assert_success
	assert_output --partial "archived seq 1..100 (100 events) to $PWD/arch/evt_events_1.ndjson"
	cmp arch/evt_events_1.ndjson <(head -100 in | evt-append -l x.db; evt-replay -l x.db)
	run evt-replay -l "$log" --count
	# The log is shown by user, host, port and database only.
	local shown=${log/:\/\/evt:*@/://evt@}; shown=${shown%%\?*}
	assert_output "$(printf '%s\n' "evt-replay: $shown: events before seq 101 are archived; the log starts there now" 150)"
	run evt-replay -l "$log" --from 120 --count
	assert_output 131
	run evt-replay -l "$log" --checkpoint old -n 1
	assert_line --index 0 --partial "events before seq 101 are archived"
	run evt-replay -l "$log" --follow -n 1
	assert_line --index 0 --partial "events before seq 101 are archived"
	assert_line --index 1 --partial '"seq":101,'

	# Archived ids are still known, and versions go on.
	head -3 in | evt-append -l "$log"
	run evt-replay -l "$log" --from 251 --count
	assert_output 0
	[ "$(sql "SELECT count, file FROM $s.evt_archives")" = "100|$PWD/arch/evt_events_1.ndjson" ]
	echo '{"type":"A","subject":"s-new"}' | evt-append -l "$log"
	run evt-replay -l "$log" -n 1 --reverse
	assert_output --partial '"seq":251'
}

@test "a full replay streams: memory does not grow with the log" {
	skip_under_valgrind "the memory is valgrind's"
	local log; log=$(pg_log m)
	gen-events 50000 2 | evt-append -l "$log"
	local small big
	# Under ASan, freed memory waits in a quarantine: keep it small.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
	small=$( { /usr/bin/time -f %M evt-replay -l "$log" -n 10 >/dev/null; } 2>&1 )
	big=$( { /usr/bin/time -f %M evt-replay -l "$log" >/dev/null; } 2>&1 )
	echo "peak RSS: $small KB for 10 events, $big KB for 50000 (20 MB)" >&3
	[ $((big - small)) -lt 4096 ]
}

@test "a stored id with another type is a conflict, not a repeat (as on the other backends)" {
	local log; log=$(pg_log dup)
	ev X payment-T1 PaymentFailed | evt-append -l "$log"
	run bash -c "ev() { echo \"{\\\"id\\\":\\\"\$1\\\",\\\"type\\\":\\\"\$3\\\",\\\"subject\\\":\\\"\$2\\\"}\"; }; ev X payment-T1 PaymentFailed | evt-append -v -l '$log'"
	assert_output "evt-append: 0 appended (1 duplicate skipped)"
	{ ev Y x-1 Noted; ev X payment-T1 PaymentProcessed; } >in
	run evt-append --atomic -l "$log" in
	[ "$status" -eq 75 ]
	assert_output --partial "id X is stored already as an event of another type than PaymentProcessed"
	# the same inside one batch, and through the look-ahead of a batch
	{ ev Z s-1 A; ev Z s-1 B; } >in2
	run evt-append --atomic -l "$log" in2
	[ "$status" -eq 75 ]
	[ "$(evt-replay -l "$log" --count)" = 1 ]
}

@test "saga-step as a service on a shared log: the sagas run once, two instances racing store one outcome each" {
	local log; log=$(pg_log saga)
	export EVT_NOW=2026-11-24T18:00:00Z
	evt-append -l "$log" "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	saga-step payment -l "$log" --decline-over 50 & saga-step payment -l "$log" & wait
	saga-step all -l "$log" & saga-step all -l "$log" & wait
	[ "$(evt-replay -l "$log" -t 'Transaction[CC][oa]*' --count)" = 300 ]
	run bash -c "evt-replay -l '$log' -t 'Payment[PF]*' | jq -r .data.transaction_id | sort | uniq -d"
	assert_output ""
	run bash -c "evt-replay -l '$log' | saga-step all --only-new | wc -l"
	assert_output 0
	evt-replay -l "$log" | jq -s -e '(map(.seq) == [range(1; length + 1)])' >/dev/null
}

# The chain (evt(7), issue 15) on PostgreSQL.

# pg_fails_at LOG SEQ WHAT: evt-verify names WHAT at SEQ.
pg_fails_at() {
	run evt-verify -l "$1"
	assert_failure 1
	assert_output --partial ": seq $2: $3"
}

chain_gen() {
	local i
	for ((i = 1; i <= $1; i++)); do
		printf '{"type":"ItemCounted","subject":"shelf-%d","data":{"n":%d}}\n' $((i % 3)) "$i"
	done
}

@test "the chain: clean logs verify (empty, one event, many), with the head SQLite gives the same lines" {
	local log n
	for n in 0 1 300; do
		log=$(pg_log "c$n")
		chain_gen $n | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp "^$n [0-9a-f]{64}\$"
		rm -f copy.db
		evt-replay -l "$log" | evt-append -l copy.db
		[ "$output" = "$(evt-verify -l copy.db)" ]
	done
	[ "$output" != "300 $(printf '0%.0s' $(seq 64))" ]
	# Appends in many transactions chain on from the stored head.
	chain_gen 5 | sed 's/ItemCounted/Again/' | while read -r l; do echo "$l" | evt-append -l "$log"; done
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^305 '
}

@test "the chain: a changed byte, a deleted row, two swapped rows, each named at its seq; audit-scan reports chain_broken" {
	local log s; log=$(pg_log t)
	s=$(schema_of "$log")
	chain_gen 20 | evt-append -l "$log"
	sql "UPDATE $s.evt_events SET body = replace(body, '\"n\":7', '\"n\":8') WHERE seq = 7"
	pg_fails_at "$log" 7 "line changed"
	run audit-scan -l "$log"
	assert_failure 1
	assert_output --partial '{"finding":"chain_broken","severity":"critical","tags":["INTEGRITY"],"seq":7,'
	sql "UPDATE $s.evt_events SET body = replace(body, '\"n\":8', '\"n\":7') WHERE seq = 7"
	run evt-verify -l "$log"
	assert_success
	# Rows 4 and 5 trade places, hashes and all: seq is the key.
	sql "UPDATE $s.evt_events e SET body = o.body, hash = o.hash FROM $s.evt_events o
		WHERE (e.seq = 4 AND o.seq = 5) OR (e.seq = 5 AND o.seq = 4)"
	pg_fails_at "$log" 4 "events reordered"
	sql "UPDATE $s.evt_events e SET body = o.body, hash = o.hash FROM $s.evt_events o
		WHERE (e.seq = 4 AND o.seq = 5) OR (e.seq = 5 AND o.seq = 4)"
	run audit-scan -l "$log"
	refute_output --partial chain_broken
	sql "DELETE FROM $s.evt_events WHERE seq = 12"
	pg_fails_at "$log" 12 "event missing"
	run audit-scan -l "$log"
	assert_output --partial '{"finding":"chain_broken","severity":"critical","tags":["INTEGRITY"],"seq":12,'
}

@test "the chain: a log made before it is chained in place by its first write, once, and that is recorded" {
	local log s x; log=$(pg_log u)
	s=$(schema_of "$log")
	chain_gen 30 | evt-append -l "$log"
	local want; want=$(evt-verify -l "$log")
	# What an evt before the chain made: schema version 1, no hashes.
	sql "UPDATE $s.evt_events SET hash = NULL; ALTER TABLE $s.evt_archives DROP COLUMN hash;
		UPDATE $s.evt_meta SET value = '1' WHERE key = 'schema'"
	run evt-verify -l "$log"
	assert_failure 1
	assert_output --partial ": seq 1: log not chained"
	[ "$(sql "SELECT value FROM $s.evt_meta WHERE key = 'schema'")" = 2 ]
	[ "$(sql "SELECT count(*) FROM $s.evt_events WHERE hash IS NULL")" = 30 ]
	echo '{"type":"ItemCounted","subject":"shelf-9"}' | evt-append -l "$log"
	[ "$(sql "SELECT count(*) FROM $s.evt_events WHERE hash IS NULL")" = 0 ]
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^32 '
	[ "$(sql "SELECT type || ' ' || subject || ' ' || seq FROM $s.evt_events WHERE seq = 31")" = "LogChained evt-chain 31" ]
	[ "$(evt-replay -l "$log" --to 30 | evt-append -l copy.db && evt-verify -l copy.db)" = "$want" ]
	# Once: the next write leaves the chained rows alone.
	x=$(sql "SELECT xmin FROM $s.evt_events WHERE seq = 1")
	echo '{"type":"ItemCounted","subject":"shelf-9"}' | evt-append -l "$log"
	[ "$(sql "SELECT xmin FROM $s.evt_events WHERE seq = 1")" = "$x" ]
	# Hashes missing after the chain's end (an earlier evt's appends, or
	# tampering): named, refused by writers, repaired by the operator only.
	sql "UPDATE $s.evt_events SET hash = NULL WHERE seq > 25"
	pg_fails_at "$log" 26 "hash missing"
	run evt-append -l "$log" <<<'{"type":"ItemCounted","subject":"shelf-9"}'
	assert_failure 74
	assert_output --partial ": seq 33: hash missing in a chained log"
	assert_output --partial "see evt-verify --rechain"
	run evt-verify -l "$log" --rechain "appended by evt 0.0.9"
	assert_success
	assert_output --partial "re-chained from seq 26"
	assert_line --regexp '^34 '
	echo '{"type":"ItemCounted","subject":"shelf-9"}' | evt-append -l "$log"
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^35 '
	[ "$(sql "SELECT xmin FROM $s.evt_events WHERE seq = 1")" = "$x" ]
	[ "$(evt-replay -l "$log" -s evt-chain | jq -c '[.seq, .type, .data.from]' | tr '\n' ' ')" = '[31,"LogChained",1] [34,"LogRechained",26] ' ]
}

@test "the chain: tampering is not laundered by the next append; a deleted last event reads as truncated" {
	local log s; log=$(pg_log l)
	s=$(schema_of "$log")
	chain_gen 6 | evt-append -l "$log"
	# repro log-3/02: an edit, and the hashes cleared from there on.
	sql "UPDATE $s.evt_events SET body = replace(body, '\"n\":3', '\"n\":9300'), hash = NULL WHERE seq >= 3"
	pg_fails_at "$log" 3 "hash missing"
	run evt-append -l "$log" <<<'{"type":"Routine","subject":"acct-2"}'
	assert_failure 74
	assert_output --partial "hash missing in a chained log (other events have one)"
	pg_fails_at "$log" 3 "hash missing"
	[ "$(evt-replay -l "$log" --count)" = 6 ]
	# Every hash cleared: chained once, and recorded; cleared again: refused.
	sql "UPDATE $s.evt_events SET hash = NULL"
	echo '{"type":"Routine","subject":"acct-2"}' | evt-append -l "$log"
	[ "$(evt-replay -l "$log" -s evt-chain -t LogChained --count)" = 1 ]
	sql "UPDATE $s.evt_events SET hash = NULL"
	run evt-append -l "$log" <<<'{"type":"Routine","subject":"acct-2"}'
	assert_failure 74
	assert_output --partial "(every hash removed)"
	run evt-verify -l "$log" --rechain "hashes restored after the incident of 2026-11-30"
	assert_success
	assert_line --regexp '^9 '
	# The last event deleted: the head row says more than is stored.
	sql "DELETE FROM $s.evt_events WHERE seq = 9"
	pg_fails_at "$log" 9 "log truncated"
	run evt-verify -l "$log"
	assert_output --partial "the log's head says seq 9, its last event is seq 8"
	run evt-append -l "$log" <<<'{"type":"Routine","subject":"acct-2"}'
	assert_failure 74
	assert_output --partial ": seq 9: log truncated: the head row says seq 9, the last event stored is seq 8"
	# The repair brings the head back to the last event, and records it.
	run evt-verify -l "$log" --rechain "seq 9 lost with the disk of 2026-12-01"
	assert_success
	assert_output --partial "re-chained from seq 9"
	assert_line --regexp '^9 '
	[ "$(evt-replay -l "$log" --from 9 | jq -r '.type + " " + .data.fault')" = "LogRechained log truncated" ]
	echo '{"type":"Routine","subject":"acct-2"}' | evt-append -l "$log"
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^10 '
}

@test "the chain: --since checks the default origin, which tells the schemas of one database apart" {
	local log log2; log=$(pg_log o); log2=$(pg_log o2)
	chain_gen 3 | evt-append -l "$log"
	chain_gen 3 | evt-append -l "$log2"
	chain_gen 3 | evt-append -l a.db
	evt-verify -q -l "$log" -o pg.cp
	evt-verify -q -l "$log2" -o pg2.cp
	evt-verify -q -l a.db -o a.cp
	run head -1 pg.cp
	assert_output "$(hostname)/postgres://evt@127.0.0.1:${PG_URL##*:}/${log##*%3D}"
	refute_output --partial "${PG_URL#*://evt:}"
	run evt-verify -l "$log" --since pg.cp
	assert_success
	# The same events in another schema: another log, refused.
	run evt-verify -l "$log2" --since pg.cp
	assert_failure 1
	assert_output --partial "the checkpoint is for origin $(hostname)/postgres://evt@127.0.0.1:${PG_URL##*:}/${log##*%3D}, not"
	# The database's own schema adds nothing to the name.
	chain_gen 3 | evt-append -l "$PG_URL"
	evt-verify -q -l "$PG_URL" -o pub.cp
	run head -1 pub.cp
	assert_output "$(hostname)/postgres://evt@127.0.0.1:${PG_URL##*:}"
	# A checkpoint of another log (a SQLite one): refused by its origin.
	run evt-verify -l "$log" --since a.cp
	assert_failure 1
	assert_output --partial "a.cp: the checkpoint is for origin $(hostname)$PWD/a.db, not $(hostname)/postgres://evt@127.0.0.1"
}

@test "the chain: after archiving, the events left verify from the hash kept at the boundary" {
	local log s; log=$(pg_log r)
	s=$(schema_of "$log")
	chain_gen 300 >in
	head -50 in | EVT_PG_PARTITION_SIZE=100 evt-append -l "$log"
	evt-verify -l "$log" -o cp50 >/dev/null
	sed -n 51,200p in | evt-append -l "$log"
	evt-verify -l "$log" -o cp200 >/dev/null
	sed -n '201,$p' in | evt-append -l "$log"
	local want; want=$(evt-verify -l "$log")
	run pg-archive "$log" 220 arch
	assert_success
	[ "$(sql "SELECT start FROM $s.evt_head")" = 201 ]
	run evt-verify -v -l "$log"
	assert_success
	assert_line "$want"
	assert_output --partial "seq 1 to 200 are archived"
	# A checkpoint at the boundary is checked against the kept hash; one
	# inside the archived range cannot be checked and says so.
	run evt-verify -l "$log" --since cp200
	assert_success
	assert_output "$want"
	run evt-verify -l "$log" --since cp50
	assert_failure 1
	assert_output --partial "seq 50: log truncated (the log starts at seq 201"
	# The archive files, chained again from seq 1, end at the kept hash.
	cat arch/evt_events_1.ndjson arch/evt_events_101.ndjson | evt-append -l a.db
	[ "$(evt-verify -l a.db | cut -d' ' -f2)" = "$(sql "SELECT encode(hash, 'hex') FROM $s.evt_archives WHERE last = 200")" ]
	# An edit after the boundary is named; so is a changed kept hash.
	sql "UPDATE $s.evt_events SET body = body || ' ' WHERE seq = 230"
	pg_fails_at "$log" 230 "line changed"
	sql "UPDATE $s.evt_events SET body = rtrim(body) WHERE seq = 230"
	sql "UPDATE $s.evt_archives SET hash = sha256(hash) WHERE last = 200"
	pg_fails_at "$log" 201 "line changed (it does not chain on from the hash kept of seq 200"
	# Writes go on from the boundary when every event is archived.
	sql "UPDATE $s.evt_archives SET hash = (SELECT hash FROM $s.evt_archived_101 WHERE seq = 200) WHERE last = 200"
	run pg-archive "$log" 300 arch
	assert_success
	[ "$(sql "SELECT start FROM $s.evt_head")" = 301 ]
	run evt-verify -l "$log"
	assert_success
	assert_output "$want"
	echo '{"type":"ItemCounted","subject":"shelf-9"}' | evt-append -l "$log"
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^301 '
}

# Events with ids PREFIX-FROM..TO on 7 streams, each about 300 bytes, so
# that a few thousand fill more than one send of rows (256 KB).
evs() {
	seq "$2" "$3" | awk -v p="$1" -v t="${4:-Tick}" '{ printf "{\"id\":\"%s-%d\",\"type\":\"%s\",\"subject\":\"s-%d\",\"data\":{\"pad\":\"%0200d\"}}\n", p, $1, t, $1 % 7, 0 }'
}

@test "a repeat whose first is already streamed to the server, uncommitted, is skipped; versions go on" {
	local log; log=$(pg_log r)
	evs r 1 10 | evt-append -l "$log"
	# The lookups go to a second connection, which cannot see this
	# transaction's rows: the writer must know them itself.
	run bash -c "$(declare -f evs); { evs r 11 3000; evs r 1 500; evs r 2501 3000; } | evt-append -v --atomic -l '$log'"
	assert_success
	assert_output "evt-append: 2990 appended (1000 duplicates skipped)"
	run evt-replay -l "$log" --count
	assert_output 3000
	# Gap-free versions per stream, in seq order.
	evt-replay -l "$log" | jq -r '[.subject, .version] | @tsv' |
		awk '{ if ($2 != ++n[$1]) { print "bad version", $0; exit 1 } }'
	# The same id with another type, after its first was streamed: no
	# event of that transaction is stored.
	run bash -c "$(declare -f evs); { evs r 3001 5000; evs r 3100 3100 Other; } | evt-append --atomic -l '$log'"
	assert_failure 75
	assert_output --partial "id r-3100 is stored already as an event of another type than Other"
	run evt-replay -l "$log" --count
	assert_output 3000
	run evt-verify -l "$log"
	assert_success
}

@test "a server error in the middle of a streamed group leaves nothing of it; the log goes on" {
	local log s; log=$(pg_log b)
	s=$(schema_of "$log")
	evs b 1 5 | evt-append -l "$log"
	sql "ALTER TABLE $s.evt_events ADD CONSTRAINT no_boom CHECK (type <> 'Boom')"
	# One group (not --atomic, read from a file, so the input never
	# pauses): rows streamed before the bad one and after it; the COPY
	# fails and the group is rolled back.
	{ evs b 6 2000; evs b 2001 2001 Boom; evs b 2002 4000; } >in
	run evt-append -l "$log" <in
	assert_failure 74
	assert_output --partial "no_boom"
	run evt-replay -l "$log" --count
	assert_output 5
	[ "$(sql "SELECT seq FROM $s.evt_head")" = 5 ]
	run bash -c "$(declare -f evs); evs b 6 3000 | evt-append -v -l '$log'"
	assert_success
	assert_output "evt-append: 2995 appended"
	[ "$(evt-replay -l "$log" | jq -r .seq | tr '\n' ' ')" = "$(seq 1 3000 | tr '\n' ' ')" ]
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^3000 '
}

@test "a lookup that fails mid-transaction leaves nothing; a paused --atomic writer waits idle, its rows sent" {
	local log s; log=$(pg_log l)
	s=$(schema_of "$log")
	log="$log%20-clock_timeout%3D1000"
	mkfifo in
	evt-append --atomic -l "$log" <in 2>l.err &
	local pid=$!
	exec 7>in
	evs l 1 2000 >&7
	# Paused: the rows made so far are in the server, the COPY ended,
	# so the transaction is idle (and idle_in_transaction_session_timeout
	# could end it).
	wait_for "[ \"\$(sql \"SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'COPY evt_events%'\")\" = 1 ]" 10
	# The next lookup waits for a lock past lock_timeout and fails.
	psql -qX "$PG_URL" -c "BEGIN; LOCK TABLE $s.evt_ids IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT" >/dev/null &
	local locker=$!
	wait_for "[ \"\$(sql \"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'evt_ids' AND l.mode = 'AccessExclusiveLock' AND l.granted\")\" = 1 ]"
	evs l 2001 4000 >&7 || true	# SIGPIPE once the writer gave up
	exec 7>&-
	local rc=0; wait $pid || rc=$?
	wait $locker
	cat l.err
	[ "$rc" = 75 ]
	grep -q "look up: canceling statement due to lock timeout" l.err
	[ "$(sql "SELECT count(*) FROM $s.evt_events")" = 0 ]
	[ "$(sql "SELECT seq FROM $s.evt_head")" = 0 ]
	run bash -c "$(declare -f evs); evs l 1 4000 | evt-append -v -l '$log'"
	assert_success
	assert_output "evt-append: 4000 appended"
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^4000 '
}

@test "a writer that cannot have a second connection looks up on its own, as right" {
	local log s; log=$(pg_log c)
	s=$(schema_of "$log")
	# Not a superuser: the limit does not hold for those.
	sql "DROP ROLE IF EXISTS evt_one; CREATE ROLE evt_one LOGIN PASSWORD 'one' CONNECTION LIMIT 1; GRANT ALL ON SCHEMA $s TO evt_one" 2>/dev/null
	local one="postgres://evt_one:one@${PG_URL#*@}?options=-csearch_path%3D$s"
	evs c 1 10 | evt-append -l "$one"
	evs c 1 2000 >in
	evs c 1500 2500 >>in
	run evt-append -v --atomic -l "$one" <in
	assert_success
	assert_output "evt-append: 2490 appended (511 duplicates skipped)"
	evt-replay -l "$log" | jq -r '[.subject, .version] | @tsv' |
		awk '{ if ($2 != ++n[$1]) { print "bad version", $0; exit 1 } }'
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^2500 '
	sql "DROP OWNED BY evt_one CASCADE; DROP ROLE evt_one"
}

@test "a streamed COPY crossing partitions: each made before its rows, all in order" {
	local log s; log=$(pg_log x)
	s=$(schema_of "$log")
	evs x 1 3000 >in
	EVT_PG_PARTITION_SIZE=300 evt-append -l "$log" <in
	# 3000 rows of about 1 MB streamed in one transaction across ten
	# partitions (and one made ahead), each row in its own.
	[ "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = '$s.evt_events'::regclass")" = 11 ]
	[ "$(sql "SELECT count(*) FROM $s.evt_events_2701 WHERE seq BETWEEN 2701 AND 3000")" = 300 ]
	[ "$(evt-replay -l "$log" | jq -r .seq | tr '\n' ' ')" = "$(seq 1 3000 | tr '\n' ' ')" ]
	cmp <(evt-replay -l "$log" | jq -r .id) <(jq -r .id in)
	assert_log_consistent "$log"
	run evt-verify -l "$log"
	assert_success
	assert_output --regexp '^3000 '
}

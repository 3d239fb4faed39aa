#!/usr/bin/env bats
# The log at its edges (issue 11): crashes at chosen points, a full disk, a
# failing fsync, readers during repair, odd but valid input. Faults come
# from LD_PRELOAD shims built here (test/shims) and a small tmpfs (root).

load helper
bats_require_minimum_version 1.5.0

setup_file() {
	local s
	for s in crash faileio repair; do
		cc -shared -fPIC -o "$BATS_FILE_TMPDIR/$s.so" \
			"$BATS_TEST_DIRNAME/shims/$s.c" -ldl
	done
}

setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
	# A sanitizer build wants its runtime first; the shims come first.
	export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0
}

teardown() {
	cd /
	if [ -n "${TFS:-}" ] && mountpoint -q "$TFS"; then
		umount "$TFS"
	fi
}

shim() { echo "$BATS_FILE_TMPDIR/$1.so"; }

ev() { printf '{"type":"%s","subject":"%s"%s}\n' "$1" "$2" "${3:+,$3}"; }

# --- data loss and corruption ------------------------------------------

@test "file log: a commit failing on a full disk hides nothing that follows" {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	TFS=$BATS_TEST_TMPDIR/tfs
	mkdir -p "$TFS"
	mount -t tmpfs -o size=2m tmpfs "$TFS" || skip "cannot mount a tmpfs"
	cd "$TFS"
	ev Seed s-1 | evt-append -l log.ndjson
	python3 -c 'import json
for i in range(20): print(json.dumps({"type":"Big","subject":"b-1","data":{"pad":"x"*100000}}))' >"$BATS_TEST_TMPDIR/big.ndjson"
	# Leave about 600 KB: the 2 MB group cannot fit.
	dd if=/dev/zero of=filler bs=1k count=$(( $(df --output=avail -k . | tail -1) - 600 )) 2>/dev/null
	run evt-append -l log.ndjson <"$BATS_TEST_TMPDIR/big.ndjson"
	assert_failure 74
	assert_output --partial "No space left on device"
	ev Single s-2 '"id":"single-1"' | evt-append -l log.ndjson
	run evt-replay -l log.ndjson -s s-2
	assert_output --partial single-1
	ev Next s-3 | evt-append -l log.ndjson
	run bash -c "evt-replay -l log.ndjson | jq -r .type | paste -sd ' '"
	assert_output "Seed Single Next"
	assert_log_consistent log.ndjson
	rm -f filler
}

# A crash (SIGKILL) at the write of a two-line transaction, torn at a
# seeded byte, between acknowledged single-event appends: every
# acknowledged event stays visible, seq stays gap-free.
@test "file log: kill -9 mid-transaction, repeated, loses no acknowledged event" {
	local L=$PWD/c.ndjson i cut n=0
	ev Seed s-1 | evt-append -l "$L"
	RANDOM=11
	for i in $(seq 1 25); do
		# Killed before a byte (a record left, no lines) or torn.
		cut=$(( i % 2 ? 0 : RANDOM % 120 ))
		printf '%s\n%s\n' "$(ev A s-1)" "$(ev A s-1)" |
			EVT_CRASH_PATH=$L EVT_CRASH_BYTES=$cut LD_PRELOAD=$(shim crash) \
			evt-append -l "$L" 2>/dev/null && false
		ev Acked s-2 "\"id\":\"ack-$i\"" | evt-append -l "$L"
		evt-replay -l "$L" -s s-2 --count | grep -qx "$i"
	done
	run evt-replay -l "$L" -t Acked --count
	assert_output 25
	run evt-replay -l "$L" -t A --count
	assert_output 0
	assert_log_consistent "$L"
}

@test "file log: a failed fsync leaves nothing behind, and a retry stores once" {
	local L=$PWD/e.ndjson in
	ev Seed s-1 | evt-append -l "$L"
	in=$(printf '%s\n%s' "$(ev A s-1)" "$(ev B s-1)")
	for mode in --atomic ""; do
		run env EVT_FAIL_PATH="$L" LD_PRELOAD="$(shim faileio)" \
			evt-append -l "$L" $mode <<<"$in"
		assert_failure 74
		assert_output --partial "fsync: Input/output error"
		run evt-replay -l "$L" --count
		assert_output 1
	done
	# One event alone (no LOG.txn record) is cut off as well.
	run env EVT_FAIL_PATH="$L" LD_PRELOAD="$(shim faileio)" evt-append -l "$L" <<<"$(ev C s-1)"
	assert_failure 74
	evt-append -l "$L" <<<"$in"
	run bash -c "evt-replay -l '$L' | jq -c '[.seq,.type]' | paste -sd ' '"
	assert_output '[1,"Seed"] [2,"A"] [3,"B"]'
	assert_log_consistent "$L"
}

@test "SQLite log: a failed fsync of the WAL stores nothing" {
	local L=$PWD/e.db
	ev Seed s-1 | evt-append -l "$L"
	run env EVT_FAIL_PATH="$L-wal" LD_PRELOAD="$(shim faileio)" \
		evt-append -l "$L" --atomic <<<"$(printf '%s\n%s' "$(ev A s-1)" "$(ev B s-1)")"
	assert_failure 74
	run evt-replay -l "$L" --count
	assert_output 1
}

@test "a time outside the years 0000-9999 in UTC is refused; the edges are stored exactly" {
	local L t
	for L in y.ndjson y.db; do
		for t in 9999-12-31T23:30:00-01:00 0000-01-01T00:30:00+01:00 10000-01-01T00:00:00Z; do
			run evt-append -l $L <<<"{\"type\":\"A\",\"subject\":\"x-1\",\"time\":\"$t\"}"
			assert_failure 65
		done
		run evt-append -l $L <<<'{"type":"A","subject":"x-1","time":"9999-12-31T23:30:00-01:00"}'
		assert_output --partial 'field "time": outside the years 0000-9999 in UTC'
		for t in 0000-01-01T00:00:00Z 9999-12-31T23:59:59.999Z 0001-01-01T00:30:00+01:00 1969-12-31T23:59:59.999Z; do
			echo "{\"type\":\"A\",\"subject\":\"x-1\",\"time\":\"$t\"}"
		done | evt-append -l $L
		ev B x-1 | evt-append -l $L
		run bash -c "evt-replay -l $L -t A | jq -r .time | paste -sd ' '"
		assert_output "0000-01-01T00:00:00.000Z 9999-12-31T23:59:59.999Z 0000-12-31T23:30:00.000Z 1969-12-31T23:59:59.999Z"
		run evt-replay -l $L --count
		assert_output 5
	done
}

# The reader lets go of its lock, and at once a writer cuts off the torn
# tail it had seen (the shim does the cutting, at exactly that moment).
@test "file log: a reader survives the repair of a torn tail under it" {
	local L=$PWD/t.ndjson
	ev T t-1 | evt-append -l "$L"
	python3 -c "print('{\"id\":\"torn\",\"type\":\"T\",\"data\":{\"pad\":\"' + 'q'*200000, end='')" >>"$L"
	run env EVT_REPAIR_PATH="$L" LD_PRELOAD="$(shim repair)" evt-replay -l "$L" --count
	assert_success
	assert_output 1
	python3 -c "print('{\"id\":\"torn\",\"type\":\"T\",\"data\":{\"pad\":\"' + 'q'*200000, end='')" >>"$L"
	run env EVT_REPAIR_PATH="$L" LD_PRELOAD="$(shim repair)" evt-replay -l "$L" -n 1 --reverse
	assert_success
	python3 -c "print('{\"id\":\"torn\",\"type\":\"T\",\"data\":{\"pad\":\"' + 'q'*200000, end='')" >>"$L"
	ev T t-1 | evt-append -l "$L"
	assert_log_consistent "$L"
	run evt-replay -l "$L" --count
	assert_output 2
}

# --- broken promises ---------------------------------------------------

@test "--expect is checked on a stream whose first input event is a known id" {
	local L
	for L in x.ndjson x.db; do
		ev Opened acct-1 '"id":"a"' | evt-append -l $L
		run evt-append -l $L --expect 5 <<<"$(ev Opened acct-1 '"id":"a"')
$(ev Withdrawn acct-1 '"id":"b"')"
		assert_failure 75
		assert_output --partial "version conflict on acct-1: expected 5, actual 1"
		run evt-replay -l $L --count
		assert_output 1
		# Expected right: taken; and a re-run of the whole is harmless.
		for i in 1 2; do
			evt-append -l $L --expect 1 <<<"$(ev Opened acct-1 '"id":"a"')
$(ev Withdrawn acct-1 '"id":"b"')"
		done
		run evt-replay -l $L --count
		assert_output 2
	done
}

# The input stops in the middle of a line for 3 s, with more of the line
# in the pipe than one read takes: the first event is committed at once
# and the log is free for others meanwhile. (Under valgrind, where each
# program takes a second or more to start, the pause is 40 s and each
# step may take 10, still inside it: a lock held through the pause would
# still be found.)
@test "an input paused mid-line holds no lock and leaves nothing uncommitted" {
	local L pause=3 t=2
	under_valgrind && pause=40 t=10
	for L in q.ndjson q.db; do
		ev Init i-1 | evt-append -l $L
		python3 -c '
import os, sys, time, json
big = json.dumps({"type": "Second", "subject": "p-1", "data": {"pad": "z" * 900000}}) + "\n"
os.write(1, (json.dumps({"type": "First", "subject": "p-1"}) + "\n" + big[:800000]).encode())
time.sleep(float(sys.argv[1]))
os.write(1, big[800000:].encode())' $pause | evt-append -l $L &
		local p=$!
		sleep 0.5
		wait_for "[ \$(evt-replay -l $L -t First --count) = 1 ]" $t
		timeout $t evt-append -l $L <<<"$(ev Other o-1)"
		run timeout $t evt-replay -l $L --count
		assert_output 3
		wait $p
		run evt-replay -l $L --count
		assert_output 4
		assert_log_consistent $L
	done
}

@test "--checkpoint never passes what --to or --until left out" {
	local L
	for L in k.ndjson k.db; do
		for i in 10 11 12 09 13 14; do
			echo "{\"type\":\"T\",\"subject\":\"s-1\",\"time\":\"2026-11-24T$i:00:00Z\"}"
		done | evt-append -l $L
		run bash -c "evt-replay -l $L --checkpoint to --to 2 | jq -r .seq | paste -sd ' '"
		assert_output "1 2"
		run bash -c "evt-replay -l $L --checkpoint to | jq -r .seq | paste -sd ' '"
		assert_output "3 4 5 6"
		# Times need not grow with seq: the first event at or after
		# --until ends the run, and the next run starts with it.
		run bash -c "evt-replay -l $L --checkpoint u --until 2026-11-24T12:00:00Z | jq -r .seq | paste -sd ' '"
		assert_output "1 2"
		run bash -c "evt-replay -l $L --checkpoint u --until 2026-11-24T14:00:00Z | jq -r .seq | paste -sd ' '"
		assert_output "3 4 5"
		run bash -c "evt-replay -l $L --checkpoint u | jq -r .seq | paste -sd ' '"
		assert_output "6"
		# Without a checkpoint --until is a plain filter.
		run bash -c "evt-replay -l $L --until 2026-11-24T12:00:00Z | jq -r .seq | paste -sd ' '"
		assert_output "1 2 4"
	done
}

@test "-c means the text before the subject's first '-', on both backends" {
	local L
	for L in g.ndjson g.db; do
		printf '%s\n' "$(ev A foo-bar-1)" "$(ev A foo-bar)" "$(ev A foo)" "$(ev A foobar-1)" "$(ev A fo-1)" |
			evt-append -l $L
		run bash -c "evt-replay -l $L -c foo | jq -r .subject | paste -sd ' '"
		assert_output "foo-bar-1 foo-bar foo"
		run evt-replay -l $L -c foo-bar
		assert_failure 64
		assert_output --partial "a category is what comes before the first '-'"
	done
	cmp <(evt-replay -l g.db -c foo -c fo | jq -c '[.seq,.subject]') \
		<(evt-replay -l g.ndjson -c foo -c fo | jq -c '[.seq,.subject]')
}

# 16 MiB is the longest line evt-append takes; what it stores must be a
# line it takes again, so that replay | append copies any log.
@test "a stored event always reads back as input: the 16 MiB round trip" {
	local max=$(( (16 << 20) - 40 )) head='{"type":"T","subject":"h-1","data":{"pad":"' tail='"}}'
	python3 -c "import sys; h, t = sys.argv[1], sys.argv[2]
print(h + 'a' * ((16 << 20) - len(h) - len(t)) + t)" "$head" "$tail" >exact16.ndjson
	run evt-append -l h.db <exact16.ndjson
	assert_failure 65
	assert_output --partial "event too long"
	# The longest event that fits: its stored form, less the digits of
	# seq and version, is EVT_EVENT_MAX bytes.
	EVT_NOW=2026-11-24T10:00:00Z evt-append -l probe.db --echo <<<"$head$tail" >probe
	local over=$(( $(head -c -1 probe | wc -c) - 2 - ${#head} - ${#tail} ))
	python3 -c "import sys; h, t, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(h + 'a' * n + t)" "$head" "$tail" $(( max - over - ${#head} - ${#tail} )) >fits.ndjson
	EVT_NOW=2026-11-24T10:00:00Z evt-append -l h.db <fits.ndjson
	run --separate-stderr bash -c "evt-replay -l h.db | wc -c"
	[ "$output" -lt $(( (16 << 20) + 1 )) ]
	# Copied to a log where it lands at a seq with more digits.
	for i in $(seq 1 12); do ev Pad p-1; done | evt-append -l big.ndjson
	evt-replay -l h.db | evt-append -l big.ndjson
	evt-replay -l big.ndjson | evt-append -l again.db
	run evt-replay -l again.db --count
	assert_output 13
	# With --reject the long one is set aside and the rest goes on.
	cat exact16.ndjson <(ev After a-1) | evt-append -l r.db --reject rej.ndjson 2>/dev/null
	run evt-replay -l r.db --count
	assert_output 1
	run jq -r .error rej.ndjson
	assert_output --partial "event too long"
}

@test "a reader racing the first writer of a new SQLite log never fails" {
	local i rc
	for i in $(seq 1 30); do
		rm -f n.db n.db-*
		ev A a-1 | evt-append -l n.db &
		rc=0
		evt-replay -l n.db >/dev/null 2>err || rc=$?
		wait $!
		[ "$rc" = 0 ] || [ "$rc" = 66 ] || { cat err; false; }
	done
	# An empty database is an empty log, and a follower of it sees the
	# first events when they come.
	rm -f n.db*
	: >n.db
	run evt-replay -l n.db --count
	assert_success
	assert_output 0
	evt-replay -l n.db --follow >seen &
	local f=$!
	sleep 0.3
	ev A a-1 | evt-append -l n.db
	wait_for "[ -s seen ]"
	kill -TERM $f
	wait $f
}

# In the next two tests settle is the time given the program to reach the
# wait it is signalled in, and hold how long the other writer holds the
# log. Under valgrind start-up alone takes a second or more (a signal
# before the handler is in place would end it as any program): both are
# longer there.
@test "SIGTERM while waiting for the file log's lock exits 75" {
	local hold=3 settle=0.3
	under_valgrind && hold=15 settle=5
	ev Init i-1 | evt-append -l s.ndjson
	ev A a-1 >in1.ndjson
	flock s.ndjson sleep $hold &
	local f=$!
	sleep 0.3
	evt-append -l s.ndjson in1.ndjson 2>err &
	local a=$!
	sleep $settle
	kill -TERM $a
	local rc=0
	wait $a || rc=$?
	wait $f
	[ "$rc" = 75 ] || { cat err; false; }
	grep -q "interrupted" err
	run evt-replay -l s.ndjson --count
	assert_output 1
}

@test "--since and --until compare exactly past the millisecond" {
	local L
	for L in u.ndjson u.db; do
		ev A x-1 '"time":"2026-11-24T10:00:00.000Z"' | evt-append -l $L
		ev B x-1 '"time":"2026-11-24T10:00:00.001Z"' | evt-append -l $L
		run evt-replay -l $L --until 2026-11-24T10:00:00.0005Z --count
		assert_output 1
		run evt-replay -l $L --since 2026-11-24T10:00:00.0005Z --count
		assert_output 1
		run evt-replay -l $L --since 2026-11-24T10:00:00.001000Z --count
		assert_output 1
		run evt-replay -l $L --until 2026-11-24T10:00:00.0010001Z --count
		assert_output 2
		run evt-replay -l $L --since 2026-11-24T11:00:00.0000001+01:00 --count
		assert_output 1
	done
}

@test "every file that holds events is created 0600" {
	umask 022
	printf '%s\n' "$(ev A a-1)" "$(ev A a-1)" bad >in.ndjson
	evt-append -l m.ndjson --reject rej.ndjson <in.ndjson 2>/dev/null
	evt-replay -l m.ndjson --checkpoint c >/dev/null
	ev A a-1 | evt-append -l m.db
	# A follower keeps the WAL and its index open.
	evt-replay -l m.db --follow >/dev/null &
	local f=$!
	sleep 0.3
	ev A a-1 | evt-append -l m.db
	ev A a-1 | evt-append -l m.db --checkpoint w --at 1
	[ -e m.db-wal ] && [ -e m.db-shm ]
	run stat -c '%a %n' m.ndjson m.ndjson.txn m.ndjson.checkpoints rej.ndjson m.db m.db-wal m.db-shm
	kill -TERM $f
	wait $f
	assert_output "600 m.ndjson
600 m.ndjson.txn
600 m.ndjson.checkpoints
600 rej.ndjson
600 m.db
600 m.db-wal
600 m.db-shm"
}

# --- checkpoints and pipelines -----------------------------------------

# A consumer that passes each event through and then writes its reaction
# (a deterministic id, as saga-step's), killed -9 after $1 events if given.
consumer() {
	python3 -c '
import os, sys, json
die = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for n, line in enumerate(sys.stdin, 1):
    ev = json.loads(line)
    sys.stdout.write(line)
    sys.stdout.write(json.dumps({"type": "Handled", "subject": "handled-1",
        "id": "h-" + ev["id"], "causationid": ev["id"]}) + "\n")
    sys.stdout.flush()
    if n == die:
        os.kill(os.getpid(), 9)
' "$@"
}


# The promise of evt-replay(1) DELIVERY: killed at seeded points, the
# consumer still handles every event, and each has one reaction.
@test "--resume with evt-append --checkpoint: a consumer killed -9 loses nothing" {
	local L seed die runs
	for L in w.db w.ndjson; do
		for i in $(seq 1 300); do ev Cause "c-$i"; done | evt-append -l $L
		RANDOM=$(( ${#L} * 7 ))
		for runs in 1 2 3 4; do
			die=$(( RANDOM % 60 + 1 ))
			( evt-replay -l $L --resume work -t Cause | consumer $die |
				evt-append -l $L --checkpoint work ) 2>/dev/null || true
		done
		run evt-replay -l $L -t Handled --count
		[ "$output" -lt 300 ]
		evt-replay -l $L --resume work -t Cause | consumer | evt-append -l $L --checkpoint work
		evt-replay -l $L -t Handled | jq -r .causationid | sort >handled
		evt-replay -l $L -t Cause | jq -r .id | sort >causes
		cmp handled causes
		assert_log_consistent $L
		# The last event passed through stays to be read again.
		run bash -c "evt-replay -l $L --resume work -t Cause | jq -r .subject"
		assert_output c-300
	done
}

@test "evt-append --checkpoint moves past an event once the next one comes, and never back" {
	local L
	for L in p.db p.ndjson; do
		for i in 1 2 3; do ev Cause "c-$i"; done | evt-append -l $L
		evt-replay -l $L | head -2 | evt-append -l $L --checkpoint k
		run bash -c "evt-replay -l $L --resume k | jq -c .seq | paste -sd ' '"
		assert_output "2 3"
		# A lone event passed through proves nothing yet.
		evt-replay -l $L --resume k | head -1 | evt-append -l $L --checkpoint k
		run bash -c "evt-replay -l $L --resume k | jq -c .seq | paste -sd ' '"
		assert_output "2 3"
		evt-append -l $L --checkpoint k --at 3 </dev/null
		run evt-replay -l $L --resume k --count
		assert_output 0
		evt-append -l $L --checkpoint k --at 1 </dev/null
		run evt-replay -l $L --resume k --count
		assert_output 0
		# --resume never moves it; --checkpoint and --resume exclude.
		run evt-replay -l $L --checkpoint k --resume k
		assert_failure 64
		run evt-append -l $L --at 3 </dev/null
		assert_failure 64
	done
}

@test "evt-append --at moves the checkpoint only when all input is stored" {
	local L
	for L in a.db a.ndjson; do
		for i in 1 2 3 4; do ev Cause "c-$i"; done | evt-append -l $L
		# A consumer that fails: the && keeps the checkpoint where it was.
		( set -o pipefail
		  evt-replay -l $L --resume batch --to 4 | consumer 2 >/dev/null &&
			evt-append -l $L --checkpoint batch --at 4 </dev/null ) 2>/dev/null || true
		run evt-replay -l $L --resume batch --count
		assert_output 4
		# Bad input: nothing of the checkpoint moves with what came before.
		run evt-append -l $L --checkpoint batch --at 4 <<<"$(ev Out o-1)
not json"
		assert_failure 65
		run evt-replay -l $L --resume batch -t Cause --count
		assert_output 4
		evt-replay -l $L --resume batch --to 4 | consumer |
			evt-append -l $L --checkpoint batch --at 4
		run evt-replay -l $L --resume batch -t Cause --count
		assert_output 0
		run evt-replay -l $L -t Handled --count
		assert_output 4
	done
}

@test "SIGTERM while waiting for another writer of a SQLite log exits 75 at once" {
	# At once: well before the other writer lets go.
	local hold=4 settle=0.5 soon=2
	under_valgrind && hold=30 settle=5 soon=15
	ev Init i-1 | evt-append -l s.db
	python3 -c '
import sqlite3, sys, time
db = sqlite3.connect("s.db", isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open("locked", "w").close()
time.sleep(float(sys.argv[1]))
db.execute("COMMIT")' $hold &
	local h=$!
	wait_for "[ -e locked ]"
	evt-append -l s.db <<<"$(ev A a-1)" 2>err &
	local a=$! rc=0 t0=$SECONDS
	sleep $settle
	kill -TERM $a
	wait $a || rc=$?
	[ $((SECONDS - t0)) -le $soon ]
	wait $h
	[ "$rc" = 75 ] || { cat err; false; }
	grep -q "interrupted while waiting for another writer" err
	run evt-replay -l s.db --count
	assert_output 1
}

# On a file log the checkpoint is written after the events are durable: a
# crash in between leaves it behind them (read again), never ahead.
@test "file log: a crash between the events and the checkpoint redelivers, never loses" {
	local L=$PWD/o.ndjson
	for i in 1 2 3 4; do ev Cause "c-$i"; done | evt-append -l "$L"
	evt-replay -l "$L" --resume k | consumer >handled.ndjson
	EVT_CRASH_PREFIX=$L.checkpoints.tmp LD_PRELOAD=$(shim crash) \
		evt-append -l "$L" --checkpoint k <handled.ndjson 2>/dev/null && false
	run evt-replay -l "$L" -t Handled --count
	assert_output 4
	# Not moved: all four come again, and their reactions are skipped.
	run evt-replay -l "$L" --resume k -t Cause --count
	assert_output 4
	evt-replay -l "$L" --resume k -t Cause | consumer | evt-append -l "$L" --checkpoint k
	run evt-replay -l "$L" -t Handled --count
	assert_output 4
	run bash -c "evt-replay -l '$L' --resume k -t Cause | jq -r .subject"
	assert_output c-4
	assert_log_consistent "$L"
}

@test "a follower whose log is cut or deleted under it says so and exits 74, on both backends" {
	for i in 1 2 3 4 5; do echo "{\"id\":\"e$i\",\"type\":\"T\",\"subject\":\"s-1\"}"; done >in
	# A file log cut below what the follower read.
	evt-append -q -l cut.ndjson <in
	evt-replay -l cut.ndjson --follow >out 2>err &
	pid=$!
	wait_for '[ "$(wc -l <out)" = 5 ]'
	: >cut.ndjson
	wait_for '! kill -0 $pid 2>/dev/null' 10
	st=0
	wait $pid || st=$?
	[ "$st" -eq 74 ]
	grep -q 'cut.ndjson: truncated under the reader: it had read [0-9]* bytes (to seq 5), the log holds 0' err
	# A SQLite log deleted, then made again by a writer: the follower
	# would wait on the old file for ever.
	evt-append -q -l del.db <in
	evt-replay -l del.db --follow >out 2>err &
	pid=$!
	wait_for '[ "$(wc -l <out)" = 5 ]'
	rm -f del.db del.db-wal del.db-shm
	evt-append -q -l del.db <in
	wait_for '! kill -0 $pid 2>/dev/null' 10
	st=0
	wait $pid || st=$?
	[ "$st" -eq 74 ]
	grep -q 'del.db: \(deleted\|replaced\) under the follower' err
	# A torn tail's repair is not a cut: the follower reads on.
	evt-append -q -l torn.ndjson <in
	evt-replay -l torn.ndjson --follow >out 2>err &
	pid=$!
	wait_for '[ "$(wc -l <out)" = 5 ]'
	printf '{"id":"half' >>torn.ndjson
	echo '{"id":"e6","type":"T","subject":"s-1"}' | evt-append -q -l torn.ndjson
	wait_for '[ "$(wc -l <out)" = 6 ]'
	kill -TERM $pid
	st=0
	wait $pid || st=$?
	[ "$st" -eq 0 ] || { cat err; false; }
}

#!/usr/bin/env bats
# evt-verify: the hash chain over the log (chain.h), its checks, and
# checkpoints; audit-scan's chain_broken; scripts/audit-daily's checkpoints.

load helper

# A file log's chain is hashed on the worker thread in this file's tests,
# whatever the cores (evt(7), EVT_HASH_THREAD); elsewhere as the machine
# decides (inline on 2 cores).
export EVT_HASH_THREAD=1

# gen N [FROM]: N events on three streams, numbered from FROM (default 1).
gen() {
	local i from=${2:-1}
	for ((i = from; i < from + $1; i++)); do
		printf '{"type":"ItemCounted","subject":"shelf-%d","data":{"n":%d}}\n' \
			$((i % 3)) "$i"
	done
}

# chain_openssl: read stored lines on stdin and print h(seq) of each, in
# hex, computed with the openssl command alone (evt(7), THE CHAIN).
chain_openssl() {
	local line seq=0 prev leaf
	prev=$(printf '%064d' 0)
	while IFS= read -r line; do
		seq=$((seq + 1))
		leaf=$({ printf '\000'; printf '%016x' "$seq" | xxd -r -p
			printf '%s' "$line"; } | openssl dgst -sha256 -binary | xxd -p -c 64)
		prev=$({ printf '\001'; printf '%s%s' "$prev" "$leaf" | xxd -r -p; } |
			openssl dgst -sha256 -binary | xxd -p -c 64)
		echo "$prev"
	done
}

# sq_hashes DB: the hash column of each event, in hex, in seq order.
sq_hashes() {
	sqlite3 "$1" "select lower(hex(hash)) from events order by seq"
}

# fails_at LOG SEQ WHAT: evt-verify exits 1 naming SEQ and WHAT.
fails_at() {
	run evt-verify -l "$1"
	assert_failure 1
	assert_output --partial "$1: seq $2: $3"
}

@test "clean logs verify on both backends: empty, one event, many" {
	for log in a.db a.ndjson; do
		evt-append -l "$log" </dev/null
		run evt-verify -l "$log"
		assert_success
		assert_output "0 $(printf '%064d' 0)"
		gen 1 | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^1 [0-9a-f]{64}$'
		gen 500 2 | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^501 [0-9a-f]{64}$'
	done
	# Stored lines stay byte-identical: the chain lives beside them.
	evt-replay -l a.ndjson | cmp - a.ndjson
	[ "$(wc -l <a.ndjson.chain)" -eq 501 ]
	[ "$(stat -c %a a.ndjson.chain)" = 600 ]
}

@test "golden vectors: the chain, evt-verify's head and the checkpoint, as openssl computes them" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	gen 12 | evt-append -l v.ndjson
	gen 12 | evt-append -l v.db
	chain_openssl <v.ndjson >want
	# The file log's sidecar, the SQLite column, evt-verify's head.
	diff -u want v.ndjson.chain
	diff -u want <(sq_hashes v.db)
	evt-replay -l v.db | chain_openssl | diff -u - <(sq_hashes v.db)
	run evt-verify -l v.ndjson
	assert_output "12 $(tail -1 want)"
	# The checkpoint's root is the RFC 6962 tree hash of the leaves, as
	# Python's hashlib computes it from the definitions (not the chain's
	# head, which an earlier evt put there: issue 25).
	evt-verify -l v.ndjson -o cp --origin example.com/v
	printf 'example.com/v\n12\n%s\n' \
		"$(python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" --root v.ndjson)" |
		diff -u - cp
	# And the first vectors are pinned, so a change of definition shows;
	# they too are what openssl computes.
	golden verify-vectors
	out=$TESTDATA/golden/verify-vectors/stdout
	sed -n '/^## v.ndjson$/,/^## v.ndjson.chain$/p' "$out" | sed '1d;$d' |
		chain_openssl >want3
	sed -n '/^## v.ndjson.chain$/,/^## v.db/p' "$out" | sed '1d;$d' | diff -u want3 -
	[ "$(wc -l <want3)" -eq 3 ]
}

@test "concurrent appenders keep one chain, on both backends" {
	for log in c.db c.ndjson; do
		for w in 1 2 3 4; do
			(for b in 1 2 3 4 5; do gen 20 $((w * 1000 + b * 20)) |
				evt-append -l "$log"; done) &
		done
		wait
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^400 [0-9a-f]{64}$'
		assert_log_consistent "$log"
	done
}

@test "after kill -9 and repair, the chain verifies, on both backends" {
	gen 5000 >in.ndjson
	for log in k.db k.ndjson; do
		# The log exists before the first kill, which may come before
		# a loaded machine has even started evt-append.
		gen 3 | evt-append -l "$log"
		for round in 1 2; do
			evt-append -l "$log" <in.ndjson >/dev/null 2>&1 &
			pid=$!
			sleep 0.0$((RANDOM % 5 + 1))
			kill -9 $pid 2>/dev/null || true
			wait $pid || true
			# What a crash left verifies as it stands (a torn tail,
			# records of an unfinished transaction are not events)...
			run evt-verify -l "$log"
			assert_success
			# ... and after the next writer repairs it.
			gen 3 $((round * 100000)) | evt-append -l "$log"
			run evt-verify -l "$log"
			assert_success
		done
	done
	# A torn line and the records of its transaction, made by hand.
	n=$(wc -l <k.ndjson)
	printf '{"specversion":"1.0","id":"torn' >>k.ndjson
	printf '%064d\n%064d\n' 1 2 >>k.ndjson.chain
	run evt-verify -l k.ndjson
	assert_success
	assert_output --regexp "^$n "
	gen 1 7 | evt-append -l k.ndjson
	run evt-verify -l k.ndjson
	assert_success
	assert_output --regexp "^$((n + 1)) "
	[ "$(wc -l <k.ndjson.chain)" -eq $((n + 1)) ]
}

@test "SQLite: a changed byte, a deleted, an inserted row, two swapped rows: each named at its seq" {
	gen 10 | evt-append -l a.db
	cp a.db clean.db
	sqlite3 a.db "update events set body = replace(body, '\"n\":4', '\"n\":5') where seq = 4"
	fails_at a.db 4 "line changed"
	cp clean.db a.db
	sqlite3 a.db "delete from events where seq = 6"
	fails_at a.db 6 "event missing"
	# Deleted, and the rows after it renumbered so no seq is missing.
	cp clean.db a.db
	sqlite3 a.db "delete from events where seq = 6;
		update events set seq = -(seq - 1) where seq > 6;
		update events set seq = -seq where seq < 0"
	fails_at a.db 6 "event missing"
	# Inserted: the rows from 3 on moved up one, a copy of 2 put at 3.
	cp clean.db a.db
	sqlite3 a.db "update events set seq = -(seq + 1) where seq >= 3;
		update events set seq = -seq where seq < 0;
		insert into events(seq, id, idh, subject, version, type, time,
			correlationid, body, hash) select 3, 'forged', 1, subject, 9,
			type, time, 'forged', body, hash from events where seq = 2"
	fails_at a.db 3 "event inserted"
	# Added at the end by hand: it has no hash.
	cp clean.db a.db
	sqlite3 a.db "insert into events(seq, id, idh, subject, version, type, time,
		correlationid, body) select 11, 'forged', 1, subject, 9, type, time,
		'forged', replace(body, '\"seq\":10', '\"seq\":11') from events where seq = 10"
	fails_at a.db 11 "hash missing"
	# Swapped: the lines (hashes left in place), or whole rows.
	cp clean.db a.db
	sqlite3 a.db "create temp table t as select seq, body from events where seq in (7, 8);
		update events set body = (select body from t where t.seq = 15 - events.seq)
		where seq in (7, 8)"
	fails_at a.db 7 "events reordered"
	cp clean.db a.db
	sqlite3 a.db "update events set seq = -seq where seq in (7, 8);
		update events set seq = 15 + seq where seq in (-7, -8)"
	fails_at a.db 7 "events reordered"
	# The verified part is still the head of a -v note.
	run evt-verify -v -l a.db
	assert_output --partial "the chain holds up to seq 6"
}

@test "file log: a changed byte, a deleted, an inserted line, two swapped lines: each named at its seq" {
	gen 10 | evt-append -l a.ndjson
	cp a.ndjson clean
	sed -i '4s/"n":4/"n":5/' a.ndjson
	fails_at a.ndjson 4 "line changed"
	cp clean a.ndjson
	sed -i '6d' a.ndjson
	fails_at a.ndjson 6 "event missing"
	cp clean a.ndjson
	sed -i '3{h};3G' a.ndjson
	fails_at a.ndjson 4 "event inserted"
	cp clean a.ndjson
	sed -i '7{h;d};8G' a.ndjson
	fails_at a.ndjson 7 "events reordered"
	# A line that is no longer JSON is a changed line, not a crash.
	cp clean a.ndjson
	sed -i '9s/^{/[/' a.ndjson
	fails_at a.ndjson 9 "line changed"
	# The sidecar's record changed, or cut short.
	cp clean a.ndjson
	cp a.ndjson.chain chain.clean
	sed -i '5{s/^0/1/;t;s/^./0/}' a.ndjson.chain
	! cmp -s a.ndjson.chain chain.clean
	fails_at a.ndjson 5 "line changed"
	cp chain.clean a.ndjson.chain
	truncate -s $((65 * 8)) a.ndjson.chain
	fails_at a.ndjson 9 "hash missing"
}

@test "the limit: an attacker who rewrites every hash passes without a checkpoint, fails against one" {
	gen 10 | evt-append -l a.db
	gen 10 | evt-append -l a.ndjson
	for log in a.db a.ndjson; do
		evt-verify -l "$log" -o "$log.cp"
	done
	# Change seq 3, then have evt itself rewrite every hash after it: drop
	# the chain, as if the log were made by an earlier evt, and append.
	sqlite3 a.db "update events set body = replace(body, '\"n\":3', '\"n\":300') where seq = 3;
		alter table events drop column hash"
	sed -i '3s/"n":3/"n":300/' a.ndjson
	rm a.ndjson.chain
	for log in a.db a.ndjson; do
		gen 1 11 | evt-append -l "$log"
		# Without a checkpoint nothing shows: the chain is consistent.
		run evt-verify -l "$log"
		assert_success
		run audit-scan -l "$log"
		refute_output --partial chain_broken
		# Against the checkpoint kept before, it fails, in both modes.
		run evt-verify -l "$log" --since "$log.cp"
		assert_failure 1
		assert_output --partial "seq 10: log does not extend the checkpoint"
		run evt-verify -l "$log" --since "$log.cp" --full
		assert_failure 1
		assert_output --partial "seq 10: log does not extend the checkpoint"
	done
}

# set_head LOG SEQ: set the chain's head kept apart from the events (issue
# 22) to SEQ, as someone with write access would: SQLite's chain_head row,
# the third number of a file log's LOG.txn.
set_head() {
	if [[ $1 == *.db ]]; then
		sqlite3 "$1" "update chain_head set seq = $2"
	else
		printf '%020d %020d %020d\n' 0 0 "$2" >"$1.txn"
	fi
}

@test "against a checkpoint: the log grows and passes; truncated or replaced, it fails" {
	for log in a.db a.ndjson; do
		gen 10 | evt-append -l "$log"
		evt-verify -l "$log" -o cp
		gen 5 11 | evt-append -l "$log"
		run evt-verify -l "$log" --since cp
		assert_success
		assert_output --regexp '^15 [0-9a-f]{64}$'
		run evt-verify -l "$log" --since cp --full
		assert_success
		# A checkpoint of the head itself, and of the empty log.
		evt-verify -l "$log" -o cp15
		run evt-verify -l "$log" --since cp15
		assert_success
		cp "$log" keep
		# Truncated to 7 events, the chain's head kept apart set back
		# too (issue 22; set_head below): fine alone, caught by the
		# checkpoint.
		if [ "$log" = a.db ]; then
			sqlite3 a.db "delete from events where seq > 7"
		else
			head -7 keep >a.ndjson
		fi
		set_head "$log" 7
		run evt-verify -l "$log"
		assert_success
		run evt-verify -l "$log" --since cp
		assert_failure 1
		assert_output --partial "seq 8: log truncated (it ends at seq 7, the checkpoint is at seq 10)"
		run evt-verify -l "$log" --since cp --full
		assert_failure 1
		assert_output --partial "log truncated"
		# Truncated, then written on: seq 10 is another event now.
		gen 5 11 | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		run evt-verify -l "$log" --since cp
		assert_failure 1
		assert_output --partial "seq 10: log does not extend the checkpoint"
		# A freshly built replacement, with the same number of events.
		rm -rf "$log" "$log".*
		gen 15 | sed 's/ItemCounted/ItemCountd/' | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		run evt-verify -l "$log" --since cp
		assert_failure 1
		assert_output --partial "seq 10: log does not extend the checkpoint"
		rm -rf "$log" "$log".* cp cp15 keep
	done
}

@test "a signed checkpoint verifies with openssl pkeyutl, and fails with another key or after a one-byte edit" {
	openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
	openssl pkey -in key.pem -pubout -out pub.pem
	openssl genpkey -algorithm ed25519 -out other.pem 2>/dev/null
	openssl pkey -in other.pem -pubout -out otherpub.pem
	gen 10 | evt-append -l a.db
	evt-verify -l a.db -o cp --sign key.pem --origin example.com/shop
	[ "$(stat -c %a cp)" = 600 ]
	# The signed note: body, blank line, "— NAME base64(keyid || sig)".
	[ "$(sed -n 4p cp)" = "" ]
	run sed -n 5p cp
	assert_output --regexp '^— example.com/shop [A-Za-z0-9+/]{91}=$'
	head -3 cp >body
	sed -n 5p cp | cut -d' ' -f3 | openssl base64 -d -A >blob
	tail -c 64 blob >sig
	run openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in body -sigfile sig
	assert_success
	assert_output --partial "Signature Verified Successfully"
	run openssl pkeyutl -verify -pubin -inkey otherpub.pem -rawin -in body -sigfile sig
	assert_failure
	# The key id: SHA-256(name "\n" 0x01 raw public key), 4 bytes.
	{ printf 'example.com/shop\n\001'
	  openssl pkey -pubin -in pub.pem -outform DER | tail -c 32; } |
		openssl dgst -sha256 -binary | head -c 4 | cmp - <(head -c 4 blob)
	# evt-verify checks it too.
	run evt-verify -l a.db --since cp --pubkey pub.pem --origin example.com/shop
	assert_success
	run evt-verify -l a.db --since cp --pubkey otherpub.pem
	assert_failure 1
	assert_output --partial "cp: no signature by the key in otherpub.pem"
	# One byte of the body changed: the seq, then the origin.
	sed '2s/10/11/' cp >cp2
	sed '2s/10/11/' body >body2
	run openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in body2 -sigfile sig
	assert_failure
	run evt-verify -l a.db --since cp2 --pubkey pub.pem
	assert_failure 1
	assert_output --partial "signature by example.com/shop does not verify"
	sed '1s/shop/shoq/' cp >cp3
	run evt-verify -l a.db --since cp3 --pubkey pub.pem
	assert_failure 1
	# An unsigned checkpoint is refused when a key is asked for.
	evt-verify -l a.db -o plain
	run evt-verify -l a.db --since plain --pubkey pub.pem
	assert_failure 1
	assert_output --partial "no signature"
	# --origin must match the checkpoint's when given, and the default
	# origin (this host and the log's path) when not.
	run evt-verify -l a.db --since cp --origin example.com/other
	assert_failure 1
	assert_output --partial "the checkpoint is for origin example.com/shop"
	run evt-verify -l a.db --since cp
	assert_failure 1
	assert_output --partial "the checkpoint is for origin example.com/shop, not $(hostname)$PWD/a.db"
	# A second signature with --key-name, and a key that is not Ed25519.
	evt-verify -l a.db -o cpn --sign key.pem --key-name shop-key --origin example.com/shop
	run sed -n 5p cpn
	assert_output --regexp '^— shop-key '
	run evt-verify -l a.db --since cpn --pubkey pub.pem --origin example.com/shop
	assert_success
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
	run evt-verify -l a.db -o x --sign ec.pem
	assert_failure 65
	assert_output --partial "ec.pem: not an Ed25519 private key"
}

@test "a log made by an earlier evt is chained in place on its first write, once, and that is recorded" {
	# SQLite: the layout before the chain, with its text indexes.
	gen 30 | evt-append -l new.db
	sqlite_text_log old.db nohash
	sqlite3 old.db "attach 'new.db' as n; insert into events select seq, id,
		subject, version, type, time, correlationid, body from n.events"
	evt-replay -l old.db >before
	run evt-verify -l old.db
	assert_failure 1
	assert_output --partial "seq 1: log not chained"
	gen 1 31 | evt-append -l old.db
	run evt-verify -l old.db
	assert_success
	assert_output --regexp '^32 '
	evt-replay -l old.db | head -30 | cmp - before
	evt-replay -l old.db | chain_openssl | diff -u - <(sq_hashes old.db)
	# The chaining is an event of the log, before the writer's own.
	run evt-replay -l old.db --from 31 -n 1
	assert_output --regexp '"source":"evt","type":"LogChained","subject":"evt-chain",.*"seq":31,.*"data":\{"from":1,"to":30,'
	[ "$(evt-replay -l old.db --from 32 | jq -r .data.n)" = 31 ]
	# Once: later writes leave the old hashes as they are.
	sq_hashes old.db >h1
	gen 2 32 | evt-append -l old.db
	sq_hashes old.db | head -32 | cmp - h1
	[ "$(evt-replay -l old.db -s evt-chain --count)" = 1 ]
	# A file log: the store's log from testdata, as an earlier evt wrote it.
	cp "$TESTDATA/store-log.ndjson" old.ndjson
	n=$(wc -l <old.ndjson)
	run evt-verify -l old.ndjson
	assert_failure 1
	assert_output --partial "seq 1: log not chained"
	gen 1 1 | evt-append -l old.ndjson
	run evt-verify -l old.ndjson
	assert_success
	assert_output --regexp "^$((n + 2)) "
	head -$n old.ndjson | cmp - "$TESTDATA/store-log.ndjson"
	[ "$(sed -n "$((n + 1))p" old.ndjson | jq -c '[.type, .data.from, .data.to]')" = "[\"LogChained\",1,$n]" ]
	cp old.ndjson.chain c1
	gen 1 2 | evt-append -l old.ndjson
	head -$((n + 2)) old.ndjson.chain | cmp - c1
	# Events appended by an earlier evt after the chain: a writer does not
	# chain them (that would launder any tampering), evt-verify --rechain
	# does, and says so in the log.
	sqlite3 old.db "insert into events(seq, id, subject, version, type, time,
		correlationid, body) select 35, 'by-old-evt', 'x-1', 1, type, time,
		'by-old-evt', replace(body, '\"seq\":34', '\"seq\":35') from events where seq = 34"
	fails_at old.db 35 "hash missing"
	run evt-append -l old.db < <(gen 1 40)
	assert_failure 74
	assert_output --partial "old.db: seq 35: hash missing in a chained log"
	assert_output --partial "see evt-verify --rechain"
	run evt-verify -l old.db --rechain "events appended by evt 0.0.9 on host b"
	assert_success
	assert_line --regexp '^36 '
	assert_output --partial "re-chained from seq 35"
	gen 1 40 | evt-append -l old.db
	run evt-verify -l old.db
	assert_success
	assert_output --regexp '^37 '
}

# tamper_02 LOG: edit seq 3 of a 6-event log and remove the hashes from
# there on, as plain SQL or sed can (repro log-3/02).
tamper_02() {
	case $1 in
	*.db) sqlite3 "$1" "update events set body = replace(body, '\"n\":3', '\"n\":9300'),
		hash = null where seq >= 3" ;;
	*) sed -i '3s/"n":3/"n":9300/' "$1"; head -2 "$1.chain" >c; cat c >"$1.chain" ;;
	esac
}

@test "tampering is not laundered by the next append: refused (74) until evt-verify --rechain records a repair" {
	for log in a.db a.ndjson; do
		gen 6 | evt-append -l "$log"
		cp "$log" "clean-$log"
		[ -f "$log.chain" ] && cp "$log.chain" "clean-$log.chain"
		tamper_02 "$log"
		fails_at "$log" 3 "hash missing"
		# Every writer refuses, and writes nothing.
		run evt-append -l "$log" < <(gen 1 7)
		assert_failure 74
		assert_output --partial "$log: seq 3: hash missing in a chained log"
		assert_output --partial "a writer does not repair a chain: see evt-verify --rechain"
		[ "$(evt-replay -l "$log" --count)" = 6 ]
		fails_at "$log" 3 "hash missing"
		# Every hash removed from a log that records no chaining: it looks
		# made by an earlier evt, and the first write chains it, once, and
		# records that in the log; every hash removed again, it is refused.
		if [ "$log" = a.db ]; then
			sqlite3 a.db "update events set hash = null"
		else
			: >a.ndjson.chain
		fi
		gen 1 7 | evt-append -l "$log"
		[ "$(evt-replay -l "$log" -s evt-chain -t LogChained --count)" = 1 ]
		if [ "$log" = a.db ]; then
			sqlite3 a.db "update events set hash = null"
		else
			: >a.ndjson.chain
		fi
		run evt-append -l "$log" < <(gen 1 8)
		assert_failure 74
		assert_output --partial "hash missing in a chained log (every hash removed)"
		# The operator's repair: from the first seq found wrong, recorded.
		run evt-verify -l "$log" --rechain "restored seq 3 from the backup of 2026-11-30"
		assert_success
		assert_output --partial "$log: re-chained from seq 1 (seq 1: "
		assert_line --regexp '^9 [0-9a-f]{64}$'
		run evt-replay -l "$log" -s evt-chain -t LogRechained
		assert_output --regexp '"source":"evt","type":"LogRechained","subject":"evt-chain",.*"seq":9,'
		assert_output --partial '"data":{"from":1,"fault":"'
		assert_output --partial '"reason":"restored seq 3 from the backup of 2026-11-30"}'
		gen 1 8 | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^10 '
		# A sound chain: nothing to re-chain, nothing recorded.
		run evt-verify -l "$log" --rechain "nothing"
		assert_success
		[ "$(evt-replay -l "$log" --count)" = 10 ]
		# A changed line: re-chained from it.
		cp "clean-$log" "$log"
		[ -f "clean-$log.chain" ] && cp "clean-$log.chain" "$log.chain"
		tamper_02 "$log"
		run evt-verify -l "$log" --rechain "seq 3 corrected by finance, ticket 42"
		assert_success
		assert_output --partial "re-chained from seq 3 (seq 3: hash missing"
		[ "$(evt-replay -l "$log" --from 7 | jq -c '[.type, .data.from, .data.fault]')" = '["LogRechained",3,"hash missing"]' ]
	done
	run evt-verify -l a.db --rechain ""
	assert_failure 64
	run evt-verify -l a.db --rechain x --since cp
	assert_failure 64
}

# drop_last LOG N: delete the last N events of LOG behind evt's back.
drop_last() {
	if [[ $1 == *.db ]]; then
		sqlite3 "$1" "delete from events where seq > (select max(seq) from events) - $2"
	else
		head -n -"$2" "$1" >t && cat t >"$1"
	fi
}

@test "a deleted last event reads as log truncated without a checkpoint, and writers refuse until --rechain, on both backends (issue 22)" {
	for log in a.db a.ndjson; do
		gen 6 | evt-append -l "$log"
		gen 1 7 | evt-append -l "$log"
		drop_last "$log" 1
		run evt-verify -l "$log"
		assert_failure 1
		assert_output "evt-verify: $log: seq 7: log truncated (the log's head says seq 7, its last event is seq 6: events deleted from its end)"
		run audit-scan -l "$log"
		assert_output --partial chain_broken
		# A writer does not hide it: refused, nothing written.
		run evt-append -l "$log" < <(gen 1 8)
		assert_failure 74
		assert_output --partial "$log: seq 7: log truncated: the chain's head says seq 7, the last event stored is seq 6; a writer does not repair a chain: see evt-verify --rechain"
		[ "$(evt-replay -l "$log" --count)" = 6 ]
		fails_at "$log" 7 "log truncated"
		# The operator's repair, recorded where the lost event was.
		run evt-verify -l "$log" --rechain "seq 7 lost in the restore of 2026-12-01"
		assert_success
		assert_output --partial "$log: re-chained from seq 7 (seq 7: log truncated"
		assert_line --regexp '^7 [0-9a-f]{64}$'
		[ "$(evt-replay -l "$log" --from 7 | jq -c '[.seq, .type, .data.from, .data.fault]')" = '[7,"LogRechained",7,"log truncated"]' ]
		gen 1 8 | evt-append -l "$log"
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^8 '
		# More than one event deleted from the end.
		drop_last "$log" 3
		fails_at "$log" 6 "log truncated"
		rm -rf "$log" "$log".*
	done
	# Every event deleted: SQLite says so; a file log without a line is
	# a new log, whatever its LOG.txn says (removed and made again).
	gen 3 | evt-append -l a.db
	sqlite3 a.db "delete from events"
	fails_at a.db 1 "log truncated"
	run evt-append -l a.db < <(gen 1 4)
	assert_failure 74
	run evt-verify -q -l a.db --rechain "emptied by mistake"
	assert_success
	[ "$(evt-replay -l a.db | jq -r .type)" = LogRechained ]
	gen 3 | evt-append -l a.ndjson
	: >a.ndjson
	run evt-verify -l a.ndjson
	assert_success
	assert_output --regexp '^0 '
	rm a.ndjson a.ndjson.chain
	gen 2 | evt-append -l a.ndjson
	[ "$(cut -d' ' -f3 a.ndjson.txn)" = 00000000000000000002 ]
	drop_last a.ndjson 1
	fails_at a.ndjson 2 "log truncated"
}

@test "the head kept apart: a log of an earlier evt gets one at its next write; --no-sync and a crash leave it behind, never ahead (issue 22)" {
	nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init && skip "sanitizer build"
	for log in a.db a.ndjson; do
		# No head (as an earlier evt left the log): a deletion shows
		# only against a checkpoint; the next write keeps one.
		gen 5 | evt-append -l "$log"
		if [ "$log" = a.db ]; then
			sqlite3 a.db "drop table chain_head"
		else
			printf '%020d %020d\n' 0 0 >a.ndjson.txn
		fi
		drop_last "$log" 1
		run evt-verify -l "$log"
		assert_success
		assert_output --regexp '^4 '
		gen 2 6 | evt-append -l "$log"
		drop_last "$log" 1
		fails_at "$log" 6 "log truncated"
		rm -rf "$log" "$log".*
	done
	# SQLite moves the head in the events' transaction, --no-sync or not.
	gen 3 | evt-append --no-sync -l b.db
	drop_last b.db 1
	fails_at b.db 3 "log truncated"
	# A file log's head is written after the commit's fdatasync, and not
	# by --no-sync: a --no-sync append may not outlive a power cut.
	gen 3 | evt-append -l b.ndjson
	gen 2 4 | evt-append --no-sync -l b.ndjson
	[ "$(cut -d' ' -f3 b.ndjson.txn)" = 00000000000000000003 ]
	drop_last b.ndjson 1
	run evt-verify -l b.ndjson
	assert_success
	drop_last b.ndjson 2
	fails_at b.ndjson 3 "log truncated"
	# Killed at the head's write (a single-line commit, whose first
	# write to LOG.txn it is): the event is stored, the head behind it.
	crash_shim
	gen 3 | evt-append -l c.ndjson
	run env EVT_CRASH_PATH="$PWD/c.ndjson.txn" LD_PRELOAD=./crash.so \
		evt-append -l c.ndjson < <(gen 1 4)
	assert_failure
	[ "$(cut -d' ' -f3 c.ndjson.txn)" = 00000000000000000003 ]
	run evt-verify -l c.ndjson
	assert_success
	assert_output --regexp '^4 '
	gen 1 5 | evt-append -l c.ndjson
	[ "$(cut -d' ' -f3 c.ndjson.txn)" = 00000000000000000005 ]
	run evt-verify -l c.ndjson
	assert_success
}

@test "--since checks the default origin: a checkpoint of one log does not verify a copy elsewhere, on both backends" {
	for log in a.db a.ndjson; do
		gen 3 | evt-append -l "$log"
		evt-verify -q -l "$log" -o "$log.cp"
		[ "$(head -1 "$log.cp")" = "$(hostname)$PWD/$log" ]
		run evt-verify -l "$log" --since "$log.cp"
		assert_success
		cp "$log" "b-$log"
		[ -f "$log.chain" ] && cp "$log.chain" "b-$log.chain"
		run evt-verify -l "b-$log" --since "$log.cp"
		assert_failure 1
		assert_output "evt-verify: $log.cp: the checkpoint is for origin $(hostname)$PWD/$log, not $(hostname)$PWD/b-$log"
		# Said on purpose, it verifies.
		run evt-verify -l "b-$log" --since "$log.cp" --origin "$(hostname)$PWD/$log"
		assert_success
	done
}

@test "audit-scan: a broken chain is a critical INTEGRITY finding; metrics carry the verified seq" {
	gen 10 | evt-append -l a.db
	run audit-scan -l a.db --metrics m.prom
	assert_success
	grep -qx 'evt_chain_verified_seq{program="audit-scan"} 10' m.prom
	grep -qx 'evt_chain_ok{program="audit-scan"} 1' m.prom
	sqlite3 a.db "update events set body = replace(body, '\"n\":4', '\"n\":5') where seq = 4"
	run audit-scan -l a.db --metrics m.prom
	assert_failure 1
	assert_output --partial '{"finding":"chain_broken","severity":"critical","tags":["INTEGRITY"],"seq":4,'
	grep -qx 'evt_chain_verified_seq{program="audit-scan"} 3' m.prom
	grep -qx 'evt_chain_ok{program="audit-scan"} 0' m.prom
	grep -qx 'audit_findings{finding="chain_broken",severity="critical"} 1' m.prom
	# A rules file can turn it off, like any rule.
	echo '{"rules":{"chain_broken":{"enabled":false}}}' >rules.json
	run audit-scan -l a.db --rules rules.json
	refute_output --partial chain_broken
	# evt-verify writes the same metrics.
	run evt-verify -l a.db --metrics v.prom
	assert_failure 1
	grep -qx 'evt_chain_verified_seq{program="evt-verify"} 3' v.prom
}

@test "scripts/audit-daily verifies the chain and keeps the day's checkpoint" {
	gen 10 | evt-append -l a.db
	EVT_NOW=2026-11-25T06:15:00Z run audit-daily a.db out
	assert_success
	[ -s out/checkpoint-2026-11-24 ]
	[ "$(sed -n 2p out/checkpoint-2026-11-24)" = 10 ]
	assert_output --partial "Chain:    verified to seq 10"
	gen 5 11 | evt-append -l a.db
	EVT_NOW=2026-11-26T06:15:00Z run audit-daily a.db out
	assert_success
	assert_output --partial "Chain:    verified to seq 15, extends the checkpoint of 2026-11-24"
	# Signed with --sign, which audit-scan does not see.
	openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
	openssl pkey -in key.pem -pubout -out pub.pem
	EVT_NOW=2026-11-27T06:15:00Z run audit-daily a.db out --sign key.pem
	assert_success
	run evt-verify -l a.db --since out/checkpoint-2026-11-26 --pubkey pub.pem
	assert_success
	rm out/checkpoint-2026-11-26
	# The log cut back: the chain alone holds, the kept checkpoint does not.
	sqlite3 a.db "delete from events where seq > 12"
	EVT_NOW=2026-11-27T06:15:00Z run audit-daily a.db out
	assert_failure 1
	assert_output --partial "log truncated"
	[ ! -e out/checkpoint-2026-11-26 ]
}

@test "usage errors, missing and bad files: exit codes" {
	gen 3 | evt-append -l a.db
	run evt-verify -l a.db --sign key.pem
	assert_failure 64
	run evt-verify -l a.db --full
	assert_failure 64
	run evt-verify -l a.db --pubkey p.pem
	assert_failure 64
	run evt-verify -l a.db extra
	assert_failure 64
	run evt-verify -l a.db -o x --origin ''
	assert_failure 64
	run evt-verify -l nosuch.db
	assert_failure 66
	run evt-verify -l a.db --since nosuch
	assert_failure 66
	assert_output "evt-verify: nosuch: No such file or directory"
	printf 'origin\nten\nAAAA\n' >bad
	run evt-verify -l a.db --since bad
	assert_failure 65
	assert_output "evt-verify: bad:2: not a checkpoint: not a seq (a decimal number)"
	printf 'origin\n3\nAAAA\n' >bad
	run evt-verify -l a.db --since bad
	assert_failure 65
	assert_output --partial "bad:3: not a checkpoint: not a root hash"
	run evt-verify -l a.db -o x --sign nosuch.pem
	assert_failure 66
	run evt-verify -l a.db -o /nonexistent/dir/cp
	assert_failure 73
	run evt-verify --help
	assert_success
	assert_output --partial "usage: evt-verify"
	run evt-verify --version
	assert_success
}

@test "valgrind: evt-verify, signing and checking, its failures and errors" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	nm "$ROOT/bin/evt-verify" 2>/dev/null | grep -q __asan_init && skip "sanitizer build"
	skip_under_valgrind "make check-valgrind runs every program under valgrind already"
	vg() {
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
	}
	openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
	openssl pkey -in key.pem -pubout -out pub.pem
	gen 20 | vg evt-append -l a.db
	gen 20 | vg evt-append -l a.ndjson
	vg evt-verify -l a.db -o cp --sign key.pem --metrics m.prom >/dev/null
	vg evt-verify -l a.db --since cp --pubkey pub.pem >/dev/null
	vg evt-verify -l a.ndjson -o cp >/dev/null
	vg evt-verify -l a.ndjson --since cp --full >/dev/null
	# The upgrade of an earlier evt's log, on both backends.
	sqlite3 a.db "alter table events drop column hash"
	mv a.ndjson.chain chain.keep
	gen 1 21 | vg evt-append -l a.db
	gen 1 21 | vg evt-append -l a.ndjson
	sqlite3 a.db "delete from events where seq = 5"
	run vg evt-verify -l a.db
	assert_failure 1
	sed -i '3{h;d};4G' a.ndjson
	run vg evt-verify -l a.ndjson --since cp --full
	assert_failure 1
	run vg evt-verify -l a.db --since nosuch
	assert_failure 66
	printf 'x\n1\nAAAA\n' >bad
	run vg evt-verify -l a.db --since bad
	assert_failure 65
	sed '2s/^20$/22/' cp >cp2
	run vg evt-verify -l a.ndjson --since cp2 --pubkey pub.pem
	assert_failure 1
}

# A shim that kills the program at its first write(2) or pwrite(2) to
# EVT_CRASH_PATH, after writing half of it when EVT_CRASH_TORN is set.
crash_shim() {
	cat >crash.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
static int hit(int fd) {
	char p[64], t[PATH_MAX]; const char *want = getenv("EVT_CRASH_PATH"); ssize_t k;
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return want && (k = readlink(p, t, sizeof t - 1)) > 0 && (t[k] = 0, !strcmp(t, want));
}
ssize_t write(int fd, const void *b, size_t n) {
	ssize_t (*r)(int, const void *, size_t) = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (hit(fd)) { if (getenv("EVT_CRASH_TORN")) r(fd, b, n / 2); raise(SIGKILL); }
	return r(fd, b, n);
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) {
	ssize_t (*r)(int, const void *, size_t, off_t) = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (hit(fd)) { if (getenv("EVT_CRASH_TORN")) r(fd, b, n / 2, o); raise(SIGKILL); }
	return r(fd, b, n, o);
}
C
	cc -shared -fPIC -o crash.so crash.c -ldl
}

@test "file log: a crash at each write of a commit leaves a log that verifies, and the next writer repairs" {
	nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init && skip "sanitizer build"
	crash_shim
	for target in log chain txn; do
		for torn in "" 1; do
			rm -rf c.ndjson*
			gen 10 | evt-append -l c.ndjson
			path=$PWD/c.ndjson
			[ $target = log ] || path=$PWD/c.ndjson.$target
			before=$(wc -c <"$path")
			run env EVT_CRASH_PATH="$path" EVT_CRASH_TORN=$torn \
				LD_PRELOAD=./crash.so evt-append -l c.ndjson < <(gen 5 11)
			assert_failure
			# Torn: half of what was to be written is there (LOG.txn
			# is written over, at its start).
			[ -z "$torn" ] || [ $target = txn ] || [ "$(wc -c <"$path")" -gt "$before" ]
			# The transaction never happened: the log verifies at 10.
			run evt-verify -l c.ndjson
			assert_success
			assert_output --regexp '^10 '
			gen 2 20 | evt-append -l c.ndjson
			run evt-verify -l c.ndjson
			assert_success
			assert_output --regexp '^12 '
			[ "$(wc -l <c.ndjson.chain)" -eq 12 ]
			[ "$(wc -c <c.ndjson.chain)" -eq $((12 * 65)) ]
		done
	done
}

# tamper LOG OP K: do OP (change, delete, insert, swap) at seq K of LOG as
# someone with write access would, behind evt's back.
tamper() {
	local log=$1 op=$2 k=$3
	case $log:$op in
	*.db:change) sqlite3 "$log" "update events set body = replace(body, '\"data\":{', '\"data\":{\"x\":1,') where seq = $k" ;;
	*.db:delete) sqlite3 "$log" "delete from events where seq = $k" ;;
	*.db:insert) sqlite3 "$log" "update events set seq = -(seq + 1) where seq >= $k;
		update events set seq = -seq where seq < 0;
		insert into events(seq, id, idh, subject, version, type, time,
			correlationid, body, hash) select $k, 'forged', 1, subject, 99,
			type, time, 'forged', body, hash from events where seq = $((k - 1))" ;;
	*.db:swap) sqlite3 "$log" "update events set seq = -seq where seq in ($k, $((k + 1)));
		update events set seq = $((2 * k + 1)) + seq where seq in (-$k, -$((k + 1)))" ;;
	*:change) sed -i "${k}s/\"data\":{/\"data\":{\"x\":1,/" "$log" ;;
	*:delete) sed -i "${k}d" "$log" ;;
	*:insert) awk -v k="$k" 'NR == k - 1 { d = $0 } NR == k { print d } { print }' \
		"$log" >t && cat t >"$log" ;;
	*:swap) awk -v k="$k" 'NR == k { s = $0; next } { print } NR == k + 1 { print s }' \
		"$log" >t && cat t >"$log" ;;
	esac
}

@test "generated tampering (seeded): each change is named at its seq, with its kind, on both backends" {
	local -A what=([change]="line changed" [delete]="event missing"
		[insert]="event inserted" [swap]="events reordered")
	local ops=(change delete insert swap) seed=${EVT_TEST_SEED:-15}
	RANDOM=$seed
	gen 30 | evt-append -l clean.db
	gen 30 | evt-append -l clean.ndjson
	for i in $(seq 1 24); do
		op=${ops[RANDOM % 4]} k=$((RANDOM % 27 + 2))
		for log in t.db t.ndjson; do
			rm -rf t.db* t.ndjson*
			if [ $log = t.db ]; then
				cp clean.db t.db
			else
				cp clean.ndjson t.ndjson
				cp clean.ndjson.chain t.ndjson.chain
			fi
			tamper $log $op $k
			run evt-verify -l $log
			[ "$status" -eq 1 ] && [[ $output == *"$log: seq $k: ${what[$op]}"* ]] ||
				{ echo "seed $seed case $i: $op at $k on $log: $output"; return 1; }
		done
	done
}

# --- the file log's worker thread (chain_file.c) -------------------------
# From a transaction's 256th event on, the sidecar's hashes are computed by
# a worker thread while the appender goes on; the sidecar must be byte for
# byte what hashing inline makes.

# big N [FROM] [SUBJECT]: N events numbered from FROM, quickly (awk), on
# three streams or, with SUBJECT, each on a stream of its own.
big() {
	awk -v n="$1" -v from="${2:-1}" -v s="${3:-}" 'BEGIN {
		for (i = from; i < from + n; i++)
			printf "{\"type\":\"ItemCounted\",\"subject\":\"%s\",\"data\":{\"n\":%d}}\n",
				s == "" ? "shelf-" i % 3 : s "-" i, i }'
}

@test "file log: large appends hashed off the appending thread chain as inline hashing and hashlib do, rollbacks included" {
	export EVT_NOW=2026-11-24T12:00:00.000Z
	big 140000 >in1		# three groups of evt-append
	big 1000 200000 >in2	# one --atomic transaction
	{ big 1000 300000; echo 'not json'; } >in3	# rolled back at its end
	{ big 800 400000 new; big 1 400800; } >in4	# --expect conflict at 801
	big 700 500000 >in5
	for log in w.ndjson w.db; do
		evt-append -q -l $log <in1
		if [ $log = w.ndjson ]; then
			cp w.ndjson small.ndjson
			cp w.ndjson.chain small.ndjson.chain
		fi
		evt-append -q --atomic -l $log <in2
		run evt-append --atomic -l $log <in3
		assert_failure 65
		assert_output --partial "nothing appended"
		run evt-append --expect none -l $log <in4
		assert_failure 75
		assert_output --partial "nothing appended"
		evt-append -q -l $log <in5
	done
	run evt-verify -l w.ndjson
	assert_success
	assert_output --regexp '^141700 [0-9a-f]{64}$'
	# The same sidecar as hashlib computes from the stored lines...
	python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" w.ndjson | cmp - w.ndjson.chain
	# ... as the SQLite log hashes inline, for the same stored lines...
	evt-replay -l w.db | cmp - w.ndjson
	sq_hashes w.db | cmp - w.ndjson.chain
	# ... and as a file log given what was committed after in1 in
	# transactions too small to be handed to the worker.
	cat in2 in5 | split -l 200 - part.
	for p in part.*; do
		evt-append -q -l small.ndjson <$p
	done
	cmp small.ndjson w.ndjson
	cmp small.ndjson.chain w.ndjson.chain
}

@test "file log: seeded histories of commits, rollbacks and reopens, on both sides of the hand-over, chain as hashlib does" {
	# Against the library of the build the tests run (a sanitizer build's
	# objects need its runtime).
	local lib=$ROOT/build/libevt.a san= seed
	if nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init; then
		lib=$ROOT/build-san/libevt.a san=-fsanitize=address,undefined
	fi
	cc -std=c11 -D_GNU_SOURCE -pthread $san -I"$ROOT/lib" -o chain-txns \
		"$BATS_TEST_DIRNAME/chain-txns.c" "$lib" \
		$(pkg-config --libs sqlite3 libpq jansson libcrypto)
	for seed in 1 2 3; do
		seed=$(( ${EVT_TEST_SEED:-15} * 10 + seed ))
		rm -rf h.ndjson*
		n=$(./chain-txns h.ndjson $seed 30)
		run evt-verify -l h.ndjson
		[ "$status" -eq 0 ] && [[ $output == "$n "* ]] ||
			{ echo "seed $seed: $n committed: $output"; return 1; }
		python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" h.ndjson |
			cmp - h.ndjson.chain || { echo "seed $seed"; return 1; }
	done
}

@test "file log: SIGTERM mid-stream with the worker thread running: what is stored verifies" {
	big 300000 >in
	for round in 1 2 3; do
		rm -rf s.ndjson*
		big 3 900000 | evt-append -l s.ndjson
		if [ $round = 3 ]; then
			evt-append --atomic -l s.ndjson <in 2>err &
		else
			cat in | evt-append -l s.ndjson 2>err &
		fi
		pid=$!
		# Under valgrind, from its first stored event (--atomic
		# stores none before its end: a pause of a few seconds): the
		# pause alone ended before it had started.
		if under_valgrind && [ $round = 3 ]; then
			sleep 5
		elif under_valgrind; then
			wait_for "[ \$(wc -l <s.ndjson) -gt 3 ]" 60
		fi
		sleep 0.$((RANDOM % 3 + 2))
		kill -TERM $pid
		rc=0; wait $pid || rc=$?
		[ "$rc" = 75 ] || [ "$rc" = 0 ] || { cat err; return 1; }
		run evt-verify -l s.ndjson
		assert_success
		n=$(wc -l <s.ndjson)
		assert_output --regexp "^$n "
		[ "$(wc -c <s.ndjson.chain)" -eq $((n * 65)) ]
		python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" s.ndjson | cmp - s.ndjson.chain
		# --atomic: all or nothing.
		[ $round != 3 ] || [ "$n" = 3 ] || [ "$rc" = 0 ]
	done
	# The worker blocks signals, so a SIGTERM still interrupts the
	# reading thread: 1000 events committed (the worker ran), then the
	# input waits.
	rm -rf s.ndjson*
	mkfifo fifo
	evt-append -l s.ndjson <fifo 2>err &
	pid=$!
	exec 7>fifo
	big 1000 >&7
	wait_for '[ "$(wc -l <s.ndjson 2>/dev/null)" = 1000 ]'
	kill -TERM $pid
	rc=0; wait $pid || rc=$?
	exec 7>&-
	[ "$rc" = 75 ]
	grep -q "interrupted; 1000 appended" err
	run evt-verify -l s.ndjson
	assert_success
}

@test "valgrind: a file-log append hashed by the worker thread, committed and rolled back" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init && skip "sanitizer build"
	skip_under_valgrind "make check-valgrind runs every program under valgrind already"
	vg() {
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
	}
	big 2000 | vg evt-append -l a.ndjson
	{ big 2000 5000; echo 'not json'; } >bad
	run vg evt-append --atomic -l a.ndjson <bad
	assert_failure 65
	big 600 9000 | vg evt-append --atomic -l a.ndjson
	run evt-verify -l a.ndjson
	assert_success
	assert_output --regexp '^2600 '
}

@test "file log: the worker's early records: a crash at their write, a full disk under them, a rollback: nothing of the transaction stays" {
	big 10 | evt-append -l r.ndjson
	# 360 KB of lines: more than a chunk handed to the worker mid-way.
	big 4000 100 >in
	# A rollback cuts the records the worker wrote already.
	run evt-append --atomic -l r.ndjson < <(cat in; echo 'not json')
	assert_failure 65
	[ "$(wc -c <r.ndjson.chain)" -eq $((10 * 65)) ]
	# A crash at the worker's first write (torn, or not at all): the log
	# verifies as it was; the next writer cuts the records beyond it.
	if ! nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init; then
		crash_shim
		for torn in "" 1; do
			run env EVT_CRASH_PATH="$PWD/r.ndjson.chain" EVT_CRASH_TORN=$torn \
				LD_PRELOAD=./crash.so evt-append -l r.ndjson <in
			assert_failure
			[ "$(wc -l <r.ndjson)" -eq 10 ]
			run evt-verify -l r.ndjson
			assert_success
			assert_output --regexp '^10 '
		done
	fi
	# A full disk under the early writes: the commit fails, nothing is
	# stored, the records are cut, and the next append goes on.
	if [ "$(id -u)" = 0 ] && mkdir tfs && mount -t tmpfs -o size=1m tmpfs tfs; then
		# (The records a crash above left beyond the log stay out.)
		cp r.ndjson tfs/
		head -c $((10 * 65)) r.ndjson.chain >tfs/r.ndjson.chain
		# 4000 records are 260 KB: leave 32 KB.
		dd if=/dev/zero of=tfs/filler bs=1k count=$(( $(df --output=avail -k tfs | tail -1) - 32 )) 2>/dev/null
		run evt-append -l tfs/r.ndjson <in
		cp tfs/r.ndjson tfs/r.ndjson.chain .
		umount tfs
		assert_failure 74
		assert_output --partial "r.ndjson.chain: write: No space left on device"
		[ "$(wc -l <r.ndjson)" -eq 10 ]
		[ "$(wc -c <r.ndjson.chain)" -eq $((10 * 65)) ]
	fi
	evt-append -l r.ndjson <in
	run evt-verify -l r.ndjson
	assert_success
	assert_output --regexp '^4010 '
	python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" r.ndjson | cmp - r.ndjson.chain
}

@test "file log: the worker thread and inline hashing (EVT_HASH_THREAD) write the same sidecar" {
	gen 3000 >in
	EVT_NOW=2026-11-24T12:00:00.000Z EVT_HASH_THREAD=1 evt-append -l w.ndjson <in
	EVT_NOW=2026-11-24T12:00:00.000Z EVT_HASH_THREAD=0 evt-append -l i.ndjson <in
	cmp w.ndjson i.ndjson
	cmp w.ndjson.chain i.ndjson.chain
	evt-verify -l i.ndjson >/dev/null
}

@test "SQLite: leaves hashed ahead on guessed seqs are taken only when the guess held: seeded histories store what inline hashing stores" {
	# Repeated ids, streams already in the log (the memo does not know
	# them), events without id or time, bad lines, expectations: guesses
	# go wrong in every way ahead.h names, and a wrong leaf taken would
	# change a hash (and fail evt-verify).
	local seed chunk
	for seed in 1 2 3; do
		seed=$(( ${EVT_TEST_SEED:-15} * 10 + seed ))
		rm -rf a.db* b.db* chunk.*
		python3 - "$seed" <<'PY'
import json, random, sys
r = random.Random(int(sys.argv[1]))
ids, seen = [], set()
for c in range(3):
    with open("chunk.%d" % c, "w") as f:
        for i in range(r.randint(700, 1800)):
            x = r.random()
            if x < 0.03:
                f.write("not json %d\n" % i)
                continue
            s = "acct-%d" % r.randint(1, 40)
            e = {"type": "Counted", "subject": s, "data": {"c": c, "i": i}}
            dup = ids and r.random() < 0.12
            if dup:
                e["id"] = r.choice(ids)
            elif r.random() > 0.05:
                e["id"] = "%d-%d-%d" % (r.getrandbits(40), c, i)
                ids.append(e["id"])
            if r.random() > 0.05:
                e["time"] = "2026-11-%02dT10:00:%02d.000Z" % (r.randint(1, 28), i % 60)
            if s in seen and r.random() < 0.03:
                e["expectedversion"] = "exists"
            if not dup:
                seen.add(s)
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
		for chunk in chunk.*; do
			EVT_NOW=2026-11-24T12:00:00.000Z EVT_HASH_THREAD=1 \
				evt-append -q -l a.db --reject ra <"$chunk"
			EVT_NOW=2026-11-24T12:00:00.000Z EVT_HASH_THREAD=0 \
				evt-append -q -l b.db --reject rb <"$chunk"
		done
		sqlite3 a.db "select seq, body, hex(hash) from events order by seq" >a.dump
		sqlite3 b.db "select seq, body, hex(hash) from events order by seq" >b.dump
		[ "$(wc -l <a.dump)" -gt 1500 ]
		cmp a.dump b.dump || { echo "seed $seed"; return 1; }
		run evt-verify -l a.db
		[ "$status" -eq 0 ] || { echo "seed $seed: $output"; return 1; }
	done
}

# --- the tree (issue 25) ---------------------------------------------------

PYH() { python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" "$@"; }

# proof_hashes FILE: the hashes of a tlog-proof, one a line.
proof_hashes() { awk 'NR > 2 && /^$/ { exit } NR > 2' "$1"; }

@test "issue 25 (repro 05): a checkpoint is a C2SP tlog-checkpoint, its root the RFC 6962 tree hash, its signature a signed note" {
	for i in 1 2 3 4 5; do printf '{"id":"e%d","type":"T","subject":"s-1"}\n' "$i"; done |
		EVT_NOW=2026-01-01T00:00:00Z evt-append -l l.ndjson
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	evt-verify -q -l l.ndjson -o cp -s k.pem --origin example.com/log >/dev/null
	run python3 - "$PWD" <<'PY'
import base64, hashlib, json, sys
T = sys.argv[1]
H = lambda b: hashlib.sha256(b).digest()
lines = [l.rstrip(b'\n') for l in open(T + '/l.ndjson', 'rb')]
body, sigs = open(T + '/cp', 'rb').read().split(b'\n\n', 1)
origin, size, root = body.split(b'\n')
def mth(leaves):
    if len(leaves) == 1: return leaves[0]
    k = 1
    while 2 * k < len(leaves): k *= 2
    return H(b'\x01' + mth(leaves[:k]) + mth(leaves[k:]))
want = mth([H(b'\x00' + json.loads(l)['seq'].to_bytes(8, 'big') + l) for l in lines])
from cryptography.hazmat.primitives import serialization
pub = serialization.load_pem_public_key(open(T + '/k.pub', 'rb').read())
raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
name, b64 = sigs.decode().strip()[2:].rsplit(' ', 1)
blob = base64.b64decode(b64)
pub.verify(blob[4:], body + b'\n')
assert blob[:4] == H(name.encode() + b'\n\x01' + raw)[:4]
assert int(size) == len(lines) and base64.b64decode(root) == want, (root, want)
print("tree head")
PY
	assert_success
	assert_output "tree head"
}

@test "the tree: roots, tiles and proofs are RFC 6962's and tlog-tiles', as hashlib computes them, on both backends, sizes 1 to 33 and around 64, 256 and 512" {
	local n prev=0 log sizes
	for log in t.ndjson t.db; do
		prev=0
		sizes="$(seq 1 33) 63 64 65 255 256 257 511 512 513"
		[ "$log" = t.db ] && sizes="$(seq 1 9) 255 256 257 511 512 513"
		for n in $sizes; do
			gen $((n - prev)) $((prev + 1)) | evt-append -q -l "$log"
			prev=$n
			evt-verify -q -l "$log" -o cp.$n --origin example.com/t >/dev/null
			evt-replay -l "$log" >lines
			[ "$(sed -n 3p cp.$n)" = "$(PYH --root lines)" ] ||
				{ echo "size $n: root"; return 1; }
			for s in 1 $(((n + 1) / 2)) $n; do
				evt-verify -l "$log" --prove $s --checkpoint cp.$n >p
				diff -u <(PYH --prove lines $s $n) <(proof_hashes p) ||
					{ echo "size $n seq $s"; return 1; }
			done
			evt-verify -l "$log" --prove-consistency cp.$(((n + 1) / 2)) \
				--checkpoint cp.$n >c 2>/dev/null || continue
			diff -u <(PYH --prove-consistency lines $(((n + 1) / 2)) $n) \
				<(tail -n +4 c) || { echo "size $n consistency"; return 1; }
		done
		# The tiles, byte for byte: full and partial, levels 0 and 1.
		cmp <(PYH --tile lines 0 0) "$log.tiles/tile/0/000"
		cmp <(PYH --tile lines 0 1) "$log.tiles/tile/0/001"
		cmp <(PYH --tile lines 0 2) "$log.tiles/tile/0/002.p/1"
		cmp <(PYH --tile lines 1 0) "$log.tiles/tile/1/000.p/2"
		# A wider partial tile replaced the narrower ones.
		[ "$(ls "$log.tiles/tile/0/002.p")" = 1 ]
		[ ! -e "$log.tiles/tile/0/001.p" ]
		rm -rf cp.* lines p c
	done
}

@test "Go's sumdb/tlog and sumdb/note check evt's trees, tiles, proofs and checkpoints: 1 to 1025 events" {
	command -v go >/dev/null || skip "go missing (scripts/setup installs golang-go)"
	[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] ||
		skip "golang.org/x/mod missing (scripts/setup installs golang-golang-x-mod-dev)"
	GOCACHE="$BATS_FILE_TMPDIR/gocache" GO111MODULE=off GOPATH=/usr/share/gocode \
		go build -o tlog-check "$BATS_TEST_DIRNAME/tlog-check.go"
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	evt-verify --vkey k.pem --key-name example.com/t >vkey
	mkdir cp
	local n prev=0 since=
	for n in $(seq 1 33) 63 64 65 127 128 129 255 256 257 511 512 513 1023 1024 1025; do
		gen $((n - prev)) $((prev + 1)) | evt-append -q -l t.ndjson
		# Each tree grown from the last through its tiles (--since).
		evt-verify -q -l t.ndjson -o cp/$n -s k.pem --origin example.com/t \
			${since:+--since "$since"} >/dev/null
		prev=$n since=cp/$n
	done
	# The tiles are those a run from scratch writes.
	cp -r t.ndjson.tiles inc
	rm -r t.ndjson.tiles
	evt-verify -q -l t.ndjson >/dev/null
	diff -r -x evt-chain-heads inc t.ndjson.tiles
	run ./tlog-check "$(command -v evt-verify)" t.ndjson t.ndjson.tiles cp vkey
	assert_success
	assert_output "ok 48 sizes"
}

@test "--vkey: the signed-note verifier key, name+keyid+base64(0x01 || key), from a private or public key" {
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	local raw id
	raw=$(openssl pkey -pubin -in k.pub -outform DER | tail -c 32 | xxd -p -c 64)
	id=$({ printf 'example.com/shop\n\001'; echo "$raw" | xxd -r -p; } |
		openssl dgst -sha256 -binary | head -c 4 | xxd -p)
	want="example.com/shop+$id+$({ printf '\001'; echo "$raw" | xxd -r -p; } | openssl base64 -A)"
	run evt-verify --vkey k.pem --key-name example.com/shop
	assert_success
	assert_output "$want"
	run evt-verify --vkey k.pub --origin example.com/shop
	assert_output "$want"
	run evt-verify --vkey k.pem --key-name 'a b'
	assert_failure 64
	run evt-verify --vkey nosuch.pem --key-name x
	assert_failure 66
	echo junk >junk.pem
	run evt-verify --vkey junk.pem --key-name x
	assert_failure 65
}

@test "--since: tiles that hash to the checkpoint's root are extended from it; other tiles are recomputed; tiles are the same either way" {
	for log in a.ndjson a.db; do
		gen 300 | evt-append -q -l "$log"
		evt-verify -q -l "$log" -o cp >/dev/null
		gen 100 301 | evt-append -q -l "$log"
		run evt-verify -v -l "$log" --since cp -o cp2
		assert_success
		assert_output --partial "extends the checkpoint at seq 300; 100 events after it verified"
		cp -r "$log.tiles" inc
		# The same tiles from scratch.
		rm -rf "$log.tiles"
		evt-verify -q -l "$log" >/dev/null
		diff -r -x evt-chain-heads inc "$log.tiles"
		# A tile changed: it does not hash to the root, so the tree is
		# recomputed, and the tiles mended.
		evt-verify -q -l "$log" -o cp >/dev/null
		gen 5 401 | evt-append -q -l "$log"
		printf 'x' | dd of="$log.tiles/tile/1/000.p/1" bs=1 seek=9 conv=notrunc 2>/dev/null
		run evt-verify -v -l "$log" --since cp
		assert_success
		assert_output --partial "the tiles do not hold the checkpoint's tree"
		assert_output --partial "recomputing the tree from seq 1"
		assert_output --partial "405 events verified"
		cmp <(evt-replay -l "$log" | PYH --tile /dev/stdin 1 0) \
			"$log.tiles/tile/1/000.p/1"
		# A tile gone: the same.
		rm -r "$log.tiles/tile/0/001.p"
		run evt-verify -v -l "$log" --since cp
		assert_success
		assert_output --partial "tile/0/001: no tile"
		[ -e "$log.tiles/tile/0/001.p/149" ]
		rm -rf "$log" "$log".* inc cp cp2
	done
}

@test "inclusion proofs: a c2sp.org/tlog-proof from the tiles, checked without the log; each bad input named, with its exit code" {
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	openssl genpkey -algorithm ed25519 -out o.pem 2>/dev/null
	openssl pkey -in o.pem -pubout -out o.pub
	gen 1000 | evt-append -q -l a.db
	evt-verify -q -l a.db -o cp -s k.pem --origin example.com/a >/dev/null
	evt-replay -l a.db --from 700 -n 1 >ev700
	evt-replay -l a.db --from 701 -n 1 >ev701
	run evt-verify -l a.db --prove 700 --checkpoint cp
	assert_success
	printf '%s\n' "$output" >p
	[ "$(sed -n 1p p)" = "c2sp.org/tlog-proof@v1" ]
	[ "$(sed -n 2p p)" = "index 699" ]
	# The checkpoint, verbatim, after the hashes and a blank line.
	sed -n '/^$/,$p' p | tail -n +2 | cmp - cp
	# Checked with the event line alone, the log gone.
	mkdir elsewhere && cp p cp ev700 ev701 k.pub o.pub elsewhere/ && cd elsewhere
	run evt-verify --check-inclusion p --checkpoint cp --pubkey k.pub <ev700
	assert_success
	run evt-verify --check-inclusion p --pubkey k.pub --event ev700
	assert_success
	run evt-verify --check-inclusion p <ev700
	assert_success
	assert_output --partial "no --pubkey"
	# Another event, another key, an edited hash, another checkpoint.
	run evt-verify --check-inclusion p --pubkey k.pub <ev701
	assert_failure 1
	assert_output --partial "the event line says seq 701, the proof is for seq 700"
	sed 's/"n":700/"n":7000/' ev700 >ev700x
	run evt-verify --check-inclusion p --pubkey k.pub --event ev700x
	assert_failure 1
	assert_output --partial "does not lead to the root"
	run evt-verify --check-inclusion p --pubkey o.pub <ev700
	assert_failure 1
	assert_output --partial "no signature by the key in o.pub"
	sed '3s/^./A/;3s/^AA/BA/' p >px
	run evt-verify --check-inclusion px --pubkey k.pub <ev700
	assert_failure 1
	sed '2s/699/698/' p >pi
	run evt-verify --check-inclusion pi --pubkey k.pub <ev700
	assert_failure 1
	sed '3d' p >ps
	run evt-verify --check-inclusion ps --pubkey k.pub <ev700
	assert_failure 1
	assert_output --partial "fewer than"
	printf 'example.com/a\n999\n%s\n' "$(sed -n 3p cp)" >cp999
	run evt-verify --check-inclusion p --checkpoint cp999 <ev700
	assert_failure 1
	assert_output --partial "the proof is for the tree of 1000 events"
	# Bad formats: 65, naming the line; missing files: 66.
	sed '1s/v1/v2/' p >bad
	run evt-verify --check-inclusion bad <ev700
	assert_failure 65
	assert_output "evt-verify: bad:1: not a proof: the first line is not c2sp.org/tlog-proof@v1"
	sed '2s/index 699/index 0699/' p >bad
	run evt-verify --check-inclusion bad <ev700
	assert_failure 65
	assert_output --partial "bad:2: not a proof: not an index line"
	sed '4s/.*/not base64!/' p >bad
	run evt-verify --check-inclusion bad <ev700
	assert_failure 65
	assert_output --partial "bad:4: not a proof: not a hash"
	sed -n '1,/^$/p' p >bad
	run evt-verify --check-inclusion bad <ev700
	assert_failure 65
	assert_output --partial "not a checkpoint"
	run evt-verify --check-inclusion p </dev/null
	assert_failure 65
	assert_output --partial "stdin: not one event line"
	cat ev700 ev701 >two
	run evt-verify --check-inclusion p --event two
	assert_failure 65
	run evt-verify --check-inclusion nosuch <ev700
	assert_failure 66
	run evt-verify --check-inclusion p --event nosuch
	assert_failure 66
	cd ..
	# Making one: usage, missing tiles, a checkpoint of another tree.
	run evt-verify -l a.db --prove 0 --checkpoint cp
	assert_failure 64
	run evt-verify -l a.db --prove 7x --checkpoint cp
	assert_failure 64
	assert_output --partial "--prove: not a seq"
	run evt-verify -l a.db --prove 7
	assert_failure 64
	run evt-verify -l a.db --prove 7 --check-inclusion p --checkpoint cp
	assert_failure 64
	run evt-verify -l a.db --prove 1001 --checkpoint cp
	assert_failure 1
	assert_output --partial "seq 1001 is not in the checkpoint's tree of 1000 events"
	run evt-verify -l a.db --prove 7 --checkpoint nosuch
	assert_failure 66
	run evt-verify -l a.db --prove 7 --checkpoint cp --tiles nosuch.tiles
	assert_failure 66
	assert_output --partial "nosuch.tiles: no tiles"
	run evt-verify -l a.db --prove 7 --checkpoint elsewhere/cp999
	assert_failure 1
	assert_output --partial "the tiles do not hold the checkpoint's tree"
	run evt-verify -l 'postgres://nowhere/x' --prove 7 --checkpoint cp
	assert_failure 64
	assert_output --partial "--tiles"
	# A tile gone: without the log, the proof names it; with the log,
	# the tile is made again from its events, and written back.
	mv a.db.tiles/tile/0/002 keep
	run evt-verify -l nosuch.db --tiles a.db.tiles --prove 700 --checkpoint cp
	assert_failure 66
	assert_output --partial "tile/0/002: no tile of"
	assert_output --partial "nor the leaves to make it from: nosuch.db: no such log"
	run evt-verify -l a.db --prove 700 --checkpoint cp
	assert_success
	diff -u <(proof_hashes p) <(printf '%s\n' "$output" | proof_hashes /dev/stdin)
	cmp keep a.db.tiles/tile/0/002
}

# behind_case LOG N: the tiles at their size, a checkpoint cp/N of the
# log at N (its tiles elsewhere); the proofs of seq 1, the tiles' last,
# the first after them and N from those tiles: checked with
# --check-inclusion and hashlib's; then the tiles hold the tree of N, as
# a run from scratch writes it.
behind_case() {
	local log=$1 n=$2 s
	rm -rf "$log.tiles" scratch
	cp -r t0 "$log.tiles"
	evt-replay -l "$log" --to "$n" >lines
	for s in 1 600 601 "$n"; do
		run evt-verify -v -l "$log" --prove "$s" --checkpoint "cp/$n"
		[ "$status" = 0 ] || { echo "$log $n seq $s: $output"; return 1; }
		printf '%s\n' "$output" | sed '/^evt-verify: /d' >p
		[[ $output == *"the tiles were behind the checkpoint"* ]] || [ "$s" != 1 ] ||
			{ echo "$log $n: no catching up said: $output"; return 1; }
		evt-replay -l "$log" --from "$s" -n 1 >ev
		evt-verify -q --check-inclusion p --pubkey k.pub --event ev ||
			{ echo "$log $n seq $s: --check-inclusion"; return 1; }
		diff -u <(PYH --prove lines "$s" "$n") <(proof_hashes p) ||
			{ echo "$log $n seq $s: not RFC 6962's proof"; return 1; }
	done
	# Brought up to N: what evt-verify writes for the first N events.
	evt-replay -l "$log" --to "$n" | evt-append -q -l scratch.ndjson
	evt-verify -q -l scratch.ndjson >/dev/null
	diff -r -x evt-chain-heads scratch.ndjson.tiles "$log.tiles" ||
		{ echo "$log $n: tiles"; return 1; }
	rm -rf scratch.ndjson*
}

@test "proofs from tiles behind the checkpoint (by 1 event, a partial tile, several full tiles): made from the log, checked, and the tiles brought up to date, on both backends" {
	command -v go >/dev/null || skip "go missing (scripts/setup installs golang-go)"
	[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] ||
		skip "golang.org/x/mod missing (scripts/setup installs golang-golang-x-mod-dev)"
	GOCACHE="$BATS_FILE_TMPDIR/gocache" GO111MODULE=off GOPATH=/usr/share/gocode \
		go build -o tlog-check "$BATS_TEST_DIRNAME/tlog-check.go"
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	evt-verify --vkey k.pem --key-name example.com/t >vkey
	local log n
	for log in b.db b.ndjson; do
		mkdir cp
		gen 600 | evt-append -q -l "$log"
		evt-verify -q -l "$log" -o cp/600 -s k.pem --origin example.com/t >/dev/null
		cp -r "$log.tiles" t0
		# Checkpoints at 601, 700 and 1500, their tiles elsewhere: the
		# log's own stay at 600 (tile/0/002.p/88).
		for n in 601 700 1500; do
			gen $((n - $(evt-replay -l "$log" --count))) $(($(evt-replay -l "$log" --count) + 1)) |
				evt-append -q -l "$log"
			evt-verify -q -l "$log" --tiles elsewhere -o cp/$n -s k.pem \
				--origin example.com/t >/dev/null
		done
		diff -r t0 "$log.tiles"
		for n in 601 700 1500; do behind_case "$log" $n; done
		# A consistency proof and a cosignature from tiles behind.
		rm -rf "$log.tiles" && cp -r t0 "$log.tiles"
		run evt-verify -l "$log" --prove-consistency cp/600 --checkpoint cp/1500
		assert_success
		printf '%s\n' "$output" >c
		evt-verify -q --check-consistency c --since cp/600 --checkpoint cp/1500 --pubkey k.pub
		diff -u <(evt-replay -l "$log" | PYH --prove-consistency /dev/stdin 600 1500) <(tail -n +4 c)
		rm -rf "$log.tiles" && cp -r t0 "$log.tiles"
		openssl genpkey -algorithm ed25519 -out w.pem 2>/dev/null
		cp cp/600 wstate
		cp cp/1500 co
		run evt-verify -l "$log" --cosign w.pem --key-name witness.example --witness-state wstate --checkpoint co
		assert_success
		cmp co wstate
		# Go's sumdb/tlog agrees, each proof made from tiles behind it
		# (at 600 until the first proof at 601 brings them on).
		rm -rf "$log.tiles" && cp -r t0 "$log.tiles"
		evt-replay -l "$log" >lines
		run ./tlog-check "$(command -v evt-verify)" lines "$log.tiles" cp vkey "$log"
		assert_success
		assert_output "ok 4 sizes"
		# The tiles cannot be written (no CAP_DAC_OVERRIDE: root is
		# the owner of a read-only directory like any other): the proof
		# is made in memory all the same, and the tiles stay as they were.
		rm -rf "$log.tiles" && cp -r t0 "$log.tiles"
		if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
			chmod -R a-w "$log.tiles"
			run setpriv --bounding-set=-dac_override,-dac_read_search \
				evt-verify -l "$log" --prove 1400 --checkpoint cp/1500
			assert_success
			assert_output --partial "tiles not brought up to date"
			printf '%s\n' "$output" | sed '/^evt-verify: /d' >p
			evt-replay -l "$log" --from 1400 -n 1 | evt-verify -q --check-inclusion p --pubkey k.pub
			chmod -R u+w "$log.tiles"
			diff -r t0 "$log.tiles"
		fi
		# An event changed after the tiles' end: no proof, exit 1.
		if [ "$log" = b.db ]; then
			sqlite3 b.db "UPDATE events SET body = replace(body, '\"n\":650}', '\"n\":651}') WHERE seq = 650"
		else
			sed -i '650s/"n":650}/"n":651}/' b.ndjson
		fi
		run evt-verify -l "$log" --prove 3 --checkpoint cp/700
		assert_failure 1
		assert_output --partial "do not hold the checkpoint's tree"
		diff -r t0 "$log.tiles"
		# A log shorter than the checkpoint: named at the seq missing.
		run evt-verify -l "$log" --prove 3 --checkpoint cp/1500 --tiles t0
		assert_failure 1
		rm -rf cp t0 elsewhere "$log" "$log".*
	done
}

@test "issue 29: a symbolic link planted in a tiles directory is never written or read through; tiles appear whole" {
	gen 600 | evt-append -q -l a.db
	mkdir -p T/tile/0 elsewhere
	head -c 8192 /dev/urandom >victim
	cp victim victim.orig
	# A link at a tile's name, at the chain heads' and at a partial
	# tile's directory: each replaced by what evt-verify writes, the
	# files they point to untouched.
	ln -s "$PWD/victim" T/tile/0/000
	ln -s "$PWD/victim" T/evt-chain-heads
	run evt-verify -q -l a.db --tiles T -o cp
	assert_success
	cmp victim victim.orig
	[ -f T/tile/0/000 ] && [ ! -L T/tile/0/000 ] && [ ! -L T/evt-chain-heads ]
	cmp <(evt-replay -l a.db | PYH --tile /dev/stdin 0 0) T/tile/0/000
	# A link for a directory is not followed: writing there is refused
	# (73), nothing written where it points.
	rm -r T/tile/0/002.p
	ln -s "$PWD/elsewhere" T/tile/0/002.p
	run evt-verify -l a.db --tiles T
	assert_failure 73
	assert_output --partial "T/tile/0/002.p: not a directory (a symbolic link or a file is in its place): refused"
	[ -z "$(ls elsewhere)" ]
	rm T/tile/0/002.p
	evt-verify -q -l a.db --tiles T >/dev/null
	cmp <(evt-replay -l a.db | PYH --tile /dev/stdin 0 2 88) T/tile/0/002.p/88
	# A link at a level's directory: refused; by default (LOG.tiles) a
	# warning, the verify itself done.
	rm -rf T/tile/1 && ln -s "$PWD/elsewhere" T/tile/1
	run evt-verify -l a.db --tiles T
	assert_failure 73
	assert_output --partial "T/tile/1: not a directory"
	[ -z "$(ls elsewhere)" ]
	cp -r T a.db.tiles
	run evt-verify -l a.db
	assert_success
	assert_output --partial "a.db.tiles: tiles not written"
	# Read through a proof: a tile that is a link is refused (65), not
	# read (its target could be any file of that size).
	rm -rf T a.db.tiles
	evt-verify -q -l a.db --tiles T >/dev/null
	mv T/tile/0/001 t001
	ln -s "$PWD/t001" T/tile/0/001
	run evt-verify -l a.db --tiles T --prove 300 --checkpoint cp
	assert_failure 65
	assert_output --partial "T/tile/0/001: a symbolic link, not a tile: refused"
	# No temporary file is left behind, and every tile is mode 0644.
	rm T/tile/0/001
	evt-verify -q -l a.db --tiles T >/dev/null
	[ -z "$(find T -name '.tmp*')" ]
	[ -z "$(find T -type f ! -perm 0644)" ]
}

@test "one event's proof on a large log reads a few tiles: under 10 ms beyond the process's start" {
	gen 70000 | evt-append -q -l big.db
	evt-verify -q -l big.db -o cp >/dev/null
	gen 1 | evt-append -q -l one.db
	evt-verify -q -l one.db -o cp1 >/dev/null
	local t0 t1 t2 i
	# The start: the same proof in a log of one event, so that what a
	# proof pays whatever the log (libcrypto loaded, which --version does
	# not load; the log opened, the checkpoint read) is on both sides.
	t0=$(date +%s%N)
	for i in $(seq 1 20); do
		evt-verify -l one.db --prove 1 --checkpoint cp1 >/dev/null
	done
	t1=$(date +%s%N)
	for i in $(seq 1 20); do
		evt-verify -l big.db --prove $((i * 3499)) --checkpoint cp >/dev/null
	done
	t2=$(date +%s%N)
	echo "20 starts: $(((t1 - t0) / 1000000)) ms, 20 proofs: $(((t2 - t1) / 1000000)) ms"
	# (Under valgrind the proofs are checked for memory only: the time
	# is valgrind's.)
	under_valgrind || [ $(((t2 - t1) - (t1 - t0))) -lt 200000000 ]
}

@test "consistency proofs: from the tiles, checked without the log; a fork or a rollback fails" {
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	gen 100 | evt-append -q -l a.ndjson
	evt-verify -q -l a.ndjson -o old -s k.pem >/dev/null
	gen 700 101 | evt-append -q -l a.ndjson
	evt-verify -q -l a.ndjson -o new -s k.pem >/dev/null
	run evt-verify -l a.ndjson --prove-consistency old --checkpoint new
	assert_success
	printf '%s\n' "$output" >c
	[ "$(sed -n 1,3p c)" = "$(printf 'evt/tlog-consistency-proof@v1\nold 100\nnew 800')" ]
	run evt-verify --check-consistency c --since old --checkpoint new --pubkey k.pub
	assert_success
	# The same size twice: an empty proof.
	run evt-verify -l a.ndjson --prove-consistency new --checkpoint new
	assert_success
	assert_output "$(printf 'evt/tlog-consistency-proof@v1\nold 800\nnew 800')"
	# An edited hash, swapped checkpoints, a checkpoint of another log.
	sed '5s/^./A/;5s/^AA/BA/' c >cx
	run evt-verify --check-consistency cx --since old --checkpoint new
	assert_failure 1
	run evt-verify --check-consistency c --since new --checkpoint old
	assert_failure 1
	run evt-verify -l a.ndjson --prove-consistency new --checkpoint old
	assert_failure 1
	assert_output --partial "a log never shrinks"
	gen 800 | sed 's/ItemCounted/ItemCountd/' | evt-append -q -l b.ndjson
	evt-verify -q -l b.ndjson -o other --origin "$(head -1 new)" >/dev/null
	run evt-verify --check-consistency c --since old --checkpoint other
	assert_failure 1
	assert_output --partial "does not lead to the new root"
	run evt-verify -l a.ndjson --prove-consistency old --checkpoint other
	assert_failure 1
	# Bad input: 65 and 66 and 64.
	sed '2s/old/older/' c >bad
	run evt-verify --check-consistency bad --since old --checkpoint new
	assert_failure 65
	assert_output "evt-verify: bad:2: not a proof: not an old line (old SIZE)"
	printf 'evt/tlog-consistency-proof@v1\nold 100\nnew 800\n\nx\n' >bad
	run evt-verify --check-consistency bad --since old --checkpoint new
	assert_failure 65
	run evt-verify --check-consistency nosuch --since old --checkpoint new
	assert_failure 66
	run evt-verify --check-consistency c --checkpoint new
	assert_failure 64
	run evt-verify --check-consistency c --since old
	assert_failure 64
	run evt-verify --prove-consistency old
	assert_failure 64
}

@test "--cosign: a witness signs a checkpoint that extends the last it signed, kept in --witness-state; a fork or a rollback is refused" {
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	openssl genpkey -algorithm ed25519 -out w.pem 2>/dev/null
	openssl pkey -in w.pem -pubout -out w.pub
	gen 10 | evt-append -q -l a.db
	evt-verify -q -l a.db -o cp10 -s k.pem >/dev/null
	gen 20 11 | evt-append -q -l a.db
	evt-verify -q -l a.db -o cp30 -s k.pem >/dev/null
	# The first: no state yet.
	run evt-verify -l a.db --cosign w.pem --key-name witness.example \
		--checkpoint cp10 --witness-state ws --pubkey k.pub
	assert_success
	cmp cp10 ws
	[ "$(stat -c %a ws)" = 600 ]
	# Two signatures on one note, each checks.
	[ "$(grep -c '^— ' cp10)" = 2 ]
	run evt-verify -l a.db --since cp10 --pubkey w.pub
	assert_success
	run evt-verify -l a.db --since cp10 --pubkey k.pub
	assert_success
	# Then one that extends it, proven from the tiles.
	run evt-verify -l a.db --cosign w.pem --key-name witness.example \
		--checkpoint cp30 --witness-state ws --pubkey k.pub
	assert_success
	cmp cp30 ws
	# Signing twice adds nothing.
	run evt-verify -l a.db --cosign w.pem --key-name witness.example \
		--checkpoint cp30 --witness-state ws --pubkey k.pub
	assert_success
	[ "$(grep -c '^— ' cp30)" = 2 ]
	# A rollback, a fork (another tree of the same size), another log.
	cp cp10 cp10b
	run evt-verify -l a.db --cosign w.pem --key-name witness.example \
		--checkpoint cp10b --witness-state ws
	assert_failure 1
	assert_output --partial "older than ws"
	gen 30 | sed 's/ItemCounted/ItemCountd/' | evt-append -q -l f.db
	evt-verify -q -l f.db -o fork -s k.pem --origin "$(head -1 cp30)" >/dev/null
	run evt-verify -l a.db --cosign w.pem --key-name witness.example \
		--checkpoint fork --witness-state ws
	assert_failure 1
	assert_output --partial "different roots: the log forked"
	gen 10 31 | evt-append -q -l f.db
	evt-verify -q -l f.db -o fork40 -s k.pem --origin "$(head -1 cp30)" >/dev/null
	run evt-verify -l f.db --cosign w.pem --key-name witness.example \
		--checkpoint fork40 --witness-state ws
	assert_failure 1
	assert_output --partial "does not extend ws"
	cmp cp30 ws
	# Usage and files.
	run evt-verify --cosign w.pem --checkpoint cp30 --witness-state ws
	assert_failure 64
	run evt-verify --cosign w.pem --key-name w --checkpoint cp30
	assert_failure 64
	run evt-verify --cosign nosuch.pem --key-name w --checkpoint cp30 --witness-state ws
	assert_failure 66
	run evt-verify --witness-state ws -l a.db
	assert_failure 64
}

@test "upgrade: a chain checkpoint of an earlier evt is recognised, the chain verified, and -o writes a tree checkpoint that records it; an edit is not laundered" {
	for log in u.ndjson u.db; do
		gen 10 | evt-append -q -l "$log"
		# What an earlier evt wrote: line 3 the chain's head h(10).
		if [ "$log" = u.db ]; then head=$(sq_hashes u.db | tail -1)
		else head=$(tail -1 u.ndjson.chain); fi
		printf 'example.com/u\n10\n%s\n' "$(echo "$head" | xxd -r -p | openssl base64 -A)" >old
		gen 5 11 | evt-append -q -l "$log"
		run evt-verify -l "$log" --since old --origin example.com/u
		assert_success
		assert_output --partial "old is a chain checkpoint of an earlier evt, and the log extends it; -o FILE upgrades it"
		run evt-verify -l "$log" --since old --origin example.com/u -o new
		assert_success
		assert_output --partial "upgraded: old held the chain's head at seq 10"
		assert_output --partial "the log itself was not re-hashed"
		[ "$(sed -n 2p new)" = 15 ]
		[ "$(sed -n 4p new)" = "evt-upgraded-from-chain 10 $(sed -n 3p old)" ]
		evt-replay -l "$log" >lines
		[ "$(sed -n 3p new)" = "$(PYH --root lines)" ]
		# From there on, a tree checkpoint like any other.
		gen 5 16 | evt-append -q -l "$log"
		run evt-verify -v -l "$log" --since new --origin example.com/u
		assert_success
		assert_output --partial "5 events after it verified"
		# An edit before the old checkpoint, every hash rewritten by evt
		# itself: the upgrade refuses it.
		if [ "$log" = u.db ]; then
			sqlite3 u.db "update events set body = replace(body, '\"n\":3', '\"n\":300') where seq = 3;
				alter table events drop column hash"
		else
			sed -i '3s/"n":3/"n":300/' u.ndjson
			rm u.ndjson.chain
		fi
		gen 1 21 | evt-append -q -l "$log"
		run evt-verify -l "$log" --since old --origin example.com/u -o new2
		assert_failure 1
		assert_output --partial "seq 10: log does not extend the checkpoint"
		[ ! -e new2 ]
		rm -rf "$log" "$log".* old new lines
	done
}

@test "valgrind: the tree, tiles, proofs and their checks, cosigning, an upgrade" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if nm "$ROOT/bin/evt-verify" 2>/dev/null | grep -q __asan_init; then
		skip "sanitizer build"
	fi
	skip_under_valgrind "make check-valgrind runs every program under valgrind already"
	vg() {
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
	}
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	openssl genpkey -algorithm ed25519 -out w.pem 2>/dev/null
	gen 300 | evt-append -q -l a.ndjson
	printf 'o\n10\n%s\n' "$(sed -n 10p a.ndjson.chain | xxd -r -p | openssl base64 -A)" >old
	vg evt-verify -q -l a.ndjson -o cp300 -s k.pem --origin o >/dev/null
	gen 30 301 | evt-append -q -l a.ndjson
	vg evt-verify -q -l a.ndjson --since cp300 -o cp330 -s k.pem --origin o >/dev/null
	vg evt-verify -l a.ndjson --since old -o up --origin o >/dev/null 2>&1
	vg evt-verify -l a.ndjson --prove 77 --checkpoint cp330 >p
	sed -n 77p a.ndjson | vg evt-verify -q --check-inclusion p --pubkey k.pub
	sed -n 78p a.ndjson >ev78
	run vg evt-verify -q --check-inclusion p --pubkey k.pub --event ev78
	assert_failure 1
	vg evt-verify -l a.ndjson --prove-consistency cp300 --checkpoint cp330 >c
	vg evt-verify -q --check-consistency c --since cp300 --checkpoint cp330
	vg evt-verify -q -l a.ndjson --cosign w.pem --key-name w --checkpoint cp300 --witness-state ws
	vg evt-verify -q -l a.ndjson --cosign w.pem --key-name w --checkpoint cp330 --witness-state ws
	vg evt-verify --vkey w.pem --key-name w >/dev/null
	run vg evt-verify --check-inclusion old </dev/null
	assert_failure 65
	# Proofs from tiles behind the checkpoint, made from the log; and
	# when the log does not hold it, or is not there.
	gen 500 331 | evt-append -q -l a.ndjson
	vg evt-verify -q -l a.ndjson --tiles T -o cp830 --origin o >/dev/null
	vg evt-verify -v -l a.ndjson --prove 800 --checkpoint cp830 >p 2>err
	grep -q "the tiles were behind the checkpoint" err
	sed -n 800p a.ndjson | vg evt-verify -q --check-inclusion p
	cp -r T T2 && rm -r T2/tile/0/001 T2/tile/0/002
	run vg evt-verify -l a.ndjson --tiles T2 --prove-consistency cp330 --checkpoint cp830
	assert_success
	cp -r T T4 && rm -r T4/tile/0/000
	run vg evt-verify -l nosuch.ndjson --tiles T4 --prove 3 --checkpoint cp830
	assert_failure 66
	sed -i '600s/"n":600}/"n":6000}/' a.ndjson
	cp -r T T3 && rm -r T3/tile/0/002 T3/tile/1
	run vg evt-verify -l a.ndjson --tiles T3 --prove 3 --checkpoint cp830
	assert_failure 1
}

#!/usr/bin/env bats
# The transparency log (issue 25) on a PostgreSQL log with --tiles DIR:
# the promises test/evt-verify.bats holds SQLite and file logs to (tiles
# written, inclusion and consistency proofs, Go's sumdb/tlog agreeing,
# tampering named at its seq, tiles behind the checkpoint), on a
# throwaway server (scripts/pg).

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

sql() { psql -qAtX "$PG_URL" -c "$1"; }
# The schema of a log URL from pg_log.
schema_of() { echo "${1##*%3D}" | sed 's/%20.*//'; }

# gen N [FROM]: N events on three streams, numbered from FROM.
gen() {
	local i from=${2:-1}
	for ((i = from; i < from + $1; i++)); do
		printf '{"type":"ItemCounted","subject":"shelf-%d","data":{"n":%d}}\n' \
			$((i % 3)) "$i"
	done
}

PYH() { python3 "$BATS_TEST_DIRNAME/chain-hashlib.py" "$@"; }
proof_hashes() { awk 'NR > 2 && /^$/ { exit } NR > 2' "$1"; }

go_check_build() {
	command -v go >/dev/null || skip "go missing (scripts/setup installs golang-go)"
	[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] ||
		skip "golang.org/x/mod missing (scripts/setup installs golang-golang-x-mod-dev)"
	GOCACHE="$BATS_FILE_TMPDIR/gocache" GO111MODULE=off GOPATH=/usr/share/gocode \
		go build -o tlog-check "$BATS_TEST_DIRNAME/tlog-check.go"
}

@test "PostgreSQL --tiles: roots, tiles and proofs are RFC 6962's and tlog-tiles', as hashlib computes them" {
	local log n prev=0 s
	log=$(pg_log tree)
	for n in 1 2 3 5 8 255 256 257 511 512 513; do
		gen $((n - prev)) $((prev + 1)) | evt-append -q -l "$log"
		prev=$n
		evt-verify -q -l "$log" --tiles T -o cp.$n --origin example.com/t >/dev/null
		evt-replay -l "$log" >lines
		[ "$(sed -n 3p cp.$n)" = "$(PYH --root lines)" ] ||
			{ echo "size $n: root"; return 1; }
		for s in 1 $(((n + 1) / 2)) $n; do
			evt-verify -l "$log" --tiles T --prove $s --checkpoint cp.$n >p
			diff -u <(PYH --prove lines $s $n) <(proof_hashes p) ||
				{ echo "size $n seq $s"; return 1; }
			evt-replay -l "$log" --from $s -n 1 |
				evt-verify -q --check-inclusion p --checkpoint cp.$n
		done
		evt-verify -l "$log" --tiles T --prove-consistency cp.$(((n + 1) / 2)) \
			--checkpoint cp.$n >c 2>/dev/null || continue
		diff -u <(PYH --prove-consistency lines $(((n + 1) / 2)) $n) <(tail -n +4 c) ||
			{ echo "size $n consistency"; return 1; }
		evt-verify -q --check-consistency c --since cp.$(((n + 1) / 2)) --checkpoint cp.$n
	done
	cmp <(PYH --tile lines 0 0) T/tile/0/000
	cmp <(PYH --tile lines 0 1) T/tile/0/001
	cmp <(PYH --tile lines 0 2) T/tile/0/002.p/1
	cmp <(PYH --tile lines 1 0) T/tile/1/000.p/2
	[ "$(ls T/tile/0/002.p)" = 1 ]
	# The same tiles as the same events in a SQLite log.
	evt-replay -l "$log" | evt-append -q -l copy.db
	evt-verify -q -l copy.db >/dev/null
	diff -r -x evt-chain-heads copy.db.tiles T
	# Without --tiles a PostgreSQL log keeps none: a usage error.
	run evt-verify -l "$log" --prove 1 --checkpoint cp.513
	assert_failure 64
	assert_output --partial "a PostgreSQL log keeps no tiles unless --tiles DIR is given"
}

@test "PostgreSQL --tiles: Go's sumdb/tlog and sumdb/note check the trees, tiles, proofs and checkpoints, grown through --since" {
	go_check_build
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	evt-verify --vkey k.pem --key-name example.com/t >vkey
	mkdir cp
	local log n prev=0 since=
	log=$(pg_log go)
	for n in 1 2 3 4 5 63 64 65 255 256 257 511 512 513 1024 1025; do
		gen $((n - prev)) $((prev + 1)) | evt-append -q -l "$log"
		evt-verify -q -l "$log" --tiles T -o cp/$n -s k.pem --origin example.com/t \
			${since:+--since "$since"} >/dev/null
		prev=$n since=cp/$n
	done
	cp -r T inc
	rm -r T
	evt-verify -q -l "$log" --tiles T >/dev/null
	diff -r -x evt-chain-heads inc T
	evt-replay -l "$log" >lines
	run ./tlog-check "$(command -v evt-verify)" lines T cp vkey
	assert_success
	assert_output "ok 16 sizes"
}

@test "PostgreSQL --tiles: --since extends the tiles from the checkpoint; a changed tile is recomputed" {
	local log
	log=$(pg_log since)
	gen 300 | evt-append -q -l "$log"
	evt-verify -q -l "$log" --tiles T -o cp >/dev/null
	gen 100 301 | evt-append -q -l "$log"
	run evt-verify -v -l "$log" --tiles T --since cp -o cp2
	assert_success
	assert_output --partial "extends the checkpoint at seq 300; 100 events after it verified"
	cp -r T inc
	rm -rf T
	evt-verify -q -l "$log" --tiles T >/dev/null
	diff -r -x evt-chain-heads inc T
	printf 'x' | dd of=T/tile/1/000.p/1 bs=1 seek=9 conv=notrunc 2>/dev/null
	gen 5 401 | evt-append -q -l "$log"
	run evt-verify -v -l "$log" --tiles T --since cp2
	assert_success
	assert_output --partial "the tiles do not hold the checkpoint's tree"
	assert_output --partial "405 events verified"
	cmp <(evt-replay -l "$log" | PYH --tile /dev/stdin 1 0) T/tile/1/000.p/1
}

@test "PostgreSQL --tiles: a changed, a deleted, two swapped events are named at their seq; a proof of a changed event fails" {
	local log s
	log=$(pg_log tamper)
	s=$(schema_of "$log")
	gen 300 | evt-append -q -l "$log"
	evt-verify -q -l "$log" --tiles T -o cp >/dev/null
	evt-replay -l "$log" --from 7 -n 1 >ev7
	evt-verify -l "$log" --tiles T --prove 7 --checkpoint cp >p7
	sql "UPDATE $s.evt_events SET body = replace(body, '\"n\":7}', '\"n\":8}') WHERE seq = 7"
	run evt-verify -l "$log" --tiles T
	assert_failure 1
	assert_output --partial ": seq 7: line changed"
	run evt-verify -l "$log" --tiles T --since cp --full
	assert_failure 1
	assert_output --partial ": seq 7: line changed"
	# The proof holds for the event as it was, not as it is now.
	evt-verify -q --check-inclusion p7 --checkpoint cp <ev7
	run bash -c "evt-replay -l '$log' --from 7 -n 1 | evt-verify -q --check-inclusion p7 --checkpoint cp"
	assert_failure 1
	assert_output --partial "does not lead to the root"
	sql "UPDATE $s.evt_events SET body = replace(body, '\"n\":8}', '\"n\":7}') WHERE seq = 7"
	run evt-verify -q -l "$log" --tiles T --since cp
	assert_success
	sql "UPDATE $s.evt_events e SET body = o.body, hash = o.hash FROM $s.evt_events o
		WHERE (e.seq = 40 AND o.seq = 41) OR (e.seq = 41 AND o.seq = 40)"
	run evt-verify -l "$log" --tiles T
	assert_failure 1
	assert_output --partial ": seq 40: events reordered"
	run evt-verify -l "$log" --tiles T --since cp --full
	assert_failure 1
	assert_output --partial ": seq 40: events reordered"
	sql "UPDATE $s.evt_events e SET body = o.body, hash = o.hash FROM $s.evt_events o
		WHERE (e.seq = 40 AND o.seq = 41) OR (e.seq = 41 AND o.seq = 40)"
	sql "DELETE FROM $s.evt_events WHERE seq = 120"
	run evt-verify -l "$log" --tiles T
	assert_failure 1
	assert_output --partial ": seq 120: event missing"
}

@test "PostgreSQL --tiles: proofs from tiles behind the checkpoint are made from the log, checked, and the tiles brought up to date" {
	go_check_build
	openssl genpkey -algorithm ed25519 -out k.pem 2>/dev/null
	openssl pkey -in k.pem -pubout -out k.pub
	evt-verify --vkey k.pem --key-name example.com/t >vkey
	local log n s
	log=$(pg_log behind)
	mkdir cp
	gen 600 | evt-append -q -l "$log"
	evt-verify -q -l "$log" --tiles T -o cp/600 -s k.pem --origin example.com/t >/dev/null
	cp -r T t0
	for n in 601 700 1500; do
		gen $((n - $(evt-replay -l "$log" --count))) $(($(evt-replay -l "$log" --count) + 1)) |
			evt-append -q -l "$log"
		evt-verify -q -l "$log" --tiles elsewhere -o cp/$n -s k.pem \
			--origin example.com/t >/dev/null
	done
	for n in 601 700 1500; do
		rm -rf T && cp -r t0 T
		evt-replay -l "$log" --to $n >lines
		for s in 1 600 601 $n; do
			run evt-verify -v -l "$log" --tiles T --prove $s --checkpoint cp/$n
			assert_success
			printf '%s\n' "$output" | sed '/^evt-verify: /d' >p
			evt-replay -l "$log" --from $s -n 1 | evt-verify -q --check-inclusion p --pubkey k.pub
			diff -u <(PYH --prove lines $s $n) <(proof_hashes p)
		done
		diff -r -x evt-chain-heads elsewhere T ||
			[ "$n" != 1500 ] || { echo "tiles at $n"; return 1; }
	done
	rm -rf T && cp -r t0 T
	evt-replay -l "$log" >lines
	run ./tlog-check "$(command -v evt-verify)" lines T cp vkey "$log"
	assert_success
	assert_output "ok 4 sizes"
	# An event changed after the tiles' end: no proof.
	rm -rf T && cp -r t0 T
	sql "UPDATE $(schema_of "$log").evt_events SET body = replace(body, '\"n\":650}', '\"n\":651}') WHERE seq = 650"
	run evt-verify -l "$log" --tiles T --prove 3 --checkpoint cp/700
	assert_failure 1
	assert_output --partial "do not hold the checkpoint's tree"
	diff -r t0 T
}

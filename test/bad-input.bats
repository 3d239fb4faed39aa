#!/usr/bin/env bats
# The bad-input catalogue (testdata/bad/) fed to every program that reads
# events: each bad line is refused with 65 and a message naming its line,
# what came before it is kept (evt-append) or not acted on half-way, and
# no program crashes, hangs or trips a sanitizer. An empty input is no
# error, and big but valid input is taken.

load helper
bats_require_minimum_version 1.5.0

BAD=$BATS_TEST_DIRNAME/../testdata/bad

# Every program that reads events from standard input, as run here.
programs() {
	cat <<-P
	evt-append -l $BATS_TEST_TMPDIR/log.db
	saga-step all
	evt-project transactions
	audit-scan
	evt-trace
	saga-orch -d $BATS_TEST_DIRNAME/../testdata/sagas/order.json
	mq-pub --dry-run
	P
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# check CASE-FILE LINE MESSAGE: every program says "PROG: stdin:LINE:
# MESSAGE" and exits 65.
check() {
	local file=$1 line=$2 msg=$3 p prog
	while read -r p; do
		prog=${p%% *}
		rm -rf log.db*
		run --separate-stderr $p <"$file"
		if [ "$status" -ne 65 ] || [[ "$stderr" != "$prog: stdin:$line: $msg"* ]] ||
			[[ "$stderr" == *"runtime error"* || "$stderr" == *Sanitizer* ]]; then
			echo "$prog on $(basename "$file"): status $status: $stderr"
			return 1
		fi
	done < <(programs)
}

@test "the catalogue: every program refuses each bad line with 65 and its line number" {
	n=0
	while IFS='|' read -r name line msg; do
		case $name in ''|'#'*) continue ;; esac
		check "$BAD/$name.ndjson" "$line" "$msg"
		n=$((n + 1))
	done <"$BAD/MANIFEST"
	[ "$n" -eq "$(ls "$BAD"/*.ndjson | wc -l)" ]
}

@test "evt-append keeps what came before a bad line, and the log verifies" {
	for f in "$BAD"/*.ndjson; do
		rm -rf log.db*
		run evt-append -l log.db <"$f"
		[ "$status" -eq 65 ]
		[ "$(evt-replay -l log.db --count)" = 1 ]
		evt-verify -q -l log.db >/dev/null
	done
}

@test "a 16 MiB line and 10,000-deep nesting: refused with 65, in bounded memory" {
	python3 - <<-'PY'
	ok = '{"id":"z","type":"TransactionNoted","subject":"transaction-T0"}\n'
	open('huge.ndjson', 'w').write(ok + '{"id":"a","type":"T","subject":"s-1","data":{"x":"' + 'a' * (16 << 20) + '"}}\n')
	open('deep.ndjson', 'w').write(ok + '{"id":"a","type":"T","subject":"s-1","data":{"x":' + '[' * 10000 + ']' * 10000 + '}}\n')
	PY
	check huge.ndjson 2 "line longer than 16 MiB"
	check deep.ndjson 2 "not JSON: nesting too deep at column"
	# (Under valgrind the memory measured is valgrind's.)
	under_valgrind && return 0
	/usr/bin/time -f %M -o rss evt-append -q -l big.db <huge.ndjson || true
	[ "$(tail -1 rss)" -lt 200000 ]
}

@test "big but valid, and empty: a million-number array is taken; an empty input is no error" {
	python3 -c "print('{\"id\":\"a\",\"type\":\"T\",\"subject\":\"s-1\",\"data\":{\"x\":[' + ','.join(['1'] * 1000000) + ']}}')" >bigarr.ndjson
	: >empty.ndjson
	while read -r p; do
		rm -rf log.db*
		run --separate-stderr $p <bigarr.ndjson
		[ "$status" -eq 0 ] || { echo "$p: $status $stderr"; false; }
		run --separate-stderr $p <empty.ndjson
		[ "$status" -eq 0 ] || { echo "$p: $status $stderr"; false; }
		[ -z "$stderr" ]
	done < <(programs)
}

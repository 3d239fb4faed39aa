#!/usr/bin/env bats
# lib/decimal.c against Python's decimal module: parse, add, compare and
# print generated numbers (exponents, trailing zeros, 38 digits and one
# past), and the refusals.

load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	# Against the library of the build the tests run.
	local lib=$ROOT/build/libevt.a san=
	if nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init; then
		lib=$ROOT/build-san/libevt.a san=-fsanitize=address,undefined
	fi
	cc -std=c11 -D_GNU_SOURCE $san -I"$ROOT/lib" -o decimal-diff \
		"$BATS_TEST_DIRNAME/decimal-diff.c" "$lib"
}

@test "differential: 60,000 generated operations give what Python's decimal gives" {
	for seed in 1 2 3; do
		seed=$(( ${EVT_TEST_SEED:-29} * 10 + seed ))
		python3 "$BATS_TEST_DIRNAME/decimal-diff.py" gen "$seed" 20000 >cases
		./decimal-diff <cases >got
		python3 "$BATS_TEST_DIRNAME/decimal-diff.py" want <cases >want
		paste -d'|' cases want got | awk -F'|' '$2 != $3 { print "seed '"$seed"': " $0; bad = 1 } END { exit bad }'
	done
}

@test "edges: 38 digits held, 39 refused; sums at the edge; exponents and trailing zeros" {
	cat >cases <<-'C'
	parse 99999999999999999999999999999999999999
	parse 999999999999999999999999999999999999999
	parse 0.00000000000000000000000000000000000001
	parse 0.000000000000000000000000000000000000001
	parse 1.10000000000000000000000000000000000000000
	parse 1e37
	parse 1e38
	parse 12.5e-3
	parse -0.0
	parse 1.
	parse 01
	add 99999999999999999999999999999999999999 1
	add 99999999999999999999999999999999999999 -1
	add -10 0.9876514192595500537531845704695946718
	add 0.1 0.2
	cmp 19.9000001 19.90
	cmp 19.90 19.9
	cmp -1e-38 0
	fmt2 19.9
	fmt2 0.000000005
	C
	./decimal-diff <cases >got
	python3 "$BATS_TEST_DIRNAME/decimal-diff.py" want <cases >want
	diff -u want got
	# And what the library owes, written out (Python agrees above).
	sed -n '1p;2p;12p;14p;15p;19p' got | tr '\n' ' ' >line
	[ "$(cat line)" = "99999999999999999999999999999999999999 range range -9.0123485807404499462468154295304053282 0.3 19.90 " ]
}

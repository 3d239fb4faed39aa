#!/usr/bin/env bats
# The libFuzzer harnesses (fuzz/, make fuzz) over their corpora in
# testdata/fuzz/, the reproducers of what fuzzing found included, and
# over inputs of 16 MiB (scripts/gen-fuzz-big): each input runs clean
# under ASan and UBSan, and the harnesses' properties
# hold (what is masked holds no card number, decimals print back to the
# same value, times format and parse back, the JSON scanner agrees with
# jansson, an mq-sub --envelope line is JSON, a saga definition decides
# only events, ...).

load helper

@test "make fuzz-regress: every corpus input and past crash runs clean" {
	command -v clang >/dev/null || skip "clang missing (scripts/setup installs it)"
	[ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] ||
		skip "libclang-rt-dev missing (scripts/setup installs it)"
	run make -C "$ROOT" -s fuzz-regress
	echo "$output" | tail -20
	[ "$status" -eq 0 ]
	[[ "$output" == *"every corpus input and the 16 MiB inputs run clean"* ]]
	# Each harness read each 16 MiB input (scripts/gen-fuzz-big).
	for h in "$ROOT"/fuzz/*.c; do
		n=$(basename "$h" .c)
		[ "$(grep -c '^Executed build-fuzz/big/all/' "$ROOT/build-fuzz/$n-big.log")" -eq 4 ] ||
			{ echo "16 MiB inputs not all read: $n"; false; }
	done
	# The reproducers are there, and run.
	[ -f "$ROOT/testdata/fuzz/pan/regress-remask" ]
	[ -f "$ROOT/testdata/fuzz/delivery/regress-envelope-utf8" ]
	[ -f "$ROOT/testdata/fuzz/pan/regress-remask-chain" ]
	# Every harness has a corpus.
	for h in "$ROOT"/fuzz/*.c; do
		n=$(basename "$h" .c)
		[ -n "$(ls "$ROOT/testdata/fuzz/$n")" ] || { echo "no corpus: $n"; false; }
	done
}

#!/usr/bin/env bats
# audit-scan: a golden case per finding (one that triggers, one that must
# not), the tag stream, rules files, usage; then Luhn's edge cases.

load helper

@test "golden: every finding, and its near misses" { golden audit-findings; }
@test "golden: --tag passes events through with their audit extension" { golden audit-tag; }
@test "golden: rules files" { golden audit-rules; }
@test "golden: usage errors and bad input" { golden audit-usage; }

pan() {
	printf '{"type":"A","subject":"a-1","data":{"v":%s}}\n' "$1" \
		| audit-scan | jq -r 'select(.finding == "pan_unmasked") | .detail'
}

@test "Luhn: test card numbers of every length are found, masked" {
	[ "$(pan '"4222222222222"')" = "card number 422222***2222 in data.v" ]           # 13 digits
	[ "$(pan '"378282246310005"')" = "card number 378282*****0005 in data.v" ]       # 15, Amex
	[ "$(pan '"6011111111111117"')" = "card number 601111******1117 in data.v" ]     # 16
	[ "$(pan '"6011 0009 9013 9424"')" = "card number 601100******9424 in data.v" ]
	[ "$(pan '"3530111333300000"')" = "card number 353011******0000 in data.v" ]
	[ "$(pan '"4111111111111111110"')" = "card number 411111*********1110 in data.v" ] # 19
	[ "$(pan 5105105105105100)" = "card number 510510******5100 in data.v" ]          # a number
}

@test "Luhn: not fooled by a wrong check digit, lengths outside 13-19, or glued runs" {
	for v in '"4111111111111112"' '"411111111111"' '"41111111111111111111"' \
		'"4111-1111-1111-111"' '"2026-11-24"' '"+44 20 7946 0958"' \
		'"4111 1111 1111 1111 1"' '"T4111111111111112"' '41.11111111111111' '""'; do
		[ -z "$(pan "$v")" ] || { echo "false positive: $v"; return 1; }
	done
	# A run of 20 digits holds a valid 16-digit prefix: not a card number.
	[ -z "$(pan '"41111111111111110000"')" ]
}

@test "the store data set: no critical finding, exit 0; --fail-on info: exit 1" {
	run audit-scan -l "$TESTDATA/store-log.ndjson"
	assert_success
	refute_output --partial '"critical"'
	run audit-scan -l "$TESTDATA/store-log.ndjson" --fail-on info
	assert_failure 1
	# stdin and -l agree
	cmp <(audit-scan -l "$TESTDATA/store-log.ndjson") <(audit-scan <"$TESTDATA/store-log.ndjson")
}

@test "a closed stdout: exit 74, quietly" {
	run bash -c 'audit-scan --tag "$TESTDATA/store-log.ndjson" | head -1 >/dev/null; echo ${PIPESTATUS[0]}'
	assert_output 74
}

@test "--help and --version" {
	run audit-scan --help
	assert_success
	assert_output --partial 'usage: audit-scan'
	run audit-scan --version
	assert_success
}

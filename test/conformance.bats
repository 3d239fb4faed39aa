#!/usr/bin/env bats
# CloudEvents 1.0 conformance (issue 13, evt(7) CONFORMANCE): the output of
# every program that writes events goes through one checker,
# test/conformance.bash. First the checker itself (it must catch each rule),
# then evt-append's input rule (the same rules, exit 65), then each program.
#
# To add a program (mq-sub, saga-orch ...): one @test that runs it and
# `conforms MIN < its-output`, MIN the fewest events it must have written.

load helper
load conformance

# A store's stock and orders in a SQLite and a file log, made once.
setup_file() {
	export SHOP_DB="$BATS_FILE_TMPDIR/shop.db" SHOP_FILE="$BATS_FILE_TMPDIR/shop.ndjson"
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" \
		| EVT_NOW=2026-11-24T12:00:00.000Z evt-append -l "$SHOP_DB"
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" \
		| EVT_NOW=2026-11-24T12:00:00.000Z evt-append -l "$SHOP_FILE"
}

# ok: one event that conforms, with every kind of scalar and every optional
# attribute, and a payload that is not an object.
OK='{"specversion":"1.0","id":"e1","source":"https://shop.example/pos?x=1","type":"A","subject":"s-1","time":"2024-02-29T23:59:60.5+01:00","datacontenttype":"application/json","dataschema":"urn:evt:a","seq":1,"version":1,"correlationid":"c","causationid":"e1","audittags":"","auditseverity":"info","xflag":false,"xint":-2147483648,"xstr":"caf\u00e9","abcdefghij0123456789":2147483647,"data":[1,null,{"Any_Name-here":{}}]}'
P='{"specversion":"1.0","id":"e1","source":"cli","type":"A","subject":"s-1","data":{}'

# The rules, one bad event each: name, event, the checker's reason, and
# evt-append's reason on input ("-" where evt-append takes the input
# because it fills the attribute in or takes it off: its output is then
# checked below).
CASES=(
	"id missing|{\"specversion\":\"1.0\",\"source\":\"cli\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"id\": required, missing|-"
	"id empty|{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"cli\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"id\": must be a non-empty string|field \"id\": must not be empty"
	"id a number|{\"specversion\":\"1.0\",\"id\":7,\"source\":\"cli\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"id\": must be a non-empty string|field \"id\": must be a string"
	"source missing|{\"specversion\":\"1.0\",\"id\":\"e1\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"source\": required, missing|-"
	"source empty|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"source\": must be a non-empty string|field \"source\": must not be empty"
	"source no URI-reference|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"the shop\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"source\": not a URI-reference|attribute \"source\": not a URI-reference"
	"specversion missing|{\"id\":\"e1\",\"source\":\"cli\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"specversion\": required, missing|-"
	"specversion 0.3|{\"specversion\":\"0.3\",\"id\":\"e1\",\"source\":\"cli\",\"type\":\"A\",\"subject\":\"s-1\"}|attribute \"specversion\": must be \"1.0\"|field \"specversion\": must be \"1.0\""
	"type missing|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"cli\",\"subject\":\"s-1\"}|attribute \"type\": required, missing|not an event: no \"type\" field"
	"type empty|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"cli\",\"type\":\"\",\"subject\":\"s-1\"}|attribute \"type\": must be a non-empty string|field \"type\": must not be empty"
	"subject empty|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"cli\",\"type\":\"A\",\"subject\":\"\"}|attribute \"subject\": must be a non-empty string|field \"subject\": must not be empty"
	"name upper case|$P,\"Region\":\"eu\"}|attribute \"Region\": name not of [a-z0-9]|attribute \"Region\": a CloudEvents attribute name is of a-z and 0-9 only"
	"name with a dash|$P,\"x-trace\":\"t\"}|attribute \"x-trace\": name not of [a-z0-9]|attribute \"x-trace\": a CloudEvents attribute name"
	"name with an underscore|$P,\"store_id\":\"S1\"}|attribute \"store_id\": name not of [a-z0-9]|attribute \"store_id\": a CloudEvents attribute name"
	"name of 21 characters|$P,\"abcdefghij0123456789k\":1}|attribute \"abcdefghij0123456789k\": name longer than 20 characters|attribute \"abcdefghij0123456789k\": a CloudEvents attribute name has at most 20"
	"value an object|$P,\"audit\":{\"tags\":[]}}|attribute \"audit\": value is object, not a scalar|attribute \"audit\": an object; CloudEvents attribute values are strings, integers or booleans"
	"value an array|$P,\"tags\":[\"a\"]}|attribute \"tags\": value is array, not a scalar|attribute \"tags\": an array"
	"value null|$P,\"note\":null}|attribute \"note\": value is null, not a scalar|attribute \"note\": null"
	"value a fraction|$P,\"rank\":1.5}|attribute \"rank\": number 1.5 is not an integer|attribute \"rank\": 1.5 is not an integer"
	"integer over 32 bits|$P,\"big\":2147483648}|attribute \"big\": integer 2147483648 out of the 32-bit range|attribute \"big\": 2147483648 is out of the CloudEvents integer range"
	"integer under 32 bits|$P,\"big\":-2147483649}|attribute \"big\": integer -2147483649 out of the 32-bit range|attribute \"big\": -2147483649 is out of the CloudEvents integer range"
	"control character|$P,\"note\":\"a\\nb\"}|attribute \"note\": string holds a control character|attribute \"note\": a control character"
	"C1 control character|$P,\"note\":\"a\\u0085b\"}|attribute \"note\": string holds a control character|attribute \"note\": a control character"
	"control character in type|{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"cli\",\"type\":\"A\\u007f\",\"subject\":\"s-1\"}|attribute \"type\": string holds a control character|attribute \"type\": a control character"
	"time not RFC 3339|$P,\"time\":\"yesterday\"}|attribute \"time\": not an RFC 3339 timestamp|field \"time\": not an RFC 3339 time"
	"time on no day|$P,\"time\":\"2026-02-29T00:00:00Z\"}|attribute \"time\": not an RFC 3339 timestamp|field \"time\": not an RFC 3339 time"
	"time without a zone|$P,\"time\":\"2026-11-24T12:00:00\"}|attribute \"time\": not an RFC 3339 timestamp|field \"time\": not an RFC 3339 time"
	"time a number|$P,\"time\":1795521600}|attribute \"time\": not an RFC 3339 timestamp|field \"time\": must be a string"
	"datacontenttype empty|$P,\"datacontenttype\":\"\"}|attribute \"datacontenttype\": must be a non-empty string|attribute \"datacontenttype\": must not be empty"
	"dataschema relative|$P,\"dataschema\":\"schemas/a.json\"}|attribute \"dataschema\": not an absolute URI|attribute \"dataschema\": not an absolute URI"
	"dataschema a number|$P,\"dataschema\":5}|attribute \"dataschema\": must be a non-empty string|attribute \"dataschema\": must be a string"
	"data and data_base64|$P,\"data_base64\":\"AA==\"}|data and data_base64 together|attribute \"data_base64\": evt carries the payload as JSON"
	"seq not positive|$P,\"seq\":0}|attribute \"seq\": must be a positive integer|field \"seq\": must be a positive integer"
	"correlationid empty|$P,\"correlationid\":\"\"}|attribute \"correlationid\": must be a non-empty string|field \"correlationid\": must not be empty"
	"auditseverity unknown|$P,\"auditseverity\":\"high\"}|attribute \"auditseverity\": must be info, warning or critical|-"
	"expectedversion negative|$P,\"expectedversion\":-3}|attribute \"expectedversion\": must be an integer >= 0, or none, exists or any|field \"expectedversion\": must be an integer >= 0, \"none\", \"exists\" or \"any\""
	"not JSON|{\"specversion\":|not JSON|not JSON"
	"not an object|[1]|not a JSON object|not an event"
)

@test "checker: a conforming event passes, with every scalar type and optional attribute" {
	printf '%s\n' "$OK" | conforms
	printf '%s\n' "$OK" "$OK" | conforms 2
}

@test "checker: each rule catches its bad event, and only that rule fires" {
	local c name ev want
	for c in "${CASES[@]}"; do
		IFS='|' read -r name ev want _ <<<"$c"
		# A good event before the bad one, so the line number counts.
		run conforms < <(printf '%s\n' "$OK" "$ev")
		[ "$status" -eq 1 ] || { echo "$name: passed: $ev"; return 1; }
		[ "$output" = "line 2: $want" ] ||
			{ echo "$name: want 'line 2: $want', got: $output"; return 1; }
	done
}

@test "checker: nothing written, or fewer events than asked, fails" {
	run conforms </dev/null
	assert_failure
	assert_output "only 0 events, expected at least 1"
	run conforms 3 < <(printf '%s\n' "$OK" "$OK")
	assert_failure
	# blank lines are no events
	run conforms 2 < <(printf '%s\n\n  \n' "$OK")
	assert_failure
}

@test "evt-append refuses each bad attribute: 65, the line, the attribute" {
	local c name ev want why
	for c in "${CASES[@]}"; do
		IFS='|' read -r name ev _ why <<<"$c"
		[ "$why" != - ] || continue
		rm -f log.db*
		run evt-append -l log.db < <(printf '%s\n' "$P}" "$ev" "$P}")
		[ "$status" -eq 65 ] || { echo "$name: exit $status: $output"; return 1; }
		[[ "$output" == "evt-append: stdin:2: $why"*"; 1 appended before it" ]] ||
			{ echo "$name: want 'stdin:2: $why', got: $output"; return 1; }
		[ "$(evt-replay -l log.db --count)" = 1 ] || { echo "$name: log"; return 1; }
	done
}

# jq keeps one of two equal names, so the checker cannot see them: a name
# twice is evt-append's alone to refuse, in short and in long events.
@test "evt-append refuses an attribute named twice, however written" {
	local many
	many=$(seq 1 100 | sed 's/.*/"a&":1/' | paste -sd,)
	for ev in "$P,\"r\":1,\"r\":2}" "$P,\"r\":1,\"\\u0072\":2}" "$P,$many,\"a50\":2}"; do
		run evt-append -l log.db <<<"$ev"
		[ "$status" -eq 65 ] || { echo "$ev: $status"; return 1; }
		assert_output --regexp '^evt-append: stdin:1: attribute "(r|a50)": appears twice; 0 appended before it$'
	done
	# and 100 distinct names are taken
	printf '%s\n' "$P,$many}" | evt-append --echo -l log.db | conforms
}

@test "evt-append --reject sets each bad attribute aside with its reason" {
	local c ev input=("$P}") n=0
	for c in "${CASES[@]}"; do
		IFS='|' read -r _ ev _ why <<<"$c"
		[ "$why" != - ] || continue
		input+=("$ev")
		n=$((n + 1))
	done
	run evt-append --reject bad.ndjson -l log.db < <(printf '%s\n' "${input[@]}")
	assert_success
	assert_output "evt-append: $n lines rejected to bad.ndjson; 1 appended"
	[ "$(wc -l <bad.ndjson)" -eq "$n" ]
	# each rejected line keeps its text and names its line and attribute
	jq -e -s --argjson n "$n" 'map(.line) == [range(2; $n + 2)]' bad.ndjson
	jq -e -s 'map(select(.error | test("attribute|field|not JSON|not an event|no \"type\"") | not)) == []' bad.ndjson
	assert_equal "$(jq -r .text bad.ndjson | head -1)" "${input[1]}"
}

@test "evt-append takes what it fills in or takes off, and writes it conforming" {
	local c ev why
	for c in "${CASES[@]}"; do
		IFS='|' read -r _ ev _ why <<<"$c"
		[ "$why" = - ] || continue
		printf '%s\n' "$ev"
	done | awk '{ sub(/"id":"e1"/, "\"id\":\"f" NR "\""); print }' >in
	[ "$(wc -l <in)" -ge 3 ]
	# auditseverity is any string to evt-append: drop that case here
	grep -v '"high"' in | evt-append --echo -l log.db >out
	conforms 3 <out
	! grep -q expectedversion out
	# and a time evt-append reads leniently (a date, a space, an offset)
	# is written in the stored form
	printf '%s\n' "$P,\"time\":\"2026-11-24\"}" "{\"type\":\"A\",\"subject\":\"s-1\",\"time\":\"2026-11-24 13:00:00.123456+02:00\"}" \
		| evt-append --echo -l log.db >out
	conforms 2 <out
	[ "$(jq -r .time out)" = "$(printf '2026-11-24T00:00:00.000Z\n2026-11-24T11:00:00.123Z')" ]
}

@test "evt-append --echo conforms, to SQLite and to a file" {
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" "$TESTDATA/sagas.ndjson" >in
	evt-append --echo -l log.db <in >out
	conforms "$(wc -l <in)" <out
	printf '%s\n' "$OK" | jq -c 'del(.seq, .version) | .data = {}' | evt-append --echo --source pos -l log.ndjson >out
	printf '{"type":"A","subject":"s-2","expectedversion":"none"}\n' | evt-append --echo -l log.ndjson >>out
	conforms 2 <out
}

@test "evt-replay conforms, from SQLite and from a file, filtered and whole" {
	local n
	n=$(cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" | wc -l)
	evt-replay -l "$SHOP_DB" | conforms "$n"
	evt-replay -l "$SHOP_FILE" | conforms "$n"
	evt-replay -l "$SHOP_DB" -t 'Transaction*' --reverse -n 10 | conforms 10
	evt-replay -l "$SHOP_FILE" -c inventory | conforms 96
}

# Each participant over the store's orders, from the log, passing its input
# through: everything it writes conforms, and it wrote reactions.
@test "saga-step conforms: each service, chained from the log" {
	evt-replay -l "$SHOP_DB" >in
	local s
	for s in payment inventory store transaction; do
		saga-step "$s" <in >out
		conforms "$(wc -l <in)" <out
		saga-step "$s" --only-new <in >new
		conforms 1 <new || { echo "$s wrote no reaction"; return 1; }
		mv out in
	done
}

@test "saga-step all conforms, with declines, refunds, releases and timeouts" {
	evt-replay -l "$SHOP_DB" | saga-step all >out
	conforms 1000 <out
	evt-replay -l "$SHOP_FILE" | saga-step all --only-new --fail-rate 0.2 --seed 7 \
		--decline-over 900 >>out
	# a timeout after a reservation: cancelled, refunded, released
	evt-append -l t.db <"$TESTDATA/golden/saga-timeout/stdin"
	evt-replay -l t.db | (export EVT_NOW=2026-11-24T10:20:00.000Z
		saga-step payment | saga-step inventory | saga-step transaction --timeout 15m \
		| saga-step payment | saga-step inventory) >>out
	conforms 1000 <out
	# every kind of reaction was among them
	jq -r .type out | sort -u >types
	local t
	for t in PaymentProcessed PaymentFailed PaymentRefunded InventoryReserved \
	    InventoryUnavailable InventoryReleased OrderFulfilled OrderDelivered \
	    TransactionCompleted TransactionCancelled; do
		grep -qx "$t" types || { echo "no $t"; return 1; }
	done
}

@test "saga-step output conforms over raw producer input, reactions only" {
	# Raw orders lack specversion, which evt-append fills: passed through
	# they do not conform (and the checker says so), the reactions do.
	cat "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson" >in
	run conforms < <(saga-step all <in)
	assert_failure
	assert_line --partial 'attribute "specversion": required, missing'
	saga-step all --only-new <in | conforms 300
}

@test "audit-scan --tag conforms, from a log and from standard input" {
	local n
	n=$(evt-replay -l "$SHOP_DB" --count)
	audit-scan -l "$SHOP_DB" --tag >out || [ $? -eq 1 ]
	conforms "$n" <out
	[ "$(jq -c 'select(has("audittags") and has("auditseverity"))' out | wc -l)" -eq "$n" ]
	evt-replay -l "$SHOP_FILE" | saga-step all | audit-scan --tag >out || [ $? -eq 1 ]
	conforms "$n" <out
	# a tagged stream tagged again: the same, not doubled
	audit-scan --tag <out >again || [ $? -eq 1 ]
	cmp out again
	jq -r .audittags out | sort -u >tags
	grep -qx 'PCI-DSS,FINANCIAL' tags
	grep -qx 'GDPR,FINANCIAL' tags
}

# Edge cases: what does not conform is refused on the way in, wherever.
@test "saga-step and audit-scan refuse an input attribute that is not CloudEvents" {
	printf '%s\n' "$P}" "$P,\"meta\":{\"by\":\"x\"}}" >in
	run saga-step all <in
	[ "$status" -eq 65 ]
	assert_line 'saga-step: stdin:2: attribute "meta": an object; CloudEvents attribute values are strings, integers or booleans'
	run audit-scan --tag <in
	[ "$status" -eq 65 ]
	assert_line 'audit-scan: stdin:2: attribute "meta": an object; CloudEvents attribute values are strings, integers or booleans'
	run evt-project streams <in
	[ "$status" -eq 65 ]
	assert_line --partial 'stdin:2: attribute "meta"'
}

@test "a log written before the rule is read as it is; what it feeds refuses it" {
	# Such an event can only be in a log from before: write it by hand.
	printf '%s\n' "$P}" | evt-append -l old.ndjson
	sed -i 's/}$/,"meta":{"by":"x"}}/' old.ndjson
	run conforms < <(evt-replay -l old.ndjson)
	assert_failure
	assert_output 'line 1: attribute "meta": value is object, not a scalar'
	run bash -c 'evt-replay -l old.ndjson | saga-step all'
	[ "$status" -eq 65 ]
	assert_output --partial 'stdin:1: attribute "meta"'
}

@test "evt-append --source must be a URI-reference" {
	run evt-append --source 'the shop' -l log.db </dev/null
	[ "$status" -eq 64 ]
	assert_line "evt-append: --source: must be a URI-reference, as CloudEvents' source"
	[ ! -e log.db ]
	echo '{"type":"A","subject":"s-1"}' | evt-append --echo --source urn:shop:S01 -l log.db | conforms
}

# The payload is free, but saga-step names the reactions' streams after
# data.transaction_id and data.store_id: a control character there would
# make a subject no CloudEvents consumer takes.
@test "saga-step rejects an order whose transaction or store id cannot name a stream, in a conforming event" {
	local o='{"specversion":"1.0","id":"o1","source":"transaction","type":"TransactionCreated","subject":"transaction-T1","time":"2026-11-24T10:00:00.000Z","data":{"transaction_id":"T1","store_id":"S1","customer_id":"C1","items":[{"sku":"A","qty":1,"unit_price":5}],"total":5,"currency":"EUR","payment":{"method":"card","token":"tok_ok"}}}'
	printf '%s\n' "$o" | saga-step all --only-new | conforms 2
	for bad in '.data.transaction_id = "T\u00071"' '.data.store_id = "S\n1"'; do
		run saga-step all --only-new < <(printf '%s\n' "$P}"; jq -c "$bad" <<<"$o")
		[ "$status" -eq 0 ] || { echo "$bad: $status $output"; return 1; }
		assert_line --index 0 --regexp '^saga-step: stdin:2: TransactionCreated: data\.(transaction|store)_id holds a control character: the order is rejected$'
		saga-step all --only-new -q < <(printf '%s\n' "$P}"; jq -c "$bad" <<<"$o") >out
		[ "$(jq -r '[.type, .data.reason, .subject] | @tsv' out)" = "$(printf 'TransactionRejected\tinvalid_order\ttransaction-T1')" ]
		conforms 1 <out
	done
}

#!/usr/bin/env bats
# evt-trace: golden trees over hand-made sagas and the store data set,
# every format, the log's filters, bad input and usage; then the formats
# checked by structure (and by Graphviz, when it is installed).

load helper

@test "golden: completed, declined, sold out, delivered, timed out; --summary" { golden trace-sagas; }
@test "golden: stuck, slow, orphans, interleaved, unordered, unstored" { golden trace-incidents; }
@test "golden: text, json, dot, mermaid" { golden trace-formats; }
@test "golden: the store data set, from evt-replay -t TransactionCancelled" { golden trace-store; }
@test "golden: -l LOG with --correlation and -s" { golden trace-log; }
@test "golden: bad input (65), --reject, missing input (66), closed stdout (74)" { golden trace-bad-input; }
@test "golden: usage errors (64)" { golden trace-usage; }

@test "json: one saga a line, nested, every event once" {
	evt-trace -o json "$TESTDATA/store-log.ndjson" >t.ndjson
	[ "$(wc -l <t.ndjson)" = "$(jq -r .correlationid "$TESTDATA/store-log.ndjson" | sort -u | wc -l)" ]
	# every event appears once, under its cause
	[ "$(jq '[.tree[] | .. | objects | select(has("children"))] | length' t.ndjson | paste -sd+ | bc)" = 1579 ]
	jq -e -s 'all(.[]; .events == ([.tree[] | .. | objects | select(has("children"))] | length))' t.ndjson
	jq -e -s 'map(select(.outcome == "cancelled")) | length == 90' t.ndjson
}

@test "deterministic: same input, same bytes; order of the input does not matter" {
	evt-trace -o json "$TESTDATA/store-log.ndjson" >a
	evt-trace -o json "$TESTDATA/store-log.ndjson" >b
	cmp a b
	shuf --random-source=<(yes) "$TESTDATA/store-log.ndjson" | evt-trace -o json >c
	cmp a c
}

@test "dot: balanced, one cluster a saga; Graphviz takes it when installed" {
	evt-trace -o dot "$TESTDATA/trace-sagas.ndjson" "$TESTDATA/trace-incidents.ndjson" >t.dot
	[ "$(head -1 t.dot)" = "digraph trace {" ]
	[ "$(tail -1 t.dot)" = "}" ]
	[ "$(grep -c '^	subgraph cluster_' t.dot)" = 14 ]
	[ "$(tr -cd '{' <t.dot | wc -c)" = "$(tr -cd '}' <t.dot | wc -c)" ]
	if command -v dot >/dev/null; then
		dot -Tsvg t.dot >t.svg
		grep -q '<svg' t.svg
	fi
}

@test "mermaid: sequenceDiagram grammar, by structure" {
	evt-trace -o mermaid "$TESTDATA/trace-sagas.ndjson" "$TESTDATA/trace-incidents.ndjson" >t.mmd
	# one diagram a saga, separated by an empty line
	[ "$(grep -c '^sequenceDiagram$' t.mmd)" = 14 ]
	# every other line is a comment, a participant, a message or a note
	run grep -Ev '^$|^sequenceDiagram$|^    %% |^    participant [A-Za-z0-9_]+( as [^;#]+)?$|^    [A-Za-z0-9_]+-?->>[A-Za-z0-9_]+: [^;#]+$|^    Note over [A-Za-z0-9_]+: [^;#]+$' t.mmd
	assert_output ''
	# messages only between declared participants
	awk '/^sequenceDiagram/ { delete p } /^    participant / { p[$2] = 1 }
	    /->>/ { split($1, a, /-?->>/); sub(/:$/, "", a[2]);
	    if (!(a[1] in p) || !(a[2] in p)) { print "undeclared: " $0; bad = 1 } }
	    END { exit bad }' t.mmd
	# compensations are dashed
	grep -q 'transaction-->>transaction: TransactionCancelled' t.mmd
	grep -q 'inventory-->>payment: PaymentRefunded' t.mmd
}

@test "colour only on a terminal, and never with NO_COLOR" {
	evt-trace "$TESTDATA/trace-sagas.ndjson" >plain
	run grep -c $'\033' plain
	assert_output 0
	command -v script >/dev/null || skip "no script(1)"
	script -qc "evt-trace --slow 1m $TESTDATA/trace-sagas.ndjson" /dev/null >tty
	grep -q $'\033\\[33m\\[compensation\\]' tty
	NO_COLOR=1 script -qc "evt-trace $TESTDATA/trace-sagas.ndjson" /dev/null >tty2
	run grep -c $'\033' tty2
	assert_output 0
}

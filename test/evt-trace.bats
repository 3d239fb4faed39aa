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
@test "golden: an orchestrated saga (saga-orch and the participants), in every format" { golden trace-orchestrated; }

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
	# the day spans 11 hours: a window as long lets every saga wait for
	# its events, however they are shuffled
	shuf --random-source=<(yes) "$TESTDATA/store-log.ndjson" | evt-trace -o json --window 1d >c
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

# Hand-made events for the streaming tests: ev ID TYPE CORR CAUSE TIME
ev() {
	printf '{"id":"%s","source":"s","type":"%s","subject":"x-%s","time":"2026-11-24T%sZ","correlationid":"%s","causationid":"%s"}\n' \
	    "$1" "$2" "$3" "$5" "$3" "$4"
}

@test "window: a finished saga is written while the input is still open" {
	mkfifo in
	# (fd 3 is bats's own: the writer is fd 4, and the trace gets neither)
	evt-trace --window 1h <in >out 3>&- &
	pid=$!
	exec 4>in
	ev order-A TransactionCreated order-A order-A 10:00:00.000 >&4
	ev done-A TransactionCompleted order-A order-A 10:00:01.000 >&4
	# a saga without its outcome is held however long the input moves on
	ev order-S TransactionCreated order-S order-S 10:00:02.000 >&4
	ev order-B TransactionCreated order-B order-B 11:00:01.000 >&4
	# the input is at 11:00:01, an hour past order-A's last event but not
	# more: nothing yet; then a millisecond more, and order-A is written
	sleep 0.5
	[ ! -s out ]
	ev pay-B PaymentProcessed order-B order-B 11:00:01.002 >&4
	for i in $(seq 400); do grep -q '^order-A' out && break; sleep 0.05; done
	run cat out
	assert_line --index 0 'order-A: completed, 2 events in 1s, slowest wait 1s (TransactionCompleted)'
	refute_output --partial 'order-B'
	refute_output --partial 'order-S'
	exec 4>&-
	wait $pid
	run grep -c '^order-' out
	assert_output 3
	# written as they finished: order-A, then at the end order-S and order-B
	# in the order of their first event
	[ "$(grep '^order-' out | cut -d: -f1 | paste -sd,)" = order-A,order-S,order-B ]
	grep -q '^order-S: stuck' out
}

@test "window: an event that comes after its saga was written is not lost" {
	{
		ev order-A TransactionCreated order-A order-A 10:00:00.000
		ev done-A TransactionCompleted order-A order-A 10:00:01.000
		ev order-B TransactionCreated order-B order-B 12:00:00.000
		# late: order-A was written at 12:00 and is remembered
		ev refund-A PaymentRefunded order-A done-A 12:00:05.000
		ev done-B TransactionCompleted order-B order-B 12:00:06.000
	} >late.ndjson
	run evt-trace late.ndjson
	assert_success
	assert_line --index 0 'order-A: completed, 2 events in 1s, slowest wait 1s (TransactionCompleted)'
	assert_line --index 3 'order-B: completed, 2 events in 6s, slowest wait 6s (TransactionCompleted)'
	assert_line 'order-A (continued): 1 event in 0ms, 1 compensation, 1 orphan'
	assert_line --partial 'PaymentRefunded  s  +0ms  -  [compensation]  [orphan: cause done-A not found]'
	evt-trace -o json late.ndjson >t.ndjson
	[ "$(jq -s 'map(.events) | add' t.ndjson)" = 5 ]
	jq -e -s '.[2] | .correlationid == "order-A" and .continued == true' t.ndjson
	run evt-trace --summary late.ndjson
	assert_line --index 3 --regexp '^order-A\(continued\) +- +- +1 '
	# with a window wide enough, one saga as before
	run evt-trace --window 3h late.ndjson
	assert_line --index 0 'order-A: completed, 3 events in 2h00m05s, 1 compensation, slowest wait 2h00m04s (PaymentRefunded)'
	assert_line '   └─ PaymentRefunded    s  +2h00m05s  2h00m04s  [compensation]'
	refute_output --partial continued
}

@test "window: memory follows the open sagas, not the input's length" {
	command -v /usr/bin/time >/dev/null || skip "no /usr/bin/time"
	skip_under_valgrind "the memory is valgrind's"
	gen-events 20000 >short.ndjson
	gen-events 100000 >long.ndjson
	/usr/bin/time -f %M -o short.rss evt-trace --summary --window 1m <short.ndjson >short.out
	/usr/bin/time -f %M -o long.rss evt-trace --summary --window 1m <long.ndjson >long.out
	short=$(tail -1 short.rss) long=$(tail -1 long.rss)
	echo "peak RSS: $short KB for 20000 events, $long KB for 100000" >&4
	[ "$long" -lt $((short * 3 / 2)) ]
	# and every event is in a saga written
	[ "$(awk 'NR > 1 { n += $4 } END { print n }' long.out)" = 100000 ]
	[ "$(evt-trace -o json --summary --window 1m <long.ndjson | jq -s 'map(.events) | add')" = 100000 ]
}

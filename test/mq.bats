#!/usr/bin/env bats
# mq-pub and mq-sub against a real RabbitMQ (scripts/rabbitmq), started
# once for the file, with a TLS listener too (AMQPS_URL; a throwaway CA and
# certificates in TLS_DIR). Each test uses queues and exchanges of its own.

load helper

setup_file() {
	RABBITMQ_TLS=1 rmq_start
	export AMQPS_URL TLS_DIR="$RMQ_DIR/tls"
	AMQPS_URL=$(cat "$RMQ_DIR/amqps_url")
}
teardown_file() { rmq_stop; }

# Programs a test started in the background (bg PID), stopped if the test
# failed before it stopped them.
bg() { echo "$1" >>"$BATS_TEST_TMPDIR/bg.pids"; }
teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/bg.pids" ] || return 0
	for pid in $(cat "$BATS_TEST_TMPDIR/bg.pids"); do
		kill -TERM "$pid" 2>/dev/null || true
	done
}

# rmqctl ARGS...: rabbitmqctl on the file's broker.
rmqctl() {
	env HOME="$RMQ_DIR/home" /usr/lib/rabbitmq/bin/rabbitmqctl \
		-n "$(cat "$RMQ_DIR/node")" -q "$@"
}

# ev ID [TYPE] [SOURCE] [SUBJECT]: one event line.
ev() {
	echo "{\"id\":\"$1\",\"source\":\"${3:-payment}\",\"type\":\"${2:-PaymentProcessed}\",\"subject\":\"${4:-payment-T1}\"}"
}

# evs PREFIX N [TYPE] [SOURCE]: N events, ids PREFIX1..PREFIXN.
evs() {
	seq 1 "$2" | awk -v p="$1" -v t="${3:-PaymentProcessed}" -v s="${4:-payment}" \
		'{ printf "{\"id\":\"%s%d\",\"source\":\"%s\",\"type\":\"%s\",\"subject\":\"payment-T%d\"}\n", p, $1, s, t, $1 }'
}

# q NAME: a queue name of this test's own.
q() { echo "t${BATS_TEST_NUMBER}-$1"; }

# declare_queue QUEUE PATTERN...: make the queue and its bindings now,
# so that what is published next has somewhere to go.
declare_queue() {
	local queue=$1 b=()
	shift
	for p in "$@"; do b+=(-b "$p"); done
	mq-sub -q "$queue" "${b[@]}" --idle-timeout 10ms >/dev/null
}

# ckpt LOG NAME: the position of checkpoint NAME in the SQLite log.
ckpt() { sqlite3 "$1" "SELECT seq FROM checkpoints WHERE name = '$2'"; }

# metric FILE SERIES: the value of one series (name and labels, exactly
# as written) in a textfile.
metric() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

# textfile FILE: what every --metrics file must be: each sample a name,
# labels with the program, and a value; no timestamp, no temporary file
# left beside it.
textfile() {
	grep -v '^#' "$1" | awk 'NF != 2 || $1 !~ /^evt_mq_[a-z_]+\{program="mq-(pub|sub)"/ { bad = 1; print "bad sample: " $0 } END { exit bad }'
	[ "$(ls -a "$(dirname "$1")" | grep -c "^$(basename "$1")")" = 1 ]
}

# Kill points: seed_random, catching_term and ms (helper.bash).
# slow_reader: stdin to stdout, from 500 ms on: a reader slow to start,
# whose pipe mq-sub fills meanwhile, so that it waits to write.
slow_reader() { sleep 0.5; cat; }

@test "mq-pub --dry-run: the routing keys of DESIGN §2 (golden)" {
	golden mq-pub-keys
}

@test "round trip: bodies, ids and the CloudEvents properties" {
	declare_queue "$(q a)" 'payment.*' 'store.*'
	{
		echo '{"id":"r1","source":"payment","type":"PaymentProcessed","subject":"payment-T1","time":"2026-11-24T10:00:00.000Z","correlationid":"saga-1","data":{"amount":19.90}}'
		echo '{"id":"r2","source":"store","type":"OrderFulfilled","subject":"store-T1"}'
	} >in.ndjson
	run mq-pub <in.ndjson
	assert_success
	run mq-sub -q "$(q a)" -n 2 --envelope
	assert_success
	echo "$output" >got.ndjson
	run jq -c 'select(.message_id == "r1") | [.routing_key, .content_type,
		.delivery_mode, .correlation_id, .type, .timestamp]' got.ndjson
	assert_output '["payment.processed","application/cloudevents+json",2,"saga-1","PaymentProcessed",1795514400]'
	# The body's bytes as they came: 19.90 stays 19.90.
	grep -q '"body":{"id":"r1",.*"data":{"amount":19.90}}}$' got.ndjson
	# No correlation id: the id stands for it (DESIGN §2).
	run jq -r 'select(.message_id == "r2") | "\(.routing_key) \(.correlation_id)"' got.ndjson
	assert_output 'store.order_fulfilled r2'
}

@test "round trip: 10000 events, every one confirmed, the same ids and bytes" {
	declare_queue "$(q big)" 'payment.#'
	evs b 10000 >in.ndjson
	run mq-pub -v in.ndjson
	assert_success
	assert_output --partial '10000 events published, 10000 confirmed'
	mq-sub -q "$(q big)" -n 10000 >got.ndjson
	diff <(jq -c . in.ndjson) got.ndjson
	# Nothing more is left in the queue.
	run mq-sub -q "$(q big)" --idle-timeout 300ms
	assert_output ''
}

@test "routing: topic patterns pick the events by source and event" {
	declare_queue "$(q pay)" 'payment.*'
	declare_queue "$(q done)" '*.order_fulfilled' 'transaction.completed'
	{
		ev p1 PaymentProcessed payment
		ev s1 OrderFulfilled store
		ev p2 PaymentRefunded payment
		ev t1 TransactionCompleted transaction
	} | mq-pub
	run bash -c "mq-sub -q $(q pay) --idle-timeout 300ms | jq -r .id | sort | paste -sd' '"
	assert_output 'p1 p2'
	run bash -c "mq-sub -q $(q done) --idle-timeout 300ms | jq -r .id | sort | paste -sd' '"
	assert_output 's1 t1'
}

@test "a durable queue keeps what is published while no consumer runs" {
	declare_queue "$(q keep)" 'inventory.*'
	evs k 20 InventoryReserved inventory | mq-pub
	run bash -c "mq-sub -q $(q keep) -n 20 | wc -l"
	assert_output 20
}

@test "unroutable: exit 69, the message named, the last confirmed line said" {
	mq-sub -q "$(q u)" -e "$(q ux)" -b 'payment.*' --idle-timeout 10ms
	{
		ev u1; ev u2
		ev u3 OrderFulfilled store
		ev u4
	} >in.ndjson
	run mq-pub -e "$(q ux)" <in.ndjson
	assert_failure 69
	assert_output --partial 'stdin:3: unroutable'
	assert_output --partial 'store.order_fulfilled'
	assert_output --partial 'last confirmed line: 2'
	# What came before it is in the queue (u4, in flight when u3 came
	# back, may be too: a rerun from line 3 delivers it again).
	run bash -c "mq-sub -q $(q u) --idle-timeout 300ms | jq -r .id | paste -sd' '"
	assert_output --regexp '^u1 u2( u4)?$'
}

@test "--declare makes the exchange; without it a missing one is an error" {
	run mq-pub -e "$(q none)" < <(ev n1)
	assert_failure
	assert_output --partial 'NOT_FOUND'
	mq-sub -q "$(q d)" -e "$(q dx)" -b '#' --idle-timeout 10ms
	run mq-pub --declare -e "$(q dx)" < <(ev d1)
	assert_success
}

@test "broker down: exit 69, and the password is never printed" {
	run mq-pub -u 'amqp://evt:s3cret@127.0.0.1:1' < <(ev x1)
	assert_failure 69
	assert_output --partial 'amqp://evt@127.0.0.1:1: broker unreachable'
	refute_output --partial 's3cret'
	AMQP_URL='amqp://evt:s3cret@127.0.0.1:1' run mq-sub -q x
	assert_failure 69
	refute_output --partial 's3cret'
	run mq-pub -u 'http://nope' < <(ev x1)
	assert_failure 64
}

@test "bad input: not JSON exits 65 with its line, after confirming what came before" {
	declare_queue "$(q bad)" 'payment.*'
	{ ev g1; ev g2; echo '{"id": nope'; ev g3; } >in.ndjson
	run mq-pub in.ndjson
	assert_failure 65
	assert_output --partial 'in.ndjson:3: not JSON'
	assert_output --partial '2 events published and confirmed'
	{ ev g4; echo '{"id":"g5","type":"X"}'; } >in2.ndjson
	run mq-pub in2.ndjson
	assert_failure 65
	assert_output --partial 'in2.ndjson:2: not an event'
	run bash -c "mq-sub -q $(q bad) --idle-timeout 300ms | jq -r .id | paste -sd' '"
	assert_output 'g1 g2 g4'
	run mq-pub no-such-file
	assert_failure 66
}

@test "mq-sub: killed mid-stream and restarted, nothing is lost" {
	declare_queue "$(q kill)" 'payment.*'
	evs m 2000 | mq-pub
	mq-sub -q "$(q kill)" --prefetch 1 >out1 &
	local pid=$!
	wait_for '[ "$(wc -l <out1)" -gt 20 ]'
	kill -9 $pid
	wait $pid || true
	mq-sub -q "$(q kill)" --idle-timeout 500ms >out2
	run bash -c "cat out1 out2 | jq -r .id | sort -u | wc -l"
	assert_output 2000
}

@test "--exec evt-append: killed mid-batch and restarted, each event stored once" {
	declare_queue "$(q inbox)" 'payment.*'
	evs e 300 | mq-pub
	mq-sub -q "$(q inbox)" --prefetch 50 \
		--exec 'sleep 0.2; evt-append -l inbox.db' 2>err1 &
	local pid=$!
	wait_for '[ -f inbox.db ] && [ "$(evt-replay -l inbox.db --count)" -gt 0 ]' 10
	kill -9 $pid
	wait $pid || true
	# Deliver some again on purpose: evt-append skips ids it has.
	evs e 20 | mq-pub
	mq-sub -q "$(q inbox)" --exec 'evt-append -l inbox.db' --idle-timeout 500ms
	run evt-replay -l inbox.db --count
	assert_output 300
	assert_log_consistent inbox.db
}

@test "dead letters: a body that is not an event goes at once, with a warning" {
	declare_queue "$(q dl)" 'payment.*'
	amqp-publish -u "$AMQP_URL" -e business.events -r payment.bad -b 'not json at all'
	ev ok1 | mq-pub
	run mq-sub -q "$(q dl)" --idle-timeout 300ms
	assert_success
	assert_line --partial 'not JSON'
	assert_line --partial "dead-lettered to $(q dl).dlq"
	assert_line --partial '"id":"ok1"'
	run amqp-get -u "$AMQP_URL" -q "$(q dl).dlq"
	assert_output 'not json at all'
}

@test "dead letters: --exec failing --max-redeliveries times, then the DLQ" {
	declare_queue "$(q fail)" 'payment.*'
	evs f 3 | mq-pub
	run mq-sub -q "$(q fail)" --exec 'cat >/dev/null; exit 3' \
		--max-redeliveries 2 --idle-timeout 300ms
	assert_success
	assert_output --partial 'exited 3; 3 messages put back'
	assert_output --partial 'circuit open'
	assert_output --partial "put back 2 times; dead-lettered to $(q fail).dlq"
	# The queue is empty, the dead letters hold all three, counted.
	run mq-sub -q "$(q fail)" --idle-timeout 300ms
	assert_output ''
	run bash -c "mq-sub -q $(q fail).dlq --envelope --idle-timeout 300ms |
		jq -r '\"\(.body.id) \(.headers[\"x-evt-redeliveries\"])\"' | sort | paste -sd,"
	assert_output 'f1 2,f2 2,f3 2'
}

@test "--exec: one message its command refuses does not take the good ones of its batch with it" {
	declare_queue "$(q iso)" 'payment.*'
	# a1 is stored already with another type: evt-append refuses the
	# second a1 (a conflict), which stops it there.
	echo '{"id":"a1","source":"payment","type":"PaymentFailed","subject":"payment-T1"}' | evt-append -q -l iso.db
	{ evs b 2; evs a 1; evs c 3; } | mq-pub
	run mq-sub -q "$(q iso)" --exec "evt-append -q -l iso.db" --max-redeliveries 2 --idle-timeout 1s
	assert_success
	# Every good message stored; only the refused one dead-lettered.
	[ "$(evt-replay -l iso.db | jq -r .id | sort | paste -sd,)" = "a1,b1,b2,c1,c2,c3" ]
	run bash -c "mq-sub -q $(q iso).dlq --idle-timeout 300ms | jq -r .id | paste -sd,"
	assert_output 'a1'
}

@test "--quorum declares a quorum queue; a queue that exists is used as it is" {
	mq-sub -q "$(q qq)" --quorum -b 'payment.*' --idle-timeout 10ms
	# Declared again without --quorum: no mismatch, it stays quorum.
	evs w 3 | mq-pub
	run bash -c "mq-sub -q $(q qq) --idle-timeout 300ms | wc -l"
	assert_output 3
	run rmqctl list_queues name type
	assert_line --regexp "^$(q qq)[[:space:]]+quorum$"
	assert_line --regexp "^$(q qq).dlq[[:space:]]+classic$"
}

@test "a new classic queue and its dead letters are lazy; what a .dlq leaves unacknowledged stays" {
	declare_queue "$(q lz)" 'payment.*'
	run rmqctl list_queues name arguments
	assert_line --regexp "^$(q lz)[[:space:]].*x-queue-mode.*lazy"
	assert_line --regexp "^$(q lz)\.dlq[[:space:]].*x-queue-mode.*lazy"
	# Batches are acknowledged at once (multiple), but not over a body
	# a dead-letter queue leaves where it is: it is still there after.
	amqp-publish -u "$AMQP_URL" -r "$(q lz).dlq" -b 'not json at all'
	for i in 1 2 3; do
		amqp-publish -u "$AMQP_URL" -r "$(q lz).dlq" -b "$(ev "d$i")"
	done
	run mq-sub -q "$(q lz).dlq" --idle-timeout 300ms
	assert_success
	assert_line --partial 'left in the queue'
	assert_line --partial '"id":"d3"'
	run amqp-get -u "$AMQP_URL" -q "$(q lz).dlq"
	assert_output 'not json at all'
	run mq-sub -q "$(q lz).dlq" --idle-timeout 300ms --quiet
	assert_output ''
}

@test "--exec succeeding after failing: the circuit closes, all is stored" {
	declare_queue "$(q flaky)" 'payment.*'
	evs y 10 | mq-pub
	# Fails the first time only.
	run mq-sub -q "$(q flaky)" --idle-timeout 1s --exec \
		'if [ -e failed ]; then evt-append -l y.db; else touch failed; exit 1; fi'
	assert_success
	assert_output --partial 'circuit closed'
	run evt-replay -l y.db --count
	assert_output 10
}

@test "outbox: mq-pub -l --follow --checkpoint, kill -9 and restart, at least once" {
	declare_queue "$(q store)" '#'
	evs o 300 | evt-append -l svc.db
	mq-pub -l svc.db --follow --checkpoint bus 2>relay1.err &
	local pid=$!
	sleep 0.3
	kill -9 $pid
	wait $pid || true
	evs p 100 | evt-append -l svc.db
	mq-pub -l svc.db --follow --checkpoint bus 2>relay2.err &
	pid=$!
	wait_for '[ "$(sqlite3 svc.db "SELECT seq FROM checkpoints WHERE name = '"'bus'"'")" = 400 ]' 20
	# A live append is relayed too.
	evs z 5 | evt-append -l svc.db
	wait_for '[ "$(sqlite3 svc.db "SELECT seq FROM checkpoints WHERE name = '"'bus'"'")" = 405 ]' 10
	kill -TERM $pid
	wait $pid
	mq-sub -q "$(q store)" --exec 'evt-append -l shop.db' --idle-timeout 500ms
	run evt-replay -l shop.db --count
	assert_output 405
	# The stored bodies are the log's, seq and all; the event store's
	# copy gets its own positions.
	diff <(evt-replay -l svc.db | jq -c '.id') <(evt-replay -l shop.db | jq -c '.id')
}

@test "outbox: -c, -t and --source relay only that service's events" {
	declare_queue "$(q src)" '#'
	{
		ev a1 PaymentProcessed payment payment-T1
		ev a2 OrderFulfilled store store-T1
		ev a3 PaymentRefunded payment payment-T2
		ev a4 InventoryReserved inventory inventory-S1
	} | evt-append -l svc.db
	run mq-pub -l svc.db --source payment --checkpoint out
	assert_success
	run mq-pub -l svc.db -c inventory
	assert_success
	run bash -c "mq-sub -q $(q src) --idle-timeout 300ms | jq -r .id | paste -sd' '"
	assert_output 'a1 a3 a4'
	# The checkpoint passed everything read: a second run sends nothing.
	run mq-pub -l svc.db --source payment --checkpoint out -v
	assert_output --partial '0 events published'
}

@test "outbox: an append the relay was not woken for is relayed within its recheck, however busy the log's directory" {
	# Topology 2 lost its last orders until shutdown: a relay woken by
	# the WAL write of a commit not yet visible read nothing, and its
	# once-a-second recheck never came while other files of the log's
	# directory (another log polled every 50 ms) kept changing. Here the
	# wake-up is lost for sure: the relay is stopped while its inotify
	# queue overflows, and the append comes after.
	declare_queue "$(q quiet)" '#'
	mkdir logs
	ev w1 | evt-append -l logs/svc.db
	mq-pub -l logs/svc.db --follow --checkpoint bus 2>relay.err &
	local pid=$!
	bg $pid
	# Checked from the queue: a reader of the log would wake the relay.
	run mq-sub -q "$(q quiet)" -n 1 --idle-timeout 5s
	assert_output --partial '"w1"'
	sleep 0.3
	kill -STOP $pid
	for i in $(seq 1 9000); do echo >>logs/a; echo >>logs/b; done
	ev w2 | evt-append -l logs/svc.db
	kill -CONT $pid
	(for i in $(seq 1 100); do echo >>logs/busy; sleep 0.1; done) &
	bg $!
	run mq-sub -q "$(q quiet)" -n 1 --idle-timeout 5s
	assert_output --partial '"w2"'
	kill -TERM $pid
	wait $pid
}

@test "mq-sub: SIGTERM finishes the batch in hand, acknowledges it, exits 0" {
	declare_queue "$(q term)" 'payment.*'
	evs s 5 | mq-pub
	mq-sub -q "$(q term)" --exec 'touch taken; sleep 1; cat >>got' &
	local pid=$!
	# Once the batch is in the command's hands (not after a fixed
	# pause: under valgrind the program had not started by then).
	wait_for '[ -f taken ]' 30
	kill -TERM $pid
	wait $pid
	run wc -l <got
	assert_output 5
	run mq-sub -q "$(q term)" --idle-timeout 300ms
	assert_output ''
}

@test "mq-sub: SIGTERM at twenty random moments, with --exec evt-append and as a filter to a slow reader: exit 0 each time, every event stored once" {
	skip_under_valgrind "valgrind takes every signal from its start, so catching_term cannot see when the program has its handler"
	seed_random
	local queue i st pid r
	queue=$(q term20)
	declare_queue "$queue" 'payment.*'
	mkfifo pipe
	for i in $(seq 1 20); do
		# New events each round, and ten of the last round's again;
		# for the filter, more than its pipe holds (64 KiB, some 500
		# lines), so that the signal finds it waiting to write.
		{ evs "t$i-" $(( i % 2 ? 100 : 800 )); [ $i = 1 ] || evs "t$((i - 1))-" 10; } | mq-pub
		if [ $((i % 2)) = 1 ]; then
			mq-sub -q "$queue" --prefetch 20 \
				--exec 'evt-append -q -l inbox.db' 2>err &
			pid=$!
			r=
		else
			mq-sub -q "$queue" >pipe 2>err &
			pid=$!
			slow_reader <pipe >"out.$i" &
			r=$!
		fi
		catching_term $pid
		# The filter: once it waits for its reader to make room (the
		# signal cut such a write short, once: exit 74).
		[ -z "$r" ] || wait_for "grep -q pipe_write /proc/$pid/wchan" 10
		ms $((RANDOM % 300))
		kill -TERM $pid
		st=0
		wait $pid || st=$?
		[ "$st" = 0 ] || { echo "round $i: exit $st: $(cat err)"; false; }
		if [ -n "$r" ]; then
			wait $r
			# Whole lines, each acknowledged once written: the filter's
			# reader is the inbox.
			jq -c . "out.$i" >/dev/null
			evt-append -q -l inbox.db <"out.$i"
		fi
	done
	# What the signals left queued, and nothing acknowledged is missing.
	mq-sub -q "$queue" --prefetch 200 --exec 'evt-append -q -l inbox.db' \
		--idle-timeout 1s
	diff <(for i in $(seq 1 20); do evs "t$i-" $(( i % 2 ? 100 : 800 )); done | jq -r .id | sort) \
		<(evt-replay -l inbox.db | jq -r .id | sort)
	assert_log_consistent inbox.db
	evt-verify -q -l inbox.db >/dev/null
}

@test "--exec evt-append: kill -9 at twenty random moments, restarted each time: every published event stored exactly once" {
	seed_random
	local queue i pid
	queue=$(q kill20)
	declare_queue "$queue" 'payment.*'
	for i in $(seq 1 20); do
		{ evs "k$i-" 100; [ $i = 1 ] || evs "k$((i - 1))-" 10; } | mq-pub
		mq-sub -q "$queue" --prefetch 20 \
			--exec 'evt-append -q -l inbox.db' 2>/dev/null &
		pid=$!
		catching_term $pid
		ms $((RANDOM % 400))
		kill -9 $pid
		wait $pid 2>/dev/null || true
	done
	# A batch's evt-append outlives the kill (a process group of its
	# own): it appends what it read, unacknowledged, so it comes again.
	mq-sub -q "$queue" --prefetch 200 --exec 'evt-append -q -l inbox.db' \
		--idle-timeout 1s
	diff <(for i in $(seq 1 20); do evs "k$i-" 100; done | jq -r .id | sort) \
		<(evt-replay -l inbox.db | jq -r .id | sort)
	assert_log_consistent inbox.db
	evt-verify -q -l inbox.db >/dev/null
}

@test "mq-sub: a closed stdout stops it quietly; what it did not write stays queued" {
	declare_queue "$(q pipe)" 'payment.*'
	evs c 500 | mq-pub
	run bash -c "mq-sub -q $(q pipe) --prefetch 1 | head -n 1 >/dev/null; echo \${PIPESTATUS[0]}"
	assert_output 0
	run bash -c "mq-sub -q $(q pipe) --idle-timeout 300ms | wc -l"
	[ "$output" -gt 0 ]
}

@test "usage: bad options exit 64, --help matches the man page's synopsis" {
	run mq-sub
	assert_failure 64
	assert_output --partial '-q QUEUE is required'
	run mq-pub --follow
	assert_failure 64
	run mq-sub -q x --prefetch 0
	assert_failure 64
	run mq-pub --help
	assert_success
	assert_output --partial 'usage: mq-pub'
	run mq-sub --version
	assert_success
}

@test "--metrics: mq-pub's counts as a node_exporter textfile, written at exit too" {
	declare_queue "$(q mp)" 'payment.*'
	evs mp 20 >in.ndjson
	run mq-pub --metrics pub.prom in.ndjson
	assert_success
	textfile pub.prom
	local l='{program="mq-pub",exchange="business.events"}'
	[ "$(metric pub.prom "evt_mq_published_total$l")" = 20 ]
	[ "$(metric pub.prom "evt_mq_confirmed_total$l")" = 20 ]
	[ "$(metric pub.prom "evt_mq_nacked_total$l")" = 0 ]
	[ "$(metric pub.prom "evt_mq_returned_total$l")" = 0 ]
	[ "$(metric pub.prom "evt_mq_reconnects_total$l")" = 0 ]
	grep -qx '# TYPE evt_mq_confirmed_total counter' pub.prom
	grep -qx '# TYPE evt_mq_connected gauge' pub.prom
	# No id, subject or correlation id is ever a label.
	run grep -E 'mp[0-9]|payment-T' pub.prom
	assert_failure
	# A run that fails writes its file on the way out too.
	mq-sub -q "$(q mpu)" -e "$(q mpx)" -b 'payment.*' --idle-timeout 10ms
	{ ev mu1; ev mu2 OrderFulfilled store; } >u.ndjson
	run mq-pub -e "$(q mpx)" --metrics pub.prom u.ndjson
	assert_failure 69
	textfile pub.prom
	l="{program=\"mq-pub\",exchange=\"$(q mpx)\"}"
	[ "$(metric pub.prom "evt_mq_returned_total$l")" = 1 ]
	# A file that cannot be written stops it before it publishes.
	run mq-pub --metrics no-such-dir/pub.prom in.ndjson
	assert_failure 74
	assert_output --partial '--metrics: no-such-dir/pub.prom'
	run bash -c "mq-sub -q $(q mp) --idle-timeout 300ms | wc -l"
	assert_output 20
}

@test "--metrics: mq-sub's counts, dead letters by reason and the breaker, kept current" {
	declare_queue "$(q ms)" 'payment.*'
	evs ms 3 | mq-pub
	amqp-publish -u "$AMQP_URL" -e business.events -r payment.bad -b 'not json'
	run mq-sub -q "$(q ms)" --exec 'cat >/dev/null; exit 1' --max-redeliveries 1 \
		--idle-timeout 500ms --metrics sub.prom
	assert_success
	textfile sub.prom
	local l="program=\"mq-sub\",queue=\"$(q ms)\""
	# 4 delivered, 3 put back once and delivered again, then dead.
	[ "$(metric sub.prom "evt_mq_received_total{$l}")" = 7 ]
	[ "$(metric sub.prom "evt_mq_acked_total{$l}")" = 0 ]
	[ "$(metric sub.prom "evt_mq_requeued_total{$l}")" = 3 ]
	[ "$(metric sub.prom "evt_mq_dead_lettered_total{$l,reason=\"not_an_event\"}")" = 1 ]
	[ "$(metric sub.prom "evt_mq_dead_lettered_total{$l,reason=\"max_redeliveries\"}")" = 3 ]
	[ "$(metric sub.prom "evt_mq_breaker_open{$l}")" = 1 ]
	[ "$(metric sub.prom "evt_mq_breaker_opened_total{$l}")" = 1 ]
	grep -qx '# TYPE evt_mq_breaker_open gauge' sub.prom
	run grep -E 'ms[0-9]|payment-T' sub.prom
	assert_failure
	# While it runs, the file follows (every 5 s); the breaker closes.
	mq-sub -q "$(q ms)" --exec 'if [ -e failed ]; then cat >/dev/null; else touch failed; exit 1; fi' \
		--metrics sub.prom 2>sub.err &
	local pid=$!
	bg $pid
	evs mt 5 | mq-pub
	wait_for "[ \"\$(metric sub.prom 'evt_mq_acked_total{$l}')\" = 5 ]" 15
	kill -0 $pid
	[ "$(metric sub.prom "evt_mq_breaker_open{$l}")" = 0 ]
	[ "$(metric sub.prom "evt_mq_breaker_opened_total{$l}")" = 1 ]
	[ "$(metric sub.prom "evt_mq_requeued_total{$l}")" = 5 ]
	textfile sub.prom
	kill -TERM $pid
	wait $pid
	grep -q 'circuit closed' sub.err
	run mq-sub -q x --metrics ''
	assert_failure 64
}

@test "--metrics: the textfiles pass promtool check metrics" {
	command -v promtool >/dev/null ||
		skip "promtool is not installed (Debian package prometheus; scripts/setup installs it)"
	declare_queue "$(q pt)" 'payment.*'
	evs pt 5 | mq-pub --metrics pub.prom
	mq-sub -q "$(q pt)" -n 5 --metrics sub.prom >/dev/null
	run promtool check metrics <pub.prom
	assert_success
	assert_output ''
	run promtool check metrics <sub.prom
	assert_success
	assert_output ''
}

# The client's side of TLS: the throwaway CA, the client certificate, key.
TLS_OPTS() { echo --cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --cert-key "$TLS_DIR/client.key"; }

@test "TLS: a round trip over amqps, the broker and the client verified by a throwaway CA" {
	local tls
	read -ra tls < <(TLS_OPTS)
	mq-sub -u "$AMQPS_URL" "${tls[@]}" -q "$(q tls)" -b 'payment.*' --idle-timeout 10ms
	evs s 50 >in.ndjson
	run mq-pub -u "$AMQPS_URL" "${tls[@]}" -v in.ndjson
	assert_success
	assert_output --partial '50 events published, 50 confirmed'
	# The environment names the files as well as the options do.
	AMQP_URL=$AMQPS_URL AMQP_CACERT=$TLS_DIR/ca.pem AMQP_CERT=$TLS_DIR/client.pem \
		AMQP_KEY=$TLS_DIR/client.key run mq-sub -q "$(q tls)" -n 50
	assert_success
	diff <(jq -c . in.ndjson) <(echo "$output")
	# Verification is on by default: the system's CAs do not know ours.
	run mq-pub -u "$AMQPS_URL" < <(ev t0)
	assert_failure 69
	assert_output --partial "amqps://guest@localhost:${AMQPS_URL##*:}: TLS: the broker's certificate is not signed by a CA the system trusts"
	# The broker wants a client certificate signed by its CA.
	run mq-pub -u "$AMQPS_URL" --cacert "$TLS_DIR/ca.pem" < <(ev t0)
	assert_failure 69
	assert_output --partial 'TLS: the broker refused the connection'
	assert_output --partial 'no client certificate given'
	# TLS files for a plain amqp:// URL are a mistake, said as one.
	run mq-pub "${tls[@]}" < <(ev t0)
	assert_failure 64
	run mq-sub -u "$AMQPS_URL" --cacert no-such.pem -q "$(q tls)"
	assert_failure 66
	assert_output --partial 'no-such.pem: CA certificates: No such file'
}

@test "TLS: a broker whose certificate the given CA did not sign is refused (69)" {
	# Another throwaway CA, which signed nothing the broker has.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout other.key -out other.pem -days 1 -subj '/CN=other CA' 2>/dev/null
	mq-sub -u "$AMQPS_URL" $(TLS_OPTS) -q "$(q rogue)" -b 'payment.*' --idle-timeout 10ms
	run mq-pub -u "$AMQPS_URL" --cacert other.pem --cert "$TLS_DIR/client.pem" \
		--cert-key "$TLS_DIR/client.key" < <(ev r1)
	assert_failure 69
	assert_output "mq-pub: amqps://guest@localhost:${AMQPS_URL##*:}: TLS: the broker's certificate is not signed by a CA of other.pem"
	AMQP_CACERT=other.pem AMQP_CERT=$TLS_DIR/client.pem AMQP_KEY=$TLS_DIR/client.key \
		run mq-sub -u "$AMQPS_URL" -q "$(q rogue)" --idle-timeout 10ms
	assert_failure 69
	assert_output --partial 'not signed by a CA of other.pem'
	# Nothing was published.
	run mq-sub -u "$AMQPS_URL" $(TLS_OPTS) -q "$(q rogue)" --idle-timeout 300ms
	assert_success
	assert_output ''
}

@test "TLS: the password is never printed, whether it works or not" {
	rmqctl add_user evt 's3cret-pw' >/dev/null
	rmqctl set_permissions evt '.*' '.*' '.*' >/dev/null
	local url="amqps://evt:s3cret-pw@localhost:${AMQPS_URL##*:}"
	mq-sub -u "$url" $(TLS_OPTS) -q "$(q pw)" -b 'payment.*' --idle-timeout 10ms
	run mq-pub -v -u "$url" $(TLS_OPTS) < <(evs w 3)
	assert_success
	refute_output --partial 's3cret'
	AMQP_URL=$url run mq-sub -v $(TLS_OPTS) -q "$(q pw)" -n 3
	assert_success
	refute_output --partial 's3cret'
	# Refused for its certificate, for its password, for its CA.
	run mq-pub -u "$url" < <(ev w0)
	assert_failure 69
	assert_output --partial 'amqps://evt@localhost:'
	refute_output --partial 's3cret'
	run mq-pub -u "amqps://evt:wrong-s3cret@localhost:${AMQPS_URL##*:}" $(TLS_OPTS) < <(ev w0)
	assert_failure 69
	assert_output --partial 'login'
	refute_output --partial 's3cret'
	AMQP_URL=$url run mq-sub --cacert "$TLS_DIR/ca.pem" -q "$(q pw)"
	assert_failure 69
	refute_output --partial 's3cret'
}

@test "outbox: the relay connects again when the broker stops and starts, and publishes everything" {
	declare_queue "$(q relay)" '#'
	evs ra 200 | evt-append -l svc.db
	mq-pub -l svc.db --follow --checkpoint bus --metrics relay.prom 2>relay.err &
	local pid=$!
	bg $pid
	# A second relay, stopped while it waits to connect again.
	mq-sub -q "$(q relayo)" -e "$(q relayx)" -b '#' --idle-timeout 10ms
	mq-pub -l svc.db --follow --checkpoint other -e "$(q relayx)" --declare 2>other.err &
	local other=$!
	bg $other
	wait_for '[ "$(ckpt svc.db bus)" = 200 ] && [ "$(ckpt svc.db other)" = 200 ]' 20
	rabbitmq stop --keep "$RMQ_DIR"
	# Appended while the broker is down.
	evs rb 100 | evt-append -l svc.db
	wait_for 'grep -q "connecting again, to publish again after seq 200" relay.err' 10
	wait_for 'grep -q "connecting again" other.err' 10
	# SIGTERM during a pause (seconds long by now): exit 0 at once.
	sleep 2
	local t0
	t0=$(date +%s%N)
	kill -TERM $other
	wait $other
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 500 ]
	rabbitmq start "$RMQ_DIR"
	# Appended after it came back.
	evs rc 100 | evt-append -l svc.db
	wait_for '[ "$(ckpt svc.db bus)" = 400 ]' 40
	kill -0 $pid
	grep -q 'connected again after' relay.err
	local l='{program="mq-pub",exchange="business.events",checkpoint="bus"}'
	wait_for "[ \"\$(metric relay.prom 'evt_mq_reconnects_total$l')\" = 1 ]" 10
	[ "$(metric relay.prom "evt_mq_connected$l")" = 1 ]
	textfile relay.prom
	kill -TERM $pid
	wait $pid
	# Every event of the log is in the queue, some maybe twice.
	mq-sub -q "$(q relay)" --idle-timeout 1s | jq -r .id | sort -u >got
	diff <(evt-replay -l svc.db | jq -r .id | sort) got
}

@test "outbox: a one-shot mq-pub does not connect again: a lost connection exits 75" {
	# (The relay form without --follow neither: see the test above for
	# --follow.) The broker goes while mq-pub waits for more input.
	declare_queue "$(q once)" 'payment.*'
	# The second half comes only once the broker is gone (however long
	# its stop takes on a loaded machine).
	{ evs o1 10; while [ ! -f stopped ]; do sleep 0.1; done; evs o2 10; } | mq-pub 2>once.err &
	local pid=$! status=0
	bg $pid
	sleep 1
	rabbitmq stop --keep "$RMQ_DIR"
	touch stopped
	wait $pid || status=$?
	rabbitmq start "$RMQ_DIR"
	cat once.err
	[ "$status" = 75 ]
	grep -q 'last confirmed line: 10' once.err
	run grep -c 'connecting again' once.err
	assert_output 0
}

@test "the broker killed and started again under a running consumer and relay: both connect again, every event stored once" {
	local inbox sub relay once other st t0
	inbox=$(q inbox)
	declare_queue "$inbox" '#'
	evs ra 200 | evt-append -q -l svc.db
	# The outbox and the inbox of two hosts, as services.
	mq-pub -l svc.db --follow --checkpoint bus 2>relay.err &
	relay=$!
	bg $relay
	mq-sub -q "$inbox" --prefetch 50 --exec 'evt-append -q -l inbox.db' \
		--metrics sub.prom 2>sub.err &
	sub=$!
	bg $sub
	# A one-shot consumer (--idle-timeout): a lost connection exits 75.
	mq-sub -q "$(q once)" -b 'nothing.*' --idle-timeout 60s 2>once.err &
	once=$!
	bg $once
	# Another service, stopped while it waits to connect again.
	mq-sub -q "$(q other)" -b 'nothing.*' 2>other.err &
	other=$!
	bg $other
	wait_for '[ -f inbox.db ] && [ "$(evt-replay -l inbox.db --count)" = 200 ]' 20
	rabbitmq kill "$RMQ_DIR"
	# Appended while the broker is down.
	evs rb 100 | evt-append -q -l svc.db
	st=0
	wait $once || st=$?
	cat once.err
	[ "$st" = 75 ]
	run grep -c 'connecting again' once.err
	assert_output 0
	wait_for 'grep -q "connecting again" sub.err' 10
	wait_for 'grep -q "connecting again" other.err' 10
	# SIGTERM during a pause (seconds long by now): exit 0 at once.
	sleep 2
	t0=$(date +%s%N)
	kill -TERM $other
	wait $other
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 500 ]
	rabbitmq start "$RMQ_DIR"
	# Appended after it came back.
	evs rc 100 | evt-append -q -l svc.db
	wait_for '[ "$(evt-replay -l inbox.db --count)" = 400 ]' 60
	# The same processes, connected again.
	kill -0 $sub
	kill -0 $relay
	grep -q 'connected again after' sub.err
	grep -q 'connected again after' relay.err
	local l="{program=\"mq-sub\",queue=\"$inbox\"}"
	wait_for "[ \"\$(metric sub.prom 'evt_mq_reconnects_total$l')\" = 1 ]" 10
	[ "$(metric sub.prom "evt_mq_connected$l")" = 1 ]
	textfile sub.prom
	kill -TERM $sub
	wait $sub
	kill -TERM $relay
	wait $relay
	# Every event of the outbox's log in the inbox's, once.
	diff <(evt-replay -l svc.db | jq -r .id | sort) <(evt-replay -l inbox.db | jq -r .id | sort)
	assert_log_consistent inbox.db
	evt-verify -q -l inbox.db >/dev/null
}

# Last: it restarts the broker.
@test "broker killed mid-publish: exit 75, and every line up to the last confirmed is queued" {
	declare_queue "$(q crash)" 'payment.*'
	evs k 6000 >in.ndjson
	# The broker dies while mq-pub waits for more input, with 5000
	# events published; it learns of it with the next.
	{ head -n 5000 in.ndjson; sleep 2; tail -n +5001 in.ndjson; } |
		mq-pub 2>pub.err &
	local pid=$! status=0
	sleep 1
	rabbitmq kill "$RMQ_DIR"
	wait $pid || status=$?
	cat pub.err
	[ "$status" = 75 ]
	local last
	last=$(sed -n 's/.*last confirmed line: \([0-9]*\).*/\1/p' pub.err)
	[ "$last" -gt 0 ]
	rabbitmq start "$RMQ_DIR"
	mq-sub -q "$(q crash)" --idle-timeout 1s | jq -r .id | sort -u >got
	# Every confirmed line is there (more may be: in flight, not lost).
	comm -23 <(head -n "$last" in.ndjson | jq -r .id | sort) got >missing
	[ ! -s missing ]
}

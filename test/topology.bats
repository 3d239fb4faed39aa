#!/usr/bin/env bats
# Topology 2 of README "Scaling out": a log per service, joined by the bus
# (scripts/topology), on one machine as if on four hosts: the fate host
# (transaction and store over fate.db), payment (payment.db), inventory
# (inventory.db) and the event store (shop.db), each host with its inbox
# (mq-sub --exec evt-append) and outbox (mq-pub -l --follow --checkpoint),
# against a real RabbitMQ (scripts/rabbitmq). The broker and the topology
# start once for the file; the tests run in order on the same logs.
#
# First the store data set, whose read models must be saga-step all's;
# then rounds of a small data set with customers' requests to cancel
# (which race the store's fulfilment: the fate host arbitrates them),
# each round with a process killed by kill -9 mid-run (its supervisor
# starts it again), and one with the broker killed and started again:
# after each, every invariant of test/saga-prop.py (and saga-live.py's
# stricter ones) must hold on the event store's log. EVT_TEST_SEED picks
# the victims.

load helper

# Frozen, so that the reactions' times, and with them the read models, are
# saga-step all's to the byte. The timeout is far beyond every order
# (2026-11-24, from 09:00), so no timeout fires: outcomes are decided by
# the rules alone.
# (helper.bash unsets EVT_NOW: set it after loading it.)
export EVT_NOW=2026-11-24T18:00:00.000Z
TOPO_OPTS=(--timeout 30d)

setup_file() {
	rmq_start
	export TOPO="$BATS_FILE_TMPDIR/topo"
	topology start "$TOPO" "${TOPO_OPTS[@]}"
}

teardown_file() {
	topology stop "$BATS_FILE_TMPDIR/topo" || true
	rmq_stop
}

NAMES="fate.inbox fate.transaction fate.store fate.outbox-transaction
	fate.outbox-store payment.inbox payment.service payment.outbox
	inventory.inbox inventory.service inventory.outbox events.store"
BUS="fate.inbox fate.outbox-transaction fate.outbox-store payment.inbox
	payment.outbox inventory.inbox inventory.outbox events.store"

# terminal: how many transactions the event store's log has ended.
terminal() {
	evt-replay -l "$TOPO/shop.db" -t TransactionCompleted \
		-t TransactionCancelled -t TransactionRejected --count
}

# counts: the length of each log, on one line.
counts() {
	local l
	for l in fate payment inventory shop; do
		printf '%s=%s ' "$l" "$(evt-replay -l "$TOPO/$l.db" --count)"
	done
}

# caught_up: every service has decided all that its log owes, and its
# outbox has relayed every decision to the event store.
caught_up() {
	local l svc types
	for l in fate:transaction fate:store payment:payment inventory:inventory; do
		svc=${l#*:}
		[ -z "$(evt-replay -l "$TOPO/${l%%:*}.db" |
			saga-step "$svc" --only-new "${TOPO_OPTS[@]}")" ] || return 1
	done
	for l in "fate:-t TransactionCompleted -t TransactionCancelled -t TransactionRejected -t Order*" \
	    "payment:-t Payment*" "inventory:-t Inventory[RU]*"; do
		types=${l#*:}
		# shellcheck disable=SC2086
		[ "$(set -f; evt-replay -l "$TOPO/${l%%:*}.db" $types --count)" = \
		    "$(set -f; evt-replay -l "$TOPO/shop.db" $types --count)" ] || return 1
	done
}

# settle N: wait until the event store has ended N transactions, no log
# has grown for 1.5 s (refunds, releases and deliveries come after the
# end) and every host has caught up, at most 120 s; on failure say where
# things stand.
settle() {
	local want=$1 last="" now since=0 limit=$((SECONDS + 120)) n
	while [ $SECONDS -lt $limit ]; do
		n=$(terminal)
		now=$(counts)
		if [ "$now" != "$last" ]; then
			last=$now
			since=$(date +%s%N)
		elif [ "$n" -ge "$want" ] &&
		    [ $(($(date +%s%N) - since)) -ge 1500000000 ] && caught_up; then
			return 0
		fi
		sleep 0.2
	done
	echo "not settled: $n of $want transactions ended; $now" >&2
	tail -n 5 "$TOPO"/*.err >&2
	return 1
}

# check: every invariant, on the event store's log.
check() {
	evt-replay -l "$TOPO/shop.db" >final.ndjson
	run python3 "$BATS_TEST_DIRNAME/saga-prop.py" --check-log final.ndjson
	echo "$output"
	assert_success
	assert_output --partial 'all hold'
	run python3 "$BATS_TEST_DIRNAME/saga-live.py" --check "$TOPO/shop.db"
	echo "$output"
	assert_success
	assert_output --partial 'all hold'
	assert_log_consistent "$TOPO/shop.db"
}

# round_data R N: round R's causes, N orders of the store data set (seed
# R) under ids and transaction ids of the round's own, after a delivery of
# stock; for one order in three, its customer's request to cancel it
# (TransactionCancelRequested) follows it after up to eight more orders:
# fed a little at a time (feed), some requests come before the payment,
# some race the reservation and the store's fulfilment, some come too
# late.
round_data() {
	gen-store st.ndjson ord.ndjson "$2" "$1"
	python3 - "$1" <<-'EOF'
	import json, random, sys
	r = "R%s-" % sys.argv[1]
	rng = random.Random(int(sys.argv[1]))
	out = []
	for line in open("st.ndjson"):
	    e = json.loads(line)
	    e["id"] = r + e["id"]
	    e["data"]["reason"] = "delivery"
	    out.append(e)
	def request(o):
	    tid = o["data"]["transaction_id"]
	    return {"id": "cancel-" + tid, "source": "frontend",
	            "type": "TransactionCancelRequested",
	            "subject": "transaction-" + tid, "time": o["time"],
	            "data": {"transaction_id": tid}}
	later = {}
	for i, line in enumerate(open("ord.ndjson")):
	    e = json.loads(line)
	    tid = r + e["data"]["transaction_id"]
	    e["id"] = r + e["id"]
	    e["subject"] = "transaction-" + tid
	    e["data"]["transaction_id"] = tid
	    out.append(e)
	    if i % 3 == 1:
	        later.setdefault(i + rng.randint(0, 8), []).append(e)
	    out.extend(request(o) for o in later.pop(i, []))
	for i in sorted(later):
	    out.extend(request(o) for o in later[i])
	with open("round.ndjson", "w") as f:
	    for e in out:
	        f.write(json.dumps(e, separators=(",", ":")) + "\n")
	EOF
}

# feed PARTS FILE: publish FILE in PARTS parts, 30 ms apart, so that the
# round is under way while it is fed (and when something is killed). A
# part that fails (the broker going away) is published again, whole:
# consumers skip the ids they have.
feed() {
	local total part i tries
	total=$(wc -l <"$2")
	part=$(((total + $1 - 1) / $1))
	split -a 3 -l "$part" -d "$2" part.
	for i in part.*; do
		tries=0
		until mq-pub -q "$i" 2>>feed.err; do
			tries=$((tries + 1))
			[ $tries -lt 60 ] || return 1
			sleep 1
		done
		sleep 0.03
	done
	rm -f part.*
}

# restarts: each time a supervisor started its process again, as
# "NAME exited STATUS", in order.
restarts() {
	cat "$TOPO"/*.err | sed -n 's/^topology: \(.*\); starting it again$/\1/p' | sort
}

# quiet: no process wrote anything a sanitizer or a failure writes.
quiet() {
	run grep -l -e 'Sanitizer' -e 'runtime error' -e 'dead-lettered' "$TOPO"/*.err
	assert_output ''
}

# alive NAME: the PID of NAME, once its supervisor has it running.
alive() {
	local pid
	pid=$(cat "$TOPO/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null &&
		echo "$pid"
}

@test "the store data set through a log per service: the event store's read models are saga-step all's" {
	feed 1 "$TESTDATA/store-stock.ndjson"
	feed 1 "$TESTDATA/store-orders.ndjson"
	settle 300
	# Not a word from any process: nothing failed, nothing was started
	# again.
	run cat "$TOPO"/*.err
	assert_output ''
	# The same causes, decided by one process over one log.
	evt-append -q -l one.db "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	saga-step all -l one.db "${TOPO_OPTS[@]}"
	local m
	for m in transactions inventory sales; do
		evt-project -l one.db "$m" >"want.$m"
		evt-project -l "$TOPO/shop.db" "$m" >"got.$m"
		diff -u "want.$m" "got.$m"
	done
	# Every event once, and nothing but the data set's sagas.
	[ "$(evt-replay -l "$TOPO/shop.db" --count)" = "$(evt-replay -l one.db --count)" ]
	check
	# Whatever a service host's log holds, decided there or taken from
	# its queue, the event store has.
	evt-replay -l "$TOPO/shop.db" | jq -r .id | sort >shop.ids
	for m in fate payment inventory; do
		evt-replay -l "$TOPO/$m.db" | jq -r .id | sort >"$m.ids"
		[ -s "$m.ids" ]
		diff /dev/null <(comm -23 "$m.ids" shop.ids)
	done
}

@test "ten rounds, each with a process killed by kill -9 mid-run and started again: every invariant holds" {
	local r victim pid delay want names=($NAMES) before
	RANDOM=${EVT_TEST_SEED:-$$}
	want=$(terminal)
	before=$(restarts)
	: >killed
	for r in 1 2 3 4 5 6 7 8 9 10; do
		victim=${names[RANDOM % ${#names[@]}]}
		round_data "$r" 30
		want=$((want + 30))
		feed 30 round.ndjson &
		local feeder=$!
		delay=$((RANDOM % 15))
		delay=$((delay / 10)).$((delay % 10))
		sleep "$delay"
		pid=$(alive "$victim")
		kill -9 "$pid"
		echo "# round $r: kill -9 $victim after ${delay}s" >&3
		echo "$victim exited 137" >>killed
		wait "$feeder"
		# Its supervisor starts it again.
		wait_for '[ -n "$(alive "$victim")" ] && [ "$(alive "$victim")" != "$pid" ]' 10
		settle "$want"
		check
		# Nothing but the victims was started again.
		diff <(sort killed) <(comm -13 <(echo "$before") <(restarts))
		quiet
	done
	# How the customers' requests met their sagas: the fate host took
	# each request that came before the fulfilment, refused the others.
	jq -rs '[.[] | select(.data.transaction_id != null)]
		| group_by(.data.transaction_id)
		| map(select(any(.type == "TransactionCancelRequested")) | map(.type))
		| map(if index("OrderFulfilled") then "too late (fulfilled)"
			elif index("InventoryReserved") then "after the reservation"
			elif index("PaymentProcessed") then "after the payment"
			else "before the payment" end)
		| group_by(.) | map("\(length) \(.[0])") | join(", ")
		| "# requests to cancel: " + .' final.ndjson >&3
	for victim in $NAMES; do
		[ -n "$(alive "$victim")" ]
	done
	grep -q 'exited 137; starting it again' "$TOPO"/*.err
}

@test "a round with the broker killed and started again mid-run: every invariant holds" {
	local want before name
	want=$(terminal)
	before=$(restarts)
	for name in $BUS; do
		echo "$name $(wc -c <"$TOPO/$name.err")"
	done >sizes
	round_data 11 40
	want=$((want + 40))
	feed 30 round.ndjson &
	local feeder=$!
	sleep 1
	rabbitmq kill "$RMQ_DIR"
	sleep 1
	rabbitmq start "$RMQ_DIR"
	[ "$(cat "$RMQ_DIR/url")" = "$AMQP_URL" ]
	wait "$feeder"
	settle "$want"
	check
	# Every bus process felt the broker go (it said so, and was started
	# again or connected again); no service was started again.
	for name in $BUS; do
		[ "$(wc -c <"$TOPO/$name.err")" -gt "$(grep "^$name " sizes | cut -d' ' -f2)" ]
	done
	comm -13 <(echo "$before") <(restarts) >restarted
	run grep -v -e inbox -e outbox -e events.store restarted
	assert_output ''
	quiet
}

@test "topology stop: every process stops on SIGTERM, by its PID" {
	local name pids=()
	for name in $NAMES; do
		pids+=("$(alive "$name")" "$(cat "$TOPO/$name.sup")")
	done
	run topology stop "$TOPO"
	assert_success
	for pid in "${pids[@]}"; do
		run kill -0 "$pid"
		assert_failure
	done
	# Started again, it goes on from its logs and checkpoints.
	topology start "$TOPO" "${TOPO_OPTS[@]}"
	for name in $NAMES; do
		wait_for "[ -n \"\$(alive $name)\" ]" 10
	done
}

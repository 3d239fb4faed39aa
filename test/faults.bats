#!/usr/bin/env bats
# Faults across the programs (issue 29): a full disk under a SQLite log and
# a read model, a read-only log, and kill -9 at random moments of an
# append, of evt-project --into and of saga-orch, twenty times each:
# nothing acknowledged is lost, nothing is duplicated, and the result is
# the one an uninterrupted run gives. (The file log's faults, a follower's
# log cut under it and the broker restarted under the bus are in
# log-faults.bats, mq.bats and topology.bats.)

load helper
bats_require_minimum_version 1.5.0

setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	cd /
	if [ -n "${TFS:-}" ] && mountpoint -q "$TFS"; then
		umount "$TFS"
	fi
}

# A 3 MB tmpfs at $TFS (root only), left with about $1 KB free.
small_disk() {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	TFS=$BATS_TEST_TMPDIR/tfs
	mkdir -p "$TFS"
	mount -t tmpfs -o size=3m tmpfs "$TFS" || skip "cannot mount a tmpfs"
}
fill() { # leave about $1 KB free on the tmpfs
	dd if=/dev/zero of="$TFS/filler" bs=1k count=$(( $(df --output=avail -k "$TFS" | tail -1) - $1 )) 2>/dev/null || true
}

big() { # N events of about 20 KB each
	python3 -c 'import json, sys
for i in range(int(sys.argv[1])): print(json.dumps({"id": "big-%d" % i, "type": "Big", "subject": "b-%d" % (i % 7), "data": {"pad": "x" * 20000}}))' "$1"
}

@test "SQLite log on a full disk: 74, nothing half stored, the log verifies and takes appends once space returns" {
	small_disk
	big 5 | evt-append -q -l "$TFS/log.db"
	evt-verify -q -l "$TFS/log.db" >/dev/null
	fill 200
	big 60 >in
	run evt-append -l "$TFS/log.db" <in
	assert_failure 74
	assert_output --regexp 'full|No space left'
	n=$(evt-replay -l "$TFS/log.db" --count)
	assert_log_consistent "$TFS/log.db"
	evt-verify -q -l "$TFS/log.db" >/dev/null
	rm -f "$TFS/filler"
	evt-append -q -l "$TFS/log.db" <in
	[ "$(evt-replay -l "$TFS/log.db" --count)" = 60 ]
	[ "$n" -ge 5 ] && [ "$n" -le 60 ]
	assert_log_consistent "$TFS/log.db"
	evt-verify -q -l "$TFS/log.db" >/dev/null
}

@test "evt-project --into on a full disk: 74, the store as the last commit left it; again with space, the read model a one-shot run gives" {
	small_disk
	"$ROOT/scripts/gen-store" s.ndjson o.ndjson 150 3
	cat s.ndjson o.ndjson | EVT_NOW=2026-11-24T18:00:00Z saga-step all | evt-append -q -l log.db
	evt-project -l log.db transactions >want
	fill 40
	run evt-project -l log.db transactions --into "$TFS/rm.db"
	assert_failure 74
	rm -f "$TFS/filler"
	evt-project -l log.db transactions --into "$TFS/rm.db"
	sqlite3 -json "$TFS/rm.db" 'select transaction_id from transactions order by 1' | jq -r '.[].transaction_id' >got
	jq -r .transaction_id want >ids
	diff ids got
}

@test "a read-only log: readers read, writers say why and exit 74, nothing changes" {
	[ "$(id -u)" = 0 ] || skip "a read-only mount needs root"
	TFS=$BATS_TEST_TMPDIR/ro
	mkdir -p "$TFS"
	mount -t tmpfs -o size=8m tmpfs "$TFS" || skip "cannot mount a tmpfs"
	for l in log.db log.ndjson; do
		printf '{"id":"e%d","type":"T","subject":"s-1"}\n' 1 2 3 | evt-append -q -l "$TFS/$l"
	done
	mount -o remount,ro "$TFS"
	for l in log.db log.ndjson; do
		[ "$(evt-replay -l "$TFS/$l" --count)" = 3 ]
		run evt-append -l "$TFS/$l" <<<'{"id":"e4","type":"T","subject":"s-1"}'
		assert_failure 74
		assert_output --regexp 'read-only|Read-only'
		run saga-step all -l "$TFS/$l"
		[ "$status" -eq 0 ] || [ "$status" -eq 74 ]
		[ "$(evt-replay -l "$TFS/$l" --count)" = 3 ]
	done
	mount -o remount,rw "$TFS"
}

@test "kill -9 at twenty random moments of an append: every event once, acknowledged ones kept, the log verifies" {
	seq 1 3000 | awk '{ printf "{\"id\":\"k%d\",\"type\":\"T\",\"subject\":\"s-%d\"}\n", $1, $1 % 13 }' >in
	for i in $(seq 1 20); do
		# --echo writes what is stored, after its commit: acknowledged.
		evt-append --echo -l log.db <in >>acked 2>/dev/null &
		pid=$!
		sleep "0.0$((RANDOM % 9))$((RANDOM % 10))"
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		# Each acknowledged event is in the log.
		jq -r .id acked | sort -u >a
		evt-replay -l log.db | jq -r .id | sort >s
		[ -z "$(comm -23 a s)" ] || { echo "round $i: acknowledged, then lost: $(comm -23 a s | head -3)"; false; }
	done
	evt-append -q -l log.db <in
	[ "$(evt-replay -l log.db --count)" = 3000 ]
	assert_log_consistent log.db
	evt-verify -q -l log.db >/dev/null
}

@test "kill -9 at twenty random moments of evt-project --into: run again, the read model a one-shot run gives" {
	"$ROOT/scripts/gen-store" s.ndjson o.ndjson 400 5
	cat s.ndjson o.ndjson | EVT_NOW=2026-11-24T18:00:00Z saga-step all | evt-append -q -l log.db
	for m in transactions inventory sales; do
		evt-project -l log.db $m -o csv >"want-$m"
	done
	for i in $(seq 1 20); do
		m=$(printf 'transactions\ninventory\nsales\n' | sed -n "$((i % 3 + 1))p")
		evt-project -l log.db $m --into rm.db 2>/dev/null &
		pid=$!
		sleep "0.0$((RANDOM % 6))$((RANDOM % 10))"
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
	done
	for m in transactions inventory sales; do
		evt-project -l log.db $m --into rm.db
		# What is stored is what a one-shot run prints.
		cols=$(head -1 "want-$m" | tr -d '\r')
		sqlite3 -csv -header rm.db "select $cols from $m order by 1, 2" | tr -d '\r' >got
		tr -d '\r' <"want-$m" | { read -r h; echo "$h"; sort -t, -k1,1 -k2,2; } >want
		sort -t, -k1,1 -k2,2 got | { grep -v "^$cols\$" || true; } >got.body
		{ echo "$cols"; cat got.body; } >got.sorted
		diff -u want got.sorted
	done
}

@test "kill -9 at twenty random moments of saga-orch as a service: the log an uninterrupted run makes" {
	d=$BATS_TEST_DIRNAME/../testdata/sagas/order.json
	[ -f "$d" ] || skip "no order.json"
	[ -x "$BATS_TEST_DIRNAME/orch-reply" ] || skip "no test/orch-reply"
	grep -v '^#' "$BATS_TEST_DIRNAME/../testdata/sagas/order-T1.ndjson" >trigger
	export EVT_NOW=2026-11-24T12:00:00.000Z
	# Uninterrupted: the orchestrator and its stand-in participant in
	# rounds until nothing more happens.
	rounds() { # LOG [kill]
		local i
		for i in $(seq 1 12); do
			if [ "${2:-}" = kill ]; then
				saga-orch -d "$d" -l "$1" 2>/dev/null &
				local pid=$!
				sleep "0.0$((RANDOM % 5))"
				kill -9 $pid 2>/dev/null || true
				wait $pid 2>/dev/null || true
			fi
			saga-orch -d "$d" -l "$1" 2>/dev/null || true
			evt-replay -l "$1" | "$BATS_TEST_DIRNAME/orch-reply" | evt-append -q -l "$1" 2>/dev/null || true
		done
	}
	evt-append -q -l a.db <trigger
	rounds a.db
	evt-append -q -l b.db <trigger
	# Twelve rounds, each with a kill, twice: 24 kills.
	rounds b.db kill
	rounds b.db kill
	rounds b.db
	diff <(evt-replay -l a.db | jq -c 'del(.seq, .time)' ) <(evt-replay -l b.db | jq -c 'del(.seq, .time)')
}

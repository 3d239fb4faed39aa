#!/usr/bin/env bats
# Process start (issue 29): libpq, which brings some twenty libraries of
# its own, is loaded only by a process that opens a postgres:// log
# (lib/pq_load.c), and libcrypto only by one that hashes or signs
# (lib/crypto_load.c). (Whether a program links a library it does not use
# is not tested here: gcc passes --as-needed by default on this system,
# but not to a sanitizer build, so ldd -u would say nothing in one build
# and name libm in the other.)

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

# The programs built, by their real file (not EVT_TEST_BIN's wrappers).
progs() { ls "$ROOT"/bin/*; }

@test "no program links libpq, directly or through another library" {
	local p
	for p in $(progs); do
		readelf -d "$p" | grep -q 'NEEDED.*libsqlite3' ||
			{ echo "$p: readelf shows no libsqlite3: the check is blind"; return 1; }
		if ldd "$p" | grep -F libpq; then
			echo "$p loads libpq at start"
			return 1
		fi
	done
}

# maps_of PID: the shared objects mapped into a running process.
maps_of() { awk '$6 ~ /\.so/ { print $6 }' "/proc/$1/maps" | sort -u; }

# follower_maps LOG: the shared objects of evt-replay --follow over LOG,
# once it has written the log's first event, into follow.maps.
follower_maps() {
	local pid
	evt-replay -l "$1" --follow >follow.out &
	pid=$!
	wait_for '[ -s follow.out ]'
	maps_of $pid >follow.maps
	kill -TERM $pid
	wait $pid
	grep -q libsqlite3 follow.maps		# what a running follower maps
}

@test "a follower of a SQLite log has no libpq in its memory; of a PostgreSQL log it has" {
	local pid log
	echo '{"type":"Tick","subject":"s-1"}' | evt-append -l f.db
	follower_maps f.db
	run grep libpq follow.maps
	assert_failure

	log=$(pg_log f)
	echo '{"type":"Tick","subject":"s-1"}' | evt-append -l "$log"
	evt-replay -l "$log" --follow >pg.out &
	pid=$!
	wait_for '[ -s pg.out ]'
	maps_of $pid >pg.maps
	echo '{"type":"Tock","subject":"s-1"}' | evt-append -l "$log"
	wait_for 'grep -q Tock pg.out'
	kill -TERM $pid
	wait $pid
	grep -q 'libpq\.so\.5' pg.maps
	[ "$(jq -r .type pg.out | tr '\n' ' ')" = "Tick Tock " ]
}

@test "a libpq that cannot be loaded: exit 69 as for a server not reached, naming libpq, never the URL" {
	mkdir lib
	: >lib/libpq.so.5	# not a shared object: dlopen refuses it
	# The server not reached, with libpq, for the exit status to match.
	run evt-replay -l 'postgres://nobody@127.0.0.1:1/none?connect_timeout=2'
	assert_failure 69
	LD_LIBRARY_PATH=$PWD/lib run evt-replay -l 'postgres://u:s3cret@127.0.0.1:1/db'
	assert_failure 69
	assert_output --partial "evt-replay: postgres://...: cannot load PostgreSQL's client library: "
	assert_output --partial "libpq.so.5"
	refute_output --partial s3cret
	echo '{"type":"Tick","subject":"s-1"}' >in
	LD_LIBRARY_PATH=$PWD/lib run evt-append -l 'postgresql://u:s3cret@127.0.0.1:1/db' in
	assert_failure 69
	assert_output --partial "evt-append: postgresql://...: cannot load PostgreSQL's client library: "
	refute_output --partial s3cret
	# Without libpq, the other logs work as ever.
	LD_LIBRARY_PATH=$PWD/lib run evt-append -l f.db in
	assert_success
	LD_LIBRARY_PATH=$PWD/lib run evt-replay -l f.db
	assert_success
	assert_output --partial '"type":"Tick"'
}

# Whose libraries bring libcrypto with libssl at start, whatever evt does:
# librabbitmq's (mq-pub, mq-sub, which link it too: lib/amqp.c reads its
# error queue) and libcurl's (audit-scan).
brings_crypto() { case ${1##*/} in mq-pub|mq-sub|audit-scan) return 0;; esac; return 1; }

@test "no program links libcrypto but mq-pub and mq-sub, and none loads it at start but those whose libraries bring it" {
	local p
	for p in $(progs); do
		readelf -d "$p" | grep -q 'NEEDED.*libsqlite3' ||
			{ echo "$p: readelf shows no libsqlite3: the check is blind"; return 1; }
		case ${p##*/} in
		mq-pub|mq-sub)
			readelf -d "$p" | grep -q 'NEEDED.*libcrypto\.so\.3' ||
				{ echo "$p: readelf shows no libcrypto: the check is blind"; return 1; }
			;;
		*)
			if readelf -d "$p" | grep 'NEEDED.*libcrypto'; then
				echo "$p links libcrypto"
				return 1
			fi
			;;
		esac
		if brings_crypto "$p"; then
			ldd "$p" | grep -q 'libcrypto\.so\.3' ||
				{ echo "$p: ldd shows no libcrypto: the check is blind"; return 1; }
		elif ldd "$p" | grep -F libcrypto; then
			echo "$p loads libcrypto at start"
			return 1
		fi
	done
}

@test "a follower of a SQLite log has no libcrypto in its memory; a writer loads it at its first append" {
	local pid
	echo '{"type":"Tick","subject":"s-1"}' | evt-append -l f.db
	follower_maps f.db
	run grep libcrypto follow.maps
	assert_failure

	# A writer fed through a pipe: the log open, nothing hashed yet, then
	# one event appended (and chained).
	mkfifo in
	evt-append -l f.db <in >/dev/null &
	pid=$!
	exec 7>in
	wait_for "ls -l /proc/$pid/fd | grep -q 'f\.db\$'"
	maps_of $pid >open.maps
	echo '{"type":"Tock","subject":"s-1"}' >&7
	wait_for '[ "$(evt-replay -l f.db --count)" = 2 ]'
	maps_of $pid >appended.maps
	exec 7>&-
	wait $pid
	grep -q libsqlite3 open.maps
	run grep libcrypto open.maps
	assert_failure
	grep -q 'libcrypto\.so\.3' appended.maps
	run evt-verify -l f.db
	assert_success
	assert_output --regexp '^2 [0-9a-f]{64}$'
}

@test "a libcrypto that cannot be loaded: exit 69 naming it from a program that must hash, nothing written; reading works without it" {
	local log
	mkdir lib
	: >lib/libcrypto.so.3	# not a shared object: dlopen refuses it
	printf '%s\n' '{"type":"Tick","subject":"s-1","id":"t-1"}' \
	    '{"type":"Tock","subject":"s-1"}' >in
	evt-append -q -l f.db in
	evt-append -q -l f.ndjson in
	evt-replay -l f.db >f.db.was
	cp f.ndjson f.ndjson.was
	cp f.ndjson.chain f.ndjson.chain.was
	evt-verify -l f.db >f.db.head
	evt-verify -l f.ndjson >f.ndjson.head
	for log in f.db f.ndjson; do
		LD_LIBRARY_PATH=$PWD/lib run evt-append -l $log in
		assert_failure 69
		assert_output --partial "evt-append: $log: cannot load OpenSSL's crypto library: "
		assert_output --partial "libcrypto.so.3"
	done
	LD_LIBRARY_PATH=$PWD/lib run evt-verify -l f.db
	assert_failure 69
	assert_output --partial "evt-verify: cannot load OpenSSL's crypto library: "
	assert_output --partial "libcrypto.so.3"
	# A usage error is one, with or without it.
	for a in "--key-name k" "--full" "--rechain x --since c" "--origin ''"; do
		eval "set -- $a"
		LD_LIBRARY_PATH=$PWD/lib run evt-verify -l f.db "$@"
		assert_failure 64
		refute_output --partial libcrypto
	done
	# The saga services name their decisions by SHA-1: they refuse before
	# their input.
	LD_LIBRARY_PATH=$PWD/lib run saga-step all in
	assert_failure 69
	assert_output --partial "saga-step: cannot load OpenSSL's crypto library: "
	LD_LIBRARY_PATH=$PWD/lib run saga-orch -d "$TESTDATA/sagas/order.json" in
	assert_failure 69
	assert_output --partial "saga-orch: cannot load OpenSSL's crypto library: "
	# An id looked up in a SQLite log is looked up by its hash.
	LD_LIBRARY_PATH=$PWD/lib run evt-replay -l f.db --correlation t-1
	assert_failure 69
	assert_output --partial "evt-replay: f.db: cannot load OpenSSL's crypto library: "
	# Nothing was written, and the logs verify as before.
	evt-replay -l f.db | diff -u f.db.was -
	cmp f.ndjson f.ndjson.was
	cmp f.ndjson.chain f.ndjson.chain.was
	evt-verify -l f.db | diff -u f.db.head -
	evt-verify -l f.ndjson | diff -u f.ndjson.head -
	# Without libcrypto, what only reads works as ever.
	for log in f.db f.ndjson; do
		LD_LIBRARY_PATH=$PWD/lib run evt-replay -l $log -s s-1
		assert_success
		assert_output "$(evt-replay -l $log)"
	done
	LD_LIBRARY_PATH=$PWD/lib run evt-project -l f.db streams
	assert_success
	assert_output --partial '"subject":"s-1"'
}

#!/usr/bin/env bats
# Process start (issue 29): libpq, which brings some twenty libraries of
# its own, is loaded only by a process that opens a postgres:// log
# (lib/pq_load.c). (Whether a program links a library it does not use is
# not tested here: gcc passes --as-needed by default on this system, but
# not to a sanitizer build, so ldd -u would say nothing in one build and
# name libm in the other.)

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

@test "a follower of a SQLite log has no libpq in its memory; of a PostgreSQL log it has" {
	local pid log
	echo '{"type":"Tick","subject":"s-1"}' | evt-append -l f.db
	evt-replay -l f.db --follow >sq.out &
	pid=$!
	wait_for '[ -s sq.out ]'
	maps_of $pid >sq.maps
	kill -TERM $pid
	wait $pid
	grep -q libsqlite3 sq.maps		# what a running follower maps
	run grep libpq sq.maps
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

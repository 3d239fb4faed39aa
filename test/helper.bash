# Shared by every test file: PATH to the built programs, a scratch
# directory, and the golden-case runner (STYLE.md 10).

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# make check-valgrind puts wrappers that run each program under valgrind
# first (EVT_TEST_BIN).
export PATH="${EVT_TEST_BIN:+$EVT_TEST_BIN:}$ROOT/bin:$ROOT/scripts:$PATH"
export TESTDATA="$ROOT/testdata"
unset EVT_LOG EVT_NOW

# under_valgrind: true under make check-valgrind, whose wrappers run each
# program under valgrind memcheck, twenty to fifty times slower, and are
# shell scripts, not the programs.
under_valgrind() { [ -n "${EVT_TEST_BIN:-}" ]; }

# skip_under_valgrind REASON: for a test that only measures time or the
# process itself, which valgrind changes, as tests skip a sanitizer
# build. A test with more to prove keeps running under valgrind and lets
# only its timing assertion go (under_valgrind || ...).
skip_under_valgrind() {
	! under_valgrind || skip "under valgrind: $1"
}

# The sqlite3 shell gives up at once on a lock: the first to open a WAL log
# whose last writer closed it recovers it under a short exclusive lock, and a
# reader opening it at that moment would fail. Wait, as evt does.
sqlite3() { command sqlite3 -cmd ".timeout 10000" "$@"; }

load_libs() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
}

# Each test runs in its own empty directory.
setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
}

# golden CASE: run testdata/golden/CASE/cmd (a shell script) in a fresh
# directory with EVT_NOW frozen, stdin from CASE/stdin (or nothing), and
# compare stdout, stderr and the exit status with CASE/stdout, CASE/stderr
# and CASE/status. With EVT_GOLDEN=1 the expectations are rewritten instead
# (make golden); review that diff like code.
golden() {
	local dir="$TESTDATA/golden/$1" work="$BATS_TEST_TMPDIR/golden-$1"
	local in=/dev/null status=0
	[ -f "$dir/cmd" ] || { echo "no such golden case: $1" >&2; return 1; }
	[ -f "$dir/stdin" ] && in="$dir/stdin"
	mkdir -p "$work"
	(cd "$work" && EVT_NOW=2026-11-24T12:00:00.000Z bash -e "$dir/cmd" \
		<"$in" >"$work/.stdout" 2>"$work/.stderr") || status=$?
	echo "$status" >"$work/.status"
	if [ "${EVT_GOLDEN:-}" = 1 ]; then
		cp "$work/.stdout" "$dir/stdout"
		cp "$work/.stderr" "$dir/stderr"
		cp "$work/.status" "$dir/status"
		return 0
	fi
	local bad=0
	diff -u "$dir/stdout" "$work/.stdout" || bad=1
	diff -u "$dir/stderr" "$work/.stderr" || bad=1
	diff -u "$dir/status" "$work/.status" || bad=1
	return $bad
}

# The log's events must have seq 1..N and per-subject versions 1..k.
assert_log_consistent() {
	local log=$1
	evt-replay -l "$log" | jq -s -e '
		(map(.seq) == [range(1; length + 1)]) and
		(group_by(.subject) | all(map(.version) == [range(1; length + 1)])) and
		(map(.id) | length == (unique | length))' >/dev/null
}

# Wait up to $2 seconds (default 5) for a command to succeed.
wait_for() {
	local cmd=$1 limit=${2:-5} i=0
	while ! eval "$cmd"; do
		sleep 0.05
		i=$((i + 1))
		[ $i -lt $((limit * 20)) ] || return 1
	done
}

# A throwaway PostgreSQL server (scripts/pg) for the tests of one file:
# call pg_start in setup_file and pg_stop in teardown_file.
pg_start() {
	export PG_DIR="$BATS_FILE_TMPDIR/pg"
	pg start "$PG_DIR"
	PG_URL=$(cat "$PG_DIR/url")
	export PG_URL
}

pg_stop() {
	pg stop "$BATS_FILE_TMPDIR/pg"
}

# pg_log NAME: the URL of a new, empty log on that server (a schema of its
# own, named after NAME and the test).
pg_log() {
	local s
	s="t${BATS_SUITE_TEST_NUMBER:-0}_$(printf '%s' "$1" | tr -c 'a-zA-Z0-9' _)_$RANDOM"
	psql -qX "$PG_URL" -c "CREATE SCHEMA $s" >/dev/null || return 1
	echo "$PG_URL?options=-csearch_path%3D$s"
}

# sqlite_text_log FILE [nohash]: an empty SQLite log with the layout of an
# earlier evt: ids and correlation ids indexed as text (with the chain's
# hash column unless nohash: the layout before the chain).
sqlite_text_log() {
	local hash=" hash BLOB,"
	[ "${2:-}" = nohash ] && hash=""
	sqlite3 "$1" >/dev/null "PRAGMA journal_mode=WAL;
		CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
		subject TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
		time TEXT NOT NULL, correlationid TEXT NOT NULL, body TEXT NOT NULL,
		$hash UNIQUE(subject, version));
		CREATE INDEX events_correlationid ON events(correlationid);
		CREATE TABLE checkpoints(name TEXT PRIMARY KEY, seq INTEGER NOT NULL,
		updated TEXT NOT NULL);"
}

# golden_on BACKEND CASE: run a golden case written for SQLite logs
# (NAME.db) on another backend, file (NAME.ndjson) or pg (a log on the
# server of pg_start), and compare with the same expectations, the log's
# name put back in what the case printed.
golden_on() {
	local backend=$1 dir="$TESTDATA/golden/$2"
	local work="$BATS_TEST_TMPDIR/golden-$2-$1" cmd="$BATS_TEST_TMPDIR/cmd-$2-$1"
	local in=/dev/null status=0 name to back=""
	[ -f "$dir/stdin" ] && in="$dir/stdin"
	mkdir -p "$work"
	cp "$dir/cmd" "$cmd"
	for name in $(grep -o '[A-Za-z0-9_]*\.db\b' "$dir/cmd" | sort -u); do
		case $backend in
		file) to=${name%.db}.ndjson ;;
		pg) to=$(pg_log "${name%.db}") || return 1 ;;
		*) echo "no such backend: $backend" >&2; return 1 ;;
		esac
		sed -i "s|\\b$name\\b|$to|g" "$cmd"
		back="$back;s|$to|$name|g"
	done
	(cd "$work" && EVT_NOW=2026-11-24T12:00:00.000Z bash -e "$cmd" \
		<"$in" >"$work/.stdout" 2>"$work/.stderr") || status=$?
	echo "$status" >"$work/.status"
	sed -i "$back" "$work/.stdout" "$work/.stderr"
	local bad=0
	diff -u "$dir/stdout" "$work/.stdout" || bad=1
	diff -u "$dir/stderr" "$work/.stderr" || bad=1
	diff -u "$dir/status" "$work/.status" || bad=1
	return $bad
}

# A throwaway RabbitMQ broker (scripts/rabbitmq) for the tests of one
# file: call rmq_start in setup_file and rmq_stop in teardown_file. It
# exports AMQP_URL, which mq-pub and mq-sub read.
rmq_start() {
	export RMQ_DIR="$BATS_FILE_TMPDIR/rmq"
	rabbitmq start "$RMQ_DIR"
	AMQP_URL=$(cat "$RMQ_DIR/url")
	export AMQP_URL
}

rmq_stop() {
	rabbitmq stop "$BATS_FILE_TMPDIR/rmq"
}

# Kill points (faults.bats, mq.bats). seed_random: seed $RANDOM from
# EVT_FAULT_SEED when set, else the clock, and print it, so that a
# failure's points can be tried again.
seed_random() {
	FAULT_SEED=${EVT_FAULT_SEED:-$(( $(date +%s%N) / 1000 % 32768 ))}
	RANDOM=$FAULT_SEED
	echo "kill points: EVT_FAULT_SEED=$FAULT_SEED"
}

# catching_term PID: wait until PID takes SIGTERM in hand, with a handler
# (SigCgt in /proc) or by blocking it to read it from a signalfd (SigBlk),
# or has gone. A kill point is a moment of the program's run, not of its
# start-up, before main could install anything (a signal then ends it as
# it would any program: nothing was taken yet).
catching_term() {
	local k v
	while kill -0 "$1" 2>/dev/null; do
		while read -r k v; do
			case $k in SigCgt: | SigBlk:) ;; *) continue ;; esac
			(( (16#$v >> 14) & 1 )) && return 0
		done <"/proc/$1/status" 2>/dev/null
		sleep 0.002
	done
	return 0
}

# ms N: sleep N milliseconds (N < 1000).
ms() { sleep "$(printf '0.%03d' "$1")"; }

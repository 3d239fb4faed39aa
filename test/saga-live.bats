#!/usr/bin/env bats
# The live services under load (test/saga-live.py): eight saga-step
# services following one log, producers streaming orders, stock, re-sends,
# bad events, customers' cancellations and a skewed clock, kill -9 and
# restarts; then the saga invariants over the log. A few seeds on each
# backend here; `make soak` runs many. EVT_TEST_SEED picks the first seed.

load helper

setup_file() { pg_start; }
teardown_file() { pg_stop; }

live() {
	SAGA_LIVE_KEEP="$BATS_TEST_TMPDIR" timeout -k 10 150 \
		python3 "$BATS_TEST_DIRNAME/saga-live.py" "$@"
}

@test "live services on a SQLite log: every invariant holds" {
	run live 2 "${EVT_TEST_SEED:-1}" --backend sqlite
	grep '^seed' <<<"$output" | cut -c1-160 | sed 's/^/# /' >&3
	assert_success
	assert_output --partial 'all hold'
}

@test "live services on a PostgreSQL log: every invariant holds" {
	run live 2 "${EVT_TEST_SEED:-1}" --backend pg
	grep '^seed' <<<"$output" | cut -c1-160 | sed 's/^/# /' >&3
	assert_success
	assert_output --partial 'all hold'
}

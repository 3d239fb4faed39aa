#!/usr/bin/env bats
# Files evt creates, and a symbolic link planted where one is to go
# (issue 29): a read model, an audit state, findings, rejects, a metrics
# textfile, a checkpoint and a new log never write through a link to
# someone else's file, and never create a file where a link to nothing
# points. A link to a device or a pipe (/dev/stderr) is still followed,
# and a log that is there is still opened through a link to it.

load helper
bats_require_minimum_version 1.5.0

setup() {
	load_libs
	cd "$BATS_TEST_TMPDIR"
	printf 'precious\n' >victim
	cat >ev.ndjson <<'X'
{"id":"a1","type":"InventoryAdjusted","subject":"inventory-S1-A","data":{"store_id":"S1","sku":"A","delta":5}}
{"id":"a2","type":"InventoryAdjusted","subject":"inventory-S1-B","data":{"store_id":"S1","sku":"B","delta":3}}
X
	evt-append -q -l log.db <ev.ndjson
}

victim_intact() {
	[ "$(cat victim)" = precious ]
	[ ! -L victim ]
}

@test "evt-project --into a link to another file: 73, the file untouched" {
	ln -s victim model.db
	run --separate-stderr evt-project -l log.db inventory --into model.db
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"model.db: a symbolic link: refusing to write through it"* ]]
	victim_intact
	ln -s nowhere dangling.db
	run evt-project -l log.db inventory --into dangling.db
	[ "$status" -eq 73 ]
	[ ! -e nowhere ]
}

@test "audit-scan --state and --findings through a link: 73, the file untouched" {
	ln -s victim state.db
	run audit-scan -l log.db --state state.db
	[ "$status" -eq 73 ]
	victim_intact
	ln -s victim found.ndjson
	run --separate-stderr audit-scan -l log.db --findings found.ndjson
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"found.ndjson: a symbolic link: refusing"* ]]
	victim_intact
	# /dev/stderr is the system's link to descriptor 2, here a pipe:
	# written, not refused (and a pipe cannot be synced: no error).
	run audit-scan -l log.db --findings /dev/stderr
	[ "$status" -eq 0 ]
}

@test "--reject through a link: 73 and nothing stored; /dev/stderr works" {
	ln -s victim rej.ndjson
	printf 'not json\n' >bad.ndjson
	run evt-append -l log.db --reject rej.ndjson <bad.ndjson
	[ "$status" -eq 73 ]
	victim_intact
	[ "$(evt-replay -l log.db --count)" -eq 2 ]
	run --separate-stderr evt-append -l log.db --reject /dev/stderr <bad.ndjson
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not json"* ]]
}

@test "a metrics textfile replaces a link there, never its target" {
	ln -s victim audit.prom
	run audit-scan -l log.db --metrics audit.prom
	[ "$status" -eq 0 ]
	victim_intact
	[ ! -L audit.prom ] && grep -q '^audit_events' audit.prom
	ln -s victim verify.prom
	run evt-verify -l log.db --metrics verify.prom
	[ "$status" -eq 0 ]
	victim_intact
	[ ! -L verify.prom ] && grep -q '^evt_' verify.prom
}

@test "a new log is not created through a link to nothing; a log that is there opens through a link" {
	ln -s "$BATS_TEST_TMPDIR/elsewhere.ndjson" new.ndjson
	run --separate-stderr evt-append -l new.ndjson <ev.ndjson
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"a symbolic link to nothing"* ]]
	[ ! -e elsewhere.ndjson ]
	ln -s "$BATS_TEST_TMPDIR/elsewhere.db" new.db
	run evt-append -l new.db <ev.ndjson
	[ "$status" -eq 73 ]
	[ ! -e elsewhere.db ]
	ln -s log.db current.db
	printf '%s\n' '{"id":"a3","type":"InventoryAdjusted","subject":"inventory-S1-C","data":{"store_id":"S1","sku":"C","delta":1}}' |
		evt-append -q -l current.db
	[ "$(evt-replay -l log.db --count)" -eq 3 ]
	evt-verify -q -l log.db
}

#!/usr/bin/env bats
# evt-top: one frame as text (--once) checked against evt-project, and the
# live view driven in tmux while the services run and orders arrive.

load helper

setup_file() {
	export STORE="$BATS_FILE_TMPDIR/store"
	mkdir -p "$STORE"
	"$ROOT/scripts/gen-store" "$STORE/stock.ndjson" "$STORE/orders.ndjson" 120 7
	cat "$STORE/stock.ndjson" "$STORE/orders.ndjson" |
		EVT_NOW=2026-11-24T18:00:00Z saga-step all --timeout 1h |
		EVT_NOW=2026-11-24T18:00:00Z evt-append -q -l "$STORE/log.db"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	export EVT_NOW=2026-11-24T18:00:00Z LC_ALL=C NO_COLOR=
	unset NO_COLOR
}

teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	[ ! -d svc ] || "$ROOT/scripts/services" stop svc || true
}

# The frame's panel lines after the heading that starts with $1, up to
# the next heading.
panel() {
	awk -v h="$1" 'index($0, h) == 1 { on = 1; next } /^[A-Z]/ { on = 0 } on' "${2:-frame}"
}

@test "--once: one 80x24 frame, the same numbers as evt-project (sales today, low stock, sagas)" {
	COLUMNS=80 LINES=24 evt-top -l "$STORE/log.db" --once --low 10 >frame
	[ "$(wc -l <frame)" -le 24 ]
	[ "$(awk '{ print length }' frame | sort -n | tail -1)" -le 80 ]
	head -1 frame | grep -q "seq $(evt-replay -l "$STORE/log.db" --count) "
	# Sales today, per store: orders, cancelled, revenue (exact decimals).
	panel "Today by store" | awk '{ print $1, $2, $3, $4, $5, $6 }' >got
	evt-project -l "$STORE/log.db" sales -o csv | tr -d "\r" | awk -F, '$2 == "2026-11-24" { print $1, $4, $5, $6, $3, $7 }' >want
	[ -s want ]
	diff -u want got
	# Stock below 10, lowest first.
	panel "Stock below 10" | awk '{ print $1, $2, $3, $4, $5 }' >got
	evt-project -l "$STORE/log.db" inventory | jq -s -r 'map(select(.available < 10)) |
		sort_by(.available) | .[] | "\(.store_id) \(.sku) \(.on_hand) \(.reserved) \(.available)"' >want
	[ -s want ]
	# (as many as fit)
	diff -u <(head -"$(wc -l <got)" want) got
	# Sagas by state, as evt-project sagas counts them.
	evt-project -l "$STORE/log.db" sagas | jq -s -r '"in flight \(map(select(.state == "running")) | length)   completed \(map(select(.state == "completed")) | length)   cancelled \(map(select(.state == "cancelled")) | length)   compensated \(map(select(.compensated)) | length)"' >want
	grep -q "^  $(cat want)   rejected 0\$" frame
}

@test "--once: a 100-column terminal gets the sparkline of the last minute; ASCII without a UTF-8 locale" {
	# Ten orders in the last minute before the clock, one a second.
	for i in $(seq 1 10); do
		printf '{"id":"o%d","source":"till","type":"TransactionCreated","subject":"transaction-X%d","time":"2026-11-24T17:59:%02d.000Z","data":{"transaction_id":"X%d","store_id":"S01","items":[{"sku":"SKU-1001","qty":1,"unit_price":1}],"total":1,"currency":"EUR","payment":{"method":"card","token":"tok_ok"}}}\n' "$i" "$i" $((49 + i)) "$i"
	done >o.ndjson
	cp "$STORE/log.db" log.db
	evt-append -q -l log.db <o.ndjson
	COLUMNS=100 LINES=30 evt-top -l log.db --once >frame
	line=$(grep '^  TransactionCreated' frame)
	# 10 events in the last 10 s: 1.0 a second; the last ten columns of
	# the sparkline are full blocks in ASCII.
	[[ "$line" == *" 1.0  "* ]]
	[[ "$line" == *"##########  "* ]]
	LC_ALL=C.UTF-8 COLUMNS=100 LINES=30 evt-top -l log.db --once | grep '^  TransactionCreated' | grep -q '█'
}

@test "live in tmux: numbers follow the services as orders arrive; resize redraws; q quits" {
	command -v tmux >/dev/null || skip "tmux missing (scripts/setup installs it)"
	"$ROOT/scripts/gen-store" stock.ndjson orders.ndjson 40 11
	unset EVT_NOW
	evt-append -q -l live.db <stock.ndjson
	"$ROOT/scripts/services" start live.db svc --timeout 1h >/dev/null
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	tmux -S "$TMUX_SOCK" new-session -d -x 80 -y 24 -s top \
		"env LC_ALL=C $ROOT/bin/evt-top -l live.db --low 3; echo EXITED \$?; sleep 5"
	screen() { tmux -S "$TMUX_SOCK" capture-pane -p -t top; }
	wait_for 'screen | grep -q "^Sagas"' 10
	# Orders arrive now (times rewritten to the clock: the rate panel
	# counts the last minute).
	now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
	jq -c --arg t "$now" '.time = $t' orders.ndjson | evt-append -q -l live.db
	want() {
		evt-project -l live.db sagas | jq -s -r '"completed \(map(select(.state == "completed")) | length)   cancelled \(map(select(.state == "cancelled")) | length)"'
	}
	# The services finish every order; the screen shows what evt-project does.
	wait_for '[ "$(evt-project -l live.db sagas | jq -s "map(select(.state == \"running\")) | length")" = 0 ]' 60
	wait_for 'screen | grep -q "in flight 0   $(want)"' 10
	screen | grep -q "^  TransactionCreated  *[0-9.]*  .*  *40\$"
	# Stock below 3 as evt-project has it.
	n=$(evt-project -l live.db inventory | jq -s 'map(select(.available < 3)) | length')
	if [ "$n" -gt 0 ]; then
		first=$(evt-project -l live.db inventory | jq -s -r 'map(select(.available < 3)) | sort_by(.available) | .[0] | "\(.store_id) *\(.sku) *\(.on_hand) *\(.reserved) *\(.available)"')
		screen | grep -q "^  $first\$"
	fi
	# A bigger window is redrawn to its size.
	tmux -S "$TMUX_SOCK" resize-window -t top -x 120 -y 40
	wait_for '[ "$(screen | awk "{ print length }" | sort -n | tail -1)" -gt 80 ]' 5
	# q quits, with status 0, and the terminal is given back.
	tmux -S "$TMUX_SOCK" send-keys -t top q
	wait_for 'screen | grep -q "^EXITED 0"' 5
}

@test "bad input: a missing log exits 66; a stored event the models cannot use is said, and skipped" {
	run evt-top -l nowhere/log.db --once
	[ "$status" -eq 66 ]
	# evt-project refuses this sale's outcome (no currency anywhere): a
	# warning, and the frame still comes.
	printf '%s\n' '{"id":"a","source":"till","type":"TransactionCreated","subject":"transaction-A","time":"2026-11-24T10:00:00.000Z","data":{"transaction_id":"A","store_id":"S01","items":[],"total":1}}' \
		'{"id":"b","source":"transaction","type":"TransactionCompleted","subject":"transaction-A","time":"2026-11-24T10:00:01.000Z","correlationid":"a","data":{"transaction_id":"A","total":1}}' |
		evt-append -q -l bad.db
	run evt-top -l bad.db --once
	[ "$status" -eq 0 ]
	[[ "$output" == *"evt-top: seq 2: "*"currency"* ]]
	[[ "$output" == *"completed 1"* ]]
	run evt-top --bogus
	[ "$status" -eq 64 ]
	run evt-top -l bad.db --once -n 0
	[ "$status" -eq 64 ]
}

@test "a closed stdout stops the plain frames quietly; SIGTERM stops it with 0" {
	evt-top -l "$STORE/log.db" -n 1 | head -1 >first
	grep -q '^evt-top ' first
	evt-top -l "$STORE/log.db" -n 1 >frames 2>err &
	pid=$!
	wait_for '[ -s frames ]' 5
	kill -TERM $pid
	wait $pid
	[ ! -s err ]
}

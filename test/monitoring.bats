#!/usr/bin/env bats
# monitoring/: the alerting rules and their unit tests, and the Grafana
# dashboard's structure and queries.

load helper

setup_file() {
	# A real node_exporter (textfile collector) scraped by a real
	# Prometheus with the rules, alerting to a real Alertmanager: once
	# for the file.
	if command -v prometheus >/dev/null && command -v prometheus-node-exporter >/dev/null; then
		"$ROOT/scripts/monitoring" start "$BATS_FILE_TMPDIR/mon" prometheus >/dev/null
	fi
}

teardown_file() {
	[ -d "$BATS_FILE_TMPDIR/mon" ] && "$ROOT/scripts/monitoring" stop "$BATS_FILE_TMPDIR/mon" || true
}

setup() {
	load_libs
	command -v promtool >/dev/null || skip "promtool missing (scripts/setup installs prometheus)"
	cd "$BATS_TEST_TMPDIR"
	M=$BATS_TEST_DIRNAME/../monitoring
}

# PromQL Q at Prometheus: its result vector, as compact JSON.
query() {
	curl -fsG "$PROMETHEUS/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'
}

@test "alerting rules: promtool checks them, and each alert's unit test passes" {
	promtool check rules "$M/evt-rules.yml"
	(cd "$M" && promtool test rules tests/evt-rules.test.yml)
	# Every alert of the rules has a test case.
	for a in $(grep -o 'alert: [A-Za-z]*' "$M/evt-rules.yml" | cut -d' ' -f2); do
		grep -q "alertname: $a\$" "$M/tests/evt-rules.test.yml"
	done
}

@test "alerting rules: a broken threshold fails its unit test" {
	cp -r "$M" m
	sed -i 's/> 0.1$/> 0.5/' m/evt-rules.yml
	run sh -c 'cd m && promtool test rules tests/evt-rules.test.yml'
	[ "$status" -ne 0 ]
	[[ "$output" == *EvtSagasCompensatingOften* ]]
}

@test "dashboard: provisioned datasource by uid, no __inputs, every panel titled, with a unit and a description" {
	d=$M/grafana/evt-dashboard.json
	uid=$(awk '/uid:/ { print $2; exit }' "$M/grafana/provisioning/datasources/evt.yml")
	[ "$uid" = evt-prometheus ]
	jq -e 'has("__inputs") | not' "$d"
	jq -e '.uid | type == "string" and length > 0' "$d"
	# Panel ids unique.
	[ "$(jq '[.panels[].id] | length' "$d")" = "$(jq '[.panels[].id] | unique | length' "$d")" ]
	jq -e --arg uid "$uid" 'all(.panels[];
		(.title | length > 0) and (.description | length > 0) and
		(.fieldConfig.defaults.unit | length > 0) and
		.datasource.uid == $uid and (.targets | length > 0) and
		all(.targets[]; .datasource.uid == $uid and (.expr | length > 0)))' "$d"
	# The provisioning file is valid YAML naming a file provider.
	grep -q 'type: file' "$M/grafana/provisioning/dashboards/evt.yml"
}

@test "dashboard: every panel's query parses (promtool), and names only metrics monitoring/README.md lists" {
	d=$M/grafana/evt-dashboard.json
	{ echo 'groups:'; echo '  - name: dashboard'; echo '    rules:'
	  jq -r '.panels[].targets[].expr' "$d" | awk '{ printf "      - record: q%d\n        expr: %s\n", NR, $0 }'; } >q.yml
	promtool check rules q.yml
	jq -r '.panels[].targets[].expr' "$d" | grep -o '\b\(evt\|audit\)_[a-z_]*' | sed 's/_bucket$//' | sort -u >used
	while read -r m; do
		grep -q "$m" "$M/README.md" || { echo "not documented: $m"; false; }
	done <used
}

@test "textfiles: audit-scan and evt-verify --metrics pass promtool, node_exporter reads them, Prometheus alerts on a critical finding" {
	[ -f "$BATS_FILE_TMPDIR/mon/env" ] || skip "prometheus or node_exporter missing (scripts/setup installs them)"
	. "$BATS_FILE_TMPDIR/mon/env"
	printf '{"id":"t1","source":"till","type":"TransactionCreated","subject":"transaction-T1","time":"2026-11-24T10:00:00.000Z","data":{"transaction_id":"T1","store_id":"S1","items":[{"sku":"A","qty":1,"unit_price":5}],"total":5,"currency":"EUR","payment":{"method":"card","token":"4111111111111111"}}}\n' |
		evt-append -q -l log.db
	EVT_NOW=2026-11-24T12:00:00Z audit-scan -l log.db --metrics "$TEXTFILE/audit.prom" >/dev/null || true
	evt-verify -q -l log.db --metrics "$TEXTFILE/verify.prom" >/dev/null
	for f in "$TEXTFILE"/*.prom; do promtool check metrics <"$f"; done
	m=$(curl -fs "$NODE_EXPORTER/metrics")
	grep -qx 'node_textfile_scrape_error 0' <<<"$m"
	grep -q '^audit_findings{finding="pan_unmasked",severity="critical"} 1$' <<<"$m"
	grep -q '^evt_chain_ok{program="evt-verify"} 1$' <<<"$m"
	# Prometheus scrapes it (every second) and evaluates the rules.
	wait_for '[ "$(query "audit_findings{severity=\"critical\",finding=\"pan_unmasked\"}" | jq length)" = 1 ]' 20
	wait_for 'curl -fs "$PROMETHEUS/api/v1/alerts" | jq -e ".data.alerts[] | select(.labels.alertname == \"EvtAuditCritical\" and .state == \"firing\")" >/dev/null' 20
	# ... and Alertmanager has it.
	wait_for 'curl -fs "$ALERTMANAGER/api/v2/alerts" | jq -e ".[] | select(.labels.alertname == \"EvtAuditCritical\")" >/dev/null' 20
	[ "$(query 'evt_chain_ok' | jq -r '.[0].value[1]')" = 1 ]
}

# --- the programs' own --metrics files ------------------------------------

# metric FILE SERIES: the value of one series (name and labels, exactly as
# written) in a textfile.
metric() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

# histogram_ok FILE NAME: every histogram of the family NAME in FILE is
# cumulative (buckets never fall), ends with le="+Inf", and its +Inf
# bucket is its _count.
histogram_ok() {
	awk -v n="$2" '
		index($1, n "_bucket{") == 1 {
			l = $1; sub(/,le="[^"]*"}$/, "}", l); sub(/_bucket/, "", l)
			if (l in last && $2 < last[l]) { print "falls: " $0; bad = 1 }
			last[l] = $2
			if ($1 ~ /le="\+Inf"}$/) inf[l] = $2
		}
		index($1, n "_count{") == 1 { l = $1; sub(/_count/, "", l); cnt[l] = $2 }
		END {
			for (l in cnt) if (!(l in inf) || inf[l] != cnt[l]) { print "count: " l; bad = 1 }
			exit bad
		}' "$1"
}

@test "textfiles: saga-step, saga-orch, evt-replay and evt-project --metrics pass promtool, with the store day's numbers and bounded labels" {
	export EVT_NOW=2026-11-24T18:00:00Z
	evt-append -q -l log.db "$TESTDATA/store-stock.ndjson" "$TESTDATA/store-orders.ndjson"
	saga-step all -l log.db --timeout 15m --metrics step.prom
	evt-replay -l log.db --metrics replay.prom >/dev/null
	evt-project -l log.db sales --into r.db --metrics project.prom
	evt-append -q -l orch.db "$TESTDATA/sagas/order-T1.ndjson"
	EVT_NOW=2026-11-24T12:00:00.000Z saga-orch -d "$TESTDATA/sagas/order.json" -l orch.db --metrics orch.prom
	for f in *.prom; do
		run promtool check metrics <"$f"
		assert_success
		assert_output ''
		# Every sample carries its program; no timestamp; nothing left beside it.
		grep -v '^#' "$f" | awk 'NF != 2 || $1 !~ /^evt_[a-z_]+\{program="(saga-step|saga-orch|evt-replay|evt-project)"/ { print "bad: " $0; bad = 1 } END { exit bad }'
	done
	[ "$(ls -a | grep -c '\.prom')" = 4 ]
	# 300 orders: 210 completed, 90 cancelled, 58 of them refunded.
	local p='program="saga-step"' n
	n=$(evt-replay -l log.db --count)
	[ "$(metric step.prom "evt_saga_outcomes_total{$p,outcome=\"completed\"}")" = 210 ]
	[ "$(metric step.prom "evt_saga_outcomes_total{$p,outcome=\"cancelled\"}")" = 90 ]
	[ "$(metric step.prom "evt_saga_outcomes_total{$p,outcome=\"compensated\"}")" = 58 ]
	[ "$(metric step.prom "evt_saga_duration_seconds_count{$p,outcome=\"completed\"}")" = 210 ]
	[ "$(metric step.prom "evt_sagas_in_flight{$p,service=\"all\"}")" = 0 ]
	[ "$(metric step.prom "evt_sagas_stuck{$p,service=\"all\"}")" = 0 ]
	[ "$(metric step.prom "evt_events_read_total{$p,type=\"TransactionCreated\"}")" = 300 ]
	[ "$(metric step.prom "evt_events_written_total{$p,type=\"TransactionCompleted\"}")" = 210 ]
	[ "$(metric step.prom "evt_reactions_total{$p,service=\"store\",outcome=\"decided\"}")" = \
		"$(evt-replay -l log.db -t 'Order*' --count)" ]
	# It appended the log's end itself: nothing behind.
	[ "$(metric step.prom "evt_log_last_seq{$p}")" = "$n" ]
	[ "$(metric step.prom "evt_follower_lag_events{$p}")" = 0 ]
	[ "$(metric step.prom "evt_follower_lag_seconds{$p}")" = 0 ]
	histogram_ok step.prom evt_saga_duration_seconds
	grep -q '^# TYPE evt_saga_duration_seconds histogram$' step.prom
	# The followers saw every event: evt-project by type, evt-replay
	# (which copies lines, never parses them) all types in one count.
	[ "$(metric replay.prom 'evt_log_last_seq{program="evt-replay"}')" = "$n" ]
	[ "$(metric replay.prom 'evt_events_replayed_total{program="evt-replay"}')" = "$n" ]
	run grep -c '^evt_events_read_total' replay.prom
	assert_output 0
	[ "$(metric project.prom 'evt_events_read_total{program="evt-project",projection="sales",type="PaymentRefunded"}')" = 58 ]
	[ "$(metric project.prom 'evt_follower_lag_events{program="evt-project",projection="sales"}')" = 0 ]
	# The orchestrator: one saga started, in flight.
	[ "$(metric orch.prom 'evt_sagas_in_flight{program="saga-orch",service="orch"}')" = 1 ]
	[ "$(metric orch.prom 'evt_events_written_total{program="saga-orch",type="SagaStarted"}')" = 1 ]
	# No label of an unbounded kind: no id, subject or correlation id.
	run grep -E 'T1[0-9]{3}|order-|transaction-|payment-|[0-9a-f]{8}-[0-9a-f]{4}-' *.prom
	assert_failure
	# A type no saga knows is "other", never a series of its own.
	printf '{"id":"x%s","source":"till","type":"Whatever%s","subject":"x-1"}\n' 1 1 2 2 3 3 |
		evt-append -q -l log.db
	evt-project -l log.db sales --into r.db --metrics project.prom
	[ "$(metric project.prom 'evt_events_read_total{program="evt-project",projection="sales",type="other"}')" = 3 ]
	run grep -c Whatever project.prom
	assert_output 0
	# evt-replay counts what its filters let out.
	evt-replay -l log.db -t 'Order*' -t 'Whatever*' --metrics replay.prom >/dev/null
	[ "$(metric replay.prom 'evt_events_replayed_total{program="evt-replay"}')" = \
		$(($(evt-replay -l log.db -t 'Order*' --count) + 3)) ]
}

@test "textfiles: a follower behind the log: its lag in events, and in seconds the age of the event it is at, asked of each backend" {
	local log p='program="evt-replay"'
	for log in log.db log.ndjson; do
		for i in 1 2 3 4 5; do
			printf '{"id":"e%s","source":"till","type":"StockReceived","subject":"stock-%s","time":"2026-11-24T1%s:00:00Z","data":{}}\n' "$i" "$i" "$i"
		done | evt-append -q -l "$log"
		# Two events in, three behind; the second is from 12:00,
		# two hours before now.
		EVT_NOW=2026-11-24T14:00:00Z evt-replay -l "$log" -n 2 --metrics r.prom >/dev/null
		[ "$(metric r.prom "evt_follower_lag_events{$p}")" = 3 ]
		[ "$(metric r.prom "evt_follower_lag_seconds{$p}")" = 7200 ]
		[ "$(metric r.prom "evt_events_replayed_total{$p}")" = 2 ]
		# Caught up: no lag, in either.
		EVT_NOW=2026-11-24T14:00:00Z evt-replay -l "$log" --metrics r.prom >/dev/null
		[ "$(metric r.prom "evt_follower_lag_events{$p}")" = 0 ]
		[ "$(metric r.prom "evt_follower_lag_seconds{$p}")" = 0 ]
	done
}

@test "histograms: each observation in the first bucket whose bound is not below it (le), for 0 to 17 bounds, values on, between and past them" {
	local lib=$ROOT/build/libevt.a san= n b want
	if nm "$ROOT/bin/evt-append" 2>/dev/null | grep -q __asan_init; then
		lib=$ROOT/build-san/libevt.a san=-fsanitize=address,undefined
	fi
	cc -std=c11 -D_GNU_SOURCE $san -I"$ROOT/lib" -o hist-check \
		"$BATS_TEST_DIRNAME/hist-check.c" "$lib" -lsqlite3 -ljansson -lm
	for n in $(seq 0 17); do
		b=$(seq 1 "$n" | awk '{ printf "%s ", $1 * 2 }')
		# Every half from -1 to 37: on each bound, between, past all.
		seq -1 0.5 37 >obs
		./hist-check $b <obs
		want=$(awk -v b="$b" 'BEGIN { n = split(b, B, " ") }
			{ v[NR] = $1 }
			END { for (i = 1; i <= n; i++) { c = 0; for (j in v) c += v[j] <= B[i]; printf "%s %d\n", B[i], c }
				printf "+Inf %d\n", NR }' obs)
		diff <(echo "$want") <(sed -n 's/^t_seconds_bucket{program="hist-check",le="\([^"]*\)"} /\1 /p' h.prom)
	done
}

@test "textfiles: --metrics usage: an empty name, no log, a file that cannot be created (73)" {
	evt-append -q -l log.db "$TESTDATA/store-stock.ndjson"
	for c in "saga-step all -l log.db" "saga-orch -d $TESTDATA/sagas/order.json -l log.db" \
	    "evt-replay -l log.db" "evt-project -l log.db sales"; do
		run $c --metrics ''
		assert_failure 64
		run $c --metrics no-such-dir/x.prom
		assert_failure 73
		assert_output --partial '--metrics: no-such-dir/x.prom'
	done
	run saga-step all --metrics x.prom </dev/null
	assert_failure 64
	run evt-project sales --metrics x.prom </dev/null
	assert_failure 64
	for p in saga-step saga-orch evt-replay evt-project; do
		$p --help | grep -q -- '--metrics FILE'
		grep -q 'Fl Fl metrics Ar file' "$ROOT/man/$p.1"
	done
	evt-project --help | grep -q 'prom'
}

# Programs a test started in the background (bg PID), stopped if the test
# failed before it stopped them; and its RabbitMQ, if it started one.
bg() { echo "$1" >>"$BATS_TEST_TMPDIR/bg.pids"; }
teardown() {
	local pid
	if [ -f "$BATS_TEST_TMPDIR/bg.pids" ]; then
		for pid in $(cat "$BATS_TEST_TMPDIR/bg.pids"); do
			kill -TERM "$pid" 2>/dev/null || true
		done
	fi
	if [ -d "$BATS_TEST_TMPDIR/rmq" ]; then
		rabbitmq stop "$BATS_TEST_TMPDIR/rmq" || true
	fi
}

@test "dashboard: after a short store day, every panel's query returns data from a real Prometheus scraping node_exporter" {
	[ -f "$BATS_FILE_TMPDIR/mon/env" ] || skip "prometheus or node_exporter missing (scripts/setup installs them)"
	. "$BATS_FILE_TMPDIR/mon/env"
	local d=$M/grafana/evt-dashboard.json pid pids=() mq=1
	# The day: the services follow the log while the orders land.
	evt-append -q -l log.db "$TESTDATA/store-stock.ndjson"
	saga-step all -l log.db --follow --metrics "$TEXTFILE/saga-step.prom" & pids+=($!)
	evt-replay -l log.db --follow --metrics "$TEXTFILE/evt-replay.prom" >/dev/null & pids+=($!)
	evt-project -l log.db sales --into reports.db --follow \
		--metrics "$TEXTFILE/evt-project.prom" & pids+=($!)
	for pid in "${pids[@]}"; do bg "$pid"; done
	evt-append -q -l log.db "$TESTDATA/store-orders.ndjson"
	# Every order decided (the file is written every 5 seconds).
	local p='program="saga-step"'
	wait_for "[ \"\$(awk '/^evt_saga_outcomes_total.*(completed|cancelled)/ { s += \$2 } END { print s + 0 }' \
		\"$TEXTFILE/saga-step.prom\")\" = 300 ]" 60
	wait_for "[ \"\$(awk '/^evt_follower_lag_events/ { print \$2 }' \"$TEXTFILE/evt-project.prom\")\" = 0 ]" 20
	for pid in "${pids[@]}"; do kill -TERM "$pid"; wait "$pid"; done
	# The business KPIs, written beside and renamed as node_exporter wants.
	evt-project -l log.db sales -o prom >"$TEXTFILE/.sales.tmp"
	mv "$TEXTFILE/.sales.tmp" "$TEXTFILE/sales.prom"
	evt-project -l log.db inventory -o prom >"$TEXTFILE/.inventory.tmp"
	mv "$TEXTFILE/.inventory.tmp" "$TEXTFILE/inventory.prom"
	EVT_NOW=2026-11-24T18:00:00Z audit-scan -l log.db --metrics "$TEXTFILE/audit.prom" >/dev/null || true
	# The bus, when RabbitMQ is here: the day published, consumed, and
	# one message that is not an event dead-lettered.
	if command -v rabbitmq-server >/dev/null && command -v amqp-publish >/dev/null; then
		rabbitmq start "$BATS_TEST_TMPDIR/rmq" >/dev/null
		AMQP_URL=$(cat "$BATS_TEST_TMPDIR/rmq/url")
		export AMQP_URL
		mq-sub -q dash -b '#' --idle-timeout 10ms >/dev/null
		evt-replay -l log.db | mq-pub --metrics "$TEXTFILE/mq-pub.prom"
		amqp-publish -u "$AMQP_URL" -e business.events -r payment.bad -b 'not json'
		mq-sub -q dash --idle-timeout 500ms --metrics "$TEXTFILE/mq-sub.prom" >/dev/null
	else
		mq=0
		echo "# RabbitMQ missing: the bus panels are not checked" >&3
	fi
	for f in "$TEXTFILE"/*.prom; do
		run promtool check metrics <"$f"
		assert_success
		assert_output ''
	done
	local m
	m=$(curl -fs "$NODE_EXPORTER/metrics")
	grep -qx 'node_textfile_scrape_error 0' <<<"$m"
	# (node_exporter sorts the labels.)
	grep -q '^evt_saga_outcomes_total{outcome="completed",program="saga-step"} 210$' <<<"$m"
	grep -q '^evt_sales_completed{currency="EUR",day="[0-9-]*",store_id="S01"} [0-9]*$' <<<"$m"
	# Every panel's query returns data (rates need two scrapes: a few
	# seconds).
	local e n=0
	while read -r e; do
		if [ $mq = 0 ] && [[ "$e" == *evt_mq_* ]]; then continue; fi
		wait_for "[ \"\$(query '$e' | jq length)\" -gt 0 ]" 30 ||
			{ echo "no data: $e"; false; }
		n=$((n + 1))
	done < <(jq -r '.panels[].targets[].expr' "$d")
	[ $n -ge 12 ]
	# And the numbers are the day's.
	[ "$(query 'sum(evt_sales_completed)' | jq -r '.[0].value[1]')" = 210 ]
	[ "$(query 'sum(evt_sagas_in_flight)' | jq -r '.[0].value[1]')" = 0 ]
}

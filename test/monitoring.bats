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

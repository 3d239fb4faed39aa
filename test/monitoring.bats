#!/usr/bin/env bats
# monitoring/: the alerting rules and their unit tests, and the Grafana
# dashboard's structure and queries.

load helper

setup() {
	command -v promtool >/dev/null || skip "promtool missing (scripts/setup installs prometheus)"
	cd "$BATS_TEST_TMPDIR"
	M=$BATS_TEST_DIRNAME/../monitoring
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

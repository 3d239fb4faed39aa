#!/usr/bin/env bats
# audit-scan: a golden case per finding (one that triggers, one that must
# not), the tag stream, rules files, usage; then Luhn's edge cases.

load helper

@test "golden: every finding, and its near misses" { golden audit-findings; }
@test "golden: --tag passes events through with audittags and auditseverity" { golden audit-tag; }
@test "golden: rules files" { golden audit-rules; }
@test "golden: usage errors and bad input" { golden audit-usage; }
@test "golden: money rules, exact at any size" { golden audit-money; }

pan() {
	printf '{"type":"A","subject":"a-1","data":{"v":%s}}\n' "$1" \
		| audit-scan | jq -r 'select(.finding == "pan_unmasked") | .detail'
}

@test "Luhn: test card numbers of every length are found, masked" {
	[ "$(pan '"4222222222222"')" = "card number 422222***2222 in data.v" ]           # 13 digits
	[ "$(pan '"378282246310005"')" = "card number 378282*****0005 in data.v" ]       # 15, Amex
	[ "$(pan '"6011111111111117"')" = "card number 601111******1117 in data.v" ]     # 16
	[ "$(pan '"6011 0009 9013 9424"')" = "card number 601100******9424 in data.v" ]
	[ "$(pan '"3530111333300000"')" = "card number 353011******0000 in data.v" ]
	[ "$(pan '"4111111111111111110"')" = "card number 411111*********1110 in data.v" ] # 19
	[ "$(pan 5105105105105100)" = "card number 510510******5100 in data.v" ]          # a number
	# Next to other digit groups: every window of whole groups is tried.
	[ "$(pan '"card 4111111111111111 123"')" = "card number 411111******1111 in data.v" ]
	[ "$(pan '"ref 99 4111111111111111"')" = "card number 411111******1111 in data.v" ]
	[ "$(pan '"4111 1111 1111 1111 12 25"')" = "card number 411111******1111 in data.v" ]
	[ "$(pan '"4111 1111 1111 1111 1"')" = "card number 411111******1111 in data.v" ]
	[ "$(pan '"exp 12-25 5105-1051-0510-5100"')" = "card number 510510******5100 in data.v" ]
}

@test "Luhn: issuer prefixes and lengths that exist; product codes are not cards" {
	# Luhn-valid, but no issuer has them: an EAN-13 barcode (leading 5),
	# a millisecond timestamp (leading 1), 13 digits not starting with 4,
	# a 16-digit number starting with 1 or 9, Amex's prefix at 16 digits.
	for v in '"5901234123457"' 1764000000018 '"3000000000004"' '"1000000000000008"' \
		'"9000000000000008"' '"3400000000000009"'; do
		[ -z "$(pan "$v")" ] || { echo "false positive: $v"; return 1; }
	done
	# Fields that hold product codes are not scanned: a GTIN-14 or a
	# card-like SKU there is no card number.
	run audit-scan --fail-on warning <<'IN'
{"type":"InventoryAdjusted","subject":"inventory-S1","data":{"store_id":"S1","sku":"4111111111111111","delta":3,"picked_at_ms":1764000000018}}
{"type":"OrderFulfilled","subject":"store-T1","data":{"transaction_id":"T1","items":[{"ean":"5901234123457","GTIN":"15901234123454","upc":"4111111111111111"}]}}
IN
	assert_success
	assert_output ''
}

@test "card numbers in member names and ids are found, and never printed whole" {
	printf '%s\n' \
	  '{"id":"e1","type":"PaymentProcessed","subject":"payment-T1","seq":1,"version":1,"data":{"transaction_id":"T1","cards":{"4111111111111111":{"cvv":"123","name":"Jo"}}}}' \
	  '{"id":"4111111111111111","type":"TransactionCreated","subject":"transaction-5105105105105100","seq":2,"version":1,"time":"2026-11-24T10:00:00Z","data":{"transaction_id":"5105105105105100","total":5}}' >leak
	run audit-scan --fail-on info leak
	assert_failure 1
	refute_output --partial 4111111111111111
	refute_output --partial 5105105105105100
	assert_line --partial '"detail":"card number 411111******1111 in data.cards.411111******1111"'
	assert_line --partial '"detail":"card security code in data.cards.411111******1111.cvv"'
	assert_line --partial '"id":"411111******1111","subject":"transaction-510510******5100","detail":"card number 510510******5100 in subject"'
	assert_line --partial '"finding":"saga_stuck","severity":"warning","tags":["SAGA"],"seq":null,"id":null,"subject":"transaction-510510******5100"'
	for f in text json csv; do
		run audit-scan --report -o $f leak
		refute_output --partial 4111111111111111
		refute_output --partial 5105105105105100
	done
	assert_output --partial 'pan_unmasked'
	# The masking keeps the first six and last four digits of every card
	# number, whatever is around it.
	run audit-scan --report <<<'{"type":"Paid 4111-1111-1111-1111 and 5105 1051 0510 5100","subject":"x-1","data":{}}'
	assert_line --partial 'Paid 4111-11**-****-1111 and 5105 10** **** 5100'
}

@test "Alertmanager annotations carry no card number" {
	monitoring
	echo '{"id":"e1","type":"PaymentProcessed","subject":"payment-4111111111111111","data":{"cards":{"5105105105105100":{"cvv":"1"}}}}' >leak
	run audit-scan --alertmanager "$ALERTMANAGER" leak
	assert_failure 1
	run bash -c "curl -fs '$ALERTMANAGER/api/v2/alerts?filter=source%3D%22audit-scan%22'"
	assert_success
	[ "$(echo "$output" | jq length)" = 2 ]
	refute_output --partial 4111111111111111
	refute_output --partial 5105105105105100
	assert_output --partial 'payment-411111******1111'
}

@test "data nested deeper than 64 levels is reported as too deep to scan" {
	deep=$(python3 -c 'print("{\"a\":" * 70 + "\"4111111111111111\"" + "}" * 70)')
	run audit-scan <<<"{\"type\":\"A\",\"subject\":\"a-1\",\"data\":$deep}"
	assert_failure 1
	assert_output --partial '"finding":"pan_unmasked"'
	assert_output --partial 'nested more than 64 levels deep'
	refute_output --partial 4111111111111111
	# A card number found before the deep part keeps its own path.
	run audit-scan <<<"{\"type\":\"A\",\"subject\":\"a-1\",\"data\":{\"card\":\"4111111111111111\",\"z\":$deep}}"
	assert_output --partial '"detail":"card number 411111******1111 in data.card"'
	shallow=$(python3 -c 'print("{\"a\":" * 60 + "1" + "}" * 60)')
	run audit-scan <<<"{\"type\":\"A\",\"subject\":\"a-1\",\"data\":$shallow}"
	assert_success
	assert_output ''
}

# The store's pipeline on a SQLite log.
store_log() {
	evt-append -l shop.db <"$TESTDATA/stock.ndjson"
	evt-append -l shop.db <"$TESTDATA/orders.ndjson"
	evt-replay -l shop.db | saga-step all --only-new | evt-append -l shop.db
}

@test "--filtered: the PCI archive of audit-scan(1) has no integrity findings from the filter" {
	store_log
	# The example of the man page: no seq gaps or orphan causations that
	# the filter made, exit 0.
	run bash -c "evt-replay -l shop.db -t 'Payment*' | audit-scan --tag --filtered"
	assert_success
	refute_output --partial INTEGRITY
	[ "$(echo "$output" | jq -r .auditseverity | sort -u)" = info ]
	# Without --filtered the slice looks broken: that is what it is for.
	run bash -c "evt-replay -l shop.db -t 'Payment*' | audit-scan"
	assert_failure 1
	assert_output --partial seq_gap
	# A real gap or duplicate is still found in a slice.
	run bash -c "evt-replay -l shop.db -t 'Payment*' | sed -n '1p;1p' | audit-scan --filtered"
	assert_failure 1
	assert_output --partial duplicate_id
}

@test "a closed period's report is the same whenever it is made" {
	printf '%s\n' \
	  '{"id":"o1","type":"TransactionCreated","subject":"transaction-T1","time":"2026-11-24T21:00:00.000Z","data":{"transaction_id":"T1","total":5}}' \
	  '{"id":"d1","type":"TransactionCompleted","subject":"transaction-T1","time":"2026-11-25T00:30:00.000Z","causationid":"o1","data":{"transaction_id":"T1","total":5}}' >in
	# Run at 00:20 on the 25th (the outcome not yet there), then at 06:15.
	EVT_NOW=2026-11-25T00:20:00Z audit-scan --since 2026-11-24 --until 2026-11-25 --report <(head -1 in) >early || true
	EVT_NOW=2026-11-25T06:15:00Z audit-scan --since 2026-11-24 --until 2026-11-25 --report in >late || true
	diff <(sed 1d early) <(sed 1d late)
	grep -q 'stuck .* 1$' late
	# The next day's report sees the saga complete, and nothing stuck.
	run audit-scan --since 2026-11-25 --until 2026-11-26 --fail-on warning in
	assert_success
}


@test "Luhn: not fooled by a wrong check digit, lengths outside 13-19, or glued runs" {
	for v in '"4111111111111112"' '"411111111111"' '"41111111111111111111"' \
		'"4111-1111-1111-111"' '"2026-11-24"' '"+44 20 7946 0958"' \
		'"T4111111111111112"' '41.11111111111111' '""'; do
		[ -z "$(pan "$v")" ] || { echo "false positive: $v"; return 1; }
	done
	# A run of 20 digits holds a valid 16-digit prefix: not a card number.
	[ -z "$(pan '"41111111111111110000"')" ]
}

@test "the store data set: no critical finding, exit 0; --fail-on info: exit 1" {
	run audit-scan -l "$TESTDATA/store-log.ndjson"
	assert_success
	refute_output --partial '"critical"'
	run audit-scan -l "$TESTDATA/store-log.ndjson" --fail-on info
	assert_failure 1
	# stdin and -l agree
	cmp <(audit-scan -l "$TESTDATA/store-log.ndjson") <(audit-scan <"$TESTDATA/store-log.ndjson")
}

@test "a closed stdout: exit 74, quietly" {
	run bash -c 'audit-scan --tag "$TESTDATA/store-log.ndjson" | head -1 >/dev/null; echo ${PIPESTATUS[0]}'
	assert_output 74
}

@test "--help and --version" {
	run audit-scan --help
	assert_success
	assert_output --partial 'usage: audit-scan'
	run audit-scan --version
	assert_success
}

# Real Alertmanager and Pushgateway (Debian packages) on loopback ports.
monitoring() {
	command -v prometheus-alertmanager >/dev/null || skip "prometheus-alertmanager is not installed"
	scripts_dir="$ROOT/scripts"
	"$scripts_dir/monitoring" start "$BATS_TEST_TMPDIR/mon" >/dev/null
	. "$BATS_TEST_TMPDIR/mon/env"
}

teardown() {
	[ -d "$BATS_TEST_TMPDIR/mon" ] && "$ROOT/scripts/monitoring" stop "$BATS_TEST_TMPDIR/mon" || true
}

bad_events() {
	printf '%s\n' \
	  '{"type":"PaymentProcessed","subject":"payment-T1","id":"p1","seq":1,"version":1,"data":{"transaction_id":"T1","amount":5,"card":"4111 1111 1111 1111"}}' \
	  '{"type":"PaymentProcessed","subject":"payment-T2","id":"p2","seq":2,"version":1,"data":{"transaction_id":"T2","amount":5,"cvv":"123"}}' \
	  '{"type":"PaymentRefunded","subject":"payment-T3","id":"p3","seq":3,"version":1,"data":{"transaction_id":"T3","amount":5000}}'
}

@test "Alertmanager: one alert per critical finding, read back through its API" {
	monitoring
	bad_events >in
	run audit-scan --alertmanager "$ALERTMANAGER" in
	assert_failure 1
	assert_equal "$(echo "$output" | wc -l)" 4
	run bash -c "curl -fs '$ALERTMANAGER/api/v2/alerts?filter=source%3D%22audit-scan%22' \
		| jq -c 'sort_by(.labels.subject) | .[] | [.labels.alertname, .labels.severity, .labels.subject, .labels.tags, .annotations.detail, .annotations.seq]'"
	assert_output "$(printf '%s\n' \
		'["pan_unmasked","critical","payment-T1","PCI-DSS","card number 411111******1111 in data.card","1"]' \
		'["cvv_present","critical","payment-T2","PCI-DSS","card security code in data.cvv","2"]')"
}

@test "Pushgateway and --metrics: counts by type and finding, and the scan time" {
	monitoring
	bad_events >in
	EVT_NOW=2026-11-24T12:00:00Z run audit-scan --pushgateway "$PUSHGATEWAY" --metrics audit.prom --report in
	assert_failure 1
	assert_output --partial 'Findings: 2 critical, 1 warning, 1 info'
	metrics=$(curl -fs "$PUSHGATEWAY/metrics")
	grep -qx 'audit_events{instance="",job="audit-scan",type="PaymentProcessed"} 2' <<<"$metrics"
	grep -qx 'audit_findings{finding="large_refund",instance="",job="audit-scan",severity="warning"} 1' <<<"$metrics"
	grep -qx 'audit_findings{finding="duplicate_id",instance="",job="audit-scan",severity="critical"} 0' <<<"$metrics"
	grep -q '^audit_last_scan_timestamp_seconds{instance="",job="audit-scan"} 1.7955216e+09$' <<<"$metrics"
	# The textfile: the same counts, written whole (no temporary left).
	grep -qx 'audit_findings{finding="pan_unmasked",severity="critical"} 1' audit.prom
	grep -qx 'audit_last_scan_timestamp_seconds 1795521600.000' audit.prom
	[ "$(ls)" = "$(printf 'audit.prom\nin\nmon')" ]
}

@test "an unreachable or refusing endpoint: 69 after the scan, findings written" {
	monitoring
	bad_events >in
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run audit-scan --alertmanager "http://127.0.0.1:$port" in
	assert_failure 69
	assert_output --partial '"finding":"pan_unmasked"'
	assert_output --partial "127.0.0.1:$port"
	# The Pushgateway answers 404 to Alertmanager's path.
	run audit-scan --alertmanager "$PUSHGATEWAY" in
	assert_failure 69
	assert_output --partial 'HTTP status 404'
	run audit-scan --pushgateway "http://127.0.0.1:$port" --metrics m.prom in
	assert_failure 69
	[ -s m.prom ]
	# No findings worth alerting: nothing sent, nothing to fail.
	run audit-scan --alertmanager "http://127.0.0.1:$port" "$TESTDATA/store-log.ndjson"
	assert_success
}

@test "the cron script audits yesterday, keeps the report, alerts and pushes" {
	monitoring
	evt-append -l shop.db <"$TESTDATA/store-log.ndjson"
	bad_events | jq -c 'del(.seq, .version) | .time = "2026-11-24T20:00:00Z"' | evt-append -l shop.db
	EVT_NOW=2026-11-25T06:15:00Z run "$ROOT/scripts/audit-daily" shop.db reports \
		--alertmanager "$ALERTMANAGER" --pushgateway "$PUSHGATEWAY"
	assert_failure 1
	assert_line 'Period:   2026-11-24T00:00:00.000Z to 2026-11-25T00:00:00.000Z'
	assert_line 'Findings: 2 critical, 1 warning, 123 info'
	cmp <(echo "$output") reports/audit-2026-11-24.txt
	[ "$(jq -r .finding reports/findings-2026-11-24.ndjson | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" = \
		"cvv_present=1 large_refund=1 pan_unmasked=1 pii_present=64 saga_compensated=59 " ]
	[ "$(curl -fs "$ALERTMANAGER/api/v2/alerts?filter=source%3D%22audit-scan%22" | jq length)" = 2 ]
	curl -fs "$PUSHGATEWAY/metrics" | grep -q '^audit_findings{finding="pan_unmasked",instance="",job="audit-scan",severity="critical"} 1$'
}

@test "--report formats" {
	run audit-scan --report -o json "$TESTDATA/store-log.ndjson"
	assert_success
	[ "$(echo "$output" | jq -c '[.events, .sagas.completed, .findings.pii_present, .tags.GDPR]')" = '[1579,210,64,300]' ]
	run audit-scan --report -o csv "$TESTDATA/store-log.ndjson"
	assert_line --index 0 "$(printf 'section,name,count\r')"
	assert_line "$(printf 'saga,cancelled,90\r')"
	run audit-scan --report "$TESTDATA/store-log.ndjson"
	assert_line 'Events:   1579'
	assert_line 'Findings: 0 critical, 0 warning, 122 info'
	run audit-scan -o json "$TESTDATA/store-log.ndjson"
	assert_failure 64
}

@test "500 events with card numbers among random digit groups: each found, none printed whole" {
	python3 - <<'PY'
import json, random, subprocess
rng = random.Random(7)
cards = ["4111111111111111", "5105105105105100", "378282246310005", "6011000990139424",
         "3530111333300000", "4222222222222", "36227206271667", "4111111111111111110"]
def noise():
    return " ".join(str(rng.randint(0, 10**rng.randint(1, 4))) for _ in range(rng.randint(0, 3)))
def spaced(c):
    sep = rng.choice(["", " ", "-"])
    return sep.join(c[i:i + 4] for i in range(0, len(c), 4)) if sep else c
evs, want = [], []
for i in range(500):
    c = rng.choice(cards)
    text = (noise() + " " + spaced(c) + " " + noise()).strip()
    where = rng.randint(0, 3)
    data = {"note": "x"}
    subject = "x-%d" % i
    if where == 0: data = {"note": text}
    elif where == 1: data = {"a": [{"b": {text: "v"}}]}
    elif where == 2: subject = "payment-" + c
    else: data = {"deep": {"er": [1, 2, text]}}
    evs.append(json.dumps({"id": "e%d" % i, "type": "A", "subject": subject, "data": data}))
    want.append(c)
out = subprocess.run(["audit-scan", "--fail-on", "info"], input="\n".join(evs) + "\n",
                     capture_output=True, text=True).stdout
found = {}
for line in out.splitlines():
    f = json.loads(line)
    if f["finding"] == "pan_unmasked":
        found[f["id"]] = f["detail"]
for c in cards:
    assert c not in out, c
for i, c in enumerate(want):
    d = found.get("e%d" % i)
    # The first window found may be another card number: a shorter one
    # inside c (4111...1111 in a 19-digit one), or noise and c's first
    # digits that happen to make one.
    assert d and "card number " in d, (i, c, d, evs[i])
rep = subprocess.run(["audit-scan", "--report", "-o", "json"], input="\n".join(evs) + "\n",
                     capture_output=True, text=True).stdout
for c in cards:
    assert c not in rep, c
PY
}

# A shim that kills the program (SIGKILL) at its first fsync or fdatasync
# of a file whose path ends with $EVT_KILL_SYNC: a crash in mid-commit.
kill_sync_shim() {
	cat >shim.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void check(int fd) {
	const char *want = getenv("EVT_KILL_SYNC");
	char link[64], path[4096];
	ssize_t n;
	if (!want) return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0) return;
	path[n] = '\0';
	if ((size_t)n >= strlen(want) && strcmp(path + n - strlen(want), want) == 0)
		kill(getpid(), SIGKILL);
}
int fsync(int fd) { check(fd); return ((int (*)(int))dlsym(RTLD_NEXT, "fsync"))(fd); }
int fdatasync(int fd) { check(fd); return ((int (*)(int))dlsym(RTLD_NEXT, "fdatasync"))(fd); }
C
	cc -shared -fPIC -o shim.so shim.c -ldl
}

@test "--state: day by day, incremental runs report exactly what full scans do, crashes included" {
	L=$TESTDATA/store-log.ndjson
	kill_sync_shim
	# Periods cut at many points of the store's day, whose reactions are
	# all stamped 18:00, far out of seq order.
	cuts=(2026-11-24T00:00:00Z 2026-11-24T07:00:30Z 2026-11-24T07:01:00Z
		2026-11-24T07:01:30Z 2026-11-24T09:00:50Z 2026-11-24T09:10:00Z
		2026-11-24T10:00:00Z 2026-11-24T12:00:00Z 2026-11-24T18:00:00Z
		2026-11-24T18:00:00.001Z 2026-11-25T00:00:00Z)
	for ((i = 0; i + 1 < ${#cuts[@]}; i++)); do
		p=(--since "${cuts[i]}" --until "${cuts[i+1]}" --stuck-after 30m --fail-on info)
		st=0; audit-scan -l "$L" "${p[@]}" >full.ndjson || st=$?
		audit-scan -l "$L" "${p[@]}" --report -o json >full.json || true
		case $i in
		3)	# killed in mid-commit: the state stays as it was
			run env LD_PRELOAD="$PWD/shim.so" EVT_KILL_SYNC=st.db-wal \
				ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
				audit-scan -l "$L" "${p[@]}" --state st.db --report
			[ "$status" = 137 ] || { echo "not killed: $status"; return 1; } ;;
		6)	# killed while reading its input
			mkfifo in.fifo
			audit-scan --state st.db "${p[@]}" --report in.fifo >/dev/null & pid=$!
			exec 8>in.fifo
			head -1200 "$L" >&8
			sleep 0.3
			kill -9 $pid
			exec 8>&-
			wait $pid || true
			rm in.fifo ;;
		esac
		ist=0; audit-scan -l "$L" "${p[@]}" --state st.db --report -o json \
			--findings inc.ndjson >inc.json || ist=$?
		[ "$st" = "$ist" ] || { echo "period $i: exit $st, incremental $ist"; return 1; }
		diff -u full.ndjson inc.ndjson || { echo "period $i: findings differ"; return 1; }
		diff -u full.json inc.json || { echo "period $i: reports differ"; return 1; }
	done
	# The state ends where the last period ends: nothing left to read.
	[ "$(sqlite3 st.db 'select seq from audit_checkpoint')" = 1579 ]
	[ "$(stat -c %a st.db)" = 600 ]
	# A period the state has folded already cannot be reported from it.
	run audit-scan -l "$L" --state st.db --since 2026-11-24T12:00:00Z
	assert_failure 64
	assert_output --partial 'has folded events up to 2026-11-24T18:00:00.000Z'
}

@test "the cron script keeps a state: the next day reads only that day's events, as a full scan reports it" {
	evt-append -l shop.db <"$TESTDATA/store-log.ndjson"
	EVT_NOW=2026-11-25T06:15:00Z "$ROOT/scripts/audit-daily" shop.db reports >/dev/null
	[ "$(sqlite3 reports/audit-state.db 'select seq, events from audit_checkpoint')" = "1579|1579" ]
	# The next day: twenty orders, which never get an outcome.
	jq -c 'select(.type == "TransactionCreated") | del(.seq, .version)
		| .id += "-b" | .subject += "b" | .data.transaction_id += "b"
		| .time = "2026-11-25T10:00:00.000Z"' "$TESTDATA/store-log.ndjson" | head -20 | evt-append -l shop.db
	EVT_NOW=2026-11-26T06:15:00Z run "$ROOT/scripts/audit-daily" shop.db reports
	assert_success
	assert_line 'Events:   20'
	assert_line 'Findings: 0 critical, 20 warning, 3 info'
	[ "$(sqlite3 reports/audit-state.db 'select seq, events from audit_checkpoint')" = "1599|1599" ]
	EVT_NOW=2026-11-26T06:15:00Z audit-scan -l shop.db --since 2026-11-25 --until 2026-11-26 --report >full.txt || true
	# The same report, and the chain's line the script adds.
	sed 1d full.txt | cmp - <(sed 1d reports/audit-2026-11-25.txt | head -n -2)
	tail -1 reports/audit-2026-11-25.txt | grep -q '^Chain:    verified to seq 1599, extends the checkpoint of 2026-11-24$'
	EVT_NOW=2026-11-26T06:15:00Z audit-scan -l shop.db --since 2026-11-25 --until 2026-11-26 | cmp - reports/findings-2026-11-25.ndjson
	# That day again: refused, the files of the first run kept.
	EVT_NOW=2026-11-26T06:15:00Z run "$ROOT/scripts/audit-daily" shop.db reports
	assert_failure 64
	[ -s reports/findings-2026-11-25.ndjson ]
}

@test "--state: one run at a time; a second gets 75, a file that is not a state 65" {
	head -5 "$TESTDATA/store-log.ndjson" | audit-scan --state st.db >/dev/null
	mkfifo in.fifo
	audit-scan --state st.db in.fifo >/dev/null & pid=$!
	exec 8>in.fifo
	sed -n 6,10p "$TESTDATA/store-log.ndjson" >&8
	sleep 0.3
	run audit-scan --state st.db "$TESTDATA/store-log.ndjson"
	assert_failure 75
	assert_output --partial 'another audit-scan is using it'
	exec 8>&-
	wait $pid
	[ "$(sqlite3 st.db 'select seq from audit_checkpoint')" = 10 ]
	echo 'not a database' >bad.db
	run audit-scan --state bad.db "$TESTDATA/store-log.ndjson"
	assert_failure 65
	run audit-scan --state missing-dir/st.db "$TESTDATA/store-log.ndjson"
	assert_failure 66
}

@test "--state split at many points: the run after the split finds what a full scan finds after it" {
	L=$TESTDATA/store-log.ndjson
	# Findings that a full scan makes, with the events after the split
	# altered: a duplicate, a gap, a refund too many, an unknown cause.
	{ cat "$L"
	  printf '%s\n' \
	    '{"type":"PaymentRefunded","subject":"payment-T1001","id":"x1","seq":1580,"version":5,"time":"2026-11-24T19:00:00Z","causationid":"nowhere","data":{"transaction_id":"T1001","amount":500.38}}' \
	    '{"type":"PaymentProcessed","subject":"payment-T1002","id":"x1","seq":1582,"version":2,"time":"2026-11-24T19:00:01Z","data":{"transaction_id":"T1002","amount":1}}'
	} >log.ndjson
	audit-scan -l log.ndjson --fail-on info >full.ndjson || true
	for k in 1 50 97 101 400 777 1000 1578 1580; do
		rm -f st.db*
		head -$k log.ndjson | audit-scan --state st.db >/dev/null || true
		audit-scan -l log.ndjson --state st.db >inc.ndjson || true
		jq -c --argjson k $k 'select(.seq == null or .seq > $k)' full.ndjson | diff -u - inc.ndjson \
			|| { echo "split after $k"; return 1; }
	done
	# What was compared holds the findings the changes make.
	for f in over_refund duplicate_id seq_gap version_gap orphan_causation; do
		grep -q "\"finding\":\"$f\".*\"seq\":158" full.ndjson || { echo "no $f"; return 1; }
	done
}

@test "--since and --until compare exactly past the millisecond" {
	printf '%s\n' '{"id":"a","type":"Note","subject":"n-1","time":"2026-11-24T10:00:00.000Z","data":{}}' \
		'{"id":"b","type":"Note","subject":"n-1","time":"2026-11-24T10:00:00.001Z","data":{}}' >in
	[ "$(audit-scan --report -o json --since 2026-11-24T10:00:00.0005Z in | jq .events)" = 1 ]
	[ "$(audit-scan --report -o json --until 2026-11-24T10:00:00.0005Z in | jq .events)" = 1 ]
	[ "$(audit-scan --report -o json --since 2026-11-24T10:00:00.000Z in | jq .events)" = 2 ]
}

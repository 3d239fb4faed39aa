# Sourced by the saga-orch golden cases (testdata/golden/saga-orch-*/cmd):
# a log, the orchestrator's rounds over it, and stand-in participants.
#   orch_log FILE...       start $ORCH_LOG (log.ndjson) with the events in FILE...
#   orch_round [TIME] [-d DEF]...   one filter round at EVT_NOW=TIME
#                          (default: the case's), appended to the log
#   orch_step SERVICE      the participant (saga-step SERVICE) answers
#                          what it owes, appended to the log
#   orch_reply COMMAND REPLY [DATA [TIME]]   answer the last command of
#                          type COMMAND (test/orch-reply): a scripted reply
#                          no participant would give
#   orch_show              the log, one line per event, for people
ORCH_LOG=${ORCH_LOG:-log.ndjson}
ORCH_DEFS=${ORCH_DEFS:-"-d $TESTDATA/sagas/order.json"}
orch_log() { cat "$@" | evt-append -l "$ORCH_LOG"; }
orch_round() {
	local now=${1:-$EVT_NOW}
	[ $# -gt 0 ] && shift
	evt-replay -l "$ORCH_LOG" | EVT_NOW=$now saga-orch ${@:-$ORCH_DEFS} \
		--only-new | evt-append -l "$ORCH_LOG"
}
orch_step() {
	evt-replay -l "$ORCH_LOG" | saga-step "$1" --only-new |
		evt-append -l "$ORCH_LOG"
}
orch_reply() {
	evt-replay -l "$ORCH_LOG" -t "$1" -n 1 --reverse |
		"$TESTDATA/../test/orch-reply" "$@" | evt-append -l "$ORCH_LOG"
}
orch_show() {
	evt-replay -l "$ORCH_LOG" | jq -r '[.seq, .time[11:23], .type, .subject,
		(.data | del(.saga, .key, .hash, .transaction_id, .items, .payment)
		 | tostring)] | join(" ")'
}

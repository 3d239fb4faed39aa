# The CloudEvents 1.0 conformance checker (issue 13), written once: every
# program that writes events sends its output through `conforms`
# (test/conformance.bats). Load it after helper.bash.
#
# The rules are those of the CloudEvents 1.0 core spec and its JSON format
# (structured mode, one event per line):
#   - each line is one JSON object;
#   - the required attributes id, source, specversion, type are present and
#     non-empty strings; specversion is "1.0";
#   - every attribute name (every member but data and data_base64) is of
#     [a-z0-9], 1 to 20 characters;
#   - every attribute value is a scalar: a string, a boolean or an integer
#     in CloudEvents' 32-bit range (no object, array, null or fraction);
#     strings hold no control characters (U+0000-U+001F, U+007F-U+009F),
#     which no binary-mode header could carry;
#   - the optional attributes have their spec types: subject, datacontenttype
#     non-empty strings; time an RFC 3339 timestamp; dataschema an absolute
#     URI; source a URI-reference;
#   - data may be anything, but not together with data_base64 (a string);
# and the types of the extension attributes evt defines: seq and version
# positive integers, correlationid and causationid non-empty strings,
# audittags a string, auditseverity info, warning or critical, and
# expectedversion an integer >= 0, "none", "exists" or "any" (a condition on
# the way into the log: evt-append takes it off; saga-step writes it on its
# stock decisions).

# The jq program: reads raw lines, writes "line N: reason" per violation
# and, last, "events N".
CONFORMANCE_JQ='
def rfc3339:
  test("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
  and ((.[0:4] | tonumber) as $y | (.[5:7] | tonumber) as $m
       | (.[8:10] | tonumber) <= ([31, (if ($y % 4 == 0 and ($y % 100 != 0 or $y % 400 == 0)) then 29 else 28 end),
                                   31, 30, 31, 30, 31, 31, 30, 31, 30, 31][$m - 1]));
def nonempty: type == "string" and length > 0;
def attr($k): "attribute \"\($k)\": ";
def violations:
  if type != "object" then "not a JSON object"
  else . as $e
  | (("id", "source", "specversion", "type") as $k
     | if has($k) | not then attr($k) + "required, missing"
       elif $e[$k] | nonempty | not then attr($k) + "must be a non-empty string"
       else empty end),
    (if has("specversion") and .specversion != "1.0" then attr("specversion") + "must be \"1.0\"" else empty end),
    (if has("data") and has("data_base64") then "data and data_base64 together" else empty end),
    (if has("data_base64") and (.data_base64 | type) != "string" then "data_base64: must be a string" else empty end),
    (to_entries[] | select(.key != "data" and .key != "data_base64") | .key as $k | .value as $v
     | (if $k | test("^[a-z0-9]+$") | not then attr($k) + "name not of [a-z0-9]"
        elif ($k | length) > 20 then attr($k) + "name longer than 20 characters"
        else empty end),
       (($v | type) as $t
        | if $t == "object" or $t == "array" or $t == "null" then attr($k) + "value is \($t), not a scalar"
          elif $t == "number" and ($v != ($v | floor)) then attr($k) + "number \($v) is not an integer"
          elif $t == "number" and ($v < -2147483648 or $v > 2147483647) then attr($k) + "integer \($v) out of the 32-bit range"
          elif $t == "string" and ($v | test("[\u0000-\u001f\u007f-\u009f]")) then attr($k) + "string holds a control character"
          else empty end)),
    (("subject", "datacontenttype", "dataschema", "correlationid", "causationid") as $k
     | if has($k) and ($e[$k] | nonempty | not) then attr($k) + "must be a non-empty string" else empty end),
    (if has("time") and ((.time | type) != "string" or (.time | rfc3339 | not)) then attr("time") + "not an RFC 3339 timestamp" else empty end),
    (if has("dataschema") and (.dataschema | type) == "string" and (.dataschema | test("^[A-Za-z][A-Za-z0-9+.-]*:") | not) then attr("dataschema") + "not an absolute URI" else empty end),
    (if (.source | type) == "string" and (.source | test("^[A-Za-z0-9._~:/?#\\[\\]@!$&'"'"'()*+,;=%-]*$") | not) then attr("source") + "not a URI-reference" else empty end),
    (("seq", "version") as $k
     | if has($k) and (($e[$k] | type) != "number" or $e[$k] < 1 or $e[$k] != ($e[$k] | floor)) then attr($k) + "must be a positive integer" else empty end),
    (if has("audittags") and (.audittags | type) != "string" then attr("audittags") + "must be a string" else empty end),
    (if has("auditseverity") and ([.auditseverity] | inside(["info", "warning", "critical"]) | not) then attr("auditseverity") + "must be info, warning or critical" else empty end),
    (if has("expectedversion") and (.expectedversion | (type == "number" and . >= 0 and . == floor) or (type == "string" and ([.] | inside(["none", "exists", "any"]))) | not) then attr("expectedversion") + "must be an integer >= 0, or none, exists or any" else empty end)
  end;
foreach (inputs | select(test("^[ \t\r]*$") | not)) as $l ([0, null]; [.[0] + 1, $l]; .)
  | .[0] as $n
  | ((.[1] | try fromjson catch "\u0000") as $e
     | if $e == "\u0000" then "line \($n): not JSON"
       else ($e | violations | "line \($n): \(.)") end),
    "events \($n)"
'

# conforms [MIN] < NDJSON: check every event on standard input; print each
# violation as "line N: reason" on standard output and fail when there is
# one, or when fewer than MIN events (default 1) came: a producer that
# wrote nothing has not shown anything.
conforms() {
	local min=${1:-1} out n
	out=$(jq -nrR "$CONFORMANCE_JQ") || { echo "conforms: jq failed" >&2; return 2; }
	n=$(printf '%s\n' "$out" | sed -n 's/^events //p' | tail -1)
	n=${n:-0}
	out=$(printf '%s\n' "$out" | grep -v '^events ' || true)
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		return 1
	fi
	if [ "$n" -lt "$min" ]; then
		echo "only $n events, expected at least $min"
		return 1
	fi
	return 0
}

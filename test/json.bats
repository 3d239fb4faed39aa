#!/usr/bin/env bats
# The hand-written JSON scanner against Python's json module, on valid
# payloads and on thousands of mutations of them: evt-append must take
# exactly the lines Python takes (strictly: no NaN, no lone surrogates, no
# invalid UTF-8), and store each payload with the same meaning.

load helper

@test "scanner agrees with a strict JSON parser on 3000 mutated payloads" {
	python3 - <<'PY'
import json, random
rng = random.Random(42)
seeds = [
    '{}', '{"a":[]}', '{"a":{"b":{"c":[1,2,{"d":null}]}}}',
    '{"n":[0,-0,1.5,-2.25e-3,1E+9,12345678901234567890,0.1]}',
    '{"s":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t","u":"é😀"}',
    '{"t":true,"f":false,"z":null,"e":"","w":" \\u0000 "}',
    '{ "sp" : [ 1 , 2 ] ,\t"x":{ } }',
    '{"deep":' + '['*100 + ']'*100 + '}',
]
alphabet = list('{}[]",:0123456789.-+eEtrufalsn\\u /') + ['\x01', '\xff', 'é', ' ']
lines, verdicts = [], []
def strict_ok(text):
    try:
        raw = text.encode('utf-8', 'surrogatepass')
        raw.decode('utf-8')          # invalid UTF-8 (lone surrogates) fails
        v = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, UnicodeError, RecursionError):
        return False
    def walk(x):
        if isinstance(x, str):
            x.encode('utf-8')            # a decoded lone surrogate fails
        elif isinstance(x, list):
            for y in x: walk(y)
        elif isinstance(x, dict):
            for k, y in x.items(): walk(k); walk(y)
    try:
        walk(v)
    except UnicodeError:
        return False
    return isinstance(v, dict)
for i in range(3000):
    s = rng.choice(seeds)
    for _ in range(rng.randint(0, 3)):
        op, p = rng.randint(0, 2), rng.randint(0, len(s))
        c = rng.choice(alphabet)
        if op == 0: s = s[:p] + c + s[p:]
        elif op == 1 and len(s) > 1: s = s[:p] + s[p+1:]
        else: s = s[:p] + c + s[p+1:]
    if '\n' in s or '\r' in s:
        continue
    lines.append('{"type":"T","subject":"s-1","data":' + s + '}')
    verdicts.append(strict_ok(s))
with open('in.ndjson', 'w', encoding='utf-8', errors='surrogateescape') as f:
    for l in lines: f.write(l + '\n')
with open('expected', 'w') as f:
    for i, ok in enumerate(verdicts, 1):
        if not ok: f.write('%d\n' % i)
print(len(lines), sum(verdicts))
PY
	evt-append --reject rej -l j.ndjson <in.ndjson 2>/dev/null
	jq -r .line rej >got
	diff -u expected got
	# What was taken means what Python says it means.
	python3 - <<'PY'
import json
src = [l for i, l in enumerate(open('in.ndjson', encoding='utf-8', errors='surrogateescape'), 1)]
bad = set(int(x) for x in open('expected'))
want = [json.loads(l)['data'] for i, l in enumerate(src, 1) if i not in bad]
got = [json.loads(l)['data'] for l in open('j.ndjson', encoding='utf-8')]
assert want == got, "payloads differ"
PY
}

/* The JSON scanner (lib/json.c) against jansson, which the programs that
 * look inside payloads use: a text one accepts the other accepts (but for
 * numbers jansson cannot hold and nesting past EVT_JSON_MAXDEPTH); the
 * compacted copy is compact already and holds the same value, read
 * through the scanner's own accessors (members, elements, decoded
 * strings, integers). */
#include <jansson.h>

#include "json.h"
#include "fuzz.h"

static void
same(const char *raw, size_t n, const json_t *j, struct evt_buf *tmp)
{
	size_t pos = 0, off, len, koff, klen, count = 0;
	long long v;

	switch (raw[0]) {
	case '{':
		FUZZ_CHECK(json_is_object(j));
		while (evt_json_object_next(raw, n, &pos, &koff, &klen, &off, &len))
			count++;
		if (count != json_object_size(j))
			return;		/* a key repeated: jansson keeps the last */
		pos = 0;
		while (evt_json_object_next(raw, n, &pos, &koff, &klen, &off, &len)) {
			evt_json_str_decode(raw + koff, klen, tmp);
			const json_t *m = json_object_getn(j, tmp->p, tmp->len);
			FUZZ_CHECK(m != NULL);
			same(raw + off, len, m, tmp);
		}
		return;
	case '[':
		FUZZ_CHECK(json_is_array(j));
		while (evt_json_array_next(raw, n, &pos, &off, &len))
			same(raw + off, len, json_array_get(j, count++), tmp);
		FUZZ_CHECK(count == json_array_size(j));
		return;
	case '"':
		FUZZ_CHECK(json_is_string(j));
		evt_json_str_decode(raw, n, tmp);
		FUZZ_CHECK(tmp->len == json_string_length(j) &&
		    memcmp(tmp->p, json_string_value(j), tmp->len) == 0);
		return;
	case 't': FUZZ_CHECK(json_is_true(j)); return;
	case 'f': FUZZ_CHECK(json_is_false(j)); return;
	case 'n': FUZZ_CHECK(json_is_null(j)); return;
	default:
		FUZZ_CHECK(json_is_number(j));
		if (evt_json_int(raw, n, &v) == 0)
			FUZZ_CHECK(json_is_integer(j) && json_integer_value(j) == v);
		else
			FUZZ_CHECK(!json_is_integer(j));
	}
}

/* The deepest nesting of a text, strings skipped. */
static size_t
depth(const uint8_t *p, size_t n)
{
	size_t d = 0, max = 0;
	int in = 0;

	for (size_t i = 0; i < n; i++) {
		if (in) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in = 0;
		} else if (p[i] == '"')
			in = 1;
		else if (p[i] == '[' || p[i] == '{') {
			if (++d > max)
				max = d;
		} else if ((p[i] == ']' || p[i] == '}') && d)
			d--;
	}
	return max;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_jobj o, o2;
	static struct evt_buf tmp;
	struct evt_err err;
	json_error_t je;
	const char *in = (const char *)data;

	int ok = evt_json_scan(&o, in, size, 1, &err) == 0;
	json_t *j = json_loadb(in, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	size_t d = depth(data, size);

	FUZZ_CHECK(ok == (evt_json_scan(&o2, in, size, 0, &err) == 0));
	if (!ok) {
		/* jansson stops at a NUL byte (the scanner does not). */
		if (j != NULL && d <= EVT_JSON_MAXDEPTH &&
		    memchr(data, '\0', size) == NULL) {
			fprintf(stderr, "jansson takes what the scanner refuses: "
			    "%s\n", err.msg);
			abort();
		}
		json_decref(j);
		return 0;
	}
	if (j == NULL) {
		/* Only what jansson cannot hold. */
		if (strstr(je.text, "too big") == NULL &&
		    strstr(je.text, "overflow") == NULL &&
		    strstr(je.text, "NUL byte in object key") == NULL) {
			fprintf(stderr, "the scanner takes what jansson refuses: "
			    "%s\n", je.text);
			abort();
		}
		return 0;
	}
	FUZZ_CHECK(d <= EVT_JSON_MAXDEPTH);
	/* Compacted once is compact. */
	FUZZ_CHECK(evt_json_scan(&o2, o.out.p, o.out.len, 1, &err) == 0);
	FUZZ_CHECK(o2.out.len == o.out.len &&
	    memcmp(o2.out.p, o.out.p, o.out.len) == 0);
	same(o.out.p, o.out.len, j, &tmp);
	json_decref(j);
	return 0;
}

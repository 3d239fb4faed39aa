/*
 * json.h - a validating scanner for one JSON text, for the hot paths that
 * only copy JSON (evt-append, the log readers).
 *
 * It checks the whole text against RFC 8259 (strings must be valid UTF-8,
 * no control characters, nesting at most EVT_JSON_MAXDEPTH) and, when the
 * text is an object, records where each top-level member's key and value
 * are, so a caller can pick out the few fields it needs and copy the rest
 * byte for byte. Programs that must look inside payloads use jansson.
 */
#ifndef EVT_JSON_H
#define EVT_JSON_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define EVT_JSON_MAXDEPTH 512

enum evt_jtype {
	EVT_J_NULL, EVT_J_FALSE, EVT_J_TRUE, EVT_J_NUMBER, EVT_J_STRING,
	EVT_J_OBJECT, EVT_J_ARRAY
};

struct evt_jmember {
	size_t koff, klen;	/* key bytes between the quotes, still escaped */
	size_t voff, vlen;	/* the whole value; strings include quotes */
	enum evt_jtype type;
	int kesc;		/* the key contains a backslash escape */
};

/*
 * One scanned text. base points at the bytes the offsets refer to: the
 * compacted copy in out when scanned with compact set, else the input.
 * The struct owns out and m; reuse it across lines, free with
 * evt_json_free.
 */
struct evt_jobj {
	const char *base;
	struct evt_buf out;
	struct evt_jmember *m;
	size_t n, cap;
	enum evt_jtype type;	/* type of the top-level value */
};

/*
 * Scan in[0..len). With compact set, insignificant white space is dropped
 * and the result is in o->out. Returns 0, or -1 with err (EX_DATAERR, a
 * reason naming the byte column) when the text is not JSON.
 */
int evt_json_scan(struct evt_jobj *o, const char *in, size_t len, int compact,
    struct evt_err *err);
void evt_json_free(struct evt_jobj *o);

/* Index of the member named key (unescaped), or -1. */
int evt_json_find(const struct evt_jobj *o, const char *key);

/*
 * Decode the string value raw[0..n) (with its quotes) into out, replacing
 * its contents. The text must have come through evt_json_scan.
 */
void evt_json_str_decode(const char *raw, size_t n, struct evt_buf *out);

/* A span of bytes: p NULL when absent. */
struct evt_sv {
	const char *p;
	size_t n;
};

/* The raw value of member key of o when it has type t, else p NULL. */
struct evt_sv evt_json_get(const struct evt_jobj *o, const char *key,
    enum evt_jtype t);

/*
 * The string member key of o, decoded: the bytes between its quotes, or,
 * when it has escapes, their decoding appended to arena, which must have
 * room for it already (reserve the scanned text's length + 1) so that
 * earlier results stay valid. p NULL when absent or not a string.
 */
struct evt_sv evt_json_get_str(const struct evt_jobj *o, const char *key,
    struct evt_buf *arena);

/*
 * The elements of an array text a[0..n) that came through evt_json_scan,
 * one per call: *pos starts at 0 and is kept between calls. Returns 1 with
 * the span of the next element in *off and *len, 0 after the last.
 */
int evt_json_array_next(const char *a, size_t n, size_t *pos, size_t *off,
    size_t *len);

/*
 * The members of an object text o[0..n) that came through evt_json_scan,
 * one per call, as evt_json_array_next: the key's span with its quotes in
 * *koff, *klen, the value's in *voff, *vlen.
 */
int evt_json_object_next(const char *o, size_t n, size_t *pos, size_t *koff,
    size_t *klen, size_t *voff, size_t *vlen);

/* Parse the number raw[0..n) as an integer; -1 if it has a fraction or
 * exponent or does not fit in long long. */
int evt_json_int(const char *raw, size_t n, long long *v);

#endif

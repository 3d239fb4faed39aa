#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

struct scan {
	const char *p, *end, *start;
	struct evt_buf *out;	/* NULL when not compacting */
	struct evt_err *err;
	int depth;
};

static int
fail(struct scan *s, const char *what)
{
	if (s->p >= s->end)
		return evt_err_set(s->err, EX_DATAERR,
		    "not JSON: %s at end of input", what);
	unsigned char c = (unsigned char)*s->p;
	if (c >= 0x20 && c < 0x7f)
		return evt_err_set(s->err, EX_DATAERR,
		    "not JSON: %s at column %zu ('%c')", what,
		    (size_t)(s->p - s->start) + 1, c);
	return evt_err_set(s->err, EX_DATAERR,
	    "not JSON: %s at column %zu (byte 0x%02x)", what,
	    (size_t)(s->p - s->start) + 1, c);
}

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Emit in[from..s->p) to the compacted output. */
static void
emit(struct scan *s, const char *from)
{
	if (s->out)
		evt_buf_add(s->out, from, (size_t)(s->p - from));
}

static size_t
pos(struct scan *s)
{
	return s->out ? s->out->len : (size_t)(s->p - s->start);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int
hex4(struct scan *s, unsigned *v)
{
	int i, h;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (s->p >= s->end || (h = hexval((unsigned char)*s->p)) < 0)
			return fail(s, "bad \\u escape");
		*v = *v << 4 | (unsigned)h;
		s->p++;
	}
	return 0;
}

/* Scan a string starting at the opening quote; sets *esc if it has any
 * backslash. */
static int
scan_string(struct scan *s, int *esc)
{
	const char *from = s->p;

	s->p++;
	*esc = 0;
	for (;;) {
		/* Fast path: plain ASCII. */
		while (s->p < s->end) {
			unsigned char c = (unsigned char)*s->p;
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
				break;
			s->p++;
		}
		if (s->p >= s->end)
			return fail(s, "unterminated string");
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			break;
		}
		if (c < 0x20)
			return fail(s, "control character in string");
		if (c == '\\') {
			*esc = 1;
			s->p++;
			if (s->p >= s->end)
				return fail(s, "unterminated string");
			switch (*s->p) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				s->p++;
				break;
			case 'u': {
				unsigned v, w;
				s->p++;
				if (hex4(s, &v) < 0)
					return -1;
				if (v >= 0xDC00 && v <= 0xDFFF)
					return fail(s, "lone low surrogate in \\u escape");
				if (v >= 0xD800 && v <= 0xDBFF) {
					if (s->end - s->p < 2 || s->p[0] != '\\' ||
					    s->p[1] != 'u')
						return fail(s, "lone high surrogate in \\u escape");
					s->p += 2;
					if (hex4(s, &w) < 0)
						return -1;
					if (w < 0xDC00 || w > 0xDFFF)
						return fail(s, "bad surrogate pair in \\u escape");
				}
				break;
			}
			default:
				return fail(s, "bad escape in string");
			}
			continue;
		}
		/* UTF-8 multibyte sequence, validated per RFC 3629. */
		{
			size_t n = evt_utf8_len((const unsigned char *)s->p,
			    (size_t)(s->end - s->p));

			if (n == 0)
				return fail(s, "invalid UTF-8 in string");
			s->p += n;
		}
	}
	emit(s, from);
	return 0;
}

static int
digits(struct scan *s)
{
	const char *d = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > d ? 0 : fail(s, "digit expected in number");
}

static int
scan_number(struct scan *s)
{
	const char *from = s->p;

	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (s->p < s->end && *s->p >= '1' && *s->p <= '9')
		digits(s);
	else
		return fail(s, "digit expected in number");
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (digits(s) < 0)
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (digits(s) < 0)
			return -1;
	}
	emit(s, from);
	return 0;
}

static int
scan_word(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return fail(s, "unexpected character");
	const char *from = s->p;
	s->p += n;
	emit(s, from);
	return 0;
}

static int scan_value(struct scan *s, enum evt_jtype *t, struct evt_jobj *top);

static void
emitc(struct scan *s, char c)
{
	if (s->out)
		evt_buf_addc(s->out, c);
}

static int
scan_container(struct scan *s, int obj, struct evt_jobj *top)
{
	char close = obj ? '}' : ']';
	enum evt_jtype t;
	int esc;

	if (++s->depth > EVT_JSON_MAXDEPTH)
		return fail(s, "nesting too deep");
	emitc(s, *s->p);
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		emitc(s, close);
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		struct evt_jmember *m = NULL;

		if (obj) {
			if (s->p >= s->end || *s->p != '"')
				return fail(s, "member name expected");
			if (top) {
				if (top->n == top->cap) {
					top->cap = top->cap ? top->cap * 2 : 16;
					top->m = realloc(top->m,
					    top->cap * sizeof(*top->m));
					if (top->m == NULL)
						abort();
				}
				m = &top->m[top->n++];
				m->koff = pos(s) + 1;
			}
			if (scan_string(s, &esc) < 0)
				return -1;
			if (m) {
				m->klen = pos(s) - 1 - m->koff;
				m->kesc = esc;
			}
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return fail(s, "':' expected after member name");
			emitc(s, ':');
			s->p++;
			skip_ws(s);
			if (m)
				m->voff = pos(s);
		}
		if (scan_value(s, &t, NULL) < 0)
			return -1;
		if (m) {
			m->vlen = pos(s) - m->voff;
			m->type = t;
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			emitc(s, ',');
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			emitc(s, close);
			s->p++;
			break;
		}
		return fail(s, obj ? "',' or '}' expected" : "',' or ']' expected");
	}
	s->depth--;
	return 0;
}

static int
scan_value(struct scan *s, enum evt_jtype *t, struct evt_jobj *top)
{
	int esc;

	if (s->p >= s->end)
		return fail(s, "value expected");
	switch (*s->p) {
	case '{':
		*t = EVT_J_OBJECT;
		return scan_container(s, 1, top);
	case '[':
		*t = EVT_J_ARRAY;
		return scan_container(s, 0, NULL);
	case '"':
		*t = EVT_J_STRING;
		return scan_string(s, &esc);
	case 't':
		*t = EVT_J_TRUE;
		return scan_word(s, "true", 4);
	case 'f':
		*t = EVT_J_FALSE;
		return scan_word(s, "false", 5);
	case 'n':
		*t = EVT_J_NULL;
		return scan_word(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
			*t = EVT_J_NUMBER;
			return scan_number(s);
		}
		return fail(s, "unexpected character");
	}
}

int
evt_json_scan(struct evt_jobj *o, const char *in, size_t len, int compact,
    struct evt_err *err)
{
	struct scan s = { in, in + len, in, compact ? &o->out : NULL, err, 0 };

	o->n = 0;
	evt_buf_reset(&o->out);
	skip_ws(&s);
	if (s.p >= s.end)
		return evt_err_set(err, EX_DATAERR, "not JSON: empty line");
	if (scan_value(&s, &o->type, o) < 0)
		return -1;
	skip_ws(&s);
	if (s.p < s.end)
		return fail(&s, "trailing characters after the JSON value");
	if (compact && o->out.p == NULL)
		evt_buf_grow(&o->out, 1);
	o->base = compact ? o->out.p : in;
	return 0;
}

void
evt_json_free(struct evt_jobj *o)
{
	evt_buf_free(&o->out);
	free(o->m);
	o->m = NULL;
	o->n = o->cap = 0;
}

static int
key_equals(const struct evt_jobj *o, const struct evt_jmember *m,
    const char *key, size_t klen)
{
	if (!m->kesc)
		return m->klen == klen && memcmp(o->base + m->koff, key, klen) == 0;
	/* Rare: an escaped key. Decode it and compare. */
	struct evt_buf b = EVT_BUF_INIT;
	evt_json_str_decode(o->base + m->koff - 1, m->klen + 2, &b);
	int eq = b.len == klen && memcmp(b.p, key, klen) == 0;
	evt_buf_free(&b);
	return eq;
}

int
evt_json_find(const struct evt_jobj *o, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < o->n; i++)
		if (key_equals(o, &o->m[i], key, klen))
			return (int)i;
	return -1;
}

struct evt_sv
evt_json_get(const struct evt_jobj *o, const char *key, enum evt_jtype t)
{
	int i = evt_json_find(o, key);

	if (i < 0 || o->m[i].type != t)
		return (struct evt_sv){ NULL, 0 };
	return (struct evt_sv){ o->base + o->m[i].voff, o->m[i].vlen };
}

struct evt_sv
evt_json_get_str(const struct evt_jobj *o, const char *key,
    struct evt_buf *arena)
{
	struct evt_sv raw = evt_json_get(o, key, EVT_J_STRING), v;

	if (raw.p == NULL)
		return raw;
	if (memchr(raw.p, '\\', raw.n) == NULL)
		return (struct evt_sv){ raw.p + 1, raw.n - 2 };
	/* Decode in place at the arena's end (decoding only shrinks). */
	size_t at = arena->len;
	if (arena->cap - at < raw.n)
		abort();	/* the caller did not reserve: a bug */
	struct evt_buf tail = { arena->p + at, 0, arena->cap - at };
	evt_json_str_decode(raw.p, raw.n, &tail);
	v.p = arena->p + at;
	v.n = tail.len;
	arena->len += tail.len + 1;
	return v;
}

static void
put_utf8(struct evt_buf *b, unsigned v)
{
	char u[4];
	size_t n;

	if (v < 0x80) {
		u[0] = (char)v; n = 1;
	} else if (v < 0x800) {
		u[0] = (char)(0xC0 | v >> 6); u[1] = (char)(0x80 | (v & 0x3F)); n = 2;
	} else if (v < 0x10000) {
		u[0] = (char)(0xE0 | v >> 12); u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
		u[2] = (char)(0x80 | (v & 0x3F)); n = 3;
	} else {
		u[0] = (char)(0xF0 | v >> 18); u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((v >> 6) & 0x3F)); u[3] = (char)(0x80 | (v & 0x3F));
		n = 4;
	}
	evt_buf_add(b, u, n);
}

static unsigned
hexat(const char *p)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 4 | (unsigned)hexval((unsigned char)p[i]);
	return v;
}

void
evt_json_str_decode(const char *raw, size_t n, struct evt_buf *out)
{
	const char *p = raw + 1, *end = raw + n - 1, *run = p;

	evt_buf_reset(out);
	evt_buf_grow(out, n);
	while (p < end) {
		if (*p != '\\') {
			p++;
			continue;
		}
		evt_buf_add(out, run, (size_t)(p - run));
		p++;
		switch (*p) {
		case 'b': evt_buf_addc(out, '\b'); break;
		case 'f': evt_buf_addc(out, '\f'); break;
		case 'n': evt_buf_addc(out, '\n'); break;
		case 'r': evt_buf_addc(out, '\r'); break;
		case 't': evt_buf_addc(out, '\t'); break;
		case 'u': {
			unsigned v = hexat(p + 1);
			p += 4;
			if (v >= 0xD800 && v <= 0xDBFF) {
				unsigned w = hexat(p + 3);
				v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
				p += 6;
			}
			put_utf8(out, v);
			break;
		}
		default: evt_buf_addc(out, *p); break;
		}
		p++;
		run = p;
	}
	evt_buf_add(out, run, (size_t)(end - run));
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The end of the value at p, in text known to be valid JSON. */
static size_t
skip_valid(const char *a, size_t n, size_t i)
{
	int depth = 0;

	do {
		char c = a[i];
		if (c == '"') {
			for (i++; a[i] != '"'; i++)
				if (a[i] == '\\')
					i++;
			i++;
		} else if (c == '{' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			depth--;
			i++;
		} else if (depth > 0) {
			i++;
		} else {
			while (i < n && !is_ws(a[i]) && a[i] != ',' &&
			    a[i] != ']' && a[i] != '}')
				i++;
		}
	} while (depth > 0);
	return i;
}

int
evt_json_array_next(const char *a, size_t n, size_t *pos, size_t *off,
    size_t *len)
{
	size_t i = *pos ? *pos : 1;	/* past the '[' */

	while (i < n && (is_ws(a[i]) || a[i] == ','))
		i++;
	if (i >= n || a[i] == ']') {
		*pos = n;
		return 0;
	}
	*off = i;
	i = skip_valid(a, n, i);
	*len = i - *off;
	*pos = i;
	return 1;
}

int
evt_json_object_next(const char *o, size_t n, size_t *pos, size_t *koff,
    size_t *klen, size_t *voff, size_t *vlen)
{
	size_t i = *pos ? *pos : 1;	/* past the '{' */

	while (i < n && (is_ws(o[i]) || o[i] == ','))
		i++;
	if (i >= n || o[i] != '"') {
		*pos = n;
		return 0;
	}
	*koff = i;
	i = skip_valid(o, n, i);
	*klen = i - *koff;
	while (i < n && (is_ws(o[i]) || o[i] == ':'))
		i++;
	*voff = i;
	i = skip_valid(o, n, i);
	*vlen = i - *voff;
	*pos = i;
	return 1;
}

int
evt_json_int(const char *raw, size_t n, long long *v)
{
	char tmp[32], *e;

	if (n == 0 || n >= sizeof(tmp) || memchr(raw, '.', n) ||
	    memchr(raw, 'e', n) || memchr(raw, 'E', n))
		return -1;
	memcpy(tmp, raw, n);
	tmp[n] = '\0';
	errno = 0;
	*v = strtoll(tmp, &e, 10);
	if (errno || *e)
		return -1;
	return 0;
}

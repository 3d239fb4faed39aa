#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "hmap.h"
#include "uuid.h"

static const char *const field_name[EVT_F_N] = {
	"specversion", "id", "source", "type", "subject", "time", "seq",
	"version", "correlationid", "causationid", "data", "expectedversion"
};

static int
field_of(const char *k, size_t n)
{
	for (int f = 0; f < EVT_F_N; f++)
		if (strlen(field_name[f]) == n && memcmp(field_name[f], k, n) == 0)
			return f;
	return -1;
}

static void
str_clear(struct evt_str *s)
{
	s->p = NULL;
	s->n = 0;
}

/* Take the string member m into s; strings with escapes are decoded. */
static int
take_str(struct evt_event *ev, int f, struct evt_str *s, struct evt_err *err)
{
	const struct evt_jmember *m = &ev->j.m[ev->slot[f]];
	const char *raw = ev->j.base + m->voff;

	if (m->type != EVT_J_STRING)
		return evt_err_set(err, EX_DATAERR,
		    "field \"%s\": must be a string", field_name[f]);
	if (memchr(raw, '\\', m->vlen) == NULL) {
		s->p = raw + 1;
		s->n = m->vlen - 2;
	} else {
		evt_json_str_decode(raw, m->vlen, &s->own);
		s->p = s->own.p;
		s->n = s->own.len;
		if (memchr(s->p, '\0', s->n))
			return evt_err_set(err, EX_DATAERR,
			    "field \"%s\": must not contain NUL", field_name[f]);
	}
	if (s->n == 0)
		return evt_err_set(err, EX_DATAERR,
		    "field \"%s\": must not be empty", field_name[f]);
	return 0;
}

static int
take_int(struct evt_event *ev, int f, long long *v, struct evt_err *err)
{
	const struct evt_jmember *m = &ev->j.m[ev->slot[f]];

	if (m->type != EVT_J_NUMBER ||
	    evt_json_int(ev->j.base + m->voff, m->vlen, v) < 0 || *v < 1)
		return evt_err_set(err, EX_DATAERR,
		    "field \"%s\": must be a positive integer", field_name[f]);
	return 0;
}

static const char *
type_name(enum evt_jtype t)
{
	static const char *const n[] = { "null", "false", "true", "a number",
	    "a string", "an object", "an array" };
	return n[t];
}

/*
 * CloudEvents 1.0 (core spec, JSON format) as an input rule: what a
 * producer hands evt-append must be an event that every CloudEvents
 * consumer takes, binary-mode bindings included, which carry each attribute
 * as a header. So every member but data is an attribute named of [a-z0-9]
 * (at most 20 characters, as the spec advises), whose value is a scalar of
 * the spec's types (a string without control characters, a boolean, an
 * integer in its 32-bit range); the spec's optional attributes have their
 * types; source is a URI-reference. The payload under data is free.
 */

/* The member name's raw (still escaped) bytes, cut for a message. */
static int
name_len_for_msg(const char *k, size_t n)
{
	if (n > 64) {
		n = 64;
		while (n > 0 && ((unsigned char)k[n] & 0xC0) == 0x80)
			n--;
	}
	return (int)n;
}

/* Does s[0..n) (decoded UTF-8) hold a character CloudEvents forbids in a
 * string: U+0000-U+001F, U+007F-U+009F? */
static int
has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F ||
		    (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9F))
			return 1;
	}
	return 0;
}

/* RFC 3986 URI-reference characters (no white space, quotes, braces...). */
static int
uri_ref_ok(const char *s, size_t n)
{
	static const char extra[] = "-._~:/?#[]@!$&'()*+,;=%";

	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    (s[i] == '\0' || !strchr(extra, s[i])))
			return 0;
	return 1;
}

int
evt_ce_string_ok(const char *s, size_t n)
{
	return !has_control(s, n);
}

int
evt_ce_uri_ref_ok(const char *s, size_t n)
{
	return n > 0 && uri_ref_ok(s, n) && !has_control(s, n);
}

/* An absolute URI begins with a scheme: ALPHA *( ALPHA / DIGIT / + - . ) ":". */
static int
abs_uri_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.'))
		i++;
	return i < n && s[i] == ':' && uri_ref_ok(s, n);
}

static int
name_ok(const char *k, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9')))
			return 0;
	return 1;
}

/* The field whose slot is member i, or -1: cheaper than comparing names. */
static int
known_field(const struct evt_event *ev, size_t i)
{
	for (int f = 0; f < EVT_F_N; f++)
		if (ev->slot[f] == (int)i)
			return f;
	return -1;
}

/* Is the string value m (with its quotes) free of control characters? The
 * scanner has refused raw ones below 0x20; escapes are decoded into tmp. */
static int
str_value_ok(const struct evt_event *ev, const struct evt_jmember *m,
    struct evt_buf *tmp, const char **p, size_t *n)
{
	const char *v = ev->j.base + m->voff + 1;
	size_t vn = m->vlen - 2;

	if (memchr(v, '\\', vn)) {
		evt_json_str_decode(v - 1, vn + 2, tmp);
		v = tmp->p;
		vn = tmp->len;
	} else if (!memchr(v, 0x7F, vn) && !memchr(v, 0xC2, vn)) {
		*p = v;
		*n = vn;
		return 1;
	}
	*p = v;
	*n = vn;
	return !has_control(v, vn);
}

static int
check_attrs(struct evt_event *ev, struct evt_err *err)
{
	struct evt_buf name = EVT_BUF_INIT, val = EVT_BUF_INIT;
	struct evt_hmap seen = EVT_HMAP_INIT;
	int rc = 0;

	for (size_t i = 0; i < ev->j.n && rc == 0; i++) {
		const struct evt_jmember *m = &ev->j.m[i];
		const char *rk = ev->j.base + m->koff, *k = rk;
		const char *v = ev->j.base + m->voff;
		size_t kn = m->klen, vn;
		int f = known_field(ev, i);
		int mk = name_len_for_msg(rk, m->klen);

		if (f == EVT_F_DATA)
			continue;	/* the payload is free */
		if (f >= 0) {
			/* Its type was checked by parse; its name is good. */
			if (m->type != EVT_J_STRING || f == EVT_F_EXPECTEDVERSION)
				continue;
			if (!str_value_ok(ev, m, &val, &v, &vn))
				rc = evt_err_set(err, EX_DATAERR, "attribute \"%s\": "
				    "a control character, which CloudEvents strings "
				    "must not hold", field_name[f]);
			else if (f == EVT_F_SOURCE && !uri_ref_ok(v, vn))
				rc = evt_err_set(err, EX_DATAERR, "attribute \"source\": "
				    "not a URI-reference (no spaces, quotes or "
				    "non-ASCII)");
			continue;
		}
		if (m->kesc) {
			evt_json_str_decode(rk - 1, m->klen + 2, &name);
			k = name.p;
			kn = name.len;
		}
		if (kn == 11 && memcmp(k, "data_base64", 11) == 0) {
			rc = evt_err_set(err, EX_DATAERR, "attribute \"data_base64\":"
			    " evt carries the payload as JSON under \"data\" only");
			break;
		}
		if (!name_ok(k, kn)) {
			rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s%s\": "
			    "a CloudEvents attribute name is of a-z and 0-9 only",
			    mk, rk, (size_t)mk < m->klen ? "..." : "");
			break;
		}
		if (kn > 20) {
			rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s%s\": "
			    "a CloudEvents attribute name has at most 20 characters",
			    mk, rk, (size_t)mk < m->klen ? "..." : "");
			break;
		}
		/* A name twice is ambiguous: consumers keep one or the other.
		 * (Known fields twice were refused by parse.) Many members
		 * go through a map, so a long line costs no square. */
		if (ev->j.n > 64) {
			if (evt_hmap_get(&seen, k, kn))
				rc = evt_err_set(err, EX_DATAERR,
				    "attribute \"%.*s\": appears twice", (int)kn, k);
			evt_hmap_put(&seen, k, kn, 1);
		} else for (size_t j = 0; j < i && rc == 0; j++) {
			const struct evt_jmember *o = &ev->j.m[j];
			struct evt_buf on = EVT_BUF_INIT;
			const char *ok = ev->j.base + o->koff;
			size_t okn = o->klen;

			if (o->kesc) {
				evt_json_str_decode(ok - 1, o->klen + 2, &on);
				ok = on.p;
				okn = on.len;
			}
			if (okn == kn && memcmp(ok, k, kn) == 0)
				rc = evt_err_set(err, EX_DATAERR,
				    "attribute \"%.*s\": appears twice", (int)kn, k);
			evt_buf_free(&on);
		}
		if (rc < 0)
			break;
		int spec_str = (kn == 15 && memcmp(k, "datacontenttype", 15) == 0) ||
		    (kn == 10 && memcmp(k, "dataschema", 10) == 0);
		if (spec_str && m->type != EVT_J_STRING) {
			rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
			    "must be a string", (int)kn, k);
			break;
		}
		switch (m->type) {
		case EVT_J_NULL:
		case EVT_J_OBJECT:
		case EVT_J_ARRAY:
			rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
			    "%s; CloudEvents attribute values are strings, "
			    "integers or booleans", (int)kn, k,
			    type_name(m->type));
			break;
		case EVT_J_NUMBER: {
			long long n;
			int whole = !memchr(v, '.', m->vlen) &&
			    !memchr(v, 'e', m->vlen) && !memchr(v, 'E', m->vlen);
			if (!whole)
				rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
				    "%.*s is not an integer, the only CloudEvents "
				    "number", (int)kn, k, m->vlen > 32 ? 32 :
				    (int)m->vlen, v);
			else if (evt_json_int(v, m->vlen, &n) < 0 ||
			    n < -2147483648LL || n > 2147483647LL)
				rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
				    "%.*s is out of the CloudEvents integer range "
				    "(32 bits); write it as a string", (int)kn, k,
				    m->vlen > 32 ? 32 : (int)m->vlen, v);
			break;
		}
		case EVT_J_STRING:
			if (!str_value_ok(ev, m, &val, &v, &vn))
				rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
				    "a control character, which CloudEvents strings "
				    "must not hold", (int)kn, k);
			else if (vn == 0 && spec_str)
				rc = evt_err_set(err, EX_DATAERR, "attribute \"%.*s\": "
				    "must not be empty", (int)kn, k);
			else if (kn == 10 && memcmp(k, "dataschema", 10) == 0 &&
			    !abs_uri_ok(v, vn))
				rc = evt_err_set(err, EX_DATAERR, "attribute "
				    "\"dataschema\": not an absolute URI");
			break;
		default:	/* true, false */
			break;
		}
	}
	evt_buf_free(&name);
	evt_buf_free(&val);
	evt_hmap_free(&seen);
	return rc;
}

static int
parse(struct evt_event *ev, const char *line, size_t len, int compact,
    int stored, struct evt_err *err)
{
	ev->line = line;
	ev->linelen = len;
	for (int f = 0; f < EVT_F_N; f++)
		ev->slot[f] = -1;
	str_clear(&ev->id); str_clear(&ev->source); str_clear(&ev->type);
	str_clear(&ev->subject); str_clear(&ev->corr); str_clear(&ev->cause);
	ev->seq = ev->version = 0;
	ev->expect.kind = EVT_EXPECT_UNSET;
	if (evt_json_scan(&ev->j, line, len, compact, err) < 0)
		return -1;
	if (ev->j.type != EVT_J_OBJECT)
		return evt_err_set(err, EX_DATAERR,
		    "not an event: %s, not an object", type_name(ev->j.type));
	for (size_t i = 0; i < ev->j.n; i++) {
		const struct evt_jmember *m = &ev->j.m[i];
		int f;

		if (m->kesc) {
			struct evt_buf k = EVT_BUF_INIT;
			evt_json_str_decode(ev->j.base + m->koff - 1, m->klen + 2, &k);
			f = field_of(k.p, k.len);
			evt_buf_free(&k);
		} else
			f = field_of(ev->j.base + m->koff, m->klen);
		if (f < 0)
			continue;
		if (ev->slot[f] >= 0)
			return evt_err_set(err, EX_DATAERR,
			    "not an event: field \"%s\" appears twice", field_name[f]);
		ev->slot[f] = (int)i;
	}
	if (ev->slot[EVT_F_TYPE] < 0)
		return evt_err_set(err, EX_DATAERR,
		    "not an event: no \"type\" field");
	if (ev->slot[EVT_F_SUBJECT] < 0)
		return evt_err_set(err, EX_DATAERR,
		    "not an event: no \"subject\" field");
	if (take_str(ev, EVT_F_TYPE, &ev->type, err) < 0 ||
	    take_str(ev, EVT_F_SUBJECT, &ev->subject, err) < 0)
		return -1;
	if (ev->slot[EVT_F_SPECVERSION] >= 0) {
		const struct evt_jmember *m = &ev->j.m[ev->slot[EVT_F_SPECVERSION]];
		if (m->vlen != 5 || memcmp(ev->j.base + m->voff, "\"1.0\"", 5) != 0)
			return evt_err_set(err, EX_DATAERR,
			    "field \"specversion\": must be \"1.0\"");
	}
	if ((ev->slot[EVT_F_ID] >= 0 && take_str(ev, EVT_F_ID, &ev->id, err) < 0) ||
	    (ev->slot[EVT_F_SOURCE] >= 0 &&
	     take_str(ev, EVT_F_SOURCE, &ev->source, err) < 0) ||
	    (ev->slot[EVT_F_CORRELATIONID] >= 0 &&
	     take_str(ev, EVT_F_CORRELATIONID, &ev->corr, err) < 0) ||
	    (ev->slot[EVT_F_CAUSATIONID] >= 0 &&
	     take_str(ev, EVT_F_CAUSATIONID, &ev->cause, err) < 0))
		return -1;
	if (ev->slot[EVT_F_TIME] >= 0) {
		struct evt_str t = { NULL, 0, EVT_BUF_INIT };
		int rc = take_str(ev, EVT_F_TIME, &t, err);
		int tr = rc == 0 ? evt_time_parse(t.p, t.n, &ev->time_ms) : 0;
		if (tr == -2)
			rc = evt_err_set(err, EX_DATAERR, "field \"time\": "
			    "outside the years 0000-9999 in UTC");
		else if (tr < 0)
			rc = evt_err_set(err, EX_DATAERR,
			    "field \"time\": not an RFC 3339 time");
		evt_buf_free(&t.own);
		if (rc < 0)
			return -1;
	}
	if (ev->slot[EVT_F_SEQ] >= 0 && take_int(ev, EVT_F_SEQ, &ev->seq, err) < 0)
		return -1;
	if (ev->slot[EVT_F_VERSION] >= 0 &&
	    take_int(ev, EVT_F_VERSION, &ev->version, err) < 0)
		return -1;
	if (ev->slot[EVT_F_DATA] >= 0 &&
	    ev->j.m[ev->slot[EVT_F_DATA]].type != EVT_J_OBJECT)
		return evt_err_set(err, EX_DATAERR,
		    "field \"data\": must be an object, not %s",
		    type_name(ev->j.m[ev->slot[EVT_F_DATA]].type));
	if (ev->slot[EVT_F_EXPECTEDVERSION] >= 0) {
		const struct evt_jmember *m =
		    &ev->j.m[ev->slot[EVT_F_EXPECTEDVERSION]];
		char tmp[32];
		const char *v = ev->j.base + m->voff;
		size_t n = m->vlen;

		if (m->type == EVT_J_STRING) {
			v++;
			n -= 2;
		}
		if ((m->type != EVT_J_STRING && m->type != EVT_J_NUMBER) ||
		    n >= sizeof(tmp) || (memcpy(tmp, v, n), tmp[n] = '\0',
		    evt_expect_parse(tmp, &ev->expect) < 0) ||
		    (m->type == EVT_J_STRING && ev->expect.kind == EVT_EXPECT_VERSION))
			return evt_err_set(err, EX_DATAERR,
			    "field \"expectedversion\": must be an integer >= 0, "
			    "\"none\", \"exists\" or \"any\"");
	}
	/* Stored events are read as they are: a log written before this
	 * rule may hold what it refuses, and readers must still read it. */
	if (!stored && check_attrs(ev, err) < 0)
		return -1;
	if (stored) {
		if (ev->slot[EVT_F_SEQ] < 0 || ev->slot[EVT_F_VERSION] < 0 ||
		    ev->slot[EVT_F_ID] < 0 || ev->slot[EVT_F_TIME] < 0)
			return evt_err_set(err, EX_DATAERR,
			    "not a stored event: seq, version, id or time missing");
		if (ev->corr.p == NULL) {
			ev->corr.p = ev->id.p;
			ev->corr.n = ev->id.n;
		}
	}
	return 0;
}

int
evt_event_parse(struct evt_event *ev, const char *line, size_t len,
    int compact, struct evt_err *err)
{
	return parse(ev, line, len, compact, 0, err);
}

int
evt_event_parse_stored(struct evt_event *ev, const char *line, size_t len,
    struct evt_err *err)
{
	return parse(ev, line, len, 0, 1, err);
}

static void
put_member(struct evt_buf *b, const struct evt_event *ev, int f)
{
	const struct evt_jmember *m = &ev->j.m[ev->slot[f]];

	evt_buf_add(b, ev->j.base + m->voff, m->vlen);
}

/* Write v in decimal at p (at least 21 bytes); returns the length. */
static size_t
fmt_ll(char *p, long long v)
{
	char tmp[24];
	size_t n = 0, len;
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v :
	    (unsigned long long)v;

	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	len = n + (v < 0);
	if (v < 0)
		*p++ = '-';
	while (n > 0)
		*p++ = tmp[--n];
	return len;
}

static void render(const struct evt_event *ev, long long seq,
    long long version, const char *time, const char *default_source,
    struct evt_buf *b);

void
evt_event_assign(struct evt_event *ev, long long seq, long long version,
    int64_t now_ms, const char *default_source)
{
	ev->seq = seq;
	ev->version = version;
	if (ev->slot[EVT_F_TIME] < 0)
		ev->time_ms = now_ms;
	if (ev->id.p == NULL) {
		if (evt_clock_frozen()) {
			struct evt_buf name = EVT_BUF_INIT;
			evt_buf_add(&name, ev->line, ev->linelen);
			evt_buf_printf(&name, "\n%lld", seq);
			evt_uuid_v5(name.p, name.len, ev->idbuf);
			evt_buf_free(&name);
		} else
			evt_uuid_v7(now_ms, ev->idbuf);
		ev->id.p = ev->idbuf;
		ev->id.n = EVT_UUID_LEN;
	}
	if (ev->slot[EVT_F_SOURCE] < 0) {
		ev->source.p = default_source ? default_source : "cli";
		ev->source.n = strlen(ev->source.p);
	}
	if (ev->slot[EVT_F_CORRELATIONID] < 0) {
		ev->corr.p = ev->id.p;
		ev->corr.n = ev->id.n;
	}
	if (ev->slot[EVT_F_CAUSATIONID] < 0) {
		ev->cause.p = ev->id.p;
		ev->cause.n = ev->id.n;
	}
	evt_time_format(ev->time_ms, ev->timebuf);
	render(ev, seq, version, ev->timebuf, default_source, &ev->body);
}

void
evt_event_render(const struct evt_event *ev, long long seq, long long version,
    int64_t now_ms, const char *default_source, struct evt_buf *out)
{
	char tbuf[32];

	evt_time_format(ev->slot[EVT_F_TIME] >= 0 ? ev->time_ms : now_ms,
	    tbuf);
	render(ev, seq, version, tbuf, default_source, out);
}

/* The stored line, with time already formatted. */
static void
render(const struct evt_event *ev, long long seq, long long version,
    const char *time, const char *default_source, struct evt_buf *b)
{
	char num[32];

	evt_buf_reset(b);
	evt_buf_adds(b, "{\"specversion\":\"1.0\",\"id\":");
	if (ev->slot[EVT_F_ID] >= 0)
		put_member(b, ev, EVT_F_ID);
	else
		evt_buf_json_str(b, ev->id.p, ev->id.n);
	evt_buf_adds(b, ",\"source\":");
	if (ev->slot[EVT_F_SOURCE] >= 0)
		put_member(b, ev, EVT_F_SOURCE);
	else {
		const char *s = default_source ? default_source : "cli";
		evt_buf_json_str(b, s, strlen(s));
	}
	evt_buf_adds(b, ",\"type\":");
	put_member(b, ev, EVT_F_TYPE);
	evt_buf_adds(b, ",\"subject\":");
	put_member(b, ev, EVT_F_SUBJECT);
	/* time is always rewritten in the stored form, so stored times sort
	 * as strings whatever offset or precision the producer used. */
	evt_buf_adds(b, ",\"time\":\"");
	evt_buf_add(b, time, EVT_TIME_LEN);
	/* By hand, not snprintf: this is on the hot path of every append. */
	evt_buf_adds(b, "\",\"seq\":");
	evt_buf_add(b, num, fmt_ll(num, seq));
	evt_buf_adds(b, ",\"version\":");
	evt_buf_add(b, num, fmt_ll(num, version));
	evt_buf_adds(b, ",\"correlationid\":");
	if (ev->slot[EVT_F_CORRELATIONID] >= 0)
		put_member(b, ev, EVT_F_CORRELATIONID);
	else
		evt_buf_json_str(b, ev->id.p, ev->id.n);
	evt_buf_adds(b, ",\"causationid\":");
	if (ev->slot[EVT_F_CAUSATIONID] >= 0)
		put_member(b, ev, EVT_F_CAUSATIONID);
	else
		evt_buf_json_str(b, ev->id.p, ev->id.n);
	evt_buf_adds(b, ",\"data\":");
	if (ev->slot[EVT_F_DATA] >= 0)
		put_member(b, ev, EVT_F_DATA);
	else
		evt_buf_adds(b, "{}");
	for (size_t i = 0; i < ev->j.n; i++) {
		int known = 0;
		for (int f = 0; f < EVT_F_N; f++)
			if (ev->slot[f] == (int)i)
				known = 1;
		if (known)
			continue;
		const struct evt_jmember *m = &ev->j.m[i];
		evt_buf_addc(b, ',');
		evt_buf_add(b, ev->j.base + m->koff - 1, m->klen + 2 + 1 + m->vlen);
	}
	evt_buf_addc(b, '}');
}

void
evt_event_free(struct evt_event *ev)
{
	evt_json_free(&ev->j);
	evt_buf_free(&ev->body);
	evt_buf_free(&ev->id.own);
	evt_buf_free(&ev->source.own);
	evt_buf_free(&ev->type.own);
	evt_buf_free(&ev->subject.own);
	evt_buf_free(&ev->corr.own);
	evt_buf_free(&ev->cause.own);
}

size_t
evt_category_len(const char *subject, size_t n)
{
	const char *d = memchr(subject, '-', n);

	return d ? (size_t)(d - subject) : n;
}

int
evt_expect_parse(const char *s, struct evt_expect *e)
{
	char *end;

	if (strcmp(s, "any") == 0)
		e->kind = EVT_EXPECT_ANY;
	else if (strcmp(s, "none") == 0)
		e->kind = EVT_EXPECT_NONE;
	else if (strcmp(s, "exists") == 0)
		e->kind = EVT_EXPECT_EXISTS;
	else {
		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		e->version = strtoll(s, &end, 10);
		/* Beyond 64 bits is bad input, never a version clamped to
		 * LLONG_MAX (which would then be a conflict, 75). */
		if (*end != '\0' || e->version < 0 || errno == ERANGE)
			return -1;
		e->kind = EVT_EXPECT_VERSION;
	}
	return 0;
}

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
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
put_member(struct evt_buf *b, struct evt_event *ev, int f)
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

void
evt_event_assign(struct evt_event *ev, long long seq, long long version,
    int64_t now_ms, const char *default_source)
{
	struct evt_buf *b = &ev->body;
	char num[32];

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
		ev->source.p = s;
		ev->source.n = strlen(s);
	}
	evt_buf_adds(b, ",\"type\":");
	put_member(b, ev, EVT_F_TYPE);
	evt_buf_adds(b, ",\"subject\":");
	put_member(b, ev, EVT_F_SUBJECT);
	/* time is always rewritten in the stored form, so stored times sort
	 * as strings whatever offset or precision the producer used. */
	evt_time_format(ev->time_ms, ev->timebuf);
	evt_buf_adds(b, ",\"time\":\"");
	evt_buf_add(b, ev->timebuf, EVT_TIME_LEN);
	/* By hand, not snprintf: this is on the hot path of every append. */
	evt_buf_adds(b, "\",\"seq\":");
	evt_buf_add(b, num, fmt_ll(num, seq));
	evt_buf_adds(b, ",\"version\":");
	evt_buf_add(b, num, fmt_ll(num, version));
	evt_buf_adds(b, ",\"correlationid\":");
	if (ev->slot[EVT_F_CORRELATIONID] >= 0)
		put_member(b, ev, EVT_F_CORRELATIONID);
	else {
		evt_buf_json_str(b, ev->id.p, ev->id.n);
		ev->corr.p = ev->id.p;
		ev->corr.n = ev->id.n;
	}
	evt_buf_adds(b, ",\"causationid\":");
	if (ev->slot[EVT_F_CAUSATIONID] >= 0)
		put_member(b, ev, EVT_F_CAUSATIONID);
	else {
		evt_buf_json_str(b, ev->id.p, ev->id.n);
		ev->cause.p = ev->id.p;
		ev->cause.n = ev->id.n;
	}
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

void
evt_routing_key(const char *source, size_t sn, const char *type, size_t tn,
    struct evt_buf *out)
{
	size_t i = 0, w;

	evt_buf_reset(out);
	evt_buf_add(out, source, sn);
	evt_buf_addc(out, '.');
	/* The first word of type runs to the next capital letter. */
	for (w = 1; w < tn && !isupper((unsigned char)type[w]); w++)
		;
	if (w < tn && w == sn && strncasecmp(type, source, sn) == 0)
		i = w;
	size_t start = out->len;
	for (; i < tn; i++) {
		unsigned char c = (unsigned char)type[i];
		if (isupper(c)) {
			if (out->len > start && i > 0 &&
			    !isupper((unsigned char)type[i - 1]))
				evt_buf_addc(out, '_');
			evt_buf_addc(out, (char)tolower(c));
		} else
			evt_buf_addc(out, (char)c);
	}
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
		e->version = strtoll(s, &end, 10);
		if (*end != '\0' || e->version < 0)
			return -1;
		e->kind = EVT_EXPECT_VERSION;
	}
	return 0;
}

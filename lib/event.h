/*
 * event.h - the event of DESIGN §2: parse and check one line, fill the
 * defaults, write it in the documented field order.
 *
 * Parsing keeps the line's bytes: data and unknown fields are copied as they
 * came (white space removed), never re-serialised, so numbers such as 19.90
 * survive untouched and the hot path does not build a tree.
 */
#ifndef EVT_EVENT_H
#define EVT_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "json.h"

/* An envelope string: points into the scanned line, or into own when the
 * JSON string had escapes. */
struct evt_str {
	const char *p;
	size_t n;
	struct evt_buf own;
};

enum evt_expect_kind {
	EVT_EXPECT_UNSET, EVT_EXPECT_ANY, EVT_EXPECT_NONE, EVT_EXPECT_EXISTS,
	EVT_EXPECT_VERSION
};

struct evt_expect {
	enum evt_expect_kind kind;
	long long version;	/* for EVT_EXPECT_VERSION */
};

/* Field slots, in output order (unknown fields come after data). */
enum evt_field {
	EVT_F_SPECVERSION, EVT_F_ID, EVT_F_SOURCE, EVT_F_TYPE, EVT_F_SUBJECT,
	EVT_F_TIME, EVT_F_SEQ, EVT_F_VERSION, EVT_F_CORRELATIONID,
	EVT_F_CAUSATIONID, EVT_F_DATA, EVT_F_EXPECTEDVERSION, EVT_F_N
};

/*
 * One event. Reuse one struct across lines: buffers are kept. Every string
 * and span points into memory the struct owns and is valid until the next
 * parse on it.
 */
struct evt_event {
	struct evt_jobj j;
	const char *line;	/* the raw line given to evt_event_parse */
	size_t linelen;
	int slot[EVT_F_N];	/* member index of each field, or -1 */
	struct evt_str id, source, type, subject, corr, cause;
	int64_t time_ms;	/* valid when slot[EVT_F_TIME] >= 0 */
	long long seq, version;	/* as read (stored events) or as assigned */
	struct evt_expect expect;
	struct evt_buf body;	/* the line as stored, after evt_event_assign */
	char idbuf[40], timebuf[32];
};

/*
 * Parse and check one line (no newline) of input. With compact set the
 * copy is compacted (input from users); without, spans point into line
 * (stored events, already compact). Returns 0, or -1 with err: EX_DATAERR
 * and a reason ("not JSON: ...", "not an event: ...", "field \"x\": ...").
 */
int evt_event_parse(struct evt_event *ev, const char *line, size_t len,
    int compact, struct evt_err *err);

/*
 * Read the envelope of a stored line: like evt_event_parse without compact,
 * and also requiring seq and version. The log readers use it.
 */
int evt_event_parse_stored(struct evt_event *ev, const char *line, size_t len,
    struct evt_err *err);

/*
 * Give ev its position and write ev->body, the stored line (no newline):
 * fills specversion, a generated id (v7 at now_ms, or with EVT_NOW a v5 of
 * the line and seq), source (default_source, else "cli"), time (now_ms),
 * correlationid and causationid (= id), data ({}); drops expectedversion.
 */
void evt_event_assign(struct evt_event *ev, long long seq, long long version,
    int64_t now_ms, const char *default_source);
/*
 * Write into out the line evt_event_assign would store for ev at seq and
 * version, without changing ev, so another thread may call it while ev's
 * owner assigns it. ev must have its id (evt_event_assign makes one up
 * otherwise); fills nothing else in.
 */
void evt_event_render(const struct evt_event *ev, long long seq,
    long long version, int64_t now_ms, const char *default_source,
    struct evt_buf *out);

/*
 * CloudEvents 1.0 value rules (see evt(7)), for values a program makes up
 * rather than parses: can s[0..n) be a string attribute (no control
 * characters), or a source (a non-empty URI-reference)?
 */
int evt_ce_string_ok(const char *s, size_t n);
int evt_ce_uri_ref_ok(const char *s, size_t n);

/* Free what ev owns; ev is reusable. */
void evt_event_free(struct evt_event *ev);

/* Length of the category of subject: the text before its first '-'. */
size_t evt_category_len(const char *subject, size_t n);

/* Parse an expected version: an integer >= 0, "none", "exists", "any". */
int evt_expect_parse(const char *s, struct evt_expect *e);

#endif

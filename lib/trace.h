/*
 * trace.h - a saga's causation tree (evt-trace): every event under the
 * event that caused it, with its offset from the saga's first event, its
 * wait since its cause, the service, the type and a few key fields;
 * compensations, slow waits, orphans and causes without an outcome marked.
 *
 * Events are taken one at a time and kept, in a compact form (envelope
 * strings and key fields, never the line), until the input ends: a tree
 * needs its whole correlation, and nothing in an event says that its saga
 * is over (a refund may follow a cancellation), so memory grows with the
 * events taken, about 300 bytes each. Select the sagas wanted
 * (opts.corrs) to keep only theirs.
 *
 * Output is a function of the input only: the same events give the same
 * bytes, whatever order their sagas interleave in.
 */
#ifndef EVT_TRACE_H
#define EVT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "event.h"
#include "filter.h"

struct evt_trace;

enum evt_trace_fmt {
	EVT_TRACE_TEXT, EVT_TRACE_JSON, EVT_TRACE_DOT, EVT_TRACE_MERMAID
};

/* Flags for the writers. */
enum {
	EVT_TRACE_SUMMARY = 1,	/* one line per saga instead of its tree */
	EVT_TRACE_COLOUR = 2	/* text: ANSI colours for the marks */
};

struct evt_trace_opts {
	int64_t slow_ms;	/* waits over this are slow (has_slow) */
	int has_slow;
	/* The sagas to print, borrowed for the life of the trace: those
	 * whose correlation id is in corrs, or that hold an event of a
	 * subject in subjects. Both empty: every saga. */
	const struct evt_strv *corrs, *subjects;
};

/* The format named s ("text", "json", "dot", "mermaid"), or -1. */
int evt_trace_format_parse(const char *s);

/* A new, empty trace; opts is copied (its vectors borrowed). */
struct evt_trace *evt_trace_new(const struct evt_trace_opts *opts);
/* Free t; NULL is a no-op. */
void evt_trace_free(struct evt_trace *t);

/*
 * Take the parsed event ev (borrowed for the call). Returns 0 when taken,
 * 1 when left out (an id taken already, or a saga not selected), or -1
 * with err (EX_DATAERR: an event without an id, which nothing can name
 * as its cause). A correlation or causation id that is absent is the
 * event's own id, as evt-append would fill it.
 */
int evt_trace_add(struct evt_trace *t, const struct evt_event *ev,
    struct evt_err *err);

/*
 * Build the trees once every event is taken: sagas in the order of their
 * first event (by seq when every event has one, else in input order),
 * children in the same order. An event whose cause is not an earlier
 * event of its saga is an orphan, a root of its own. No event may be
 * taken after.
 */
void evt_trace_finish(struct evt_trace *t);

/* The number of sagas to write (after evt_trace_finish). */
size_t evt_trace_count(const struct evt_trace *t);
/* The number of events taken. */
long long evt_trace_events(const struct evt_trace *t);

/*
 * Append to out what comes before the first saga (a DOT graph's opening,
 * the summary's header), saga i (0 <= i < evt_trace_count) in its place,
 * and what comes after the last. Each appends whole lines.
 */
void evt_trace_head(struct evt_trace *t, enum evt_trace_fmt fmt, int flags,
    struct evt_buf *out);
void evt_trace_saga(struct evt_trace *t, size_t i, enum evt_trace_fmt fmt,
    int flags, struct evt_buf *out);
void evt_trace_tail(struct evt_trace *t, enum evt_trace_fmt fmt, int flags,
    struct evt_buf *out);

/* Write a duration as evt-trace shows it (250ms, 1.5s, 4m05s, 2h00m07s,
 * 1d03h00m00s; negative with a '-') into out (32 bytes). */
void evt_trace_duration(int64_t ms, char *out);

#endif

/*
 * trace.h - a saga's causation tree (evt-trace): every event under the
 * event that caused it, with its offset from the saga's first event, its
 * wait since its cause, the service, the type and a few key fields;
 * compensations, slow waits, orphans and causes without an outcome marked.
 *
 * The trace streams: events are taken one at a time, each saga's in a
 * compact form (envelope strings and key fields, never the line) in an
 * arena of its own, and a saga is written out and its arena freed once it
 * is finished, so that memory follows the sagas still open, not the
 * input's length. A saga is finished when nothing of it is pending (it
 * has no TransactionCreated, or has its outcome) and the input has moved
 * on a window past its last event (opts.window_ms, by event time: the
 * greatest time taken so far); every saga still open is finished at the
 * end of the input. An event of a saga written out already starts a new
 * saga, marked as its continuation while the saga is remembered (another
 * window after it was written).
 *
 * Output is a function of the input only: the same events give the same
 * bytes. Sagas finished at the same point are written in the order of
 * their first event (by seq when every event taken so far has one, else
 * in input order), so that sagas that interleave within the window come
 * out the same whatever order they came in.
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

/* The window when none is given: an hour of event time. */
#define EVT_TRACE_WINDOW_MS (3600LL * 1000)

struct evt_trace_opts {
	int64_t slow_ms;	/* waits over this are slow (has_slow) */
	int has_slow;
	/* How far past a finished saga's last event the input must move
	 * before the saga is written; < 0: not before the input ends. */
	int64_t window_ms;
	enum evt_trace_fmt fmt;
	int flags;
	/* The sagas to print, borrowed for the life of the trace: those
	 * whose correlation id is in corrs, or that hold an event of a
	 * subject in subjects. Both empty: every saga. */
	const struct evt_strv *corrs, *subjects;
};

/* The format named s ("text", "json", "dot", "mermaid"), or -1. */
int evt_trace_format_parse(const char *s);

/*
 * A new, empty trace that appends what it writes to out (borrowed for the
 * life of the trace: the caller empties it when it likes, whole lines are
 * appended); opts is copied (its vectors borrowed). What comes before the
 * first saga (a DOT graph's opening) is appended at once.
 */
struct evt_trace *evt_trace_new(const struct evt_trace_opts *opts,
    struct evt_buf *out);
/* Free t and every saga it holds, without writing them; NULL is a no-op. */
void evt_trace_free(struct evt_trace *t);

/*
 * Take the parsed event ev (borrowed for the call), and write the sagas
 * it finishes. Returns 0 when taken, 1 when left out (an id taken
 * already among the open sagas, or a saga not selected), or -1 with err
 * (EX_DATAERR: an event without an id, which nothing can name as its
 * cause). A correlation or causation id that is absent is the event's
 * own id, as evt-append would fill it.
 */
int evt_trace_add(struct evt_trace *t, const struct evt_event *ev,
    struct evt_err *err);

/*
 * The same for a stored line line[0..len) (no newline) of a log, which is
 * trusted to be JSON as evt-append stored it: only the envelope and the
 * few data fields shown are read. A line that cannot be read so is
 * parsed in full, for its error (EX_DATAERR).
 */
int evt_trace_add_stored(struct evt_trace *t, const char *line, size_t len,
    struct evt_err *err);

/* The input has ended: write every saga still open, then what comes
 * after the last (a DOT graph's closing). No event may be taken after. */
void evt_trace_end(struct evt_trace *t);

/* The number of sagas written, and of events taken, so far. */
size_t evt_trace_count(const struct evt_trace *t);
long long evt_trace_events(const struct evt_trace *t);

/* Write a duration as evt-trace shows it (250ms, 1.5s, 4m05s, 2h00m07s,
 * 1d03h00m00s; negative with a '-') into out (32 bytes). */
void evt_trace_duration(int64_t ms, char *out);

#endif

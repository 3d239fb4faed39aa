/*
 * top.h - what evt-top shows: a live model of the store folded from the
 * log's events, and its rendering as a frame of text lines.
 *
 * The model keeps, in bounded memory: per event type a count and its
 * events per second over the last minute (by event time); the sagas in
 * flight (by correlation id, as evt-project sagas keys them), outcome
 * counts and the durations (creation to outcome) of the last 10,000
 * outcomes for their 95th percentile; and, through evt-project's own read
 * models, sales per store and day and the stock, so that its numbers are
 * evt-project's.
 */
#ifndef EVT_TOP_H
#define EVT_TOP_H

#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "event.h"

struct evt_top_opts {
	int64_t stuck_after_ms;	/* in flight longer: stuck */
	long long low;		/* stock available below this: low */
	int utf8;		/* sparklines in block characters */
	const char *title;	/* the log's name, for the first line */
	const char *findings;	/* audit-scan findings (NDJSON), or NULL */
};

struct evt_top;

/* NULL with err if the read models cannot be made. */
struct evt_top *evt_top_new(const struct evt_top_opts *o, struct evt_err *err);
void evt_top_free(struct evt_top *t);

/* Fold one stored event. -1 with err (EX_DATAERR) for an event the read
 * models refuse; the caller warns and goes on. */
int evt_top_event(struct evt_top *t, const struct evt_event *ev,
    struct evt_err *err);

/* Sagas in flight, stuck at now_ms, and finished (for tests). */
void evt_top_sagas(const struct evt_top *t, int64_t now_ms, long long *flight,
    long long *stuck, long long *done);

/*
 * The frame at now_ms, at most width columns and height lines, into out
 * (replacing it): lines ending in '\n'. A line that starts a panel begins
 * with '#' (drawn as a heading, the '#' not shown); one that should stand
 * out (a stuck saga count, a critical finding) with '!'.
 */
void evt_top_render(struct evt_top *t, int64_t now_ms, int width, int height,
    struct evt_buf *out);

#endif

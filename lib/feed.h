/*
 * feed.h - input lines parsed into events on a thread of their own and
 * handed over in batches, so that parsing the next events overlaps storing
 * the last ones (evt-append).
 *
 * The reader thread reads with evt_lines (lines.h) and parses each line
 * with evt_event_parse (compacting). A batch ends when it is full, at the
 * end of input, at a read error or a signal, or when the input pauses: when no whole
 * line can be had without waiting (evt_lines_ready), the batch is handed
 * over marked `pause`, before the reader waits, so the consumer can commit
 * and let go of the log while the input is idle. Items keep input order,
 * bad lines included, so the consumer decides about them in place.
 */
#ifndef EVT_FEED_H
#define EVT_FEED_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "event.h"

struct evt_feed;

/* The most events a batch holds. */
#define EVT_FEED_BATCH 256

struct evt_feed_item {
	int ok;			/* 1: ev holds the event; 0: a bad line, see err */
	long long lineno;
	const char *line;	/* the raw line; NULL for an over-long one */
	size_t len;
	size_t off;		/* private: line's offset in the batch text */
	struct evt_event ev;
	struct evt_err err;	/* why the line is bad (EX_DATAERR) */
};

struct evt_feed_batch {
	struct evt_feed_item *items;
	size_t n, cap;
	struct evt_buf text;	/* the raw lines the items point into */
	int pause;		/* the input paused after these items */
	int end;		/* the input ended after these items */
	int fail;		/* then a read failed: err (EX_IOERR, or
				 * EX_TEMPFAIL when a signal interrupted it) */
	struct evt_err err;
};

/*
 * Start reading fd (borrowed) on a new thread. Returns a new feed; aborts
 * when no thread can be made.
 */
struct evt_feed *evt_feed_start(int fd);
/*
 * The next batch, in input order, waiting for it if need be. Borrowed:
 * valid until evt_feed_done gives it back. After a batch marked end or
 * fail there are no more. Once a signal was forwarded (evt_feed_forward),
 * the reader parses no more lines: it hands over those it has, in a batch
 * marked fail (EX_TEMPFAIL), so what was taken from the input is stored.
 */
struct evt_feed_batch *evt_feed_next(struct evt_feed *f);
/* Give back a batch from evt_feed_next for the reader to fill again. */
void evt_feed_done(struct evt_feed *f, struct evt_feed_batch *b);
/*
 * Stop the reader (wherever it is, a blocking read included), wait for it
 * and free everything. NULL is a no-op.
 */
void evt_feed_stop(struct evt_feed *f);
/*
 * For a signal handler (async-signal-safe): pass sig on to the feed's
 * other thread, so that a blocking call in either (the reader's read, the
 * consumer's wait for a lock) is interrupted with EINTR.
 */
void evt_feed_forward(struct evt_feed *f, int sig);

#endif

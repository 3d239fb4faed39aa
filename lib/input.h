/*
 * input.h - the event input loop that every filter shares (STYLE 7):
 * lines read from one descriptor into one reused buffer (lines.h), blank
 * lines skipped, each line parsed as an event and handed to the caller.
 * A bad line stops the loop with its line number, or, with a reject file
 * (reject.h), is set aside there and the loop goes on.
 */
#ifndef EVT_INPUT_H
#define EVT_INPUT_H

#include <stddef.h>

#include "err.h"
#include "event.h"
#include "reject.h"

struct evt_input {
	const char *where;	/* the input's name, for the reject file */
	int compact;		/* evt_event_parse's compact */
	struct evt_reject *reject;	/* borrowed; NULL: a bad line stops */
	/*
	 * Called for each event (ev, line and len borrowed for the call):
	 * 0 to go on, 1 to stop without an error, -1 to fail with err;
	 * EX_DATAERR says the line itself is bad input.
	 */
	int (*take)(void *arg, struct evt_event *ev, const char *line,
	    size_t len, long long lineno, struct evt_err *err);
	/* Called when the input pauses (nothing more can be read without
	 * waiting): 0, or -1 with err. NULL: nothing to do then. */
	int (*paused)(void *arg, struct evt_err *err);
	void *arg;
	long long lineno;	/* out: the bad line, when a read fails with
				 * EX_DATAERR; else 0 */
};

/*
 * Read fd (borrowed) to its end, parsing each line into ev. Returns 0 at
 * the end of the input or when take says stop, or -1 with err (and
 * in->lineno for bad input).
 */
int evt_input_read(struct evt_input *in, int fd, struct evt_event *ev,
    struct evt_err *err);

#endif

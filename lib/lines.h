/*
 * lines.h - the input line loop: read(2) into one reused buffer, hand out
 * lines without copying, count them for error messages.
 *
 * A last line without a newline is still a line. A line longer than
 * EVT_LINE_MAX is reported (and skipped, so a caller with --reject can go
 * on) without ever holding more than EVT_LINE_MAX bytes of it.
 */
#ifndef EVT_LINES_H
#define EVT_LINES_H

#include <stddef.h>

#include "err.h"

#define EVT_LINE_MAX (16u << 20)

struct evt_lines {
	int fd;
	char *buf;
	size_t cap, start, end;
	long long lineno;	/* number of the line last returned */
	int eof;
	size_t toolong;		/* bytes of an over-long line skipped so far */
};

/* Start reading fd (borrowed: not closed by evt_lines_free). */
void evt_lines_init(struct evt_lines *r, int fd);
void evt_lines_free(struct evt_lines *r);

/*
 * The next line (without its newline; points into the buffer, valid until
 * the next call). Returns 1, 0 at end of input, or -1 with err: EX_DATAERR
 * for an over-long line (skipped; calling again goes on), EX_IOERR for a
 * read error, EX_TEMPFAIL when a signal interrupted the read.
 */
int evt_lines_next(struct evt_lines *r, const char **line, size_t *len,
    struct evt_err *err);

/* Whether another whole line can be had without waiting: one is
 * buffered, or the input is at its end. Reads what the input has ready
 * (never blocking) to find out. */
int evt_lines_ready(struct evt_lines *r);

#endif

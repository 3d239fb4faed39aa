#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"

#define CHUNK (256u << 10)

void
evt_lines_init(struct evt_lines *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
}

void
evt_lines_free(struct evt_lines *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Read more input after what is buffered. 1: got some, 0: EOF, -1: error. */
static int
fill(struct evt_lines *r, struct evt_err *err)
{
	ssize_t n;

	if (r->start > 0 && (r->start == r->end || r->cap - r->end < CHUNK)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->cap - r->end < CHUNK) {
		r->cap = r->cap ? r->cap * 2 : 2 * CHUNK;
		r->buf = realloc(r->buf, r->cap);
		if (r->buf == NULL)
			abort();
	}
	n = read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n < 0) {
		if (errno == EINTR)
			return evt_err_set(err, EX_TEMPFAIL, "interrupted");
		return evt_err_set(err, EX_IOERR, "read: %s", strerror(errno));
	}
	if (n == 0) {
		r->eof = 1;
		return 0;
	}
	r->end += (size_t)n;
	return 1;
}

int
evt_lines_next(struct evt_lines *r, const char **line, size_t *len,
    struct evt_err *err)
{
	size_t scanned = 0;

	for (;;) {
		char *s = r->buf + r->start;
		char *nl = r->end > r->start + scanned ?
		    memchr(s + scanned, '\n', r->end - r->start - scanned) : NULL;

		if (nl != NULL) {
			size_t n = (size_t)(nl - s);
			r->start += n + 1;
			if (r->toolong || n > EVT_LINE_MAX) {
				r->toolong = 0;
				r->lineno++;
				return evt_err_set(err, EX_DATAERR,
				    "line longer than %u MiB", EVT_LINE_MAX >> 20);
			}
			r->lineno++;
			*line = s;
			*len = n;
			return 1;
		}
		scanned = r->end - r->start;
		if (scanned > EVT_LINE_MAX) {
			/* Too long: drop what we hold, remember, read on to
			 * the newline. */
			r->toolong += scanned;
			r->start = r->end;
			scanned = 0;
		}
		if (r->eof) {
			if (r->toolong) {
				r->toolong = 0;
				r->lineno++;
				return evt_err_set(err, EX_DATAERR,
				    "line longer than %u MiB", EVT_LINE_MAX >> 20);
			}
			if (r->end == r->start)
				return 0;
			r->lineno++;
			*line = r->buf + r->start;
			*len = r->end - r->start;
			r->start = r->end;
			return 1;
		}
		if (fill(r, err) < 0)
			return -1;
	}
}

int
evt_lines_ready(struct evt_lines *r)
{
	struct pollfd p = { r->fd, POLLIN, 0 };
	struct evt_err err;

	/* Ready means a whole line can be had without waiting: one is
	 * buffered, or the input is at its end. Input that is ready only
	 * in part (a line cut by the pipe) is read in as far as it goes
	 * without blocking; if its newline is not there yet, the caller
	 * must not count on it (evt-append commits and lets go of the
	 * log's lock first). */
	for (;;) {
		if (r->eof || (r->end > r->start &&
		    memchr(r->buf + r->start, '\n', r->end - r->start)))
			return 1;
		if (r->end - r->start > EVT_LINE_MAX)
			return 0;	/* over-long: evt_lines_next skips it */
		if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
			return 0;
		/* poll said a read will not block. An error is left for
		 * evt_lines_next to meet again and report. */
		if (fill(r, &err) < 0)
			return 0;
	}
}

/*
 * input.c - the event input loop (see input.h).
 */
#include <string.h>

#include "input.h"
#include "lines.h"

int
evt_input_read(struct evt_input *in, int fd, struct evt_event *ev,
    struct evt_err *err)
{
	struct evt_lines l;
	const char *line;
	size_t len;
	int rc, ret = 0;

	in->lineno = 0;
	evt_lines_init(&l, fd);
	while ((rc = evt_lines_next(&l, &line, &len, err)) != 0) {
		if (rc > 0 && strspn(line, " \t\r") >= len)
			continue;
		if (rc > 0 && evt_event_parse(ev, line, len, in->compact, err) == 0) {
			int t = in->take(in->arg, ev, line, len, l.lineno, err);
			if (t > 0)
				break;
			if (t == 0)
				goto next;
		}
		/* A bad line (an over-long one, rc < 0, has no text to
		 * keep): set aside, or the end. */
		if (err->code != EX_DATAERR || in->reject == NULL) {
			if (err->code == EX_DATAERR)
				in->lineno = l.lineno;
			ret = -1;
			break;
		}
		char reason[sizeof(err->msg)];
		memcpy(reason, err->msg, sizeof(reason));
		if (evt_reject_line(in->reject, in->where, l.lineno, rc > 0 ?
		    line : NULL, rc > 0 ? len : 0, reason, err) < 0) {
			ret = -1;
			break;
		}
next:
		if (in->paused && !evt_lines_ready(&l) &&
		    in->paused(in->arg, err) < 0) {
			ret = -1;
			break;
		}
	}
	evt_lines_free(&l);
	return ret;
}

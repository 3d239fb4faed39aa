/*
 * err.h - the error a library function hands back to main.
 *
 * Library functions never print or exit: they return -1 (or NULL) and fill a
 * struct evt_err with a sysexits(3) code and a message, in the manner of
 * jansson's json_error_t. Only cmd/ decides what to print and how to exit.
 */
#ifndef EVT_ERR_H
#define EVT_ERR_H

#include <sysexits.h>

struct evt_err {
	int code;		/* sysexits(3) code, EX_OK when no error */
	int taken;		/* EX_TEMPFAIL from an append: the id is stored
				 * already with another type (log.h), not a
				 * version conflict nor a lost connection */
	char msg[512];		/* one line, no trailing newline, no prog prefix */
};

/* Set err (if not NULL) to code and a printf-style message; returns -1 so a
 * caller can write `return evt_err_set(err, EX_DATAERR, "...")`. */
int evt_err_set(struct evt_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with "where: " (for context added on the
 * way up). */
void evt_err_prefix(struct evt_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

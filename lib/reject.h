/*
 * reject.h - the file that --reject FILE names: each bad input line set
 * aside with where it came from and why, one JSON object a line
 * ({"input","line","error","text"}), so that every line read was either
 * taken or set aside (DESIGN §4). Created mode 0600: rejected lines are
 * events, with their data.
 */
#ifndef EVT_REJECT_H
#define EVT_REJECT_H

#include <stddef.h>

#include "err.h"

struct evt_reject;

/* Create (or truncate) path. Returns a new handle, or NULL with err
 * (EX_CANTCREAT). */
struct evt_reject *evt_reject_open(const char *path, struct evt_err *err);
/*
 * Set aside line[0..len) (borrowed; NULL: no text, e.g. a line too long
 * to keep), read from where at lineno, for reason. Flushed at once, so a
 * crash keeps what was set aside. Returns 0, or -1 with err (EX_IOERR).
 */
int evt_reject_line(struct evt_reject *rj, const char *where, long long lineno,
    const char *line, size_t len, const char *reason, struct evt_err *err);
/* Lines set aside so far. */
long long evt_reject_count(const struct evt_reject *rj);
/* The path given to evt_reject_open (borrowed). */
const char *evt_reject_path(const struct evt_reject *rj);
/* Close rj; NULL is a no-op. Returns 0, or -1 with err (EX_IOERR). */
int evt_reject_close(struct evt_reject *rj, struct evt_err *err);

#endif

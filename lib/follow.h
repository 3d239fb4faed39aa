/*
 * follow.h - wait for new events in a log, for --follow.
 *
 * Wakes on inotify(7) events for the log's files (no polling loop), on
 * SIGINT or SIGTERM (taken through a signalfd, so a signal can never be
 * lost between the check and the wait), and when stdout's reader goes away.
 * Open it before the first read, so nothing appended in between is missed.
 */
#ifndef EVT_FOLLOW_H
#define EVT_FOLLOW_H

#include "err.h"
#include "log.h"

struct evt_follow;

/* A new watcher on log (borrowed; must outlive the watcher). Blocks
 * SIGINT and SIGTERM for the process. NULL with err on failure. */
struct evt_follow *evt_follow_open(struct evt_log *log, struct evt_err *err);
/*
 * Wait until the log may have new events (1), or the program should stop
 * (0: a signal came or stdout was closed), or timeout_ms passed (1 too: the
 * caller just reads again). -1 with err on failure.
 */
int evt_follow_wait(struct evt_follow *f, int timeout_ms, struct evt_err *err);
/* Whether a stop signal has arrived, without waiting. */
int evt_follow_stopping(struct evt_follow *f);
void evt_follow_close(struct evt_follow *f);

#endif

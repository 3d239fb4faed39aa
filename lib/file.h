/*
 * file.h - files written whole: a reader sees the old contents or the new,
 * never a part (metrics textfiles, checkpoints).
 */
#ifndef EVT_FILE_H
#define EVT_FILE_H

#include <stddef.h>

#include "err.h"

/*
 * Write p[0..n) to path atomically: a temporary file beside it, fsync
 * when sync (EVT_WRITE_SYNC), rename. The file gets mode (0600 for what
 * holds events or digests, 0644 for a node_exporter textfile). A
 * checkpoint is synced: a crash must not leave it empty. A metrics
 * textfile is not: readers see it whole either way and it is written
 * again at the next tick, so a disk flush every few seconds from every
 * follower would buy nothing. Returns 0, or -1 with err (EX_CANTCREAT,
 * EX_IOERR).
 */
#define EVT_WRITE_SYNC 1
int evt_write_atomic(const char *path, const char *p, size_t n, int mode,
    int sync, struct evt_err *err);

/*
 * open(2) path with flags (O_WRONLY or O_RDWR, O_CREAT, O_TRUNC...) and
 * mode for output, never through a symbolic link to a regular file or to
 * nothing (a link to a device or a pipe is followed, and so is one
 * under /dev or /proc, as /dev/stderr).
 * Returns the descriptor (close-on-exec), or -1 with err (EX_CANTCREAT).
 */
int evt_open_out(const char *path, int flags, int mode, struct evt_err *err);

#endif

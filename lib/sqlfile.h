/*
 * sqlfile.h - a SQLite database of evt's own (a read model, audit-scan's
 * state) created private, with the errors a user can act on.
 */
#ifndef EVT_SQLFILE_H
#define EVT_SQLFILE_H

#include <sqlite3.h>

#include "err.h"

/*
 * Open or create the database path read-write into *db. A new file is
 * created 0600 before SQLite would make it 0644 (its -wal and -shm take the
 * same mode): it holds payments and personal data. Returns 0, or -1 with
 * err (EX_NOINPUT: its directory does not exist; EX_IOERR: the rest) and
 * *db NULL.
 */
int evt_sqlfile_open(const char *path, sqlite3 **db, struct evt_err *err);

#endif

/*
 * sqlfile.c - private SQLite databases (sqlfile.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlfile.h"

int
evt_sqlfile_open(const char *path, sqlite3 **db, struct evt_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd >= 0)
		close(fd);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) == SQLITE_OK)
		return 0;
	/* A missing directory is a missing input; the rest (no permission,
	 * a full disk) is an I/O error. */
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	struct stat st;
	int nodir = slash && (*slash = '\0', stat(*dir ? dir : "/", &st) != 0);
	free(dir);
	evt_err_set(err, nodir ? EX_NOINPUT : EX_IOERR, "%s: %s", path,
	    nodir ? "no such directory" : *db ? sqlite3_errmsg(*db) :
	    "cannot open");
	sqlite3_close(*db);
	*db = NULL;
	return -1;
}

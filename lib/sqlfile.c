/*
 * sqlfile.c - private SQLite databases (sqlfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlfile.h"

int
evt_sqlfile_open(const char *path, sqlite3 **db, struct evt_err *err)
{
	/* Never through a symbolic link: one planted in a shared directory
	 * would have the read model or state written into another file. */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd >= 0)
		close(fd);
	else if (errno == ELOOP) {
		*db = NULL;
		return evt_err_set(err, EX_CANTCREAT, "%s: a symbolic link: "
		    "refusing to write through it (give the file's own path)",
		    path);
	}
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL) == SQLITE_OK)
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

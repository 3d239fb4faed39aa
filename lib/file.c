/*
 * file.c - files written whole (file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"

int
evt_write_atomic(const char *path, const char *p, size_t n, int mode,
    struct evt_err *err)
{
	struct evt_buf tmp = EVT_BUF_INIT;
	int fd, rc = -1;

	evt_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		evt_err_set(err, EX_CANTCREAT, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, p, n) != (ssize_t)n || fsync(fd) < 0) {
		evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp.p);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp.p, path) < 0) {
		evt_err_set(err, EX_IOERR, "%s: %s", path, strerror(errno));
		unlink(tmp.p);
		goto out;
	}
	rc = 0;
out:
	evt_buf_free(&tmp);
	return rc;
}

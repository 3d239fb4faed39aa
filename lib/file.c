/*
 * file.c - files written whole (file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "file.h"

int
evt_write_atomic(const char *path, const char *p, size_t n, int mode,
    int sync, struct evt_err *err)
{
	struct evt_buf tmp = EVT_BUF_INIT;
	int fd, rc = -1;

	/* A name of its own, made here (O_EXCL, O_NOFOLLOW): whatever is
	 * there under it (a crashed run's leftover, a planted link) is
	 * removed first, never written through. The rename replaces the
	 * name path, not what a link there points to. */
	evt_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0 && errno == EEXIST && unlink(tmp.p) == 0)
		fd = open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, mode);
	if (fd < 0) {
		evt_err_set(err, EX_CANTCREAT, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, p, n) != (ssize_t)n || (sync && fsync(fd) < 0)) {
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

/*
 * Open path for writing, through no symbolic link to a regular file (or
 * to nothing): one planted in a shared directory must not make evt write
 * its output over someone else's file. A link to what is not a regular
 * file (a terminal, a pipe) is followed: writing there overwrites
 * nothing; and so is one under /dev or /proc, the system's own
 * (/dev/stderr, /dev/fd/N), whatever file the descriptor has open.
 */
int
evt_open_out(const char *path, int flags, int mode, struct evt_err *err)
{
	struct stat st;
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd >= 0 || errno != ELOOP) {
		if (fd < 0)
			evt_err_set(err, EX_CANTCREAT, "%s: %s", path,
			    strerror(errno));
		return fd;
	}
	/* /dev and /proc are the system's: /dev/stderr is a link to the
	 * descriptor, whatever file 2>>FILE opened there. */
	int sys = strncmp(path, "/dev/", 5) == 0 ||
	    strncmp(path, "/proc/", 6) == 0;
	if (stat(path, &st) < 0 || S_ISDIR(st.st_mode) ||
	    (S_ISREG(st.st_mode) && !sys)) {
		evt_err_set(err, EX_CANTCREAT, "%s: a symbolic link: refusing "
		    "to write through it (give the file's own path)", path);
		return -1;
	}
	fd = open(path, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (fd < 0)
		evt_err_set(err, EX_CANTCREAT, "%s: %s", path, strerror(errno));
	return fd;
}

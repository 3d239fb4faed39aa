/*
 * faileio.so - fault injection for test/log-faults.bats: fsync(2) and
 * fdatasync(2) of the file named by EVT_FAIL_PATH fail with EIO, as a disk
 * error would.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
is_target(int fd)
{
	char p[64], t[PATH_MAX];
	const char *want = getenv("EVT_FAIL_PATH");
	ssize_t n;

	if (want == NULL)
		return 0;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if ((n = readlink(p, t, sizeof(t) - 1)) < 0)
		return 0;
	t[n] = '\0';
	return strcmp(t, want) == 0;
}

int
fdatasync(int fd)
{
	int (*real)(int) = dlsym(RTLD_NEXT, "fdatasync");

	if (is_target(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
fsync(int fd)
{
	int (*real)(int) = dlsym(RTLD_NEXT, "fsync");

	if (is_target(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

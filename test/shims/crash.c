/*
 * crash.so - fault injection for test/log-faults.bats: the process is
 * killed (SIGKILL, as by a power cut or kill -9) at its first write(2) to
 * the file named by EVT_CRASH_PATH, or to any file whose name starts with
 * EVT_CRASH_PREFIX. With EVT_CRASH_BYTES=N it first writes N bytes of that
 * write, leaving a torn transaction behind.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
is_target(int fd)
{
	const char *want = getenv("EVT_CRASH_PATH");
	const char *prefix = getenv("EVT_CRASH_PREFIX");
	char p[64], t[PATH_MAX];
	ssize_t n;

	if (want == NULL && prefix == NULL)
		return 0;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if ((n = readlink(p, t, sizeof(t) - 1)) < 0)
		return 0;
	t[n] = '\0';
	return (want && strcmp(t, want) == 0) ||
	    (prefix && strncmp(t, prefix, strlen(prefix)) == 0);
}

ssize_t
write(int fd, const void *b, size_t n)
{
	ssize_t (*real)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");

	if (is_target(fd)) {
		const char *k = getenv("EVT_CRASH_BYTES");
		size_t part = k ? (size_t)strtoull(k, NULL, 10) : 0;
		if (part > n)
			part = n;
		if (part)
			real(fd, b, part);
		raise(SIGKILL);
	}
	return real(fd, b, n);
}

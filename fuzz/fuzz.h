/*
 * fuzz.h - what the libFuzzer harnesses share (make fuzz; fuzz/README).
 */
#ifndef EVT_FUZZ_H
#define EVT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a NUL-terminated string (malloc'd; free it). */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* data written to a private temporary file, for parsers that take a
 * path; its name in path (unlink it). */
static inline void
fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/evt-fuzz.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

#define FUZZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

#endif

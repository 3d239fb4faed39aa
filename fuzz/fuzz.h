/*
 * fuzz.h - what the libFuzzer harnesses share (make fuzz; fuzz/README).
 */
#ifndef EVT_FUZZ_H
#define EVT_FUZZ_H

#include <errno.h>
#include <fcntl.h>
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

/* data written to a new file, for parsers that take a path; its name in
 * path (unlink it). The name is the same from run to run but for the
 * process (its pid, in letters) and the files of this process that exist
 * already (a last letter): a name mkstemp(3) drew at random showed in
 * error messages, where the card-number and IBAN scanners (lib/pan.c)
 * took its random letters and digits for new coverage. That noise kept
 * inputs in the corpora and made the -runs=0 figures differ by an edge
 * from run to run. Lower-case letters are nothing either scanner looks
 * at. */
static inline void
fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	char pid[8];
	unsigned long v = (unsigned long)getpid();
	int fd = -1;

	for (int i = 0; i < 7; i++, v /= 26)
		pid[i] = (char)('a' + v % 26);
	pid[7] = '\0';
	for (int n = 0; fd < 0 && n < 26; n++) {
		snprintf(path, cap, "/tmp/evt-fuzz.%s%c", pid, 'a' + n);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
		if (fd < 0 && errno != EEXIST)
			abort();
	}
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

#define FUZZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

#endif

/*
 * utf8.h - UTF-8 as RFC 3629 has it, for the JSON scanner and what
 * writes JSON strings.
 */
#ifndef EVT_UTF8_H
#define EVT_UTF8_H

#include <stddef.h>

/* The length (2 to 4) of the multibyte UTF-8 sequence at u[0..left), or
 * 0 when it is not one (overlong, a surrogate, past U+10FFFF, cut). */
static inline size_t
evt_utf8_len(const unsigned char *u, size_t left)
{
	unsigned c = u[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0) lo = 0x90;
		if (c == 0xF4) hi = 0x8F;
	} else
		return 0;
	if (left < n || u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xBF)
			return 0;
	return n;
}

#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "utf8.h"

void
evt_buf_grow(struct evt_buf *b, size_t extra)
{
	size_t want = b->len + extra, cap = b->cap ? b->cap : 256;

	while (cap < want)
		cap *= 2;
	if (cap == b->cap)
		return;
	b->p = realloc(b->p, cap);
	if (b->p == NULL) {
		fputs("out of memory\n", stderr);
		abort();
	}
	b->cap = cap;
}

void
evt_buf_free(struct evt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
evt_buf_printf(struct evt_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	evt_buf_grow(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Bytes that are not UTF-8 (an AMQP header, a file name) each become
 * U+FFFD, so that what is written is always JSON. */
void
evt_buf_json_str(struct evt_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;

	evt_buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		if (c >= 0x80) {
			size_t k = evt_utf8_len((const unsigned char *)s + i, n - i);
			if (k) {
				i += k - 1;
				continue;
			}
			evt_buf_add(b, s + start, i - start);
			start = i + 1;
			evt_buf_adds(b, "\\ufffd");
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evt_buf_add(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
			u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
			esc = u;
		}
		evt_buf_adds(b, esc);
	}
	evt_buf_add(b, s + start, n - start);
	evt_buf_addc(b, '"');
}

char *
evt_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return d;
}

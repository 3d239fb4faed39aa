/*
 * buf.h - a growable byte buffer, reused across lines so the hot loops do
 * not allocate (after the first few lines, never).
 *
 * The buffer owns its memory; evt_buf_free releases it and leaves an empty,
 * reusable buffer. Allocation failure aborts: a program that cannot get a few
 * kilobytes has no useful way on, and every caller checking would hide the
 * real logic.
 */
#ifndef EVT_BUF_H
#define EVT_BUF_H

#include <stddef.h>
#include <string.h>

struct evt_buf {
	char *p;
	size_t len;
	size_t cap;
};

#define EVT_BUF_INIT { NULL, 0, 0 }

void evt_buf_grow(struct evt_buf *b, size_t extra);
void evt_buf_free(struct evt_buf *b);
void evt_buf_printf(struct evt_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A copy of s; like the buffers, aborts when out of memory. */
char *evt_strdup(const char *s);
/* Append s as a JSON string literal (quotes and escapes added; a byte
 * that is not UTF-8 becomes \ufffd). */
void evt_buf_json_str(struct evt_buf *b, const char *s, size_t n);

static inline void
evt_buf_add(struct evt_buf *b, const void *s, size_t n)
{
	if (b->cap - b->len < n + 1)
		evt_buf_grow(b, n + 1);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void
evt_buf_addc(struct evt_buf *b, char c)
{
	if (b->cap - b->len < 2)
		evt_buf_grow(b, 2);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static inline void
evt_buf_adds(struct evt_buf *b, const char *s)
{
	evt_buf_add(b, s, strlen(s));
}

static inline void
evt_buf_reset(struct evt_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

#endif

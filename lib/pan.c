#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pan.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static int
luhn(const char *d, size_t n)
{
	int sum = 0;

	for (size_t i = 0; i < n; i++) {
		int x = d[n - 1 - i] - '0';
		if (i % 2) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

/*
 * Whether n digits d can be a card number that an issuer issues today:
 * the prefixes (IIN ranges) and lengths the card schemes publish. No
 * 13-digit Visa (none issued for decades): an EAN-13 barcode, a German
 * mobile number (+49 15x...) or a millisecond timestamp passes Luhn one
 * time in ten, and must not be taken for a card.
 */
static int
issuer_ok(const char *d, size_t n)
{
	int p1 = d[0] - '0', p2 = p1 * 10 + d[1] - '0';
	int p3 = p2 * 10 + d[2] - '0', p4 = p3 * 10 + d[3] - '0';

	if (p1 == 4)					/* Visa */
		return n == 16 || n == 19;
	if (p2 == 34 || p2 == 37)			/* American Express */
		return n == 15;
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
		return n == 16;				/* Mastercard */
	if (p4 >= 2200 && p4 <= 2204)			/* Mir */
		return n >= 16;
	if ((p3 >= 300 && p3 <= 305) || p3 == 309 || p2 == 36 || p2 == 38 ||
	    p2 == 39)					/* Diners Club */
		return n >= 14;
	if (p4 >= 3528 && p4 <= 3589)			/* JCB */
		return n >= 16;
	if (p1 == 6 || p2 == 50 || (p2 >= 56 && p2 <= 58))
		return n >= 16;	/* Discover, UnionPay, Maestro, RuPay */
	if (p2 == 81 || p2 == 82)			/* RuPay */
		return n == 16;
	return 0;
}

/*
 * The length in bytes of the separator character at s[i], or 0: what
 * people and systems put between a card number's digit groups. Unicode
 * characters as UTF-8.
 */
static size_t
sep_len(const unsigned char *s, size_t n, size_t i)
{
	unsigned char c = s[i], c1 = i + 1 < n ? s[i + 1] : 0;
	unsigned char c2 = i + 2 < n ? s[i + 2] : 0;

	switch (c) {
	case ' ': case '\t': case '-': case '.': case '/': case '_':
		return 1;
	case 0xc2:		/* U+00A0 no-break space, U+00AD soft hyphen */
		return c1 == 0xa0 || c1 == 0xad ? 2 : 0;
	case 0xe1:		/* U+1680 ogham space */
		return c1 == 0x9a && c2 == 0x80 ? 3 : 0;
	case 0xe2:
		if (c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8b) ||
		    (c2 >= 0x90 && c2 <= 0x95) || c2 == 0xaf))
			return 3;	/* U+2000-200B spaces, U+2010-2015
					 * dashes, U+202F narrow no-break */
		if (c1 == 0x81 && (c2 == 0x9f || c2 == 0xa0))
			return 3;	/* U+205F, U+2060 word joiner */
		if (c1 == 0x88 && c2 == 0x92)
			return 3;	/* U+2212 minus */
		return 0;
	case 0xe3:		/* U+3000 ideographic space */
		return c1 == 0x80 && c2 == 0x80 ? 3 : 0;
	case 0xef:		/* U+FEFF, U+FF0D-FF0F fullwidth - . / */
		if ((c1 == 0xbb && c2 == 0xbf) ||
		    (c1 == 0xbc && c2 >= 0x8d && c2 <= 0x8f))
			return 3;
		return 0;
	}
	return 0;
}

/* Separators between two groups: at most this many characters. */
#define MAX_SEP 4

/* IBANs found in a text: their byte ranges. */
#define MAX_IBAN 16

struct ibans {
	size_t from[MAX_IBAN], to[MAX_IBAN];
	int n;
};

/* The value mod 97 of c as an IBAN character (letters are 10-35),
 * appended to m. */
static unsigned
mod97_add(unsigned m, char c)
{
	if (is_digit(c))
		return (m * 10 + (unsigned)(c - '0')) % 97;
	return (m * 100 + (unsigned)(c - 'A' + 10)) % 97;
}

/*
 * The valid IBANs in s[0..n) (ISO 13616: two letters, two check digits,
 * up to 30 letters and digits, in groups separated by single spaces; its
 * check is mod 97 == 1), the longest at each start. Their digits are an
 * account, not a card, whatever Luhn says.
 */
static void
find_ibans(const char *s, size_t n, struct ibans *ib)
{
	ib->n = 0;
	for (size_t p = 0; p + 4 < n && ib->n < MAX_IBAN; p++) {
		if (!is_upper(s[p]) || !is_upper(s[p + 1]) || !is_digit(s[p + 2]) ||
		    !is_digit(s[p + 3]) || (p > 0 && (is_upper(s[p - 1]) ||
		    is_digit(s[p - 1]) || (s[p - 1] >= 'a' && s[p - 1] <= 'z'))))
			continue;
		unsigned tail = 0, m = 0, pow6 = 1;
		for (int k = 0; k < 4; k++)
			tail = mod97_add(tail, s[p + k]);
		for (int k = 0; k < 6; k++)
			pow6 = pow6 * 10 % 97;
		size_t q = p + 4, nal = 4, end = 0;
		while (q < n && nal < 34) {
			if (s[q] == ' ' && q + 1 < n && (is_digit(s[q + 1]) ||
			    is_upper(s[q + 1]))) {
				q++;
				continue;
			}
			if (!is_digit(s[q]) && !is_upper(s[q]))
				break;
			m = mod97_add(m, s[q]);
			nal++;
			q++;
			/* The country and check digits go last: 6 digits.
			 * It ends where the text does, or before a word: a
			 * shorter prefix that happens to check is no IBAN. */
			int last = q == n || (!is_digit(s[q]) && !is_upper(s[q]) &&
			    !(s[q] == ' ' && q + 1 < n && is_digit(s[q + 1])));
			if (nal >= 15 && last && (m * pow6 + tail) % 97 == 1)
				end = q;
			if (last && !(q < n && s[q] == ' '))
				break;
		}
		if (end) {
			ib->from[ib->n] = p;
			ib->to[ib->n++] = end;
			p = end;
		}
	}
}

static int
in_iban(const struct ibans *ib, size_t from, size_t to)
{
	for (int i = 0; i < ib->n; i++)
		if (from < ib->to[i] && to > ib->from[i])
			return 1;
	return 0;
}

/*
 * Call fn for every card number in s[0..n): a window of whole digit
 * groups (a group starts after a non-digit and ends before one), the
 * groups joined by separators, with 13 to 19 digits, from s[from] to
 * s[to - 1]. Every window is tried, so a card number next to other digit
 * groups ("card 4111 1111 1111 1111 12/25", "ref 99 4111...") is found.
 * A window in an IBAN is none, unless ibans is 0. Stops when fn returns
 * non-zero, and returns that.
 */
static int
pan_each(const char *s, size_t n, int ibans,
    int (*fn)(void *arg, size_t from, size_t to, const char *d, size_t nd),
    void *arg)
{
	const unsigned char *u = (const unsigned char *)s;
	struct ibans ib;
	int ibans_found = 0;

	for (size_t i = 0; i < n; i++) {
		char d[20];
		size_t nd = 0, j = i;
		int rc;

		if (!is_digit(s[i]) || (i > 0 && is_digit(s[i - 1])))
			continue;
		/* A phone number in international form: +49 151 ... */
		if (i > 0 && s[i - 1] == '+')
			continue;
		for (;;) {
			/* Past 19 digits no window from i is a card number:
			 * no need to count the rest of a long run (from each
			 * of the 19 starts before it). */
			while (j < n && is_digit(s[j]) && nd <= 19) {
				if (nd < sizeof(d))
					d[nd] = s[j];
				nd++;
				j++;
			}
			if (nd > 19)
				break;
			if (nd >= 13 && luhn(d, nd) && issuer_ok(d, nd)) {
				if (!ibans_found) {
					ib.n = 0;
					if (ibans)
						find_ibans(s, n, &ib);
					ibans_found = 1;
				}
				if (!in_iban(&ib, i, j) &&
				    (rc = fn(arg, i, j, d, nd)) != 0)
					return rc;
			}
			size_t k = j, l;
			int seps = 0;
			while (k < n && seps < MAX_SEP && (l = sep_len(u, n, k)) > 0) {
				k += l;
				seps++;
			}
			if (seps > 0 && k < n && is_digit(s[k]))
				j = k;
			else
				break;
		}
	}
	return 0;
}

static int
first_pan(void *arg, size_t from, size_t to, const char *d, size_t nd)
{
	char *mask = arg;

	(void)from; (void)to;
	memcpy(mask, d, 6);
	memset(mask + 6, '*', nd - 10);
	memcpy(mask + nd - 4, d + nd - 4, 4);
	mask[nd] = '\0';
	return 1;
}

/*
 * No run of digit groups joined by separators has 13 digits: no card
 * number (most text, and ids: a UUID's digits are split by letters). One
 * pass, before the windows are tried.
 */
static int
few_digits(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0, l;
	int seps = 0;

	for (size_t i = 0; i < n; ) {
		if (is_digit(s[i])) {
			if (++run >= 13)
				return 0;
			seps = 0;
			i++;
		} else if (run && seps < MAX_SEP && (l = sep_len(u, n, i)) > 0) {
			seps++;
			i += l;
		} else {
			run = 0;
			seps = 0;
			i++;
		}
	}
	return 1;
}

int
evt_find_pan(const char *s, size_t n, char *mask)
{
	if (few_digits(s, n))
		return 0;
	return pan_each(s, n, 1, first_pan, mask);
}

struct masking {
	char *p;		/* the copy being masked */
	int count;
	int whole;		/* every digit of a window, not the middle */
};

static int
mask_pan(void *arg, size_t from, size_t to, const char *d, size_t nd)
{
	struct masking *m = arg;
	size_t k = 0;

	(void)d;
	/* Windows may overlap: a digit stays visible only where no window
	 * hides it. */
	for (size_t i = from; i < to; i++)
		if (is_digit(m->p[i]) || m->p[i] == '*') {
			if (m->whole || (k >= 6 && k < nd - 4))
				m->p[i] = '*';
			k++;
		}
	m->count++;
	return 0;
}

/*
 * A mask ends a group where a digit was: the digits left around it can
 * make whole groups that no window of the original had, and one of them
 * may pass as a card number ("38 3838 34 394 3449" masked to "... 344*"
 * leaves the 14 digits of "38 3838 34 394 344"). Mask again until the
 * text holds none: no masked text is ever found to hold a card number.
 *
 * What is found again is masked whole. Were its first six and last four
 * digits left, they could make new groups in turn: a chain of numbers,
 * each made a card number by the digits its neighbour's mask leaves,
 * took a pass each over the whole text, quadratic time (16 MiB of them:
 * days). A window is whole groups, so masked whole its groups are gone
 * and the groups left are groups the text had: every window the next pass
 * can find was a window of this one, found already. So the next pass
 * finds none, but for a window an IBAN hid: masking a digit before an
 * IBAN lets find_ibans take it, which can push another past MAX_IBAN.
 * After a few passes IBANs hide nothing (then even a window in one is
 * masked whole), and the pass after finds none: at most seven passes.
 */
static void
remask(char *p, size_t n, int masked)
{
	char *copy;

	if (masked == 0)
		return;
	if ((copy = malloc(n + 1)) == NULL)
		abort();
	for (int pass = 1;; pass++) {
		struct masking m = { p, 0, 1 };
		memcpy(copy, p, n);
		copy[n] = '\0';
		pan_each(copy, n, pass < 6, mask_pan, &m);
		if (m.count == 0)
			break;
	}
	free(copy);
}

int
evt_pan_mask(const char *s, size_t n, struct evt_buf *out)
{
	size_t at = out->len;
	struct masking m;

	evt_buf_add(out, s, n);
	if (few_digits(s, n))
		return 0;
	m.p = out->p + at;
	m.count = 0;
	m.whole = 0;
	/* Scan the original: masking as it goes must not hide a later
	 * window's digits from the check. */
	pan_each(s, n, 1, mask_pan, &m);
	remask(m.p, n, m.count);
	return m.count;
}

int
evt_pan_mask_str(char *s)
{
	size_t n = strlen(s);
	struct masking m = { s, 0, 0 };
	char *copy;

	/* Most text has too few digits: nothing to copy. */
	if (few_digits(s, n))
		return 0;
	if ((copy = malloc(n + 1)) == NULL)
		abort();
	memcpy(copy, s, n + 1);
	pan_each(copy, n, 1, mask_pan, &m);
	free(copy);
	remask(s, n, m.count);
	return m.count;
}

#include <string.h>

#include "decimal.h"

__extension__ typedef unsigned __int128 u128;

/* 10^k for 0 <= k <= 38. */
static u128
p10(int k)
{
	u128 r = 1;

	while (k-- > 0)
		r *= 10;
	return r;
}

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

int
evt_dec_parse(const char *raw, size_t n, struct evt_dec *v)
{
	const char *p = raw, *end = raw + n, *is, *fs = NULL;
	size_t ni, nf = 0;
	long long exp = 0;
	int neg = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	/* The grammar of RFC 8259, strictly: -?(0|[1-9][0-9]*)(.[0-9]+)?
	 * ([eE][+-]?[0-9]+)? and nothing else. */
	is = p;
	if (p == end || !digit(*p))
		return EVT_DEC_SYNTAX;
	if (*p == '0')
		p++;
	else
		while (p < end && digit(*p))
			p++;
	ni = (size_t)(p - is);
	if (p < end && *p == '.') {
		fs = ++p;
		while (p < end && digit(*p))
			p++;
		nf = (size_t)(p - fs);
		if (nf == 0)
			return EVT_DEC_SYNTAX;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		int eneg = 0;
		const char *es;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		es = p;
		for (; p < end && digit(*p); p++)
			if (exp < 1000000000LL)
				exp = exp * 10 + (*p - '0');
		if (p == es)
			return EVT_DEC_SYNTAX;
		if (eneg)
			exp = -exp;
	}
	if (p != end)
		return EVT_DEC_SYNTAX;

	/* The digits, integer part then decimals, are D = d[0..ni+nf); the
	 * value is D * 10^(exp - nf). Only the significant ones count: from
	 * the first non-zero to the last. */
#define D(k) ((k) < ni ? is[(k)] : fs[(k) - ni])
	size_t nd = ni + nf, first = 0, last;
	while (first < nd && D(first) == '0')
		first++;
	if (first == nd) {
		*v = EVT_DEC_ZERO;
		return EVT_DEC_OK;
	}
	last = nd - 1;
	while (D(last) == '0')
		last--;
	size_t len = last - first + 1;
	long long e = exp - (long long)nf + (long long)(nd - 1 - last);
	if (len > EVT_DEC_DIGITS ||
	    (e >= 0 && (long long)len + e > EVT_DEC_DIGITS) ||
	    (e < 0 && -e > EVT_DEC_DIGITS))
		return EVT_DEC_RANGE;
	u128 m = 0;
	for (size_t k = first; k <= last; k++)
		m = m * 10 + (u128)(D(k) - '0');
#undef D
	if (e > 0)
		m *= p10((int)e);
	v->m = neg ? -(evt_dec_int)m : (evt_dec_int)m;
	v->scale = e < 0 ? (int)-e : 0;
	return EVT_DEC_OK;
}

static u128
mag(evt_dec_int m)
{
	return m < 0 ? (u128)0 - (u128)m : (u128)m;
}

int
evt_dec_sign(struct evt_dec a)
{
	return a.m < 0 ? -1 : a.m > 0;
}

int
evt_dec_add(struct evt_dec *r, struct evt_dec a, struct evt_dec b)
{
	const u128 lim = p10(EVT_DEC_DIGITS);	/* |m| stays below */
	int s = a.scale > b.scale ? a.scale : b.scale;
	u128 base = p10(s);

	/*
	 * Each as integer part and decimals at the larger scale, so that
	 * nothing is scaled past 128 bits on the way: -10 + 0.98...
	 * (37 decimals) is -9.01... (38 digits), though -10 at scale 37
	 * has 39.
	 */
	u128 ia = mag(a.m) / p10(a.scale), ib = mag(b.m) / p10(b.scale);
	u128 fa = mag(a.m) % p10(a.scale) * p10(s - a.scale);
	u128 fb = mag(b.m) % p10(b.scale) * p10(s - b.scale);
	int sa = evt_dec_sign(a), sb = evt_dec_sign(b), sign;
	u128 q, f;

	if (sa == 0 || sb == 0 || sa == sb) {
		sign = sa ? sa : sb;
		q = ia + ib;
		f = fa + fb;
		if (f >= base) {
			f -= base;
			q++;
		}
	} else {
		/* The larger magnitude less the smaller, its sign kept. */
		int a_big = ia > ib || (ia == ib && fa >= fb);
		u128 qb = a_big ? ib : ia, fs = a_big ? fb : fa;
		q = a_big ? ia : ib;
		f = a_big ? fa : fb;
		sign = a_big ? sa : sb;
		if (f < fs) {
			f += base;
			q--;
		}
		q -= qb;
		f -= fs;
	}
	while (s > 0 && f % 10 == 0) {
		f /= 10;
		base /= 10;
		s--;
	}
	if (q > (lim - 1 - f) / base)
		return EVT_DEC_RANGE;
	evt_dec_int x = (evt_dec_int)(q * base + f);
	r->m = sign < 0 ? -x : x;
	r->scale = x == 0 ? 0 : s;
	return EVT_DEC_OK;
}

int
evt_dec_cmp(struct evt_dec a, struct evt_dec b)
{
	int sa = evt_dec_sign(a), sb = evt_dec_sign(b);

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (sa == 0)
		return 0;
	/* Same sign: compare the magnitudes, integer parts first, then the
	 * decimals at the larger scale (below 10^38, so they fit). */
	u128 xa = mag(a.m), xb = mag(b.m), pa = p10(a.scale), pb = p10(b.scale);
	u128 ia = xa / pa, ib = xb / pb;
	int c = 0;
	if (ia != ib)
		c = ia < ib ? -1 : 1;
	else {
		int s = a.scale > b.scale ? a.scale : b.scale;
		u128 da = (xa % pa) * p10(s - a.scale);
		u128 db = (xb % pb) * p10(s - b.scale);
		c = da < db ? -1 : da > db;
	}
	return sa < 0 ? -c : c;
}

void
evt_dec_format(struct evt_buf *b, struct evt_dec v, int min_scale)
{
	char d[2 * EVT_DEC_DIGITS + 4];
	int nd = 0, scale = v.scale;
	u128 x = mag(v.m);

	/* The digits, least significant first, at least one before the
	 * point. */
	do {
		d[nd++] = (char)('0' + (int)(x % 10));
		x /= 10;
	} while (x);
	while (nd < scale + 1)
		d[nd++] = '0';
	if (v.m < 0)
		evt_buf_addc(b, '-');
	for (int i = nd - 1; i >= scale; i--)
		evt_buf_addc(b, d[i]);
	if (scale > 0 || min_scale > 0)
		evt_buf_addc(b, '.');
	for (int i = scale - 1; i >= 0; i--)
		evt_buf_addc(b, d[i]);
	for (int i = scale; i < min_scale; i++)
		evt_buf_addc(b, '0');
}

#include <limits.h>
#include <stdio.h>

#include "decimal.h"

int
evt_dec_parse(const char *raw, size_t n, long long *v)
{
	const char *p = raw, *end = raw + n;
	int neg = 0, frac = 0, round = 0;
	long long exp = 0, m = 0;
	unsigned long long acc = 0;
	int digits_after = 0, started = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	/* Collect the significant digits into acc, counting how many come
	 * after the point; those past what fits are only looked at for
	 * rounding. */
	for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.'); p++) {
		if (*p == '.') {
			frac = 1;
			continue;
		}
		if (acc > (ULLONG_MAX - 9) / 10) {
			if (!frac)
				return -1;
			continue;	/* too many decimals: dropped below */
		}
		acc = acc * 10 + (unsigned long long)(*p - '0');
		started = 1;
		if (frac)
			digits_after++;
	}
	if (!started)
		return -1;
	if (p < end && (*p == 'e' || *p == 'E')) {
		int eneg = 0;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (exp < 100000)
				exp = exp * 10 + (*p - '0');
		if (eneg)
			exp = -exp;
	}
	/* value = acc * 10^(exp - digits_after); we want value * 10^6. */
	long long shift = exp - digits_after + 6;
	if (shift >= 0) {
		for (long long i = 0; i < shift; i++) {
			if (acc > ULLONG_MAX / 10)
				return acc == 0 ? 0 : -1;
			acc *= 10;
		}
	} else {
		for (long long i = 0; i < -shift && acc; i++) {
			round = acc % 10 >= 5;
			acc /= 10;
		}
		acc += (unsigned long long)round;
	}
	if (acc > (unsigned long long)LLONG_MAX)
		return -1;
	m = (long long)acc;
	*v = neg ? -m : m;
	return 0;
}

void
evt_dec_format(struct evt_buf *b, long long v, int min_scale)
{
	unsigned long long a = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	unsigned long long ip = a / EVT_DEC_ONE, fp = a % EVT_DEC_ONE;
	char fr[8];
	int scale = 6;

	snprintf(fr, sizeof(fr), "%06llu", fp);
	while (scale > min_scale && fr[scale - 1] == '0')
		scale--;
	evt_buf_printf(b, "%s%llu", v < 0 ? "-" : "", ip);
	if (scale > 0) {
		evt_buf_addc(b, '.');
		evt_buf_add(b, fr, (size_t)scale);
	}
}

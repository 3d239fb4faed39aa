
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/*
 * EVT_NOW, looked up once: the environment does not change under a
 * program, and getenv walks all of it (a tenth of a microsecond, on each
 * event an append stamps).
 */
static const char *
frozen_now(void)
{
	static const char *e;
	static int looked;

	if (!looked) {
		e = getenv("EVT_NOW");
		if (e != NULL && *e == '\0')
			e = NULL;
		looked = 1;
	}
	return e;
}

int
evt_clock_frozen(void)
{
	return frozen_now() != NULL;
}

int
evt_clock_now(int64_t *ms, struct evt_err *err)
{
	const char *e = frozen_now();
	struct timespec ts;

	if (e != NULL) {
		if (evt_time_parse(e, strlen(e), ms) < 0)
			return evt_err_set(err, EX_USAGE,
			    "EVT_NOW: not an RFC 3339 time: %s", e);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	*ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return 0;
}

static int
num(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * Days from 0000-03-01 based civil arithmetic (H. Hinnant's
 * days_from_civil / civil_from_days), by hand rather than timegm(3) and
 * gmtime_r(3): they are exact for every year 0000-9999, do not depend on
 * the width of time_t or the C library's idea of year 0, and cannot fail.
 */
static int64_t
days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Parse s; with ceil, a fraction past the millisecond rounds up. */
static int
parse(const char *s, size_t n, int64_t *ms, int ceil)
{
	int frac = 0, off = 0, y, mo, d, h = 0, mi = 0, sec = 0, below = 0;
	size_t i;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	/* Checked by hand rather than with strptime: strptime accepts
	 * one-digit fields and leading blanks, which RFC 3339 does not. */
	if (n < 10 || num(s, 4, &y) || s[4] != '-' || num(s + 5, 2, &mo) ||
	    s[7] != '-' || num(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	i = 10;
	if (n > 10) {
		if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || n < 19 ||
		    num(s + 11, 2, &h) || s[13] != ':' || num(s + 14, 2, &mi) ||
		    s[16] != ':' || num(s + 17, 2, &sec) || h > 23 || mi > 59 ||
		    sec > 60)
			return -1;
		i = 19;
		if (i < n && s[i] == '.') {
			int digits = 0;
			for (i++; i < n && isdigit((unsigned char)s[i]); i++, digits++) {
				if (digits < 3)
					frac = frac * 10 + (s[i] - '0');
				else if (s[i] != '0')
					below = 1;
			}
			if (digits == 0)
				return -1;
			for (; digits < 3; digits++)
				frac *= 10;
		}
		if (i >= n)
			return -1;
		if (s[i] == 'Z' || s[i] == 'z')
			i++;
		else if (s[i] == '+' || s[i] == '-') {
			int oh, om;
			if (n - i < 6 || num(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
			    num(s + i + 4, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
			i += 6;
		} else
			return -1;
	}
	if (i != n)
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: the count of seconds cannot say it */
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	    (int64_t)off * 60) * 1000 + frac + (ceil && below);
	/* The stored form has four digits of year: an offset may carry a
	 * valid local time across 0000 or 9999 in UTC. */
	if (*ms < EVT_TIME_MIN || *ms > EVT_TIME_MAX)
		return -2;
	return 0;
}

int
evt_time_parse(const char *s, size_t n, int64_t *ms)
{
	return parse(s, n, ms, 0);
}

int
evt_time_parse_ceil(const char *s, size_t n, int64_t *ms)
{
	return parse(s, n, ms, 1);
}

void
evt_time_format(int64_t ms, char *out)
{
	int64_t days, rem;
	int y, mo, d;

	if (ms < EVT_TIME_MIN)
		ms = EVT_TIME_MIN;
	if (ms > EVT_TIME_MAX)
		ms = EVT_TIME_MAX;
	days = (ms >= 0 ? ms : ms - 86399999) / 86400000;
	rem = ms - days * 86400000;
	civil_from_days(days, &y, &mo, &d);
	/* By hand, not snprintf: this is on the hot path of every append,
	 * and every field is in range here. */
	int f[7] = { y, mo, d, (int)(rem / 3600000), (int)(rem / 60000 % 60),
	    (int)(rem / 1000 % 60), (int)(rem % 1000) };
	static const char layout[] = "yyyy-mm-ddThh:mm:ss.fffZ";
	static const int width[7] = { 4, 2, 2, 2, 2, 2, 3 };
	int pos[7] = { 0, 5, 8, 11, 14, 17, 20 };
	memcpy(out, layout, EVT_TIME_LEN + 1);
	for (int i = 0; i < 7; i++)
		for (int k = width[i] - 1, v = f[i]; k >= 0; k--, v /= 10)
			out[pos[i] + k] = (char)('0' + v % 10);
}

int
evt_duration_parse(const char *s, int64_t *ms)
{
	char *e;
	double v;

	const char *d = s;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	/* Decimal digits, a fraction at most: strtod alone would take 0x10
	 * and 1e3 as well, which no one means by a duration. */
	while (isdigit((unsigned char)*d))
		d++;
	if (*d == '.' && isdigit((unsigned char)d[1]))
		for (d++; isdigit((unsigned char)*d); d++)
			;
	v = strtod(s, &e);
	if (e != d)
		return -1;
	if (*e == '\0' || strcmp(e, "s") == 0)
		v *= 1000;
	else if (strcmp(e, "ms") == 0)
		;
	else if (strcmp(e, "m") == 0)
		v *= 60e3;
	else if (strcmp(e, "h") == 0)
		v *= 3600e3;
	else if (strcmp(e, "d") == 0)
		v *= 86400e3;
	else
		return -1;
	if (v > 9e15)
		return -1;
	*ms = (int64_t)v;
	return 0;
}

int64_t
evt_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

int
evt_clock_frozen(void)
{
	const char *e = getenv("EVT_NOW");

	return e != NULL && *e != '\0';
}

int
evt_clock_now(int64_t *ms, struct evt_err *err)
{
	const char *e = getenv("EVT_NOW");
	struct timespec ts;

	if (e != NULL && *e != '\0') {
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

int
evt_time_parse(const char *s, size_t n, int64_t *ms)
{
	struct tm tm;
	int frac = 0, off = 0, y, mo, d, h = 0, mi = 0, sec = 0;
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
			for (i++; i < n && isdigit((unsigned char)s[i]); i++, digits++)
				if (digits < 3)
					frac = frac * 10 + (s[i] - '0');
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
		sec = 59;	/* a leap second: time_t cannot say it */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

void
evt_time_format(int64_t ms, char *out)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)t * 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm);
	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	out[21] = (char)('0' + frac / 10 % 10);
	out[22] = (char)('0' + frac % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

int
evt_duration_parse(const char *s, int64_t *ms)
{
	char *e;
	double v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	v = strtod(s, &e);
	if (e == s)
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

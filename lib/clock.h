/*
 * clock.h - time for events: the clock (frozen by EVT_NOW), RFC 3339
 * parsing and the one stored form, and durations such as 15m or 2h.
 *
 * Times travel as milliseconds since the Unix epoch (int64_t). The stored
 * form is always UTC with milliseconds, 2026-11-24T10:00:00.000Z, so stored
 * times compare correctly as strings.
 */
#ifndef EVT_CLOCK_H
#define EVT_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define EVT_TIME_LEN 24		/* strlen("2026-11-24T10:00:00.000Z") */
/* The times the stored form can say: years 0000 to 9999, in UTC. */
#define EVT_TIME_MIN (-62167219200000LL)	/* 0000-01-01T00:00:00.000Z */
#define EVT_TIME_MAX (253402300799999LL)	/* 9999-12-31T23:59:59.999Z */

/*
 * Now, in ms: EVT_NOW when set, else the system clock. Returns -1 with err
 * (EX_USAGE) when EVT_NOW is set but is not an RFC 3339 time.
 */
int evt_clock_now(int64_t *ms, struct evt_err *err);
/* Whether EVT_NOW is set (programs then derive ids deterministically). */
int evt_clock_frozen(void);
/* The monotonic clock in ms, for intervals and deadlines (never EVT_NOW). */
int64_t evt_mono_ms(void);

/*
 * Parse RFC 3339 (s[0..n)): date, 'T' or ' ', time, optional fraction
 * (truncated to ms), 'Z' or a numeric offset. A date alone
 * (2026-11-24) is midnight UTC, for --since and --until. Returns 0, -1
 * when s is not RFC 3339, or -2 when it is but falls outside the years
 * 0000-9999 in UTC (EVT_TIME_MIN..EVT_TIME_MAX), which the stored form
 * cannot say.
 */
int evt_time_parse(const char *s, size_t n, int64_t *ms);
/*
 * The same, but digits past the millisecond round up instead of down: for
 * bounds, so that a stored time t (whole ms) is before the bound exactly
 * when t < *ms, as --since and --until compare.
 */
int evt_time_parse_ceil(const char *s, size_t n, int64_t *ms);
/* Write the stored form of ms into out (EVT_TIME_LEN + 1 bytes). A time
 * outside EVT_TIME_MIN..EVT_TIME_MAX (which no parse returns and no clock
 * of this era gives) is written as the nearest end of the range. */
void evt_time_format(int64_t ms, char *out);

/* Parse a duration: a number with unit ms, s, m, h or d (bare number:
 * seconds). Returns 0 or -1. */
int evt_duration_parse(const char *s, int64_t *ms);

#endif

/*
 * decimal.h - exact decimal amounts: money read, summed, compared and
 * printed without floating-point drift, the same way in every program
 * that reads amounts (evt-project, audit-scan, saga-step).
 *
 * A value is m / 10^scale with |m| < 10^38 and 0 <= scale <= 38: every
 * JSON number with at most 38 significant digits whose integer part has
 * at most 38 digits is held exactly (1e14, 19.9000001, 0.000000005).
 * Nothing is ever rounded: a number beyond that range, or a sum that
 * would leave it, is refused (EVT_DEC_RANGE) and the caller says so.
 */
#ifndef EVT_DECIMAL_H
#define EVT_DECIMAL_H

#include <stddef.h>

#include "buf.h"

#define EVT_DEC_DIGITS 38

__extension__ typedef __int128 evt_dec_int;

struct evt_dec {
	evt_dec_int m;		/* the digits, signed */
	int scale;		/* how many of them are decimals */
};

#define EVT_DEC_ZERO ((struct evt_dec){ 0, 0 })

/* What evt_dec_parse and evt_dec_add return. */
enum { EVT_DEC_OK = 0, EVT_DEC_SYNTAX = -1, EVT_DEC_RANGE = -2 };

/*
 * Parse raw[0..n), which must be exactly a JSON number (RFC 8259: no
 * leading +, no leading zeros, no bare point), into *v, with trailing
 * zeros dropped (19.90 is 199/10). Returns EVT_DEC_OK, EVT_DEC_SYNTAX
 * when it is not a JSON number, EVT_DEC_RANGE when it has more digits
 * than an evt_dec holds.
 */
int evt_dec_parse(const char *raw, size_t n, struct evt_dec *v);

/* *r = a + b (r may be a or b). Returns EVT_DEC_OK, or EVT_DEC_RANGE with
 * *r unchanged when the exact sum does not fit. */
int evt_dec_add(struct evt_dec *r, struct evt_dec a, struct evt_dec b);

/* -1, 0 or 1 as a is less than, equal to or greater than b, exactly
 * (19.9000001 > 19.90 == 19.9). */
int evt_dec_cmp(struct evt_dec a, struct evt_dec b);

/* -1, 0 or 1: the sign of a. */
int evt_dec_sign(struct evt_dec a);

/* Append v to b with at least min_scale decimals, and as many more as v
 * needs to be exact: 199/10 with 2 is "19.90", 5/10^9 with 2 is
 * "0.000000005". Valid JSON and valid SQL text. */
void evt_dec_format(struct evt_buf *b, struct evt_dec v, int min_scale);

#endif

/*
 * decimal.h - exact decimal amounts for the read models: money summed
 * without floating-point drift.
 *
 * An amount is a count of millionths (int64): exact for every amount with
 * at most six decimals up to about 9.2 trillion. Parsing a JSON number
 * with more decimals rounds half away from zero at the sixth.
 */
#ifndef EVT_DECIMAL_H
#define EVT_DECIMAL_H

#include <stddef.h>

#include "buf.h"

#define EVT_DEC_ONE 1000000LL

/* Parse the JSON number raw[0..n) into *v (millionths). Returns 0, or -1
 * when it is out of range. */
int evt_dec_parse(const char *raw, size_t n, long long *v);

/* Append v to b with at least min_scale decimals (and as many more, up to
 * six, as v needs to be exact): 19900000 with 2 is "19.90". */
void evt_dec_format(struct evt_buf *b, long long v, int min_scale);

#endif

/* Exact decimals: what parses prints back to the same value; sums and
 * comparisons agree with each other. The input is two numbers split at
 * the first space. */
#include "decimal.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *sp = memchr(p, ' ', size);
	size_t na = sp ? (size_t)(sp - p) : size;
	struct evt_dec a, b, r, back, neg;
	struct evt_buf buf = EVT_BUF_INIT;

	if (evt_dec_parse(p, na, &a) != EVT_DEC_OK)
		return 0;
	evt_dec_format(&buf, a, 2);
	FUZZ_CHECK(evt_dec_parse(buf.p, buf.len, &back) == EVT_DEC_OK);
	FUZZ_CHECK(evt_dec_cmp(a, back) == 0);
	if (sp && evt_dec_parse(sp + 1, size - na - 1, &b) == EVT_DEC_OK) {
		int c = evt_dec_cmp(a, b);
		FUZZ_CHECK(c == -evt_dec_cmp(b, a));
		neg = b;
		neg.m = -neg.m;
		if (evt_dec_add(&r, a, neg) == EVT_DEC_OK)
			FUZZ_CHECK(evt_dec_sign(r) == c);
		if (evt_dec_add(&r, a, b) == EVT_DEC_OK &&
		    evt_dec_add(&back, r, neg) == EVT_DEC_OK)
			FUZZ_CHECK(evt_dec_cmp(back, a) == 0);
	}
	evt_buf_free(&buf);
	return 0;
}

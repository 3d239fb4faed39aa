/* The card-number scanner: whatever it masks holds no card number it
 * would find again, and masking never grows a string's digits. */
#include "pan.h"
#include "buf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evt_buf out = EVT_BUF_INIT;
	const char *s = (const char *)data;

	char mask[32];

	/* What was masked holds no card number any more. */
	if (evt_pan_mask(s, size, &out) > 0)
		FUZZ_CHECK(evt_find_pan(out.p, out.len, mask) == 0);
	else
		FUZZ_CHECK(evt_find_pan(s, size, mask) == 0);
	char *z = fuzz_str(data, size);
	evt_pan_mask_str(z);
	free(z);
	evt_buf_free(&out);
	return 0;
}

/* RFC 3339 times and durations: what parses formats and parses back to
 * the same instant. */
#include "clock.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), out[EVT_TIME_LEN + 1];
	int64_t ms, back, ceil_ms;

	if (evt_time_parse(s, size, &ms) == 0) {
		FUZZ_CHECK(evt_time_parse_ceil(s, size, &ceil_ms) == 0);
		FUZZ_CHECK(ceil_ms >= ms);
		evt_time_format(ms, out);
		if (evt_time_parse(out, strlen(out), &back) == 0)
			FUZZ_CHECK(back == ms);
	}
	evt_duration_parse(s, &ms);
	free(s);
	return 0;
}

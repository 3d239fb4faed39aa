/* RFC 3339 times and durations: what parses formats and parses back to
 * the same instant; a duration is never negative. */
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
	if (evt_duration_parse(s, &ms) == 0)
		FUZZ_CHECK(ms >= 0 && ms <= 9000000000000000LL);
	free(s);
	return 0;
}

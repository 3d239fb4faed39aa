/* The JSON scanner and event parsing, as input (compacting) and as stored
 * lines; a parsed input event is one compact line, and renders to a
 * stored line that parses back (the scanner alone: fuzz/json.c). */
#include "event.h"
#include "json.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev, back;
	struct evt_err err;
	const char *line = (const char *)data;

	if (evt_event_parse(&ev, line, size, 1, &err) == 0) {
		/* One line, compact already. */
		FUZZ_CHECK(memchr(ev.j.out.p, '\n', ev.j.out.len) == NULL);
		FUZZ_CHECK(evt_event_parse(&back, ev.j.out.p, ev.j.out.len, 0,
		    &err) == 0);
		evt_event_assign(&ev, 1, 1, 1767225600000LL, "fuzz");
		FUZZ_CHECK(evt_event_parse_stored(&back, ev.body.p, ev.body.len,
		    &err) == 0);
	}
	evt_event_parse(&ev, line, size, 0, &err);
	evt_event_parse_stored(&ev, line, size, &err);
	return 0;
}

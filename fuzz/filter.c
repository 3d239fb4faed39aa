/* The filters evt-replay builds from its options, against an event: the
 * input is "TYPE-PATTERN\nSUBJECT\nCATEGORY\nEVENT-LINE". */
#include "event.h"
#include "filter.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev;
	struct evt_filter f;
	struct evt_err err;
	char *s = fuzz_str(data, size), *part[4] = { NULL };
	char *p = s;

	for (int i = 0; i < 3; i++) {
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			goto out;
		*nl = '\0';
		part[i] = p;
		p = nl + 1;
	}
	part[3] = p;
	memset(&f, 0, sizeof(f));
	evt_strv_add(&f.types, part[0]);
	evt_strv_add(&f.subjects, part[1]);
	evt_strv_add(&f.categories, part[2]);
	f.causes = part[0][0] == 'C';
	if (evt_event_parse(&ev, part[3], strlen(part[3]), 1, &err) == 0) {
		int m = evt_filter_match(&f, &ev);
		/* A match passes its type filter too. */
		if (m)
			FUZZ_CHECK(evt_filter_types_pass(&f, ev.type.p, ev.type.n));
	}
	evt_glob_has_meta(part[0]);
	evt_strv_free(&f.types);
	evt_strv_free(&f.subjects);
	evt_strv_free(&f.categories);
out:
	free(s);
	return 0;
}

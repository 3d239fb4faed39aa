/* evt-project's projection-spec parser; a spec that loads folds an event
 * without failing other than as bad input. */
#include "event.h"
#include "project.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev;
	struct evt_err err;
	char path[64];
	static const char line[] = "{\"id\":\"a\",\"type\":\"TransactionCreated\","
	    "\"subject\":\"transaction-T1\",\"seq\":1,\"version\":1,"
	    "\"time\":\"2026-11-24T10:00:00.000Z\",\"data\":{\"transaction_id\":"
	    "\"T1\",\"store_id\":\"S1\",\"items\":[{\"sku\":\"A\",\"qty\":1,"
	    "\"unit_price\":5}],\"total\":5,\"currency\":\"EUR\"}}";

	fuzz_file(data, size, path, sizeof(path));
	struct evt_proj *p = evt_proj_new(NULL, path, &err);
	unlink(path);
	if (p == NULL)
		return 0;
	if (evt_event_parse_stored(&ev, line, sizeof(line) - 1, &err) == 0 &&
	    evt_proj_fold(p, &ev, &err) < 0)
		FUZZ_CHECK(err.code == 65);
	evt_proj_free(p);
	return 0;
}

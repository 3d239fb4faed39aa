/* evt-project's projection-spec parser; a spec that loads folds a few
 * events without failing other than as bad input, and its table printed
 * as NDJSON is one JSON object a line (as JSON, CSV and Prometheus text
 * it prints without failing). */
#include "event.h"
#include "json.h"
#include "project.h"
#include "rows.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev;
	static struct evt_jobj jo;
	static const char *const lines[] = {
		"{\"id\":\"a\",\"source\":\"pos\",\"type\":\"TransactionCreated\","
		"\"subject\":\"transaction-T1\",\"seq\":1,\"version\":1,"
		"\"time\":\"2026-11-24T10:00:00.000Z\",\"data\":{\"transaction_id\":"
		"\"T1\",\"store_id\":\"S1\",\"items\":[{\"sku\":\"A\",\"qty\":1,"
		"\"unit_price\":5}],\"total\":5,\"currency\":\"EUR\"}}",
		"{\"id\":\"b\",\"source\":\"pos\",\"type\":\"TransactionCreated\","
		"\"subject\":\"transaction-T2\",\"seq\":2,\"version\":1,"
		"\"time\":\"2026-11-24T10:00:01.000Z\",\"data\":{\"transaction_id\":"
		"\"T2\",\"store_id\":\"S\\u00e9\\n\\\"2\",\"items\":[],\"total\":"
		"-0.125,\"currency\":\"EUR\",\"delivery\":{\"to\":null},"
		"\"text\":\"x\"}}",
		"{\"id\":\"c\",\"source\":\"inventory\",\"type\":\"InventoryAdjusted\","
		"\"subject\":\"inventory-S1\",\"seq\":3,\"version\":1,"
		"\"time\":\"2026-11-24T10:00:02.000Z\",\"data\":{\"store_id\":\"S1\","
		"\"sku\":\"A\",\"delta\":-1,\"reason\":\"sale\"}}",
	};
	static const enum evt_format fmts[] = {
		EVT_FMT_JSON, EVT_FMT_CSV, EVT_FMT_PROM, EVT_FMT_TABLE
	};
	struct evt_err err;
	char path[64];

	fuzz_file(data, size, path, sizeof(path));
	struct evt_proj *p = evt_proj_new(NULL, path, &err);
	unlink(path);
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
		const char *l = lines[i];
		FUZZ_CHECK(evt_event_parse_stored(&ev, l, strlen(l), &err) == 0);
		if (evt_proj_fold(p, &ev, &err) < 0)
			FUZZ_CHECK(err.code == 65);
	}
	size_t nt;
	struct evt_table **t = evt_proj_tables(p, &nt);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	FUZZ_CHECK(f != NULL && nt > 0);
	FUZZ_CHECK(evt_table_print(t[0], EVT_FMT_NDJSON, 0, f) == 0);
	FUZZ_CHECK(fclose(f) == 0);
	for (char *s = out, *nl; s < out + len; s = nl + 1) {
		FUZZ_CHECK((nl = memchr(s, '\n', len - (size_t)(s - out))));
		if (evt_json_scan(&jo, s, (size_t)(nl - s), 0, &err) < 0 ||
		    jo.type != EVT_J_OBJECT) {
			fprintf(stderr, "NDJSON line is not an object: %s\n%.*s\n",
			    err.msg, (int)(nl - s), s);
			abort();
		}
	}
	free(out);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(*fmts); i++) {
		f = open_memstream(&out, &len);
		FUZZ_CHECK(f != NULL);
		FUZZ_CHECK(evt_table_print(t[0], fmts[i], 80, f) == 0);
		fclose(f);
		free(out);
	}
	evt_proj_free(p);
	return 0;
}

/* saga-orch's definition parser (-d FILE, saga-orch(5)); a definition
 * that loads takes the triggers of the sample sagas and decides at three
 * clocks (now, past the step timeouts, past a two-day deadline), and
 * every event it decides is an event evt-append would take (one trigger
 * holds control characters a subject template may take in). An
 * orchestrator restarted on what the first had read and written owes
 * nothing more at the same clock (orch.h). */
#include "buf.h"
#include "event.h"
#include "orch.h"
#include "fuzz.h"

/* The lines read or decided so far, each ending in a newline. */
static struct evt_buf seen;
static size_t nemit;

static int
emit(void *arg, const char *id, const char *line, size_t len)
{
	static struct evt_event ev;
	struct evt_err err;

	(void)arg;
	FUZZ_CHECK(id != NULL && *id != '\0');
	FUZZ_CHECK(memchr(line, '\n', len) == NULL);
	if (evt_event_parse(&ev, line, len, 1, &err) < 0) {
		fprintf(stderr, "decided line is no event: %s\n%.*s\n",
		    err.msg, (int)len, line);
		abort();
	}
	evt_buf_add(&seen, line, len);
	evt_buf_addc(&seen, '\n');
	nemit++;
	return 0;
}

/* Fold each line of seen into o. */
static void
fold_seen(struct evt_orch *o, int64_t now)
{
	static struct evt_event ev;
	struct evt_err err;
	const char *p = seen.p, *end = seen.p + seen.len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(evt_event_parse(&ev, p, (size_t)(nl - p), 1,
		    &err) == 0);
		if (evt_orch_fold(o, &ev, now, &err) < 0)
			FUZZ_CHECK(err.code == 65);
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev;
	static const char *const triggers[] = {
		/* testdata/sagas/order-T1.ndjson */
		"{\"id\":\"order-T1\",\"source\":\"pos\",\"type\":"
		"\"TransactionCreated\",\"subject\":\"transaction-T1\",\"time\":"
		"\"2026-11-24T11:59:00.000Z\",\"orchestration\":\"order\","
		"\"data\":{\"transaction_id\":\"T1\",\"store_id\":\"S01\","
		"\"customer_id\":\"C1\",\"items\":[{\"sku\":\"SKU-1001\","
		"\"qty\":2,\"unit_price\":19.90}],\"total\":39.80,\"currency\":"
		"\"EUR\",\"payment\":{\"method\":\"card\",\"token\":"
		"\"tok_visa\"}}}",
		/* a transfer (testdata/sagas/transfer.json) */
		"{\"id\":\"transfer-X1\",\"source\":\"inventory\",\"type\":"
		"\"StockTransferRequested\",\"subject\":\"transfer-X1\",\"time\":"
		"\"2026-11-24T12:00:00.000Z\",\"data\":{\"transfer_id\":\"X1\","
		"\"from_store\":\"S01\",\"to_store\":\"S02\",\"items\":"
		"[{\"sku\":\"SKU-1001\",\"qty\":2}]}}",
		/* a hostile order: values no event attribute may hold, for
		 * the templates that take them into a subject */
		"{\"id\":\"order-T2\",\"source\":\"pos\",\"type\":"
		"\"TransactionCreated\",\"subject\":\"transaction-T2\",\"time\":"
		"\"2026-11-24T11:59:00.000Z\",\"orchestration\":\"order\","
		"\"data\":{\"transaction_id\":\"T2\",\"store_id\":"
		"\"S\\u0001\\u007f\\u0085\\\"{}\",\"customer_id\":\"\","
		"\"items\":[],\"total\":1e400,\"currency\":null}}",
		/* a reply to the first step of the order */
		"{\"id\":\"pay-T1\",\"source\":\"payments\",\"type\":"
		"\"PaymentFailed\",\"subject\":\"payment-T1\",\"time\":"
		"\"2026-11-24T11:59:01.000Z\",\"data\":{\"transaction_id\":"
		"\"T1\",\"reason\":\"declined\"}}",
	};
	const int64_t now = 1795521540000LL;	/* 2026-11-24T11:59:00Z */
	const int64_t later[] = { now + 3600000LL, now + 3 * 86400000LL };
	struct evt_err err;
	char path[64];

	fuzz_file(data, size, path, sizeof(path));
	struct evt_orch *o = evt_orch_new();
	if (evt_orch_load(o, path, &err) < 0) {
		FUZZ_CHECK(err.code == 65);
		goto out;
	}
	FUZZ_CHECK(evt_orch_ndefs(o) == 1);
	evt_buf_reset(&seen);
	nemit = 0;
	for (size_t i = 0; i < sizeof(triggers) / sizeof(*triggers); i++) {
		const char *t = triggers[i];
		FUZZ_CHECK(evt_event_parse(&ev, t, strlen(t), 1, &err) == 0);
		evt_buf_adds(&seen, t);
		evt_buf_addc(&seen, '\n');
		if (evt_orch_fold(o, &ev, now, &err) < 0)
			FUZZ_CHECK(err.code == 65);
		if (evt_orch_decide(o, now, emit, NULL, &err) < 0)
			FUZZ_CHECK(err.code == 65);
	}
	/* Restarted: the same state, nothing more owed now. */
	struct evt_orch *o2 = evt_orch_new();
	FUZZ_CHECK(evt_orch_load(o2, path, &err) == 0);
	fold_seen(o2, now);
	nemit = 0;
	if (evt_orch_decide(o2, now, emit, NULL, &err) == 0 && nemit) {
		fprintf(stderr, "restarted, it decided %zu more:\n%s", nemit,
		    seen.p);
		abort();
	}
	evt_orch_free(o2);
	for (size_t i = 0; i < 2; i++)
		if (evt_orch_decide(o, later[i], emit, NULL, &err) < 0)
			FUZZ_CHECK(err.code == 65);
	evt_orch_free(o);
	o = NULL;
out:
	unlink(path);
	evt_orch_free(o);
	return 0;
}

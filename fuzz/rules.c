/* audit-scan's rules file parser; rules that load audit a few events (a
 * sale with a card number in it, a refund, a payment) and their end, and
 * no finding carries a card number. */
#include "audit.h"
#include "event.h"
#include "pan.h"
#include "fuzz.h"

static int
finding(void *arg, const struct evt_finding *f)
{
	char mask[32];

	(void)arg;
	FUZZ_CHECK(f->id && f->subject && f->detail);
	FUZZ_CHECK(evt_find_pan(f->id, strlen(f->id), mask) == 0);
	FUZZ_CHECK(evt_find_pan(f->subject, strlen(f->subject), mask) == 0);
	FUZZ_CHECK(evt_find_pan(f->detail, strlen(f->detail), mask) == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evt_event ev;
	static const char *const lines[] = {
		"{\"id\":\"t1\",\"source\":\"pos\",\"type\":\"TransactionCreated\","
		"\"subject\":\"transaction-T1\",\"time\":\"2026-11-24T10:00:00.000Z\","
		"\"seq\":1,\"version\":1,\"data\":{\"transaction_id\":\"T1\","
		"\"store_id\":\"S1\",\"customer_id\":\"C1\",\"email\":\"a@b.c\","
		"\"iban\":\"DE89370400440532013000\",\"items\":[{\"sku\":\"A\","
		"\"qty\":1,\"unit_price\":900}],\"total\":900,\"currency\":\"EUR\","
		"\"payment\":{\"method\":\"card\",\"pan\":\"4111 1111 1111 1111\"}}}",
		"{\"id\":\"p1\",\"source\":\"payments\",\"type\":\"PaymentProcessed\","
		"\"subject\":\"payment-T1\",\"time\":\"2026-11-24T10:00:01.000Z\","
		"\"seq\":2,\"version\":1,\"data\":{\"transaction_id\":\"T1\","
		"\"amount\":900,\"currency\":\"EUR\"}}",
		"{\"id\":\"r1\",\"source\":\"payments\",\"type\":\"PaymentRefunded\","
		"\"subject\":\"payment-T1\",\"time\":\"2026-11-24T10:05:00.000Z\","
		"\"seq\":3,\"version\":2,\"data\":{\"transaction_id\":\"T1\","
		"\"amount\":900.01,\"reason\":\"card 4111111111111111\"}}",
	};
	struct evt_audit_opts o;
	struct evt_err err;
	char path[64];
	int tags, sev;

	fuzz_file(data, size, path, sizeof(path));
	evt_audit_defaults(&o);
	int rc = evt_audit_rules(&o, path, &err);
	unlink(path);
	if (rc == 0) {
		struct evt_audit *a = evt_audit_new(&o);
		for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
			const char *l = lines[i];
			FUZZ_CHECK(evt_event_parse_stored(&ev, l, strlen(l),
			    &err) == 0);
			FUZZ_CHECK(evt_audit_event(a, &ev, EVT_AUDIT_IN, finding,
			    NULL, &tags, &sev, &err) == 0);
		}
		FUZZ_CHECK(evt_audit_end(a, 1795521540000LL, finding, NULL,
		    &err) == 0);
		evt_audit_free(a);
	} else
		FUZZ_CHECK(err.code == 65);
	evt_audit_opts_free(&o);
	return 0;
}

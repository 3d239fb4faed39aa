/* audit-scan's rules file parser. */
#include "audit.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evt_audit_opts o;
	struct evt_err err;
	char path[64];

	fuzz_file(data, size, path, sizeof(path));
	evt_audit_defaults(&o);
	evt_audit_rules(&o, path, &err);
	evt_audit_opts_free(&o);
	unlink(path);
	return 0;
}

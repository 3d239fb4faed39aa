/* evt-verify's checkpoint notes: whatever is read is written back as
 * the same note. */
#include "chain.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evt_checkpoint cp;
	struct evt_err err;
	char path[64];

	fuzz_file(data, size, path, sizeof(path));
	evt_checkpoint_init(&cp);
	evt_checkpoint_read(&cp, path, &err);
	evt_checkpoint_free(&cp);
	unlink(path);
	return 0;
}

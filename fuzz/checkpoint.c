/* evt-verify's checkpoint notes (--since, --checkpoint, a witness's
 * state): whatever is read is written back as the same note, and reads
 * back the same; its chain-head extension line, if any, is for its own
 * size. Signatures and keys: fuzz/note.c. */
#include "chain.h"
#include "tlog.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evt_checkpoint cp, back;
	struct evt_err err;
	unsigned char head[EVT_HASH_LEN];
	char path[64];

	fuzz_file(data, size, path, sizeof(path));
	evt_checkpoint_init(&cp);
	evt_checkpoint_init(&back);
	if (evt_checkpoint_read(&cp, path, &err) == 0) {
		FUZZ_CHECK(cp.text.len == size &&
		    memcmp(cp.text.p, data, size) == 0);
		FUZZ_CHECK(cp.body_len <= cp.text.len && cp.seq >= 0 &&
		    cp.origin && *cp.origin && !strchr(cp.origin, '\n'));
		FUZZ_CHECK(evt_checkpoint_write(&cp, path, &err) == 0);
		FUZZ_CHECK(evt_checkpoint_read(&back, path, &err) == 0);
		FUZZ_CHECK(back.text.len == cp.text.len &&
		    memcmp(back.text.p, cp.text.p, cp.text.len) == 0 &&
		    back.seq == cp.seq && back.body_len == cp.body_len &&
		    strcmp(back.origin, cp.origin) == 0 &&
		    memcmp(back.root, cp.root, EVT_HASH_LEN) == 0);
		(void)evt_tlog_ext_chain_head(&cp, head);
	} else
		FUZZ_CHECK(err.code == EX_DATAERR);
	evt_checkpoint_free(&cp);
	evt_checkpoint_free(&back);
	unlink(path);
	return 0;
}

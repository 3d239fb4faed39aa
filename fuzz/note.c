/* evt-verify's signed notes and keys, as an attacker hands them over: a
 * checkpoint with several signature lines (--pubkey checks one of them;
 * --cosign adds a witness's), and key names (--key-name, --vkey).
 *
 * The input's first line is a key name, the rest a note. Whatever note
 * parses: checking a signature by the log's key gives 0 or 1, never an
 * error; once signed by the witness under that name (if the name is a
 * key name), the witness's signature verifies, the log's verdict is
 * unchanged, signing again changes nothing, and the note written as a
 * witness's state reads back the same. The verifier key printed for the
 * name is NAME+8 hex digits+base64 of 33 bytes, 0x01 first. */
#include "chain.h"
#include "tlog.h"
#include "fuzz.h"

/* Two fixed Ed25519 keys: the log's and a witness's (test keys). */
static const char log_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAWteCV91MoI5uhAaYpP7b1XvQWhM8kV80JCbw7X+TbCw=\n"
    "-----END PUBLIC KEY-----\n";
static const char wit_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIKsZDDI+DqaRR26epBNb78o9tXLhoYzb/owZB1kJ9WOM\n"
    "-----END PRIVATE KEY-----\n";
static const char wit_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAliSGbc2k1NCc6f6YI2Zk+noUwCTPbbHhq/qaGMkmY8k=\n"
    "-----END PUBLIC KEY-----\n";
static char logpub[64], witkey[64], witpub[64];

static void
unlink_keys(void)
{
	unlink(logpub);
	unlink(witkey);
	unlink(witpub);
}

/* The key files, written once and removed at exit: every run left three
 * in /tmp. */
static void
keys(void)
{
	if (*logpub)
		return;
	atexit(unlink_keys);
	fuzz_file((const uint8_t *)log_pub, sizeof(log_pub) - 1, logpub,
	    sizeof(logpub));
	fuzz_file((const uint8_t *)wit_key, sizeof(wit_key) - 1, witkey,
	    sizeof(witkey));
	fuzz_file((const uint8_t *)wit_pub, sizeof(wit_pub) - 1, witpub,
	    sizeof(witpub));
}

static void
vkey(const char *name)
{
	struct evt_buf b = EVT_BUF_INIT;
	struct evt_err err;
	unsigned char k[33];
	size_t n = strlen(name);

	if (evt_key_vkey(witpub, name, &b, &err) < 0) {
		FUZZ_CHECK(err.code == EX_USAGE);
		FUZZ_CHECK(*name == '\0' || strpbrk(name, " \n+"));
		return;
	}
	FUZZ_CHECK(b.len == n + 1 + 8 + 1 + 44 && memcmp(b.p, name, n) == 0 &&
	    b.p[n] == '+' && strspn(b.p + n + 1, "0123456789abcdef") == 8 &&
	    b.p[n + 9] == '+');
	FUZZ_CHECK(evt_b64_decode(b.p + n + 10, 44, k, sizeof(k)) == 33 &&
	    k[0] == 0x01);
	evt_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evt_checkpoint cp, back;
	struct evt_err err;
	const uint8_t *nl = memchr(data, '\n', size);
	char *name, note[64];
	size_t nn = nl ? (size_t)(nl - data) : size;
	int by_log, rc;

	keys();
	name = fuzz_str(data, nn);
	if (strlen(name) == nn)
		vkey(name);
	if (nl == NULL) {
		free(name);
		return 0;
	}
	fuzz_file(nl + 1, size - nn - 1, note, sizeof(note));
	evt_checkpoint_init(&cp);
	evt_checkpoint_init(&back);
	if (evt_checkpoint_read(&cp, note, &err) < 0)
		goto out;
	by_log = evt_checkpoint_check_sig(&cp, logpub, &err);
	FUZZ_CHECK(by_log == 0 || (by_log == 1 && err.code == 1));
	rc = evt_checkpoint_check_sig(&cp, witpub, &err);
	FUZZ_CHECK(rc == 0 || rc == 1);
	if (strlen(name) != nn || evt_checkpoint_sign(&cp, witkey, name,
	    &err) < 0)
		goto out;
	FUZZ_CHECK(evt_checkpoint_check_sig(&cp, witpub, &err) == 0);
	FUZZ_CHECK(evt_checkpoint_check_sig(&cp, logpub, &err) == by_log);
	size_t len = cp.text.len;
	FUZZ_CHECK(evt_checkpoint_sign(&cp, witkey, name, &err) == 0 &&
	    cp.text.len == len);
	FUZZ_CHECK(evt_checkpoint_write(&cp, note, &err) == 0);
	FUZZ_CHECK(evt_checkpoint_read(&back, note, &err) == 0);
	FUZZ_CHECK(back.text.len == cp.text.len && memcmp(back.text.p,
	    cp.text.p, cp.text.len) == 0 && back.seq == cp.seq &&
	    back.body_len == cp.body_len);
	FUZZ_CHECK(evt_checkpoint_check_sig(&back, witpub, &err) == 0);
out:
	evt_checkpoint_free(&cp);
	evt_checkpoint_free(&back);
	unlink(note);
	free(name);
	return 0;
}

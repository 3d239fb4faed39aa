/* evt-verify's proofs (tlog.h): an inclusion proof (c2sp.org/tlog-proof)
 * and a consistency proof, as an attacker hands them to
 * --check-inclusion and --check-consistency. What parses formats back to
 * a proof that parses the same; and to the very same text, but for an
 * extra line (dropped: it is not trusted) and hashes in base64 that is
 * not canonical (the bits past the 32 bytes not zero), which format
 * writes canonically. Then the checks run on it, as evt-verify runs them. */
#include "tlog.h"
#include "fuzz.h"

/* The line from *p (before end) into [*l, *l + *n); moves *p past it. */
static int
next_line(const char **p, const char *end, const char **l, size_t *n)
{
	const char *nl;

	if (*p >= end)
		return 0;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL)
		nl = end;
	*l = *p;
	*n = (size_t)(nl - *p);
	*p = nl < end ? nl + 1 : end;
	return 1;
}

/* x and y are one text, but for hash lines written in other base64. */
static void
same_text(const char *x, size_t xn, const char *y, size_t yn)
{
	const char *xp = x, *yp = y, *xl, *yl;
	size_t xln, yln;

	if (xn == yn && memcmp(x, y, xn) == 0)
		return;
	while (next_line(&xp, x + xn, &xl, &xln)) {
		unsigned char a[EVT_HASH_LEN], b[EVT_HASH_LEN];
		FUZZ_CHECK(next_line(&yp, y + yn, &yl, &yln));
		if (xln == yln && memcmp(xl, yl, xln) == 0)
			continue;
		FUZZ_CHECK(evt_b64_decode(xl, xln, a, sizeof(a)) == EVT_HASH_LEN);
		FUZZ_CHECK(evt_b64_decode(yl, yln, b, sizeof(b)) == EVT_HASH_LEN);
		FUZZ_CHECK(memcmp(a, b, EVT_HASH_LEN) == 0);
	}
	FUZZ_CHECK(!next_line(&yp, y + yn, &yl, &yln));
	FUZZ_CHECK(xn > 0 && yn > 0 && x[xn - 1] == '\n' && y[yn - 1] == '\n');
}

static void
one(int inclusion, const uint8_t *data, size_t size)
{
	struct evt_tlog_proof *pf = evt_tlog_proof_new();
	struct evt_tlog_proof *again = evt_tlog_proof_new();
	struct evt_buf out = EVT_BUF_INIT, out2 = EVT_BUF_INIT;
	struct evt_err err;
	static const char line[] = "{\"seq\":1,\"type\":\"T\"}";

	if (evt_tlog_proof_parse(pf, inclusion, "p", (const char *)data, size,
	    &err) < 0) {
		FUZZ_CHECK(err.code == EX_DATAERR);
		goto out;
	}
	FUZZ_CHECK(pf->a >= 0 && pf->n >= 0 && pf->n <= EVT_PROOF_MAX);
	evt_tlog_proof_format(pf, &out);
	FUZZ_CHECK(evt_tlog_proof_parse(again, inclusion, "p", out.p, out.len,
	    &err) == 0);
	FUZZ_CHECK(again->a == pf->a && again->b == pf->b &&
	    again->n == pf->n && memcmp(again->h, pf->h, sizeof(pf->h)) == 0);
	evt_tlog_proof_format(again, &out2);
	FUZZ_CHECK(out2.len == out.len && memcmp(out2.p, out.p, out.len) == 0);
	if (!inclusion || !(size > strlen(EVT_TLOG_PROOF) + 7 &&
	    memcmp(data + strlen(EVT_TLOG_PROOF) + 1, "extra ", 6) == 0))
		same_text((const char *)data, size, out.p, out.len);
	/* The checks: each holds or not, never more. */
	if (inclusion) {
		FUZZ_CHECK(again->cp.seq == pf->cp.seq &&
		    strcmp(again->cp.origin, pf->cp.origin) == 0);
		FUZZ_CHECK(evt_tlog_proof_for(pf, "p", &again->cp, "c",
		    &err) == 0);
		int rc = evt_tlog_check_inclusion(pf, "p", &pf->cp, line,
		    sizeof(line) - 1, &err);
		FUZZ_CHECK(rc == 0 || (rc == 1 && err.code == 1));
	} else {
		struct evt_checkpoint old, cp;
		unsigned char r[EVT_HASH_LEN];
		evt_checkpoint_init(&old);
		evt_checkpoint_init(&cp);
		memset(r, 0, sizeof(r));
		if (evt_checkpoint_make(&old, "o", pf->a, r, NULL, &err) == 0 &&
		    evt_checkpoint_make(&cp, "o", pf->b, pf->n ? pf->h[0] : r,
		    NULL, &err) == 0) {
			int rc = evt_tlog_check_consistency(pf, "p", &old, &cp,
			    &err);
			FUZZ_CHECK(rc == 0 || (rc == 1 && err.code == 1));
		}
		evt_checkpoint_free(&old);
		evt_checkpoint_free(&cp);
	}
out:
	evt_buf_free(&out);
	evt_buf_free(&out2);
	evt_tlog_proof_free(pf);
	evt_tlog_proof_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(1, data, size);
	one(0, data, size);
	return 0;
}
